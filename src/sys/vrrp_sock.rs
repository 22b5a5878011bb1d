//! Raw IPPROTO_VRRP (112) sockets, one per interface and address family.
//!
//! Adverts leave with TTL / hop limit 255 (RFC 5798 §5.1.1.3, §5.1.2.3) and a chosen source
//! address (the v3 checksum's pseudo-header needs it known). On receipt the datagram goes to
//! the VRRP core as the kernel delivered it ([`Datagram`]): IPv4 with its IP header, IPv6
//! with the hop limit and destination from ancillary data; the core applies RFC 5798 §7.1.
//! Sockets are bound to their interface, so instances on several interfaces never see each
//! other's traffic, and multicast loopback is off so a node never hears itself.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{cvt, cvt_size};
use crate::proto::vrrp::{Datagram, IP_PROTO};

/// Adverts per `sendmmsg` call.
const BATCH: usize = 32;

/// One advert to send: source, destination, TTL / hop limit, the VRRP packet.
pub type Outgoing<'a> = (IpAddr, IpAddr, u8, &'a [u8]);

/// A destination of either family.
#[repr(C)]
union Name {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

/// What a send's msghdr points to besides the payload. u64 storage keeps the control
/// buffer aligned for cmsghdr.
#[repr(C)]
struct Slot {
    name: Name,
    cbuf: [u64; 8],
    iov: libc::iovec,
}

/// A raw VRRP socket on one interface.
pub struct VrrpSocket {
    fd: OwnedFd,
    ifindex: u32,
    v6: bool,
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of the size passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

impl VrrpSocket {
    /// Opens a socket for `v6` or IPv4 on interface `ifname` (index `ifindex`).
    pub fn open(ifname: &str, ifindex: u32, v6: bool) -> io::Result<Self> {
        let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: plain syscall; the fd is owned right below.
        let raw = cvt(unsafe {
            libc::socket(
                domain,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::c_int::from(IP_PROTO),
            )
        })?;
        // SAFETY: `raw` is a fresh fd owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the name's bytes are readable for the length passed.
        cvt(unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                ifname.as_ptr().cast(),
                ifname.len() as libc::socklen_t,
            )
        })?;
        let off: libc::c_int = 0;
        let on: libc::c_int = 1;
        let hops: libc::c_int = 255;
        if v6 {
            setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, &off)?;
            setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &hops)?;
            setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &hops)?;
            let idx = ifindex as libc::c_int;
            setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &idx)?;
            setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &on)?;
            setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, &on)?;
        } else {
            setsockopt(raw, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, &off)?;
            setsockopt(raw, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, &hops)?;
            setsockopt(raw, libc::IPPROTO_IP, libc::IP_TTL, &hops)?;
            let mreq = mreqn(Ipv4Addr::UNSPECIFIED, ifindex);
            setsockopt(raw, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreq)?;
        }
        Ok(VrrpSocket { fd, ifindex, v6 })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Joins a multicast group (224.0.0.18, ff02::12 or a configured `vrrp_mcast_group4/6`)
    /// on this socket's interface. Joining twice is harmless.
    pub fn join(&self, group: IpAddr) -> io::Result<()> {
        let r = match group {
            IpAddr::V4(g) if !self.v6 => setsockopt(
                self.fd(),
                libc::IPPROTO_IP,
                libc::IP_ADD_MEMBERSHIP,
                &mreqn(g, self.ifindex),
            ),
            IpAddr::V6(g) if self.v6 => setsockopt(
                self.fd(),
                libc::IPPROTO_IPV6,
                libc::IPV6_ADD_MEMBERSHIP,
                &libc::ipv6_mreq {
                    ipv6mr_multiaddr: libc::in6_addr {
                        s6_addr: g.octets(),
                    },
                    ipv6mr_interface: self.ifindex,
                },
            ),
            _ => return Err(family_mismatch()),
        };
        match r {
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Ok(()),
            r => r,
        }
    }

    /// Sends `payload` (a VRRP packet) from `src` to `dst` (the group or a unicast peer)
    /// with TTL / hop limit `ttl` (255, or keepalived's `unicast_ttl` toward routed peers).
    pub fn send(&self, src: IpAddr, dst: IpAddr, ttl: u8, payload: &[u8]) -> io::Result<()> {
        // SAFETY: all-zero is a valid slot and msghdr; `fill` sets what they point to.
        let (mut slot, mut msg): (Slot, libc::msghdr) = unsafe { (zeroed(), zeroed()) };
        self.fill((src, dst, ttl, payload), &mut slot, &mut msg)?;
        // SAFETY: `msg` and everything it points to (in `slot`, `payload`) are valid.
        cvt_size(unsafe { libc::sendmsg(self.fd(), &msg, 0) })?;
        Ok(())
    }

    /// [`VrrpSocket::send`] for many adverts, [`BATCH`] per system call (`sendmmsg`);
    /// `status` learns the outcome of each, by the tag it came with.
    pub fn send_many<'a>(
        &self,
        mut adverts: impl Iterator<Item = (usize, Outgoing<'a>)>,
        mut status: impl FnMut(usize, io::Result<()>),
    ) {
        // SAFETY: all-zero slots and headers are valid; `fill` sets each one used.
        let mut slots: [Slot; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let mut tags = [0; BATCH];
        loop {
            let (mut n, mut taken) = (0, 0);
            for (tag, a) in adverts.by_ref().take(BATCH) {
                match self.fill(a, &mut slots[n], &mut hdrs[n].msg_hdr) {
                    Ok(()) => {
                        tags[n] = tag;
                        n += 1;
                    }
                    Err(e) => status(tag, Err(e)),
                }
                taken += 1;
            }
            let mut k = 0;
            while k < n {
                let left = (n - k) as libc::c_uint;
                // SAFETY: headers k..n were filled above and point into `slots` and the
                // adverts' payloads, all alive and unmoved during the call.
                let sent = unsafe { libc::sendmmsg(self.fd(), hdrs[k..].as_mut_ptr(), left, 0) };
                match cvt(sent) {
                    // An error after some were sent ends the call; the next one meets it.
                    Ok(sent) => {
                        // Never 0 for a non-empty batch.
                        let sent = (sent as usize).clamp(1, n - k);
                        (k..k + sent).for_each(|j| status(tags[j], Ok(())));
                        k += sent;
                    }
                    Err(e) => {
                        status(tags[k], Err(e));
                        k += 1;
                    }
                }
            }
            if taken < BATCH {
                return;
            }
        }
    }

    /// Points `msg` at one advert: `payload` and the destination and ancillary data
    /// (source address, interface, TTL) written into `slot`. Not inlined: one copy serves
    /// both senders (binary size).
    #[inline(never)]
    fn fill(&self, a: Outgoing, slot: &mut Slot, msg: &mut libc::msghdr) -> io::Result<()> {
        let (src, dst, ttl, payload) = a;
        slot.iov = libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        };
        slot.cbuf = [0; 8];
        msg.msg_iov = &mut slot.iov;
        msg.msg_iovlen = 1;
        msg.msg_control = slot.cbuf.as_mut_ptr().cast();
        msg.msg_controllen = 0;
        let ttl = libc::c_int::from(ttl);
        match (src, dst, self.v6) {
            (IpAddr::V4(s), IpAddr::V4(d), false) => {
                // SAFETY: all-zero is a valid sockaddr_in.
                let mut sa4: libc::sockaddr_in = unsafe { zeroed() };
                sa4.sin_family = libc::AF_INET as libc::sa_family_t;
                sa4.sin_addr.s_addr = u32::from_ne_bytes(d.octets());
                slot.name = Name { v4: sa4 };
                msg.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
                let info = libc::in_pktinfo {
                    ipi_ifindex: self.ifindex as libc::c_int,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from_ne_bytes(s.octets()),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                // SAFETY: `cbuf` is aligned and holds an in_pktinfo and an int cmsg (56 of
                // 64 bytes).
                unsafe {
                    put_cmsg(msg, libc::IPPROTO_IP, libc::IP_PKTINFO, &info);
                    put_cmsg(msg, libc::IPPROTO_IP, libc::IP_TTL, &ttl);
                }
            }
            (IpAddr::V6(s), IpAddr::V6(d), true) => {
                // SAFETY: all-zero is a valid sockaddr_in6.
                let mut sa6: libc::sockaddr_in6 = unsafe { zeroed() };
                sa6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sa6.sin6_addr.s6_addr = d.octets();
                sa6.sin6_scope_id = self.ifindex;
                slot.name = Name { v6: sa6 };
                msg.msg_namelen = size_of::<libc::sockaddr_in6>() as u32;
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: s.octets(),
                    },
                    ipi6_ifindex: self.ifindex,
                };
                // SAFETY: `cbuf` is aligned and holds an in6_pktinfo and an int cmsg (64 of
                // 64 bytes).
                unsafe {
                    put_cmsg(msg, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &info);
                    put_cmsg(msg, libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, &ttl);
                }
            }
            _ => return Err(family_mismatch()),
        }
        msg.msg_name = (&mut slot.name as *mut Name).cast();
        Ok(())
    }

    /// Reads one datagram into `buf`; `Ok(None)` when nothing is pending. A datagram larger
    /// than `buf`, or IPv6 without its ancillary data, is `InvalidData` so the caller can
    /// count it.
    pub fn recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<Option<Datagram<'b>>> {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut cbuf = [0u64; 16];
        // SAFETY: all-zero is a valid sockaddr_in6 (large enough for either family).
        let mut from: libc::sockaddr_in6 = unsafe { zeroed() };
        // SAFETY: all-zero msghdr is valid; pointers set below outlive recvmsg.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_in6).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in6>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 16]>();
        // SAFETY: `msg` describes buffers valid for writing for the stated lengths.
        let n = match cvt_size(unsafe { libc::recvmsg(self.fd(), &mut msg, 0) }) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        if msg.msg_flags & libc::MSG_TRUNC != 0 {
            return Err(bad("truncated datagram"));
        }
        if !self.v6 {
            return Ok(Some(Datagram::V4(&buf[..n])));
        }
        let mut ttl = None;
        let mut dst = None;
        // SAFETY: the kernel filled `msg_control`; CMSG_* walk it within msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let data = libc::CMSG_DATA(c);
                match ((*c).cmsg_level, (*c).cmsg_type) {
                    (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                        ttl = Some(std::ptr::read_unaligned(data as *const libc::c_int) as u8)
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                        let p: libc::in6_pktinfo = std::ptr::read_unaligned(data.cast());
                        dst = Some(Ipv6Addr::from(p.ipi6_addr.s6_addr))
                    }
                    _ => {}
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        match (ttl, dst) {
            (Some(hop_limit), Some(dst)) => Ok(Some(Datagram::V6 {
                src: Ipv6Addr::from(from.sin6_addr.s6_addr),
                dst,
                hop_limit,
                payload: &buf[..n],
            })),
            _ => Err(bad("missing hop limit or destination")),
        }
    }
}

/// Appends a control message to a send's (initially empty) control buffer.
///
/// # Safety
/// `msg.msg_control` must point to an aligned buffer with `CMSG_SPACE(size_of::<T>())` bytes
/// free after the `msg_controllen` already used.
unsafe fn put_cmsg<T>(msg: &mut libc::msghdr, level: libc::c_int, ty: libc::c_int, val: &T) {
    let len = size_of::<T>() as u32;
    // SAFETY: per the function's contract the buffer has room for this cmsg past the used
    // part; CMSG_SPACE keeps the next header aligned.
    unsafe {
        let c = msg
            .msg_control
            .cast::<u8>()
            .add(msg.msg_controllen)
            .cast::<libc::cmsghdr>();
        msg.msg_controllen += libc::CMSG_SPACE(len) as usize;
        (*c).cmsg_level = level;
        (*c).cmsg_type = ty;
        (*c).cmsg_len = libc::CMSG_LEN(len) as usize;
        std::ptr::copy_nonoverlapping(
            (val as *const T).cast::<u8>(),
            libc::CMSG_DATA(c),
            len as usize,
        );
    }
}

fn mreqn(group: Ipv4Addr, ifindex: u32) -> libc::ip_mreqn {
    libc::ip_mreqn {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from_ne_bytes(group.octets()),
        },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: ifindex as libc::c_int,
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

fn family_mismatch() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "address family does not match the socket",
    )
}
