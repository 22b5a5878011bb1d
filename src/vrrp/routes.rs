//! When `virtual_routes` / `virtual_rules` and the `static_*` entries go in and out, as
//! keepalived does it: an instance's routes and rules are installed on entering MASTER
//! (after its VIPs: a route's `src` may be one) and removed on leaving it
//! (vrrp_state_become_master / vrrp_restore_interface); a reload touches only the entries
//! that changed (clear_diff_routes / clear_diff_rules); static entries are installed at
//! start and removed at exit, as a reload from and to an empty configuration would.

use super::{State, Transition};

/// What a transition does to the instance's routes and rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Install,
    Remove,
}

pub fn on_transition(t: &Transition) -> Option<Change> {
    match (t.from, t.to) {
        (State::Master, State::Master) => None,
        (_, State::Master) => Some(Change::Install),
        (State::Master, _) => Some(Change::Remove),
        _ => None,
    }
}

/// The entries of `old` missing from `new` (to remove) and of `new` missing from `old` (to
/// install), each in its list's order. Unchanged entries are left alone: no flap.
pub fn diff<'a, T: PartialEq>(old: &'a [T], new: &'a [T]) -> (Vec<&'a T>, Vec<&'a T>) {
    let gone = old.iter().filter(|o| !new.contains(o)).collect();
    let added = new.iter().filter(|n| !old.contains(n)).collect();
    (gone, added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::Reason;

    fn t(from: State, to: State) -> Transition {
        Transition {
            from,
            to,
            reason: Reason::MasterDown,
        }
    }

    #[test]
    fn installed_in_master_only() {
        use State::*;
        assert_eq!(on_transition(&t(Backup, Master)), Some(Change::Install));
        assert_eq!(on_transition(&t(Initialize, Master)), Some(Change::Install));
        for to in [Backup, Fault, Initialize] {
            assert_eq!(on_transition(&t(Master, to)), Some(Change::Remove));
        }
        for (from, to) in [(Backup, Fault), (Fault, Backup), (Initialize, Backup)] {
            assert_eq!(on_transition(&t(from, to)), None);
        }
    }

    #[test]
    fn reload_touches_only_what_changed() {
        let (gone, added) = diff(&[1, 2, 3], &[3, 4, 1]);
        assert_eq!((gone, added), (vec![&2], vec![&4]));
        let (gone, added) = diff(&[1, 2], &[]);
        assert_eq!((gone, added), (vec![&1, &2], vec![]));
        let (gone, added) = diff::<u8>(&[], &[]);
        assert!(gone.is_empty() && added.is_empty());
    }
}
