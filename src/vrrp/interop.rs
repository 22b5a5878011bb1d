//! Interoperability with real keepalived 2.x, in two network namespaces joined by a veth
//! pair (needs root, `ip`, `keepalived`, `tcpdump`, `python3`). keepalived's adverts are
//! captured with tcpdump and fed to our core at their capture times; our core's adverts are
//! sent by a small python3 raw-socket relay and keepalived's log tells what it made of them.

use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::*;
use crate::proto::vrrp::{Datagram, Packet, Repr, Version, MCAST_V4};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn run(args: &[&str]) {
    let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(st.success(), "{args:?} failed");
}

/// Two namespaces `a` (10.78.N.1 on kla) and `b` (10.78.N.2 on klb), a scratch directory,
/// and the processes started in them; all torn down on drop, even when a test fails.
struct Lab {
    a: String,
    b: String,
    net: u8,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Lab {
    fn new() -> Lab {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}x{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("klvrrp{id}"));
        fs::create_dir_all(&dir).unwrap();
        let lab = Lab {
            a: format!("klva{id}"),
            b: format!("klvb{id}"),
            // Addresses only exist inside the namespaces; vary them anyway.
            net: (std::process::id() as u8).wrapping_add(n as u8),
            dir,
            children: Vec::new(),
        };
        run(&["ip", "netns", "add", &lab.a]);
        run(&["ip", "netns", "add", &lab.b]);
        let (a, b) = (lab.a.as_str(), lab.b.as_str());
        run(&[
            "ip", "-n", a, "link", "add", "kla", "type", "veth", "peer", "name", "klb", "netns", b,
        ]);
        for (ns, dev, host) in [(a, "kla", 1), (b, "klb", 2)] {
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{}/24", lab.ip(host)),
                "dev",
                dev,
            ]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        lab
    }

    fn ip(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 78, self.net, host)
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    /// Starts `args` in namespace `ns`; returns its index in `children`.
    fn spawn(&mut self, ns: &str, args: &[&str], stdin: Stdio) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    /// keepalived in namespace `a` with one v3 instance; logs to `ka.log`.
    fn keepalived(&mut self, vrid: u8, priority: u8, advert_int: &str) -> usize {
        let conf = format!(
            "global_defs {{\n vrrp_version 3\n}}\nvrrp_instance V {{\n state BACKUP\n interface kla\n \
             virtual_router_id {vrid}\n priority {priority}\n advert_int {advert_int}\n \
             virtual_ipaddress {{\n  {}/24\n }}\n}}\n",
            self.ip(100)
        );
        fs::write(self.path("ka.conf"), conf).unwrap();
        let (conf, pid, vpid, cpid, log) = (
            self.path("ka.conf"),
            self.path("ka.pid"),
            self.path("vrrp.pid"),
            self.path("chk.pid"),
            self.path("ka.log"),
        );
        let a = self.a.clone();
        let script = format!(
            "exec keepalived -n -l -D -P -f {conf} -p {pid} -r {vpid} -c {cpid} > {log} 2>&1"
        );
        self.spawn(&a, &["sh", "-c", &script], Stdio::null())
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path("ka.log")).unwrap_or_default()
    }

    /// SIGTERM, then wait up to 5 s (keepalived sends its priority-0 advert on the way out).
    fn terminate(&mut self, idx: usize) {
        let pid = self.children[idx].id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.children[idx].try_wait().unwrap().is_some() {
                return;
            }
            sleep(Duration::from_millis(20));
        }
        let _ = self.children[idx].kill();
        let _ = self.children[idx].wait();
    }

    /// Waits until keepalived's log contains `needle` (generous slack), panicking if not.
    fn wait_log(&self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in keepalived log:\n{}",
                self.log()
            );
            sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            if self.children[i].try_wait().ok().flatten().is_none() {
                self.terminate(i);
            }
        }
        // keepalived's VRRP child outlives a killed parent: make sure it is gone.
        if let Ok(pid) = fs::read_to_string(self.path("vrrp.pid")) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.a]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.b]).status();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Packets of a classic pcap file (Ethernet link type): (timestamp, frame).
fn read_pcap(bytes: &[u8]) -> Vec<(Duration, Vec<u8>)> {
    assert!(bytes.len() >= 24, "pcap without header");
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian microsecond pcap"
    );
    let le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let h = &bytes[at..at + 16];
        let ts =
            Duration::from_secs(le(&h[0..4]).into()) + Duration::from_micros(le(&h[4..8]).into());
        let len = le(&h[8..12]) as usize;
        let Some(frame) = bytes.get(at + 16..at + 16 + len) else {
            break;
        };
        out.push((ts, frame.to_vec()));
        at += 16 + len;
    }
    out
}

#[test]
fn keepalived_master_drives_our_backup() {
    let mut lab = Lab::new();
    let pcap = lab.path("cap.pcap");
    let b = lab.b.clone();
    let dump = lab.spawn(
        &b,
        &["tcpdump", "-i", "klb", "-U", "-w", &pcap, "ip proto 112"],
        Stdio::null(),
    );
    // tcpdump writes the file header once it listens.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::metadata(&pcap).map(|m| m.len()).unwrap_or(0) < 24 {
        assert!(Instant::now() < deadline, "tcpdump did not start");
        sleep(Duration::from_millis(20));
    }
    let ka = lab.keepalived(60, 200, "0.2");
    lab.wait_log("Entering MASTER STATE", Duration::from_secs(10));
    sleep(Duration::from_secs(2));
    lab.terminate(ka);
    sleep(Duration::from_millis(300));
    lab.terminate(dump);

    let frames = read_pcap(&fs::read(&pcap).unwrap());
    let mut p = Params::new(
        "V",
        60,
        100,
        IpAddr::V4(lab.ip(2)),
        vec![IpAddr::V4(lab.ip(100))],
    );
    p.version = Version::V3;
    let mut inst = Instance::new(p).unwrap();
    let t0 = Instant::now();
    let first = frames.first().expect("no adverts captured").0;
    inst.start(t0);
    let mut stop_at = None;
    for (ts, frame) in &frames {
        let now = t0 + (*ts - first);
        if inst.poll_timeout().is_some_and(|d| d <= now) {
            inst.handle_timeout(now);
        }
        // Ethernet (14), then the IPv4 packet as a raw socket would deliver it.
        let (meta, msg) = Datagram::V4(&frame[14..]).split().unwrap();
        assert_eq!(meta.dst, IpAddr::V4(MCAST_V4));
        let repr = Repr::parse(&Packet::new_checked(msg).unwrap(), &meta).unwrap();
        inst.handle_datagram(now, &meta, msg).unwrap();
        if repr.priority == 0 {
            stop_at = Some(now);
        } else {
            assert_eq!(inst.state(), State::Backup);
        }
    }
    // RFC 5798 §6.4.2: learnt 200 ms from keepalived's adverts.
    assert_eq!(inst.master_adver_int(), Duration::from_millis(200));
    assert!(inst.stats().adverts_received >= 8, "{:?}", inst.stats());
    let stop_at = stop_at.expect("keepalived sent no priority-0 advert");
    // Takeover after Skew_Time = 156 * 200 ms / 256.
    let deadline = inst.poll_timeout().unwrap();
    assert_eq!(deadline - stop_at, Duration::from_millis(200) * 156 / 256);
    inst.handle_timeout(deadline);
    assert_eq!(inst.state(), State::Master);
    assert_eq!(
        inst.stats().last_transition.unwrap().1.reason,
        Reason::MasterStepDown
    );
}

/// Feeds hex lines on stdin to a raw IPPROTO_VRRP socket towards 224.0.0.18 (TTL 255).
const RELAY: &str = r#"
import binascii, socket, sys
src = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
s.bind((src, 0))
for line in sys.stdin:
    s.sendto(binascii.unhexlify(line.strip()), ("224.0.0.18", 0))
"#;

/// Runs `inst` in real time for `d`, sending its adverts through the relay.
fn drive(inst: &mut Instance, relay: &mut ChildStdin, src: IpAddr, d: Duration) {
    let end = Instant::now() + d;
    loop {
        let now = Instant::now();
        if inst.poll_timeout().is_some_and(|t| t <= now) {
            inst.handle_timeout(now);
        }
        while let Some(a) = inst.poll_action() {
            if let Action::Transmit {
                src: from, bytes, ..
            } = a
            {
                assert_eq!(from, src);
                let line: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                writeln!(relay, "{line}").unwrap();
                relay.flush().unwrap();
            }
        }
        if now >= end {
            return;
        }
        let next = inst.poll_timeout().unwrap_or(end).min(end);
        sleep(next.saturating_duration_since(Instant::now()));
    }
}

#[test]
fn our_master_holds_keepalived_backup_and_hands_over() {
    let mut lab = Lab::new();
    let src = IpAddr::V4(lab.ip(2));
    let b = lab.b.clone();
    let relay = lab.spawn(
        &b,
        &["python3", "-c", RELAY, &src.to_string()],
        Stdio::piped(),
    );
    let mut relay_in = lab.children[relay].stdin.take().unwrap();

    let mut p = Params::new("V", 61, 200, src, vec![IpAddr::V4(lab.ip(100))]);
    p.version = Version::V3;
    p.advert_int = Duration::from_millis(200);
    p.initial_master = true;
    let mut inst = Instance::new(p).unwrap();
    inst.start(Instant::now());
    drive(&mut inst, &mut relay_in, src, Duration::from_millis(500));
    assert_eq!(inst.state(), State::Master);

    lab.keepalived(61, 100, "1");
    drive(&mut inst, &mut relay_in, src, Duration::from_secs(4));
    let log = lab.log();
    assert!(log.contains("Entering BACKUP STATE"), "{log}");
    // keepalived's own Master_Down_Interval is 3.6 s: it would be Master by now had it
    // rejected our adverts (checksum, format) or lost the election.
    assert!(!log.contains("Entering MASTER STATE"), "{log}");

    inst.shutdown(Instant::now());
    drive(&mut inst, &mut relay_in, src, Duration::ZERO);
    lab.wait_log("Entering MASTER STATE", Duration::from_secs(3));
    assert!(lab.log().contains("priority 0"), "{}", lab.log());
}
