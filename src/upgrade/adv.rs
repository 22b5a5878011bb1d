//! syslinux's auxiliary data vector (ADV): the last two 512-byte sectors of `ldlinux.sys`, two
//! identical copies of the block below. At every boot syslinux (ldlinux.c32) reads it; when it
//! holds a boot-once command (tag 1) syslinux deletes it, writes the ADV back and runs that
//! command (a label) instead of `DEFAULT`. keeplite arms it with the slot on trial, so a kernel
//! of that slot that dies before its initramfs runs is followed by a boot of `DEFAULT`, the
//! good slot (libinstaller/setadv.c and com32/elflink/ldlinux/ldlinux.c in syslinux 6).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            head magic 0x5a2d2fa5 (u32, little endian)         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   checksum: the u32 words at 4..508 sum to 0xa3041767         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      tag      |    length     |  data (length bytes) ...      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  ... more items; tag 0 ends them; 500 bytes, zero padded      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            tail magic 0xdd28bf64 (u32, little endian)         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::fmt;

/// One copy; the file ends with two.
pub const SIZE: usize = 512;
/// The item bytes between the checksum and the tail magic.
const ITEMS: usize = SIZE - 12;
const HEAD_MAGIC: u32 = 0x5a2d2fa5;
const SUM: u32 = 0xa3041767;
const TAIL_MAGIC: u32 = 0xdd28bf64;
/// The command syslinux runs once, at the next boot only.
pub const BOOT_ONCE: u8 = 1;

#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    Truncated,
    Magic,
    Checksum,
    /// The items do not fit the 500 bytes.
    Full,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "ADV shorter than 512 bytes",
            Error::Magic => "no ADV magic",
            Error::Checksum => "ADV checksum mismatch",
            Error::Full => "ADV items exceed 500 bytes",
        })
    }
}

fn word(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Checked view of one copy.
pub struct Adv<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Adv<T> {
    /// Wraps `buffer` after checking its length, magics and checksum.
    pub fn new_checked(buffer: T) -> Result<Adv<T>, Error> {
        let b = buffer.as_ref();
        if b.len() < SIZE {
            return Err(Error::Truncated);
        }
        if word(b, 0) != HEAD_MAGIC || word(b, SIZE - 4) != TAIL_MAGIC {
            return Err(Error::Magic);
        }
        let sum = (4..SIZE - 4)
            .step_by(4)
            .fold(0u32, |s, at| s.wrapping_add(word(b, at)));
        if sum != SUM {
            return Err(Error::Checksum);
        }
        Ok(Adv { buffer })
    }

    /// The items, up to the end tag; like syslinux, a length that overruns ends them.
    pub fn items(&self) -> impl Iterator<Item = (u8, &[u8])> {
        let mut rest = &self.buffer.as_ref()[8..8 + ITEMS];
        std::iter::from_fn(move || {
            let [tag, len, ..] = *rest else { return None };
            let end = 2 + usize::from(len);
            if tag == 0 || end > rest.len() {
                return None;
            }
            let item = (tag, &rest[2..end]);
            rest = &rest[end..];
            Some(item)
        })
    }
}

/// The items of an ADV, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdvRepr {
    pub items: Vec<(u8, Vec<u8>)>,
}

impl AdvRepr {
    /// Both copies as syslinux reads them: the first consistent one; neither consistent is
    /// an empty ADV (syslinux resets it too).
    pub fn parse_pair(both: &[u8]) -> AdvRepr {
        let copy = |i: usize| both.get(i * SIZE..(i + 1) * SIZE).map(Adv::new_checked);
        match (copy(0), copy(1)) {
            (Some(Ok(a)), _) | (_, Some(Ok(a))) => AdvRepr {
                items: a.items().map(|(t, d)| (t, d.to_vec())).collect(),
            },
            _ => AdvRepr::default(),
        }
    }

    pub fn get(&self, tag: u8) -> Option<&[u8]> {
        self.items
            .iter()
            .find_map(|(t, d)| (*t == tag).then_some(d.as_slice()))
    }

    /// Replaces `tag`'s item with `data`, or deletes it (`None`), as syslinux_setadv does.
    pub fn set(&mut self, tag: u8, data: Option<&[u8]>) {
        self.items.retain(|(t, _)| *t != tag);
        if let Some(d) = data {
            self.items.push((tag, d.to_vec()));
        }
    }

    /// Both copies, ready to be written over the last 1024 bytes of ldlinux.sys.
    pub fn emit(&self) -> Result<[u8; 2 * SIZE], Error> {
        let mut b = [0u8; 2 * SIZE];
        let mut at = 8;
        for (tag, data) in &self.items {
            let len = u8::try_from(data.len()).map_err(|_| Error::Full)?;
            if at + 2 + data.len() > 8 + ITEMS {
                return Err(Error::Full);
            }
            b[at] = *tag;
            b[at + 1] = len;
            b[at + 2..at + 2 + data.len()].copy_from_slice(data);
            at += 2 + data.len();
        }
        b[0..4].copy_from_slice(&HEAD_MAGIC.to_le_bytes());
        b[SIZE - 4..SIZE].copy_from_slice(&TAIL_MAGIC.to_le_bytes());
        let items = (8..SIZE - 4)
            .step_by(4)
            .fold(0u32, |s, at| s.wrapping_add(word(&b, at)));
        b[4..8].copy_from_slice(&SUM.wrapping_sub(items).to_le_bytes());
        b.copy_within(0..SIZE, SIZE);
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first 12 and last 4 bytes of a copy (the rest is zero).
    fn copy_with(head: [u8; 12]) -> [u8; SIZE] {
        let mut c = [0u8; SIZE];
        c[..12].copy_from_slice(&head);
        c[SIZE - 4..].copy_from_slice(&[0x64, 0xbf, 0x28, 0xdd]);
        c
    }

    // Bytes from Debian's syslinux 6.04: the ADV `syslinux --install` writes (empty), and one
    // with boot-once `b` that syslinux booted from and then cleared back to the empty one
    // (qemu, the appliance image).
    const EMPTY: [u8; 12] = [0xa5, 0x2f, 0x2d, 0x5a, 0x67, 0x17, 0x04, 0xa3, 0, 0, 0, 0];
    const ONCE_B: [u8; 12] = [
        0xa5, 0x2f, 0x2d, 0x5a, 0x66, 0x16, 0xa2, 0xa2, 0x01, 0x01, b'b', 0,
    ];

    #[test]
    fn emit_matches_syslinux() {
        let empty = copy_with(EMPTY);
        let once = copy_with(ONCE_B);
        let mut r = AdvRepr::default();
        assert_eq!(r.emit().unwrap()[..SIZE], empty);
        r.set(BOOT_ONCE, Some(b"b"));
        let both = r.emit().unwrap();
        assert_eq!((&both[..SIZE], &both[SIZE..]), (&once[..], &once[..]));
        r.set(BOOT_ONCE, None);
        assert_eq!(r.emit().unwrap()[SIZE..], empty);
    }

    #[test]
    fn parse_checks_and_falls_back_to_the_second_copy() {
        let once = copy_with(ONCE_B);
        let v = Adv::new_checked(&once[..]).unwrap();
        assert_eq!(v.items().collect::<Vec<_>>(), [(BOOT_ONCE, &b"b"[..])]);
        let mut bad = once;
        bad[10] = b'a';
        assert_eq!(Adv::new_checked(&bad[..]).err(), Some(Error::Checksum));
        bad[0] = 0;
        assert_eq!(Adv::new_checked(&bad[..]).err(), Some(Error::Magic));
        assert_eq!(Adv::new_checked(&once[..100]).err(), Some(Error::Truncated));

        let mut both = [bad, once].concat();
        assert_eq!(AdvRepr::parse_pair(&both).get(BOOT_ONCE), Some(&b"b"[..]));
        both[SIZE + 4] ^= 1;
        assert_eq!(AdvRepr::parse_pair(&both), AdvRepr::default());
    }

    #[test]
    fn set_replaces_and_keeps_other_items() {
        let mut r = AdvRepr::default();
        r.set(2, Some(b"menu"));
        r.set(BOOT_ONCE, Some(b"a"));
        r.set(BOOT_ONCE, Some(b"b"));
        let both = r.emit().unwrap();
        assert_eq!(&both[8..18], &[2, 4, b'm', b'e', b'n', b'u', 1, 1, b'b', 0]);
        assert_eq!(AdvRepr::parse_pair(&both), r);
        // An item overrunning the 500 bytes ends the list, as in syslinux.
        let mut c = copy_with(EMPTY);
        c[8..10].copy_from_slice(&[1, 255]);
        c[265..267].copy_from_slice(&[1, 255]);
        let sum = (4..SIZE - 4)
            .step_by(4)
            .fold(0u32, |s, at| s.wrapping_add(word(&c, at)));
        let fixed = word(&c, 4).wrapping_add(SUM.wrapping_sub(sum));
        c[4..8].copy_from_slice(&fixed.to_le_bytes());
        assert_eq!(Adv::new_checked(&c[..]).unwrap().items().count(), 1);
        r.items = vec![(1, vec![0; 255]), (2, vec![0; 255])];
        assert_eq!(r.emit(), Err(Error::Full));
    }
}
