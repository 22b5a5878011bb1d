//! `dynamic_interfaces` (root, network namespaces): an instance whose interface is deleted
//! goes to FAULT; created again (under a new index), the instance restarts on it and the
//! VIP really is there.

mod common;

use common::{has_addr, plug, vrrp_conf, Keeplite, Lan};

#[test]
fn an_interface_deleted_and_created_again_brings_the_instance_back() {
    let lan = Lan::new(1);
    let h = &lan.hosts[0];
    let conf = "global_defs {\n  dynamic_interfaces\n}\n".to_owned()
        + &vrrp_conf("VI_1", 66, 100, &["192.0.2.100/24"], "");
    let kl = Keeplite::start(h, &conf);
    kl.expect_state("VI_1", "MASTER", 10);
    assert!(has_addr(h, "eth0", "192.0.2.100"));
    assert!(!kl.log().contains("not supported"), "{}", kl.log());

    h.sh("ip link del eth0");
    kl.expect_state("VI_1", "FAULT", 10);

    // The same name again, its address first, then up.
    plug(&lan.switch, "br0", "p0", h, "eth0");
    h.sh("ip link set eth0 down; ip addr add 192.0.2.1/24 dev eth0; ip link set eth0 up");
    kl.expect_state("VI_1", "MASTER", 15);
    assert!(has_addr(h, "eth0", "192.0.2.100"), "{}", kl.log());
    assert!(kl.log().contains("VI_1: interface eth0 is new: restarting"));
}
