//! The network-namespace harness of every Rust test that needs one (run as root); its shell
//! twin, for the demo and the benches, is tests/lib/netns.sh (same rules, same topology verbs:
//! `Netns::new` / `netns_new`, `Netns::bridge` / `netns_bridge`, `plug` / `netns_plug`).
//!
//! Every namespace is named `kl<pid>_<counter><tag>` so concurrent test runs on one machine
//! never collide, and is deleted on drop (after killing what still runs in it, which also
//! destroys the veths and bridges in it), even when the test panics. Links are created inside
//! namespaces only, never in the root one.
#![allow(dead_code)] // each test binary uses a different subset

use std::fs::File;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A network namespace owned by the test.
pub struct Netns {
    pub name: String,
}

fn check(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Netns {
    /// Creates the namespace with `lo` up. `tag` (a few letters) helps reading `ip netns`.
    pub fn new(tag: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("kl{}_{}{}", std::process::id(), n, tag);
        check(
            "ip netns add",
            Command::new("ip")
                .args(["netns", "add", &name])
                .output()
                .unwrap(),
        );
        let ns = Netns { name };
        ns.sh("ip link set lo up");
        ns
    }

    /// Runs a shell command inside the namespace; panics with its stderr when it fails.
    pub fn sh(&self, cmd: &str) -> String {
        check(cmd, self.sh_output(cmd))
    }

    /// Runs a shell command inside the namespace and returns its output, success or not.
    pub fn sh_output(&self, cmd: &str) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c", cmd])
            .output()
            .unwrap()
    }

    /// A `Command` that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Starts a long-running process in the namespace; it is killed when the guard drops.
    pub fn spawn(&self, program: &str, args: &[&str]) -> ChildGuard {
        let child = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        ChildGuard(child)
    }

    /// Adds bridge `br`, up and forwarding at once (no STP delay), with `addr` (`a.b.c.d/len`)
    /// if given: the "switch" of a LAN, or the host side of VMs' taps.
    pub fn bridge(&self, br: &str, addr: Option<&str>) {
        self.sh(&format!(
            "ip link add {br} type bridge forward_delay 0 && ip link set {br} up"
        ));
        if let Some(a) = addr {
            self.sh(&format!("ip addr add {a} dev {br}"));
        }
    }

    /// Runs `f` on a fresh thread that has joined this namespace, so sockets and netlink
    /// handles it opens live there; the test's own thread stays where it was.
    pub fn enter<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let fd = File::open(&path).unwrap();
            nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Kill anything still running inside first, or the namespace would outlive us.
        let _ = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            });
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Kills (SIGKILL) and reaps the child on drop.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// Sends a signal by number (e.g. `libc`-free: 15 for TERM, 19 for STOP).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.0.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for exit up to `limit`; `None` if still running.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A veth pair between two namespaces: `a_if` in `a`, `b_if` in `b`, both up.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    a.sh(&format!(
        "ip link add {a_if} type veth peer name {b_if} netns {} && ip link set {a_if} up",
        b.name
    ));
    b.sh(&format!("ip link set {b_if} up"));
}

/// Plugs `host`'s interface `host_if` into bridge `br` of `switch` by a veth whose switch end
/// is `port`; both ends up.
pub fn plug(switch: &Netns, br: &str, port: &str, host: &Netns, host_if: &str) {
    veth(switch, port, host, host_if);
    switch.sh(&format!("ip link set {port} master {br}"));
}

/// A LAN: `n` hosts, each with `eth0` plugged into bridge `br0` of a switch namespace.
/// Host `i` (0-based) has 192.0.2.(i+1)/24 and 2001:db8::(i+1)/64 (documentation ranges,
/// reachable only inside these namespaces).
pub struct Lan {
    pub hosts: Vec<Netns>,
    pub switch: Netns,
}

impl Lan {
    pub fn new(n: usize) -> Lan {
        let switch = Netns::new("sw");
        switch.bridge("br0", None);
        let mut hosts = Vec::new();
        for i in 0..n {
            let h = Netns::new(&format!("h{i}"));
            // No DAD: link-local sources are usable at once, as on a settled LAN.
            h.sh("sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
            plug(&switch, "br0", &format!("p{i}"), &h, "eth0");
            h.sh(&format!(
                "ip addr add 192.0.2.{}/24 dev eth0 && ip -6 addr add 2001:db8::{}/64 dev eth0 nodad",
                i + 1,
                i + 1
            ));
            hosts.push(h);
        }
        Lan { hosts, switch }
    }

    pub fn addr4(i: usize) -> String {
        format!("192.0.2.{}", i + 1)
    }

    /// Takes host `i`'s switch port down or up (a cable pull at the switch).
    pub fn set_port(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        self.switch.sh(&format!("ip link set p{i} {state}"));
    }
}

impl Lan {
    /// Cuts host `i` off from the others at the switch while its link stays up (a partition,
    /// not a cable pull): bridge ports marked isolated do not forward to each other.
    pub fn isolate(&self, i: usize, on: bool) {
        let v = if on { "on" } else { "off" };
        self.switch
            .sh(&format!("bridge link set dev p{i} isolated {v}"));
    }
}

/// Polls `cond` every 10 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `addr` (without prefix) is configured on `dev` in `ns`.
pub fn has_addr(ns: &Netns, dev: &str, addr: &str) -> bool {
    let out = ns.sh(&format!("ip -o addr show dev {dev}"));
    out.split_whitespace()
        .any(|w| w.split('/').next() == Some(addr))
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory `kl<pid>_<n><tag>` under the temp dir for one daemon's files.
fn private_dir(tag: &str) -> std::path::PathBuf {
    let n = DIRS.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("kl{}_{}{}", std::process::id(), n, tag));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A scratch directory for a test's files, removed on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir(private_dir(tag))
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Spawns `cmd` with stdout and stderr going to `dir/log`.
pub fn spawn_logged(mut cmd: Command, dir: &std::path::Path) -> ChildGuard {
    let log = File::create(dir.join("log")).unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    ChildGuard(child)
}

/// `ip -o monitor address` in a namespace, for asserting that addresses never flapped.
/// Rtnetlink events come in order: a marker address added on `lo` and seen in the output
/// proves that the monitor listens (in `start`) and that every earlier event was read (in
/// `finish`). Marker lines are left out of what `finish` returns.
pub struct AddrWatch {
    child: Option<Child>,
    ns: String,
    out: std::sync::Arc<std::sync::Mutex<String>>,
    markers: usize,
}

const WATCH_MARKER: &str = "127.77.0.";

impl AddrWatch {
    pub fn start(ns: &Netns) -> AddrWatch {
        let mut child = ns
            .command("ip")
            .args(["-o", "monitor", "address"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (mut stdout, sink) = (child.stdout.take().unwrap(), out.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = std::io::Read::read(&mut stdout, &mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut w = AddrWatch {
            child: Some(child),
            ns: ns.name.clone(),
            out,
            markers: 0,
        };
        w.sync();
        w
    }

    /// Adds marker addresses until the monitor reports one (until it has subscribed, markers
    /// go unseen).
    fn sync(&mut self) {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            self.markers += 1;
            let marker = format!("{WATCH_MARKER}{}/32", self.markers);
            let ok = Command::new("ip")
                .args(["-n", &self.ns, "addr", "add", &marker, "dev", "lo"])
                .status()
                .unwrap()
                .success();
            assert!(ok, "cannot add marker {marker}");
            let out = &self.out;
            if wait_until(Duration::from_millis(500), || {
                out.lock().unwrap().contains(&marker)
            }) {
                return;
            }
        }
        panic!("ip monitor in {} reported no marker address", self.ns);
    }

    /// Reads every event up to now, stops watching and returns the events seen.
    pub fn finish(mut self) -> String {
        self.sync();
        let text = self.out.lock().unwrap().clone();
        text.lines()
            .filter(|l| !l.contains(WATCH_MARKER))
            .map(|l| format!("{l}\n"))
            .collect()
    }
}

impl Drop for AddrWatch {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `tcpdump ARGS` in `ns`, returned once it listens with its filter attached (it says so on
/// stderr); its stdout is piped. Killed on drop.
pub fn tcpdump(ns: &Netns, args: &[&str]) -> ChildGuard {
    let mut dump = ChildGuard(
        ns.command("tcpdump")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = std::io::BufReader::new(dump.0.stderr.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0 {
        if line.contains("listening on") {
            // Keep draining stderr so tcpdump never blocks on it.
            std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
            return dump;
        }
        line.clear();
    }
    panic!("tcpdump {args:?} in {} did not start", ns.name);
}

/// A keeplite daemon running in a namespace, with its own config, log and control socket in a
/// private directory (removed on drop, after the daemon is killed).
pub struct Keeplite {
    pub child: ChildGuard,
    pub dir: std::path::PathBuf,
}

impl Keeplite {
    pub fn conf_path(dir: &std::path::Path) -> std::path::PathBuf {
        dir.join("keeplite.conf")
    }

    /// Starts `keeplite -n -l` (foreground, log to the console).
    pub fn start(ns: &Netns, conf: &str) -> Keeplite {
        Self::start_args(ns, conf, &["-n", "-l"])
    }

    /// Starts keeplite with `args` besides its config and control socket.
    pub fn start_args(ns: &Netns, conf: &str, args: &[&str]) -> Keeplite {
        let dir = private_dir("d");
        let conf_path = Self::conf_path(&dir);
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = ns.command(env!("CARGO_BIN_EXE_keeplite"));
        cmd.arg("-f")
            .arg(&conf_path)
            .args(args)
            .arg("--control")
            .arg(dir.join("ctl.sock"));
        let child = spawn_logged(cmd, &dir);
        Keeplite { child, dir }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Rewrites the configuration file (for reload tests).
    pub fn write_conf(&self, conf: &str) {
        std::fs::write(Self::conf_path(&self.dir), conf).unwrap();
    }

    /// Runs `keeplite ARGS --control SOCK` and returns (success, stdout+stderr).
    pub fn client(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_keeplite"))
            .args(args)
            .arg("--control")
            .arg(self.dir.join("ctl.sock"))
            .output()
            .unwrap();
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// `keeplite status --json`, or `None` while the daemon does not answer.
    pub fn status(&self) -> Option<serde_json::Value> {
        let (ok, text) = self.client(&["status", "--json"]);
        ok.then(|| serde_json::from_str(&text).unwrap())
    }

    /// The state of instance `name` (`MASTER`, `BACKUP`, ...), or "" if unknown.
    pub fn state(&self, name: &str) -> String {
        self.status()
            .and_then(|s| {
                s["instances"]
                    .as_array()?
                    .iter()
                    .find(|i| i["name"] == name)
                    .map(|i| i["state"].as_str().unwrap_or("").to_owned())
            })
            .unwrap_or_default()
    }

    pub fn wait_state(&self, name: &str, state: &str, limit: Duration) -> bool {
        wait_until(limit, || self.state(name) == state)
    }

    /// Asserts that instance `name` reaches `state` within `secs` seconds (log on failure).
    pub fn expect_state(&self, name: &str, state: &str, secs: u64) {
        let ok = self.wait_state(name, state, Duration::from_secs(secs));
        if !ok {
            // What the daemon says now tells a late transition from an unanswered request.
            let (_, now) = self.client(&["status"]);
            panic!(
                "{name} never reached {state} in {secs} s; status now:\n{now}\nlog:\n{}",
                self.log()
            );
        }
    }
}

impl Drop for Keeplite {
    fn drop(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        if std::thread::panicking() {
            eprintln!("--- keeplite log ({}):\n{}", self.dir.display(), self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A minimal one-instance configuration: `extra` goes inside the vrrp_instance block.
pub fn vrrp_conf(name: &str, vrid: u8, prio: u8, vips: &[&str], extra: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n  interface eth0\n  virtual_router_id {vrid}\n  priority {prio}\n  \
         advert_int 1\n  {extra}\n  virtual_ipaddress {{\n    {}\n  }}\n}}\n",
        vips.join("\n    ")
    )
}

/// Debian's keepalived running in a namespace (`-n -l -D`), with private pid files.
pub struct Keepalived {
    pub child: ChildGuard,
    pub dir: std::path::PathBuf,
}

impl Keepalived {
    pub fn start(ns: &Netns, conf: &str) -> Keepalived {
        let dir = private_dir("k");
        std::fs::write(dir.join("keepalived.conf"), conf).unwrap();
        let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
        let mut cmd = ns.command("keepalived");
        cmd.args(["-n", "-l", "-D", "-f", &p("keepalived.conf")])
            .args(["-p", &p("k.pid"), "-r", &p("v.pid"), "-c", &p("c.pid")]);
        let child = spawn_logged(cmd, &dir);
        Keepalived { child, dir }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Asserts that keepalived logs `needle` within `secs` seconds (its log on failure).
    pub fn expect_log(&self, needle: &str, secs: u64) {
        let ok = wait_until(Duration::from_secs(secs), || self.log().contains(needle));
        assert!(ok, "keepalived never logged {needle:?}:\n{}", self.log());
    }

    /// SIGTERM and wait for a clean exit (keepalived sends priority-0 adverts on the way).
    pub fn stop(&mut self) {
        self.child.signal("TERM");
        assert!(
            self.child.wait_timeout(Duration::from_secs(10)).is_some(),
            "keepalived did not stop"
        );
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        // Its VRRP child is in the namespace too and dies with it (Netns drop kills all).
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- keepalived log ({}):\n{}",
                self.dir.display(),
                self.log()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
