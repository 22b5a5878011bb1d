//! keepalived's process tuning keywords, for real on a running daemon (root, namespaces).

mod common;

use common::{vrrp_conf, wait_until, Keeplite, Lan};
use std::time::Duration;

#[test]
fn priority_and_no_swap_apply_to_the_process() {
    let lan = Lan::new(1);
    // keepalived sets these per child; keeplite is one process: the lower nice wins.
    let conf = format!(
        "global_defs {{\n  vrrp_priority -5\n  checker_priority 3\n  vrrp_no_swap\n}}\n{}",
        vrrp_conf("VI_1", 51, 100, &["192.0.2.100/24"], "")
    );
    let kl = Keeplite::start(&lan.hosts[0], &conf);
    assert!(
        wait_until(Duration::from_secs(10), || kl
            .log()
            .contains("memory locked")),
        "{}",
        kl.log()
    );
    assert!(kl.log().contains("process priority (nice) set to -5"));
    let pid = kl.child.0.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised name: state is field 3, nice field 19.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let nice: i32 = rest.split(' ').nth(16).unwrap().parse().unwrap();
    assert_eq!(nice, -5, "{stat}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let locked: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(locked > 0, "{status}");
}
