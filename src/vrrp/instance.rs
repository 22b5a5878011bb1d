//! One VRRP instance: the RFC 5798 §6 state machine plus keepalived's extensions
//! (Fault state for tracking, preempt_delay, GARP bursts, VIP lease refresh).

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::proto::vrrp::{
    Advert, Auth, Error, Expect, Packet, Repr, RxMeta, Version, MAX_ADVER_INT_V3, MCAST_V4,
    MCAST_V6, TTL,
};

/// Priority of the router owning the virtual addresses (RFC 5798 §5.2.4).
pub const PRIORITY_OWNER: u8 = 255;
/// Priority a stepping-down master advertises (RFC 5798 §5.2.4).
pub const PRIORITY_STOP: u8 = 0;
/// A Master answers at most one lower-priority or priority-0 advert this often (or per
/// advert interval, if longer); its own adverts go out on schedule regardless.
pub const REPLY_GAP: Duration = Duration::from_secs(1);

/// RFC 5798 §6 states, plus keepalived's Fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started yet, or shut down (keepalived's "STOP" notify).
    Initialize,
    Backup,
    Master,
    /// A weight-0 tracker is down: no adverts, no VIPs, adverts ignored.
    Fault,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // keepalived's notify script argument spelling.
        f.write_str(match self {
            State::Initialize => "STOP",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        })
    }
}

/// Why a transition happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Initial state at start.
    Startup,
    /// Priority 255: owner goes Master at once (RFC 5798 §6.4.1).
    AddressOwner,
    /// Master_Down_Timer fired: no advert from a master (RFC 5798 §6.4.2).
    MasterDown,
    /// The master advertised priority 0 and Skew_Time passed (RFC 5798 §6.4.2).
    MasterStepDown,
    /// A higher priority (or equal priority, higher address) master was seen (§6.4.3).
    HigherPriority,
    /// A weight-0 tracker (or a sync group member) went down.
    Fault,
    /// All weight-0 trackers are back up.
    FaultCleared,
    /// Dragged along by a sync group member.
    SyncGroup,
    Shutdown,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Startup => "startup",
            Reason::AddressOwner => "address owner",
            Reason::MasterDown => "master down timer expired",
            Reason::MasterStepDown => "master sent priority 0",
            Reason::HigherPriority => "higher priority advert received",
            Reason::Fault => "tracked object down",
            Reason::FaultCleared => "tracked objects up",
            Reason::SyncGroup => "sync group",
            Reason::Shutdown => "shutdown",
        })
    }
}

/// A state change, as reported to notify scripts and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub reason: Reason,
}

/// What the shell must do, in order. Each action carries everything it needs: the shell
/// keeps no copy of the core's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this VRRP message (checksummed for `src` -> `dst`) with TTL/hop limit 255
    /// (the shell's `unicast_ttl` toward unicast peers). The bytes are the instance's
    /// cached advert, shared: sending one allocates nothing.
    Transmit {
        src: IpAddr,
        dst: IpAddr,
        bytes: Rc<[u8]>,
    },
    /// Add, or replace, these virtual addresses with this valid/preferred lifetime, or
    /// permanent (`None`). A lease refresh is the same action without GARP or notify.
    /// Address lists are shared with the instance: a refresh allocates nothing.
    InstallVips {
        addrs: Rc<[IpAddr]>,
        lease: Option<Duration>,
    },
    /// Remove these virtual addresses (one already gone is fine).
    RemoveVips {
        addrs: Rc<[IpAddr]>,
    },
    /// Send `count` gratuitous ARPs / unsolicited NAs for each of these addresses.
    SendGarp {
        addrs: Rc<[IpAddr]>,
        count: u32,
    },
    Notify(Transition),
    /// As Master, answered an advert from `src` with lower `priority`: keepalived logs it
    /// and runs `notify_master_rx_lower_pri` (rate-limited like the answer itself).
    LowerPriorityAdvert {
        src: IpAddr,
        priority: u8,
    },
}

/// A tracked object (interface, script, ...) feeding priority or fault; the shell knows
/// which (the core needs no name: one less string per instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    /// keepalived semantics: 0 = fault when down; > 0 added while up; < 0 added while down.
    pub weight: i32,
    /// State before the first report.
    pub up: bool,
}

impl Tracker {
    pub fn new(weight: i32, up: bool) -> Tracker {
        Tracker { weight, up }
    }

    pub(crate) fn contribution(&self) -> i32 {
        match (self.weight > 0, self.up) {
            (true, true) => self.weight,
            (false, false) => self.weight,
            _ => 0,
        }
    }

    pub(crate) fn faulted(&self) -> bool {
        self.weight == 0 && !self.up
    }
}

/// Per-instance configuration. [`Params::new`] fills keepalived's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub name: String,
    pub version: Version,
    pub vrid: u8,
    /// Base priority 1..=255; 255 = address owner.
    pub priority: u8,
    /// Advertisement_Interval: whole seconds for v2, 10 ms steps up to 40.95 s for v3.
    pub advert_int: Duration,
    /// keepalived `state MASTER`: first Master_Down_Interval shortened to one interval.
    pub initial_master: bool,
    /// `false` = keepalived `nopreempt`.
    pub preempt: bool,
    /// keepalived `preempt_delay`: lower-priority adverts are accepted this long first.
    pub preempt_delay: Duration,
    /// RFC 5798 Accept_Mode; only the shell acts on it.
    pub accept: bool,
    /// Our primary address: advert source and tie-breaker (RFC 5798 §6.4.3).
    pub primary_addr: IpAddr,
    /// The interface the instance runs on, as the shell numbers it (its ifindex): adverts
    /// received on another link are not for this instance.
    pub link: u32,
    /// `unicast_peer`: adverts go to each of them and only theirs are accepted (TTL not
    /// checked, as keepalived). Empty: multicast to [`Params::mcast_group`].
    pub unicast_peers: Vec<IpAddr>,
    /// `vrrp_mcast_group4` / `vrrp_mcast_group6` (RFC 5798 §5.1.1.2 / §5.1.2.2 by default).
    pub mcast_group: IpAddr,
    pub vips: Vec<IpAddr>,
    /// Installed with the VIPs but not adverted (`virtual_ipaddress_excluded`); the core
    /// only needs them to diff a reconfiguration.
    pub excluded_vips: Vec<IpAddr>,
    /// v2 only.
    pub auth: Auth,
    /// `false` = keepalived `vrrp_skip_check_adv_addr`.
    pub check_addr_list: bool,
    /// Second GARP burst this long after becoming master (`garp_master_delay`, 0 = none).
    pub garp_master_delay: Duration,
    /// GARPs per burst (`garp_master_repeat`).
    pub garp_master_repeat: u32,
    /// Periodic GARP while master (`garp_master_refresh`, 0 = off).
    pub garp_master_refresh: Duration,
    pub garp_master_refresh_repeat: u32,
    /// GARPs sent when a lower priority master shows up (`garp_lower_prio_repeat`, 0 = none).
    pub garp_lower_prio_repeat: u32,
    /// Second such burst this long later (`garp_lower_prio_delay`, 0 = none).
    pub garp_lower_prio_delay: Duration,
    /// keepalived `lower_prio_no_advert`: do not answer a lower priority advert.
    pub lower_prio_no_advert: bool,
    /// keepalived `higher_prio_send_advert`: send one advert before yielding to a higher
    /// priority master.
    pub higher_prio_send_advert: bool,
    /// Lifetime of installed VIPs; `None` = permanent. See [`default_vip_lease`].
    pub vip_lease: Option<Duration>,
    pub trackers: Vec<Tracker>,
}

impl Params {
    /// keepalived's defaults: v2, 1 s, preempt, GARP 5 x 5 s later, no refresh, and the
    /// default VIP lease.
    pub fn new(
        name: &str,
        vrid: u8,
        priority: u8,
        primary_addr: IpAddr,
        vips: Vec<IpAddr>,
    ) -> Params {
        let version = if primary_addr.is_ipv6() {
            Version::V3
        } else {
            Version::V2
        };
        let advert_int = Duration::from_secs(1);
        Params {
            name: name.to_string(),
            version,
            vrid,
            priority,
            advert_int,
            initial_master: false,
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept: false,
            primary_addr,
            link: 0,
            unicast_peers: Vec::new(),
            mcast_group: if primary_addr.is_ipv4() {
                MCAST_V4.into()
            } else {
                MCAST_V6.into()
            },
            vips,
            excluded_vips: Vec::new(),
            auth: Auth::NONE,
            check_addr_list: true,
            garp_master_delay: Duration::from_secs(5),
            garp_master_repeat: 5,
            garp_master_refresh: Duration::ZERO,
            garp_master_refresh_repeat: 1,
            // keepalived: unset lower_prio values default to garp_master_repeat / _delay.
            garp_lower_prio_repeat: 5,
            garp_lower_prio_delay: Duration::from_secs(5),
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            vip_lease: Some(default_vip_lease(version, advert_int, priority)),
            trackers: Vec::new(),
        }
    }
}

/// max(2 s, Master_Down_Interval for our own interval and priority), rounded up to whole
/// seconds (kernel address lifetimes are in seconds): a dead master's VIPs vanish about when
/// a backup takes over.
pub fn default_vip_lease(version: Version, advert_int: Duration, priority: u8) -> Duration {
    let down = master_down_interval(version, advert_int, priority);
    let secs = down.as_secs() + u64::from(down.subsec_nanos() > 0);
    Duration::from_secs(secs.max(2))
}

/// How much of the VIP lease a refresh must still find left were it put off to the next
/// advert: the adverts' Adver_Timer (RFC 5798 §6.4.3) is reset to Advertisement_Interval
/// from each one sent, so the next one is due an interval later; this margin is what the
/// loop may be late on top of that without the kernel expiring a live master's VIPs.
/// Two thirds of the lease less an interval (a refresh leaves at least about 2/3 of the
/// lease after it: 2 s of the default 4 s at 1 s adverts, every second advert), never
/// under three quarters of an interval or 750 ms: a host that starves the loop for a
/// second (a loaded TCG guest, a receive flood at load 11-19 measured ~790 ms,
/// bench/RESULTS.md perfrx) must not cost a live master its VIPs.
fn lease_margin(advert_int: Duration, lease: Duration) -> Duration {
    let floor = advert_int.max(Duration::from_secs(1)) * 3 / 4;
    (lease * 2 / 3).saturating_sub(advert_int).max(floor)
}

/// Skew_Time: RFC 3768 §6.1 `(256 - Priority) / 256` s for v2; RFC 5798 §6.1
/// `((256 - priority) * Master_Adver_Interval) / 256` for v3.
fn skew_time(version: Version, master_adver_int: Duration, priority: u8) -> Duration {
    let base = match version {
        Version::V2 => Duration::from_secs(1),
        Version::V3 => master_adver_int,
    };
    base * (256 - u32::from(priority)) / 256
}

/// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time (RFC 5798 §6.1).
fn master_down_interval(version: Version, master_adver_int: Duration, priority: u8) -> Duration {
    master_adver_int * 3 + skew_time(version, master_adver_int, priority)
}

/// Checks `p`; returns the advert interval in wire units.
fn validate(p: &Params) -> Result<u16, ParamError> {
    if p.vrid == 0 {
        return Err(ParamError::Vrid);
    }
    if p.priority == 0 {
        return Err(ParamError::Priority);
    }
    let advert_units = advert_units(p.version, p.advert_int).ok_or(ParamError::AdvertInt)?;
    if p.vips.is_empty() {
        return Err(ParamError::NoVips);
    }
    // RFC 5798 §5.2.5: Count IPvX Addrs is 8 bits.
    if p.vips.len() > usize::from(u8::MAX) {
        return Err(ParamError::TooManyVips);
    }
    let v4 = p.primary_addr.is_ipv4();
    let foreign = |a: &IpAddr| a.is_ipv4() != v4;
    if p.vips.iter().any(foreign)
        || p.unicast_peers.iter().any(foreign)
        || foreign(&p.mcast_group)
        || (!v4 && p.version == Version::V2)
    {
        return Err(ParamError::Family);
    }
    Ok(advert_units)
}

/// Why a new configuration cannot be applied to a running instance in place: the shell
/// stops the instance (its unit) and starts it again from Initialize instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    /// Another VRID is another virtual router on the wire.
    Vrid,
    Version,
    /// The address family of the instance changed.
    Family,
    /// Instances added, removed or moved between sync groups.
    Members,
    /// The new parameters are invalid.
    Invalid(ParamError),
}

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Restart::Vrid => f.write_str("virtual_router_id changed"),
            Restart::Version => f.write_str("VRRP version changed"),
            Restart::Family => f.write_str("address family changed"),
            Restart::Members => f.write_str("sync group membership changed"),
            Restart::Invalid(e) => e.fmt(f),
        }
    }
}

/// A parameter that cannot be used; the config layer turns these into file:line errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    Vrid,
    Priority,
    AdvertInt,
    NoVips,
    TooManyVips,
    Family,
    SyncGroupMember { group: String, member: usize },
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::Vrid => f.write_str("virtual_router_id must be 1..255"),
            ParamError::Priority => f.write_str("priority must be 1..255"),
            ParamError::AdvertInt => f.write_str(
                "advert_int must be 1..255 whole seconds (VRRPv2) or 0.01..40.95 s in 10 ms steps (VRRPv3)",
            ),
            ParamError::NoVips => f.write_str("virtual_ipaddress needs at least one address"),
            ParamError::TooManyVips => {
                f.write_str("an advertisement carries at most 255 virtual addresses")
            }
            ParamError::Family => f.write_str(
                "virtual addresses, peers and the instance address must share one family; IPv6 needs VRRPv3",
            ),
            ParamError::SyncGroupMember { group, member } => {
                write!(f, "sync group {group}: instance {member} is unknown or already in a group")
            }
        }
    }
}

impl std::error::Error for ParamError {}

/// Counters and last-seen facts, for SNMP-like status output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub priority_zero_sent: u64,
    pub priority_zero_received: u64,
    pub became_master: u64,
    /// Lower-priority or priority-0 adverts a Master did not answer: over the reply rate.
    pub replies_suppressed: u64,
    pub released_master: u64,
    pub transitions: u64,
    pub last_transition: Option<(Instant, Transition)>,
    /// Indexed by [`Error::index`]; allocated at the first error, as most instances never
    /// see one (104 B each).
    rx_errors: Option<Box<[u64; Error::COUNT]>>,
    /// Source and priority of the last accepted advert from another router.
    pub master_seen: Option<(IpAddr, u8)>,
}

impl Stats {
    pub fn rx_error(&self, e: Error) -> u64 {
        self.rx_errors.as_ref().map_or(0, |c| c[e.index()])
    }

    /// Every receive error count, indexed by [`Error::index`].
    pub fn rx_errors(&self) -> [u64; Error::COUNT] {
        self.rx_errors.as_deref().copied().unwrap_or_default()
    }
}

/// One VRRP instance. See the module documentation of [`crate::vrrp`] for the call sequence.
#[derive(Debug)]
pub struct Instance {
    p: Params,
    /// Advertisement_Interval in wire units.
    advert_units: u16,
    state: State,
    priority: u8,
    own_fault: bool,
    group_fault: bool,
    /// Master_Adver_Interval (RFC 5798 §6.1): learnt from the master in v3.
    master_adver_int: Duration,
    /// Adver_Timer when Master, Master_Down_Timer when Backup.
    timer: Option<Instant>,
    /// Why the Master_Down_Timer will fire, if it does.
    down_reason: Reason,
    /// Delayed GARP burst: when, and how many.
    garp_delay: Option<(Instant, u32)>,
    garp_refresh_at: Option<Instant>,
    /// When the installed VIPs expire in the kernel (`None`: not held, or permanent); an
    /// advert refreshes them when this comes near ([`lease_margin`]).
    vips_expire: Option<Instant>,
    /// Every address installed (adverted, then excluded), built when first needed after a
    /// parameter change and shared by the install, refresh, GARP and removal actions.
    vip_list: Option<Rc<[IpAddr]>>,
    /// A Master answers the next lower-priority or priority-0 advert from then on.
    reply_at: Option<Instant>,
    /// keepalived `vrrp_startup_delay`: no Master before then.
    master_not_before: Option<Instant>,
    /// preempt_delay: lower-priority adverts accepted until then.
    preempt_at: Option<Instant>,
    /// Member of a sync group: the group decides when a Backup goes Master.
    pub(crate) in_group: bool,
    /// Master_Down_Timer fired while in a sync group: ready to go Master with the group
    /// (keepalived's wantstate MASTER).
    wants_master: bool,
    actions: VecDeque<Action>,
    /// The encoded advert per destination (as [`Instance::transmit`] orders them), with
    /// the priority it last carried; emptied when the parameters change.
    adverts: Vec<Rc<[u8]>>,
    stats: Stats,
}

impl Instance {
    pub fn new(p: Params) -> Result<Instance, ParamError> {
        let advert_units = validate(&p)?;
        let mut i = Instance {
            advert_units,
            state: State::Initialize,
            priority: p.priority,
            own_fault: false,
            group_fault: false,
            master_adver_int: p.advert_int,
            timer: None,
            down_reason: Reason::MasterDown,
            garp_delay: None,
            garp_refresh_at: None,
            vips_expire: None,
            vip_list: None,
            reply_at: None,
            master_not_before: None,
            preempt_at: None,
            in_group: false,
            wants_master: false,
            actions: VecDeque::new(),
            adverts: Vec::new(),
            stats: Stats::default(),
            p,
        };
        i.recompute_tracking();
        Ok(i)
    }

    pub fn params(&self) -> &Params {
        &self.p
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Effective priority: base plus tracker weights, clamped to 1..=254; an owner stays 255.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The master as this instance sees it: itself when Master, the last accepted
    /// advertiser when Backup, nobody otherwise.
    pub fn current_master(&self) -> Option<(IpAddr, u8)> {
        match self.state {
            State::Master => Some((self.p.primary_addr, self.priority)),
            State::Backup => self.stats.master_seen,
            State::Initialize | State::Fault => None,
        }
    }

    /// Master_Adver_Interval currently in use.
    pub fn master_adver_int(&self) -> Duration {
        self.master_adver_int
    }

    /// Whether the virtual addresses are installed (exactly while Master).
    pub fn holds_vips(&self) -> bool {
        self.state == State::Master
    }

    /// What is left of the installed VIPs' kernel lifetime; `None` when not held or
    /// permanent.
    pub fn vip_lease_left(&self, now: Instant) -> Option<Duration> {
        self.vips_expire.map(|t| t.saturating_duration_since(now))
    }

    /// Every address the instance installs: adverted and excluded.
    fn all_vips(&mut self) -> Rc<[IpAddr]> {
        let p = &self.p;
        let all = || p.vips.iter().chain(&p.excluded_vips).copied().collect();
        self.vip_list.get_or_insert_with(all).clone()
    }

    /// Whether an advert from `src` on `link` for `vrid` is this instance's business, and if
    /// so whether the unicast peer filter lets it through.
    pub fn route(&self, link: u32, vrid: u8, src: &IpAddr) -> Option<Result<(), Error>> {
        let p = &self.p;
        if p.link != link || p.vrid != vrid || p.primary_addr.is_ipv4() != src.is_ipv4() {
            return None;
        }
        // keepalived check_unicast_src: with unicast peers, only theirs count.
        let ok = p.unicast_peers.is_empty() || p.unicast_peers.contains(src);
        Some(if ok { Ok(()) } else { Err(Error::Peer) })
    }

    /// Counts a receive error attributed to this instance.
    pub fn record_rx_error(&mut self, e: Error) {
        self.stats.rx_errors.get_or_insert_default()[e.index()] += 1;
    }

    /// The advertisement this instance sends with `priority`.
    pub fn advert(&self, priority: u8) -> Repr {
        Repr {
            version: self.p.version,
            vrid: self.p.vrid,
            priority,
            advert_int: self.advert_units,
            auth: match self.p.version {
                Version::V2 => self.p.auth,
                Version::V3 => Auth::NONE,
            },
            addresses: self.p.vips.clone(),
        }
    }

    fn skew(&self) -> Duration {
        skew_time(self.p.version, self.master_adver_int, self.priority)
    }

    fn down_interval(&self) -> Duration {
        master_down_interval(self.p.version, self.master_adver_int, self.priority)
    }

    /// keepalived `vrrp_startup_delay`: the instance may not become Master before `t`;
    /// it starts in Backup and listens meanwhile (vrrp_state_goto_master checks
    /// vrrp_delayed_start_time). Call before [`Instance::start`].
    pub fn hold_master_until(&mut self, t: Instant) {
        self.master_not_before = Some(t);
    }

    /// Leaves Initialize (RFC 5798 §6.4.1).
    pub fn start(&mut self, now: Instant) {
        if self.state != State::Initialize {
            return;
        }
        self.master_adver_int = self.p.advert_int;
        let held = self.master_not_before.filter(|&t| now < t);
        if self.faulted() {
            self.transition(now, State::Fault, Reason::Startup);
        } else if let (Some(t), PRIORITY_OWNER) = (held, self.p.priority) {
            self.enter_backup(now, t - now, Reason::Startup);
        } else if self.p.priority == PRIORITY_OWNER {
            // RFC 5798 §6.4.1: priority 255 sends an advert and becomes Master at once.
            // (keepalived refuses `state BACKUP` for an owner and does the same.)
            self.become_master(now, Reason::AddressOwner);
        } else {
            // RFC 5798 §6.4.1: otherwise Backup with Master_Down_Timer. keepalived's
            // `state MASTER` only shortens this first timer to one interval plus the
            // minimal skew (vrrp_init_state: master_adver_int + VRRP_TIMER_SKEW_MIN), so
            // a running master with a higher priority is still heard first.
            let first = if self.p.initial_master {
                self.master_adver_int + skew_time(self.p.version, self.master_adver_int, 255)
            } else {
                self.down_interval()
            };
            let first = held.map_or(first, |t| first.max(t - now));
            self.enter_backup(now, first, Reason::Startup);
        }
    }

    /// Processes a VRRP message `msg` that arrived in the IP packet `meta` and was routed
    /// here ([`Instance::route`]): every RFC 5798 §7.1 check, then the state machine.
    /// A failed check drops the advert and counts it in [`Stats::rx_errors`]. Our own
    /// adverts (looped back multicast) are ignored.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        meta: &RxMeta,
        msg: &[u8],
    ) -> Result<(), Error> {
        if meta.src == self.p.primary_addr {
            return Ok(());
        }
        match self.accept(meta, msg) {
            Ok(adv) => {
                self.handle_advert(now, meta.src, &adv);
                Ok(())
            }
            Err(e) => {
                self.record_rx_error(e);
                Err(e)
            }
        }
    }

    /// RFC 5798 §7.1 "Receiving VRRP Packets", in keepalived's order (vrrp_check_packet).
    fn accept<'m>(&self, meta: &RxMeta, msg: &'m [u8]) -> Result<Advert<'m>, Error> {
        let unicast = !self.p.unicast_peers.is_empty();
        // §7.1: MUST verify the packet holds the complete VRRP header.
        let packet = Packet::new_checked(msg)?;
        // §7.1: MUST verify that the IP TTL / hop limit is 255. keepalived skips the check
        // for an instance with unicast peers (they may be routed); without peers a TTL
        // below 255 means a sender off the link, unicast to us or not.
        if !unicast && meta.ttl != TTL {
            return Err(Error::Ttl);
        }
        // §7.1: MUST verify the VRRP version, the length for the address count and the
        // checksum (plus the type, §5.2.2, and the family).
        let adv = Advert::parse(&packet, meta)?;
        if meta.src.is_ipv4() != self.p.primary_addr.is_ipv4() {
            return Err(Error::Family);
        }
        // keepalived vrrp_check_packet: a multicast instance takes multicast adverts only,
        // a unicast one unicast adverts only.
        if meta.dst.is_multicast() == unicast {
            return Err(Error::Destination);
        }
        // §7.1: MUST verify the VRID is configured on this interface (routing), MUST do
        // the authentication (v2), MAY verify the address list, and (v2, RFC 3768 §7.1)
        // MUST verify the Adver Interval.
        adv.check(&Expect {
            version: self.p.version,
            vrid: self.p.vrid,
            auth: self.p.auth,
            advert_int: self.advert_units,
            addresses: self.p.check_addr_list.then_some(&self.p.vips[..]),
        })?;
        Ok(adv)
    }

    fn handle_advert(&mut self, now: Instant, src: IpAddr, adv: &Advert) {
        self.stats.adverts_received += 1;
        if adv.priority == PRIORITY_STOP {
            self.stats.priority_zero_received += 1;
        }
        match self.state {
            State::Initialize | State::Fault => {}
            State::Backup => self.backup_rx(now, src, adv),
            State::Master => self.master_rx(now, src, adv),
        }
    }

    fn backup_rx(&mut self, now: Instant, src: IpAddr, adv: &Advert) {
        if adv.priority == PRIORITY_STOP {
            // RFC 5798 §6.4.2: priority 0 -> Master_Down_Timer = Skew_Time.
            self.timer = Some(now + self.skew());
            self.down_reason = Reason::MasterStepDown;
            return;
        }
        let lower = adv.priority < self.priority;
        let delaying = lower && self.preempt_delaying(now);
        if !self.p.preempt || !lower || delaying {
            // RFC 5798 §6.4.2: Preempt_Mode False or priority >= ours: accept the master.
            if self.p.version == Version::V3 {
                // RFC 5798 §6.4.2: Master_Adver_Interval = the advert's Max Adver Int.
                self.master_adver_int = adv.advert_interval();
            }
            // RFC 5798 §6.4.2: reset Master_Down_Timer to Master_Down_Interval.
            self.timer = Some(now + self.down_interval());
            self.down_reason = Reason::MasterDown;
            self.stats.master_seen = Some((src, adv.priority));
            self.wants_master = false;
            if !lower {
                self.preempt_at = None;
            }
        }
        // else RFC 5798 §6.4.2: Preempt_Mode True and lower priority: discard, so the
        // Master_Down_Timer runs out and we take over.
    }

    /// keepalived preempt_delay: the first lower-priority advert starts the delay; until
    /// it passes, such adverts still reset the down timer.
    fn preempt_delaying(&mut self, now: Instant) -> bool {
        if self.p.preempt_delay.is_zero() {
            return false;
        }
        let at = *self.preempt_at.get_or_insert(now + self.p.preempt_delay);
        now < at
    }

    /// Whether a Master may answer an advert now. Answers (an advert, for lower priorities
    /// GARP bursts too) cost more than the advert that asks for them, so forged adverts
    /// would make the Master an amplifier: the first per [`REPLY_GAP`] (or advert interval
    /// if longer) is answered as the RFC and keepalived do, the others only counted.
    fn may_reply(&mut self, now: Instant) -> bool {
        if self.reply_at.is_some_and(|t| now < t) {
            self.stats.replies_suppressed += 1;
            return false;
        }
        self.reply_at = Some(now + self.p.advert_int.max(REPLY_GAP));
        true
    }

    fn master_rx(&mut self, now: Instant, src: IpAddr, adv: &Advert) {
        if adv.priority == PRIORITY_STOP {
            // RFC 5798 §6.4.3: priority 0 -> send an advert, reset the Adver_Timer.
            if self.may_reply(now) {
                self.send_advert(now);
            }
            return;
        }
        let higher = adv.priority > self.priority
            || (adv.priority == self.priority && addr_key(&src) > addr_key(&self.p.primary_addr));
        if higher {
            // RFC 5798 §6.4.3: higher priority, or equal and higher primary address:
            // learn the interval (v3), set Master_Down_Timer, go Backup.
            if self.p.version == Version::V3 {
                self.master_adver_int = adv.advert_interval();
            }
            self.stats.master_seen = Some((src, adv.priority));
            if self.p.higher_prio_send_advert {
                self.send_advert(now);
            }
            self.leave_master(now, Reason::HigherPriority);
        } else if self.may_reply(now) {
            // RFC 5798 §6.4.3 says discard; keepalived (vrrp_state_master_rx) re-asserts
            // at once, advert plus GARP bursts, so a split brain heals without waiting.
            if !self.p.lower_prio_no_advert {
                self.send_advert(now);
            }
            let count = self.p.garp_lower_prio_repeat;
            if count > 0 {
                self.garp(count);
                self.garp_delay = self.delayed_garp(now, self.p.garp_lower_prio_delay, count);
            }
            // keepalived vrrp_state_master_rx: send_event_notify(MASTER_RX_LOWER_PRI).
            self.push(Action::LowerPriorityAdvert {
                src,
                priority: adv.priority,
            });
        }
    }

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        match self.state {
            State::Backup if due(self.timer) && self.master_not_before > Some(now) => {
                // vrrp_startup_delay: the down timer ran out early; wait for the delay.
                self.timer = self.master_not_before;
            }
            State::Backup if due(self.timer) && self.in_group => {
                // keepalived vrrp_sync_can_goto_master: only when every member wants to,
                // "prefer backup state to avoid thrashing". The group calls take_over().
                self.timer = None;
                self.wants_master = true;
            }
            State::Backup if due(self.timer) => {
                // RFC 5798 §6.4.2: Master_Down_Timer fired -> Master.
                let reason = self.down_reason;
                self.become_master(now, reason);
            }
            State::Master => {
                if due(self.timer) {
                    // RFC 5798 §6.4.3: Adver_Timer fired -> advert, timer reset.
                    self.send_advert(now);
                }
                if let Some((_, count)) = self.garp_delay.filter(|(at, _)| *at <= now) {
                    self.garp_delay = None;
                    self.garp(count);
                }
                if due(self.garp_refresh_at) {
                    self.garp_refresh_at = Some(now + self.p.garp_master_refresh);
                    self.garp(self.p.garp_master_refresh_repeat);
                }
            }
            _ => {}
        }
    }

    /// Earliest instant [`Instance::handle_timeout`] has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timer,
            self.garp_delay.map(|(at, _)| at),
            self.garp_refresh_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        let a = self.actions.pop_front();
        // A transition's burst leaves capacity a Master's steady state (an advert per
        // destination, a lease refresh) never uses: 2 of 4 actions, 112 B per instance.
        let keep = self.p.unicast_peers.len().max(1) + 1;
        if self.actions.is_empty() && self.actions.capacity() > keep {
            self.actions.shrink_to(keep);
        }
        a
    }

    /// Reports the state of tracker `index` (in [`Params::trackers`] order).
    pub fn set_tracker(&mut self, now: Instant, index: usize, up: bool) {
        let Some(t) = self.p.trackers.get_mut(index) else {
            return;
        };
        if t.up == up {
            return;
        }
        t.up = up;
        self.apply_tracking(now);
    }

    /// Sets tracker `index`'s weight and state (a `track_file`'s value moves its weight).
    pub fn set_tracker_weight(&mut self, now: Instant, index: usize, weight: i32, up: bool) {
        let Some(t) = self.p.trackers.get_mut(index) else {
            return;
        };
        if (t.weight, t.up) == (weight, up) {
            return;
        }
        (t.weight, t.up) = (weight, up);
        self.apply_tracking(now);
    }

    /// Whether an own tracker (not the sync group) holds this instance in Fault.
    pub fn own_fault(&self) -> bool {
        self.own_fault
    }

    /// Set by the sync group while another member is faulted.
    pub(crate) fn set_group_fault(&mut self, now: Instant, fault: bool) {
        if self.group_fault != fault {
            self.group_fault = fault;
            self.apply_fault(now, Reason::SyncGroup);
        }
    }

    fn faulted(&self) -> bool {
        self.own_fault || self.group_fault
    }

    fn recompute_tracking(&mut self) {
        self.own_fault = self.p.trackers.iter().any(Tracker::faulted);
        self.priority = if self.p.priority == PRIORITY_OWNER {
            PRIORITY_OWNER
        } else {
            let sum: i32 = self.p.trackers.iter().map(Tracker::contribution).sum();
            (i32::from(self.p.priority) + sum).clamp(1, 254) as u8
        };
    }

    fn apply_tracking(&mut self, now: Instant) {
        let old = self.priority;
        self.recompute_tracking();
        self.apply_fault(now, Reason::Fault);
        if self.state == State::Master && self.priority != old {
            // Tell backups at once rather than up to an interval later, so a preempting
            // backup starts its down timer early.
            self.send_advert(now);
        }
    }

    fn apply_fault(&mut self, now: Instant, reason: Reason) {
        match (self.faulted(), self.state) {
            (true, State::Master) => {
                // keepalived vrrp_state_leave_master with wantstate FAULT: priority 0
                // advert so a backup takes over after Skew_Time, then drop the VIPs.
                self.send_stop_advert();
                self.drop_master_duties();
                self.remove_vips();
                self.stats.released_master += 1;
                self.transition(now, State::Fault, reason);
            }
            (true, State::Backup) => {
                self.timer = None;
                self.transition(now, State::Fault, reason);
            }
            (false, State::Fault) => {
                // keepalived try_up_instance: back to Backup with a full down interval
                // (an owner only waits one interval plus skew).
                self.master_adver_int = self.p.advert_int;
                let wait = if self.p.priority == PRIORITY_OWNER {
                    self.master_adver_int + self.skew()
                } else {
                    self.down_interval()
                };
                let why = if reason == Reason::Fault {
                    Reason::FaultCleared
                } else {
                    reason
                };
                self.enter_backup(now, wait, why);
            }
            _ => {}
        }
    }

    /// Whether [`Instance::reconfigure`] can take `p` in place.
    pub fn check_reconfigure(&self, p: &Params) -> Result<(), Restart> {
        if p.vrid != self.p.vrid {
            return Err(Restart::Vrid);
        }
        if p.version != self.p.version {
            return Err(Restart::Version);
        }
        if p.primary_addr.is_ipv4() != self.p.primary_addr.is_ipv4() {
            return Err(Restart::Family);
        }
        validate(p).map(drop).map_err(Restart::Invalid)
    }

    /// Applies new parameters to the running instance, keeping its state (see the module
    /// documentation, "Reconfiguring in place"). Refuses, changing nothing, what
    /// [`Instance::check_reconfigure`] refuses.
    pub fn reconfigure(&mut self, now: Instant, p: Params) -> Result<(), Restart> {
        self.check_reconfigure(&p)?;
        let advert_units = validate(&p).map_err(Restart::Invalid)?;
        let old_advert = self.advert(self.priority);
        let old_priority = self.priority;
        let old = std::mem::replace(&mut self.p, p);
        self.advert_units = advert_units;
        self.adverts.clear();
        self.vip_list = None;
        let installed = |p: &Params| -> Vec<IpAddr> {
            p.vips.iter().chain(&p.excluded_vips).copied().collect()
        };
        let (was, is) = (installed(&old), installed(&self.p));
        let added: Rc<[IpAddr]> = is.iter().filter(|a| !was.contains(a)).copied().collect();
        let removed: Rc<[IpAddr]> = was.iter().filter(|a| !is.contains(a)).copied().collect();
        if self.state == State::Master && !removed.is_empty() {
            self.push(Action::RemoveVips { addrs: removed });
        }
        // Tracker list or weights may differ: a new fault leaves Master/Backup, a cleared one
        // goes Backup, exactly as a tracker event would.
        self.recompute_tracking();
        self.apply_fault(now, Reason::Fault);
        match self.state {
            State::Master => {
                self.master_adver_int = self.p.advert_int;
                if !added.is_empty() {
                    self.push(Action::InstallVips {
                        addrs: added.clone(),
                        lease: self.p.vip_lease,
                    });
                }
                if self.p.vip_lease != old.vip_lease {
                    // Every VIP gets the new lifetime now: a shorter or removed lease must
                    // not leave addresses expiring on the old schedule.
                    self.install_vips(now);
                }
                if self.advert(self.priority) != old_advert {
                    // New priority, interval or address list: tell the backups at once (as a
                    // tracker priority change does); the Adver_Timer restarts with the new
                    // interval (RFC 5798 §6.4.3).
                    self.send_advert(now);
                }
                if !added.is_empty() && self.p.garp_master_repeat > 0 {
                    self.push(Action::SendGarp {
                        addrs: added,
                        count: self.p.garp_master_repeat,
                    });
                }
                if self.p.garp_master_refresh != old.garp_master_refresh {
                    let every = self.p.garp_master_refresh;
                    self.garp_refresh_at = (!every.is_zero()).then(|| now + every);
                }
            }
            State::Backup => {
                // v3 keeps the interval learnt from the master (RFC 5798 §6.4.2); v2 and a
                // backup that never heard one use the configured interval.
                if self.p.version == Version::V2 || self.stats.master_seen.is_none() {
                    self.master_adver_int = self.p.advert_int;
                }
                let timing_changed =
                    old.advert_int != self.p.advert_int || old_priority != self.priority;
                if let (true, Some(_)) = (timing_changed, self.timer) {
                    // RFC 5798 §6.4.2: Master_Down_Timer from the new Master_Down_Interval
                    // (or Skew_Time after a priority-0 advert), counted from now.
                    let wait = match self.down_reason {
                        Reason::MasterStepDown => self.skew(),
                        _ => self.down_interval(),
                    };
                    self.timer = Some(now + wait);
                }
            }
            State::Initialize | State::Fault => {}
        }
        Ok(())
    }

    /// Shutdown event (RFC 5798 §6.4.2 / §6.4.3): a master sends priority 0 then removes
    /// its VIPs; every state goes to Initialize.
    pub fn shutdown(&mut self, now: Instant) {
        if self.state == State::Master {
            self.send_stop_advert();
            self.drop_master_duties();
            self.remove_vips();
        }
        self.timer = None;
        self.preempt_at = None;
        if self.state != State::Initialize {
            self.transition(now, State::Initialize, Reason::Shutdown);
        }
    }

    /// Whether this member's Master_Down_Timer fired and it waits for its sync group.
    pub fn wants_master(&self) -> bool {
        self.state == State::Backup && self.wants_master
    }

    /// Sync group: every member wants Master.
    pub(crate) fn take_over(&mut self, now: Instant) {
        if self.wants_master() {
            let reason = self.down_reason;
            self.become_master(now, reason);
        }
    }

    /// Sync group: another member went Master.
    pub(crate) fn force_master(&mut self, now: Instant) {
        if self.state == State::Backup {
            self.become_master(now, Reason::SyncGroup);
        }
    }

    /// Sync group: another member left Master for Backup.
    pub(crate) fn force_backup(&mut self, now: Instant) {
        if self.state == State::Master {
            self.leave_master(now, Reason::SyncGroup);
        }
    }

    fn become_master(&mut self, now: Instant, reason: Reason) {
        self.preempt_at = None;
        // Own interval from now on (RFC 5798 §6.4.3 Adver_Timer uses Advertisement_Interval).
        self.master_adver_int = self.p.advert_int;
        self.install_vips(now);
        // RFC 5798 §6.4.2: send an ADVERTISEMENT, broadcast gratuitous ARP, set Adver_Timer.
        self.send_advert(now);
        self.garp(self.p.garp_master_repeat);
        self.garp_delay =
            self.delayed_garp(now, self.p.garp_master_delay, self.p.garp_master_repeat);
        let p = &self.p;
        self.garp_refresh_at =
            (!p.garp_master_refresh.is_zero()).then(|| now + p.garp_master_refresh);
        self.stats.became_master += 1;
        self.transition(now, State::Master, reason);
    }

    fn delayed_garp(&self, now: Instant, delay: Duration, count: u32) -> Option<(Instant, u32)> {
        (!delay.is_zero() && count > 0).then(|| (now + delay, count))
    }

    fn leave_master(&mut self, now: Instant, reason: Reason) {
        self.drop_master_duties();
        self.remove_vips();
        self.stats.released_master += 1;
        let wait = self.down_interval();
        self.enter_backup(now, wait, reason);
    }

    fn drop_master_duties(&mut self) {
        self.timer = None;
        self.garp_delay = None;
        self.garp_refresh_at = None;
    }

    fn enter_backup(&mut self, now: Instant, wait: Duration, reason: Reason) {
        self.timer = Some(now + wait);
        self.down_reason = Reason::MasterDown;
        self.transition(now, State::Backup, reason);
    }

    fn send_advert(&mut self, now: Instant) {
        self.stats.adverts_sent += 1;
        self.transmit(self.priority);
        self.timer = Some(now + self.p.advert_int);
        self.refresh_lease(now);
    }

    /// The VIP lease refresh rides an advert (no wake-up of its own; masters whose adverts
    /// coincide refresh together, in one netlink datagram): this one, if waiting for the
    /// next would leave less than [`lease_margin`] of the lease when it is due.
    fn refresh_lease(&mut self, now: Instant) {
        let (Some(expire), Some(lease)) = (self.vips_expire, self.p.vip_lease) else {
            return;
        };
        let left = expire.saturating_duration_since(now);
        // `left == lease`: installed by this very event (becoming Master).
        if left < lease && left < self.p.advert_int + lease_margin(self.p.advert_int, lease) {
            self.install_vips(now);
        }
    }

    fn send_stop_advert(&mut self) {
        self.stats.adverts_sent += 1;
        self.stats.priority_zero_sent += 1;
        self.transmit(PRIORITY_STOP);
    }

    /// One [`Action::Transmit`] per destination: the multicast group, or each unicast peer
    /// (RFC 5798 §5.1.1.2; keepalived `unicast_peer`). Adverts are encoded once per
    /// parameter change; a new priority patches the cached bytes and their checksum.
    fn transmit(&mut self, priority: u8) {
        let src = self.p.primary_addr;
        let group = [self.p.mcast_group];
        let dsts = if self.p.unicast_peers.is_empty() {
            &group[..]
        } else {
            &self.p.unicast_peers[..]
        };
        if self.adverts.len() != dsts.len() {
            let adv = self.advert(priority);
            // validate() guarantees one family, <= 255 addresses and a wire interval.
            let emit = |dst| adv.to_bytes(&src, dst).expect("validated parameters emit");
            self.adverts = dsts.iter().map(|d| emit(d).into()).collect();
        }
        for (&dst, bytes) in dsts.iter().zip(&mut self.adverts) {
            if Packet::new_unchecked(&bytes[..]).priority() != priority {
                let mut p = Packet::new_unchecked(bytes.to_vec());
                p.set_priority(priority);
                *bytes = p.into_inner().into();
            }
            let bytes = bytes.clone();
            self.actions.push_back(Action::Transmit { src, dst, bytes });
        }
    }

    fn install_vips(&mut self, now: Instant) {
        self.vips_expire = self.p.vip_lease.map(|l| now + l);
        let addrs = self.all_vips();
        self.push(Action::InstallVips {
            addrs,
            lease: self.p.vip_lease,
        });
    }

    fn remove_vips(&mut self) {
        self.vips_expire = None;
        // A Backup keeps no list.
        let addrs = self.all_vips();
        self.vip_list = None;
        self.push(Action::RemoveVips { addrs });
    }

    fn garp(&mut self, count: u32) {
        if count > 0 {
            let addrs = self.all_vips();
            self.push(Action::SendGarp { addrs, count });
        }
    }

    fn transition(&mut self, now: Instant, to: State, reason: Reason) {
        let t = Transition {
            from: self.state,
            to,
            reason,
        };
        self.state = to;
        self.wants_master = false;
        self.stats.transitions += 1;
        self.stats.last_transition = Some((now, t));
        self.push(Action::Notify(t));
    }

    fn push(&mut self, a: Action) {
        self.actions.push_back(a);
    }
}

/// Interval in wire units, if representable: v2 whole seconds 1..=255, v3 centiseconds
/// 1..=4095 (RFC 5798 §5.2.7).
fn advert_units(version: Version, d: Duration) -> Option<u16> {
    let (unit, max) = match version {
        Version::V2 => (1_000_000_000u128, 255u128),
        Version::V3 => (10_000_000, u128::from(MAX_ADVER_INT_V3)),
    };
    let n = d.as_nanos();
    (n % unit == 0 && (1..=max).contains(&(n / unit))).then(|| (n / unit) as u16)
}

/// Addresses compared as unsigned integers in network byte order (RFC 5798 §6.4.3).
fn addr_key(a: &IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(*v4)),
        IpAddr::V6(v6) => u128::from(*v6),
    }
}
