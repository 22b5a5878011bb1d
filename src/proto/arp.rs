//! Gratuitous ARP: a whole Ethernet frame carrying an ARP request (RFC 826) that announces
//! `ip is-at mac` (RFC 5227 §3 "ARP Announcement"), ready for an AF_PACKET socket.
//!
//! Byte for byte what keepalived sends: broadcast destination, sender and target protocol
//! address both the virtual address, target hardware address all-ones (RFC 5227 says the
//! field is ignored; keepalived fills it with the broadcast address).

use std::net::Ipv4Addr;

use super::{ethernet, mac};

/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Ethernet header (14) + ARP for IPv4 over Ethernet (28). Drivers pad to 60.
pub const FRAME_LEN: usize = 42;
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// ARP receive/emit failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    Truncated,
    /// Not ARP, or not Ethernet/IPv4 ARP.
    Malformed,
}

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const HTYPE: Field = 14..16;
    pub const PTYPE: Field = 16..18;
    pub const HLEN: usize = 18;
    pub const PLEN: usize = 19;
    pub const OPER: Field = 20..22;
    pub const SHA: Field = 22..28;
    pub const SPA: Field = 28..32;
    pub const THA: Field = 32..38;
    pub const TPA: Field = 38..42;
}

/// Checked view of an Ethernet frame carrying Ethernet/IPv4 ARP.
///
/// ```text
/// Ethernet: | dst MAC (6) | src MAC (6) | EtherType 0x0806 (2) |
/// RFC 826:
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Hardware type = 1         |     Protocol type = 0x0800    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   HLEN = 6    |   PLEN = 4    |   Operation (1 req, 2 reply)  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Sender hardware address (6) | Sender protocol address (4)     |
/// | Target hardware address (6) | Target protocol address (4)     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn ip(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
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

    pub fn eth_dst(&self) -> [u8; 6] {
        ethernet::dst(self.b())
    }
    pub fn eth_src(&self) -> [u8; 6] {
        ethernet::src(self.b())
    }
    pub fn operation(&self) -> u16 {
        be16(&self.b()[field::OPER])
    }
    pub fn sender_mac(&self) -> [u8; 6] {
        mac(&self.b()[field::SHA])
    }
    pub fn sender_ip(&self) -> Ipv4Addr {
        ip(&self.b()[field::SPA])
    }
    pub fn target_mac(&self) -> [u8; 6] {
        mac(&self.b()[field::THA])
    }
    pub fn target_ip(&self) -> Ipv4Addr {
        ip(&self.b()[field::TPA])
    }

    fn is_ether_ipv4_arp(&self) -> bool {
        let b = self.b();
        ethernet::ethertype(b) == ETHERTYPE_ARP
            && be16(&b[field::HTYPE]) == 1
            && be16(&b[field::PTYPE]) == 0x0800
            && b[field::HLEN] == 6
            && b[field::PLEN] == 4
    }
}

/// A gratuitous ARP announcement of `ip` at `mac` (the interface's, or the VMAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
}

impl Repr {
    /// Accepts only gratuitous requests (sender = target protocol address).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, Error> {
        if p.b().len() < FRAME_LEN {
            return Err(Error::Truncated);
        }
        if !p.is_ether_ipv4_arp() || p.operation() != 1 || p.sender_ip() != p.target_ip() {
            return Err(Error::Malformed);
        }
        Ok(Repr {
            mac: p.sender_mac(),
            ip: p.sender_ip(),
        })
    }

    /// Writes the 42-byte frame into the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        let b = buf.get_mut(..FRAME_LEN).ok_or(Error::Truncated)?;
        ethernet::emit(b, BROADCAST, self.mac, ETHERTYPE_ARP);
        b[field::HTYPE].copy_from_slice(&1u16.to_be_bytes());
        b[field::PTYPE].copy_from_slice(&0x0800u16.to_be_bytes());
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        // RFC 5227 §3: announcements are ARP requests.
        b[field::OPER].copy_from_slice(&1u16.to_be_bytes());
        b[field::SHA].copy_from_slice(&self.mac);
        b[field::SPA].copy_from_slice(&self.ip.octets());
        b[field::THA].copy_from_slice(&BROADCAST);
        b[field::TPA].copy_from_slice(&self.ip.octets());
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

    // keepalived 2.2.7 announcing 10.77.0.100, captured on the peer of a veth pair.
    const KA_GARP: [u8; FRAME_LEN] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x8a, 0x68, 0x18, 0xf5, 0x88, 0xaa, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x8a, 0x68, 0x18, 0xf5, 0x88, 0xaa, 0x0a, 0x4d,
        0x00, 0x64, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x4d, 0x00, 0x64,
    ];
    const MAC: [u8; 6] = [0x8a, 0x68, 0x18, 0xf5, 0x88, 0xaa];

    #[test]
    fn matches_keepalived_frame() {
        let r = Repr {
            mac: MAC,
            ip: Ipv4Addr::new(10, 77, 0, 100),
        };
        assert_eq!(r.to_bytes(), KA_GARP);
        let p = Packet::new_checked(&KA_GARP[..]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(r));
        assert_eq!(p.eth_dst(), BROADCAST);
        assert_eq!(p.eth_src(), MAC);
        assert_eq!(p.target_mac(), BROADCAST);
    }

    #[test]
    fn rejects_non_gratuitous_and_short() {
        assert!(Packet::new_checked(&KA_GARP[..41]).is_err());
        let mut f = KA_GARP;
        f[41] = 0x65; // target differs from sender: an ordinary who-has
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&f[..])),
            Err(Error::Malformed)
        );
        let mut f = KA_GARP;
        f[13] = 0x00; // IPv4 EtherType
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&f[..])),
            Err(Error::Malformed)
        );
        let r = Repr::parse(&Packet::new_unchecked(&KA_GARP[..])).unwrap();
        assert_eq!(r.emit(&mut [0; 41]), Err(Error::Truncated));
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&KA_GARP[..10])),
            Err(Error::Truncated)
        );
    }
}
