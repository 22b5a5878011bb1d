//! All the checkers of the daemon, their timers and their outputs. Pure: the socket driver
//! (`sys::check_io`) performs the checkers' I/O actions on them, the daemon reads
//! [`Checkers::poll_output`]. Timers sit in a heap, so each step costs O(log n) with 10,000
//! checkers.

use std::collections::VecDeque;
use std::time::Instant;

use super::{Actions, At, Checker, CheckerMut, Event};

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

/// Out of the queue: lent by [`Checkers::get_mut`] or handed out by [`Checkers::next_due`]
/// (its deadline may change), until [`Checkers::rearm`].
const OUT: u32 = u32::MAX;
/// Removed: [`Checkers::rearm`] leaves it out.
const GONE: u32 = u32::MAX - 1;

pub struct Checkers {
    /// By [`CheckId`]; with `pos`, the same index: each checker's place in `queue`, or
    /// [`OUT`] / [`GONE`] (a table of its own, as a `u32` next to a `Checker` would pad it
    /// to 8 B).
    slots: Vec<Checker>,
    pos: Vec<u32>,
    /// The queued checkers, a binary min-heap on their own deadline: 4 B per checker, no
    /// stale entries (a checker whose deadline may change is out of it).
    queue: Vec<u32>,
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
            pos: Vec::new(),
            queue: Vec::new(),
            outputs: VecDeque::new(),
            actions: Actions::new(),
            free: Vec::new(),
        }
    }

    pub fn add(&mut self, checker: Checker) -> CheckId {
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id] = checker;
                id
            }
            None => {
                self.slots.push(checker);
                self.pos.push(OUT);
                self.slots.len() - 1
            }
        };
        self.enqueue(id);
        id
    }

    /// Room for `n` more checkers, exactly: a doubled `Vec` of 10,000 slots would leave up to
    /// half of its ~100 B per slot unused.
    pub fn reserve(&mut self, n: usize) {
        let more = n.saturating_sub(self.free.len());
        self.slots.reserve_exact(more);
        self.pos.reserve_exact(more);
        self.queue
            .reserve_exact((self.len() + n).saturating_sub(self.queue.len()));
    }

    /// Slots allocated, live or free: every [`CheckId`] handed out is below this.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Forgets checker `id`: its timer and undelivered outputs are dropped and its id may be
    /// handed out again by [`Checkers::add`]. Its socket is the driver's to close.
    pub fn remove(&mut self, id: CheckId) {
        self.dequeue(id);
        self.pos[id] = GONE;
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
        &self.slots[id]
    }

    /// Checker `id` with the set's action queue: drain it ([`CheckerMut::poll_action`])
    /// after each call, then [`Checkers::rearm`] it (it is out of the queue until then).
    pub fn get_mut(&mut self, id: CheckId) -> CheckerMut<'_> {
        self.dequeue(id);
        CheckerMut {
            checker: &mut self.slots[id],
            out: &mut self.actions,
        }
    }

    /// Earliest deadline of any queued checker.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let id = *self.queue.first()?;
        Some(self.slots[id as usize].poll_timeout())
    }

    /// The next checker whose deadline has come, out of the queue (call
    /// [`Checker::handle_timeout`] on it, then [`Checkers::rearm`]).
    pub fn next_due(&mut self, now: Instant) -> Option<CheckId> {
        let id = *self.queue.first()? as CheckId;
        if self.key(0) > At::of(now) {
            return None;
        }
        self.dequeue(id);
        Some(id)
    }

    /// Queues checker `id` again at its deadline after it acted.
    pub fn rearm(&mut self, id: CheckId) {
        if self.pos[id] == OUT {
            self.enqueue(id);
        }
    }

    pub fn push_output(&mut self, o: Output) {
        self.outputs.push_back(o);
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Deadline of the checker at `queue[i]`.
    fn key(&self, i: usize) -> At {
        self.slots[self.queue[i] as usize].deadline
    }

    fn place(&mut self, i: usize, id: u32) {
        self.queue[i] = id;
        self.pos[id as usize] = i as u32;
    }

    fn enqueue(&mut self, id: CheckId) {
        let i = self.queue.len();
        self.queue.push(id as u32);
        self.pos[id] = i as u32;
        self.sift_up(i);
    }

    fn dequeue(&mut self, id: CheckId) {
        let i = self.pos[id];
        if i == OUT || i == GONE {
            return;
        }
        self.pos[id] = OUT;
        let last = self.queue.pop().expect("a queued checker");
        let i = i as usize;
        if i < self.queue.len() {
            self.place(i, last);
            self.sift_down(i);
            self.sift_up(i);
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.key(i) >= self.key(parent) {
                break;
            }
            let (a, b) = (self.queue[i], self.queue[parent]);
            self.place(i, b);
            self.place(parent, a);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut min = i;
            if l < self.queue.len() && self.key(l) < self.key(min) {
                min = l;
            }
            if r < self.queue.len() && self.key(r) < self.key(min) {
                min = r;
            }
            if min == i {
                return;
            }
            let (a, b) = (self.queue[i], self.queue[min]);
            self.place(i, b);
            self.place(min, a);
            i = min;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::misc::MiscExit;
    use crate::check::{CheckKind, CheckParams, MiscParams};
    use std::time::Duration;

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
        let n = std::mem::size_of::<Checker>();
        assert!(n <= 96, "{n} B");
    }

    #[test]
    fn each_checker_is_queued_once_at_its_deadline() {
        let now = Instant::now();
        let mut cs = Checkers::new();
        let ids: Vec<_> = (0..10)
            .map(|i| cs.add(misc(Duration::from_secs(i + 1), now)))
            .collect();
        // Every attempt moves the deadline.
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
        assert_eq!(cs.queue.len(), ids.len());
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
    fn due_checkers_come_in_deadline_order_after_removals() {
        let now = Instant::now();
        let mut cs = Checkers::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % 1000
        };
        let ids: Vec<_> = (0..200)
            .map(|_| cs.add(misc(Duration::from_millis(next()), now)))
            .collect();
        // Removals and lent checkers from the middle of the heap.
        for &id in ids.iter().step_by(7) {
            cs.remove(id);
        }
        for &id in ids.iter().skip(3).step_by(5) {
            let _ = cs.get_mut(id);
            cs.rearm(id);
        }
        let mut due = Vec::new();
        while let Some(id) = cs.next_due(now + Duration::from_secs(1)) {
            due.push((cs.get(id).poll_timeout(), id));
        }
        assert!(due.windows(2).all(|w| w[0].0 <= w[1].0));
        let mut got: Vec<_> = due.iter().map(|d| d.1).collect();
        got.sort();
        let live: Vec<_> = ids.iter().copied().filter(|i| i % 7 != 0).collect();
        assert_eq!(got, live);
        assert_eq!(cs.poll_timeout(), None);
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
