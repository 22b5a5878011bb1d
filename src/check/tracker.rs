//! vrrp_script scheduling and keepalived's rise/fall hysteresis. Pure: the daemon spawns what
//! [`TrackedScript::due`] says and reports exit results back (a run counts as finished only
//! once its whole process group is gone, so one tracker never has two runs in flight).

use std::time::{Duration, Instant};

use super::script::{ProcId, ScriptSpec};

#[derive(Debug)]
pub struct TrackedScript {
    pub name: String,
    pub spec: ScriptSpec,
    interval: Duration,
    rise: u32,
    fall: u32,
    up: bool,
    /// Consecutive results against the current state.
    streak: u32,
    next_run: Option<Instant>,
    running: Option<ProcId>,
}

impl TrackedScript {
    /// Starts up (or down with `init_fail`) and runs first at `now`.
    pub fn new(
        name: &str,
        spec: ScriptSpec,
        interval: Duration,
        rise: u32,
        fall: u32,
        init_fail: bool,
        now: Instant,
    ) -> Self {
        TrackedScript {
            name: name.to_owned(),
            spec,
            interval,
            rise: rise.max(1),
            fall: fall.max(1),
            up: !init_fail,
            streak: 0,
            next_run: Some(now),
            running: None,
        }
    }

    pub fn up(&self) -> bool {
        self.up
    }

    pub fn running(&self) -> Option<ProcId> {
        self.running
    }

    pub fn due(&self, now: Instant) -> bool {
        self.running.is_none() && self.next_run.is_some_and(|t| now >= t)
    }

    pub fn started(&mut self, id: ProcId) {
        self.running = Some(id);
        self.next_run = None;
    }

    /// A spawn that failed counts as a failed run.
    pub fn spawn_failed(&mut self, now: Instant) -> Option<bool> {
        self.running = Some(0);
        self.finished(false, now)
    }

    /// Records a result; returns the new state when it flips (after `rise` successes or
    /// `fall` failures in a row). The next run is one interval after this one ended.
    pub fn finished(&mut self, success: bool, now: Instant) -> Option<bool> {
        self.running = None;
        self.next_run = Some(now + self.interval);
        if success == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if success { self.rise } else { self.fall };
        if self.streak >= needed {
            self.up = success;
            self.streak = 0;
            Some(success)
        } else {
            None
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rise_and_fall_need_consecutive_results() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut sc = TrackedScript::new("chk", ScriptSpec::new("true"), s, 2, 3, false, t0);
        assert!(sc.up() && sc.due(t0));
        sc.started(1);
        assert!(!sc.due(t0 + s * 10));
        assert_eq!(sc.finished(false, t0), None);
        assert_eq!(sc.poll_timeout(), Some(t0 + s));
        sc.started(2);
        assert_eq!(sc.finished(false, t0 + s), None);
        sc.started(3);
        // A success in between resets the count.
        assert_eq!(sc.finished(true, t0 + s * 2), None);
        for i in 0..2 {
            sc.started(4 + i);
            assert_eq!(sc.finished(false, t0), None);
        }
        sc.started(9);
        assert_eq!(sc.finished(false, t0), Some(false));
        assert!(!sc.up());
        sc.started(10);
        assert_eq!(sc.finished(true, t0), None);
        sc.started(11);
        assert_eq!(sc.finished(true, t0), Some(true));
        assert!(sc.up());
    }

    #[test]
    fn init_fail_starts_down_and_spawn_failure_counts() {
        let t0 = Instant::now();
        let mut sc = TrackedScript::new("c", ScriptSpec::new("x"), Duration::ZERO, 1, 1, true, t0);
        assert!(!sc.up());
        assert_eq!(sc.spawn_failed(t0), None);
        sc.started(1);
        assert_eq!(sc.finished(true, t0), Some(true));
        assert_eq!(sc.spawn_failed(t0), Some(false));
    }
}
