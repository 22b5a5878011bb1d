//! Load balancing in the daemon: `virtual_server` blocks become IPVS policies
//! ([`crate::ipvs::policy`]) and health checkers ([`CheckIo`]) driven by the daemon's loop.
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
use std::time::{Duration, Instant};

use super::{log, Shell, NOTIFY_TIMEOUT};
use crate::check::http::{parse_digest, HttpProtocol, StatusSet};
use crate::check::misc::MiscExit;
use crate::check::{
    self, CheckParams, ConnParams, Event as CheckEvent, HttpParams, LastResult, MiscParams,
    UrlParams,
};
use crate::config::{self, CheckKind, Config, Keyword, LbKind, VsAddr};
use crate::control::{CheckResult, RealServerStatus, VirtualServerStatus};
use crate::ipvs::model::{
    Dest, DestKey, DestParams, Family, Forward, Persistence, Protocol, Scheduler, ServiceKey,
    ServiceParams, State,
};
use crate::ipvs::plan::{plan, teardown, Op};
use crate::ipvs::policy::{self, expand_group, Event as LbEvent, GroupEntry, Health};
use crate::sys::check_io::{CheckId, CheckIo, FdChange, Output};
use crate::sys::event::{Interest, Poller};
use crate::sys::ipvs::IpvsSocket;
use crate::sys::process::{Finished, Outcome, ProcId, ScriptSpec};

/// Epoll tokens of checker sockets: this, a generation (bits 24..48) and the fd (bits 0..24).
/// The generation tells a socket from an earlier one that had the same fd number and whose
/// readiness is still in the batch being handled.
pub const TOKEN_CHECK: u64 = 1 << 48;
const FD_BITS: u32 = 24;

struct Check {
    /// With `initial_delay` zero, so equal params mean an unchanged check.
    params: CheckParams,
    /// `None` while suspended (ha_suspend).
    id: Option<CheckId>,
    up: bool,
    /// Last result kept while the checker is not running.
    last: Option<LastResult>,
    /// The running MISC_CHECK script.
    misc: Option<ProcId>,
}

struct Real {
    addr: SocketAddr,
    checks: Vec<Check>,
    notify_up: Option<String>,
    notify_down: Option<String>,
    up: bool,
    /// misc_dynamic weight in force.
    weight: Option<u32>,
}

struct Vs {
    name: String,
    policy: policy::VirtualServer,
    health: Health,
    reals: Vec<Real>,
    ha_suspend: Option<Vec<IpAddr>>,
    suspended: bool,
    method: LbKind,
    quorum_up: Option<String>,
    quorum_down: Option<String>,
    sync_error: Option<String>,
}

/// The daemon's load-balancing state.
pub struct Lb {
    io: CheckIo,
    vss: Vec<Vs>,
    /// CheckId -> (virtual server, real server, check).
    owner: Vec<Option<(usize, usize, usize)>>,
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
}

fn forward(k: LbKind) -> Forward {
    match k {
        LbKind::Dr => Forward::Direct,
        LbKind::Nat => Forward::Masq,
        LbKind::Tun => Forward::Tunnel,
    }
}

fn protocol(p: config::Protocol) -> Protocol {
    match p {
        config::Protocol::Tcp => Protocol::Tcp,
        config::Protocol::Udp => Protocol::Udp,
        config::Protocol::Sctp => Protocol::Sctp,
    }
}

/// `ADDR-LAST`: LAST replaces the last octet (IPv4) or group (IPv6).
fn range_end(addr: IpAddr, last: u16) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mut o = a.octets();
            o[3] = last as u8;
            IpAddr::V4(o.into())
        }
        IpAddr::V6(a) => {
            let mut s = a.segments();
            s[7] = last;
            IpAddr::V6(s.into())
        }
    }
}

/// The IPVS policy of a virtual server and its display name.
fn policy_of(
    cfg: &Config,
    vs: &config::VirtualServer,
) -> Result<(String, policy::VirtualServer), String> {
    let proto = protocol(vs.protocol);
    let fwmark_family = vs
        .real_servers
        .first()
        .map_or(Family::V4, |r| Family::of(r.addr));
    let (name, services) = match &vs.addr {
        VsAddr::Ip(ip, port) => {
            let key = ServiceKey::Addr {
                protocol: proto,
                addr: SocketAddr::new(*ip, *port),
            };
            (key.to_string(), vec![key])
        }
        VsAddr::Fwmark(mark) => {
            let key = ServiceKey::Fwmark {
                family: fwmark_family,
                mark: *mark,
            };
            (key.to_string(), vec![key])
        }
        VsAddr::Group(g) => {
            let group = cfg
                .server_groups
                .iter()
                .find(|x| &x.name == g)
                .ok_or_else(|| format!("virtual_server_group `{g}` is not defined"))?;
            let entries: Vec<GroupEntry> = group
                .entries
                .iter()
                .map(|e| match *e {
                    config::GroupEntry::Range { addr, last, port } => GroupEntry::Range {
                        first: addr,
                        last: last.map_or(addr, |l| range_end(addr, l)),
                        port,
                    },
                    config::GroupEntry::Fwmark(m) => GroupEntry::Fwmark(m),
                })
                .collect();
            let services = expand_group(&entries, proto, fwmark_family)
                .map_err(|e| format!("virtual_server_group `{g}`: {e}"))?;
            (format!("group {g}"), services)
        }
    };
    let scheduler = Scheduler::from_name(&vs.lb_algo)
        .ok_or_else(|| format!("{name}: unknown lb_algo `{}`", vs.lb_algo))?;
    // keepalived: persistence_timeout 0 means not persistent.
    let persistence = vs
        .persistence_timeout
        .filter(|t| *t > 0)
        .map(|timeout| Persistence {
            timeout,
            prefix: match (vs.persistence_granularity, services[0].family()) {
                (Some(mask), Family::V4) => u32::from(mask).count_ones() as u8,
                (None, Family::V4) => 32,
                (_, Family::V6) => 128,
            },
        });
    let fwd = forward(vs.lb_kind);
    let reals = vs
        .real_servers
        .iter()
        .map(|r| policy::RealServer {
            dest: Dest {
                key: DestKey {
                    addr: r.addr,
                    port: r.port,
                },
                params: DestParams {
                    forward: fwd,
                    weight: r.weight.max(0) as u32,
                    upper_threshold: 0,
                    lower_threshold: 0,
                },
            },
            inhibit_on_failure: r.inhibit_on_failure || vs.inhibit_on_failure,
        })
        .collect();
    let service_port = match vs.addr {
        VsAddr::Ip(_, p) => p,
        _ => 0,
    };
    let sorry = vs.sorry_server.map(|(addr, port)| {
        let port = if port == 0 { service_port } else { port };
        Dest::new(SocketAddr::new(addr, port), fwd, 1)
    });
    Ok((
        name,
        policy::VirtualServer {
            services,
            params: ServiceParams {
                scheduler,
                persistence,
                flags: vs.sched_flags,
            },
            reals,
            sorry,
            quorum: vs.quorum,
            hysteresis: vs.hysteresis,
            alpha: vs.alpha,
            omega: vs.omega,
        },
    ))
}

/// keepalived's resolution of one checker's settings (initial delay left at zero).
fn check_params(
    vs: &config::VirtualServer,
    rs: &config::RealServer,
    c: &config::Checker,
) -> CheckParams {
    let conn = ConnParams {
        dst: SocketAddr::new(
            c.connect_ip.unwrap_or(rs.addr),
            c.connect_port.unwrap_or(rs.port),
        ),
        bind: match (c.bindto, c.bind_port) {
            (Some(ip), port) => Some(SocketAddr::new(ip, port.unwrap_or(0))),
            (None, Some(port)) => {
                let any = match rs.addr {
                    IpAddr::V4(_) => IpAddr::from([0u8; 4]),
                    IpAddr::V6(_) => IpAddr::from([0u16; 8]),
                };
                Some(SocketAddr::new(any, port))
            }
            (None, None) => None,
        },
        connect_timeout: c.connect_timeout,
    };
    let http = |h: &config::HttpCheck, tls: bool| {
        check::CheckKind::Http(Box::new(HttpParams {
            urls: h
                .urls
                .iter()
                .map(|u| {
                    let mut status = StatusSet::empty();
                    for &(lo, hi) in &u.status_code {
                        status.insert_range(lo, hi);
                    }
                    UrlParams {
                        path: u.path.clone(),
                        digest: u.digest.as_deref().and_then(parse_digest),
                        status: if status.is_empty() {
                            StatusSet::default_2xx()
                        } else {
                            status
                        },
                        virtualhost: u.virtualhost.clone(),
                    }
                })
                .collect(),
            // url > checker > virtual server.
            virtualhost: h.virtualhost.clone().or_else(|| vs.virtualhost.clone()),
            protocol: HttpProtocol::default(),
            exchange_timeout: conn.connect_timeout * 3,
            tls,
            conn: conn.clone(),
        }))
    };
    let kind = match &c.kind {
        CheckKind::Tcp => check::CheckKind::Tcp(conn.clone()),
        CheckKind::Http(h) => http(h, false),
        CheckKind::Ssl(h) => http(h, true),
        CheckKind::Misc(m) => check::CheckKind::Misc(MiscParams {
            path: m.path.clone(),
            timeout: m.timeout,
            dynamic: m.dynamic,
        }),
    };
    CheckParams {
        kind,
        delay_loop: c.delay_loop.unwrap_or(vs.delay_loop),
        retry: c.retry,
        delay_before_retry: c.delay_before_retry,
        alpha: vs.alpha,
        initial_delay: Duration::ZERO,
    }
}

/// Stops a running checker (and its misc script), keeping its last result for status.
fn stop(io: &mut CheckIo, owner: &mut [Option<(usize, usize, usize)>], ck: &mut Check, sh: &Shell) {
    if let Some(id) = ck.id.take() {
        ck.last = io.checker(id).last_result().cloned().or(ck.last.take());
        io.remove(id);
        owner[id] = None;
    }
    if let Some(p) = ck.misc.take() {
        sh.procs.signal(p, libc::SIGKILL);
    }
}

fn kind_name(p: &CheckParams) -> &'static str {
    match &p.kind {
        check::CheckKind::Tcp(_) => "TCP",
        check::CheckKind::Http(h) if h.tls => "SSL",
        check::CheckKind::Http(_) => "HTTP",
        check::CheckKind::Misc(_) => "MISC",
    }
}

fn spawn(sh: &mut Shell, command: &str, timeout: Option<Duration>, now: Instant) -> Option<ProcId> {
    let spec = ScriptSpec {
        command: command.to_owned(),
        args: Vec::new(),
        user: sh.script_user,
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
            // Only spreads first checks over delay_loop; any odd non-zero seed does.
            rng: (t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32)) | 1,
        }
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
        let ck = &self.vss[v].reals[r].checks[c];
        let mut p = ck.params.clone();
        // A restarted checker (ha_suspend) starts from the state already reported.
        p.alpha = !ck.up;
        p.initial_delay = self.random_delay(p.delay_loop);
        let id = self.io.add(p, now);
        if self.owner.len() <= id {
            self.owner.resize(id + 1, None);
        }
        self.owner[id] = Some((v, r, c));
        self.vss[v].reals[r].checks[c].id = Some(id);
    }

    /// Replaces the virtual servers by `cfg`'s, keeping the running checkers (and health) of
    /// every real server whose checks did not change.
    pub fn apply(&mut self, cfg: &Config, sh: &mut Shell, now: Instant) {
        if self.ipvs.is_none() && !cfg.virtual_servers.is_empty() {
            self.open_ipvs();
        }
        let mut old = std::mem::take(&mut self.vss);
        let mut events = Vec::new();
        for vcfg in &cfg.virtual_servers {
            let (name, pol) = match policy_of(cfg, vcfg) {
                Ok(x) => x,
                Err(e) => {
                    log::error(&format!("error: {e}; virtual server skipped"));
                    continue;
                }
            };
            let prev = old.iter().position(|o| o.policy.services == pol.services);
            let mut prev = prev.map(|i| old.swap_remove(i));
            // Until `flush` looks at the addresses again: suspended if it was (or is new).
            let suspended = vcfg.ha_suspend && prev.as_ref().is_none_or(|p| p.suspended);
            let mut reals = Vec::new();
            for rcfg in &vcfg.real_servers {
                let params: Vec<CheckParams> = rcfg
                    .checkers
                    .iter()
                    .map(|c| check_params(vcfg, rcfg, c))
                    .collect();
                let addr = SocketAddr::new(rcfg.addr, rcfg.port);
                let kept = prev.as_mut().and_then(|p| {
                    let i = p.reals.iter().position(|r| {
                        r.addr == addr
                            && r.checks.len() == params.len()
                            && r.checks.iter().zip(&params).all(|(c, p)| &c.params == p)
                    })?;
                    Some(p.reals.remove(i))
                });
                let real = match kept {
                    Some(mut r) => {
                        r.notify_up = rcfg.notify_up.clone();
                        r.notify_down = rcfg.notify_down.clone();
                        r
                    }
                    None => Real {
                        addr,
                        up: !vcfg.alpha || params.is_empty(),
                        checks: params
                            .into_iter()
                            .map(|params| Check {
                                up: !params.alpha,
                                params,
                                id: None,
                                last: None,
                                misc: None,
                            })
                            .collect(),
                        notify_up: rcfg.notify_up.clone(),
                        notify_down: rcfg.notify_down.clone(),
                        weight: None,
                    },
                };
                reals.push(real);
            }
            let (mut health, start_event) = Health::new(&pol);
            for (i, r) in reals.iter().enumerate() {
                health.set_up(&pol, i, r.up);
                health.set_weight(&pol, i, r.weight);
            }
            match &prev {
                Some(p) if p.health.quorum_up() != health.quorum_up() => {
                    events.push((self.vss.len(), health.quorum_up()))
                }
                Some(_) => {}
                None if !health.quorum_up() || start_event.is_some() => {
                    events.push((self.vss.len(), health.quorum_up()))
                }
                None => {}
            }
            let ha_suspend = vcfg.ha_suspend.then(|| {
                pol.services
                    .iter()
                    .filter_map(|k| match k {
                        ServiceKey::Addr { addr, .. } => Some(addr.ip()),
                        ServiceKey::Fwmark { .. } => None,
                    })
                    .collect()
            });
            if let Some(mut p) = prev {
                // Real servers that changed or went away: stop their checkers.
                for r in &mut p.reals {
                    for c in &mut r.checks {
                        stop(&mut self.io, &mut self.owner, c, sh);
                    }
                }
                old.push(Vs {
                    reals: Vec::new(),
                    ..p
                });
            }
            self.vss.push(Vs {
                name,
                health,
                reals,
                ha_suspend,
                suspended,
                method: vcfg.lb_kind,
                quorum_up: vcfg.quorum_up.clone(),
                quorum_down: vcfg.quorum_down.clone(),
                sync_error: None,
                policy: pol,
            });
        }
        let mut removed = BTreeSet::new();
        for mut o in old {
            removed.extend(o.policy.services.iter().copied());
            for r in &mut o.reals {
                for c in &mut r.checks {
                    stop(&mut self.io, &mut self.owner, c, sh);
                }
            }
        }
        // Indices moved: rebuild the checker -> owner map.
        self.owner.iter_mut().for_each(|o| *o = None);
        for (v, vs) in self.vss.iter().enumerate() {
            for (r, real) in vs.reals.iter().enumerate() {
                for (c, ck) in real.checks.iter().enumerate() {
                    if let Some(id) = ck.id {
                        self.owner[id] = Some((v, r, c));
                    }
                }
            }
        }
        for (v, up) in events {
            self.quorum_event(
                v,
                if up {
                    LbEvent::QuorumUp
                } else {
                    LbEvent::QuorumDown
                },
                sh,
                now,
            );
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

    fn open_ipvs(&mut self) {
        match IpvsSocket::open().and_then(|mut s| {
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
        self.io.poll_timeout()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.io.handle_timeout(now);
    }

    /// Readiness of a checker socket. The poller does not say which kind, so both are
    /// reported: the driver reads and writes until EAGAIN and asks the socket for its error
    /// after a connect, so a spurious one costs a syscall, never a wrong result.
    pub fn ready(&mut self, token: u64, poller: &Poller, now: Instant) {
        // Sockets closed earlier in this batch must not take a later event of their fd.
        self.fd_changes(poller);
        let fd = (token & ((1 << FD_BITS) - 1)) as i32;
        if self.fd_gen.get(&fd) == Some(&((token - TOKEN_CHECK) >> FD_BITS)) {
            self.io.handle_ready(fd, true, true, now);
        }
    }

    /// Keeps the epoll set in step with the checkers' sockets.
    fn fd_changes(&mut self, poller: &Poller) {
        while let Some(ch) = self.io.poll_fd_change() {
            let r = match ch {
                FdChange::Add(fd, i) => {
                    self.next_gen = (self.next_gen + 1) % (1 << (48 - FD_BITS));
                    self.fd_gen.insert(fd, self.next_gen);
                    poller.add(fd, interest(i), self.token(fd))
                }
                FdChange::Modify(fd, i) => poller.modify(fd, interest(i), self.token(fd)),
                // The fd may already be closed (and so out of the set): nothing to report.
                FdChange::Remove(fd) => {
                    self.fd_gen.remove(&fd);
                    let _ = poller.delete(fd);
                    Ok(())
                }
            };
            if let Err(e) = r {
                log::warn(&format!("health check socket: epoll: {e}"));
            }
        }
    }

    fn token(&self, fd: i32) -> u64 {
        TOKEN_CHECK + (self.fd_gen.get(&fd).copied().unwrap_or(0) << FD_BITS) + fd as u64
    }

    /// A child ended: MISC_CHECK results go to their checker; notify scripts are ignored.
    pub fn reaped(&mut self, f: &Finished, now: Instant) {
        for (v, vs) in self.vss.iter_mut().enumerate() {
            for (r, real) in vs.reals.iter_mut().enumerate() {
                for (c, ck) in real.checks.iter_mut().enumerate() {
                    if ck.misc != Some(f.id) {
                        continue;
                    }
                    ck.misc = None;
                    let exit = match f.outcome {
                        Outcome::Exited(code) => MiscExit::Exited(code as u8),
                        Outcome::Signaled(s) => MiscExit::Signaled(s),
                        Outcome::TimedOut => MiscExit::Signaled(libc::SIGKILL),
                    };
                    if let Some(id) = ck.id {
                        debug_assert_eq!(self.owner[id], Some((v, r, c)));
                        self.io.misc_exited(id, exit, now);
                    }
                    return;
                }
            }
        }
    }

    /// After every loop iteration: epoll registrations, checker outputs, ha_suspend, then
    /// IPVS if anything changed. `held` lists the VIPs installed by MASTER instances.
    pub fn flush(&mut self, sh: &mut Shell, held: &[IpAddr], now: Instant) {
        self.suspend(sh, held);
        self.run_checkers(sh, now);
        self.fd_changes(&sh.poller);
        while let Some(out) = self.io.poll_output() {
            match out {
                Output::Event(id, ev) => {
                    if let Some(at) = self.owner.get(id).copied().flatten() {
                        self.check_event(at, ev, sh, now);
                    }
                }
                Output::SpawnMisc { id, path } => {
                    if let Some((v, r, c)) = self.owner.get(id).copied().flatten() {
                        self.vss[v].reals[r].checks[c].misc = spawn(sh, &path, None, now);
                        if self.vss[v].reals[r].checks[c].misc.is_none() {
                            self.io.misc_exited(id, MiscExit::Exited(127), now);
                        }
                    }
                }
                Output::KillMisc { id, signal } => {
                    if let Some((v, r, c)) = self.owner.get(id).copied().flatten() {
                        if let Some(p) = self.vss[v].reals[r].checks[c].misc {
                            sh.procs.signal(p, signal);
                        }
                    }
                }
            }
        }
        if self.dirty {
            self.dirty = false;
            self.sync();
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
        let real = &mut vs.reals[r];
        let q = match ev {
            CheckEvent::Up(ref reason) | CheckEvent::Down(ref reason) => {
                let ck = &mut real.checks[c];
                ck.up = matches!(ev, CheckEvent::Up(_));
                let kind = kind_name(&ck.params);
                let up = real.checks.iter().all(|k| k.up);
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
                    vs.name, real.addr
                ));
                let script = if up {
                    &real.notify_up
                } else {
                    &real.notify_down
                };
                if let Some(cmd) = script.clone() {
                    spawn(sh, &cmd, Some(NOTIFY_TIMEOUT), now);
                }
                vs.health.set_up(&vs.policy, r, up)
            }
            CheckEvent::Weight(w) => {
                real.weight = w;
                log::info(&format!(
                    "{}: real server {} weight {} (MISC_CHECK)",
                    vs.name,
                    real.addr,
                    w.map_or("as configured".to_owned(), |w| w.to_string())
                ));
                vs.health.set_weight(&vs.policy, r, w)
            }
        };
        self.dirty = true;
        if let Some(q) = q {
            self.quorum_event(v, q, sh, now);
        }
    }

    fn quorum_event(&mut self, v: usize, ev: LbEvent, sh: &mut Shell, now: Instant) {
        let vs = &self.vss[v];
        let (what, script) = match ev {
            LbEvent::QuorumUp => ("gained", &vs.quorum_up),
            LbEvent::QuorumDown => ("lost", &vs.quorum_down),
            LbEvent::RealDown(i) => {
                if let Some(cmd) = vs.reals[i].notify_down.clone() {
                    spawn(sh, &cmd, Some(NOTIFY_TIMEOUT), now);
                }
                return;
            }
        };
        log::info(&format!("{}: quorum {what}", vs.name));
        if let Some(cmd) = script.clone() {
            spawn(sh, &cmd, Some(NOTIFY_TIMEOUT), now);
        }
    }

    /// ha_suspend: pauses or resumes checks when the set of held VIPs changed.
    fn suspend(&mut self, sh: &mut Shell, held: &[IpAddr]) {
        if self.held.as_deref() == Some(held) {
            return;
        }
        self.held = Some(held.to_vec());
        if self.vss.iter().all(|v| v.ha_suspend.is_none()) {
            return;
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
    }

    /// Starts the checkers that should run and stops those of suspended virtual servers.
    fn run_checkers(&mut self, sh: &Shell, now: Instant) {
        for v in 0..self.vss.len() {
            let run = !self.vss[v].suspended;
            for r in 0..self.vss[v].reals.len() {
                for c in 0..self.vss[v].reals[r].checks.len() {
                    let ck = &mut self.vss[v].reals[r].checks[c];
                    match (run, ck.id.is_some()) {
                        (true, false) => self.start((v, r, c), now),
                        (false, true) => stop(&mut self.io, &mut self.owner, ck, sh),
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
                    apply_op(&mut self.current, op);
                }
                return;
            }
            Ok(errors) => {
                self.ipvs_error = None;
                for e in errors {
                    let msg = e.to_string();
                    let key = op_key(&e.op);
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

    /// SIGTERM: omega notifications, then keeplite's services leave the kernel with `release`
    /// (keepalived does the same unless `--dont-release-ipvs`).
    pub fn shutdown(&mut self, sh: &mut Shell, release: bool, now: Instant) {
        for v in 0..self.vss.len() {
            for ev in self.vss[v].health.shutdown(&self.vss[v].policy) {
                self.quorum_event(v, ev, sh, now);
            }
        }
        if let Some(sock) = self.ipvs.as_mut().filter(|_| release) {
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
                        .map(|r| {
                            let key = DestKey {
                                addr: r.addr.ip(),
                                port: r.addr.port(),
                            };
                            let last = r
                                .checks
                                .iter()
                                .filter_map(|c| {
                                    let l =
                                        c.id.and_then(|id| self.io.checker(id).last_result())
                                            .or(c.last.as_ref())?;
                                    Some((kind_name(&c.params), l))
                                })
                                .max_by_key(|(_, l)| l.at);
                            RealServerStatus {
                                addr: r.addr.to_string(),
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

fn interest(i: crate::sys::check_io::Interest) -> Interest {
    if i.writable {
        Interest::ReadWrite
    } else {
        Interest::Read
    }
}

/// A line per change for health changes, a summary for big ones (startup, reload).
fn log_ops(ops: &[Op]) {
    if ops.len() <= 8 {
        for op in ops {
            log::info(&format!("IPVS: {}", describe(op)));
        }
    } else if !ops.is_empty() {
        log::info(&format!("IPVS: applying {} changes", ops.len()));
    }
}

fn describe(op: &Op) -> String {
    let dest = |d: &Dest| {
        format!(
            "{} (weight {})",
            SocketAddr::new(d.key.addr, d.key.port),
            d.params.weight
        )
    };
    match op {
        Op::AddService(s) => format!("add virtual server {}", s.key),
        Op::EditService(s) => format!("update virtual server {}", s.key),
        Op::DelService(k) => format!("remove virtual server {k}"),
        Op::AddDest(k, d) => format!("add real server {} to {k}", dest(d)),
        Op::EditDest(k, d) => format!("update real server {} of {k}", dest(d)),
        Op::DelDest(k, d) => format!(
            "remove real server {} from {k}",
            SocketAddr::new(d.addr, d.port)
        ),
    }
}

fn op_key(op: &Op) -> ServiceKey {
    match op {
        Op::AddService(s) | Op::EditService(s) => s.key,
        Op::DelService(k) | Op::AddDest(k, _) | Op::EditDest(k, _) | Op::DelDest(k, _) => *k,
    }
}

/// What an applied operation did to the kernel's table.
fn apply_op(st: &mut State, op: &Op) {
    match *op {
        Op::AddService(s) | Op::EditService(s) => {
            st.add_service(s);
        }
        Op::DelService(k) => {
            st.services.remove(&k);
        }
        Op::AddDest(k, d) | Op::EditDest(k, d) => {
            if let Some(e) = st.services.get_mut(&k) {
                e.add_dest(d);
            }
        }
        Op::DelDest(k, d) => {
            if let Some(e) = st.services.get_mut(&k) {
                e.dests.remove(&d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, LoadOptions, MemFiles};
    use std::path::Path;

    fn cfg(text: &str) -> Config {
        load_str(
            &MemFiles::default(),
            Path::new("/k.conf"),
            text,
            &LoadOptions::default(),
        )
        .unwrap()
        .0
    }

    #[test]
    fn groups_fwmarks_and_persistence_become_services() {
        let c = cfg("virtual_server_group G {\n 192.0.2.1-3 80\n fwmark 7\n}\n\
             virtual_server group G {\n protocol TCP\n lb_algo wrr\n lb_kind DR\n \
             persistence_timeout 50\n persistence_granularity 255.255.255.0\n \
             sorry_server 192.0.2.99 0\n real_server 2001:db8::1 80 {\n weight 3\n \
             inhibit_on_failure\n }\n}\n\
             virtual_server fwmark 9 {\n persistence_timeout 0\n real_server 2001:db8::2 0 {\n }\n}\n");
        let (name, p) = policy_of(&c, &c.virtual_servers[0]).unwrap();
        assert_eq!(name, "group G");
        let services: Vec<String> = p.services.iter().map(ToString::to_string).collect();
        assert_eq!(
            services,
            [
                "TCP 192.0.2.1:80",
                "TCP 192.0.2.2:80",
                "TCP 192.0.2.3:80",
                "FWM 7 IPv6"
            ]
        );
        assert_eq!(p.params.scheduler, Scheduler::Wrr);
        assert_eq!(
            p.params.persistence,
            Some(Persistence {
                timeout: 50,
                prefix: 24
            })
        );
        assert_eq!(p.reals[0].dest.params.forward, Forward::Direct);
        assert_eq!(p.reals[0].dest.params.weight, 3);
        assert!(p.reals[0].inhibit_on_failure);
        // Sorry server port 0: no port of its own (a group has none either).
        assert_eq!(p.sorry.unwrap().key.port, 0);
        let (name, p) = policy_of(&c, &c.virtual_servers[1]).unwrap();
        assert_eq!(name, "FWM 9 IPv6");
        assert_eq!(p.params.persistence, None);
        assert_eq!(p.params.scheduler, Scheduler::Wlc);
    }

    #[test]
    fn check_settings_follow_keepalived_precedence() {
        let c = cfg(
            "virtual_server 192.0.2.1 80 {\n protocol TCP\n delay_loop 7\n \
             virtualhost vs.example\n inhibit_on_failure\n real_server 192.0.2.10 8080 {\n \
             HTTP_GET {\n url {\n path /a\n virtualhost url.example\n }\n url {\n path /b\n \
             status_code 200-204\n }\n }\n TCP_CHECK {\n connect_ip 192.0.2.11\n \
             connect_port 81\n bind_port 5000\n delay_loop 2\n }\n }\n}\n",
        );
        let vs = &c.virtual_servers[0];
        let rs = &vs.real_servers[0];
        let (_, p) = policy_of(&c, vs).unwrap();
        assert!(
            p.reals[0].inhibit_on_failure,
            "OR-ed from the virtual server"
        );
        let http = check_params(vs, rs, &rs.checkers[0]);
        assert_eq!(http.delay_loop, Duration::from_secs(7));
        assert_eq!(http.delay_before_retry, Duration::from_secs(3));
        let check::CheckKind::Http(h) = &http.kind else {
            panic!("{http:?}")
        };
        assert_eq!(h.conn.dst, "192.0.2.10:8080".parse().unwrap());
        assert_eq!(h.virtualhost.as_deref(), Some("vs.example"));
        assert_eq!(h.urls[0].virtualhost.as_deref(), Some("url.example"));
        assert!(h.urls[0].status.contains(250) && !h.urls[0].status.contains(300));
        assert!(h.urls[1].status.contains(204) && !h.urls[1].status.contains(205));
        let tcp = check_params(vs, rs, &rs.checkers[1]);
        assert_eq!(tcp.delay_loop, Duration::from_secs(2));
        assert_eq!(
            tcp.kind,
            check::CheckKind::Tcp(ConnParams {
                dst: "192.0.2.11:81".parse().unwrap(),
                bind: Some("0.0.0.0:5000".parse().unwrap()),
                connect_timeout: Duration::from_secs(5),
            })
        );
    }

    #[test]
    fn applied_ops_update_the_known_kernel_table() {
        let key = ServiceKey::Fwmark {
            family: Family::V4,
            mark: 1,
        };
        let params = ServiceParams {
            scheduler: Scheduler::Rr,
            persistence: None,
            flags: 0,
        };
        let d = Dest::new("192.0.2.5:0".parse().unwrap(), Forward::Masq, 2);
        let mut st = State::default();
        let mut desired = State::default();
        desired
            .add_service(crate::ipvs::model::Service { key, params })
            .add_dest(d);
        for op in plan(&desired, &st, |_| true) {
            assert!(!describe(&op).is_empty());
            apply_op(&mut st, &op);
        }
        assert_eq!(st, desired);
        for op in teardown(&st.clone(), |_| true) {
            assert_eq!(describe(&op), "remove virtual server FWM 1");
            apply_op(&mut st, &op);
        }
        assert_eq!(st, State::default());
    }
}
