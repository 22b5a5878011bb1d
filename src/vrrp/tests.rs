//! Virtual-time tests: instances on simulated routers exchange adverts through a tiny
//! in-memory wire (each advert goes through the real codec), with loss, kill and pause.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::*;
use crate::proto::vrrp::{Auth, Datagram, Packet, Repr, RxMeta, Version};
use crate::proto::{ipv4, vrrp::IP_PROTO};
use rx::Receiver;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn vip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, n))
}

/// Instance params on router `last` (address 10.0.0.last) for VRID `vrid`.
fn params(last: u8, vrid: u8, priority: u8) -> Params {
    Params::new(
        &format!("VI_{vrid}"),
        vrid,
        priority,
        ip(last),
        vec![vip(vrid)],
    )
}

fn v3(mut p: Params, advert: Duration) -> Params {
    p.version = Version::V3;
    p.advert_int = advert;
    p
}

struct Router {
    vrrp: Vrrp,
    rx: Receiver,
    addr: IpAddr,
    /// Receives packets and runs timers.
    running: bool,
    /// Its adverts reach nobody.
    muted: bool,
    log: Vec<(Duration, Event)>,
}

struct Wire {
    t0: Instant,
    now: Instant,
    routers: Vec<Router>,
}

impl Wire {
    fn new() -> Wire {
        let t0 = Instant::now();
        Wire {
            t0,
            now: t0,
            routers: Vec::new(),
        }
    }

    /// Adds and starts a router at the current time; returns its index.
    fn add(&mut self, instances: Vec<Params>, groups: Vec<GroupParams>) -> usize {
        let addr = instances[0].primary_addr;
        let insts = instances
            .into_iter()
            .map(|p| Instance::new(p).unwrap())
            .collect();
        let mut vrrp = Vrrp::new(insts, groups).unwrap();
        vrrp.start(self.now);
        self.routers.push(Router {
            vrrp,
            rx: Receiver::default(),
            addr,
            running: true,
            muted: false,
            log: Vec::new(),
        });
        let r = self.routers.len() - 1;
        self.pump(r);
        r
    }

    fn at(&self) -> Duration {
        self.now - self.t0
    }

    /// Runs every router's timers up to t0 + `until`.
    fn run_until(&mut self, until: Duration) {
        let end = self.t0 + until;
        loop {
            let next = self
                .routers
                .iter()
                .filter(|r| r.running)
                .filter_map(|r| r.vrrp.poll_timeout())
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for r in 0..self.routers.len() {
                        let due = self.routers[r]
                            .vrrp
                            .poll_timeout()
                            .is_some_and(|d| d <= self.now);
                        if self.routers[r].running && due {
                            self.routers[r].vrrp.handle_timeout(self.now);
                            self.pump(r);
                        }
                    }
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.at() + d;
        self.run_until(until);
    }

    /// Logs router `r`'s events and delivers its adverts to the others, as IP datagrams
    /// with TTL 255 through the receive path ([`Receiver::handle_datagram`]).
    fn pump(&mut self, r: usize) {
        let mut pending = vec![r];
        while let Some(r) = pending.pop() {
            let mut out = Vec::new();
            while let Some(e) = self.routers[r].vrrp.poll_event() {
                if let Event::Instance(_, Action::Transmit { src, dst, bytes }) = &e {
                    out.push((*src, *dst, bytes.clone()));
                }
                let at = self.at();
                self.routers[r].log.push((at, e));
            }
            if self.routers[r].muted {
                continue;
            }
            for (src, dst, bytes) in out {
                for o in 0..self.routers.len() {
                    let to_o = dst.is_multicast() || dst == self.routers[o].addr;
                    if o == r || !self.routers[o].running || !to_o {
                        continue;
                    }
                    let now = self.now;
                    let d = deliver(&mut self.routers[o], now, src, dst, 255, &bytes);
                    if d.to.is_some() {
                        pending.push(o);
                    }
                }
            }
        }
    }

    fn state(&self, r: usize, i: usize) -> State {
        self.routers[r].vrrp.instance(i).state()
    }

    /// States of instances 0 and 1 on router `r`.
    fn members(&self, r: usize) -> (State, State) {
        (self.state(r, 0), self.state(r, 1))
    }

    /// States of instance 0 on routers `a` and `b`.
    fn pair(&self, a: usize, b: usize) -> (State, State) {
        (self.state(a, 0), self.state(b, 0))
    }

    fn tracker(&mut self, r: usize, i: usize, t: usize, up: bool) {
        let now = self.now;
        self.routers[r].vrrp.set_tracker(now, i, t, up);
        self.pump(r);
    }

    fn shutdown(&mut self, r: usize) {
        let now = self.now;
        self.routers[r].vrrp.shutdown(now);
        self.pump(r);
        self.routers[r].running = false;
    }

    /// Time router `r` instance `i` last entered `state`.
    fn entered(&self, r: usize, i: usize, state: State) -> Option<Duration> {
        self.transitions(r, i)
            .into_iter()
            .rev()
            .find(|(_, t)| t.to == state)
            .map(|(at, _)| at)
    }

    fn transitions(&self, r: usize, i: usize) -> Vec<(Duration, Transition)> {
        self.actions(r, i)
            .into_iter()
            .filter_map(|(at, a)| match a {
                Action::Notify(t) => Some((at, t)),
                _ => None,
            })
            .collect()
    }

    fn actions(&self, r: usize, i: usize) -> Vec<(Duration, Action)> {
        self.routers[r]
            .log
            .iter()
            .filter_map(|(at, e)| match e {
                Event::Instance(x, a) if *x == i => Some((*at, a.clone())),
                _ => None,
            })
            .collect()
    }

    fn adverts(&self, r: usize, i: usize) -> Vec<(Duration, u8)> {
        self.actions(r, i)
            .into_iter()
            .filter_map(|(at, a)| match a {
                Action::Transmit { .. } => Some((at, advert(&a).unwrap().priority)),
                _ => None,
            })
            .collect()
    }

    /// Reconfigures router `r` in place now and delivers what it sends.
    fn reconfigure(
        &mut self,
        r: usize,
        params: Vec<Params>,
        groups: &[GroupParams],
    ) -> Result<(), Restart> {
        let now = self.now;
        let res = self.routers[r].vrrp.reconfigure(now, params, groups);
        self.pump(r);
        res
    }

    fn clear_logs(&mut self) {
        for r in &mut self.routers {
            r.log.clear();
        }
    }
}

/// The IP datagram the kernel would deliver for `msg` from `src` to `dst` with `ttl`: an
/// IPv4 packet with its header, or IPv6 payload with the header fields alongside.
fn datagram(src: IpAddr, dst: IpAddr, ttl: u8, msg: &[u8]) -> (Vec<u8>, Option<Datagram<'_>>) {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut p = ipv4::Packet::new_unchecked(vec![0; ipv4::HEADER_LEN + msg.len()]);
            let hdr = ipv4::Repr {
                src: s,
                dst: d,
                protocol: IP_PROTO,
                ttl,
                payload_len: msg.len(),
            };
            hdr.emit(&mut p).unwrap();
            let mut bytes = p.into_inner();
            bytes[ipv4::HEADER_LEN..].copy_from_slice(msg);
            (bytes, None)
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => (
            Vec::new(),
            Some(Datagram::V6 {
                src,
                dst,
                hop_limit: ttl,
                payload: msg,
            }),
        ),
        _ => unreachable!("mixed families"),
    }
}

/// Hands router `r` one datagram on link 0.
fn deliver(
    r: &mut Router,
    now: Instant,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    msg: &[u8],
) -> rx::Delivery {
    let (v4, v6) = datagram(src, dst, ttl, msg);
    let d = v6.unwrap_or(Datagram::V4(&v4));
    r.rx.handle_datagram(now, 0, &d, [&mut r.vrrp])
}

/// The advertisement a [`Action::Transmit`] carries, decoded.
fn advert(a: &Action) -> Option<Repr> {
    let Action::Transmit { src, dst, bytes } = a else {
        return None;
    };
    let meta = RxMeta {
        src: *src,
        dst: *dst,
        ttl: 255,
    };
    Some(Repr::parse(&Packet::new_checked(&bytes[..]).unwrap(), &meta).unwrap())
}

fn is_advert(a: &Action, priority: u8) -> bool {
    advert(a).is_some_and(|r| r.priority == priority)
}

fn is_garp(a: &Action, n: u32) -> bool {
    matches!(a, Action::SendGarp { count, .. } if *count == n)
}

fn is_removal(a: &Action) -> bool {
    matches!(a, Action::RemoveVips { .. })
}

/// Nanosecond-exact expected Master_Down_Interval.
fn down(adv: Duration, skew_base: Duration, prio: u32) -> Duration {
    adv * 3 + skew_base * (256 - prio) / 256
}

#[test]
fn lone_backup_takes_over_after_master_down_interval_v2() {
    let mut w = Wire::new();
    let a = w.add(vec![params(1, 1, 100)], vec![]);
    assert_eq!(w.state(a, 0), State::Backup);
    // RFC 3768 §6.1: 3 * 1 s + (256 - 100) / 256 s = 3.609375 s.
    let want = down(Duration::from_secs(1), Duration::from_secs(1), 100);
    assert_eq!(want, ms(3609) + Duration::from_micros(375));
    w.run_until(want - Duration::from_nanos(1));
    assert_eq!(w.state(a, 0), State::Backup);
    w.run_until(want);
    assert_eq!(w.state(a, 0), State::Master);
    let t = w.transitions(a, 0);
    assert_eq!(t[1].1.reason, Reason::MasterDown);
    // RFC 5798 §6.4.2 order: VIPs, advert, GARP burst, notify.
    let acts: Vec<Action> = w.actions(a, 0).into_iter().map(|(_, a)| a).collect();
    assert!(matches!(acts[1], Action::InstallVips { .. }));
    assert!(is_advert(&acts[2], 100));
    assert_eq!(
        acts[3],
        Action::SendGarp {
            addrs: vec![vip(1)].into(),
            count: 5
        }
    );
    assert!(matches!(acts[4], Action::Notify(_)));
}

#[test]
fn v3_skew_scales_with_interval_and_10ms_adverts_work() {
    let mut w = Wire::new();
    let p = v3(params(1, 1, 200), ms(500));
    let a = w.add(vec![p], vec![]);
    // RFC 5798 §6.1: 3 * 0.5 s + (56 * 0.5 s) / 256.
    let want = down(ms(500), ms(500), 200);
    w.run_until(want - Duration::from_nanos(1));
    assert_eq!(w.state(a, 0), State::Backup);
    w.run_until(want);
    assert_eq!(w.state(a, 0), State::Master);

    let mut w = Wire::new();
    let a = w.add(vec![v3(params(1, 1, 100), ms(10))], vec![]);
    w.run_until(Duration::from_secs(1));
    let sent = w.adverts(a, 0);
    // Master after ~36 ms, then one advert per 10 ms.
    let first = sent[0].0;
    assert_eq!(first, down(ms(10), ms(10), 100));
    assert_eq!(
        sent.len() as u128,
        (Duration::from_secs(1) - first).as_nanos() / ms(10).as_nanos() + 1
    );
    assert!(sent.windows(2).all(|p| p[1].0 - p[0].0 == ms(10)));
}

#[test]
fn higher_priority_wins_and_backup_takes_over_when_master_dies() {
    let mut w = Wire::new();
    let a = w.add(vec![params(1, 1, 150)], vec![]);
    let b = w.add(vec![params(2, 1, 100)], vec![]);
    w.run_until(Duration::from_secs(10));
    assert_eq!(w.pair(a, b), (State::Master, State::Backup));
    // Master adverts every second (RFC 5798 §6.4.3 Adver_Timer).
    let sent = w.adverts(a, 0);
    assert!(sent
        .windows(2)
        .all(|p| p[1].0 - p[0].0 == Duration::from_secs(1)));
    assert_eq!(
        w.routers[b].vrrp.instance(0).stats().master_seen,
        Some((ip(1), 150))
    );
    // Kill A without a goodbye: B waits its Master_Down_Interval after the last advert.
    let last = sent.last().unwrap().0;
    w.routers[a].running = false;
    w.run_until(Duration::from_secs(20));
    assert_eq!(w.state(b, 0), State::Master);
    assert_eq!(
        w.entered(b, 0, State::Master),
        Some(last + down(Duration::from_secs(1), Duration::from_secs(1), 100))
    );
}

/// Router 10.0.0.1 with `a` and router 10.0.0.2 at priority 100 on VRID 1, run for 10 s
/// (`a` is Master), logs cleared.
fn master_and_backup(a: Params) -> (Wire, usize, usize) {
    let mut w = Wire::new();
    let a = w.add(vec![a], vec![]);
    let b = w.add(vec![params(2, 1, 100)], vec![]);
    w.run_until(Duration::from_secs(10));
    assert_eq!(w.pair(a, b), (State::Master, State::Backup));
    w.clear_logs();
    (w, a, b)
}

/// A master leaving (shutdown or fault): priority-0 advert, VIPs removed, then notify.
fn assert_goodbye(w: &Wire, r: usize, to: State, reason: Reason) {
    let acts: Vec<Action> = w.actions(r, 0).into_iter().map(|(_, a)| a).collect();
    assert!(is_advert(&acts[0], 0));
    assert_eq!(
        acts[1],
        Action::RemoveVips {
            addrs: vec![vip(1)].into()
        }
    );
    assert!(matches!(acts[2], Action::Notify(t) if t.to == to && t.reason == reason));
    assert_eq!(w.state(r, 0), to);
}

/// RFC 5798 §6.4.2: after a priority-0 advert at 10 s, the priority-100 backup's
/// Master_Down_Timer is Skew_Time = 156/256 s.
fn assert_skew_takeover(w: &Wire, b: usize) {
    assert_eq!(
        w.entered(b, 0, State::Master),
        Some(Duration::from_secs(10) + Duration::from_secs(1) * 156 / 256)
    );
}

#[test]
fn priority_zero_shutdown_hands_over_after_skew_time() {
    let (mut w, a, b) = master_and_backup(params(1, 1, 150));
    w.shutdown(a);
    // RFC 5798 §6.4.3 shutdown: priority 0 advert, then VIPs removed, then STOP.
    assert_goodbye(&w, a, State::Initialize, Reason::Shutdown);
    assert_eq!(w.routers[a].vrrp.poll_timeout(), None);
    w.run_until(Duration::from_secs(20));
    assert_skew_takeover(&w, b);
    assert_eq!(
        w.transitions(b, 0).last().unwrap().1.reason,
        Reason::MasterStepDown
    );
    assert_eq!(
        w.routers[b].vrrp.instance(0).stats().priority_zero_received,
        1
    );
    assert_eq!(w.routers[a].vrrp.instance(0).stats().priority_zero_sent, 1);
}

#[test]
fn equal_priority_tie_breaks_on_higher_address() {
    let mut w = Wire::new();
    // Partitioned, both go Master; when they hear each other §6.4.3 sorts it out.
    let a = w.add(vec![params(1, 1, 100)], vec![]);
    let b = w.add(vec![params(2, 1, 100)], vec![]);
    w.routers[a].muted = true;
    w.routers[b].muted = true;
    w.run_until(Duration::from_secs(10));
    assert_eq!(w.pair(a, b), (State::Master, State::Master));
    w.routers[a].muted = false;
    w.routers[b].muted = false;
    w.run_until(Duration::from_secs(20));
    assert_eq!(w.pair(a, b), (State::Backup, State::Master));
    assert_eq!(
        w.transitions(a, 0).last().unwrap().1.reason,
        Reason::HigherPriority
    );
    assert_eq!(w.routers[a].vrrp.instance(0).stats().released_master, 1);
}

#[test]
fn preempt_takes_over_and_nopreempt_does_not() {
    for preempt in [true, false] {
        let mut w = Wire::new();
        let low = w.add(vec![params(1, 1, 100)], vec![]);
        w.run_until(Duration::from_secs(10));
        assert_eq!(w.state(low, 0), State::Master);
        let mut p = params(2, 1, 200);
        p.preempt = preempt;
        let high = w.add(vec![p], vec![]);
        w.run_until(Duration::from_secs(30));
        let want = if preempt {
            (State::Backup, State::Master)
        } else {
            (State::Master, State::Backup)
        };
        assert_eq!(w.pair(low, high), want, "preempt={preempt}");
        if preempt {
            // RFC 5798 §6.4.2: lower adverts are discarded, so the high router waits out
            // its Master_Down_Interval from start.
            assert_eq!(
                w.entered(high, 0, State::Master),
                Some(
                    Duration::from_secs(10)
                        + down(Duration::from_secs(1), Duration::from_secs(1), 200)
                )
            );
        }
    }
}

#[test]
fn preempt_delay_holds_off_takeover() {
    let mut w = Wire::new();
    let low = w.add(vec![params(1, 1, 100)], vec![]);
    w.run_until(Duration::from_secs(10));
    let mut p = params(2, 1, 200);
    p.preempt_delay = Duration::from_secs(15);
    let high = w.add(vec![p], vec![]);
    w.run_until(Duration::from_secs(24));
    assert_eq!(w.state(high, 0), State::Backup);
    w.run_until(Duration::from_secs(40));
    assert_eq!(w.pair(low, high), (State::Backup, State::Master));
    // The first lower advert heard starts the delay; adverts before its end are accepted,
    // then the down timer runs out from the last accepted one.
    let sent: Vec<Duration> = w.adverts(low, 0).into_iter().map(|(at, _)| at).collect();
    let first = *sent
        .iter()
        .find(|&&at| at >= Duration::from_secs(10))
        .unwrap();
    let last_ok = *sent
        .iter()
        .rev()
        .find(|&&at| at < first + Duration::from_secs(15))
        .unwrap();
    let one = Duration::from_secs(1);
    assert_eq!(
        w.entered(high, 0, State::Master),
        Some(last_ok + down(one, one, 200))
    );
}

#[test]
fn owner_goes_master_immediately() {
    let mut w = Wire::new();
    let low = w.add(vec![params(1, 1, 100)], vec![]);
    w.run_until(Duration::from_secs(10));
    let owner = w.add(vec![params(2, 1, 255)], vec![]);
    assert_eq!(w.state(owner, 0), State::Master);
    assert_eq!(w.transitions(owner, 0)[0].1.reason, Reason::AddressOwner);
    assert_eq!(w.state(low, 0), State::Backup);
    assert_eq!(
        w.entered(low, 0, State::Backup),
        Some(Duration::from_secs(10))
    );
}

#[test]
fn initial_state_master_shortens_first_timer_only() {
    let mut w = Wire::new();
    let mut p = params(1, 1, 100);
    p.initial_master = true;
    let a = w.add(vec![p], vec![]);
    assert_eq!(w.state(a, 0), State::Backup);
    w.run_until(Duration::from_secs(5));
    // keepalived: master_adver_int + VRRP_TIMER_SKEW_MIN (1/256 s for v2).
    assert_eq!(
        w.entered(a, 0, State::Master),
        Some(Duration::from_secs(1) + Duration::from_secs(1) / 256)
    );
    // With a live higher priority master it stays Backup.
    let mut w = Wire::new();
    let m = w.add(vec![params(2, 1, 200)], vec![]);
    w.run_until(Duration::from_secs(10));
    let mut p = params(1, 1, 100);
    p.initial_master = true;
    let a = w.add(vec![p], vec![]);
    w.run_until(Duration::from_secs(20));
    assert_eq!(w.pair(m, a), (State::Master, State::Backup));
    assert_eq!(w.transitions(a, 0).len(), 1);
}

#[test]
fn v3_backup_learns_master_interval() {
    let mut w = Wire::new();
    let m = w.add(vec![v3(params(1, 1, 200), ms(200))], vec![]);
    w.run_until(Duration::from_secs(5));
    // The backup is configured with 1 s but follows the master's 200 ms (RFC 5798 §6.4.2).
    let b = w.add(vec![v3(params(2, 1, 100), Duration::from_secs(1))], vec![]);
    w.run_until(Duration::from_secs(10));
    assert_eq!(w.routers[b].vrrp.instance(0).master_adver_int(), ms(200));
    let last = w.adverts(m, 0).last().unwrap().0;
    w.routers[m].running = false;
    w.run_until(Duration::from_secs(20));
    assert_eq!(
        w.entered(b, 0, State::Master),
        Some(last + down(ms(200), ms(200), 100))
    );
    // As master it sends at its own interval again.
    let sent = w.adverts(b, 0);
    assert_eq!(sent[1].0 - sent[0].0, Duration::from_secs(1));
}

#[test]
fn v2_interval_mismatch_is_dropped_and_counted() {
    let mut w = Wire::new();
    let mut p = params(1, 1, 200);
    p.advert_int = Duration::from_secs(2);
    let m = w.add(vec![p], vec![]);
    w.run_until(Duration::from_secs(10));
    let b = w.add(vec![params(2, 1, 100)], vec![]);
    w.run_until(Duration::from_secs(20));
    // RFC 3768 §7.1: mismatch -> discard; the backup never hears a master.
    assert_eq!(w.pair(m, b), (State::Master, State::Master));
    let st = w.routers[b].vrrp.instance(0).stats();
    assert!(st.rx_error(Error::AdvertInterval) >= 4);
    assert_eq!(st.adverts_received, 0);
}

#[test]
fn auth_and_address_list_mismatch_are_dropped() {
    let mut w = Wire::new();
    let mut p = params(1, 1, 200);
    p.auth = Auth::password(b"secret");
    let m = w.add(vec![p], vec![]);
    let mut p = params(2, 1, 100);
    p.auth = Auth::password(b"other");
    let b = w.add(vec![p], vec![]);
    let mut p = params(3, 1, 100);
    p.auth = Auth::password(b"secret");
    p.vips = vec![vip(1), vip(9)];
    let c = w.add(vec![p], vec![]);
    w.run_until(Duration::from_secs(5));
    assert_eq!(w.state(m, 0), State::Master);
    assert!(w.routers[b].vrrp.instance(0).stats().rx_error(Error::Auth) >= 1);
    assert!(
        w.routers[c]
            .vrrp
            .instance(0)
            .stats()
            .rx_error(Error::AddrList)
            >= 1
    );
}

#[test]
fn master_reasserts_against_lower_priority_master() {
    let mut w = Wire::new();
    let mut p = params(1, 1, 200);
    p.garp_master_delay = Duration::ZERO;
    p.garp_lower_prio_delay = Duration::ZERO;
    let a = w.add(vec![p], vec![]);
    let b = w.add(vec![params(2, 1, 100)], vec![]);
    // Partition: B does not hear A and becomes Master too (split brain).
    w.routers[a].muted = true;
    w.run_until(Duration::from_secs(10));
    assert_eq!(w.pair(a, b), (State::Master, State::Master));
    // Every lower advert from B made A answer at once: advert, then a GARP burst.
    let became = w.entered(a, 0, State::Master).unwrap();
    let acts = w.actions(a, 0);
    let heals: Vec<usize> = (0..acts.len())
        .filter(|&k| acts[k].0 > became && is_garp(&acts[k].1, 5))
        .collect();
    let b_adverts = w.adverts(b, 0);
    assert_eq!(heals.len(), b_adverts.len());
    for (k, (at, prio)) in heals.into_iter().zip(b_adverts) {
        assert_eq!((acts[k].0, prio), (at, 100));
        assert!(acts[k - 1].0 == at && is_advert(&acts[k - 1].1, 200));
    }
    // Partition heals: B hears A's next advert and yields.
    w.routers[a].muted = false;
    w.clear_logs();
    w.run_for(Duration::from_secs(1));
    assert_eq!(w.state(b, 0), State::Backup);
    assert!(w.actions(b, 0).iter().any(|(_, a)| is_removal(a)));
}

#[test]
fn paused_master_resumes_into_split_brain_and_resolves() {
    let mut w = Wire::new();
    let a = w.add(vec![params(1, 1, 200)], vec![]);
    let b = w.add(vec![params(2, 1, 100)], vec![]);
    w.run_until(Duration::from_secs(5));
    w.routers[a].running = false; // SIGSTOP
    w.run_until(Duration::from_secs(15));
    assert_eq!(w.state(b, 0), State::Master);
    w.routers[a].running = true; // SIGCONT: overdue timers fire now
    w.run_until(Duration::from_secs(20));
    assert_eq!(w.pair(a, b), (State::Master, State::Backup));
}

#[test]
fn lossy_link_keeps_master_while_some_adverts_arrive() {
    let mut w = Wire::new();
    let a = w.add(vec![params(1, 1, 200)], vec![]);
    let b = w.add(vec![params(2, 1, 100)], vec![]);
    w.run_until(Duration::from_secs(5));
    // Drop two adverts out of three: 3 s of silence is still under 3.6 s.
    for s in 5..20u64 {
        w.routers[a].muted = s % 3 != 0;
        w.run_until(Duration::from_secs(s + 1) - ms(1));
    }
    assert_eq!(w.transitions(b, 0).len(), 1);
    // Three in a row lost: B takes over.
    w.routers[a].muted = true;
    w.run_for(Duration::from_secs(4));
    assert_eq!(w.state(b, 0), State::Master);
}

#[test]
fn fault_tracker_as_master_sends_priority_zero_and_recovers_to_backup() {
    let mut p = params(1, 1, 200);
    p.trackers = vec![Tracker::new(0, true)];
    let (mut w, a, b) = master_and_backup(p);
    w.tracker(a, 0, 0, false);
    assert_goodbye(&w, a, State::Fault, Reason::Fault);
    w.run_for(Duration::from_secs(1));
    // B took over after Skew_Time thanks to the priority-0 advert.
    assert_skew_takeover(&w, b);
    // In Fault: no adverts, and no timers.
    assert!(w.adverts(a, 0).len() == 1);
    w.tracker(a, 0, 0, true);
    assert_eq!(w.state(a, 0), State::Backup);
    assert_eq!(
        w.transitions(a, 0).last().unwrap().1.reason,
        Reason::FaultCleared
    );
    // Preempts back (higher priority) after a Master_Down_Interval.
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.pair(a, b), (State::Master, State::Backup));
}

#[test]
fn tracker_weights_move_priority_and_trigger_preemption() {
    let mut w = Wire::new();
    let mut p = params(1, 1, 150);
    p.trackers = vec![Tracker::new(20, true), Tracker::new(-100, true)];
    let a = w.add(vec![p], vec![]);
    let b = w.add(vec![params(2, 1, 160)], vec![]);
    // 150 + 20 = 170 > 160.
    assert_eq!(w.routers[a].vrrp.instance(0).priority(), 170);
    w.run_until(Duration::from_secs(10));
    assert_eq!(w.state(a, 0), State::Master);
    w.clear_logs();
    w.tracker(a, 0, 1, false);
    // 170 - 100 = 70: advertised at once, B preempts after its down interval.
    assert_eq!(w.routers[a].vrrp.instance(0).priority(), 70);
    assert_eq!(w.adverts(a, 0)[0], (Duration::from_secs(10), 70));
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.pair(a, b), (State::Backup, State::Master));
    // Clamped to 1..=254.
    w.tracker(a, 0, 0, false);
    assert_eq!(w.routers[a].vrrp.instance(0).priority(), 50);
    let mut p = params(3, 2, 250);
    p.trackers = vec![Tracker::new(100, true)];
    assert_eq!(Instance::new(p).unwrap().priority(), 254);
    let mut p = params(3, 2, 10);
    p.trackers = vec![Tracker::new(-100, false)];
    assert_eq!(Instance::new(p).unwrap().priority(), 1);
    // An owner's priority never moves.
    let mut p = params(3, 2, 255);
    p.trackers = vec![Tracker::new(-100, false)];
    assert_eq!(Instance::new(p).unwrap().priority(), 255);
}

#[test]
fn vip_lease_refresh_cadence_without_garp_or_notify() {
    let mut w = Wire::new();
    let p = params(1, 1, 100);
    // Default: max(2 s, 3.609375 s) rounded up = 4 s.
    assert_eq!(p.vip_lease, Some(Duration::from_secs(4)));
    let mut p = p;
    p.garp_master_delay = Duration::ZERO;
    let a = w.add(vec![p], vec![]);
    w.run_until(Duration::from_secs(60));
    let became = w.entered(a, 0, State::Master).unwrap();
    let acts = w.actions(a, 0);
    assert!(acts.contains(&(
        became,
        Action::InstallVips {
            addrs: vec![vip(1)].into(),
            lease: Some(Duration::from_secs(4))
        }
    )));
    let refreshes: Vec<Duration> = acts
        .iter()
        .filter(|&&(at, ref a)| at > became && matches!(a, Action::InstallVips { lease, .. } if *lease == Some(Duration::from_secs(4))))
        .map(|(at, _)| *at)
        .collect();
    // Put off while the next advert (1 s later) would still leave 2/3 of the 4 s less an
    // interval: every second advert, 2 s before the lease runs out.
    let period = Duration::from_secs(2);
    assert_eq!(refreshes[0], became + period);
    assert!(refreshes.windows(2).all(|p| p[1] - p[0] == period));
    assert_eq!(
        refreshes.len() as u128,
        (Duration::from_secs(60) - became).as_nanos() / period.as_nanos()
    );
    let sent = |at| {
        acts.iter()
            .any(|(t, a)| *t == at && matches!(a, Action::Transmit { .. }))
    };
    assert!(
        refreshes.iter().all(|&at| sent(at)),
        "a refresh rides an advert"
    );
    // After becoming master: only adverts and refreshes; no GARP, no notify.
    for (at, act) in acts.iter().filter(|(at, _)| *at > became) {
        assert!(
            matches!(act, Action::Transmit { .. } | Action::InstallVips { .. }),
            "unexpected {act:?} at {at:?}"
        );
    }
}

/// However lease and interval compare, a refresh comes while at least the margin (2/3 of
/// the lease less an interval, at least 3/4 of an interval and 750 ms) would be left after
/// one more interval, and no sooner than needed: the advert before it could not have put it
/// off.
#[test]
fn lease_refresh_keeps_its_margin_for_any_interval() {
    for (advert, lease) in [
        (100, 2),
        (250, 2),
        (1000, 4),
        (1000, 3),
        (3000, 12),
        (300, 1),
    ] {
        let (advert, lease) = (ms(advert), secs(lease));
        let mut p = v3(params(1, 1, 255), advert);
        p.vip_lease = Some(lease);
        let margin = (lease * 2 / 3)
            .saturating_sub(advert)
            .max(advert.max(secs(1)) * 3 / 4);
        let mut w = Wire::new();
        let a = w.add(vec![p], vec![]);
        w.run_until(secs(40));
        let acts = w.actions(a, 0);
        let at = |f: fn(&Action) -> bool| -> Vec<Duration> {
            acts.iter().filter(|(_, a)| f(a)).map(|(t, _)| *t).collect()
        };
        let installs = at(|a| matches!(a, Action::InstallVips { .. }));
        let adverts = at(|a| matches!(a, Action::Transmit { .. }));
        assert!(installs.len() > 2, "{advert:?} {lease:?}: {installs:?}");
        for w in installs.windows(2) {
            let left = w[0] + lease - w[1];
            // With an advert, once the next would leave less than the margin ...
            assert!(adverts.contains(&w[1]) && left < advert + margin, "{w:?}");
            // ... and not before: the advert before it was the install, or would leave it.
            assert!(
                left >= margin || w[1] - w[0] == advert,
                "{advert:?} {lease:?} {w:?}"
            );
        }
    }
}

#[test]
fn lease_defaults_and_off() {
    // Never below 2 s, rounded up to whole seconds.
    assert_eq!(
        default_vip_lease(Version::V3, ms(10), 100),
        Duration::from_secs(2)
    );
    assert_eq!(
        default_vip_lease(Version::V3, Duration::from_secs(3), 1),
        Duration::from_secs(12)
    );
    assert_eq!(
        default_vip_lease(Version::V2, Duration::from_secs(1), 255),
        Duration::from_secs(4)
    );
    let mut w = Wire::new();
    let mut p = params(1, 1, 255);
    p.vip_lease = None;
    let a = w.add(vec![p], vec![]);
    w.run_until(Duration::from_secs(20));
    let acts = w.actions(a, 0);
    assert!(acts
        .iter()
        .any(|(_, a)| matches!(a, Action::InstallVips { lease: None, .. })));
    let installs = acts
        .iter()
        .filter(|(_, a)| matches!(a, Action::InstallVips { .. }));
    assert_eq!(installs.count(), 1, "a permanent VIP is never refreshed");
}

#[test]
fn garp_delay_and_refresh_bursts() {
    let mut w = Wire::new();
    let mut p = params(1, 1, 255);
    p.vip_lease = None;
    p.garp_master_delay = Duration::from_secs(5);
    p.garp_master_repeat = 3;
    p.garp_master_refresh = Duration::from_secs(60);
    p.garp_master_refresh_repeat = 2;
    let a = w.add(vec![p], vec![]);
    w.run_until(Duration::from_secs(200));
    let garps: Vec<(Duration, u32)> = w
        .actions(a, 0)
        .into_iter()
        .filter_map(|(at, a)| match a {
            Action::SendGarp { count, .. } => Some((at, count)),
            _ => None,
        })
        .collect();
    let s = Duration::from_secs;
    assert_eq!(
        garps,
        vec![(s(0), 3), (s(5), 3), (s(60), 2), (s(120), 2), (s(180), 2)]
    );
}

fn group(name: &str, members: Vec<usize>) -> GroupParams {
    GroupParams {
        name: name.into(),
        members,
    }
}

fn group_events(w: &Wire, r: usize) -> Vec<Transition> {
    w.routers[r]
        .log
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Group(0, t) => Some(*t),
            _ => None,
        })
        .collect()
}

/// Router A with sync group G = {VRID 1, VRID 2} at priority 150, Master since ~3.6 s.
fn group_master_a() -> (Wire, usize) {
    let mut w = Wire::new();
    let a = w.add(
        vec![params(1, 1, 150), params(1, 2, 150)],
        vec![group("G", vec![0, 1])],
    );
    w.run_until(Duration::from_secs(10));
    assert_eq!(w.members(a), (State::Master, State::Master));
    (w, a)
}

#[test]
fn sync_group_members_move_together() {
    let (mut w, a) = group_master_a();
    let g = || vec![group("G", vec![0, 1])];
    assert_eq!(w.members(a), (State::Master, State::Master));
    assert_eq!(w.routers[a].vrrp.group_state(0), State::Master);
    // B outranks A on both VRIDs: both of its timers fire, the group goes Master; A's
    // first member to hear B drags the other to Backup.
    let b = w.add(vec![params(2, 1, 200), params(2, 2, 200)], g());
    w.run_until(Duration::from_secs(20));
    assert_eq!(w.members(b), (State::Master, State::Master));
    assert_eq!(w.members(a), (State::Backup, State::Backup));
    let a_ev: Vec<State> = group_events(&w, a).iter().map(|t| t.to).collect();
    assert_eq!(a_ev, vec![State::Backup, State::Master, State::Backup]);
    assert_eq!(group_events(&w, a)[2].reason, Reason::HigherPriority);
    let dragged = w.transitions(a, 0).last().unwrap().1.reason;
    let own = w.transitions(a, 1).last().unwrap().1.reason;
    let mut reasons = [dragged, own];
    reasons.sort_by_key(|r| *r == Reason::SyncGroup);
    assert_eq!(reasons, [Reason::HigherPriority, Reason::SyncGroup]);
}

#[test]
fn sync_group_prefers_backup_over_thrashing() {
    let (mut w, a) = group_master_a();
    let g = || vec![group("G", vec![0, 1])];
    // B outranks A on VRID 2 only: its VRID 1 keeps accepting A, so B never takes over
    // and nobody flaps.
    let b = w.add(vec![params(2, 1, 100), params(2, 2, 200)], g());
    w.run_until(Duration::from_secs(60));
    assert_eq!(w.members(a), (State::Master, State::Master));
    assert_eq!(w.members(b), (State::Backup, State::Backup));
    assert!(w.routers[b].vrrp.instance(1).wants_master());
    assert_eq!(group_events(&w, a).len(), 2);
    assert_eq!(group_events(&w, b).len(), 1);
    // A's master dies: B's VRID 1 times out too, and the group goes Master together.
    w.routers[a].running = false;
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.members(b), (State::Master, State::Master));
    assert_eq!(
        w.entered(b, 0, State::Master),
        w.entered(b, 1, State::Master)
    );
}

#[test]
fn sync_group_fault_spreads_and_clears() {
    let mut w = Wire::new();
    let mut p = params(1, 1, 200);
    p.trackers = vec![Tracker::new(0, true)];
    let a = w.add(vec![p, params(1, 2, 200)], vec![group("G", vec![0, 1])]);
    let b = w.add(
        vec![params(2, 1, 100), params(2, 2, 100)],
        vec![group("G", vec![0, 1])],
    );
    w.run_until(Duration::from_secs(10));
    w.tracker(a, 0, 0, false);
    assert_eq!(w.members(a), (State::Fault, State::Fault));
    assert_eq!(w.routers[a].vrrp.group_state(0), State::Fault);
    // Both members said goodbye with priority 0.
    assert_eq!(w.adverts(a, 1).last().unwrap().1, 0);
    w.run_for(Duration::from_secs(2));
    assert_eq!(w.members(b), (State::Master, State::Master));
    w.tracker(a, 0, 0, true);
    assert_eq!(w.members(a), (State::Backup, State::Backup));
    w.run_for(Duration::from_secs(10));
    assert_eq!(w.members(a), (State::Master, State::Master));
    assert_eq!(w.members(b), (State::Backup, State::Backup));
}

#[test]
fn sync_group_faulted_at_start() {
    let mut w = Wire::new();
    let mut p = params(1, 1, 200);
    p.trackers = vec![Tracker::new(0, false)];
    let a = w.add(vec![p, params(1, 2, 200)], vec![group("G", vec![0, 1])]);
    assert_eq!(w.members(a), (State::Fault, State::Fault));
    w.run_until(Duration::from_secs(10));
    assert!(w.adverts(a, 0).is_empty() && w.adverts(a, 1).is_empty());
}

#[test]
fn ipv6_v3_pair() {
    let mut w = Wire::new();
    let p = |last: u16, prio| {
        let addr: IpAddr = format!("fe80::{last}").parse().unwrap();
        Params::new("V6", 7, prio, addr, vec!["fd00::7".parse().unwrap()])
    };
    let a = w.add(vec![p(1, 100)], vec![]);
    let b = w.add(vec![p(2, 100)], vec![]);
    w.routers[a].muted = true;
    w.run_until(Duration::from_secs(10));
    w.routers[a].muted = false;
    w.run_until(Duration::from_secs(20));
    // Same priority: the higher link-local address wins.
    assert_eq!(w.pair(a, b), (State::Backup, State::Master));
}

#[test]
fn invalid_params_are_refused() {
    let mut p = params(1, 0, 100);
    assert_eq!(Instance::new(p.clone()).unwrap_err(), ParamError::Vrid);
    p.vrid = 1;
    p.priority = 0;
    assert_eq!(Instance::new(p.clone()).unwrap_err(), ParamError::Priority);
    p.priority = 100;
    p.advert_int = ms(1500);
    assert_eq!(Instance::new(p.clone()).unwrap_err(), ParamError::AdvertInt);
    p.version = Version::V3;
    assert!(Instance::new(p.clone()).is_ok());
    p.advert_int = ms(5);
    assert_eq!(Instance::new(p.clone()).unwrap_err(), ParamError::AdvertInt);
    p.advert_int = ms(41_000);
    assert_eq!(Instance::new(p.clone()).unwrap_err(), ParamError::AdvertInt);
    p.advert_int = ms(1000);
    p.vips = vec![];
    assert_eq!(Instance::new(p.clone()).unwrap_err(), ParamError::NoVips);
    p.vips = vec!["fd00::1".parse().unwrap()];
    assert_eq!(Instance::new(p.clone()).unwrap_err(), ParamError::Family);
    let i = || Instance::new(params(1, 1, 100)).unwrap();
    let e = Vrrp::new(
        vec![i(), i()],
        vec![group("A", vec![0]), group("B", vec![0, 1])],
    )
    .unwrap_err();
    assert_eq!(
        e,
        ParamError::SyncGroupMember {
            group: "B".into(),
            member: 0
        }
    );
    assert!(e.to_string().contains("sync group B"));
    assert!(Vrrp::new(vec![i()], vec![group("A", vec![3])]).is_err());
}

#[test]
fn own_looped_back_advert_is_ignored() {
    let now = Instant::now();
    let mut i = started_owner(params(1, 1, 255), now);
    let adv = i.advert(255).to_bytes(&ip(1), &MCAST).unwrap();
    assert_eq!(i.handle_datagram(now, &meta(ip(1)), &adv), Ok(()));
    assert_eq!(i.poll_action(), None);
    assert_eq!(i.stats().adverts_received, 0);
    // The same advert from a peer address is a tie the higher address wins.
    let adv = i.advert(255).to_bytes(&ip(2), &MCAST).unwrap();
    assert_eq!(i.handle_datagram(now, &meta(ip(2)), &adv), Ok(()));
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn stats_follow_the_wire() {
    let (mut w, a, b) = master_and_backup(params(1, 1, 150));
    w.run_for(Duration::from_secs(5));
    let sa = w.routers[a].vrrp.instance(0).stats().clone();
    let sb = w.routers[b].vrrp.instance(0).stats().clone();
    // Every advert A sent reached B and was accepted.
    assert_eq!(sa.adverts_sent, sb.adverts_received);
    // Master at 3.414 s, one advert a second until 15 s.
    assert_eq!(sa.adverts_sent, 12);
    assert_eq!((sa.became_master, sa.released_master), (1, 0));
    assert_eq!(sa.transitions, 2);
    let (at, t) = sa.last_transition.unwrap();
    assert_eq!(
        at - w.t0,
        Duration::from_secs(1) * 3 + Duration::from_secs(1) * 106 / 256
    );
    assert_eq!(
        (t.from, t.to, t.reason),
        (State::Backup, State::Master, Reason::MasterDown)
    );
    assert_eq!(sb.master_seen, Some((ip(1), 150)));
    assert_eq!(sb.rx_errors().iter().sum::<u64>(), 0);
    assert_eq!(sb.last_transition.unwrap().1.to, State::Backup);
}

/// A lone owner instance, started and drained at `now`.
fn started_owner(p: Params, now: Instant) -> Instance {
    let mut i = Instance::new(p).unwrap();
    i.start(now);
    while i.poll_action().is_some() {}
    i
}

fn drain(i: &mut Instance) -> Vec<Action> {
    std::iter::from_fn(|| i.poll_action()).collect()
}

const MCAST: IpAddr = IpAddr::V4(crate::proto::vrrp::MCAST_V4);

/// An IPv4 multicast advert from `src` with TTL 255.
fn meta(src: IpAddr) -> RxMeta {
    RxMeta {
        src,
        dst: MCAST,
        ttl: 255,
    }
}

/// The advert the instance `p` sends at `priority`, encoded for multicast.
fn encoded(p: &Params, priority: u8) -> Vec<u8> {
    let adv = Instance::new(p.clone()).unwrap().advert(priority);
    adv.to_bytes(&p.primary_addr, &MCAST).unwrap()
}

#[test]
fn lower_and_higher_priority_options() {
    let now = Instant::now();
    let peer = ip(2);
    let mut p = params(1, 1, 255);
    p.garp_master_delay = Duration::ZERO;
    p.garp_lower_prio_repeat = 2;
    p.garp_lower_prio_delay = Duration::from_secs(3);
    let mut i = started_owner(p.clone(), now);
    let low = encoded(&params(2, 1, 100), 100);
    i.handle_datagram(now, &meta(peer), &low).unwrap();
    let acts = drain(&mut i);
    assert!(is_advert(&acts[0], 255));
    assert!(is_garp(&acts[1], 2));
    // keepalived garp_lower_prio_delay: a second burst later.
    let later = now + Duration::from_secs(3);
    assert!(i.poll_timeout().unwrap() <= later);
    i.handle_timeout(later);
    assert!(drain(&mut i).iter().any(|a| is_garp(a, 2)));

    // lower_prio_no_advert and no GARPs: nothing goes out; the shell still hears of it
    // (keepalived's notify_master_rx_lower_pri).
    p.lower_prio_no_advert = true;
    p.garp_lower_prio_repeat = 0;
    let mut i = started_owner(p, now);
    i.handle_datagram(now, &meta(peer), &low).unwrap();
    let event = Action::LowerPriorityAdvert {
        src: peer,
        priority: 100,
    };
    assert_eq!(drain(&mut i), vec![event]);
    assert_eq!(i.current_master(), Some((ip(1), 255)));

    // higher_prio_send_advert: one last advert before yielding.
    let mut p = params(1, 1, 100);
    p.higher_prio_send_advert = true;
    p.initial_master = true;
    let mut i = Instance::new(p).unwrap();
    i.start(now);
    i.handle_timeout(i.poll_timeout().unwrap());
    assert_eq!(i.state(), State::Master);
    drain(&mut i);
    let high = encoded(&params(2, 1, 200), 200);
    i.handle_datagram(now, &meta(peer), &high).unwrap();
    let acts = drain(&mut i);
    assert!(is_advert(&acts[0], 100));
    assert!(is_removal(&acts[1]));
    assert_eq!(i.current_master(), Some((peer, 200)));
}

/// Deterministic xorshift64 for the randomized scenario below.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn random_loss_pauses_and_priority_changes_converge_to_one_master() {
    for seed in 1..=30u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut w = Wire::new();
        let routers: Vec<usize> = [(1, 100), (2, 150), (3, 200)]
            .into_iter()
            .map(|(last, prio)| {
                let mut p = v3(params(last, 1, prio), ms(100 * (1 + rng.below(10))));
                p.trackers = vec![Tracker::new(-120, true)];
                w.add(vec![p], vec![])
            })
            .collect();
        for _ in 0..80 {
            let r = routers[rng.below(3) as usize];
            match rng.below(4) {
                0 => w.routers[r].muted = !w.routers[r].muted,
                1 => w.routers[r].running = !w.routers[r].running,
                2 => {
                    let up = rng.below(2) == 0;
                    if w.routers[r].running {
                        w.tracker(r, 0, 0, up);
                    }
                }
                _ => {}
            }
            w.run_for(ms(100 * (1 + rng.below(30))));
        }
        // Heal everything; after a few down intervals the network must agree.
        for &r in &routers {
            w.routers[r].muted = false;
            w.routers[r].running = true;
            w.tracker(r, 0, 0, true);
        }
        w.run_for(Duration::from_secs(10));
        let masters: Vec<usize> = routers
            .iter()
            .copied()
            .filter(|&r| w.state(r, 0) == State::Master)
            .collect();
        assert_eq!(masters, vec![routers[2]], "seed {seed}");
        for &r in &routers[..2] {
            let seen = w.routers[r].vrrp.instance(0).current_master();
            assert_eq!(seen, Some((ip(3), 200)), "seed {seed}");
        }
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn with_vips(mut p: Params, vips: &[u8]) -> Params {
    p.vips = vips.iter().map(|&n| vip(n)).collect();
    p
}

#[test]
fn reconfigured_master_keeps_state_and_adverts_new_priority_at_once() {
    let (mut w, a, b) = master_and_backup(params(1, 1, 150));
    w.run_until(ms(10_300));
    w.clear_logs();
    w.reconfigure(a, vec![params(1, 1, 120)], &[]).unwrap();
    // The default lease is 4 s for both priorities: the advert is the only action.
    let acts: Vec<Action> = w.actions(a, 0).into_iter().map(|(_, a)| a).collect();
    assert_eq!(acts.len(), 1, "{acts:?}");
    assert!(is_advert(&acts[0], 120));
    assert_eq!(
        w.routers[b].vrrp.instance(0).stats().master_seen,
        Some((ip(1), 120))
    );
    w.run_for(secs(10));
    assert!(w.transitions(a, 0).is_empty() && w.transitions(b, 0).is_empty());
    // The Adver_Timer restarted at the reconfiguration.
    let sent = w.adverts(a, 0);
    assert_eq!(sent[1], (ms(11_300), 120));
    assert!(sent.iter().all(|&(_, p)| p == 120));
}

#[test]
fn reconfigured_master_below_backup_yields_through_the_protocol() {
    let (mut w, a, b) = master_and_backup(params(1, 1, 150));
    w.run_until(secs(11));
    let last = w.adverts(a, 0).last().unwrap().0;
    w.reconfigure(a, vec![params(1, 1, 90)], &[]).unwrap();
    assert_eq!(w.state(a, 0), State::Master);
    w.run_for(secs(10));
    // B (preempt, 100 > 90) discards the advert at once and its down timer, running
    // since the last priority-150 advert, runs out.
    assert_eq!(w.pair(a, b), (State::Backup, State::Master));
    assert_eq!(
        w.entered(b, 0, State::Master),
        Some(last + down(secs(1), secs(1), 100))
    );
    assert_eq!(
        w.transitions(a, 0).last().unwrap().1.reason,
        Reason::HigherPriority
    );
}

#[test]
fn reconfigured_vip_list_touches_only_added_and_removed_addresses() {
    let mut w = Wire::new();
    let a = w.add(vec![with_vips(params(1, 1, 150), &[1, 2])], vec![]);
    let b = w.add(vec![with_vips(params(2, 1, 100), &[1, 2])], vec![]);
    w.run_until(secs(10));
    assert_eq!(w.pair(a, b), (State::Master, State::Backup));
    w.clear_logs();
    // The backup first: nothing to do but remember the new list.
    w.reconfigure(b, vec![with_vips(params(2, 1, 100), &[1, 3])], &[])
        .unwrap();
    assert!(w.actions(b, 0).is_empty());
    let mut new = with_vips(params(1, 1, 150), &[1, 3]);
    new.excluded_vips = vec![vip(9)];
    w.reconfigure(a, vec![new], &[]).unwrap();
    let acts: Vec<Action> = w.actions(a, 0).into_iter().map(|(_, a)| a).collect();
    assert_eq!(acts.len(), 4, "{acts:?}");
    assert_eq!(
        acts[0],
        Action::RemoveVips {
            addrs: vec![vip(2)].into()
        }
    );
    assert_eq!(
        acts[1],
        Action::InstallVips {
            addrs: vec![vip(3), vip(9)].into(),
            lease: Some(secs(4)),
        }
    );
    assert_eq!(advert(&acts[2]).unwrap().addresses, vec![vip(1), vip(3)]);
    assert_eq!(
        acts[3],
        Action::SendGarp {
            addrs: vec![vip(3), vip(9)].into(),
            count: 5,
        }
    );
    // The backup accepts the new list (address list checked): no takeover, no error.
    w.run_for(secs(10));
    assert!(w.transitions(a, 0).is_empty() && w.transitions(b, 0).is_empty());
    let errors = w.routers[b].vrrp.instance(0).stats().rx_errors();
    assert!(errors.iter().all(|&n| n == 0));
}

#[test]
fn reconfigured_backup_recomputes_its_down_timer() {
    let (mut w, a, b) = master_and_backup(params(1, 1, 150));
    // The master dies right after its 10 s advert; at 10.5 s B gets a 2 s interval.
    w.routers[a].running = false;
    w.run_until(ms(10_500));
    let mut p = params(2, 1, 200);
    p.advert_int = secs(2);
    w.reconfigure(b, vec![p], &[]).unwrap();
    assert!(w.actions(b, 0).is_empty());
    w.run_for(secs(20));
    // RFC 3768 §6.1 with the new interval and priority, counted from the reconfiguration.
    assert_eq!(
        w.entered(b, 0, State::Master),
        Some(ms(10_500) + down(secs(2), secs(1), 200))
    );
}

#[test]
fn reconfigured_lease_applies_at_once() {
    let mut p = params(1, 1, 150);
    p.garp_master_delay = Duration::ZERO;
    let (mut w, a, _) = master_and_backup(p.clone());
    p.vip_lease = Some(secs(30));
    w.reconfigure(a, vec![p.clone()], &[]).unwrap();
    assert_eq!(
        w.actions(a, 0),
        vec![(
            secs(10),
            Action::InstallVips {
                addrs: vec![vip(1)].into(),
                lease: Some(secs(30))
            }
        )]
    );
    w.run_for(secs(11));
    let refreshes: Vec<Duration> = w
        .actions(a, 0)
        .into_iter()
        .filter(|(_, a)| matches!(a, Action::InstallVips { .. }))
        .map(|(at, _)| at)
        .collect();
    // Done with the first advert (1 s interval) after which the next would find less than
    // 2/3 of the 30 s left: from 20 s on.
    assert_eq!(refreshes.len(), 2);
    assert_eq!(refreshes[0], secs(10));
    assert!(
        refreshes[1] > secs(20) && refreshes[1] <= secs(21),
        "{refreshes:?}"
    );
    w.clear_logs();
    p.vip_lease = None;
    w.reconfigure(a, vec![p], &[]).unwrap();
    w.run_for(secs(30));
    let acts = w.actions(a, 0);
    assert_eq!(
        acts[0],
        (
            secs(21),
            Action::InstallVips {
                addrs: vec![vip(1)].into(),
                lease: None
            }
        )
    );
    assert!(acts[1..]
        .iter()
        .all(|(_, a)| matches!(a, Action::Transmit { .. })));
}

#[test]
fn reconfigured_trackers_reevaluate_priority_and_fault() {
    let mut p = params(1, 1, 150);
    p.trackers = vec![Tracker::new(0, false)];
    let mut w = Wire::new();
    let a = w.add(vec![p.clone()], vec![]);
    assert_eq!(w.state(a, 0), State::Fault);
    w.clear_logs();
    // Still faulted: stays Fault, silently.
    p.priority = 120;
    w.reconfigure(a, vec![p.clone()], &[]).unwrap();
    assert_eq!(w.state(a, 0), State::Fault);
    assert!(w.actions(a, 0).is_empty());
    // The faulting tracker removed: Backup, as if it had come up.
    p.trackers = vec![Tracker::new(20, true)];
    w.reconfigure(a, vec![p.clone()], &[]).unwrap();
    assert_eq!(
        w.transitions(a, 0),
        vec![(
            secs(0),
            Transition {
                from: State::Fault,
                to: State::Backup,
                reason: Reason::FaultCleared,
            }
        )]
    );
    assert_eq!(w.routers[a].vrrp.instance(0).priority(), 140);
    w.run_for(secs(10));
    assert_eq!(w.state(a, 0), State::Master);
    // A new weight-0 tracker that is down takes a master to Fault with the usual goodbye.
    w.clear_logs();
    p.trackers.push(Tracker::new(0, false));
    w.reconfigure(a, vec![p], &[]).unwrap();
    assert_goodbye(&w, a, State::Fault, Reason::Fault);
}

#[test]
fn reconfigure_refuses_what_needs_a_restart_and_changes_nothing() {
    let (mut w, a, _) = master_and_backup(params(1, 1, 150));
    let refused = [
        (params(1, 2, 150), Restart::Vrid),
        (v3(params(1, 1, 150), secs(1)), Restart::Version),
        (
            Params {
                version: Version::V2,
                ..Params::new("VI_1", 1, 150, "fe80::1".parse().unwrap(), vec![vip(1)])
            },
            Restart::Family,
        ),
        (params(1, 1, 150), Restart::Members),
    ];
    for (i, (mut p, why)) in refused.into_iter().enumerate() {
        p.name = if why == Restart::Members {
            "VI_other".into()
        } else {
            "VI_1".into()
        };
        assert_eq!(w.reconfigure(a, vec![p], &[]), Err(why), "case {i}");
    }
    let mut bad = params(1, 1, 150);
    bad.advert_int = ms(1500);
    assert_eq!(
        w.reconfigure(a, vec![bad], &[]),
        Err(Restart::Invalid(ParamError::AdvertInt))
    );
    assert_eq!(
        w.reconfigure(a, vec![params(1, 1, 150)], &[group("G", vec![0])]),
        Err(Restart::Members)
    );
    assert!(w.actions(a, 0).is_empty());
    assert_eq!(w.routers[a].vrrp.instance(0).priority(), 150);
}

#[test]
fn reconfigured_sync_group_stays_master_and_refuses_other_members() {
    let (mut w, a) = group_master_a();
    w.clear_logs();
    let g = [group("G", vec![0, 1])];
    w.reconfigure(a, vec![params(1, 1, 150), params(1, 2, 140)], &g)
        .unwrap();
    assert_eq!(w.members(a), (State::Master, State::Master));
    assert!(group_events(&w, a).is_empty());
    assert_eq!(w.adverts(a, 1), vec![(secs(10), 140)]);
    assert!(w.adverts(a, 0).is_empty());
    let one = [group("G", vec![0])];
    assert_eq!(
        w.reconfigure(a, vec![params(1, 1, 150), params(1, 2, 140)], &one),
        Err(Restart::Members)
    );
}

/// RFC 5798 §7.1, one rule at a time: a settled master (10.0.0.1, priority 150) is sent a
/// forged priority-200 advert from 10.0.0.3 that would demote it if accepted, broken in one
/// way. Each one is dropped, counted under its own kind, and changes nothing.
mod receive_checks {
    use super::*;

    /// Router `a` master, `b` backup; returns the forged advert's bytes for `dst`.
    fn setup() -> (Wire, usize) {
        let (w, a, _) = master_and_backup(params(1, 1, 150));
        (w, a)
    }

    fn forged(dst: IpAddr) -> Vec<u8> {
        let adv = Instance::new(params(3, 1, 200)).unwrap().advert(200);
        adv.to_bytes(&ip(3), &dst).unwrap()
    }

    /// Delivers `msg` from 10.0.0.3 to router `a` and checks it was dropped as `want`,
    /// counted on the instance, and left it Master.
    fn dropped(w: &mut Wire, a: usize, dst: IpAddr, ttl: u8, msg: &[u8], want: Error) {
        let now = w.now;
        let d = deliver(&mut w.routers[a], now, ip(3), dst, ttl, msg);
        assert_eq!(
            d,
            rx::Delivery {
                to: Some((0, 0)),
                result: Err(want)
            }
        );
        let inst = w.routers[a].vrrp.instance(0);
        assert_eq!(inst.stats().rx_error(want), 1, "{:?}", inst.stats());
        assert_eq!(inst.state(), State::Master);
        assert!(w.routers[a].vrrp.poll_event().is_none());
    }

    #[test]
    fn valid_forgery_would_demote() {
        // The control: the same advert with nothing wrong does demote the master.
        let (mut w, a) = setup();
        let now = w.now;
        let d = deliver(&mut w.routers[a], now, ip(3), MCAST, 255, &forged(MCAST));
        assert_eq!(d.result, Ok(()));
        assert_eq!(w.state(a, 0), State::Backup);
    }

    #[test]
    fn ttl_must_be_255_even_unicast_to_self() {
        // §7.1: "MUST verify that the IP TTL is 255". Sent to the master's own address
        // from off the link (TTL 1), multicast or not.
        let (mut w, a) = setup();
        dropped(&mut w, a, ip(1), 1, &forged(ip(1)), Error::Ttl);
        let (mut w, a) = setup();
        dropped(&mut w, a, MCAST, 254, &forged(MCAST), Error::Ttl);
    }

    #[test]
    fn unicast_instance_skips_ttl_but_filters_peers() {
        // keepalived: no TTL check with unicast peers (they may be routed), but only the
        // configured peers are heard.
        let mut p = params(1, 1, 150);
        p.unicast_peers = vec![ip(3)];
        let mut w = Wire::new();
        let a = w.add(vec![p.clone()], vec![]);
        w.run_until(secs(10));
        assert_eq!(w.state(a, 0), State::Master);
        let now = w.now;
        let d = deliver(&mut w.routers[a], now, ip(4), ip(1), 64, &forged(ip(1)));
        assert_eq!(d.result, Err(Error::Peer));
        assert_eq!(
            w.routers[a].vrrp.instance(0).stats().rx_error(Error::Peer),
            1
        );
        assert_eq!(w.state(a, 0), State::Master);
        // From the peer, routed (TTL 64), unicast: accepted.
        let d = deliver(&mut w.routers[a], now, ip(3), ip(1), 64, &forged(ip(1)));
        assert_eq!(d.result, Ok(()));
        assert_eq!(w.state(a, 0), State::Backup);
    }

    #[test]
    fn destination_must_match_the_mode() {
        // keepalived vrrp_check_packet: a multicast instance ignores unicast adverts.
        let (mut w, a) = setup();
        dropped(&mut w, a, ip(1), 255, &forged(ip(1)), Error::Destination);
    }

    #[test]
    fn version_must_match() {
        // §7.1: "MUST verify the VRRP version".
        let (mut w, a) = setup();
        let adv = Instance::new(v3(params(3, 1, 200), secs(1)))
            .unwrap()
            .advert(200);
        let msg = adv.to_bytes(&ip(3), &MCAST).unwrap();
        dropped(&mut w, a, MCAST, 255, &msg, Error::Version);
    }

    #[test]
    fn checksum_must_verify() {
        // §7.1: "MUST verify the VRRP checksum".
        let (mut w, a) = setup();
        let mut msg = forged(MCAST);
        msg[7] ^= 1;
        dropped(&mut w, a, MCAST, 255, &msg, Error::Checksum);
    }

    #[test]
    fn length_must_cover_the_address_count() {
        // §7.1: "MUST verify that the received packet contains the complete VRRP packet".
        let (mut w, a) = setup();
        let msg = forged(MCAST);
        dropped(
            &mut w,
            a,
            MCAST,
            255,
            &msg[..msg.len() - 1],
            Error::Truncated,
        );
        let (mut w, a) = setup();
        dropped(&mut w, a, MCAST, 255, &msg[..4], Error::Truncated);
    }

    #[test]
    fn type_must_be_advertisement() {
        // §5.2.2 / §7.1: only type 1 exists; anything else is discarded.
        let (mut w, a) = setup();
        let mut msg = forged(MCAST);
        msg[0] = 0x22;
        msg[6] = msg[6].wrapping_sub(1); // keep the checksum right (+1 in the first word)
        dropped(&mut w, a, MCAST, 255, &msg, Error::Type);
    }

    #[test]
    fn auth_must_match() {
        // RFC 3768 §7.1: "MUST perform authentication specified by Auth Type".
        let (mut w, a) = setup();
        let mut p = params(3, 1, 200);
        p.auth = Auth::password(b"guess");
        let msg = Instance::new(p.clone())
            .unwrap()
            .advert(200)
            .to_bytes(&ip(3), &MCAST);
        dropped(&mut w, a, MCAST, 255, &msg.unwrap(), Error::AuthType);
        let mut w = Wire::new();
        let mut q = params(1, 1, 150);
        q.auth = Auth::password(b"secret");
        let a = w.add(vec![q], vec![]);
        w.run_until(secs(10));
        let msg = Instance::new(p)
            .unwrap()
            .advert(200)
            .to_bytes(&ip(3), &MCAST);
        dropped(&mut w, a, MCAST, 255, &msg.unwrap(), Error::Auth);
    }

    #[test]
    fn address_list_must_match() {
        // §7.1: "MAY verify that the IP Address(es) ... are valid" (keepalived does).
        let (mut w, a) = setup();
        let p = with_vips(params(3, 1, 200), &[7]);
        let msg = Instance::new(p)
            .unwrap()
            .advert(200)
            .to_bytes(&ip(3), &MCAST);
        dropped(&mut w, a, MCAST, 255, &msg.unwrap(), Error::AddrList);
    }

    #[test]
    fn v2_interval_must_match() {
        // RFC 3768 §7.1: "MUST verify that the Adver Interval ... is the same".
        let (mut w, a) = setup();
        let mut p = params(3, 1, 200);
        p.advert_int = secs(2);
        let msg = Instance::new(p)
            .unwrap()
            .advert(200)
            .to_bytes(&ip(3), &MCAST);
        dropped(&mut w, a, MCAST, 255, &msg.unwrap(), Error::AdvertInterval);
    }

    #[test]
    fn vrid_must_be_configured_on_the_link() {
        // §7.1: "MUST verify that the VRID is configured on the receiving interface".
        let (mut w, a) = setup();
        let msg = Instance::new(params(3, 9, 200)).unwrap().advert(200);
        let msg = msg.to_bytes(&ip(3), &MCAST).unwrap();
        let now = w.now;
        let d = deliver(&mut w.routers[a], now, ip(3), MCAST, 255, &msg);
        assert_eq!(
            d,
            rx::Delivery {
                to: None,
                result: Err(Error::Vrid)
            }
        );
        // Right VRID, other interface.
        let r = &mut w.routers[a];
        let (v4, _) = datagram(ip(3), MCAST, 255, &forged(MCAST));
        let d =
            r.rx.handle_datagram(now, 7, &Datagram::V4(&v4), [&mut r.vrrp]);
        assert_eq!(d.result, Err(Error::Vrid));
        assert_eq!(r.rx.unattributed()[Error::Vrid.index()], 2);
        assert_eq!(w.state(a, 0), State::Master);
    }

    #[test]
    fn malformed_ip_headers_are_counted_unattributed() {
        let (mut w, a) = setup();
        let (mut v4, _) = datagram(ip(3), MCAST, 255, &forged(MCAST));
        v4[3] += 1; // total length beyond the datagram
        let r = &mut w.routers[a];
        let d =
            r.rx.handle_datagram(w.now, 0, &Datagram::V4(&v4), [&mut r.vrrp]);
        assert_eq!(
            d,
            rx::Delivery {
                to: None,
                result: Err(Error::Truncated)
            }
        );
        assert_eq!(r.rx.unattributed()[Error::Truncated.index()], 1);
    }

    #[test]
    fn same_vrid_on_one_link_is_demultiplexed_by_peer() {
        // keepalived runs several unicast instances with one VRID on one interface when
        // their peers differ: each advert reaches the instance of its sender.
        let mut x = params(1, 1, 150);
        x.unicast_peers = vec![ip(3)];
        let mut y = params(1, 1, 150);
        y.name = "VI_other".into();
        y.unicast_peers = vec![ip(4)];
        let mut w = Wire::new();
        let a = w.add(vec![x, y], vec![]);
        w.run_until(secs(10));
        assert_eq!(w.members(a), (State::Master, State::Master));
        let now = w.now;
        let d = deliver(&mut w.routers[a], now, ip(4), ip(1), 255, &forged(ip(1)));
        assert_eq!(
            d,
            rx::Delivery {
                to: Some((0, 1)),
                result: Ok(())
            }
        );
        assert_eq!(w.members(a), (State::Master, State::Backup));
    }
}

#[test]
fn forged_lower_priority_flood_is_answered_once_per_second() {
    // 5,000 lower-priority adverts in 5 s: keepalived answers each with an advert and a
    // GARP burst (an amplifier); the first per second is answered, the rest counted.
    let (mut w, a, _) = master_and_backup(params(1, 1, 150));
    let low = encoded(&params(3, 1, 50), 50);
    let start = w.now;
    for k in 0..5000u32 {
        let now = start + Duration::from_millis(u64::from(k));
        if w.routers[a].vrrp.poll_timeout().is_some_and(|t| t <= now) {
            w.routers[a].vrrp.handle_timeout(now);
        }
        deliver(&mut w.routers[a], now, ip(3), MCAST, 255, &low);
        w.now = now;
        w.pump(a);
    }
    let acts = w.actions(a, 0);
    let garps: Vec<Duration> = acts
        .iter()
        .filter(|(_, a)| matches!(a, Action::SendGarp { .. }))
        .map(|(at, _)| *at)
        .collect();
    // One answer per second, each with its burst; the delayed second burst (5 s later)
    // keeps being pushed back by the next answer and never comes within the flood.
    let s = |n: u64| Duration::from_secs(10 + n);
    assert_eq!(garps, vec![s(0), s(1), s(2), s(3), s(4)]);
    // Adverts: the 5 answers plus the regular one a second, nothing more.
    let adverts = w.adverts(a, 0);
    assert!(adverts.len() <= 10, "{adverts:?}");
    let st = w.routers[a].vrrp.instance(0).stats();
    assert_eq!(st.replies_suppressed, 4995);
    assert_eq!(w.state(a, 0), State::Master);
    // Priority-0 adverts are answered (RFC 5798 §6.4.3) at the same rate.
    let stop = encoded(&params(3, 1, 50), 0);
    let now = w.now + secs(1);
    w.now = now;
    for _ in 0..100 {
        deliver(&mut w.routers[a], now, ip(3), MCAST, 255, &stop);
    }
    w.clear_logs();
    w.pump(a);
    assert_eq!(w.adverts(a, 0).len(), 1);
    assert_eq!(
        w.routers[a].vrrp.instance(0).stats().replies_suppressed,
        5094
    );
}

#[test]
fn startup_delay_holds_every_instance_out_of_master() {
    // keepalived vrrp_startup_delay 10: an owner, and a backup whose master vanished at
    // 5 s, both wait for 10 s before going Master; meanwhile they listen.
    let mut w = Wire::new();
    let m = w.add(vec![params(1, 1, 200)], vec![]);
    w.run_until(secs(4));
    assert_eq!(w.state(m, 0), State::Master);
    let start = |p: Params, w: &mut Wire| {
        let mut v = Vrrp::new(vec![Instance::new(p).unwrap()], vec![]).unwrap();
        v.start_delayed(w.now, secs(6));
        w.routers.push(Router {
            vrrp: v,
            rx: Receiver::default(),
            addr: ip(2),
            running: true,
            muted: false,
            log: Vec::new(),
        });
        let r = w.routers.len() - 1;
        w.pump(r);
        r
    };
    let owner = start(params(2, 2, 255), &mut w);
    let b = start(params(2, 1, 100), &mut w);
    assert_eq!(
        (w.state(owner, 0), w.state(b, 0)),
        (State::Backup, State::Backup)
    );
    w.run_until(secs(5));
    w.routers[m].running = false;
    w.run_until(secs(20));
    // The owner at the end of the delay; the backup heard the master's 4.22 s advert, so
    // its Master_Down_Timer ran out at 7.83 s, and it waited for 10 s too.
    assert_eq!(w.entered(owner, 0, State::Master), Some(secs(10)));
    assert_eq!(w.entered(b, 0, State::Master), Some(secs(10)));
    assert_eq!(w.routers[b].vrrp.instance(0).stats().adverts_received, 1);
}

#[test]
fn lower_and_higher_priority_keywords_reach_the_core() {
    // keepalived: instances inherit vrrp_lower_prio_no_advert / vrrp_higher_prio_send_advert;
    // the lower-priority GARP values default to the global vrrp_garp_master_* ones.
    let text = "global_defs {\n vrrp_garp_master_repeat 3\n vrrp_lower_prio_no_advert\n \
        vrrp_higher_prio_send_advert\n}\n\
        vrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 255\n \
        garp_lower_prio_delay 0\n higher_prio_send_advert false\n \
        virtual_ipaddress {\n 10.0.1.1\n }\n}\n\
        vrrp_instance B {\n interface eth0\n virtual_router_id 2\n priority 255\n \
        lower_prio_no_advert off\n garp_lower_prio_repeat 0\n skip_check_adv_addr\n \
        virtual_ipaddress {\n 10.0.1.2\n }\n}\n";
    let (cfg, _) = crate::config::load_str(
        &crate::config::MemFiles::default(),
        std::path::Path::new("/k.conf"),
        text,
        &crate::config::LoadOptions::default(),
    )
    .unwrap();
    let os = plan::Resolved {
        link: 0,
        src: ip(1),
        tracker_up: vec![true],
        file_values: vec![None],
    };
    let keys = plan::unit_keys(&cfg);
    let [a, b] = [0, 1].map(|u| plan::params(&keys[u].instances[0], &keys[u], &os));
    assert_eq!(
        (a.garp_lower_prio_repeat, a.garp_lower_prio_delay),
        (3, Duration::ZERO)
    );
    assert!(a.lower_prio_no_advert && !a.higher_prio_send_advert && a.check_addr_list);
    assert_eq!(
        (b.garp_lower_prio_repeat, b.garp_lower_prio_delay),
        (0, Duration::from_secs(5))
    );
    assert!(!b.lower_prio_no_advert && b.higher_prio_send_advert && !b.check_addr_list);

    let now = Instant::now();
    // A answers a lower priority advert with GARPs only, and no second burst.
    let mut i = started_owner(a, now);
    i.handle_datagram(now, &meta(ip(2)), &encoded(&params(2, 1, 100), 100))
        .unwrap();
    let acts = drain(&mut i);
    assert_eq!(acts.len(), 2);
    assert!(is_garp(&acts[0], 3));
    let event = Action::LowerPriorityAdvert {
        src: ip(2),
        priority: 100,
    };
    assert_eq!(acts[1], event);
    i.handle_timeout(now + Duration::from_millis(10));
    assert_eq!(drain(&mut i), vec![]);
    // A flood of them is answered (and reported) once per advert interval.
    i.handle_datagram(now, &meta(ip(2)), &encoded(&params(2, 1, 100), 100))
        .unwrap();
    assert_eq!(drain(&mut i), vec![]);
    let next = now + Duration::from_secs(1);
    i.handle_datagram(next, &meta(ip(2)), &encoded(&params(2, 1, 100), 100))
        .unwrap();
    assert!(drain(&mut i).contains(&event));
    // B answers with an advert and no GARP.
    let mut i = started_owner(b, now);
    i.handle_datagram(now, &meta(ip(2)), &encoded(&params(2, 2, 100), 100))
        .unwrap();
    let acts = drain(&mut i);
    assert_eq!(acts.len(), 2);
    assert!(is_advert(&acts[0], 255));
}

#[test]
fn a_tracked_file_value_moves_priority_and_faults_below_minus_253() {
    use super::track_file::{status, tracker};
    let mut w = Wire::new();
    let mut p = params(1, 1, 150);
    // `track_file f { weight 10 }`, file holding 0.
    let (weight, up) = tracker(status(0, 10, false));
    p.trackers = vec![Tracker::new(weight, up)];
    let a = w.add(vec![p], vec![]);
    let b = w.add(vec![params(2, 1, 120)], vec![]);
    w.run_until(Duration::from_secs(10));
    assert_eq!(w.pair(a, b), (State::Master, State::Backup));
    let set = |w: &mut Wire, value: i64| {
        let (weight, up) = tracker(status(value, 10, false));
        let now = w.now;
        w.routers[a].vrrp.set_tracker_weight(now, 0, 0, weight, up);
        w.pump(a);
    };
    // 150 + 2 × 10.
    set(&mut w, 2);
    assert_eq!(w.routers[a].vrrp.instance(0).priority(), 170);
    // 150 - 4 × 10 = 110 < 120: advertised at once, B preempts.
    set(&mut w, -4);
    assert_eq!(w.routers[a].vrrp.instance(0).priority(), 110);
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.pair(a, b), (State::Backup, State::Master));
    // -30 × 10 < -253: fault.
    set(&mut w, -30);
    assert_eq!(w.state(a, 0), State::Fault);
    set(&mut w, 0);
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.pair(a, b), (State::Master, State::Backup));
}
