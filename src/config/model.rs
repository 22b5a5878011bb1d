//! The typed configuration model. Everything here is validated and has keepalived's defaults
//! filled in, so consumers (VRRP daemon, IPVS, checkers) never see a half-specified value.
//!
//! Durations are `std::time::Duration`; VRRP v3 intervals keep centisecond resolution.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// A whole keepalived.conf.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Config {
    pub global: GlobalDefs,
    pub vrrp_scripts: Vec<VrrpScript>,
    pub track_files: Vec<TrackFile>,
    pub track_processes: Vec<TrackProcess>,
    pub sync_groups: Vec<SyncGroup>,
    pub instances: Vec<VrrpInstance>,
    pub server_groups: Vec<VirtualServerGroup>,
    pub virtual_servers: Vec<VirtualServer>,
    /// `static_ipaddress`, `static_routes`, `static_rules`: installed at start, kept while
    /// running, removed at exit.
    pub static_ipaddress: Vec<VirtualIp>,
    pub static_routes: Vec<Route>,
    pub static_rules: Vec<Rule>,
}

/// `global_defs { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalDefs {
    pub router_id: Option<String>,
    /// Default 224.0.0.18 (RFC 5798 §5.1.1.2).
    pub vrrp_mcast_group4: Ipv4Addr,
    /// Default ff02::12 (RFC 5798 §5.1.2.2).
    pub vrrp_mcast_group6: Ipv6Addr,
    /// Default VRRP version for instances without `version` (2 or 3; default 2).
    pub vrrp_version: u8,
    /// Gratuitous ARP / NA bursts after becoming master (instance defaults).
    pub garp: Garp,
    /// Delay between gratuitous ARPs sent on one interface; zero = no delay.
    pub vrrp_garp_interval: Duration,
    /// Delay between unsolicited neighbour advertisements on one interface; zero = no delay.
    pub vrrp_gna_interval: Duration,
    pub vrrp_strict: bool,
    pub vrrp_skip_check_adv_addr: bool,
    /// Instance defaults of `lower_prio_no_advert` / `higher_prio_send_advert`.
    pub vrrp_lower_prio_no_advert: bool,
    pub vrrp_higher_prio_send_advert: bool,
    /// `vrrp_priority` / `checker_priority`: nice values (-20..19) for the process.
    pub vrrp_priority: Option<i8>,
    pub checker_priority: Option<i8>,
    /// `vrrp_no_swap` / `checker_no_swap`: lock the process's memory.
    pub vrrp_no_swap: bool,
    /// keeplite `vrrp_raw_adverts`: multicast adverts through the raw IP socket, as
    /// keepalived sends them (netfilter's OUTPUT chain sees them), not as prebuilt frames.
    pub vrrp_raw_adverts: bool,
    pub checker_no_swap: bool,
    /// `vrrp_rt_priority` / `checker_rt_priority`: realtime (SCHED_RR) priorities, 1..99.
    pub vrrp_rt_priority: Option<u8>,
    pub checker_rt_priority: Option<u8>,
    /// `max_auto_priority [N]`: the realtime (SCHED_RR) priority the process may raise itself
    /// to when its timers run late (0: never).
    pub max_auto_priority: u8,
    /// `min_auto_priority_delay USECS`: how late counts as late (default 1 s).
    pub min_auto_priority_delay: Duration,
    /// `default_interface`: the interface of instances that name none.
    pub default_interface: Option<String>,
    /// `vmac_prefix`: the start of generated `use_vmac` names (default `vrrp`).
    pub vmac_prefix: Option<String>,
    /// Wait this long after start before running the VRRP state machines.
    pub vrrp_startup_delay: Duration,
    /// `script_user USER [GROUP]`.
    pub script_user: Option<ScriptUser>,
    pub enable_script_security: bool,
    /// `notify_fifo`: VRRP and LVS events, one line each (keepalived's format).
    pub notify_fifo: NotifyFifo,
    /// `vrrp_notify_fifo`: VRRP events only.
    pub vrrp_notify_fifo: NotifyFifo,
    /// `lvs_notify_fifo`: virtual and real server events only.
    pub lvs_notify_fifo: NotifyFifo,
    /// Instance default of `notify_priority_changes`.
    pub vrrp_notify_priority_changes: bool,
    /// keeplite: kernel lifetime given to installed VIPs, refreshed by the live master.
    pub vip_lease: VipLease,
    /// keeplite: hardware watchdog device (e.g. /dev/watchdog), none = no watchdog.
    pub watchdog_device: Option<PathBuf>,
    /// keeplite: watchdog timeout in seconds (default 10).
    pub watchdog_timeout: u32,
    /// keeplite: unix socket for `keeplite status` / `keeplite reload`.
    pub control_socket: PathBuf,
    /// E-mail alerts (`notification_email`, `smtp_server`, ...).
    pub smtp: Smtp,
    /// `lvs_sync_daemon`: the kernel's IPVS connection sync daemons, following one instance.
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    /// `lvs_timeouts`: the kernel's IPVS connection timeouts, in seconds (unset: unchanged).
    pub lvs_timeouts: LvsTimeouts,
    /// `lvs_flush`: empty the whole IPVS table at start.
    pub lvs_flush: bool,
    /// `lvs_flush_on_stop`: empty the whole IPVS table at exit (not only keeplite's services).
    pub lvs_flush_on_stop: bool,
}

/// `lvs_timeouts [tcp N] [tcpfin N] [udp N]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LvsTimeouts {
    pub tcp: Option<u32>,
    pub tcpfin: Option<u32>,
    pub udp: Option<u32>,
}

/// `lvs_sync_daemon IFACE INSTANCE [id N] [maxlen N] [port N] [ttl N] [group ADDR]`: a master
/// sync daemon while `instance` is MASTER, a backup one otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LvsSyncDaemon {
    pub interface: String,
    pub instance: String,
    /// None: the instance's VRID, as keepalived.
    pub syncid: Option<u8>,
    /// Unset: the kernel's defaults (maxlen from the MTU, port 8848, ttl 1, 224.0.0.81).
    pub maxlen: Option<u16>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
    pub group: Option<IpAddr>,
}

/// keepalived's SMTP alert settings. Mail goes out only with both recipients and a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Smtp {
    /// `notification_email { ... }`: the recipients.
    pub to: Vec<String>,
    /// Default `root@HOSTNAME`, as keepalived (`USER@HOSTNAME` of the daemon).
    pub from: Option<String>,
    /// `smtp_server IP [PORT]` (port 25 by default).
    pub server: Option<SocketAddr>,
    /// Default: the host name, as keepalived.
    pub helo_name: Option<String>,
    /// Default 30 s; also bounds every later wait for the server.
    pub connect_timeout: Duration,
    /// Default for instances, sync groups and virtual servers without their own `smtp_alert`.
    pub alert: Option<bool>,
    /// Overrides `alert` for instances and sync groups.
    pub alert_vrrp: Option<bool>,
    /// Overrides `alert` for virtual servers.
    pub alert_checker: Option<bool>,
    /// `no_email_faults`: no mail for FAULT states.
    pub no_email_faults: bool,
    /// `no_checker_emails`: mail a checker's change only when it changes its real server's.
    pub no_checker_emails: bool,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            to: Vec::new(),
            from: None,
            server: None,
            helo_name: None,
            connect_timeout: Duration::from_secs(30),
            alert: None,
            alert_vrrp: None,
            alert_checker: None,
            no_email_faults: false,
            no_checker_emails: false,
        }
    }
}

impl Smtp {
    /// Whether a VRRP instance or sync group with `own` (`smtp_alert`) sends mail, as
    /// keepalived resolves it: its own setting, else `smtp_alert_vrrp`, else `smtp_alert`.
    pub fn vrrp_alert(&self, own: Option<bool>) -> bool {
        own.or(self.alert_vrrp).or(self.alert).unwrap_or(false)
    }

    /// The same for a virtual server, with `smtp_alert_checker`.
    pub fn checker_alert(&self, own: Option<bool>) -> bool {
        own.or(self.alert_checker).or(self.alert).unwrap_or(false)
    }
}

/// Default control socket path.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/keeplite.sock";

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            vrrp_mcast_group4: crate::proto::vrrp::MCAST_V4,
            vrrp_mcast_group6: crate::proto::vrrp::MCAST_V6,
            vrrp_version: 2,
            garp: Garp::default(),
            vrrp_garp_interval: Duration::ZERO,
            vrrp_gna_interval: Duration::ZERO,
            vrrp_strict: false,
            vrrp_skip_check_adv_addr: false,
            vrrp_lower_prio_no_advert: false,
            vrrp_higher_prio_send_advert: false,
            vrrp_priority: None,
            checker_priority: None,
            vrrp_no_swap: false,
            vrrp_raw_adverts: false,
            checker_no_swap: false,
            vrrp_rt_priority: None,
            checker_rt_priority: None,
            max_auto_priority: 0,
            min_auto_priority_delay: Duration::from_secs(1),
            default_interface: None,
            vmac_prefix: None,
            vrrp_startup_delay: Duration::ZERO,
            script_user: None,
            enable_script_security: false,
            notify_fifo: NotifyFifo::default(),
            vrrp_notify_fifo: NotifyFifo::default(),
            lvs_notify_fifo: NotifyFifo::default(),
            vrrp_notify_priority_changes: false,
            vip_lease: VipLease::Auto,
            watchdog_device: None,
            watchdog_timeout: 10,
            control_socket: PathBuf::from(DEFAULT_CONTROL_SOCKET),
            smtp: Smtp::default(),
            lvs_sync_daemon: None,
            lvs_timeouts: LvsTimeouts::default(),
            lvs_flush: false,
            lvs_flush_on_stop: false,
        }
    }
}

/// `*notify_fifo PATH [USER [GROUP]]` and `*notify_fifo_script CMD [USER [GROUP]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NotifyFifo {
    pub path: Option<PathBuf>,
    /// Owner given to a FIFO keeplite creates.
    pub owner: Option<ScriptUser>,
    /// Reader started with the FIFO's path as its last argument, stopped with SIGTERM.
    pub script: Option<String>,
    pub script_user: Option<ScriptUser>,
}

/// Gratuitous ARP / unsolicited NA timing after a transition to master.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Garp {
    /// Delay before the second burst (default 5 s; zero = no second burst).
    pub master_delay: Duration,
    /// Messages per burst (default 5).
    pub master_repeat: u32,
    /// Re-announce periodically while master (zero = never, the default).
    pub master_refresh: Duration,
    /// Messages per refresh (default 1).
    pub master_refresh_repeat: u32,
    /// Second burst this long after a lower priority advert reached the master (unset: the
    /// global `vrrp_garp_master_delay`, as keepalived; zero = none).
    pub lower_prio_delay: Option<Duration>,
    /// Messages per burst answering a lower priority advert (unset: the global
    /// `vrrp_garp_master_repeat`; zero = none).
    pub lower_prio_repeat: Option<u32>,
}

impl Garp {
    /// The global values an instance starts from: the lower-priority ones default to the
    /// master ones here (keepalived's init_global_data), to none under `vrrp_strict`.
    pub fn instance_defaults(&self, strict: bool) -> Garp {
        let delay = self.lower_prio_delay.unwrap_or(self.master_delay);
        let repeat = self.lower_prio_repeat.unwrap_or(self.master_repeat);
        Garp {
            lower_prio_delay: Some(if strict { Duration::ZERO } else { delay }),
            lower_prio_repeat: Some(if strict { 0 } else { repeat }),
            ..*self
        }
    }
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: Duration::ZERO,
            master_refresh_repeat: 1,
            lower_prio_delay: None,
            lower_prio_repeat: None,
        }
    }
}

/// keeplite's VIP lease: VIPs get a kernel valid/preferred lifetime so a crashed master's
/// addresses expire instead of lingering on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VipLease {
    /// The daemon derives the lease from the instance's master-down interval.
    Auto,
    /// VIPs are installed permanent, as keepalived does.
    Off,
    /// Fixed lease in seconds.
    Seconds(u32),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptUser {
    pub user: String,
    pub group: Option<String>,
}

/// `track_file NAME { ... }` (`vrrp_track_file` is keepalived's older name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackFile {
    pub name: String,
    pub file: PathBuf,
    /// Multiplies the value read (default 1; 0: a non-zero value is a fault).
    pub weight: i32,
    pub reverse: bool,
    /// `init_file [VALUE] [overwrite]`: written at start if absent (always with overwrite).
    pub init: Option<(i64, bool)>,
}

/// `vrrp_track_process NAME { ... }` (`track_process` too): how many processes of a name run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackProcess {
    pub name: String,
    /// The process name (`comm`, or the command's first word with `full_command`).
    pub process: String,
    /// Its parameters as keepalived compares them: each followed by a NUL.
    pub params: Option<Vec<u8>>,
    pub param_match: ParamMatch,
    /// Compare the command line (`/proc/PID/cmdline`) rather than `comm`.
    pub full_command: bool,
    /// Up while `quorum <= count <= quorum_max` (default 1 and unbounded).
    pub quorum: u32,
    pub quorum_max: u32,
    /// How long a quorum change caused by a fork / an exit waits (`delay` sets both).
    pub fork_delay: Duration,
    pub terminate_delay: Duration,
    /// Priority change, as a vrrp_script's (0: fault without quorum).
    pub weight: i32,
    pub reverse: bool,
}

impl TrackProcess {
    /// keepalived's defaults (alloc_vrrp_process): quorum 1, no upper bound, no delay, weight 0.
    pub fn new(name: &str, process: &str) -> TrackProcess {
        TrackProcess {
            name: name.into(),
            process: process.into(),
            params: None,
            param_match: ParamMatch::None,
            full_command: false,
            quorum: 1,
            quorum_max: u32::MAX,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
            weight: 0,
            reverse: false,
        }
    }
}

/// `param_match`: how the parameters compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamMatch {
    /// No parameters given: any (keepalived's PARAM_MATCH_NONE).
    None,
    Exact,
    /// The given parameters are the first ones.
    Partial,
    /// As `Partial`, the last one may be a prefix of the actual one.
    Initial,
}

/// `vrrp_script NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VrrpScript {
    pub name: String,
    /// Command line, run without a shell (split on whitespace by the checker).
    pub script: String,
    /// Default 1 s.
    pub interval: Duration,
    /// Default: the interval.
    pub timeout: Duration,
    /// Priority change while the script succeeds (>0) or fails (<0); 0 = fault on failure.
    pub weight: i32,
    /// `weight N reverse`: apply the weight in the opposite direction.
    pub weight_reverse: bool,
    /// Successes needed to count as up (default 1).
    pub rise: u32,
    /// Failures needed to count as down (default 1).
    pub fall: u32,
    /// Start in the failed state (`init_fail`).
    pub init_fail: bool,
    pub user: Option<ScriptUser>,
}

/// Notify scripts shared by instances and sync groups.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Notify {
    pub master: Option<String>,
    pub backup: Option<String>,
    pub fault: Option<String>,
    pub stop: Option<String>,
    /// Called on every transition with `GROUP|INSTANCE NAME STATE PRIORITY`.
    pub any: Option<String>,
}

/// `vrrp_sync_group NAME { group { ... } ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncGroup {
    pub name: String,
    /// Names of member `vrrp_instance`s (all exist; unknown ones are dropped with a warning).
    pub group: Vec<String>,
    pub notify: Notify,
    pub track_script: Vec<TrackScript>,
    /// Default of its instances' `notify_priority_changes`.
    pub notify_priority_changes: Option<bool>,
    /// `smtp_alert [yes|no]`; unset = the global default.
    pub smtp_alert: Option<bool>,
}

/// Initial state requested by `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitialState {
    Master,
    Backup,
}

/// `vrrp_instance NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VrrpInstance {
    pub name: String,
    /// Default BACKUP.
    pub state: InitialState,
    pub interface: String,
    pub virtual_router_id: u8,
    /// 1..=255. Default 100, or 255 for `state MASTER` without `priority` (as keepalived).
    pub priority: u8,
    /// Default 1 s; centisecond resolution; whole seconds for VRRPv2.
    pub advert_int: Duration,
    /// 2 or 3 (default `global_defs vrrp_version`).
    pub version: u8,
    /// Simple password (first 8 bytes, VRRPv2 only). AH is not supported (dropped with a warning).
    pub auth_pass: Option<String>,
    pub virtual_ipaddress: Vec<VirtualIp>,
    /// VIPs handled like the others but not carried in adverts.
    pub virtual_ipaddress_excluded: Vec<VirtualIp>,
    pub track_interface: Vec<TrackInterface>,
    pub track_script: Vec<TrackScript>,
    pub unicast_src_ip: Option<IpAddr>,
    /// Non-empty = unicast mode.
    pub unicast_peer: Vec<IpAddr>,
    /// IP TTL / hop limit of unicast adverts (`unicast_ttl`, default 255).
    pub unicast_ttl: u8,
    pub mcast_src_ip: Option<IpAddr>,
    pub nopreempt: bool,
    pub preempt_delay: Duration,
    pub garp: Garp,
    /// keepalived `lower_prio_no_advert`: a master does not answer a lower priority advert.
    pub lower_prio_no_advert: bool,
    /// keepalived `higher_prio_send_advert`: a master sends one advert before yielding.
    pub higher_prio_send_advert: bool,
    /// keepalived `skip_check_adv_addr`: the address list of the current master's adverts
    /// is not compared with ours.
    pub skip_check_adv_addr: bool,
    pub notify: Notify,
    /// keepalived `notify_master_rx_lower_pri`: run while Master when a lower priority
    /// advert arrives (a split brain healing).
    pub notify_master_rx_lower_pri: Option<String>,
    pub dont_track_primary: bool,
    /// `track_file { NAME [weight N] [reverse] }` (weight: the file's own by default).
    pub track_file: Vec<TrackScript>,
    /// `track_process { NAME [weight N] [reverse] }` (weight: the process's own by default).
    pub track_process: Vec<TrackScript>,
    /// `strict_mode [BOOL]`: this instance's `vrrp_strict` (unset: the global one).
    pub strict_mode: Option<bool>,
    /// Write `MASTER_PRIORITY` / `BACKUP_PRIORITY` lines to the notify FIFOs (unset: the sync
    /// group's, else `vrrp_notify_priority_changes`).
    pub notify_priority_changes: Option<bool>,
    /// Accept packets to the VIPs while master (default: true unless `vrrp_strict`).
    pub accept: bool,
    /// keeplite: per-instance override of `global_defs vip_lease`.
    pub vip_lease: Option<VipLease>,
    /// `smtp_alert [yes|no]`; unset = the global default.
    pub smtp_alert: Option<bool>,
    /// `virtual_routes` / `virtual_rules`: installed on becoming MASTER, removed on leaving.
    pub virtual_routes: Vec<Route>,
    pub virtual_rules: Vec<Rule>,
    /// `use_vmac [NAME] [MAC]` (with `vmac_xmit_base`), names and MAC resolved.
    pub vmac: Option<Vmac>,
}

/// The RFC 5798 §7.3 virtual MAC of an instance, on a private macvlan over its interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vmac {
    /// The macvlan (default `vmac_prefix`.VRID, `vrrp.51`).
    pub name: String,
    /// Default 00:00:5e:00:01:VRID (IPv4) / 00:00:5e:00:02:VRID (IPv6).
    pub mac: [u8; 6],
    /// `vmac_xmit_base`: adverts go and come on the interface itself, with its own MAC.
    pub xmit_base: bool,
}

impl Vmac {
    /// The MAC as `ip link` and keepalived write it: `00:00:5e:00:01:33`.
    pub fn mac_text(&self) -> String {
        let m = self.mac;
        format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl VrrpInstance {
    /// The instance's address family: that of its adverted VIPs, sources and peers (they
    /// share it; validated). Excluded VIPs may be of either family; without any other
    /// address the instance is IPv4, as in keepalived.
    pub fn is_ipv6(&self) -> bool {
        let first = self.virtual_ipaddress.first().map(|v| v.addr);
        first
            .or(self.unicast_src_ip)
            .or(self.mcast_src_ip)
            .or(self.unicast_peer.first().copied())
            .is_some_and(|a| a.is_ipv6())
    }

    /// RFC 5798 §7.3: 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6.
    pub fn default_vmac(&self) -> [u8; 6] {
        let family = if self.is_ipv6() { 2 } else { 1 };
        [0, 0, 0x5e, 0, family, self.virtual_router_id]
    }

    /// The lease to use for this instance's VIPs.
    pub fn effective_vip_lease(&self, global: &GlobalDefs) -> VipLease {
        self.vip_lease.unwrap_or(global.vip_lease)
    }

    /// Whether priority changes go to the notify FIFOs (keepalived's default chain).
    pub fn priority_changes(&self, group: Option<&SyncGroup>, global: &GlobalDefs) -> bool {
        self.own_priority_changes(group)
            .unwrap_or(global.vrrp_notify_priority_changes)
    }

    /// The instance's, else its sync group's, `notify_priority_changes`, if set.
    pub fn own_priority_changes(&self, group: Option<&SyncGroup>) -> Option<bool> {
        self.notify_priority_changes
            .or(group.and_then(|g| g.notify_priority_changes))
    }
}

/// One `virtual_ipaddress` entry: `ADDR[/LEN] [brd X] [dev IF] [scope S] [label L]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualIp {
    pub addr: IpAddr,
    /// Default 32 (IPv4) / 128 (IPv6).
    pub prefix_len: u8,
    pub brd: Option<Ipv4Addr>,
    /// Default: the instance's interface.
    pub dev: Option<String>,
    pub scope: Option<String>,
    pub label: Option<String>,
}

/// `track_interface` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInterface {
    pub name: String,
    /// 0 = go to FAULT when down; otherwise priority change when down (negated with reverse).
    pub weight: i32,
    pub reverse: bool,
}

/// `track_script` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackScript {
    pub name: String,
    /// Overrides the script's own weight.
    pub weight: Option<i32>,
    pub reverse: bool,
}

/// `virtual_server_group NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServerGroup {
    pub name: String,
    pub entries: Vec<GroupEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupEntry {
    /// `ADDR[-LAST] PORT`: `LAST` replaces the last octet (IPv4) or last group (IPv6, hex).
    Range {
        addr: IpAddr,
        last: Option<u16>,
        port: u16,
    },
    Fwmark(u32),
}

/// How a virtual server is addressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VsAddr {
    Ip(IpAddr, u16),
    Fwmark(u32),
    Group(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LbKind {
    Dr,
    Nat,
    Tun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

/// Config-file spelling of enum values, one table per enum (parsing and dumping share it).
pub trait Keyword: Copy + PartialEq + 'static {
    const CHOICES: &'static [(&'static str, Self)];

    fn keyword(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("", |(k, _)| k)
    }
}

impl Keyword for LbKind {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("DR", LbKind::Dr),
        ("NAT", LbKind::Nat),
        ("TUN", LbKind::Tun),
    ];
}

impl Keyword for Protocol {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("TCP", Protocol::Tcp),
        ("UDP", Protocol::Udp),
        ("SCTP", Protocol::Sctp),
    ];
}

impl Keyword for InitialState {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("MASTER", InitialState::Master),
        ("BACKUP", InitialState::Backup),
    ];
}

/// `virtual_server ... { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VirtualServer {
    pub addr: VsAddr,
    /// Default 60 s; checker interval unless the checker overrides it.
    pub delay_loop: Duration,
    /// An IPVS scheduler name (`crate::ipvs::model::Scheduler`); default "wlc".
    pub lb_algo: String,
    /// Default NAT.
    pub lb_kind: LbKind,
    /// IPVS scheduler flags from `sh-port`, `sh-fallback`, `mh-port`, `mh-fallback`
    /// (`crate::ipvs::model::SVC_F_SCHED1` / `SVC_F_SCHED2`).
    pub sched_flags: u32,
    /// Seconds; None = not persistent.
    pub persistence_timeout: Option<u32>,
    pub persistence_granularity: Option<Ipv4Addr>,
    /// `persistence_engine sip`: persistence by SIP Call-ID (the kernel's only engine).
    pub persistence_engine_sip: bool,
    /// Default UDP, as keepalived 2.2 (with a warning when absent).
    pub protocol: Protocol,
    pub ha_suspend: bool,
    pub virtualhost: Option<String>,
    /// Port 0: the service's port.
    pub sorry_server: Option<(IpAddr, u16)>,
    pub inhibit_on_failure: bool,
    /// Default 1.
    pub quorum: u32,
    pub hysteresis: u32,
    pub quorum_up: Option<String>,
    pub quorum_down: Option<String>,
    pub alpha: bool,
    pub omega: bool,
    /// `smtp_alert [yes|no]`; unset = the global default.
    pub smtp_alert: Option<bool>,
    pub real_servers: Vec<RealServer>,
}

/// `real_server IP PORT { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealServer {
    pub addr: IpAddr,
    /// 0 when omitted (fwmark services).
    pub port: u16,
    /// Default 1.
    pub weight: i32,
    pub inhibit_on_failure: bool,
    pub notify_up: Option<String>,
    pub notify_down: Option<String>,
    /// `smtp_alert [yes|no]`; unset = the virtual server's.
    pub smtp_alert: Option<bool>,
    pub checkers: Vec<Checker>,
}

/// One health checker of a real server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checker {
    pub kind: CheckKind,
    /// Where to connect (default: the real server's address and port).
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    /// Default 5 s. connect_timeout, retry and delay_before_retry may also be given at
    /// virtual_server / real_server level; the parser resolves them into each checker.
    pub connect_timeout: Duration,
    /// Retries before declaring failure (`nb_get_retry` is the old name). Default 1.
    pub retry: u32,
    /// Default 3 s for HTTP_GET / SSL_GET, 1 s otherwise (as keepalived).
    pub delay_before_retry: Duration,
    /// Overrides the virtual server's delay_loop.
    pub delay_loop: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CheckKind {
    Tcp,
    Http(HttpCheck),
    /// HTTP over TLS (SSL_GET).
    Ssl(HttpCheck),
    Misc(MiscCheck),
    Udp(UdpCheck),
    /// ICMP echo to connect_ip (default: the real server's address).
    Ping,
    Dns(DnsCheck),
    File(FileCheck),
}

/// `FILE_CHECK { track_file NAME weight N [reverse] }`: the value of a `track_file` decides
/// (keepalived check_file.c); the file's path and default weight are resolved at parse time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheck {
    pub track_file: String,
    pub path: PathBuf,
    /// -65535..=65535; 0: a non-zero value takes the real server down (a zero one with
    /// `reverse`); otherwise value × weight is added to the real server's weight.
    pub weight: i32,
    pub reverse: bool,
}

/// `DNS_CHECK`: one query per attempt; a response with RCODE 0 passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsCheck {
    /// Query type code (`type A`, ...); default SOA (6).
    pub qtype: u16,
    /// Default `.`.
    pub name: String,
}

/// `UDP_CHECK`: send `payload`, then wait connect_timeout. An ICMP error fails; silence
/// passes unless `require_reply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpCheck {
    /// Default: an empty datagram.
    pub payload: Vec<u8>,
    pub require_reply: bool,
    /// Expected start of the reply; `reply_mask` bits set are wildcards (`x` nibbles).
    pub reply: Vec<u8>,
    pub reply_mask: Vec<u8>,
    /// Reply length limits (default 0..=255); keepalived applies them only with `reply`.
    pub min_reply_len: u16,
    pub max_reply_len: u16,
}

impl Default for UdpCheck {
    /// keepalived's: an empty payload, any reply or none, replies of 0..=255 bytes.
    fn default() -> Self {
        UdpCheck {
            payload: Vec::new(),
            require_reply: false,
            reply: Vec::new(),
            reply_mask: Vec::new(),
            min_reply_len: 0,
            max_reply_len: u8::MAX.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HttpCheck {
    pub urls: Vec<Url>,
    /// Host header for every url without its own.
    pub virtualhost: Option<String>,
}

/// `url { path P; digest D; status_code ...; virtualhost V }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Url {
    pub path: String,
    /// MD5 of the body, lowercase hex.
    pub digest: Option<String>,
    /// Accepted status ranges (inclusive). Default 200-299.
    pub status_code: Vec<(u16, u16)>,
    pub virtualhost: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiscCheck {
    /// Command line (split on whitespace, no shell).
    pub path: String,
    /// Default: the virtual server's delay_loop.
    pub timeout: Option<Duration>,
    /// Exit status 2..=255 sets the weight to status-2.
    pub dynamic: bool,
}

/// A `virtual_routes` / `static_routes` entry: keepalived's subset of `ip route add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub dst: IpAddr,
    pub dst_len: u8,
    /// `RTN_*`: unicast (1, the default), blackhole (6), unreachable (7), prohibit (8),
    /// throw (9).
    pub kind: u8,
    /// `via` / `gw`: the gateway.
    pub via: Option<IpAddr>,
    /// `src`: the preferred source address.
    pub src: Option<IpAddr>,
    /// `dev` / `oif`.
    pub dev: Option<String>,
    /// Default main (254).
    pub table: u32,
    /// `metric` / `priority` / `preference`.
    pub metric: Option<u32>,
    /// `RT_SCOPE_*`, when given (else universe when adding, nowhere when deleting).
    pub scope: Option<u8>,
    /// `RTPROT_*`: keepalived's own (18) unless `no_track` and `protocol` are given.
    pub protocol: u8,
    pub onlink: bool,
    /// How an existing route to the same prefix is met: prepend (keepalived's default),
    /// `add` (fails if one exists) or `append`.
    pub mode: RouteMode,
}

/// keepalived's `RTPROT_KEEPALIVED`: the protocol of the routes and rules it tracks.
pub const RTPROT_KEEPALIVED: u8 = 18;

impl Route {
    /// A unicast route to `dst/dst_len` in the main table, as keepalived adds it.
    pub fn new(dst: IpAddr, dst_len: u8) -> Route {
        Route {
            dst,
            dst_len,
            kind: 1,
            via: None,
            src: None,
            dev: None,
            table: 254,
            metric: None,
            scope: None,
            protocol: RTPROT_KEEPALIVED,
            onlink: false,
            mode: RouteMode::Prepend,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteMode {
    Prepend,
    Add,
    Append,
}

/// A `virtual_rules` / `static_rules` entry: keepalived's subset of `ip rule add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub v6: bool,
    /// `from PREFIX` / `to PREFIX` (`all`: the zero prefix).
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    /// `not`: the selector is inverted.
    pub invert: bool,
    /// `priority` / `preference` / `order`; keepalived's 16384 when absent.
    pub priority: u32,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub action: RuleAction,
    /// Tagged with keepalived's protocol (18) unless `no_track`.
    pub track: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleAction {
    /// `table N` / `lookup N`.
    Table(u32),
    /// `goto PRIORITY`.
    Goto(u32),
    Blackhole,
    Unreachable,
    Prohibit,
}
