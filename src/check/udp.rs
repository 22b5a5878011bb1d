//! UDP_CHECK reply matching (keepalived's check_udp.c).

use super::ConnParams;
pub use crate::config::UdpCheck;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpParams {
    pub conn: ConnParams,
    /// Payload, reply pattern (a mask shorter than the pattern is padded with zeros) and
    /// length limits, as configured.
    pub spec: UdpCheck,
}

impl UdpParams {
    /// Whether a reply of `len` bytes starting with `data` passes. As in keepalived, the
    /// length limits and the pattern only apply when a reply pattern is configured, and only
    /// the shorter of the reply and the pattern is compared.
    pub fn reply_ok(&self, data: &[u8], len: usize) -> bool {
        let s = &self.spec;
        if s.reply.is_empty() {
            return true;
        }
        if len < usize::from(s.min_reply_len) || len > usize::from(s.max_reply_len) {
            return false;
        }
        data.iter()
            .zip(&s.reply)
            .zip(s.reply_mask.iter().chain(std::iter::repeat(&0)))
            .all(|((&got, &want), &mask)| (got ^ want) & !mask == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn params(reply: &[u8], mask: &[u8]) -> UdpParams {
        UdpParams {
            conn: ConnParams {
                connect_ip: Some("192.0.2.1".parse().unwrap()),
                connect_port: Some(53),
                bind: None,
                connect_timeout: Duration::from_secs(1),
            },
            spec: UdpCheck {
                require_reply: true,
                reply: reply.to_vec(),
                reply_mask: mask.to_vec(),
                min_reply_len: 2,
                max_reply_len: 4,
                ..UdpCheck::default()
            },
        }
    }

    #[test]
    fn reply_pattern_mask_and_lengths() {
        let p = params(&[0xab, 0x10], &[0x00, 0x0f]);
        assert!(
            params(&[0xab], &[]).reply_ok(&[0xab, 0], 2),
            "no mask: all bits count"
        );
        assert!(!params(&[0xab], &[]).reply_ok(&[0xaa, 0], 2));
        assert!(p.reply_ok(&[0xab, 0x1f, 0], 3), "low nibble is a wildcard");
        assert!(!p.reply_ok(&[0xab, 0x2f, 0], 3), "high nibble must match");
        assert!(!p.reply_ok(&[0xac, 0x10], 2));
        assert!(!p.reply_ok(&[0xab], 1), "shorter than min_reply_length");
        assert!(!p.reply_ok(&[0xab, 0x10, 0, 0, 0], 5), "longer than max");
        assert!(
            !p.reply_ok(&[0xab, 0x10, 0, 0], 70_000),
            "truncated datagram"
        );
        let any = params(&[], &[]);
        assert!(any.reply_ok(&[], 0), "limits only apply with a pattern");
        assert!(any.reply_ok(&[1; 9], 9));
    }
}
