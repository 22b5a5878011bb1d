//! From the configuration model to running units. A unit is one sync group, or one instance
//! outside any group, with its own [`Vrrp`] core. On a reload, the units whose
//! configuration did not change keep state, timers and VIPs untouched. A unit whose
//! configuration changed but whose instances (names, sync group) are the same is
//! reconfigured in place ([`reconfigure`], [`crate::vrrp::Vrrp::reconfigure`]): states are
//! kept, only added / removed VIPs are touched. Another interface, unicast/multicast mode,
//! VRID, version, family, membership, or a VIP whose device, prefix, label or scope changed
//! restarts the unit from Initialize instead.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::{Config, GlobalDefs, SyncGroup, VipLease, VirtualIp, VrrpInstance, VrrpScript};
use crate::daemon::log;
use crate::proto::vrrp::{Auth, Version};
use crate::sys::netlink::{AddrSpec, Rtnl};
use crate::vrrp::{default_vip_lease, GroupParams, Instance, Params, Tracker, Vrrp};

/// What feeds one core tracker (same order as `Params::trackers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackerSrc {
    Link { name: String, reverse: bool },
    Script { name: String, reverse: bool },
}

/// The OS side of one instance.
#[derive(Debug)]
pub struct Member {
    pub name: String,
    pub ifname: String,
    pub ifindex: u32,
    pub v6: bool,
    /// Index of the VRRP socket in the daemon's socket list.
    pub sock: usize,
    /// Every VIP (adverted and excluded) with its MAC for gratuitous ARP / NA.
    pub vips: Vec<(AddrSpec, [u8; 6])>,
    /// VIPs dropped by an in-place reconfiguration, until the core's `RemoveVips` removes
    /// them.
    pub retired: Vec<(AddrSpec, [u8; 6])>,
    /// What feeds each of the core's trackers.
    pub trackers: Vec<TrackerSrc>,
    /// Receive-error kinds already logged (one line per kind, not per packet).
    pub logged_errors: u32,
    /// The last advert could not be sent (logged once until one goes out again).
    pub send_failing: bool,
    pub cfg: VrrpInstance,
}

/// The configuration a unit was built from: equal keys mean nothing to restart.
#[derive(Clone, Debug)]
pub struct UnitKey {
    pub instances: Vec<VrrpInstance>,
    pub group: Option<SyncGroup>,
    pub scripts: Vec<VrrpScript>,
    pub global: GlobalDefs,
}

impl PartialEq for UnitKey {
    /// Only the global settings a running instance uses count: changing `router_id`, the
    /// watchdog or IPVS-side defaults must not restart (and flap) any instance.
    fn eq(&self, o: &Self) -> bool {
        let (g, h) = (&self.global, &o.global);
        self.instances == o.instances
            && self.group == o.group
            && self.scripts == o.scripts
            && g.vrrp_mcast_group4 == h.vrrp_mcast_group4
            && g.vrrp_mcast_group6 == h.vrrp_mcast_group6
            && g.vrrp_skip_check_adv_addr == h.vrrp_skip_check_adv_addr
            && g.vip_lease == h.vip_lease
            && g.script_user == h.script_user
    }
}

pub struct Unit {
    pub vrrp: Vrrp,
    pub members: Vec<Member>,
    pub group: Option<SyncGroup>,
    pub key: UnitKey,
}

/// The split of a configuration into units, before anything touches the OS.
pub fn unit_keys(cfg: &Config) -> Vec<UnitKey> {
    let scripts_of = |insts: &[VrrpInstance], g: Option<&SyncGroup>| {
        cfg.vrrp_scripts
            .iter()
            .filter(|s| {
                insts
                    .iter()
                    .flat_map(|i| &i.track_script)
                    .chain(g.iter().flat_map(|g| &g.track_script))
                    .any(|t| t.name == s.name)
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut keys = Vec::new();
    let mut grouped = Vec::new();
    for g in &cfg.sync_groups {
        let insts: Vec<VrrpInstance> = g
            .group
            .iter()
            .filter_map(|n| cfg.instances.iter().find(|i| &i.name == n))
            .cloned()
            .collect();
        grouped.extend(insts.iter().map(|i| i.name.clone()));
        keys.push(UnitKey {
            scripts: scripts_of(&insts, Some(g)),
            instances: insts,
            group: Some(g.clone()),
            global: cfg.global.clone(),
        });
    }
    for i in cfg.instances.iter().filter(|i| !grouped.contains(&i.name)) {
        let insts = vec![i.clone()];
        keys.push(UnitKey {
            scripts: scripts_of(&insts, None),
            instances: insts,
            group: None,
            global: cfg.global.clone(),
        });
    }
    keys
}

/// What the daemon provides while building: netlink, socket lookup, script states.
pub trait Env {
    fn rtnl(&mut self) -> &mut Rtnl;
    /// Index of the VRRP socket for this interface and family, opened (and `group` joined)
    /// on first use.
    fn socket(
        &mut self,
        ifname: &str,
        ifindex: u32,
        v6: bool,
        group: Option<IpAddr>,
    ) -> Result<usize, String>;
    /// Current state of a vrrp_script (starting it if new).
    fn script_up(&mut self, name: &str) -> bool;
}

fn scope(s: Option<&str>) -> u8 {
    match s {
        Some("host") => 254,
        Some("link") => 253,
        Some("site") => 200,
        Some("nowhere") => 255,
        Some(n) => n.parse().unwrap_or(0),
        None => 0,
    }
}

fn vip_spec(
    env: &mut dyn Env,
    inst: &VrrpInstance,
    v: &VirtualIp,
) -> Result<(AddrSpec, [u8; 6]), String> {
    let dev = v.dev.as_deref().unwrap_or(&inst.interface);
    let link = env.rtnl().link(dev).map_err(|_| {
        format!(
            "{}: interface `{dev}` of VIP {} does not exist",
            inst.name, v.addr
        )
    })?;
    let mut spec = AddrSpec::new(link.index, v.addr, v.prefix_len);
    spec.broadcast = v.brd;
    spec.label = v.label.clone();
    spec.scope = scope(v.scope.as_deref());
    Ok((spec, link.mac.unwrap_or([0; 6])))
}

pub fn lease(inst: &VrrpInstance, global: &GlobalDefs, version: Version) -> Option<Duration> {
    match inst.effective_vip_lease(global) {
        VipLease::Auto => Some(default_vip_lease(version, inst.advert_int, inst.priority)),
        VipLease::Off => None,
        VipLease::Seconds(s) => Some(Duration::from_secs(u64::from(s))),
    }
}

fn member(
    env: &mut dyn Env,
    inst: &VrrpInstance,
    key: &UnitKey,
) -> Result<(Member, Params), String> {
    let g = &key.global;
    let link = env.rtnl().link(&inst.interface).map_err(|_| {
        format!(
            "{}: interface `{}` does not exist",
            inst.name, inst.interface
        )
    })?;
    let v6 = inst.is_ipv6();
    let src = match inst.unicast_src_ip.or(inst.mcast_src_ip) {
        Some(a) => a,
        None => env
            .rtnl()
            .primary_address(link.index, v6)
            .map_err(|e| format!("{}: {e}", inst.name))?
            .ok_or_else(|| {
                let fam = if v6 { "IPv6 link-local" } else { "IPv4" };
                format!(
                    "{}: interface `{}` has no {fam} address",
                    inst.name, inst.interface
                )
            })?,
    };
    let group: IpAddr = if v6 {
        g.vrrp_mcast_group6.into()
    } else {
        g.vrrp_mcast_group4.into()
    };
    let unicast = !inst.unicast_peer.is_empty();
    let sock = env.socket(&inst.interface, link.index, v6, (!unicast).then_some(group))?;
    let vips = inst
        .virtual_ipaddress
        .iter()
        .chain(&inst.virtual_ipaddress_excluded)
        .map(|v| vip_spec(env, inst, v))
        .collect::<Result<Vec<_>, _>>()?;
    let version = if inst.version == 3 {
        Version::V3
    } else {
        Version::V2
    };
    let adverted: Vec<IpAddr> = inst.virtual_ipaddress.iter().map(|v| v.addr).collect();
    let mut p = Params::new(
        &inst.name,
        inst.virtual_router_id,
        inst.priority,
        src,
        adverted,
    );
    p.version = version;
    p.advert_int = inst.advert_int;
    p.initial_master = inst.state == crate::config::InitialState::Master;
    p.preempt = !inst.nopreempt;
    p.preempt_delay = inst.preempt_delay;
    p.accept = inst.accept;
    p.auth = inst
        .auth_pass
        .as_ref()
        .map_or(Auth::NONE, |pw| Auth::password(pw.as_bytes()));
    p.check_addr_list = !g.vrrp_skip_check_adv_addr;
    p.garp_master_delay = inst.garp.master_delay;
    p.garp_master_repeat = inst.garp.master_repeat;
    p.garp_master_refresh = inst.garp.master_refresh;
    p.garp_master_refresh_repeat = inst.garp.master_refresh_repeat;
    p.excluded_vips = inst
        .virtual_ipaddress_excluded
        .iter()
        .map(|v| v.addr)
        .collect();
    p.vip_lease = lease(inst, g, version);
    p.link = link.index;
    p.unicast_peers = inst.unicast_peer.clone();
    p.mcast_group = group;
    let mut trackers = Vec::new();
    if !inst.dont_track_primary {
        trackers.push((
            TrackerSrc::Link {
                name: inst.interface.clone(),
                reverse: false,
            },
            0,
        ));
    }
    for t in &inst.track_interface {
        trackers.push((
            TrackerSrc::Link {
                name: t.name.clone(),
                reverse: t.reverse,
            },
            t.weight,
        ));
    }
    let group_scripts = key.group.iter().flat_map(|g| &g.track_script);
    for t in inst.track_script.iter().chain(group_scripts) {
        let script = key.scripts.iter().find(|s| s.name == t.name);
        let weight = t.weight.or(script.map(|s| s.weight)).unwrap_or(0);
        let reverse = t.reverse ^ script.is_some_and(|s| s.weight_reverse);
        trackers.push((
            TrackerSrc::Script {
                name: t.name.clone(),
                reverse,
            },
            weight,
        ));
    }
    for (src, weight) in &trackers {
        let up = match src {
            TrackerSrc::Link { name, reverse } => {
                env.rtnl().link(name).map(|l| l.up).unwrap_or(false) ^ reverse
            }
            TrackerSrc::Script { name, reverse } => env.script_up(name) ^ reverse,
        };
        p.trackers.push(Tracker {
            name: match src {
                TrackerSrc::Link { name, .. } | TrackerSrc::Script { name, .. } => name.clone(),
            },
            weight: *weight,
            up,
        });
    }
    let m = Member {
        name: inst.name.clone(),
        ifname: inst.interface.clone(),
        ifindex: link.index,
        v6,
        sock,
        vips,
        retired: Vec::new(),
        trackers: trackers.into_iter().map(|(s, _)| s).collect(),
        logged_errors: 0,
        send_failing: false,
        cfg: inst.clone(),
    };
    Ok((m, p))
}

/// Builds a unit (not started).
pub fn build(env: &mut dyn Env, key: UnitKey) -> Result<Unit, String> {
    let mut members = Vec::new();
    let mut instances = Vec::new();
    for inst in &key.instances {
        let (m, p) = member(env, inst, &key)?;
        instances.push(Instance::new(p).map_err(|e| format!("{}: {e}", inst.name))?);
        members.push(m);
    }
    let groups = group_params(&key, members.len());
    let vrrp = Vrrp::new(instances, groups).map_err(|e| e.to_string())?;
    Ok(Unit {
        vrrp,
        members,
        group: key.group.clone(),
        key,
    })
}

impl Member {
    /// The VIPs an action names, with their MAC.
    pub fn picked<'a>(
        &'a mut self,
        addrs: &'a [IpAddr],
    ) -> impl Iterator<Item = &'a mut (AddrSpec, [u8; 6])> {
        self.vips
            .iter_mut()
            .filter(move |(s, _)| addrs.contains(&s.addr))
    }
}

/// Deletes one VIP; one already gone (lease expired, removed by hand) is fine.
pub fn del_vip(rtnl: &mut Rtnl, name: &str, spec: &AddrSpec) {
    match rtnl.del_address(spec.ifindex, spec.addr, spec.prefix_len) {
        Err(e) if e.raw_os_error() != Some(libc::EADDRNOTAVAIL) => {
            log::error(&format!("{name}: removing VIP {}: {e}", spec.addr))
        }
        _ => {}
    }
}

fn group_params(key: &UnitKey, members: usize) -> Vec<GroupParams> {
    key.group
        .iter()
        .map(|g| GroupParams {
            name: g.name.clone(),
            members: (0..members).collect(),
        })
        .collect()
}

/// Why `new` cannot replace `old` in a running instance (the OS side of
/// [`crate::vrrp::Restart`]): another socket, group join or address set.
fn needs_restart(old: &VrrpInstance, new: &VrrpInstance) -> Option<&'static str> {
    let vip_moved = old
        .virtual_ipaddress
        .iter()
        .chain(&old.virtual_ipaddress_excluded)
        .any(|v| {
            let same = |w: &&VirtualIp| w.addr == v.addr;
            let mut now = new
                .virtual_ipaddress
                .iter()
                .chain(&new.virtual_ipaddress_excluded);
            now.find(same).is_some_and(|w| w != v)
        });
    if old.interface != new.interface {
        Some("interface changed")
    } else if old.unicast_peer.is_empty() != new.unicast_peer.is_empty() {
        Some("unicast/multicast mode changed")
    } else if vip_moved {
        Some("a VIP's device, prefix, label or scope changed")
    } else {
        None
    }
}

/// One log line's worth of what a reconfiguration changed, e.g.
/// `priority 100 -> 90, +1 VIP`.
fn summary(old: &VrrpInstance, new: &VrrpInstance) -> String {
    let addrs = |i: &VrrpInstance| -> Vec<IpAddr> {
        i.virtual_ipaddress
            .iter()
            .chain(&i.virtual_ipaddress_excluded)
            .map(|v| v.addr)
            .collect()
    };
    let (was, is) = (addrs(old), addrs(new));
    let mut parts = Vec::new();
    if old.priority != new.priority {
        parts.push(format!("priority {} -> {}", old.priority, new.priority));
    }
    if old.advert_int != new.advert_int {
        parts.push(format!(
            "advert_int {:?} -> {:?}",
            old.advert_int, new.advert_int
        ));
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let added = is.iter().filter(|a| !was.contains(a)).count();
    let removed = was.iter().filter(|a| !is.contains(a)).count();
    if added > 0 {
        parts.push(format!("+{added} VIP{}", plural(added)));
    }
    if removed > 0 {
        parts.push(format!("-{removed} VIP{}", plural(removed)));
    }
    if parts.is_empty() {
        parts.push(if old == new {
            "tracked scripts or global settings".into()
        } else {
            "other settings".into()
        });
    }
    parts.join(", ")
}

/// Reconfigures `unit` in place to the key among `keys` with the same instances (by name,
/// same sync group), keeping every instance's state; the OS side follows through the
/// core's actions once the caller drains the unit. Returns false (the unit untouched) when
/// there is no such key or something cannot change in place: the caller restarts the unit.
pub fn reconfigure(env: &mut dyn Env, unit: &mut Unit, keys: &[UnitKey], now: Instant) -> bool {
    let names = |k: &UnitKey| {
        k.instances
            .iter()
            .map(|i| i.name.clone())
            .collect::<Vec<_>>()
    };
    let group_name = |k: &UnitKey| k.group.as_ref().map(|g| g.name.clone());
    let Some(key) = keys
        .iter()
        .find(|k| names(k) == names(&unit.key) && group_name(k) == group_name(&unit.key))
    else {
        return false;
    };
    let restart = |name: &str, why: &dyn std::fmt::Display| {
        log::info(&format!("{name}: {why}: restarting"));
        false
    };
    for (old, new) in unit.key.instances.iter().zip(&key.instances) {
        if let Some(why) = needs_restart(old, new) {
            return restart(&new.name, &why);
        }
    }
    let mut members = Vec::new();
    let mut params = Vec::new();
    for inst in &key.instances {
        match member(env, inst, key) {
            Ok((m, p)) => {
                members.push(m);
                params.push(p);
            }
            Err(e) => return restart(&inst.name, &e),
        }
    }
    let unit_name = group_name(key).unwrap_or_else(|| names(key).join(","));
    let groups = group_params(key, members.len());
    if let Err(e) = unit.vrrp.reconfigure(now, params, &groups) {
        return restart(&unit_name, &e);
    }
    for (new, old) in members.iter_mut().zip(&unit.members) {
        new.retired = old
            .vips
            .iter()
            .filter(|(s, _)| !new.vips.iter().any(|(n, _)| n.addr == s.addr))
            .cloned()
            .collect();
        new.logged_errors = old.logged_errors;
        new.send_failing = old.send_failing;
        log::info(&format!(
            "{}: reconfigured in place ({})",
            new.name,
            summary(&old.cfg, &new.cfg)
        ));
    }
    unit.members = members;
    unit.group = key.group.clone();
    unit.key = key.clone();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, LoadOptions, MemFiles};
    use std::path::Path;

    fn keys(text: &str) -> Vec<UnitKey> {
        let (cfg, _) = load_str(
            &MemFiles::default(),
            Path::new("/k.conf"),
            text,
            &LoadOptions::default(),
        )
        .unwrap();
        unit_keys(&cfg)
    }

    const INSTANCES: &str = "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n \
        virtual_ipaddress {\n 192.0.2.1\n }\n}\nvrrp_instance B {\n interface eth0\n \
        virtual_router_id 2\n virtual_ipaddress {\n 192.0.2.2\n }\n}\n";

    #[test]
    fn one_unit_per_sync_group_or_lone_instance() {
        assert_eq!(keys(INSTANCES).len(), 2);
        let grouped = format!("vrrp_sync_group G {{\n group {{\n A\n B\n }}\n}}\n{INSTANCES}");
        let k = keys(&grouped);
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].instances.len(), 2);
    }

    #[test]
    fn only_vrrp_relevant_globals_restart_units() {
        let base = keys(INSTANCES);
        let renamed = keys(&format!(
            "global_defs {{\n router_id other\n}}\n{INSTANCES}"
        ));
        assert_eq!(base, renamed);
        let group = keys(&format!(
            "global_defs {{\n vrrp_mcast_group4 224.0.0.19\n}}\n{INSTANCES}"
        ));
        assert_ne!(base, group);
        let changed = keys(&INSTANCES.replace("192.0.2.2", "192.0.2.3"));
        assert_eq!(base[0], changed[0]);
        assert_ne!(base[1], changed[1]);
    }

    #[test]
    fn in_place_summary_and_restart_reasons() {
        let base = &keys(INSTANCES)[0].instances[0];
        let text = INSTANCES
            .replacen(
                "virtual_router_id 1\n",
                "virtual_router_id 1\n priority 90\n",
                1,
            )
            .replacen("192.0.2.1\n", "192.0.2.1\n 192.0.2.9\n", 1);
        let changed = &keys(&text)[0].instances[0];
        assert_eq!(summary(base, changed), "priority 100 -> 90, +1 VIP");
        assert_eq!(summary(changed, base), "priority 90 -> 100, -1 VIP");
        assert_eq!(needs_restart(base, changed), None);
        let moved = keys(&INSTANCES.replacen("eth0", "eth1", 1));
        assert_eq!(
            needs_restart(base, &moved[0].instances[0]),
            Some("interface changed")
        );
        let prefix = keys(&INSTANCES.replacen("192.0.2.1\n", "192.0.2.1/25\n", 1));
        assert_eq!(
            needs_restart(base, &prefix[0].instances[0]),
            Some("a VIP's device, prefix, label or scope changed")
        );
        let unicast = keys(&INSTANCES.replacen(
            " interface eth0\n",
            " interface eth0\n unicast_peer {\n 192.0.2.50\n }\n",
            1,
        ));
        assert_eq!(
            needs_restart(base, &unicast[0].instances[0]),
            Some("unicast/multicast mode changed")
        );
    }
}
