//! Upgrade bundles: one signed file per release holding a slot's contents (kernel, initramfs,
//! root filesystem) behind a manifest. Pure: parsing, signature and version checks, and the
//! per-part SHA-512 check over streamed bytes; the upgrade command does the reading and writing.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 magic "KLBUNDL1" (8 bytes)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |              manifest length (u32, big endian)                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   ed25519 signature (64 bytes) over magic, length, manifest   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   manifest (UTF-8 text, `length` bytes)                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   the parts, in manifest order, back to back                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The manifest, one item per line:
//!
//! ```text
//! keeplite-bundle 1
//! board pc-x86_64
//! version 0.2.0
//! part kernel 8247232 <sha512 hex>
//! part initrd 2860982 <sha512 hex>
//! part rootfs 21385216 <sha512 hex>
//! ```
//!
//! The signature covers the manifest, the manifest covers every part by size and SHA-512 (the
//! one ed25519 already needs, so no second hash crate): the manifest is trusted only after the
//! signature checks, a part only after its hash does.

use ed25519_compact::sha512::Hash;
use ed25519_compact::{KeyPair, PublicKey, Seed, Signature};
use std::cmp::Ordering;
use std::fmt;

pub const MAGIC: &[u8; 8] = b"KLBUNDL1";
/// Bytes before the manifest: magic, length, signature.
pub const HEADER_LEN: usize = 8 + 4 + 64;
/// A manifest is a few lines; anything larger is not a bundle.
pub const MAX_MANIFEST: usize = 16 * 1024;
/// The parts a slot needs, in bundle order.
pub const PARTS: [&str; 3] = ["kernel", "initrd", "rootfs"];

/// Checked view of the fixed-size header at the start of a bundle.
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps `buffer` after checking its length and magic.
    pub fn new_checked(buffer: T) -> Result<Header<T>, Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated("header"));
        }
        if &b[..8] != MAGIC {
            return Err(Error::NotABundle);
        }
        Ok(Header { buffer })
    }

    /// The manifest's length, at most [`MAX_MANIFEST`].
    pub fn manifest_len(&self) -> Result<usize, Error> {
        let b = self.buffer.as_ref();
        let len = u32::from_be_bytes([b[8], b[9], b[10], b[11]]) as usize;
        if len > MAX_MANIFEST {
            return Err(Error::ManifestTooLarge(len));
        }
        Ok(len)
    }

    pub fn signature(&self) -> [u8; 64] {
        let mut s = [0; 64];
        s.copy_from_slice(&self.buffer.as_ref()[12..HEADER_LEN]);
        s
    }
}

/// What the signature covers: magic, length field, manifest.
fn signed_bytes(manifest: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(12 + manifest.len());
    m.extend_from_slice(MAGIC);
    m.extend_from_slice(&(manifest.len() as u32).to_be_bytes());
    m.extend_from_slice(manifest);
    m
}

/// One part of the bundle as the manifest describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub size: u64,
    pub sha512: [u8; 64],
}

/// A verified manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub board: String,
    pub version: String,
    pub parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    NotABundle,
    Truncated(&'static str),
    ManifestTooLarge(usize),
    BadSignature,
    /// Line number (1-based) and what was expected there.
    Manifest(usize, String),
    WrongBoard {
        bundle: String,
        here: String,
    },
    Downgrade {
        bundle: String,
        running: String,
    },
    PartHash {
        part: String,
    },
    PartSize {
        part: String,
        expected: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotABundle => write!(f, "not a keeplite bundle (no `KLBUNDL1` magic at the start)"),
            Error::Truncated(what) => write!(f, "bundle truncated in its {what}"),
            Error::ManifestTooLarge(n) => {
                write!(f, "manifest length {n} exceeds {MAX_MANIFEST} bytes: not a keeplite bundle")
            }
            Error::BadSignature => write!(
                f,
                "bad signature: the bundle was not signed with this appliance's key \
                 (/etc/keeplite/upgrade.pub), or it was altered after signing"
            ),
            Error::Manifest(line, what) => write!(f, "bundle manifest:{line}: {what}"),
            Error::WrongBoard { bundle, here } => {
                write!(f, "bundle is for board `{bundle}`, this appliance is `{here}`")
            }
            Error::Downgrade { bundle, running } => write!(
                f,
                "bundle version {bundle} is not newer than the running {running}; \
                 use --allow-downgrade to install it anyway"
            ),
            Error::PartHash { part } => write!(
                f,
                "part `{part}`: SHA-512 does not match the signed manifest (altered or corrupt bundle)"
            ),
            Error::PartSize { part, expected } => {
                write!(f, "part `{part}`: bundle ends before its {expected} bytes")
            }
        }
    }
}

/// Checks the signature over `manifest` and parses it.
pub fn verify_manifest(
    signature: &[u8; 64],
    manifest: &[u8],
    key: &[u8; 32],
) -> Result<Manifest, Error> {
    let key = PublicKey::new(*key);
    key.verify(signed_bytes(manifest), &Signature::new(*signature))
        .map_err(|_| Error::BadSignature)?;
    parse_manifest(manifest)
}

fn parse_manifest(text: &[u8]) -> Result<Manifest, Error> {
    let text =
        std::str::from_utf8(text).map_err(|_| Error::Manifest(1, "expected UTF-8 text".into()))?;
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let mut field = |key: &str| -> Result<(usize, String), Error> {
        let (n, l) = lines.next().unwrap_or((0, ""));
        match l.split_once(' ') {
            Some((k, v)) if k == key && !v.is_empty() => Ok((n, v.to_owned())),
            _ => Err(Error::Manifest(
                n,
                format!("expected `{key} VALUE`, found `{l}`"),
            )),
        }
    };
    let (n, format) = field("keeplite-bundle")?;
    if format != "1" {
        return Err(Error::Manifest(
            n,
            format!("unsupported bundle format `{format}` (this keeplite reads 1)"),
        ));
    }
    let (_, board) = field("board")?;
    let (n, version) = field("version")?;
    if parse_version(&version).is_none() {
        return Err(Error::Manifest(
            n,
            format!("expected a version like 1.2.3, found `{version}`"),
        ));
    }
    let mut parts = Vec::new();
    for want in PARTS {
        let (n, v) = field("part")?;
        let f: Vec<&str> = v.split(' ').collect();
        let [name, size, hash] = f[..] else {
            return Err(Error::Manifest(
                n,
                "expected `part NAME SIZE SHA256`".into(),
            ));
        };
        if name != want {
            return Err(Error::Manifest(
                n,
                format!("expected part `{want}`, found `{name}`"),
            ));
        }
        let size = size
            .parse()
            .map_err(|_| Error::Manifest(n, format!("part size `{size}` is not a number")))?;
        let sha512 = parse_hex(hash)
            .ok_or_else(|| Error::Manifest(n, "expected a SHA-512 of 128 hex digits".into()))?;
        parts.push(Part {
            name: name.to_owned(),
            size,
            sha512,
        });
    }
    if let Some((n, l)) = lines.find(|(_, l)| !l.is_empty()) {
        return Err(Error::Manifest(
            n,
            format!("unexpected line `{l}` after the parts"),
        ));
    }
    Ok(Manifest {
        board,
        version,
        parts,
    })
}

/// `2 * N` hex digits.
pub fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `1.2.3` (any number of dot-separated numbers; a `-suffix` is ignored for ordering).
fn parse_version(v: &str) -> Option<Vec<u64>> {
    let core = v.split(['-', '+']).next()?;
    core.split('.').map(|n| n.parse().ok()).collect()
}

fn cmp_versions(a: &str, b: &str) -> Ordering {
    parse_version(a).cmp(&parse_version(b))
}

impl Manifest {
    /// Refuses a bundle for another board, and one not newer than `running` unless
    /// `allow_downgrade` (re-installing the same version counts as a downgrade).
    pub fn check_install(
        &self,
        board: &str,
        running: &str,
        allow_downgrade: bool,
    ) -> Result<(), Error> {
        if self.board != board {
            return Err(Error::WrongBoard {
                bundle: self.board.clone(),
                here: board.to_owned(),
            });
        }
        if !allow_downgrade && cmp_versions(&self.version, running) != Ordering::Greater {
            return Err(Error::Downgrade {
                bundle: self.version.clone(),
                running: running.to_owned(),
            });
        }
        Ok(())
    }

    pub fn total_size(&self) -> u64 {
        self.parts.iter().map(|p| p.size).sum()
    }
}

/// SHA-512 of one part, fed as its bytes stream past.
pub struct PartCheck<'a> {
    part: &'a Part,
    hasher: Hash,
    seen: u64,
}

impl<'a> PartCheck<'a> {
    pub fn new(part: &'a Part) -> Self {
        PartCheck {
            part,
            hasher: Hash::new(),
            seen: 0,
        }
    }

    /// How many more bytes the part has.
    pub fn remaining(&self) -> u64 {
        self.part.size - self.seen
    }

    /// Feed the next bytes (at most `remaining()`).
    pub fn update(&mut self, bytes: &[u8]) {
        self.seen += bytes.len() as u64;
        self.hasher.update(bytes);
    }

    pub fn finish(self) -> Result<(), Error> {
        if self.seen != self.part.size {
            return Err(Error::PartSize {
                part: self.part.name.clone(),
                expected: self.part.size,
            });
        }
        if self.hasher.finalize() != self.part.sha512 {
            return Err(Error::PartHash {
                part: self.part.name.clone(),
            });
        }
        Ok(())
    }
}

pub fn sha512(bytes: &[u8]) -> [u8; 64] {
    Hash::hash(bytes)
}

/// The manifest text for `parts` (name, bytes), as `build-image` signs it.
pub fn manifest_text(board: &str, version: &str, parts: &[(&str, &[u8])]) -> String {
    let mut m = format!("keeplite-bundle 1\nboard {board}\nversion {version}\n");
    for (name, bytes) in parts {
        m.push_str(&format!(
            "part {name} {} {}\n",
            bytes.len(),
            hex(&sha512(bytes))
        ));
    }
    m
}

/// The bundle's header and manifest, signed with the 32-byte seed `key` (the parts follow).
pub fn signed_header(manifest: &str, seed: &[u8; 32]) -> Vec<u8> {
    let sig = KeyPair::from_seed(Seed::new(*seed))
        .sk
        .sign(signed_bytes(manifest.as_bytes()), None);
    let mut out = Vec::with_capacity(HEADER_LEN + manifest.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(manifest.len() as u32).to_be_bytes());
    out.extend_from_slice(&sig[..]);
    out.extend_from_slice(manifest.as_bytes());
    out
}

/// The public key of the 32-byte seed `seed`.
pub fn public_key(seed: &[u8; 32]) -> [u8; 32] {
    let kp = KeyPair::from_seed(Seed::new(*seed));
    let mut pk = [0; 32];
    pk.copy_from_slice(&kp.pk[..]);
    pk
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; 32] = [7; 32];

    fn bundle(manifest: &str) -> (Vec<u8>, [u8; 32]) {
        (signed_header(manifest, &SEED), public_key(&SEED))
    }

    fn parts() -> Vec<(&'static str, &'static [u8])> {
        vec![("kernel", b"K"), ("initrd", b"II"), ("rootfs", b"RRR")]
    }

    fn verify(b: &[u8], key: &[u8; 32]) -> Result<Manifest, Error> {
        let h = Header::new_checked(b)?;
        let m = b
            .get(HEADER_LEN..HEADER_LEN + h.manifest_len()?)
            .ok_or(Error::Truncated("manifest"))?;
        verify_manifest(&h.signature(), m, key)
    }

    #[test]
    fn header_bytes() {
        let m = "keeplite-bundle 1\n";
        let (b, _) = bundle(m);
        assert_eq!(&b[..8], b"KLBUNDL1");
        assert_eq!(&b[8..12], &[0, 0, 0, 18]);
        assert_eq!(&b[HEADER_LEN..], m.as_bytes());
        assert_eq!(Header::new_checked(&b[..]).unwrap().manifest_len(), Ok(18));
        let mut big = b.clone();
        big[9] = 1;
        assert_eq!(
            Header::new_checked(&big[..]).unwrap().manifest_len(),
            Err(Error::ManifestTooLarge(65554))
        );
        assert_eq!(
            Header::new_checked(&b[..HEADER_LEN - 1]).err(),
            Some(Error::Truncated("header"))
        );
        let mut bad = b.clone();
        bad[0] = b'X';
        assert_eq!(Header::new_checked(&bad[..]).err(), Some(Error::NotABundle));
    }

    #[test]
    fn signed_manifest_verifies_and_parses() {
        let text = manifest_text("pc-x86_64", "0.2.0", &parts());
        let (b, key) = bundle(&text);
        let m = verify(&b, &key).unwrap();
        assert_eq!(m.board, "pc-x86_64");
        assert_eq!(m.version, "0.2.0");
        assert_eq!(m.parts.len(), 3);
        assert_eq!(m.parts[2].size, 3);
        assert_eq!(m.parts[2].sha512, sha512(b"RRR"));
        assert_eq!(m.total_size(), 6);
    }

    #[test]
    fn any_altered_byte_or_other_key_is_refused() {
        let text = manifest_text("pc-x86_64", "0.2.0", &parts());
        let (b, key) = bundle(&text);
        for i in 8..b.len() {
            let mut t = b.clone();
            t[i] ^= 1;
            assert!(
                verify(&t, &key).is_err(),
                "byte {i} altered, still accepted"
            );
        }
        let other = public_key(&[8; 32]);
        assert_eq!(verify(&b, &other), Err(Error::BadSignature));
    }

    #[test]
    fn manifest_errors_have_lines() {
        let cases = [
            ("keeplite-bundle 2\n", 1, "unsupported bundle format"),
            (
                "keeplite-bundle 1\nboard x\nversion one\n",
                3,
                "expected a version",
            ),
            (
                "keeplite-bundle 1\nboard x\nversion 1\npart rootfs 1 00\n",
                4,
                "expected part `kernel`",
            ),
            (
                "keeplite-bundle 1\nboard x\nversion 1\npart kernel x 00\n",
                4,
                "not a number",
            ),
            (
                "keeplite-bundle 1\nboard x\nversion 1\npart kernel 1 00\n",
                4,
                "128 hex digits",
            ),
            (
                "keeplite-bundle 1\nversion 1\n",
                2,
                "expected `board VALUE`",
            ),
        ];
        for (text, line, what) in cases {
            match parse_manifest(text.as_bytes()) {
                Err(Error::Manifest(l, w)) => {
                    assert_eq!(l, line, "{text:?}: {w}");
                    assert!(w.contains(what), "{text:?}: {w}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let mut text = manifest_text("b", "1", &parts());
        text.push_str("extra\n");
        assert!(matches!(
            parse_manifest(text.as_bytes()),
            Err(Error::Manifest(7, _))
        ));
    }

    #[test]
    fn board_and_version_rules() {
        let m = parse_manifest(manifest_text("pc-x86_64", "0.10.0", &parts()).as_bytes()).unwrap();
        assert_eq!(m.check_install("pc-x86_64", "0.9.3", false), Ok(()));
        assert!(matches!(
            m.check_install("rpi4", "0.9.3", false),
            Err(Error::WrongBoard { .. })
        ));
        assert!(matches!(
            m.check_install("pc-x86_64", "0.10.0", false),
            Err(Error::Downgrade { .. })
        ));
        assert!(matches!(
            m.check_install("pc-x86_64", "1.0.0", false),
            Err(Error::Downgrade { .. })
        ));
        assert_eq!(m.check_install("pc-x86_64", "1.0.0", true), Ok(()));
        assert_eq!(cmp_versions("0.2.0-rc1", "0.1.9"), Ordering::Greater);
        assert_eq!(cmp_versions("1.2", "1.2.0"), Ordering::Less);
    }

    #[test]
    fn part_check_streams() {
        let text = manifest_text("b", "1", &parts());
        let m = parse_manifest(text.as_bytes()).unwrap();
        let mut c = PartCheck::new(&m.parts[2]);
        c.update(b"R");
        assert_eq!(c.remaining(), 2);
        c.update(b"RR");
        assert_eq!(c.finish(), Ok(()));
        let mut c = PartCheck::new(&m.parts[2]);
        c.update(b"RRX");
        assert_eq!(
            c.finish(),
            Err(Error::PartHash {
                part: "rootfs".into()
            })
        );
        let mut c = PartCheck::new(&m.parts[2]);
        c.update(b"RR");
        assert!(matches!(c.finish(), Err(Error::PartSize { .. })));
    }
}
