//! `use_vmac` against Debian's keepalived 2.2.7 as the peer, both ways (root, in namespaces
//! this test makes): a client on the LAN resolves the VIP to the RFC 5798 §7.3 virtual MAC
//! 00:00:5e:00:01:VRID, and after a failover reaches the new master with the entry it has,
//! unchanged. keeplite's macvlan and the sysctls it changed are gone after it stops.

mod common;

use common::{tcpdump, vrrp_conf, wait_until, Keepalived, Keeplite, Lan, Netns};
use std::io::BufRead;
use std::time::Duration;

/// One address family's side of the test: the VIP, its virtual MAC, the instance's extra
/// configuration.
struct Family {
    vip: &'static str,
    prefix_len: u8,
    vmac: &'static str,
    extra: &'static str,
}

const V4: Family = Family {
    vip: "192.0.2.100",
    prefix_len: 24,
    vmac: "00:00:5e:00:01:33",
    // An IPv6 address on the macvlan of an IPv4 instance: IPv6 stays on for it.
    extra: "use_vmac\n  virtual_ipaddress_excluded {\n    2001:db8::200/64\n  }",
};

const V6: Family = Family {
    vip: "2001:db8::100",
    prefix_len: 64,
    vmac: "00:00:5e:00:02:33",
    extra: "use_vmac\n  version 3",
};

impl Family {
    fn conf(&self, prio: u8) -> String {
        let vip = format!("{}/{}", self.vip, self.prefix_len);
        vrrp_conf("VI_1", 51, prio, &[&vip], self.extra)
    }

    /// The client's neighbour entry for the VIP.
    fn entry(&self, client: &Netns) -> String {
        client.sh(&format!("ip neigh show {} dev eth0", self.vip))
    }

    /// The MAC the client has for the VIP after pinging it (which must get an answer). The
    /// master forgets its neighbours first, so its reply needs a request from the base
    /// interface: an ARP request naming the VIP as its sender would teach the client the
    /// base's MAC.
    fn ping(&self, client: &Netns, master: &Netns) -> String {
        master.sh("ip neigh flush dev eth0");
        let ping = format!("busybox ping -c1 -W1 {}", self.vip);
        let answered = wait_until(Duration::from_secs(10), || {
            client.sh_output(&ping).status.success()
        });
        assert!(answered, "the VIP does not answer");
        let entry = self.entry(client);
        let mut words = entry.split_whitespace();
        words.find(|w| *w == "lladdr");
        words.next().unwrap_or_default().to_owned()
    }
}

/// Source MAC of the next advert on the LAN, seen from the client.
fn advert_source(client: &Netns) -> String {
    let filter = "ip proto 112 or ip6 proto 112";
    let mut dump = tcpdump(client, &["-l", "-e", "-n", "-c1", "-i", "eth0", filter]);
    let mut line = String::new();
    std::io::BufReader::new(dump.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

fn sysctls(ns: &Netns) -> String {
    ns.sh("cd /proc/sys/net/ipv4/conf/eth0 && cat arp_ignore arp_filter arp_announce")
}

/// keepalived's host gets what its NOTE_vrrp_vmac asks of the admin (arp_announce; 2 because
/// 1 keeps the VIP as sender when it shares the base's subnet); keeplite's host gets nothing.
fn keepalived_host(ns: &Netns) {
    ns.sh("sysctl -qw net.ipv4.conf.eth0.arp_announce=2");
}

/// keeplite is the master, then stops: keepalived takes over.
fn keeplite_master_keepalived_backup(f: &Family) {
    let lan = Lan::new(3);
    let (h0, h1, client) = (&lan.hosts[0], &lan.hosts[1], &lan.hosts[2]);
    keepalived_host(h1);
    let before = sysctls(h0);
    let kd = Keepalived::start(h1, &f.conf(100));
    let kl = Keeplite::start(h0, &f.conf(150));
    kl.expect_state("VI_1", "MASTER", 10);
    kd.expect_log("Entering BACKUP STATE", 10);
    let link = h0.sh("ip -d link show vrrp.51");
    assert!(link.contains("macvlan mode private"), "{link}");
    assert_eq!(advert_source(client), f.vmac);
    assert_eq!(f.ping(client, h0), f.vmac);
    if f.vip == V4.vip {
        // arp_ignore, arp_filter, arp_announce on the base while it runs.
        assert_eq!(sysctls(h0), "1\n1\n2\n");
        let addrs = h0.sh("ip -o addr show dev vrrp.51");
        assert!(addrs.contains("2001:db8::200/64"), "{addrs}");
    }

    kl.child.signal("TERM");
    let mut kl = kl;
    assert!(kl.child.wait_timeout(Duration::from_secs(5)).is_some());
    kd.expect_log("Entering MASTER STATE", 10);
    assert!(!h0.sh("ip link").contains("vrrp.51"), "{}", kl.log());
    assert_eq!(sysctls(h0), before, "sysctls not restored");
    // The client's entry still points at the virtual MAC, now on keepalived's node.
    let entry = f.entry(client);
    assert!(entry.contains(f.vmac), "{entry}");
    assert_eq!(f.ping(client, h1), f.vmac);
    assert_eq!(advert_source(client), f.vmac);
}

#[test]
fn keeplite_master_keepalived_backup_v4() {
    keeplite_master_keepalived_backup(&V4);
}

#[test]
fn keeplite_master_keepalived_backup_v6() {
    keeplite_master_keepalived_backup(&V6);
}

#[test]
fn keepalived_master_keeplite_backup() {
    let f = &V4;
    let lan = Lan::new(3);
    let (h0, h1, client) = (&lan.hosts[0], &lan.hosts[1], &lan.hosts[2]);
    keepalived_host(h1);
    // Strict reverse-path filtering everywhere: the adverts reach the macvlan from an
    // address routed through eth0, so keeplite clears `all` and raises each interface instead.
    let rp = "cat /proc/sys/net/ipv4/conf/all/rp_filter /proc/sys/net/ipv4/conf/eth0/rp_filter";
    h0.sh("sysctl -qw net.ipv4.conf.all.rp_filter=1");
    let mut kd = Keepalived::start(h1, &f.conf(200));
    kd.expect_log("Entering MASTER STATE", 10);
    let kl = Keeplite::start(h0, &f.conf(100));
    kl.expect_state("VI_1", "BACKUP", 10);
    // keeplite hears keepalived's adverts, which come from the shared virtual MAC.
    let heard = wait_until(Duration::from_secs(5), || {
        kl.status()
            .is_some_and(|s| s["instances"][0]["master"] == "192.0.2.2")
    });
    assert!(heard, "{:?}", kl.status());
    assert_eq!(h0.sh(rp), "0\n1\n");
    assert_eq!(f.ping(client, h1), f.vmac);

    kd.stop();
    kl.expect_state("VI_1", "MASTER", 10);
    let entry = f.entry(client);
    assert!(entry.contains(f.vmac), "{entry}");
    assert_eq!(f.ping(client, h0), f.vmac);
    assert_eq!(advert_source(client), f.vmac);
    assert!(h0.sh("ip -o addr show dev vrrp.51").contains(f.vip));
    kl.child.signal("TERM");
    let mut kl = kl;
    assert!(kl.child.wait_timeout(Duration::from_secs(5)).is_some());
    assert_eq!(h0.sh(rp), "1\n0\n", "rp_filter not restored");
}

/// A reload that drops `use_vmac` restarts the instance on the interface itself and deletes
/// the macvlan; one that brings it back makes it again; after a crash the next run reuses it.
#[test]
fn reload_adds_and_removes_the_macvlan() {
    let lan = Lan::new(1);
    let h0 = &lan.hosts[0];
    let plain = vrrp_conf("VI_1", 51, 150, &["192.0.2.100/24"], "");
    let kl = Keeplite::start(h0, &V4.conf(150));
    kl.expect_state("VI_1", "MASTER", 10);
    let on_vmac = || h0.sh("ip -o addr show dev vrrp.51").contains(V4.vip);
    assert!(wait_until(Duration::from_secs(5), on_vmac));

    kl.write_conf(&plain);
    let (ok, out) = kl.client(&["reload"]);
    assert!(ok, "{out}");
    kl.expect_state("VI_1", "MASTER", 10);
    let on_base = || common::has_addr(h0, "eth0", V4.vip);
    assert!(wait_until(Duration::from_secs(5), on_base), "{}", kl.log());
    assert!(!h0.sh("ip link").contains("vrrp.51"), "{}", kl.log());
    assert_eq!(sysctls(h0), "0\n0\n0\n");

    kl.write_conf(&V4.conf(150));
    let (ok, out) = kl.client(&["reload"]);
    assert!(ok, "{out}");
    kl.expect_state("VI_1", "MASTER", 10);
    assert!(wait_until(Duration::from_secs(5), on_vmac), "{}", kl.log());
    assert!(!common::has_addr(h0, "eth0", V4.vip));

    // A crash leaves the macvlan behind; the next run takes it over.
    let index = |ns: &Netns| ns.sh("cat /sys/class/net/vrrp.51/ifindex");
    let before = index(h0);
    kl.child.signal("KILL");
    drop(kl);
    let kl = Keeplite::start(h0, &V4.conf(150));
    kl.expect_state("VI_1", "MASTER", 10);
    assert!(wait_until(Duration::from_secs(5), on_vmac), "{}", kl.log());
    assert_eq!(index(h0), before, "{}", kl.log());
}

/// `vmac_xmit_base`: the adverts leave (and arrive) on eth0 with its own MAC, the VIP still
/// answers with the virtual one.
#[test]
fn xmit_base_keeps_adverts_on_the_interface() {
    let lan = Lan::new(3);
    let (h0, h1, client) = (&lan.hosts[0], &lan.hosts[1], &lan.hosts[2]);
    keepalived_host(h1);
    let conf = |prio| {
        V4.conf(prio)
            .replace("use_vmac", "use_vmac\n  vmac_xmit_base")
    };
    let mut kd = Keepalived::start(h1, &conf(100));
    let kl = Keeplite::start(h0, &conf(150));
    kl.expect_state("VI_1", "MASTER", 10);
    kd.expect_log("Entering BACKUP STATE", 10);
    let mac = |ns: &Netns| {
        let link = ns.sh("ip -o link show eth0");
        let mut words = link.split_whitespace();
        words.find(|w| *w == "link/ether");
        words.next().unwrap().to_owned()
    };
    assert_eq!(advert_source(client), mac(h0));
    assert_eq!(V4.ping(client, h0), V4.vmac);
    // keepalived hears them on its eth0: it stays backup until keeplite leaves.
    assert!(!kd.log().contains("Entering MASTER STATE"), "{}", kd.log());
    kl.child.signal("TERM");
    kd.expect_log("Entering MASTER STATE", 10);
    assert_eq!(advert_source(client), mac(h1));
    assert_eq!(V4.ping(client, h1), V4.vmac);
    kd.stop();
}

/// Adverts leave as prebuilt frames: when the interface's MAC address changes (`ip link set
/// address`, a bond's fail_over_mac), they carry the new one, as the kernel's raw path would.
#[test]
fn adverts_follow_a_mac_change() {
    let lan = Lan::new(2);
    let (h0, client) = (&lan.hosts[0], &lan.hosts[1]);
    let kl = Keeplite::start(h0, &vrrp_conf("VI_1", 51, 150, &["192.0.2.100/24"], ""));
    kl.expect_state("VI_1", "MASTER", 10);
    let mac = "02:00:5e:10:20:30";
    assert_ne!(advert_source(client), mac);
    h0.sh(&format!("ip link set eth0 address {mac}"));
    // The adverts already queued when it changed may still carry the old one.
    let moved = wait_until(Duration::from_secs(10), || advert_source(client) == mac);
    assert!(moved, "adverts still from the old MAC: {}", kl.log());
}
