//! The OS side of `virtual_routes` / `virtual_rules` and `static_ipaddress` /
//! `static_routes` / `static_rules` ([`crate::vrrp::routes`] says when). Additions go
//! addresses, routes, rules; removals the other way round, as keepalived orders them. A
//! route or rule already there (a crash left it) counts as added, one already gone as removed.

use super::{log, unit, Shell, Unit};
use crate::config::{Config, Route, Rule, VirtualIp};
use crate::sys::netlink::AddrSpec;
use crate::vrrp::routes::{diff, on_transition, Change};
use crate::vrrp::{State, Transition};

/// Routes and rules of one instance, or of the static set.
struct Set<'a> {
    routes: Vec<&'a Route>,
    rules: Vec<&'a Rule>,
}

fn route_name(r: &Route) -> String {
    format!("route {}/{} table {}", r.dst, r.dst_len, r.table)
}

fn rule_name(r: &Rule) -> String {
    format!("rule priority {}", r.priority)
}

/// Logs a failed change unless it failed because it was already done.
fn report(owner: &str, del: bool, what: String, res: std::io::Result<()>) {
    let done = if del {
        [libc::ESRCH, libc::ENOENT, libc::EADDRNOTAVAIL]
    } else {
        [libc::EEXIST; 3]
    };
    if let Err(e) = res {
        if !e.raw_os_error().is_some_and(|c| done.contains(&c)) {
            let verb = if del { "removing" } else { "adding" };
            log::error(&format!("{owner}: {verb} {what}: {e}"));
        }
    }
}

impl Shell {
    fn apply_set(&mut self, owner: &str, del: bool, set: &Set) {
        let rules = |sh: &mut Shell| {
            for r in &set.rules {
                let res = sh.rtnl.rule(del, r);
                report(owner, del, rule_name(r), res);
            }
        };
        if del {
            rules(self);
        }
        for r in &set.routes {
            let oif = match &r.dev {
                Some(d) => match self.rtnl.link(d) {
                    Ok(l) => Some(l.index),
                    Err(e) => {
                        report(owner, del, route_name(r), Err(e));
                        continue;
                    }
                },
                None => None,
            };
            let res = self.rtnl.route(del, r, oif);
            report(owner, del, route_name(r), res);
        }
        if !del {
            rules(self);
        }
    }

    fn static_addresses(&mut self, del: bool, list: &[&VirtualIp]) {
        for v in list {
            let dev = v.dev.as_deref().unwrap_or_default();
            let res = self.rtnl.link(dev).and_then(|l| {
                let mut spec = AddrSpec::new(l.index, v.addr, v.prefix_len);
                spec.broadcast = v.brd;
                spec.label = v.label.clone();
                spec.scope = unit::scope(v.scope.as_deref());
                if del {
                    self.rtnl.del_address(l.index, v.addr, v.prefix_len)
                } else {
                    self.rtnl.add_address(&spec)
                }
            });
            let what = format!("static address {}/{}", v.addr, v.prefix_len);
            report("static_ipaddress", del, what, res);
        }
    }

    /// Moves the static entries from `old`'s to `new`'s: all of them at start (from an
    /// empty configuration) and at exit (to one), the difference on reload.
    pub(super) fn statics(&mut self, old: &Config, new: &Config) {
        let (gone_addrs, new_addrs) = diff(&old.static_ipaddress, &new.static_ipaddress);
        let (gone_routes, new_routes) = diff(&old.static_routes, &new.static_routes);
        let (gone_rules, new_rules) = diff(&old.static_rules, &new.static_rules);
        let gone = Set {
            routes: gone_routes,
            rules: gone_rules,
        };
        self.apply_set("static_routes", true, &gone);
        self.static_addresses(true, &gone_addrs);
        self.static_addresses(false, &new_addrs);
        let added = Set {
            routes: new_routes,
            rules: new_rules,
        };
        self.apply_set("static_routes", false, &added);
    }

    /// Startup hygiene, as keepalived's: the unit's routes and rules that a crash left
    /// behind go before it runs (its VIPs get the same in `remove_stale`).
    pub(super) fn stale_routes(&mut self, unit: &Unit) {
        for inst in &unit.key.key().instances {
            let set = Set {
                routes: inst.virtual_routes.iter().collect(),
                rules: inst.virtual_rules.iter().collect(),
            };
            self.apply_set(&inst.name, true, &set);
        }
    }

    /// An instance's routes and rules on its transition `t` (after its VIPs went in, or out).
    pub(super) fn transition_routes(&mut self, unit: &Unit, i: usize, t: &Transition) {
        let Some(change) = on_transition(t) else {
            return;
        };
        let inst = &unit.key.key().instances[i];
        let set = Set {
            routes: inst.virtual_routes.iter().collect(),
            rules: inst.virtual_rules.iter().collect(),
        };
        self.apply_set(&inst.name, change == Change::Remove, &set);
    }

    /// Reload, part 1, before the reconfigured unit's events run: the routes and rules of
    /// `was_master` instances that the new configuration drops. `old` is parallel to the
    /// unit's instances.
    pub(super) fn dropped_routes(
        &mut self,
        unit: &Unit,
        old: &[(Vec<Route>, Vec<Rule>)],
        was_master: &[bool],
    ) {
        let key = unit.key.key();
        for (i, (routes, rules)) in old.iter().enumerate().filter(|(i, _)| was_master[*i]) {
            let inst = &key.instances[i];
            let (gone, _) = diff(routes, &inst.virtual_routes);
            let (gone_rules, _) = diff(rules, &inst.virtual_rules);
            let set = Set {
                routes: gone,
                rules: gone_rules,
            };
            self.apply_set(&inst.name, true, &set);
        }
    }

    /// Reload, part 2, after the events ran: the new routes and rules of the instances
    /// that were and still are MASTER (one that became MASTER got all of them).
    pub(super) fn added_routes(
        &mut self,
        unit: &Unit,
        old: &[(Vec<Route>, Vec<Rule>)],
        was_master: &[bool],
    ) {
        let key = unit.key.key();
        for (i, (routes, rules)) in old.iter().enumerate() {
            if !was_master[i] || unit.vrrp.instance(i).state() != State::Master {
                continue;
            }
            let inst = &key.instances[i];
            let (_, added) = diff(routes, &inst.virtual_routes);
            let (_, added_rules) = diff(rules, &inst.virtual_rules);
            let set = Set {
                routes: added,
                rules: added_rules,
            };
            self.apply_set(&inst.name, false, &set);
        }
    }
}
