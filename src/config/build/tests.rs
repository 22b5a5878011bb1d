//! Unit tests of the keyword tables and checks.

use crate::config::model::*;
use crate::config::{
    load_str, reference_table, Config, Diagnostic, LoadOptions, MemFiles, Severity,
};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

fn load(text: &str) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
    load_str(
        &MemFiles::default(),
        Path::new("t.conf"),
        text,
        &LoadOptions::default(),
    )
}

/// Loads a valid config; its warnings. Left out: notes, and the warning about an instance
/// without VIPs (`BASE` has none); the tests of those use `load`.
fn ok(text: &str) -> (Config, Vec<String>) {
    let (c, d) = load(text).unwrap_or_else(|d| panic!("{d:#?}"));
    let shown = d
        .iter()
        .filter(|d| d.severity != Severity::Note && !d.message.contains("no virtual_ipaddress"));
    (c, shown.map(|d| d.to_string()).collect())
}

/// Closes a `BASE` instance with a VIP (VRRPv3 instances need one), past the lines tested.
const VIP_END: &str = " virtual_ipaddress {\n 10.9.9.9\n }\n}";

fn err(text: &str) -> String {
    load(text)
        .expect_err("should fail")
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

const BASE: &str = "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n";

#[test]
fn instance_defaults() {
    let (c, d) = ok(&format!("{BASE}}}"));
    assert!(d.is_empty(), "{d:?}");
    let i = &c.instances[0];
    assert_eq!(i.state, InitialState::Backup);
    assert_eq!(i.priority, 100);
    assert_eq!(i.advert_int, Duration::from_secs(1));
    assert_eq!(i.version, 2);
    assert_eq!(i.garp, Garp::default().instance_defaults(false));
    assert_eq!(i.garp.lower_prio_repeat, Some(5));
    assert!(i.accept && !i.nopreempt);
    assert_eq!(i.effective_vip_lease(&c.global), VipLease::Auto);
}

#[test]
fn master_without_priority_owns_the_address_and_clears_nopreempt() {
    let (c, d) = ok(&format!("{BASE} state MASTER\n nopreempt\n}}"));
    assert_eq!(c.instances[0].priority, 255);
    assert!(!c.instances[0].nopreempt);
    assert!(d[0]
        .contains("t.conf:5:2: warning: (`V`) nopreempt will not work with initial state MASTER"));
    let (c, _) = ok(&format!("{BASE} state MASTER\n priority 90\n}}"));
    assert_eq!(c.instances[0].priority, 90);
}

#[test]
fn global_defaults_flow_into_instances() {
    let g = "global_defs {\n vrrp_version 3\n vrrp_strict\n vrrp_garp_master_delay 2\n vip_lease 30\n}\n";
    let (c, d) = ok(&format!(
        "{BASE} advert_int 0.25\n vip_lease off\n{VIP_END}\n{g}"
    ));
    assert!(d.is_empty(), "{d:?}");
    let i = &c.instances[0];
    assert_eq!((i.version, i.accept), (3, false));
    assert_eq!(i.advert_int, Duration::from_millis(250));
    assert_eq!(i.garp.master_delay, Duration::from_secs(2));
    // keepalived's strict mode: no answer to lower priority adverts.
    assert!(i.lower_prio_no_advert);
    assert_eq!(i.garp.lower_prio_repeat, Some(0));
    assert_eq!(c.global.vip_lease, VipLease::Seconds(30));
    assert_eq!(i.effective_vip_lease(&c.global), VipLease::Off);
}

#[test]
fn v2_fractional_advert_rounds_with_warning() {
    let (c, d) = ok(&format!("{BASE} advert_int 1.5\n}}"));
    assert_eq!(c.instances[0].advert_int, Duration::from_secs(2));
    assert!(d[0].contains("whole number of seconds; rounded to 2"));
}

#[test]
fn authentication_rules() {
    let (c, d) = ok(&format!(
        "{BASE} authentication {{\n auth_type PASS\n auth_pass 0123456789\n }}\n}}"
    ));
    assert_eq!(c.instances[0].auth_pass.as_deref(), Some("01234567"));
    assert!(d[0].contains("only `01234567` is used"));
    let (c, d) = ok(&format!(
        "{BASE} authentication {{\n auth_type AH\n auth_pass x\n }}\n}}"
    ));
    assert_eq!(c.instances[0].auth_pass, None);
    assert!(d[0].contains("does not support AH"));
    let (_, d) = ok(&format!("{BASE} authentication {{\n uth_pass x\n }}\n}}"));
    assert!(d[0].contains("did you mean `auth_pass`?"), "{d:?}");
}

#[test]
fn vip_options_and_tracking() {
    let (c, d) = ok(&format!(
        "vrrp_script chk {{\n script \"/bin/true x\"\n weight -20\n}}\n{BASE} virtual_ipaddress {{\n 192.0.2.1/24 brd 192.0.2.255 dev eth1 scope global label eth1:1\n 192.0.2.2\n }}\n track_interface {{\n eth2 weight 20 reverse\n eth3\n }}\n track_script {{\n chk weight 5\n nope\n }}\n}}"
    ));
    let i = &c.instances[0];
    let v = &i.virtual_ipaddress[0];
    assert_eq!(v.prefix_len, 24);
    assert_eq!(v.brd, Some("192.0.2.255".parse().unwrap()));
    assert_eq!(
        (v.dev.as_deref(), v.scope.as_deref(), v.label.as_deref()),
        (Some("eth1"), Some("global"), Some("eth1:1"))
    );
    assert_eq!(i.virtual_ipaddress[1].prefix_len, 32);
    assert_eq!(
        i.track_interface[0],
        TrackInterface {
            name: "eth2".into(),
            weight: 20,
            reverse: true
        }
    );
    assert_eq!(i.track_interface[1].weight, 0);
    assert_eq!(i.track_script.len(), 1);
    assert_eq!(i.track_script[0].weight, Some(5));
    assert_eq!(c.vrrp_scripts[0].script, "/bin/true x");
    assert_eq!(c.vrrp_scripts[0].weight, -20);
    assert!(
        d.iter().any(|d| d.contains("unknown vrrp_script `nope`")),
        "{d:?}"
    );
}

#[test]
fn sync_group_both_forms() {
    let inst = |n: &str, id: u8| {
        format!("vrrp_instance {n} {{\n interface eth0\n virtual_router_id {id}\n}}\n")
    };
    let text = format!(
        "vrrp_sync_group A {{\n group {{\n I1\n }}\n notify_master \"/x m\"\n}}\nvrrp_sync_group B {{\n I2\n GHOST\n}}\n{}{}",
        inst("I1", 1),
        inst("I2", 2)
    );
    let (c, d) = ok(&text);
    assert_eq!(c.sync_groups.len(), 1);
    assert_eq!(c.sync_groups[0].group, ["I1"]);
    assert_eq!(c.sync_groups[0].notify.master.as_deref(), Some("/x m"));
    // keepalived 2.2.7 (wild corpus W9): bare names are unknown keywords, the group goes.
    let d = diags(&d);
    assert!(
        d[0].starts_with("7:17: warning: vrrp_sync_group `B` has no instances; removed"),
        "{d:#?}"
    );
    assert!(
        d[1].starts_with("8:2: warning: unknown keyword `I2` in vrrp_sync_group"),
        "{d:#?}"
    );
    assert!(
        d[2].starts_with("9:2: warning: unknown keyword `GHOST` in vrrp_sync_group"),
        "{d:#?}"
    );
}

#[test]
fn semantic_errors() {
    // keepalived ignores an invalid value and keeps the default: so does keeplite, warning.
    let (c, d) = ok(&format!("{BASE} priority 0\n}}"));
    assert_eq!(c.instances[0].priority, 100);
    assert!(
        d[0].contains(
            "`priority` 0 is out of range: expected 1..=255; ignored, as keepalived does"
        ),
        "{d:?}"
    );
    let dup = format!("{BASE}}}\nvrrp_instance W {{\n interface eth0\n virtual_router_id 7\n}}");
    assert!(err(&dup).contains(
        "t.conf:7:20: error: virtual_router_id 7 on `eth0` is already used by vrrp_instance `V`"
    ));
    // Same VRID on another family is fine.
    let v6 = format!("{BASE}}}\nvrrp_instance W {{\n interface eth0\n version 3\n virtual_router_id 7\n virtual_ipaddress {{\n fe80::1\n }}\n}}");
    ok(&v6);
    assert!(err("vrrp_instance V {\n}").contains("has no `interface`"));
    let strict = "global_defs {\n vrrp_strict\n}\n";
    assert!(err(&format!(
        "{strict}{BASE} unicast_peer {{\n 192.0.2.2\n }}\n}}"
    ))
    .contains("not allowed with vrrp_strict"));
    assert!(err(&format!("{BASE} advert_int 2\n vip_lease 5\n}}"))
        .contains("t.conf:5:2: error: vip_lease 5 s is shorter than 3 advert intervals"));
}

#[test]
fn virtual_server_and_checkers() {
    let text = "virtual_server_group G {\n 192.0.2.3-10 80\n ae00::2-f 80\n fwmark 4\n}\n\
        virtual_server group G {\n lvs_sched sh\n lvs_method TUN\n protocol SCTP\n persistence_timeout 600\n quorum 3\n sorry_server 192.0.2.9 8080\n\
        real_server 192.0.2.21 80 {\n weight 3\n HTTP_GET {\n url {\n path /h\n status_code 200-299 404\n }\n nb_get_retry 4\n }\n\
        MISC_CHECK {\n misc_path \"/bin/chk a\"\n misc_dynamic\n }\n TCP_CHECK {\n connect_port 81\n }\n }\n}";
    let (c, d) = load(text).unwrap();
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].to_string()
            .contains("note: `nb_get_retry` is deprecated"),
        "{d:?}"
    );
    let g = &c.server_groups[0];
    assert_eq!(
        g.entries[0],
        GroupEntry::Range {
            addr: "192.0.2.3".parse().unwrap(),
            last: Some(10),
            port: 80
        }
    );
    assert_eq!(
        g.entries[1],
        GroupEntry::Range {
            addr: "ae00::2".parse().unwrap(),
            last: Some(15),
            port: 80
        }
    );
    assert_eq!(g.entries[2], GroupEntry::Fwmark(4));
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.addr, VsAddr::Group("G".into()));
    assert_eq!(
        (vs.lb_algo.as_str(), vs.lb_kind, vs.protocol),
        ("sh", LbKind::Tun, Protocol::Sctp)
    );
    assert_eq!((vs.persistence_timeout, vs.quorum), (Some(600), 3));
    assert_eq!(vs.delay_loop, Duration::from_secs(60));
    let ip: IpAddr = "192.0.2.9".parse().unwrap();
    assert_eq!(vs.sorry_server, Some((ip, 8080)));
    let rs = &vs.real_servers[0];
    assert_eq!(rs.weight, 3);
    let CheckKind::Http(h) = &rs.checkers[0].kind else {
        panic!()
    };
    assert_eq!(h.urls[0].status_code, [(200, 299), (404, 404)]);
    assert_eq!(rs.checkers[0].retry, 4);
    assert_eq!(rs.checkers[0].connect_timeout, Duration::from_secs(5));
    assert_eq!(
        rs.checkers[1].kind,
        CheckKind::Misc(MiscCheck {
            path: "/bin/chk a".into(),
            timeout: None,
            dynamic: true
        })
    );
    assert_eq!(rs.checkers[2].connect_port, Some(81));
}

#[test]
fn checker_settings_inherit_from_server_levels() {
    let text = "virtual_server 192.0.2.1 80 {\n protocol TCP\n\
        real_server 192.0.2.2 80 {\n HTTP_GET {\n url {\n path /\n }\n }\n delay_loop 9\n retry 7\n }\n\
        real_server 192.0.2.3 80 {\n TCP_CHECK {\n retry 2\n }\n }\n\
        connect_timeout 2\n retry 4\n}";
    let (c, d) = ok(text);
    assert!(d.is_empty(), "{d:?}");
    let rs = &c.virtual_servers[0].real_servers;
    let (h, t) = (&rs[0].checkers[0], &rs[1].checkers[0]);
    assert_eq!((h.connect_timeout, h.retry), (Duration::from_secs(2), 7));
    assert_eq!(h.delay_before_retry, Duration::from_secs(3));
    assert_eq!(h.delay_loop, Some(Duration::from_secs(9)));
    assert_eq!((t.connect_timeout, t.retry), (Duration::from_secs(2), 2));
    assert_eq!(
        (t.delay_before_retry, t.delay_loop),
        (Duration::from_secs(1), None)
    );
}

#[test]
fn unsupported_keywords_warn_and_skip_blocks() {
    let (c, d) = ok(&format!(
        "{BASE} use_ipvlan\n track_bfd {{\n b1\n }}\n}}\nbfd_instance b1 {{\n x\n}}"
    ));
    assert_eq!(c.instances.len(), 1);
    assert_eq!(d.len(), 3);
    assert!(d.iter().all(|d| d.contains("not supported by keeplite")));
}

#[test]
fn reference_lists_every_block_and_keyword() {
    let r = reference_table();
    for needle in [
        "## vrrp_instance",
        "| `virtual_router_id` |",
        "| `nb_get_retry` | old name of `retry`",
        "| `vip_lease` | keeplite:",
        "## MISC_CHECK",
        "`SMTP_CHECK`",
    ] {
        assert!(r.contains(needle), "missing {needle}");
    }
}

/// Diagnostics as `line:col: severity: message` lines (file name dropped).
fn diags(d: &[String]) -> Vec<String> {
    d.iter()
        .map(|s| {
            s.lines()
                .next()
                .unwrap()
                .trim_start_matches("t.conf:")
                .to_string()
        })
        .collect()
}

#[test]
fn keepalived_tolerances_in_instances() {
    // Issue 10 defects 2-5, 7: what keepalived runs (with a message) runs here too.
    let text = "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n state SLAVE\n\
        unicast_src_ip 10.0.0.1/24\n unicast_peer {\n 10.0.0.2/24\n 2001:db8::9\n }\n\
        authentication {\n auth_type PASS;\n auth_pass x\n }\n preempt\n\
        virtual_ipaddress {\n 10.0.0.10\n 2001:db8::1\n }\n\
        virtual_ipaddress_excluded {\n 2001:db8::2\n }\n}\n\
        vrrp_instance V {\n interface eth1\n virtual_router_id 8\n}\n";
    let (c, d) = ok(text);
    assert_eq!(c.instances.len(), 1);
    let i = &c.instances[0];
    assert_eq!(
        (i.state, i.priority, i.auth_pass.as_ref()),
        (InitialState::Backup, 100, None)
    );
    assert_eq!(i.unicast_src_ip, Some("10.0.0.1".parse().unwrap()));
    assert_eq!(i.unicast_peer, ["10.0.0.2".parse::<IpAddr>().unwrap()]);
    assert_eq!(i.virtual_ipaddress.len(), 1);
    assert_eq!(
        i.virtual_ipaddress_excluded[0].addr,
        "2001:db8::2".parse::<IpAddr>().unwrap()
    );
    assert!(!i.is_ipv6());
    let d = diags(&d);
    assert_eq!(d.len(), 5, "{d:#?}");
    assert!(d[0].starts_with(
        "4:8: warning: unknown value `SLAVE` for `state`; keepalived and keeplite use `BACKUP`"
    ));
    assert!(d[1].starts_with(
        "8:2: warning: (`V`) `2001:db8::9` is not of the instance's address family (IPv4)"
    ));
    assert!(
        d[2].starts_with("11:12: warning: unknown value `PASS;` for `auth_type`"),
        "{d:#?}"
    );
    assert!(d[3]
        .starts_with("17:2: warning: (`V`) `2001:db8::1` is not of the instance's address family"));
    assert!(d[4].starts_with(
        "23:15: warning: vrrp_instance `V` is already defined; this block is skipped"
    ));
    // The first address decides the family; `state master` is not MASTER for keepalived.
    let (c, d) = ok(&format!(
        "{BASE} state master\n virtual_ipaddress {{\n 2001:db8::1\n 10.0.0.1\n }}\n}}"
    ));
    assert_eq!(
        (c.instances[0].version, c.instances[0].state),
        (3, InitialState::Backup)
    );
    assert!(c.instances[0].is_ipv6());
    assert!(
        d[0].contains("write `MASTER`: keepalived only knows that spelling"),
        "{d:?}"
    );
}

#[test]
fn ipv6_instances_run_version_3() {
    // Defect 4: no `version` -> 3 silently, as keepalived; an explicit 2 -> 3 with a warning.
    let (c, d) = ok(&format!("{BASE} virtual_ipaddress {{\n fe80::1\n }}\n}}"));
    assert_eq!((c.instances[0].version, d.len()), (3, 0));
    let (c, d) = ok(&format!(
        "{BASE} version 2\n virtual_ipaddress {{\n fe80::1\n }}\n}}"
    ));
    assert_eq!(c.instances[0].version, 3);
    assert!(diags(&d)[0]
        .starts_with("4:2: warning: (`V`) keepalived would send VRRPv2 adverts over IPv6"));
}

#[test]
fn advert_int_is_clamped_and_rounded_as_keepalived() {
    let adv = |v: &str| {
        let (c, d) = ok(&format!("{BASE} {v}\n{VIP_END}"));
        (c.instances[0].advert_int, diags(&d).join("\n"))
    };
    let (a, d) = adv("version 3\n advert_int 50");
    assert_eq!(a, Duration::from_millis(40_950));
    assert!(d.contains("at most 40.95 seconds; set to 40.95"), "{d}");
    let (a, d) = adv("version 3\n advert_int 0.015");
    assert_eq!(a, Duration::from_millis(20));
    assert!(d.contains("rounded to 0.02"), "{d}");
    let (a, d) = adv("advert_int 300");
    assert_eq!(a, Duration::from_secs(1));
    assert!(
        d.contains("outside 0.01..255 seconds; ignored (1 s)"),
        "{d}"
    );
}

#[test]
fn too_many_vips_move_to_excluded() {
    // Defect 10: the advert's count is 8 bits; keepalived moves the excess to the eVIPs.
    let vips: String = (0..260)
        .map(|k| format!(" 10.1.{}.{}\n", k / 250, k % 250 + 1))
        .collect();
    let (c, d) = ok(&format!("{BASE} virtual_ipaddress {{\n{vips} }}\n}}"));
    let i = &c.instances[0];
    assert_eq!(
        (
            i.virtual_ipaddress.len(),
            i.virtual_ipaddress_excluded.len()
        ),
        (255, 5)
    );
    assert_eq!(
        i.virtual_ipaddress_excluded[0].addr,
        "10.1.1.6".parse::<IpAddr>().unwrap()
    );
    assert!(
        diags(&d)[0].starts_with(
            "260:2: warning: (`V`) 260 virtual addresses do not fit one advert (at most 255)"
        ),
        "{d:?}"
    );
    let vips: String = (0..100).map(|k| format!(" 2001:db8::{k:x}\n")).collect();
    let (c, _) = ok(&format!("{BASE} virtual_ipaddress {{\n{vips} }}\n}}"));
    assert_eq!(c.instances[0].virtual_ipaddress.len(), 89);
}

#[test]
fn same_vrid_is_fine_when_unicast_peers_tell_instances_apart() {
    // Defect 11, checked against keepalived 2.2.7 -t.
    let inst = |name: &str, src: &str, peer: &str, vip: &str| {
        let uni = if peer.is_empty() {
            String::new()
        } else {
            format!(" unicast_src_ip {src}\n unicast_peer {{\n {peer}\n }}\n")
        };
        format!("vrrp_instance {name} {{\n interface eth0\n virtual_router_id 9\n{uni} virtual_ipaddress {{\n {vip}\n }}\n}}\n")
    };
    let ok_text = [
        inst("A", "10.0.0.1", "10.0.0.2", "10.0.0.50"),
        inst("B", "10.0.0.1", "10.0.0.3", "10.0.0.51"),
        inst("C", "10.0.0.5", "10.0.0.3", "10.0.0.52"),
        inst("M", "", "", "10.0.0.53"),
    ]
    .concat();
    let (c, d) = ok(&ok_text);
    assert_eq!((c.instances.len(), d.len()), (4, 0), "{d:?}");
    let e = err(&format!(
        "{ok_text}{}",
        inst("D", "10.0.0.1", "10.0.0.3", "10.0.0.54")
    ));
    assert!(
        e.contains(
            "already used by vrrp_instance `B` with the same unicast source and peer 10.0.0.3"
        ),
        "{e}"
    );
    let e = err(&format!("{ok_text}{}", inst("N", "", "", "10.0.0.55")));
    assert!(
        e.contains("already used by vrrp_instance `M` (both multicast)"),
        "{e}"
    );
}

#[test]
fn address_owner_ignores_weights() {
    // Defect 6: priority 255 + weighted tracking; keepalived drops them with a message.
    let text = "vrrp_script w {\n script /bin/true\n weight 10\n}\nvrrp_script f {\n script /bin/true\n}\n\
        vrrp_instance V {\n interface eth0\n virtual_router_id 7\n priority 255\n\
        track_interface {\n eth1 weight 5\n eth2\n }\n track_script {\n w\n f\n }\n}\n\
        vrrp_sync_group G {\n group {\n V\n }\n track_script {\n w\n }\n}\n";
    let (c, d) = ok(text);
    let i = &c.instances[0];
    assert_eq!(i.track_interface.len(), 1);
    assert_eq!(i.track_interface[0].name, "eth2");
    assert_eq!(i.track_script.len(), 1);
    assert_eq!(i.track_script[0].name, "f");
    assert_eq!(c.sync_groups[0].track_script[0].weight, Some(0));
    let d = diags(&d);
    assert_eq!(d.len(), 3, "{d:#?}");
    assert!(d[0].starts_with("12:1: warning: (`V`) priority 255 (address owner): weighted track_interface `eth1` ignored"), "{d:#?}");
    assert!(d[1].starts_with(
        "17:2: warning: (`V`) priority 255 (address owner): weighted track_script `w` ignored"
    ));
    assert!(
        d[2].starts_with("26:2: warning: (`G`) a member has priority 255"),
        "{d:#?}"
    );
}

#[test]
fn keepalived_refusals_and_resets() {
    // Defects 6 and 7 on the global and LVS side.
    let text = "global_defs {\n vrrp_garp_interval 0\n vrrp_gna_interval 0\n vrrp_startup_delay 0\n}\n\
        virtual_server 10.0.0.100 80 {\n lb_kind dr\n lb_algo RR\n quorum 0\n protocol TCP\n sh-port\n mh-fallback\n\
        real_server 10.0.0.5 8080 {\n TCP_CHECK {\n nb_get_retry 3\n }\n }\n}\n\
        virtual_server 10.0.0.101 80 {\n lb_kind DR\n protocol TCP\n real_server 10.0.0.5 8080 {\n }\n}\n";
    let (c, d) = ok(text);
    let g = &c.global;
    assert_eq!(
        (
            g.vrrp_garp_interval,
            g.vrrp_gna_interval,
            g.vrrp_startup_delay
        ),
        (Duration::ZERO, Duration::ZERO, Duration::ZERO)
    );
    let vs = &c.virtual_servers[0];
    assert_eq!(
        (vs.lb_kind, vs.lb_algo.as_str(), vs.quorum),
        (LbKind::Nat, "wlc", 1)
    );
    assert_eq!(
        vs.sched_flags,
        crate::ipvs::model::SVC_F_SCHED1 | crate::ipvs::model::SVC_F_SCHED2
    );
    assert_eq!(
        (
            vs.real_servers[0].port,
            vs.real_servers[0].checkers[0].retry
        ),
        (8080, 1)
    );
    assert_eq!(c.virtual_servers[1].real_servers[0].port, 80);
    let d = diags(&d);
    let want = [
        "2:21: warning: `vrrp_garp_interval 0` is invalid in keepalived",
        "3:20: warning: `vrrp_gna_interval 0` is invalid in keepalived",
        "4:21: warning: `vrrp_startup_delay 0` is invalid in keepalived",
        "7:10: warning: unknown value `dr` for `lb_kind`; keepalived and keeplite use `NAT`",
        "8:10: warning: unknown value `RR` for `lb_algo`; keepalived and keeplite use `wlc`",
        "9:9: warning: `quorum 0` is set to 1, as keepalived does",
        "15:2: warning: unknown keyword `nb_get_retry` in TCP_CHECK; line ignored",
        "22:23: warning: real server port 8080 differs from the virtual server's 80",
    ];
    assert_eq!(d.len(), want.len(), "{d:#?}");
    for (got, want) in d.iter().zip(want) {
        assert!(got.starts_with(want), "{got}\n  != {want}");
    }
}

#[test]
fn diagnostics_are_sorted_and_unicast_without_source_is_a_note() {
    // global_defs is applied first, yet its warning comes after the instance's note.
    let text = "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n unicast_peer {\n 10.0.0.2\n }\n\
        virtual_ipaddress {\n 10.0.0.9\n }\n}\nglobal_defs {\n bogus\n}\n";
    let (_, d) = load(text).unwrap();
    let lines: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    let lines = diags(&lines);
    assert!(
        lines[0].starts_with("4:2: note: unicast_peer without unicast_src_ip"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("12:2: warning: unknown keyword `bogus`"),
        "{lines:?}"
    );
    assert_eq!(crate::config::exit_status(&d[..1]), 0);
}

#[test]
fn wild_corpus_findings() {
    // W5 shared excluded VIPs, W8 script defined below its user, W14 single-quoted script,
    // W22 own interface tracked, W25 preempt_delay with MASTER, `no_track` VIP flag.
    let text = "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n state MASTER\n preempt_delay 5\n\
        track_interface {\n eth0\n eth1\n }\n track_script {\n late\n }\n\
        virtual_ipaddress {\n 10.0.0.1\n }\n virtual_ipaddress_excluded {\n 192.168.2.0/24 dev eth2 no_track\n }\n}\n\
        vrrp_script late {\n script 'killall -0 haproxy'\n}\n\
        vrrp_instance B {\n interface eth1\n virtual_router_id 2\n track_script {\n late\n }\n\
        virtual_ipaddress {\n 10.0.0.2\n }\n virtual_ipaddress_excluded {\n 192.168.2.0/24 dev eth2\n }\n}\n";
    let (c, d) = ok(text);
    let (a, b) = (&c.instances[0], &c.instances[1]);
    assert_eq!(a.preempt_delay, Duration::ZERO);
    assert_eq!(a.track_interface.len(), 1);
    assert!(a.track_script.is_empty());
    assert_eq!(b.track_script[0].name, "late");
    assert_eq!(c.vrrp_scripts[0].script, "killall -0 haproxy");
    assert_eq!(a.virtual_ipaddress_excluded[0].dev.as_deref(), Some("eth2"));
    let d = diags(&d);
    let want = [
        "5:2: warning: (`A`) preempt_delay does not apply to initial state MASTER; cleared",
        "6:1: warning: (`A`) track_interface `eth0` is the instance's own interface; ignored",
        "11:2: warning: vrrp_script `late` is defined below this instance",
        "33:2: warning: virtual address 192.168.2.0 is also in vrrp_instance `A` (both excluded; keepalived accepts this)",
    ];
    assert_eq!(d.len(), want.len(), "{d:#?}");
    for (got, want) in d.iter().zip(want) {
        assert!(got.starts_with(want), "{got}\n  != {want}");
    }
    // Adverted VIPs stay refused: unsafe, and said why.
    let e = err("vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n\
        vrrp_instance B {\n interface eth1\n virtual_router_id 2\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n");
    assert!(e.contains("keepalived accepts it, but it is unsafe"), "{e}");
}

#[test]
fn keepalived_notes_keep_exit_0() {
    let text = "virtual_server fwmark 7 {\n protocol TCP\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 3\n}\n\
        vrrp_instance W {\n version 3\n interface eth0\n virtual_router_id 4\n}\n";
    let d = load(text).unwrap_err();
    let lines: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    let lines = diags(&lines);
    let want = [
        "1:1: note: keepalived: no forwarding method, setting default NAT",
        "1:1: note: keepalived: no scheduler, setting default wlc",
        "2:2: note: keepalived: protocol specified for fwmark - protocol will be ignored",
        "4:1: warning: (`V`) no virtual_ipaddress: keepalived runs such an instance",
        "8:1: error: (`W`) no virtual_ipaddress: VRRPv3, IPv6 and strict instances need one",
    ];
    assert_eq!(lines.len(), want.len(), "{lines:#?}");
    for (got, want) in lines.iter().zip(want) {
        assert!(got.starts_with(want), "{got}\n  != {want}");
    }
    assert_eq!(crate::config::exit_status(&d[..3]), 0);
}

#[test]
fn shell_operators_in_commands_warn() {
    // W15: keepalived execs the command without a shell; keeplite uses /bin/sh -c.
    let text = "vrrp_script a {\n script \"iptables -L -n | grep 8443\"\n}\n\
        vrrp_script b {\n script \"/bin/bash -c 'pidof x || exit 1'\"\n}\n\
        vrrp_script c {\n script \"/usr/bin/check --port 80\"\n}\n";
    let (c, d) = ok(text);
    assert_eq!(c.vrrp_scripts[0].script, "iptables -L -n | grep 8443");
    let d = diags(&d);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(
        d[0].starts_with("2:9: warning: keeplite runs this with `/bin/sh -c`, so `|` works here"),
        "{d:?}"
    );
}

#[test]
fn ah_with_initial_master_starts_as_backup() {
    // W27, as keepalived: it needs an advert's AH sequence number before taking over.
    let (c, d) = ok(&format!(
        "{BASE} state MASTER\n priority 150\n authentication {{\n auth_type AH\n auth_pass x\n }}\n{VIP_END}"
    ));
    assert_eq!(c.instances[0].state, InitialState::Backup);
    let d = diags(&d);
    assert!(
        d[1].starts_with("7:12: warning: (`V`) initial state MASTER is incompatible with AH"),
        "{d:#?}"
    );
}

#[test]
fn unicast_ttl_needs_unicast_peers() {
    let (c, d) = ok(&format!(
        "{BASE} unicast_ttl 64\n unicast_peer {{\n 10.0.0.2\n }}\n}}"
    ));
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.instances[0].unicast_ttl, 64);
    let (_, d) = ok(&format!("{BASE} unicast_ttl 64\n}}"));
    assert!(
        d[0].contains("t.conf:4:2: warning: unicast_ttl without unicast_peer is ignored"),
        "{d:?}"
    );
    let (c, d) = ok(&format!("{BASE} unicast_ttl 0\n}}"));
    assert_eq!(c.instances[0].unicast_ttl, 255);
    assert!(d
        .iter()
        .any(|d| d.contains("out of range: expected 1..=255")));
}

#[test]
fn default_interface_serves_instances_without_one() {
    let g = "global_defs {\n default_interface eth1\n}\n";
    let text = "vrrp_instance V {\n virtual_router_id 7\n}\nvrrp_instance W {\n interface eth2\n virtual_router_id 8\n}\n";
    let (c, d) = ok(&format!("{g}{text}"));
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.instances[0].interface, "eth1");
    assert_eq!(c.instances[1].interface, "eth2");
    assert!(err(text).contains("has no `interface`"));
}

#[test]
fn strict_mode_resets_lower_priority_garps() {
    let (c, d) = ok(&format!(
        "global_defs {{\n vrrp_strict\n}}\n{BASE} garp_lower_prio_repeat 3\n garp_lower_prio_delay 2\n{VIP_END}"
    ));
    let g = c.instances[0].garp;
    assert_eq!(
        (g.lower_prio_repeat, g.lower_prio_delay),
        (Some(0), Some(Duration::ZERO))
    );
    assert!(
        d[0].contains("t.conf:7:2: warning: vrrp_strict: `garp_lower_prio_repeat` must be 0"),
        "{d:?}"
    );
    assert!(d[1].contains("`garp_lower_prio_delay` must be 0"), "{d:?}");
}

#[test]
fn instance_strict_mode_overrides_vrrp_strict_both_ways() {
    // Strict for one instance only: its checks and defaults; the other keeps the global ones.
    let text = format!(
        "{BASE} strict_mode\n state MASTER\n unicast_peer {{\n 192.0.2.2\n }}\n{VIP_END}\n\
         vrrp_instance W {{\n interface eth0\n virtual_router_id 8\n}}\n"
    );
    let e = err(&text);
    assert!(e.contains("not allowed with strict_mode"), "{e}");
    let (c, d) = ok(&format!("{BASE} strict_mode yes\n state MASTER\n priority 100\n no_accept\n{VIP_END}\nvrrp_instance W {{\n interface eth0\n virtual_router_id 8\n}}\n"));
    assert!(
        d[0].contains("strict_mode: state MASTER needs priority 255"),
        "{d:?}"
    );
    let (v, w) = (&c.instances[0], &c.instances[1]);
    assert_eq!(
        (v.state, v.accept, v.lower_prio_no_advert),
        (InitialState::Backup, false, true)
    );
    assert_eq!(v.garp.lower_prio_repeat, Some(0));
    assert_eq!((w.accept, w.lower_prio_no_advert), (true, false));
    // Not strict under vrrp_strict: keepalived's non-strict defaults, no strict checks.
    let (c, d) = ok(&format!(
        "global_defs {{\n vrrp_strict\n}}\n{BASE} strict_mode off\n authentication {{\n auth_type PASS\n auth_pass x\n }}\n{VIP_END}"
    ));
    assert!(d.is_empty(), "{d:?}");
    let v = &c.instances[0];
    assert_eq!((v.accept, v.lower_prio_no_advert), (true, false));
    assert!(v.auth_pass.is_some());
    let (again, _) = ok(&crate::config::dump::dump(&c));
    assert_eq!(again.instances, c.instances);
}

#[test]
fn notify_fifos_and_priority_changes() {
    let text = format!(
        "global_defs {{\n notify_fifo /run/all.fifo\n vrrp_notify_fifo /run/vrrp.fifo nobody nogroup\n \
         vrrp_notify_fifo_script \"/bin/reader -v\" nobody\n lvs_notify_fifo_script /bin/lvs\n \
         vrrp_notify_priority_changes yes\n}}\n{BASE}}}\nvrrp_instance W {{\n interface eth0\n \
         virtual_router_id 8\n notify_priority_changes off\n}}\n"
    );
    let (c, d) = ok(&text);
    assert!(d.is_empty(), "{d:?}");
    let g = &c.global;
    assert_eq!(
        g.notify_fifo.path.as_deref(),
        Some(Path::new("/run/all.fifo"))
    );
    let v = &g.vrrp_notify_fifo;
    let nobody = |group: Option<&str>| ScriptUser {
        user: "nobody".into(),
        group: group.map(Into::into),
    };
    assert_eq!(v.owner, Some(nobody(Some("nogroup"))));
    assert_eq!(v.script.as_deref(), Some("/bin/reader -v"));
    assert_eq!(v.script_user, Some(nobody(None)));
    assert_eq!(g.lvs_notify_fifo.path, None);
    assert_eq!(g.lvs_notify_fifo.script.as_deref(), Some("/bin/lvs"));
    assert!(g.vrrp_notify_priority_changes);
    let on = |i: usize| c.instances[i].priority_changes(None, g);
    assert!(on(0) && !on(1));
    // -d gives the same model back.
    let (again, _) = ok(&crate::config::dump::dump(&c));
    assert_eq!(again, c);
    let (_, d) = ok("global_defs {\n vrrp_notify_priority_changes maybe\n}\n");
    assert_eq!(
        diags(&d),
        ["2:31: warning: invalid value `maybe` for `vrrp_notify_priority_changes`: expected true or false; ignored, as keepalived does"]
    );
}

#[test]
fn track_files_and_their_references() {
    let text = format!(
        "vrrp_track_file f1 {{\n file /run/f1\n weight -3 reverse\n init_file 5 overwrite\n}}\n\
         track_file f2 {{\n file \"/run/f 2\"\n}}\n{BASE} track_file {{\n f1\n f2 weight 20\n later\n }}\n}}\n\
         track_file later {{\n file /run/later\n}}\n"
    );
    let (c, d) = ok(&text);
    assert_eq!(
        diags(&d),
        ["15:2: warning: track_file `later` is not defined above; ignored"]
    );
    // keeplite polls where keepalived uses inotify: `-t` says so.
    let notes = load(&text).unwrap().1;
    assert!(notes.iter().any(|d| d.severity == Severity::Note
        && d.message
            == "`/run/f1` is read every second; keepalived is told of a change at once (inotify)"));
    let f1 = &c.track_files[0];
    assert_eq!(
        (f1.file.as_path(), f1.weight, f1.reverse, f1.init),
        (Path::new("/run/f1"), -3, true, Some((5, true)))
    );
    let f2 = &c.track_files[1];
    assert_eq!(
        (f2.file.as_path(), f2.weight, f2.reverse, f2.init),
        (Path::new("/run/f 2"), 1, false, None)
    );
    let t = &c.instances[0].track_file;
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].weight, t[1].weight), (None, Some(20)));
    let (again, _) = ok(&crate::config::dump::dump(&c));
    assert_eq!(again, c);
}

#[test]
fn track_processes_read_as_keepalived_reads_them() {
    let text = format!(
        "vrrp_track_process p1 {{\n process nginx -g daemon\n param_match initial\n quorum 2\n quorum_max 4\n delay 1.5\n terminate_delay 3\n weight -30 reverse\n}}\n\
         track_process p2 {{\n quorum_max 0\n process sshd\n quorum 9\n weight 300\n}}\n\
         track_process p3 {{\n quorum 2\n quorum_max 1\n}}\n\
         {BASE} track_process {{\n p1\n p2 weight 20\n p3\n }}\n}}\n"
    );
    let (c, d) = ok(&text);
    assert_eq!(
        diags(&d),
        [
            "13:9: warning: quorum is greater than quorum_max; ignored, as keepalived does",
            "14:9: warning: `weight` 300 is out of range: expected -254..=254; ignored, as keepalived does",
            "16:1: warning: track_process `p3` has no `process`; ignored",
            "18:13: warning: quorum_max is less than quorum; ignored, as keepalived does",
            "26:2: warning: track_process `p3` is not defined above; ignored",
        ]
    );
    let p1 = &c.track_processes[0];
    assert_eq!(p1.params.as_deref(), Some(&b"-g\0daemon\0"[..]));
    assert_eq!(
        (p1.param_match, p1.full_command, p1.quorum, p1.quorum_max),
        (ParamMatch::Initial, true, 2, 4)
    );
    assert_eq!(
        (p1.fork_delay, p1.terminate_delay, p1.weight, p1.reverse),
        (
            Duration::from_millis(1500),
            Duration::from_secs(3),
            -30,
            true
        )
    );
    // quorum_max 0: up while none runs; the later quorum 9 exceeds it.
    let p2 = &c.track_processes[1];
    assert_eq!(
        (
            p2.process.as_str(),
            p2.params.is_none(),
            p2.full_command,
            p2.quorum,
            p2.quorum_max
        ),
        ("sshd", true, false, 0, 0)
    );
    let t = &c.instances[0].track_process;
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].weight, t[1].weight), (None, Some(20)));
    let (again, _) = ok(&crate::config::dump::dump(&c));
    assert_eq!(again, c);
}

#[test]
fn file_checks_name_a_track_file_defined_above() {
    let text = "track_file f {\n file /run/f\n weight 3 reverse\n}\n\
        virtual_server 10.0.0.1 80 {\n protocol TCP\n retry 4\n\
         real_server 10.0.0.2 80 {\n FILE_CHECK {\n track_file f\n }\n\
          FILE_CHECK {\n track_file f\n weight -7 noreverse\n }\n\
          FILE_CHECK {\n track_file later\n }\n FILE_CHECK {\n weight 1 sideways\n }\n }\n}\n\
        track_file later {\n file /run/later\n}\n";
    let (c, d) = ok(text);
    assert_eq!(
        diags(&d),
        [
            "16:1: warning: FILE_CHECK: track_file `later` is not defined above; skipped, as keepalived does",
            "19:2: warning: FILE_CHECK has no `track_file`; skipped, as keepalived does",
            "20:11: warning: unknown weight option `sideways`; line ignored, as keepalived does",
        ]
    );
    let checks = &c.virtual_servers[0].real_servers[0].checkers;
    let files: Vec<_> = checks
        .iter()
        .map(|k| match &k.kind {
            CheckKind::File(f) => (f.path.to_str().unwrap(), f.weight, f.reverse, k.retry),
            _ => panic!("{k:?}"),
        })
        .collect();
    // Without its own weight, the file's; the virtual server's retry does not apply.
    assert_eq!(files, [("/run/f", 3, true, 0), ("/run/f", -7, false, 0)]);
    let (again, _) = ok(&crate::config::dump::dump(&c));
    assert_eq!(again, c);
}

#[test]
fn notify_priority_changes_defaults_from_the_sync_group_then_global_defs() {
    let text = "vrrp_sync_group G {\n group {\n A\n B\n }\n notify_priority_changes\n}\n\
        vrrp_instance A {\n interface eth0\n virtual_router_id 1\n}\n\
        vrrp_instance B {\n interface eth0\n virtual_router_id 2\n notify_priority_changes false\n}\n\
        vrrp_instance C {\n interface eth0\n virtual_router_id 3\n}\n";
    let (c, d) = ok(text);
    assert!(d.is_empty(), "{d:?}");
    let g = Some(&c.sync_groups[0]);
    let on = |i: usize, g| c.instances[i].priority_changes(g, &c.global);
    assert_eq!((on(0, g), on(1, g), on(2, None)), (true, false, false));
    let (again, _) = ok(&crate::config::dump::dump(&c));
    assert_eq!(again, c);
}

#[test]
fn smtp_alert_settings_resolve_as_keepalived() {
    let (c, w) = ok("global_defs {
 notification_email {
  ops@example.org
  noc@example.org
 }
 notification_email_from lb@example.org
 smtp_server 192.0.2.25 2525
 smtp_connect_timeout 7
 smtp_helo_name lb1
 smtp_alert
 smtp_alert_checker no
 no_email_faults
 no_checker_emails
}
vrrp_instance A {
 interface lo
 virtual_router_id 1
 smtp_alert off
}
vrrp_instance B {
 interface lo
 virtual_router_id 2
}
virtual_server 10.0.0.1 80 {
 protocol TCP
 real_server 10.0.0.2 80 {
  smtp_alert no
 }
}
");
    assert!(w.is_empty(), "{w:#?}");
    assert_eq!(c.virtual_servers[0].real_servers[0].smtp_alert, Some(false));
    let m = &c.global.smtp;
    assert_eq!(m.to, ["ops@example.org", "noc@example.org"]);
    assert_eq!(m.from.as_deref(), Some("lb@example.org"));
    assert_eq!(m.server, Some("192.0.2.25:2525".parse().unwrap()));
    assert_eq!(m.connect_timeout, Duration::from_secs(7));
    assert_eq!(m.helo_name.as_deref(), Some("lb1"));
    assert!(m.no_email_faults && m.no_checker_emails);
    // Own setting first, then smtp_alert_vrrp / smtp_alert_checker, then smtp_alert.
    assert!(!m.vrrp_alert(c.instances[0].smtp_alert));
    assert!(m.vrrp_alert(c.instances[1].smtp_alert));
    assert!(!m.checker_alert(c.virtual_servers[0].smtp_alert));
    assert!(m.checker_alert(Some(true)));
    // Without any smtp_alert nothing is mailed; the server port defaults to 25.
    let (c, _) = ok("global_defs {\n smtp_server 192.0.2.25\n}\n");
    assert!(!c.global.smtp.vrrp_alert(None));
    assert_eq!(c.global.smtp.server.unwrap().port(), 25);
    let (c, _) = ok("global_defs {\n smtp_server localhost 587\n}\n");
    assert_eq!(c.global.smtp.server, Some("127.0.0.1:587".parse().unwrap()));
    let (c, w) = ok("global_defs {\n smtp_server mail.example.org\n}\n");
    assert!(c.global.smtp.server.is_none());
    assert!(w[0].contains("keeplite needs an address here"), "{w:#?}");
    let (_, w) = ok("global_defs {\n smtp_alert maybe\n}\n");
    assert!(
        w[0].contains("invalid value `maybe` for `smtp_alert`"),
        "{w:#?}"
    );
}

#[test]
fn udp_check_keywords() {
    let text = "virtual_server 192.0.2.1 53 {\n protocol UDP\n\
        real_server 192.0.2.2 53 {\n UDP_CHECK {\n connect_port 5353\n payload 01 0A ff 3\n\
        require_reply 4f4x x1\n min_reply_length 2\n max_reply_length 9\n }\n\
        UDP_CHECK {\n require_reply\n min_reply_length 300\n }\n }\n}";
    let (c, d) = ok(text);
    let rs = &c.virtual_servers[0].real_servers[0];
    assert_eq!(rs.checkers[0].connect_port, Some(5353));
    assert_eq!(
        rs.checkers[0].kind,
        CheckKind::Udp(UdpCheck {
            payload: vec![1, 10, 0xff, 3],
            require_reply: true,
            reply: vec![0x4f, 0x40, 0x01],
            reply_mask: vec![0, 0x0f, 0xf0],
            min_reply_len: 2,
            max_reply_len: 9,
        })
    );
    let CheckKind::Udp(u) = &rs.checkers[1].kind else {
        panic!()
    };
    assert!(u.require_reply && u.reply.is_empty());
    assert!(
        d.iter()
            .any(|m| m.contains("min_reply_length 300 > max_reply_length 255")),
        "{d:?}"
    );
    let e = err("virtual_server 192.0.2.1 53 {\n real_server 192.0.2.2 53 {\n UDP_CHECK {\n payload 0g\n }\n }\n}");
    assert!(e.contains("invalid hex string"), "{e}");
    let e = err("virtual_server 192.0.2.1 53 {\n real_server 192.0.2.2 53 {\n UDP_CHECK {\n payload 0x\n }\n }\n}");
    assert!(
        e.contains("invalid hex string"),
        "x is a wildcard in replies only: {e}"
    );
}

#[test]
fn ping_check_keywords() {
    let text = "virtual_server 192.0.2.1 80 {\n protocol TCP\n\
        real_server 192.0.2.2 80 {\n PING_CHECK {\n connect_ip 2001:db8::2\n connect_timeout 2\n retry 3\n }\n }\n}";
    let (c, d) = ok(text);
    assert!(d.is_empty(), "{d:?}");
    let k = &c.virtual_servers[0].real_servers[0].checkers[0];
    assert_eq!(k.kind, CheckKind::Ping);
    assert_eq!(k.connect_ip, Some("2001:db8::2".parse().unwrap()));
    assert_eq!((k.connect_timeout, k.retry), (Duration::from_secs(2), 3));
}

#[test]
fn dns_check_keywords() {
    let text = "virtual_server 192.0.2.1 53 {\n protocol UDP\n\
        real_server 192.0.2.2 53 {\n DNS_CHECK {\n type aaaa\n name www.example.com.\n }\n\
        DNS_CHECK {\n type WKS\n }\n }\n}";
    let (c, d) = ok(text);
    let rs = &c.virtual_servers[0].real_servers[0];
    assert_eq!(
        rs.checkers[0].kind,
        CheckKind::Dns(DnsCheck {
            qtype: 28,
            name: "www.example.com.".into()
        })
    );
    assert_eq!(rs.checkers[0].retry, 3, "keepalived's DNS default");
    assert_eq!(
        rs.checkers[1].kind,
        CheckKind::Dns(DnsCheck {
            qtype: 6,
            name: ".".into()
        })
    );
    assert!(
        d.iter().any(|m| m.contains("unknown DNS_CHECK type `WKS`")),
        "{d:?}"
    );
    let e = err("virtual_server 192.0.2.1 53 {\n real_server 192.0.2.2 53 {\n DNS_CHECK {\n name a..b\n }\n }\n}");
    assert!(e.contains("invalid DNS name `a..b`"), "{e}");
}

#[test]
fn lvs_sync_daemon_as_keepalived_reads_it() {
    let sync = |line: &str| {
        let text = format!("global_defs {{\n {line}\n}}\n{BASE}}}");
        let (c, d) = ok(&text);
        (c.global.lvs_sync_daemon, d)
    };
    let (d, w) = sync("lvs_sync_daemon eth0 V id 9 maxlen 1400 port 8849 ttl 2 group 239.1.2.3");
    assert!(w.is_empty(), "{w:?}");
    let d = d.unwrap();
    assert_eq!((d.interface.as_str(), d.instance.as_str()), ("eth0", "V"));
    assert_eq!(
        (d.syncid, d.maxlen, d.port, d.ttl),
        (Some(9), Some(1400), Some(8849), Some(2))
    );
    assert_eq!(d.group, Some("239.1.2.3".parse().unwrap()));
    // Options in any order, `inst NAME`, the sync id left to the VRID.
    let (d, w) = sync("lvs_sync_daemon eth0 ttl 3 inst V");
    assert!(w.is_empty(), "{w:?}");
    let d = d.unwrap();
    assert_eq!((d.instance.as_str(), d.syncid, d.ttl), ("V", None, Some(3)));
    // The old positional sync id (a note), bad values and options (warnings).
    let (d, w) = sync("lvs_sync_daemon eth0 V 12 group 10.0.0.1 ttl 0 bogus");
    assert_eq!(
        d.as_ref().map(|d| (d.syncid, d.group, d.ttl)),
        Some((Some(12), None, None))
    );
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w[0].contains("not a multicast address"), "{w:?}");
    assert!(w[2].contains("unknown option `bogus`"), "{w:?}");
    // An unknown instance, or none: no sync daemon, as keepalived.
    for line in ["lvs_sync_daemon eth0 NOPE", "lvs_sync_daemon eth0"] {
        let (d, w) = sync(line);
        assert_eq!(d, None);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("no sync daemon is started"), "{w:?}");
    }
    // The old per-instance form.
    let (c, w) = ok(&format!("{BASE} lvs_sync_daemon_interface eth1\n}}"));
    assert!(w.is_empty(), "{w:?}");
    let d = c.global.lvs_sync_daemon.unwrap();
    assert_eq!((d.interface.as_str(), d.instance.as_str()), ("eth1", "V"));
    // The dump reads back the same.
    let text = "global_defs {\n lvs_sync_daemon eth0 V id 9 port 8849 group 239.1.2.3\n}\n";
    let (c, _) = ok(&format!("{text}{BASE}}}"));
    let dumped = crate::config::dump::dump(&c);
    assert!(
        dumped.contains("lvs_sync_daemon eth0 V id 9 port 8849 group 239.1.2.3"),
        "{dumped}"
    );
}

#[test]
fn lvs_timeouts_flush_and_ops() {
    let text =
        "global_defs {\n lvs_timeouts tcp 7200 udp 30 bogus\n lvs_flush\n lvs_flush_on_stop\n}\n\
                virtual_server 10.0.0.1 53 {\n ops\n protocol UDP\n}\n\
                virtual_server 10.0.0.1 80 {\n protocol TCP\n ops\n}\n";
    let (c, d) = load(text).unwrap();
    let g = &c.global;
    assert_eq!(
        (
            g.lvs_timeouts.tcp,
            g.lvs_timeouts.tcpfin,
            g.lvs_timeouts.udp
        ),
        (Some(7200), None, Some(30))
    );
    assert!(g.lvs_flush && g.lvs_flush_on_stop);
    let ops = crate::ipvs::model::SVC_F_ONEPACKET;
    assert!(c.virtual_servers.iter().all(|v| v.sched_flags & ops != 0));
    let msgs: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert!(
        msgs.iter().any(|m| m.contains("unknown option `bogus`")),
        "{msgs:?}"
    );
    // Kept for TCP, as keepalived keeps it, with a note that it does nothing there.
    assert!(
        msgs.iter()
            .any(|m| m.contains("`ops` only acts on UDP") && m.contains("t.conf:12")),
        "{msgs:?}"
    );
    let dumped = crate::config::dump::dump(&c);
    for want in [
        "lvs_timeouts tcp 7200 udp 30",
        "lvs_flush\n",
        "lvs_flush_on_stop",
        "ops",
    ] {
        assert!(dumped.contains(want), "{want}: {dumped}");
    }
    let (c, _) = load("global_defs {\n lvs_flush_on_stop VS\n}\n").unwrap();
    assert!(!c.global.lvs_flush_on_stop);
}

#[test]
fn use_vmac_names_macs_and_unicast() {
    let vmac = |text: &str| {
        let (c, d) = ok(text);
        (c.instances[0].vmac.clone().expect("use_vmac"), d)
    };
    // RFC 5798 §7.3: 00-00-5E-00-01-{VRID}; keepalived's default name vrrp.VRID.
    let (v, d) = vmac(&format!("{BASE} use_vmac\n}}"));
    assert!(d.is_empty(), "{d:?}");
    assert_eq!((v.name.as_str(), v.mac), ("vrrp.7", [0, 0, 0x5e, 0, 1, 7]));
    assert!(!v.xmit_base);
    // IPv6 instances: 00-00-5E-00-02-{VRID}; vmac_prefix names them.
    let g = "global_defs {\n vmac_prefix vm\n}\n";
    let (v, _) = vmac(&format!(
        "{g}{BASE} use_vmac\n virtual_ipaddress {{\n 2001:db8::1\n }}\n}}"
    ));
    assert_eq!((v.name.as_str(), v.mac), ("vm.7", [0, 0, 0x5e, 0, 2, 7]));
    // A name and a MAC of 5 octets (the VRID completes it) in either order.
    let (v, _) = vmac(&format!(
        "{BASE} use_vmac 02:00:00:00:aa vx\n vmac_xmit_base\n}}"
    ));
    assert_eq!((v.name.as_str(), v.mac), ("vx", [2, 0, 0, 0, 0xaa, 7]));
    assert!(v.xmit_base);
    let text = format!("global_defs {{\n vmac_prefix vm\n}}\n{BASE} use_vmac 02:00:00:00:aa\n vmac_xmit_base\n}}\n");
    let (c, _) = ok(&format!(
        "{text}vrrp_instance W {{\n interface eth0\n virtual_router_id 8\n use_vmac\n}}"
    ));
    let (again, _) = ok(&crate::config::dump::dump(&c));
    assert_eq!(again, c);
    let (v, _) = vmac(&format!("{BASE} use_vmac vx 02:00:00:00:aa:bb\n}}"));
    assert_eq!(v.mac, [2, 0, 0, 0, 0xaa, 0xbb]);
    // keepalived keeps the RFC 5798 range for its default, and refuses multicast.
    for mac in ["00:00:5e:00:01:07", "00:00:5e:00:02", "01:00:00:00:aa"] {
        let (v, d) = vmac(&format!("{BASE} use_vmac {mac}\n}}"));
        assert_eq!(v.mac, [0, 0, 0x5e, 0, 1, 7]);
        assert!(d[0].contains("MAC address; ignored"), "{d:?}");
    }
    // Unicast needs vmac_xmit_base: keepalived sets it with a message.
    let (v, d) = vmac(&format!(
        "{BASE} use_vmac\n unicast_peer {{\n 10.0.0.2\n }}\n}}"
    ));
    assert!(v.xmit_base);
    assert!(d[0].contains("requires vmac_xmit_base; set"), "{d:?}");
    // Bad names and MACs are ignored with a warning; the defaults apply.
    let (v, d) = vmac(&format!("{BASE} use_vmac a/b 00:zz\n}}"));
    assert_eq!((v.name.as_str(), v.mac), ("vrrp.7", [0, 0, 0x5e, 0, 1, 7]));
    assert_eq!(d.len(), 2, "{d:?}");
    // A name another instance uses is ignored; two instances on one macvlan would fight.
    let w = "vrrp_instance W {\n interface eth1\n virtual_router_id 8\n use_vmac vx\n}\n";
    let (c, d) = ok(&format!("{BASE} use_vmac vx\n}}\n{w}"));
    assert_eq!(c.instances[1].vmac.as_ref().unwrap().name, "vrrp.8");
    assert!(
        d[0].contains("`vx` is already `V`'s; the default name"),
        "{d:?}"
    );
    let two = "vrrp_instance W {\n interface eth1\n virtual_router_id 7\n use_vmac\n}\n";
    let e = err(&format!("{BASE} use_vmac\n}}\n{two}"));
    assert!(
        e.contains("use_vmac interface `vrrp.7` is already `V`'s"),
        "{e}"
    );
    let g = "global_defs {\n vmac_prefix a_longer_prefix\n}\n";
    let e = err(&format!("{g}{BASE} use_vmac\n}}"));
    assert!(
        e.contains("`a_longer_prefix.7` is no valid interface name"),
        "{e}"
    );
    let (c, _) = ok(&format!("{BASE}}}"));
    assert!(c.instances[0].vmac.is_none());
}
