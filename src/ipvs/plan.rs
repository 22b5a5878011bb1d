//! Reconciliation: desired vs kernel IPVS state -> minimal ordered list of operations.
//!
//! Only services keeplite owns are touched: a kernel service absent from the desired state is
//! deleted only when `owned` says its address:port / fwmark belongs to keeplite's config (current
//! or previous); everything else in the kernel is foreign and left alone. Unchanged services and
//! destinations produce no operation, so their connections are never disturbed.
//!
//! Order within the plan is "make before break": services are added or edited first, then per
//! service destinations are added/edited before stale ones are deleted (a sorry server is only
//! removed after the real server replacing it is in), and stale services go last.

use std::net::SocketAddr;

use super::model::{Dest, DestKey, Service, ServiceKey, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    AddService(Service),
    EditService(Service),
    DelService(ServiceKey),
    AddDest(ServiceKey, Dest),
    EditDest(ServiceKey, Dest),
    DelDest(ServiceKey, DestKey),
}

/// Plans the operations that turn `current` (the kernel) into `desired` for owned services.
pub fn plan(desired: &State, current: &State, owned: impl Fn(&ServiceKey) -> bool) -> Vec<Op> {
    let mut ops = Vec::new();
    for (key, want) in &desired.services {
        let have = current.services.get(key);
        match have {
            None => ops.push(Op::AddService(Service {
                key: *key,
                params: want.params,
            })),
            Some(have) if have.params != want.params => ops.push(Op::EditService(Service {
                key: *key,
                params: want.params,
            })),
            Some(_) => {}
        }
        let mut dels = Vec::new();
        for (dkey, dparams) in &want.dests {
            let dest = Dest {
                key: *dkey,
                params: *dparams,
            };
            match have.and_then(|h| h.dests.get(dkey)) {
                None => ops.push(Op::AddDest(*key, dest)),
                Some(p) if p != dparams => ops.push(Op::EditDest(*key, dest)),
                Some(_) => {}
            }
        }
        if let Some(have) = have {
            for dkey in have.dests.keys() {
                if !want.dests.contains_key(dkey) {
                    dels.push(Op::DelDest(*key, *dkey));
                }
            }
        }
        ops.append(&mut dels);
    }
    for key in current.services.keys() {
        if !desired.services.contains_key(key) && owned(key) {
            ops.push(Op::DelService(*key));
        }
    }
    ops
}

/// Orderly shutdown: remove every owned service (their destinations go with them).
pub fn teardown(current: &State, owned: impl Fn(&ServiceKey) -> bool) -> Vec<Op> {
    plan(&State::default(), current, owned)
}

impl Op {
    /// One line for the log.
    pub fn describe(&self) -> String {
        let dest = |d: &Dest| {
            format!(
                "{} (weight {})",
                SocketAddr::new(d.key.addr, d.key.port),
                d.params.weight
            )
        };
        match self {
            Op::AddService(s) => format!("add virtual server {}", s.key),
            Op::EditService(s) => format!("update virtual server {}", s.key),
            Op::DelService(k) => format!("remove virtual server {k}"),
            Op::AddDest(k, d) => format!("add real server {} to {k}", dest(d)),
            Op::EditDest(k, d) => format!("update real server {} of {k}", dest(d)),
            Op::DelDest(k, d) => format!(
                "remove real server {} from {k}",
                SocketAddr::new(d.addr, d.port)
            ),
        }
    }

    /// The service the operation is about.
    pub fn service(&self) -> ServiceKey {
        match self {
            Op::AddService(s) | Op::EditService(s) => s.key,
            Op::DelService(k) | Op::AddDest(k, _) | Op::EditDest(k, _) | Op::DelDest(k, _) => *k,
        }
    }
}

impl State {
    /// What an applied operation did to the kernel's table.
    pub fn apply(&mut self, op: &Op) {
        match *op {
            Op::AddService(s) | Op::EditService(s) => {
                self.add_service(s);
            }
            Op::DelService(k) => {
                self.services.remove(&k);
            }
            Op::AddDest(k, d) | Op::EditDest(k, d) => {
                if let Some(e) = self.services.get_mut(&k) {
                    e.add_dest(d);
                }
            }
            Op::DelDest(k, d) => {
                if let Some(e) = self.services.get_mut(&k) {
                    e.dests.remove(&d);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::model::*;

    fn svc(port: u16, sched: Scheduler) -> Service {
        Service {
            key: ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: format!("10.0.0.1:{port}").parse().unwrap(),
            },
            params: ServiceParams {
                scheduler: sched,
                persistence: None,
                flags: 0,
            },
        }
    }

    fn dest(last: u8, weight: u32) -> Dest {
        Dest {
            key: DestKey {
                addr: format!("10.0.1.{last}").parse().unwrap(),
                port: 80,
            },
            params: DestParams {
                forward: Forward::Direct,
                weight,
                upper_threshold: 0,
                lower_threshold: 0,
            },
        }
    }

    fn state(items: &[(Service, &[Dest])]) -> State {
        let mut s = State::default();
        for (svc, dests) in items {
            let e = s.add_service(*svc);
            for d in *dests {
                e.add_dest(*d);
            }
        }
        s
    }

    #[test]
    fn identical_states_need_nothing() {
        let s = state(&[(svc(80, Scheduler::Rr), &[dest(1, 1), dest(2, 1)])]);
        assert_eq!(plan(&s, &s, |_| true), vec![]);
    }

    #[test]
    fn fresh_start_adds_service_then_dests() {
        let want = state(&[(svc(80, Scheduler::Wlc), &[dest(1, 1), dest(2, 3)])]);
        let ops = plan(&want, &State::default(), |_| true);
        let k = svc(80, Scheduler::Wlc).key;
        assert_eq!(
            ops,
            vec![
                Op::AddService(svc(80, Scheduler::Wlc)),
                Op::AddDest(k, dest(1, 1)),
                Op::AddDest(k, dest(2, 3)),
            ]
        );
    }

    #[test]
    fn reload_touches_only_the_difference() {
        let old = state(&[
            (
                svc(80, Scheduler::Rr),
                &[dest(1, 1), dest(2, 1), dest(3, 1)],
            ),
            (svc(443, Scheduler::Rr), &[dest(1, 1)]),
            (svc(8080, Scheduler::Rr), &[dest(1, 1)]),
        ]);
        let new = state(&[
            (
                svc(80, Scheduler::Rr),
                &[dest(1, 1), dest(2, 5), dest(4, 1)],
            ),
            (svc(443, Scheduler::Wrr), &[dest(1, 1)]),
        ]);
        let k80 = svc(80, Scheduler::Rr).key;
        let ops = plan(&new, &old, |_| true);
        assert_eq!(
            ops,
            vec![
                Op::EditDest(k80, dest(2, 5)),
                Op::AddDest(k80, dest(4, 1)),
                Op::DelDest(k80, dest(3, 1).key),
                Op::EditService(svc(443, Scheduler::Wrr)),
                Op::DelService(svc(8080, Scheduler::Rr).key),
            ]
        );
    }

    /// What the kernel does with a plan (refusing what it would refuse).
    fn simulate(state: &mut State, ops: &[Op]) {
        for op in ops {
            match *op {
                Op::AddService(s) => {
                    assert!(!state.services.contains_key(&s.key), "{op:?}: EEXIST");
                    state.add_service(s);
                }
                Op::EditService(s) => {
                    state.services.get_mut(&s.key).expect("ESRCH").params = s.params
                }
                Op::DelService(k) => assert!(state.services.remove(&k).is_some(), "ESRCH"),
                Op::AddDest(k, d) => {
                    let e = state.services.get_mut(&k).expect("ESRCH");
                    assert!(e.dests.insert(d.key, d.params).is_none(), "{op:?}: EEXIST");
                }
                Op::EditDest(k, d) => {
                    let e = state.services.get_mut(&k).expect("ESRCH");
                    *e.dests.get_mut(&d.key).expect("ENOENT") = d.params;
                }
                Op::DelDest(k, d) => {
                    let e = state.services.get_mut(&k).expect("ESRCH");
                    assert!(e.dests.remove(&d).is_some(), "ENOENT");
                }
            }
        }
    }

    /// Small pseudo-random states over few keys, so they overlap a lot.
    fn random_state(seed: &mut u64) -> State {
        let mut next = |n: u64| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*seed >> 33) % n
        };
        let mut s = State::default();
        for port in 0..6u16 {
            if next(2) == 0 {
                continue;
            }
            let sched = [Scheduler::Rr, Scheduler::Wlc][next(2) as usize];
            let e = s.add_service(svc(80 + port, sched));
            for last in 1..6u8 {
                if next(2) == 1 {
                    e.add_dest(dest(last, next(3) as u32));
                }
            }
        }
        s
    }

    #[test]
    fn plans_reach_the_desired_state_and_spare_foreign_services() {
        let mut seed = 7;
        for _ in 0..500 {
            let desired = random_state(&mut seed);
            let current = random_state(&mut seed);
            // Odd ports are foreign unless configured.
            let owned = |k: &ServiceKey| {
                desired.services.contains_key(k)
                    || matches!(k, ServiceKey::Addr { addr, .. } if addr.port() % 2 == 0)
            };
            let ops = plan(&desired, &current, owned);
            let mut kernel = current.clone();
            simulate(&mut kernel, &ops);
            for (k, e) in &kernel.services {
                match desired.services.get(k) {
                    Some(want) => assert_eq!(e, want),
                    None => assert_eq!(Some(e), current.services.get(k).filter(|_| !owned(k))),
                }
            }
            for k in desired.services.keys() {
                assert!(kernel.services.contains_key(k));
            }
            for (k, e) in &current.services {
                if !owned(k) {
                    assert_eq!(kernel.services.get(k), Some(e), "foreign service touched");
                }
            }
            // Nothing left to do, and nothing done twice.
            assert_eq!(plan(&desired, &kernel, owned), vec![]);
            let unique: std::collections::BTreeSet<_> =
                ops.iter().map(|o| format!("{o:?}")).collect();
            assert_eq!(unique.len(), ops.len());
        }
    }

    #[test]
    fn foreign_services_are_never_touched() {
        let kernel = state(&[
            (svc(80, Scheduler::Rr), &[dest(9, 1)]),
            (svc(9999, Scheduler::Rr), &[dest(1, 1)]),
        ]);
        let want = state(&[(svc(80, Scheduler::Rr), &[dest(1, 1)])]);
        let mine = |k: &ServiceKey| want.services.contains_key(k);
        let k80 = svc(80, Scheduler::Rr).key;
        assert_eq!(
            plan(&want, &kernel, mine),
            vec![
                Op::AddDest(k80, dest(1, 1)),
                Op::DelDest(k80, dest(9, 1).key)
            ]
        );
        assert_eq!(teardown(&kernel, mine), vec![Op::DelService(k80)]);
    }

    #[test]
    fn applied_ops_update_the_known_kernel_table() {
        let key = ServiceKey::Fwmark {
            family: Family::V4,
            mark: 1,
        };
        let params = ServiceParams {
            scheduler: Scheduler::Rr,
            persistence: None,
            flags: 0,
        };
        let d = Dest::new("192.0.2.5:0".parse().unwrap(), Forward::Masq, 2);
        let mut st = State::default();
        let mut desired = State::default();
        desired.add_service(Service { key, params }).add_dest(d);
        for op in plan(&desired, &st, |_| true) {
            assert!(!op.describe().is_empty());
            st.apply(&op);
        }
        assert_eq!(st, desired);
        for op in teardown(&st.clone(), |_| true) {
            assert_eq!(op.describe(), "remove virtual server FWM 1");
            st.apply(&op);
        }
        assert_eq!(st, State::default());
    }
}
