//! Health -> destinations policy for one virtual server (keepalived semantics).
//!
//! * A failed real server is removed, or kept at weight 0 with `inhibit_on_failure`; when it
//!   recovers it comes back with its configured weight, or the MISC_CHECK dynamic weight.
//! * Quorum: the weights of live real servers are summed; quorum is gained when the sum reaches
//!   `quorum + hysteresis` and lost when it drops below `quorum - hysteresis` (or to 0).
//!   Transitions are returned as [`Event`]s for the quorum_up / quorum_down notifiers.
//! * While quorum is lost the sorry server (if any) replaces the real servers.
//! * `alpha`: real servers start down until their first successful check; `omega`: shutdown
//!   reports quorum/real-server down events.
//! * [`expand_group`] turns virtual_server_group entries (address ranges, fwmarks) into services.

use std::net::{IpAddr, SocketAddr};

use super::model::{
    Dest, DestKey, Family, Forward, Persistence, Protocol, Scheduler, ServiceKey, ServiceParams,
    State,
};
use crate::config::{self, Config, LbKind, VsAddr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealServer {
    /// Configured address, port, forwarding and weight: a [`Dest`] without its thresholds,
    /// which configurations never set (28 B, not 40; one per real server).
    pub key: DestKey,
    pub forward: Forward,
    pub weight: u32,
    pub inhibit_on_failure: bool,
}

impl RealServer {
    pub fn dest(&self) -> Dest {
        Dest::new(self.key.socket_addr(), self.forward, self.weight)
    }
}

/// A virtual server as configured (groups already expanded into `services`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServer {
    pub services: Vec<ServiceKey>,
    pub params: ServiceParams,
    pub reals: Vec<RealServer>,
    pub sorry: Option<Dest>,
    /// Minimum live weight sum (keepalived default 1).
    pub quorum: u32,
    pub hysteresis: u32,
    pub alpha: bool,
    pub omega: bool,
}

/// Notifications for the daemon (quorum_up / quorum_down scripts, real server notify_down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    QuorumUp,
    QuorumDown,
    /// Index into `VirtualServer::reals`; only reported at shutdown with `omega`.
    RealDown(usize),
}

/// Runtime health of one virtual server's real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    reals: Vec<RealHealth>,
    quorum_up: bool,
}

/// One real server's health: 4 B, not the 9 of a `bool` and an `Option<u32>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RealHealth {
    up: bool,
    /// `weight` (MISC_CHECK dynamic weight, an IPVS weight: 0..=65535) overrides the
    /// configured one.
    moved: bool,
    weight: u16,
}

impl Health {
    /// Initial health: every real server up, or down with `alpha`. Starting without quorum
    /// reports `QuorumDown` (keepalived runs quorum_down then too).
    pub fn new(vs: &VirtualServer) -> (Self, Option<Event>) {
        let mut h = Health {
            reals: vec![
                RealHealth {
                    up: !vs.alpha,
                    moved: false,
                    weight: 0,
                };
                vs.reals.len()
            ],
            quorum_up: false,
        };
        h.quorum_up = h.live_weight(vs) >= vs.quorum.max(1);
        let event = (!h.quorum_up).then_some(Event::QuorumDown);
        (h, event)
    }

    pub fn quorum_up(&self) -> bool {
        self.quorum_up
    }

    fn effective_weight(&self, vs: &VirtualServer, i: usize) -> u32 {
        let h = self.reals[i];
        if h.moved {
            h.weight.into()
        } else {
            vs.reals[i].weight
        }
    }

    /// Sum of the effective weights of the live real servers.
    pub fn live_weight(&self, vs: &VirtualServer) -> u32 {
        (0..vs.reals.len())
            .filter(|i| self.reals[*i].up)
            .map(|i| self.effective_weight(vs, i))
            .fold(0, u32::saturating_add)
    }

    fn update_quorum(&mut self, vs: &VirtualServer) -> Option<Event> {
        let sum = self.live_weight(vs);
        let quorum = vs.quorum.max(1);
        if !self.quorum_up && sum >= quorum.saturating_add(vs.hysteresis) {
            self.quorum_up = true;
            Some(Event::QuorumUp)
        } else if self.quorum_up && (sum == 0 || sum < quorum.saturating_sub(vs.hysteresis)) {
            self.quorum_up = false;
            Some(Event::QuorumDown)
        } else {
            None
        }
    }

    /// A checker's verdict for real server `i`; returns a quorum transition if any.
    pub fn set_up(&mut self, vs: &VirtualServer, i: usize, up: bool) -> Option<Event> {
        self.reals[i].up = up;
        self.update_quorum(vs)
    }

    /// MISC_CHECK dynamic weight for real server `i` (`None` = back to the configured one;
    /// IPVS takes at most 65535).
    pub fn set_weight(
        &mut self,
        vs: &VirtualServer,
        i: usize,
        weight: Option<u32>,
    ) -> Option<Event> {
        let h = &mut self.reals[i];
        (h.moved, h.weight) = (weight.is_some(), weight.map_or(0, |w| w.min(65535) as u16));
        self.update_quorum(vs)
    }

    /// The destinations the kernel should have for each of the virtual server's services.
    pub fn dests(&self, vs: &VirtualServer) -> Vec<Dest> {
        let sorry = vs.sorry.filter(|_| !self.quorum_up);
        let mut out = Vec::with_capacity(vs.reals.len() + 1);
        for (i, real) in vs.reals.iter().enumerate() {
            let mut d = real.dest();
            if self.reals[i].up && sorry.is_none() {
                d.params.weight = self.effective_weight(vs, i);
            } else if real.inhibit_on_failure {
                d.params.weight = 0;
            } else {
                continue;
            }
            out.push(d);
        }
        out.extend(sorry);
        out
    }

    /// Adds the virtual server's services with their current destinations to `state`.
    pub fn install(&self, vs: &VirtualServer, state: &mut State) {
        let dests = self.dests(vs);
        for key in &vs.services {
            let entry = state.add_service(super::model::Service {
                key: *key,
                params: vs.params,
            });
            for d in &dests {
                entry.add_dest(*d);
            }
        }
    }

    /// Events to report on orderly shutdown (only with `omega`).
    pub fn shutdown(&self, vs: &VirtualServer) -> Vec<Event> {
        if !vs.omega {
            return Vec::new();
        }
        let mut events: Vec<Event> = (0..vs.reals.len())
            .filter(|i| self.reals[*i].up)
            .map(Event::RealDown)
            .collect();
        if self.quorum_up {
            events.push(Event::QuorumDown);
        }
        events
    }
}

/// One `virtual_server_group` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupEntry {
    /// `192.168.200.3-10 80`: `first` through `last` inclusive (same family).
    Range {
        first: IpAddr,
        last: IpAddr,
        port: u16,
    },
    /// `fwmark 1`.
    Fwmark(u32),
}

/// Largest range expanded (keepalived's ranges cover at most one octet or hextet).
pub const MAX_RANGE: u128 = 65536;

/// Expands a group into the services `virtual_server group NAME` programs.
pub fn expand_group(
    entries: &[GroupEntry],
    protocol: Protocol,
    fwmark_family: Family,
) -> Result<Vec<ServiceKey>, String> {
    let mut out = Vec::new();
    for e in entries {
        match *e {
            GroupEntry::Fwmark(mark) => out.push(ServiceKey::Fwmark {
                family: fwmark_family,
                mark,
            }),
            GroupEntry::Range { first, last, port } => {
                let (lo, hi) = match (first, last) {
                    (IpAddr::V4(a), IpAddr::V4(b)) => {
                        (u128::from(u32::from(a)), u128::from(u32::from(b)))
                    }
                    (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b)),
                    _ => return Err(format!("address range {first}-{last} mixes IPv4 and IPv6")),
                };
                if hi < lo || hi - lo >= MAX_RANGE {
                    return Err(format!(
                        "address range {first}-{last} must ascend and span at most {MAX_RANGE} addresses"
                    ));
                }
                for n in lo..=hi {
                    let ip = match first {
                        IpAddr::V4(_) => IpAddr::V4((n as u32).into()),
                        IpAddr::V6(_) => IpAddr::V6(n.into()),
                    };
                    out.push(ServiceKey::Addr {
                        protocol,
                        addr: (ip, port).into(),
                    });
                }
            }
        }
    }
    Ok(out)
}

fn forward(k: LbKind) -> Forward {
    match k {
        LbKind::Dr => Forward::Direct,
        LbKind::Nat => Forward::Masq,
        LbKind::Tun => Forward::Tunnel,
    }
}

fn protocol(p: config::Protocol) -> Protocol {
    match p {
        config::Protocol::Tcp => Protocol::Tcp,
        config::Protocol::Udp => Protocol::Udp,
        config::Protocol::Sctp => Protocol::Sctp,
    }
}

/// `ADDR-LAST`: LAST replaces the last octet (IPv4) or group (IPv6).
fn range_end(addr: IpAddr, last: u16) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mut o = a.octets();
            o[3] = last as u8;
            IpAddr::V4(o.into())
        }
        IpAddr::V6(a) => {
            let mut s = a.segments();
            s[7] = last;
            IpAddr::V6(s.into())
        }
    }
}

/// A virtual server as reload reconciliation sees it: its services and, per real server, the
/// address and the settings of its checks.
pub struct Shape<'a, C> {
    pub services: &'a [ServiceKey],
    pub reals: Vec<(SocketAddr, Vec<&'a C>)>,
}

/// What a reload keeps for one new virtual server (indices into the running ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The running virtual server with the same services.
    pub vs: Option<usize>,
    /// Per real server: the running one of `vs` with the same address and the same checks,
    /// whose checkers and health carry on (an unchanged real server never flaps).
    pub reals: Vec<Option<usize>>,
}

/// Matches a reload's virtual servers to the running ones. Each running entry is kept at most
/// once, first match first.
pub fn reconcile<C: PartialEq>(old: &[Shape<C>], new: &[Shape<C>]) -> Vec<Kept> {
    let mut vs_used = vec![false; old.len()];
    new.iter()
        .map(|n| {
            let vs = (0..old.len()).find(|&i| !vs_used[i] && old[i].services == n.services);
            let Some(v) = vs else {
                return Kept {
                    vs,
                    reals: vec![None; n.reals.len()],
                };
            };
            vs_used[v] = true;
            let o = &old[v].reals;
            let mut used = vec![false; o.len()];
            let reals = n
                .reals
                .iter()
                .map(|real| {
                    let j = (0..o.len()).find(|&j| !used[j] && o[j] == *real)?;
                    used[j] = true;
                    Some(j)
                })
                .collect();
            Kept { vs, reals }
        })
        .collect()
}

/// The quorum notification a (re)loaded virtual server owes: a kept one when its quorum state
/// changed, a new one when it starts without quorum or [`Health::new`] said so.
pub fn reload_event(before: Option<bool>, up: bool, start: Option<Event>) -> Option<Event> {
    let changed = match before {
        Some(b) => b != up,
        None => !up || start.is_some(),
    };
    changed.then_some(if up {
        Event::QuorumUp
    } else {
        Event::QuorumDown
    })
}

/// The services of a virtual server (a group expands to several) and its display name.
fn services_of(
    cfg: &Config,
    vs: &config::VirtualServer,
    proto: Protocol,
    fwmark_family: Family,
) -> Result<(String, Vec<ServiceKey>), String> {
    Ok(match &vs.addr {
        VsAddr::Ip(ip, port) => {
            let key = ServiceKey::Addr {
                protocol: proto,
                addr: SocketAddr::new(*ip, *port),
            };
            (key.to_string(), vec![key])
        }
        VsAddr::Fwmark(mark) => {
            let key = ServiceKey::Fwmark {
                family: fwmark_family,
                mark: *mark,
            };
            (key.to_string(), vec![key])
        }
        VsAddr::Group(g) => {
            let group = cfg
                .server_groups
                .iter()
                .find(|x| &x.name == g)
                .ok_or_else(|| format!("virtual_server_group `{g}` is not defined"))?;
            let entries: Vec<GroupEntry> = group
                .entries
                .iter()
                .map(|e| match *e {
                    config::GroupEntry::Range { addr, last, port } => GroupEntry::Range {
                        first: addr,
                        last: last.map_or(addr, |l| range_end(addr, l)),
                        port,
                    },
                    config::GroupEntry::Fwmark(m) => GroupEntry::Fwmark(m),
                })
                .collect();
            let services = expand_group(&entries, proto, fwmark_family)
                .map_err(|e| format!("virtual_server_group `{g}`: {e}"))?;
            (format!("group {g}"), services)
        }
    })
}

/// The IPVS policy of a configured virtual server, and its display name.
pub fn from_config(
    cfg: &Config,
    vs: &config::VirtualServer,
) -> Result<(String, VirtualServer), String> {
    let proto = protocol(vs.protocol);
    let fwmark_family = vs
        .real_servers
        .first()
        .map_or(Family::V4, |r| Family::of(r.addr));
    let (name, services) = services_of(cfg, vs, proto, fwmark_family)?;
    let scheduler = Scheduler::from_name(&vs.lb_algo)
        .ok_or_else(|| format!("{name}: unknown lb_algo `{}`", vs.lb_algo))?;
    // keepalived: persistence_timeout 0 means not persistent.
    let persistence = vs
        .persistence_timeout
        .filter(|t| *t > 0)
        .map(|timeout| Persistence {
            timeout,
            prefix: match (vs.persistence_granularity, services[0].family()) {
                (Some(mask), Family::V4) => u32::from(mask).count_ones() as u8,
                (None, Family::V4) => 32,
                (_, Family::V6) => 128,
            },
            sip: vs.persistence_engine_sip,
        });
    let fwd = forward(vs.lb_kind);
    let reals = vs
        .real_servers
        .iter()
        .map(|r| RealServer {
            key: DestKey {
                addr: r.addr,
                port: r.port,
            },
            forward: fwd,
            weight: r.weight.max(0) as u32,
            inhibit_on_failure: r.inhibit_on_failure || vs.inhibit_on_failure,
        })
        .collect();
    let service_port = match vs.addr {
        VsAddr::Ip(_, p) => p,
        _ => 0,
    };
    let sorry = vs.sorry_server.map(|(addr, port)| {
        let port = if port == 0 { service_port } else { port };
        Dest::new(SocketAddr::new(addr, port), fwd, 1)
    });
    Ok((
        name,
        VirtualServer {
            services,
            params: ServiceParams {
                scheduler,
                persistence,
                flags: vs.sched_flags,
            },
            reals,
            sorry,
            quorum: vs.quorum,
            hysteresis: vs.hysteresis,
            alpha: vs.alpha,
            omega: vs.omega,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::model::*;

    /// Each byte of a real server's entry is ~10 KB of RSS with 10,000 of them.
    #[test]
    fn a_real_server_entry_stays_small() {
        let n = std::mem::size_of::<RealServer>();
        assert!(n <= 28, "{n} B");
    }

    fn real(last: u8, weight: u32, inhibit: bool) -> RealServer {
        RealServer {
            key: DestKey {
                addr: format!("10.0.0.{last}").parse().unwrap(),
                port: 8080,
            },
            forward: Forward::Masq,
            weight,
            inhibit_on_failure: inhibit,
        }
    }

    fn vs(reals: Vec<RealServer>) -> VirtualServer {
        VirtualServer {
            services: vec![ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.0.1.1:80".parse().unwrap(),
            }],
            params: ServiceParams {
                scheduler: Scheduler::Wrr,
                persistence: None,
                flags: 0,
            },
            reals,
            sorry: None,
            quorum: 1,
            hysteresis: 0,
            alpha: false,
            omega: false,
        }
    }

    fn weights(h: &Health, v: &VirtualServer) -> Vec<(u8, u32)> {
        h.dests(v)
            .iter()
            .map(|d| match d.key.addr {
                IpAddr::V4(a) => (a.octets()[3], d.params.weight),
                IpAddr::V6(_) => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn failure_removes_or_inhibits_and_recovery_restores_weight() {
        let v = vs(vec![real(1, 3, false), real(2, 5, true), real(3, 1, false)]);
        let (mut h, event) = Health::new(&v);
        assert_eq!(event, None);
        assert_eq!(weights(&h, &v), vec![(1, 3), (2, 5), (3, 1)]);
        h.set_up(&v, 0, false);
        h.set_up(&v, 1, false);
        assert_eq!(weights(&h, &v), vec![(2, 0), (3, 1)]);
        h.set_up(&v, 1, true);
        h.set_weight(&v, 1, Some(9));
        h.set_up(&v, 0, true);
        assert_eq!(weights(&h, &v), vec![(1, 3), (2, 9), (3, 1)]);
        h.set_weight(&v, 1, None);
        assert_eq!(weights(&h, &v), vec![(1, 3), (2, 5), (3, 1)]);
    }

    #[test]
    fn sorry_server_replaces_reals_while_none_is_up() {
        let mut v = vs(vec![real(1, 1, false), real(2, 1, false)]);
        v.sorry = Some(real(99, 1, false).dest());
        let (mut h, _) = Health::new(&v);
        assert_eq!(h.set_up(&v, 0, false), None);
        assert_eq!(h.set_up(&v, 1, false), Some(Event::QuorumDown));
        assert_eq!(weights(&h, &v), vec![(99, 1)]);
        assert_eq!(h.set_up(&v, 1, true), Some(Event::QuorumUp));
        assert_eq!(weights(&h, &v), vec![(2, 1)]);
    }

    #[test]
    fn alpha_with_sorry_server_starts_on_the_sorry_server() {
        // Quorum 3 of two weight-2 reals; one inhibited real stays in at weight 0 meanwhile.
        let mut v = vs(vec![real(1, 2, true), real(2, 2, false)]);
        v.sorry = Some(real(99, 1, false).dest());
        v.quorum = 3;
        v.alpha = true;
        let (mut h, event) = Health::new(&v);
        assert_eq!(event, Some(Event::QuorumDown));
        assert_eq!(weights(&h, &v), vec![(1, 0), (99, 1)]);
        assert_eq!(h.set_up(&v, 0, true), None);
        assert_eq!(weights(&h, &v), vec![(1, 0), (99, 1)]);
        assert_eq!(h.set_up(&v, 1, true), Some(Event::QuorumUp));
        assert_eq!(weights(&h, &v), vec![(1, 2), (2, 2)]);
    }

    #[test]
    fn quorum_with_hysteresis_and_alpha_omega() {
        // keepalived.conf.quorum: quorum 7, hysteresis 2, alpha, omega; here 5 reals of weight 2.
        let mut v = vs((1..=5).map(|i| real(i, 2, false)).collect());
        v.quorum = 7;
        v.hysteresis = 2;
        v.alpha = true;
        v.omega = true;
        let (mut h, event) = Health::new(&v);
        assert_eq!(event, Some(Event::QuorumDown));
        assert!(!h.quorum_up());
        assert_eq!(weights(&h, &v), vec![]);
        let ups: Vec<_> = (0..5).map(|i| h.set_up(&v, i, true)).collect();
        // Up needs 7 + 2 = 9: reached with the 5th server (10).
        assert_eq!(ups, vec![None, None, None, None, Some(Event::QuorumUp)]);
        // Down needs < 7 - 2 = 5: 8, 6 keep quorum; 4 loses it.
        let downs: Vec<_> = (0..3).map(|i| h.set_up(&v, i, false)).collect();
        assert_eq!(downs, vec![None, None, Some(Event::QuorumDown)]);
        h.set_up(&v, 0, true);
        h.set_up(&v, 1, true);
        assert_eq!(h.set_up(&v, 2, true), Some(Event::QuorumUp));
        h.set_up(&v, 4, false);
        assert_eq!(
            h.shutdown(&v),
            vec![
                Event::RealDown(0),
                Event::RealDown(1),
                Event::RealDown(2),
                Event::RealDown(3),
                Event::QuorumDown
            ]
        );
    }

    #[test]
    fn install_programs_every_service_of_a_group() {
        let mut v = vs(vec![real(1, 1, false)]);
        v.services = expand_group(
            &[
                GroupEntry::Range {
                    first: "192.168.200.3".parse().unwrap(),
                    last: "192.168.200.10".parse().unwrap(),
                    port: 80,
                },
                GroupEntry::Fwmark(1),
            ],
            Protocol::Tcp,
            Family::V4,
        )
        .unwrap();
        assert_eq!(v.services.len(), 9);
        assert_eq!(v.services[7].to_string(), "TCP 192.168.200.10:80");
        assert_eq!(v.services[8].to_string(), "FWM 1");
        let mut state = State::default();
        Health::new(&v).0.install(&v, &mut state);
        assert_eq!(state.services.len(), 9);
        assert!(state.services.values().all(|e| e.dests.len() == 1));
    }

    #[test]
    fn bad_ranges_are_rejected() {
        let range = |a: &str, b: &str| GroupEntry::Range {
            first: a.parse().unwrap(),
            last: b.parse().unwrap(),
            port: 80,
        };
        for r in [
            range("10.0.0.9", "10.0.0.3"),
            range("10.0.0.1", "2001:db8::1"),
            range("2001:db8::", "2001:db8::1:0"),
        ] {
            assert!(expand_group(&[r], Protocol::Tcp, Family::V4).is_err());
        }
        let v6 = expand_group(
            &[range("2001:db8::1", "2001:db8::3")],
            Protocol::Udp,
            Family::V6,
        );
        assert_eq!(v6.unwrap().len(), 3);
    }

    use crate::check::settings::cfg;

    #[test]
    fn groups_fwmarks_and_persistence_become_services() {
        let c = cfg("virtual_server_group G {\n 192.0.2.1-3 80\n fwmark 7\n}\n\
             virtual_server group G {\n protocol TCP\n lb_algo wrr\n lb_kind DR\n \
             persistence_timeout 50\n persistence_granularity 255.255.255.0\n \
             sorry_server 192.0.2.99 0\n real_server 2001:db8::1 80 {\n weight 3\n \
             inhibit_on_failure\n }\n}\n\
             virtual_server fwmark 9 {\n persistence_timeout 0\n real_server 2001:db8::2 0 {\n }\n}\n");
        let (name, p) = from_config(&c, &c.virtual_servers[0]).unwrap();
        assert_eq!(name, "group G");
        let services: Vec<String> = p.services.iter().map(ToString::to_string).collect();
        assert_eq!(
            services,
            [
                "TCP 192.0.2.1:80",
                "TCP 192.0.2.2:80",
                "TCP 192.0.2.3:80",
                "FWM 7 IPv6"
            ]
        );
        assert_eq!(p.params.scheduler, Scheduler::Wrr);
        assert_eq!(
            p.params.persistence,
            Some(Persistence {
                timeout: 50,
                prefix: 24,
                sip: false,
            })
        );
        assert_eq!(p.reals[0].forward, Forward::Direct);
        assert_eq!(p.reals[0].weight, 3);
        assert!(p.reals[0].inhibit_on_failure);
        // Sorry server port 0: no port of its own (a group has none either).
        assert_eq!(p.sorry.unwrap().key.port, 0);
        let (name, p) = from_config(&c, &c.virtual_servers[1]).unwrap();
        assert_eq!(name, "FWM 9 IPv6");
        assert_eq!(p.params.persistence, None);
        assert_eq!(p.params.scheduler, Scheduler::Wlc);
    }

    #[test]
    fn reload_keeps_same_services_and_unchanged_real_servers() {
        fn shape<'a>(services: &'a [ServiceKey], reals: &[(u8, &'a u8)]) -> Shape<'a, u8> {
            let reals = reals
                .iter()
                .map(|&(last, check)| (SocketAddr::from(([10, 0, 0, last], 80)), vec![check]))
                .collect();
            Shape { services, reals }
        }
        let k = |p: u16| ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: SocketAddr::from(([192, 0, 2, 1], p)),
        };
        let (a, b, c) = ([k(80)], [k(443)], [k(25)]);
        let old = [
            shape(&a, &[(1, &1), (2, &1), (2, &1)]),
            shape(&b, &[(1, &1)]),
        ];
        let new = [
            shape(&c, &[(1, &1)]),
            // Same address, changed check: not kept; duplicates each keep one old entry.
            shape(&a, &[(1, &2), (2, &1), (2, &1), (2, &1)]),
            shape(&b, &[(1, &1)]),
        ];
        assert_eq!(
            reconcile(&old, &new),
            [
                Kept {
                    vs: None,
                    reals: vec![None]
                },
                Kept {
                    vs: Some(0),
                    reals: vec![None, Some(1), Some(2), None]
                },
                Kept {
                    vs: Some(1),
                    reals: vec![Some(0)]
                },
            ]
        );
        assert_eq!(reload_event(Some(true), true, None), None);
        assert_eq!(
            reload_event(Some(true), false, None),
            Some(Event::QuorumDown)
        );
        assert_eq!(reload_event(None, true, None), None);
        assert_eq!(reload_event(None, false, None), Some(Event::QuorumDown));
        assert_eq!(
            reload_event(None, true, Some(Event::QuorumUp)),
            Some(Event::QuorumUp)
        );
    }
}
