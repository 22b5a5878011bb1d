//! The VRRP units' deadlines ordered by time, so a wake-up touches only the units that are
//! due instead of asking every unit for its deadline (1,000 instances at 0.1 s adverts wake
//! the loop up to a thousand times a second).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Deadlines at most this far after a wake-up run in it, each unit at its own deadline:
/// instances whose phases drifted apart by less share one wake-up instead of one each. An
/// advert leaves up to 1 ms early (epoll's whole-ms timeout already lets it leave up to
/// 1 ms late), a tenth of the finest interval VRRP can express (centiseconds, RFC 5798
/// §5.2.7); the Adver_Timer (§6.4.3) restarts from the deadline, so the schedule is kept.
pub const SLACK: Duration = Duration::from_millis(1);

/// Deadline per unit index, in a min-heap. Moving a deadline pushes a new entry and leaves
/// the old one behind as stale (it no longer matches `at`); stale entries are skipped when
/// they reach the top and swept when they outnumber the live ones.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    at: Vec<Option<Instant>>,
}

impl Timers {
    /// Forgets every unit; the caller sets the deadlines of `units` units again.
    pub fn reset(&mut self, units: usize) {
        self.heap.clear();
        self.at.clear();
        self.at.resize(units, None);
    }

    /// Unit `unit`'s deadline is now `at`.
    pub fn set(&mut self, unit: usize, at: Option<Instant>) {
        if unit >= self.at.len() {
            self.at.resize(unit + 1, None);
        }
        if self.at[unit] == at {
            return;
        }
        self.at[unit] = at;
        if let Some(t) = at {
            self.heap.push(Reverse((t, unit)));
            if self.heap.len() > 2 * self.at.len() + 64 {
                self.sweep();
            }
        }
    }

    /// The earliest deadline.
    pub fn next(&mut self) -> Option<Instant> {
        self.drop_stale();
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// A unit whose deadline is at or before `now` + [`SLACK`], taken off the schedule with
    /// the instant to run it at (`now`, or its deadline if later): the caller runs it and
    /// sets its next deadline.
    pub fn pop_due(&mut self, now: Instant) -> Option<(usize, Instant)> {
        self.drop_stale();
        let &Reverse((t, unit)) = self.heap.peek()?;
        if t > now + SLACK {
            return None;
        }
        self.heap.pop();
        self.at[unit] = None;
        Some((unit, t.max(now)))
    }

    fn live(&self, t: Instant, unit: usize) -> bool {
        self.at.get(unit) == Some(&Some(t))
    }

    fn drop_stale(&mut self) {
        while let Some(&Reverse((t, unit))) = self.heap.peek() {
            if self.live(t, unit) {
                return;
            }
            self.heap.pop();
        }
    }

    /// Rebuilds the heap from the live deadlines (a backup hearing a flood of adverts moves
    /// its deadline on each one).
    fn sweep(&mut self) {
        let at = &self.at;
        // In place: no allocation. A deadline moved away and back may leave two live
        // entries; the second turns stale when the first is popped.
        self.heap.retain(|&Reverse((t, u))| at[u] == Some(t));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_units_come_out_in_deadline_order() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut t = Timers::default();
        t.reset(3);
        t.set(0, Some(ms(30)));
        t.set(1, Some(ms(10)));
        t.set(2, None);
        assert_eq!(t.next(), Some(ms(10)));
        assert_eq!(t.pop_due(ms(5)), None);
        assert_eq!(t.pop_due(ms(30)), Some((1, ms(30))));
        assert_eq!(t.pop_due(ms(30)), Some((0, ms(30))));
        assert_eq!(t.pop_due(ms(30)), None);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn moved_deadlines_leave_no_trace() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut t = Timers::default();
        t.reset(2);
        t.set(0, Some(ms(10)));
        t.set(0, Some(ms(50)));
        t.set(1, Some(ms(20)));
        t.set(1, None);
        assert_eq!(t.next(), Some(ms(50)));
        assert_eq!(t.pop_due(ms(40)), None);
        // A deadline moved away and back still fires once.
        t.set(1, Some(ms(20)));
        t.set(1, Some(ms(60)));
        t.set(1, Some(ms(20)));
        assert_eq!(t.pop_due(ms(60)), Some((1, ms(60))));
        assert_eq!(t.pop_due(ms(60)), Some((0, ms(60))));
        assert_eq!(t.pop_due(ms(60)), None);
    }

    #[test]
    fn a_flood_of_moves_keeps_the_heap_small() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.reset(4);
        for i in 0..10_000u64 {
            t.set((i % 4) as usize, Some(t0 + Duration::from_micros(i)));
        }
        assert!(t.heap.len() <= 2 * 4 + 64 + 1, "{}", t.heap.len());
        let last = t0 + Duration::from_micros(10_000);
        let mut due: Vec<usize> = std::iter::from_fn(|| t.pop_due(last).map(|d| d.0)).collect();
        due.sort();
        assert_eq!(due, vec![0, 1, 2, 3]);
    }

    #[test]
    fn deadlines_within_the_slack_share_a_wake_up_at_their_own_instants() {
        let t0 = Instant::now();
        let us = |n| t0 + Duration::from_micros(n);
        let mut t = Timers::default();
        t.reset(4);
        for (u, at) in [(0, 10_000), (1, 10_300), (2, 11_200), (3, 11_201)] {
            t.set(u, Some(us(at)));
        }
        // Woken 200 us late for unit 0: 0 runs now, 1 and 2 at their deadlines, 3 waits.
        let woke = us(10_200);
        let due: Vec<_> = std::iter::from_fn(|| t.pop_due(woke)).collect();
        assert_eq!(due, [(0, woke), (1, us(10_300)), (2, us(11_200))]);
        assert_eq!(t.next(), Some(us(11_201)));
    }

    /// The loop in virtual time: 50 adverts a second apart, phases spread over 0.98 ms (as
    /// instances that became master at slightly different moments), each rescheduled an
    /// interval after the instant it ran at, woken as epoll does (whole ms, rounded up).
    /// Without the slack: two wake-ups a second (unit 0, then the rest 1 ms later).
    #[test]
    fn drifted_phases_cost_one_wake_up_per_interval() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut t = Timers::default();
        t.reset(50);
        for u in 0..50 {
            t.set(u, Some(t0 + second + Duration::from_micros(20 * u as u64)));
        }
        let (mut now, mut wake_ups, mut runs) = (t0, 0, 0);
        while now < t0 + 10 * second {
            let left = t.next().unwrap().saturating_duration_since(now);
            now += Duration::from_millis(left.as_nanos().div_ceil(1_000_000) as u64);
            wake_ups += 1;
            while let Some((u, at)) = t.pop_due(now) {
                t.set(u, Some(at + second));
                runs += 1;
            }
        }
        assert_eq!((wake_ups, runs), (10, 500));
    }
}
