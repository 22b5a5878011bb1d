//! From the configuration model to the cores' parameters, and the reload rules, before
//! anything touches the OS. A unit is one sync group, or one instance outside any group,
//! with its own [`Vrrp`](super::Vrrp) core. On a reload, units whose [`UnitKey`] did not
//! change keep state, timers and VIPs untouched. A unit whose configuration changed but
//! whose instances (names, sync group) are the same is reconfigured in place
//! ([`super::Vrrp::reconfigure`]): states are kept, only added / removed VIPs are touched.
//! Another interface, unicast/multicast mode, VRID, version, family, membership, or a VIP
//! whose device, prefix, label or scope changed restarts the unit from Initialize instead
//! ([`needs_restart`], [`super::Restart`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::rc::Rc;
use std::time::Duration;

use super::{default_vip_lease, track_file, GroupParams, Params, Tracker};
use crate::config::{
    Config, GlobalDefs, InitialState, ScriptUser, SyncGroup, TrackFile, TrackProcess, VipLease,
    VirtualIp, VrrpInstance, VrrpScript,
};
use crate::proto::vrrp::{Auth, Version};

/// What feeds one core tracker (same order as `Params::trackers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackerSrc {
    Link {
        name: String,
        reverse: bool,
    },
    Script {
        name: String,
        reverse: bool,
    },
    /// `track_process`: its quorum (see [`super::track_process`]).
    Process {
        name: String,
        reverse: bool,
    },
    /// `track_file`: the file's value times `weight` (see [`super::track_file`]).
    File {
        name: String,
        path: std::path::PathBuf,
        weight: i32,
        reverse: bool,
    },
}

/// The configuration a unit was built from: equal keys mean nothing to restart. Kept by
/// every running unit, so lean: most units have no sync group, and all share one
/// [`Globals`].
#[derive(Clone, Debug, PartialEq)]
pub struct UnitKey {
    pub instances: Vec<VrrpInstance>,
    pub group: Option<Box<SyncGroup>>,
    pub scripts: Vec<VrrpScript>,
    pub track_files: Vec<TrackFile>,
    pub track_processes: Vec<TrackProcess>,
    pub global: Rc<Globals>,
}

/// A running unit's [`UnitKey`], postcard-encoded: a lone instance's configuration takes
/// ~0.1 KiB so instead of ~0.9 KiB decoded (1,000 instances: ~0.8 MB). Equal bytes mean
/// equal keys; the rare paths that read it (transitions, reloads, status) decode it.
#[derive(Debug, PartialEq)]
pub struct StoredKey {
    bytes: Box<[u8]>,
    global: Rc<Globals>,
}

/// The encoded part of a [`UnitKey`] (everything but the shared globals).
type Body = (
    Vec<VrrpInstance>,
    Option<Box<SyncGroup>>,
    Vec<VrrpScript>,
    Vec<TrackFile>,
    Vec<TrackProcess>,
);

impl StoredKey {
    pub fn new(k: &UnitKey) -> StoredKey {
        let body = (
            &k.instances,
            &k.group,
            &k.scripts,
            &k.track_files,
            &k.track_processes,
        );
        let bytes = postcard::to_stdvec(&body).expect("postcard encodes any owned model value");
        StoredKey {
            bytes: bytes.into_boxed_slice(),
            global: k.global.clone(),
        }
    }

    pub fn key(&self) -> UnitKey {
        let (instances, group, scripts, track_files, track_processes): Body =
            postcard::from_bytes(&self.bytes).expect("a stored key decodes");
        UnitKey {
            instances,
            group,
            scripts,
            track_files,
            track_processes,
            global: self.global.clone(),
        }
    }
}

/// The `global_defs` a running instance uses; only these count when comparing keys, so
/// changing `router_id`, the watchdog or IPVS-side defaults restarts (and flaps) nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Globals {
    pub vrrp_mcast_group4: Ipv4Addr,
    pub vrrp_mcast_group6: Ipv6Addr,
    pub vip_lease: VipLease,
    pub script_user: Option<ScriptUser>,
}

impl Globals {
    pub fn of(g: &GlobalDefs) -> Globals {
        Globals {
            vrrp_mcast_group4: g.vrrp_mcast_group4,
            vrrp_mcast_group6: g.vrrp_mcast_group6,
            vip_lease: g.vip_lease,
            script_user: g.script_user.clone(),
        }
    }
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
    let files_of = |insts: &[VrrpInstance]| {
        let tracked = |f: &&TrackFile| {
            insts
                .iter()
                .any(|i| i.track_file.iter().any(|t| t.name == f.name))
        };
        cfg.track_files.iter().filter(tracked).cloned().collect()
    };
    let processes_of = |insts: &[VrrpInstance]| {
        let tracked = |p: &&TrackProcess| {
            insts
                .iter()
                .any(|i| i.track_process.iter().any(|t| t.name == p.name))
        };
        cfg.track_processes
            .iter()
            .filter(tracked)
            .cloned()
            .collect()
    };
    let global = Rc::new(Globals::of(&cfg.global));
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
            track_files: files_of(&insts),
            track_processes: processes_of(&insts),
            instances: insts,
            group: Some(Box::new(g.clone())),
            global: global.clone(),
        });
    }
    for i in cfg.instances.iter().filter(|i| !grouped.contains(&i.name)) {
        let insts = vec![i.clone()];
        keys.push(UnitKey {
            scripts: scripts_of(&insts, None),
            track_files: files_of(&insts),
            track_processes: processes_of(&insts),
            instances: insts,
            group: None,
            global: global.clone(),
        });
    }
    keys
}

/// What the OS says about an instance: its interface index, advert source address and
/// the state of each tracker (in [`trackers`] order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub link: u32,
    pub src: IpAddr,
    pub tracker_up: Vec<bool>,
    /// The value of each `track_file` tracker's file (`None` for other trackers).
    pub file_values: Vec<Option<i64>>,
}

/// The multicast group adverts go to (`vrrp_mcast_group4/6`).
pub fn mcast_group(inst: &VrrpInstance, g: &Globals) -> IpAddr {
    if inst.is_ipv6() {
        g.vrrp_mcast_group6.into()
    } else {
        g.vrrp_mcast_group4.into()
    }
}

/// The instance's trackers in core order with their weights: the primary interface
/// (unless `dont_track_primary`), `track_interface`, `track_script` of the instance and of
/// its sync group, `track_process`, then `track_file`.
pub fn trackers(inst: &VrrpInstance, key: &UnitKey) -> Vec<(TrackerSrc, i32)> {
    let mut out = Vec::new();
    if !inst.dont_track_primary {
        let name = inst.interface.clone();
        out.push((
            TrackerSrc::Link {
                name,
                reverse: false,
            },
            0,
        ));
    }
    for t in &inst.track_interface {
        let (name, reverse) = (t.name.clone(), t.reverse);
        out.push((TrackerSrc::Link { name, reverse }, t.weight));
    }
    let group_scripts = key.group.iter().flat_map(|g| &g.track_script);
    for t in inst.track_script.iter().chain(group_scripts) {
        let script = key.scripts.iter().find(|s| s.name == t.name);
        let weight = t.weight.or(script.map(|s| s.weight)).unwrap_or(0);
        let reverse = t.reverse ^ script.is_some_and(|s| s.weight_reverse);
        let name = t.name.clone();
        out.push((TrackerSrc::Script { name, reverse }, weight));
    }
    for t in &inst.track_process {
        // keepalived's track_process weights work as a vrrp_script's.
        let Some(p) = key.track_processes.iter().find(|p| p.name == t.name) else {
            continue;
        };
        let weight = t.weight.unwrap_or(p.weight);
        let reverse = t.reverse ^ p.reverse;
        let name = t.name.clone();
        out.push((TrackerSrc::Process { name, reverse }, weight));
    }
    for t in &inst.track_file {
        // An undefined file is warned about by the configuration check.
        let Some(f) = key.track_files.iter().find(|f| f.name == t.name) else {
            continue;
        };
        let src = TrackerSrc::File {
            name: t.name.clone(),
            path: f.file.clone(),
            weight: t.weight.unwrap_or(f.weight),
            reverse: t.reverse ^ f.reverse,
        };
        out.push((src, 0));
    }
    out
}

/// The core parameters of `inst` (a member of `key`).
pub fn params(inst: &VrrpInstance, key: &UnitKey, os: &Resolved) -> Params {
    let g = &key.global;
    let version = if inst.version == 3 {
        Version::V3
    } else {
        Version::V2
    };
    let addrs = |l: &[VirtualIp]| l.iter().map(|v| v.addr).collect::<Vec<_>>();
    let mut p = Params::new(
        &inst.name,
        inst.virtual_router_id,
        inst.priority,
        os.src,
        addrs(&inst.virtual_ipaddress),
    );
    p.version = version;
    p.advert_int = inst.advert_int;
    p.initial_master = inst.state == InitialState::Master;
    p.preempt = !inst.nopreempt;
    p.preempt_delay = inst.preempt_delay;
    p.accept = inst.accept;
    p.auth = inst
        .auth_pass
        .as_ref()
        .map_or(Auth::NONE, |pw| Auth::password(pw.as_bytes()));
    p.check_addr_list = !inst.skip_check_adv_addr;
    p.garp_master_delay = inst.garp.master_delay;
    p.garp_master_repeat = inst.garp.master_repeat;
    p.garp_master_refresh = inst.garp.master_refresh;
    p.garp_master_refresh_repeat = inst.garp.master_refresh_repeat;
    // Always set on instances (config build); keep the core's defaults otherwise.
    p.garp_lower_prio_delay = inst
        .garp
        .lower_prio_delay
        .unwrap_or(p.garp_lower_prio_delay);
    p.garp_lower_prio_repeat = inst
        .garp
        .lower_prio_repeat
        .unwrap_or(p.garp_lower_prio_repeat);
    p.lower_prio_no_advert = inst.lower_prio_no_advert;
    p.higher_prio_send_advert = inst.higher_prio_send_advert;
    p.excluded_vips = addrs(&inst.virtual_ipaddress_excluded);
    p.vip_lease = lease(inst, g, version);
    p.link = os.link;
    p.unicast_peers = inst.unicast_peer.clone();
    p.mcast_group = mcast_group(inst, g);
    let states = trackers(inst, key).into_iter().zip(&os.tracker_up);
    for (i, ((src, weight), &up)) in states.enumerate() {
        let (weight, up) = match (&src, os.file_values.get(i).copied().flatten()) {
            (
                TrackerSrc::File {
                    weight, reverse, ..
                },
                Some(v),
            ) => track_file::tracker(track_file::status(v, *weight, *reverse)),
            _ => (weight, up),
        };
        p.trackers.push(Tracker { weight, up });
    }
    p
}

fn lease(inst: &VrrpInstance, global: &Globals, version: Version) -> Option<Duration> {
    match inst.vip_lease.unwrap_or(global.vip_lease) {
        VipLease::Auto => Some(default_vip_lease(version, inst.advert_int, inst.priority)),
        VipLease::Off => None,
        VipLease::Seconds(s) => Some(Duration::from_secs(u64::from(s))),
    }
}

pub fn group_params(key: &UnitKey, members: usize) -> Vec<GroupParams> {
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
pub fn needs_restart(old: &VrrpInstance, new: &VrrpInstance) -> Option<&'static str> {
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
    } else if old.vmac != new.vmac {
        Some("use_vmac changed")
    } else {
        None
    }
}

/// One log line's worth of what a reconfiguration changed, e.g.
/// `priority 100 -> 90, +1 VIP`.
pub fn summary(old: &VrrpInstance, new: &VrrpInstance) -> String {
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
    fn stored_keys_decode_and_compare_as_the_keys() {
        let stored = |k: &[UnitKey]| k.iter().map(StoredKey::new).collect::<Vec<_>>();
        let base = keys(INSTANCES);
        let grouped = keys(&format!(
            "vrrp_script chk {{\n script /bin/true\n}}\nvrrp_sync_group G {{\n group {{\n A\n \
             B\n }}\n track_script {{\n chk\n }}\n}}\n{INSTANCES}"
        ));
        assert_eq!(grouped[0].scripts.len(), 1);
        for k in base.iter().chain(&grouped) {
            assert_eq!(StoredKey::new(k).key(), *k);
        }
        let changed = keys(&INSTANCES.replace("192.0.2.2", "192.0.2.3"));
        let (b, c) = (stored(&base), stored(&changed));
        assert_eq!(b[0], c[0]);
        assert_ne!(b[1], c[1]);
        let group = keys(&format!(
            "global_defs {{\n vrrp_mcast_group4 224.0.0.19\n}}\n{INSTANCES}"
        ));
        assert_ne!(b[0], stored(&group)[0]);
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
