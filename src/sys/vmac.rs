//! The OS side of `use_vmac`: the private macvlan that carries an instance's RFC 5798 §7.3
//! virtual MAC, made over rtnetlink as keepalived's vrrp_vmac.c makes it, with the sysctls
//! its vrrp_if_config.c sets, plus `arp_announce` (see [`Vmacs::ensure`]). Every sysctl
//! changed on an interface that outlives the macvlans is restored when the last macvlan that
//! needed it goes.

use std::io;
use std::net::IpAddr;

use super::netlink::{AddrSpec, LinkInfo, Rtnl};
use crate::config::Vmac;
use crate::netlink::{link_addr_gen_none, link_del, link_up, macvlan_add};

const CONF4: &str = "/proc/sys/net/ipv4/conf";

/// A sysctl changed, its value before, and the base interface that needs it (`None`: every
/// macvlan, as `all.rp_filter`).
struct Saved {
    path: String,
    old: String,
    base: Option<u32>,
}

/// The macvlans made (or found and adopted) and the sysctls changed for them.
#[derive(Default)]
pub struct Vmacs {
    /// (name, index, base index).
    links: Vec<(String, u32, u32)>,
    saved: Vec<Saved>,
}

fn read(path: &str) -> io::Result<String> {
    Ok(std::fs::read_to_string(path)?.trim().to_owned())
}

fn write(path: &str, value: &str) -> io::Result<()> {
    std::fs::write(path, value).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}

impl Vmacs {
    /// Makes `v`'s macvlan over `base` (or adopts one left by an earlier run with the same
    /// parent and MAC; one with another parent or MAC is replaced, as keepalived does, and an
    /// interface of that name that is no macvlan is left alone), sets its sysctls and brings
    /// it up. `ipv4`: an IPv4 instance's; `ipv6`: IPv6 addresses go on it, never one made
    /// from the shared virtual MAC (RFC 5798 §7.4), but `base_ll`, the link-local address
    /// an IPv6 instance's adverts leave from.
    pub fn ensure(
        &mut self,
        rtnl: &mut Rtnl,
        v: &Vmac,
        base: &LinkInfo,
        (ipv4, ipv6): (bool, bool),
        base_ll: Option<IpAddr>,
    ) -> io::Result<LinkInfo> {
        if self
            .links
            .iter()
            .any(|(n, _, b)| *n == v.name && *b == base.index)
        {
            return rtnl.link(&v.name);
        }
        // Moved to another base by a reload: replaced below like any stranger's.
        self.links.retain(|(n, _, _)| *n != v.name);
        match rtnl.link(&v.name) {
            Ok(l) if l.macvlan_of == Some(base.index) && l.mac == Some(v.mac) => {}
            Ok(l) if l.macvlan_of.is_some() => {
                rtnl.ack(|seq| link_del(seq, l.index))?;
                rtnl.ack(|seq| macvlan_add(seq, base.index, &v.name, v.mac))?;
            }
            Ok(_) => {
                let msg = format!("{} exists and is not a macvlan; left alone", v.name);
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, msg));
            }
            Err(_) => rtnl.ack(|seq| macvlan_add(seq, base.index, &v.name, v.mac))?,
        }
        let link = rtnl.link(&v.name)?;
        self.links.push((v.name.clone(), link.index, base.index));
        if ipv4 {
            self.ipv4_sysctls(&v.name, base, ipv6)?;
        }
        if ipv6 {
            rtnl.ack(|seq| link_addr_gen_none(seq, link.index))?;
        }
        if let Some(ll) = base_ll {
            let mut a = AddrSpec::new(link.index, ll, 64);
            a.scope = 253; // link
            rtnl.add_address(&a)?;
        }
        rtnl.ack(|seq| link_up(seq, link.index))?;
        Ok(link)
    }

    /// keepalived's settings for an IPv4 instance. The macvlan: `arp_ignore` 1 (answer ARP
    /// only for its own addresses, the VIPs), `accept_local` 1, `rp_filter` 0 (adverts
    /// arrive on it from addresses routed through the base), `promote_secondaries` 1, and
    /// no IPv6 unless `ipv6` VIPs go on it. The base: `arp_ignore` 1 and `arp_filter` 1 (it never answers for the VIPs),
    /// and `arp_announce` 2, which keepalived leaves to the admin (its NOTE_vrrp_vmac): the
    /// replies to clients leave through the base, and without it the ARP requests they need
    /// announce the VIP with the base's MAC, undoing the virtual one in the clients' caches.
    /// `rp_filter` only takes effect if `all.rp_filter` is 0: when it is not, every
    /// interface is raised to it first and `all` is cleared (keepalived's man page).
    fn ipv4_sysctls(&mut self, name: &str, base: &LinkInfo, ipv6: bool) -> io::Result<()> {
        for (key, value) in [
            ("arp_ignore", "1"),
            ("accept_local", "1"),
            ("rp_filter", "0"),
            ("promote_secondaries", "1"),
        ] {
            write(&format!("{CONF4}/{name}/{key}"), value)?;
        }
        if !ipv6 {
            write(&format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1")?;
        }
        let b = Some(base.index);
        for (key, value) in [
            ("arp_ignore", "1"),
            ("arp_filter", "1"),
            ("arp_announce", "2"),
        ] {
            self.set(&format!("{CONF4}/{}/{key}", base.name), value, b)?;
        }
        let level = |path: &str| read(path).map(|v| v.parse::<u8>().unwrap_or(0));
        let all = level(&format!("{CONF4}/all/rp_filter"))?;
        if all != 0 {
            for dir in std::fs::read_dir(CONF4)?.flatten() {
                let path = format!("{}/rp_filter", dir.path().display());
                let skip = dir.file_name() == "all" || dir.file_name() == name;
                if !skip && level(&path)? < all {
                    self.set(&path, &all.to_string(), None)?;
                }
            }
            self.set(&format!("{CONF4}/all/rp_filter"), "0", None)?;
        }
        Ok(())
    }

    /// Sets a sysctl, remembering the first old value for [`Vmacs::remove`].
    fn set(&mut self, path: &str, value: &str, base: Option<u32>) -> io::Result<()> {
        if !self.saved.iter().any(|s| s.path == path) {
            let old = read(path)?;
            if old == value {
                return Ok(());
            }
            let path = path.to_owned();
            self.saved.push(Saved { path, old, base });
        }
        write(path, value)
    }

    /// The macvlans this daemon holds.
    pub fn names(&self) -> Vec<String> {
        self.links.iter().map(|(n, _, _)| n.clone()).collect()
    }

    /// Deletes the macvlan `name` if this daemon made or adopted it, then restores the
    /// sysctls no remaining macvlan needs. A macvlan already gone is fine.
    pub fn remove(&mut self, rtnl: &mut Rtnl, name: &str) -> io::Result<()> {
        let Some(at) = self.links.iter().position(|(n, _, _)| n == name) else {
            return Ok(());
        };
        let (_, index, _) = self.links.remove(at);
        let r = match rtnl.link(name) {
            Ok(l) if l.index == index => rtnl.ack(|seq| link_del(seq, index)),
            _ => Ok(()),
        };
        let links = &self.links;
        let needed = |s: &Saved| match s.base {
            Some(b) => links.iter().any(|(_, _, lb)| *lb == b),
            None => !links.is_empty(),
        };
        let (keep, restore): (Vec<Saved>, Vec<Saved>) = std::mem::take(&mut self.saved)
            .into_iter()
            .partition(needed);
        self.saved = keep;
        // Reverse order: `all.rp_filter` comes back before the interfaces raised for it.
        for s in restore.iter().rev() {
            write(&s.path, &s.old)?;
        }
        r
    }
}
