//! `track_file`: the number in a file changes an instance's priority, computed as keepalived's
//! vrrp_track.c / track_file.c do. The result becomes a core [`Tracker`](super::Tracker)
//! state: the tracker's weight is the contribution, and a fault is weight 0 and down.

/// keepalived `process_track_file`: `strtol(buf, NULL, 0)` of the first bytes (decimal, `0x`
/// hex or `0` octal; leading blanks and a sign allowed; no digits = 0). `None`: out of the
/// 32-bit range, which keepalived ignores (the previous value stays).
pub fn parse_value(buf: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(buf).unwrap_or("");
    let s = s.trim_start();
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        (16, h)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    // Saturate like strtol; anything that large is out of range below.
    let v =
        i64::from_str_radix(&digits[..end], radix).unwrap_or(if end == 0 { 0 } else { i64::MAX });
    let v = if neg { -v } else { v };
    (i64::from(i32::MIN)..=i64::from(i32::MAX) + 1)
        .contains(&v)
        .then_some(v)
}

/// What a file's value means for one instance tracking it with `weight` (and `reverse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Fault,
    /// Added to the priority (-253..=253).
    Add(i32),
}

/// keepalived `update_track_file_status`: weight 0 means a non-zero value is a fault (a zero
/// one with `reverse`); otherwise value × weight (negated by `reverse`), below -253 a fault,
/// above 253 capped.
pub fn status(value: i64, weight: i32, reverse: bool) -> Status {
    if weight == 0 {
        return if (value != 0) != reverse {
            Status::Fault
        } else {
            Status::Add(0)
        };
    }
    let sign = if reverse { -1 } else { 1 };
    let v = value.saturating_mul(i64::from(weight)).saturating_mul(sign);
    if v < -253 {
        Status::Fault
    } else {
        Status::Add(v.min(253) as i32)
    }
}

/// The core tracker state `(weight, up)` giving `s` (see [`super::Tracker`]).
pub fn tracker(s: Status) -> (i32, bool) {
    match s {
        Status::Fault => (0, false),
        Status::Add(v) => (v, v >= 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_strtol_base_0() {
        assert_eq!(parse_value(b"42\n"), Some(42));
        assert_eq!(parse_value(b"  -7 junk"), Some(-7));
        assert_eq!(parse_value(b"0x10"), Some(16));
        assert_eq!(parse_value(b"010"), Some(8));
        assert_eq!(parse_value(b"0"), Some(0));
        assert_eq!(parse_value(b""), Some(0));
        assert_eq!(parse_value(b"abc"), Some(0));
        assert_eq!(parse_value(b"2147483648"), Some(2147483648));
        assert_eq!(parse_value(b"2147483649"), None);
        assert_eq!(parse_value(b"-2147483649"), None);
        assert_eq!(parse_value(b"99999999999999999999999"), None);
    }

    #[test]
    fn status_follows_keepalived() {
        // Weight 0: non-zero fails; reversed, zero fails.
        assert_eq!(status(0, 0, false), Status::Add(0));
        assert_eq!(status(3, 0, false), Status::Fault);
        assert_eq!(status(0, 0, true), Status::Fault);
        assert_eq!(status(3, 0, true), Status::Add(0));
        // Scaled, reversed, capped, faulted below -253.
        assert_eq!(status(-20, 1, false), Status::Add(-20));
        assert_eq!(status(20, 2, true), Status::Add(-40));
        assert_eq!(status(1000, 1, false), Status::Add(253));
        assert_eq!(status(-253, 1, false), Status::Add(-253));
        assert_eq!(status(-254, 1, false), Status::Fault);
        assert_eq!(status(i64::from(i32::MAX) + 1, 254, true), Status::Fault);
    }

    #[test]
    fn tracker_states_add_the_status() {
        use super::super::Tracker;
        for (s, contribution, fault) in [
            (Status::Add(30), 30, false),
            (Status::Add(-30), -30, false),
            (Status::Add(0), 0, false),
            (Status::Fault, 0, true),
        ] {
            let (weight, up) = tracker(s);
            let t = Tracker::new(weight, up);
            assert_eq!(
                (t.contribution(), t.faulted()),
                (contribution, fault),
                "{s:?}"
            );
        }
    }
}
