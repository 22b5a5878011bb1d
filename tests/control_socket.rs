//! The control socket under attack (issue 9 item 5): a local unprivileged user racing the
//! daemon's startup, a client flooding requests without reading, descriptors running out.
//! Daemons run in network namespaces; clients reach them through the file system.

mod common;

use common::{spawn_logged, vrrp_conf, wait_until, Keeplite, Lan, Netns};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const KEEPLITE: &str = env!("CARGO_BIN_EXE_keeplite");

/// A lone keeplite that became master, on a one-host LAN.
fn master() -> (Lan, Keeplite) {
    let lan = Lan::new(1);
    let k = Keeplite::start(
        &lan.hosts[0],
        &vrrp_conf("VI_1", 51, 150, &["192.0.2.100/24"], ""),
    );
    k.expect_state("VI_1", "MASTER", 10);
    (lan, k)
}

fn proc_status(pid: i32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn adverts_sent(k: &Keeplite) -> Option<u64> {
    k.status()?["instances"][0]["adverts_sent"].as_u64()
}

/// `keeplite ARGS --control SOCK` as user nobody; whether it succeeded.
fn as_nobody(args: &[&str], sock: &Path) -> (bool, String) {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", KEEPLITE])
        .args(args)
        .arg("--control")
        .arg(sock)
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Started with umask 000, the daemon's socket must never be reachable by another user, not
/// even for a moment at startup. strace holds the daemon in its chmod call for two seconds
/// (the window a plain bind-then-chmod leaves open) while user nobody keeps trying to reload.
#[test]
fn socket_is_never_reachable_by_other_users() {
    let ns = Netns::new("cs");
    let dir = std::env::temp_dir().join(format!("kl{}_cs_umask", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keeplite.conf");
    std::fs::write(&conf, "global_defs {\n  router_id t\n}\n").unwrap();
    let sock = dir.join("ctl.sock");
    let mut daemon = ns.command("sh");
    daemon
        .arg("-c")
        .arg(
            "umask 000; exec strace -f -qq -o /dev/null -e trace=chmod,fchmodat \
             -e inject=chmod,fchmodat:delay_enter=2000000 \"$0\" \"$@\"",
        )
        .arg(KEEPLITE)
        .args(["-n", "-l", "-f"])
        .arg(&conf)
        .arg("--control")
        .arg(&sock);
    let _daemon = spawn_logged(daemon, &dir);
    let root_status = || {
        Command::new(KEEPLITE)
            .args(["status", "--control"])
            .arg(&sock)
            .output()
            .unwrap()
            .status
            .success()
    };
    let end = Instant::now() + Duration::from_secs(30);
    let mut attempts = 0;
    let mut breach = None;
    while Instant::now() < end {
        attempts += 1;
        let (ok, text) = as_nobody(&["reload"], &sock);
        if ok {
            breach = Some(text);
            break;
        }
        if sock.exists() && root_status() {
            break;
        }
    }
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    assert!(
        breach.is_none(),
        "user nobody reloaded the daemon after {attempts} attempts: {breach:?}\n{log}"
    );
    assert!(root_status(), "the daemon never answered root:\n{log}");
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, 0), "{log}");
    // Only the socket and the daemon's own files are left in the directory.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["ctl.sock", "keeplite.conf", "keeplite.conf.good", "log"]
    );
    drop(ns);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client writing 10 MB of status requests and never reading its answers: the daemon
/// answers only as fast as that client reads, stays small, keeps advertising and serving
/// others, and drops the client once it stalls.
#[test]
fn non_reading_flood_is_bounded_and_dropped() {
    let (_lan, k) = master();
    let pid = k.child.pid();
    let sock = k.dir.join("ctl.sock");
    let mut flood = UnixStream::connect(&sock).unwrap();
    let writer = std::thread::spawn(move || {
        let req = [1, 0, 0, 0, 0]; // one frame: Request::Status
        let burst: Vec<u8> = req.iter().copied().cycle().take(10 << 20).collect();
        let r = flood.write_all(&burst);
        (r, flood)
    });
    // While the flood is on, adverts go out and other clients are answered.
    let before = adverts_sent(&k).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || adverts_sent(&k)
            .is_some_and(|n| n >= before + 2)),
        "adverts stopped during the flood:\n{}",
        k.log()
    );
    let (written, _flood) = writer.join().unwrap();
    assert!(
        written.is_err(),
        "the daemon swallowed all 10 MB instead of dropping the client"
    );
    let hwm_kb = proc_status(pid, "VmHWM:");
    assert!(hwm_kb < 32 * 1024, "peak RSS {hwm_kb} kB during the flood");
    assert_eq!(k.state("VI_1"), "MASTER", "{}", k.log());
}

/// Out of file descriptors, a pending connection keeps the listener readable: the daemon must
/// back off (one log line, not millions) and serve again once descriptors are back.
#[test]
fn accept_backs_off_when_descriptors_run_out() {
    let (_lan, k) = master();
    let pid = k.child.pid();
    let open: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
        .collect();
    let lowest_free = (0..).find(|n| !open.contains(n)).unwrap();
    let prlimit = |n: &str| {
        let ok = Command::new("prlimit")
            .arg(format!("--pid={pid}"))
            .arg(format!("--nofile={n}"))
            .status()
            .unwrap()
            .success();
        assert!(ok, "prlimit --nofile={n}");
    };
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let nofile = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .skip(3)
        .take(2)
        .collect::<Vec<_>>()
        .join(":");
    // The soft limit only: raising a hard limit again needs CAP_SYS_RESOURCE.
    let hard = nofile.split(':').nth(1).unwrap();
    prlimit(&format!("{lowest_free}:{hard}"));
    let started = Instant::now();
    let _waiting = UnixStream::connect(k.dir.join("ctl.sock")).unwrap();
    let emfile = "Too many open files";
    assert!(
        wait_until(Duration::from_secs(10), || k.log().contains(emfile)),
        "accept never failed:\n{}",
        k.log()
    );
    prlimit(&nofile);
    assert!(
        wait_until(Duration::from_secs(10), || k.status().is_some()),
        "the daemon does not serve again once descriptors are back:\n{}",
        k.log()
    );
    let lines = k.log().lines().filter(|l| l.contains(emfile)).count() as u64;
    let allowed = 1 + started.elapsed().as_secs() / 60;
    assert!(
        lines <= allowed,
        "{lines} lines about {emfile} in {:?}",
        started.elapsed()
    );
    assert_eq!(k.state("VI_1"), "MASTER");
}
