//! Checks across objects: duplicate VRIDs and VIPs, references to scripts, instances, groups.

use super::*;

pub(super) fn cross_check(c: &mut Ctx, b: &mut Builder) {
    let cfg = &mut b.cfg;
    let mut vrids: HashMap<(String, u8, bool), String> = HashMap::new();
    let mut vips: HashMap<IpAddr, String> = HashMap::new();
    for (inst, at) in cfg.instances.iter_mut().zip(&b.instances) {
        if let Some(t) = &at.vrid {
            let key = (
                inst.interface.clone(),
                inst.virtual_router_id,
                inst.is_ipv6(),
            );
            if let Some(other) = vrids.insert(key, inst.name.clone()) {
                c.error(
                    t,
                    format!(
                        "virtual_router_id {} on `{}` is already used by vrrp_instance `{other}`",
                        inst.virtual_router_id, inst.interface
                    ),
                    Some("each instance on an interface needs its own VRID".into()),
                );
            }
        }
        let addrs = inst
            .virtual_ipaddress
            .iter()
            .chain(&inst.virtual_ipaddress_excluded);
        for (v, t) in addrs.zip(&at.vips) {
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
