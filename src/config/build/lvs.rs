//! `virtual_server_group`, `virtual_server` and `real_server`.

use super::*;
use crate::ipvs::model::{Scheduler, SVC_F_ONEPACKET, SVC_F_SCHED1, SVC_F_SCHED2};

pub(super) fn server_group(c: &mut Ctx, b: &mut Builder, n: &Node) {
    let mut g = VirtualServerGroup {
        name: n.args[0].text.clone(),
        entries: Vec::new(),
    };
    for e in block(n) {
        if e.kw.text == "fwmark" {
            if let Some(m) = e.args.first() {
                if let Some(v) = c.int_tok("fwmark", m, 1, u32::MAX.into()) {
                    g.entries.push(GroupEntry::Fwmark(v as u32));
                }
                continue;
            }
        }
        let Some(port) = e.args.first() else {
            c.warn(
                &e.kw,
                format!(
                    "virtual_server_group entry `{}` has no port; skipped, as keepalived does",
                    e.kw.text
                ),
                Some("expected `IP[-LAST] PORT` or `fwmark N`".into()),
            );
            continue;
        };
        let (a, last) = match e.kw.text.split_once('-') {
            Some((a, l)) => (a, Some(l)),
            None => (e.kw.text.as_str(), None),
        };
        let Ok(addr) = a.parse::<IpAddr>() else {
            c.warn(
                &e.kw,
                format!(
                    "invalid address `{}` in virtual_server_group; skipped, as keepalived does",
                    e.kw.text
                ),
                Some("expected `IP[-LAST] PORT` or `fwmark N`".into()),
            );
            continue;
        };
        // The range end replaces the last octet (IPv4, decimal) or group (IPv6, hex).
        let (first, radix, max) = match addr {
            IpAddr::V4(v) => (u16::from(v.octets()[3]), 10, 255),
            IpAddr::V6(v) => (v.segments()[7], 16, 0xffff),
        };
        let last = match last.map(|l| u16::from_str_radix(l, radix)) {
            None => None,
            Some(Ok(l)) if l >= first && l <= max => Some(l),
            Some(_) => {
                c.warn(
                    &e.kw,
                    format!(
                        "invalid range `{}`: the end must be >= the start's last part and <= {max}; skipped, as keepalived does",
                        e.kw.text
                    ),
                    None,
                );
                continue;
            }
        };
        if let Some(port) = c.port("virtual_server_group", port) {
            g.entries.push(GroupEntry::Range { addr, last, port });
        }
    }
    b.cfg.server_groups.push(g);
}

pub(super) const VS_CHECK_DEFAULTS: [Kw<VirtualServer>; 3] = check_default_kws!(VirtualServer);
pub(super) const RS_CHECK_DEFAULTS: [Kw<RealServer>; 3] = check_default_kws!(RealServer);

pub(super) fn virtual_server(c: &mut Ctx, b: &mut Builder, n: &Node) {
    let (a0, a1) = (&n.args[0], &n.args[1]);
    let addr = match a0.text.as_str() {
        "fwmark" => c
            .int_tok("fwmark", a1, 1, u32::MAX.into())
            .map(|v| VsAddr::Fwmark(v as u32)),
        "group" => Some(VsAddr::Group(a1.text.clone())),
        _ => match (c.ip("virtual_server", a0), c.port("virtual_server", a1)) {
            (Some(ip), Some(port)) => Some(VsAddr::Ip(ip, port)),
            _ => None,
        },
    };
    let mut vs = VirtualServer {
        // Known before the real servers are read: they check their port against it.
        addr: addr.clone().unwrap_or(VsAddr::Fwmark(0)),
        delay_loop: Duration::from_secs(60),
        lb_algo: "wlc".into(),
        lb_kind: LbKind::Nat,
        sched_flags: 0,
        persistence_timeout: None,
        persistence_granularity: None,
        persistence_engine_sip: false,
        protocol: Protocol::Udp,
        ha_suspend: false,
        virtualhost: None,
        sorry_server: None,
        inhibit_on_failure: false,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        alpha: false,
        omega: false,
        smtp_alert: None,
        real_servers: Vec::new(),
    };
    // Checker defaults apply wherever they appear in the block: real servers come last.
    let (rss, others): (Vec<&Node>, Vec<&Node>) =
        block(n).iter().partition(|m| m.kw.text == "real_server");
    c.check_defaults = CheckDefaults::default();
    let tables: &[&[Kw<VirtualServer>]] = &[VS, &VS_CHECK_DEFAULTS];
    let seen = apply(
        c,
        "virtual_server",
        tables,
        &mut vs,
        others.into_iter().chain(rss),
    );
    c.check_defaults = CheckDefaults::default();
    let Some(addr) = addr else { return };
    if !seen.contains_key("protocol") && !matches!(addr, VsAddr::Fwmark(_)) {
        c.warn(
            &n.kw,
            "virtual_server has no `protocol`; defaulting to UDP (as keepalived does)".into(),
            Some("add `protocol TCP`".into()),
        );
    }
    if matches!(addr, VsAddr::Fwmark(_)) {
        if let Some(t) = seen.get("protocol") {
            c.note(
                t,
                "keepalived: protocol specified for fwmark - protocol will be ignored".into(),
                None,
            );
        }
        // Ignored by IPVS too: the default keeps the model (and the dump) free of it.
        vs.protocol = Protocol::Udp;
    }
    for (kw, alias, what) in [
        (
            "lb_kind",
            "lvs_method",
            "forwarding method, setting default NAT",
        ),
        ("lb_algo", "lvs_sched", "scheduler, setting default wlc"),
    ] {
        if !seen.contains_key(kw) && !seen.contains_key(alias) {
            c.note(&n.kw, format!("keepalived: no {what}"), None);
        }
    }
    if let (Some(t), None) = (seen.get("persistence_engine"), vs.persistence_timeout) {
        if vs.persistence_engine_sip {
            let msg = "`persistence_engine` without `persistence_timeout` does nothing: the service is not persistent";
            c.note(t, msg.into(), None);
        }
    }
    if let (Some(t), false) = (seen.get("ops"), vs.protocol == Protocol::Udp) {
        let msg = "`ops` only acts on UDP: this service's connections are scheduled as usual (keepalived: \"inactive due to not UDP\")";
        c.note(t, msg.into(), None);
    }
    vs.addr = addr;
    b.vs_groups.push(match vs.addr {
        VsAddr::Group(_) => Some(a1.clone()),
        _ => None,
    });
    b.cfg.virtual_servers.push(vs);
}

pub(super) const VS: &[Kw<VirtualServer>] = &[
    Kw {
        name: "delay_loop",
        arity: N(1),
        doc: "`delay_loop SECS`: checker interval (default 60)",
        set: |c, v, n| v.delay_loop = c.secs(n).unwrap_or(v.delay_loop),
    },
    Kw {
        name: "lb_algo",
        arity: N(1),
        doc: "`lb_algo rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|mh|fo|ovf|twos`: IPVS scheduler (default wlc; another name, `RR` included, means wlc with a warning, as keepalived does)",
        set: set_sched,
    },
    Kw {
        name: "lvs_sched",
        arity: N(1),
        doc: "same as `lb_algo`",
        set: set_sched,
    },
    Kw {
        name: "lb_kind",
        arity: N(1),
        doc: "`lb_kind DR|NAT|TUN`: forwarding method (default NAT; another spelling, `dr` included, means NAT with a warning, as keepalived does)",
        set: set_kind,
    },
    Kw {
        name: "lvs_method",
        arity: N(1),
        doc: "same as `lb_kind`",
        set: set_kind,
    },
    Kw {
        name: "persistence_timeout",
        arity: N(1),
        doc: "`persistence_timeout SECS`: client affinity timeout (default none; `0`, which keepalived refuses, means none with a warning)",
        set: |c, v, n| {
            v.persistence_timeout = c
                .int(n, 0, u32::MAX.into())
                .and_then(|s| (s > 0).then_some(s as u32));
            if n.args[0].text == "0" {
                c.warn(
                    &n.args[0],
                    "`persistence_timeout 0` is invalid in keepalived (1..2678400); ignored: no persistence".into(),
                    Some("remove the line: no persistence is the default".into()),
                );
            }
        },
    },
    Kw {
        name: "persistence_granularity",
        arity: N(1),
        doc: "`persistence_granularity NETMASK`: affinity per client network",
        set: |c, v, n| {
            v.persistence_granularity = c.parse(&n.kw.text, &n.args[0], "an IPv4 netmask");
        },
    },
    Kw {
        name: "protocol",
        arity: N(1),
        doc: "`protocol TCP|UDP|SCTP` (default UDP, as keepalived)",
        set: |c, v, n| {
            v.protocol = c.choice(n, Protocol::CHOICES).unwrap_or(v.protocol);
        },
    },
    Kw {
        name: "smtp_alert",
        arity: Range(0, 1),
        doc: "`smtp_alert [yes|no]`: mail when a checker of a real server fails or recovers and when the quorum is lost or gained (default: `smtp_alert_checker`, else `smtp_alert` of global_defs)",
        set: |c, v, n| v.smtp_alert = yes_no(c, n),
    },
    Kw {
        name: "ha_suspend",
        arity: N(0),
        doc: "`ha_suspend`: suspend checkers while the VIP is absent",
        set: |_, v, _| v.ha_suspend = true,
    },
    Kw {
        name: "virtualhost",
        arity: N(1),
        doc: "`virtualhost NAME`: default HTTP Host header for HTTP_GET/SSL_GET",
        set: |_, v, n| v.virtualhost = Some(n.args[0].text.clone()),
    },
    Kw {
        name: "sorry_server",
        arity: Range(1, 2),
        doc: "`sorry_server IP [PORT]`: used when the quorum is lost (port 0 = the service's)",
        set: |c, v, n| {
            let port = opt_port(c, &n.kw.text, n.args.get(1));
            if let (Some(ip), Some(port)) = (c.ip(&n.kw.text, &n.args[0]), port) {
                v.sorry_server = Some((ip, port));
            }
        },
    },
    Kw {
        name: "inhibit_on_failure",
        arity: N(0),
        doc: "`inhibit_on_failure`: set weight 0 instead of removing failed real servers",
        set: |_, v, _| v.inhibit_on_failure = true,
    },
    Kw {
        name: "quorum",
        arity: N(1),
        doc: "`quorum N`: minimum total weight of live real servers (default 1; `0` is set to 1 with a warning, as keepalived does)",
        set: |c, v, n| {
            v.quorum = c.int(n, 0, u32::MAX.into()).unwrap_or(1) as u32;
            if v.quorum == 0 {
                c.warn(&n.args[0], "`quorum 0` is set to 1, as keepalived does".into(), None);
                v.quorum = 1;
            }
        },
    },
    Kw {
        name: "hysteresis",
        arity: N(1),
        doc: "`hysteresis N`: quorum tolerance (default 0)",
        set: |c, v, n| v.hysteresis = c.int(n, 0, u32::MAX.into()).unwrap_or(0) as u32,
    },
    Kw {
        name: "quorum_up",
        arity: Rest,
        doc: "`quorum_up CMD`: run when the quorum is reached",
        set: |c, v, n| v.quorum_up = Some(c.command(n)),
    },
    Kw {
        name: "quorum_down",
        arity: Rest,
        doc: "`quorum_down CMD`: run when the quorum is lost",
        set: |c, v, n| v.quorum_down = Some(c.command(n)),
    },
    Kw {
        name: "alpha",
        arity: N(0),
        doc: "`alpha`: real servers start down until their first successful check",
        set: |_, v, _| v.alpha = true,
    },
    Kw {
        name: "omega",
        arity: N(0),
        doc: "`omega`: run quorum_down and clear the service on shutdown",
        set: |_, v, _| v.omega = true,
    },
    Kw {
        name: "persistence_engine",
        arity: N(1),
        doc: "`persistence_engine sip`: persistent connections grouped by SIP Call-ID rather than by client address (kernel module ip_vs_pe_sip; needs `persistence_timeout`)",
        set: |c, v, n| {
            let t = &n.args[0];
            if t.text == "sip" {
                v.persistence_engine_sip = true;
            } else {
                let msg = format!("unknown persistence engine `{}`; ignored (the kernel has only `sip`, keepalived would have the service refused)", t.text);
                c.warn(t, msg, Some("write `persistence_engine sip`".into()));
            }
        },
    },
    Kw {
        name: "ops",
        arity: N(0),
        doc: "`ops`: one-packet scheduling, each UDP datagram scheduled on its own (IPVS flag; no effect on TCP and SCTP, as in keepalived)",
        set: |_, v, _| v.sched_flags |= SVC_F_ONEPACKET,
    },
    Kw {
        name: "sh-port",
        arity: N(0),
        doc: "`sh-port`: the `sh` scheduler hashes the source port too (IPVS flag)",
        set: sched_flag,
    },
    Kw {
        name: "sh-fallback",
        arity: N(0),
        doc: "`sh-fallback`: the `sh` scheduler skips unavailable servers (IPVS flag)",
        set: sched_flag,
    },
    Kw {
        name: "mh-port",
        arity: N(0),
        doc: "`mh-port`: the `mh` scheduler hashes the source port too (IPVS flag)",
        set: sched_flag,
    },
    Kw {
        name: "mh-fallback",
        arity: N(0),
        doc: "`mh-fallback`: the `mh` scheduler skips unavailable servers (IPVS flag)",
        set: sched_flag,
    },
    Kw {
        name: "real_server",
        arity: Block(1, 2),
        doc: "`real_server IP [PORT] { ... }`: the port may be omitted with fwmark services",
        set: real_server,
    },
];

/// An optional port: absent = 0 (the service's port, or none with fwmark services).
pub(super) fn opt_port(c: &mut Ctx, kw: &str, t: Option<&Token>) -> Option<u16> {
    t.map_or(Some(0), |t| c.port(kw, t))
}

fn set_sched(c: &mut Ctx, v: &mut VirtualServer, n: &Node) {
    let choices: Vec<(&str, Scheduler)> = Scheduler::ALL.iter().map(|s| (s.name(), *s)).collect();
    v.lb_algo = c
        .keepalived_choice(n, &choices, ("wlc", Scheduler::Wlc))
        .name()
        .into();
}

pub(super) fn set_kind(c: &mut Ctx, v: &mut VirtualServer, n: &Node) {
    v.lb_kind = c.keepalived_choice(n, LbKind::CHOICES, ("NAT", LbKind::Nat));
}

/// `sh-port` and friends: IPVS scheduler flags (keepalived passes the same bits).
fn sched_flag(_: &mut Ctx, v: &mut VirtualServer, n: &Node) {
    v.sched_flags |= match &n.kw.text[3..] {
        "fallback" => SVC_F_SCHED1,
        _ => SVC_F_SCHED2,
    };
}

/// `inhibit_on_failure` is not inherited from the virtual server here: consumers OR the two.
pub(super) fn real_server(c: &mut Ctx, v: &mut VirtualServer, n: &Node) {
    let addr = c.ip("real_server", &n.args[0]);
    let port = opt_port(c, "real_server", n.args.get(1));
    let mut rs = RealServer {
        addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        port: 0,
        weight: 1,
        inhibit_on_failure: false,
        notify_up: None,
        notify_down: None,
        smtp_alert: None,
        checkers: Vec::new(),
    };
    let saved = c.check_defaults;
    let (checks, others): (Vec<&Node>, Vec<&Node>) =
        block(n).iter().partition(|m| m.block.is_some());
    let tables: &[&[Kw<RealServer>]] = &[RS, &RS_CHECK_DEFAULTS];
    apply(
        c,
        "real_server",
        tables,
        &mut rs,
        others.into_iter().chain(checks),
    );
    c.check_defaults = saved;
    let (Some(addr), Some(mut port)) = (addr, port) else {
        return;
    };
    // IPVS cannot change the port with DR or TUN: keepalived resets it, with a warning.
    if let (VsAddr::Ip(_, vport), LbKind::Dr | LbKind::Tun, Some(t)) =
        (&v.addr, v.lb_kind, n.args.get(1))
    {
        if port != 0 && port != *vport {
            c.warn(
                t,
                format!("real server port {port} differs from the virtual server's {vport}, which DR and TUN cannot change; {vport} used, as keepalived does"),
                Some(format!("write `{vport}`, or use `lb_kind NAT` to change ports")),
            );
            port = *vport;
        }
    }
    rs.addr = addr;
    rs.port = port;
    v.real_servers.push(rs);
}

pub(super) const RS: &[Kw<RealServer>] = &[
    Kw {
        name: "weight",
        arity: N(1),
        doc: "`weight N`: IPVS weight (default 1)",
        set: |c, r, n| r.weight = c.int(n, 0, i32::MAX.into()).unwrap_or(1) as i32,
    },
    Kw {
        name: "inhibit_on_failure",
        arity: N(0),
        doc: "`inhibit_on_failure`: set weight 0 instead of removing on failure",
        set: |_, r, _| r.inhibit_on_failure = true,
    },
    Kw {
        name: "smtp_alert",
        arity: Range(0, 1),
        doc: "`smtp_alert [yes|no]`: mail when one of its checkers fails or recovers (default: the virtual server's)",
        set: |c, r, n| r.smtp_alert = yes_no(c, n),
    },
    Kw {
        name: "notify_up",
        arity: Rest,
        doc: "`notify_up CMD`: run when the server comes up",
        set: |c, r, n| r.notify_up = Some(c.command(n)),
    },
    Kw {
        name: "notify_down",
        arity: Rest,
        doc: "`notify_down CMD`: run when the server goes down",
        set: |c, r, n| r.notify_down = Some(c.command(n)),
    },
    Kw {
        name: "delay_loop",
        arity: N(1),
        doc: "`delay_loop SECS`: default checker interval for this real server",
        set: |c, _, n| c.check_defaults.delay_loop = c.secs(n),
    },
    Kw {
        name: "TCP_CHECK",
        arity: Block(0, 0),
        doc: "`TCP_CHECK { ... }`: TCP connect check, up on the SYN-ACK; keeplite then resets without the last ACK, so the server's application accepts nothing (keepalived completes and closes a connection)",
        set: checker,
    },
    Kw {
        name: "HTTP_GET",
        arity: Block(0, 0),
        doc: "`HTTP_GET { url { ... } ... }`: HTTP check",
        set: checker,
    },
    Kw {
        name: "SSL_GET",
        arity: Block(0, 0),
        doc: "`SSL_GET { url { ... } ... }`: HTTPS check",
        set: checker,
    },
    Kw {
        name: "MISC_CHECK",
        arity: Block(0, 0),
        doc: "`MISC_CHECK { misc_path CMD ... }`: script check",
        set: checker,
    },
    Kw {
        name: "FILE_CHECK",
        arity: Block(0, 0),
        doc: "`FILE_CHECK { track_file NAME [weight N [reverse]] }`: the real server follows a `track_file`'s value",
        set: checker,
    },
    Kw {
        name: "UDP_CHECK",
        arity: Block(0, 0),
        doc: "`UDP_CHECK { payload HEX; require_reply [HEX] ... }`: UDP datagram check",
        set: checker,
    },
    Kw {
        name: "PING_CHECK",
        arity: Block(0, 0),
        doc: "`PING_CHECK { ... }`: ICMP/ICMPv6 echo check (ping socket, else raw)",
        set: checker,
    },
    Kw {
        name: "DNS_CHECK",
        arity: Block(0, 0),
        doc: "`DNS_CHECK { type T; name N ... }`: DNS query over UDP (retry default 3)",
        set: checker,
    },
];

/// `lvs_sync_daemon IFACE [INSTANCE] [inst NAME] [id N] [maxlen N] [port N] [ttl N]
/// [group ADDR]`, read as keepalived's `lvs_syncd_handler` reads it: options in any order,
/// the old positional `IFACE INSTANCE SYNCID` still understood.
pub(super) fn lvs_sync_daemon(c: &mut Ctx, g: &mut GlobalDefs, n: &Node) {
    if let Some(d) = &g.lvs_sync_daemon {
        let msg = format!(
            "`lvs_sync_daemon` is already set ({} {}); this one is ignored, as keepalived does",
            d.interface, d.instance
        );
        c.warn(&n.kw, msg, None);
        return;
    }
    let ifname = &n.args[0];
    // IP_VS_IFNAME_MAXLEN is 16, with the NUL.
    if ifname.text.len() >= 16 {
        let msg = format!("interface name `{}` is too long (at most 15 characters); `lvs_sync_daemon` ignored, as keepalived does", ifname.text);
        c.warn(ifname, msg, None);
        return;
    }
    c.interface(ifname);
    let mut d = LvsSyncDaemon {
        interface: ifname.text.clone(),
        instance: String::new(),
        syncid: None,
        maxlen: None,
        port: None,
        ttl: None,
        group: None,
    };
    let mut i = 1;
    while i < n.args.len() {
        let (t, value) = (&n.args[i], n.args.get(i + 1));
        let kw = format!("lvs_sync_daemon {}", t.text);
        match (t.text.as_str(), value) {
            ("inst" | "id" | "maxlen" | "port" | "ttl" | "group", None) => {
                c.warn(t, format!("no value after `{}`; ignored", t.text), None)
            }
            ("inst", Some(v)) => d.instance = v.text.clone(),
            ("id", Some(v)) => d.syncid = c.int_tok(&kw, v, 0, 255).map(|v| v as u8),
            // The UDP payload of one sync message: at most 65535 - IPv4 - UDP headers.
            ("maxlen", Some(v)) => d.maxlen = c.int_tok(&kw, v, 1, 65535 - 28).map(|v| v as u16),
            ("port", Some(v)) => d.port = c.int_tok(&kw, v, 1, 65535).map(|v| v as u16),
            ("ttl", Some(v)) => d.ttl = c.int_tok(&kw, v, 1, 255).map(|v| v as u8),
            ("group", Some(v)) => match c.ip(&kw, v) {
                Some(a) if a.is_multicast() => d.group = Some(a),
                Some(_) => {
                    let msg = format!(
                        "`{}` is not a multicast address; ignored, as keepalived does",
                        v.text
                    );
                    c.warn(v, msg, None)
                }
                None => {}
            },
            _ if i == 1 => {
                d.instance = t.text.clone();
                i += 1;
                continue;
            }
            _ if i == 2 && t.text.parse::<u8>().is_ok() => {
                d.syncid = t.text.parse().ok();
                c.note(
                    t,
                    "a bare sync id is keepalived's old syntax; keepalived asks for `id` before it"
                        .into(),
                    Some(format!("write `id {}`", t.text)),
                );
                i += 1;
                continue;
            }
            _ => {
                let msg = format!("unknown option `{}` of `lvs_sync_daemon`; ignored", t.text);
                let help = "options: inst NAME, id N, maxlen N, port N, ttl N, group ADDR";
                c.warn(t, msg, Some(help.into()));
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    g.lvs_sync_daemon = Some(d);
}

/// `lvs_sync_daemon_interface IFACE` in a `vrrp_instance` (keepalived before 1.2.20): the sync
/// daemons follow that instance. keepalived 2.2.7 still honours it, with a deprecation note.
pub(super) fn instance_sync_daemon(c: &mut Ctx, g: &mut GlobalDefs, instance: &str, t: &Token) {
    if let Some(d) = &g.lvs_sync_daemon {
        let msg = format!(
            "`lvs_sync_daemon` is already set ({} {}); this one is ignored, as keepalived does",
            d.interface, d.instance
        );
        c.warn(t, msg, None);
        return;
    }
    c.note(
        t,
        "`lvs_sync_daemon_interface` in a vrrp_instance is deprecated (keepalived says so too)"
            .into(),
        Some(format!(
            "write `lvs_sync_daemon {} {instance}` in global_defs",
            t.text
        )),
    );
    c.interface(t);
    g.lvs_sync_daemon = Some(LvsSyncDaemon {
        interface: t.text.clone(),
        instance: instance.to_owned(),
        syncid: None,
        maxlen: None,
        port: None,
        ttl: None,
        group: None,
    });
}

/// The instance the sync daemons follow must exist (keepalived clears the setting otherwise).
pub(super) fn check_sync_daemon(c: &mut Ctx, cfg: &mut Config, at: Option<&Token>) {
    let (Some(d), Some(at)) = (&cfg.global.lvs_sync_daemon, at) else {
        return;
    };
    if d.instance.is_empty() || !cfg.instances.iter().any(|i| i.name == d.instance) {
        let msg = match d.instance.as_str() {
            "" => "`lvs_sync_daemon` names no vrrp_instance; no sync daemon is started, as keepalived does".to_owned(),
            name => format!("`lvs_sync_daemon`: unknown vrrp_instance `{name}`; no sync daemon is started, as keepalived does"),
        };
        let help = "syntax: `lvs_sync_daemon IFACE INSTANCE [id N] ...`";
        c.warn(at, msg, Some(help.into()));
        cfg.global.lvs_sync_daemon = None;
    }
}

/// `lvs_timeouts [tcp N] [tcpfin N] [udp N]`, as keepalived's handler reads it.
pub(super) fn lvs_timeouts(c: &mut Ctx, g: &mut GlobalDefs, n: &Node) {
    let mut i = 0;
    while i < n.args.len() {
        let t = &n.args[i];
        let slot = match t.text.as_str() {
            "tcp" => &mut g.lvs_timeouts.tcp,
            "tcpfin" => &mut g.lvs_timeouts.tcpfin,
            "udp" => &mut g.lvs_timeouts.udp,
            _ => {
                let msg = format!("unknown option `{}` of `lvs_timeouts`; ignored", t.text);
                c.warn(
                    t,
                    msg,
                    Some("options: tcp SECS, tcpfin SECS, udp SECS".into()),
                );
                i += 1;
                continue;
            }
        };
        match n.args.get(i + 1) {
            // LVS_MAX_TIMEOUT: 86400 * 31 seconds.
            Some(v) => {
                let kw = format!("lvs_timeouts {}", t.text);
                if let Some(v) = c.int_tok(&kw, v, 0, 86400 * 31) {
                    *slot = Some(v as u32);
                }
            }
            None => c.warn(t, format!("no value after `{}`; ignored", t.text), None),
        }
        i += 2;
    }
}

/// `lvs_flush_on_stop [VS]`.
pub(super) fn lvs_flush_on_stop(c: &mut Ctx, g: &mut GlobalDefs, n: &Node) {
    match n.args.first() {
        None => g.lvs_flush_on_stop = true,
        Some(t) if t.text == "VS" => {
            g.lvs_flush_on_stop = false;
            let msg = "`lvs_flush_on_stop VS`: keeplite always removes its virtual servers at exit";
            c.note(t, msg.into(), None);
        }
        Some(t) => {
            let msg = format!(
                "unknown `lvs_flush_on_stop` type `{}`; ignored, as keepalived does",
                t.text
            );
            c.warn(
                t,
                msg,
                Some("write `lvs_flush_on_stop` or `lvs_flush_on_stop VS`".into()),
            );
        }
    }
}
