//! All the checkers of the daemon, their timers and their outputs. Pure: the socket driver
//! (`sys::check_io`) performs the checkers' I/O actions on them, the daemon reads
//! [`Checkers::poll_output`]. Timers sit in a heap, so each step costs O(log n) with 10,000
//! checkers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use super::{Actions, Checker, CheckerMut, Event};

/// Index of a checker in its [`Checkers`].
pub type CheckId = usize;

/// What the daemon must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A health transition or weight change for the real server behind `id`.
    Event(CheckId, Event),
    /// Run this misc script (`sh -c` semantics, own process group); report its end with
    /// `CheckIo::misc_exited`.
    SpawnMisc { id: CheckId, path: String },
    /// Signal the process group of `id`'s running misc script.
    KillMisc { id: CheckId, signal: i32 },
}

struct Slot {
    checker: Checker,
    /// Deadline currently queued in the heap, as a [`Checkers::tick`] (older heap entries
    /// are stale).
    armed: u64,
}

pub struct Checkers {
    slots: Vec<Slot>,
    /// (deadline tick, checker): 16-byte entries that compare as plain integers.
    timers: BinaryHeap<Reverse<(u64, u32)>>,
    epoch: Instant,
    outputs: VecDeque<Output>,
    /// The checkers' action queue, one for all: each call's actions are drained before the
    /// next checker's.
    actions: Actions,
    /// Slots of removed checkers, reused by [`Checkers::add`].
    free: Vec<CheckId>,
}

impl Default for Checkers {
    fn default() -> Self {
        Self::new()
    }
}

impl Checkers {
    pub fn new() -> Self {
        Checkers {
            slots: Vec::new(),
            timers: BinaryHeap::new(),
            epoch: Instant::now(),
            outputs: VecDeque::new(),
            actions: Actions::new(),
            free: Vec::new(),
        }
    }

    pub fn add(&mut self, checker: Checker) -> CheckId {
        let armed = self.tick(checker.poll_timeout());
        let slot = Slot { checker, armed };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id] = slot;
                id
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.timers.push(Reverse((armed, id as u32)));
        id
    }

    /// Room for `n` more checkers, exactly: a doubled `Vec` of 10,000 slots would leave up to
    /// half of its ~190 B per slot unused.
    pub fn reserve(&mut self, n: usize) {
        self.slots.reserve_exact(n.saturating_sub(self.free.len()));
    }

    /// Slots allocated, live or free: every [`CheckId`] handed out is below this.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Forgets checker `id`: its timers and undelivered outputs are dropped and its id may be
    /// handed out again by [`Checkers::add`]. Its socket is the driver's to close.
    pub fn remove(&mut self, id: CheckId) {
        // No deadline is ever armed at this tick, so every heap entry of the slot is stale.
        self.slots[id].armed = u64::MAX;
        self.outputs.retain(|o| match o {
            Output::Event(i, _)
            | Output::SpawnMisc { id: i, .. }
            | Output::KillMisc { id: i, .. } => *i != id,
        });
        self.free.push(id);
    }

    /// Number of checkers.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, id: CheckId) -> &Checker {
        &self.slots[id].checker
    }

    /// Checker `id` with the set's action queue: drain it ([`CheckerMut::poll_action`])
    /// after each call.
    pub fn get_mut(&mut self, id: CheckId) -> CheckerMut<'_> {
        CheckerMut {
            checker: &mut self.slots[id].checker,
            out: &mut self.actions,
        }
    }

    /// Earliest deadline of any checker.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((t, id))) = self.timers.peek().copied() {
            if self.slots[id as usize].armed == t {
                return Some(self.epoch + Duration::from_nanos(t));
            }
            self.timers.pop();
        }
        None
    }

    /// The next checker whose deadline has come (call [`Checker::handle_timeout`] on it, then
    /// [`Checkers::rearm`]).
    pub fn next_due(&mut self, now: Instant) -> Option<CheckId> {
        let now_tick = self.tick(now);
        while let Some(Reverse((t, id))) = self.timers.peek().copied() {
            if t > now_tick {
                return None;
            }
            self.timers.pop();
            if self.slots[id as usize].armed == t {
                return Some(id as usize);
            }
        }
        None
    }

    /// Queues checker `id`'s deadline again after it acted.
    pub fn rearm(&mut self, id: CheckId) {
        let t = self.tick(self.slots[id].checker.poll_timeout());
        let slot = &mut self.slots[id];
        if t != slot.armed {
            slot.armed = t;
            self.timers.push(Reverse((t, id as u32)));
            self.compact_timers();
        }
    }

    /// Drops stale heap entries once they are a quarter of the checkers: each attempt leaves
    /// one behind (a connect timeout that never fired) until its time comes, and only the
    /// entries up to this bound are ever written (resident: 20 B per checker, not 32). The
    /// heap keeps twice that room, so the steady state reallocates nothing (a check
    /// allocates nothing); compacting costs ~5 entry visits per rearm.
    fn compact_timers(&mut self) {
        let live = self.slots.len();
        let bound = live + live / 4 + 16;
        if self.timers.len() > bound {
            let slots = &self.slots;
            self.timers
                .retain(|Reverse((t, id))| slots[*id as usize].armed == *t);
            self.timers.shrink_to(2 * bound);
        }
    }

    pub fn push_output(&mut self, o: Output) {
        self.outputs.push_back(o);
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Nanoseconds since this set was created (deadlines before that fire at once).
    fn tick(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::misc::MiscExit;
    use crate::check::{CheckKind, CheckParams, MiscParams};

    fn misc(delay: Duration, now: Instant) -> Checker {
        Checker::new(
            CheckParams {
                kind: CheckKind::Misc(MiscParams {
                    path: "true".into(),
                    timeout: None,
                    dynamic: false,
                }),
                delay_loop: Duration::from_secs(1),
                retry: 0,
                delay_before_retry: Duration::from_secs(1),
                alpha: false,
                initial_delay: delay,
            },
            now,
        )
    }

    /// Each byte of a slot is ~10 KB of RSS with 10,000 real servers.
    #[test]
    fn a_checker_slot_stays_small() {
        let n = std::mem::size_of::<Slot>();
        assert!(n <= 104, "{n} B");
    }

    #[test]
    fn stale_timers_are_dropped_and_live_ones_kept() {
        let now = Instant::now();
        let mut cs = Checkers::new();
        let ids: Vec<_> = (0..10)
            .map(|i| cs.add(misc(Duration::from_secs(i + 1), now)))
            .collect();
        // Every attempt moves the deadline: the old entry stays behind in the heap.
        let mut t = now;
        for _ in 0..50 {
            t += Duration::from_secs(1);
            for &id in &ids {
                cs.get_mut(id).handle_timeout(t);
                cs.get_mut(id).on_misc_exit(t, MiscExit::Exited(0));
                while cs.get_mut(id).poll_action().is_some() {}
                cs.rearm(id);
            }
        }
        let bound = ids.len() + ids.len() / 4 + 16;
        assert!(cs.timers.len() <= bound, "{}", cs.timers.len());
        assert!(cs.timers.capacity() <= 2 * bound);
        // Each checker is still due exactly once at its deadline.
        let deadline = cs.poll_timeout().expect("armed");
        let mut due = Vec::new();
        while let Some(id) = cs.next_due(deadline + Duration::from_secs(60)) {
            due.push(id);
        }
        due.sort();
        assert_eq!(due, ids);
    }

    #[test]
    fn removed_checkers_stop_and_their_slot_is_reused() {
        let now = Instant::now();
        let mut cs = Checkers::new();
        let a = cs.add(misc(Duration::ZERO, now));
        let b = cs.add(misc(Duration::from_secs(5), now));
        assert_eq!(cs.next_due(now), Some(a));
        assert_eq!(cs.next_due(now), None);
        cs.get_mut(a).handle_timeout(now);
        while let Some(act) = cs.get_mut(a).poll_action() {
            if let crate::check::Action::SpawnMisc { path } = act {
                cs.push_output(Output::SpawnMisc { id: a, path });
            }
        }
        cs.rearm(a);
        assert!(matches!(cs.outputs.front(), Some(Output::SpawnMisc { id, .. }) if *id == a));
        cs.remove(a);
        assert_eq!(
            cs.poll_output(),
            None,
            "pending outputs of a removed checker are dropped"
        );
        assert_eq!(cs.len(), 1);
        assert_eq!(cs.poll_timeout(), Some(now + Duration::from_secs(5)));
        cs.remove(b);
        assert_eq!(cs.poll_timeout(), None);
        assert!(cs.is_empty());
        let c = cs.add(misc(Duration::from_secs(2), now));
        assert!(c == a || c == b);
        assert_eq!(cs.poll_timeout(), Some(now + Duration::from_secs(2)));
    }
}
