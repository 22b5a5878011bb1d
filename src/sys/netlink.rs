//! rtnetlink: virtual addresses with a kernel lifetime (the "VIP lease"), address listing,
//! link lookup and link-state notifications.
//!
//! Requests go over one socket and wait for the kernel's ACK: the kernel answers rtnetlink
//! synchronously, so this never waits on anything outside the machine. Link notifications
//! arrive on a separate non-blocking socket ([`LinkMonitor`]) polled by the event loop.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressMessage, AddressScope, CacheInfo,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, State};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// `INFINITY_LIFE_TIME` in the kernel: an address that never expires.
const FOREVER: u32 = u32::MAX;
const RTMGRP_LINK: u32 = 1;

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
}

fn nl_error(e: netlink_packet_core::DecodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("rtnetlink: {e}"))
}

/// A request socket for rtnetlink.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    pub fn new() -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.set_ext_ack(true).ok();
        Ok(Rtnl {
            sock,
            seq: 0,
            buf: Vec::with_capacity(1 << 16),
        })
    }

    /// Installs the address, or refreshes it in place when it exists (`NLM_F_REPLACE`): the
    /// lifetime restarts without the address ever leaving the interface, so a lease refresh
    /// never flaps a VIP.
    pub fn add_address(&mut self, a: &AddrSpec) -> io::Result<()> {
        let mut msg = addr_message(a.ifindex, a.addr, a.prefix_len);
        msg.header.scope = AddressScope::from(a.scope);
        if let Some(b) = a.broadcast {
            msg.attributes.push(AddressAttribute::Broadcast(b));
        }
        if let Some(l) = &a.label {
            msg.attributes.push(AddressAttribute::Label(l.clone()));
        }
        if a.addr.is_ipv6() {
            // keepalived does the same: a VIP moves between peers, DAD would only delay it.
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        let life = a.lifetime.map_or(FOREVER, |d| {
            d.as_secs()
                .saturating_add(u64::from(d.subsec_nanos() > 0))
                .min(u64::from(FOREVER - 1)) as u32
        });
        let mut cache = CacheInfo::default();
        cache.ifa_preferred = life;
        cache.ifa_valid = life;
        msg.attributes.push(AddressAttribute::CacheInfo(cache));
        self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    pub fn del_address(&mut self, ifindex: u32, addr: IpAddr, prefix_len: u8) -> io::Result<()> {
        let msg = addr_message(ifindex, addr, prefix_len);
        self.request(RouteNetlinkMessage::DelAddress(msg), 0)
    }

    /// Addresses of one interface (or all with `None`).
    pub fn addresses(&mut self, ifindex: Option<u32>) -> io::Result<Vec<AddrInfo>> {
        let req = RouteNetlinkMessage::GetAddress(AddressMessage::default());
        let mut out = Vec::new();
        self.dump(req, |m| {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                if ifindex.is_none_or(|i| i == a.header.index) {
                    out.extend(addr_info(a));
                }
            }
        })?;
        Ok(out)
    }

    pub fn links(&mut self) -> io::Result<Vec<LinkInfo>> {
        let req = RouteNetlinkMessage::GetLink(LinkMessage::default());
        let mut out = Vec::new();
        self.dump(req, |m| {
            if let RouteNetlinkMessage::NewLink(l) = m {
                out.push(link_info(l));
            }
        })?;
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

    fn send(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        let mut bytes = vec![0; nl.buffer_len()];
        nl.serialize(&mut bytes);
        self.sock.send(&bytes, 0)?;
        Ok(self.seq)
    }

    /// Reads replies to `seq`, handing each inner message to `each`, until the ACK (or DONE
    /// for dumps); a NACK becomes the kernel's errno.
    fn replies(&mut self, seq: u32, mut each: impl FnMut(RouteNetlinkMessage)) -> io::Result<()> {
        loop {
            self.buf.clear();
            self.sock.recv(&mut self.buf, 0)?;
            let mut off = 0;
            while off < self.buf.len() {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[off..])
                    .map_err(nl_error)?;
                let len = msg.header.length as usize;
                off += len.next_multiple_of(4).max(16);
                if msg.header.sequence_number != seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(()),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(()),
                            Some(c) => Err(io::Error::from_raw_os_error(-c.get())),
                        }
                    }
                    NetlinkPayload::InnerMessage(m) => each(m),
                    _ => {}
                }
            }
        }
    }

    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        let seq = self.send(msg, NLM_F_ACK | flags)?;
        self.replies(seq, |_| {})
    }

    fn dump(
        &mut self,
        msg: RouteNetlinkMessage,
        each: impl FnMut(RouteNetlinkMessage),
    ) -> io::Result<()> {
        let seq = self.send(msg, NLM_F_DUMP)?;
        self.replies(seq, each)
    }
}

fn addr_message(ifindex: u32, addr: IpAddr, prefix_len: u8) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    msg.header.prefix_len = prefix_len;
    msg.header.index = ifindex;
    msg.attributes.push(AddressAttribute::Local(addr));
    msg.attributes.push(AddressAttribute::Address(addr));
    msg
}

fn addr_info(a: AddressMessage) -> Option<AddrInfo> {
    let mut info = AddrInfo {
        ifindex: a.header.index,
        addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        prefix_len: a.header.prefix_len,
        label: None,
        valid_left: None,
        secondary: false,
    };
    let mut found = false;
    for attr in a.attributes {
        match attr {
            // IFA_LOCAL is the address itself; IFA_ADDRESS is the peer on point-to-point links.
            AddressAttribute::Local(x) => {
                info.addr = x;
                found = true;
            }
            AddressAttribute::Address(x) if !found => {
                info.addr = x;
                found = true;
            }
            AddressAttribute::Label(l) => info.label = Some(l),
            AddressAttribute::CacheInfo(c) if c.ifa_valid != FOREVER => {
                info.valid_left = Some(c.ifa_valid)
            }
            AddressAttribute::Flags(f) => info.secondary = f.contains(AddressFlags::Secondary),
            _ => {}
        }
    }
    found.then_some(info)
}

fn link_info(l: LinkMessage) -> LinkInfo {
    let flags = l.header.flags;
    let mut info = LinkInfo {
        index: l.header.index,
        name: String::new(),
        mac: None,
        up: false,
    };
    let mut oper = State::Unknown;
    for attr in l.attributes {
        match attr {
            LinkAttribute::IfName(n) => info.name = n,
            LinkAttribute::Address(m) => info.mac = m.try_into().ok(),
            LinkAttribute::OperState(s) => oper = s,
            _ => {}
        }
    }
    // Virtual links without carrier detection report UNKNOWN while running.
    info.up = flags.contains(LinkFlags::Up)
        && flags.contains(LinkFlags::LowerUp)
        && matches!(oper, State::Up | State::Unknown);
    info
}

/// RTMGRP_LINK notifications: every change of any link's state, read without blocking.
pub struct LinkMonitor {
    sock: Socket,
    buf: Vec<u8>,
}

impl LinkMonitor {
    pub fn new() -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind(&SocketAddr::new(0, RTMGRP_LINK))?;
        sock.set_non_blocking(true)?;
        Ok(LinkMonitor {
            sock,
            buf: Vec::with_capacity(1 << 16),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Drains pending notifications. Deleted links come back with `up == false`.
    pub fn recv(&mut self) -> io::Result<Vec<LinkInfo>> {
        let mut out = Vec::new();
        loop {
            self.buf.clear();
            match self.sock.recv(&mut self.buf, 0) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(out),
                Err(e) => return Err(e),
            }
            let mut off = 0;
            while off < self.buf.len() {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[off..])
                    .map_err(nl_error)?;
                off += (msg.header.length as usize).next_multiple_of(4).max(16);
                match msg.payload {
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => {
                        out.push(link_info(l))
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) => {
                        let mut info = link_info(l);
                        info.up = false;
                        out.push(info);
                    }
                    _ => {}
                }
            }
        }
    }
}
