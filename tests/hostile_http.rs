//! Hostile real servers (tests/http_servers.py) against the daemon's HTTP_GET checks (root,
//! network namespaces): 1 MB of headers, an endless body, slowloris headers and a garbage
//! status line. Each check fails at its bound (size or timeout), keeplite's memory stays small,
//! and its loop keeps advertising: the backup on the same LAN never takes over.

mod common;

use common::{vrrp_conf, wait_until, ChildGuard, Keeplite, Lan, Netns};
use serde_json::Value;
use std::time::Duration;

/// The checker tests' real servers (`port:mode` each), counting connections in a directory.
const SERVERS: &str = include_str!("http_servers.py");

const MODES: [(u16, &str, &str); 4] = [
    (8001, "bigheaders", "HTTP header too large"),
    (8002, "endless", "response not complete after 3 s"),
    (8003, "slowloris", "response not complete after 3 s"),
    (8004, "garbage", "malformed HTTP response"),
];

fn hostile(ns: &Netns, dir: &std::path::Path) -> ChildGuard {
    let count = format!("KLCOUNT={}", dir.display());
    let flag = dir.join("unused-flag");
    let mut args = vec![
        "KLBIND=127.0.0.2",
        &count,
        "/usr/bin/python3",
        "-c",
        SERVERS,
        flag.to_str().unwrap(),
    ];
    let modes: Vec<String> = MODES.iter().map(|(p, m, _)| format!("{p}:{m}")).collect();
    args.extend(modes.iter().map(String::as_str));
    let g = ns.spawn("env", &args);
    assert!(wait_until(Duration::from_secs(10), || dir
        .join("ready")
        .exists()));
    g
}

fn conf(prio: u8) -> String {
    vrrp_conf("VI_1", 51, prio, &["192.0.2.100/24"], "")
}

/// The peak resident memory of process `pid`, in KiB.
fn vm_hwm(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn connections(dir: &std::path::Path, port: u16) -> usize {
    std::fs::read_to_string(dir.join(port.to_string())).map_or(0, |s| s.lines().count())
}

#[test]
fn hostile_http_servers_fail_their_checks_and_the_loop_keeps_running() {
    let lan = Lan::new(2);
    let h = &lan.hosts[0];
    h.sh("ip addr add 127.0.0.2/8 dev lo");
    let dir = std::env::temp_dir().join(format!("kl{}_hostile", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _srv = hostile(h, &dir);
    let mut c = conf(150);
    c.push_str("virtual_server 10.9.0.1 80 {\n  delay_loop 1\n  protocol TCP\n");
    for (port, _, _) in MODES {
        c.push_str(&format!(
            "  real_server 127.0.0.2 {port} {{\n    HTTP_GET {{\n      url {{\n        \
             path /\n      }}\n      connect_timeout 1\n      retry 0\n    }}\n  }}\n"
        ));
    }
    c.push_str("}\n");
    let a = Keeplite::start(h, &c);
    let b = Keeplite::start(&lan.hosts[1], &conf(100));
    a.expect_state("VI_1", "MASTER", 10);
    b.expect_state("VI_1", "BACKUP", 5);
    // Every server is down for its own reason...
    for (port, mode, reason) in MODES {
        let addr = format!("127.0.0.2:{port}");
        let mut last = Value::Null;
        let ok = wait_until(Duration::from_secs(20), || {
            let st = a.status().unwrap_or_default();
            last = st["virtual_servers"][0]["real_servers"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["addr"] == addr.as_str()).cloned())
                .unwrap_or_default();
            last["up"] == false && last["last"]["reason"] == reason
        });
        assert!(
            ok,
            "{mode}: last seen {last}\n{:?}\n{}",
            a.client(&["status", "--json"]),
            a.log()
        );
    }
    // ...and keeps attacking: three more rounds of each.
    let rounds: Vec<usize> = MODES.iter().map(|m| connections(&dir, m.0)).collect();
    let again = wait_until(Duration::from_secs(30), || {
        MODES
            .iter()
            .zip(&rounds)
            .all(|(m, n)| connections(&dir, m.0) >= n + 3)
    });
    assert!(again, "the checks stopped\n{}", a.log());
    let hwm = vm_hwm(a.child.pid());
    eprintln!("keeplite peak RSS under attack: {hwm} KiB");
    assert!(hwm < 16 * 1024, "keeplite peaked at {hwm} KiB");
    // The loop kept advertising all along: the backup never took over.
    assert_eq!(a.state("VI_1"), "MASTER");
    assert_eq!(b.state("VI_1"), "BACKUP");
    assert!(!b.log().contains("-> MASTER"), "{}", b.log());
    let _ = std::fs::remove_dir_all(&dir);
}
