//! Real-server health checkers (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK): pure state machines.
//!
//! One [`Checker`] per check of a real server. It is driven by `now` and I/O events and
//! answers with [`Action`]s (connect, send, close, spawn/kill the misc script, report) and a
//! deadline ([`Checker::poll_timeout`]). The OS side lives in `sys::check_io`.
//!
//! Retry and transition rules follow keepalived 2.x (check_tcp.c, check_http.c,
//! check_misc.c):
//! - a server is declared DOWN after `retry + 1` consecutive failed attempts spaced by
//!   `delay_before_retry`; a success resets the count and waits `delay_loop`;
//! - the first result is always reported (`has_run`), so alpha servers (initially down) come
//!   up on their first success and non-alpha servers go down on their first failed series;
//! - TCP_CHECK keeps retrying while down; HTTP_GET and MISC_CHECK do not (HTTP waits
//!   `max(delay_before_retry, delay_loop)` on the failed url, MISC waits `delay_loop`);
//! - HTTP_GET checks one url per `delay_loop`, UP only once all urls passed in a row.

pub mod http;
pub mod misc;
pub mod script;
pub mod set;
pub mod settings;
pub mod tracker;

use http::{HttpProtocol, ParseError, Progress, ResponseParser, StatusSet};
use misc::{MiscExit, MiscVerdict};
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Grace after SIGTERM, then after SIGKILL, before signalling again (keepalived: 2 s each).
const MISC_KILL_GRACE: Duration = Duration::from_secs(2);

/// Where and how to connect (TCP_CHECK, HTTP_GET, SSL_GET).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnParams {
    /// connect_ip/connect_port, defaulting to the real server's address.
    pub dst: SocketAddr,
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
    Report(Event),
}

/// Last attempt, for status output.
#[derive(Clone, Debug, PartialEq, Eq)]
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

enum Phase {
    /// Waiting for `deadline` to start the next attempt.
    Idle,
    Connecting {
        started: Instant,
    },
    Exchange {
        parser: Box<ResponseParser>,
        idle: Instant,
        hard: Instant,
    },
    Misc {
        state: MiscState,
        started: Instant,
    },
}

/// keepalived's http epilog methods.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HttpStep {
    Next,
    Retry,
    Failed,
}

pub struct Checker {
    params: Rc<CheckParams>,
    up: bool,
    has_run: bool,
    retry_it: u32,
    url_it: usize,
    failed_url: Option<usize>,
    /// keepalived starts this at 0, so a first exit 0 changes no weight.
    misc_last_exit: u8,
    phase: Phase,
    deadline: Instant,
    actions: VecDeque<Action>,
    last: Option<LastResult>,
}

impl Checker {
    pub fn new(params: CheckParams, now: Instant) -> Self {
        let (up, delay) = (!params.alpha, params.initial_delay);
        Self::start(Rc::new(params), up, delay, now)
    }

    /// A checker on settings shared with its owner (which keeps them to restart it), starting
    /// `up` or not, its first attempt `delay` from `now` (`alpha` and `initial_delay` of
    /// `params` are not used).
    pub fn start(params: Rc<CheckParams>, up: bool, delay: Duration, now: Instant) -> Self {
        let deadline = now + delay;
        Checker {
            up,
            params,
            has_run: false,
            retry_it: 0,
            url_it: 0,
            failed_url: None,
            misc_last_exit: 0,
            phase: Phase::Idle,
            deadline,
            actions: VecDeque::new(),
            last: None,
        }
    }

    pub fn params(&self) -> &CheckParams {
        &self.params
    }

    /// Current health as the checker sees it.
    pub fn is_up(&self) -> bool {
        self.up
    }

    pub fn last_result(&self) -> Option<&LastResult> {
        self.last.as_ref()
    }

    /// When [`Checker::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Instant {
        self.deadline
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        let a = self.actions.pop_front();
        if a.is_none() && self.actions.capacity() > 0 {
            // Idle checkers hold no queue memory (10,000 of them add up).
            self.actions = VecDeque::new();
        }
        a
    }

    /// Call when `now >= poll_timeout()`; does nothing earlier.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.deadline {
            return;
        }
        match &mut self.phase {
            Phase::Idle => self.start_attempt(now),
            Phase::Connecting { .. } => {
                let to = self.conn().connect_timeout;
                self.actions.push_back(Action::Close);
                self.fail(now, Reason::ConnectTimeout(to));
            }
            Phase::Exchange { idle, hard, .. } => {
                let reason = if now >= *hard {
                    match &self.params.kind {
                        CheckKind::Http(h) => Reason::ExchangeTimeout(h.exchange_timeout),
                        _ => unreachable!("exchange phase is HTTP only"),
                    }
                } else {
                    debug_assert!(now >= *idle);
                    Reason::ReadTimeout(self.conn().connect_timeout)
                };
                self.actions.push_back(Action::Close);
                self.fail(now, reason);
            }
            Phase::Misc { state, .. } => {
                let (signal, next, grace) = match *state {
                    MiscState::Running => (libc::SIGTERM, MiscState::Terminating, MISC_KILL_GRACE),
                    MiscState::Terminating => (libc::SIGKILL, MiscState::Killing, MISC_KILL_GRACE),
                    // Still there after SIGKILL: keep trying, less often (keepalived: 10 s).
                    MiscState::Killing => (libc::SIGKILL, MiscState::Killing, 5 * MISC_KILL_GRACE),
                };
                *state = next;
                self.deadline = now + grace;
                self.actions.push_back(Action::KillMisc { signal });
            }
        }
    }

    /// The connection requested by [`Action::Connect`] is established.
    pub fn on_connected(&mut self, now: Instant) {
        let Phase::Connecting { started } = self.phase else {
            return;
        };
        match &self.params.kind {
            CheckKind::Tcp(_) => {
                self.actions.push_back(Action::Reset);
                self.succeed(now, Reason::Connected);
            }
            CheckKind::Http(h) => {
                let url = &h.urls[self.url_it];
                let vhost = url.virtualhost.as_deref().or(h.virtualhost.as_deref());
                let req = http::build_request(&url.path, vhost, h.conn.dst, h.protocol);
                self.actions.push_back(Action::Send(req));
                let idle = now + h.conn.connect_timeout;
                // The hard limit counts from the start of the attempt (connect included).
                let hard = started + h.exchange_timeout;
                self.phase = Phase::Exchange {
                    parser: Box::default(),
                    idle,
                    hard,
                };
                self.deadline = idle.min(hard);
            }
            CheckKind::Misc(_) => unreachable!("misc checks do not connect"),
        }
    }

    /// The connect failed (errno).
    pub fn on_connect_failed(&mut self, now: Instant, errno: i32) {
        if !matches!(self.phase, Phase::Connecting { .. }) {
            return;
        }
        self.actions.push_back(Action::Close);
        let reason = if errno == libc::ECONNREFUSED {
            Reason::ConnectRefused
        } else {
            Reason::SocketError(errno)
        };
        self.fail(now, reason);
    }

    /// Bytes read from the HTTP connection.
    pub fn on_data(&mut self, now: Instant, data: &[u8]) {
        let to = match &self.params.kind {
            CheckKind::Http(h) => h.conn.connect_timeout,
            _ => return,
        };
        let Phase::Exchange { parser, idle, hard } = &mut self.phase else {
            return;
        };
        match parser.feed(data) {
            Progress::Partial => {
                *idle = now + to;
                self.deadline = (*idle).min(*hard);
            }
            Progress::Complete(resp) => {
                self.actions.push_back(Action::Close);
                self.http_response(now, Ok(resp));
            }
            Progress::Failed(e) => {
                self.actions.push_back(Action::Close);
                self.http_response(now, Err(e));
            }
        }
    }

    /// The server closed the connection (read returned 0).
    pub fn on_eof(&mut self, now: Instant) {
        let Phase::Exchange { parser, .. } = &mut self.phase else {
            return;
        };
        let r = parser.finish();
        self.actions.push_back(Action::Close);
        self.http_response(now, r);
    }

    /// A read or write on the established connection failed (errno).
    pub fn on_io_error(&mut self, now: Instant, errno: i32) {
        if !matches!(self.phase, Phase::Exchange { .. }) {
            return;
        }
        self.actions.push_back(Action::Close);
        self.fail(now, Reason::SocketError(errno));
    }

    /// The misc script ended.
    pub fn on_misc_exit(&mut self, now: Instant, exit: MiscExit) {
        let Phase::Misc { state, started } = self.phase else {
            return;
        };
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
        self.record(now, success, reason.clone());
        match verdict {
            MiscVerdict::Up { weight } => {
                if let Some(c) = exit_code.filter(|c| dynamic && *c != self.misc_last_exit) {
                    self.report(Event::Weight(weight));
                    self.misc_last_exit = c;
                }
                if !self.up || !self.has_run {
                    self.set_state(true, reason);
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
                    self.set_state(false, reason);
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
        self.deadline = (started + delay).max(now);
    }

    fn conn(&self) -> &ConnParams {
        match &self.params.kind {
            CheckKind::Tcp(c) => c,
            CheckKind::Http(h) => &h.conn,
            CheckKind::Misc(_) => unreachable!("misc checks have no connection"),
        }
    }

    fn start_attempt(&mut self, now: Instant) {
        match &self.params.kind {
            CheckKind::Http(h) if h.urls.is_empty() => {
                // keepalived enables a server whose HTTP_GET has no url without checking.
                self.succeed(now, Reason::NoUrl);
            }
            CheckKind::Tcp(_) | CheckKind::Http(_) => {
                let c = self.conn().clone();
                let tls = matches!(&self.params.kind, CheckKind::Http(h) if h.tls);
                self.actions.push_back(Action::Connect {
                    dst: c.dst,
                    bind: c.bind,
                    tls,
                });
                self.phase = Phase::Connecting { started: now };
                self.deadline = now + c.connect_timeout;
            }
            CheckKind::Misc(m) => {
                let timeout = m.timeout.unwrap_or(self.params.delay_loop);
                self.actions.push_back(Action::SpawnMisc {
                    path: m.path.clone(),
                });
                self.phase = Phase::Misc {
                    state: MiscState::Running,
                    started: now,
                };
                self.deadline = now + timeout;
            }
        }
    }

    fn http_response(&mut self, now: Instant, r: Result<http::Response, ParseError>) {
        let CheckKind::Http(h) = &self.params.kind else {
            unreachable!()
        };
        let url = &h.urls[self.url_it];
        let resp = match r {
            Ok(resp) => resp,
            Err(e) => {
                let reason = match e {
                    ParseError::HeaderTooLarge => Reason::HeaderTooLarge,
                    ParseError::Malformed => Reason::Malformed,
                    ParseError::NoData => Reason::NoData,
                };
                return self.fail(now, reason);
            }
        };
        if !url.status.contains(resp.status) {
            return self.fail(now, Reason::HttpStatus(resp.status));
        }
        if url.digest.is_some_and(|d| d != resp.digest) {
            return self.fail(now, Reason::DigestMismatch);
        }
        self.succeed(now, Reason::HttpOk(resp.status));
    }

    fn record(&mut self, now: Instant, success: bool, reason: Reason) {
        self.last = Some(LastResult {
            at: now,
            success,
            reason,
        });
    }

    fn report(&mut self, e: Event) {
        self.actions.push_back(Action::Report(e));
    }

    fn set_state(&mut self, up: bool, reason: Reason) {
        self.up = up;
        self.report(if up {
            Event::Up(reason)
        } else {
            Event::Down(reason)
        });
    }

    fn succeed(&mut self, now: Instant, reason: Reason) {
        self.record(now, true, reason.clone());
        self.phase = Phase::Idle;
        match self.params.kind {
            CheckKind::Tcp(_) => self.tcp_epilog(now, true, reason),
            CheckKind::Http(_) => self.http_epilog(now, HttpStep::Next, reason),
            CheckKind::Misc(_) => unreachable!(),
        }
    }

    fn fail(&mut self, now: Instant, reason: Reason) {
        self.record(now, false, reason.clone());
        self.phase = Phase::Idle;
        match self.params.kind {
            CheckKind::Tcp(_) => self.tcp_epilog(now, false, reason),
            CheckKind::Http(_) => {
                // keepalived's timeout_epilog: no retries once the server is known down.
                if self.up || !self.has_run {
                    self.has_run = true;
                    self.http_epilog(now, HttpStep::Retry, reason)
                } else {
                    self.http_epilog(now, HttpStep::Failed, reason)
                }
            }
            CheckKind::Misc(_) => unreachable!(),
        }
    }

    fn tcp_epilog(&mut self, now: Instant, success: bool, reason: Reason) {
        let p = &self.params;
        let delay = if success || self.retry_it >= p.retry {
            self.retry_it = 0;
            if success && (!self.up || !self.has_run) {
                self.set_state(true, reason);
            } else if !success && (self.up || !self.has_run) {
                self.set_state(false, reason);
            }
            self.params.delay_loop
        } else {
            self.retry_it += 1;
            p.delay_before_retry
        };
        self.has_run = true;
        self.deadline = now + delay;
    }

    fn http_epilog(&mut self, now: Instant, step: HttpStep, reason: Reason) {
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
        if step == HttpStep::Next && self.url_it >= nurls && self.failed_url.is_none() {
            if !self.up || !self.has_run {
                self.set_state(true, reason);
                self.has_run = true;
            }
            self.url_it = 0;
            self.retry_it = 0;
        } else if step == HttpStep::Retry && self.retry_it > self.params.retry {
            if self.up || !self.has_run {
                self.set_state(false, reason);
            }
            self.failed_url = Some(self.url_it);
        } else if step == HttpStep::Next && self.failed_url.is_some() {
            // The failed url passes again: recheck all urls from the first.
            self.failed_url = None;
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
        } else if self.failed_url.is_some() {
            p.delay_before_retry.max(p.delay_loop)
        } else {
            p.delay_before_retry
        };
        self.deadline = now + delay;
    }
}

#[cfg(test)]
mod tests;
