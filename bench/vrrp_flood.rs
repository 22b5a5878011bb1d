//! Forged VRRPv3 advert flood for `bench/vrrp-bench` (PARTS=flood); run inside a test
//! namespace. The Python flooder it replaces topped out below 50,000 adverts/s on this host.
//!
//!   vrrp_flood SRC IFACE VRID RATE SECONDS
//!
//! Sends RATE packets/s for SECONDS to 224.0.0.18 from SRC on IFACE, cycling through three
//! kinds: a valid lower-priority advert (priority 50), the same with a bad checksum, and one
//! with TTL 1. Prints the number of packets sent (a loaded machine may not reach RATE).
//! Packets go out through keeplite's own raw socket, one millisecond's worth per wake-up.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use keeplite::proto::vrrp::{Auth, Repr, Version, MCAST_V4};
use keeplite::sys::vrrp_sock::VrrpSocket;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, iface, vrid, rate, secs] = &args[..] else {
        eprintln!("usage: vrrp_flood SRC IFACE VRID RATE SECONDS");
        std::process::exit(2);
    };
    let src: IpAddr = src.parse().expect("SRC");
    let vrid: u8 = vrid.parse().expect("VRID");
    let rate: u64 = rate.parse().expect("RATE");
    let secs: f64 = secs.parse().expect("SECONDS");
    let ifindex: u32 = std::fs::read_to_string(format!("/sys/class/net/{iface}/ifindex"))
        .expect("interface index")
        .trim()
        .parse()
        .expect("interface index");
    let sock = VrrpSocket::open(iface, ifindex, false).expect("raw socket");
    let dst = IpAddr::V4(MCAST_V4);
    // RFC 5798 §5.1: version 3, VRID, priority 50, one address, 10 cs.
    let good = Repr {
        version: Version::V3,
        vrid,
        priority: 50,
        advert_int: 10,
        auth: Auth::NONE,
        addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 99, 0, 100))],
    }
    .to_bytes(&src, &dst)
    .expect("advert");
    let mut bad = good.clone();
    bad[6] ^= 0x5a;
    let kinds: [(&[u8], u8); 3] = [(&good, 255), (&bad, 255), (&good, 1)];
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut sent = 0u64;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let due = ((now - start).as_secs_f64() * rate as f64) as u64;
        while sent < due {
            let (bytes, ttl) = kinds[(sent % 3) as usize];
            // A full socket buffer (ENOBUFS) is the host's limit, not ours: count what left.
            if sock.send(src, dst, ttl, bytes).is_err() {
                break;
            }
            sent += 1;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    println!("{sent}");
}
