//! PING_CHECK's ICMP echo (keepalived's check_ping.c: one echo request with 128 bytes of
//! data per attempt, UP on an echo reply within connect_timeout).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Identifier          |        Sequence Number        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Data ...
//! ```
//! (RFC 792 echo; RFC 4443 §4.1 for ICMPv6, whose checksum the kernel fills in.)

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const HEADER: usize = 8;
/// keepalived's ICMP_BUFSIZE.
const DATA: usize = 128;

/// Identifier of keeplite's echo requests on raw sockets (ping sockets use their own).
pub const ID: u16 = 0x6b6c;

/// An echo request with identifier `id` (ping sockets replace it with their own).
pub fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![0u8; HEADER + DATA];
    p[0] = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p[HEADER..].iter_mut().enumerate() {
        *b = i as u8;
    }
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// RFC 1071 Internet checksum.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What an ICMP message (header first) means for an echo sent with identifier `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// An echo reply carrying `id`.
    Reply,
    /// Short, or any other type (keepalived fails the attempt).
    Other,
    /// An echo reply or request with another identifier: another pinger's (a raw socket
    /// sees them all), or our own request looped back; not an answer.
    Foreign,
}

/// `id: None` accepts any identifier (ping sockets deliver only their own replies).
pub fn classify(v6: bool, msg: &[u8], id: Option<u16>) -> Received {
    if msg.len() < HEADER {
        return Received::Other;
    }
    let (req, rep) = if v6 {
        (ECHO_REQUEST_V6, ECHO_REPLY_V6)
    } else {
        (ECHO_REQUEST_V4, ECHO_REPLY_V4)
    };
    let ours = id.is_none_or(|id| u16::from_be_bytes([msg[4], msg[5]]) == id);
    match msg[0] {
        t if t == rep && ours => Received::Reply,
        t if t == rep || t == req => Received::Foreign,
        _ => Received::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_bytes_and_checksum() {
        let p = echo_request(false, 0x1234, 7);
        assert_eq!(p.len(), 136);
        assert_eq!(&p[..8], &[8, 0, 0x15, 0xb5, 0x12, 0x34, 0, 7]);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        let p6 = echo_request(true, 1, 2);
        assert_eq!(&p6[..8], &[128, 0, 0, 0, 0, 1, 0, 2], "kernel sums ICMPv6");
    }

    #[test]
    fn replies_are_told_from_noise() {
        let mut r = echo_request(false, 9, 1);
        assert_eq!(
            classify(false, &r, Some(9)),
            Received::Foreign,
            "our own request"
        );
        r[0] = ECHO_REPLY_V4;
        assert_eq!(classify(false, &r, Some(9)), Received::Reply);
        assert_eq!(classify(false, &r, Some(10)), Received::Foreign);
        assert_eq!(classify(false, &r[..7], None), Received::Other);
        r[0] = 3; // destination unreachable
        assert_eq!(classify(false, &r, Some(9)), Received::Other);
        let mut r6 = echo_request(true, 9, 1);
        r6[0] = ECHO_REPLY_V6;
        assert_eq!(classify(true, &r6, None), Received::Reply);
    }
}
