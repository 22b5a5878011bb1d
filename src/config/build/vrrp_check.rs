//! Checks of one `vrrp_instance` after its block is read.

use super::*;
use crate::proto::vrrp::{AUTH_DATA_LEN, MAX_ADVER_INT_V3};
use crate::vrrp::PRIORITY_OWNER;

/// Checks that only need this instance.
pub(super) fn check_instance(
    c: &mut Ctx,
    global: &GlobalDefs,
    i: &mut InstB,
    seen: &Seen,
    n: &Node,
) {
    required(c, i, seen, n);
    preempt(c, &mut i.v, seen);
    advert_int(c, &mut i.v, seen, n);
    strict(c, global, i, seen);
    lease(c, global, &i.v, seen, n);
    auth(c, i);
    families(c, i);
    unicast(c, &i.v, seen);
}

fn required(c: &mut Ctx, i: &InstB, seen: &Seen, n: &Node) {
    let name = &i.v.name;
    if i.v.interface.is_empty() {
        c.error(
            &n.kw,
            format!("vrrp_instance `{name}` has no `interface`"),
            Some("add `interface eth0` (the interface VRRP runs on)".into()),
        );
    }
    if i.at.vrid.is_none() && !seen.contains_key("virtual_router_id") {
        c.error(
            &n.kw,
            format!("vrrp_instance `{name}` has no `virtual_router_id`"),
            Some("add `virtual_router_id N` (1..255, the same on every node)".into()),
        );
    }
}

fn preempt(c: &mut Ctx, v: &mut VrrpInstance, seen: &Seen) {
    let name = &v.name;
    // keepalived: MASTER without an explicit priority is the address owner.
    if v.state == InitialState::Master && !seen.contains_key("priority") {
        v.priority = PRIORITY_OWNER;
    }
    if v.nopreempt && v.state == InitialState::Master {
        let t = &seen["nopreempt"];
        c.warn(
            t,
            format!("(`{name}`) nopreempt will not work with initial state MASTER; cleared (as keepalived does)"),
            Some("use `state BACKUP` on every node for non-preemptive failover".into()),
        );
        v.nopreempt = false;
    }
    if v.nopreempt && v.priority == PRIORITY_OWNER {
        c.warn(
            &seen["nopreempt"],
            format!("(`{name}`) nopreempt is incompatible with priority 255; cleared"),
            None,
        );
        v.nopreempt = false;
    }
}

fn advert_int(c: &mut Ctx, v: &mut VrrpInstance, seen: &Seen, n: &Node) {
    let adv = seen.get("advert_int").unwrap_or(&n.kw).clone();
    let cs = (v.advert_int.as_micros() / 10_000) as u64;
    if v.version == 2 {
        if v.advert_int.subsec_micros() != 0 {
            let secs = ((v.advert_int.as_micros() + 500_000) / 1_000_000).max(1) as u64;
            c.warn(
                &adv,
                format!("VRRPv2 advert_int must be a whole number of seconds; rounded to {secs}"),
                Some("use `version 3` for sub-second adverts".into()),
            );
            v.advert_int = Duration::from_secs(secs);
        }
        // The 8-bit Adver Int field of RFC 3768 §5.3.7 (the core keeps its check private).
        if !(1..=255).contains(&v.advert_int.as_secs()) {
            c.error(
                &adv,
                "VRRPv2 advert_int must be 1..=255 seconds".into(),
                None,
            );
        }
    } else if !(1..=u64::from(MAX_ADVER_INT_V3)).contains(&cs) {
        // RFC 5798 §5.2.7: 12-bit Max Adver Int in centiseconds.
        c.error(
            &adv,
            "VRRPv3 advert_int must be 0.01..=40.95 seconds".into(),
            None,
        );
    } else if v.advert_int != Duration::from_millis(cs * 10) {
        c.warn(
            &adv,
            "advert_int has centisecond resolution; rounded down".into(),
            None,
        );
        v.advert_int = Duration::from_millis(cs * 10);
    }
}

fn strict(c: &mut Ctx, global: &GlobalDefs, i: &mut InstB, seen: &Seen) {
    if !global.vrrp_strict {
        return;
    }
    let v = &mut i.v;
    if v.state == InitialState::Master && v.priority != PRIORITY_OWNER {
        c.warn(
            &seen["state"],
            format!("vrrp_strict: state MASTER needs priority 255 (address owner); `{}` starts as BACKUP", v.name),
            Some("use `state BACKUP`, or `priority 255` on the address owner".into()),
        );
        v.state = InitialState::Backup;
    }
    if !v.unicast_peer.is_empty() {
        c.error(
            &seen["unicast_peer"],
            "unicast_peer is not allowed with vrrp_strict (RFC 5798 §5.1.1.2 multicast only)"
                .into(),
            Some("remove `vrrp_strict` from global_defs or use multicast".into()),
        );
    }
    if i.auth_pass.is_some() {
        c.warn(
            &seen["authentication"],
            "vrrp_strict: authentication is not allowed (RFC 5798 §9); ignored".into(),
            Some("remove the authentication block".into()),
        );
        i.auth_type = None;
        i.auth_pass = None;
    }
}

/// The live master refreshes the lease every advert: it must outlive a few lost adverts.
fn lease(c: &mut Ctx, global: &GlobalDefs, v: &VrrpInstance, seen: &Seen, n: &Node) {
    if let VipLease::Seconds(secs) = v.effective_vip_lease(global) {
        let min = (v.advert_int * 3).as_secs_f64().ceil() as u64;
        if u64::from(secs) < min {
            let t = seen.get("vip_lease").unwrap_or(&n.kw);
            c.error(
                t,
                format!("vip_lease {secs} s is shorter than 3 advert intervals; VIPs would expire while the master is alive"),
                Some(format!("use `vip_lease {}` or more", min.max(1))),
            );
        }
    }
}

fn auth(c: &mut Ctx, i: &mut InstB) {
    let v = &mut i.v;
    match (&i.auth_type, &i.auth_pass) {
        (Some(t), _) if t.text.eq_ignore_ascii_case("AH") => c.warn(
            t,
            "keeplite does not support AH authentication; the instance runs without authentication"
                .into(),
            Some("use `auth_type PASS`, or drop the authentication block".into()),
        ),
        (_, Some(p)) if v.version == 3 => c.warn(
            p,
            "VRRPv3 has no authentication (RFC 5798 §9); auth_pass ignored".into(),
            None,
        ),
        (Some(_), Some(p)) => {
            let pass: String = p.text.chars().take(AUTH_DATA_LEN).collect();
            if pass.len() < p.text.len() {
                c.warn(
                    p,
                    format!("auth_pass is longer than 8 characters; only `{pass}` is used"),
                    None,
                );
            }
            v.auth_pass = Some(pass);
        }
        (Some(t), None) => c.warn(
            t,
            "auth_type PASS without auth_pass; the instance runs without authentication".into(),
            Some("add `auth_pass SECRET`".into()),
        ),
        (None, Some(p)) => c.warn(
            p,
            "auth_pass without auth_type; ignored".into(),
            Some("add `auth_type PASS`".into()),
        ),
        (None, None) => {}
    }
}

fn families(c: &mut Ctx, i: &InstB) {
    let v = &i.v;
    let all: Vec<(IpAddr, &Token)> = v
        .virtual_ipaddress
        .iter()
        .chain(&v.virtual_ipaddress_excluded)
        .map(|x| x.addr)
        .zip(&i.at.vips)
        .collect();
    if let Some((first, _)) = all.first() {
        if let Some((_, t)) = all.iter().find(|(a, _)| a.is_ipv6() != first.is_ipv6()) {
            c.error(
                t,
                format!(
                    "vrrp_instance `{}` mixes IPv4 and IPv6 virtual addresses",
                    v.name
                ),
                Some("use one instance per address family".into()),
            );
        } else if first.is_ipv6() && v.version == 2 {
            c.error(
                all[0].1,
                "IPv6 virtual addresses need VRRP version 3".into(),
                Some("add `version 3` to the instance or `vrrp_version 3` to global_defs".into()),
            );
        }
    }
}

fn unicast(c: &mut Ctx, v: &VrrpInstance, seen: &Seen) {
    if !v.unicast_peer.is_empty() && v.unicast_src_ip.is_none() {
        c.warn(
            &seen["unicast_peer"],
            format!(
                "unicast_peer without unicast_src_ip: adverts use the primary address of `{}`",
                v.interface
            ),
            Some("set `unicast_src_ip` so peers can match this node".into()),
        );
    }
    if seen.contains_key("unicast_peer") && seen.contains_key("mcast_src_ip") {
        c.warn(
            &seen["mcast_src_ip"],
            "mcast_src_ip is ignored in unicast mode".into(),
            None,
        );
    }
}
