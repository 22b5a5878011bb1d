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

fn ok(text: &str) -> (Config, Vec<String>) {
    let (c, d) = load(text).unwrap_or_else(|d| panic!("{d:#?}"));
    (c, d.iter().map(|d| d.to_string()).collect())
}

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
    assert_eq!(i.garp, Garp::default());
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
    let (c, d) = ok(&format!("{BASE} advert_int 0.25\n vip_lease off\n}}\n{g}"));
    assert!(d.is_empty(), "{d:?}");
    let i = &c.instances[0];
    assert_eq!((i.version, i.accept), (3, false));
    assert_eq!(i.advert_int, Duration::from_millis(250));
    assert_eq!(i.garp.master_delay, Duration::from_secs(2));
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
    assert_eq!(c.sync_groups[0].group, ["I1"]);
    assert_eq!(c.sync_groups[0].notify.master.as_deref(), Some("/x m"));
    assert_eq!(c.sync_groups[1].group, ["I2"]);
    assert!(
        d[0].contains("t.conf:9:2: warning: unknown vrrp_instance `GHOST`"),
        "{d:?}"
    );
}

#[test]
fn semantic_errors() {
    assert!(err(&format!("{BASE} priority 0\n}}")).contains("out of range"));
    let dup = format!("{BASE}}}\nvrrp_instance W {{\n interface eth0\n virtual_router_id 7\n}}");
    assert!(err(&dup).contains(
        "t.conf:7:20: error: virtual_router_id 7 on `eth0` is already used by vrrp_instance `V`"
    ));
    // Same VRID on another family is fine.
    let v6 = format!("{BASE}}}\nvrrp_instance W {{\n interface eth0\n version 3\n virtual_router_id 7\n virtual_ipaddress {{\n fe80::1\n }}\n}}");
    ok(&v6);
    assert!(err(&format!(
        "{BASE} virtual_ipaddress {{\n 2001:db8::1\n }}\n}}"
    ))
    .contains("need VRRP version 3"));
    assert!(err("vrrp_instance V {\n}").contains("has no `interface`"));
    assert!(err(&format!("{BASE} state SLAVE\n}}")).contains("invalid value `SLAVE` for `state`"));
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
    let (c, d) = ok(text);
    assert!(d.is_empty(), "{d:?}");
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
        "{BASE} use_vmac\n virtual_routes {{\n 10.0.0.0/8 via 192.0.2.1\n }}\n}}\nstatic_routes {{\n x\n}}"
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
        "| `nb_get_retry` | old name of `retry` |",
        "| `vip_lease` | keeplite:",
        "## MISC_CHECK",
        "`SMTP_CHECK`",
    ] {
        assert!(r.contains(needle), "missing {needle}");
    }
}
