//! Pacing of gratuitous ARPs and unsolicited NAs per interface: keepalived's
//! `vrrp_garp_interval` / `vrrp_gna_interval` (vrrp_arp.c / vrrp_ndisc.c) are the least time
//! between two such messages on one interface, for all instances together. Messages that
//! cannot go yet wait in order. Pure: the shell pushes what [`super::Action::SendGarp`]
//! asks for, sends what [`Pacer::poll_send`] returns, and wakes at [`Pacer::poll_timeout`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One interface's queue for one family.
#[derive(Debug)]
struct Lane<T> {
    link: u32,
    v6: bool,
    /// When the next message may go (`None`: at once).
    next: Option<Instant>,
    queue: VecDeque<T>,
}

#[derive(Debug)]
pub struct Pacer<T> {
    garp_interval: Duration,
    gna_interval: Duration,
    lanes: Vec<Lane<T>>,
}

impl<T: Clone> Pacer<T> {
    /// Zero intervals send everything at once (keepalived's default).
    pub fn new(garp_interval: Duration, gna_interval: Duration) -> Pacer<T> {
        Pacer {
            garp_interval,
            gna_interval,
            lanes: Vec::new(),
        }
    }

    /// New intervals (reload); queued messages keep their order.
    pub fn set_intervals(&mut self, garp_interval: Duration, gna_interval: Duration) {
        self.garp_interval = garp_interval;
        self.gna_interval = gna_interval;
    }

    /// Queues `count` copies of `item` for interface `link` (IPv6: an NA, else an ARP).
    pub fn push(&mut self, link: u32, v6: bool, item: T, count: u32) {
        let at = match self.lanes.iter().position(|l| l.link == link && l.v6 == v6) {
            Some(i) => i,
            None => {
                self.lanes.push(Lane {
                    link,
                    v6,
                    next: None,
                    queue: VecDeque::new(),
                });
                self.lanes.len() - 1
            }
        };
        let q = &mut self.lanes[at].queue;
        q.extend(std::iter::repeat_n(item, count as usize));
    }

    /// The next message that may be sent at `now`, if any.
    #[must_use]
    pub fn poll_send(&mut self, now: Instant) -> Option<T> {
        let (garp, gna) = (self.garp_interval, self.gna_interval);
        for lane in &mut self.lanes {
            if lane.next.is_some_and(|t| now < t) {
                continue;
            }
            if let Some(item) = lane.queue.pop_front() {
                let gap = if lane.v6 { gna } else { garp };
                lane.next = (!gap.is_zero()).then(|| now + gap);
                return Some(item);
            }
        }
        // Idle lanes are forgotten once their gap has passed.
        self.lanes
            .retain(|l| !l.queue.is_empty() || l.next.is_some_and(|t| now < t));
        None
    }

    /// When a queued message may go next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.lanes
            .iter()
            .filter(|l| !l.queue.is_empty())
            .filter_map(|l| l.next)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(p: &mut Pacer<&'static str>, now: Instant) -> Vec<&'static str> {
        std::iter::from_fn(|| p.poll_send(now)).collect()
    }

    #[test]
    fn zero_intervals_send_at_once() {
        let now = Instant::now();
        let mut p = Pacer::new(Duration::ZERO, Duration::ZERO);
        p.push(1, false, "a", 3);
        p.push(1, true, "b", 1);
        assert_eq!(drain(&mut p, now), vec!["a", "a", "a", "b"]);
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn one_message_per_interval_per_interface_and_family() {
        // keepalived vrrp_garp_interval 0.1, vrrp_gna_interval 0.5: a burst of 3 GARPs for
        // two VIPs on eth0 goes out 100 ms apart; eth1 and NAs have their own pace.
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut p = Pacer::new(Duration::from_millis(100), Duration::from_millis(500));
        p.push(1, false, "x", 3);
        p.push(1, false, "y", 3);
        p.push(2, false, "z", 1);
        p.push(1, true, "na", 2);
        assert_eq!(drain(&mut p, t0), vec!["x", "z", "na"]);
        let mut sent = vec![];
        while let Some(t) = p.poll_timeout() {
            for item in drain(&mut p, t) {
                sent.push((t - t0, item));
            }
        }
        let d = Duration::from_millis;
        assert_eq!(
            sent,
            vec![
                (d(100), "x"),
                (d(200), "x"),
                (d(300), "y"),
                (d(400), "y"),
                (d(500), "y"),
                (d(500), "na"),
            ]
        );
        // The gap also holds for a message queued after a quiet spell shorter than it.
        p.push(1, false, "w", 1);
        assert!(drain(&mut p, ms(550)).is_empty());
        assert_eq!(p.poll_timeout(), Some(ms(600)));
        assert_eq!(drain(&mut p, ms(600)), vec!["w"]);
    }
}
