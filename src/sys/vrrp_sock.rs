//! Raw IPPROTO_VRRP (112) sockets, one per interface and address family.
//!
//! Adverts leave with TTL / hop limit 255 (RFC 5798 §5.1.1.3, §5.1.2.3) and a chosen source
//! address (the v3 checksum's pseudo-header needs it known). On receipt the datagram goes to
//! the VRRP core as the kernel delivered it ([`Datagram`]): IPv4 with its IP header, IPv6
//! with the hop limit and destination from ancillary data; the core applies RFC 5798 §7.1.
//! Sockets are bound to their interface, so instances on several interfaces never see each
//! other's traffic, and multicast loopback is off so a node never hears itself.
//!
//! On Ethernet, multicast adverts can leave instead as whole frames through a packet socket
//! ([`VrrpSocket::use_frames`]): the same bytes (`proto::frame`) without the kernel's route
//! lookup and IP output per packet. Unicast adverts always take the raw socket.

use std::cell::Cell;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::garp::FrameSocket;
use super::{cvt, cvt_size, setsockopt};
use crate::proto::frame;
use crate::proto::vrrp::{Datagram, IP_PROTO};

/// Adverts per `sendmmsg` call: 64 masters sharing a schedule leave in one call. The
/// slots (~190 B each) are zeroed on the stack per call, which bounds it.
const BATCH: usize = 64;

/// One advert to send: source, destination, TTL / hop limit, the VRRP packet.
pub type Outgoing<'a> = (IpAddr, IpAddr, u8, &'a [u8]);

/// A destination of either family.
#[repr(C)]
union Name {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
    ll: libc::sockaddr_ll,
}

/// What a send's msghdr points to besides the payload: the raw socket's control data, or a
/// frame's headers. u64 storage keeps the control buffer aligned for cmsghdr.
#[repr(C)]
struct Slot {
    name: Name,
    cbuf: [u64; 8],
    hdr: [u8; frame::MAX_HEADER_LEN],
    iov: [libc::iovec; 2],
}

/// A raw VRRP socket on one interface.
pub struct VrrpSocket {
    fd: OwnedFd,
    ifindex: u32,
    v6: bool,
    link: Option<Link>,
}

/// The packet socket multicast adverts leave by, and what their frames need.
struct Link {
    sock: FrameSocket,
    mac: [u8; 6],
    /// IPv4 identification of the next frame (the raw path gives each packet its own).
    ident: Cell<u16>,
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
        Ok(VrrpSocket {
            fd,
            ifindex,
            v6,
            link: None,
        })
    }

    /// From now on sends multicast adverts as whole frames through a packet socket on
    /// `ifname` (this socket's interface), from its MAC address. `Ok(false)`, raw IP kept,
    /// if the interface is not Ethernet.
    pub fn use_frames(&mut self, ifname: &str) -> io::Result<bool> {
        let sock = FrameSocket::open(self.ifindex)?;
        let Some(mac) = ether_addr(sock.as_raw_fd(), ifname)? else {
            return Ok(false);
        };
        let ident = Cell::new(0);
        self.link = Some(Link { sock, mac, ident });
        Ok(true)
    }

    /// Multicast adverts through the raw IP socket again (`vrrp_raw_adverts`).
    pub fn use_raw(&mut self) {
        self.link = None;
    }

    /// The interface's MAC address changed (`ip link set address`, a bond's
    /// `fail_over_mac`): frames from now on carry `mac`, as the raw path's would.
    pub fn set_mac(&mut self, mac: [u8; 6]) {
        if let Some(l) = &mut self.link {
            l.mac = mac;
        }
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
        let mut r = Ok(());
        let one = std::iter::once((0, (src, dst, ttl, payload)));
        self.send_many(one, |_, o| r = o);
        r
    }

    /// [`VrrpSocket::send`] for many adverts, up to [`BATCH`] per system call (`sendmmsg`,
    /// a new call where the socket changes between frames and raw IP); `status` learns the
    /// outcome of each, by the tag it came with.
    pub fn send_many<'a>(
        &self,
        adverts: impl Iterator<Item = (usize, Outgoing<'a>)>,
        mut status: impl FnMut(usize, io::Result<()>),
    ) {
        // SAFETY: all-zero slots and headers are valid; `fill` sets each one used.
        let mut slots: [Slot; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let mut tags = [0; BATCH];
        let (mut n, mut fd) = (0, self.fd());
        for (tag, a) in adverts {
            let dst = a.1;
            let link =
                (self.link.as_ref()).filter(|_| dst.is_multicast() && dst.is_ipv6() == self.v6);
            let to = link.map_or(self.fd(), |l| l.sock.as_raw_fd());
            if n == BATCH || to != fd {
                // SAFETY: headers ..n were filled below and point into `slots` and the
                // adverts' payloads, all alive and unmoved during the call.
                unsafe { send_batch(fd, &mut hdrs[..n], &tags[..n], &mut status) };
                n = 0;
            }
            fd = to;
            let (slot, msg) = (&mut slots[n], &mut hdrs[n].msg_hdr);
            let filled = match link {
                Some(l) => self.fill_frame(l, a, slot, msg),
                None => self.fill(a, slot, msg),
            };
            match filled {
                Ok(()) => {
                    tags[n] = tag;
                    n += 1;
                }
                Err(e) => status(tag, Err(e)),
            }
        }
        // SAFETY: as above.
        unsafe { send_batch(fd, &mut hdrs[..n], &tags[..n], &mut status) };
    }

    /// Points `msg` at one advert framed for the packet socket: Ethernet and IP headers
    /// written into `slot`, then the payload.
    fn fill_frame(
        &self,
        link: &Link,
        a: Outgoing,
        slot: &mut Slot,
        msg: &mut libc::msghdr,
    ) -> io::Result<()> {
        let (src, dst, hop_limit, payload) = a;
        let ident = link.ident.get();
        link.ident.set(ident.wrapping_add(1));
        let r = frame::Repr {
            src_mac: link.mac,
            src,
            dst,
            protocol: IP_PROTO,
            hop_limit,
            ident,
            payload_len: payload.len(),
        };
        let n = r.emit(&mut slot.hdr).map_err(|_| family_mismatch())?;
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut ll: libc::sockaddr_ll = unsafe { zeroed() };
        ll.sll_family = libc::AF_PACKET as u16;
        ll.sll_ifindex = self.ifindex as libc::c_int;
        ll.sll_protocol = u16::from_ne_bytes([slot.hdr[12], slot.hdr[13]]);
        slot.name = Name { ll };
        slot.iov = [
            libc::iovec {
                iov_base: slot.hdr.as_mut_ptr().cast(),
                iov_len: n,
            },
            libc::iovec {
                iov_base: payload.as_ptr() as *mut libc::c_void,
                iov_len: payload.len(),
            },
        ];
        msg.msg_name = (&mut slot.name as *mut Name).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_ll>() as u32;
        msg.msg_iov = slot.iov.as_mut_ptr();
        msg.msg_iovlen = 2;
        msg.msg_controllen = 0;
        Ok(())
    }

    /// Points `msg` at one advert: `payload` and the destination and ancillary data
    /// (source address, interface, TTL) written into `slot`. Not inlined: one copy serves
    /// both senders (binary size).
    #[inline(never)]
    fn fill(&self, a: Outgoing, slot: &mut Slot, msg: &mut libc::msghdr) -> io::Result<()> {
        let (src, dst, ttl, payload) = a;
        slot.iov[0] = libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        };
        slot.cbuf = [0; 8];
        msg.msg_iov = slot.iov.as_mut_ptr();
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

/// Sends the adverts `hdrs` describe (tagged `tags`) on `fd` by `sendmmsg`, reporting each.
///
/// # Safety
/// Every header must point to a name, iovecs and control data alive for the call.
unsafe fn send_batch(
    fd: RawFd,
    hdrs: &mut [libc::mmsghdr],
    tags: &[usize],
    status: &mut impl FnMut(usize, io::Result<()>),
) {
    let mut k = 0;
    while k < hdrs.len() {
        let left = (hdrs.len() - k) as libc::c_uint;
        // SAFETY: headers k.. are valid per the function's contract.
        let sent = unsafe { libc::sendmmsg(fd, hdrs[k..].as_mut_ptr(), left, 0) };
        match cvt(sent) {
            // An error after some were sent ends the call; the next one meets it.
            Ok(sent) => {
                // Never 0 for a non-empty batch.
                let sent = (sent as usize).clamp(1, hdrs.len() - k);
                (k..k + sent).for_each(|j| status(tags[j], Ok(())));
                k += sent;
            }
            Err(e) => {
                status(tags[k], Err(e));
                k += 1;
            }
        }
    }
}

/// The MAC address of Ethernet interface `ifname`, `None` for other link types (loopback,
/// tunnels, InfiniBand), whose adverts keep the raw socket.
fn ether_addr(fd: RawFd, ifname: &str) -> io::Result<Option<[u8; 6]>> {
    // SAFETY: all-zero is a valid ifreq.
    let mut req: libc::ifreq = unsafe { zeroed() };
    if ifname.len() >= req.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq with a NUL-terminated name; the kernel writes into it.
    cvt(unsafe { libc::ioctl(fd, libc::SIOCGIFHWADDR, &mut req as *mut libc::ifreq) })?;
    // SAFETY: SIOCGIFHWADDR filled the union's hardware-address member.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    if sa.sa_family != libc::ARPHRD_ETHER {
        return Ok(None);
    }
    Ok(Some(std::array::from_fn(|i| sa.sa_data[i] as u8)))
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
