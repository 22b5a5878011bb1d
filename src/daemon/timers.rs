//! The VRRP units' deadlines ordered by time, so a wake-up touches only the units that are
//! due instead of asking every unit for its deadline (1,000 instances at 0.1 s adverts wake
//! the loop up to a thousand times a second).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

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

    /// A unit whose deadline is at or before `now`, taken off the schedule: the caller runs
    /// it and sets its next deadline.
    pub fn pop_due(&mut self, now: Instant) -> Option<usize> {
        self.drop_stale();
        let &Reverse((t, unit)) = self.heap.peek()?;
        if t > now {
            return None;
        }
        self.heap.pop();
        self.at[unit] = None;
        Some(unit)
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
        assert_eq!(t.pop_due(ms(30)), Some(1));
        assert_eq!(t.pop_due(ms(30)), Some(0));
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
        assert_eq!(t.pop_due(ms(60)), Some(1));
        assert_eq!(t.pop_due(ms(60)), Some(0));
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
        let mut due: Vec<usize> = std::iter::from_fn(|| t.pop_due(last)).collect();
        due.sort();
        assert_eq!(due, vec![0, 1, 2, 3]);
    }
}
