//! The shipped appliance configuration's VIP lease, on two appliance VMs (qemu, TCG): the
//! master's VIP carries the default lease (not longer than the backup's Master_Down_Interval),
//! and when keeplite on the master hangs (SIGSTOP) the VIP leaves the hung box by itself,
//! before its hardware watchdog resets it. Prints the duplicate-IP window (both VMs answering
//! ARP for the VIP, probed every 50 ms) seen from the bridge. Runs as root: the VMs' NICs are
//! taps in a test-owned network namespace; every ARP stays on that bridge.

mod common;
#[allow(dead_code)]
#[path = "appliance/harness.rs"]
mod harness;
#[path = "appliance/pair.rs"]
mod pair;

use harness::{image, switch, vm_lock};
use pair::{boot_demo_pair, ArpProbe, HOST, VIP};
use std::time::{Duration, Instant};

const BOOT: Duration = Duration::from_secs(180);
const NODES: [&str; 2] = ["52:54:00:4b:4c:1a", "52:54:00:4b:4c:1b"];

/// The backup's Master_Down_Interval (VRRPv3, advert_int 1, priority 100: 3 + 156/256 s),
/// rounded up to the kernel's whole-second lifetimes.
const BACKUP_MASTER_DOWN_CEIL: u64 = 4;

/// `valid_lft` of `addr` in `ip -o addr` output, in seconds (`None`: absent or forever).
fn valid_lft(ip_addr: &str, addr: &str) -> Option<u64> {
    let line = ip_addr.lines().find(|l| l.contains(&format!(" {addr}/")))?;
    let rest = line.split("valid_lft ").nth(1)?;
    rest.split("sec").next()?.trim().parse().ok()
}

#[test]
fn hung_master_loses_vip_within_default_lease() {
    image();
    let _lock = vm_lock();
    let ns = switch(&format!("{HOST}/24"));
    let mut vms = boot_demo_pair(&ns, [NODES[0], NODES[1]], BOOT);

    // The shipped lease: no longer than the backup needs to take over.
    let addrs = vms[0].ok("sleep 2; ip -o addr show dev eth0");
    let lft = valid_lft(&addrs, VIP).unwrap_or_else(|| panic!("no leased {VIP} on a:\n{addrs}"));
    assert!(
        lft <= BACKUP_MASTER_DOWN_CEIL,
        "a's VIP lease is {lft} s, longer than b's Master_Down_Interval:\n{addrs}"
    );

    // Who answers ARP for the VIP, every 50 ms, from the bridge.
    let probe = ArpProbe::start(&ns, 60);

    // Hang keeplite on the master: only its shell still runs. It watches its own addresses
    // and reports when the VIP is gone; the watchdog resets the box later (10 s).
    let (mark_a, mark_b) = (vms[0].mark(), vms[1].mark());
    std::thread::sleep(Duration::from_secs(1));
    let stopped = Instant::now();
    vms[0].send(&format!(
        "kill -STOP $(pidof keeplite); while ip -o addr show dev eth0 | grep -q ' {VIP}/'; do sleep 0.2; done; echo VIP\"\"GONE"
    ));
    vms[1].wait_after(mark_b, "BACKUP -> MASTER", Duration::from_secs(30));
    let gone_or_reset = vms[0].expect_any(&["VIPGONE", "SYSLINUX"], Duration::from_secs(60));
    assert_eq!(
        gone_or_reset, 0,
        "the hung master kept its VIP until its watchdog reset it"
    );
    // A few more replies, then stop listening before a's reset.
    std::thread::sleep(Duration::from_secs(2));
    let replies = probe.stop();
    vms[0].wait_after(mark_a, "SYSLINUX", Duration::from_secs(60));

    let secs = |t: Instant| t.saturating_duration_since(stopped).as_secs_f64();
    let last_a = replies
        .iter()
        .filter(|(_, m)| m == NODES[0])
        .map(|(t, _)| *t)
        .max()
        .expect("a answered ARP for the VIP before the hang");
    let first_b = replies
        .iter()
        .filter(|(_, m)| m == NODES[1])
        .map(|(t, _)| *t)
        .min()
        .expect("b answers ARP for the VIP after taking over");
    eprintln!(
        "appliance lease: a stopped -> b first reply {:.2}s, a last reply {:.2}s, duplicate-IP window {:.2}s (lease {lft} s)",
        secs(first_b),
        secs(last_a),
        last_a.saturating_duration_since(first_b).as_secs_f64()
    );
}
