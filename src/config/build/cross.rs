//! Checks across objects: duplicate VRIDs and VIPs, references to scripts, instances, groups.

use super::*;
use crate::vrrp::PRIORITY_OWNER;

pub(super) fn cross_check(c: &mut Ctx, b: &mut Builder) {
    vrid_conflicts(c, &b.cfg.instances, &b.instances);
    owner_scripts(c, b);
    let cfg = &mut b.cfg;
    let mut vips: HashMap<IpAddr, String> = HashMap::new();
    for (inst, at) in cfg.instances.iter_mut().zip(&b.instances) {
        let addrs = inst
            .virtual_ipaddress
            .iter()
            .chain(&inst.virtual_ipaddress_excluded);
        for (v, t) in addrs.zip(at.vips.iter().chain(&at.evips)) {
            match vips.get(&v.addr) {
                Some(other) if *other != inst.name => c.error(
                    t,
                    format!(
                        "virtual address {} is also in vrrp_instance `{other}`",
                        v.addr
                    ),
                    Some("a VIP can belong to one instance only".into()),
                ),
                _ => {
                    vips.insert(v.addr, inst.name.clone());
                }
            }
        }
        let scripts = &cfg.vrrp_scripts;
        retain_known(c, &mut inst.track_script, &at.scripts, "vrrp_script", |s| {
            scripts.iter().any(|x| x.name == s.name)
        });
    }
    let instances = &cfg.instances;
    for (g, (members, scripts)) in cfg.sync_groups.iter_mut().zip(&b.groups) {
        retain_known(c, &mut g.group, members, "vrrp_instance", |m| {
            instances.iter().any(|i| i.name == *m)
        });
        let known = &cfg.vrrp_scripts;
        retain_known(c, &mut g.track_script, scripts, "vrrp_script", |s| {
            known.iter().any(|x| x.name == s.name)
        });
    }
    for (vs, t) in cfg.virtual_servers.iter().zip(&b.vs_groups) {
        if let (VsAddr::Group(name), Some(t)) = (&vs.addr, t) {
            if !cfg.server_groups.iter().any(|g| g.name == *name) {
                c.error(
                    t,
                    format!("unknown virtual_server_group `{name}`"),
                    Some("define it with `virtual_server_group NAME { ... }`".into()),
                );
            }
        }
    }
}

/// Instances sharing interface, VRID and family must be told apart by their adverts' source
/// and destination, as keepalived does: two multicast ones collide; unicast ones collide when
/// they have the same source and a common peer; a multicast and a unicast one do not.
fn vrid_conflicts(c: &mut Ctx, insts: &[VrrpInstance], ats: &[InstanceAt]) {
    let mut seen: HashMap<(&str, u8, bool), Vec<usize>> = HashMap::new();
    for (k, (inst, at)) in insts.iter().zip(ats).enumerate() {
        let Some(t) = &at.vrid else { continue };
        let key = (
            inst.interface.as_str(),
            inst.virtual_router_id,
            inst.is_ipv6(),
        );
        let earlier = seen.entry(key).or_default();
        let clash = earlier.iter().map(|&j| &insts[j]).find_map(|o| {
            match (inst.unicast_peer.is_empty(), o.unicast_peer.is_empty()) {
                (true, true) => Some((o, None)),
                (false, false) if o.unicast_src_ip == inst.unicast_src_ip => inst
                    .unicast_peer
                    .iter()
                    .find(|p| o.unicast_peer.contains(p))
                    .map(|p| (o, Some(*p))),
                _ => None,
            }
        });
        earlier.push(k);
        let Some((other, peer)) = clash else { continue };
        let how = match peer {
            None => " (both multicast)".to_string(),
            Some(p) => format!(" with the same unicast source and peer {p}"),
        };
        c.error(
            t,
            format!(
                "virtual_router_id {} on `{}` is already used by vrrp_instance `{}`{how}",
                inst.virtual_router_id, inst.interface, other.name
            ),
            Some("use another VRID, or unicast peers that tell the instances apart".into()),
        );
    }
}

/// The address owner's priority is fixed (keepalived): an instance with priority 255 drops
/// weighted scripts; a sync group with such a member tracks its scripts unweighted.
fn owner_scripts(c: &mut Ctx, b: &mut Builder) {
    let cfg = &mut b.cfg;
    let weight = |s: &TrackScript| {
        s.weight.unwrap_or_else(|| {
            cfg.vrrp_scripts
                .iter()
                .find(|x| x.name == s.name)
                .map_or(0, |x| x.weight)
        })
    };
    for (inst, at) in cfg.instances.iter_mut().zip(b.instances.iter_mut()) {
        if inst.priority != PRIORITY_OWNER {
            continue;
        }
        let mut k = 0;
        inst.track_script.retain(|s| {
            let t = &at.scripts[k];
            let keep = weight(s) == 0;
            if keep {
                k += 1;
            } else {
                c.warn(
                    t,
                    format!("(`{}`) priority 255 (address owner): weighted track_script `{}` ignored, as keepalived does", inst.name, s.name),
                    Some("use `weight 0` (FAULT on failure) or a lower priority".into()),
                );
                at.scripts.remove(k);
            }
            keep
        });
    }
    let owners: Vec<&str> = cfg
        .instances
        .iter()
        .filter(|i| i.priority == PRIORITY_OWNER)
        .map(|i| i.name.as_str())
        .collect();
    for (g, (_, scripts)) in cfg.sync_groups.iter_mut().zip(&b.groups) {
        if !g.group.iter().any(|m| owners.contains(&m.as_str())) {
            continue;
        }
        for (s, t) in g.track_script.iter_mut().zip(scripts) {
            if weight(s) != 0 {
                c.warn(
                    t,
                    format!("(`{}`) a member has priority 255 (address owner): track_script `{}` weight cleared, as keepalived does", g.name, s.name),
                    None,
                );
                s.weight = Some(0);
            }
        }
    }
}

/// Drops references to objects that do not exist, with a warning (keepalived ignores them too).
pub(super) fn retain_known<T>(
    c: &mut Ctx,
    items: &mut Vec<T>,
    at: &[Token],
    what: &str,
    exists: impl Fn(&T) -> bool,
) {
    let mut idx = 0;
    items.retain(|item| {
        let t = &at[idx];
        idx += 1;
        let ok = exists(item);
        if !ok {
            c.at(
                Severity::Warning,
                t.pos,
                format!("unknown {what} `{}`; reference ignored", t.text),
                Some(format!("define it with `{what} {} {{ ... }}`", t.text)),
            );
        }
        ok
    });
}
