//! Real-server health checkers (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, UDP_CHECK,
//! PING_CHECK, DNS_CHECK, FILE_CHECK): pure state machines.
//!
//! One [`Checker`] per check of a real server. It is driven by `now` and I/O events and
//! answers with [`Action`]s (connect, send, close, spawn/kill the misc script, report) and a
//! deadline ([`Checker::poll_timeout`]). The OS side lives in `sys::check_io`.
//!
//! Retry and transition rules follow keepalived 2.x (check_tcp.c, check_http.c,
//! check_misc.c, check_udp.c, check_ping.c, check_dns.c):
//! - a server is declared DOWN after `retry + 1` consecutive failed attempts spaced by
//!   `delay_before_retry`; a success resets the count and waits `delay_loop`;
//! - the first result is always reported (`has_run`), so alpha servers (initially down) come
//!   up on their first success and non-alpha servers go down on their first failed series;
//! - TCP_CHECK keeps retrying while down; HTTP_GET, MISC, UDP, PING and DNS do not (HTTP waits
//!   `max(delay_before_retry, delay_loop)` on the failed url, MISC, UDP, PING, DNS wait `delay_loop`);
//! - UDP_CHECK sends its payload and waits connect_timeout: an ICMP error fails, silence
//!   passes unless `require_reply`, a reply passes if it matches the configured pattern;
//! - PING_CHECK sends one ICMP echo request and needs an echo reply within connect_timeout;
//! - DNS_CHECK sends one query and needs a response with its id and RCODE 0 in that time;
//! - HTTP_GET checks one url per `delay_loop`, UP only once all urls passed in a row.

pub mod dns;
pub mod file;
pub mod http;
pub mod misc;
pub mod ping;
pub mod script;
pub mod set;
pub mod settings;
pub mod tracker;
pub mod udp;

use http::{HttpProtocol, ParseError, Progress, ResponseParser, StatusSet};
use misc::{MiscExit, MiscVerdict};
use std::collections::VecDeque;
use std::fmt;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::rc::Rc;
use std::time::{Duration, Instant};
use udp::UdpParams;

/// Grace after SIGTERM, then after SIGKILL, before signalling again (keepalived: 2 s each).
const MISC_KILL_GRACE: Duration = Duration::from_secs(2);

/// Where and how to connect (TCP_CHECK, HTTP_GET, SSL_GET). Holds nothing of the real server,
/// so the real servers of a virtual server share one copy of their settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnParams {
    /// connect_ip/connect_port; unset, the real server's.
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    /// bindto/bind_port; port 0 lets the kernel pick.
    pub bind: Option<SocketAddr>,
    /// connect_timeout (keepalived default 5 s); also the idle limit of each HTTP read.
    pub connect_timeout: Duration,
}

/// One `url` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlParams {
    pub path: String,
    pub digest: Option<[u8; 16]>,
    /// Use [`StatusSet::default_2xx`] when the block names no status_code.
    pub status: StatusSet,
    pub virtualhost: Option<String>,
}

impl ConnParams {
    /// The address checked for the real server at `real`.
    pub fn dst(&self, real: SocketAddr) -> SocketAddr {
        SocketAddr::new(
            self.connect_ip.unwrap_or(real.ip()),
            self.connect_port.unwrap_or(real.port()),
        )
    }
}

impl UrlParams {
    /// A url block with keepalived's defaults: no digest, status 200-299, no virtualhost.
    pub fn new(path: impl Into<String>) -> Self {
        UrlParams {
            path: path.into(),
            digest: None,
            status: StatusSet::default_2xx(),
            virtualhost: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpParams {
    pub conn: ConnParams,
    pub urls: Vec<UrlParams>,
    /// Checker-level virtualhost (url-level wins; the daemon folds in rs/vs virtualhost).
    pub virtualhost: Option<String>,
    pub protocol: HttpProtocol,
    /// Hard limit on one whole exchange (connect to end of body), so slow-drip and endless
    /// responses fail. keepalived has no such limit; 3 x connect_timeout is a good default.
    pub exchange_timeout: Duration,
    /// SSL_GET: the driver wraps the connection in TLS.
    pub tls: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiscParams {
    /// misc_path with its arguments, as written in the config.
    pub path: String,
    /// misc_timeout; keepalived uses delay_loop when unset.
    pub timeout: Option<Duration>,
    pub dynamic: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckKind {
    Tcp(ConnParams),
    /// Boxed: most real servers use TCP_CHECK, keep the common case small.
    Http(Box<HttpParams>),
    Misc(MiscParams),
    Udp(Box<UdpParams>),
    /// ICMP echo to `dst`'s address (its port is unused).
    Ping(ConnParams),
    Dns(Box<dns::DnsParams>),
    File(Box<file::FileParams>),
}

impl CheckKind {
    /// The connection settings of checks that open one (not MISC, not FILE).
    fn conn(&self) -> Option<&ConnParams> {
        match self {
            CheckKind::Tcp(c) | CheckKind::Ping(c) => Some(c),
            CheckKind::Http(h) => Some(&h.conn),
            CheckKind::Udp(u) => Some(&u.conn),
            CheckKind::Dns(d) => Some(&d.conn),
            CheckKind::Misc(_) | CheckKind::File(_) => None,
        }
    }
}

/// Parameters common to every checker (already defaulted by the daemon from the checker,
/// real server and virtual server blocks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckParams {
    pub kind: CheckKind,
    pub delay_loop: Duration,
    /// keepalived defaults: 1 (MISC_CHECK 0).
    pub retry: u32,
    /// keepalived defaults: 1 s (HTTP_GET/SSL_GET 3 s).
    pub delay_before_retry: Duration,
    /// alpha: start DOWN until the first success; otherwise start UP.
    pub alpha: bool,
    /// Delay before the first check; keepalived draws it at random in `[0, warmup]`
    /// (warmup defaults to delay_loop), which the daemon does to spread the load.
    pub initial_delay: Duration,
}

/// Why the last attempt ended the way it did (shown in status and logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Connected,
    ConnectRefused,
    /// Any other connect/read error, as errno.
    SocketError(i32),
    ConnectTimeout(Duration),
    /// No byte for `connect_timeout` while waiting for the response.
    ReadTimeout(Duration),
    /// The whole exchange took longer than `exchange_timeout`.
    ExchangeTimeout(Duration),
    NoData,
    Malformed,
    HeaderTooLarge,
    HttpStatus(u16),
    DigestMismatch,
    /// Every url passed.
    HttpOk(u16),
    /// HTTP_GET without url: up without checking, like keepalived.
    NoUrl,
    MiscExit(u8),
    MiscSignal(i32),
    MiscTimeout(Duration),
    /// UDP: nothing came back within connect_timeout and no reply is required.
    NoReplyNeeded,
    /// UDP with `require_reply`, PING: nothing came back within connect_timeout.
    NoReply(Duration),
    /// UDP: a reply of this many bytes matched.
    Reply(usize),
    /// UDP: a reply of this many bytes did not match the pattern or length limits; PING: an
    /// ICMP message of this many bytes that is not an echo reply.
    ReplyMismatch(usize),
    /// DNS: the response's RCODE (RFC 1035 §4.1.1), not 0.
    DnsRcode(u8),
    /// FILE: the tracked file's value.
    FileValue(i64),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Connected => write!(f, "connected"),
            Reason::ConnectRefused => write!(f, "connection refused"),
            Reason::SocketError(e) => {
                write!(f, "{}", std::io::Error::from_raw_os_error(*e))
            }
            Reason::ConnectTimeout(d) => write!(f, "connect timeout after {}", secs(*d)),
            Reason::ReadTimeout(d) => write!(f, "read timeout after {}", secs(*d)),
            Reason::ExchangeTimeout(d) => write!(f, "response not complete after {}", secs(*d)),
            Reason::NoData => write!(f, "no data received"),
            Reason::Malformed => write!(f, "malformed HTTP response"),
            Reason::HeaderTooLarge => write!(f, "HTTP header too large"),
            Reason::HttpStatus(c) => write!(f, "HTTP {c}"),
            Reason::DigestMismatch => write!(f, "digest mismatch"),
            Reason::HttpOk(c) => write!(f, "HTTP {c} ok"),
            Reason::NoUrl => write!(f, "no url to check"),
            Reason::MiscExit(c) => write!(f, "misc exit {c}"),
            Reason::MiscSignal(s) => write!(f, "misc killed by signal {s}"),
            Reason::MiscTimeout(d) => write!(f, "misc timeout after {}", secs(*d)),
            Reason::NoReplyNeeded => write!(f, "no reply (none required)"),
            Reason::NoReply(d) => write!(f, "no reply after {}", secs(*d)),
            Reason::Reply(n) => write!(f, "{n}-byte reply matched"),
            Reason::ReplyMismatch(n) => write!(f, "{n}-byte reply did not match"),
            Reason::DnsRcode(rc) => write!(f, "DNS rcode {rc}"),
            Reason::FileValue(v) => write!(f, "file value {v}"),
        }
    }
}

fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}

/// Reported to the daemon (which feeds IPVS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Up(Reason),
    Down(Reason),
    /// misc_dynamic: new weight, `None` = back to the configured weight.
    Weight(Option<u32>),
    /// FILE_CHECK: the real server's weight moves by this much (the checks add up).
    WeightBy(i64),
}

/// What the driver must do for this checker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a non-blocking TCP socket, bind if asked, connect; answer with
    /// [`Checker::on_connected`] or [`Checker::on_connect_failed`].
    Connect {
        dst: SocketAddr,
        bind: Option<SocketAddr>,
        tls: bool,
    },
    /// Open a non-blocking UDP socket, bind if asked, connect, send `payload`; answer with
    /// [`Checker::on_datagram`], or [`Checker::on_connect_failed`] on an error (ICMP
    /// unreachable comes back as ECONNREFUSED).
    SendDatagram {
        dst: SocketAddr,
        bind: Option<SocketAddr>,
        payload: Vec<u8>,
        /// PING_CHECK: an ICMP (v6) socket, raw if ping sockets are not allowed; the driver
        /// hands on ICMP messages without IP header and drops other pingers' echoes.
        icmp: bool,
    },
    /// Write these bytes on the connection.
    Send(Vec<u8>),
    /// Close the connection (no more events for it).
    Close,
    /// Close with a reset (SO_LINGER 0). After a bare TCP_CHECK connect nothing was
    /// exchanged, and an abortive close leaves no TIME_WAIT on the director: 10,000 checks/s
    /// would otherwise pin ~600,000 of them (haproxy closes its checks the same way).
    Reset,
    /// Start the misc script; answer with [`Checker::on_misc_exit`].
    SpawnMisc {
        path: String,
    },
    /// Signal the running misc script's process group.
    KillMisc {
        signal: i32,
    },
    /// FILE_CHECK: read the file; answer with [`Checker::on_file_value`].
    ReadFile,
    Report(Event),
}

/// Where a checker puts its [`Action`]s, in order: the caller's, lent to each call and
/// drained after it, so one queue serves every checker (an idle checker holds none, and a
/// check allocates nothing once it has grown).
pub type Actions = VecDeque<Action>;

/// A checker with the queue it acts into: what the driver calls on each event.
pub struct CheckerMut<'a> {
    pub checker: &'a mut Checker,
    pub out: &'a mut Actions,
}

impl CheckerMut<'_> {
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.checker.handle_timeout(now, self.out)
    }

    pub fn on_connected(&mut self, now: Instant) {
        self.checker.on_connected(now, self.out)
    }

    pub fn on_connect_failed(&mut self, now: Instant, errno: i32) {
        self.checker.on_connect_failed(now, errno, self.out)
    }

    pub fn on_data(&mut self, now: Instant, data: &[u8]) {
        self.checker.on_data(now, data, self.out)
    }

    pub fn on_datagram(&mut self, now: Instant, data: &[u8], len: usize) {
        self.checker.on_datagram(now, data, len, self.out)
    }

    pub fn on_eof(&mut self, now: Instant) {
        self.checker.on_eof(now, self.out)
    }

    pub fn on_io_error(&mut self, now: Instant, errno: i32) {
        self.checker.on_io_error(now, errno, self.out)
    }

    pub fn on_file_value(&mut self, now: Instant, value: Option<i64>) {
        self.checker.on_file_value(now, value, self.out)
    }

    pub fn on_misc_exit(&mut self, now: Instant, exit: MiscExit) {
        self.checker.on_misc_exit(now, exit, self.out)
    }
}

/// Last attempt, for status output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastResult {
    pub at: Instant,
    pub success: bool,
    pub reason: Reason,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MiscState {
    Running,
    Terminating,
    Killing,
}

/// An HTTP request sent, its response being read.
struct Exchange {
    parser: ResponseParser,
    /// Deadline of the next byte.
    idle: Instant,
    /// Deadline of the whole exchange.
    hard: Instant,
}

/// A misc script running.
struct MiscRun {
    state: MiscState,
    started: Instant,
}

/// The phases with data are boxed, as most checkers are never in them (16 B, not 24).
enum Phase {
    /// Waiting for `deadline` to start the next attempt.
    Idle,
    /// Until `deadline`, which is the attempt's start + connect_timeout.
    Connecting,
    Exchange(Box<Exchange>),
    Misc(Box<MiscRun>),
    /// UDP: the datagram is out, waiting for a reply until `deadline`.
    Datagram,
}

/// keepalived's http epilog methods.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HttpStep {
    Next,
    Retry,
    Failed,
}

/// An instant as nanoseconds since a process-wide origin: 8 B, not `Instant`'s 16 (twice
/// per checker, and a daemon may run 10,000 checkers).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct At(u64);

impl At {
    /// Far enough back that no instant a checker is handed comes before it.
    fn origin() -> Instant {
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *ORIGIN.get_or_init(|| {
            let now = Instant::now();
            now.checked_sub(Duration::from_secs(1 << 20)).unwrap_or(now)
        })
    }

    fn of(t: Instant) -> At {
        let ns = t.saturating_duration_since(Self::origin()).as_nanos();
        At(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    fn instant(self) -> Instant {
        Self::origin() + Duration::from_nanos(self.0)
    }
}

/// A checker's target: 16 B, not `SocketAddr`'s 32 (an IPv6 one is boxed).
enum Dst {
    V4(SocketAddrV4),
    V6(Box<SocketAddrV6>),
}

impl From<SocketAddr> for Dst {
    fn from(a: SocketAddr) -> Dst {
        match a {
            SocketAddr::V4(a) => Dst::V4(a),
            SocketAddr::V6(a) => Dst::V6(Box::new(a)),
        }
    }
}

pub struct Checker {
    params: Rc<CheckParams>,
    /// Where the checks go: the settings' connect_ip/connect_port over the real server's.
    dst: Dst,
    deadline: At,
    /// The last attempt ([`LastResult`] unpacked: 8 B of time, no second `Option`).
    last_reason: Option<Reason>,
    last_at: At,
    last_success: bool,
    up: bool,
    has_run: bool,
    /// keepalived's failed_url is set: a url failed, recheck all from the first.
    url_failed: bool,
    /// keepalived starts this at 0, so a first exit 0 changes no weight.
    misc_last_exit: u8,
    /// PING_CHECK: echo sequence number; DNS_CHECK: id of the query in flight.
    seq: u16,
    retry_it: u32,
    url_it: u32,
    phase: Phase,
}

impl Checker {
    /// A checker whose settings name its whole target (connect_ip and connect_port).
    pub fn new(params: CheckParams, now: Instant) -> Self {
        let (up, delay) = (!params.alpha, params.initial_delay);
        let unset = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0);
        Self::start(Rc::new(params), unset, up, delay, now)
    }

    /// A checker of the real server at `real` on settings shared with its owner (which keeps
    /// them to restart it, and shares them between real servers), starting `up` or not, its
    /// first attempt `delay` from `now` (`alpha` and `initial_delay` of `params` are not used).
    pub fn start(
        params: Rc<CheckParams>,
        real: SocketAddr,
        up: bool,
        delay: Duration,
        now: Instant,
    ) -> Self {
        let dst = params.kind.conn().map_or(real, |c| c.dst(real));
        Checker {
            up,
            dst: dst.into(),
            params,
            has_run: false,
            retry_it: 0,
            url_it: 0,
            url_failed: false,
            misc_last_exit: 0,
            seq: 0,
            phase: Phase::Idle,
            deadline: At::of(now + delay),
            last_reason: None,
            last_at: At(0),
            last_success: false,
        }
    }

    /// A checker restarted (ha_suspend) with the result it had: a FILE_CHECK then moves the
    /// weight only by what changed since (its share is in the real server's weight already).
    pub fn with_last(mut self, last: Option<LastResult>) -> Self {
        if let Some(l) = last {
            self.record(l.at, l.success, l.reason);
        }
        self
    }

    pub fn params(&self) -> &CheckParams {
        &self.params
    }

    /// Current health as the checker sees it.
    pub fn is_up(&self) -> bool {
        self.up
    }

    pub fn last_result(&self) -> Option<LastResult> {
        Some(LastResult {
            at: self.last_at.instant(),
            success: self.last_success,
            reason: self.last_reason?,
        })
    }

    /// Where the checks go.
    fn dst(&self) -> SocketAddr {
        match &self.dst {
            Dst::V4(a) => (*a).into(),
            Dst::V6(a) => (**a).into(),
        }
    }

    /// When [`Checker::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Instant {
        self.deadline.instant()
    }

    /// Call when `now >= poll_timeout()`; does nothing earlier.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Actions) {
        if now < self.deadline.instant() {
            return;
        }
        match &mut self.phase {
            Phase::Idle => self.start_attempt(now, out),
            Phase::Connecting => {
                let to = self.conn().connect_timeout;
                out.push_back(Action::Close);
                self.fail(now, Reason::ConnectTimeout(to), out);
            }
            Phase::Exchange(x) => {
                let reason = if now >= x.hard {
                    match &self.params.kind {
                        CheckKind::Http(h) => Reason::ExchangeTimeout(h.exchange_timeout),
                        _ => unreachable!("exchange phase is HTTP only"),
                    }
                } else {
                    debug_assert!(now >= x.idle);
                    Reason::ReadTimeout(self.conn().connect_timeout)
                };
                out.push_back(Action::Close);
                self.fail(now, reason, out);
            }
            Phase::Misc(m) => {
                let (signal, next, grace) = match m.state {
                    MiscState::Running => (libc::SIGTERM, MiscState::Terminating, MISC_KILL_GRACE),
                    MiscState::Terminating => (libc::SIGKILL, MiscState::Killing, MISC_KILL_GRACE),
                    // Still there after SIGKILL: keep trying, less often (keepalived: 10 s).
                    MiscState::Killing => (libc::SIGKILL, MiscState::Killing, 5 * MISC_KILL_GRACE),
                };
                m.state = next;
                self.deadline = At::of(now + grace);
                out.push_back(Action::KillMisc { signal });
            }
            Phase::Datagram => {
                let (required, to) = match &self.params.kind {
                    CheckKind::Udp(u) => (u.spec.require_reply, u.conn.connect_timeout),
                    CheckKind::Ping(c) => (true, c.connect_timeout),
                    CheckKind::Dns(d) => (true, d.conn.connect_timeout),
                    _ => unreachable!("datagram phase is UDP/PING only"),
                };
                out.push_back(Action::Close);
                // keepalived: a read timeout is a success unless a reply is required.
                if required {
                    self.fail(now, Reason::NoReply(to), out);
                } else {
                    self.succeed(now, Reason::NoReplyNeeded, out);
                }
            }
        }
    }

    /// The connection requested by [`Action::Connect`] is established.
    pub fn on_connected(&mut self, now: Instant, out: &mut Actions) {
        let Phase::Connecting = self.phase else {
            return;
        };
        match &self.params.kind {
            CheckKind::Tcp(_) => {
                out.push_back(Action::Reset);
                self.succeed(now, Reason::Connected, out);
            }
            CheckKind::Http(h) => {
                let url = &h.urls[self.url_it as usize];
                let vhost = url.virtualhost.as_deref().or(h.virtualhost.as_deref());
                let req = http::build_request(&url.path, vhost, self.dst(), h.protocol);
                out.push_back(Action::Send(req));
                let idle = now + h.conn.connect_timeout;
                // The hard limit counts from the start of the attempt (connect included).
                let started = self.deadline.instant() - h.conn.connect_timeout;
                let hard = started + h.exchange_timeout;
                self.phase = Phase::Exchange(Box::new(Exchange {
                    parser: ResponseParser::default(),
                    idle,
                    hard,
                }));
                self.deadline = At::of(idle.min(hard));
            }
            CheckKind::Misc(_)
            | CheckKind::Udp(_)
            | CheckKind::Ping(_)
            | CheckKind::Dns(_)
            | CheckKind::File(_) => unreachable!("no stream connection"),
        }
    }

    /// The connect failed (errno); for UDP, any socket error.
    pub fn on_connect_failed(&mut self, now: Instant, errno: i32, out: &mut Actions) {
        if !matches!(self.phase, Phase::Connecting | Phase::Datagram) {
            return;
        }
        out.push_back(Action::Close);
        let reason = if errno == libc::ECONNREFUSED {
            Reason::ConnectRefused
        } else {
            Reason::SocketError(errno)
        };
        self.fail(now, reason, out);
    }

    /// Bytes read from the HTTP connection.
    pub fn on_data(&mut self, now: Instant, data: &[u8], out: &mut Actions) {
        let to = match &self.params.kind {
            CheckKind::Http(h) => h.conn.connect_timeout,
            _ => return,
        };
        let Phase::Exchange(x) = &mut self.phase else {
            return;
        };
        match x.parser.feed(data) {
            Progress::Partial => {
                x.idle = now + to;
                self.deadline = At::of(x.idle.min(x.hard));
            }
            Progress::Complete(resp) => {
                out.push_back(Action::Close);
                self.http_response(now, Ok(resp), out);
            }
            Progress::Failed(e) => {
                out.push_back(Action::Close);
                self.http_response(now, Err(e), out);
            }
        }
    }

    /// UDP: a reply datagram of `len` bytes, of which `data` is the start. PING: an ICMP
    /// message.
    pub fn on_datagram(&mut self, now: Instant, data: &[u8], len: usize, out: &mut Actions) {
        if !matches!(self.phase, Phase::Datagram) {
            return;
        }
        let ok = match &self.params.kind {
            CheckKind::Udp(u) => u.reply_ok(data, len),
            CheckKind::Ping(_) => {
                ping::classify(self.dst().is_ipv6(), data, None) == ping::Received::Reply
            }
            CheckKind::Dns(_) => match dns::rcode(data, self.seq) {
                // Not the response to our query: keep waiting, as keepalived does.
                None => return,
                Some(0) => true,
                Some(rc) => {
                    out.push_back(Action::Close);
                    return self.fail(now, Reason::DnsRcode(rc), out);
                }
            },
            _ => return,
        };
        out.push_back(Action::Close);
        if ok {
            self.succeed(now, Reason::Reply(len), out);
        } else {
            self.fail(now, Reason::ReplyMismatch(len), out);
        }
    }

    /// The server closed the connection (read returned 0).
    pub fn on_eof(&mut self, now: Instant, out: &mut Actions) {
        let Phase::Exchange(x) = &mut self.phase else {
            return;
        };
        let r = x.parser.finish();
        out.push_back(Action::Close);
        self.http_response(now, r, out);
    }

    /// A read or write on the established connection failed (errno).
    pub fn on_io_error(&mut self, now: Instant, errno: i32, out: &mut Actions) {
        if !matches!(self.phase, Phase::Exchange(_)) {
            return;
        }
        out.push_back(Action::Close);
        self.fail(now, Reason::SocketError(errno), out);
    }

    /// FILE_CHECK: the file's value (`None`: out of range, ignored as keepalived does). Only
    /// a change is news; the first value always is.
    pub fn on_file_value(&mut self, now: Instant, value: Option<i64>, out: &mut Actions) {
        let CheckKind::File(f) = &self.params.kind else {
            return;
        };
        let Some(v) = value else { return };
        let prev = match self.last_reason {
            Some(Reason::FileValue(p)) => Some(p),
            _ => None,
        };
        if prev == Some(v) {
            return;
        }
        let (status, by) = (file::status(f, v), file::weight_change(f, prev, v));
        let first = !std::mem::replace(&mut self.has_run, true);
        self.record(now, status.is_some(), Reason::FileValue(v));
        // As misc_dynamic: the weight first, so the server comes up with it.
        if by != 0 {
            self.report(Event::WeightBy(by), out);
        }
        if first || status.is_some() != self.up {
            self.set_state(status.is_some(), Reason::FileValue(v), out);
        }
    }

    /// The misc script ended.
    pub fn on_misc_exit(&mut self, now: Instant, exit: MiscExit, out: &mut Actions) {
        let Phase::Misc(run) = &self.phase else {
            return;
        };
        let (state, started) = (run.state, run.started);
        let CheckKind::Misc(m) = &self.params.kind else {
            unreachable!()
        };
        let timeout = m.timeout.unwrap_or(self.params.delay_loop);
        let dynamic = m.dynamic;
        let verdict = misc::verdict(exit, dynamic);
        let reason = match exit {
            MiscExit::Signaled(s)
                if state != MiscState::Running && (s == libc::SIGTERM || s == libc::SIGKILL) =>
            {
                Reason::MiscTimeout(timeout)
            }
            MiscExit::Signaled(s) => Reason::MiscSignal(s),
            MiscExit::Exited(c) => Reason::MiscExit(c),
        };
        let exit_code = match exit {
            MiscExit::Exited(c) => Some(c),
            MiscExit::Signaled(_) => None,
        };
        let success = matches!(verdict, MiscVerdict::Up { .. });
        self.record(now, success, reason);
        match verdict {
            MiscVerdict::Up { weight } => {
                if let Some(c) = exit_code.filter(|c| dynamic && *c != self.misc_last_exit) {
                    self.report(Event::Weight(weight), out);
                    self.misc_last_exit = c;
                }
                if !self.up || !self.has_run {
                    self.set_state(true, reason, out);
                }
                self.retry_it = 0;
            }
            MiscVerdict::Down if self.up || !self.has_run => {
                if self.retry_it < self.params.retry {
                    self.retry_it += 1;
                } else {
                    self.retry_it = 0;
                    if let Some(c) = exit_code {
                        self.misc_last_exit = c;
                    }
                    self.set_state(false, reason, out);
                }
            }
            MiscVerdict::Down => {}
        }
        // keepalived schedules from the script's start, not its end.
        let delay = if self.retry_it > 0 {
            self.params.delay_before_retry
        } else {
            self.params.delay_loop
        };
        self.has_run = true;
        self.phase = Phase::Idle;
        self.deadline = At::of((started + delay).max(now));
    }

    fn conn(&self) -> &ConnParams {
        self.params.kind.conn().expect("a check with a connection")
    }

    fn start_attempt(&mut self, now: Instant, out: &mut Actions) {
        match &self.params.kind {
            CheckKind::Http(h) if h.urls.is_empty() => {
                // keepalived enables a server whose HTTP_GET has no url without checking.
                self.succeed(now, Reason::NoUrl, out);
            }
            CheckKind::Tcp(_) | CheckKind::Http(_) => {
                let c = self.conn().clone();
                let tls = matches!(&self.params.kind, CheckKind::Http(h) if h.tls);
                out.push_back(Action::Connect {
                    dst: self.dst(),
                    bind: c.bind,
                    tls,
                });
                self.phase = Phase::Connecting;
                self.deadline = At::of(now + c.connect_timeout);
            }
            CheckKind::Udp(u) => {
                out.push_back(Action::SendDatagram {
                    dst: self.dst(),
                    bind: u.conn.bind,
                    payload: u.spec.payload.clone(),
                    icmp: false,
                });
                self.phase = Phase::Datagram;
                self.deadline = At::of(now + u.conn.connect_timeout);
            }
            CheckKind::Ping(c) => {
                self.seq = self.seq.wrapping_add(1);
                out.push_back(Action::SendDatagram {
                    dst: self.dst(),
                    bind: c.bind,
                    payload: ping::echo_request(self.dst().is_ipv6(), ping::ID, self.seq),
                    icmp: true,
                });
                self.phase = Phase::Datagram;
                self.deadline = At::of(now + c.connect_timeout);
            }
            CheckKind::Dns(d) => {
                // An unpredictable id, so off-path replies are unlikely to pass.
                self.seq = std::collections::hash_map::RandomState::new().hash_one(now) as u16;
                let (dst, bind, to) = (self.dst(), d.conn.bind, d.conn.connect_timeout);
                let Some(payload) = dns::query(self.seq, &d.name, d.qtype) else {
                    // The configuration checks names; nothing to send otherwise.
                    return self.fail(now, Reason::SocketError(libc::EINVAL), out);
                };
                out.push_back(Action::SendDatagram {
                    dst,
                    bind,
                    payload,
                    icmp: false,
                });
                self.phase = Phase::Datagram;
                self.deadline = At::of(now + to);
            }
            CheckKind::Misc(m) => {
                let timeout = m.timeout.unwrap_or(self.params.delay_loop);
                out.push_back(Action::SpawnMisc {
                    path: m.path.clone(),
                });
                self.phase = Phase::Misc(Box::new(MiscRun {
                    state: MiscState::Running,
                    started: now,
                }));
                self.deadline = At::of(now + timeout);
            }
            CheckKind::File(_) => {
                out.push_back(Action::ReadFile);
                self.deadline = At::of(now + self.params.delay_loop);
            }
        }
    }

    fn http_response(
        &mut self,
        now: Instant,
        r: Result<http::Response, ParseError>,
        out: &mut Actions,
    ) {
        let CheckKind::Http(h) = &self.params.kind else {
            unreachable!()
        };
        let url = &h.urls[self.url_it as usize];
        let resp = match r {
            Ok(resp) => resp,
            Err(e) => {
                let reason = match e {
                    ParseError::HeaderTooLarge => Reason::HeaderTooLarge,
                    ParseError::Malformed => Reason::Malformed,
                    ParseError::NoData => Reason::NoData,
                };
                return self.fail(now, reason, out);
            }
        };
        if !url.status.contains(resp.status) {
            return self.fail(now, Reason::HttpStatus(resp.status), out);
        }
        if url.digest.is_some_and(|d| d != resp.digest) {
            return self.fail(now, Reason::DigestMismatch, out);
        }
        self.succeed(now, Reason::HttpOk(resp.status), out);
    }

    fn record(&mut self, now: Instant, success: bool, reason: Reason) {
        (self.last_at, self.last_success) = (At::of(now), success);
        self.last_reason = Some(reason);
    }

    fn report(&mut self, e: Event, out: &mut Actions) {
        out.push_back(Action::Report(e));
    }

    fn set_state(&mut self, up: bool, reason: Reason, out: &mut Actions) {
        self.up = up;
        self.report(
            if up {
                Event::Up(reason)
            } else {
                Event::Down(reason)
            },
            out,
        );
    }

    fn succeed(&mut self, now: Instant, reason: Reason, out: &mut Actions) {
        self.record(now, true, reason);
        self.phase = Phase::Idle;
        match self.params.kind {
            CheckKind::Tcp(_) | CheckKind::Udp(_) | CheckKind::Ping(_) | CheckKind::Dns(_) => {
                self.tcp_epilog(now, true, reason, out)
            }
            CheckKind::Http(_) => self.http_epilog(now, HttpStep::Next, reason, out),
            CheckKind::Misc(_) | CheckKind::File(_) => unreachable!(),
        }
    }

    fn fail(&mut self, now: Instant, reason: Reason, out: &mut Actions) {
        self.record(now, false, reason);
        self.phase = Phase::Idle;
        match self.params.kind {
            CheckKind::Tcp(_) | CheckKind::Udp(_) | CheckKind::Ping(_) | CheckKind::Dns(_) => {
                self.tcp_epilog(now, false, reason, out)
            }
            CheckKind::Http(_) => {
                // keepalived's timeout_epilog: no retries once the server is known down.
                if self.up || !self.has_run {
                    self.has_run = true;
                    self.http_epilog(now, HttpStep::Retry, reason, out)
                } else {
                    self.http_epilog(now, HttpStep::Failed, reason, out)
                }
            }
            CheckKind::Misc(_) | CheckKind::File(_) => unreachable!(),
        }
    }

    /// keepalived's tcp_epilog and udp/icmp_epilog: these differ only in that UDP/PING neither retries
    /// nor settles a failure while the server is already down.
    fn tcp_epilog(&mut self, now: Instant, success: bool, reason: Reason, out: &mut Actions) {
        let p = &self.params;
        let tcp = matches!(p.kind, CheckKind::Tcp(_));
        let settle = success || (self.retry_it >= p.retry && (tcp || self.up || !self.has_run));
        let delay = if settle {
            self.retry_it = 0;
            if success && (!self.up || !self.has_run) {
                self.set_state(true, reason, out);
            } else if !success && (self.up || !self.has_run) {
                self.set_state(false, reason, out);
            }
            self.params.delay_loop
        } else if tcp || self.up {
            self.retry_it += 1;
            p.delay_before_retry
        } else {
            p.delay_loop
        };
        self.has_run = true;
        self.deadline = At::of(now + delay);
    }

    fn http_epilog(&mut self, now: Instant, step: HttpStep, reason: Reason, out: &mut Actions) {
        let nurls = match &self.params.kind {
            CheckKind::Http(h) => h.urls.len(),
            _ => unreachable!(),
        };
        // `url_it == nurls` stands for keepalived's "past the last url".
        match step {
            HttpStep::Next => {
                self.url_it += 1;
                self.retry_it = 0;
            }
            HttpStep::Retry => self.retry_it += 1,
            HttpStep::Failed => {}
        }
        if step == HttpStep::Next && self.url_it as usize >= nurls && !self.url_failed {
            if !self.up || !self.has_run {
                self.set_state(true, reason, out);
                self.has_run = true;
            }
            self.url_it = 0;
            self.retry_it = 0;
        } else if step == HttpStep::Retry && self.retry_it > self.params.retry {
            if self.up || !self.has_run {
                self.set_state(false, reason, out);
            }
            self.url_failed = true;
        } else if step == HttpStep::Next && self.url_failed {
            // The failed url passes again: recheck all urls from the first.
            self.url_failed = false;
            self.url_it = 0;
            self.retry_it = 0;
        }
        let p = &self.params;
        let delay = if step == HttpStep::Next {
            if !self.has_run {
                // During the very first pass a later url failing means DOWN at once.
                self.retry_it = p.retry;
            }
            p.delay_loop
        } else if self.url_failed {
            p.delay_before_retry.max(p.delay_loop)
        } else {
            p.delay_before_retry
        };
        self.deadline = At::of(now + delay);
    }
}

#[cfg(test)]
mod tests;
