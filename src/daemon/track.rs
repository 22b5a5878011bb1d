//! `vrrp_track_process` on the loop: feeds the kernel's process events (or, where the proc
//! connector is unavailable, a `/proc` scan a second) into the [`Monitor`] core.

use std::time::{Duration, Instant};

use super::log;
use crate::config::TrackProcess;
use crate::proto::cn_proc::Event;
use crate::sys::event::{Interest, Poller};
use crate::sys::track_process::{self as sys, Connector};
use crate::vrrp::track_process::{Ident, Monitor};

/// Scan period without the connector, and the wait before a rescan after lost events
/// (keepalived waits a second too).
const SCAN: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Processes {
    pub monitor: Monitor,
    conn: Option<Connector>,
    /// The connector could not be opened: scanning instead (said once).
    scanning: bool,
    scan_due: Option<Instant>,
}

impl Processes {
    /// Follows the configuration: subscribes to process events while processes are tracked,
    /// and counts the new ones at once.
    pub fn configure(&mut self, cfg: &[TrackProcess], poller: &Poller, token: u64, now: Instant) {
        let fresh = self.monitor.configure(cfg);
        if self.monitor.is_empty() {
            if let Some(c) = self.conn.take() {
                let _ = poller.delete(c.fd());
            }
            (self.scanning, self.scan_due) = (false, None);
            return;
        }
        if self.conn.is_none() && !self.scanning {
            match Connector::open()
                .and_then(|c| poller.add(c.fd(), Interest::Read, token).map(|_| c))
            {
                Ok(c) => self.conn = Some(c),
                Err(e) => {
                    log::warn(&format!(
                        "track_process: kernel process events unavailable ({e}); scanning /proc every second instead"
                    ));
                    self.scanning = true;
                }
            }
        }
        if fresh {
            self.scan(now);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.monitor.poll_timeout(), self.scan_due]
            .into_iter()
            .flatten()
            .min()
    }

    /// The connector is readable.
    pub fn ready(&mut self, now: Instant) {
        let Some(c) = &self.conn else { return };
        let mut events = Vec::new();
        if let Err(e) = c.recv(&mut events) {
            if e.raw_os_error() == Some(libc::ENOBUFS) {
                log::warn("track_process: process events lost; rescanning /proc");
            } else {
                log::warn(&format!(
                    "track_process: process events: {e}; rescanning /proc"
                ));
            }
            self.scan_due.get_or_insert(now + SCAN);
        }
        let (comm, cmdline) = self.monitor.needs();
        for ev in events {
            match ev {
                Event::Fork { parent, child } => self.monitor.fork(now, parent, child),
                Event::Exec { pid } => {
                    let (c, l) = sys::ident(&pid.to_string(), comm, cmdline);
                    let id = Ident {
                        comm: c.as_deref(),
                        cmdline: l.as_deref(),
                    };
                    self.monitor.exec(now, pid, &id);
                }
                Event::Comm { pid, comm } => {
                    let len = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
                    self.monitor.rename(now, pid, &comm[..len]);
                }
                Event::Exit { pid } => self.monitor.exit(now, pid),
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.scan_due.is_some_and(|t| now >= t) {
            self.scan(now);
        }
        self.monitor.handle_timeout(now);
    }

    fn scan(&mut self, now: Instant) {
        self.scan_due = self.scanning.then_some(now + SCAN);
        let (comm, cmdline) = self.monitor.needs();
        match sys::scan(comm, cmdline) {
            Ok(procs) => {
                let procs = procs.iter().map(|(pid, (c, l))| {
                    let id = Ident {
                        comm: c.as_deref(),
                        cmdline: l.as_deref(),
                    };
                    (*pid, id)
                });
                self.monitor.scan(now, procs);
            }
            Err(e) => log::warn(&format!("track_process: reading /proc: {e}")),
        }
    }
}
