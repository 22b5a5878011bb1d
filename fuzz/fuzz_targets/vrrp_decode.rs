//! Arbitrary bytes + IP addresses + TTL -> VRRP parse must not panic; whatever parses must
//! emit back to bytes that parse to the same Repr. The payload also goes through the
//! gratuitous ARP and unsolicited NA frame parsers, with the same round trip.
#![no_main]

use std::net::IpAddr;

use keeplite::proto::vrrp::{Packet, Repr, RxMeta};
use keeplite::proto::{arp, ndisc};
use libfuzzer_sys::fuzz_target;

fn addr(v6: bool, b: &[u8]) -> IpAddr {
    if v6 {
        let mut o = [0u8; 16];
        o.copy_from_slice(&b[..16]);
        IpAddr::from(o)
    } else {
        IpAddr::from([b[0], b[1], b[2], b[3]])
    }
}

fuzz_target!(|data: &[u8]| {
    // Layout: flags, ttl, src (16), dst (16), payload. (The TTL rule is the core's.)
    if data.len() < 34 {
        return;
    }
    let (flags, ttl) = (data[0], data[1]);
    let src = addr(flags & 1 != 0, &data[2..18]);
    // Usually the same family as src, sometimes not, to reach the family checks.
    let dst = addr((flags & 1 != 0) ^ (flags & 2 != 0), &data[18..34]);
    let meta = RxMeta { src, dst, ttl };
    let payload = &data[34..];
    if let Ok(garp) = arp::Packet::new_checked(payload).and_then(|p| arp::Repr::parse(&p)) {
        let bytes = garp.to_bytes();
        assert_eq!(
            arp::Repr::parse(&arp::Packet::new_unchecked(&bytes[..])),
            Ok(garp)
        );
    }
    if let Ok(na) = ndisc::Packet::new_checked(payload).and_then(|p| ndisc::Repr::parse(&p)) {
        let bytes = na.to_bytes();
        assert_eq!(
            ndisc::Repr::parse(&ndisc::Packet::new_unchecked(&bytes[..])),
            Ok(na)
        );
    }
    let Ok(packet) = Packet::new_checked(payload) else {
        return;
    };
    let Ok(repr) = Repr::parse(&packet, &meta) else {
        return;
    };
    let bytes = repr
        .to_bytes(&src, &dst)
        .expect("a parsed advert can be emitted");
    let again = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap(), &meta)
        .expect("an emitted advert parses");
    assert_eq!(again, repr);
});
