//! DNS_CHECK's query and answer (keepalived's check_dns.c: one query with recursion desired
//! per attempt; UP on a response with our id and RCODE 0).
//!
//! ```text
//!                                 1  1  1  1  1  1
//!   0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |                      ID                       |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |QR|   Opcode  |AA|TC|RD|RA|   Z    |   RCODE   |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |            QDCOUNT / ANCOUNT / NSCOUNT / ARCOUNT
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! ```
//! (RFC 1035 §4.1.1), then the question: QNAME labels, QTYPE, QCLASS (§4.1.2).

use super::ConnParams;

const HEADER: usize = 12;
const RD: u16 = 1 << 8;
const QR: u16 = 1 << 15;
const CLASS_IN: u16 = 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsParams {
    pub conn: ConnParams,
    /// keepalived's default: SOA.
    pub qtype: u16,
    /// keepalived's default: `.`.
    pub name: String,
}

/// keepalived's type names and codes.
pub const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("RRSIG", 46),
    ("DNSKEY", 48),
];

/// The query for `name` (dotted, `.` = the root), or `None` if a label is empty inside the
/// name or longer than 63 bytes, or the name longer than 255 bytes on the wire.
pub fn query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(HEADER + name.len() + 6);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&RD.to_be_bytes());
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() || label.len() > 63 {
                return None;
            }
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
    }
    q.push(0);
    if q.len() - HEADER > 255 {
        return None;
    }
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    Some(q)
}

/// What a datagram means for the query `id`: `None` if it is not a response to it (keep
/// waiting, as keepalived does), else its RCODE.
pub fn rcode(msg: &[u8], id: u16) -> Option<u8> {
    if msg.len() < HEADER || msg[..2] != id.to_be_bytes() {
        return None;
    }
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    (flags & QR != 0).then_some((flags & 0xf) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bytes() {
        let q = query(0xbeef, "svc.test", 1).unwrap();
        let want: &[u8] = &[
            0xbe, 0xef, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, // header, RD, one question
            3, b's', b'v', b'c', 4, b't', b'e', b's', b't', 0, // QNAME
            0, 1, 0, 1, // A, IN
        ];
        assert_eq!(q, want);
        assert_eq!(
            query(1, "svc.test.", 1),
            Some(q[..].to_vec()).map(|mut v| {
                v[..2].copy_from_slice(&[0, 1]);
                v
            })
        );
        assert_eq!(query(1, ".", 6).unwrap()[HEADER..], [0, 0, 6, 0, 1]);
        assert_eq!(query(1, "a..b", 1), None);
        assert_eq!(query(1, &"x".repeat(64), 1), None);
        assert_eq!(
            query(1, &["abcdefghij"; 24].join("."), 1),
            None,
            "264 bytes"
        );
    }

    #[test]
    fn responses_are_matched_by_id_and_qr() {
        let mut r = query(7, "a", 1).unwrap();
        assert_eq!(rcode(&r, 7), None, "a query, not a response");
        r[2] |= 0x80;
        assert_eq!(rcode(&r, 7), Some(0));
        assert_eq!(rcode(&r, 8), None, "another id");
        r[3] |= 5;
        assert_eq!(rcode(&r, 7), Some(5));
        assert_eq!(rcode(&r[..11], 7), None);
    }
}
