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

#[test]
fn sigterm_releases_at_once_and_the_backup_takes_over() {
    let lan = Lan::new(2);
    let mut a = Keeplite::start(
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
    a.child.signal("TERM");
    let status = a
        .child
        .wait_timeout(Duration::from_secs(1))
        .expect("exit within 1 s");
    assert!(status.success(), "{}", a.log());
    assert!(!has_addr(&lan.hosts[0], "eth0", VIP));
    // Priority 0 from the master: the backup waits only Skew_Time (0.61 s).
    assert!(
        b.wait_state("VI_1", "MASTER", Duration::from_secs(2)),
        "{}",
        b.log()
    );
    assert!(b.log().contains("master sent priority 0"), "{}", b.log());
}

#[test]
fn sigstop_master_is_replaced_and_its_lease_runs_out() {
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
    a.child.signal("STOP");
    assert!(
        b.wait_state("VI_1", "MASTER", Duration::from_secs(8)),
        "{}",
        b.log()
    );
    assert!(wait_until(Duration::from_secs(8), || !has_addr(
        &lan.hosts[0],
        "eth0",
        VIP
    )));
    // Thawed, the stronger node takes its place back (preempt) and re-installs the VIP.
    a.child.signal("CONT");
    assert!(
        b.wait_state("VI_1", "BACKUP", Duration::from_secs(8)),
        "{}",
        b.log()
    );
    assert!(wait_until(Duration::from_secs(5), || has_addr(
        &lan.hosts[0],
        "eth0",
        VIP
    )));
}

#[test]
fn link_down_means_fault_and_takeover() {
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
    lan.set_port(0, false);
    assert!(
        a.wait_state("VI_1", "FAULT", Duration::from_secs(5)),
        "{}",
        a.log()
    );
    assert!(!has_addr(&lan.hosts[0], "eth0", VIP));
    assert!(
        b.wait_state("VI_1", "MASTER", Duration::from_secs(8)),
        "{}",
        b.log()
    );
    lan.set_port(0, true);
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
}

#[test]
fn unicast_peers() {
    let lan = Lan::new(3);
    let uni = |me: usize, peer: usize| {
        format!(
            "unicast_src_ip {}\n  unicast_peer {{\n    {}\n  }}",
            Lan::addr4(me),
            Lan::addr4(peer)
        )
    };
    let a = Keeplite::start(
        &lan.hosts[0],
        &vrrp_conf("VI_1", 51, 150, &["192.0.2.100/24"], &uni(0, 1)),
    );
    let b = Keeplite::start(
        &lan.hosts[1],
        &vrrp_conf("VI_1", 51, 100, &["192.0.2.100/24"], &uni(1, 0)),
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
    // Host 2 sees no multicast adverts: everything is unicast.
    let out = lan.hosts[2].sh_output("timeout 2 tcpdump -n -i eth0 -c 1 vrrp 2>/dev/null");
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());
    a.child.signal("KILL");
    assert!(
        b.wait_state("VI_1", "MASTER", Duration::from_secs(8)),
        "{}",
        b.log()
    );
}

#[test]
fn v3_with_10ms_adverts() {
    let lan = Lan::new(2);
    let conf = |prio| {
        vrrp_conf("VI_1", 51, prio, &["192.0.2.100/24"], "version 3")
            .replace("advert_int 1", "advert_int 0.01")
    };
    let a = Keeplite::start(&lan.hosts[0], &conf(150));
    let b = Keeplite::start(&lan.hosts[1], &conf(100));
    assert!(
        a.wait_state("VI_1", "MASTER", Duration::from_secs(5)),
        "{}",
        a.log()
    );
    assert!(
        b.wait_state("VI_1", "BACKUP", Duration::from_secs(5)),
        "{}",
        b.log()
    );
    std::thread::sleep(Duration::from_secs(1));
    let sent = a.status().unwrap()["instances"][0]["adverts_sent"]
        .as_u64()
        .unwrap();
    assert!(sent >= 50, "only {sent} adverts in over a second");
    assert_eq!(
        b.state("VI_1"),
        "BACKUP",
        "a backup flapped at 10 ms: {}",
        b.log()
    );
    a.child.signal("KILL");
    // Master_Down_Interval is 3 * 10 ms + skew: well under a second even with slack.
    assert!(
        b.wait_state("VI_1", "MASTER", Duration::from_secs(2)),
        "{}",
        b.log()
    );
}

#[test]
fn three_nodes_tie_break_on_address_and_nopreempt() {
    let lan = Lan::new(3);
    // Partitioned, all three become master; healed, the masters collide.
    for i in 0..3 {
        lan.isolate(i, true);
    }
    let n: Vec<Keeplite> = (0..3)
        .map(|i| {
            Keeplite::start(
                &lan.hosts[i],
                &vrrp_conf("VI_1", 51, 100, &["192.0.2.100/24"], ""),
            )
        })
        .collect();
    for k in &n {
        assert!(
            k.wait_state("VI_1", "MASTER", Duration::from_secs(10)),
            "{}",
            k.log()
        );
    }
    for i in 0..3 {
        lan.isolate(i, false);
    }
    // Equal priorities: the highest primary address (192.0.2.3) wins (RFC 5798 §6.4.3).
    assert!(
        n[2].wait_state("VI_1", "MASTER", Duration::from_secs(10)),
        "{}",
        n[2].log()
    );
    assert!(n[0].wait_state("VI_1", "BACKUP", Duration::from_secs(5)));
    assert!(n[1].wait_state("VI_1", "BACKUP", Duration::from_secs(5)));
    assert!(has_addr(&lan.hosts[2], "eth0", VIP));
    drop(n);
    // nopreempt: a stronger node arriving late stays backup.
    let lan = Lan::new(2);
    let b = Keeplite::start(
        &lan.hosts[1],
        &vrrp_conf("VI_1", 51, 100, &["192.0.2.100/24"], ""),
    );
    assert!(
        b.wait_state("VI_1", "MASTER", Duration::from_secs(10)),
        "{}",
        b.log()
    );
    let a = Keeplite::start(
        &lan.hosts[0],
        &vrrp_conf("VI_1", 51, 150, &["192.0.2.100/24"], "nopreempt"),
    );
    assert!(
        a.wait_state("VI_1", "BACKUP", Duration::from_secs(5)),
        "{}",
        a.log()
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(a.state("VI_1"), "BACKUP");
    assert_eq!(b.state("VI_1"), "MASTER");
}

#[test]
fn preempt_delay_holds_the_stronger_node_back() {
    let lan = Lan::new(2);
    let b = Keeplite::start(
        &lan.hosts[1],
        &vrrp_conf("VI_1", 51, 100, &["192.0.2.100/24"], ""),
    );
    assert!(
        b.wait_state("VI_1", "MASTER", Duration::from_secs(10)),
        "{}",
        b.log()
    );
    let a = Keeplite::start(
        &lan.hosts[0],
        &vrrp_conf("VI_1", 51, 150, &["192.0.2.100/24"], "preempt_delay 4"),
    );
    let started = Instant::now();
    assert!(
        a.wait_state("VI_1", "BACKUP", Duration::from_secs(3)),
        "{}",
        a.log()
    );
    assert!(
        a.wait_state("VI_1", "MASTER", Duration::from_secs(15)),
        "{}",
        a.log()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "preempted after {:?}",
        started.elapsed()
    );
    assert!(
        b.wait_state("VI_1", "BACKUP", Duration::from_secs(5)),
        "{}",
        b.log()
    );
}

#[test]
fn vrrp_script_fall_and_rise_move_the_master() {
    let lan = Lan::new(2);
    let flag = std::env::temp_dir().join(format!("kl{}_script_fail", std::process::id()));
    let _ = std::fs::remove_file(&flag);
    let script = format!(
        "vrrp_script chk {{\n  script \"test ! -e {}\"\n  interval 1\n  weight -100\n  fall 2\n  rise 2\n}}\n",
        flag.display()
    );
    let a_conf = script
        + &vrrp_conf(
            "VI_1",
            51,
            150,
            &["192.0.2.100/24"],
            "track_script {\n    chk\n  }",
        );
    let a = Keeplite::start(&lan.hosts[0], &a_conf);
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
    std::fs::write(&flag, "").unwrap();
    assert!(
        b.wait_state("VI_1", "MASTER", Duration::from_secs(10)),
        "{}",
        a.log()
    );
    let st = a.status().unwrap();
    assert_eq!(st["instances"][0]["priority"], 50, "{st}");
    assert!(a.log().contains("vrrp_script chk: down"), "{}", a.log());
    std::fs::remove_file(&flag).unwrap();
    assert!(
        a.wait_state("VI_1", "MASTER", Duration::from_secs(10)),
        "{}",
        a.log()
    );
    assert!(a.log().contains("vrrp_script chk: up"), "{}", a.log());
}
