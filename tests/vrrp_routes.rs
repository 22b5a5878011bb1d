//! Routes and rules that move with the VIP (`virtual_routes`, `virtual_rules`) and the static
//! ones (`static_ipaddress`, `static_routes`, `static_rules`), end to end: two keeplite nodes
//! in namespaces on a bridged LAN (root), the kernel's tables read with `ip`.

mod common;

use common::{vrrp_conf, wait_until, Keeplite, Lan, Netns};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Host `i`'s configuration: the statics, then instance VI_1 with its routes and rules.
fn conf(i: usize, prio: u8, routes: &str) -> String {
    let statics = format!(
        "static_ipaddress {{\n  198.51.100.{n}/32 dev eth0\n}}\n\
         static_routes {{\n  203.0.113.0/24 via 192.0.2.254 dev eth0\n  prohibit 203.0.114.0/24\n}}\n\
         static_rules {{\n  from 198.51.100.{n} table 200 priority 200\n}}\n",
        n = i + 1
    );
    let extra = format!(
        "virtual_routes {{\n{routes}\n  }}\n  \
         virtual_rules {{\n    from 192.0.2.100 table 7 priority 300\n    not to 10.0.0.0/8 fwmark 3 table 8 priority 301\n  }}"
    );
    statics + &vrrp_conf("VI_1", 51, prio, &["192.0.2.100/24"], &extra)
}

const ROUTES: &str = "    10.40.0.0/16 via 192.0.2.254 dev eth0 src 192.0.2.100\n    \
                      blackhole 10.41.0.0/16\n    default via 192.0.2.253 dev eth0 table 7\n    \
                      2001:db8:40::/48 via 2001:db8::fe dev eth0 metric 7";

/// The kernel's view of what keeplite manages, one line per item that is present.
fn tables(ns: &Netns) -> String {
    ns.sh(
        "ip -4 route show table all | grep -E '^(blackhole |prohibit |unreachable |default |)(10\\.4|203\\.0\\.11|default via 192.0.2.253)' ; \
         ip rule show | grep -E 'lookup (7|8|200)' ; ip -4 -o addr show dev eth0 | grep -o '198\\.51\\.100\\.[0-9]*' ; \
         ip -6 route show 2001:db8:40::/48 ; true",
    )
}

fn has_virtual(ns: &Netns) -> bool {
    let t = tables(ns);
    ["10.40.0.0/16 via 192.0.2.254", "blackhole 10.41.0.0/16"]
        .iter()
        .all(|r| t.contains(r))
        && t.contains("default via 192.0.2.253 dev eth0 table 7")
        && t.contains("2001:db8:40::/48 via 2001:db8::fe dev eth0 proto keepalived metric 7")
        && t.contains("from 192.0.2.100 lookup 7")
        && t.contains("to 10.0.0.0/8 fwmark 0x3 lookup 8")
}

fn has_none_virtual(ns: &Netns) -> bool {
    let t = tables(ns);
    !t.contains("10.40.0.0")
        && !t.contains("2001:db8:40::")
        && !t.contains("10.41.0.0")
        && !t.contains("table 7")
        && !t.contains("lookup 7")
        && !t.contains("lookup 8")
}

fn has_statics(ns: &Netns, n: usize) -> bool {
    let t = tables(ns);
    t.contains("203.0.113.0/24 via 192.0.2.254 dev eth0")
        && t.contains("prohibit 203.0.114.0/24")
        && t.contains(&format!("from 198.51.100.{n} lookup 200"))
        && t.lines().any(|l| l == format!("198.51.100.{n}"))
}

fn settle(ok: impl FnMut() -> bool, what: &str, nodes: &[&Keeplite]) {
    if !wait_until(Duration::from_secs(5), ok) {
        let logs: Vec<String> = nodes.iter().map(|k| k.log()).collect();
        panic!("{what}:\n{}", logs.join("\n----\n"));
    }
}

#[test]
fn routes_and_rules_follow_the_master_statics_stay() {
    let lan = Lan::new(2);
    let (h0, h1) = (&lan.hosts[0], &lan.hosts[1]);
    // Left behind by a crash on the node that will be backup: removed at start.
    h1.sh("ip route add blackhole 10.41.0.0/16 proto 18 && ip rule add from 192.0.2.100 table 7 priority 300 proto 18");
    let mut a = Keeplite::start(h0, &conf(0, 150, ROUTES));
    let b = Keeplite::start(h1, &conf(1, 100, ROUTES));
    a.expect_state("VI_1", "MASTER", 10);
    b.expect_state("VI_1", "BACKUP", 5);
    settle(|| has_virtual(h0), "routes on the master", &[&a]);
    settle(
        || has_statics(h0, 1) && has_statics(h1, 2),
        "statics",
        &[&a, &b],
    );
    assert!(has_none_virtual(h1), "{}", tables(h1));
    // The routes carry keepalived's protocol, as keepalived installs them.
    let r = h0.sh("ip route show 10.40.0.0/16");
    assert!(
        r.contains("proto 18") || r.contains("proto keepalived"),
        "{r}"
    );
    assert!(r.contains("src 192.0.2.100"), "{r}");

    // Cable pulled: the master goes FAULT and takes its routes and rules away; the backup
    // takes over with them. The statics stay on both.
    lan.set_port(0, false);
    a.expect_state("VI_1", "FAULT", 5);
    b.expect_state("VI_1", "MASTER", 8);
    settle(|| has_none_virtual(h0), "routes left the old master", &[&a]);
    settle(|| has_virtual(h1), "routes on the new master", &[&b]);
    assert!(has_statics(h0, 1) && has_statics(h1, 2));

    // Back: the stronger node preempts, the routes follow.
    lan.set_port(0, true);
    a.expect_state("VI_1", "MASTER", 10);
    b.expect_state("VI_1", "BACKUP", 5);
    settle(
        || has_virtual(h0) && has_none_virtual(h1),
        "routes back",
        &[&a, &b],
    );

    // At exit everything keeplite installed goes, statics included.
    a.child.signal("TERM");
    assert!(a.child.wait_timeout(Duration::from_secs(2)).is_some());
    let t = tables(h0);
    assert!(t.trim().is_empty(), "left behind at exit:\n{t}");
    b.expect_state("VI_1", "MASTER", 5);
    settle(|| has_virtual(h1), "routes on the survivor", &[&b]);
}

#[test]
fn reload_changes_only_the_routes_that_changed() {
    let lan = Lan::new(1);
    let h = &lan.hosts[0];
    let k = Keeplite::start(h, &conf(0, 150, ROUTES));
    k.expect_state("VI_1", "MASTER", 10);
    settle(|| has_virtual(h), "routes on the master", &[&k]);
    // Watch the kernel's route events; a marker route shows the watch is live.
    let log = k.dir.join("monitor");
    let cmd = format!("ip -o monitor route > {}", log.display());
    let _mon = h.spawn("sh", &["-c", &cmd]);
    let events = || std::fs::read_to_string(&log).unwrap_or_default();
    let marked = wait_until(Duration::from_secs(5), || {
        let _ = h.sh_output("ip route del 10.99.0.0/16; ip route add 10.99.0.0/16 dev eth0");
        events().contains("10.99.0.0/16")
    });
    assert!(marked, "ip monitor never started");
    let routes = ROUTES.replace("blackhole 10.41.0.0/16", "unreachable 10.42.0.0/16");
    k.write_conf(&conf(0, 150, &routes));
    let (ok, out) = k.client(&["reload"]);
    assert!(ok, "{out}");
    settle(
        || {
            let t = tables(h);
            t.contains("unreachable 10.42.0.0/16") && !t.contains("10.41.0.0")
        },
        "reload applied",
        &[&k],
    );
    assert_eq!(k.state("VI_1"), "MASTER");
    // Only the changed route came and went: the kept ones, and the rules, never moved.
    settle(
        || events().contains("Deleted blackhole 10.41.0.0/16"),
        "deletion seen",
        &[&k],
    );
    let ev = events();
    assert!(ev.contains("unreachable 10.42.0.0/16"), "{ev}");
    assert!(!ev.contains("10.40.0.0") && !ev.contains("table 7"), "{ev}");
    let t = tables(h);
    assert!(t.contains("10.40.0.0/16 via 192.0.2.254"), "{t}");
    assert!(k.log().contains("reconfigured in place"), "{}", k.log());
}

/// The wild configurations that use routes and rules now load them without "not supported".
#[test]
fn wild_configs_with_routes_and_rules_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/wild");
    for f in [
        "005-supervisor-virtual-routes.conf",
        "056-neutron-l3-ha-router.conf",
        "057-octavia-amphora-v4.conf",
        "058-octavia-amphora-v6-no-version.conf",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_keeplite"))
            .args(["-t", "-f"])
            .arg(root.join(f))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(matches!(out.status.code(), Some(0 | 4)), "{f}: {text}");
        for kw in ["virtual_routes", "virtual_rules"] {
            assert!(
                !text.contains(&format!("`{kw}` is a keepalived keyword not supported")),
                "{f}: {text}"
            );
        }
        assert!(
            !text.contains("route skipped") && !text.contains("rule skipped"),
            "{f}: {text}"
        );
    }
}
