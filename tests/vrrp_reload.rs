//! Reload (SIGHUP and `keeplite reload`) applies only the difference; status and dumps (root).

mod common;

use common::{has_addr, vrrp_conf, wait_until, AddrWatch, Keeplite, Lan};
use std::time::Duration;

fn two_instances(vi2_vips: &[&str]) -> String {
    let mut c = vrrp_conf("VI_1", 51, 150, &["192.0.2.100/24"], "state MASTER");
    c.push_str(&vrrp_conf("VI_2", 52, 150, vi2_vips, "state MASTER"));
    c
}

/// Whether an `AddrWatch` saw `addr` deleted.
fn deleted(events: &str, addr: &str) -> bool {
    events
        .lines()
        .any(|l| l.starts_with("Deleted") && l.contains(addr))
}

/// Stops `watch`, asserts `addr` was never deleted (no flap), returns the events.
fn never_deleted(watch: AddrWatch, addr: &str) -> String {
    let events = watch.finish();
    assert!(!deleted(&events, addr), "{addr} flapped:\n{events}");
    events
}

#[test]
fn reload_keeps_unchanged_instances_untouched() {
    let lan = Lan::new(1);
    let h = &lan.hosts[0];
    let kl = Keeplite::start(h, &two_instances(&["192.0.2.200/24"]));
    assert!(
        kl.wait_state("VI_1", "MASTER", Duration::from_secs(10)),
        "{}",
        kl.log()
    );
    assert!(
        kl.wait_state("VI_2", "MASTER", Duration::from_secs(10)),
        "{}",
        kl.log()
    );
    let watch = AddrWatch::start(h);

    // Unchanged configuration, both ways of asking.
    let (ok, out) = kl.client(&["reload"]);
    assert!(ok, "{out}");
    kl.child.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(5), || kl
            .log()
            .matches("reload done")
            .count()
            == 2),
        "{}",
        kl.log()
    );
    // VI_2 gains an address; VI_1 must not notice.
    kl.write_conf(&two_instances(&["192.0.2.200/24", "192.0.2.201/24"]));
    let (ok, out) = kl.client(&["reload"]);
    assert!(ok, "{out}");
    assert!(
        kl.wait_state("VI_2", "MASTER", Duration::from_secs(10)),
        "{}",
        kl.log()
    );
    assert!(wait_until(Duration::from_secs(5), || has_addr(
        h,
        "eth0",
        "192.0.2.201"
    )));
    assert_eq!(kl.state("VI_1"), "MASTER");

    // An invalid configuration is refused with file:line, and nothing changes.
    kl.write_conf("vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 300\n}\n");
    let (ok, out) = kl.client(&["reload"]);
    assert!(!ok, "{out}");
    assert!(out.contains("keeplite.conf:3"), "{out}");
    assert_eq!(kl.state("VI_1"), "MASTER");
    assert_eq!(kl.state("VI_2"), "MASTER");

    never_deleted(watch, "192.0.2.100");
    let log = kl.log();
    assert_eq!(log.matches("VI_1: BACKUP -> MASTER").count(), 1, "{log}");
    assert!(has_addr(h, "eth0", "192.0.2.100"));
}

#[test]
fn status_text_and_sigusr1_dump() {
    let lan = Lan::new(1);
    let kl = Keeplite::start(
        &lan.hosts[0],
        &vrrp_conf("VI_1", 51, 120, &["192.0.2.100/24"], "state MASTER"),
    );
    assert!(
        kl.wait_state("VI_1", "MASTER", Duration::from_secs(10)),
        "{}",
        kl.log()
    );
    let (ok, text) = kl.client(&["status"]);
    assert!(ok, "{text}");
    assert!(text.lines().all(|l| l.len() <= 80), "{text}");
    assert!(
        text.contains("VI_1 eth0 vrid 51: MASTER prio 120/120 master 192.0.2.1"),
        "{text}"
    );
    assert!(text.contains("192.0.2.100/24 ("), "{text}");
    assert!(text.contains("BACKUP -> MASTER"), "{text}");
    kl.child.signal("USR1");
    assert!(wait_until(Duration::from_secs(5), || kl
        .log()
        .contains("VI_1 eth0 vrid 51: MASTER")));
}

#[test]
fn notify_scripts_run_with_keepalived_arguments() {
    use std::os::unix::fs::PermissionsExt;
    let lan = Lan::new(1);
    let dir = std::env::temp_dir().join(format!("kl{}_notify", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("notify.sh");
    let out = dir.join("calls");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let extra = format!(
        "state MASTER\n  notify {s}\n  notify_master \"{s} only-master\"",
        s = script.display()
    );
    let kl = Keeplite::start(
        &lan.hosts[0],
        &vrrp_conf("VI_1", 51, 120, &["192.0.2.100/24"], &extra),
    );
    kl.expect_state("VI_1", "MASTER", 10);
    let calls = || std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(5), || calls()
            .contains("INSTANCE VI_1 MASTER 120")
            && calls().contains("only-master")),
        "{}\n{}",
        calls(),
        kl.log()
    );
    assert!(calls().contains("INSTANCE VI_1 BACKUP 120"), "{}", calls());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn without_dash_n_it_detaches_and_writes_its_pid_file() {
    let lan = Lan::new(1);
    let pid_file = std::env::temp_dir().join(format!("kl{}_fork.pid", std::process::id()));
    let conf = vrrp_conf("VI_1", 51, 120, &["192.0.2.100/24"], "state MASTER");
    let mut kl = Keeplite::start_args(&lan.hosts[0], &conf, &["-p", pid_file.to_str().unwrap()]);
    // The launcher returns at once with success, as init systems expect of a forking daemon.
    let launched = kl
        .child
        .wait_timeout(Duration::from_secs(5))
        .expect("parent exits");
    assert!(launched.success());
    // The pid file is complete by then (init systems read it right away).
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_owned();
    kl.expect_state("VI_1", "MASTER", 10);
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid file names no live process"
    );
    // Signals go to the pid in the file, as with keepalived.
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(wait_until(Duration::from_secs(3), || !has_addr(
        &lan.hosts[0],
        "eth0",
        "192.0.2.100"
    )));
    assert!(wait_until(Duration::from_secs(3), || !pid_file.exists()));
}

#[test]
fn stale_vips_are_removed_before_anything_is_sent() {
    let lan = Lan::new(2);
    // A master is already there; h0 carries the VIP left over from an earlier life.
    let master = Keeplite::start(
        &lan.hosts[1],
        &vrrp_conf("VI_1", 51, 150, &["192.0.2.100/24"], ""),
    );
    master.expect_state("VI_1", "MASTER", 10);
    lan.hosts[0].sh("ip addr add 192.0.2.100/24 dev eth0");
    let kl = Keeplite::start(
        &lan.hosts[0],
        &vrrp_conf("VI_1", 51, 100, &["192.0.2.100/24"], ""),
    );
    kl.expect_state("VI_1", "BACKUP", 5);
    assert!(
        kl.log().contains("VI_1: removed stale VIP 192.0.2.100"),
        "{}",
        kl.log()
    );
    assert!(!has_addr(&lan.hosts[0], "eth0", "192.0.2.100"));
    assert!(has_addr(&lan.hosts[1], "eth0", "192.0.2.100"));
}

#[test]
fn an_instance_waits_for_its_interface() {
    let lan = Lan::new(1);
    let h = &lan.hosts[0];
    let conf = vrrp_conf("VI_9", 59, 120, &["198.51.100.100/24"], "state MASTER")
        .replace("interface eth0", "interface late0");
    let kl = Keeplite::start(h, &conf);
    assert!(wait_until(Duration::from_secs(5), || kl
        .log()
        .contains("waiting for it")));
    // keepalived (dynamic_interfaces) shows such an instance in FAULT: so does the status,
    // with the reason, in JSON and in text.
    assert_eq!(
        kl.state("VI_9"),
        "FAULT",
        "the daemon keeps running and says why"
    );
    let st = kl.status().unwrap();
    let t = &st["instances"][0]["last_transition"];
    assert_eq!((&t["from"], &t["to"]), (&"INIT".into(), &"FAULT".into()));
    assert_eq!(
        t["reason"],
        "interface `late0` does not exist (waiting for it)"
    );
    let (_, text) = kl.client(&["status"]);
    assert!(text.contains("VI_9 late0 vrid 59: FAULT"), "{text}");
    assert!(text.contains("INIT -> FAULT"), "{text}");
    h.sh(
        "ip link add late0 type veth peer name late1 && ip addr add 198.51.100.1/24 dev late0 \
          && ip link set late1 up && ip link set late0 up",
    );
    kl.expect_state("VI_9", "MASTER", 10);
    assert!(has_addr(h, "late0", "198.51.100.100"));
}

/// `tcpdump` of VRRP in a namespace, one line per advert, for checking what is on the wire.
struct Capture {
    _child: common::ChildGuard,
    out: std::path::PathBuf,
}

impl Capture {
    fn start(ns: &common::Netns) -> Capture {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let out = std::env::temp_dir().join(format!("kl{}_{n}cap", std::process::id()));
        let file = std::fs::File::create(&out).unwrap();
        let child = ns
            .command("tcpdump")
            .args(["-l", "-n", "-i", "eth0", "ip proto 112"])
            .stdin(std::process::Stdio::null())
            .stdout(file)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let cap = Capture {
            _child: common::ChildGuard(child),
            out,
        };
        // tcpdump prints nothing before it listens: wait for the first advert.
        assert!(wait_until(Duration::from_secs(5), || !cap
            .text()
            .is_empty()));
        cap
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.out);
    }
}

/// h0 MASTER at priority `prio` with `vips`, h1 BACKUP at 100, both VRID 51.
fn pair(prio: u8, vips: &[&str]) -> (Lan, Keeplite, Keeplite) {
    let lan = Lan::new(2);
    let master = Keeplite::start(
        &lan.hosts[0],
        &vrrp_conf("VI_1", 51, prio, vips, "state MASTER"),
    );
    master.expect_state("VI_1", "MASTER", 10);
    let backup = Keeplite::start(&lan.hosts[1], &vrrp_conf("VI_1", 51, 100, vips, ""));
    backup.expect_state("VI_1", "BACKUP", 10);
    (lan, master, backup)
}

fn reload(kl: &Keeplite, conf: &str) {
    kl.write_conf(conf);
    let (ok, out) = kl.client(&["reload"]);
    assert!(ok, "{out}");
}

#[test]
fn reload_reconfigures_a_master_in_place_without_flap() {
    let (lan, master, backup) = pair(150, &["192.0.2.100/24"]);
    let h0 = &lan.hosts[0];
    let watch = AddrWatch::start(h0);
    let cap = Capture::start(&lan.hosts[1]);

    // (a) A VIP added: it appears, the old one stays.
    let vips = ["192.0.2.100/24", "192.0.2.101/24"];
    reload(&master, &vrrp_conf("VI_1", 51, 150, &vips, "state MASTER"));
    assert!(wait_until(Duration::from_secs(5), || has_addr(
        h0,
        "eth0",
        "192.0.2.101"
    )));
    assert!(master
        .log()
        .contains("VI_1: reconfigured in place (+1 VIP)"));
    // The backup learns the new address list from the next advert.
    reload(&backup, &vrrp_conf("VI_1", 51, 100, &vips, ""));

    // (c) Priority changed, still the highest: the peer sees it on the wire at once.
    reload(&master, &vrrp_conf("VI_1", 51, 140, &vips, "state MASTER"));
    assert!(
        wait_until(Duration::from_secs(3), || cap
            .text()
            .lines()
            .any(|l| l.contains("192.0.2.1 >") && l.contains("prio 140"))),
        "{}",
        cap.text()
    );
    assert!(master
        .log()
        .contains("VI_1: reconfigured in place (priority 150 -> 140)"));
    // Two more priority-140 adverts reach the backup: nobody moves.
    let received = || backup.status().unwrap()["instances"][0]["adverts_received"].as_u64();
    let base = received().unwrap();
    assert!(wait_until(Duration::from_secs(10), || received()
        .is_some_and(|n| n >= base + 2)));
    assert_eq!(master.state("VI_1"), "MASTER");
    assert_eq!(backup.state("VI_1"), "BACKUP");

    never_deleted(watch, "192.0.2.100");
    let (mlog, blog) = (master.log(), backup.log());
    assert_eq!(mlog.matches("VI_1: BACKUP -> MASTER").count(), 1, "{mlog}");
    assert!(!mlog.contains("MASTER -> "), "{mlog}");
    assert!(!blog.contains("-> MASTER"), "{blog}");
    assert!(has_addr(h0, "eth0", "192.0.2.100"));
}

#[test]
fn reload_below_the_backup_hands_over_through_the_protocol() {
    let (lan, master, backup) = pair(150, &["192.0.2.100/24"]);
    reload(
        &master,
        &vrrp_conf("VI_1", 51, 90, &["192.0.2.100/24"], "state MASTER"),
    );
    // (b) The preempting backup discards the priority-90 adverts and takes over.
    backup.expect_state("VI_1", "MASTER", 10);
    master.expect_state("VI_1", "BACKUP", 5);
    let log = master.log();
    assert!(
        log.contains("VI_1: reconfigured in place (priority 150 -> 90)"),
        "{log}"
    );
    assert!(log.contains("VI_1: MASTER -> BACKUP"), "{log}");
    assert!(wait_until(Duration::from_secs(3), || !has_addr(
        &lan.hosts[0],
        "eth0",
        "192.0.2.100"
    )));
}

#[test]
fn reload_restarts_only_the_instance_that_cannot_change_in_place() {
    let lan = Lan::new(1);
    let h = &lan.hosts[0];
    let conf = |prio1: u8, vrid2: u8| {
        let mut c = vrrp_conf("VI_1", 51, prio1, &["192.0.2.100/24"], "state MASTER");
        c.push_str(&vrrp_conf(
            "VI_2",
            vrid2,
            150,
            &["192.0.2.200/24"],
            "state MASTER",
        ));
        c
    };
    let kl = Keeplite::start(h, &conf(150, 52));
    kl.expect_state("VI_1", "MASTER", 10);
    kl.expect_state("VI_2", "MASTER", 10);
    let watch = AddrWatch::start(h);
    // VI_1 in place, VI_2 on another VRID: restarted.
    reload(&kl, &conf(140, 53));
    assert!(
        wait_until(Duration::from_secs(10), || kl
            .log()
            .matches("VI_2: BACKUP -> MASTER")
            .count()
            == 2),
        "{}",
        kl.log()
    );
    let log = kl.log();
    assert!(
        log.contains("VI_2: virtual_router_id changed: restarting"),
        "{log}"
    );
    assert!(log.contains("VI_2: MASTER -> INIT"), "{log}");
    assert!(log.contains("VI_1: reconfigured in place (priority 150 -> 140)"));
    assert_eq!(log.matches("VI_1: BACKUP -> MASTER").count(), 1, "{log}");
    let events = never_deleted(watch, "192.0.2.100");
    assert!(deleted(&events, "192.0.2.200"), "{events}");
}
