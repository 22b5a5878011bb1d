//! Netlink sockets ([`Socket`], for rtnetlink here and generic netlink in `sys::ipvs`) over
//! the shared message layer (`crate::netlink`), and rtnetlink itself: virtual addresses with a
//! kernel lifetime (the "VIP lease"), address listing, link lookup and link-state
//! notifications.
//!
//! Requests go over one socket and wait for the kernel's ACK: the kernel answers netlink
//! requests synchronously, so this never waits on anything outside the machine. Link
//! notifications arrive on a separate non-blocking socket ([`LinkMonitor`]) polled by the
//! event loop.
//!
//! The few messages needed are encoded here directly (`linux/rtnetlink.h`,
//! `linux/if_addr.h`, `linux/if_link.h`): a general rtnetlink crate parses every attribute of
//! every family and cost about 300 KiB of the 2 MiB binary budget.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{cvt, cvt_size};
use crate::netlink::{
    attrs, begin, end, messages, put, Msg, HDR, IFLA_ADDRESS, IFLA_IFNAME, IFLA_INFO_KIND,
    IFLA_LINK, IFLA_LINKINFO, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_REPLACE, NLM_F_REQUEST, RTM_DELLINK, RTM_NEWLINK,
};

/// `INFINITY_LIFE_TIME` in the kernel: an address that never expires.
const FOREVER: u32 = u32::MAX;
const RTMGRP_LINK: u32 = 1;

const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_CACHEINFO: u16 = 6;
const IFA_FLAGS: u16 = 8;
const IFA_F_SECONDARY: u32 = 0x01;
const IFA_F_NODAD: u32 = 0x02;

const IFLA_OPERSTATE: u16 = 16;
const IFF_UP: u32 = 0x1;
const IFF_LOWER_UP: u32 = 0x1_0000;
const IF_OPER_UNKNOWN: u8 = 0;
const IF_OPER_UP: u8 = 6;

/// `sizeof(struct ifaddrmsg)` and `sizeof(struct ifinfomsg)`.
const IFADDRMSG: usize = 8;
const IFINFOMSG: usize = 16;

/// An address to install: what `ip addr add ADDR/LEN brd B dev D label L scope S
/// valid_lft T preferred_lft T` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrSpec {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub broadcast: Option<Ipv4Addr>,
    pub label: Option<String>,
    /// `RT_SCOPE_*`: 0 global, 253 link, 254 host.
    pub scope: u8,
    /// Kernel lifetime; `None` installs a permanent address. Whole seconds (rounded up).
    pub lifetime: Option<Duration>,
}

impl AddrSpec {
    /// A global-scope address without label or broadcast.
    pub fn new(ifindex: u32, addr: IpAddr, prefix_len: u8) -> Self {
        AddrSpec {
            ifindex,
            addr,
            prefix_len,
            broadcast: None,
            label: None,
            scope: 0,
            lifetime: None,
        }
    }
}

/// An address the kernel reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrInfo {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub label: Option<String>,
    /// Seconds the kernel still keeps the address; `None` when permanent.
    pub valid_left: Option<u32>,
    pub secondary: bool,
}

/// A network interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    pub mac: Option<[u8; 6]>,
    /// Administratively up and operationally usable (carrier present): what track_interface
    /// and an instance's own interface mean by "up".
    pub up: bool,
    /// A macvlan's parent interface (`use_vmac` checks what it finds under its name).
    pub macvlan_of: Option<u32>,
}

fn ip_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

fn family(a: &IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

/// RTM_NEWADDR (create or replace) / RTM_DELADDR for one address.
fn addr_request(msg_type: u16, flags: u16, seq: u32, a: &AddrSpec) -> Vec<u8> {
    let mut b = Vec::with_capacity(128);
    put_addr_request(&mut b, msg_type, flags, seq, a);
    b
}

/// Appends [`addr_request`]'s message to `b` (several make one datagram).
fn put_addr_request(b: &mut Vec<u8>, msg_type: u16, flags: u16, seq: u32, a: &AddrSpec) {
    let start = begin(b, msg_type, NLM_F_REQUEST | flags, seq);
    // ifaddrmsg: family, prefix length, flags, scope, then ifa_index in host order.
    b.extend_from_slice(&[family(&a.addr), a.prefix_len, 0, a.scope]);
    b.extend_from_slice(&a.ifindex.to_ne_bytes());
    // On the stack: a lease refresh queues this for every VIP and allocates nothing.
    let (v4, v6);
    let ip: &[u8] = match a.addr {
        IpAddr::V4(x) => {
            v4 = x.octets();
            &v4
        }
        IpAddr::V6(x) => {
            v6 = x.octets();
            &v6
        }
    };
    put(b, IFA_LOCAL, ip);
    put(b, IFA_ADDRESS, ip);
    if msg_type != RTM_DELADDR {
        if let Some(brd) = a.broadcast {
            put(b, IFA_BROADCAST, &brd.octets());
        }
        if let Some(l) = &a.label {
            // NUL-terminated as iproute2 sends it, without a copy: the NUL is the padding's
            // first byte, or a word of padding added for it.
            let at = b.len();
            put(b, IFA_LABEL, l.as_bytes());
            if b.len() == at + 4 + l.len() {
                b.extend_from_slice(&[0; 4]);
            }
            b[at..at + 2].copy_from_slice(&(5 + l.len() as u16).to_ne_bytes());
        }
        if a.addr.is_ipv6() {
            // keepalived does the same: a VIP moves between peers, DAD would only delay it.
            put(b, IFA_FLAGS, &IFA_F_NODAD.to_ne_bytes());
        }
        let life = a.lifetime.map_or(FOREVER, |d| {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            secs.min(u64::from(FOREVER - 1)) as u32
        });
        let mut cache = [0; 16];
        for (c, v) in cache.chunks_exact_mut(4).zip([life, life, 0, 0]) {
            c.copy_from_slice(&v.to_ne_bytes());
        }
        put(b, IFA_CACHEINFO, &cache);
    }
    end(b, start);
}

fn dump_request(msg_type: u16, seq: u32) -> Vec<u8> {
    let fixed = if msg_type == RTM_GETLINK {
        IFINFOMSG
    } else {
        IFADDRMSG
    };
    let mut b = Vec::with_capacity(HDR + fixed);
    let start = begin(&mut b, msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq);
    b.resize(b.len() + fixed, 0);
    end(&mut b, start);
    b
}

fn parse_ip(data: &[u8]) -> Option<IpAddr> {
    match data.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(data).ok()?))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(data).ok()?))),
        _ => None,
    }
}

fn c_string(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// An RTM_NEWADDR payload.
fn parse_addr(p: &[u8]) -> Option<AddrInfo> {
    let fixed = p.get(..IFADDRMSG)?;
    let mut info = AddrInfo {
        ifindex: u32_at(fixed, 4)?,
        addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        prefix_len: fixed[1],
        label: None,
        valid_left: None,
        secondary: u32::from(fixed[2]) & IFA_F_SECONDARY != 0,
    };
    let (mut local, mut address) = (None, None);
    for (ty, data) in attrs(p, IFADDRMSG).map_while(Result::ok) {
        match ty {
            IFA_LOCAL => local = parse_ip(data),
            IFA_ADDRESS => address = parse_ip(data),
            IFA_LABEL => info.label = Some(c_string(data)),
            IFA_CACHEINFO => {
                let valid = u32_at(data, 4)?;
                info.valid_left = (valid != FOREVER).then_some(valid);
            }
            IFA_FLAGS => info.secondary = u32_at(data, 0)? & IFA_F_SECONDARY != 0,
            _ => {}
        }
    }
    // IFA_LOCAL is the address itself; IFA_ADDRESS is the peer on point-to-point links.
    info.addr = local.or(address)?;
    Some(info)
}

/// An RTM_NEWLINK / RTM_DELLINK payload.
fn parse_link(p: &[u8]) -> Option<LinkInfo> {
    let fixed = p.get(..IFINFOMSG)?;
    let flags = u32_at(fixed, 8)?;
    let mut info = LinkInfo {
        index: u32_at(fixed, 4)?,
        name: String::new(),
        mac: None,
        up: false,
        macvlan_of: None,
    };
    let mut oper = IF_OPER_UNKNOWN;
    let (mut parent, mut macvlan) = (None, false);
    for (ty, data) in attrs(p, IFINFOMSG).map_while(Result::ok) {
        match ty {
            IFLA_IFNAME => info.name = c_string(data),
            IFLA_ADDRESS => info.mac = data.try_into().ok(),
            IFLA_OPERSTATE => oper = *data.first()?,
            IFLA_LINK => parent = u32_at(data, 0),
            IFLA_LINKINFO => {
                let kind = attrs(data, 0).map_while(Result::ok);
                macvlan = kind
                    .filter(|(t, _)| *t == IFLA_INFO_KIND)
                    .any(|(_, k)| c_string(k) == "macvlan");
            }
            _ => {}
        }
    }
    info.macvlan_of = parent.filter(|_| macvlan);
    // Virtual links without carrier detection report UNKNOWN while running.
    info.up = flags & IFF_UP != 0
        && flags & IFF_LOWER_UP != 0
        && matches!(oper, IF_OPER_UP | IF_OPER_UNKNOWN);
    Some(info)
}

/// A netlink socket of one protocol, bound to multicast `groups`, its requests numbered.
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    pub fn open(protocol: libc::c_int, groups: u32, nonblocking: bool) -> io::Result<Self> {
        let flags =
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
        // SAFETY: plain syscall; the fd is owned right below.
        let raw = cvt(unsafe { libc::socket(libc::AF_NETLINK, flags, protocol) })?;
        // SAFETY: `raw` is a fresh fd owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: all-zero is a valid sockaddr_nl (port 0: the kernel assigns one).
        let mut sa: libc::sockaddr_nl = unsafe { zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        sa.nl_groups = groups;
        // SAFETY: `sa` is a valid sockaddr_nl of the size passed.
        cvt(unsafe {
            libc::bind(
                raw,
                (&sa as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        })?;
        Ok(Socket { fd, seq: 0 })
    }

    /// An integer socket option.
    pub fn set_option(&self, level: libc::c_int, name: libc::c_int, value: i32) -> io::Result<()> {
        super::setsockopt(self.fd.as_raw_fd(), level, name, &value)
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends one datagram (one or more messages) to the kernel.
    pub fn send(&self, msg: &[u8]) -> io::Result<()> {
        // SAFETY: `msg` is readable for its length; an unconnected netlink socket sends to
        // the kernel (port 0).
        cvt_size(unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) })?;
        Ok(())
    }

    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_flags(buf, 0)
    }

    /// A datagram if one is waiting (`None` otherwise), even on a blocking socket.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.recv_flags(buf, libc::MSG_DONTWAIT) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn recv_flags(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags,
            )
        };
        cvt_size(n)
    }

    /// Reads the replies to request `seq` into `buf`, handing each other message to `each`,
    /// until the ACK (or DONE for dumps); a NACK becomes the kernel's errno. Messages of other
    /// sequence numbers (left over from an earlier call that failed midway) are skipped.
    pub fn replies(
        &self,
        buf: &mut [u8],
        seq: u32,
        mut each: impl FnMut(Msg) -> io::Result<()>,
    ) -> io::Result<()> {
        loop {
            let n = self.recv(buf)?;
            for m in messages(&buf[..n]) {
                if m.seq != seq {
                    continue;
                }
                match m.ty {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => return m.ack(),
                    _ => each(m)?,
                }
            }
        }
    }
}

/// Queued address requests are sent once this many bytes wait (~500 IPv4 VIPs), well below
/// the socket's send buffer.
const QUEUE_MAX: usize = 32 << 10;

/// A request socket for rtnetlink.
pub struct Rtnl {
    sock: Socket,
    buf: Vec<u8>,
    /// Requests of [`Rtnl::queue_address`], sent as one datagram by [`Rtnl::flush`].
    queued: Vec<u8>,
    /// Their sequence numbers and addresses, to name those the kernel refuses.
    queued_addrs: Vec<(u32, IpAddr)>,
    /// Queued addresses the kernel refused, until [`Rtnl::take_failed`].
    failed: Vec<(IpAddr, io::Error)>,
}

impl Rtnl {
    pub fn new() -> io::Result<Self> {
        Ok(Rtnl {
            sock: Socket::open(libc::NETLINK_ROUTE, 0, false)?,
            buf: vec![0; 1 << 16],
            queued: Vec::new(),
            queued_addrs: Vec::new(),
            failed: Vec::new(),
        })
    }

    /// [`Rtnl::add_address`] for many addresses at the cost of one: the request waits for
    /// [`Rtnl::flush`] (or any other request, which keeps the order) and asks for no ACK; a
    /// refusal shows up in [`Rtnl::take_failed`].
    pub fn queue_address(&mut self, a: &AddrSpec) {
        let seq = self.sock.next_seq();
        let flags = NLM_F_CREATE | NLM_F_REPLACE;
        put_addr_request(&mut self.queued, RTM_NEWADDR, flags, seq, a);
        self.queued_addrs.push((seq, a.addr));
        if self.queued.len() >= QUEUE_MAX {
            self.flush();
        }
    }

    /// Sends the queued requests in one datagram. rtnetlink handles them within the send,
    /// one after the other; without NLM_F_ACK it answers only the refused ones, so what is
    /// waiting right after the send is all there is to read.
    pub fn flush(&mut self) {
        if self.queued.is_empty() {
            return;
        }
        let sent = self.sock.send(&self.queued);
        self.queued.clear();
        let addrs = &self.queued_addrs;
        if let Err(e) = sent {
            let code = e.raw_os_error().unwrap_or(libc::EIO);
            let refused = addrs
                .iter()
                .map(|&(_, a)| (a, io::Error::from_raw_os_error(code)));
            self.failed.extend(refused);
        }
        while let Ok(Some(n)) = self.sock.try_recv(&mut self.buf) {
            for m in messages(&self.buf[..n]).filter(|m| m.ty == NLMSG_ERROR) {
                let addr = addrs.iter().find(|(seq, _)| *seq == m.seq);
                if let (Some(&(_, a)), Err(e)) = (addr, m.ack()) {
                    self.failed.push((a, e));
                }
            }
        }
        self.queued_addrs.clear();
    }

    /// The queued addresses the kernel refused since the last call.
    pub fn take_failed(&mut self) -> Vec<(IpAddr, io::Error)> {
        std::mem::take(&mut self.failed)
    }

    /// Installs the address, or refreshes it in place when it exists (`NLM_F_REPLACE`): the
    /// lifetime restarts without the address ever leaving the interface, so a lease refresh
    /// never flaps a VIP.
    pub fn add_address(&mut self, a: &AddrSpec) -> io::Result<()> {
        let flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
        self.request(|seq| addr_request(RTM_NEWADDR, flags, seq, a), |_| {})
    }

    /// Sends one request built by the message layer (`crate::netlink::macvlan_add`, ...) and
    /// waits for its ACK.
    pub fn ack(&mut self, msg: impl FnOnce(u32) -> Vec<u8>) -> io::Result<()> {
        self.request(msg, |_| {})
    }

    pub fn del_address(&mut self, ifindex: u32, addr: IpAddr, prefix_len: u8) -> io::Result<()> {
        let spec = AddrSpec::new(ifindex, addr, prefix_len);
        self.request(
            |seq| addr_request(RTM_DELADDR, NLM_F_ACK, seq, &spec),
            |_| {},
        )
    }

    /// Addresses of one interface (or all with `None`).
    pub fn addresses(&mut self, ifindex: Option<u32>) -> io::Result<Vec<AddrInfo>> {
        let mut out = Vec::new();
        self.request(
            |seq| dump_request(RTM_GETADDR, seq),
            |m| {
                if m.ty == RTM_NEWADDR {
                    let a = parse_addr(m.payload);
                    out.extend(a.filter(|a| ifindex.is_none_or(|i| i == a.ifindex)));
                }
            },
        )?;
        Ok(out)
    }

    pub fn links(&mut self) -> io::Result<Vec<LinkInfo>> {
        let mut out = Vec::new();
        self.request(
            |seq| dump_request(RTM_GETLINK, seq),
            |m| {
                if m.ty == RTM_NEWLINK {
                    out.extend(parse_link(m.payload));
                }
            },
        )?;
        Ok(out)
    }

    pub fn link(&mut self, name: &str) -> io::Result<LinkInfo> {
        self.links()?
            .into_iter()
            .find(|l| l.name == name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no interface {name}")))
    }

    /// The address VRRP adverts leave from when no unicast_src_ip is set: the interface's first
    /// primary IPv4 address, or its IPv6 link-local address (RFC 5798 §5.1.2.1).
    pub fn primary_address(&mut self, ifindex: u32, v6: bool) -> io::Result<Option<IpAddr>> {
        let addrs = self.addresses(Some(ifindex))?;
        Ok(addrs
            .into_iter()
            .find(|a| match a.addr {
                IpAddr::V4(_) => !v6 && !a.secondary,
                IpAddr::V6(x) => v6 && x.segments()[0] & 0xffc0 == 0xfe80,
            })
            .map(|a| a.addr))
    }

    /// Sends the request built for a fresh sequence number and reads its replies.
    fn request(
        &mut self,
        msg: impl FnOnce(u32) -> Vec<u8>,
        mut each: impl FnMut(Msg),
    ) -> io::Result<()> {
        self.flush();
        let seq = self.sock.next_seq();
        self.sock.send(&msg(seq))?;
        self.sock.replies(&mut self.buf, seq, |m| {
            each(m);
            Ok(())
        })
    }
}

/// RTMGRP_LINK notifications: every change of any link's state, read without blocking.
pub struct LinkMonitor {
    sock: Socket,
    buf: Vec<u8>,
}

impl LinkMonitor {
    pub fn new() -> io::Result<Self> {
        Ok(LinkMonitor {
            sock: Socket::open(libc::NETLINK_ROUTE, RTMGRP_LINK, true)?,
            buf: vec![0; 1 << 16],
        })
    }

    pub fn fd(&self) -> RawFd {
        self.sock.fd()
    }

    /// Drains pending notifications. Deleted links come back with `up == false`.
    pub fn recv(&mut self) -> io::Result<Vec<LinkInfo>> {
        let mut out = Vec::new();
        loop {
            let n = match self.sock.recv(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(out),
                Err(e) => return Err(e),
            };
            for m in messages(&self.buf[..n]) {
                let deleted = m.ty == RTM_DELLINK;
                if m.ty == RTM_NEWLINK || deleted {
                    if let Some(mut l) = parse_link(m.payload) {
                        l.up &= !deleted;
                        out.push(l);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_request_bytes() {
        let mut a = AddrSpec::new(7, "192.0.2.100".parse().unwrap(), 24);
        a.broadcast = Some(Ipv4Addr::new(192, 0, 2, 255));
        a.label = Some("eth0:v".into());
        a.lifetime = Some(Duration::from_millis(3500));
        let m = addr_request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, 9, &a);
        let mut want: Vec<u8> = Vec::new();
        let u16s = |v: u16| v.to_ne_bytes();
        let u32s = |v: u32| v.to_ne_bytes();
        want.extend(u32s(80));
        want.extend(u16s(RTM_NEWADDR));
        want.extend(u16s(0x505)); // REQUEST | ACK | REPLACE | CREATE
        want.extend(u32s(9));
        want.extend(u32s(0));
        want.extend([2, 24, 0, 0]);
        want.extend(u32s(7));
        for ty in [IFA_LOCAL, IFA_ADDRESS] {
            want.extend(u16s(8));
            want.extend(u16s(ty));
            want.extend([192, 0, 2, 100]);
        }
        want.extend(u16s(8));
        want.extend(u16s(IFA_BROADCAST));
        want.extend([192, 0, 2, 255]);
        want.extend(u16s(11));
        want.extend(u16s(IFA_LABEL));
        want.extend(b"eth0:v\0\0"); // 7 bytes + 1 padding
        want.extend(u16s(20));
        want.extend(u16s(IFA_CACHEINFO));
        for v in [4, 4, 0, 0] {
            want.extend(u32s(v)); // 3.5 s rounds up to 4 s
        }
        assert_eq!(m, want);
        let del = addr_request(RTM_DELADDR, NLM_F_ACK, 1, &a);
        assert_eq!(del.len(), HDR + IFADDRMSG + 16);
        // A label that fills its words gets one more for its NUL.
        a.label = Some("eth1".into());
        let m = addr_request(RTM_NEWADDR, 0, 9, &a);
        let label = attrs(&m[HDR..], IFADDRMSG).find(|a| a.as_ref().unwrap().0 == IFA_LABEL);
        assert_eq!(label.unwrap().unwrap().1, b"eth1\0");
        assert_eq!(m.len(), want.len());
    }

    #[test]
    fn ipv6_addresses_get_nodad_and_permanent_lifetime() {
        let a = AddrSpec::new(3, "2001:db8::1".parse().unwrap(), 64);
        let m = addr_request(RTM_NEWADDR, 0, 1, &a);
        let got: Vec<(u16, Vec<u8>)> = attrs(&m[HDR..], IFADDRMSG)
            .map(|a| a.map(|(t, d)| (t, d.to_vec())).unwrap())
            .collect();
        assert_eq!(got[0].1.len(), 16);
        assert!(got.contains(&(IFA_FLAGS, IFA_F_NODAD.to_ne_bytes().to_vec())));
        let cache = &got.iter().find(|(t, _)| *t == IFA_CACHEINFO).unwrap().1;
        assert_eq!(u32_at(cache, 4), Some(FOREVER));
    }

    /// A kernel RTM_NEWADDR as the dump returns it; parse must pick IFA_LOCAL and the lease.
    #[test]
    fn parses_addresses_links_and_acks() {
        let mut a = AddrSpec::new(5, "198.51.100.1".parse().unwrap(), 32);
        a.label = Some("d0".into());
        a.lifetime = Some(Duration::from_secs(30));
        let msg = addr_request(RTM_NEWADDR, 0, 4, &a);
        let ms: Vec<Msg> = messages(&msg).collect();
        assert_eq!((ms.len(), ms[0].ty, ms[0].seq), (1, RTM_NEWADDR, 4));
        let info = parse_addr(ms[0].payload).unwrap();
        assert_eq!(info.addr, a.addr);
        assert_eq!((info.ifindex, info.prefix_len), (5, 32));
        assert_eq!(info.label.as_deref(), Some("d0"));
        assert_eq!(info.valid_left, Some(30));
        assert!(!info.secondary);

        let mut link = vec![0u8; IFINFOMSG];
        link[4..8].copy_from_slice(&2u32.to_ne_bytes());
        link[8..12].copy_from_slice(&(IFF_UP | IFF_LOWER_UP).to_ne_bytes());
        let link_msg = |attributes: &[(u16, &[u8])]| {
            let mut b = Vec::new();
            let start = begin(&mut b, RTM_NEWLINK, 0, 0);
            b.extend_from_slice(&link);
            for (ty, value) in attributes {
                put(&mut b, *ty, value);
            }
            end(&mut b, start);
            b
        };
        let l = link_msg(&[
            (IFLA_IFNAME, b"eth0\0"),
            (IFLA_ADDRESS, &[2, 0, 0, 0, 0, 1]),
            (IFLA_OPERSTATE, &[IF_OPER_UP]),
        ]);
        let info = parse_link(&l[HDR..]).unwrap();
        assert_eq!(
            info,
            LinkInfo {
                index: 2,
                name: "eth0".into(),
                mac: Some([2, 0, 0, 0, 0, 1]),
                up: true,
                macvlan_of: None,
            }
        );
        let mut kind = Vec::new();
        put(&mut kind, IFLA_INFO_KIND, b"macvlan");
        let vmac = link_msg(&[(IFLA_LINK, &3u32.to_ne_bytes()), (IFLA_LINKINFO, &kind)]);
        assert_eq!(parse_link(&vmac[HDR..]).unwrap().macvlan_of, Some(3));
        let veth = link_msg(&[(IFLA_LINK, &3u32.to_ne_bytes())]);
        assert_eq!(parse_link(&veth[HDR..]).unwrap().macvlan_of, None);
        let down = link_msg(&[(IFLA_OPERSTATE, &[2])]); // IF_OPER_DOWN
        assert!(!parse_link(&down[HDR..]).unwrap().up);

        // Truncated input never panics and yields nothing past the damage.
        assert_eq!(messages(&msg[..msg.len() - 1]).count(), 0);
        assert!(parse_addr(&msg[HDR..HDR + 4]).is_none());
        let cut = &l[HDR..l.len() - 2];
        assert_eq!(parse_link(cut).unwrap().mac, Some([2, 0, 0, 0, 0, 1]));
    }
}

// Routes and rules: keepalived's `virtual_routes` / `static_routes` and `*_rules`, encoded as
// keepalived 2.2.7 sends them (`linux/rtnetlink.h`, `linux/fib_rules.h`).

use crate::config::{Route, RouteMode, Rule, RuleAction, RTPROT_KEEPALIVED};

const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_NEWRULE: u16 = 32;
const RTM_DELRULE: u16 = 33;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_APPEND: u16 = 0x800;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;
const RTNH_F_ONLINK: u32 = 4;
const RT_SCOPE_NOWHERE: u8 = 255;
const RTN_UNICAST: u8 = 1;

const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_GOTO: u16 = 4;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;
const FRA_OIFNAME: u16 = 17;
const FRA_PROTOCOL: u16 = 21;
const FIB_RULE_INVERT: u32 = 2;

/// The table byte of `rtmsg` / `fib_rule_hdr`: the table below 256, else `RT_TABLE_UNSPEC`
/// with the table in an attribute.
fn table_byte(t: u32) -> u8 {
    u8::try_from(t).unwrap_or(0)
}

/// RTM_NEWROUTE (keepalived's flags: prepend unless `add` / `append`) or RTM_DELROUTE
/// (scope nowhere and no type unless given, so the kernel matches any).
fn route_request(del: bool, seq: u32, r: &Route, oif: Option<u32>) -> Vec<u8> {
    let (ty, flags) = if del {
        (RTM_DELROUTE, 0)
    } else {
        let mode = match r.mode {
            RouteMode::Prepend => 0,
            RouteMode::Add => NLM_F_EXCL,
            RouteMode::Append => NLM_F_APPEND,
        };
        (RTM_NEWROUTE, NLM_F_CREATE | mode)
    };
    let mut b = Vec::with_capacity(96);
    let start = begin(&mut b, ty, NLM_F_REQUEST | NLM_F_ACK | flags, seq);
    // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, then flags.
    let scope = r.scope.unwrap_or(if del { RT_SCOPE_NOWHERE } else { 0 });
    let kind = if del && r.kind == RTN_UNICAST {
        0
    } else {
        r.kind
    };
    let table = table_byte(r.table);
    b.extend_from_slice(&[
        family(&r.dst),
        r.dst_len,
        0,
        0,
        table,
        r.protocol,
        scope,
        kind,
    ]);
    let flags = if r.onlink { RTNH_F_ONLINK } else { 0 };
    b.extend_from_slice(&flags.to_ne_bytes());
    if u32::from(table) != r.table {
        put(&mut b, RTA_TABLE, &r.table.to_ne_bytes());
    }
    put(&mut b, RTA_DST, &ip_bytes(&r.dst));
    for (kind, a) in [(RTA_PREFSRC, r.src), (RTA_GATEWAY, r.via)] {
        if let Some(a) = a {
            put(&mut b, kind, &ip_bytes(&a));
        }
    }
    for (kind, v) in [(RTA_OIF, oif), (RTA_PRIORITY, r.metric)] {
        if let Some(v) = v {
            put(&mut b, kind, &v.to_ne_bytes());
        }
    }
    end(&mut b, start);
    b
}

/// RTM_NEWRULE (exclusive, as keepalived) or RTM_DELRULE.
fn rule_request(del: bool, seq: u32, r: &Rule) -> Vec<u8> {
    let (ty, flags) = if del {
        (RTM_DELRULE, 0)
    } else {
        (RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL)
    };
    let mut b = Vec::with_capacity(96);
    let start = begin(&mut b, ty, NLM_F_REQUEST | NLM_F_ACK | flags, seq);
    let (action, table) = match r.action {
        RuleAction::Table(t) => (1, t),
        RuleAction::Goto(_) => (2, 0),
        RuleAction::Blackhole => (6, 0),
        RuleAction::Unreachable => (7, 0),
        RuleAction::Prohibit => (8, 0),
    };
    // fib_rule_hdr: family, dst_len, src_len, tos, table, 2 reserved, action, then flags.
    let fam = if r.v6 { libc::AF_INET6 } else { libc::AF_INET } as u8;
    let len = |p: Option<(IpAddr, u8)>| p.map_or(0, |(_, l)| l);
    let tb = table_byte(table);
    b.extend_from_slice(&[fam, len(r.to), len(r.from), 0, tb, 0, 0, action]);
    let flags = if r.invert { FIB_RULE_INVERT } else { 0 };
    b.extend_from_slice(&flags.to_ne_bytes());
    if u32::from(tb) != table {
        put(&mut b, FRA_TABLE, &table.to_ne_bytes());
    }
    for (kind, p) in [(FRA_SRC, r.from), (FRA_DST, r.to)] {
        if let Some((a, _)) = p {
            put(&mut b, kind, &ip_bytes(&a));
        }
    }
    for (kind, v) in [
        (FRA_PRIORITY, Some(r.priority)),
        (FRA_FWMARK, r.fwmark),
        (FRA_FWMASK, r.fwmask),
    ] {
        if let Some(v) = v {
            put(&mut b, kind, &v.to_ne_bytes());
        }
    }
    for (kind, name) in [(FRA_IIFNAME, &r.iif), (FRA_OIFNAME, &r.oif)] {
        if let Some(n) = name {
            put(&mut b, kind, &[n.as_bytes(), &[0]].concat());
        }
    }
    if r.track {
        put(&mut b, FRA_PROTOCOL, &[RTPROT_KEEPALIVED]);
    }
    if let RuleAction::Goto(p) = r.action {
        put(&mut b, FRA_GOTO, &p.to_ne_bytes());
    }
    end(&mut b, start);
    b
}

impl Rtnl {
    /// Adds (or with `del` removes) a route; `oif` is its `dev` resolved.
    pub fn route(&mut self, del: bool, r: &Route, oif: Option<u32>) -> io::Result<()> {
        self.request(|seq| route_request(del, seq, r, oif), |_| {})
    }

    /// Adds (or with `del` removes) a policy rule.
    pub fn rule(&mut self, del: bool, r: &Rule) -> io::Result<()> {
        self.request(|seq| rule_request(del, seq, r), |_| {})
    }
}

/// Byte for byte what keepalived 2.2.7 sent for the same configuration lines (strace -xx of
/// `keepalived -n` in a namespace where `d0` had ifindex 3).
#[cfg(test)]
mod route_tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn route(dst: &str, len: u8) -> Route {
        Route::new(ip(dst), len)
    }

    /// nlmsghdr + fixed header + (type, value) attributes, built independently of `put`.
    fn msg(ty: u16, flags: u16, fixed: &[u8], attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = fixed.to_vec();
        for (t, v) in attrs {
            body.extend((4 + v.len() as u16).to_ne_bytes());
            body.extend(t.to_ne_bytes());
            body.extend(*v);
            body.resize(body.len().next_multiple_of(4), 0);
        }
        let mut m = ((HDR + body.len()) as u32).to_ne_bytes().to_vec();
        m.extend(ty.to_ne_bytes());
        m.extend(flags.to_ne_bytes());
        m.extend(5u32.to_ne_bytes());
        m.extend(0u32.to_ne_bytes());
        m.extend(body);
        m
    }

    #[test]
    fn virtual_route_via_src_dev() {
        // `10.40.0.0/16 via 10.9.0.254 dev d0 src 10.9.0.100`: 60 bytes, REQUEST|ACK|CREATE.
        let mut r = route("10.40.0.0", 16);
        r.via = Some(ip("10.9.0.254"));
        r.src = Some(ip("10.9.0.100"));
        r.dev = Some("d0".into());
        let attrs: &[(u16, &[u8])] = &[
            (RTA_DST, &[10, 40, 0, 0]),
            (RTA_PREFSRC, &[10, 9, 0, 100]),
            (RTA_GATEWAY, &[10, 9, 0, 254]),
            (RTA_OIF, &3u32.to_ne_bytes()),
        ];
        let add = route_request(false, 5, &r, Some(3));
        let fixed = [2, 16, 0, 0, 254, 18, 0, 1, 0, 0, 0, 0];
        assert_eq!(add, msg(RTM_NEWROUTE, 0x405, &fixed, attrs));
        assert_eq!(add.len(), 60);
        // The delete: scope nowhere, type unspecified.
        let fixed = [2, 16, 0, 0, 254, 18, 255, 0, 0, 0, 0, 0];
        assert_eq!(
            route_request(true, 5, &r, Some(3)),
            msg(RTM_DELROUTE, 0x5, &fixed, attrs)
        );
    }

    #[test]
    fn routes_in_big_tables_typed_ipv6_and_metric() {
        // `10.51.0.0/16 via 10.99.0.1 dev d0 onlink table 1000`: table in RTA_TABLE, first.
        let mut r = route("10.51.0.0", 16);
        (r.via, r.table, r.onlink) = (Some(ip("10.99.0.1")), 1000, true);
        let fixed = [2, 16, 0, 0, 0, 18, 0, 1, 4, 0, 0, 0];
        let attrs: &[(u16, &[u8])] = &[
            (RTA_TABLE, &1000u32.to_ne_bytes()),
            (RTA_DST, &[10, 51, 0, 0]),
            (RTA_GATEWAY, &[10, 99, 0, 1]),
            (RTA_OIF, &3u32.to_ne_bytes()),
        ];
        let got = route_request(false, 5, &r, Some(3));
        assert_eq!(got, msg(RTM_NEWROUTE, 0x405, &fixed, attrs));
        // `prohibit 10.53.0.0/16 metric 9 add`: EXCL, type 8, RTA_PRIORITY.
        let mut r = route("10.53.0.0", 16);
        (r.kind, r.metric, r.mode) = (8, Some(9), RouteMode::Add);
        let fixed = [2, 16, 0, 0, 254, 18, 0, 8, 0, 0, 0, 0];
        let attrs: &[(u16, &[u8])] = &[
            (RTA_DST, &[10, 53, 0, 0]),
            (RTA_PRIORITY, &9u32.to_ne_bytes()),
        ];
        let got = route_request(false, 5, &r, None);
        assert_eq!(got, msg(RTM_NEWROUTE, 0x605, &fixed, attrs));
        let fixed = [2, 16, 0, 0, 254, 18, 255, 8, 0, 0, 0, 0];
        let got = route_request(true, 5, &r, None);
        assert_eq!(got, msg(RTM_DELROUTE, 0x5, &fixed, attrs));
        // `2001:db8:1::/64 via 2001:db8::fe dev d0 append`: NLM_F_APPEND.
        let mut r = route("2001:db8:1::", 64);
        (r.via, r.mode) = (Some(ip("2001:db8::fe")), RouteMode::Append);
        let fixed = [10, 64, 0, 0, 254, 18, 0, 1, 0, 0, 0, 0];
        let dst = ip_bytes(&r.dst);
        let gw = ip_bytes(&ip("2001:db8::fe"));
        let attrs: &[(u16, &[u8])] = &[
            (RTA_DST, &dst),
            (RTA_GATEWAY, &gw),
            (RTA_OIF, &3u32.to_ne_bytes()),
        ];
        let got = route_request(false, 5, &r, Some(3));
        assert_eq!(got, msg(RTM_NEWROUTE, 0xc05, &fixed, attrs));
        assert_eq!(got.len(), 76);
        // `10.55.0.0/16 dev d0 protocol static no_track scope host`.
        let mut r = route("10.55.0.0", 16);
        (r.protocol, r.scope) = (4, Some(254));
        let fixed = [2, 16, 0, 0, 254, 4, 254, 1, 0, 0, 0, 0];
        let attrs: &[(u16, &[u8])] = &[(RTA_DST, &[10, 55, 0, 0]), (RTA_OIF, &3u32.to_ne_bytes())];
        let got = route_request(false, 5, &r, Some(3));
        assert_eq!(got, msg(RTM_NEWROUTE, 0x405, &fixed, attrs));
    }

    fn rule(action: RuleAction, priority: u32) -> Rule {
        Rule {
            v6: false,
            from: None,
            to: None,
            invert: false,
            priority,
            fwmark: None,
            fwmask: None,
            iif: None,
            oif: None,
            action,
            track: true,
        }
    }

    #[test]
    fn rules_as_keepalived_sends_them() {
        // `to 10.30.0.0/16 fwmark 5/0xff iif d0 table 101` (priority 16384): 76 bytes.
        let mut r = rule(RuleAction::Table(101), 16384);
        (r.to, r.fwmark, r.fwmask) = (Some((ip("10.30.0.0"), 16)), Some(5), Some(255));
        r.iif = Some("d0".into());
        let fixed = [2, 16, 0, 0, 101, 0, 0, 1, 0, 0, 0, 0];
        let attrs: &[(u16, &[u8])] = &[
            (FRA_DST, &[10, 30, 0, 0]),
            (FRA_PRIORITY, &16384u32.to_ne_bytes()),
            (FRA_FWMARK, &5u32.to_ne_bytes()),
            (FRA_FWMASK, &255u32.to_ne_bytes()),
            (FRA_IIFNAME, b"d0\0"),
            (FRA_PROTOCOL, &[18]),
        ];
        let got = rule_request(false, 5, &r);
        assert_eq!(got, msg(RTM_NEWRULE, 0x605, &fixed, attrs));
        assert_eq!(got.len(), 76);
        assert_eq!(
            rule_request(true, 5, &r),
            msg(RTM_DELRULE, 0x5, &fixed, attrs)
        );
        // `not from 10.60.0.0/16 table 1000 priority 5`: FIB_RULE_INVERT, FRA_TABLE first.
        let mut r = rule(RuleAction::Table(1000), 5);
        (r.from, r.invert) = (Some((ip("10.60.0.0"), 16)), true);
        let fixed = [2, 0, 16, 0, 0, 0, 0, 1, 2, 0, 0, 0];
        let attrs: &[(u16, &[u8])] = &[
            (FRA_TABLE, &1000u32.to_ne_bytes()),
            (FRA_SRC, &[10, 60, 0, 0]),
            (FRA_PRIORITY, &5u32.to_ne_bytes()),
            (FRA_PROTOCOL, &[18]),
        ];
        let got = rule_request(false, 5, &r);
        assert_eq!(got, msg(RTM_NEWRULE, 0x605, &fixed, attrs));
        // `from 10.65.0.0/16 goto 100 priority 12`: FRA_GOTO after the protocol.
        let mut r = rule(RuleAction::Goto(100), 12);
        r.from = Some((ip("10.65.0.0"), 16));
        let fixed = [2, 0, 16, 0, 0, 0, 0, 2, 0, 0, 0, 0];
        let attrs: &[(u16, &[u8])] = &[
            (FRA_SRC, &[10, 65, 0, 0]),
            (FRA_PRIORITY, &12u32.to_ne_bytes()),
            (FRA_PROTOCOL, &[18]),
            (FRA_GOTO, &100u32.to_ne_bytes()),
        ];
        let got = rule_request(false, 5, &r);
        assert_eq!(got, msg(RTM_NEWRULE, 0x605, &fixed, attrs));
        // `from 10.64.0.0/16 oif d0 table 10 priority 11 no_track`: no protocol.
        let mut r = rule(RuleAction::Table(10), 11);
        (r.from, r.oif, r.track) = (Some((ip("10.64.0.0"), 16)), Some("d0".into()), false);
        let fixed = [2, 0, 16, 0, 10, 0, 0, 1, 0, 0, 0, 0];
        let attrs: &[(u16, &[u8])] = &[
            (FRA_SRC, &[10, 64, 0, 0]),
            (FRA_PRIORITY, &11u32.to_ne_bytes()),
            (FRA_OIFNAME, b"d0\0"),
        ];
        let got = rule_request(false, 5, &r);
        assert_eq!(got, msg(RTM_NEWRULE, 0x605, &fixed, attrs));
        // `to 10.61.0.0/16 blackhole priority 7`: action 6, table unspecified.
        let mut r = rule(RuleAction::Blackhole, 7);
        r.to = Some((ip("10.61.0.0"), 16));
        let fixed = [2, 16, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0];
        let attrs: &[(u16, &[u8])] = &[
            (FRA_DST, &[10, 61, 0, 0]),
            (FRA_PRIORITY, &7u32.to_ne_bytes()),
            (FRA_PROTOCOL, &[18]),
        ];
        let got = rule_request(false, 5, &r);
        assert_eq!(got, msg(RTM_NEWRULE, 0x605, &fixed, attrs));
    }
}
