//! The IPVS state keeplite wants (and reads back from the kernel), as plain values.
//!
//! The daemon maps config + checker health to a [`State`]; [`super::plan`] diffs two states.
//! All types are `Copy` so plans and batches are cheap to build for thousands of destinations.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Transport protocol of an address:port service (`protocol` in keepalived's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The IP protocol number the kernel uses (IPPROTO_*).
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    pub fn from_number(n: u16) -> Option<Self> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

/// Address family of a fwmark service (an address:port service takes it from its address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// AF_INET / AF_INET6.
    pub fn af(self) -> u16 {
        match self {
            Family::V4 => libc::AF_INET as u16,
            Family::V6 => libc::AF_INET6 as u16,
        }
    }

    pub fn from_af(af: u16) -> Option<Self> {
        match i32::from(af) {
            libc::AF_INET => Some(Family::V4),
            libc::AF_INET6 => Some(Family::V6),
            _ => None,
        }
    }
}

/// What identifies a virtual service in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceKey {
    Addr {
        protocol: Protocol,
        addr: SocketAddr,
    },
    Fwmark {
        family: Family,
        mark: u32,
    },
}

impl ServiceKey {
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(addr.ip()),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

impl fmt::Display for ServiceKey {
    /// `ipvsadm -Ln` spelling: `TCP 10.0.0.1:80`, `UDP [2001:db8::1]:53`, `FWM 7 IPv6`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr { protocol, addr } => {
                let p = match protocol {
                    Protocol::Tcp => "TCP",
                    Protocol::Udp => "UDP",
                    Protocol::Sctp => "SCTP",
                };
                write!(f, "{p} {addr}")
            }
            ServiceKey::Fwmark {
                family: Family::V4,
                mark,
            } => write!(f, "FWM {mark}"),
            ServiceKey::Fwmark {
                family: Family::V6,
                mark,
            } => write!(f, "FWM {mark} IPv6"),
        }
    }
}

macro_rules! schedulers {
    ($($variant:ident = $name:literal),* $(,)?) => {
        /// IPVS scheduler (`lb_algo`); each lives in kernel module `ip_vs_<name>`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Scheduler { $($variant),* }

        impl Scheduler {
            pub const ALL: &'static [Scheduler] = &[$(Scheduler::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Scheduler::$variant => $name),* }
            }

            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(Scheduler::$variant),)* _ => None }
            }
        }
    };
}

schedulers! {
    Rr = "rr", Wrr = "wrr", Lc = "lc", Wlc = "wlc", Lblc = "lblc", Lblcr = "lblcr", Dh = "dh",
    Sh = "sh", Sed = "sed", Nq = "nq", Mh = "mh", Fo = "fo", Ovf = "ovf", Twos = "twos",
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Client persistence (`persistence_timeout` / `persistence_granularity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Persistence {
    /// Seconds.
    pub timeout: u32,
    /// Client address prefix length that shares a persistence entry (32/128: per client).
    pub prefix: u8,
    /// Persistence engine `sip` (SIP Call-ID) instead of the client address.
    pub sip: bool,
}

/// Service flags besides persistence (IP_VS_SVC_F_*): one-packet scheduling and the
/// scheduler-specific flags (sh-fallback/sh-port, mh-fallback/mh-port).
pub const SVC_F_ONEPACKET: u32 = 0x0004;
pub const SVC_F_SCHED1: u32 = 0x0008;
pub const SVC_F_SCHED2: u32 = 0x0010;
pub const SVC_F_SCHED3: u32 = 0x0020;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceParams {
    pub scheduler: Scheduler,
    pub persistence: Option<Persistence>,
    /// Only `SVC_F_ONEPACKET` and `SVC_F_SCHED*` bits.
    pub flags: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Service {
    pub key: ServiceKey,
    pub params: ServiceParams,
}

/// Packet forwarding method (`lb_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forward {
    /// NAT.
    Masq,
    Tunnel,
    /// DR.
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestKey {
    pub addr: IpAddr,
    pub port: u16,
}

impl DestKey {
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DestParams {
    pub forward: Forward,
    pub weight: u32,
    /// Connection limits; 0 = unlimited.
    pub upper_threshold: u32,
    pub lower_threshold: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dest {
    pub key: DestKey,
    pub params: DestParams,
}

impl Dest {
    /// A real server without connection thresholds.
    pub fn new(addr: SocketAddr, forward: Forward, weight: u32) -> Self {
        Dest {
            key: DestKey {
                addr: addr.ip(),
                port: addr.port(),
            },
            params: DestParams {
                forward,
                weight,
                upper_threshold: 0,
                lower_threshold: 0,
            },
        }
    }
}

/// One service with its destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub params: ServiceParams,
    pub dests: BTreeMap<DestKey, DestParams>,
}

/// A full IPVS table (desired, or as dumped from the kernel).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub services: BTreeMap<ServiceKey, ServiceEntry>,
}

impl State {
    /// Adds (or replaces) a service; returns its entry for adding destinations.
    pub fn add_service(&mut self, service: Service) -> &mut ServiceEntry {
        let entry = self.services.entry(service.key).or_insert(ServiceEntry {
            params: service.params,
            dests: BTreeMap::new(),
        });
        entry.params = service.params;
        entry
    }
}

impl ServiceEntry {
    pub fn add_dest(&mut self, dest: Dest) {
        self.dests.insert(dest.key, dest.params);
    }
}
