//! Checks across objects: duplicate VRIDs and VIPs, references to scripts, instances, groups.

use super::*;
use crate::vrrp::PRIORITY_OWNER;

pub(super) fn cross_check(c: &mut Ctx, b: &mut Builder) {
    vrid_conflicts(c, &b.cfg.instances, &b.instances);
    shared_vips(c, &b.cfg.instances, &b.instances);
    owner_scripts(c, b);
    let cfg = &mut b.cfg;
    for (inst, at) in cfg.instances.iter_mut().zip(&b.instances) {
        instance_scripts(c, inst, at, &cfg.vrrp_scripts);
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
        if g.group.len() == 1 {
            c.note(
                &members[0],
                format!("sync group `{}` has only 1 instance; keepalived: this probably isn't what you want", g.name),
                None,
            );
        }
    }
    check_sync_daemon(c, cfg, b.sync_daemon_at.as_ref());
    // keepalived removes a group left without members (each unknown one was reported above).
    cfg.sync_groups.retain(|g| !g.group.is_empty());
    // keepalived runs a service naming an unknown group as one without addresses: nothing.
    let mut k = 0;
    let groups = &cfg.server_groups;
    cfg.virtual_servers.retain(|vs| {
        let t = &b.vs_groups[k];
        k += 1;
        let (VsAddr::Group(name), Some(t)) = (&vs.addr, t) else { return true };
        let known = groups.iter().any(|g| g.name == *name);
        if !known {
            c.warn(
                t,
                format!("unknown virtual_server_group `{name}`; the virtual_server is skipped, as keepalived does"),
                Some("define it with `virtual_server_group NAME { ... }`".into()),
            );
        }
        known
    });
}

/// A VIP in two instances: refused (unsafe) unless both hold it as excluded.
fn shared_vips(c: &mut Ctx, insts: &[VrrpInstance], ats: &[InstanceAt]) {
    let mut vips: HashMap<IpAddr, (String, bool)> = HashMap::new();
    for (inst, at) in insts.iter().zip(ats) {
        let addrs = inst
            .virtual_ipaddress
            .iter()
            .chain(&inst.virtual_ipaddress_excluded);
        let adverted = inst.virtual_ipaddress.len();
        for (k, (v, t)) in addrs.zip(at.vips.iter().chain(&at.evips)).enumerate() {
            let excluded = k >= adverted;
            match vips.get(&v.addr) {
                Some((other, other_excluded)) if *other != inst.name => {
                    let msg = format!(
                        "virtual address {} is also in vrrp_instance `{other}`",
                        v.addr
                    );
                    if excluded && *other_excluded {
                        // OpenStack neutron's HA routers share excluded routes this way.
                        c.warn(
                            t,
                            format!("{msg} (both excluded; keepalived accepts this)"),
                            Some(
                                "the address is removed whenever either instance leaves MASTER"
                                    .into(),
                            ),
                        );
                    } else {
                        c.error(t, msg, Some("keepalived accepts it, but it is unsafe: whichever instance leaves MASTER removes the address the other one holds; give each VIP to one instance".into()));
                    }
                }
                _ => {
                    vips.insert(v.addr, (inst.name.clone(), excluded));
                }
            }
        }
    }
}

/// Drops track_script references keepalived ignores: to scripts defined below the instance
/// (it reads in order) or nowhere.
fn instance_scripts(c: &mut Ctx, inst: &mut VrrpInstance, at: &InstanceAt, all: &[VrrpScript]) {
    let (above, below) = all.split_at(at.scripts_above);
    let mut k = 0;
    inst.track_script.retain(|s| {
        let t = &at.scripts[k];
        k += 1;
        let later = below.iter().any(|x| x.name == s.name) && !above.iter().any(|x| x.name == s.name);
        if later {
            c.warn(
                t,
                format!("vrrp_script `{}` is defined below this instance; keepalived reads in order and ignores the reference, so keeplite does too", s.name),
                Some("move the vrrp_script above the vrrp_instance".into()),
            );
        }
        !later
    });
    let at_scripts: Vec<Token> = at
        .scripts
        .iter()
        .filter(|t| inst.track_script.iter().any(|s| s.name == t.text))
        .cloned()
        .collect();
    let scripts = all;
    retain_known(c, &mut inst.track_script, &at_scripts, "vrrp_script", |s| {
        scripts.iter().any(|x| x.name == s.name)
    });
    for t in at_scripts
        .iter()
        .filter(|t| all.iter().any(|x| x.name == t.text))
    {
        c.scripts.push((format!("track_script {}", t.text), t.pos));
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
