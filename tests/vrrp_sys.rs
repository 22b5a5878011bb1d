//! The OS primitives under src/sys, exercised for real in namespaces the tests create (root).

mod common;

use common::{has_addr, wait_until, AddrWatch, Lan, Netns};
use keeplite::proto::vrrp::{RxMeta, MCAST_V4 as MCAST4, MCAST_V6 as MCAST6};
use keeplite::sys::garp::FrameSocket;
use keeplite::sys::if_index;
use keeplite::sys::netlink::{AddrSpec, LinkMonitor, Rtnl};
use keeplite::sys::vrrp_sock::VrrpSocket;
use std::net::IpAddr;
use std::time::Duration;

#[test]
fn address_lease_expires_unless_refreshed() {
    let ns = Netns::new("lease");
    ns.sh("ip link add d0 type veth peer name d1 && ip link set d1 up && ip link set d0 up");
    ns.enter(|| {
        let mut nl = Rtnl::new().unwrap();
        let idx = if_index("d0").unwrap();
        let expiring: IpAddr = "198.51.100.1".parse().unwrap();
        let kept: IpAddr = "198.51.100.2".parse().unwrap();
        for a in [expiring, kept] {
            let mut spec = AddrSpec::new(idx, a, 32);
            spec.lifetime = Some(Duration::from_secs(2));
            spec.label = Some("d0:vip".into());
            nl.add_address(&spec).unwrap();
        }
        let listed = nl.addresses(Some(idx)).unwrap();
        let info = listed.iter().find(|x| x.addr == kept).unwrap();
        assert_eq!(info.label.as_deref(), Some("d0:vip"));
        assert!(info.valid_left.is_some_and(|s| s <= 2), "{info:?}");
        // Refresh `kept` every 500 ms until the kernel expires `expiring`, which is left
        // alone (the kernel's lifetime timers run in real time).
        let gone = wait_until(Duration::from_secs(10), || {
            std::thread::sleep(Duration::from_millis(500));
            let mut spec = AddrSpec::new(idx, kept, 32);
            spec.lifetime = Some(Duration::from_secs(2));
            spec.label = Some("d0:vip".into());
            nl.add_address(&spec).unwrap();
            let now = nl.addresses(Some(idx)).unwrap();
            assert!(now.iter().any(|a| a.addr == kept), "{now:?}");
            !now.iter().any(|a| a.addr == expiring)
        });
        assert!(gone, "{expiring} outlived its 2 s lifetime");
        nl.del_address(idx, kept, 32).unwrap();
        let err = nl.del_address(idx, kept, 32).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EADDRNOTAVAIL));
    });
    assert!(!has_addr(&ns, "d0", "198.51.100.2"));
}

#[test]
fn refresh_never_removes_the_address() {
    let ns = Netns::new("refr");
    ns.sh("ip link add d0 type veth peer name d1 && ip link set d1 up && ip link set d0 up");
    let watch = AddrWatch::start(&ns);
    ns.enter(|| {
        let mut nl = Rtnl::new().unwrap();
        let idx = if_index("d0").unwrap();
        let a: IpAddr = "2001:db8:1::7".parse().unwrap();
        let mut spec = AddrSpec::new(idx, a, 128);
        spec.lifetime = Some(Duration::from_secs(30));
        for _ in 0..5 {
            nl.add_address(&spec).unwrap();
        }
        let n = nl
            .addresses(Some(idx))
            .unwrap()
            .iter()
            .filter(|x| x.addr == a)
            .count();
        assert_eq!(n, 1);
    });
    let log = watch.finish();
    assert!(log.contains("2001:db8:1::7"), "monitor saw nothing: {log}");
    assert!(
        !log.contains("Deleted"),
        "refresh removed the address: {log}"
    );
}

#[test]
fn link_state_changes_are_reported() {
    let lan = Lan::new(1);
    let h = &lan.hosts[0];
    let (mut mon, mut nl) = h.enter(|| (LinkMonitor::new().unwrap(), Rtnl::new().unwrap()));
    let eth0 = nl.link("eth0").unwrap();
    assert!(eth0.up);
    assert_eq!(eth0.mac.map(|m| m[0] & 1), Some(0), "unicast MAC expected");
    lan.set_port(0, false);
    assert!(wait_until(Duration::from_secs(5), || mon
        .recv()
        .unwrap()
        .iter()
        .any(|l| l.name == "eth0" && !l.up)));
    lan.set_port(0, true);
    assert!(wait_until(Duration::from_secs(5), || mon
        .recv()
        .unwrap()
        .iter()
        .any(|l| l.name == "eth0" && l.up)));
}

/// Opens a VRRP socket on `eth0` of `ns` (on a thread inside it) with the groups joined.
fn vrrp_socket(ns: &Netns, v6: bool, groups: Vec<IpAddr>) -> VrrpSocket {
    ns.enter(move || {
        let s = VrrpSocket::open("eth0", if_index("eth0").unwrap(), v6).unwrap();
        for g in groups {
            s.join(g).unwrap();
        }
        s
    })
}

/// The next datagram's IP facts (read by the core's parser) and VRRP payload.
fn recv_wait(s: &VrrpSocket) -> (RxMeta, Vec<u8>) {
    let mut got = None;
    let mut buf = [0u8; 1500];
    assert!(wait_until(Duration::from_secs(5), || {
        got = s.recv(&mut buf).unwrap().map(|d| {
            let (meta, msg) = d.split().unwrap();
            (meta, msg.to_vec())
        });
        got.is_some()
    }));
    got.unwrap()
}

#[test]
fn vrrp_multicast_and_unicast_ipv4() {
    let lan = Lan::new(3);
    let a = vrrp_socket(&lan.hosts[0], false, vec![IpAddr::V4(MCAST4)]);
    let b = vrrp_socket(&lan.hosts[1], false, vec![IpAddr::V4(MCAST4)]);
    // Host 2 joins nothing: it must still get unicast, and no multicast.
    let c = vrrp_socket(&lan.hosts[2], false, vec![]);
    let b_addr: IpAddr = "192.0.2.2".parse().unwrap();
    b.send(b_addr, IpAddr::V4(MCAST4), 255, b"\x31\x07multicast")
        .unwrap();
    let (r, msg) = recv_wait(&a);
    assert_eq!((r.src, r.dst, r.ttl), (b_addr, IpAddr::V4(MCAST4), 255));
    assert_eq!(msg, b"\x31\x07multicast");
    // Multicast loop is off: the sender does not hear itself, so the first thing b receives
    // is a's later unicast (and c, which joined nothing, gets b's unicast first).
    let a_addr: IpAddr = "192.0.2.1".parse().unwrap();
    a.send(a_addr, b_addr, 255, b"to b").unwrap();
    let (_, msg) = recv_wait(&b);
    assert_eq!(msg, b"to b");
    let c_addr: IpAddr = "192.0.2.3".parse().unwrap();
    // keepalived unicast_ttl: adverts to routed peers may leave with another TTL.
    b.send(b_addr, c_addr, 64, b"unicast").unwrap();
    let (r, msg) = recv_wait(&c);
    assert_eq!((r.src, r.dst, r.ttl), (b_addr, c_addr, 64));
    assert_eq!(msg, b"unicast");
}

#[test]
fn vrrp_multicast_ipv6_reports_hop_limit_and_destination() {
    let lan = Lan::new(2);
    let a = vrrp_socket(&lan.hosts[0], true, vec![IpAddr::V6(MCAST6)]);
    let b = vrrp_socket(&lan.hosts[1], true, vec![IpAddr::V6(MCAST6)]);
    let ll = lan.hosts[1].enter(|| {
        let mut nl = Rtnl::new().unwrap();
        nl.primary_address(if_index("eth0").unwrap(), true)
            .unwrap()
            .unwrap()
    });
    b.send(ll, IpAddr::V6(MCAST6), 255, b"\x31\x01v6").unwrap();
    let (r, msg) = recv_wait(&a);
    assert_eq!((r.src, r.dst, r.ttl), (ll, IpAddr::V6(MCAST6), 255));
    assert_eq!(msg, b"\x31\x01v6");
    // A hop limit other than 255 is reported as such (the core rejects it).
    lan.hosts[1].sh("python3 -c \"
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'eth0')
s.sendto(b'hop1', ('ff02::12', 0, 0, socket.if_nametoindex('eth0')))
\"");
    let (r, msg) = recv_wait(&a);
    assert_eq!(r.ttl, 1);
    assert_eq!(msg, b"hop1");
    // unicast_ttl's per-send hop limit reaches the wire over IPv6 too.
    b.send(ll, IpAddr::V6(MCAST6), 7, b"hop7").unwrap();
    let (r, msg) = recv_wait(&a);
    assert_eq!((r.ttl, msg.as_slice()), (7, &b"hop7"[..]));
}

#[test]
fn batched_adverts_arrive_in_order_and_each_gets_its_outcome() {
    let lan = Lan::new(2);
    let a = vrrp_socket(&lan.hosts[0], false, vec![IpAddr::V4(MCAST4)]);
    let b = vrrp_socket(&lan.hosts[1], false, vec![]);
    let (a_addr, b_addr): (IpAddr, IpAddr) =
        ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    // 70 adverts: more than one sendmmsg call; one of the wrong family in the middle.
    let bodies: Vec<Vec<u8>> = (0..70u8).map(|k| vec![0x31, k]).collect();
    let v6: IpAddr = "ff02::12".parse().unwrap();
    let adverts = bodies.iter().enumerate().map(|(k, m)| {
        let dst = if k == 40 { v6 } else { IpAddr::V4(MCAST4) };
        (k, (b_addr, dst, 255, &m[..]))
    });
    let mut outcome = [None; 70];
    b.send_many(adverts, |k, r| outcome[k] = Some(r.is_ok()));
    for (k, o) in outcome.iter().enumerate() {
        assert_eq!(*o, Some(k != 40), "advert {k}");
    }
    for k in (0..70u8).filter(|&k| k != 40) {
        let (r, msg) = recv_wait(&a);
        assert_eq!((r.src, r.ttl, msg), (b_addr, 255, vec![0x31, k]));
    }
    // Toward a unicast peer with its own TTL, in the same batch as multicast.
    let mixed = [
        (a_addr, b_addr, 64, &b"uni"[..]),
        (a_addr, IpAddr::V4(MCAST4), 255, b"mc"),
    ];
    a.send_many(mixed.into_iter().enumerate(), |_, r| r.unwrap());
    let (r, msg) = recv_wait(&b);
    assert_eq!((r.dst, r.ttl, msg.as_slice()), (b_addr, 64, &b"uni"[..]));
}

#[test]
fn queued_addresses_go_out_in_one_batch_and_refusals_are_named() {
    let ns = Netns::new("nlq");
    ns.sh("ip link add d0 type veth peer name d1 && ip link set d1 up && ip link set d0 up");
    ns.enter(|| {
        let mut nl = Rtnl::new().unwrap();
        let idx = if_index("d0").unwrap();
        let addrs: Vec<IpAddr> = (1..=200u8)
            .map(|k| format!("198.51.100.{k}").parse().unwrap())
            .collect();
        for &a in &addrs {
            let mut spec = AddrSpec::new(idx, a, 32);
            spec.lifetime = Some(Duration::from_secs(30));
            nl.queue_address(&spec);
        }
        // A refused one (no such interface) among good ones; nothing is sent before flush.
        let bad: IpAddr = "203.0.113.9".parse().unwrap();
        nl.queue_address(&AddrSpec::new(idx + 1000, bad, 32));
        let mut v6 = AddrSpec::new(idx, "2001:db8::1".parse().unwrap(), 128);
        v6.lifetime = Some(Duration::from_secs(30));
        nl.queue_address(&v6);
        nl.flush();
        let failed = nl.take_failed();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].0, bad);
        assert_eq!(failed[0].1.raw_os_error(), Some(libc::ENODEV));
        let listed = nl.addresses(Some(idx)).unwrap();
        for a in addrs.iter().chain([&"2001:db8::1".parse().unwrap()]) {
            let info = listed.iter().find(|x| x.addr == *a);
            assert!(
                info.is_some_and(|i| i.valid_left.is_some_and(|s| s <= 30)),
                "{a}"
            );
        }
        // A queued request goes out before any later request, which sees its effect.
        let late: IpAddr = "198.51.100.250".parse().unwrap();
        nl.queue_address(&AddrSpec::new(idx, late, 32));
        nl.del_address(idx, late, 32).unwrap();
        assert!(nl.take_failed().is_empty());
    });
}

#[test]
fn gratuitous_arp_and_unsolicited_na_reach_the_peer() {
    use keeplite::proto::{arp, ndisc};
    let lan = Lan::new(2);
    // The peer learns from gratuitous ARP only with arp_accept; NA updates existing entries
    // only, so capture both on the wire instead.
    let mut dump = common::tcpdump(
        &lan.hosts[1],
        &[
            "-l",
            "-n",
            "-vv",
            "-i",
            "eth0",
            "-c",
            "2",
            "arp or icmp6[0] == 136",
        ],
    );
    lan.hosts[0].enter(|| {
        let mut nl = Rtnl::new().unwrap();
        let link = nl.link("eth0").unwrap();
        let mac = link.mac.unwrap();
        let s = FrameSocket::open(link.index).unwrap();
        let garp = arp::Repr {
            mac,
            ip: "192.0.2.100".parse().unwrap(),
        };
        s.send(&garp.to_bytes()).unwrap();
        let na = ndisc::Repr {
            mac,
            target: "2001:db8::100".parse().unwrap(),
            router: false,
        };
        s.send(&na.to_bytes()).unwrap();
    });
    // It exits after the two frames (-c 2); the guard kills it if they never come.
    dump.wait_timeout(Duration::from_secs(5));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut dump.0.stdout.take().unwrap(), &mut text).unwrap();
    assert!(text.contains("Request who-has 192.0.2.100"), "{text}");
    assert!(text.contains("tell 192.0.2.100"), "{text}");
    assert!(text.contains("hlim 255"), "{text}");
    assert!(text.contains("icmp6 sum ok"), "{text}");
    assert!(text.contains("tgt is 2001:db8::100"), "{text}");
}

/// The frames of a `tcpdump -xx` listing, one per packet.
fn dumped_frames(text: &str) -> Vec<Vec<u8>> {
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for line in text.lines() {
        let Some(hex) = line.trim_start().strip_prefix("0x") else {
            if !line.starts_with(char::is_whitespace) {
                frames.push(Vec::new());
            }
            continue;
        };
        let digits: String = hex.split_once(':').unwrap().1.split_whitespace().collect();
        let bytes = (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16));
        frames.last_mut().unwrap().extend(bytes.map(Result::unwrap));
    }
    frames
}

/// An advert sent as a prebuilt frame through the packet socket is the raw IP socket's, byte
/// for byte, but for what the kernel picks per packet: the IPv4 identification (and so the
/// header checksum) and the IPv6 flow label. The peer's kernel and VRRP socket take both.
#[test]
fn framed_adverts_match_the_raw_paths_bytes() {
    use keeplite::proto::frame;
    let lan = Lan::new(2);
    let rx4 = vrrp_socket(&lan.hosts[1], false, vec![IpAddr::V4(MCAST4)]);
    let rx6 = vrrp_socket(&lan.hosts[1], true, vec![IpAddr::V6(MCAST6)]);
    let filter = "ip proto 112 or ip6 proto 112";
    let args = ["-l", "-n", "-xx", "-i", "eth0", "-c", "4", filter];
    let mut dump = common::tcpdump(&lan.hosts[1], &args);
    let ll = lan.hosts[0].enter(|| {
        let mut nl = Rtnl::new().unwrap();
        nl.primary_address(if_index("eth0").unwrap(), true)
            .unwrap()
            .unwrap()
    });
    let payload = b"\x31\x07framed or raw";
    let sends = [
        (false, "192.0.2.1".parse().unwrap(), IpAddr::V4(MCAST4)),
        (true, ll, IpAddr::V6(MCAST6)),
    ];
    for (v6, src, dst) in sends {
        let s = vrrp_socket(&lan.hosts[0], v6, vec![]);
        s.send(src, dst, 255, payload).unwrap();
        let s = lan.hosts[0].enter(move || {
            let mut s = s;
            assert!(s.use_frames("eth0").unwrap(), "eth0 is Ethernet");
            s
        });
        s.send(src, dst, 255, payload).unwrap();
        for _ in 0..2 {
            let (r, msg) = recv_wait(if v6 { &rx6 } else { &rx4 });
            assert_eq!(
                (r.src, r.dst, r.ttl, &msg[..]),
                (src, dst, 255, &payload[..])
            );
        }
    }
    dump.wait_timeout(Duration::from_secs(5));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut dump.0.stdout.take().unwrap(), &mut text).unwrap();
    let frames = dumped_frames(&text);
    assert_eq!(frames.len(), 4, "{text}");
    for pair in frames.chunks(2) {
        let [raw, framed] = [&pair[0], &pair[1]].map(|f| {
            let (r, p) = frame::Repr::parse(f).unwrap();
            assert_eq!(p, payload);
            let mut f = f.clone();
            if r.src.is_ipv4() {
                f[18..20].fill(0); // identification
                f[24..26].fill(0); // header checksum
            } else {
                f[15] &= 0xf0; // flow label
                f[16..18].fill(0);
            }
            (r, f)
        });
        assert_eq!(framed.1, raw.1, "{text}");
        assert_eq!(framed.0.hop_limit, 255);
    }
    // Not Ethernet: adverts keep the raw socket.
    let lo = lan.hosts[0].enter(|| {
        let mut s = VrrpSocket::open("lo", if_index("lo").unwrap(), false).unwrap();
        s.use_frames("lo").unwrap()
    });
    assert!(!lo, "loopback taken for Ethernet");
}
