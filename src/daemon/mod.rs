//! The VRRP daemon: one thread, one epoll loop joining the pure cores (config, VRRP) to the
//! OS shell (`sys`). Everything the cores ask for is done here, in the order they ask.

mod fifo;
mod lb;
pub mod log;
pub mod reload;
mod routes;
mod timers;
mod track;
pub mod unit;

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::check::script::{strip_disabled, Vetting};
use crate::check::tracker::TrackedScript;
use crate::cli::Options;
use crate::config::{self, Config, Notify};
use crate::control::{self, InstanceStatus, Request, Response, StatusReport, VipStatus};
use crate::proto::vrrp::Error as RxError;
use crate::proto::{arp, ndisc};
use crate::sys::control::{request, ControlServer, DEFAULT_PATH};
use crate::sys::event::{earliest, Interest, Poller, Readiness, Signals, HANDLED};
use crate::sys::garp::FrameSocket;
use crate::sys::netlink::{AddrSpec, LinkInfo, LinkMonitor, Rtnl};
use crate::sys::persist;
use crate::sys::process::{daemonize, vet_scripts, Processes, ScriptSpec};
use crate::sys::sched;
use crate::sys::smtp::Mailer;
use crate::sys::track_file as sys_track_file;
use crate::sys::vmac::Vmacs;
use crate::sys::vrrp_sock::VrrpSocket;
use crate::sys::watchdog::Watchdog;
use crate::vrrp::garp::Pacer;
use crate::vrrp::plan::{self, StoredKey, TrackerSrc, UnitKey};
use crate::vrrp::rx::Receiver;
use crate::vrrp::track_file;
use crate::vrrp::{Action, Event, Reason, State, Transition};
use unit::{Env, Unit};

const TOKEN_SIGNALS: u64 = 1;
const TOKEN_LINKS: u64 = 2;
const TOKEN_RELOAD: u64 = 3;
const TOKEN_MAIL: u64 = 4;
const TOKEN_PROCESSES: u64 = 5;
const TOKEN_SOCK: u64 = 100;
const TOKEN_CONTROL: u64 = 1 << 32;
/// Notify scripts are stopped after this long (keepalived has no limit; a hung script must
/// not accumulate forever on an appliance).
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often `track_file` files are read (keepalived uses inotify; a read a second of a
/// few bytes is as cheap and needs no watch descriptors to follow renames).
const FILE_POLL: Duration = Duration::from_secs(1);
/// Time spent reading one VRRP socket per turn (the fd is level-triggered: the rest comes
/// next pass), so a flood leaves the loop free for its other sockets and timers.
const RX_BUDGET: Duration = Duration::from_micros(500);
/// Datagrams read between two looks at the clock (budget, own adverts due): ~30 µs of work.
const RX_CHECK: usize = 16;
/// A VRRP socket that keeps the loop busy (datagrams again within twice this) is left out of
/// the poller this long, then read in one batch: a flood costs one wake-up per pause instead
/// of one per datagram. Received adverts wait at most this long; own adverts never do.
const RX_PAUSE: Duration = Duration::from_millis(1);

struct Sock {
    ifname: String,
    ifindex: u32,
    v6: bool,
    sock: VrrpSocket,
    /// When datagrams were last read from it.
    last_rx: Option<Instant>,
    /// Out of the poller until then (see [`RX_PAUSE`]).
    paused: Option<Instant>,
}

/// Everything the loop owns besides the units (split so units can be built with `&mut` to it).
struct Shell {
    poller: Poller,
    rtnl: Rtnl,
    socks: Vec<Sock>,
    frames: Vec<(u32, FrameSocket)>,
    /// Gratuitous ARPs / NAs waiting for their turn: (ifindex, VIP, MAC).
    garps: Pacer<(u32, IpAddr, [u8; 6])>,
    procs: Processes,
    scripts: Vec<TrackedScript>,
    /// Scripts of the configuration being built.
    script_cfg: Vec<config::VrrpScript>,
    /// Who runs each script; disabled ones are not in the configuration any more.
    vetting: Vetting,
    fifos: fifo::Fifos,
    /// `track_file` files with their last value, and when they are read next.
    files: Vec<(PathBuf, i64)>,
    files_due: Option<Instant>,
    /// `vrrp_track_process`.
    processes: track::Processes,
    now: Instant,
    /// SMTP alerts (keepalived's `smtp_alert`).
    mail: Mailer,
    /// `global_defs` alert settings, for the instances' and groups' `smtp_alert`.
    smtp: config::Smtp,
    /// An instance changed state or dropped VIPs: the held VIPs must be listed again.
    held_moved: bool,
    /// `use_vmac` macvlans.
    vmacs: Vmacs,
    /// While the timers run unit `batching`'s events, its adverts wait in `tx` to be sent
    /// with the other due units' (Daemon::flush_tx).
    batching: Option<usize>,
    tx: Vec<Tx>,
    /// `vrrp_raw_adverts` of the configuration applied (`None` before the first).
    raw_adverts: Option<bool>,
}

/// An advert waiting in [`Shell::tx`]: unit and member it is from, socket, what to send.
struct Tx {
    unit: usize,
    member: usize,
    sock: usize,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    bytes: Rc<[u8]>,
}

/// Adverts queued before they go out together (one `sendmmsg` per socket per 64).
const TX_BATCH: usize = 128;

/// Notes the outcome of an advert of `m`: one line when sending starts failing, one when it
/// recovers (at 10 ms adverts a line per failure would flood the console).
fn sent(m: &mut unit::Member, dst: IpAddr, r: io::Result<()>) {
    match r {
        Err(e) if !m.send_failing => {
            m.send_failing = true;
            log::warn(&format!("{}: advert to {dst}: {e}", m.name));
        }
        Ok(()) if m.send_failing => {
            m.send_failing = false;
            log::info(&format!("{}: adverts are going out again", m.name));
        }
        _ => {}
    }
}

/// A VRRP socket on `ifname`; unless `raw`, its multicast adverts leave as prebuilt
/// Ethernet frames.
fn vrrp_socket(ifname: &str, ifindex: u32, v6: bool, raw: bool) -> Result<VrrpSocket, String> {
    let mut sock = VrrpSocket::open(ifname, ifindex, v6)
        .map_err(|e| format!("VRRP socket on {ifname}: {e}"))?;
    if !raw {
        frames_on(&mut sock, ifname);
    }
    Ok(sock)
}

/// Multicast adverts of `sock` as prebuilt Ethernet frames from now on (raw IP on other
/// links, or when no packet socket can be had).
fn frames_on(sock: &mut VrrpSocket, ifname: &str) {
    if let Err(e) = sock.use_frames(ifname) {
        log::warn(&format!(
            "{ifname}: adverts through the raw IP socket (packet socket: {e})"
        ));
    }
}

/// A unit that could not start yet: why, and since when.
struct Waiting {
    key: UnitKey,
    why: String,
    since: Instant,
}

impl Waiting {
    fn new(key: UnitKey, since: Instant) -> Waiting {
        let why = String::new();
        Waiting { key, why, since }
    }
}

impl Env for Shell {
    fn rtnl(&mut self) -> &mut Rtnl {
        &mut self.rtnl
    }

    fn process_up(&mut self, name: &str) -> bool {
        self.processes.monitor.up(name).unwrap_or(false)
    }

    fn file_value(&mut self, path: &Path) -> i64 {
        if let Some((_, v)) = self.files.iter().find(|(p, _)| p == path) {
            return *v;
        }
        let v = sys_track_file::read_value(path).unwrap_or(0);
        self.files.push((path.to_owned(), v));
        self.files_due.get_or_insert(self.now + FILE_POLL);
        v
    }

    fn socket(
        &mut self,
        ifname: &str,
        ifindex: u32,
        v6: bool,
        group: Option<IpAddr>,
    ) -> Result<usize, String> {
        // By index too: a `use_vmac` macvlan made again under its name is a new interface.
        let idx = match self
            .socks
            .iter()
            .position(|s| s.ifname == ifname && s.v6 == v6)
        {
            // The interface was deleted and created again: a socket bound to the new one.
            Some(i) if self.socks[i].ifindex != ifindex => {
                let sock = vrrp_socket(ifname, ifindex, v6, self.raw_adverts == Some(true))?;
                let _ = self.poller.delete(self.socks[i].sock.fd());
                self.poller
                    .add(sock.fd(), Interest::Read, TOKEN_SOCK + i as u64)
                    .map_err(|e| e.to_string())?;
                (self.socks[i].ifindex, self.socks[i].sock) = (ifindex, sock);
                i
            }
            Some(i) => i,
            None => {
                let sock = vrrp_socket(ifname, ifindex, v6, self.raw_adverts == Some(true))?;
                let i = self.socks.len();
                self.poller
                    .add(sock.fd(), Interest::Read, TOKEN_SOCK + i as u64)
                    .map_err(|e| e.to_string())?;
                self.socks.push(Sock {
                    ifname: ifname.to_owned(),
                    ifindex,
                    v6,
                    sock,
                    last_rx: None,
                    paused: None,
                });
                i
            }
        };
        if let Some(g) = group {
            self.socks[idx]
                .sock
                .join(g)
                .map_err(|e| format!("joining {g} on {ifname}: {e}"))?;
        }
        Ok(idx)
    }

    fn vmac(
        &mut self,
        v: &config::Vmac,
        base: &LinkInfo,
        families: (bool, bool),
        ll: Option<IpAddr>,
    ) -> Result<LinkInfo, String> {
        let fresh = !self.vmacs.names().contains(&v.name);
        let link = self
            .vmacs
            .ensure(&mut self.rtnl, v, base, families, ll)
            .map_err(|e| e.to_string())?;
        if fresh {
            let (name, mac) = (&v.name, v.mac_text());
            log::info(&format!("use_vmac: {name} ({mac}) over {}", base.name));
        }
        Ok(link)
    }

    fn script_up(&mut self, name: &str) -> bool {
        if let Some(s) = self.scripts.iter().find(|s| s.name == name) {
            return s.up();
        }
        let Some(c) = self.script_cfg.iter().find(|s| s.name == name) else {
            return false;
        };
        let Some(user) = self.vetting.run_as(&c.script, c.user.as_ref()) else {
            return false;
        };
        let spec = ScriptSpec {
            command: c.script.clone(),
            args: Vec::new(),
            user,
            timeout: Some(c.timeout),
        };
        let s = TrackedScript::new(
            name,
            spec,
            c.interval,
            c.rise,
            c.fall,
            c.init_fail,
            self.now,
        );
        let up = s.up();
        self.scripts.push(s);
        up
    }
}

impl Shell {
    /// Multicast adverts as prebuilt frames, or through the raw IP socket (`raw`,
    /// `vrrp_raw_adverts`), from now on: said once, since frames skip netfilter's OUTPUT
    /// chain where keepalived's adverts pass it.
    fn adverts_via(&mut self, raw: bool) {
        if self.raw_adverts == Some(raw) {
            return;
        }
        self.raw_adverts = Some(raw);
        log::info(if raw {
            "multicast adverts through raw IP sockets (vrrp_raw_adverts)"
        } else {
            "multicast adverts as Ethernet frames through packet sockets: netfilter's OUTPUT \
             chain does not see them (`vrrp_raw_adverts` sends them as keepalived does)"
        });
        for s in &mut self.socks {
            if raw {
                s.sock.use_raw();
            } else {
                frames_on(&mut s.sock, &s.ifname);
            }
        }
    }
    /// Executes a unit's pending events in order.
    fn drain(&mut self, unit: &mut Unit, now: Instant) {
        while let Some(ev) = unit.vrrp.poll_event() {
            match ev {
                Event::Instance(i, a) => self.execute(unit, i, a, now),
                Event::Group(_, t) => {
                    let Some(g) = unit.key.key().group else {
                        continue;
                    };
                    log::info(&transition_line(&format!("group {}", g.name), &t, None));
                    self.notify(&g.notify, "GROUP", &g.name, t.to, 0, now);
                    if self.smtp.vrrp_alert(g.smtp_alert) {
                        if let Some(state) = self.mail_state(t.to) {
                            let name = g.name.clone();
                            let alert = crate::smtp::Alert::Group { name, state };
                            self.mail.alert(alert, &self.poller, now);
                        }
                    }
                }
            }
        }
    }

    fn execute(&mut self, unit: &mut Unit, i: usize, a: Action, now: Instant) {
        let m = &mut unit.members[i];
        match a {
            Action::Transmit { src, dst, bytes } => {
                if let Some(unit) = self.batching {
                    let (member, sock, ttl) = (i, m.sock, m.ttl);
                    let tx = Tx {
                        unit,
                        member,
                        sock,
                        src,
                        dst,
                        ttl,
                        bytes,
                    };
                    self.tx.push(tx);
                    return;
                }
                // The VIPs before the advert that announces them.
                self.rtnl.flush();
                sent(
                    m,
                    dst,
                    self.socks[m.sock].sock.send(src, dst, m.ttl, &bytes),
                );
            }
            Action::InstallVips { addrs, lease } => {
                // Sent with the wake-up's other adverts and refreshes (Daemon::flush_tx).
                for (spec, _) in m.picked(&addrs) {
                    spec.lifetime = lease;
                    self.rtnl.queue_address(spec);
                }
            }
            Action::RemoveVips { addrs } => {
                self.held_moved = true;
                let named = |(s, _): &&(AddrSpec, [u8; 6])| addrs.contains(&s.addr);
                for (spec, _) in m.vips.iter().chain(&m.retired).filter(named) {
                    unit::del_vip(&mut self.rtnl, &m.name, spec);
                }
                m.retired.retain(|(s, _)| !addrs.contains(&s.addr));
            }
            Action::SendGarp { addrs, count } => {
                // Gratuitous ARPs announce installed addresses.
                self.rtnl.flush();
                for (spec, mac) in m.picked(&addrs) {
                    let item = (spec.ifindex, spec.addr, *mac);
                    self.garps
                        .push(spec.ifindex, spec.addr.is_ipv6(), item, count);
                }
                self.send_garps(now);
            }
            Action::Notify(t) => {
                self.held_moved = true;
                self.transition_routes(unit, i, &t);
                let inst = unit.vrrp.instance(i);
                let master = inst.stats().master_seen.map(|(a, _)| a);
                let prio = inst.priority();
                let m = &unit.members[i];
                log::info(&transition_line(&m.name, &t, master));
                let inst = unit.key.key().instances.swap_remove(i);
                let name = m.name.clone();
                let mail = self.smtp.vrrp_alert(inst.smtp_alert);
                let notify = inst.notify;
                self.notify(&notify, "INSTANCE", &name, t.to, prio, now);
                if let Some(state) = self.mail_state(t.to).filter(|_| mail) {
                    let alert = crate::smtp::Alert::Instance { name, state };
                    self.mail.alert(alert, &self.poller, now);
                }
            }
            Action::LowerPriorityAdvert { src, priority } => {
                let ours = unit.vrrp.instance(i).priority();
                // keepalived's line, and its notify_master_rx_lower_pri (run as written).
                log::info(&format!(
                    "{}: master received advert from {src} with lower priority {priority}, ours {ours}",
                    m.name
                ));
                let inst = unit.key.key().instances.swap_remove(i);
                if let Some(c) = inst.notify_master_rx_lower_pri {
                    let name = m.name.clone();
                    self.run_notify(&name, &c, Vec::new(), now);
                }
            }
        }
    }

    /// Deletes the `use_vmac` macvlans no instance of the configuration `keep`s, after their
    /// units have stopped (their last adverts left through them).
    fn drop_vmacs(&mut self, keep: impl Fn(&str) -> bool) {
        for name in self.vmacs.names().into_iter().filter(|n| !keep(n)) {
            match self.vmacs.remove(&mut self.rtnl, &name) {
                Ok(()) => log::info(&format!("use_vmac: {name} removed")),
                Err(e) => log::warn(&format!("use_vmac: removing {name}: {e}")),
            }
        }
    }

    /// Sends the gratuitous ARPs / unsolicited NAs whose turn has come
    /// (`vrrp_garp_interval` / `vrrp_gna_interval` pace them per interface).
    fn send_garps(&mut self, now: Instant) {
        while let Some((ifindex, addr, mac)) = self.garps.poll_send(now) {
            let frame: Vec<u8> = match addr {
                IpAddr::V4(ip) => arp::Repr { mac, ip }.to_bytes().to_vec(),
                IpAddr::V6(target) => ndisc::Repr {
                    mac,
                    target,
                    router: false,
                }
                .to_bytes()
                .to_vec(),
            };
            let fs = match self.frames.iter().position(|(i, _)| *i == ifindex) {
                Some(p) => &self.frames[p].1,
                None => match FrameSocket::open(ifindex) {
                    Ok(f) => {
                        self.frames.push((ifindex, f));
                        &self.frames.last().expect("just pushed").1
                    }
                    Err(e) => {
                        log::warn(&format!("gratuitous ARP socket for {addr}: {e}"));
                        continue;
                    }
                },
            };
            if let Err(e) = fs.send(&frame) {
                log::warn(&format!("gratuitous ARP/NA for {addr}: {e}"));
            }
        }
    }

    /// The states keepalived mails about (FAULT unless `no_email_faults`). Stopping is not
    /// mailed: the daemon exits before a mail could be delivered.
    fn mail_state(&self, s: State) -> Option<&'static str> {
        let fault = s == State::Fault && self.smtp.no_email_faults;
        (s != State::Initialize && !fault).then(|| state_name(s))
    }

    /// Runs keepalived's notify scripts for a transition to `to`.
    fn notify(&mut self, n: &Notify, kind: &str, name: &str, to: State, prio: u8, now: Instant) {
        let ev = fifo::VrrpEvent::State(to);
        self.fifos.vrrp(kind == "GROUP", name, ev, prio);
        let specific = match to {
            State::Master => &n.master,
            State::Backup => &n.backup,
            State::Fault => &n.fault,
            State::Initialize => &n.stop,
        };
        if let Some(c) = specific {
            self.run_notify(name, c, Vec::new(), now);
        }
        if let Some(c) = &n.any {
            let state = match to {
                State::Initialize => "STOP".to_owned(),
                s => state_name(s).to_owned(),
            };
            let args = vec![kind.to_owned(), name.to_owned(), state, prio.to_string()];
            self.run_notify(name, c, args, now);
        }
    }

    /// Spawns one notify script (vetted like the others; reaped by the loop).
    fn run_notify(&mut self, name: &str, command: &str, args: Vec<String>, now: Instant) {
        let Some(user) = self.vetting.run_as(command, None) else {
            return;
        };
        let spec = ScriptSpec {
            command: command.to_owned(),
            args,
            user,
            timeout: Some(NOTIFY_TIMEOUT),
        };
        if let Err(e) = self.procs.spawn(&spec, now) {
            log::warn(&format!("{name}: notify {command}: {e}"));
        }
    }
}

/// keepalived's per-child `vrrp_*` / `checker_*` priority and no-swap settings, merged for
/// keeplite's single process: the stronger of each applies.
/// Returns the realtime priority set (0: none).
fn tune_process(g: &config::GlobalDefs) -> u8 {
    if let Some(nice) = g.vrrp_priority.into_iter().chain(g.checker_priority).min() {
        match sched::set_nice(nice.into()) {
            Ok(()) => log::info(&format!("process priority (nice) set to {nice}")),
            Err(e) => log::warn(&format!("vrrp_priority / checker_priority {nice}: {e}")),
        }
    }
    if g.vrrp_no_swap || g.checker_no_swap {
        match sched::lock_memory() {
            Ok(()) => log::info("memory locked (no swap)"),
            Err(e) => log::warn(&format!("vrrp_no_swap / checker_no_swap: {e}")),
        }
    }
    let Some(rt) = g.vrrp_rt_priority.max(g.checker_rt_priority) else {
        return 0;
    };
    match sched::set_realtime(rt) {
        Ok(()) => {
            log::info(&format!("set realtime priority {rt}"));
            rt
        }
        Err(e) => {
            log::warn(&format!("vrrp_rt_priority / checker_rt_priority {rt}: {e}"));
            0
        }
    }
}

struct Daemon {
    config_path: PathBuf,
    opts: Options,
    shell: Shell,
    signals: Signals,
    links: LinkMonitor,
    control: ControlServer,
    reloads: reload::Reloads,
    units: Vec<Unit>,
    /// Units that could not start yet (see [`Daemon::apply`]).
    waiting: Vec<Waiting>,
    cfg: Config,
    lb: lb::Lb,
    /// The realtime priority `max_auto_priority` raised the process to (0: none).
    rt_priority: u8,
    rx: Receiver,
    buf: Vec<u8>,
    /// When the daemon started (`vrrp_startup_delay` counts from here).
    started: Instant,
    /// `watchdog_device`, petted while the loop keeps its schedule.
    watchdog: Option<Watchdog>,
    /// The units' deadlines (index into `units`).
    timers: timers::Timers,
    /// Ready tokens of the last wake-up, with their readiness (kept to reuse the allocation).
    tokens: Vec<(u64, Readiness)>,
    /// VIPs of the instances that hold theirs, for load balancing's `ha_suspend`.
    held: Vec<IpAddr>,
    /// When to hand back the pages a load used (see [`TRIM_AFTER`]).
    trim_due: Option<Instant>,
}

/// A load's pages go back to the kernel this long after it is applied, once the work that runs
/// only at a load (the last-known-good copy, dropping the old configuration) is done too: code
/// faulted back in after that is the code the loop keeps running.
const TRIM_AFTER: Duration = Duration::from_secs(1);

fn load(opts: &Options) -> Result<Config, Vec<String>> {
    let loaded = reload::load_at_startup(opts).map_err(|e| vec![format!("keeplite: {e}")])?;
    for w in &loaded.warnings {
        log::warn(w);
    }
    loaded.config
}

/// The control socket path: `--control`, else `global_defs control_socket`, else the default.
fn control_path(opts: &Options, cfg: Option<&Config>) -> PathBuf {
    opts.control
        .clone()
        .or_else(|| cfg.map(|c| c.global.control_socket.clone()))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

/// `keeplite [-f conf] [-n] [-l] [-p pidfile]`: runs until SIGTERM/SIGINT (in the background
/// unless `-n`). Returns the exit status.
pub fn run(opts: &Options) -> i32 {
    log::init(opts.log_console);
    crate::sys::tune_heap();
    let cfg = match load(opts) {
        Ok(c) => c,
        Err(lines) => {
            for l in lines {
                log::error(&l);
            }
            return 1;
        }
    };
    let mut d = match Daemon::new(opts, cfg) {
        Ok(d) => d,
        Err(e) => {
            log::error(&format!("keeplite: {e}"));
            return 1;
        }
    };
    // Startup errors above went to the terminal with a non-zero exit; detach only now.
    if !opts.dont_fork {
        if let Err(e) = daemonize(opts.log_console, opts.pid_file.as_deref()) {
            log::error(&format!("keeplite: cannot detach: {e}"));
            return 1;
        }
    } else if let Some(p) = &opts.pid_file {
        if let Err(e) = persist::write_pid_file(p, std::process::id()) {
            log::warn(&format!("pid file {}: {e}", p.display()));
        }
    }
    let code = match d.main_loop() {
        Ok(()) => 0,
        Err(e) => {
            log::error(&format!("keeplite: {e}"));
            1
        }
    };
    if let Some(p) = &opts.pid_file {
        let _ = std::fs::remove_file(p);
    }
    code
}

fn client_path(opts: &Options) -> PathBuf {
    let cfg = opts.control.is_none().then(|| load(opts).ok()).flatten();
    control_path(opts, cfg.as_ref())
}

fn ask(path: &Path, req: Request) -> Result<Response, i32> {
    request(path, &req, Duration::from_secs(10)).map_err(|e| {
        eprintln!(
            "keeplite: cannot reach the daemon at {}: {e}\n  is it running? the socket is \
             set with --control or global_defs control_socket",
            path.display()
        );
        1
    })
}

/// `keeplite status [--json]`.
pub fn status(opts: &Options, json: bool) -> i32 {
    match ask(&client_path(opts), Request::Status) {
        Ok(Response::Status(r)) => {
            if json {
                println!("{}", control::render_json(&r));
            } else {
                print!("{}", control::render_human(&r));
            }
            0
        }
        Ok(other) => {
            eprintln!("keeplite: unexpected answer: {other:?}");
            1
        }
        Err(code) => code,
    }
}

/// `keeplite reload`: prints the daemon's verdict; errors keep the old configuration.
pub fn reload(opts: &Options) -> i32 {
    match ask(&client_path(opts), Request::Reload) {
        Ok(Response::Reload { errors }) if errors.is_empty() => {
            println!("reloaded");
            0
        }
        Ok(Response::Reload { errors }) => {
            for e in errors {
                eprintln!("{e}");
            }
            eprintln!("keeplite: reload refused, the previous configuration keeps running");
            1
        }
        Ok(other) => {
            eprintln!("keeplite: unexpected answer: {other:?}");
            1
        }
        Err(code) => code,
    }
}

fn transition_line(name: &str, t: &Transition, master: Option<IpAddr>) -> String {
    let reason = match (t.reason, master) {
        (Reason::HigherPriority, Some(m)) => format!("higher priority advert from {m}"),
        (r, _) => r.to_string(),
    };
    format!(
        "{name}: {} -> {} ({reason})",
        state_name(t.from),
        state_name(t.to)
    )
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
    }
}

fn error_kind(e: RxError) -> &'static str {
    match e {
        RxError::Truncated => "truncated",
        RxError::Version => "version",
        RxError::Type => "type",
        RxError::Checksum => "checksum",
        RxError::Vrid => "vrid",
        RxError::Ttl => "ttl",
        RxError::AuthType => "auth_type",
        RxError::Auth => "auth",
        RxError::AddrList => "addresses",
        RxError::AdvertInterval => "interval",
        RxError::Family => "family",
        RxError::Destination => "destination",
        RxError::Peer => "peer",
    }
}

fn error_counts(counts: &[u64; RxError::COUNT]) -> Vec<(String, u64)> {
    RxError::ALL
        .iter()
        .filter(|e| counts[e.index()] > 0)
        .map(|e| (error_kind(*e).to_owned(), counts[e.index()]))
        .collect()
}

impl Daemon {
    fn new(opts: &Options, cfg: Config) -> io::Result<Daemon> {
        let poller = Poller::new()?;
        let signals = Signals::new(&HANDLED)?;
        poller.add(signals.fd(), Interest::Read, TOKEN_SIGNALS)?;
        let links = LinkMonitor::new()?;
        poller.add(links.fd(), Interest::Read, TOKEN_LINKS)?;
        let path = control_path(opts, Some(&cfg));
        let control = ControlServer::bind(&path, &poller, TOKEN_CONTROL).map_err(|e| {
            io::Error::new(e.kind(), format!("control socket {}: {e}", path.display()))
        })?;
        let shell = Shell {
            poller,
            rtnl: Rtnl::new()?,
            socks: Vec::new(),
            frames: Vec::new(),
            garps: Pacer::new(Duration::ZERO, Duration::ZERO),
            procs: Processes::new(),
            scripts: Vec::new(),
            script_cfg: Vec::new(),
            vetting: Vetting::default(),
            fifos: fifo::Fifos::default(),
            files: Vec::new(),
            files_due: None,
            processes: Default::default(),
            now: Instant::now(),
            mail: Mailer::new(TOKEN_MAIL),
            smtp: config::Smtp::default(),
            held_moved: true,
            vmacs: Vmacs::default(),
            batching: None,
            tx: Vec::new(),
            raw_adverts: None,
        };
        let mut d = Daemon {
            config_path: opts.config_file.clone(),
            opts: opts.clone(),
            shell,
            signals,
            links,
            control,
            reloads: reload::Reloads::new(opts, TOKEN_RELOAD),
            units: Vec::new(),
            waiting: Vec::new(),
            cfg: Config::default(),
            lb: lb::Lb::new(),
            rt_priority: 0,
            rx: Receiver::default(),
            started: Instant::now(),
            buf: vec![0; 65536],
            watchdog: None,
            timers: timers::Timers::default(),
            tokens: Vec::new(),
            held: Vec::new(),
            trim_due: None,
        };
        let delay = cfg.global.vrrp_startup_delay;
        if !delay.is_zero() {
            // keepalived's words: instances listen but none goes Master meanwhile.
            log::info(&format!(
                "Delaying startup for {} seconds",
                delay.as_secs_f64()
            ));
        }
        d.apply(cfg, Instant::now());
        d.rt_priority = tune_process(&d.cfg.global);
        match std::fs::read(&d.config_path) {
            Ok(text) => d.remember_good(&text),
            Err(e) => log::warn(&format!("last-known-good copy: {e}")),
        }
        if let Some(dev) = d.cfg.global.watchdog_device.clone() {
            let timeout = Duration::from_secs(d.cfg.global.watchdog_timeout.into());
            match Watchdog::open(&dev, timeout, Instant::now()) {
                Ok(w) => {
                    log::info(&format!(
                        "watchdog {} armed: {}s",
                        dev.display(),
                        w.timeout().as_secs()
                    ));
                    d.watchdog = Some(w);
                }
                Err(e) => log::error(&format!("watchdog_device {e}: running without it")),
            }
        }
        log::info(&format!(
            "keeplite {} started: {} ({} VRRP instances)",
            env!("CARGO_PKG_VERSION"),
            d.config_path.display(),
            d.units.iter().map(|u| u.members.len()).sum::<usize>()
                + d.waiting
                    .iter()
                    .map(|w| w.key.instances.len())
                    .sum::<usize>()
        ));
        Ok(d)
    }

    /// Replaces the running configuration by `cfg`, touching only units whose configuration
    /// changed. Units that cannot start yet (interface missing or without address) wait and
    /// are retried on every link change, as keepalived waits for its interfaces.
    fn apply(&mut self, mut cfg: Config, now: Instant) {
        self.shell.now = now;
        let vetting = vet_scripts(&cfg);
        for f in &vetting.findings {
            log::warn(&format!("warning: {}", f.message));
        }
        strip_disabled(&mut cfg, &vetting);
        self.shell.vetting = vetting;
        let g = &cfg.global;
        self.shell
            .garps
            .set_intervals(g.vrrp_garp_interval, g.vrrp_gna_interval);
        self.shell.script_cfg = cfg.vrrp_scripts.clone();
        let sh = &mut self.shell;
        sh.fifos
            .configure(&cfg.global, &sh.vetting, &mut sh.procs, now);
        for f in &cfg.track_files {
            if let Some((value, overwrite)) = f.init {
                if let Err(e) = sys_track_file::init(&f.file, value, overwrite) {
                    log::warn(&format!("track_file {}: init_file: {e}", f.name));
                }
            }
        }
        // Files no longer tracked are not read any more; the others keep their value.
        sh.files
            .retain(|(p, _)| cfg.track_files.iter().any(|f| &f.file == p));
        sh.processes
            .configure(&cfg.track_processes, &sh.poller, TOKEN_PROCESSES, now);
        self.shell.mail.configure(g);
        self.shell.smtp = g.smtp.clone();
        self.shell.adverts_via(g.vrrp_raw_adverts);
        self.shell.statics(&self.cfg, &cfg);
        let keys = plan::unit_keys(&cfg);
        let stored: Vec<StoredKey> = keys.iter().map(StoredKey::new).collect();
        let (kept, gone): (Vec<Unit>, Vec<Unit>) = std::mem::take(&mut self.units)
            .into_iter()
            .partition(|u| stored.contains(&u.key));
        // Unchanged scripts keep their state (trackers of kept units rely on it); changed
        // ones restart from scratch.
        let old = &self.cfg.vrrp_scripts;
        let procs = &mut self.shell.procs;
        self.shell.scripts.retain(|s| {
            let find =
                |list: &[config::VrrpScript]| list.iter().find(|c| c.name == s.name).cloned();
            let keep = find(old).is_some() && find(old) == find(&cfg.vrrp_scripts);
            // A replaced tracker's run must not overlap its successor's.
            if let Some(id) = s.running().filter(|_| !keep) {
                procs.stop(id, now);
            }
            keep
        });
        self.units = kept;
        for mut u in gone {
            // What the masters have installed, for the routes and rules a reload changes.
            let was_master: Vec<bool> = (u.vrrp.instances().iter())
                .map(|i| i.state() == State::Master)
                .collect();
            let old: Vec<_> = (u.key.key().instances.iter())
                .map(|i| (i.virtual_routes.clone(), i.virtual_rules.clone()))
                .collect();
            if unit::reconfigure(&mut self.shell, &mut u, &keys, now) {
                self.shell.dropped_routes(&u, &old, &was_master);
                self.shell.drain(&mut u, now);
                self.shell.added_routes(&u, &old, &was_master);
                self.units.push(u);
                continue;
            }
            u.vrrp.shutdown(now);
            self.shell.drain(&mut u, now);
        }
        let wanted = |name: &str| {
            let mut vmacs = keys.iter().flat_map(|k| &k.instances).flat_map(|i| &i.vmac);
            vmacs.any(|v| v.name == name)
        };
        self.shell.drop_vmacs(wanted);
        self.waiting = keys
            .into_iter()
            .zip(&stored)
            .filter(|(_, s)| !self.units.iter().any(|u| &u.key == *s))
            .map(|(k, _)| Waiting::new(k, now))
            .collect();
        // The instances live on in the unit keys; a second copy would cost ~0.8 KiB each.
        self.cfg = Config {
            instances: Vec::new(),
            ..cfg
        };
        self.start_waiting(now, true);
        self.shell.held_moved = true;
        // The load-balancing state lives in `lb` from here on; the configuration's copy is
        // most of the memory with many real servers (10,000: ~7.6 MB).
        let vss = std::mem::take(&mut self.cfg.virtual_servers);
        self.lb.apply(&self.cfg, vss, &mut self.shell, now);
        self.trim_due = Some(now + TRIM_AFTER);
    }

    /// Tries to start the waiting units; `report` logs why the others still wait.
    fn start_waiting(&mut self, now: Instant, report: bool) {
        for mut w in std::mem::take(&mut self.waiting) {
            match unit::build(&mut self.shell, &w.key) {
                Ok(mut u) => {
                    self.remove_stale(&u);
                    // vrrp_startup_delay counts from the daemon's start, as keepalived's
                    // vrrp_delayed_start_time.
                    let hold = self.started + self.cfg.global.vrrp_startup_delay;
                    u.vrrp
                        .start_delayed(now, hold.saturating_duration_since(now));
                    self.shell.drain(&mut u, now);
                    self.units.push(u);
                }
                Err(e) => {
                    if report {
                        log::warn(&format!("{e}; waiting for it"));
                    }
                    w.why = e;
                    self.waiting.push(w);
                }
            }
        }
        self.reschedule_all();
    }

    /// Sets every unit's deadline afresh (units were added, removed or reordered).
    fn reschedule_all(&mut self) {
        self.timers.reset(self.units.len());
        for (u, unit) in self.units.iter().enumerate() {
            self.timers.set(u, unit.vrrp.poll_timeout());
        }
    }

    /// Unit `u` was driven: its deadline may have moved.
    fn reschedule(&mut self, u: usize) {
        self.timers.set(u, self.units[u].vrrp.poll_timeout());
    }

    /// Startup hygiene: VIPs of this unit left on the interfaces (by a crash without lease,
    /// or another daemon) are removed before anything is sent.
    fn remove_stale(&mut self, u: &Unit) {
        self.shell.stale_routes(u);
        for m in &u.members {
            for (spec, _) in &m.vips {
                let present = self
                    .shell
                    .rtnl
                    .addresses(Some(spec.ifindex))
                    .map(|a| a.iter().any(|a| a.addr == spec.addr))
                    .unwrap_or(false);
                if present
                    && self
                        .shell
                        .rtnl
                        .del_address(spec.ifindex, spec.addr, spec.prefix_len)
                        .is_ok()
                {
                    log::info(&format!("{}: removed stale VIP {}", m.name, spec.addr));
                }
            }
        }
    }

    fn main_loop(&mut self) -> io::Result<()> {
        loop {
            // VIPs queued outside the timers (start, reload, received adverts).
            self.vips_sent();
            let now = Instant::now();
            let deadline = earliest(
                [self.timers.next()]
                    .into_iter()
                    .chain([self.shell.procs.poll_timeout(), self.lb.poll_timeout()])
                    .chain([
                        self.shell.garps.poll_timeout(),
                        self.shell.files_due,
                        self.shell.processes.poll_timeout(),
                        self.shell.mail.poll_timeout(),
                    ])
                    .chain([self.control.poll_timeout(), self.reloads.poll_timeout()])
                    .chain([self.trim_due])
                    .chain(self.shell.socks.iter().map(|s| s.paused))
                    .chain([self.watchdog.as_ref().map(Watchdog::next_pet)])
                    .chain(self.shell.scripts.iter().map(|s| s.poll_timeout())),
            );
            let mut tokens = std::mem::take(&mut self.tokens);
            self.shell.poller.wait_into(now, deadline, &mut tokens)?;
            let now = Instant::now();
            if let Some(d) = deadline {
                self.late(now.saturating_duration_since(d));
            }
            // Due timers first: own adverts leave before this wake-up's datagrams are read.
            self.timers(now);
            for &(t, ready) in &tokens {
                match t {
                    TOKEN_SIGNALS => {
                        for sig in self.signals.take() {
                            match sig {
                                libc::SIGTERM | libc::SIGINT => {
                                    self.shutdown(now);
                                    return Ok(());
                                }
                                libc::SIGHUP => self.reload(None, now),
                                libc::SIGUSR1 => {
                                    for line in control::render_human(&self.report(now)).lines() {
                                        log::info(line);
                                    }
                                }
                                _ => self.reap(now),
                            }
                        }
                    }
                    TOKEN_LINKS => self.link_events(now),
                    TOKEN_MAIL => self.shell.mail.ready(&self.shell.poller, now),
                    TOKEN_PROCESSES => {
                        self.shell.processes.ready(now);
                        self.process_changes(now);
                    }
                    TOKEN_RELOAD => {
                        for done in self.reloads.ready(&self.shell.poller, now) {
                            self.reloaded(done, now);
                        }
                    }
                    t if t >= lb::TOKEN_CHECK => self.lb.ready(t, ready, &self.shell.poller, now),
                    t if t >= TOKEN_CONTROL => self.control(t, now),
                    t => self.receive((t - TOKEN_SOCK) as usize, Instant::now()),
                }
            }
            self.tokens = tokens;
            self.resume_sockets(Instant::now());
            if std::mem::take(&mut self.shell.held_moved) {
                self.held.clear();
                let held = self.units.iter().flat_map(|u| u.vrrp.instances());
                for i in held.filter(|i| i.holds_vips()) {
                    self.held
                        .extend(i.params().vips.iter().chain(&i.params().excluded_vips));
                }
            }
            self.lb.flush(&mut self.shell, &self.held, now);
            let instances = || self.units.iter().flat_map(|u| u.vrrp.instances());
            self.lb.sync_daemon(|name| {
                let i = instances().find(|i| i.params().name == name)?;
                Some((i.params().vrid, i.state() == State::Master))
            });
        }
    }

    /// `max_auto_priority`: a timer ran `by` late (keepalived's check after epoll_wait).
    fn late(&mut self, by: Duration) {
        let g = &self.cfg.global;
        if g.max_auto_priority == 0 || by <= g.min_auto_priority_delay {
            return;
        }
        log::info(&format!("a timer expired {:.6} s ago", by.as_secs_f64()));
        let Some(p) = sched::next_rt_priority(self.rt_priority, g.max_auto_priority) else {
            return;
        };
        match sched::set_realtime(p) {
            Ok(()) => {
                self.rt_priority = p;
                log::info(&format!("set realtime priority {p}"));
            }
            Err(e) => log::warn(&format!("max_auto_priority: realtime priority {p}: {e}")),
        }
    }

    fn control(&mut self, token: u64, now: Instant) {
        let reqs = match self.control.ready(token, &self.shell.poller, now) {
            Ok(r) => r,
            Err(e) => {
                log::warn(&format!("control socket: {e}"));
                return;
            }
        };
        match reqs {
            Some((conn, Request::Status)) => {
                let resp = Response::Status(self.report(now));
                self.control.respond(conn, &resp, &self.shell.poller, now);
            }
            // Answered when the reload is done.
            Some((conn, Request::Reload)) => self.reload(Some(conn), now),
            None => {}
        }
    }

    /// Starts reading the configuration off the loop (see [`reload`]); `client` is answered
    /// when it is applied or refused.
    fn reload(&mut self, client: Option<u64>, now: Instant) {
        log::info(&format!("reloading {}", self.config_path.display()));
        if let Some(done) = self.reloads.request(client, &self.shell.poller, now) {
            self.reloaded(done, now);
        }
    }

    fn reloaded(&mut self, done: reload::Done, now: Instant) {
        let errors = match done.loaded.map(|l| (l.config, l.warnings, l.text)) {
            Ok((Ok(cfg), warnings, text)) => {
                for w in &warnings {
                    log::warn(w);
                }
                let before = self.units.len();
                self.apply(cfg, now);
                self.remember_good(&text);
                log::info(&format!(
                    "reload done: {} units running ({} before), {} waiting",
                    self.units.len(),
                    before,
                    self.waiting.len()
                ));
                Vec::new()
            }
            Ok((Err(errors), _, _)) => errors,
            Err(e) => vec![format!("error: reading the configuration: {e}")],
        };
        if !errors.is_empty() {
            for e in &errors {
                log::error(e);
            }
            log::error("reload refused: the previous configuration keeps running");
        }
        let resp = Response::Reload { errors };
        for c in done.clients {
            self.control.respond(c, &resp, &self.shell.poller, now);
        }
    }

    fn shutdown(&mut self, now: Instant) {
        log::info("stopping: releasing VIPs");
        self.shell.procs.stop_all(now);
        for u in 0..self.units.len() {
            self.units[u].vrrp.shutdown(now);
            self.shell.drain(&mut self.units[u], now);
        }
        self.shell.statics(&self.cfg, &Config::default());
        self.shell.drop_vmacs(|_| false);
        self.lb
            .shutdown(&mut self.shell, !self.opts.dont_release_ipvs, now);
        // The STOP lines are written; the FIFOs close (their readers got SIGTERM above).
        self.shell.fifos.close(&mut self.shell.procs, now);
        // No script outlives the daemon; the shutdown's notify scripts get a grace period.
        self.shell.procs.kill_all();
        if let Some(w) = self.watchdog.take() {
            if let Err(e) = w.close() {
                log::warn(&format!("watchdog: magic close: {e}"));
            }
        }
    }

    /// The configuration was accepted: keep it as the last-known-good copy the appliance
    /// falls back to at boot (rootfs/etc/init.d/run-keeplite).
    fn remember_good(&self, text: &[u8]) {
        match persist::remember_good(&self.config_path, text) {
            Ok(true) => log::info(&format!(
                "saved last-known-good {}",
                persist::good_path(&self.config_path).display()
            )),
            Ok(false) => {}
            Err(e) => log::warn(&format!("last-known-good copy: {e}")),
        }
    }

    fn timers(&mut self, now: Instant) {
        if let Some(w) = self.watchdog.as_mut() {
            let due = w.next_pet();
            if now >= due {
                match w.pet(due, now) {
                    Ok(true) => {}
                    Ok(false) => log::warn("watchdog: event loop late, not petting"),
                    Err(e) => log::error(&format!("watchdog: {e}")),
                }
            }
        }
        // Units due within timers::SLACK run now, each at its own deadline.
        while let Some((u, at)) = self.timers.pop_due(now) {
            self.units[u].vrrp.handle_timeout(at);
            self.shell.batching = Some(u);
            self.shell.drain(&mut self.units[u], at);
            self.shell.batching = None;
            self.reschedule(u);
            if self.shell.tx.len() >= TX_BATCH {
                self.flush_tx();
            }
        }
        self.flush_tx();
        if self.shell.files_due.is_some_and(|t| now >= t) {
            self.poll_files(now);
        }
        if self.trim_due.is_some_and(|t| now >= t) {
            self.trim_due = None;
            crate::sys::trim_heap();
            crate::sys::trim_text();
        }
        self.shell.processes.handle_timeout(now);
        self.process_changes(now);
        self.shell.send_garps(now);
        self.shell.mail.handle_timeout(&self.shell.poller, now);
        for line in self.shell.mail.take_log() {
            log::info(&line);
        }
        self.shell.procs.handle_timeout(now);
        self.lb.handle_timeout(now);
        if let Err(e) = self.control.handle_timeout(now, &self.shell.poller) {
            log::error(&format!("control socket: {e}"));
        }
        for done in self.reloads.handle_timeout(&self.shell.poller, now) {
            self.reloaded(done, now);
        }
        for i in 0..self.shell.scripts.len() {
            if self.shell.scripts[i].due(now) {
                let spec = self.shell.scripts[i].spec.clone();
                match self.shell.procs.spawn(&spec, now) {
                    Ok(id) => self.shell.scripts[i].started(id),
                    Err(e) => {
                        log::warn(&format!("vrrp_script {}: {e}", spec.command));
                        if let Some(up) = self.shell.scripts[i].spawn_failed(now) {
                            self.script_changed(i, up, now);
                        }
                    }
                }
            }
        }
        self.reap(now);
    }

    /// Sends the queued VIP refreshes (one netlink datagram), then the queued adverts (a
    /// `sendmmsg` per socket), and logs what failed.
    fn flush_tx(&mut self) {
        self.vips_sent();
        let mut tx = std::mem::take(&mut self.shell.tx);
        for (s, sock) in self.shell.socks.iter().enumerate() {
            let mine = tx.iter().enumerate().filter(|(_, t)| t.sock == s);
            let adverts = mine.map(|(k, t)| (k, (t.src, t.dst, t.ttl, &t.bytes[..])));
            sock.sock.send_many(adverts, |k, r| {
                let t = &tx[k];
                sent(&mut self.units[t.unit].members[t.member], t.dst, r);
            });
        }
        tx.clear();
        self.shell.tx = tx;
    }

    /// Sends the queued VIP installs and refreshes and logs those the kernel refused.
    fn vips_sent(&mut self) {
        self.shell.rtnl.flush();
        for (addr, e) in self.shell.rtnl.take_failed() {
            let mut members = self.units.iter().flat_map(|u| &u.members);
            let m = members.find(|m| m.vips.iter().any(|(s, _)| s.addr == addr));
            let name = m.map_or("?", |m| &m.name);
            log::error(&format!("{name}: adding VIP {addr}: {e}"));
        }
    }

    fn reap(&mut self, now: Instant) {
        for f in self.shell.procs.reap(now) {
            let Some(i) = self
                .shell
                .scripts
                .iter()
                .position(|s| s.running() == Some(f.id))
            else {
                self.lb.reaped(&f, now);
                continue;
            };
            if let Some(up) = self.shell.scripts[i].finished(f.outcome.success(), now) {
                self.script_changed(i, up, now);
            }
        }
    }

    fn script_changed(&mut self, i: usize, up: bool, now: Instant) {
        let name = self.shell.scripts[i].name.clone();
        log::info(&format!(
            "vrrp_script {name}: {}",
            if up { "up" } else { "down" }
        ));
        self.set_trackers(now, |src| match src {
            TrackerSrc::Script { name: n, reverse } if *n == name => Some((None, up ^ reverse)),
            _ => None,
        });
    }

    fn link_events(&mut self, now: Instant) {
        let events = match self.links.recv() {
            Ok(e) => e,
            Err(e) => {
                log::warn(&format!("link monitor: {e}"));
                return;
            }
        };
        // dynamic_interfaces: a unit whose interface came back under another index (deleted
        // and created again) needs new sockets and VIP specs: it restarts.
        for u in (0..self.units.len()).rev() {
            let moved = self.units[u].members.iter().find(|m| {
                events
                    .iter()
                    .any(|l| l.name == m.ifname && l.up && l.index != m.ifindex)
            });
            if let Some(m) = moved {
                log::info(&format!(
                    "{}: interface {} is new: restarting",
                    m.name, m.ifname
                ));
                let mut unit = self.units.remove(u);
                unit.vrrp.shutdown(now);
                self.shell.drain(&mut unit, now);
                self.waiting.push(Waiting::new(unit.key.key(), now));
            }
        }
        if !events.is_empty() && !self.waiting.is_empty() {
            self.start_waiting(now, false);
        }
        // `ip link set address`, a bond's fail_over_mac: frames leave from the new MAC.
        for l in &events {
            let Some(mac) = l.mac else { continue };
            for s in self.shell.socks.iter_mut().filter(|s| s.ifindex == l.index) {
                s.sock.set_mac(mac);
            }
        }
        for l in events {
            self.set_trackers(now, |src| match src {
                TrackerSrc::Link { name, reverse } if *name == l.name => {
                    Some((None, l.up ^ reverse))
                }
                _ => None,
            });
        }
    }

    /// Feeds the tracked processes' quorum changes into the cores.
    fn process_changes(&mut self, now: Instant) {
        while let Some((name, up)) = self.shell.processes.monitor.poll_change() {
            log::info(&format!(
                "track_process {name}: quorum {}",
                if up { "gained" } else { "lost" }
            ));
            self.set_trackers(now, |src| match src {
                TrackerSrc::Process { name: n, reverse } if *n == name => {
                    Some((None, up ^ reverse))
                }
                _ => None,
            });
        }
    }

    /// Reads the `track_file` files and reports the values that changed.
    fn poll_files(&mut self, now: Instant) {
        let sh = &mut self.shell;
        sh.files_due = (!sh.files.is_empty()).then_some(now + FILE_POLL);
        for k in 0..self.shell.files.len() {
            let (path, old) = self.shell.files[k].clone();
            // Out of range: ignored, as keepalived does.
            let Some(v) = sys_track_file::read_value(&path).filter(|v| *v != old) else {
                continue;
            };
            self.shell.files[k].1 = v;
            log::info(&format!("track_file {}: {v}", path.display()));
            self.set_trackers(now, |src| match src {
                TrackerSrc::File {
                    path: p,
                    weight,
                    reverse,
                    ..
                } if *p == path => {
                    let (w, up) = track_file::tracker(track_file::status(v, *weight, *reverse));
                    Some((Some(w), up))
                }
                _ => None,
            });
        }
    }

    /// Feeds every tracker for which `state` has news into the cores: `(weight, up)`, the
    /// weight only for trackers whose weight moves (`track_file`).
    fn set_trackers(
        &mut self,
        now: Instant,
        state: impl Fn(&TrackerSrc) -> Option<(Option<i32>, bool)>,
    ) {
        for u in 0..self.units.len() {
            let mut changes = Vec::new();
            for (i, m) in self.units[u].members.iter().enumerate() {
                for (t, src) in m.trackers.iter().enumerate() {
                    if let Some(news) = state(src) {
                        changes.push((i, t, news));
                    }
                }
            }
            // The core ignores reports that change nothing.
            for (i, t, (weight, up)) in changes {
                let vrrp = &mut self.units[u].vrrp;
                match weight {
                    Some(w) => vrrp.set_tracker_weight(now, i, t, w, up),
                    None => vrrp.set_tracker(now, i, t, up),
                }
            }
            self.shell.drain(&mut self.units[u], now);
            self.reschedule(u);
            let unit = &self.units[u];
            for (i, m) in unit.members.iter().enumerate() {
                let inst = unit.vrrp.instance(i);
                let global = self.cfg.global.vrrp_notify_priority_changes;
                if m.priority_changes.unwrap_or(global) {
                    let fifos = &mut self.shell.fifos;
                    fifos.priority(&m.name, inst.state(), inst.priority());
                }
            }
        }
    }

    fn receive(&mut self, sock: usize, start: Instant) {
        let mut buf = std::mem::take(&mut self.buf);
        let (mut read, mut now) = (0, start);
        // A batch bounded in time; it also ends as soon as a unit's timer is due, so under a
        // flood own adverts wait for at most RX_CHECK datagrams, never for a whole batch.
        for n in 0.. {
            if n > 0 && n % RX_CHECK == 0 {
                now = Instant::now();
                if now >= start + RX_BUDGET || self.timers.next().is_some_and(|d| d <= now) {
                    break;
                }
            }
            let Some(s) = self.shell.socks.get(sock) else {
                break;
            };
            let got = s.sock.recv(&mut buf);
            read += usize::from(!matches!(got, Ok(None) | Err(_)));
            let dgram = match got {
                Ok(Some(d)) => d,
                Ok(None) => break,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    self.rx.record(RxError::Truncated);
                    continue;
                }
                Err(e) => {
                    log::warn(&format!("receive on {}: {e}", s.ifname));
                    break;
                }
            };
            let units = self.units.iter_mut().map(|u| &mut u.vrrp);
            let d = self.rx.handle_datagram(now, s.ifindex, &dgram, units);
            let Some((u, i)) = d.to else { continue };
            if let Err(e) = d.result {
                let m = &mut self.units[u].members[i];
                if m.logged_errors & (1 << e.index()) == 0 {
                    m.logged_errors |= 1 << e.index();
                    let src = dgram.split().map(|(meta, _)| meta.src);
                    let from = src.map(|a| a.to_string()).unwrap_or_default();
                    log::warn(&format!("{}: advert from {from} dropped: {e}", m.name));
                }
            }
            self.shell.drain(&mut self.units[u], now);
            self.reschedule(u);
        }
        self.buf = buf;
        let Some(s) = self.shell.socks.get_mut(sock).filter(|_| read > 0) else {
            return;
        };
        let busy = s
            .last_rx
            .is_some_and(|t| start.saturating_duration_since(t) < 2 * RX_PAUSE);
        s.last_rx = Some(start);
        if busy && self.shell.poller.delete(s.sock.fd()).is_ok() {
            s.paused = Some(now + RX_PAUSE);
        }
    }

    /// Puts paused VRRP sockets back into the poller once their pause is over, reading what
    /// came meanwhile.
    fn resume_sockets(&mut self, now: Instant) {
        for i in 0..self.shell.socks.len() {
            let s = &mut self.shell.socks[i];
            if s.paused.is_none_or(|t| now < t) {
                continue;
            }
            s.paused = None;
            let (fd, token) = (s.sock.fd(), TOKEN_SOCK + i as u64);
            if let Err(e) = self.shell.poller.add(fd, Interest::Read, token) {
                log::error(&format!(
                    "VRRP socket on {}: {e}",
                    self.shell.socks[i].ifname
                ));
            }
            self.receive(i, now);
        }
    }

    fn report(&self, now: Instant) -> StatusReport {
        let mut instances = Vec::new();
        for u in &self.units {
            let key = u.key.key();
            for (i, m) in u.members.iter().enumerate() {
                let inst = u.vrrp.instance(i);
                let st = inst.stats();
                let master = inst.current_master().map(|(a, _)| a);
                let lease_left = inst.vip_lease_left(now).map(|d| d.as_millis() as u64);
                instances.push(InstanceStatus {
                    name: m.name.clone(),
                    interface: m.ifname.clone(),
                    vrid: key.instances[i].virtual_router_id,
                    state: state_name(inst.state()).to_owned(),
                    priority: inst.priority(),
                    configured_priority: key.instances[i].priority,
                    master,
                    vips: if inst.holds_vips() {
                        m.vips
                            .iter()
                            .map(|(s, _)| VipStatus {
                                addr: format!("{}/{}", s.addr, s.prefix_len),
                                lease_left_ms: lease_left,
                            })
                            .collect()
                    } else {
                        Vec::new()
                    },
                    last_transition: st.last_transition.map(|(at, t)| control::Transition {
                        from: state_name(t.from).to_owned(),
                        to: state_name(t.to).to_owned(),
                        ago_ms: now.saturating_duration_since(at).as_millis() as u64,
                        reason: t.reason.to_string(),
                    }),
                    adverts_sent: st.adverts_sent,
                    adverts_received: st.adverts_received,
                    replies_suppressed: st.replies_suppressed,
                    rx_errors: error_counts(&st.rx_errors()),
                });
            }
        }
        // Instances that wait for their interface show up too, so none silently vanishes: in
        // FAULT, as keepalived (dynamic_interfaces) shows them.
        for w in &self.waiting {
            for inst in &w.key.instances {
                let why = w.why.strip_prefix(&format!("{}: ", inst.name));
                instances.push(InstanceStatus {
                    name: inst.name.clone(),
                    interface: inst.interface.clone(),
                    vrid: inst.virtual_router_id,
                    state: "FAULT".to_owned(),
                    configured_priority: inst.priority,
                    last_transition: Some(control::Transition {
                        from: "INIT".to_owned(),
                        to: "FAULT".to_owned(),
                        ago_ms: now.saturating_duration_since(w.since).as_millis() as u64,
                        reason: format!("{} (waiting for it)", why.unwrap_or(&w.why)),
                    }),
                    ..InstanceStatus::default()
                });
            }
        }
        StatusReport {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            config: self.config_path.display().to_string(),
            instances,
            unattributed_rx_errors: error_counts(self.rx.unattributed()),
            virtual_servers: self.lb.status(now),
            ipvs_error: self.lb.ipvs_error(),
        }
    }
}
