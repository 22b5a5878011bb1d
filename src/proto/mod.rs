//! Wire formats, smoltcp-style: a checked zero-copy view (`Packet<T>`) plus a validated
//! `Repr` with `parse`/`emit`. Pure: no sockets here, the shell only sends the bytes.

pub mod arp;
pub mod cn_proc;
pub mod ethernet;
pub mod frame;
pub mod ipv4;
pub mod ndisc;
pub mod vrrp;

use std::net::IpAddr;

/// Copies a 6-byte MAC address out of `b` (which must hold exactly 6 bytes).
pub(crate) fn mac(b: &[u8]) -> [u8; 6] {
    let mut m = [0; 6];
    m.copy_from_slice(b);
    m
}

/// Test vectors are written as tcpdump prints them: hex digits, any spacing.
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Internet checksum (RFC 1071) accumulation helpers shared by VRRP v3 and ICMPv6.
pub(crate) mod checksum {
    use super::IpAddr;

    /// One's-complement sum of `data` as big-endian 16-bit words (odd tail zero-padded).
    pub fn sum(data: &[u8]) -> u32 {
        let mut chunks = data.chunks_exact(2);
        let mut acc: u32 = 0;
        for c in &mut chunks {
            acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            acc += u32::from(*last) << 8;
        }
        fold(acc)
    }

    /// Folds carries back in so `acc` fits 16 bits (kept in a u32 for further adding).
    pub fn fold(mut acc: u32) -> u32 {
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc
    }

    /// Pseudo-header sum: RFC 768 style for IPv4, RFC 8200 §8.1 for IPv6. Mixed families
    /// never reach here (callers reject them first).
    pub fn pseudo_header(src: &IpAddr, dst: &IpAddr, proto: u8, len: u32) -> u32 {
        let addrs = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => sum(&s.octets()) + sum(&d.octets()),
            (IpAddr::V6(s), IpAddr::V6(d)) => sum(&s.octets()) + sum(&d.octets()),
            _ => 0,
        };
        fold(addrs + u32::from(proto) + (len >> 16) + (len & 0xffff))
    }

    /// Final checksum field value from an accumulated sum.
    pub fn finish(acc: u32) -> u16 {
        !(fold(acc) as u16)
    }
}
