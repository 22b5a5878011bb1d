//! The Ethernet and IP headers in front of a multicast advert sent through a packet socket
//! (AF_PACKET): what the kernel's raw IP path puts there, so peers cannot tell the two apart
//! (tests/vrrp_sys.rs compares them on the wire). The VRRP packet itself is not copied: the
//! shell sends these headers and the cached advert as two pieces of one frame.
//!
//! ```text
//! Ethernet: | group MAC (6) | source MAC (6) | 0x0800 / 0x86dd |
//! IPv4 (RFC 791 §3.1, as proto::ipv4): 20 bytes, DF set, TTL 255, identification per frame
//! IPv6, RFC 8200 §3:
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Source Address (16)                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Destination Address (16)                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::{IpAddr, Ipv6Addr};

use super::{ethernet, ipv4};

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
const IPV6_HEADER_LEN: usize = 40;
/// Ethernet and IPv6 headers: the most [`Repr::emit`] writes.
pub const MAX_HEADER_LEN: usize = ethernet::HEADER_LEN + IPV6_HEADER_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Buffer too short, or payload too long for the IP length field.
    Truncated,
    /// Not IPv4 / IPv6 to a multicast group, or mixed address families.
    Malformed,
}

/// Ethernet destination of an IP multicast group, `None` for any other address.
pub fn multicast_mac(group: IpAddr) -> Option<[u8; 6]> {
    match group {
        // RFC 1112 §6.4: 01:00:5e and the group's low 23 bits.
        IpAddr::V4(g) if g.is_multicast() => {
            let o = g.octets();
            Some([1, 0, 0x5e, o[1] & 0x7f, o[2], o[3]])
        }
        // RFC 2464 §7: 33:33 and the group's low 32 bits.
        IpAddr::V6(g) if g.is_multicast() => {
            let o = g.octets();
            Some([0x33, 0x33, o[12], o[13], o[14], o[15]])
        }
        _ => None,
    }
}

/// Headers of one frame: from `src_mac` and `src` to the group `dst` (whose MAC follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_mac: [u8; 6],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub hop_limit: u8,
    /// IPv4 identification (IPv6 has none).
    pub ident: u16,
    pub payload_len: usize,
}

impl Repr {
    pub fn header_len(&self) -> usize {
        let ip = match self.dst {
            IpAddr::V4(_) => ipv4::HEADER_LEN,
            IpAddr::V6(_) => IPV6_HEADER_LEN,
        };
        ethernet::HEADER_LEN + ip
    }

    /// Writes the Ethernet and IP headers into the start of `buf`; returns their length.
    /// IPv4 as the kernel's raw socket sends it (DF set: path MTU discovery is on by
    /// default); IPv6 with traffic class 0 and flow label 0 (RFC 6437 §2: unlabelled; the
    /// kernel would pick a hashed label, which receivers may not act on).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let dst_mac = multicast_mac(self.dst).ok_or(Error::Malformed)?;
        let len = self.header_len();
        let b = buf.get_mut(..len).ok_or(Error::Truncated)?;
        let ip = &mut b[ethernet::HEADER_LEN..];
        let ethertype = match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let (protocol, ttl, payload_len) =
                    (self.protocol, self.hop_limit, self.payload_len);
                let r = ipv4::Repr {
                    src,
                    dst,
                    protocol,
                    ttl,
                    payload_len,
                };
                r.emit_header(ip, self.ident, true)
                    .map_err(|_| Error::Truncated)?;
                ETHERTYPE_IPV4
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let plen = u16::try_from(self.payload_len).map_err(|_| Error::Truncated)?;
                ip[..4].copy_from_slice(&0x6000_0000u32.to_be_bytes());
                ip[4..6].copy_from_slice(&plen.to_be_bytes());
                ip[6] = self.protocol;
                ip[7] = self.hop_limit;
                ip[8..24].copy_from_slice(&src.octets());
                ip[24..40].copy_from_slice(&dst.octets());
                ETHERTYPE_IPV6
            }
            _ => return Err(Error::Malformed),
        };
        ethernet::emit(b, dst_mac, self.src_mac, ethertype);
        Ok(len)
    }

    /// Reads a whole frame as captured: the headers and the payload (link padding cut off).
    /// Checks what [`Repr::emit`] guarantees: a group's MAC, IPv4 without options.
    pub fn parse(frame: &[u8]) -> Result<(Repr, &[u8]), Error> {
        let ip = frame.get(ethernet::HEADER_LEN..).ok_or(Error::Truncated)?;
        let (repr, payload) = match ethernet::ethertype(frame) {
            ETHERTYPE_IPV4 => {
                let p = ipv4::Packet::new_checked(ip).map_err(|_| Error::Truncated)?;
                let r = ipv4::Repr::parse(&p).map_err(|_| Error::Truncated)?;
                if p.header_len() != ipv4::HEADER_LEN {
                    return Err(Error::Malformed);
                }
                let repr = Repr {
                    src_mac: ethernet::src(frame),
                    src: r.src.into(),
                    dst: r.dst.into(),
                    protocol: r.protocol,
                    hop_limit: r.ttl,
                    ident: u16::from_be_bytes([ip[4], ip[5]]),
                    payload_len: r.payload_len,
                };
                (repr, &ip[ipv4::HEADER_LEN..usize::from(p.total_len())])
            }
            ETHERTYPE_IPV6 if ip.len() >= IPV6_HEADER_LEN && ip[0] >> 4 == 6 => {
                let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
                let payload = ip[IPV6_HEADER_LEN..].get(..plen).ok_or(Error::Truncated)?;
                let addr = |at: usize| {
                    let mut o = [0; 16];
                    o.copy_from_slice(&ip[at..at + 16]);
                    IpAddr::V6(Ipv6Addr::from(o))
                };
                let repr = Repr {
                    src_mac: ethernet::src(frame),
                    src: addr(8),
                    dst: addr(24),
                    protocol: ip[6],
                    hop_limit: ip[7],
                    ident: 0,
                    payload_len: plen,
                };
                (repr, payload)
            }
            _ => return Err(Error::Malformed),
        };
        if multicast_mac(repr.dst) != Some(ethernet::dst(frame)) {
            return Err(Error::Malformed);
        }
        Ok((repr, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::hex;

    // A raw IPPROTO_VRRP socket's multicast sends on Linux 6.18, captured with `tcpdump -xx`
    // on the peer of a veth pair: IPv4 with DF and the kernel's identification 0xa069; IPv6
    // with the kernel's flow label (0xde2e8) zeroed here, as emit leaves it.
    const RAW_V4: &str = "0100 5e00 0012 aeca cbe3 8e28 0800 4500 001a a069 4000 ff70 38f6
                          c000 0201 e000 0012 3107 6162 6364";
    const RAW_V6: &str = "3333 0000 0012 aeca cbe3 8e28 86dd 6000 0000 0006 70ff fe80 0000
                          0000 0000 acca cbff fee3 8e28 ff02 0000 0000 0000 0000 0000 0000
                          0012 3107 6162 6364";
    const MAC: [u8; 6] = [0xae, 0xca, 0xcb, 0xe3, 0x8e, 0x28];

    fn v4() -> Repr {
        Repr {
            src_mac: MAC,
            src: "192.0.2.1".parse().unwrap(),
            dst: "224.0.0.18".parse().unwrap(),
            protocol: 112,
            hop_limit: 255,
            ident: 0xa069,
            payload_len: 6,
        }
    }

    fn v6() -> Repr {
        Repr {
            src: "fe80::acca:cbff:fee3:8e28".parse().unwrap(),
            dst: "ff02::12".parse().unwrap(),
            ident: 0,
            ..v4()
        }
    }

    #[test]
    fn emits_the_raw_paths_headers() {
        for (r, want) in [(v4(), hex(RAW_V4)), (v6(), hex(RAW_V6))] {
            let mut buf = [0xaa; MAX_HEADER_LEN + 2];
            let n = r.emit(&mut buf).unwrap();
            assert_eq!(n, want.len() - 6);
            assert_eq!(buf[..n], want[..n]);
            assert_eq!(Repr::parse(&want), Ok((r, &want[n..])));
        }
    }

    #[test]
    fn group_macs() {
        let mac = |s: &str| multicast_mac(s.parse().unwrap());
        assert_eq!(mac("224.0.0.18"), Some([1, 0, 0x5e, 0, 0, 0x12]));
        // Only the low 23 bits: 239.128.1.2 shares 224.0.1.2's MAC.
        assert_eq!(mac("239.128.1.2"), Some([1, 0, 0x5e, 0, 1, 2]));
        assert_eq!(mac("ff02::12"), Some([0x33, 0x33, 0, 0, 0, 0x12]));
        assert_eq!(mac("ff05::1:3"), Some([0x33, 0x33, 0, 1, 0, 3]));
        assert_eq!(mac("192.0.2.1"), None);
        assert_eq!(mac("fe80::1"), None);
    }

    #[test]
    fn refuses_what_it_cannot_frame() {
        let mut buf = [0; MAX_HEADER_LEN];
        let unicast = Repr {
            dst: "192.0.2.2".parse().unwrap(),
            ..v4()
        };
        assert_eq!(unicast.emit(&mut buf), Err(Error::Malformed));
        let mixed = Repr {
            src: "fe80::1".parse().unwrap(),
            ..v4()
        };
        assert_eq!(mixed.emit(&mut buf), Err(Error::Malformed));
        assert_eq!(v6().emit(&mut buf[..53]), Err(Error::Truncated));
        let huge = Repr {
            payload_len: 65536,
            ..v6()
        };
        assert_eq!(huge.emit(&mut buf), Err(Error::Truncated));
        // A frame whose MAC is not its group's, or that ends inside its payload.
        let mut f = hex(RAW_V4);
        f[5] = 0x13;
        assert_eq!(Repr::parse(&f), Err(Error::Malformed));
        let f = hex(RAW_V6);
        assert_eq!(Repr::parse(&f[..f.len() - 1]), Err(Error::Truncated));
        assert_eq!(Repr::parse(&f[..10]), Err(Error::Truncated));
    }
}
