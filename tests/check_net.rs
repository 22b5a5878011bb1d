//! Checkers against real servers inside a network namespace each test creates (needs root,
//! python3, iproute2, md5sum, dnsmasq). Only loopback and interfaces inside that namespace (a
//! dummy, a veth pair) are ever contacted.

mod common;

use keeplite::check::http::HttpProtocol;
use keeplite::check::misc::MiscExit;
use keeplite::check::udp::{UdpCheck, UdpParams};
use keeplite::check::{
    CheckKind, CheckParams, Checker, ConnParams, Event, HttpParams, MiscParams, Reason, UrlParams,
};
use keeplite::sys::check_io::{CheckId, CheckIo, Checkers, FdChange, Interest, Output, Readiness};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use Event::{Down, Up};
use Reason::*;

const MS: Duration = Duration::from_millis(1);

/// Runs `f` on a fresh thread inside a new network namespace (tests/common's harness) with `lo`
/// up; the namespace and whatever still runs in it go when the test ends.
fn in_netns(f: impl FnOnce() + Send + 'static) {
    common::Netns::new("chk").enter(f)
}

/// Kills a server process (group) when the test ends, pass or fail.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.0.id() as i32), Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

/// Test servers: each `port:mode` argument serves one behaviour.
const SERVER: &str = include_str!("http_servers.py");

fn spawn(cmd: &mut Command, ports: &[u16]) -> Proc {
    let child = cmd
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let p = Proc(child);
    for port in ports {
        wait_listening(*port);
    }
    p
}

fn servers(flag: &std::path::Path, modes: &[(u16, &str)]) -> Proc {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(SERVER).arg(flag);
    for (p, m) in modes {
        cmd.arg(format!("{p}:{m}"));
    }
    // A "full" listener cannot be probed; it opens port + 1000 once ready.
    let ports: Vec<u16> = modes
        .iter()
        .map(|(p, m)| if *m == "full" { p + 1000 } else { *p })
        .collect();
    spawn(&mut cmd, &ports)
}

fn wait_listening(port: u16) {
    let t = Instant::now();
    loop {
        if let Ok(probe) = TcpStream::connect(("127.0.0.1", port)) {
            // Reset, not FIN: the probe must not leave a TIME_WAIT the tests could mistake.
            let linger = nix::libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            nix::sys::socket::setsockopt(&probe, nix::sys::socket::sockopt::Linger, &linger)
                .unwrap();
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "port {port} never listened"
        );
        std::thread::sleep(20 * MS);
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("klcheck-{}-{tag}-{n}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Removes a temp dir at the end of the test.
struct TmpDir(PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Minimal epoll driver around [`Checkers`] and [`CheckIo`] (as the daemon's), with a misc
/// spawner.
struct Driver {
    cs: Checkers,
    io: CheckIo,
    ep: Epoll,
    /// Registrations in `ep`.
    fds: HashMap<RawFd, Interest>,
    /// Registrations added and removed so far.
    adds: usize,
    removes: usize,
    /// Connects reported done (writable without error) on edge-triggered registrations.
    connected: usize,
    children: HashMap<CheckId, Proc>,
    events: Vec<(Duration, CheckId, Event)>,
    start: Instant,
}

impl Driver {
    fn new() -> Self {
        Driver {
            cs: Checkers::new(),
            io: CheckIo::new(),
            ep: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).unwrap(),
            fds: HashMap::new(),
            adds: 0,
            removes: 0,
            connected: 0,
            children: HashMap::new(),
            events: Vec::new(),
            start: Instant::now(),
        }
    }

    fn add(&mut self, p: CheckParams) -> CheckId {
        self.cs.add(Checker::new(p, Instant::now()))
    }

    /// Drives the checks until `done` says so; panics after `limit`.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) {
        let end = Instant::now() + limit;
        while !done(self) {
            let now = Instant::now();
            assert!(now < end, "timed out; events so far: {:#?}", self.events);
            self.step(now, end);
        }
    }

    fn sync_fds(&mut self) {
        let ev = |fd: RawFd, i: Interest| {
            EpollEvent::new(EpollFlags::from_bits_truncate(i.bits() as i32), fd as u64)
        };
        while let Some(c) = self.io.poll_fd_change() {
            match c {
                FdChange::Add(fd, i) => {
                    self.adds += 1;
                    self.fds.insert(fd, i);
                    self.ep.add(self.io.fd(fd).unwrap(), ev(fd, i)).unwrap();
                }
                FdChange::Modify(fd, i) => {
                    self.fds.insert(fd, i);
                    let mut e = ev(fd, i);
                    self.ep.modify(self.io.fd(fd).unwrap(), &mut e).unwrap();
                }
                FdChange::Remove(fd) => {
                    self.removes += 1;
                    self.fds.remove(&fd.as_raw_fd());
                    self.ep.delete(&fd).unwrap();
                }
            }
        }
    }

    fn step(&mut self, now: Instant, end: Instant) {
        self.sync_fds();
        let mut wake = self.cs.poll_timeout().unwrap_or(end).min(end);
        if !self.children.is_empty() {
            wake = wake.min(now + 20 * MS);
        }
        let ms = wake.saturating_duration_since(now).as_millis() as u16 + 1;
        let mut events = [EpollEvent::empty(); 64];
        let n = self.ep.wait(&mut events, EpollTimeout::from(ms)).unwrap();
        let now = Instant::now();
        for e in &events[..n] {
            let (fd, f) = (e.data() as RawFd, e.events());
            let ready = Readiness {
                readable: f.contains(EpollFlags::EPOLLIN),
                writable: f.contains(EpollFlags::EPOLLOUT),
                error: f.intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP),
            };
            if ready.writable && !ready.error && self.fds.get(&fd).is_some_and(|i| i.edge()) {
                self.connected += 1;
            }
            self.io.handle_ready(&mut self.cs, fd, ready, now);
        }
        self.io.handle_timeout(&mut self.cs, Instant::now());
        let exited: Vec<(CheckId, MiscExit)> = self
            .children
            .iter_mut()
            .filter_map(|(id, p)| {
                let st = p.0.try_wait().unwrap()?;
                let exit = match (st.code(), st.signal()) {
                    (Some(c), _) => MiscExit::Exited(c as u8),
                    (None, Some(s)) => MiscExit::Signaled(s),
                    _ => unreachable!(),
                };
                Some((*id, exit))
            })
            .collect();
        for (id, exit) in exited {
            self.children.remove(&id);
            self.io.misc_exited(&mut self.cs, id, exit, Instant::now());
        }
        while let Some(o) = self.cs.poll_output() {
            match o {
                Output::Event(id, e) => self.events.push((self.start.elapsed(), id, e)),
                Output::SpawnMisc { id, path } => {
                    let mut cmd = Command::new("sh");
                    cmd.arg("-c").arg(path);
                    self.children.insert(id, spawn(&mut cmd, &[]));
                }
                Output::KillMisc { id, signal } => {
                    if let Some(p) = self.children.get(&id) {
                        let sig = Signal::try_from(signal).unwrap();
                        let _ = killpg(Pid::from_raw(p.0.id() as i32), sig);
                    }
                }
            }
        }
    }

    /// Drives the checks until each listed one has reported as many events as listed, then
    /// asserts they are exactly those (events accumulate over a test).
    fn expect(&mut self, want: &[(CheckId, &[Event])]) {
        self.run_until(Duration::from_secs(10), |d| {
            want.iter().all(|(id, w)| d.has(*id, w.len()))
        });
        for (id, w) in want {
            assert_eq!(self.events_of(*id), *w, "check {id}");
        }
    }

    fn events_of(&self, id: CheckId) -> Vec<Event> {
        self.events
            .iter()
            .filter(|(_, i, _)| *i == id)
            .map(|(_, _, e)| e.clone())
            .collect()
    }

    fn has(&self, id: CheckId, n: usize) -> bool {
        self.events_of(id).len() >= n
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn conn(port: u16, timeout: Duration) -> ConnParams {
    ConnParams {
        connect_ip: Some(addr(port).ip()),
        connect_port: Some(port),
        bind: Some(addr(0)),
        connect_timeout: timeout,
    }
}

fn params(kind: CheckKind, retry: u32, alpha: bool) -> CheckParams {
    CheckParams {
        kind,
        delay_loop: 200 * MS,
        retry,
        delay_before_retry: 100 * MS,
        alpha,
        initial_delay: Duration::ZERO,
    }
}

fn http(port: u16, urls: Vec<UrlParams>) -> CheckKind {
    CheckKind::Http(Box::new(HttpParams {
        conn: conn(port, 500 * MS),
        urls,
        virtualhost: None,
        protocol: HttpProtocol::Http10,
        exchange_timeout: 1500 * MS,
        tls: false,
    }))
}

fn url(path: &str, digest: Option<[u8; 16]>) -> UrlParams {
    UrlParams {
        digest,
        ..UrlParams::new(path)
    }
}

fn md5sum(path: &std::path::Path) -> [u8; 16] {
    let out = Command::new("md5sum").arg(path).output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    keeplite::check::http::parse_digest(&hex[..32]).unwrap()
}

const BODY: &[u8] = b"hello from the real server\n";

#[test]
fn tcp_check_up_refused_timeout_and_recovery() {
    in_netns(|| {
        let flag = tmpdir("tcp");
        let _tmp = TmpDir(flag.clone());
        let mut d = Driver::new();
        let up = d.add(params(CheckKind::Tcp(conn(8001, 500 * MS)), 1, true));
        let refused = d.add(params(CheckKind::Tcp(conn(8002, 500 * MS)), 1, false));
        let timeout = d.add(params(CheckKind::Tcp(conn(8003, 300 * MS)), 0, false));
        // 8003: a full accept queue drops SYNs, so connect times out.
        let _full = servers(&flag.join("none"), &[(8003, "full")]);
        let server = servers(&flag.join("none"), &[(8001, "ok")]);
        d.expect(&[
            (up, &[Up(Connected)]),
            (refused, &[Down(ConnectRefused)]),
            (timeout, &[Down(ConnectTimeout(300 * MS))]),
        ]);
        // Successful TCP checks end with a reset: no TIME_WAIT piles up on the director.
        let ss = Command::new("ss")
            .args(["-tanH", "state", "time-wait", "( dport = :8001 )"])
            .output()
            .unwrap();
        assert!(ss.status.success());
        assert_eq!(String::from_utf8_lossy(&ss.stdout), "");
        // Server dies: up -> down after the retry; back up when it returns.
        drop(server);
        d.expect(&[(up, &[Up(Connected), Down(ConnectRefused)])]);
        let _server = servers(&flag.join("none"), &[(8001, "ok")]);
        d.expect(&[(up, &[Up(Connected), Down(ConnectRefused), Up(Connected)])]);
        assert!(d.cs.get(up).is_up());
        assert!(!d.cs.get(refused).is_up());
    });
}

/// A check's socket keeps its fd number until the driver has taken it out of its poll set:
/// closed earlier, the number went to the next descriptor the daemon opened (a control client,
/// in CI), and the late removal dropped that one's registration, so its request hung.
#[test]
fn a_closed_check_socket_keeps_its_fd_until_deregistered() {
    in_netns(|| {
        let mut d = Driver::new();
        // Nothing listens: the refused connect closes its socket (a successful one keeps it).
        let down = d.add(params(CheckKind::Tcp(conn(8002, 500 * MS)), 0, false));
        d.expect(&[(down, &[Down(ConnectRefused)])]);
        // The check closed its connection; the removal is queued, not yet applied.
        let pending: Vec<FdChange> = std::iter::from_fn(|| d.io.poll_fd_change()).collect();
        let removed: Vec<RawFd> = pending
            .iter()
            .filter_map(|c| match c {
                FdChange::Remove(fd) => Some(fd.as_raw_fd()),
                _ => None,
            })
            .collect();
        assert!(!removed.is_empty(), "no socket closed: {pending:?}");
        // The lowest free number goes to the next open: never one still in a poll set.
        let next = std::fs::File::open("/dev/null").unwrap();
        assert!(
            !removed.contains(&next.as_raw_fd()),
            "fd {} reused before its removal was applied",
            next.as_raw_fd()
        );
    });
}

/// A successful TCP check resets its connection but keeps the socket (`connect(AF_UNSPEC)`):
/// the next one connects it again, its edge-triggered registration unchanged, without opening
/// or closing a socket; neither the reset's pending ECONNRESET nor its hang-up event reaches
/// the next connection. A kept socket whose connect is refused reports it and is closed.
#[test]
fn tcp_checks_reconnect_their_reset_socket() {
    in_netns(|| {
        let flag = tmpdir("reuse");
        let _tmp = TmpDir(flag.clone());
        let server = servers(&flag.join("none"), &[(8001, "ok")]);
        let mut d = Driver::new();
        let unbound = ConnParams {
            bind: None,
            ..conn(8001, 500 * MS)
        };
        let a = d.add(params(CheckKind::Tcp(unbound), 1, true));
        let b = d.add(params(CheckKind::Tcp(conn(8001, 500 * MS)), 1, true));
        d.run_until(Duration::from_secs(10), |d| d.connected >= 6);
        assert_eq!(d.events_of(a), [Up(Connected)]);
        assert_eq!(d.events_of(b), [Up(Connected)]);
        // One socket each (bound and unbound ones are not mixed), none closed.
        assert_eq!((d.adds, d.removes), (2, 0));
        let ss = Command::new("ss")
            .args(["-tanH", "state", "time-wait", "( dport = :8001 )"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&ss.stdout), "");
        drop(server);
        d.expect(&[(a, &[Up(Connected), Down(ConnectRefused)])]);
        assert!(d.removes >= 1);
        let _server = servers(&flag.join("none"), &[(8001, "ok")]);
        d.expect(&[(a, &[Up(Connected), Down(ConnectRefused), Up(Connected)])]);
    });
}

/// A TCP_CHECK ends inside the handshake: its socket holds back the last ACK and resets after
/// the SYN-ACK, so the real server's application never has a connection to accept, and the
/// check is up all the same.
#[test]
fn tcp_checks_leave_the_real_servers_application_nothing_to_accept() {
    in_netns(|| {
        let l = std::net::TcpListener::bind("127.0.0.1:8002").unwrap();
        l.set_nonblocking(true).unwrap();
        let mut d = Driver::new();
        let a = d.add(params(CheckKind::Tcp(conn(8002, 500 * MS)), 1, true));
        d.run_until(Duration::from_secs(10), |d| d.connected >= 3);
        assert_eq!(d.events_of(a), [Up(Connected)]);
        let e = l.accept().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    });
}

/// The daemon runs its timers before the events of a wait: a pooled socket a check takes
/// there may have the hang-up of its last reset among those events. That must not pass for
/// the new connect's outcome (its SO_ERROR is 0 in SYN-SENT too).
#[test]
fn a_pooled_sockets_old_hang_up_is_not_the_next_connects_outcome() {
    in_netns(|| {
        // A connect to 10.77.0.2 hangs.
        veth_with_unowned_peer();
        let flag = tmpdir("stale");
        let _tmp = TmpDir(flag.clone());
        let _server = servers(&flag.join("none"), &[(8001, "ok")]);
        let tcp = |ip: &str| {
            CheckKind::Tcp(ConnParams {
                connect_ip: Some(ip.parse().unwrap()),
                connect_port: Some(8001),
                bind: None,
                connect_timeout: 300 * MS,
            })
        };
        let mut d = Driver::new();
        let a = d.add(params(tcp("127.0.0.1"), 0, true));
        d.expect(&[(a, &[Up(Connected)])]);
        // Its socket is in the pool, and its reset's hang-up comes with the next wait.
        d.io.remove(&mut d.cs, a);
        d.events.clear();
        d.sync_fds();
        let mut events = [EpollEvent::empty(); 4];
        let n = d.ep.wait(&mut events, EpollTimeout::from(1000u16)).unwrap();
        assert_eq!(n, 1);
        assert!(events[0].events().contains(EpollFlags::EPOLLHUP));
        // A check due now takes that socket, then the event is handled.
        let b = d.add(params(tcp("10.77.0.2"), 0, false));
        d.io.handle_timeout(&mut d.cs, Instant::now());
        d.sync_fds();
        assert_eq!(d.adds, 1, "the pooled socket was not taken");
        let hup = Readiness {
            readable: false,
            writable: true,
            error: true,
        };
        d.io.handle_ready(&mut d.cs, events[0].data() as RawFd, hup, Instant::now());
        assert_eq!(
            d.io.open_sockets(),
            1,
            "the connect ended: {:?}",
            d.cs.poll_output()
        );
        d.expect(&[(b, &[Down(ConnectTimeout(300 * MS))])]);
    });
}

#[test]
fn http_get_against_python_http_server_with_md5sum_digest() {
    in_netns(|| {
        let dir = tmpdir("www");
        let _tmp = TmpDir(dir.clone());
        std::fs::write(dir.join("index.html"), BODY).unwrap();
        std::fs::write(dir.join("other.txt"), b"second url\n").unwrap();
        let right = md5sum(&dir.join("index.html"));
        let other = md5sum(&dir.join("other.txt"));
        let _srv = spawn(
            Command::new("python3")
                .args([
                    "-m",
                    "http.server",
                    "--bind",
                    "127.0.0.1",
                    "8080",
                    "--directory",
                ])
                .arg(&dir),
            &[8080],
        );
        let mut d = Driver::new();
        let good = d.add(params(
            http(
                8080,
                vec![
                    url("/index.html", Some(right)),
                    url("/other.txt", Some(other)),
                ],
            ),
            1,
            true,
        ));
        let wrong = d.add(params(
            http(8080, vec![url("/index.html", Some([7; 16]))]),
            0,
            false,
        ));
        let missing = d.add(params(http(8080, vec![url("/nope", None)]), 0, false));
        d.expect(&[
            (good, &[Up(HttpOk(200))]),
            (wrong, &[Down(DigestMismatch)]),
            (missing, &[Down(HttpStatus(404))]),
        ]);
    });
}

#[test]
fn http_get_failures_are_bounded_and_transitions_follow_the_server() {
    in_netns(|| {
        let dir = tmpdir("flip");
        let _tmp = TmpDir(dir.clone());
        let flag = dir.join("fail");
        let _srv = servers(
            &flag,
            &[
                (8101, "flip"),
                (8102, "silent"),
                (8103, "drip"),
                (8104, "endless"),
                (8105, "chunked"),
                (8106, "garbage"),
                (8107, "500"),
            ],
        );
        let mut d = Driver::new();
        let flip = d.add(params(http(8101, vec![url("/", None)]), 1, false));
        let silent = d.add(params(http(8102, vec![url("/", None)]), 0, false));
        let drip = d.add(params(http(8103, vec![url("/", None)]), 0, false));
        let endless = d.add(params(http(8104, vec![url("/", None)]), 0, false));
        // keepalived/genhash hash the raw chunked body, framing included.
        let raw_chunked = format!(
            "5\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
            std::str::from_utf8(&BODY[..5]).unwrap(),
            BODY.len() - 5,
            std::str::from_utf8(&BODY[5..]).unwrap()
        );
        let chunked_digest = {
            let f = dir.join("chunked.raw");
            std::fs::write(&f, &raw_chunked).unwrap();
            md5sum(&f)
        };
        let chunked = d.add(params(
            http(8105, vec![url("/", Some(chunked_digest))]),
            0,
            true,
        ));
        let garbage = d.add(params(http(8106, vec![url("/", None)]), 0, false));
        let err500 = d.add(params(http(8107, vec![url("/", None)]), 0, false));
        d.expect(&[
            (flip, &[Up(HttpOk(200))]),
            (silent, &[Down(ReadTimeout(500 * MS))]),
            (drip, &[Down(ExchangeTimeout(1500 * MS))]),
            (endless, &[Down(ExchangeTimeout(1500 * MS))]),
            (chunked, &[Up(HttpOk(200))]),
            (garbage, &[Down(Malformed)]),
            (err500, &[Down(HttpStatus(500))]),
        ]);
        // up -> down after the retry, then down -> up on recovery.
        std::fs::write(&flag, b"").unwrap();
        let t = d.start.elapsed();
        d.expect(&[(flip, &[Up(HttpOk(200)), Down(HttpStatus(500))])]);
        let down_at = d.events.iter().rev().find(|e| e.1 == flip).unwrap().0;
        // Two failed attempts (retry 1) spaced by delay_before_retry.
        assert!(down_at - t >= 100 * MS, "{:?}", down_at - t);
        std::fs::remove_file(&flag).unwrap();
        let flips = [Up(HttpOk(200)), Down(HttpStatus(500)), Up(HttpOk(200))];
        d.expect(&[(flip, &flips)]);
        d.sync_fds();
        // Every socket the driver was told about is one the checks still hold.
        d.sync_fds();
        assert_eq!(d.io.open_sockets(), d.fds.len());
    });
}

#[test]
fn misc_check_exit_codes_and_timeout() {
    in_netns(|| {
        let dir = tmpdir("misc");
        let _tmp = TmpDir(dir.clone());
        let code = dir.join("code");
        std::fs::write(&code, "0").unwrap();
        let misc = |path: String, timeout: Option<Duration>, dynamic: bool| {
            CheckKind::Misc(MiscParams {
                path,
                timeout,
                dynamic,
            })
        };
        let mut d = Driver::new();
        let script = format!("exit $(cat {})", code.display());
        let dynamic = d.add(params(misc(script, None, true), 0, false));
        let hang = d.add(params(
            misc("sleep 30".into(), Some(300 * MS), false),
            0,
            false,
        ));
        d.expect(&[
            (dynamic, &[Up(MiscExit(0))]),
            (hang, &[Down(MiscTimeout(300 * MS))]),
        ]);
        std::fs::write(&code, "7").unwrap();
        d.expect(&[(dynamic, &[Up(MiscExit(0)), Event::Weight(Some(5))])]);
        std::fs::write(&code, "1").unwrap();
        let all = [Up(MiscExit(0)), Event::Weight(Some(5)), Down(MiscExit(1))];
        d.expect(&[(dynamic, &all)]);
    });
}

fn ssl_get(port: u16, digest: Option<[u8; 16]>) -> CheckKind {
    let CheckKind::Http(mut h) = http(port, vec![url("/", digest)]) else {
        unreachable!()
    };
    h.tls = true;
    CheckKind::Http(h)
}

#[cfg(feature = "tls")]
#[test]
fn ssl_get_against_python_tls_server() {
    in_netns(|| {
        let dir = tmpdir("tls");
        let _tmp = TmpDir(dir.clone());
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let st = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=klcheck", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        let body = dir.join("body");
        std::fs::write(&body, BODY).unwrap();
        let mut cmd = Command::new("python3");
        cmd.env("KLCERT", &cert).env("KLKEY", &key);
        cmd.arg("-c").arg(SERVER).arg(dir.join("none"));
        cmd.args(["8201:tls", "8202:ok"]);
        let _srv = spawn(&mut cmd, &[8201, 8202]);
        let mut d = Driver::new();
        let good = d.add(params(ssl_get(8201, Some(md5sum(&body))), 0, true));
        let wrong = d.add(params(ssl_get(8201, Some([1; 16])), 0, false));
        // Plain HTTP behind an SSL_GET: the handshake never completes.
        let plain = d.add(params(ssl_get(8202, None), 0, false));
        d.expect(&[
            (good, &[Up(HttpOk(200))]),
            (wrong, &[Down(DigestMismatch)]),
            (plain, &[Down(ConnectTimeout(500 * MS))]),
        ]);
    });
}

#[cfg(not(feature = "tls"))]
#[test]
fn ssl_get_unsupported_without_tls_feature() {
    in_netns(|| {
        let mut d = Driver::new();
        let id = d.add(params(ssl_get(8301, None), 0, false));
        d.expect(&[(id, &[Down(SocketError(libc_eprotonosupport()))])]);
    });
}

#[cfg(not(feature = "tls"))]
fn libc_eprotonosupport() -> i32 {
    nix::errno::Errno::EPROTONOSUPPORT as i32
}

/// UDP real servers: on 127.0.0.1 and ::1, port 9001 answers `OK:` + the datagram, port 9002
/// reads and never answers; `ready` appears in the given dir once bound.
const UDP_SERVER: &str = r#"
import socket, sys, select, os
socks = []
for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    for port in (9001, 9002):
        s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((host, port)); socks.append((s, port))
open(os.path.join(sys.argv[1], "ready"), "w").close()
while True:
    r, _, _ = select.select([s for s, _ in socks], [], [])
    for s, port in socks:
        if s in r:
            d, peer = s.recvfrom(65536)
            if port == 9001: s.sendto(b"OK:" + d, peer)
"#;

fn udp(dst: SocketAddr, require_reply: bool, reply: &[u8]) -> CheckKind {
    CheckKind::Udp(Box::new(UdpParams {
        conn: ConnParams {
            connect_ip: Some(dst.ip()),
            connect_port: Some(dst.port()),
            bind: None,
            connect_timeout: 300 * MS,
        },
        spec: UdpCheck {
            payload: b"hi".to_vec(),
            require_reply,
            reply: reply.to_vec(),
            ..Default::default()
        },
    }))
}

#[test]
fn udp_check_reply_silence_port_unreachable_v4_and_v6() {
    in_netns(|| {
        let dir = tmpdir("udp");
        let _tmp = TmpDir(dir.clone());
        let mut cmd = Command::new("python3");
        cmd.arg("-c").arg(UDP_SERVER).arg(&dir);
        let server = spawn(&mut cmd, &[]);
        let t = Instant::now();
        while !dir.join("ready").exists() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "UDP server not ready"
            );
            std::thread::sleep(20 * MS);
        }
        let v6 = |port| SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
        let mut d = Driver::new();
        let reply = d.add(params(udp(addr(9001), true, b"OK:hi"), 0, true));
        let reply6 = d.add(params(udp(v6(9001), true, b"OK"), 0, true));
        let mismatch = d.add(params(udp(addr(9001), true, b"NO"), 0, true));
        let silent = d.add(params(udp(addr(9002), false, b""), 0, true));
        let required = d.add(params(udp(v6(9002), true, b""), 0, false));
        let closed = d.add(params(udp(addr(9003), false, b""), 0, false));
        let closed6 = d.add(params(udp(v6(9003), false, b""), 0, false));
        d.expect(&[
            (reply, &[Up(Reply(5))]),
            (reply6, &[Up(Reply(5))]),
            (mismatch, &[Down(ReplyMismatch(5))]),
            (silent, &[Up(NoReplyNeeded)]),
            (required, &[Down(NoReply(300 * MS))]),
            (closed, &[Down(ConnectRefused)]),
            (closed6, &[Down(ConnectRefused)]),
        ]);
        // The server goes: its ICMP port unreachable takes the replying checks down.
        drop(server);
        d.expect(&[
            (reply, &[Up(Reply(5)), Down(ConnectRefused)]),
            (reply6, &[Up(Reply(5)), Down(ConnectRefused)]),
        ]);
        // Every socket the driver was told about is one the checks still hold.
        d.sync_fds();
        assert_eq!(d.io.open_sockets(), d.fds.len());
    });
}

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd}");
}

/// A veth pair within the namespace: 10.77.0.1 is local, 10.77.0.2 has no owner.
fn veth_with_unowned_peer() {
    sh(
        "ip link add klv0 type veth peer name klv1 && ip link set klv0 up && \
        ip link set klv1 up && ip addr add 10.77.0.1/24 dev klv0",
    );
}

#[test]
fn ping_check_raw_and_ping_sockets_v4_and_v6() {
    in_netns(|| {
        veth_with_unowned_peer();
        let ping = |ip: &str| {
            let dst = SocketAddr::new(ip.parse().unwrap(), 80);
            params(
                CheckKind::Ping(ConnParams {
                    connect_ip: Some(dst.ip()),
                    connect_port: Some(dst.port()),
                    bind: None,
                    connect_timeout: 300 * MS,
                }),
                0,
                true,
            )
        };
        // The namespace starts with ping sockets denied (ping_group_range "1 0"): raw ones.
        let mut d = Driver::new();
        let v4 = d.add(ping("127.0.0.1"));
        let v6 = d.add(ping("::1"));
        let local = d.add(ping("10.77.0.1"));
        let silent = d.add(ping("10.77.0.2"));
        d.expect(&[
            (v4, &[Up(Reply(136))]),
            (v6, &[Up(Reply(136))]),
            (local, &[Up(Reply(136))]),
            (silent, &[Down(NoReply(300 * MS))]),
        ]);
        // The address goes: no route, the send fails, the check goes down.
        sh("ip addr del 10.77.0.1/24 dev klv0");
        d.expect(&[(
            local,
            &[Up(Reply(136)), Down(SocketError(nix::libc::ENETUNREACH))],
        )]);
        // With ping sockets allowed, the same checks use them.
        std::fs::write("/proc/sys/net/ipv4/ping_group_range", "0 0").unwrap();
        let mut d = Driver::new();
        let v4 = d.add(ping("127.0.0.1"));
        let v6 = d.add(ping("::1"));
        d.expect(&[(v4, &[Up(Reply(136))]), (v6, &[Up(Reply(136))])]);
    });
}

#[test]
fn dns_check_against_dnsmasq() {
    in_netns(|| {
        let dir = tmpdir("dns");
        let _tmp = TmpDir(dir.clone());
        let pid = dir.join("pid");
        let mut cmd = Command::new("dnsmasq");
        cmd.args([
            "-k",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--user=root",
            "--port=5353",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--address=/svc.test/10.1.2.3",
        ])
        .arg(format!("--pid-file={}", pid.display()));
        let server = spawn(&mut cmd, &[]);
        let t = Instant::now();
        while !pid.exists() {
            assert!(t.elapsed() < Duration::from_secs(10), "dnsmasq not ready");
            std::thread::sleep(20 * MS);
        }
        let dns = |name: &str, qtype| {
            let mut p = params(
                CheckKind::Dns(Box::new(keeplite::check::dns::DnsParams {
                    conn: conn(5353, 300 * MS),
                    qtype,
                    name: name.into(),
                })),
                0,
                true,
            );
            p.delay_before_retry = 50 * MS;
            p
        };
        let mut d = Driver::new();
        let a = d.add(dns("svc.test", 1));
        let other = d.add(dns("other.test", 1));
        // 12-byte header, 14-byte question, 16-byte A record.
        d.expect(&[(a, &[Up(Reply(42))]), (other, &[Down(DnsRcode(5))])]);
        drop(server);
        d.expect(&[(a, &[Up(Reply(42)), Down(ConnectRefused)])]);
    });
}
