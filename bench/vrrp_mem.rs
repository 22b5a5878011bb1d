//! Where the heap goes per VRRP instance: a counting allocator around the system one, and
//! the daemon's pure start-up steps for N instances (the `bench/vrrp-bench` configuration:
//! v3, 1 s, one /32 VIP each, 250 per interface), live bytes and allocations after each
//! step, and the peak while loading the configuration.
//!
//!   cargo test --bench vrrp_mem [-- N...]     (default 16 64 1000; counts do not depend on
//!                                              the profile, so the quick debug build does)

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use keeplite::config::{load_str, LoadOptions, MemFiles};
use keeplite::vrrp::plan::{self, Resolved, StoredKey};
use keeplite::vrrp::{Instance, Vrrp};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to the system allocator with the caller's layout unchanged;
// the counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(l.size(), Relaxed) + l.size();
        PEAK.fetch_max(live, Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        // SAFETY: `p` came from `alloc` above with this layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn conf(n: usize) -> String {
    let mut s = String::from("global_defs { router_id a }\n");
    for i in 1..=n {
        let (ifc, vrid) = ((i - 1) / 250, (i - 1) % 250 + 1);
        let vip = format!("10.99.{}.{}", 1 + i / 250, i % 250 + 1);
        s += &format!(
            "vrrp_instance VI_{i} {{\n state BACKUP\n interface eth{ifc}\n \
             virtual_router_id {vrid}\n priority 100\n advert_int 1\n version 3\n \
             virtual_ipaddress {{\n  {vip}/32\n }}\n}}\n"
        );
    }
    s
}

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![16, 64, 1000]
    } else {
        counts
    };
    println!("| instances | step | live heap bytes | per instance | allocations |");
    println!("|---|---|---|---|---|");
    for n in counts {
        let text = conf(n);
        let base = LIVE.load(Relaxed);
        let allocs0 = ALLOCS.load(Relaxed);
        PEAK.store(base, Relaxed);
        let step = |name: &str| {
            let live = LIVE.load(Relaxed) - base;
            let allocs = ALLOCS.load(Relaxed) - allocs0;
            println!("| {n} | {name} | {live} | {} | {allocs} |", live / n);
        };
        let (mut cfg, _) = load_str(
            &MemFiles::default(),
            Path::new("/k.conf"),
            &text,
            &LoadOptions::default(),
        )
        .expect("bench config loads");
        let peak = PEAK.load(Relaxed) - base;
        println!("| {n} | peak while loading | {peak} | {} | |", peak / n);
        step("config model");
        let keys = plan::unit_keys(&cfg);
        step("+ unit keys");
        let now = Instant::now();
        let mut units = Vec::new();
        for key in &keys {
            let insts = key
                .instances
                .iter()
                .map(|inst| {
                    let os = Resolved {
                        link: 2,
                        src: IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)),
                        tracker_up: vec![true; plan::trackers(inst, key).len()],
                        file_values: Vec::new(),
                    };
                    Instance::new(plan::params(inst, key, &os)).expect("valid params")
                })
                .collect();
            let groups = plan::group_params(key, key.instances.len());
            units.push(Vrrp::new(insts, groups).expect("valid groups"));
        }
        step("+ cores");
        // What the daemon keeps: the keys encoded, the model without its instances.
        let stored: Vec<StoredKey> = keys.iter().map(StoredKey::new).collect();
        drop(keys);
        cfg.instances = Vec::new();
        step("keys stored, decoded keys and model instances dropped");
        for v in &mut units {
            v.start(now);
            while v.poll_event().is_some() {}
        }
        step("+ started, events drained");
        let size = std::mem::size_of::<Instance>();
        println!(
            "| {n} | (size_of Instance {size}, Vrrp {}, Unit {}, UnitKey {}, VrrpInstance {}, Member {}) | | | |",
            std::mem::size_of::<Vrrp>(),
            std::mem::size_of::<keeplite::daemon::unit::Unit>(),
            std::mem::size_of::<plan::UnitKey>(),
            std::mem::size_of::<keeplite::config::VrrpInstance>(),
            std::mem::size_of::<keeplite::daemon::unit::Member>(),
        );
        drop((units, stored, cfg));
    }
}
