//! Drives [`crate::smtp::Session`] over a non-blocking TCP socket on the daemon's loop: one
//! alert at a time, the others in the bounded [`Queue`]. Nothing here blocks: the connect is
//! asynchronous and every wait is bounded by `smtp_connect_timeout`.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::check_io::{connect, socket_error};
use super::event::{Interest, Poller};
use crate::config::GlobalDefs;
use crate::smtp::{rfc5322_date, Alert, Outcome, Queue, Session, Settings};

struct Active {
    stream: TcpStream,
    session: Session,
    connected: bool,
    out: Vec<u8>,
}

/// The alert mailer: settings, queue and the session in progress.
pub struct Mailer {
    token: u64,
    settings: Option<Settings>,
    queue: Queue,
    active: Option<Active>,
    log: Vec<String>,
}

/// keepalived's resolution of the mail settings: none without recipients and a server;
/// sender, HELO name and router_id default to the host name.
pub fn settings(g: &GlobalDefs) -> Option<Settings> {
    let m = &g.smtp;
    let server = m.server.filter(|_| !m.to.is_empty())?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    Some(Settings {
        server,
        helo: m.helo_name.clone().unwrap_or_else(|| host.clone()),
        from: m.from.clone().unwrap_or_else(|| format!("root@{host}")),
        to: m.to.clone(),
        router_id: g.router_id.clone().unwrap_or(host),
        timeout: m.connect_timeout,
    })
}

impl Mailer {
    /// Readiness of the mail socket is reported with `token`.
    pub fn new(token: u64) -> Mailer {
        Mailer {
            token,
            settings: None,
            queue: Queue::default(),
            active: None,
            log: Vec::new(),
        }
    }

    /// New settings (a reload); without a server or recipients queued alerts are forgotten.
    pub fn configure(&mut self, g: &GlobalDefs) {
        self.settings = settings(g);
        if self.settings.is_none() {
            self.queue.clear();
        }
    }

    /// Queues `alert` and starts sending it unless a session is in progress.
    pub fn alert(&mut self, alert: Alert, poller: &Poller, now: Instant) {
        if self.settings.is_none() {
            return;
        }
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let before = self.queue.dropped;
        self.queue.push(alert, rfc5322_date(unix));
        if self.queue.dropped > before {
            self.log.push(format!(
                "SMTP: alert queue full, oldest alert dropped ({} so far)",
                self.queue.dropped
            ));
        }
        self.start(poller, now);
    }

    fn start(&mut self, poller: &Poller, now: Instant) {
        let Some(s) = &self.settings else { return };
        while self.active.is_none() {
            let Some((alert, date)) = self.queue.pop() else {
                return;
            };
            let mut session = Session::new(s, &alert, &date, now);
            let (fd, connected) = match connect(s.server, None) {
                Ok(c) => c,
                Err(e) => {
                    let e = std::io::Error::from_raw_os_error(e);
                    self.log
                        .push(format!("SMTP: connecting to {}: {e}", s.server));
                    continue;
                }
            };
            if connected {
                session.connected(now);
            }
            let stream = TcpStream::from(fd);
            if let Err(e) = poller.add(stream.as_raw_fd(), Interest::ReadWrite, self.token) {
                self.log.push(format!("SMTP: epoll: {e}"));
                continue;
            }
            self.active = Some(Active {
                stream,
                session,
                connected,
                out: Vec::new(),
            });
        }
    }

    /// When the session in progress gives up waiting.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.active.as_ref().and_then(|a| a.session.deadline())
    }

    pub fn handle_timeout(&mut self, poller: &Poller, now: Instant) {
        if let Some(a) = &mut self.active {
            a.session.handle_timeout(now);
        }
        self.finish(poller, now);
    }

    /// The mail socket is ready: completes the connect, reads replies, writes commands.
    pub fn ready(&mut self, poller: &Poller, now: Instant) {
        let Some(a) = &mut self.active else { return };
        if !a.connected {
            match socket_error(a.stream.as_raw_fd()) {
                0 => {
                    a.connected = true;
                    a.session.connected(now);
                }
                e => a
                    .session
                    .closed(&std::io::Error::from_raw_os_error(e).to_string()),
            }
        }
        let mut buf = [0u8; 512];
        while a.connected && a.session.outcome().is_none() {
            match a.stream.read(&mut buf) {
                Ok(0) => a.session.closed("connection closed by the server"),
                Ok(n) => {
                    let out = a.session.input(&buf[..n], now);
                    a.out.extend_from_slice(&out);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => a.session.closed(&e.to_string()),
            }
        }
        flush(a);
        let interest = if a.connected && a.out.is_empty() {
            Interest::Read
        } else {
            Interest::ReadWrite
        };
        let _ = poller.modify(a.stream.as_raw_fd(), interest, self.token);
        self.finish(poller, now);
    }

    /// Ends a finished session (its last QUIT sent if the socket takes it) and starts the
    /// next queued alert.
    fn finish(&mut self, poller: &Poller, now: Instant) {
        let Some(a) = &mut self.active else { return };
        let Some(outcome) = a.session.outcome().cloned() else {
            return;
        };
        flush(a);
        let _ = poller.delete(a.stream.as_raw_fd());
        self.active = None;
        let server = self.settings.as_ref().map(|s| s.server.to_string());
        let server = server.unwrap_or_default();
        self.log.push(match outcome {
            Outcome::Sent => format!("SMTP alert successfully sent to {server}"),
            Outcome::Failed(why) => format!("SMTP alert to {server} failed: {why}"),
        });
        self.start(poller, now);
    }

    /// Log lines of what happened since the last call.
    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }
}

/// Writes what the socket takes now; the rest waits for writability.
fn flush(a: &mut Active) {
    while !a.out.is_empty() {
        match a.stream.write(&a.out) {
            Ok(n) => {
                a.out.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => {
                a.session.closed(&e.to_string());
                a.out.clear();
            }
        }
    }
}
