//! `virtual_routes`, `virtual_rules` (per instance) and `static_routes`, `static_rules`,
//! `static_ipaddress` (top level): keepalived 2.2.7's subset of `ip route` / `ip rule` /
//! `ip addr` (vrrp_iproute.c, vrrp_iprule.c). What keeplite does not implement skips the
//! whole entry with a warning naming the option: a route installed without its `mtu` or
//! second next hop would route differently than the user wrote.

use super::*;

/// keepalived's route options keeplite does not implement.
const ROUTE_UNSUPPORTED: &[&str] = &[
    "or",
    "nexthop",
    "from",
    "tos",
    "dsfield",
    "as",
    "encap",
    "expires",
    "mtu",
    "hoplimit",
    "advmss",
    "rtt",
    "rttvar",
    "reordering",
    "window",
    "cwnd",
    "ssthresh",
    "realms",
    "rto_min",
    "initcwnd",
    "initrwnd",
    "features",
    "quickack",
    "congctl",
    "pref",
    "ttl-propagate",
    "fastopen_no_cookie",
    "track_group",
    "vrf",
];

/// keepalived's rule options keeplite does not implement.
const RULE_UNSUPPORTED: &[&str] = &[
    "tos",
    "dsfield",
    "realms",
    "uidrange",
    "ip_proto",
    "sport",
    "dport",
    "l3mdev",
    "suppress_prefixlength",
    "suppress_ifgroup",
    "tun_id",
    "nop",
    "protocol",
    "track_group",
];

const ROUTE_TYPES: &[(&str, u8)] = &[
    ("unicast", 1),
    ("blackhole", 6),
    ("unreachable", 7),
    ("prohibit", 8),
    ("throw", 9),
];
const SCOPES: &[(&str, u8)] = &[
    ("global", 0),
    ("universe", 0),
    ("site", 200),
    ("link", 253),
    ("host", 254),
    ("nowhere", 255),
];
const TABLES: &[(&str, u32)] = &[("default", 253), ("main", 254), ("local", 255)];
/// iproute2's rt_protos names.
const PROTOCOLS: &[(&str, u8)] = &[
    ("redirect", 1),
    ("kernel", 2),
    ("boot", 3),
    ("static", 4),
    ("ra", 9),
    ("zebra", 11),
    ("bird", 12),
    ("dhcp", 16),
    ("keepalived", 18),
    ("babel", 42),
    ("bgp", 186),
    ("isis", 187),
    ("ospf", 188),
    ("rip", 189),
];
/// keepalived's priority for a rule without one.
const RULE_DEFAULT_PRIORITY: u32 = 16384;

/// The words of one entry: its first word is the statement's keyword.
fn words(e: &Node) -> Vec<&Token> {
    std::iter::once(&e.kw).chain(&e.args).collect()
}

/// A name from `names` or a number up to `max`.
fn named<T: Copy + TryFrom<u64>>(names: &[(&str, T)], s: &str, max: u64) -> Option<T> {
    if let Some((_, v)) = names.iter().find(|(n, _)| *n == s) {
        return Some(*v);
    }
    let n = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => s.parse().ok()?,
    };
    (n <= max).then_some(n)?.try_into().ok()
}

/// `ADDR[/LEN]`, `default` or `all` (the zero prefix of `v6`'s family).
fn prefix(s: &str, v6: bool) -> Option<(IpAddr, u8)> {
    if s == "default" || s == "all" {
        let zero = if v6 {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        return Some((zero, 0));
    }
    let (a, len) = s.split_once('/').map_or((s, None), |(a, l)| (a, Some(l)));
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((addr, len))
}

/// Reports why an entry is skipped; always `None`.
fn skip<T>(c: &mut Ctx, t: &Token, what: &str, msg: String, help: Option<String>) -> Option<T> {
    c.warn(t, format!("{msg}; {what} skipped"), help);
    None
}

/// An invalid value `v` of option `k`: the entry is skipped.
fn invalid<T>(c: &mut Ctx, v: &Token, k: &str, what: &str, entry: &str) -> Option<T> {
    let msg = format!("invalid {what} `{}` for `{k}`", v.text);
    skip(c, v, entry, msg, None)
}

/// One `virtual_routes` / `static_routes` line.
pub(super) fn route(c: &mut Ctx, e: &Node) -> Option<Route> {
    let w = words(e);
    let mut r = Route::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    let (mut dst, mut typed, mut no_track) = (None::<&Token>, false, false);
    let mut protocol = None::<(u8, &Token)>;
    let mut i = 0;
    while i < w.len() {
        let key = w[i];
        let k = key.text.as_str();
        if [
            "onlink", "no_track", "add", "prepend", "append", "inet", "inet6",
        ]
        .contains(&k)
        {
            match k {
                "onlink" => r.onlink = true,
                "no_track" => no_track = true,
                "add" => r.mode = RouteMode::Add,
                "prepend" => r.mode = RouteMode::Prepend,
                "append" => r.mode = RouteMode::Append,
                _ => {}
            }
            i += 1;
            continue;
        }
        if ROUTE_UNSUPPORTED.contains(&k) {
            return skip(
                c,
                key,
                "route",
                format!("route option `{k}` is not supported by keeplite"),
                Some("supported: [to] [TYPE] PREFIX, src, via/gw, dev/oif, table, metric, scope, protocol, onlink, no_track, add/prepend/append".into()),
            );
        }
        let takes_value = [
            "src",
            "via",
            "gw",
            "dev",
            "oif",
            "table",
            "metric",
            "priority",
            "preference",
            "scope",
            "protocol",
        ]
        .contains(&k);
        if takes_value {
            let Some(&v) = w.get(i + 1) else {
                return skip(c, key, "route", format!("`{k}` without a value"), None);
            };
            let bad = |c: &mut Ctx, what: &str| invalid(c, v, k, what, "route");
            match k {
                "src" | "via" | "gw" => {
                    if k == "gw" {
                        c.note(
                            key,
                            "`gw` is keepalived's old spelling of `via`".into(),
                            None,
                        );
                    }
                    let Ok(a) = v.text.parse::<IpAddr>() else {
                        return bad(c, "address");
                    };
                    *if k == "src" { &mut r.src } else { &mut r.via } = Some(a);
                }
                "dev" | "oif" => {
                    c.interface(v);
                    r.dev = Some(v.text.clone());
                }
                "table" => match named(TABLES, &v.text, u32::MAX.into()) {
                    Some(t) if t > 0 => r.table = t,
                    _ => return bad(c, "routing table"),
                },
                "scope" => match named(SCOPES, &v.text, 255) {
                    Some(s) => r.scope = Some(s),
                    None => return bad(c, "scope"),
                },
                "protocol" => match named(PROTOCOLS, &v.text, 255) {
                    Some(p) => protocol = Some((p, v)),
                    None => return bad(c, "protocol"),
                },
                _ => match named::<u32>(&[], &v.text, u32::MAX.into()) {
                    Some(m) => r.metric = Some(m),
                    None => return bad(c, "metric"),
                },
            }
            i += 2;
            continue;
        }
        // `[to] [TYPE] PREFIX`
        let mut j = i + usize::from(k == "to");
        if let Some((_, t)) = w
            .get(j)
            .and_then(|t| ROUTE_TYPES.iter().find(|(n, _)| *n == t.text))
        {
            r.kind = *t;
            typed = true;
            j += 1;
        }
        let Some(&d) = w.get(j) else {
            return skip(c, key, "route", "route without a destination".into(), None);
        };
        if prefix(&d.text, false).is_none() {
            let help = "expected `[to] [TYPE] PREFIX [src ADDR] [via ADDR] [dev IF] [table N] [metric N] [scope S] ...`";
            return skip(
                c,
                d,
                "route",
                format!("unknown route keyword `{}`", d.text),
                Some(help.into()),
            );
        }
        dst = Some(d);
        i = j + 1;
    }
    let Some(d) = dst else {
        return skip(
            c,
            &e.kw,
            "route",
            "route without a destination".into(),
            None,
        );
    };
    // `default` takes the family of the route's addresses.
    let v6 = [r.via, r.src].iter().flatten().any(|a| a.is_ipv6());
    (r.dst, r.dst_len) = prefix(&d.text, v6).expect("checked above");
    if [r.via, r.src]
        .iter()
        .flatten()
        .any(|a| a.is_ipv6() != r.dst.is_ipv6())
    {
        return skip(
            c,
            d,
            "route",
            "cannot mix IPv4 and IPv6 addresses in a route".into(),
            None,
        );
    }
    if let Some((p, t)) = protocol {
        if no_track {
            r.protocol = p;
        } else if p != RTPROT_KEEPALIVED {
            // keepalived recognises its routes by their protocol.
            c.warn(
                t,
                format!("route protocol reset to keepalived's ({RTPROT_KEEPALIVED}) unless the route has `no_track`, as keepalived does"),
                None,
            );
        }
    }
    if typed && r.mode == RouteMode::Prepend {
        // keepalived 2.2.7 sends typed routes (blackhole, ...) with NLM_F_EXCL.
        r.mode = RouteMode::Add;
    }
    Some(r)
}

/// One `virtual_rules` / `static_rules` line.
pub(super) fn rule(c: &mut Ctx, e: &Node) -> Option<Rule> {
    let w = words(e);
    let mut r = Rule {
        v6: false,
        from: None,
        to: None,
        invert: false,
        priority: RULE_DEFAULT_PRIORITY,
        fwmark: None,
        fwmask: None,
        iif: None,
        oif: None,
        action: RuleAction::Table(0),
        track: true,
    };
    let (mut action, mut priority, mut family) = (false, false, None::<bool>);
    let mut prefixes = Vec::new();
    let mut i = 0;
    while i < w.len() {
        let key = w[i];
        let k = key.text.as_str();
        let mut flag = true;
        match k {
            "not" => r.invert = true,
            "no_track" => r.track = false,
            "inet" => family = Some(false),
            "inet6" => family = Some(true),
            "blackhole" => (action, r.action) = (true, RuleAction::Blackhole),
            "unreachable" => (action, r.action) = (true, RuleAction::Unreachable),
            "prohibit" => (action, r.action) = (true, RuleAction::Prohibit),
            _ => flag = false,
        }
        if flag {
            i += 1;
            continue;
        }
        if RULE_UNSUPPORTED.contains(&k) {
            return skip(
                c,
                key,
                "rule",
                format!("rule option `{k}` is not supported by keeplite"),
                Some("supported: from, to, not, table/lookup, goto, blackhole/unreachable/prohibit, priority/preference/order, fwmark, iif/dev, oif, no_track".into()),
            );
        }
        let Some(&v) = w.get(i + 1) else {
            return skip(
                c,
                key,
                "rule",
                format!("unknown rule option `{k}`"),
                Some("supported: from, to, not, table/lookup, goto, blackhole/unreachable/prohibit, priority/preference/order, fwmark, iif/dev, oif, no_track".into()),
            );
        };
        let bad = |c: &mut Ctx, what: &str| invalid(c, v, k, what, "rule");
        match k {
            "from" | "to" => prefixes.push((k == "from", v)),
            "table" | "lookup" => match named(TABLES, &v.text, u32::MAX.into()) {
                Some(t) if t > 0 => {
                    action = true;
                    r.action = RuleAction::Table(t);
                }
                _ => return bad(c, "routing table"),
            },
            "goto" => match named::<u32>(&[], &v.text, u32::MAX.into()) {
                Some(t) => {
                    action = true;
                    r.action = RuleAction::Goto(t);
                }
                None => return bad(c, "rule priority"),
            },
            "priority" | "preference" | "order" => {
                match named::<u32>(&[], &v.text, u32::MAX.into()) {
                    Some(p) => (r.priority, priority) = (p, true),
                    None => return bad(c, "priority"),
                }
            }
            "fwmark" => {
                let (m, mask) = v
                    .text
                    .split_once('/')
                    .map_or((v.text.as_str(), None), |(m, k)| (m, Some(k)));
                let num = |s: &str| named::<u32>(&[], s, u32::MAX.into());
                match (num(m), mask.map(num)) {
                    (Some(m), None) => r.fwmark = Some(m),
                    (Some(m), Some(Some(k))) => (r.fwmark, r.fwmask) = (Some(m), Some(k)),
                    _ => return bad(c, "mark"),
                }
            }
            "iif" | "dev" | "oif" => {
                c.interface(v);
                *if k == "oif" { &mut r.oif } else { &mut r.iif } = Some(v.text.clone());
            }
            _ => {
                return skip(
                    c,
                    key,
                    "rule",
                    format!("unknown rule option `{k}`"),
                    Some("supported: from, to, not, table/lookup, goto, blackhole/unreachable/prohibit, priority/preference/order, fwmark, iif/dev, oif, no_track".into()),
                )
            }
        }
        i += 2;
    }
    // The family: `inet6`, else that of the first address, else IPv4.
    let v6 = family.unwrap_or_else(|| {
        (prefixes.iter())
            .find(|(_, t)| t.text != "all" && t.text != "default")
            .and_then(|(_, t)| prefix(&t.text, false))
            .is_some_and(|(a, _)| a.is_ipv6())
    });
    r.v6 = v6;
    for (from, t) in prefixes {
        let Some(p) = prefix(&t.text, v6) else {
            return skip(
                c,
                t,
                "rule",
                format!("invalid address `{}`", t.text),
                Some("expected `ADDR[/LEN]` or `all`".into()),
            );
        };
        if p.0.is_ipv6() != v6 {
            return skip(
                c,
                t,
                "rule",
                "cannot mix IPv4 and IPv6 addresses in a rule".into(),
                None,
            );
        }
        *if from { &mut r.from } else { &mut r.to } = Some(p);
    }
    if !action {
        return skip(
            c,
            &e.kw,
            "rule",
            "rule without an action".into(),
            Some("add `table N`, `goto N`, `blackhole`, `unreachable` or `prohibit`".into()),
        );
    }
    if !priority {
        c.warn(
            &e.kw,
            format!("rule has no priority: {RULE_DEFAULT_PRIORITY}, as keepalived sets"),
            Some("give every rule `priority N` so its place among the others is yours".into()),
        );
    }
    Some(r)
}

/// keepalived watches its routes, rules and static addresses; keeplite installs and removes
/// them but does not watch them.
fn untracked(c: &mut Ctx, n: &Node) {
    c.note(
        &n.kw,
        format!("keeplite does not watch `{}`: an entry deleted by someone else stays deleted (keepalived puts a static one back, and takes the instance out of MASTER for a virtual one without `no_track`)", n.kw.text),
        None,
    );
}

pub(super) fn routes(c: &mut Ctx, n: &Node) -> Vec<Route> {
    untracked(c, n);
    block(n).iter().filter_map(|e| route(c, e)).collect()
}

pub(super) fn rules(c: &mut Ctx, n: &Node) -> Vec<Rule> {
    untracked(c, n);
    block(n).iter().filter_map(|e| rule(c, e)).collect()
}

/// `static_ipaddress { ADDR[/LEN] dev IF ... }`: as `virtual_ipaddress`, with a `dev`.
pub(super) fn static_addresses(c: &mut Ctx, n: &Node) -> Vec<VirtualIp> {
    untracked(c, n);
    let mut out = Vec::new();
    for e in block(n) {
        let Some(v) = vip(c, e) else { continue };
        if v.dev.is_none() {
            c.warn(
                &e.kw,
                format!("static address `{}` has no `dev`; skipped", e.kw.text),
                Some("write `ADDR[/LEN] dev IF`".into()),
            );
            continue;
        }
        out.push(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::config::model::*;
    use crate::config::{load_str, LoadOptions, MemFiles, Severity};
    use std::net::IpAddr;
    use std::path::Path;

    /// The config and its warnings (first lines, file name dropped).
    fn load(text: &str) -> (Config, Vec<String>) {
        let opts = LoadOptions::default();
        let (c, d) = load_str(&MemFiles::default(), Path::new("t.conf"), text, &opts)
            .unwrap_or_else(|d| panic!("{d:#?}"));
        let warnings = d
            .iter()
            .filter(|d| d.severity == Severity::Warning && !d.message.contains("virtual_ipaddress"))
            .map(|d| d.to_string().lines().next().unwrap().replace("t.conf:", ""))
            .collect();
        (c, warnings)
    }

    fn instance(body: &str) -> String {
        format!("vrrp_instance V {{\n interface eth0\n virtual_router_id 7\n{body}\n}}\n")
    }

    #[test]
    fn keepalived_route_syntax() {
        let (c, w) = load(&instance(
            " virtual_routes {\n  src 192.0.2.1 to 10.1.0.0/16 via 192.0.2.254 dev eth1 table 100 metric 5\n  \
             blackhole 10.2.0.0/16\n  default gw 192.0.2.253 table main onlink\n  \
             0.0.0.0/0 via 192.0.2.1 dev eth1 no_track protocol static scope link append\n  \
             2001:db8::/64 dev eth1 table 1000 add\n }",
        ));
        assert!(w.is_empty(), "{w:?}");
        let r = &c.instances[0].virtual_routes;
        assert_eq!(r.len(), 5);
        assert_eq!(r[0].dst, "10.1.0.0".parse::<IpAddr>().unwrap());
        assert_eq!((r[0].dst_len, r[0].table, r[0].metric), (16, 100, Some(5)));
        assert_eq!(r[0].src, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(r[0].via, Some("192.0.2.254".parse().unwrap()));
        assert_eq!(r[0].dev.as_deref(), Some("eth1"));
        assert_eq!((r[0].protocol, r[0].mode), (18, RouteMode::Prepend));
        // A typed route goes in exclusively, as keepalived 2.2.7 sends it.
        assert_eq!(
            (r[1].kind, r[1].mode, r[1].dev.clone()),
            (6, RouteMode::Add, None)
        );
        assert_eq!((r[2].dst_len, r[2].table, r[2].onlink), (0, 254, true));
        assert_eq!(r[2].via, Some("192.0.2.253".parse().unwrap()));
        assert_eq!(
            (r[3].protocol, r[3].scope, r[3].mode),
            (4, Some(253), RouteMode::Append)
        );
        assert_eq!(
            (r[4].dst_len, r[4].table, r[4].mode),
            (64, 1000, RouteMode::Add)
        );
    }

    #[test]
    fn route_problems_skip_the_route_with_a_warning() {
        let (c, w) = load(&instance(
            " virtual_routes {\n  10.1.0.0/16 via 10.0.0.1 or 10.0.0.2\n  10.2.0.0/16 dev eth1 mtu 1400\n  \
             10.3.0.0/16 dev eth1 proto 4\n  via 10.0.0.1\n  10.4.0.0/16 via 2001:db8::1\n  \
             10.5.0.0/16 dev eth1 protocol static\n  10.6.0.0/33 dev eth1\n }",
        ));
        assert_eq!(c.instances[0].virtual_routes.len(), 1, "{w:?}");
        assert_eq!(c.instances[0].virtual_routes[0].protocol, 18);
        assert_eq!(
            w,
            [
                "5:28: warning: route option `or` is not supported by keeplite; route skipped",
                "6:24: warning: route option `mtu` is not supported by keeplite; route skipped",
                "7:24: warning: unknown route keyword `proto`; route skipped",
                "8:3: warning: route without a destination; route skipped",
                "9:3: warning: cannot mix IPv4 and IPv6 addresses in a route; route skipped",
                "10:33: warning: route protocol reset to keepalived's (18) unless the route has `no_track`, as keepalived does",
                "11:3: warning: unknown route keyword `10.6.0.0/33`; route skipped",
            ]
        );
    }

    #[test]
    fn keepalived_rule_syntax() {
        let (c, w) = load(&format!(
            "static_rules {{\n from 10.0.0.0/8 table 100 priority 10\n not to 10.1.0.0/16 lookup main preference 11\n \
             from all fwmark 0x10/0xff iif eth1 oif eth2 goto 20 order 12 no_track\n \
             to 2001:db8::/32 prohibit priority 13\n inet6 iif eth1 blackhole priority 14\n}}\n{}",
            instance(" virtual_rules {\n  from 192.0.2.1 table 7\n  from 10.0.0.0/8 pref 1 table 2\n  to 10.0.0.0/8\n }")
        ));
        let s = &c.static_rules;
        assert_eq!(s.len(), 5);
        assert_eq!(
            (s[0].from, s[0].action, s[0].priority),
            (
                Some(("10.0.0.0".parse().unwrap(), 8)),
                RuleAction::Table(100),
                10
            )
        );
        assert!(s[1].invert && s[1].action == RuleAction::Table(254));
        assert_eq!(
            (s[2].fwmark, s[2].fwmask, s[2].track),
            (Some(16), Some(255), false)
        );
        assert_eq!(
            (s[2].iif.as_deref(), s[2].oif.as_deref()),
            (Some("eth1"), Some("eth2"))
        );
        assert_eq!(
            (s[2].from, s[2].action),
            (Some(("0.0.0.0".parse().unwrap(), 0)), RuleAction::Goto(20))
        );
        assert!(s[3].v6 && s[3].action == RuleAction::Prohibit);
        assert!(s[4].v6 && s[4].from.is_none() && s[4].action == RuleAction::Blackhole);
        let v = &c.instances[0].virtual_rules;
        assert_eq!((v.len(), v[0].priority), (1, 16384));
        assert_eq!(
            w,
            [
                "12:3: warning: rule has no priority: 16384, as keepalived sets",
                "13:19: warning: unknown rule option `pref`; rule skipped",
                "14:3: warning: rule without an action; rule skipped",
            ]
        );
    }

    #[test]
    fn static_addresses_need_a_device() {
        let (c, w) =
            load("static_ipaddress {\n 192.0.2.9/24 dev eth1 scope link\n 192.0.2.10\n}\n");
        assert_eq!(c.static_ipaddress.len(), 1);
        assert_eq!(c.static_ipaddress[0].scope.as_deref(), Some("link"));
        assert_eq!(
            w,
            ["3:2: warning: static address `192.0.2.10` has no `dev`; skipped"]
        );
    }

    #[test]
    fn dump_reads_back_to_the_same_model() {
        let (c, _) = load(&format!(
            "static_ipaddress {{\n 192.0.2.9/24 dev eth1\n}}\nstatic_routes {{\n blackhole 10.2.0.0/16\n \
             ::/0 via 2001:db8::1 dev eth1 no_track protocol 99 append onlink\n}}\n\
             static_rules {{\n not from all fwmark 3/7 oif eth2 goto 20 priority 12 no_track\n \
             inet6 iif eth1 unreachable priority 14\n}}\n{}",
            instance(" virtual_routes {\n  10.1.0.0/16 src 192.0.2.1 dev eth1 table 300 metric 1 scope host\n }\n \
                      virtual_rules {\n  to 10.0.0.0/8 table 9 priority 1\n }")
        ));
        let (again, _) = load(&crate::config::dump(&c));
        assert_eq!(again.static_ipaddress, c.static_ipaddress);
        assert_eq!(again.static_routes, c.static_routes);
        assert_eq!(again.static_rules, c.static_rules);
        assert_eq!(
            again.instances[0].virtual_routes,
            c.instances[0].virtual_routes
        );
        assert_eq!(
            again.instances[0].virtual_rules,
            c.instances[0].virtual_rules
        );
        assert_eq!(c.static_routes.len() + c.static_rules.len(), 4);
    }
}
