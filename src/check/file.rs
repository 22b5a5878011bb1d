//! FILE_CHECK: a `track_file`'s value decides a real server's state and weight, as keepalived's
//! check_file.c / track_file.c do. The checker reads the file every `delay_loop` (1 s by
//! default here; keepalived is told by inotify) through [`super::Action::ReadFile`].

use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileParams {
    pub path: PathBuf,
    pub weight: i32,
    pub reverse: bool,
}

/// What a value means for the real server (keepalived update_track_file_status for
/// checkers): `None` is down; `Some(delta)` up, its weight moved by `delta`.
pub fn status(p: &FileParams, value: i64) -> Option<i32> {
    if p.weight == 0 {
        // A non-zero value fails; with `reverse` a zero one does.
        return ((value != 0) == p.reverse).then_some(0);
    }
    let sign = if p.reverse { -1 } else { 1 };
    let v = value
        .saturating_mul(i64::from(p.weight))
        .saturating_mul(sign);
    // keepalived clamps to an int; only INT_MIN (IPVS_WEIGHT_FAULT) fails.
    let v = v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    (v != i32::MIN).then_some(v)
}

/// How much the real server's weight moves when the value goes from `prev` to `value`: each
/// FILE_CHECK adds its own share (keepalived's checker cur_weight, none while failing) to the
/// real server's weight, so several of them add up.
pub fn weight_change(p: &FileParams, prev: Option<i64>, value: i64) -> i64 {
    let share = |v: Option<i64>| i64::from(v.and_then(|v| status(p, v)).unwrap_or(0));
    share(Some(value)) - share(prev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(weight: i32, reverse: bool) -> FileParams {
        FileParams {
            path: "/run/f".into(),
            weight,
            reverse,
        }
    }

    #[test]
    fn values_as_keepalived_reads_them_for_checkers() {
        // Weight 0: up on 0, down on anything else; reversed, the other way round.
        let p = params(0, false);
        assert_eq!(
            (status(&p, 0), status(&p, 3), status(&p, -1)),
            (Some(0), None, None)
        );
        let p = params(0, true);
        assert_eq!((status(&p, 0), status(&p, 3)), (None, Some(0)));
        // Weighted: value × weight moves the weight; only INT_MIN fails.
        let p = params(2, false);
        assert_eq!(status(&p, 5), Some(10));
        assert_eq!(status(&p, -3), Some(-6));
        assert_eq!(status(&params(2, true), 5), Some(-10));
        assert_eq!(status(&params(65535, false), -2147483648), None);
        assert_eq!(status(&params(65535, true), -2147483648), Some(i32::MAX));
        // The change of this check's share: the first value from nothing, a failing one
        // takes its share back.
        assert_eq!(weight_change(&p, None, 5), 10);
        assert_eq!(weight_change(&p, Some(5), -3), -16);
        assert_eq!(weight_change(&p, Some(-3), -2147483648), 6);
        assert_eq!(weight_change(&params(0, false), None, 0), 0);
    }
}
