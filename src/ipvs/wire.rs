//! IPVS generic-netlink attribute codec (family "IPVS", version 1).
//!
//! Layout from the kernel's include/uapi/linux/ip_vs.h. A message is
//! `nlmsghdr | genlmsghdr{cmd, version=1} | attributes`, the attributes being one nested
//! `IPVS_CMD_ATTR_SERVICE` and/or `IPVS_CMD_ATTR_DEST`:
//!
//! ```text
//! IPVS_CMD_ATTR_SERVICE (nested)             IPVS_CMD_ATTR_DEST (nested)
//!   SVC_ATTR_AF        u16 AF_INET/AF_INET6     DEST_ATTR_ADDR        16 bytes (nf_inet_addr)
//!   SVC_ATTR_PROTOCOL  u16 IPPROTO_*            DEST_ATTR_PORT        be16
//!   SVC_ATTR_ADDR      16 bytes (nf_inet_addr)  DEST_ATTR_FWD_METHOD  u32 IP_VS_CONN_F_*
//!   SVC_ATTR_PORT      be16                     DEST_ATTR_WEIGHT      u32
//!   SVC_ATTR_FWMARK    u32 (instead of the 3)   DEST_ATTR_U_THRESH    u32
//!   SVC_ATTR_SCHED_NAME  NUL-terminated string  DEST_ATTR_L_THRESH    u32
//!   SVC_ATTR_FLAGS     struct ip_vs_flags {u32 flags; u32 mask}
//!   SVC_ATTR_TIMEOUT   u32 seconds              DEST_ATTR_ADDR_FAMILY u16
//!   SVC_ATTR_NETMASK   be32 mask (IPv4) / u32 prefix length (IPv6)
//! ```
//!
//! The sync daemons (`lvs_sync_daemon`) are started and stopped with NEW_DAEMON / DEL_DAEMON,
//! their attributes nested in `IPVS_CMD_ATTR_DAEMON` (the order and sizes libipvs uses):
//!
//! ```text
//! IPVS_CMD_ATTR_DAEMON (nested)
//!   DAEMON_ATTR_STATE        u32 IP_VS_STATE_MASTER 1 / IP_VS_STATE_BACKUP 2
//!   DAEMON_ATTR_MCAST_IFN    NUL-terminated interface name (< 16 bytes)
//!   DAEMON_ATTR_SYNC_ID      u32
//!   DAEMON_ATTR_SYNC_MAXLEN  u16            (NEW_DAEMON only, each optional)
//!   DAEMON_ATTR_MCAST_PORT   u16
//!   DAEMON_ATTR_MCAST_TTL    u8
//!   DAEMON_ATTR_MCAST_GROUP  be32 IPv4 group, or DAEMON_ATTR_MCAST_GROUP6 16 bytes
//! ```
//!
//! Requests are encoded once into [`Request`] (the genl payload); kernel replies decode into
//! [`Reply`]. Counters and statistics in replies are skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::model::*;
use super::plan::Op;
use super::syncd::Cmd;
use crate::config::LvsTimeouts;
use crate::netlink::{self, attrs, nest, put, NLMSG_DONE, NLMSG_ERROR};

type DecodeError = String;

pub const IPVS_GENL_NAME: &str = "IPVS";
pub const IPVS_GENL_VERSION: u8 = 1;

pub const IPVS_CMD_NEW_SERVICE: u8 = 1;
pub const IPVS_CMD_SET_SERVICE: u8 = 2;
pub const IPVS_CMD_DEL_SERVICE: u8 = 3;
pub const IPVS_CMD_GET_SERVICE: u8 = 4;
pub const IPVS_CMD_NEW_DEST: u8 = 5;
pub const IPVS_CMD_SET_DEST: u8 = 6;
pub const IPVS_CMD_DEL_DEST: u8 = 7;
pub const IPVS_CMD_GET_DEST: u8 = 8;

pub const IPVS_CMD_NEW_DAEMON: u8 = 9;
pub const IPVS_CMD_DEL_DAEMON: u8 = 10;
pub const IPVS_CMD_SET_CONFIG: u8 = 12;
pub const IPVS_CMD_FLUSH: u8 = 17;

const IPVS_CMD_ATTR_SERVICE: u16 = 1;
const IPVS_CMD_ATTR_DEST: u16 = 2;
const IPVS_CMD_ATTR_DAEMON: u16 = 3;
const IPVS_CMD_ATTR_TIMEOUT_TCP: u16 = 4;
const IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
const IPVS_CMD_ATTR_TIMEOUT_UDP: u16 = 6;

const DAEMON_ATTR_STATE: u16 = 1;
const DAEMON_ATTR_MCAST_IFN: u16 = 2;
const DAEMON_ATTR_SYNC_ID: u16 = 3;
const DAEMON_ATTR_SYNC_MAXLEN: u16 = 4;
const DAEMON_ATTR_MCAST_GROUP: u16 = 5;
const DAEMON_ATTR_MCAST_GROUP6: u16 = 6;
const DAEMON_ATTR_MCAST_PORT: u16 = 7;
const DAEMON_ATTR_MCAST_TTL: u16 = 8;

const SVC_ATTR_AF: u16 = 1;
const SVC_ATTR_PROTOCOL: u16 = 2;
const SVC_ATTR_ADDR: u16 = 3;
const SVC_ATTR_PORT: u16 = 4;
const SVC_ATTR_FWMARK: u16 = 5;
const SVC_ATTR_SCHED_NAME: u16 = 6;
const SVC_ATTR_FLAGS: u16 = 7;
const SVC_ATTR_TIMEOUT: u16 = 8;
const SVC_ATTR_NETMASK: u16 = 9;
const SVC_ATTR_PE_NAME: u16 = 11;

const DEST_ATTR_ADDR: u16 = 1;
const DEST_ATTR_PORT: u16 = 2;
const DEST_ATTR_FWD_METHOD: u16 = 3;
const DEST_ATTR_WEIGHT: u16 = 4;
const DEST_ATTR_U_THRESH: u16 = 5;
const DEST_ATTR_L_THRESH: u16 = 6;
const DEST_ATTR_ADDR_FAMILY: u16 = 11;

const SVC_F_PERSISTENT: u32 = 0x0001;
/// Flags keeplite manages; the kernel adds IP_VS_SVC_F_HASHED (0x2) on its own.
const SVC_F_MANAGED: u32 = SVC_F_ONEPACKET | SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3;

const CONN_F_MASQ: u32 = 0;
const CONN_F_TUNNEL: u32 = 2;
const CONN_F_DROUTE: u32 = 3;
const CONN_F_FWD_MASK: u32 = 7;

/// One IPVS request, attributes already encoded (so emitting thousands is one memcpy each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    cmd: u8,
    attrs: Vec<u8>,
}

impl Request {
    pub fn op(op: &Op) -> Self {
        let mut a = Vec::with_capacity(128);
        let cmd = match op {
            Op::AddService(s) | Op::EditService(s) => {
                nest(&mut a, IPVS_CMD_ATTR_SERVICE, |a| put_service(a, s));
                if matches!(op, Op::AddService(_)) {
                    IPVS_CMD_NEW_SERVICE
                } else {
                    IPVS_CMD_SET_SERVICE
                }
            }
            Op::DelService(k) => {
                nest(&mut a, IPVS_CMD_ATTR_SERVICE, |a| put_service_key(a, k));
                IPVS_CMD_DEL_SERVICE
            }
            Op::AddDest(k, d) | Op::EditDest(k, d) => {
                nest(&mut a, IPVS_CMD_ATTR_SERVICE, |a| put_service_key(a, k));
                nest(&mut a, IPVS_CMD_ATTR_DEST, |a| put_dest(a, d));
                if matches!(op, Op::AddDest(..)) {
                    IPVS_CMD_NEW_DEST
                } else {
                    IPVS_CMD_SET_DEST
                }
            }
            Op::DelDest(k, d) => {
                nest(&mut a, IPVS_CMD_ATTR_SERVICE, |a| put_service_key(a, k));
                nest(&mut a, IPVS_CMD_ATTR_DEST, |a| put_dest_key(a, d));
                IPVS_CMD_DEL_DEST
            }
        };
        Request { cmd, attrs: a }
    }

    /// NEW_DAEMON / DEL_DAEMON for a sync daemon command.
    pub fn daemon(cmd: &Cmd) -> Self {
        let (cmd, d, mode) = match cmd {
            Cmd::Start(d, m) => (IPVS_CMD_NEW_DAEMON, d, *m),
            Cmd::Stop(d, m) => (IPVS_CMD_DEL_DAEMON, d, *m),
        };
        let mut a = Vec::with_capacity(64);
        nest(&mut a, IPVS_CMD_ATTR_DAEMON, |a| {
            put(a, DAEMON_ATTR_STATE, &(mode as u32).to_ne_bytes());
            let mut ifn = d.interface.as_bytes().to_vec();
            ifn.push(0);
            put(a, DAEMON_ATTR_MCAST_IFN, &ifn);
            put(a, DAEMON_ATTR_SYNC_ID, &u32::from(d.syncid).to_ne_bytes());
            if cmd == IPVS_CMD_DEL_DAEMON {
                return;
            }
            if let Some(v) = d.maxlen {
                put(a, DAEMON_ATTR_SYNC_MAXLEN, &v.to_ne_bytes());
            }
            if let Some(v) = d.port {
                put(a, DAEMON_ATTR_MCAST_PORT, &v.to_ne_bytes());
            }
            if let Some(v) = d.ttl {
                put(a, DAEMON_ATTR_MCAST_TTL, &[v]);
            }
            match d.group {
                Some(IpAddr::V4(g)) => put(a, DAEMON_ATTR_MCAST_GROUP, &g.octets()),
                Some(IpAddr::V6(g)) => put(a, DAEMON_ATTR_MCAST_GROUP6, &g.octets()),
                None => {}
            }
        });
        Request { cmd, attrs: a }
    }

    /// SET_CONFIG with the connection timeouts given (u32 seconds each, top-level attributes);
    /// the kernel keeps those not sent.
    pub fn set_timeouts(t: &LvsTimeouts) -> Self {
        let mut a = Vec::new();
        for (kind, v) in [
            (IPVS_CMD_ATTR_TIMEOUT_TCP, t.tcp),
            (IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, t.tcpfin),
            (IPVS_CMD_ATTR_TIMEOUT_UDP, t.udp),
        ] {
            if let Some(v) = v {
                put(&mut a, kind, &v.to_ne_bytes());
            }
        }
        Request {
            cmd: IPVS_CMD_SET_CONFIG,
            attrs: a,
        }
    }

    /// FLUSH: every service of the namespace goes, whoever added it.
    pub fn flush() -> Self {
        Request {
            cmd: IPVS_CMD_FLUSH,
            attrs: Vec::new(),
        }
    }

    /// GET_SERVICE; sent with NLM_F_DUMP it lists all services.
    pub fn dump_services() -> Self {
        Request {
            cmd: IPVS_CMD_GET_SERVICE,
            attrs: Vec::new(),
        }
    }

    /// GET_DEST with NLM_F_DUMP: the destinations of one service.
    pub fn dump_dests(key: &ServiceKey) -> Self {
        let mut a = Vec::new();
        nest(&mut a, IPVS_CMD_ATTR_SERVICE, |a| put_service_key(a, key));
        Request {
            cmd: IPVS_CMD_GET_DEST,
            attrs: a,
        }
    }
}

impl Request {
    /// Appends this request as a complete netlink message (family id resolved by the caller):
    /// nlmsghdr, genlmsghdr {cmd, version, reserved}, attributes.
    pub fn write_message(self, family: u16, flags: u16, seq: u32, out: &mut Vec<u8>) {
        let start = netlink::begin(out, family, flags, seq);
        out.extend_from_slice(&[self.cmd, IPVS_GENL_VERSION, 0, 0]);
        out.extend_from_slice(&self.attrs);
        netlink::end(out, start);
    }
}

fn inet_addr(ip: IpAddr) -> [u8; 16] {
    let mut b = [0; 16];
    match ip {
        IpAddr::V4(v4) => b[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => b = v6.octets(),
    }
    b
}

fn put_service_key(a: &mut Vec<u8>, key: &ServiceKey) {
    put(a, SVC_ATTR_AF, &key.family().af().to_ne_bytes());
    match key {
        ServiceKey::Addr { protocol, addr } => {
            put(a, SVC_ATTR_PROTOCOL, &protocol.number().to_ne_bytes());
            put(a, SVC_ATTR_ADDR, &inet_addr(addr.ip()));
            put(a, SVC_ATTR_PORT, &addr.port().to_be_bytes());
        }
        ServiceKey::Fwmark { mark, .. } => put(a, SVC_ATTR_FWMARK, &mark.to_ne_bytes()),
    }
}

fn put_service(a: &mut Vec<u8>, s: &Service) {
    put_service_key(a, &s.key);
    let mut name = [0u8; 8];
    let sched = s.params.scheduler.name().as_bytes();
    name[..sched.len()].copy_from_slice(sched);
    put(a, SVC_ATTR_SCHED_NAME, &name[..=sched.len()]);
    let (persistent, timeout, prefix) = match s.params.persistence {
        Some(p) => (SVC_F_PERSISTENT, p.timeout, p.prefix),
        None => (0, 0, max_prefix(s.key.family())),
    };
    if s.params.persistence.is_some_and(|p| p.sip) {
        put(a, SVC_ATTR_PE_NAME, b"sip\0");
    }
    let mut flags = [0u8; 8];
    flags[..4].copy_from_slice(&((s.params.flags & SVC_F_MANAGED) | persistent).to_ne_bytes());
    flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
    put(a, SVC_ATTR_FLAGS, &flags);
    put(a, SVC_ATTR_TIMEOUT, &timeout.to_ne_bytes());
    let netmask = match s.key.family() {
        Family::V4 => u32::MAX
            .checked_shl(32 - u32::from(prefix.min(32)))
            .unwrap_or(0)
            .to_be_bytes(),
        Family::V6 => u32::from(prefix).to_ne_bytes(),
    };
    put(a, SVC_ATTR_NETMASK, &netmask);
}

fn max_prefix(family: Family) -> u8 {
    match family {
        Family::V4 => 32,
        Family::V6 => 128,
    }
}

fn put_dest_key(a: &mut Vec<u8>, d: &DestKey) {
    put(a, DEST_ATTR_ADDR, &inet_addr(d.addr));
    put(a, DEST_ATTR_PORT, &d.port.to_be_bytes());
}

fn put_dest(a: &mut Vec<u8>, d: &Dest) {
    put_dest_key(a, &d.key);
    let fwd = match d.params.forward {
        Forward::Masq => CONN_F_MASQ,
        Forward::Tunnel => CONN_F_TUNNEL,
        Forward::Direct => CONN_F_DROUTE,
    };
    put(a, DEST_ATTR_FWD_METHOD, &fwd.to_ne_bytes());
    put(a, DEST_ATTR_WEIGHT, &d.params.weight.to_ne_bytes());
    put(
        a,
        DEST_ATTR_U_THRESH,
        &d.params.upper_threshold.to_ne_bytes(),
    );
    put(
        a,
        DEST_ATTR_L_THRESH,
        &d.params.lower_threshold.to_ne_bytes(),
    );
    put(
        a,
        DEST_ATTR_ADDR_FAMILY,
        &Family::of(d.key.addr).af().to_ne_bytes(),
    );
}

/// A decoded kernel reply of a GET_SERVICE / GET_DEST dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Service(Service),
    Dest(Dest),
}

impl Reply {
    /// Decodes one complete netlink message of an IPVS dump.
    pub fn decode(message: &[u8]) -> Result<Self, DecodeError> {
        let m = netlink::messages(message)
            .next()
            .ok_or("not a complete netlink message")?;
        if m.ty == NLMSG_ERROR || m.ty == NLMSG_DONE {
            return Err(format!("not an IPVS reply: netlink message type {}", m.ty));
        }
        let genl = m
            .payload
            .get(..4)
            .ok_or("generic netlink header cut short")?;
        Self::parse(genl[0], &m.payload[4..])
    }

    /// The attributes after the generic netlink header of a reply to command `cmd`.
    fn parse(cmd: u8, buf: &[u8]) -> Result<Self, DecodeError> {
        let (want, what) = match cmd {
            IPVS_CMD_NEW_SERVICE => (IPVS_CMD_ATTR_SERVICE, "service"),
            IPVS_CMD_NEW_DEST => (IPVS_CMD_ATTR_DEST, "destination"),
            other => return Err(format!("unexpected IPVS reply command {other}")),
        };
        for nla in attrs(buf, 0) {
            let (kind, value) = nla?;
            if kind == want {
                return if want == IPVS_CMD_ATTR_SERVICE {
                    parse_service(value).map(Reply::Service)
                } else {
                    parse_dest(value).map(Reply::Dest)
                };
            }
        }
        Err(format!("IPVS {what} reply without its {what} attribute"))
    }
}

/// Attribute values by kind (only the kinds we read; later duplicates win like the kernel's).
struct Attrs<'a>([Option<&'a [u8]>; 12]);

impl<'a> Attrs<'a> {
    fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut found = [None; 12];
        for nla in attrs(buf, 0) {
            let (kind, value) = nla?;
            if let Some(slot) = found.get_mut(usize::from(kind)) {
                *slot = Some(value);
            }
        }
        Ok(Attrs(found))
    }

    fn get(&self, kind: u16, what: &str) -> Result<&'a [u8], DecodeError> {
        self.0[usize::from(kind)].ok_or_else(|| format!("IPVS reply lacks {what}"))
    }

    fn u16(&self, kind: u16, what: &str) -> Result<u16, DecodeError> {
        Ok(u16::from_ne_bytes(fixed(self.get(kind, what)?, what)?))
    }

    fn u32(&self, kind: u16, what: &str) -> Result<u32, DecodeError> {
        Ok(u32::from_ne_bytes(fixed(self.get(kind, what)?, what)?))
    }

    fn port(&self, kind: u16) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(fixed(self.get(kind, "port")?, "port")?))
    }

    fn addr(&self, kind: u16, family: Family) -> Result<IpAddr, DecodeError> {
        let b: [u8; 16] = fixed(self.get(kind, "address")?, "address")?;
        Ok(match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(b)),
        })
    }
}

fn fixed<const N: usize>(value: &[u8], what: &str) -> Result<[u8; N], DecodeError> {
    value
        .try_into()
        .map_err(|_| format!("IPVS {what}: expected {N} bytes, got {}", value.len()))
}

fn family(af: u16) -> Result<Family, DecodeError> {
    Family::from_af(af).ok_or_else(|| format!("unknown address family {af}"))
}

fn parse_service(buf: &[u8]) -> Result<Service, DecodeError> {
    let a = Attrs::parse(buf)?;
    let fam = family(a.u16(SVC_ATTR_AF, "address family")?)?;
    let key = match a.0[usize::from(SVC_ATTR_FWMARK)] {
        Some(m) => ServiceKey::Fwmark {
            family: fam,
            mark: u32::from_ne_bytes(fixed(m, "fwmark")?),
        },
        None => {
            let p = a.u16(SVC_ATTR_PROTOCOL, "protocol")?;
            ServiceKey::Addr {
                protocol: Protocol::from_number(p)
                    .ok_or_else(|| format!("unknown IPVS protocol {p}"))?,
                addr: SocketAddr::new(a.addr(SVC_ATTR_ADDR, fam)?, a.port(SVC_ATTR_PORT)?),
            }
        }
    };
    let name = a.get(SVC_ATTR_SCHED_NAME, "scheduler")?;
    let name = name.split(|b| *b == 0).next().unwrap_or_default();
    let name = std::str::from_utf8(name).map_err(|_| "scheduler name is not UTF-8".to_owned())?;
    let scheduler =
        Scheduler::from_name(name).ok_or_else(|| format!("unknown IPVS scheduler {name:?}"))?;
    let flags: [u8; 8] = fixed(a.get(SVC_ATTR_FLAGS, "flags")?, "flags")?;
    let flags = u32::from_ne_bytes([flags[0], flags[1], flags[2], flags[3]]);
    let netmask: [u8; 4] = fixed(a.get(SVC_ATTR_NETMASK, "netmask")?, "netmask")?;
    let persistence = if flags & SVC_F_PERSISTENT != 0 {
        let prefix = match fam {
            Family::V4 => u32::from_be_bytes(netmask).count_ones(),
            Family::V6 => u32::from_ne_bytes(netmask).min(128),
        };
        Some(Persistence {
            timeout: a.u32(SVC_ATTR_TIMEOUT, "timeout")?,
            prefix: prefix as u8,
            sip: a.0[usize::from(SVC_ATTR_PE_NAME)].is_some_and(|n| n.starts_with(b"sip\0")),
        })
    } else {
        None
    };
    Ok(Service {
        key,
        params: ServiceParams {
            scheduler,
            persistence,
            flags: flags & SVC_F_MANAGED,
        },
    })
}

fn parse_dest(buf: &[u8]) -> Result<Dest, DecodeError> {
    let a = Attrs::parse(buf)?;
    // Kernels before 4.1 omit the family; the address length does not tell it (always 16).
    let fam = match a.0[usize::from(DEST_ATTR_ADDR_FAMILY)] {
        Some(_) => family(a.u16(DEST_ATTR_ADDR_FAMILY, "address family")?)?,
        None => Family::V4,
    };
    let fwd = a.u32(DEST_ATTR_FWD_METHOD, "forwarding method")? & CONN_F_FWD_MASK;
    let forward = match fwd {
        CONN_F_MASQ => Forward::Masq,
        CONN_F_TUNNEL => Forward::Tunnel,
        CONN_F_DROUTE => Forward::Direct,
        other => return Err(format!("unsupported IPVS forwarding method {other}")),
    };
    Ok(Dest {
        key: DestKey {
            addr: a.addr(DEST_ATTR_ADDR, fam)?,
            port: a.port(DEST_ATTR_PORT)?,
        },
        params: DestParams {
            forward,
            weight: a.u32(DEST_ATTR_WEIGHT, "weight")?,
            upper_threshold: a.u32(DEST_ATTR_U_THRESH, "upper threshold")?,
            lower_threshold: a.u32(DEST_ATTR_L_THRESH, "lower threshold")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::syncd::{Mode, SyncDaemon};

    // Kernel replies captured in the qemu VM (Debian 6.1 kernel) by tests/ipvs_kvm.rs
    // `vm_capture_kernel_replies`: nlmsghdr + genlmsghdr + attributes, stats included.
    const SERVICE_V4_PERSISTENT: &str = concat!(
        "40010000200002000b00000068000000010100002c0101000600010002000000060002000600000014000300",
        "0a010001000000000000000000000000060004000050000008000600776c63000c00070003000000ffffffff",
        "080008005802000008000900ffffff005c000a00080001000000000008000200000000000800030000000000",
        "0c00040000000000000000000c00050000000000000000000800060000000000080007000000000008000800",
        "00000000080009000000000008000a00000000007c000c000c00010000000000000000000c00020000000000",
        "000000000c00030000000000000000000c00040000000000000000000c00050000000000000000000c000600",
        "00000000000000000c00070000000000000000000c00080000000000000000000c0009000000000000000000",
        "0c000a000000000000000000",
    );

    const SERVICE_V6: &str = concat!(
        "40010000200002000b00000068000000010100002c010100060001000a000000060002000600000014000300",
        "20010db80000000000000000000000010600040001bb000007000600727200000c00070002000000ffffffff",
        "080008000000000008000900800000005c000a00080001000000000008000200000000000800030000000000",
        "0c00040000000000000000000c00050000000000000000000800060000000000080007000000000008000800",
        "00000000080009000000000008000a00000000007c000c000c00010000000000000000000c00020000000000",
        "000000000c00030000000000000000000c00040000000000000000000c00050000000000000000000c000600",
        "00000000000000000c00070000000000000000000c00080000000000000000000c0009000000000000000000",
        "0c000a000000000000000000",
    );

    const DEST_V4_DR: &str = concat!(
        "64010000200002000c000000680000000501000050010200140001000a020002000000000000000000000000",
        "060002001f9000000800030003000000080004006400000005000d000000000006000e000000000006000f00",
        "0000000008000500000000000800060000000000080007000000000008000800000000000800090000000000",
        "06000b00020000005c000a000800010000000000080002000000000008000300000000000c00040000000000",
        "000000000c000500000000000000000008000600000000000800070000000000080008000000000008000900",
        "0000000008000a00000000007c000c000c00010000000000000000000c00020000000000000000000c000300",
        "00000000000000000c00040000000000000000000c00050000000000000000000c0006000000000000000000",
        "0c00070000000000000000000c00080000000000000000000c00090000000000000000000c000a0000000000",
        "00000000",
    );

    const DEST_V6_MASQ: &str = concat!(
        "64010000200002000d0000006800000005010000500102001400010020010db8000000000000000000000010",
        "0600020001bb00000800030000000000080004000300000005000d000000000006000e000000000006000f00",
        "0000000008000500000000000800060000000000080007000000000008000800000000000800090000000000",
        "06000b000a0000005c000a000800010000000000080002000000000008000300000000000c00040000000000",
        "000000000c000500000000000000000008000600000000000800070000000000080008000000000008000900",
        "0000000008000a00000000007c000c000c00010000000000000000000c00020000000000000000000c000300",
        "00000000000000000c00040000000000000000000c00050000000000000000000c0006000000000000000000",
        "0c00070000000000000000000c00080000000000000000000c00090000000000000000000c000a0000000000",
        "00000000",
    );

    // `ipvsadm -A -t 10.1.0.1:80 -s wlc -p 600 -M 255.255.255.0` (ipvsadm 1.31, libnl), captured
    // on an nlmon device in the VM (tests/ipvs_kvm.rs `vm_requests_match_ipvsadm`).
    const IPVSADM_NEW_SERVICE: &str = concat!(
        "68000000200005004e54026b7600c06a01010000540001800600010002000000060002000600000014000300",
        "0a010001000000000000000000000000060004000050000008000600776c63000c00070001000000ffffffff",
        "080008005802000008000900ffffff00",
    );

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn decode(hex: &str) -> Reply {
        Reply::decode(&unhex(hex)).unwrap()
    }

    fn web_v4() -> Service {
        Service {
            key: ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.1.0.1:80".parse().unwrap(),
            },
            params: ServiceParams {
                scheduler: Scheduler::Wlc,
                persistence: Some(Persistence {
                    timeout: 600,
                    prefix: 24,
                    sip: false,
                }),
                flags: 0,
            },
        }
    }

    #[test]
    fn decodes_captured_kernel_service_replies() {
        assert_eq!(decode(SERVICE_V4_PERSISTENT), Reply::Service(web_v4()));
        let v6 = Service {
            key: ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "[2001:db8::1]:443".parse().unwrap(),
            },
            params: ServiceParams {
                scheduler: Scheduler::Rr,
                persistence: None,
                flags: 0,
            },
        };
        assert_eq!(decode(SERVICE_V6), Reply::Service(v6));
    }

    #[test]
    fn decodes_captured_kernel_dest_replies() {
        let dest = |addr: &str, forward, weight| {
            Reply::Dest(Dest::new(addr.parse().unwrap(), forward, weight))
        };
        assert_eq!(
            decode(DEST_V4_DR),
            dest("10.2.0.2:8080", Forward::Direct, 100)
        );
        assert_eq!(
            decode(DEST_V6_MASQ),
            dest("[2001:db8::10]:443", Forward::Masq, 3)
        );
    }

    #[test]
    fn service_request_attributes_match_the_kernel_layout() {
        // The attributes keeplite sends for NEW_SERVICE are the ones the kernel dumps back,
        // byte for byte, up to the statistics (the reply's ADDR..NETMASK run).
        let req = Request::op(&Op::AddService(web_v4()));
        assert_eq!(req.cmd, IPVS_CMD_NEW_SERVICE);
        let reply = unhex(SERVICE_V4_PERSISTENT);
        // nlmsghdr (16) + genlmsghdr (4) + nest header (4) = 24; keeplite's nest holds no stats.
        let sent = &req.attrs[4..];
        let mut kernel = reply[24..24 + sent.len()].to_vec();
        // SVC_ATTR_FLAGS value (after AF, PROTOCOL, ADDR, PORT, SCHED_NAME, FLAGS header):
        // the kernel adds IP_VS_SVC_F_HASHED to the PERSISTENT keeplite set.
        assert_eq!(kernel[56], 0x03);
        kernel[56] &= !0x02;
        assert_eq!(sent, &kernel[..]);
    }

    #[test]
    fn new_service_request_is_what_ipvsadm_sends() {
        let theirs = unhex(IPVSADM_NEW_SERVICE);
        let family = u16::from_ne_bytes([theirs[4], theirs[5]]);
        let mut mine = Vec::new();
        Request::op(&Op::AddService(web_v4())).write_message(family, 0, 0, &mut mine);
        assert_eq!(mine.len(), theirs.len());
        // nlmsghdr flags, sequence number and port id are per-client.
        assert_eq!(&mine[..6], &theirs[..6]);
        assert_eq!(&mine[16..], &theirs[16..]);
    }

    #[test]
    fn del_dest_request_bytes() {
        let key = ServiceKey::Fwmark {
            family: Family::V4,
            mark: 7,
        };
        let dest = DestKey {
            addr: "10.2.0.4".parse().unwrap(),
            port: 0,
        };
        let req = Request::op(&Op::DelDest(key, dest));
        assert_eq!(req.cmd, IPVS_CMD_DEL_DEST);
        let want = concat!(
            "14000180",                                 // CMD_ATTR_SERVICE | NLA_F_NESTED, 20 bytes
            "0600010002000000",                         // SVC_ATTR_AF = AF_INET, padded
            "0800050007000000",                         // SVC_ATTR_FWMARK = 7
            "20000280",                                 // CMD_ATTR_DEST | NLA_F_NESTED, 32 bytes
            "140001000a020004000000000000000000000000", // DEST_ATTR_ADDR (nf_inet_addr)
            "0600020000000000",                         // DEST_ATTR_PORT = 0 (be16), padded
        );
        assert_eq!(req.attrs, unhex(want));
    }

    fn sync_daemon() -> SyncDaemon {
        SyncDaemon {
            interface: "eth0".into(),
            syncid: 5,
            maxlen: None,
            port: None,
            ttl: None,
            group: None,
        }
    }

    #[test]
    fn sync_daemon_request_bytes() {
        let req = Request::daemon(&Cmd::Start(sync_daemon(), Mode::Master));
        assert_eq!(req.cmd, IPVS_CMD_NEW_DAEMON);
        let want = concat!(
            "20000380",                 // CMD_ATTR_DAEMON | NLA_F_NESTED, 32 bytes
            "0800010001000000",         // DAEMON_ATTR_STATE = IP_VS_STATE_MASTER
            "090002006574683000000000", // DAEMON_ATTR_MCAST_IFN = "eth0\0", padded
            "0800030005000000",         // DAEMON_ATTR_SYNC_ID = 5
        );
        assert_eq!(req.attrs, unhex(want));
        // Stopping names the same daemon; the multicast options are for starting only.
        let tuned = SyncDaemon {
            maxlen: Some(1400),
            port: Some(8849),
            ttl: Some(2),
            group: Some("239.1.2.3".parse().unwrap()),
            ..sync_daemon()
        };
        let req = Request::daemon(&Cmd::Stop(tuned.clone(), Mode::Backup));
        assert_eq!(req.cmd, IPVS_CMD_DEL_DAEMON);
        assert_eq!(req.attrs, unhex(&want.replace("01000000", "02000000")));
        let req = Request::daemon(&Cmd::Start(tuned, Mode::Backup));
        let want = concat!(
            "40000380",
            "0800010002000000",         // STATE = IP_VS_STATE_BACKUP
            "090002006574683000000000", // MCAST_IFN
            "0800030005000000",         // SYNC_ID
            "0600040078050000",         // SYNC_MAXLEN = 1400, padded
            "0600070091220000",         // MCAST_PORT = 8849, padded
            "0500080002000000",         // MCAST_TTL = 2, padded
            "08000500ef010203",         // MCAST_GROUP = 239.1.2.3, network order
        );
        assert_eq!(req.attrs, unhex(want));
        let v6 = SyncDaemon {
            group: Some("ff02::1:81".parse().unwrap()),
            ..sync_daemon()
        };
        let attrs = Request::daemon(&Cmd::Start(v6, Mode::Master)).attrs;
        assert_eq!(
            &attrs[32..],
            &unhex("14000600ff020000000000000000000000010081")[..]
        );
    }

    #[test]
    fn persistence_engine_follows_the_scheduler_as_in_libipvs() {
        let mut svc = web_v4();
        svc.params.persistence = svc
            .params
            .persistence
            .map(|p| Persistence { sip: true, ..p });
        let attrs = Request::op(&Op::AddService(svc)).attrs;
        // Nest header, AF, PROTOCOL, ADDR, PORT, SCHED_NAME "wlc\0": 56 bytes, then
        // SVC_ATTR_PE_NAME = "sip\0", then the rest as without an engine.
        assert_eq!(&attrs[56..64], &unhex("08000b0073697000")[..]);
        let plain = Request::op(&Op::AddService(web_v4())).attrs;
        assert_eq!([&attrs[4..56], &attrs[64..]].concat(), plain[4..]);
    }

    #[test]
    fn timeout_and_flush_request_bytes() {
        let t = LvsTimeouts {
            tcp: Some(7200),
            tcpfin: None,
            udp: Some(30),
        };
        let req = Request::set_timeouts(&t);
        assert_eq!(req.cmd, IPVS_CMD_SET_CONFIG);
        // IPVS_CMD_ATTR_TIMEOUT_TCP = 7200, IPVS_CMD_ATTR_TIMEOUT_UDP = 30; no TCP_FIN.
        assert_eq!(req.attrs, unhex("08000400201c0000080006001e000000"));
        let req = Request::flush();
        assert_eq!((req.cmd, req.attrs.len()), (IPVS_CMD_FLUSH, 0));
    }

    #[test]
    fn truncated_or_garbled_replies_are_errors() {
        let full = unhex(SERVICE_V4_PERSISTENT);
        let attrs = &full[20..];
        for cut in [0, 3, 8, 30, 60] {
            assert!(
                Reply::parse(IPVS_CMD_NEW_SERVICE, &attrs[..cut]).is_err(),
                "cut {cut}"
            );
        }
        assert!(Reply::parse(99, attrs).is_err());
        for cut in [0, 15, 16, 19, full.len() - 1] {
            assert!(Reply::decode(&full[..cut]).is_err(), "cut {cut}");
        }
    }
}
