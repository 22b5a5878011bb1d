//! Unsolicited Neighbor Advertisement (RFC 4861 §4.4, §7.2.6) for a virtual IPv6 address:
//! a whole Ethernet + IPv6 + ICMPv6 frame, ready for an AF_PACKET socket.
//!
//! Byte for byte what keepalived sends: from the virtual address itself to all-nodes
//! (ff02::1), hop limit 255 (RFC 4861 §7.1.2 requires it), Solicited clear, Override set,
//! Router as configured, one Target Link-Layer Address option. A shell using a raw ICMPv6
//! socket instead sends `frame[ICMP_OFFSET..]` (the kernel then fills the IPv6 header).

use std::net::Ipv6Addr;

use super::frame::{self, ETHERTYPE_IPV6};
use super::{checksum, ethernet};

pub const ICMPV6_PROTO: u8 = 58;
/// ICMPv6 type of a Neighbor Advertisement.
pub const TYPE_NA: u8 = 136;
/// Option type Target Link-Layer Address (RFC 4861 §4.6.1).
pub const OPT_TARGET_LLADDR: u8 = 2;
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Offset of the ICMPv6 message in the frame (Ethernet 14 + IPv6 40).
pub const ICMP_OFFSET: usize = ethernet::HEADER_LEN + 40;
/// NA header (24) + Target Link-Layer Address option (8).
pub const ICMP_LEN: usize = 32;
pub const FRAME_LEN: usize = ICMP_OFFSET + ICMP_LEN;

const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    Truncated,
    /// Not an IPv6 ICMPv6 NA with a target link-layer option, or hop limit not 255.
    Malformed,
    Checksum,
}

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const IP_VTF: Field = 14..18;
    pub const IP_PAYLOAD_LEN: Field = 18..20;
    pub const IP_NEXT_HEADER: usize = 20;
    pub const IP_HOP_LIMIT: usize = 21;
    pub const IP_SRC: Field = 22..38;
    pub const IP_DST: Field = 38..54;
    pub const TYPE: usize = 54;
    pub const CODE: usize = 55;
    pub const CHECKSUM: Field = 56..58;
    pub const FLAGS: usize = 58;
    pub const TARGET: Field = 62..78;
    pub const OPT_TYPE: usize = 78;
    pub const OPT_LEN: usize = 79;
    pub const OPT_MAC: Field = 80..86;
}

/// Checked view of the frame.
///
/// ```text
/// Ethernet: | 33:33:00:00:00:01 | src MAC | 0x86dd |
/// IPv6:     | ver 6, tc 0, flow 0 | len 32 | next 58 | hop 255 | src = target | ff02::1 |
/// RFC 4861 §4.4:
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type=136  |     Code=0    |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |R|S|O|                     Reserved                            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Target Address (16)                     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Type=2       |   Length=1    |  Link-Layer Address (6) ...   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn v6(b: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(b);
    Ipv6Addr::from(o)
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        if buffer.as_ref().len() < FRAME_LEN {
            return Err(Error::Truncated);
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn src_ip(&self) -> Ipv6Addr {
        v6(&self.b()[field::IP_SRC])
    }
    pub fn dst_ip(&self) -> Ipv6Addr {
        v6(&self.b()[field::IP_DST])
    }
    pub fn target(&self) -> Ipv6Addr {
        v6(&self.b()[field::TARGET])
    }
    pub fn flags(&self) -> u8 {
        self.b()[field::FLAGS]
    }
    pub fn option_mac(&self) -> [u8; 6] {
        super::mac(&self.b()[field::OPT_MAC])
    }

    /// RFC 4443 §2.3: checksum over the IPv6 pseudo-header and the ICMPv6 message.
    fn icmp_sum(&self) -> u32 {
        let icmp = &self.b()[ICMP_OFFSET..FRAME_LEN];
        checksum::sum(icmp)
            + checksum::pseudo_header(
                &self.src_ip().into(),
                &self.dst_ip().into(),
                ICMPV6_PROTO,
                ICMP_LEN as u32,
            )
    }
}

/// An unsolicited NA announcing `target` at `mac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub mac: [u8; 6],
    pub target: Ipv6Addr,
    /// Router flag (keepalived sets it when the interface forwards IPv6).
    pub router: bool,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, Error> {
        let b = p.b();
        if b.len() < FRAME_LEN {
            return Err(Error::Truncated);
        }
        let well_formed = ethernet::ethertype(b) == ETHERTYPE_IPV6
            && b[field::IP_VTF.start] >> 4 == 6
            && b[field::IP_PAYLOAD_LEN] == (ICMP_LEN as u16).to_be_bytes()
            && b[field::IP_NEXT_HEADER] == ICMPV6_PROTO
            // RFC 4861 §7.1.2: hop limit 255, code 0, target not multicast.
            && b[field::IP_HOP_LIMIT] == 255
            && b[field::TYPE] == TYPE_NA
            && b[field::CODE] == 0
            && !p.target().is_multicast()
            && b[field::OPT_TYPE] == OPT_TARGET_LLADDR
            && b[field::OPT_LEN] == 1;
        if !well_formed {
            return Err(Error::Malformed);
        }
        if checksum::fold(p.icmp_sum()) != 0xffff {
            return Err(Error::Checksum);
        }
        Ok(Repr {
            mac: p.option_mac(),
            target: p.target(),
            router: p.flags() & FLAG_ROUTER != 0,
        })
    }

    /// Writes the 86-byte frame into the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        let b = buf.get_mut(..FRAME_LEN).ok_or(Error::Truncated)?;
        b.fill(0);
        let ip = frame::Repr {
            src_mac: self.mac,
            src: self.target.into(),
            dst: ALL_NODES.into(),
            protocol: ICMPV6_PROTO,
            hop_limit: 255,
            ident: 0,
            payload_len: ICMP_LEN,
        };
        ip.emit(b).map_err(|_| Error::Truncated)?;
        b[field::TYPE] = TYPE_NA;
        // RFC 4861 §7.2.6: unsolicited NAs clear Solicited; Override set so caches update.
        b[field::FLAGS] = FLAG_OVERRIDE | if self.router { FLAG_ROUTER } else { 0 };
        debug_assert_eq!(b[field::FLAGS] & FLAG_SOLICITED, 0);
        b[field::TARGET].copy_from_slice(&self.target.octets());
        b[field::OPT_TYPE] = OPT_TARGET_LLADDR;
        b[field::OPT_LEN] = 1;
        b[field::OPT_MAC].copy_from_slice(&self.mac);
        let sum = Packet::new_unchecked(&*b).icmp_sum();
        b[field::CHECKSUM].copy_from_slice(&checksum::finish(sum).to_be_bytes());
        Ok(())
    }

    pub fn to_bytes(&self) -> [u8; FRAME_LEN] {
        let mut f = [0; FRAME_LEN];
        self.emit(&mut f)
            .expect("FRAME_LEN buffer always fits the frame");
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::hex;

    // keepalived 2.2.7 announcing fd77::100, captured on the peer of a veth pair.
    const KA_NA: &str = "3333 0000 0001 8a68 18f5 88aa 86dd 6000
        0000 0020 3aff fd77 0000 0000 0000 0000 0000 0000 0100 ff02 0000 0000 0000 0000
        0000 0000 0001 8800 2da8 2000 0000 fd77 0000 0000 0000 0000 0000 0000 0100 0201
        8a68 18f5 88aa";

    fn ka_repr() -> Repr {
        Repr {
            mac: [0x8a, 0x68, 0x18, 0xf5, 0x88, 0xaa],
            target: "fd77::100".parse().unwrap(),
            router: false,
        }
    }

    #[test]
    fn matches_keepalived_frame() {
        let want = hex(KA_NA);
        assert_eq!(ka_repr().to_bytes()[..], want[..]);
        let p = Packet::new_checked(&want[..]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(ka_repr()));
        assert_eq!(p.dst_ip(), ALL_NODES);
        assert_eq!(p.src_ip(), ka_repr().target);
    }

    #[test]
    fn router_flag_round_trips_with_valid_checksum() {
        let r = Repr {
            router: true,
            ..ka_repr()
        };
        let f = r.to_bytes();
        assert_eq!(f[field::FLAGS], 0xa0);
        assert_eq!(Repr::parse(&Packet::new_unchecked(&f[..])), Ok(r));
    }

    #[test]
    fn rejects_corruption() {
        let good = hex(KA_NA);
        assert_eq!(
            Packet::new_checked(&good[..85]).err(),
            Some(Error::Truncated)
        );
        let mut f = good.clone();
        f[field::IP_HOP_LIMIT] = 64;
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&f[..])),
            Err(Error::Malformed)
        );
        let mut f = good.clone();
        f[field::OPT_MAC.start] ^= 1;
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&f[..])),
            Err(Error::Checksum)
        );
        assert_eq!(ka_repr().emit(&mut [0; 40]), Err(Error::Truncated));
    }
}
