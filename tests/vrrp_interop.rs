//! Interoperability with Debian's keepalived 2.2.7 as the peer, both directions (root).

mod common;

use common::{has_addr, vrrp_conf, wait_until, Keepalived, Keeplite, Lan};
use std::time::Duration;

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
    assert!(wait_until(Duration::from_secs(10), || kd
        .log()
        .contains("Entering BACKUP STATE")));
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
