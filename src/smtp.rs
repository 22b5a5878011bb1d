//! SMTP alerts, sans-IO: what keepalived mails (subjects and bodies of its smtp.c callers),
//! the message text, a client session that turns server replies into the next command, and
//! a bounded queue. `sys::smtp` moves the bytes; nothing here touches a socket or the clock.
//!
//! The dialogue is keepalived's (RFC 5321 §3.3 minimal transaction, one message per
//! connection): greeting 220, `HELO` 250, `MAIL FROM` 250, one `RCPT TO` per recipient 250,
//! `DATA` 354, headers + body + `.` 250, `QUIT`. Any other code ends the session.

use std::collections::VecDeque;
use std::fmt::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Alerts waiting while one is being sent; older ones are dropped first, so a dead mail
/// server costs at most this many small strings.
pub const QUEUE_CAP: usize = 16;
/// A reply longer than this without an end of line is refused (keepalived: 1024 bytes).
const REPLY_MAX: usize = 1024;

/// What happened, in keepalived's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alert {
    /// A VRRP instance entered `state` (`MASTER`, `BACKUP`, `FAULT`).
    Instance { name: String, state: &'static str },
    /// A sync group entered `state`.
    Group { name: String, state: &'static str },
    /// A virtual server gained or lost its quorum; `body` is keepalived's
    /// `=> Gained quorum Q+H=T <= SUM <=` line ([`quorum_body`]).
    VirtualServer {
        name: String,
        up: bool,
        body: String,
    },
    /// A checker of a real server succeeded (`check_ok`) or failed after the opposite;
    /// `up` is the real server's state, `check` the checker's words (`TCP CHECK`,
    /// `MISC CHECK`, `CHECK` for HTTP).
    RealServer {
        real: String,
        virtual_server: String,
        up: bool,
        check: &'static str,
        check_ok: bool,
    },
}

impl Alert {
    /// keepalived's `Subject:` (smtp.c `smtp_alert`).
    pub fn subject(&self, router_id: &str) -> String {
        match self {
            Alert::Instance { name, state } => {
                format!("[{router_id}] VRRP Instance {name} - Entering {state} state")
            }
            Alert::Group { name, state } => {
                format!("[{router_id}] VRRP Group {name} - Entering {state} state")
            }
            Alert::VirtualServer { name, up, .. } => format!(
                "[{router_id}] Virtualserver {name} - {}",
                if *up { "UP" } else { "DOWN" }
            ),
            Alert::RealServer {
                real,
                virtual_server,
                up,
                ..
            } => format!(
                "[{router_id}] Realserver {real} of virtual server {virtual_server} - {}",
                if *up { "UP" } else { "DOWN" }
            ),
        }
    }

    /// keepalived's body line (vrrp.c `vrrp_smtp_notifier`, vrrp_sync.c, the checkers).
    pub fn body(&self) -> String {
        match self {
            Alert::Instance { state, .. } if *state == "MASTER" => {
                "=> VRRP Instance is now owning VRRP VIPs <=".into()
            }
            Alert::Instance { .. } => "=> VRRP Instance is no longer owning VRRP VIPs <=".into(),
            Alert::Group { state, .. } => {
                format!("=> All VRRP group instances are now in {state} state <=")
            }
            Alert::VirtualServer { body, .. } => body.clone(),
            Alert::RealServer {
                check, check_ok, ..
            } => format!(
                "=> {check} {} on service <=",
                if *check_ok { "succeed" } else { "failed" }
            ),
        }
    }
}

/// keepalived's body of a quorum alert (ipwrapper.c `do_vs_notifies`): `start` when the
/// virtual server was just (re)loaded. The threshold is the one crossed: `quorum +
/// hysteresis` going up (or starting down), `quorum - hysteresis` going down.
pub fn quorum_body(up: bool, start: bool, quorum: u32, hysteresis: u32, sum: u32) -> String {
    let what = match (up, start) {
        (true, true) => "Starting with quorum up",
        (true, false) => "Gained quorum",
        (false, true) => "Starting with quorum down",
        (false, false) => "Lost quorum",
    };
    let (q, h) = (i64::from(quorum), i64::from(hysteresis));
    let threshold = if up || start { q + h } else { q - h };
    format!("=> {what} {quorum}+{hysteresis}={threshold} <= {sum} <=")
}

/// keepalived's `[ADDR]:proto:PORT` for real and virtual servers (`FMT_RS` / `FMT_VS`).
pub fn trio(addr: SocketAddr, proto: &str) -> String {
    format!("[{}]:{proto}:{}", addr.ip(), addr.port())
}

/// Resolved settings: `Config` values with keepalived's host-name defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub server: SocketAddr,
    pub helo: String,
    pub from: String,
    pub to: Vec<String>,
    pub router_id: String,
    pub timeout: Duration,
}

/// The DATA part of one alert: keepalived's headers (smtp.h `SMTP_HEADERS_CMD`), the body
/// and the final dot. Lines of the body starting with `.` are doubled (RFC 5321 §4.5.2).
pub fn message(s: &Settings, a: &Alert, date: &str) -> String {
    let mut m = String::new();
    let _ = write!(
        m,
        "Date: {date}\r\nFrom: {}\r\nSubject: {}\r\nX-Mailer: Keepalived\r\nTo: {}\r\n\r\n",
        s.from,
        a.subject(&s.router_id),
        s.to.join(", ")
    );
    for line in a.body().lines() {
        if line.starts_with('.') {
            m.push('.');
        }
        m.push_str(line);
        m.push_str("\r\n");
    }
    m.push_str("\r\n.\r\n");
    m
}

/// RFC 5322 §3.3 date of `unix` seconds, in UTC (keepalived prints local time; the
/// appliance runs in UTC).
pub fn rfc5322_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86400;
    let secs = unix % 86400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connecting,
    Greeting,
    Helo,
    Mail,
    /// Waiting for the reply to the RCPT of recipient N.
    Rcpt(usize),
    Data,
    Body,
    Quit,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Failed(String),
}

/// One alert's SMTP dialogue. Feed it what the server sends ([`Session::input`]); send what
/// it returns; end the connection once [`Session::outcome`] is set.
#[derive(Debug)]
pub struct Session {
    stage: Stage,
    helo: String,
    from: String,
    to: Vec<String>,
    data: String,
    timeout: Duration,
    deadline: Instant,
    buf: Vec<u8>,
    outcome: Option<Outcome>,
}

impl Session {
    /// A session for `alert`; the connection must be up within the timeout.
    pub fn new(s: &Settings, alert: &Alert, date: &str, now: Instant) -> Session {
        Session {
            stage: Stage::Connecting,
            helo: s.helo.clone(),
            from: s.from.clone(),
            to: s.to.clone(),
            data: message(s, alert, date),
            timeout: s.timeout,
            deadline: now + s.timeout,
            buf: Vec::new(),
            outcome: None,
        }
    }

    /// The TCP connection is established; the greeting is awaited.
    pub fn connected(&mut self, now: Instant) {
        self.stage = Stage::Greeting;
        self.deadline = now + self.timeout;
    }

    /// When the session gives up waiting (connect or reply), unless it ended.
    pub fn deadline(&self) -> Option<Instant> {
        self.outcome.is_none().then_some(self.deadline)
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Time passed: a session waiting beyond its deadline fails.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.outcome.is_none() && now >= self.deadline {
            let what = if self.stage == Stage::Connecting {
                "timeout connecting"
            } else {
                "timeout waiting for a reply"
            };
            self.outcome = Some(Outcome::Failed(what.into()));
        }
    }

    /// The server closed the connection or it broke.
    pub fn closed(&mut self, why: &str) {
        if self.outcome.is_none() {
            self.outcome = Some(Outcome::Failed(why.into()));
        }
    }

    /// Bytes from the server; returns the bytes to send.
    pub fn input(&mut self, bytes: &[u8], now: Instant) -> Vec<u8> {
        let mut out = Vec::new();
        if self.outcome.is_some() {
            return out;
        }
        self.buf.extend_from_slice(bytes);
        while let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = self.buf.drain(..end + 2).collect();
            // RFC 5321 §4.2.1: `NNN-text` continues a multi-line reply, `NNN text` ends it.
            if line.get(3) == Some(&b'-') {
                continue;
            }
            let code = std::str::from_utf8(line.get(..3).unwrap_or_default())
                .ok()
                .and_then(|c| c.parse::<u16>().ok());
            self.deadline = now + self.timeout;
            self.reply(code, &mut out);
            if self.outcome.is_some() {
                return out;
            }
        }
        if self.buf.len() > REPLY_MAX {
            self.fail("reply line too long".into(), &mut out);
        }
        out
    }

    fn fail(&mut self, why: String, out: &mut Vec<u8>) {
        out.extend_from_slice(b"QUIT\r\n");
        self.outcome = Some(Outcome::Failed(why));
    }

    fn reply(&mut self, code: Option<u16>, out: &mut Vec<u8>) {
        let (want, what) = match self.stage {
            Stage::Connecting | Stage::Greeting => (220, "greeting"),
            Stage::Helo => (250, "HELO"),
            Stage::Mail => (250, "MAIL"),
            Stage::Rcpt(_) => (250, "RCPT"),
            Stage::Data => (354, "DATA"),
            Stage::Body => (250, "message"),
            Stage::Quit => {
                self.outcome = Some(Outcome::Sent);
                return;
            }
        };
        if code != Some(want) {
            let got = code.map_or("no status code".into(), |c| format!("status {c}"));
            return self.fail(format!("{what} refused: {got}"), out);
        }
        let cmd = match self.stage {
            Stage::Connecting | Stage::Greeting => {
                self.stage = Stage::Helo;
                format!("HELO {}\r\n", self.helo)
            }
            Stage::Helo => {
                self.stage = Stage::Mail;
                format!("MAIL FROM:<{}>\r\n", self.from)
            }
            Stage::Mail | Stage::Rcpt(_) => {
                let next = match self.stage {
                    Stage::Rcpt(i) => i + 1,
                    _ => 0,
                };
                match self.to.get(next) {
                    Some(to) => {
                        self.stage = Stage::Rcpt(next);
                        format!("RCPT TO:<{to}>\r\n")
                    }
                    None => {
                        self.stage = Stage::Data;
                        "DATA\r\n".into()
                    }
                }
            }
            Stage::Data => {
                self.stage = Stage::Body;
                std::mem::take(&mut self.data)
            }
            Stage::Body | Stage::Quit => {
                self.stage = Stage::Quit;
                "QUIT\r\n".into()
            }
        };
        out.extend_from_slice(cmd.as_bytes());
    }
}

/// Alerts waiting for the session in progress, oldest first, at most [`QUEUE_CAP`].
#[derive(Debug, Default)]
pub struct Queue {
    items: VecDeque<(Alert, String)>,
    /// Alerts dropped because the queue was full.
    pub dropped: u64,
}

impl Queue {
    /// Queues `alert` (with its date); a full queue drops its oldest alert.
    pub fn push(&mut self, alert: Alert, date: String) {
        if self.items.len() == QUEUE_CAP {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back((alert, date));
    }

    pub fn pop(&mut self) -> Option<(Alert, String)> {
        self.items.pop_front()
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            server: "127.0.0.1:25".parse().unwrap(),
            helo: "lb1".into(),
            from: "keeplite@lb1".into(),
            to: vec!["a@x".into(), "b@x".into()],
            router_id: "LB1".into(),
            timeout: Duration::from_secs(30),
        }
    }

    fn master() -> Alert {
        Alert::Instance {
            name: "VI_1".into(),
            state: "MASTER",
        }
    }

    #[test]
    fn subjects_and_bodies_are_keepalived_s() {
        assert_eq!(
            master().subject("LB1"),
            "[LB1] VRRP Instance VI_1 - Entering MASTER state"
        );
        assert_eq!(
            master().body(),
            "=> VRRP Instance is now owning VRRP VIPs <="
        );
        let fault = Alert::Instance {
            name: "VI_1".into(),
            state: "FAULT",
        };
        assert_eq!(
            fault.body(),
            "=> VRRP Instance is no longer owning VRRP VIPs <="
        );
        let g = Alert::Group {
            name: "G".into(),
            state: "BACKUP",
        };
        assert_eq!(g.subject("r"), "[r] VRRP Group G - Entering BACKUP state");
        assert_eq!(
            g.body(),
            "=> All VRRP group instances are now in BACKUP state <="
        );
        let rs = Alert::RealServer {
            real: trio("10.0.0.2:80".parse().unwrap(), "tcp"),
            virtual_server: trio("10.0.0.1:80".parse().unwrap(), "tcp"),
            up: false,
            check: "TCP CHECK",
            check_ok: false,
        };
        assert_eq!(
            rs.subject("r"),
            "[r] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN"
        );
        assert_eq!(rs.body(), "=> TCP CHECK failed on service <=");
    }

    #[test]
    fn quorum_alerts() {
        let a = Alert::VirtualServer {
            name: "FWM 7".into(),
            up: false,
            body: quorum_body(false, false, 3, 1, 1),
        };
        assert_eq!(a.subject("r"), "[r] Virtualserver FWM 7 - DOWN");
        assert_eq!(a.body(), "=> Lost quorum 3+1=2 <= 1 <=");
        assert_eq!(
            quorum_body(true, false, 3, 1, 4),
            "=> Gained quorum 3+1=4 <= 4 <="
        );
        assert_eq!(
            quorum_body(false, true, 1, 0, 0),
            "=> Starting with quorum down 1+0=1 <= 0 <="
        );
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_825_599), "Tue, 29 Feb 2000 11:59:59 +0000");
        assert_eq!(
            rfc5322_date(1_798_761_600),
            "Fri, 01 Jan 2027 00:00:00 +0000"
        );
    }

    /// The whole dialogue, byte for byte, with a multi-line EHLO-style reply in the middle.
    #[test]
    fn dialogue() {
        let t0 = Instant::now();
        let mut s = Session::new(&settings(), &master(), "D", t0);
        s.connected(t0);
        let mut step = |input: &[u8]| String::from_utf8(s.input(input, t0)).unwrap();
        assert_eq!(step(b"220 mx ESMTP\r\n"), "HELO lb1\r\n");
        assert_eq!(step(b"250-mx\r\n250 "), "");
        assert_eq!(step(b"ok\r\n"), "MAIL FROM:<keeplite@lb1>\r\n");
        assert_eq!(step(b"250 ok\r\n"), "RCPT TO:<a@x>\r\n");
        assert_eq!(step(b"250 ok\r\n"), "RCPT TO:<b@x>\r\n");
        assert_eq!(step(b"250 ok\r\n"), "DATA\r\n");
        assert_eq!(
            step(b"354 go\r\n"),
            "Date: D\r\nFrom: keeplite@lb1\r\nSubject: [LB1] VRRP Instance VI_1 - Entering \
             MASTER state\r\nX-Mailer: Keepalived\r\nTo: a@x, b@x\r\n\r\n=> VRRP Instance is \
             now owning VRRP VIPs <=\r\n\r\n.\r\n"
        );
        assert_eq!(step(b"250 queued\r\n"), "QUIT\r\n");
        assert_eq!(s.outcome(), None);
        assert!(s.input(b"221 bye\r\n", t0).is_empty());
        assert_eq!(s.outcome(), Some(&Outcome::Sent));
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn refusal_quits_and_fails() {
        let t0 = Instant::now();
        let mut s = Session::new(&settings(), &master(), "D", t0);
        s.connected(t0);
        s.input(b"220 mx\r\n", t0);
        assert_eq!(s.input(b"550 no\r\n", t0), b"QUIT\r\n");
        assert_eq!(
            s.outcome(),
            Some(&Outcome::Failed("HELO refused: status 550".into()))
        );
        let mut s = Session::new(&settings(), &master(), "D", t0);
        s.connected(t0);
        assert_eq!(s.input(&[b'x'; 2000], t0), b"QUIT\r\n");
        assert_eq!(
            s.outcome(),
            Some(&Outcome::Failed("reply line too long".into()))
        );
    }

    #[test]
    fn silent_server_times_out() {
        let t0 = Instant::now();
        let mut s = Session::new(&settings(), &master(), "D", t0);
        assert_eq!(s.deadline(), Some(t0 + Duration::from_secs(30)));
        s.handle_timeout(t0 + Duration::from_secs(29));
        assert_eq!(s.outcome(), None);
        s.connected(t0 + Duration::from_secs(10));
        s.handle_timeout(t0 + Duration::from_secs(39));
        assert_eq!(s.outcome(), None);
        s.handle_timeout(t0 + Duration::from_secs(40));
        assert_eq!(
            s.outcome(),
            Some(&Outcome::Failed("timeout waiting for a reply".into()))
        );
    }

    #[test]
    fn queue_drops_oldest_and_counts() {
        let mut q = Queue::default();
        for i in 0..QUEUE_CAP + 3 {
            let a = Alert::Group {
                name: i.to_string(),
                state: "MASTER",
            };
            q.push(a, String::new());
        }
        assert_eq!(q.dropped, 3);
        let names: Vec<String> = std::iter::from_fn(|| q.pop())
            .map(|(a, _)| match a {
                Alert::Group { name, .. } => name,
                _ => unreachable!(),
            })
            .collect();
        let kept: Vec<String> = (3..QUEUE_CAP + 3).map(|i| i.to_string()).collect();
        assert_eq!(names, kept);
    }
}
