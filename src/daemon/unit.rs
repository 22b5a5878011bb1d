//! Running units: the OS side of each instance (interface, socket, VIP address specs,
//! tracker sources) next to the unit's [`Vrrp`] core. What the configuration means for the
//! cores and when a reload must restart a unit is [`crate::vrrp::plan`]'s to say.

use std::net::IpAddr;
use std::time::Instant;

use crate::config::{VirtualIp, Vmac, VrrpInstance};
use crate::daemon::log;
use crate::sys::netlink::{AddrSpec, LinkInfo, Rtnl};
use crate::vrrp::plan::{self, needs_restart, summary, Resolved, StoredKey, TrackerSrc, UnitKey};
use crate::vrrp::{Instance, Params, Vrrp};

/// The OS side of one instance.
#[derive(Debug)]
pub struct Member {
    pub name: String,
    pub ifname: String,
    pub ifindex: u32,
    pub v6: bool,
    /// Index of the VRRP socket in the daemon's socket list.
    pub sock: usize,
    /// TTL / hop limit of its adverts: `unicast_ttl` in unicast mode, else 255.
    pub ttl: u8,
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
    /// Its `notify_priority_changes` (unset: the global one).
    pub priority_changes: Option<bool>,
}

pub struct Unit {
    pub vrrp: Vrrp,
    pub members: Vec<Member>,
    /// The configuration it was built from (its sync group too).
    pub key: StoredKey,
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
    /// Whether a tracked process has its quorum.
    fn process_up(&mut self, name: &str) -> bool;
    /// Current value of a `track_file` file (watched from now on).
    fn file_value(&mut self, path: &std::path::Path) -> i64;
    /// The `use_vmac` macvlan over `base`, made if needed, for the families given (IPv4,
    /// IPv6); `ll`: an IPv6 instance's advert source, which the macvlan gets too.
    fn vmac(
        &mut self,
        v: &Vmac,
        base: &LinkInfo,
        families: (bool, bool),
        ll: Option<IpAddr>,
    ) -> Result<LinkInfo, String>;
}

pub(super) fn scope(s: Option<&str>) -> u8 {
    match s {
        Some("host") => 254,
        Some("link") => 253,
        Some("site") => 200,
        Some("nowhere") => 255,
        Some(n) => n.parse().unwrap_or(0),
        None => 0,
    }
}

/// A VIP's address spec; without `dev` it goes on `home` (the interface, or its macvlan).
fn vip_spec(
    env: &mut dyn Env,
    inst: &VrrpInstance,
    v: &VirtualIp,
    home: &LinkInfo,
) -> Result<(AddrSpec, [u8; 6]), String> {
    let link = match v.dev.as_deref() {
        None => home.clone(),
        Some(dev) => env.rtnl().link(dev).map_err(|_| {
            format!(
                "{}: interface `{dev}` of VIP {} does not exist",
                inst.name, v.addr
            )
        })?,
    };
    let mut spec = AddrSpec::new(link.index, v.addr, v.prefix_len);
    spec.broadcast = v.brd;
    spec.label = v.label.clone();
    spec.scope = scope(v.scope.as_deref());
    Ok((spec, link.mac.unwrap_or([0; 6])))
}

fn member(
    env: &mut dyn Env,
    inst: &VrrpInstance,
    key: &UnitKey,
) -> Result<(Member, Params), String> {
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
    // use_vmac: the VIPs go on the macvlan, and the adverts too unless vmac_xmit_base.
    let (home, tx) = match &inst.vmac {
        Some(v) => {
            // keepalived keeps IPv6 for excluded IPv6 VIPs of an IPv4 instance.
            let evip6 = inst.virtual_ipaddress_excluded.iter();
            let ipv6 = v6 || evip6.filter(|a| a.dev.is_none()).any(|a| a.addr.is_ipv6());
            let mac = env
                .vmac(v, &link, (!v6, ipv6), v6.then_some(src))
                .map_err(|e| format!("{}: use_vmac {}: {e}", inst.name, v.name))?;
            let tx = if v.xmit_base { link } else { mac.clone() };
            (mac, tx)
        }
        None => (link.clone(), link),
    };
    let unicast = !inst.unicast_peer.is_empty();
    let group = (!unicast).then(|| plan::mcast_group(inst, &key.global));
    let sock = env.socket(&tx.name, tx.index, v6, group)?;
    // Exact capacities, as both live as long as the unit: collecting a `Result` starts at
    // four elements (AddrSpec: 80 B each), and collecting in place keeps the source's.
    let all = inst.virtual_ipaddress.len() + inst.virtual_ipaddress_excluded.len();
    let mut vips = Vec::with_capacity(all);
    for v in inst
        .virtual_ipaddress
        .iter()
        .chain(&inst.virtual_ipaddress_excluded)
    {
        vips.push(vip_spec(env, inst, v, &home)?);
    }
    let sources = plan::trackers(inst, key);
    let mut trackers = Vec::with_capacity(sources.len());
    trackers.extend(sources.into_iter().map(|(t, _)| t));
    let tracker_up = trackers
        .iter()
        .map(|t| match t {
            TrackerSrc::Link { name, reverse } => {
                env.rtnl().link(name).map(|l| l.up).unwrap_or(false) ^ reverse
            }
            TrackerSrc::Script { name, reverse } => env.script_up(name) ^ reverse,
            TrackerSrc::Process { name, reverse } => env.process_up(name) ^ reverse,
            TrackerSrc::File { .. } => true,
        })
        .collect();
    let file_values = trackers
        .iter()
        .map(|t| match t {
            TrackerSrc::File { path, .. } => Some(env.file_value(path)),
            _ => None,
        })
        .collect();
    let os = Resolved {
        link: tx.index,
        src,
        tracker_up,
        file_values,
    };
    let m = Member {
        name: inst.name.clone(),
        ifname: inst.interface.clone(),
        ifindex: tx.index,
        v6,
        sock,
        ttl: if inst.unicast_peer.is_empty() {
            255
        } else {
            inst.unicast_ttl
        },
        vips,
        retired: Vec::new(),
        trackers,
        logged_errors: 0,
        send_failing: false,
        priority_changes: inst.own_priority_changes(key.group.as_deref()),
    };
    Ok((m, plan::params(inst, key, &os)))
}

/// Builds a unit (not started).
pub fn build(env: &mut dyn Env, key: &UnitKey) -> Result<Unit, String> {
    // Exact sizes: most units hold one instance, and a Vec grown by push starts at four.
    let mut members = Vec::with_capacity(key.instances.len());
    let mut instances = Vec::with_capacity(key.instances.len());
    for inst in &key.instances {
        let (m, p) = member(env, inst, key)?;
        instances.push(Instance::new(p).map_err(|e| format!("{}: {e}", inst.name))?);
        members.push(m);
    }
    let groups = plan::group_params(key, members.len());
    let vrrp = Vrrp::new(instances, groups).map_err(|e| e.to_string())?;
    let key = StoredKey::new(key);
    Ok(Unit { vrrp, members, key })
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
    let was = unit.key.key();
    let Some(key) = keys
        .iter()
        .find(|k| names(k) == names(&was) && group_name(k) == group_name(&was))
    else {
        return false;
    };
    let restart = |name: &str, why: &dyn std::fmt::Display| {
        log::info(&format!("{name}: {why}: restarting"));
        false
    };
    for (old, new) in was.instances.iter().zip(&key.instances) {
        if let Some(why) = needs_restart(old, new) {
            return restart(&new.name, &why);
        }
    }
    let mut members = Vec::with_capacity(key.instances.len());
    let mut params = Vec::with_capacity(key.instances.len());
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
    let groups = plan::group_params(key, members.len());
    if let Err(e) = unit.vrrp.reconfigure(now, params, &groups) {
        return restart(&unit_name, &e);
    }
    let configs = was.instances.iter().zip(&key.instances);
    for ((new, old), (was, is)) in members.iter_mut().zip(&unit.members).zip(configs) {
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
            summary(was, is)
        ));
    }
    unit.members = members;
    unit.key = StoredKey::new(key);
    true
}
