//! `vrrp_track_process` end to end (root). A tracked process is a copy of `sleep` under a name
//! of its own (its `comm`), so nothing else on the machine matches it.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{vrrp_conf, wait_until, ChildGuard, Keepalived, Keeplite, Lan, TempDir};
use keeplite::proto::cn_proc::Event;
use keeplite::sys::track_process::{ident, Connector};

/// A copy of `sleep` named `kltp<pid><tag>` (at most 15 bytes: all of it is the `comm`).
fn program(dir: &TempDir, tag: &str) -> (std::path::PathBuf, String) {
    let name = format!("kltp{}{tag}", std::process::id() % 100_000);
    let path = dir.join(&name);
    std::fs::copy("/bin/sleep", &path).unwrap();
    (path, name)
}

/// Starts the copy. Another test thread forking while `program` still had the copy open for
/// writing leaves that descriptor in its child until the child execs: exec of the copy then
/// fails with ETXTBSY for a moment, so it is retried.
fn run(path: &std::path::Path) -> ChildGuard {
    let mut tries = 0;
    loop {
        match Command::new(path).arg("1000").spawn() {
            Ok(c) => return ChildGuard(c),
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
}

fn stop(mut p: ChildGuard) {
    p.0.kill().unwrap();
    p.0.wait().unwrap();
}

fn tracking(name: &str, weight: i32) -> String {
    format!("vrrp_track_process svc {{\n  process {name}\n  weight {weight}\n}}\n")
}

fn priority(k: &Keeplite) -> i64 {
    k.status().unwrap()["instances"][0]["priority"]
        .as_i64()
        .unwrap()
}

#[test]
fn the_master_yields_while_its_process_is_gone_and_takes_over_when_it_is_back() {
    let dir = TempDir::new("tp");
    let (path, name) = program(&dir, "a");
    let lan = Lan::new(2);
    let mut proc1 = Some(run(&path));
    let conf = tracking(&name, -60)
        + &vrrp_conf(
            "VI_1",
            61,
            150,
            &["192.0.2.100/24"],
            "track_process {\n    svc\n  }",
        );
    let a = Keeplite::start(&lan.hosts[0], &conf);
    // keepalived 2.2.7 as the peer, not tracking anything.
    let k = Keepalived::start(
        &lan.hosts[1],
        &vrrp_conf("VI_1", 61, 120, &["192.0.2.100/24"], ""),
    );
    a.expect_state("VI_1", "MASTER", 10);
    assert_eq!(priority(&a), 150);
    k.expect_log("(VI_1) Entering BACKUP STATE", 10);
    // In a network namespace the kernel's process events are unavailable: /proc is scanned.
    assert!(
        a.log().contains("scanning /proc every second"),
        "{}",
        a.log()
    );

    // 150 - 60 = 90 < 120: keepalived preempts.
    stop(proc1.take().unwrap());
    k.expect_log("(VI_1) Entering MASTER STATE", 10);
    a.expect_state("VI_1", "BACKUP", 10);
    assert_eq!(priority(&a), 90);
    assert!(a.log().contains("track_process svc: quorum lost"));

    // Back: 150 again, and keeplite preempts in turn.
    let _proc2 = run(&path);
    a.expect_state("VI_1", "MASTER", 10);
    assert_eq!(priority(&a), 150);
    assert!(a.log().contains("track_process svc: quorum gained"));
}

#[test]
fn weight_zero_faults_without_the_quorum() {
    let dir = TempDir::new("tp");
    let (path, name) = program(&dir, "b");
    let lan = Lan::new(1);
    let conf = format!(
        "vrrp_track_process svc {{\n  process {name}\n  quorum 2\n}}\n{}",
        vrrp_conf(
            "VI_1",
            62,
            100,
            &["192.0.2.100/24"],
            "track_process {\n    svc\n  }"
        )
    );
    let a = Keeplite::start(&lan.hosts[0], &conf);
    a.expect_state("VI_1", "FAULT", 10);
    let _one = run(&path);
    let two = run(&path);
    a.expect_state("VI_1", "MASTER", 10);
    stop(two);
    a.expect_state("VI_1", "FAULT", 10);
}

/// keepalived with the same tracking in a network namespace: its subscription to process
/// events is refused there and it counts no process at all, so the priority is lowered
/// although the process runs. keeplite scans /proc instead (the test above).
#[test]
fn keepalived_in_a_namespace_does_not_see_the_process() {
    let dir = TempDir::new("tp");
    let (path, name) = program(&dir, "c");
    let _running = run(&path);
    let lan = Lan::new(1);
    let conf = tracking(&name, -60)
        + &vrrp_conf(
            "VI_1",
            63,
            150,
            &["192.0.2.100/24"],
            "track_process {\n    svc\n  }",
        );
    let k = Keepalived::start(&lan.hosts[0], &conf);
    k.expect_log("Failed to set/clear process event listen", 10);
    k.expect_log("(VI_1) Changing effective priority from 150 to 90", 10);
}

/// The kernel's process events, as the daemon reads them where they are available (the
/// initial network namespace; no network traffic involved).
#[test]
fn the_proc_connector_reports_exec_and_exit() {
    let dir = TempDir::new("tp");
    let (path, name) = program(&dir, "d");
    let conn = Connector::open().expect("proc connector (needs root in the initial namespace)");
    let p = run(&path);
    let pid = p.0.id();
    let mut events = Vec::new();
    let mut seen = |want: Event| {
        wait_until(Duration::from_secs(10), || {
            // ENOBUFS (events dropped while other tests fork a lot) is survivable: the
            // daemon rescans then; here the events still queued are read on.
            if let Err(e) = conn.recv(&mut events) {
                assert_eq!(e.raw_os_error(), Some(libc::ENOBUFS), "{e}");
            }
            events.contains(&want)
        })
    };
    assert!(seen(Event::Exec { pid }));
    let (comm, _) = ident(&pid.to_string(), true, false);
    assert_eq!(comm.as_deref(), Some(name.as_bytes()));
    stop(p);
    assert!(seen(Event::Exit { pid }));
}

#[test]
fn a_reload_applies_the_new_weight_to_the_current_count() {
    let dir = TempDir::new("tp");
    let (path, name) = program(&dir, "e");
    let lan = Lan::new(1);
    let conf = |weight| {
        tracking(&name, weight)
            + &vrrp_conf(
                "VI_1",
                67,
                150,
                &["192.0.2.100/24"],
                "track_process {\n    svc\n  }",
            )
    };
    let a = Keeplite::start(&lan.hosts[0], &conf(-60));
    a.expect_state("VI_1", "MASTER", 10);
    assert!(wait_until(Duration::from_secs(10), || priority(&a) == 90));
    a.write_conf(&conf(-30));
    let (ok, out) = a.client(&["reload"]);
    assert!(ok, "{out}");
    assert!(wait_until(Duration::from_secs(10), || priority(&a) == 120));
    // The reloaded tracking still follows the process.
    let _p = run(&path);
    assert!(
        wait_until(Duration::from_secs(10), || priority(&a) == 150),
        "{}",
        a.log()
    );
    assert_eq!(a.state("VI_1"), "MASTER");
}
