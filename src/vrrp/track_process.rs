//! `vrrp_track_process`: counts the running processes matching each tracked process and says
//! when its quorum (`quorum <= count <= quorum_max`) is gained or lost, as keepalived's
//! track_process.c does. Pure: the shell reports process events (from the kernel's proc
//! connector) and `/proc` scans; the quorum becomes a core [`Tracker`](super::Tracker) state
//! exactly as a vrrp_script's result does (keepalived's process_update_track_process_status).

use std::time::{Duration, Instant};

use crate::config::{ParamMatch, TrackProcess};

/// What the shell knows of a process: `comm` (`/proc/PID/comm`, without the newline) and the
/// command line (`/proc/PID/cmdline`, NUL-separated), each read only if [`Monitor::needs`] says so.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ident<'a> {
    pub comm: Option<&'a [u8]>,
    pub cmdline: Option<&'a [u8]>,
}

/// keepalived `check_params`: `params` is what follows the command's first word (each
/// parameter followed by a NUL).
fn params_match(p: &TrackProcess, params: &[u8]) -> bool {
    let want = p.params.as_deref().unwrap_or_default();
    match p.param_match {
        ParamMatch::None => true,
        ParamMatch::Exact => params == want,
        ParamMatch::Partial => params.starts_with(want),
        // The last parameter (its NUL excluded) may be a prefix of the actual one.
        ParamMatch::Initial => params.starts_with(&want[..want.len().saturating_sub(1)]),
    }
}

/// Whether a process is one `p` counts (keepalived `check_process`'s comparison).
pub fn matches(p: &TrackProcess, id: &Ident) -> bool {
    if p.full_command {
        let Some(cmd) = id.cmdline else { return false };
        let (name, params) = match cmd.iter().position(|&b| b == 0) {
            Some(i) => (&cmd[..i], &cmd[i + 1..]),
            None => (cmd, &[][..]),
        };
        name == p.process.as_bytes() && params_match(p, params)
    } else {
        id.comm == Some(p.process.as_bytes())
    }
}

/// Why a count changed: which delay applies to the quorum change it causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Fork,
    Exit,
    /// An exec or a rename: keepalived applies the change at once.
    Now,
}

#[derive(Debug)]
struct Tracked {
    cfg: TrackProcess,
    /// The matching processes, sorted.
    pids: Vec<u32>,
    up: bool,
    /// Not scanned yet: the first scan sets the state without a change.
    fresh: bool,
    /// A delayed quorum change falls due.
    due: Option<Instant>,
}

impl Tracked {
    fn quorate(&self) -> bool {
        let n = self.pids.len();
        n >= self.cfg.quorum as usize && n <= self.cfg.quorum_max as usize
    }

    fn add(&mut self, pid: u32) -> bool {
        match self.pids.binary_search(&pid) {
            Ok(_) => false,
            Err(i) => {
                self.pids.insert(i, pid);
                true
            }
        }
    }

    fn remove(&mut self, pid: u32) -> bool {
        match self.pids.binary_search(&pid) {
            Ok(i) => {
                self.pids.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// After the count changed: applies the quorum change now, or after the cause's delay
    /// (a timer already running keeps its deadline); a count back where the quorum was
    /// cancels a pending change, as keepalived cancels its fork / terminate timer.
    fn settle(&mut self, cause: Cause, now: Instant) -> Option<bool> {
        if self.quorate() == self.up {
            self.due = None;
            return None;
        }
        let delay = match cause {
            Cause::Fork => self.cfg.fork_delay,
            Cause::Exit => self.cfg.terminate_delay,
            Cause::Now => Duration::ZERO,
        };
        if delay.is_zero() {
            self.due = None;
            self.up = !self.up;
            return Some(self.up);
        }
        self.due.get_or_insert(now + delay);
        None
    }
}

/// Every tracked process of the configuration.
#[derive(Debug, Default)]
pub struct Monitor {
    tracked: Vec<Tracked>,
    /// Quorum changes not yet taken: (name, up).
    changes: Vec<(String, bool)>,
}

impl Monitor {
    /// Follows `cfg`: unchanged tracked processes keep their count and state, new ones start
    /// without quorum until the next [`scan`](Self::scan). Returns whether one is new.
    pub fn configure(&mut self, cfg: &[TrackProcess]) -> bool {
        let mut old = std::mem::take(&mut self.tracked);
        let mut fresh = false;
        for c in cfg {
            match old.iter().position(|t| &t.cfg == c) {
                Some(i) => self.tracked.push(old.swap_remove(i)),
                None => {
                    fresh = true;
                    self.tracked.push(Tracked {
                        cfg: c.clone(),
                        pids: Vec::new(),
                        up: false,
                        fresh: true,
                        due: None,
                    });
                }
            }
        }
        fresh
    }

    pub fn is_empty(&self) -> bool {
        self.tracked.is_empty()
    }

    /// Which names the shell must read: (`comm`, command line).
    pub fn needs(&self) -> (bool, bool) {
        let full = |f| self.tracked.iter().any(|t| t.cfg.full_command == f);
        (full(false), full(true))
    }

    /// The quorum of tracked process `name` (`None`: not configured).
    pub fn up(&self, name: &str) -> Option<bool> {
        self.tracked
            .iter()
            .find(|t| t.cfg.name == name)
            .map(|t| t.up)
    }

    /// A full view of the running processes (at start, after lost events, or every poll
    /// without the connector). New tracked processes take the state it shows at once; the
    /// others change as if the processes had forked or exited.
    pub fn scan<'a>(&mut self, now: Instant, procs: impl Iterator<Item = (u32, Ident<'a>)>) {
        let mut seen: Vec<Vec<u32>> = vec![Vec::new(); self.tracked.len()];
        for (pid, id) in procs {
            for (t, s) in self.tracked.iter().zip(&mut seen) {
                if matches(&t.cfg, &id) {
                    s.push(pid);
                }
            }
        }
        for (t, mut pids) in self.tracked.iter_mut().zip(seen) {
            pids.sort_unstable();
            let cause = if pids.len() >= t.pids.len() {
                Cause::Fork
            } else {
                Cause::Exit
            };
            t.pids = pids;
            if std::mem::take(&mut t.fresh) {
                t.up = t.quorate();
            } else if let Some(up) = t.settle(cause, now) {
                self.changes.push((t.cfg.name.clone(), up));
            }
        }
    }

    /// A new process: the child of a counted process counts for the same tracked processes
    /// (keepalived does not look at the child's name until it execs).
    pub fn fork(&mut self, now: Instant, parent: u32, child: u32) {
        self.each(now, Cause::Fork, |t| {
            t.pids.binary_search(&parent).is_ok() && t.add(child)
        });
    }

    /// A process ran a new program: counted from now on if it matches, no longer if not.
    pub fn exec(&mut self, now: Instant, pid: u32, id: &Ident) {
        self.each(now, Cause::Now, |t| {
            if matches(&t.cfg, id) {
                t.add(pid)
            } else {
                t.remove(pid)
            }
        });
    }

    /// A process renamed itself: only tracked processes compared by `comm` look at it.
    pub fn rename(&mut self, now: Instant, pid: u32, comm: &[u8]) {
        let id = Ident {
            comm: Some(comm),
            cmdline: None,
        };
        self.each(now, Cause::Now, |t| {
            if t.cfg.full_command {
                false
            } else if matches(&t.cfg, &id) {
                t.add(pid)
            } else {
                t.remove(pid)
            }
        });
    }

    pub fn exit(&mut self, now: Instant, pid: u32) {
        self.each(now, Cause::Exit, |t| t.remove(pid));
    }

    /// Applies `change` to every tracked process; those whose count changed settle.
    fn each(&mut self, now: Instant, cause: Cause, mut change: impl FnMut(&mut Tracked) -> bool) {
        for t in &mut self.tracked {
            if change(t) {
                if let Some(up) = t.settle(cause, now) {
                    self.changes.push((t.cfg.name.clone(), up));
                }
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tracked.iter().filter_map(|t| t.due).min()
    }

    /// A delayed change falls due: the quorum follows the count of that moment.
    pub fn handle_timeout(&mut self, now: Instant) {
        for t in &mut self.tracked {
            if t.due.is_some_and(|d| now >= d) {
                t.due = None;
                if t.quorate() != t.up {
                    t.up = !t.up;
                    self.changes.push((t.cfg.name.clone(), t.up));
                }
            }
        }
    }

    /// The next quorum change: (tracked process name, quorum now held).
    pub fn poll_change(&mut self) -> Option<(String, bool)> {
        (!self.changes.is_empty()).then(|| self.changes.remove(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::TrackProcess;

    fn cfg(name: &str, process: &str) -> TrackProcess {
        TrackProcess::new(name, process)
    }

    fn comm(c: &[u8]) -> Ident<'_> {
        Ident {
            comm: Some(c),
            cmdline: None,
        }
    }

    fn cmd(c: &[u8]) -> Ident<'_> {
        Ident {
            comm: None,
            cmdline: Some(c),
        }
    }

    fn changes(m: &mut Monitor) -> Vec<(String, bool)> {
        std::iter::from_fn(|| m.poll_change()).collect()
    }

    #[test]
    fn names_and_parameters_match_as_keepalived_compares_them() {
        let mut p = cfg("p", "nginx");
        assert!(matches(&p, &comm(b"nginx")));
        assert!(!matches(&p, &comm(b"nginx2")));
        assert!(!matches(&p, &cmd(b"nginx\0")));
        p.full_command = true;
        assert!(matches(&p, &cmd(b"nginx\0-g\0x\0")));
        assert!(!matches(&p, &cmd(b"/usr/sbin/nginx\0")));
        // `process nginx -g daemon` (exact by default).
        p.params = Some(b"-g\0daemon\0".to_vec());
        p.param_match = ParamMatch::Exact;
        assert!(matches(&p, &cmd(b"nginx\0-g\0daemon\0")));
        assert!(!matches(&p, &cmd(b"nginx\0-g\0daemon\0off\0")));
        assert!(!matches(&p, &cmd(b"nginx\0-g\0daemons\0")));
        p.param_match = ParamMatch::Partial;
        assert!(matches(&p, &cmd(b"nginx\0-g\0daemon\0off\0")));
        assert!(!matches(&p, &cmd(b"nginx\0-g\0daemons\0")));
        p.param_match = ParamMatch::Initial;
        assert!(matches(&p, &cmd(b"nginx\0-g\0daemons\0")));
        assert!(!matches(&p, &cmd(b"nginx\0-h\0daemon\0")));
        // `param_match` without parameters: exact means none at all.
        p.params = None;
        p.param_match = ParamMatch::Exact;
        assert!(matches(&p, &cmd(b"nginx\0")));
        assert!(!matches(&p, &cmd(b"nginx\0-t\0")));
    }

    #[test]
    fn quorum_follows_forks_execs_renames_and_exits() {
        let t0 = Instant::now();
        let mut p = cfg("p", "srv");
        p.quorum = 2;
        p.quorum_max = 3;
        let mut m = Monitor::default();
        assert!(m.configure(&[p]));
        m.scan(t0, [(10, comm(b"srv")), (11, comm(b"sh"))].into_iter());
        assert_eq!(m.up("p"), Some(false));
        assert!(changes(&mut m).is_empty());
        // A second srv: quorum.
        m.fork(t0, 10, 12);
        assert_eq!(changes(&mut m), [("p".into(), true)]);
        // A fork of an uncounted process changes nothing; nor does a second report.
        m.fork(t0, 11, 13);
        m.fork(t0, 10, 12);
        assert!(changes(&mut m).is_empty());
        m.exec(t0, 13, &comm(b"srv"));
        m.exec(t0, 14, &comm(b"srv"));
        // Four: above quorum_max.
        assert_eq!(changes(&mut m), [("p".into(), false)]);
        // The fork child ran another program; then a counted one renamed itself.
        m.exec(t0, 12, &comm(b"logger"));
        assert_eq!(changes(&mut m), [("p".into(), true)]);
        m.rename(t0, 14, b"srv-worker");
        m.exit(t0, 99);
        assert!(changes(&mut m).is_empty());
        m.exit(t0, 13);
        assert_eq!(changes(&mut m), [("p".into(), false)]);
        assert_eq!(m.up("p"), Some(false));
        assert_eq!(m.poll_timeout(), None);
    }

    #[test]
    fn delays_hold_changes_and_a_return_cancels_them() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut p = cfg("p", "srv");
        p.terminate_delay = 2 * s;
        p.fork_delay = s;
        let mut m = Monitor::default();
        m.configure(&[p]);
        m.scan(t0, [(10, comm(b"srv"))].into_iter());
        assert_eq!(m.up("p"), Some(true));
        // The process dies and a new one starts within the terminate delay: no change.
        m.exit(t0, 10);
        assert_eq!(m.poll_timeout(), Some(t0 + 2 * s));
        m.exec(t0 + s, 11, &comm(b"srv"));
        assert_eq!(m.poll_timeout(), None);
        m.handle_timeout(t0 + 2 * s);
        assert!(changes(&mut m).is_empty());
        // It dies for good: lost when the delay is over, not before.
        m.exit(t0 + 3 * s, 11);
        m.handle_timeout(t0 + 4 * s);
        assert_eq!(m.up("p"), Some(true));
        m.handle_timeout(t0 + 5 * s);
        assert_eq!(changes(&mut m), [("p".into(), false)]);
        // An exec counts at once; a fork only after the fork delay.
        m.exec(t0 + 6 * s, 20, &comm(b"srv"));
        assert_eq!(changes(&mut m), [("p".into(), true)]);
        m.exit(t0 + 7 * s, 20);
        m.handle_timeout(t0 + 9 * s);
        assert_eq!(changes(&mut m), [("p".into(), false)]);
        m.scan(t0 + 10 * s, [(30, comm(b"srv"))].into_iter());
        assert!(changes(&mut m).is_empty());
        assert_eq!(m.poll_timeout(), Some(t0 + 11 * s));
        m.handle_timeout(t0 + 11 * s);
        assert_eq!(changes(&mut m), [("p".into(), true)]);
    }

    #[test]
    fn quorum_max_zero_is_up_while_none_runs_and_reconfiguring_keeps_state() {
        let t0 = Instant::now();
        let mut none = cfg("none", "rogue");
        none.quorum = 0;
        none.quorum_max = 0;
        let kept = cfg("kept", "srv");
        let mut m = Monitor::default();
        m.configure(&[none.clone(), kept.clone()]);
        m.scan(t0, [(5, comm(b"srv"))].into_iter());
        assert_eq!((m.up("none"), m.up("kept")), (Some(true), Some(true)));
        m.exec(t0, 6, &comm(b"rogue"));
        assert_eq!(changes(&mut m), [("none".into(), false)]);
        // A reload dropping `none` and adding `other`: `kept` keeps its count.
        let other = cfg("other", "x");
        assert!(m.configure(&[kept.clone(), other]));
        assert!(!m.configure(&[kept]));
        assert_eq!(m.up("kept"), Some(true));
        assert_eq!(m.up("none"), None);
        m.exit(t0, 5);
        assert_eq!(changes(&mut m), [("kept".into(), false)]);
        assert_eq!(m.needs(), (true, false));
    }
}
