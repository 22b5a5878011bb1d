//! Realtime scheduling (root, a network namespace): `vrrp_rt_priority` from the start, and
//! `max_auto_priority`: a daemon stopped long enough that its timers run late switches itself
//! to realtime scheduling, one step per late wake-up, up to the cap, as keepalived does.

mod common;

use common::{vrrp_conf, wait_until, Keeplite, Lan};
use std::time::Duration;

/// (rt_priority, policy) of the process: fields 40 and 41 of /proc/PID/stat.
fn sched(pid: i32) -> (u32, u32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u32> = after_comm
        .split_whitespace()
        .map(|w| w.parse().unwrap_or(0))
        .collect();
    // after_comm starts at field 3.
    (f[40 - 3], f[41 - 3])
}

#[test]
fn late_timers_raise_the_realtime_priority_up_to_the_cap() {
    let lan = Lan::new(1);
    let conf = "global_defs {\n  max_auto_priority 2\n  min_auto_priority_delay 200000\n}\n"
        .to_owned()
        + &vrrp_conf("VI_1", 65, 100, &["192.0.2.100/24"], "");
    let kl = Keeplite::start(&lan.hosts[0], &conf);
    kl.expect_state("VI_1", "MASTER", 10);
    let pid = kl.child.pid();
    // SCHED_OTHER (0) while on time.
    assert_eq!(sched(pid), (0, 0));
    for step in 1..=3u32 {
        kl.child.signal("STOP");
        std::thread::sleep(Duration::from_millis(1500));
        kl.child.signal("CONT");
        let want = step.min(2);
        let ok = wait_until(Duration::from_secs(10), || {
            let log = kl.log();
            log.matches("a timer expired").count() == step as usize
                && sched(pid) == (want, libc::SCHED_RR as u32)
        });
        assert!(ok, "{:?}\n{}", sched(pid), kl.log());
    }
    assert!(
        !kl.log().contains("set realtime priority 3"),
        "{}",
        kl.log()
    );
}

#[test]
fn rt_priority_applies_from_the_start_the_higher_of_the_two() {
    let lan = Lan::new(1);
    let conf = "global_defs {\n  vrrp_rt_priority 3\n  checker_rt_priority 5\n}\n".to_owned()
        + &vrrp_conf("VI_1", 68, 100, &["192.0.2.100/24"], "");
    let kl = Keeplite::start(&lan.hosts[0], &conf);
    kl.expect_state("VI_1", "MASTER", 10);
    assert_eq!(sched(kl.child.pid()), (5, libc::SCHED_RR as u32));
    assert!(kl.log().contains("set realtime priority 5"), "{}", kl.log());
}
