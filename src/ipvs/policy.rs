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

use std::net::IpAddr;

use super::model::{Dest, Family, Protocol, ServiceKey, ServiceParams, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealServer {
    /// Configured address, port, forwarding, weight and thresholds.
    pub dest: Dest,
    pub inhibit_on_failure: bool,
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
    up: Vec<bool>,
    /// MISC_CHECK dynamic weight overriding the configured one.
    weight: Vec<Option<u32>>,
    quorum_up: bool,
}

impl Health {
    /// Initial health: every real server up, or down with `alpha`. Starting without quorum
    /// reports `QuorumDown` (keepalived runs quorum_down then too).
    pub fn new(vs: &VirtualServer) -> (Self, Option<Event>) {
        let mut h = Health {
            up: vec![!vs.alpha; vs.reals.len()],
            weight: vec![None; vs.reals.len()],
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
        self.weight[i].unwrap_or(vs.reals[i].dest.params.weight)
    }

    fn live_weight(&self, vs: &VirtualServer) -> u32 {
        (0..vs.reals.len())
            .filter(|i| self.up[*i])
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
        self.up[i] = up;
        self.update_quorum(vs)
    }

    /// MISC_CHECK dynamic weight for real server `i` (`None` = back to the configured one).
    pub fn set_weight(
        &mut self,
        vs: &VirtualServer,
        i: usize,
        weight: Option<u32>,
    ) -> Option<Event> {
        self.weight[i] = weight;
        self.update_quorum(vs)
    }

    /// The destinations the kernel should have for each of the virtual server's services.
    pub fn dests(&self, vs: &VirtualServer) -> Vec<Dest> {
        let sorry = vs.sorry.filter(|_| !self.quorum_up);
        let mut out = Vec::with_capacity(vs.reals.len() + 1);
        for (i, real) in vs.reals.iter().enumerate() {
            let mut d = real.dest;
            if self.up[i] && sorry.is_none() {
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
            .filter(|i| self.up[*i])
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::model::*;

    fn real(last: u8, weight: u32, inhibit: bool) -> RealServer {
        RealServer {
            dest: Dest {
                key: DestKey {
                    addr: format!("10.0.0.{last}").parse().unwrap(),
                    port: 8080,
                },
                params: DestParams {
                    forward: Forward::Masq,
                    weight,
                    upper_threshold: 0,
                    lower_threshold: 0,
                },
            },
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
        v.sorry = Some(real(99, 1, false).dest);
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
        v.sorry = Some(real(99, 1, false).dest);
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
}
