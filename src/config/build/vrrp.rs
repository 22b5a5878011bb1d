//! `vrrp_instance` and its blocks.

use super::*;

pub(super) struct InstB {
    pub(super) v: VrrpInstance,
    pub(super) at: InstanceAt,
    pub(super) auth_type: Option<Token>,
    pub(super) auth_pass: Option<Token>,
    /// `auth_type` had a value keepalived does not know: no authentication, already said.
    pub(super) auth_unknown: bool,
    /// `use_vmac`: its keyword, the name and the MAC octets given (5: the VRID is the 6th).
    pub(super) vmac: Option<(Token, Option<String>, Option<Vec<u8>>)>,
    pub(super) vmac_xmit_base: bool,
}

impl HasGarp for InstB {
    fn garp(&mut self) -> &mut Garp {
        &mut self.v.garp
    }
}

impl HasNotify for InstB {
    fn notify(&mut self) -> &mut Notify {
        &mut self.v.notify
    }
}

pub(super) const INST_GARP: [Kw<InstB>; 4] = garp_kws!(
    InstB,
    "garp_master_delay",
    "garp_master_repeat",
    "garp_master_refresh",
    "garp_master_refresh_repeat"
);

pub(super) fn vip_list(c: &mut Ctx, i: &mut InstB, n: &Node, excluded: bool) {
    for e in block(n) {
        let Some(v) = vip(c, e) else { continue };
        if excluded {
            // keepalived's way to carry both families: excluded VIPs may be of either.
            i.v.virtual_ipaddress_excluded.push(v);
            i.at.evips.push(e.kw.clone());
        } else if i.same_family(c, v.addr, &e.kw) {
            i.v.virtual_ipaddress.push(v);
            i.at.vips.push(e.kw.clone());
        }
    }
}

impl InstB {
    /// keepalived takes the family from the instance's first address and ignores, with a
    /// message, adverted addresses of the other one.
    fn same_family(&mut self, c: &mut Ctx, a: IpAddr, t: &Token) -> bool {
        let v6 = *self.at.v6.get_or_insert(a.is_ipv6());
        if v6 == a.is_ipv6() {
            return true;
        }
        c.warn(
            t,
            format!(
                "(`{}`) `{}` is not of the instance's address family ({}); ignored, as keepalived does",
                self.v.name,
                t.text,
                if v6 { "IPv6" } else { "IPv4" }
            ),
            Some("put other-family VIPs in `virtual_ipaddress_excluded`, or in an instance of their own".into()),
        );
        false
    }

    /// `unicast_src_ip` / `mcast_src_ip`: the address (a `/LEN` is dropped, as keepalived
    /// does), if of the instance's family.
    fn source(&mut self, c: &mut Ctx, n: &Node) -> Option<IpAddr> {
        let a = c.ip_no_prefix(&n.kw.text, &n.args[0])?;
        self.same_family(c, a, &n.args[0]).then_some(a)
    }
}

/// `ADDR[/LEN] [brd X] [dev IF] [scope S] [label L]`.
pub(super) fn vip(c: &mut Ctx, e: &Node) -> Option<VirtualIp> {
    let (a, len) = match e.kw.text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (e.kw.text.as_str(), None),
    };
    let Ok(addr) = a.parse::<IpAddr>() else {
        c.warn(
            &e.kw,
            format!(
                "invalid virtual address `{}`; skipped, as keepalived does",
                e.kw.text
            ),
            Some("expected `ADDR[/LEN] [brd X] [dev IF] [scope S] [label L]`".into()),
        );
        return None;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = match len.map(|l| l.parse::<u8>()) {
        None => max,
        Some(Ok(l)) if l <= max => l,
        Some(_) => {
            c.warn(
                &e.kw,
                format!(
                    "invalid prefix length in `{}`: expected 0..={max}; skipped, as keepalived does",
                    e.kw.text
                ),
                None,
            );
            return None;
        }
    };
    let mut v = VirtualIp {
        addr,
        prefix_len,
        brd: None,
        dev: None,
        scope: None,
        label: None,
    };
    let mut i = 0;
    while i < e.args.len() {
        let key = &e.args[i];
        // keepalived's flag: do not fault the instance when the VIP's interface goes down
        // (keeplite does not track VIP interfaces).
        if key.text == "no_track" {
            i += 1;
            continue;
        }
        let Some(val) = e.args.get(i + 1) else {
            c.warn(
                key,
                format!("`{}` without a value; ignored", key.text),
                None,
            );
            break;
        };
        match key.text.as_str() {
            "brd" | "broadcast" => v.brd = c.parse("brd", val, "an IPv4 address"),
            "dev" => {
                c.interface(val);
                v.dev = Some(val.text.clone());
            }
            "scope" => {
                const SCOPES: &[&str] = &["global", "site", "link", "host", "nowhere"];
                if SCOPES.contains(&val.text.as_str()) {
                    v.scope = Some(val.text.clone());
                } else {
                    c.warn(
                        val,
                        format!("invalid scope `{}`; skipped, as keepalived does", val.text),
                        Some(format!("expected one of: {}", SCOPES.join(", "))),
                    );
                }
            }
            "label" => v.label = Some(val.text.clone()),
            other => {
                c.warn(
                    key,
                    format!(
                        "virtual address option `{other}` is not supported by keeplite; ignored"
                    ),
                    Some("supported: brd, dev, scope, label".into()),
                );
            }
        }
        i += 2;
    }
    Some(v)
}

pub(super) const INST_NOTIFY: [Kw<InstB>; 5] = notify_kws!(InstB);
pub(super) const INSTANCE: &[Kw<InstB>] = &[
    Kw {
        name: "state",
        arity: N(1),
        doc: "`state MASTER|BACKUP`: initial state (default BACKUP; other spellings, `master` or `SLAVE`, run as BACKUP with a warning, as keepalived does)",
        set: |c, i, n| {
            i.v.state = c.keepalived_choice(n, InitialState::CHOICES, ("BACKUP", InitialState::Backup));
        },
    },
    Kw {
        name: "interface",
        arity: N(1),
        doc: "`interface IF`: interface VRRP runs on",
        set: |c, i, n| {
            c.interface(&n.args[0]);
            i.v.interface = n.args[0].text.clone();
        },
    },
    Kw {
        name: "virtual_router_id",
        arity: N(1),
        doc: "`virtual_router_id 1..255`: VRID, the same on all nodes of this router",
        set: |c, i, n| {
            if let Some(v) = c.int(n, 1, 255) {
                i.v.virtual_router_id = v as u8;
                i.at.vrid = Some(n.args[0].clone());
            }
        },
    },
    Kw {
        name: "priority",
        arity: N(1),
        doc: "`priority 1..255`: election priority (default 100; 255 with `state MASTER`)",
        set: |c, i, n| i.v.priority = c.int(n, 1, 255).map_or(i.v.priority, |v| v as u8),
    },
    Kw {
        name: "advert_int",
        arity: N(1),
        doc: "`advert_int SECS`: advert interval, 0.01..255 (default 1). As keepalived: a value outside is ignored, VRRPv2 rounds to whole seconds, VRRPv3 to 10 ms and at most 40.95, each with a warning",
        set: |c, i, n| {
            let Some(d) = c.secs(n) else { return };
            if d < Duration::from_millis(10) || d > Duration::from_secs(255) {
                c.warn(
                    &n.args[0],
                    format!("advert_int {} is outside 0.01..255 seconds; ignored (1 s), as keepalived does", n.args[0].text),
                    None,
                );
                return;
            }
            i.v.advert_int = d;
        },
    },
    Kw {
        name: "version",
        arity: N(1),
        doc: "`version 2|3`: VRRP version (default `vrrp_version`)",
        set: |c, i, n| i.v.version = version(c, n).unwrap_or(i.v.version),
    },
    Kw {
        name: "authentication",
        arity: Block(0, 0),
        doc: "`authentication { auth_type PASS; auth_pass SECRET }` (VRRPv2)",
        set: |c, i, n| {
            apply(c, "authentication", &[AUTH], i, block(n));
        },
    },
    Kw {
        name: "virtual_ipaddress",
        arity: Block(0, 0),
        doc: "`virtual_ipaddress { ADDR[/LEN] [brd X] [dev IF] [scope S] [label L] ... }`",
        set: |c, i, n| vip_list(c, i, n, false),
    },
    Kw {
        name: "virtual_ipaddress_excluded",
        arity: Block(0, 0),
        doc: "`virtual_ipaddress_excluded { ... }`: VIPs not carried in adverts",
        set: |c, i, n| vip_list(c, i, n, true),
    },
    Kw {
        name: "track_interface",
        arity: Block(0, 0),
        doc: "`track_interface { IF [weight N] [reverse] ... }`: FAULT (or priority change) when down",
        set: |c, i, n| {
            for e in block(n) {
                c.interface(&e.kw);
                let (w, reverse) = weight_rev(c, "track_interface", &e.args, -253, 253);
                i.v.track_interface.push(TrackInterface {
                    name: e.kw.text.clone(),
                    weight: w.unwrap_or(0),
                    reverse,
                });
            }
        },
    },
    Kw {
        name: "track_script",
        arity: Block(0, 0),
        doc: "`track_script { NAME [weight N] [reverse] ... }`",
        set: |c, i, n| track_scripts(c, n, &mut i.v.track_script, &mut i.at.scripts),
    },
    Kw {
        name: "track_file",
        arity: Block(0, 0),
        doc: "`track_file { NAME [weight N] [reverse] ... }`: files whose number changes the priority (weight -254..254, default the file's own)",
        set: |c, i, n| tracked(c, n, 254, &mut i.v.track_file, &mut i.at.files),
    },
    Kw {
        name: "track_process",
        arity: Block(0, 0),
        doc: "`track_process { NAME [weight N] [reverse] ... }`: processes whose quorum changes the priority (weight -254..254, default the process's own)",
        set: |c, i, n| tracked(c, n, 254, &mut i.v.track_process, &mut i.at.processes),
    },
    Kw {
        name: "unicast_src_ip",
        arity: N(1),
        doc: "`unicast_src_ip ADDR`: source address of unicast adverts (a `/LEN` is dropped, as keepalived does)",
        set: |c, i, n| i.v.unicast_src_ip = i.source(c, n),
    },
    Kw {
        name: "unicast_peer",
        arity: Block(0, 0),
        doc: "`unicast_peer { ADDR ... }`: send adverts to these peers instead of multicast (a `/LEN` is dropped, as keepalived does; addresses of the other family are ignored with a warning, as keepalived does)",
        set: |c, i, n| {
            for e in block(n) {
                if let Some(a) = c.ip_no_prefix("unicast_peer", &e.kw) {
                    if i.same_family(c, a, &e.kw) {
                        i.v.unicast_peer.push(a);
                    }
                }
                if let Some(extra) = e.args.first() {
                    c.warn(
                        extra,
                        "peer options are not supported by keeplite; ignored".into(),
                        None,
                    );
                }
            }
        },
    },
    Kw {
        name: "unicast_ttl",
        arity: N(1),
        doc: "`unicast_ttl 1..255`: IP TTL / hop limit of unicast adverts, for peers that are routed (default 255; the receiver skips its TTL check in unicast mode, as keepalived)",
        set: |c, i, n| i.v.unicast_ttl = c.int(n, 1, 255).map_or(i.v.unicast_ttl, |v| v as u8),
    },
    Kw {
        name: "check_unicast_src",
        arity: N(0),
        doc: "`check_unicast_src`: adverts are only accepted from the `unicast_peer`s. keeplite always does this (keepalived only with this keyword); a dropped advert is logged once per instance",
        set: |_, _, _| {},
    },
    Kw {
        name: "mcast_src_ip",
        arity: N(1),
        doc: "`mcast_src_ip ADDR`: source address of multicast adverts",
        set: |c, i, n| i.v.mcast_src_ip = i.source(c, n),
    },
    Kw {
        name: "smtp_alert",
        arity: Range(0, 1),
        doc: "`smtp_alert [yes|no]`: mail on this instance's transitions (default: `smtp_alert_vrrp`, else `smtp_alert` of global_defs)",
        set: |c, i, n| i.v.smtp_alert = yes_no(c, n),
    },
    Kw {
        name: "nopreempt",
        arity: N(0),
        doc: "`nopreempt`: a higher-priority backup does not take over from a live master",
        set: |_, i, _| i.v.nopreempt = true,
    },
    Kw {
        name: "preempt",
        arity: N(0),
        doc: "`preempt`: clears an earlier `nopreempt` (keepalived's backwards-compatible spelling of the default)",
        set: |_, i, _| i.v.nopreempt = false,
    },
    Kw {
        name: "preempt_delay",
        arity: N(1),
        doc: "`preempt_delay SECS`: wait before preempting after start (0..1000)",
        set: |c, i, n| i.v.preempt_delay = c.secs(n).unwrap_or_default(),
    },
    Kw {
        name: "notify_priority_changes",
        arity: Range(0, 1),
        doc: "`notify_priority_changes [BOOL]`: write `MASTER_PRIORITY` / `BACKUP_PRIORITY` lines to the notify FIFOs when the effective priority changes (default: the sync group's, else `vrrp_notify_priority_changes`)",
        set: |c, i, n| {
            if let Some(v) = bool_arg(c, n) {
                i.v.notify_priority_changes = Some(v);
            }
        },
    },
    Kw {
        name: "dont_track_primary",
        arity: N(0),
        doc: "`dont_track_primary`: ignore faults of `interface`",
        set: |_, i, _| i.v.dont_track_primary = true,
    },
    Kw {
        name: "accept",
        arity: N(0),
        doc: "`accept`: accept packets to the VIPs while master (default unless vrrp_strict)",
        set: |_, i, _| i.v.accept = true,
    },
    Kw {
        name: "no_accept",
        arity: N(0),
        doc: "`no_accept`: drop packets to the VIPs while master",
        set: |_, i, _| i.v.accept = false,
    },
    Kw {
        name: "strict_mode",
        arity: Range(0, 1),
        doc: "`strict_mode [true|false]`: `vrrp_strict` for this instance only (default: `vrrp_strict`); its checks and defaults as keepalived's (firewall rules aside: keeplite installs none)",
        set: |c, i, n| i.v.strict_mode = yes_no(c, n).or(i.v.strict_mode),
    },
    Kw {
        name: "lower_prio_no_advert",
        arity: Range(0, 1),
        doc: "`lower_prio_no_advert [true|false]`: as master, do not answer a lower priority advert with an advert (GARPs per `garp_lower_prio_repeat` still go; default `vrrp_lower_prio_no_advert`)",
        set: |c, i, n| i.v.lower_prio_no_advert = yes_no(c, n).unwrap_or(i.v.lower_prio_no_advert),
    },
    Kw {
        name: "higher_prio_send_advert",
        arity: Range(0, 1),
        doc: "`higher_prio_send_advert [true|false]`: as master, send one advert before yielding to a higher priority one (default `vrrp_higher_prio_send_advert`)",
        set: |c, i, n| i.v.higher_prio_send_advert = yes_no(c, n).unwrap_or(i.v.higher_prio_send_advert),
    },
    Kw {
        name: "skip_check_adv_addr",
        arity: Range(0, 1),
        doc: "`skip_check_adv_addr [true|false]`: do not compare the current master's advert address list with ours (default `vrrp_skip_check_adv_addr`)",
        set: |c, i, n| i.v.skip_check_adv_addr = yes_no(c, n).unwrap_or(i.v.skip_check_adv_addr),
    },
    Kw {
        name: "notify_master_rx_lower_pri",
        arity: Rest,
        doc: "`notify_master_rx_lower_pri CMD`: run, as master, when an advert with a lower priority arrives (another node became master: a split brain healing); at most once per advert interval",
        set: |c, i, n| i.v.notify_master_rx_lower_pri = Some(c.command(n)),
    },
    Kw {
        name: "garp_lower_prio_delay",
        arity: N(1),
        doc: "`garp_lower_prio_delay SECS`: as master, a second GARP / NA burst this long after answering a lower priority advert (0 = none; default `vrrp_garp_lower_prio_delay`)",
        set: garp_lower_prio,
    },
    Kw {
        name: "garp_lower_prio_repeat",
        arity: N(1),
        doc: "`garp_lower_prio_repeat N`: GARPs / NAs per burst answering a lower priority advert (0 = none; default `vrrp_garp_lower_prio_repeat`)",
        set: garp_lower_prio,
    },
    Kw {
        name: "lvs_sync_daemon_interface",
        arity: N(1),
        doc: "`lvs_sync_daemon_interface IFACE`: keepalived's old form of `lvs_sync_daemon IFACE INSTANCE` for this instance (deprecated, a note)",
        // Handled by `instance`, which can reach global_defs.
        set: |_, _, _| {},
    },
    Kw {
        name: "virtual_routes",
        arity: Block(0, 0),
        doc: "`virtual_routes { [to] [blackhole|unreachable|prohibit|throw] PREFIX [src ADDR] [via|gw ADDR] [dev|oif IF] [table N|main|local] [metric N] [scope S] [protocol P] [onlink] [no_track] [add|prepend|append] ... }`: routes installed on becoming MASTER, removed on leaving it (`default` is 0.0.0.0/0; keepalived's protocol 18 unless `no_track`; prepended unless `add`/`append`, as keepalived)",
        set: |c, i, n| i.v.virtual_routes.extend(routes(c, n)),
    },
    Kw {
        name: "virtual_rules",
        arity: Block(0, 0),
        doc: "`virtual_rules { [not] [from PREFIX|all] [to PREFIX|all] [fwmark N[/MASK]] [iif|dev IF] [oif IF] table N|lookup N|goto N|blackhole|unreachable|prohibit [priority|preference|order N] [no_track] ... }`: policy rules installed on becoming MASTER, removed on leaving it (priority 16384 when absent, with a warning, as keepalived)",
        set: |c, i, n| i.v.virtual_rules.extend(rules(c, n)),
    },
    Kw {
        name: "use_vmac",
        arity: Range(0, 2),
        doc: "`use_vmac [NAME] [MAC]`: the VIPs (those without `dev`) go on a private macvlan NAME (default `vmac_prefix`.VRID, `vrrp.51`) over `interface` with the RFC 5798 §7.3 virtual MAC (00:00:5e:00:01:VRID, 00:00:5e:00:02:VRID for IPv6; a MAC given must be unicast and outside that range, 5 octets: the VRID is the 6th), and the adverts leave from it, so neighbours' caches stay right across a failover. Made at start (one left by an earlier run is reused), deleted at stop. keepalived's sysctls: on the macvlan `arp_ignore` 1, `accept_local` 1, `rp_filter` 0, `promote_secondaries` 1, IPv6 off unless IPv6 VIPs go on it (IPv6 instances: no address made from the MAC, `interface`'s link-local copied); on `interface` `arp_ignore` 1, `arp_filter` 1; a non-zero `all.rp_filter` is cleared, every interface raised to it. Unlike keepalived, also `arp_announce` 2 on `interface`, so its ARP requests never announce a VIP with its own MAC (keepalived's NOTE_vrrp_vmac leaves that to the admin). All restored at stop",
        set: |c, i, n| {
            let mut name = None;
            let mut mac = None;
            for a in &n.args {
                if a.text.contains(':') {
                    mac = vmac_octets(c, a);
                } else if dev_name_valid(&a.text) {
                    name = Some(a.text.clone());
                } else {
                    c.warn(a, format!("invalid interface name `{}` for use_vmac (at most 15 characters, no `/`, `:` or space); ignored, as keepalived does", a.text), None);
                }
            }
            i.vmac = Some((n.kw.clone(), name, mac));
        },
    },
    Kw {
        name: "vmac_xmit_base",
        arity: N(0),
        doc: "`vmac_xmit_base`: with `use_vmac`, adverts are sent and received on `interface` (its own MAC) instead of the macvlan (set by itself for unicast instances, as keepalived does)",
        set: |_, i, _| i.vmac_xmit_base = true,
    },
    Kw {
        name: "vip_lease",
        arity: N(1),
        doc: "keeplite: `vip_lease SECS|off`: overrides `global_defs vip_lease`",
        set: |c, i, n| i.v.vip_lease = vip_lease(c, n).or(i.v.vip_lease),
    },
];

pub(super) const AUTH: &[Kw<InstB>] = &[
    Kw {
        name: "auth_type",
        arity: N(1),
        doc: "`auth_type PASS|AH`: AH is not supported (the instance runs unauthenticated); another value (`pass`, `PASS;`) means no authentication, with a warning, as keepalived does",
        set: |c, i, n| {
            let known = c.keepalived_choice(n, &[("PASS", true), ("AH", true)], ("no authentication", false));
            i.auth_type = Some(n.args[0].clone());
            i.auth_unknown = !known;
        },
    },
    Kw {
        name: "auth_pass",
        arity: N(1),
        doc: "`auth_pass SECRET`: password, first 8 characters used",
        set: |_, i, n| i.auth_pass = Some(n.args[0].clone()),
    },
];

pub(super) fn instance(c: &mut Ctx, b: &mut Builder, n: &Node) {
    let name = &n.args[0];
    if b.cfg.instances.iter().any(|x| x.name == name.text) {
        c.warn(
            name,
            format!(
                "vrrp_instance `{}` is already defined; this block is skipped, as keepalived does",
                name.text
            ),
            Some("instance names must be unique: rename one".into()),
        );
        return;
    }
    let g = &b.cfg.global;
    let mut i = InstB {
        v: VrrpInstance {
            name: n.args[0].text.clone(),
            state: InitialState::Backup,
            interface: g.default_interface.clone().unwrap_or_default(),
            virtual_router_id: 0,
            priority: 100,
            advert_int: Duration::from_secs(1),
            version: g.vrrp_version,
            auth_pass: None,
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            track_interface: Vec::new(),
            track_script: Vec::new(),
            unicast_src_ip: None,
            unicast_peer: Vec::new(),
            unicast_ttl: 255,
            mcast_src_ip: None,
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            garp: g.garp.instance_defaults(g.vrrp_strict),
            lower_prio_no_advert: g.vrrp_lower_prio_no_advert || g.vrrp_strict,
            higher_prio_send_advert: g.vrrp_higher_prio_send_advert,
            skip_check_adv_addr: g.vrrp_skip_check_adv_addr,
            notify: Notify::default(),
            notify_master_rx_lower_pri: None,
            dont_track_primary: false,
            track_file: Vec::new(),
            track_process: Vec::new(),
            strict_mode: None,
            notify_priority_changes: None,
            accept: !g.vrrp_strict,
            vip_lease: None,
            smtp_alert: None,
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            vmac: None,
        },
        at: InstanceAt {
            vrid: None,
            vips: Vec::new(),
            evips: Vec::new(),
            v6: None,
            scripts: Vec::new(),
            files: Vec::new(),
            processes: Vec::new(),
            scripts_above: b.cfg.vrrp_scripts.len(),
        },
        auth_type: None,
        auth_pass: None,
        auth_unknown: false,
        vmac: None,
        vmac_xmit_base: false,
    };
    let seen = apply(
        c,
        "vrrp_instance",
        &[INSTANCE, &INST_NOTIFY, &INST_GARP],
        &mut i,
        block(n),
    );
    check_instance(c, &b.cfg.global, &mut i, &seen, n);
    if seen.contains_key("lvs_sync_daemon_interface") {
        let set = block(n)
            .iter()
            .rev()
            .find(|m| m.kw.text == "lvs_sync_daemon_interface");
        if let Some(t) = set.and_then(|m| m.args.first()) {
            instance_sync_daemon(c, &mut b.cfg.global, &i.v.name, t);
            b.sync_daemon_at.get_or_insert(t.clone());
        }
    }
    // keepalived reads in order: a file defined below (or nowhere) is not tracked.
    let files = std::mem::take(&mut i.v.track_file);
    for (t, at) in files.into_iter().zip(&i.at.files) {
        if b.cfg.track_files.iter().any(|f| f.name == t.name) {
            i.v.track_file.push(t);
        } else {
            let msg = format!("track_file `{}` is not defined above; ignored", t.name);
            let help = "define it with `track_file NAME { file PATH }` before the instance";
            c.warn(at, msg, Some(help.into()));
        }
    }
    let procs = std::mem::take(&mut i.v.track_process);
    for (t, at) in procs.into_iter().zip(&i.at.processes) {
        if b.cfg.track_processes.iter().any(|p| p.name == t.name) {
            i.v.track_process.push(t);
        } else {
            let msg = format!("track_process `{}` is not defined above; ignored", t.name);
            let help =
                "define it with `vrrp_track_process NAME { process NAME }` before the instance";
            c.warn(at, msg, Some(help.into()));
        }
    }
    vmac(c, b, &mut i);
    b.cfg.instances.push(i.v);
    b.instances.push(i.at);
}

/// The kernel's `dev_valid_name`, as keepalived checks `use_vmac` names.
fn dev_name_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name.contains(['/', ':'])
        && !name.contains(char::is_whitespace)
}

/// `02:00:00:00:01` or `02:00:00:00:01:33`: 5 or 6 hex octets (5: the VRID is the 6th) of
/// a unicast address outside the RFC 5798 ranges, which keepalived keeps for its default.
fn vmac_octets(c: &mut Ctx, t: &Token) -> Option<Vec<u8>> {
    let octets: Option<Vec<u8>> = t
        .text
        .split(':')
        .map(|o| {
            (o.len() <= 2)
                .then(|| u8::from_str_radix(o, 16).ok())
                .flatten()
        })
        .collect();
    let why = match &octets {
        Some(o) if o.len() != 5 && o.len() != 6 => "an invalid",
        None => "an invalid",
        Some(o) if o[0] & 1 != 0 => "a multicast",
        Some(o) if o[..4] == [0, 0, 0x5e, 0] && matches!(o[4], 1 | 2) => "an RFC 5798",
        Some(_) => return octets,
    };
    let msg = format!(
        "use_vmac: `{}` is {why} MAC address; ignored, as keepalived does",
        t.text
    );
    let help = "expected 5 or 6 hex octets of a unicast address outside 00:00:5e:00:01/02";
    c.warn(t, msg, Some(help.into()));
    None
}

/// Resolves `use_vmac` once the VRID and family are known (RFC 5798 §7.3: 00-00-5E-00-01-VRID
/// for IPv4, 00-00-5E-00-02-VRID for IPv6).
fn vmac(c: &mut Ctx, b: &Builder, i: &mut InstB) {
    let Some((kw, name, mac)) = i.vmac.take() else {
        return;
    };
    let vrid = i.v.virtual_router_id;
    let owner = |name: &str| {
        let mut all = b.cfg.instances.iter();
        all.find(|o| o.vmac.as_ref().is_some_and(|v| v.name == name))
            .map(|o| o.name.clone())
    };
    // keepalived ignores a name another instance uses (its default name applies).
    let name = match name.map(|n| (owner(&n), n)) {
        Some((Some(other), n)) => {
            let msg = format!(
                "(`{}`) use_vmac interface `{n}` is already `{other}`'s; the default name is used, as keepalived does",
                i.v.name
            );
            c.warn(&kw, msg, None);
            None
        }
        other => other.map(|(_, n)| n),
    };
    let prefix = b.cfg.global.vmac_prefix.as_deref().unwrap_or("vrrp");
    let name = name.unwrap_or_else(|| format!("{prefix}.{vrid}"));
    let problem = match owner(&name) {
        Some(other) => Some((
            format!("is already `{other}`'s"),
            "give one of them another name: `use_vmac NAME`",
        )),
        None if !dev_name_valid(&name) => Some((
            "is no valid interface name (at most 15 characters)".to_owned(),
            "give a shorter name: `use_vmac NAME` or `vmac_prefix`",
        )),
        None => None,
    };
    if let Some((what, help)) = problem {
        let msg = format!(
            "(`{}`) use_vmac interface `{name}` {what}; use_vmac ignored",
            i.v.name
        );
        c.error(&kw, msg, Some(help.into()));
        return;
    }
    let mut octets = mac.unwrap_or_else(|| i.v.default_vmac()[..5].to_vec());
    if octets.len() == 5 {
        octets.push(vrid);
    }
    let mac: [u8; 6] = octets[..6].try_into().expect("6 octets");
    let mut xmit_base = i.vmac_xmit_base;
    if !i.v.unicast_peer.is_empty() && !xmit_base {
        let msg = format!(
            "(`{}`) unicast with use_vmac requires vmac_xmit_base; set, as keepalived does",
            i.v.name
        );
        c.warn(&kw, msg, None);
        xmit_base = true;
    }
    i.v.vmac = Some(Vmac {
        name,
        mac,
        xmit_base,
    });
}
