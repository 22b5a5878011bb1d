//! The daemon end to end: keeplite processes in namespaces on a bridged LAN (root).

mod common;

use common::{has_addr, vrrp_conf, wait_until, Keeplite, Lan};
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100";

#[test]
fn two_nodes_elect_by_priority_and_survive_kill_9() {
    let lan = Lan::new(2);
    let a = Keeplite::start(
        &lan.hosts[0],
        &vrrp_conf("VI_1", 51, 150, &["192.0.2.100/24"], ""),
    );
    let b = Keeplite::start(
        &lan.hosts[1],
        &vrrp_conf("VI_1", 51, 100, &["192.0.2.100/24"], ""),
    );
    assert!(
        a.wait_state("VI_1", "MASTER", Duration::from_secs(10)),
        "{}",
        a.log()
    );
    assert!(
        b.wait_state("VI_1", "BACKUP", Duration::from_secs(5)),
        "{}",
        b.log()
    );
    assert!(has_addr(&lan.hosts[0], "eth0", VIP));
    assert!(!has_addr(&lan.hosts[1], "eth0", VIP));
    let st = b.status().unwrap();
    let inst = &st["instances"][0];
    assert_eq!(inst["master"], "192.0.2.1");
    assert!(inst["adverts_received"].as_u64().unwrap() >= 1);
    // The master's VIP carries a lease.
    let st = a.status().unwrap();
    assert!(st["instances"][0]["vips"][0]["lease_left_ms"]
        .as_u64()
        .is_some());
    let addrs = lan.hosts[0].sh("ip -o addr show dev eth0");
    let vip_line = addrs.lines().find(|l| l.contains(VIP)).unwrap();
    assert!(!vip_line.contains("valid_lft forever"), "{vip_line}");

    a.child.signal("KILL");
    let killed = Instant::now();
    // Master_Down_Interval for priority 100: 3 s + 0.61 s skew; generous slack.
    assert!(
        b.wait_state("VI_1", "MASTER", Duration::from_secs(8)),
        "{}",
        b.log()
    );
    assert!(has_addr(&lan.hosts[1], "eth0", VIP));
    // The dead master's VIP expires by itself (lease 4 s).
    assert!(
        wait_until(Duration::from_secs(8), || !has_addr(
            &lan.hosts[0],
            "eth0",
            VIP
        )),
        "VIP still on the killed master after {:?}",
        killed.elapsed()
    );
    assert!(b.log().contains("VI_1: BACKUP -> MASTER"), "{}", b.log());
}
