//! Checks of one `vrrp_instance` after its block is read.

use super::*;
use crate::proto::vrrp::{AUTH_DATA_LEN, HEADER_LEN, MAX_ADVER_INT_V3};
use crate::vrrp::PRIORITY_OWNER;

/// Checks that only need this instance.
pub(super) fn check_instance(
    c: &mut Ctx,
    global: &GlobalDefs,
    i: &mut InstB,
    seen: &Seen,
    n: &Node,
) {
    let strict_mode = i.v.strict_mode.unwrap_or(global.vrrp_strict);
    if strict_mode != global.vrrp_strict {
        strict_defaults(global, &mut i.v, strict_mode, seen);
    }
    required(c, i, seen, n);
    preempt(c, &mut i.v, seen);
    version(c, i, strict_mode, seen);
    advert_int(c, &mut i.v, seen, n);
    if strict_mode {
        let who = if i.v.strict_mode.is_some() {
            "strict_mode"
        } else {
            "vrrp_strict"
        };
        strict(c, who, i, seen);
    }
    lease(c, global, &i.v, seen, n);
    auth(c, i);
    vip_count(c, i);
    owner_tracking(c, i, seen);
    unicast(c, &i.v, seen);
    keepalived_resets(c, &mut i.v, strict_mode, seen, n);
}

/// `strict_mode` differing from `vrrp_strict`: the defaults the instance took from the
/// global setting follow its own, unless given.
fn strict_defaults(global: &GlobalDefs, v: &mut VrrpInstance, strict: bool, seen: &Seen) {
    if !seen.contains_key("accept") && !seen.contains_key("no_accept") {
        v.accept = !strict;
    }
    if !seen.contains_key("lower_prio_no_advert") {
        v.lower_prio_no_advert = global.vrrp_lower_prio_no_advert || strict;
    }
    let g = global.garp.instance_defaults(strict);
    if !seen.contains_key("garp_lower_prio_delay") {
        v.garp.lower_prio_delay = g.lower_prio_delay;
    }
    if !seen.contains_key("garp_lower_prio_repeat") {
        v.garp.lower_prio_repeat = g.lower_prio_repeat;
    }
}

/// What keepalived clears or drops with a message, keeplite too.
fn keepalived_resets(c: &mut Ctx, v: &mut VrrpInstance, strict: bool, seen: &Seen, n: &Node) {
    let name = v.name.clone();
    if v.state == InitialState::Master && !v.preempt_delay.is_zero() {
        c.warn(
            &seen["preempt_delay"],
            format!("(`{name}`) preempt_delay does not apply to initial state MASTER; cleared, as keepalived does"),
            None,
        );
        v.preempt_delay = Duration::ZERO;
    }
    if let Some(t) = seen.get("track_interface") {
        let own = v.interface.clone();
        v.track_interface.retain(|ti| {
            if ti.name != own {
                return true;
            }
            c.warn(
                t,
                format!("(`{name}`) track_interface `{own}` is the instance's own interface; ignored, as keepalived does"),
                Some("the instance already goes to FAULT when its interface is down".into()),
            );
            false
        });
    }
    if v.virtual_ipaddress.is_empty() {
        if v.version == 3 || v.is_ipv6() || strict {
            c.error(
                &n.kw,
                format!("(`{name}`) no virtual_ipaddress: VRRPv3, IPv6 and strict instances need one (keepalived refuses this too)"),
                Some("add `virtual_ipaddress { ADDR }`".into()),
            );
        } else {
            // keepalived runs it (notify scripts only); keeplite's core needs an address.
            c.warn(
                &n.kw,
                format!("(`{name}`) no virtual_ipaddress: keepalived runs such an instance (\"at least one is sensible\"), keeplite does not run it"),
                Some("add the address the notify scripts move, or `virtual_ipaddress { ADDR }`".into()),
            );
        }
    }
}

fn required(c: &mut Ctx, i: &InstB, seen: &Seen, n: &Node) {
    let name = &i.v.name;
    if i.v.interface.is_empty() {
        c.error(
            &n.kw,
            format!("vrrp_instance `{name}` has no `interface`"),
            Some("add `interface eth0` (the interface VRRP runs on), or `default_interface` in global_defs".into()),
        );
    }
    if i.at.vrid.is_none() {
        // An invalid one was ignored above: keepalived refuses the instance either way.
        c.error(
            seen.get("virtual_router_id").unwrap_or(&n.kw),
            format!("vrrp_instance `{name}` has no valid `virtual_router_id`"),
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

/// keepalived rounds and clamps what the advert field cannot carry (RFC 3768 §5.3.7: 8-bit
/// seconds; RFC 5798 §5.2.7: 12-bit centiseconds), with a message.
fn advert_int(c: &mut Ctx, v: &mut VrrpInstance, seen: &Seen, n: &Node) {
    let adv = seen.get("advert_int").unwrap_or(&n.kw).clone();
    let (unit, max) = if v.version == 2 {
        (1_000_000, 255)
    } else {
        (10_000, u128::from(MAX_ADVER_INT_V3))
    };
    let us = v.advert_int.as_micros();
    let units = ((us + unit / 2) / unit).clamp(1, max);
    let rounded = Duration::from_micros((units * unit) as u64);
    if rounded == v.advert_int {
        return;
    }
    let (msg, help) = if us > max * unit {
        (
            "VRRPv3 advert_int must be at most 40.95 seconds; set to 40.95, as keepalived does"
                .to_string(),
            None,
        )
    } else if v.version == 2 {
        (
            format!("VRRPv2 advert_int must be a whole number of seconds; rounded to {}, as keepalived does", units),
            Some("use `version 3` for sub-second adverts".into()),
        )
    } else {
        (
            format!(
                "VRRPv3 advert_int has 10 ms units; rounded to {}, as keepalived does",
                rounded.as_secs_f64()
            ),
            None,
        )
    };
    c.warn(&adv, msg, help);
    v.advert_int = rounded;
}

/// `who`: `vrrp_strict` or `strict_mode`, whichever made the instance strict.
fn strict(c: &mut Ctx, who: &str, i: &mut InstB, seen: &Seen) {
    let v = &mut i.v;
    if v.state == InitialState::Master && v.priority != PRIORITY_OWNER {
        c.warn(
            &seen["state"],
            format!(
                "{who}: state MASTER needs priority 255 (address owner); `{}` starts as BACKUP",
                v.name
            ),
            Some("use `state BACKUP`, or `priority 255` on the address owner".into()),
        );
        v.state = InitialState::Backup;
    }
    if !v.unicast_peer.is_empty() {
        c.error(
            &seen["unicast_peer"],
            format!("unicast_peer is not allowed with {who} (RFC 5798 §5.1.1.2 multicast only)"),
            Some(format!("remove `{who}` or use multicast")),
        );
    }
    if i.auth_pass.is_some() {
        c.warn(
            &seen["authentication"],
            format!("{who}: authentication is not allowed (RFC 5798 §9); ignored"),
            Some("remove the authentication block".into()),
        );
        i.auth_type = None;
        i.auth_pass = None;
    }
    // keepalived vrrp_complete_instance: "Strict mode requires no repeat garps - resetting"
    // (and no delayed ones).
    let g = &mut i.v.garp;
    for (kw, set) in [
        (
            "garp_lower_prio_repeat",
            g.lower_prio_repeat.is_some_and(|r| r > 0),
        ),
        (
            "garp_lower_prio_delay",
            g.lower_prio_delay.is_some_and(|d| !d.is_zero()),
        ),
    ] {
        if let (true, Some(t)) = (set, seen.get(kw)) {
            c.warn(
                t,
                format!("{who}: `{kw}` must be 0; reset to 0, as keepalived does"),
                Some(format!("remove the line, or `{who}`")),
            );
        }
    }
    if seen.contains_key("garp_lower_prio_repeat") {
        g.lower_prio_repeat = Some(0);
    }
    if seen.contains_key("garp_lower_prio_delay") {
        g.lower_prio_delay = Some(Duration::ZERO);
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
    if i.auth_unknown {
        // keepalived still reads the password (and says when it truncates it), then ignores it.
        if let Some(p) = i
            .auth_pass
            .as_ref()
            .filter(|p| p.text.chars().count() > AUTH_DATA_LEN)
        {
            c.note(p, "auth_pass is longer than 8 characters (keepalived truncates it); unused: no authentication".into(), None);
        }
        return;
    }
    match (&i.auth_type, &i.auth_pass) {
        (Some(t), _) if t.text == "AH" => {
            c.warn(
                t,
                "keeplite does not support AH authentication; the instance runs without authentication"
                    .into(),
                Some("use `auth_type PASS`, or drop the authentication block".into()),
            );
            // keepalived needs an advert's AH sequence number before taking over.
            if v.state == InitialState::Master && v.priority != PRIORITY_OWNER {
                c.warn(
                    t,
                    format!("(`{}`) initial state MASTER is incompatible with AH authentication; BACKUP, as keepalived does", v.name),
                    None,
                );
                v.state = InitialState::Backup;
            }
        }
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

/// IPv6 instances run VRRPv3: keepalived picks it unless `version 2` is given, and then sends
/// non-standard VRRPv2 adverts over IPv6, which keeplite's core refuses.
fn version(c: &mut Ctx, i: &mut InstB, strict: bool, seen: &Seen) {
    let v = &mut i.v;
    if i.at.v6 != Some(true) || v.version == 3 {
        return;
    }
    v.version = 3;
    let Some(t) = seen.get("version") else { return };
    let msg = if strict {
        format!("(`{}`) IPv6 cannot use VRRP version 2; version 3 used, as keepalived does in strict mode", v.name)
    } else {
        format!("(`{}`) keepalived would send VRRPv2 adverts over IPv6 (not standard); keeplite uses version 3, which peers running `version 2` do not see", v.name)
    };
    c.warn(t, msg, Some("use `version 3` on every node".into()));
}

/// The advert's address count is 8 bits and the advert must fit the link: keepalived moves the
/// excess to the excluded VIPs (installed, not adverted). keeplite assumes a 1500-byte MTU.
fn vip_count(c: &mut Ctx, i: &mut InstB) {
    const MTU: usize = 1500;
    let (hdr, size) = match (i.at.v6 == Some(true), i.v.version) {
        (true, _) => (14 + 40 + HEADER_LEN, 16),
        (false, 2) => (14 + 20 + HEADER_LEN + AUTH_DATA_LEN, 4),
        (false, _) => (14 + 20 + HEADER_LEN, 4),
    };
    let max = ((MTU - hdr) / size).min(usize::from(u8::MAX));
    let n = i.v.virtual_ipaddress.len();
    if n <= max {
        return;
    }
    c.warn(
        &i.at.vips[max],
        format!(
            "(`{}`) {n} virtual addresses do not fit one advert (at most {max}); this one and the {} after it are moved to virtual_ipaddress_excluded (installed, not adverted), as keepalived does",
            i.v.name,
            n - max - 1
        ),
        Some("split the addresses over several instances to advertise them all".into()),
    );
    let moved = i.v.virtual_ipaddress.split_off(max);
    i.v.virtual_ipaddress_excluded.extend(moved);
    let at = i.at.vips.split_off(max);
    i.at.evips.extend(at);
}

/// The address owner's priority is fixed: keepalived drops weighted interface tracking (the
/// weighted scripts are handled with the script table, in `cross`).
fn owner_tracking(c: &mut Ctx, i: &mut InstB, seen: &Seen) {
    if i.v.priority != PRIORITY_OWNER {
        return;
    }
    let name = i.v.name.clone();
    let at = seen.get("track_interface").cloned();
    i.v.track_interface.retain(|t| {
        if t.weight == 0 {
            return true;
        }
        if let Some(at) = &at {
            c.warn(
                at,
                format!("(`{name}`) priority 255 (address owner): weighted track_interface `{}` ignored, as keepalived does", t.name),
                Some("use weight 0 (FAULT when down) or a lower priority".into()),
            );
        }
        false
    });
}

fn unicast(c: &mut Ctx, v: &VrrpInstance, seen: &Seen) {
    if !v.unicast_peer.is_empty() && v.unicast_src_ip.is_none() {
        c.note(
            &seen["unicast_peer"],
            format!(
                "unicast_peer without unicast_src_ip: adverts use the primary address of `{}`",
                v.interface
            ),
            Some("set `unicast_src_ip` so peers can match this node".into()),
        );
    }
    if let (true, Some(t)) = (v.unicast_peer.is_empty(), seen.get("unicast_ttl")) {
        // keepalived: "Cannot use unicast_ttl without unicast peers - resetting".
        c.warn(
            t,
            "unicast_ttl without unicast_peer is ignored, as keepalived does: multicast adverts always leave with TTL 255".into(),
            None,
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
