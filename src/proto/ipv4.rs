//! The IPv4 header (RFC 791 §3.1), as an IPv4 raw socket delivers it in front of every
//! VRRP message. Only what VRRP needs is read: lengths, TTL, protocol, addresses. IPv6 raw
//! sockets never deliver their header (RFC 3542 §3): the hop limit and destination come as
//! ancillary data instead, so there is no IPv6 view here.

use std::net::Ipv4Addr;

/// Why a buffer is not an IPv4 header followed by its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than 20 bytes, IHL below 5, or total length beyond the buffer or below IHL.
    Truncated,
    /// Version field is not 4.
    Version,
}

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLAGS_FRAG: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// Checked view of an IPv4 packet.
///
/// ```text
/// RFC 791 §3.1
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version|  IHL  |Type of Service|          Total Length         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Identification        |Flags|      Fragment Offset    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Time to Live |    Protocol   |         Header Checksum       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Source Address                          |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Destination Address                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Options                    |    Padding    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` after checking the header and the total length it announces fit.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::Version);
        }
        let (ihl, total) = (self.header_len(), usize::from(self.total_len()));
        if ihl < HEADER_LEN || total < ihl || total > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL counts 32-bit words).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn total_len(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::TOTAL_LEN];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn src(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn dst(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The bytes after the header, up to the total length (link padding cut off).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

/// The header fields VRRP acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub payload_len: usize,
}

impl Repr {
    /// Reads a checked header. The header checksum is not verified: the kernel drops
    /// packets whose header checksum fails before any raw socket sees them.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        packet.check_len()?;
        Ok(Repr {
            src: packet.src(),
            dst: packet.dst(),
            protocol: packet.protocol(),
            ttl: packet.ttl(),
            payload_len: packet.payload().len(),
        })
    }

    /// Writes a 20-byte header (no options, DF clear, id 0) with its checksum into the
    /// start of `packet`, whose length must be the header plus `payload_len`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<(), Error> {
        if packet.buffer.as_ref().len() != HEADER_LEN + self.payload_len {
            return Err(Error::Truncated);
        }
        self.emit_header(packet.buffer.as_mut(), 0, false)
    }

    /// Writes the 20-byte header alone (no options, identification `ident`, Don't Fragment
    /// as asked) with its checksum into the start of `hdr`; the payload may be elsewhere.
    pub fn emit_header(
        &self,
        hdr: &mut [u8],
        ident: u16,
        dont_fragment: bool,
    ) -> Result<(), Error> {
        let total = u16::try_from(HEADER_LEN + self.payload_len).map_err(|_| Error::Truncated)?;
        let b = hdr.get_mut(..HEADER_LEN).ok_or(Error::Truncated)?;
        b.fill(0);
        b[field::VER_IHL] = 0x45;
        b[field::TOTAL_LEN].copy_from_slice(&total.to_be_bytes());
        b[field::IDENT].copy_from_slice(&ident.to_be_bytes());
        let flags: u16 = if dont_fragment { 0x4000 } else { 0 };
        b[field::FLAGS_FRAG].copy_from_slice(&flags.to_be_bytes());
        b[field::TTL] = self.ttl;
        b[field::PROTOCOL] = self.protocol;
        b[field::SRC].copy_from_slice(&self.src.octets());
        b[field::DST].copy_from_slice(&self.dst.octets());
        let sum = super::checksum::finish(super::checksum::sum(b));
        b[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::hex;

    // keepalived 2.2.7's v2 advert captured with `tcpdump -x` on the peer of a veth pair
    // (the KA_V2 instance of proto::vrrp's tests): TTL 255, protocol 112, id 1, DSCP CS6,
    // 10.77.0.1 -> 224.0.0.18, then the 24-byte VRRP message.
    const KA_V2_IP: &str = "45c0 002c 0001 0000 ff70 d040 0a4d 0001 e000 0012
                            2133 6402 0101 f6e7 0a4d 0064 0a4d 0065 7365 6372 6574 3132";

    #[test]
    fn keepalived_header() {
        let bytes = hex(KA_V2_IP);
        let p = Packet::new_checked(&bytes[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(
            r,
            Repr {
                src: Ipv4Addr::new(10, 77, 0, 1),
                dst: Ipv4Addr::new(224, 0, 0, 18),
                protocol: 112,
                ttl: 255,
                payload_len: 24,
            }
        );
        assert_eq!(p.payload(), &bytes[20..]);
        // The header checksum verifies: the one's-complement sum of the header is 0xffff.
        assert_eq!(crate::proto::checksum::sum(&bytes[..20]), 0xffff);
    }

    #[test]
    fn emit_round_trips_and_checksums() {
        let r = Repr {
            src: Ipv4Addr::new(192, 0, 2, 3),
            dst: Ipv4Addr::new(192, 0, 2, 1),
            protocol: 112,
            ttl: 1,
            payload_len: 4,
        };
        let mut p = Packet::new_unchecked(vec![0xaa; 24]);
        r.emit(&mut p).unwrap();
        let bytes = p.into_inner();
        assert_eq!(
            &bytes[..20],
            &hex("4500 0018 0000 0000 0170 3572 c000 0203 c000 0201")[..]
        );
        assert_eq!(crate::proto::checksum::sum(&bytes[..20]), 0xffff);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Ok(r)
        );
        let mut short = Packet::new_unchecked(vec![0; 23]);
        assert_eq!(r.emit(&mut short), Err(Error::Truncated));
    }

    #[test]
    fn header_alone_with_identification_and_df() {
        // A raw socket's multicast send on Linux 6.18: DF set, the kernel's identification.
        let r = Repr {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(224, 0, 0, 18),
            protocol: 112,
            ttl: 255,
            payload_len: 6,
        };
        let mut hdr = [0xaa; 21];
        r.emit_header(&mut hdr, 0xa069, true).unwrap();
        let want = hex("4500 001a a069 4000 ff70 38f6 c000 0201 e000 0012");
        assert_eq!((&hdr[..20], hdr[20]), (&want[..], 0xaa));
        assert_eq!(r.emit_header(&mut [0; 19], 0, true), Err(Error::Truncated));
    }

    #[test]
    fn options_and_link_padding() {
        // IHL 6 (one option word), total 28 of a 32-byte buffer (Ethernet padding).
        let mut b = hex("4600 001c 0000 0000 ff70 0000 0a00 0001 e000 0012 0000 0000");
        b.extend_from_slice(&[1, 2, 3, 4, 0, 0, 0, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
    }

    #[test]
    fn malformed_headers_are_typed() {
        let good = hex(KA_V2_IP);
        assert_eq!(
            Packet::new_checked(&good[..19]).err(),
            Some(Error::Truncated)
        );
        let mut b = good.clone();
        b[0] = 0x65;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Version));
        let mut b = good.clone();
        b[0] = 0x44; // IHL 16 bytes
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Truncated));
        let mut b = good.clone();
        b[0] = 0x4f; // IHL 60 bytes > total 44
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Truncated));
        let mut b = good;
        b[3] = 0x2d; // total 45 > 44 received
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Truncated));
    }
}
