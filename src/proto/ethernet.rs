//! Ethernet II header (RFC 894) of the announcement frames the shell sends as-is.
//!
//! ```text
//! | destination MAC (6) | source MAC (6) | EtherType (2) | payload ...
//! ```

use super::mac;

pub const HEADER_LEN: usize = 14;

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const DST: Field = 0..6;
    pub const SRC: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
}

/// Destination MAC of a frame at least [`HEADER_LEN`] long.
pub fn dst(frame: &[u8]) -> [u8; 6] {
    mac(&frame[field::DST])
}

pub fn src(frame: &[u8]) -> [u8; 6] {
    mac(&frame[field::SRC])
}

pub fn ethertype(frame: &[u8]) -> u16 {
    u16::from_be_bytes([frame[12], frame[13]])
}

/// Writes the header into the first [`HEADER_LEN`] bytes of `frame`.
pub fn emit(frame: &mut [u8], dst: [u8; 6], src: [u8; 6], ethertype: u16) {
    frame[field::DST].copy_from_slice(&dst);
    frame[field::SRC].copy_from_slice(&src);
    frame[field::ETHERTYPE].copy_from_slice(&ethertype.to_be_bytes());
}
