//! Interoperability with Debian's keepalived 2.2.7 as the peer, both directions (root, in
//! namespaces this test makes): the keeplite daemon against keepalived, and the VRRP core alone
//! (driven through the crate's public API) against keepalived's adverts and log.

mod common;

use common::{has_addr, vrrp_conf, wait_until, Keepalived, Keeplite, Lan, TempDir};
use keeplite::proto::vrrp::{Datagram, Packet, Repr, RxMeta, Version, MCAST_V4};
use keeplite::vrrp::{Action, Instance, Params, Reason, State};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::process::{ChildStdin, Stdio};
use std::time::{Duration, Instant};

/// Runs the scenario for one protocol flavour: keepalived (h0) and keeplite (h1) take over
/// from each other, agree on the master, and neither complains about the other's adverts.
fn interop(vip: &str, extra: &str, v6: bool) {
    let lan = Lan::new(2);
    let vip_addr = vip.split('/').next().unwrap();
    let (h0, h1) = (&lan.hosts[0], &lan.hosts[1]);
    // keeplite is the stronger one first.
    let conf_low = vrrp_conf("VI_1", 61, 100, &[vip], extra);
    let conf_high = vrrp_conf("VI_1", 61, 150, &[vip], extra);
    let mut kd = Keepalived::start(h0, &conf_low);
    let kl = Keeplite::start(h1, &conf_high);
    assert!(
        kl.wait_state("VI_1", "MASTER", Duration::from_secs(10)),
        "{}",
        kl.log()
    );
    kd.expect_log("Entering BACKUP STATE", 10);
    assert!(has_addr(h1, "eth0", vip_addr));
    assert!(!has_addr(h0, "eth0", vip_addr));

    // keeplite stops (priority 0): keepalived takes over at once.
    kl.child.signal("TERM");
    let mut kl = kl;
    assert!(
        kl.child.wait_timeout(Duration::from_secs(3)).is_some(),
        "{}",
        kl.log()
    );
    assert!(
        wait_until(Duration::from_secs(5), || has_addr(h0, "eth0", vip_addr)),
        "{}",
        kd.log()
    );
    assert!(
        !has_addr(h1, "eth0", vip_addr),
        "keeplite left its VIP behind"
    );
    drop(kl);

    // keeplite comes back with the higher priority and preempts keepalived.
    let kl = Keeplite::start(h1, &conf_high);
    assert!(
        kl.wait_state("VI_1", "MASTER", Duration::from_secs(10)),
        "{}",
        kl.log()
    );
    assert!(
        wait_until(Duration::from_secs(5), || !has_addr(h0, "eth0", vip_addr)),
        "keepalived kept the VIP: {}",
        kd.log()
    );

    // keepalived is the master when it has the higher priority: restart it stronger.
    kd.stop();
    let kd_log_1 = kd.log();
    drop(kd);
    let kd = Keepalived::start(h0, &vrrp_conf("VI_1", 61, 200, &[vip], extra));
    assert!(
        kl.wait_state("VI_1", "BACKUP", Duration::from_secs(10)),
        "{}\n{}",
        kl.log(),
        kd.log()
    );
    let st = kl.status().unwrap();
    let master = st["instances"][0]["master"].as_str().unwrap().to_owned();
    if v6 {
        assert!(master.starts_with("fe80:"), "{master}");
    } else {
        assert_eq!(master, "192.0.2.1");
    }
    assert!(wait_until(Duration::from_secs(5), || has_addr(
        h0, "eth0", vip_addr
    )));
    assert!(!has_addr(h1, "eth0", vip_addr));
    let errors = &st["instances"][0]["rx_errors"];
    assert_eq!(
        errors.as_array().map(Vec::len),
        Some(0),
        "keeplite dropped adverts: {st}"
    );
    // Neither side logged a protocol complaint about the other (keepalived 2.2.7 vrrp.c:
    // "Invalid TTL/HL", "invalid passwd", "advertisement interval mismatch", "ip address
    // associated with VRID not present", "invalid checksum", ...).
    for log in [kd_log_1, kd.log()] {
        let lower = log.to_lowercase();
        for bad in [
            "invalid",
            "mismatch",
            "bad ",
            "not present",
            "ignoring",
            "wrong",
            "checksum",
        ] {
            assert!(
                !lower.contains(bad),
                "keepalived complained ({bad}):\n{log}"
            );
        }
    }
    assert!(!kl.log().contains("dropped"), "{}", kl.log());
}

#[test]
fn keepalived_interop_v2_with_pass_auth() {
    interop(
        "192.0.2.100/24",
        "authentication {\n    auth_type PASS\n    auth_pass s3cret\n  }",
        false,
    );
}

#[test]
fn keepalived_interop_v3() {
    interop("192.0.2.100/24", "version 3", false);
}

#[test]
fn keepalived_interop_v3_ipv6() {
    interop("2001:db8::100/64", "version 3", true);
}

/// keepalived's configuration for the core-level tests: one v3 instance on `eth0`.
fn keepalived_v3(vrid: u8, priority: u8, advert_int: &str) -> String {
    format!(
        "vrrp_instance V {{\n state BACKUP\n interface eth0\n version 3\n \
         virtual_router_id {vrid}\n priority {priority}\n advert_int {advert_int}\n \
         virtual_ipaddress {{\n  192.0.2.100/24\n }}\n}}\n"
    )
}

/// The VRRP frames of a classic pcap file (Ethernet link type, IPv4): (timestamp, meta, VRRP
/// bytes), as far as the file is complete (tcpdump may be writing it).
fn read_pcap(path: &Path) -> Vec<(Duration, RxMeta, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap_or_default();
    if bytes.len() < 24 {
        return Vec::new();
    }
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
        // Ethernet (14), then the IPv4 packet as a raw socket would deliver it.
        let (meta, msg) = Datagram::V4(&frame[14..]).split().unwrap();
        out.push((ts, meta, msg.to_vec()));
        at += 16 + len;
    }
    out
}

/// keepalived's adverts, captured by tcpdump, replayed to our core at their capture times:
/// it follows keepalived as Backup, learns its interval, and takes over after Skew_Time once
/// keepalived leaves with priority 0.
#[test]
fn core_backup_follows_captured_keepalived_master() {
    let lan = Lan::new(2);
    let (h0, h1) = (&lan.hosts[0], &lan.hosts[1]);
    let scratch = TempDir::new("cap");
    let pcap = scratch.join("cap.pcap");
    let dump = h1
        .command("tcpdump")
        .args(["-i", "eth0", "-U", "-w"])
        .arg(&pcap)
        .arg("ip proto 112")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dump = common::ChildGuard(dump);
    // tcpdump writes the file header once it listens.
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::metadata(&pcap)
            .is_ok_and(|m| m.len() >= 24)),
        "tcpdump did not start"
    );
    let mut kd = Keepalived::start(h0, &keepalived_v3(60, 200, "0.2"));
    kd.expect_log("Entering MASTER STATE", 10);
    assert!(
        wait_until(Duration::from_secs(10), || read_pcap(&pcap).len() >= 10),
        "keepalived sent fewer than 10 adverts"
    );
    kd.stop();
    let last_is_stop = || {
        read_pcap(&pcap)
            .last()
            .is_some_and(|(_, _, v)| v.get(2) == Some(&0))
    };
    assert!(
        wait_until(Duration::from_secs(5), last_is_stop),
        "keepalived sent no priority-0 advert"
    );
    drop(dump);

    let frames = read_pcap(&pcap);
    let mut p = Params::new(
        "V",
        60,
        100,
        "192.0.2.2".parse().unwrap(),
        vec!["192.0.2.100".parse().unwrap()],
    );
    p.version = Version::V3;
    let mut inst = Instance::new(p).unwrap();
    let t0 = Instant::now();
    let first = frames[0].0;
    inst.start(t0);
    let mut stop_at = None;
    for (ts, meta, vrrp) in &frames {
        let now = t0 + (*ts - first);
        if inst.poll_timeout().is_some_and(|d| d <= now) {
            inst.handle_timeout(now);
        }
        assert_eq!(meta.dst, IpAddr::V4(MCAST_V4));
        let repr = Repr::parse(&Packet::new_checked(&vrrp[..]).unwrap(), meta).unwrap();
        inst.handle_datagram(now, meta, vrrp).unwrap();
        if repr.priority == 0 {
            stop_at = Some(now);
        } else {
            assert_eq!(inst.state(), State::Backup);
        }
    }
    // RFC 5798 §6.4.2: learnt 200 ms from keepalived's adverts.
    assert_eq!(inst.master_adver_int(), Duration::from_millis(200));
    assert!(inst.stats().adverts_received >= 10, "{:?}", inst.stats());
    let stop_at = stop_at.expect("replayed no priority-0 advert");
    // RFC 5798 §6.4.2: takeover after Skew_Time = 156 * 200 ms / 256.
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

/// Runs `inst` in real time until `until(inst)` holds (checked after each batch of actions) or
/// `d` passes, sending its adverts through the relay; returns whether `until` held.
fn drive(
    inst: &mut Instance,
    relay: &mut ChildStdin,
    src: IpAddr,
    d: Duration,
    mut until: impl FnMut(&Instance) -> bool,
) -> bool {
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
        if until(inst) {
            return true;
        }
        if now >= end {
            return false;
        }
        let next = inst.poll_timeout().unwrap_or(end).min(end);
        let nap = next.saturating_duration_since(Instant::now());
        std::thread::sleep(nap.min(Duration::from_millis(50)));
    }
}

/// Our core as Master, its adverts sent raw into keepalived's LAN: keepalived accepts them
/// (stays Backup past its own Master_Down_Interval) and takes over at our priority-0 advert.
#[test]
fn core_master_holds_keepalived_backup_and_hands_over() {
    let lan = Lan::new(2);
    let (h0, h1) = (&lan.hosts[0], &lan.hosts[1]);
    let src: IpAddr = Lan::addr4(1).parse().unwrap();
    let relay = h1
        .command("python3")
        .args(["-c", RELAY, &src.to_string()])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut relay = common::ChildGuard(relay);
    let mut relay_in = relay.0.stdin.take().unwrap();

    let mut p = Params::new("V", 61, 200, src, vec!["192.0.2.100".parse().unwrap()]);
    p.version = Version::V3;
    p.advert_int = Duration::from_millis(200);
    p.initial_master = true;
    let mut inst = Instance::new(p).unwrap();
    inst.start(Instant::now());
    let master = drive(&mut inst, &mut relay_in, src, Duration::from_secs(1), |i| {
        i.state() == State::Master
    });
    assert!(master, "{:?}", inst.stats());

    let kd = Keepalived::start(h0, &keepalived_v3(61, 100, "1"));
    let backup = drive(
        &mut inst,
        &mut relay_in,
        src,
        Duration::from_secs(10),
        |_| kd.log().contains("Entering BACKUP STATE"),
    );
    assert!(backup, "{}", kd.log());
    // keepalived's own Master_Down_Interval is 3.6 s: it would be Master by then had it
    // rejected our adverts (checksum, format) or won the election. Real keepalived timers:
    // this window cannot run in virtual time.
    let master = drive(
        &mut inst,
        &mut relay_in,
        src,
        Duration::from_secs(4),
        |_| kd.log().contains("Entering MASTER STATE"),
    );
    assert!(!master, "{}", kd.log());

    inst.shutdown(Instant::now());
    drive(&mut inst, &mut relay_in, src, Duration::ZERO, |_| false);
    kd.expect_log("Entering MASTER STATE", 3);
    assert!(kd.log().contains("priority 0"), "{}", kd.log());
}
