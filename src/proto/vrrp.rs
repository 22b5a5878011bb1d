//! VRRP advertisements: version 2 (RFC 3768 §5, IPv4 only) and version 3 (RFC 5798 §5,
//! IPv4 and IPv6).
//!
//! The address family is not in the VRRP message itself: it comes from the IP header, so
//! parsing and emitting take the IP source/destination ([`RxMeta`], [`Repr::emit`]). Version 3
//! needs them anyway for the pseudo-header checksum (RFC 5798 §5.2.8).
//!
//! Validation is split in two: [`Repr::parse`] rejects what is malformed for anybody
//! (truncated, version, type, checksum, family), [`Repr::check`] rejects what is well
//! formed but not acceptable for one instance (VRID, authentication, interval, address list).
//! The TTL rule depends on the instance too (unicast peers or not): the VRRP core applies
//! it, with the rest of RFC 5798 §7.1, to the [`Datagram`] a raw socket delivered.
//! Every rejection is one [`Error`] kind, which is also the receive-error counter it bumps.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::{checksum, ipv4};

/// IP protocol number of VRRP (RFC 5798 §5.1.1.4).
pub const IP_PROTO: u8 = 112;
/// TTL / hop limit every advertisement is sent with and must arrive with (RFC 5798 §5.1.1.3).
pub const TTL: u8 = 255;
/// IPv4 multicast group (RFC 5798 §5.1.1.2).
pub const MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group (RFC 5798 §5.1.2.2).
pub const MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Size of the v2 authentication data trailer (RFC 3768 §5.3.11).
pub const AUTH_DATA_LEN: usize = 8;
/// Fixed header before the address list, both versions.
pub const HEADER_LEN: usize = 8;
/// Largest v3 Max Adver Int: the field is 12 bits of centiseconds (RFC 5798 §5.2.7).
pub const MAX_ADVER_INT_V3: u16 = 0x0fff;
/// v2 Authentication Type "Simple Text Password" (RFC 2338 §5.3.6, removed by RFC 3768 but
/// still spoken by keepalived's `auth_type PASS`).
pub const AUTH_TYPE_PASS: u8 = 1;

/// Why an advertisement was discarded. Each kind is one receive-error counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// Shorter than its header, or than its address count announces.
    Truncated,
    /// Version is neither 2 nor 3, or not the instance's version.
    Version,
    /// Type is not ADVERTISEMENT (1).
    Type,
    /// Checksum does not verify.
    Checksum,
    /// VRID belongs to no instance here.
    Vrid,
    /// Received TTL / hop limit is not 255.
    Ttl,
    /// v2 Authentication Type differs from the instance's.
    AuthType,
    /// v2 authentication data (password) differs.
    Auth,
    /// Address count or list differs from the instance's virtual addresses.
    AddrList,
    /// Advertisement interval differs (v2) or is zero.
    AdvertInterval,
    /// IP source/destination/addresses of different families, or v2 over IPv6.
    Family,
    /// Unicast advert for a multicast instance, or multicast for a unicast one.
    Destination,
    /// Unicast instance: the source is none of its `unicast_peer`s.
    Peer,
}

impl Error {
    /// Number of kinds, for per-kind counter arrays indexed by [`Error::index`].
    pub const COUNT: usize = 13;
    /// Every kind, in [`Error::index`] order.
    pub const ALL: [Error; Error::COUNT] = [
        Error::Truncated,
        Error::Version,
        Error::Type,
        Error::Checksum,
        Error::Vrid,
        Error::Ttl,
        Error::AuthType,
        Error::Auth,
        Error::AddrList,
        Error::AdvertInterval,
        Error::Family,
        Error::Destination,
        Error::Peer,
    ];

    /// Dense index in `0..COUNT`.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "packet shorter than its header or address count",
            Error::Version => "unexpected VRRP version",
            Error::Type => "not an ADVERTISEMENT",
            Error::Checksum => "bad checksum",
            Error::Vrid => "VRID not configured here",
            Error::Ttl => "TTL/hop limit is not 255",
            Error::AuthType => "authentication type mismatch",
            Error::Auth => "authentication failure",
            Error::AddrList => "virtual address list mismatch",
            Error::AdvertInterval => "advertisement interval mismatch",
            Error::Family => "address family mismatch",
            Error::Destination => "multicast/unicast destination does not match the instance",
            Error::Peer => {
                "source is not a unicast peer (keeplite always checks; keepalived only with check_unicast_src)"
            }
        })
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768: IPv4 only, interval in seconds, optional simple password.
    V2,
    /// RFC 5798: IPv4/IPv6, interval in centiseconds, pseudo-header checksum.
    V3,
}

impl Version {
    fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }

    /// Duration of one unit of the interval field.
    pub fn interval_unit(self) -> Duration {
        match self {
            Version::V2 => Duration::from_secs(1),
            Version::V3 => Duration::from_millis(10),
        }
    }
}

/// v2 authentication (RFC 3768 §5.3.6 / §5.3.11; type 1 from RFC 2338). Ignored in v3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Auth {
    pub auth_type: u8,
    pub data: [u8; AUTH_DATA_LEN],
}

impl Auth {
    /// No authentication.
    pub const NONE: Auth = Auth {
        auth_type: 0,
        data: [0; AUTH_DATA_LEN],
    };

    /// Simple text password, zero padded; like keepalived, only the first 8 bytes count.
    pub fn password(pass: &[u8]) -> Auth {
        let mut data = [0; AUTH_DATA_LEN];
        let n = pass.len().min(AUTH_DATA_LEN);
        data[..n].copy_from_slice(&pass[..n]);
        Auth {
            auth_type: AUTH_TYPE_PASS,
            data,
        }
    }
}

/// The IP packet that carried an advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL / hop limit as received.
    pub ttl: u8,
}

/// A datagram as a VRRP raw socket delivers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// IPv4 raw sockets deliver the whole IP packet, header included.
    V4(&'a [u8]),
    /// IPv6 raw sockets deliver the payload only; the header fields the kernel reports as
    /// ancillary data (RFC 3542 §6) come alongside.
    V6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        payload: &'a [u8],
    },
}

impl<'a> Datagram<'a> {
    /// The IP facts and the VRRP message. A malformed IPv4 header is [`Error::Truncated`],
    /// another protocol than VRRP [`Error::Type`].
    pub fn split(&self) -> Result<(RxMeta, &'a [u8])> {
        match *self {
            Datagram::V4(bytes) => {
                let p = ipv4::Packet::new_checked(bytes).map_err(|e| match e {
                    ipv4::Error::Truncated => Error::Truncated,
                    ipv4::Error::Version => Error::Family,
                })?;
                if p.protocol() != IP_PROTO {
                    return Err(Error::Type);
                }
                let meta = RxMeta {
                    src: p.src().into(),
                    dst: p.dst().into(),
                    ttl: p.ttl(),
                };
                Ok((meta, &bytes[p.header_len()..usize::from(p.total_len())]))
            }
            Datagram::V6 {
                src,
                dst,
                hop_limit,
                payload,
            } => Ok((
                RxMeta {
                    src: src.into(),
                    dst: dst.into(),
                    ttl: hop_limit,
                },
                payload,
            )),
        }
    }
}

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    /// v2 only.
    pub const AUTH_TYPE: usize = 4;
    /// v2 only, seconds.
    pub const ADVER_INT_V2: usize = 5;
    /// v3 only: 4 reserved bits + 12 bits of centiseconds.
    pub const MAX_ADVER_INT: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// Checked view of a VRRP message (the IP payload).
///
/// ```text
/// RFC 3768 §5.1 (v2)                       RFC 5798 §5.1 (v3)
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// v2: |   Auth Type   |   Adver Int   |          Checksum             |
/// v3: |(rsvd) |     Max Adver Int     |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 IPvX Address(es): Count x 4 or 16 bytes       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// v2 only:                                                        |
/// |                     Authentication Data (1)                   |
/// |                     Authentication Data (2)                   |
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

    /// Wraps `buffer` after checking the fixed header fits. The address list length
    /// depends on the family, which only [`Repr::parse`] knows.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    pub fn addr_count(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// v2 Auth Type.
    pub fn auth_type(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_TYPE]
    }

    /// v2 Adver Int (seconds).
    pub fn adver_int_v2(&self) -> u8 {
        self.buffer.as_ref()[field::ADVER_INT_V2]
    }

    /// v3 Max Adver Int (centiseconds), reserved bits masked off.
    pub fn max_adver_int(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::MAX_ADVER_INT];
        u16::from_be_bytes([b[0], b[1]]) & MAX_ADVER_INT_V3
    }

    pub fn checksum(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Bytes the message needs for its address count: header, addresses, v2 auth trailer.
    fn needed_len(&self, version: Version, addr_len: usize) -> usize {
        let trailer = match version {
            Version::V2 => AUTH_DATA_LEN,
            Version::V3 => 0,
        };
        HEADER_LEN + usize::from(self.addr_count()) * addr_len + trailer
    }

    /// Sum that verifies to zero when the checksum is right: RFC 3768 §5.3.8 covers the
    /// VRRP message only, RFC 5798 §5.2.8 adds the pseudo-header.
    fn checksum_sum(&self, version: Version, src: &IpAddr, dst: &IpAddr) -> u32 {
        let data = self.buffer.as_ref();
        let body = checksum::sum(data);
        match version {
            Version::V2 => body,
            Version::V3 => body + checksum::pseudo_header(src, dst, IP_PROTO, data.len() as u32),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_byte(&mut self, at: usize, v: u8) {
        self.buffer.as_mut()[at] = v;
    }

    fn set_u16(&mut self, at: field::Field, v: u16) {
        self.buffer.as_mut()[at].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the priority and updates the checksum incrementally (RFC 1624 §3, eqn. 3:
    /// HC' = ~(~HC + ~m + m')), so a cached advert changes priority without a full
    /// re-emit. Both versions' checksums cover the word holding the priority.
    pub fn set_priority(&mut self, priority: u8) {
        let b = self.buffer.as_ref();
        let old = u16::from_be_bytes([b[field::PRIORITY], b[field::COUNT]]);
        let new = u16::from_be_bytes([priority, b[field::COUNT]]);
        let sum = u32::from(!self.checksum()) + u32::from(!old) + u32::from(new);
        self.set_byte(field::PRIORITY, priority);
        self.set_u16(field::CHECKSUM, checksum::finish(sum));
    }

    /// Computes and stores the checksum over the whole buffer.
    fn fill_checksum(&mut self, version: Version, src: &IpAddr, dst: &IpAddr) {
        self.set_u16(field::CHECKSUM, 0);
        let sum = self.checksum_sum(version, src, dst);
        self.set_u16(field::CHECKSUM, checksum::finish(sum));
    }
}

/// A validated advertisement read in place: everything [`Repr::parse`] checks, with the
/// address list left in the packet, so the receive path copies and allocates nothing.
#[derive(Debug, Clone, Copy)]
pub struct Advert<'a> {
    pub version: Version,
    pub vrid: u8,
    /// 0 = master stepping down, 255 = address owner.
    pub priority: u8,
    /// Wire units: seconds for v2, centiseconds (12 bits) for v3.
    pub advert_int: u16,
    /// v2 only; [`Auth::NONE`] for v3.
    pub auth: Auth,
    /// The address list: count x `addr_len` bytes.
    list: &'a [u8],
    addr_len: usize,
}

/// A validated advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    pub version: Version,
    pub vrid: u8,
    /// 0 = master stepping down, 255 = address owner.
    pub priority: u8,
    /// Wire units: seconds for v2, centiseconds (12 bits) for v3.
    pub advert_int: u16,
    /// v2 only; [`Auth::NONE`] for v3.
    pub auth: Auth,
    /// Virtual addresses, all of the IP packet's family.
    pub addresses: Vec<IpAddr>,
}

fn same_family(a: &IpAddr, b: &IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

impl<'a> Advert<'a> {
    /// Validates a received message (`packet` is the IP payload).
    pub fn parse(packet: &Packet<&'a [u8]>, meta: &RxMeta) -> Result<Advert<'a>> {
        packet.check_len()?;
        // RFC 5798 §7.1: MUST verify the VRRP version.
        let version = match packet.version() {
            2 => Version::V2,
            3 => Version::V3,
            _ => return Err(Error::Version),
        };
        // RFC 5798 §5.2.2: the only type is 1, ADVERTISEMENT; others are discarded.
        if packet.msg_type() != 1 {
            return Err(Error::Type);
        }
        if !same_family(&meta.src, &meta.dst) || (version == Version::V2 && meta.src.is_ipv6()) {
            return Err(Error::Family);
        }
        let addr_len = if meta.src.is_ipv4() { 4 } else { 16 };
        // RFC 5798 §7.1: MUST verify the received packet length >= the VRRP header and
        // the address count it announces.
        if packet.buffer.len() < packet.needed_len(version, addr_len) {
            return Err(Error::Truncated);
        }
        // RFC 5798 §7.1: MUST verify the VRRP checksum.
        if checksum::fold(packet.checksum_sum(version, &meta.src, &meta.dst)) != 0xffff {
            return Err(Error::Checksum);
        }
        let data: &'a [u8] = packet.buffer;
        let list_end = HEADER_LEN + usize::from(packet.addr_count()) * addr_len;
        let (advert_int, auth) = match version {
            Version::V2 => {
                let mut auth = Auth {
                    auth_type: packet.auth_type(),
                    data: [0; AUTH_DATA_LEN],
                };
                auth.data
                    .copy_from_slice(&data[list_end..list_end + AUTH_DATA_LEN]);
                (u16::from(packet.adver_int_v2()), auth)
            }
            Version::V3 => (packet.max_adver_int(), Auth::NONE),
        };
        // A zero interval would make a backup's Master_Down_Interval pure skew.
        if advert_int == 0 {
            return Err(Error::AdvertInterval);
        }
        Ok(Advert {
            version,
            vrid: packet.vrid(),
            priority: packet.priority(),
            advert_int,
            auth,
            list: &data[HEADER_LEN..list_end],
            addr_len,
        })
    }

    /// The virtual addresses, in packet order.
    pub fn addresses(&self) -> impl ExactSizeIterator<Item = IpAddr> + 'a {
        self.list
            .chunks_exact(self.addr_len)
            .map(|c| match <[u8; 4]>::try_from(c) {
                Ok(v4) => IpAddr::from(v4),
                Err(_) => {
                    let mut v6 = [0u8; 16];
                    v6.copy_from_slice(c);
                    IpAddr::from(v6)
                }
            })
    }

    /// The advertisement interval as a duration.
    pub fn advert_interval(&self) -> Duration {
        self.version.interval_unit() * u32::from(self.advert_int)
    }

    /// Validates the advertisement against one instance's configuration.
    pub fn check(&self, expect: &Expect<'_>) -> Result<()> {
        if self.vrid != expect.vrid {
            return Err(Error::Vrid);
        }
        if self.version != expect.version {
            return Err(Error::Version);
        }
        if self.version == Version::V2 {
            // RFC 2338 §7.1: auth type must match the configured one, and for simple text
            // password the data must match too.
            if self.auth.auth_type != expect.auth.auth_type {
                return Err(Error::AuthType);
            }
            if self.auth.auth_type == AUTH_TYPE_PASS && self.auth.data != expect.auth.data {
                return Err(Error::Auth);
            }
            // RFC 3768 §7.1: MUST verify the Adver Interval matches the configured one.
            // (v3 backups learn it instead, RFC 5798 §6.4.2.)
            if self.advert_int != expect.advert_int {
                return Err(Error::AdvertInterval);
            }
        }
        // RFC 5798 §7.1: MAY verify the count and list of addresses match the configured
        // ones (keepalived does unless vrrp_skip_check_adv_addr).
        if let Some(ours) = expect.addresses {
            if self.addresses().len() != ours.len() || self.addresses().any(|a| !ours.contains(&a))
            {
                return Err(Error::AddrList);
            }
        }
        Ok(())
    }

    /// The advertisement as an owned [`Repr`].
    pub fn to_repr(&self) -> Repr {
        Repr {
            version: self.version,
            vrid: self.vrid,
            priority: self.priority,
            advert_int: self.advert_int,
            auth: self.auth,
            addresses: self.addresses().collect(),
        }
    }
}

impl Repr {
    /// Validates a received message (`packet` is the IP payload); see [`Advert::parse`].
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, meta: &RxMeta) -> Result<Repr> {
        Advert::parse(&Packet::new_unchecked(packet.buffer.as_ref()), meta).map(|a| a.to_repr())
    }

    /// Bytes [`Repr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        let addrs: usize = self
            .addresses
            .iter()
            .map(|a| if a.is_ipv4() { 4 } else { 16 })
            .sum();
        let trailer = match self.version {
            Version::V2 => AUTH_DATA_LEN,
            Version::V3 => 0,
        };
        HEADER_LEN + addrs + trailer
    }

    /// Writes the message into `packet` (exactly [`Repr::buffer_len`] bytes) with the
    /// checksum for an IP packet from `src` to `dst`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: &IpAddr,
        dst: &IpAddr,
    ) -> Result<()> {
        if !same_family(src, dst)
            || self.addresses.iter().any(|a| !same_family(a, src))
            || (self.version == Version::V2 && src.is_ipv6())
        {
            return Err(Error::Family);
        }
        let count = u8::try_from(self.addresses.len()).map_err(|_| Error::AddrList)?;
        if self.advert_int == 0
            || (self.version == Version::V2 && self.advert_int > 255)
            || self.advert_int > MAX_ADVER_INT_V3
        {
            return Err(Error::AdvertInterval);
        }
        if packet.buffer.as_ref().len() != self.buffer_len() {
            return Err(Error::Truncated);
        }
        packet.set_byte(field::VER_TYPE, (self.version.number() << 4) | 1);
        packet.set_byte(field::VRID, self.vrid);
        packet.set_byte(field::PRIORITY, self.priority);
        packet.set_byte(field::COUNT, count);
        match self.version {
            Version::V2 => {
                packet.set_byte(field::AUTH_TYPE, self.auth.auth_type);
                packet.set_byte(field::ADVER_INT_V2, self.advert_int as u8);
            }
            Version::V3 => packet.set_u16(field::MAX_ADVER_INT, self.advert_int),
        }
        let mut at = HEADER_LEN;
        for a in &self.addresses {
            let octets: &[u8] = match a {
                IpAddr::V4(v4) => &v4.octets(),
                IpAddr::V6(v6) => &v6.octets(),
            };
            packet.buffer.as_mut()[at..at + octets.len()].copy_from_slice(octets);
            at += octets.len();
        }
        if self.version == Version::V2 {
            packet.buffer.as_mut()[at..at + AUTH_DATA_LEN].copy_from_slice(&self.auth.data);
        }
        packet.fill_checksum(self.version, src, dst);
        Ok(())
    }

    /// [`Repr::emit`] into a fresh buffer.
    pub fn to_bytes(&self, src: &IpAddr, dst: &IpAddr) -> Result<Vec<u8>> {
        let mut packet = Packet::new_unchecked(vec![0; self.buffer_len()]);
        self.emit(&mut packet, src, dst)?;
        Ok(packet.into_inner())
    }
}

/// One instance's view of what a valid advertisement looks like.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub version: Version,
    pub vrid: u8,
    /// v2 only.
    pub auth: Auth,
    /// v2 only: the configured interval, seconds.
    pub advert_int: u16,
    /// `None` skips the address list check.
    pub addresses: Option<&'a [IpAddr]>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::hex;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    // Captured with tcpdump on the peer side of a veth pair: keepalived 2.2.7,
    // `vrrp_instance { virtual_router_id 51 priority 100 advert_int 1
    //  authentication { auth_type PASS auth_pass secret12 }
    //  virtual_ipaddress { 10.77.0.100/24 10.77.0.101/24 } }` from 10.77.0.1.
    const KA_V2: &str = "2133 6402 0101 f6e7 0a4d 0064 0a4d 0065 7365 6372 6574 3132";
    // Same, `vrrp_version 3`, vrid 52, priority 150, advert_int 0.5, VIPs .102 and .103.
    const KA_V3_V4: &str = "3134 9602 0032 384f 0a4d 0066 0a4d 0067";
    // vrid 53, priority 120, advert_int 1, VIPs fd77::100 fd77::101,
    // from fe80::34fc:c6ff:fe57:c53 to ff02::12.
    const KA_V3_V6: &str = "3135 7802 0064 549e fd77 0000 0000 0000 0000 0000 0000 0100
                            fd77 0000 0000 0000 0000 0000 0000 0101";

    fn meta4() -> RxMeta {
        RxMeta {
            src: v4(10, 77, 0, 1),
            dst: IpAddr::V4(MCAST_V4),
            ttl: 255,
        }
    }

    fn meta6() -> RxMeta {
        RxMeta {
            src: "fe80::34fc:c6ff:fe57:c53".parse().unwrap(),
            dst: IpAddr::V6(MCAST_V6),
            ttl: 255,
        }
    }

    fn parse(bytes: &[u8], meta: &RxMeta) -> Result<Repr> {
        Repr::parse(&Packet::new_checked(bytes)?, meta)
    }

    #[test]
    fn keepalived_v2_advert() {
        let bytes = hex(KA_V2);
        let r = parse(&bytes, &meta4()).unwrap();
        assert_eq!(
            r,
            Repr {
                version: Version::V2,
                vrid: 51,
                priority: 100,
                advert_int: 1,
                auth: Auth::password(b"secret12"),
                addresses: vec![v4(10, 77, 0, 100), v4(10, 77, 0, 101)],
            }
        );
        let a = Advert::parse(&Packet::new_checked(&bytes[..]).unwrap(), &meta4()).unwrap();
        assert_eq!(a.advert_interval(), Duration::from_secs(1));
        assert_eq!(r.to_bytes(&meta4().src, &meta4().dst).unwrap(), bytes);
    }

    // The same instance stopping: priority 0 (RFC 3768 §6.4.3 "Shutdown").
    const KA_V2_STOP: &str = "2133 0002 0101 5ae8 0a4d 0064 0a4d 0065 7365 6372 6574 3132";

    #[test]
    fn keepalived_v2_priority_zero() {
        let bytes = hex(KA_V2_STOP);
        let r = parse(&bytes, &meta4()).unwrap();
        assert_eq!(r.priority, 0);
        assert_eq!(r.to_bytes(&meta4().src, &meta4().dst).unwrap(), bytes);
    }

    #[test]
    fn keepalived_v3_ipv4_advert() {
        let bytes = hex(KA_V3_V4);
        let r = parse(&bytes, &meta4()).unwrap();
        assert_eq!(r.version, Version::V3);
        assert_eq!((r.vrid, r.priority, r.advert_int), (52, 150, 50));
        let a = Advert::parse(&Packet::new_checked(&bytes[..]).unwrap(), &meta4()).unwrap();
        assert_eq!(a.advert_interval(), Duration::from_millis(500));
        assert_eq!(r.addresses, vec![v4(10, 77, 0, 102), v4(10, 77, 0, 103)]);
        assert_eq!(r.to_bytes(&meta4().src, &meta4().dst).unwrap(), bytes);
    }

    #[test]
    fn keepalived_v3_ipv6_advert() {
        let bytes = hex(KA_V3_V6);
        let m = meta6();
        let r = parse(&bytes, &m).unwrap();
        assert_eq!((r.vrid, r.priority, r.advert_int), (53, 120, 100));
        let want: Vec<IpAddr> = vec!["fd77::100".parse().unwrap(), "fd77::101".parse().unwrap()];
        assert_eq!(r.addresses, want);
        assert_eq!(r.to_bytes(&m.src, &m.dst).unwrap(), bytes);
    }

    #[test]
    fn v3_checksum_covers_pseudo_header() {
        let bytes = hex(KA_V3_V4);
        let other_src = RxMeta {
            src: v4(10, 77, 0, 9),
            ..meta4()
        };
        assert_eq!(parse(&bytes, &other_src), Err(Error::Checksum));
        // v2's checksum does not cover the IP header.
        let v2 = hex(KA_V2);
        assert!(parse(&v2, &other_src).is_ok());
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        for (bytes, m) in [(hex(KA_V2), meta4()), (hex(KA_V3_V6), meta6())] {
            for i in 0..bytes.len() * 8 {
                let mut b = bytes.clone();
                b[i / 8] ^= 1 << (i % 8);
                // A flip in reserved bits of v3 is still a checksum error: nothing passes.
                assert!(parse(&b, &m).is_err(), "bit {i} flipped went unnoticed");
            }
        }
    }

    #[test]
    fn malformed_inputs_are_typed() {
        let m = meta4();
        assert_eq!(parse(&[], &m), Err(Error::Truncated));
        assert_eq!(parse(&hex("2133 6402 0101 f6"), &m), Err(Error::Truncated));
        let mut b = hex(KA_V2);
        b[0] = 0x41;
        assert_eq!(parse(&b, &m), Err(Error::Version));
        b[0] = 0x22;
        assert_eq!(parse(&b, &m), Err(Error::Type));
        // Count lies: 255 addresses announced, two present.
        let mut b = hex(KA_V2);
        b[3] = 255;
        assert_eq!(parse(&b, &m), Err(Error::Truncated));
        let b = hex(KA_V2);
        // The TTL rule depends on the instance: the core applies it, not the parser.
        assert!(parse(&b, &RxMeta { ttl: 1, ..m }).is_ok());
        // v2 over IPv6, and mixed IP families.
        assert_eq!(parse(&b, &meta6()), Err(Error::Family));
        let mixed = RxMeta {
            dst: IpAddr::V6(MCAST_V6),
            ..m
        };
        assert_eq!(parse(&hex(KA_V3_V4), &mixed), Err(Error::Family));
        // v3 IPv6 message read as IPv4: the count/length still holds, the checksum not.
        assert_eq!(parse(&hex(KA_V3_V6), &m), Err(Error::Checksum));
    }

    #[test]
    fn zero_interval_is_rejected() {
        let m = meta4();
        let r = Repr {
            version: Version::V3,
            vrid: 1,
            priority: 100,
            advert_int: 0,
            auth: Auth::NONE,
            addresses: vec![v4(10, 0, 0, 1)],
        };
        assert_eq!(r.to_bytes(&m.src, &m.dst), Err(Error::AdvertInterval));
        let mut bytes = Repr { advert_int: 1, ..r }
            .to_bytes(&m.src, &m.dst)
            .unwrap();
        // Clear the interval, fix the checksum by hand.
        bytes[5] = 0;
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.fill_checksum(Version::V3, &m.src, &m.dst);
        assert_eq!(parse(&bytes, &m), Err(Error::AdvertInterval));
    }

    #[test]
    fn trailing_bytes_are_covered_by_checksum() {
        let m = meta4();
        let mut b = hex(KA_V3_V4);
        b.extend_from_slice(&[0, 0]);
        // Zero padding does not change a one's-complement sum, but the v3 length does.
        assert_eq!(parse(&b, &m), Err(Error::Checksum));
    }

    #[test]
    fn emit_rejects_what_cannot_be_sent() {
        let m = meta4();
        let mut r = Repr {
            version: Version::V3,
            vrid: 9,
            priority: 50,
            advert_int: 100,
            auth: Auth::NONE,
            addresses: vec![v4(10, 0, 0, 1); 256],
        };
        assert_eq!(r.to_bytes(&m.src, &m.dst), Err(Error::AddrList));
        r.addresses = vec!["fd00::1".parse().unwrap()];
        assert_eq!(r.to_bytes(&m.src, &m.dst), Err(Error::Family));
        r.addresses = vec![v4(10, 0, 0, 1)];
        r.advert_int = 4096;
        assert_eq!(r.to_bytes(&m.src, &m.dst), Err(Error::AdvertInterval));
        r.version = Version::V2;
        r.advert_int = 256;
        assert_eq!(r.to_bytes(&m.src, &m.dst), Err(Error::AdvertInterval));
        let m6 = meta6();
        r.advert_int = 1;
        r.addresses = vec!["fd00::1".parse().unwrap()];
        assert_eq!(r.to_bytes(&m6.src, &m6.dst), Err(Error::Family));
        let mut short = Packet::new_unchecked([0u8; 4]);
        r.version = Version::V3;
        assert_eq!(r.emit(&mut short, &m6.src, &m6.dst), Err(Error::Truncated));
    }

    #[test]
    fn round_trip_255_ipv6_addresses() {
        let m = meta6();
        let r = Repr {
            version: Version::V3,
            vrid: 255,
            priority: 255,
            advert_int: MAX_ADVER_INT_V3,
            auth: Auth::NONE,
            addresses: (0..255u16)
                .map(|i| IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i)))
                .collect(),
        };
        let bytes = r.to_bytes(&m.src, &m.dst).unwrap();
        assert_eq!(bytes.len(), 8 + 255 * 16);
        assert_eq!(parse(&bytes, &m).unwrap(), r);
    }

    #[test]
    fn check_against_instance() {
        let bytes = hex(KA_V2);
        let r = Advert::parse(&Packet::new_checked(&bytes[..]).unwrap(), &meta4()).unwrap();
        let vips = [v4(10, 77, 0, 101), v4(10, 77, 0, 100)];
        let ok = Expect {
            version: Version::V2,
            vrid: 51,
            auth: Auth::password(b"secret12"),
            advert_int: 1,
            addresses: Some(&vips),
        };
        assert_eq!(r.check(&ok), Ok(()));
        assert_eq!(r.check(&Expect { vrid: 52, ..ok }), Err(Error::Vrid));
        let v3 = Expect {
            version: Version::V3,
            ..ok
        };
        assert_eq!(r.check(&v3), Err(Error::Version));
        let none = Expect {
            auth: Auth::NONE,
            ..ok
        };
        assert_eq!(r.check(&none), Err(Error::AuthType));
        let wrong = Expect {
            auth: Auth::password(b"secret13"),
            ..ok
        };
        assert_eq!(r.check(&wrong), Err(Error::Auth));
        let slow = Expect {
            advert_int: 2,
            ..ok
        };
        assert_eq!(r.check(&slow), Err(Error::AdvertInterval));
        let fewer = [v4(10, 77, 0, 100)];
        let other = [v4(10, 77, 0, 100), v4(10, 77, 0, 102)];
        for list in [&fewer[..], &other[..]] {
            let e = Expect {
                addresses: Some(list),
                ..ok
            };
            assert_eq!(r.check(&e), Err(Error::AddrList));
        }
        let skip = Expect {
            addresses: Some(&other),
            ..ok
        };
        assert!(r
            .check(&Expect {
                addresses: None,
                ..skip
            })
            .is_ok());
    }

    #[test]
    fn priority_patch_matches_a_fresh_emit() {
        for (hex_bytes, m) in [(KA_V2, meta4()), (KA_V3_V4, meta4()), (KA_V3_V6, meta6())] {
            let bytes = hex(hex_bytes);
            let r = parse(&bytes, &m).unwrap();
            for prio in 0..=255 {
                let mut p = Packet::new_unchecked(bytes.clone());
                p.set_priority(prio);
                let fresh = Repr {
                    priority: prio,
                    ..r.clone()
                };
                assert_eq!(p.into_inner(), fresh.to_bytes(&m.src, &m.dst).unwrap());
            }
        }
        // keepalived's own stop advert, patched from its running one.
        let mut p = Packet::new_unchecked(hex(KA_V2));
        p.set_priority(0);
        assert_eq!(p.into_inner(), hex(KA_V2_STOP));
    }

    #[test]
    fn datagram_split_reads_the_ip_layer() {
        // The IPv4 header keepalived's KA_V2 advert arrived with (proto::ipv4's capture).
        let mut pkt = hex("45c0 002c 0001 0000 ff70 d040 0a4d 0001 e000 0012");
        pkt.extend_from_slice(&hex(KA_V2));
        let (meta, msg) = Datagram::V4(&pkt).split().unwrap();
        assert_eq!(meta, meta4());
        assert_eq!(msg, &hex(KA_V2)[..]);
        assert_eq!(Datagram::V4(&pkt[..30]).split(), Err(Error::Truncated));
        pkt[9] = 6; // TCP
        assert_eq!(Datagram::V4(&pkt).split(), Err(Error::Type));
        let v6 = hex(KA_V3_V6);
        let m = meta6();
        let (IpAddr::V6(src), IpAddr::V6(dst)) = (m.src, m.dst) else {
            unreachable!()
        };
        let d = Datagram::V6 {
            src,
            dst,
            hop_limit: 255,
            payload: &v6,
        };
        assert_eq!(d.split(), Ok((m, &v6[..])));
    }

    #[test]
    fn error_index_is_dense() {
        for (i, e) in Error::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
        }
    }

    #[test]
    fn password_truncates_like_keepalived() {
        assert_eq!(Auth::password(b"longerthan8").data, *b"longerth");
        assert_eq!(Auth::password(b"ab").data, *b"ab\0\0\0\0\0\0");
    }
}
