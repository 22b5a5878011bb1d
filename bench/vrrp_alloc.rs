//! Heap allocations per VRRP advert sent and per advert received in steady state, counted
//! with a counting allocator around the system one, on the daemon's pure paths in virtual
//! time: 1,000 v3 masters at 0.1 s (one unit each, as the daemon builds them) driven until
//! every one is Master, then 10 s of adverts; and a receive flood on one master (a third
//! each of valid lower-priority adverts, bad checksums, TTL 1, as bench/vrrp_flood sends).
//!
//!   cargo bench --bench vrrp_alloc        (results in bench/RESULTS.md, "VRRP CPU")

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use keeplite::proto::ipv4;
use keeplite::proto::vrrp::{Auth, Datagram, Repr, Version, IP_PROTO, MCAST_V4};
use keeplite::vrrp::rx::Receiver;
use keeplite::vrrp::{default_vip_lease, Action, Event, Instance, Params, Vrrp};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to the system allocator with the caller's layout unchanged;
// the counter is only a statistic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `alloc` above with this layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const STEP: Duration = Duration::from_millis(1);

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// The `bench/vrrp-bench` instance `i` (1-based) of node A: v3, 0.1 s, priority 100.
fn params(i: usize, lease: bool) -> Params {
    let (link, vrid) = ((i - 1) / 250, (i - 1) % 250 + 1);
    let vip = v4(10, 99, (1 + i / 250) as u8, (i % 250 + 1) as u8);
    let mut p = Params::new(
        &format!("VI_{i}"),
        vrid as u8,
        100,
        v4(10, 99, 0, 1),
        vec![vip],
    );
    p.version = Version::V3;
    p.advert_int = Duration::from_millis(100);
    p.link = link as u32 + 1;
    // As the daemon's plan computes it for this interval and priority.
    p.vip_lease = lease.then(|| default_vip_lease(p.version, p.advert_int, p.priority));
    p
}

/// Drains a unit's events; returns the adverts among them.
fn drain(v: &mut Vrrp) -> usize {
    let mut sent = 0;
    while let Some(e) = v.poll_event() {
        sent += usize::from(matches!(e, Event::Instance(_, Action::Transmit { .. })));
    }
    sent
}

/// Runs `units` from `from` for `d` in 1 ms steps; returns (adverts sent, allocations).
fn run(units: &mut [Vrrp], from: Instant, d: Duration) -> (usize, usize) {
    let a0 = ALLOCS.load(Relaxed);
    let mut sent = 0;
    let mut now = from;
    while now < from + d {
        now += STEP;
        for u in units.iter_mut() {
            if u.poll_timeout().is_some_and(|t| t <= now) {
                u.handle_timeout(now);
                sent += drain(u);
            }
        }
    }
    (sent, ALLOCS.load(Relaxed) - a0)
}

fn sender(n: usize, lease: bool) {
    let t0 = Instant::now();
    let mut units: Vec<Vrrp> = (1..=n)
        .map(|i| Vrrp::new(vec![Instance::new(params(i, lease)).unwrap()], vec![]).unwrap())
        .collect();
    for u in &mut units {
        u.start(t0);
        drain(u);
    }
    // Master_Down_Interval, then the delayed GARP burst (5 s) and a lease refresh cycle.
    let warm = Duration::from_secs(7);
    run(&mut units, t0, warm);
    let (sent, allocs) = run(&mut units, t0 + warm, Duration::from_secs(10));
    let what = if lease {
        "sent, default VIP lease (2 s, refreshed with an advert, ≥ 750 ms before it runs out)"
    } else {
        "sent, VIP lease off"
    };
    println!(
        "| {n} masters, 10 s: adverts {what} | {sent} | {allocs} | {:.3} |",
        allocs as f64 / sent as f64
    );
}

/// One forged datagram as the raw socket hands it over: IPv4 header plus advert.
fn datagram(src: IpAddr, ttl: u8, bad_checksum: bool) -> Vec<u8> {
    let dst = IpAddr::V4(MCAST_V4);
    let mut vrrp = Repr {
        version: Version::V3,
        vrid: 1,
        priority: 50,
        advert_int: 10,
        auth: Auth::NONE,
        addresses: vec![v4(10, 99, 2, 2)],
    }
    .to_bytes(&src, &dst)
    .unwrap();
    if bad_checksum {
        vrrp[6] ^= 0x5a;
    }
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else {
        unreachable!()
    };
    let mut p = ipv4::Packet::new_unchecked(vec![0; 20 + vrrp.len()]);
    let ip = ipv4::Repr {
        src: s,
        dst: d,
        protocol: IP_PROTO,
        ttl,
        payload_len: vrrp.len(),
    };
    ip.emit(&mut p).unwrap();
    let mut bytes = p.into_inner();
    bytes[20..].copy_from_slice(&vrrp);
    bytes
}

fn receiver() {
    let t0 = Instant::now();
    let mut units = vec![Vrrp::new(vec![Instance::new(params(1, true)).unwrap()], vec![]).unwrap()];
    units[0].start(t0);
    drain(&mut units[0]);
    run(&mut units, t0, Duration::from_secs(7));
    let peer = v4(10, 99, 0, 2);
    let kinds = [
        datagram(peer, 255, false),
        datagram(peer, 255, true),
        datagram(peer, 1, false),
    ];
    let mut rx = Receiver::default();
    // 50,000 datagrams/s for 10 s, interleaved with the master's own timers.
    let (per_ms, total) = (50, 500_000);
    let a0 = ALLOCS.load(Relaxed);
    let mut now = t0 + Duration::from_secs(7);
    for k in 0..total {
        if k % per_ms == 0 {
            now += STEP;
            if units[0].poll_timeout().is_some_and(|t| t <= now) {
                units[0].handle_timeout(now);
                drain(&mut units[0]);
            }
        }
        let d = Datagram::V4(&kinds[k % 3]);
        let got = rx.handle_datagram(now, 1, &d, units.iter_mut());
        if let Some((u, _)) = got.to {
            drain(&mut units[u]);
        }
    }
    let allocs = ALLOCS.load(Relaxed) - a0;
    println!(
        "| 1 master, 10 s of 50,000 forged adverts/s (with its own adverts and replies) | {total} | {allocs} | {:.4} |",
        allocs as f64 / total as f64
    );
}

fn main() {
    println!("| scenario | adverts | allocations | per advert |");
    println!("|---|---|---|---|");
    sender(1000, false);
    sender(1000, true);
    receiver();
}
