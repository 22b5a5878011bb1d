//! Load balancing in the daemon: `virtual_server` blocks become IPVS policies
//! ([`crate::ipvs::policy`]) and health checkers ([`Checkers`], their sockets in [`CheckIo`]) driven by the daemon's loop.
//! Checker verdicts change [`Health`]; the resulting desired IPVS table is diffed against the
//! kernel's ([`plan`]) and only the difference is applied, once per loop iteration.
//!
//! * A reload keeps every real server whose checks did not change: its checkers keep running
//!   with their state, so an unchanged virtual server never flaps.
//! * Without IPVS in the kernel the checks still run and are reported; opening IPVS is
//!   retried on every reload.
//! * ha_suspend (keepalived): the checks of such a virtual server only run while its address
//!   is configured on a local interface (a held VIP, typically).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{fifo, log, Shell, NOTIFY_TIMEOUT};
use crate::check::misc::MiscExit;
use crate::check::Checker;
use crate::check::{settings, CheckParams, Event as CheckEvent, LastResult};
use crate::config::{self, Config, Keyword, LbKind, Protocol, VirtualServer, VsAddr};
use crate::control::{CheckResult, RealServerStatus, VirtualServerStatus};
use crate::ipvs::model::{ServiceKey, State};
use crate::ipvs::plan::{plan, teardown, Op};
use crate::ipvs::policy::{self, Event as LbEvent, Health};
use crate::ipvs::syncd::{self, Mode, SyncDaemon};
use crate::ipvs::wire::Request;
use crate::smtp;
use crate::sys::check_io::{self, CheckId, CheckIo, Checkers, FdChange, Output};
use crate::sys::event::{Poller, Readiness};
use crate::sys::ipvs::IpvsSocket;
use crate::sys::process::{Finished, Outcome, ProcId, ScriptSpec};

/// Epoll tokens of checker sockets: this, a generation (bits 24..48) and the fd (bits 0..24).
/// The generation tells a socket from an earlier one that had the same fd number and whose
/// readiness is still in the batch being handled.
pub const TOKEN_CHECK: u64 = 1 << 48;
const FD_BITS: u32 = 24;
/// Sockets in flight at once (capacity of the socket maps) that make a burst worth a
/// `malloc_trim` once it is over.
const TRIM_AFTER_SOCKETS: usize = 1024;

struct Check {
    /// With `initial_delay` zero, so equal params mean an unchanged check. Shared with the
    /// running checker.
    params: Rc<CheckParams>,
    /// What a check holds only at times, boxed: 8 B, not 40.
    rare: Option<Box<Rare>>,
    /// Its [`CheckId`] + 1 (4 B, not 16), `None` while suspended (ha_suspend).
    id: Option<NonZeroU32>,
    up: bool,
}

#[derive(Default)]
struct Rare {
    /// Last result kept while the checker is not running (the running checker has its own).
    last: Option<LastResult>,
    /// The running MISC_CHECK script.
    misc: Option<ProcId>,
}

impl Check {
    fn id(&self) -> Option<CheckId> {
        self.id.map(|i| i.get() as CheckId - 1)
    }

    fn set_id(&mut self, id: Option<CheckId>) {
        self.id = id.and_then(|i| NonZeroU32::new(u32::try_from(i + 1).ok()?));
    }

    fn last(&self) -> Option<&LastResult> {
        self.rare.as_ref()?.last.as_ref()
    }

    fn misc(&self) -> Option<ProcId> {
        self.rare.as_ref()?.misc
    }

    fn take_misc(&mut self) -> Option<ProcId> {
        self.rare.as_mut()?.misc.take()
    }

    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_default()
    }
}

/// A real server's runtime state; its address and configured weight are its policy entry's
/// (`Vs::policy.reals`, same index).
struct Real {
    checks: Checks,
    /// keepalived's effective weight once a check moved it (`weight_moved`; an `Option` would
    /// take 8 B): misc_dynamic sets it, each FILE_CHECK adds its share (IPVS gets it clamped
    /// to 0..=65535).
    weight: i32,
    weight_moved: bool,
    up: bool,
    /// `smtp_alert` (its own, else the virtual server's): checker changes are mailed.
    smtp: bool,
}

struct Vs {
    name: String,
    policy: policy::VirtualServer,
    health: Health,
    reals: Vec<Real>,
    /// The notify_up and notify_down commands of the real servers that have any, by index:
    /// most have none, so not a field of every real server's record.
    notify: Vec<(u32, Notify)>,
    ha_suspend: Option<Vec<IpAddr>>,
    suspended: bool,
    method: LbKind,
    quorum_up: Option<String>,
    quorum_down: Option<String>,
    sync_error: Option<String>,
    /// keepalived's name of the service and its protocol, for notify FIFO lines.
    fifo_label: String,
    proto: Protocol,
    /// keepalived's name of the service and its protocol, for the mails.
    mail_name: (String, &'static str),
    /// `smtp_alert`: quorum changes are mailed.
    smtp: bool,
}

/// A real server's checks: the usual single one inline, so loading 10,000 real servers does
/// not leave 10,000 small blocks scattered over the freed configuration's heap pages.
enum Checks {
    One(Check),
    Many(Box<[Check]>),
}

impl std::ops::Deref for Checks {
    type Target = [Check];
    fn deref(&self) -> &[Check] {
        match self {
            Checks::One(c) => std::slice::from_ref(c),
            Checks::Many(cs) => cs,
        }
    }
}

impl std::ops::DerefMut for Checks {
    fn deref_mut(&mut self) -> &mut [Check] {
        match self {
            Checks::One(c) => std::slice::from_mut(c),
            Checks::Many(cs) => cs,
        }
    }
}

impl FromIterator<Check> for Checks {
    fn from_iter<I: IntoIterator<Item = Check>>(iter: I) -> Self {
        let mut cs: Vec<Check> = iter.into_iter().collect();
        match cs.len() {
            1 => Checks::One(cs.remove(0)),
            _ => Checks::Many(cs.into_boxed_slice()),
        }
    }
}

/// A real server's notify_up and notify_down commands.
struct Notify {
    up: Option<String>,
    down: Option<String>,
}

impl Real {
    /// A real server seen for the first time: up unless alpha (and it has checks).
    fn new(alpha: bool, params: Vec<Rc<CheckParams>>) -> Real {
        Real {
            up: !alpha || params.is_empty(),
            checks: params
                .into_iter()
                .map(|params| Check {
                    up: !params.alpha,
                    params,
                    id: None,
                    rare: None,
                })
                .collect(),
            weight: 0,
            weight_moved: false,
            smtp: false,
        }
    }
}

impl Real {
    /// The weight for IPVS (`None`: as configured).
    fn ipvs_weight(&self) -> Option<u32> {
        self.weight().map(|w| w.clamp(0, 65535) as u32)
    }

    fn weight(&self) -> Option<i32> {
        self.weight_moved.then_some(self.weight)
    }

    fn set_weight(&mut self, w: Option<i32>) {
        (self.weight, self.weight_moved) = (w.unwrap_or(0), w.is_some());
    }

    /// The effective weight after a check's weight news: misc_dynamic sets it (`None`: as
    /// configured), a FILE_CHECK moves it by its share (keepalived's update_svr_wgt calls).
    fn moved(&self, ev: &CheckEvent, configured: u32) -> Option<i32> {
        let clamp = |w: i64| Some(w.clamp(i32::MIN.into(), i32::MAX.into()) as i32);
        match *ev {
            CheckEvent::Weight(w) => w.and_then(|w| clamp(w.into())),
            CheckEvent::WeightBy(by) => clamp(
                self.weight()
                    .map_or(configured.into(), i64::from)
                    .saturating_add(by),
            ),
            CheckEvent::Up(_) | CheckEvent::Down(_) => self.weight(),
        }
    }
}

impl Vs {
    fn notify(&self, r: usize, up: bool) -> Option<&str> {
        let i = self
            .notify
            .binary_search_by_key(&r, |n| n.0 as usize)
            .ok()?;
        let n = &self.notify[i].1;
        if up { &n.up } else { &n.down }.as_deref()
    }

    fn shape(&self) -> policy::Shape<'_, CheckParams> {
        let reals = self
            .reals
            .iter()
            .zip(&self.policy.reals)
            .map(|(r, p)| {
                let addr = p.key.socket_addr();
                (addr, r.checks.iter().map(|c| &*c.params).collect())
            })
            .collect();
        policy::Shape {
            services: &self.policy.services,
            reals,
        }
    }
}

/// A virtual server of a configuration being applied: its policy and its checks' settings.
struct Planned {
    /// Consumed as the LB state is built, so its memory is reused at once.
    cfg: VirtualServer,
    name: String,
    policy: policy::VirtualServer,
    /// Per real server; equal settings share one copy.
    checks: Vec<Vec<Rc<CheckParams>>>,
}

impl Planned {
    fn shape(&self) -> policy::Shape<'_, CheckParams> {
        let reals = self
            .cfg
            .real_servers
            .iter()
            .zip(&self.checks)
            .map(|(r, c)| {
                (
                    SocketAddr::new(r.addr, r.port),
                    c.iter().map(|p| &**p).collect(),
                )
            })
            .collect();
        policy::Shape {
            services: &self.policy.services,
            reals,
        }
    }
}

/// One shared copy of each distinct check settings: real servers mostly repeat those of the
/// previous ones, so only the last few are compared (no hashing of every settings type).
fn intern(seen: &mut Vec<Rc<CheckParams>>, p: CheckParams) -> Rc<CheckParams> {
    const RECENT: usize = 8;
    if let Some(same) = seen.iter().rev().take(RECENT).find(|s| ***s == p) {
        return same.clone();
    }
    let p = Rc::new(p);
    seen.push(p.clone());
    p
}

/// The virtual servers of `cfg` (one that cannot be built is skipped with an error).
fn plan_config(cfg: &Config, vss: Vec<VirtualServer>) -> Vec<Planned> {
    let mut seen = Vec::new();
    vss.into_iter()
        .filter_map(|vcfg| match policy::from_config(cfg, &vcfg) {
            Ok((name, policy)) => Some(Planned {
                name,
                policy,
                checks: vcfg
                    .real_servers
                    .iter()
                    .map(|r| {
                        r.checkers
                            .iter()
                            .map(|c| intern(&mut seen, settings::from_config(&vcfg, r, c)))
                            .collect()
                    })
                    .collect(),
                cfg: vcfg,
            }),
            Err(e) => {
                log::error(&format!("error: {e}; virtual server skipped"));
                None
            }
        })
        .collect()
}

/// The daemon's load-balancing state.
pub struct Lb {
    checks: Checkers,
    io: CheckIo,
    vss: Vec<Vs>,
    /// CheckId -> (virtual server, real server).
    owner: Vec<Owner>,
    ipvs: Option<IpvsSocket>,
    ipvs_error: Option<String>,
    /// The kernel's table as last read or written.
    current: State,
    /// Services keeplite may change or delete (its configuration's, old and new on reload).
    owned: BTreeSet<ServiceKey>,
    dirty: bool,
    /// Held VIPs at the last ha_suspend evaluation (`None`: evaluate again).
    held: Option<Vec<IpAddr>>,
    rng: u64,
    /// Generation of the socket behind each registered fd.
    fd_gen: std::collections::HashMap<i32, u64>,
    next_gen: u64,
    /// `lvs_sync_daemon`, and the sync daemon commanded into the kernel.
    syncd_cfg: Option<config::LvsSyncDaemon>,
    syncd: Option<(SyncDaemon, Mode)>,
    /// `lvs_timeouts` last set in the kernel.
    timeouts: config::LvsTimeouts,
    /// `lvs_flush_on_stop`.
    flush_on_stop: bool,
    /// A burst of check sockets is over: give its freed heap back at the next [`Lb::flush`]
    /// (a load's is the daemon's to trim, [`super::TRIM_AFTER`] after it).
    trim: bool,
}

/// (virtual server, real server) of a checker slot, [`NO_OWNER`] for none: 8 B a slot. The
/// check is found among the real server's few by its id.
type Owner = [u32; 2];
const NO_OWNER: Owner = [u32::MAX; 2];

fn pack((v, r): (usize, usize)) -> Owner {
    [v as u32, r as u32]
}

/// Stops a running checker (and its misc script), keeping its last result for status.
fn stop(
    io: &mut CheckIo,
    checks: &mut Checkers,
    owner: &mut [Owner],
    ck: &mut Check,
    sh: &mut Shell,
    now: Instant,
) {
    if let Some(id) = ck.id() {
        ck.set_id(None);
        if let Some(last) = checks.get(id).last_result() {
            ck.rare().last = Some(last);
        }
        io.remove(checks, id);
        owner[id] = NO_OWNER;
    }
    if let Some(p) = ck.take_misc() {
        sh.procs.stop(p, now);
    }
}

/// The checker's words in keepalived's alert bodies, from its `kind_name`.
fn mail_check_name(kind: &str) -> &'static str {
    match kind {
        "TCP" => "TCP CHECK",
        "MISC" => "MISC CHECK",
        _ => "CHECK",
    }
}

/// keepalived's `FMT_VS` and the service protocol (`FMT_RS` uses it too).
fn mail_name(addr: &VsAddr, protocol: config::Protocol) -> (String, &'static str) {
    let proto = match protocol {
        config::Protocol::Tcp => "tcp",
        config::Protocol::Udp => "udp",
        config::Protocol::Sctp => "sctp",
    };
    let name = match addr {
        VsAddr::Ip(ip, port) => smtp::trio(SocketAddr::new(*ip, *port), proto),
        VsAddr::Fwmark(m) => format!("FWM {m}"),
        VsAddr::Group(g) => format!("[{g}]"),
    };
    (name, proto)
}

fn spawn(sh: &mut Shell, command: &str, timeout: Option<Duration>, now: Instant) -> Option<ProcId> {
    // Disabled scripts left the configuration; this only guards against running as root.
    let user = sh.vetting.run_as(command, None)?;
    let spec = ScriptSpec {
        command: command.to_owned(),
        args: Vec::new(),
        user,
        timeout,
    };
    match sh.procs.spawn(&spec, now) {
        Ok(id) => Some(id),
        Err(e) => {
            log::warn(&format!("cannot run `{command}`: {e}"));
            None
        }
    }
}

impl Lb {
    pub fn new() -> Lb {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Lb {
            checks: Checkers::new(),
            io: CheckIo::new(),
            vss: Vec::new(),
            owner: Vec::new(),
            ipvs: None,
            ipvs_error: None,
            current: State::default(),
            owned: BTreeSet::new(),
            dirty: false,
            held: None,
            fd_gen: std::collections::HashMap::new(),
            next_gen: 0,
            syncd_cfg: None,
            syncd: None,
            timeouts: config::LvsTimeouts::default(),
            flush_on_stop: false,
            trim: false,
            // Only spreads first checks over delay_loop; any odd non-zero seed does.
            rng: (t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32)) | 1,
        }
    }

    /// (virtual server, real server, check) of checker `id`.
    fn owner(&self, id: CheckId) -> Option<(usize, usize, usize)> {
        let [v, r] = *self.owner.get(id)?;
        let real = self.vss.get(v as usize)?.reals.get(r as usize)?;
        let c = real.checks.iter().position(|ck| ck.id() == Some(id))?;
        Some((v as usize, r as usize, c))
    }

    /// xorshift64: uniform enough to spread checks, no crate needed.
    fn random_delay(&mut self, max: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let ms = max.as_millis() as u64;
        Duration::from_millis(if ms == 0 { 0 } else { self.rng % (ms + 1) })
    }

    /// Starts the checker of `vss[v].reals[r].checks[c]` at a random point of its first
    /// delay_loop (keepalived's warmup), so checks do not all fire at once.
    fn start(&mut self, (v, r, c): (usize, usize, usize), now: Instant) {
        let vs = &self.vss[v];
        let ck = &vs.reals[r].checks[c];
        let addr = vs.policy.reals[r].key.socket_addr();
        let (params, up) = (ck.params.clone(), ck.up);
        let last = ck.last().copied();
        // A restarted checker (ha_suspend) starts from the state already reported.
        let delay = self.random_delay(params.delay_loop);
        let checker = Checker::start(params, addr, up, delay, now).with_last(last);
        let id = self.checks.add(checker);
        if self.owner.len() <= id {
            self.owner.resize(id + 1, NO_OWNER);
        }
        self.owner[id] = pack((v, r));
        self.vss[v].reals[r].checks[c].set_id(Some(id));
    }

    /// Replaces the virtual servers by `cfg`'s, keeping the running checkers (and health) of
    /// every real server whose checks did not change ([`policy::reconcile`]).
    pub fn apply(&mut self, cfg: &Config, vss: Vec<VirtualServer>, sh: &mut Shell, now: Instant) {
        self.syncd_cfg = cfg.global.lvs_sync_daemon.clone();
        self.flush_on_stop = cfg.global.lvs_flush_on_stop;
        if self.ipvs.is_none() && (!vss.is_empty() || self.syncd_cfg.is_some()) {
            self.open_ipvs(cfg.global.lvs_flush);
        }
        self.set_timeouts(cfg.global.lvs_timeouts);
        let planned = plan_config(cfg, vss);
        let mut old: Vec<Option<Vs>> = std::mem::take(&mut self.vss)
            .into_iter()
            .map(Some)
            .collect();
        let kept = {
            let was: Vec<_> = old.iter().flatten().map(Vs::shape).collect();
            let will: Vec<_> = planned.iter().map(Planned::shape).collect();
            policy::reconcile(&was, &will)
        };
        let removed: BTreeSet<ServiceKey> = old
            .iter()
            .flatten()
            .flat_map(|v| v.policy.services.iter().copied())
            .collect();
        let mut events = Vec::new();
        for (p, k) in planned.into_iter().zip(kept) {
            let prev = k.vs.and_then(|i| old[i].take());
            let (vs, ev) = self.adopt(p, prev, &k.reals, sh, now);
            if let Some(ev) = ev {
                events.push((self.vss.len(), ev));
            }
            self.vss.push(vs);
        }
        for mut o in old.into_iter().flatten() {
            self.stop_reals(&mut o.reals, sh, now);
        }
        // Indices moved: rebuild the checker -> owner map.
        self.owner.iter_mut().for_each(|o| *o = NO_OWNER);
        for (v, vs) in self.vss.iter().enumerate() {
            for (r, real) in vs.reals.iter().enumerate() {
                for ck in real.checks.iter() {
                    if let Some(id) = ck.id() {
                        self.owner[id] = pack((v, r));
                    }
                }
            }
        }
        let starting = self
            .vss
            .iter()
            .flat_map(|v| &v.reals)
            .flat_map(|r| r.checks.iter())
            .filter(|c| c.id.is_none())
            .count();
        self.checks.reserve(starting);
        let owners = (self.checks.slots() + starting).saturating_sub(self.owner.len());
        self.owner.reserve_exact(owners);
        for (v, ev) in events {
            self.quorum_event(v, ev, Some(true), sh, now);
        }
        let new: BTreeSet<ServiceKey> = self
            .vss
            .iter()
            .flat_map(|v| v.policy.services.iter().copied())
            .collect();
        // Services of the old configuration are still ours to delete.
        self.owned = new.union(&removed).copied().collect();
        self.held = None;
        self.dirty = true;
        self.flush(sh, &[], now);
        self.owned = new;
    }

    /// One virtual server of a new configuration, taking over from `prev` (same services) the
    /// real servers `kept` names; the others of `prev` are stopped. Returns the quorum event
    /// the change owes.
    fn adopt(
        &mut self,
        p: Planned,
        prev: Option<Vs>,
        kept: &[Option<usize>],
        sh: &mut Shell,
        now: Instant,
    ) -> (Vs, Option<LbEvent>) {
        let VirtualServer {
            real_servers,
            alpha,
            ha_suspend,
            lb_kind,
            quorum_up,
            quorum_down,
            addr,
            protocol,
            smtp_alert,
            ..
        } = p.cfg;
        let vs_smtp = sh.smtp.checker_alert(smtp_alert);
        let mut old_reals: Vec<Option<Real>> = prev
            .as_ref()
            .map_or(Vec::new(), |v| v.reals.iter().map(|_| None).collect());
        let (before, was_suspended) = match prev {
            Some(v) => {
                for (slot, r) in old_reals.iter_mut().zip(v.reals) {
                    *slot = Some(r);
                }
                (Some(v.health.quorum_up()), v.suspended)
            }
            None => (None, true),
        };
        // Each real server's configuration is dropped as its state is built.
        let mut notify = Vec::new();
        let mut reals: Vec<Real> = real_servers
            .into_iter()
            .zip(p.checks)
            .zip(kept)
            .enumerate()
            .map(|(i, ((rcfg, params), k))| {
                let smtp = rcfg.smtp_alert.unwrap_or(vs_smtp);
                let (up, down) = (rcfg.notify_up, rcfg.notify_down);
                if up.is_some() || down.is_some() {
                    notify.push((i as u32, Notify { up, down }));
                }
                let mut r = k
                    .and_then(|j| old_reals[j].take())
                    .unwrap_or_else(|| Real::new(alpha, params));
                r.smtp = smtp;
                r
            })
            .collect();
        // Collected in place, in the configuration's larger records: the rest goes back.
        reals.shrink_to_fit();
        // Real servers that changed or went away: stop their checkers.
        let mut gone: Vec<Real> = old_reals.into_iter().flatten().collect();
        self.stop_reals(&mut gone, sh, now);
        let (mut health, start_event) = Health::new(&p.policy);
        for (i, r) in reals.iter().enumerate() {
            health.set_up(&p.policy, i, r.up);
            health.set_weight(&p.policy, i, r.ipvs_weight());
        }
        let event = policy::reload_event(before, health.quorum_up(), start_event);
        let suspend_addrs = ha_suspend.then(|| {
            p.policy
                .services
                .iter()
                .filter_map(|k| match k {
                    ServiceKey::Addr { addr, .. } => Some(addr.ip()),
                    ServiceKey::Fwmark { .. } => None,
                })
                .collect()
        });
        let vs = Vs {
            name: p.name,
            health,
            reals,
            notify,
            ha_suspend: suspend_addrs,
            // Until `flush` looks at the addresses again: suspended if it was (or is new).
            suspended: ha_suspend && was_suspended,
            method: lb_kind,
            quorum_up,
            quorum_down,
            sync_error: None,
            fifo_label: fifo::vs_label(&addr, protocol),
            proto: protocol,
            mail_name: mail_name(&addr, protocol),
            smtp: vs_smtp,
            policy: p.policy,
        };
        (vs, event)
    }

    fn stop_reals(&mut self, reals: &mut [Real], sh: &mut Shell, now: Instant) {
        for r in reals {
            for c in r.checks.iter_mut() {
                stop(&mut self.io, &mut self.checks, &mut self.owner, c, sh, now);
            }
        }
    }

    /// `lvs_timeouts`, when set and changed (keepalived sets them at every start and reload).
    fn set_timeouts(&mut self, t: config::LvsTimeouts) {
        if t == self.timeouts || t == config::LvsTimeouts::default() {
            return;
        }
        let Some(sock) = self.ipvs.as_mut() else {
            return;
        };
        match sock.command(Request::set_timeouts(&t)) {
            Ok(()) => {
                let v = |v: Option<u32>| v.map_or("unchanged".to_owned(), |v| format!("{v}s"));
                log::info(&format!(
                    "IPVS: timeouts tcp {}, tcpfin {}, udp {}",
                    v(t.tcp),
                    v(t.tcpfin),
                    v(t.udp)
                ));
                self.timeouts = t;
            }
            Err(e) => log::error(&format!("error: IPVS: cannot set lvs_timeouts: {e}")),
        }
    }

    /// `flush`: `lvs_flush`, the table is emptied first.
    fn open_ipvs(&mut self, flush: bool) {
        match IpvsSocket::open().and_then(|mut s| {
            if flush {
                s.command(Request::flush())?;
                log::info("IPVS: flushed (lvs_flush)");
            }
            let st = s.state()?;
            Ok((s, st))
        }) {
            Ok((s, st)) => {
                self.ipvs = Some(s);
                self.current = st;
                self.ipvs_error = None;
                log::info("IPVS opened");
            }
            Err(e) => {
                let msg = e.to_string();
                let msg = if msg.starts_with("error:") {
                    msg
                } else {
                    format!("error: cannot open IPVS: {msg}")
                };
                log::error(&format!(
                    "{msg}\n  = note: health checks keep running; IPVS is tried again on reload"
                ));
                self.ipvs_error = Some(msg);
            }
        }
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.checks.poll_timeout()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.io.handle_timeout(&mut self.checks, now);
    }

    /// Readiness of a checker socket, of the kinds the poller reported: a connect that ends
    /// writable only is done without asking the socket for its error.
    pub fn ready(&mut self, token: u64, ready: Readiness, poller: &Poller, now: Instant) {
        // Sockets closed earlier in this batch must not take a later event of their fd.
        self.fd_changes(poller);
        let fd = (token & ((1 << FD_BITS) - 1)) as i32;
        if self.fd_gen.get(&fd) == Some(&((token - TOKEN_CHECK) >> FD_BITS)) {
            self.io.handle_ready(&mut self.checks, fd, ready, now);
        }
    }

    /// Keeps the epoll set in step with the checkers' sockets.
    fn fd_changes(&mut self, poller: &Poller) {
        while let Some(ch) = self.io.poll_fd_change() {
            let r = match ch {
                FdChange::Add(fd, i) => {
                    self.next_gen = (self.next_gen + 1) % (1 << (48 - FD_BITS));
                    self.fd_gen.insert(fd, self.next_gen);
                    poller.add(fd, i, self.token(fd))
                }
                FdChange::Modify(fd, i) => poller.modify(fd, i, self.token(fd)),
                // Out of the set before the socket closes (the end of this arm): a forked
                // child (the reload worker) may hold a copy that keeps the file open, and a
                // level-triggered registration of it would wake the loop until the child exits.
                FdChange::Remove(fd) => {
                    self.fd_gen.remove(&fd.as_raw_fd());
                    let _ = poller.delete(fd.as_raw_fd());
                    Ok(())
                }
            };
            if let Err(e) = r {
                log::warn(&format!("health check socket: epoll: {e}"));
            }
        }
        let cap = self.fd_gen.capacity();
        check_io::shrink_idle(&mut self.fd_gen);
        // A burst of ~1,000 checks or more in flight is over (the socket maps shrank): the
        // pages its tables touched in the heap's free space (the hole a load leaves, ~700 KiB
        // with 10,000 real servers) would stay resident. Steady bursts stay under this.
        if cap >= TRIM_AFTER_SOCKETS && self.fd_gen.capacity() < cap {
            self.trim = true;
        }
    }

    fn token(&self, fd: i32) -> u64 {
        TOKEN_CHECK + (self.fd_gen.get(&fd).copied().unwrap_or(0) << FD_BITS) + fd as u64
    }

    /// A child ended: MISC_CHECK results go to their checker; notify scripts are ignored.
    pub fn reaped(&mut self, f: &Finished, now: Instant) {
        for (v, vs) in self.vss.iter_mut().enumerate() {
            for (r, real) in vs.reals.iter_mut().enumerate() {
                for ck in real.checks.iter_mut() {
                    if ck.misc() != Some(f.id) {
                        continue;
                    }
                    ck.take_misc();
                    let exit = match f.outcome {
                        Outcome::Exited(code) => MiscExit::Exited(code as u8),
                        Outcome::Signaled(s) => MiscExit::Signaled(s),
                        Outcome::TimedOut => MiscExit::Signaled(libc::SIGKILL),
                    };
                    if let Some(id) = ck.id() {
                        debug_assert_eq!(self.owner.get(id), Some(&pack((v, r))));
                        self.io.misc_exited(&mut self.checks, id, exit, now);
                    }
                    return;
                }
            }
        }
    }

    /// After every loop iteration: epoll registrations, checker outputs, ha_suspend, then
    /// IPVS if anything changed. `held` lists the VIPs installed by MASTER instances.
    pub fn flush(&mut self, sh: &mut Shell, held: &[IpAddr], now: Instant) {
        // Checkers start and stop only on a reload or a change of the held addresses: not a
        // walk over every real server per wake-up.
        if self.suspend(sh, held) {
            self.run_checkers(sh, now);
        }
        self.fd_changes(&sh.poller);
        while let Some(out) = self.checks.poll_output() {
            match out {
                Output::Event(id, ev) => {
                    if let Some(at) = self.owner(id) {
                        self.check_event(at, ev, sh, now);
                    }
                }
                Output::SpawnMisc { id, path } => {
                    if let Some((v, r, c)) = self.owner(id) {
                        let ck = &mut self.vss[v].reals[r].checks[c];
                        ck.rare().misc = spawn(sh, &path, None, now);
                        if ck.misc().is_none() {
                            self.io
                                .misc_exited(&mut self.checks, id, MiscExit::Exited(127), now);
                        }
                    }
                }
                Output::KillMisc { id, signal } => {
                    if let Some((v, r, c)) = self.owner(id) {
                        if let Some(p) = self.vss[v].reals[r].checks[c].misc() {
                            sh.procs.signal(p, signal, now);
                        }
                    }
                }
            }
        }
        if self.dirty {
            self.dirty = false;
            self.sync();
        }
        if std::mem::take(&mut self.trim) {
            crate::sys::trim_heap();
        }
    }

    fn check_event(
        &mut self,
        (v, r, c): (usize, usize, usize),
        ev: CheckEvent,
        sh: &mut Shell,
        now: Instant,
    ) {
        let vs = &mut self.vss[v];
        let addr = vs.policy.reals[r].key.socket_addr();
        let real = &mut vs.reals[r];
        let q = match ev {
            CheckEvent::Up(ref reason) | CheckEvent::Down(ref reason) => {
                let ck = &mut real.checks[c];
                ck.up = matches!(ev, CheckEvent::Up(_));
                let kind = ck.params.kind_name();
                let check_ok = ck.up;
                let up = real.checks.iter().all(|k| k.up);
                // keepalived mails every checker change unless `no_checker_emails`, which
                // keeps those that change the real server's state.
                if real.smtp && (up != real.up || !sh.smtp.no_checker_emails) {
                    let (name, proto) = &vs.mail_name;
                    let alert = smtp::Alert::RealServer {
                        real: smtp::trio(addr, proto),
                        virtual_server: name.clone(),
                        up,
                        check: mail_check_name(kind),
                        check_ok,
                    };
                    sh.mail.alert(alert, &sh.poller, now);
                }
                if up == real.up {
                    return;
                }
                real.up = up;
                let state = if up { "UP" } else { "DOWN" };
                // "HTTP 200 ok" already names its check.
                let why = reason.to_string();
                let why = if why.starts_with(kind) {
                    why
                } else {
                    format!("{kind} {why}")
                };
                log::info(&format!(
                    "{}: real server {} {state} ({why})",
                    vs.name, addr
                ));
                if let Some(cmd) = vs.notify(r, up) {
                    spawn(sh, cmd, Some(NOTIFY_TIMEOUT), now);
                }
                let rs = fifo::trio(addr, vs.proto);
                sh.fifos.lvs(&fifo::rs_line(&rs, &vs.fifo_label, up));
                vs.health.set_up(&vs.policy, r, up)
            }
            CheckEvent::Weight(_) | CheckEvent::WeightBy(_) => {
                real.set_weight(real.moved(&ev, vs.policy.reals[r].weight));
                let w = real.ipvs_weight();
                log::info(&format!(
                    "{}: real server {} weight {} ({}_CHECK)",
                    vs.name,
                    addr,
                    w.map_or("as configured".to_owned(), |w| w.to_string()),
                    real.checks[c].params.kind_name()
                ));
                vs.health.set_weight(&vs.policy, r, w)
            }
        };
        self.dirty = true;
        if let Some(q) = q {
            self.quorum_event(v, q, Some(false), sh, now);
        }
    }

    /// `start`: `Some(true)` after a (re)load, `Some(false)` on a check's news, `None` when
    /// stopping (no mail then: the daemon exits before it could be delivered).
    fn quorum_event(
        &mut self,
        v: usize,
        ev: LbEvent,
        start: Option<bool>,
        sh: &mut Shell,
        now: Instant,
    ) {
        let vs = &self.vss[v];
        let up = matches!(ev, LbEvent::QuorumUp);
        if let (Some(start), true, false) = (start, vs.smtp, matches!(ev, LbEvent::RealDown(_))) {
            let name = &vs.mail_name.0;
            let (q, h) = (vs.policy.quorum, vs.policy.hysteresis);
            let sum = vs.health.live_weight(&vs.policy);
            let body = smtp::quorum_body(up, start, q, h, sum);
            let name = name.clone();
            sh.mail.alert(
                smtp::Alert::VirtualServer { name, up, body },
                &sh.poller,
                now,
            );
        }
        let (what, script) = match ev {
            LbEvent::QuorumUp => ("gained", &vs.quorum_up),
            LbEvent::QuorumDown => ("lost", &vs.quorum_down),
            LbEvent::RealDown(i) => {
                if let Some(cmd) = vs.notify(i, false) {
                    spawn(sh, cmd, Some(NOTIFY_TIMEOUT), now);
                }
                let rs = fifo::trio(vs.policy.reals[i].key.socket_addr(), vs.proto);
                sh.fifos.lvs(&fifo::rs_line(&rs, &vs.fifo_label, false));
                return;
            }
        };
        log::info(&format!("{}: quorum {what}", vs.name));
        let up = matches!(ev, LbEvent::QuorumUp);
        sh.fifos.lvs(&fifo::vs_line(&vs.fifo_label, up));
        if let Some(cmd) = script.clone() {
            spawn(sh, &cmd, Some(NOTIFY_TIMEOUT), now);
        }
    }

    /// ha_suspend: pauses or resumes checks when the set of held VIPs changed.
    /// Returns false if nothing changed since the last call (same held addresses, no reload).
    fn suspend(&mut self, sh: &mut Shell, held: &[IpAddr]) -> bool {
        if self.held.as_deref() == Some(held) {
            return false;
        }
        self.held = Some(held.to_vec());
        if self.vss.iter().all(|v| v.ha_suspend.is_none()) {
            return true;
        }
        // Static addresses count as well as VIPs (keepalived watches all local addresses).
        let local: Vec<IpAddr> = match sh.rtnl.addresses(None) {
            Ok(a) => a.into_iter().map(|a| a.addr).collect(),
            Err(e) => {
                log::warn(&format!("ha_suspend: reading local addresses: {e}"));
                held.to_vec()
            }
        };
        for vs in &mut self.vss {
            let Some(addrs) = &vs.ha_suspend else {
                continue;
            };
            let suspend = !addrs.iter().any(|a| local.contains(a));
            if suspend != vs.suspended {
                vs.suspended = suspend;
                log::info(&format!(
                    "{}: health checks {} (ha_suspend)",
                    vs.name,
                    if suspend {
                        "suspended, the address is not held here"
                    } else {
                        "resumed"
                    }
                ));
            }
        }
        true
    }

    /// Starts the checkers that should run and stops those of suspended virtual servers.
    fn run_checkers(&mut self, sh: &mut Shell, now: Instant) {
        for v in 0..self.vss.len() {
            let run = !self.vss[v].suspended;
            for r in 0..self.vss[v].reals.len() {
                for c in 0..self.vss[v].reals[r].checks.len() {
                    let ck = &mut self.vss[v].reals[r].checks[c];
                    match (run, ck.id.is_some()) {
                        (true, false) => self.start((v, r, c), now),
                        (false, true) => {
                            stop(&mut self.io, &mut self.checks, &mut self.owner, ck, sh, now)
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Brings the kernel's table in line with the current health (owned services only).
    fn sync(&mut self) {
        let Some(sock) = self.ipvs.as_mut() else {
            return;
        };
        let mut desired = State::default();
        for vs in &self.vss {
            vs.health.install(&vs.policy, &mut desired);
        }
        let ops = plan(&desired, &self.current, |k| self.owned.contains(k));
        if ops.is_empty() {
            return;
        }
        log_ops(&ops);
        let result = sock.apply(&ops);
        for vs in &mut self.vss {
            vs.sync_error = None;
        }
        match result {
            Ok(errors) if errors.is_empty() => {
                self.ipvs_error = None;
                for op in &ops {
                    self.current.apply(op);
                }
                return;
            }
            Ok(errors) => {
                self.ipvs_error = None;
                for e in errors {
                    let msg = e.to_string();
                    let key = e.op.service();
                    if let Some(vs) = self
                        .vss
                        .iter_mut()
                        .find(|v| v.policy.services.contains(&key))
                    {
                        if vs.sync_error.as_ref() != Some(&msg) {
                            log::error(&msg);
                        }
                        vs.sync_error = Some(msg);
                    } else {
                        log::error(&msg);
                    }
                }
            }
            Err(e) => {
                let msg = format!("error: programming IPVS: {e}");
                if self.ipvs_error.as_ref() != Some(&msg) {
                    log::error(&msg);
                }
                self.ipvs_error = Some(msg);
            }
        }
        // Something was refused: learn what the kernel really has.
        if let Some(st) = self.ipvs.as_mut().and_then(|s| s.state().ok()) {
            self.current = st;
        }
    }

    /// Runs the sync daemon `lvs_sync_daemon` asks for: master while its instance is MASTER,
    /// backup otherwise, none while the instance is not running. `instance` gives a running
    /// instance's VRID and whether it is MASTER. Called after every loop iteration.
    pub fn sync_daemon(&mut self, instance: impl Fn(&str) -> Option<(u8, bool)>) {
        let want = self.syncd_cfg.as_ref().and_then(|c| {
            let (vrid, master) = instance(&c.instance)?;
            let mode = if master { Mode::Master } else { Mode::Backup };
            Some((SyncDaemon::from_config(c, vrid), mode))
        });
        self.switch_sync_daemon(want);
    }

    fn switch_sync_daemon(&mut self, want: Option<(SyncDaemon, Mode)>) {
        let cmds = syncd::switch(self.syncd.as_ref(), want.as_ref());
        if cmds.is_empty() {
            return;
        }
        // Not retried: like keepalived, a refused daemon is reported once per change.
        self.syncd = want;
        let Some(sock) = self.ipvs.as_mut() else {
            log::error("error: IPVS sync daemon: IPVS is not available");
            return;
        };
        for cmd in cmds {
            let stop = matches!(cmd, syncd::Cmd::Stop(..));
            match sock.command(Request::daemon(&cmd)) {
                Ok(()) => log::info(&format!("IPVS: {}", cmd.describe())),
                // Nothing of that kind was running.
                Err(e) if stop && e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => log::error(&format!("error: IPVS: cannot {}: {e}", cmd.describe())),
            }
        }
    }

    /// SIGTERM: omega notifications, then keeplite's services leave the kernel with `release`
    /// (keepalived does the same unless `--dont-release-ipvs`).
    pub fn shutdown(&mut self, sh: &mut Shell, release: bool, now: Instant) {
        for v in 0..self.vss.len() {
            for ev in self.vss[v].health.shutdown(&self.vss[v].policy) {
                self.quorum_event(v, ev, None, sh, now);
            }
        }
        // keepalived stops its sync daemon at exit, `-I` or not.
        self.switch_sync_daemon(None);
        if let Some(sock) = self.ipvs.as_mut().filter(|_| release && self.flush_on_stop) {
            match sock.command(Request::flush()) {
                Ok(()) => log::info("IPVS: flushed (lvs_flush_on_stop)"),
                Err(e) => log::error(&format!("error: IPVS: lvs_flush_on_stop: {e}")),
            }
        } else if let Some(sock) = self.ipvs.as_mut().filter(|_| release) {
            let ops = teardown(&self.current, |k| self.owned.contains(k));
            log_ops(&ops);
            match sock.apply(&ops) {
                Ok(errors) => errors.iter().for_each(|e| log::error(&e.to_string())),
                Err(e) => log::error(&format!("error: removing IPVS services: {e}")),
            }
        }
    }

    pub fn ipvs_error(&self) -> Option<String> {
        self.ipvs_error.clone()
    }

    pub fn status(&self, now: Instant) -> Vec<VirtualServerStatus> {
        self.vss
            .iter()
            .map(|vs| {
                let dests = vs.health.dests(&vs.policy);
                VirtualServerStatus {
                    name: vs.name.clone(),
                    services: vs.policy.services.iter().map(|k| k.to_string()).collect(),
                    scheduler: vs.policy.params.scheduler.to_string(),
                    method: vs.method.keyword().to_owned(),
                    persistence: vs.policy.params.persistence.map(|p| p.timeout),
                    quorum_up: vs.health.quorum_up(),
                    suspended: vs.suspended,
                    sync_error: vs.sync_error.clone(),
                    real_servers: vs
                        .reals
                        .iter()
                        .zip(&vs.policy.reals)
                        .map(|(r, p)| {
                            let key = p.key;
                            let last = r
                                .checks
                                .iter()
                                .filter_map(|c| {
                                    let l = c
                                        .id()
                                        .and_then(|id| self.checks.get(id).last_result())
                                        .or_else(|| c.last().copied())?;
                                    Some((c.params.kind_name(), l))
                                })
                                .max_by_key(|(_, l)| l.at);
                            RealServerStatus {
                                addr: key.socket_addr().to_string(),
                                up: r.up,
                                weight: dests
                                    .iter()
                                    .find(|d| d.key == key)
                                    .map_or(0, |d| d.params.weight),
                                last: last.map(|(kind, l)| CheckResult {
                                    check: kind.to_owned(),
                                    success: l.success,
                                    reason: l.reason.to_string(),
                                    ago_ms: now.saturating_duration_since(l.at).as_millis() as u64,
                                }),
                            }
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

/// A line per change for health changes, a summary for big ones (startup, reload).
fn log_ops(ops: &[Op]) {
    if ops.len() <= 8 {
        for op in ops {
            log::info(&format!("IPVS: {}", op.describe()));
        }
    } else if !ops.is_empty() {
        log::info(&format!("IPVS: applying {} changes", ops.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each byte of a real server's record is ~10 KB of RSS with 10,000 of them.
    #[test]
    fn a_real_server_record_stays_small() {
        let n = std::mem::size_of::<Real>();
        assert!(n <= 32, "{n} B");
    }

    #[test]
    fn real_servers_share_equal_check_settings() {
        let rs = |addr: &str, check: &str| format!(" real_server {addr} 80 {{\n {check}\n }}\n");
        let tcp = "TCP_CHECK {\n connect_timeout 3\n }";
        let text = format!(
            "virtual_server 192.0.2.1 80 {{\n protocol TCP\n{}{}{}}}\n",
            rs("192.0.2.10", tcp),
            rs("192.0.2.11", tcp),
            rs(
                "192.0.2.12",
                "TCP_CHECK {\n connect_timeout 3\n connect_port 81\n }"
            ),
        );
        let c = settings::cfg(&text);
        let p = plan_config(&c, c.virtual_servers.clone());
        let checks = &p[0].checks;
        assert!(Rc::ptr_eq(&checks[0][0], &checks[1][0]));
        assert!(!Rc::ptr_eq(&checks[0][0], &checks[2][0]));
        // Each checker still checks its own real server.
        let now = Instant::now();
        let addrs = ["192.0.2.11:80", "192.0.2.12:81"];
        for (params, dst) in checks[1..].iter().zip(addrs) {
            let real = SocketAddr::new(dst.parse::<SocketAddr>().unwrap().ip(), 80);
            let mut ck = Checker::start(params[0].clone(), real, true, Duration::ZERO, now);
            let mut out = crate::check::Actions::new();
            ck.handle_timeout(now, &mut out);
            assert_eq!(
                out.pop_front(),
                Some(crate::check::Action::Connect {
                    dst: dst.parse().unwrap(),
                    bind: None,
                    tls: false
                })
            );
        }
    }
}
