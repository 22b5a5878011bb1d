//! Netlink message framing, one layer for rtnetlink (`sys::netlink`: addresses, links) and
//! generic netlink (IPVS: `ipvs::wire`, `sys::ipvs`): building requests, splitting datagrams
//! into messages, walking attributes, reading acknowledgements. Pure: no socket here.
//!
//! ```text
//!  nlmsghdr (host byte order, 16 bytes)            nlattr (4 bytes, then the value
//!  0        4        6         8        12     16    padded to a multiple of 4)
//!  | length | type   | flags   | seq    | port |     0        2        4
//!  +--------+--------+---------+--------+------+     | length | type   | value ...
//!  then the family's fixed header (ifaddrmsg, ifinfomsg, genlmsghdr), then attributes;
//!  NLMSG_ERROR carries an i32 errno (0: ack) and the request's header.
//! ```

pub const HDR: usize = 16;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_CREATE: u16 = 0x400;
/// Attribute type bits: nested / network byte order flags live above the mask.
pub const NLA_F_NESTED: u16 = 0x8000;
pub const NLA_TYPE_MASK: u16 = 0x3fff;

/// Starts a message of `ty` in `out` (after what is already there); returns its offset for
/// [`end`]. The port id is left 0: the kernel fills it in.
pub fn begin(out: &mut Vec<u8>, ty: u16, flags: u16, seq: u32) -> usize {
    let start = out.len();
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    start
}

/// Sets the length of the message begun at `start` to everything after it.
pub fn end(out: &mut [u8], start: usize) {
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

/// Appends one attribute, padded to 4 bytes.
pub fn put(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// Appends a nested attribute whose value `body` writes, flagged NLA_F_NESTED as libnl does.
pub fn nest(out: &mut Vec<u8>, kind: u16, body: impl FnOnce(&mut Vec<u8>)) {
    nest_as(out, kind | NLA_F_NESTED, body);
}

/// Appends an attribute of type `ty` (flags included, as given) whose value `body` writes:
/// rtnetlink's nests go unflagged, as iproute2 sends them.
fn nest_as(out: &mut Vec<u8>, ty: u16, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    body(out);
    let len = (out.len() - start) as u16;
    out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    out[start + 2..start + 4].copy_from_slice(&ty.to_ne_bytes());
}

/// One message of a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msg<'a> {
    pub ty: u16,
    pub seq: u32,
    /// The whole message, header included.
    pub raw: &'a [u8],
    /// What follows the header.
    pub payload: &'a [u8],
}

impl Msg<'_> {
    /// For NLMSG_ERROR: `Ok(())` for an ack, else the kernel's errno as an error.
    pub fn ack(&self) -> std::io::Result<()> {
        let code = self.payload.get(..4).map_or(-libc::EBADMSG, |c| {
            i32::from_ne_bytes(c.try_into().expect("4 bytes"))
        });
        match code {
            0 => Ok(()),
            c => Err(std::io::Error::from_raw_os_error(-c)),
        }
    }
}

/// Splits a datagram into messages; stops at the first malformed header.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Msg<'_>> {
    let mut off = 0;
    std::iter::from_fn(move || {
        let h = buf.get(off..off + HDR)?;
        let len = u32::from_ne_bytes(h[0..4].try_into().ok()?) as usize;
        if len < HDR || off + len > buf.len() {
            return None;
        }
        let m = Msg {
            ty: u16::from_ne_bytes([h[4], h[5]]),
            seq: u32::from_ne_bytes(h[8..12].try_into().ok()?),
            raw: &buf[off..off + len],
            payload: &buf[off + HDR..off + len],
        };
        off += len.next_multiple_of(4);
        Some(m)
    })
}

/// Attributes of `payload` after a fixed header of `skip` bytes: (type without flag bits,
/// value). A malformed attribute ends the walk with one `Err`.
pub fn attrs(payload: &[u8], skip: usize) -> impl Iterator<Item = Result<(u16, &[u8]), String>> {
    let mut off = skip;
    std::iter::from_fn(move || {
        if off >= payload.len() {
            return None;
        }
        let Some(h) = payload.get(off..off + 4) else {
            off = payload.len();
            return Some(Err(format!("netlink attribute header cut at byte {off}")));
        };
        let len = usize::from(u16::from_ne_bytes([h[0], h[1]]));
        if len < 4 || off + len > payload.len() {
            let at = off;
            off = payload.len();
            return Some(Err(format!(
                "netlink attribute of {len} bytes at byte {at} overruns its message"
            )));
        }
        let ty = u16::from_ne_bytes([h[2], h[3]]) & NLA_TYPE_MASK;
        let value = &payload[off + 4..off + len];
        off += len.next_multiple_of(4);
        Some(Ok((ty, value)))
    })
}

// ---- rtnetlink links: the macvlan carrying a VRRP virtual MAC (`sys::vmac`) ----
//
//  ifinfomsg (16 bytes) after the nlmsghdr, then IFLA_* attributes
//  0        1     2        4         8         12
//  | family | pad | type   | index   | flags   | change |

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const NLM_F_EXCL: u16 = 0x200;
pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_LINK: u16 = 5;
pub const IFLA_LINKINFO: u16 = 18;
pub const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_MACVLAN_MODE: u16 = 1;
/// `MACVLAN_MODE_PRIVATE`: no traffic between macvlans of one parent, and no filtering of
/// frames whose source is the macvlan's own MAC (the other router's adverts carry it).
const MACVLAN_MODE_PRIVATE: u32 = 1;
const IFF_UP: u32 = 1;

/// Starts a link message: the header and an ifinfomsg for `index`, setting IFF_UP if `up`
/// (`ifi_change` says which flags the message sets; no flag otherwise).
fn link_msg(out: &mut Vec<u8>, ty: u16, flags: u16, seq: u32, index: u32, up: bool) -> usize {
    let start = begin(out, ty, NLM_F_REQUEST | NLM_F_ACK | flags, seq);
    out.extend_from_slice(&[0; 4]); // family AF_UNSPEC, pad, type
    out.extend_from_slice(&index.to_ne_bytes());
    let up = if up { IFF_UP } else { 0 };
    out.extend_from_slice(&up.to_ne_bytes()); // flags
    out.extend_from_slice(&up.to_ne_bytes()); // change
    start
}

/// `ip link add link BASE name NAME address MAC type macvlan mode private`, byte for byte.
pub fn macvlan_add(seq: u32, base: u32, name: &str, mac: [u8; 6]) -> Vec<u8> {
    let mut b = Vec::with_capacity(96);
    let start = link_msg(
        &mut b,
        RTM_NEWLINK,
        NLM_F_CREATE | NLM_F_EXCL,
        seq,
        0,
        false,
    );
    put(&mut b, IFLA_ADDRESS, &mac);
    put(&mut b, IFLA_LINK, &base.to_ne_bytes());
    put(&mut b, IFLA_IFNAME, &[name.as_bytes(), &[0]].concat());
    nest_as(&mut b, IFLA_LINKINFO, |b| {
        put(b, IFLA_INFO_KIND, b"macvlan");
        nest_as(b, IFLA_INFO_DATA, |b| {
            put(b, IFLA_MACVLAN_MODE, &MACVLAN_MODE_PRIVATE.to_ne_bytes())
        });
    });
    end(&mut b, start);
    b
}

/// `ip link set dev INDEX up`.
pub fn link_up(seq: u32, index: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(HDR + 16);
    let start = link_msg(&mut b, RTM_NEWLINK, 0, seq, index, true);
    end(&mut b, start);
    b
}

/// `ip link del dev INDEX`.
pub fn link_del(seq: u32, index: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(HDR + 16);
    let start = link_msg(&mut b, RTM_DELLINK, 0, seq, index, false);
    end(&mut b, start);
    b
}

/// `ip link set dev INDEX addrgenmode none`: no IPv6 link-local address made from the MAC
/// (two routers' macvlans share the virtual MAC, so they would share that address too).
pub fn link_addr_gen_none(seq: u32, index: u32) -> Vec<u8> {
    const IFLA_AF_SPEC: u16 = 26;
    const AF_INET6: u16 = 10;
    const IFLA_INET6_ADDR_GEN_MODE: u16 = 8;
    const IN6_ADDR_GEN_MODE_NONE: u8 = 1;
    let mut b = Vec::with_capacity(HDR + 32);
    let start = link_msg(&mut b, RTM_NEWLINK, 0, seq, index, false);
    nest_as(&mut b, IFLA_AF_SPEC, |b| {
        nest_as(b, AF_INET6, |b| {
            put(b, IFLA_INET6_ADDR_GEN_MODE, &[IN6_ADDR_GEN_MODE_NONE])
        })
    });
    end(&mut b, start);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_messages_split_back() {
        let mut out = Vec::new();
        let a = begin(&mut out, 20, NLM_F_REQUEST | NLM_F_ACK, 7);
        out.extend_from_slice(&[1, 2, 3, 4]);
        put(&mut out, 3, b"abcde");
        nest(&mut out, 1, |o| put(o, 2, &9u32.to_ne_bytes()));
        end(&mut out, a);
        let b = begin(&mut out, NLMSG_DONE, 0, 8);
        end(&mut out, b);
        let want: Vec<u8> = [
            &44u32.to_ne_bytes()[..],
            &20u16.to_ne_bytes(),
            &5u16.to_ne_bytes(),
            &7u32.to_ne_bytes(),
            &[0; 4],
            &[1, 2, 3, 4],
            &9u16.to_ne_bytes(),
            &3u16.to_ne_bytes(),
            b"abcde\0\0\0",
            &12u16.to_ne_bytes(),
            &(1 | NLA_F_NESTED).to_ne_bytes(),
            &8u16.to_ne_bytes(),
            &2u16.to_ne_bytes(),
            &9u32.to_ne_bytes(),
        ]
        .concat();
        assert_eq!(&out[..44], &want[..]);
        let ms: Vec<Msg> = messages(&out).collect();
        assert_eq!(ms.len(), 2);
        assert_eq!((ms[0].ty, ms[0].seq, ms[0].raw.len()), (20, 7, 44));
        assert_eq!(
            (ms[1].ty, ms[1].seq, ms[1].payload.len()),
            (NLMSG_DONE, 8, 0)
        );
        let got: Vec<(u16, &[u8])> = attrs(ms[0].payload, 4).map(Result::unwrap).collect();
        assert_eq!(got[0], (3, &b"abcde"[..]));
        assert_eq!(got[1].0, 1); // the nested flag is masked off
        let inner: Vec<_> = attrs(got[1].1, 0).map(Result::unwrap).collect();
        assert_eq!(inner, [(2, &9u32.to_ne_bytes()[..])]);
    }

    #[test]
    fn damage_stops_the_walk_without_panic() {
        let mut out = Vec::new();
        let a = begin(&mut out, 20, 0, 1);
        put(&mut out, 3, b"abcdefgh");
        end(&mut out, a);
        assert_eq!(messages(&out[..out.len() - 1]).count(), 0);
        assert_eq!(messages(&out[..HDR - 1]).count(), 0);
        let payload = &out[HDR..];
        let cut: Vec<_> = attrs(&payload[..payload.len() - 2], 0).collect();
        assert_eq!(cut.len(), 1);
        assert!(cut[0].is_err());
        assert!(attrs(&payload[..2], 0).next().unwrap().is_err());
        assert!(attrs(&[], 0).next().is_none());
    }

    /// What `strace -xx ip link add link eth0 name vrrp.51 address 00:00:5e:00:01:33 type
    /// macvlan mode private` shows iproute2 6.1 sending (eth0 has index 3), then `ip link set
    /// vrrp.51 up`, `addrgenmode none` and `ip link del vrrp.51` (index 4).
    #[test]
    fn link_messages_match_iproute2() {
        let h = |len: u32, ty: u16, flags: u16| {
            [
                &len.to_ne_bytes()[..],
                &ty.to_ne_bytes(),
                &flags.to_ne_bytes(),
                &7u32.to_ne_bytes(),
                &[0; 4],
            ]
            .concat()
        };
        let a = |len: u16, ty: u16| [len.to_ne_bytes(), ty.to_ne_bytes()].concat();
        let want: Vec<u8> = [
            &h(92, RTM_NEWLINK, 0x605)[..], // REQUEST | ACK | EXCL | CREATE
            &[0; 16],                       // ifinfomsg: AF_UNSPEC, index 0
            &a(10, IFLA_ADDRESS),
            &[0x00, 0x00, 0x5e, 0x00, 0x01, 0x33, 0, 0],
            &a(8, IFLA_LINK),
            &3u32.to_ne_bytes(),
            &a(12, IFLA_IFNAME),
            b"vrrp.51\0",
            &a(28, IFLA_LINKINFO), // no NLA_F_NESTED, as iproute2
            &a(11, IFLA_INFO_KIND),
            b"macvlan\0",
            &a(12, IFLA_INFO_DATA),
            &a(8, IFLA_MACVLAN_MODE),
            &1u32.to_ne_bytes(),
        ]
        .concat();
        assert_eq!(macvlan_add(7, 3, "vrrp.51", [0, 0, 0x5e, 0, 1, 0x33]), want);
        let info = |index: u32, flags: u32, change: u32| {
            [
                &[0u8; 4][..],
                &index.to_ne_bytes(),
                &flags.to_ne_bytes(),
                &change.to_ne_bytes(),
            ]
            .concat()
        };
        let up = [h(32, RTM_NEWLINK, 0x5), info(4, 1, 1)].concat();
        assert_eq!(link_up(7, 4), up);
        let del = [h(32, RTM_DELLINK, 0x5), info(4, 0, 0)].concat();
        assert_eq!(link_del(7, 4), del);
        // `ip link set vrrp.51 addrgenmode none`.
        let none = [
            &h(48, RTM_NEWLINK, 0x5)[..],
            &info(4, 0, 0),
            &a(16, 26), // IFLA_AF_SPEC
            &a(12, 10), // AF_INET6
            &a(5, 8),   // IFLA_INET6_ADDR_GEN_MODE
            &[1, 0, 0, 0],
        ]
        .concat();
        assert_eq!(link_addr_gen_none(7, 4), none);
    }

    #[test]
    fn acks_and_errors() {
        let mut out = Vec::new();
        for code in [0i32, -libc::EEXIST] {
            let a = begin(&mut out, NLMSG_ERROR, 0, 3);
            out.extend_from_slice(&code.to_ne_bytes());
            end(&mut out, a);
        }
        let ms: Vec<Msg> = messages(&out).collect();
        assert!(ms[0].ack().is_ok());
        assert_eq!(ms[1].ack().unwrap_err().raw_os_error(), Some(libc::EEXIST));
        let short = Msg {
            payload: &[],
            ..ms[0]
        };
        assert_eq!(short.ack().unwrap_err().raw_os_error(), Some(libc::EBADMSG));
    }
}
