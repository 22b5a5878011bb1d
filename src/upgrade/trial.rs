//! The trial of a freshly installed slot: when is it good, when is it given up. Pure: the
//! watcher (`keeplite slot trial`) asks the daemon for its status every couple of seconds and
//! feeds the answer in with the time.
//!
//! **Healthy** means: the daemon answers `status` (its event loop runs: the control socket is
//! served by the same loop that sends adverts and pets the watchdog), it runs the configuration
//! it was given (`/config/keepalived.conf`: run-keeplite falls back to the last-known-good copy
//! only when that file is invalid, and then leaves `keepalived.conf.rejected`), and every VRRP
//! instance is MASTER or BACKUP (none in FAULT, INIT or waiting for its interface). The slot is
//! **good** after `good_after` seconds of uninterrupted health; it is **given up** if that has
//! not happened `give_up_after` seconds after the watcher started.

use super::slots::TrialTimes;
use crate::control::StatusReport;
use std::time::{Duration, Instant};

/// How often the watcher looks.
pub const POLL: Duration = Duration::from_secs(2);

/// Why `report` is not healthy, if it is not. `config_rejected`: the configuration was
/// rejected at this boot (`keepalived.conf.rejected` newer than the boot).
pub fn health(report: &StatusReport, config_rejected: bool) -> Result<(), String> {
    if config_rejected {
        return Err("its configuration was rejected at boot".to_owned());
    }
    match report
        .instances
        .iter()
        .find(|i| i.state != "MASTER" && i.state != "BACKUP")
    {
        Some(i) => Err(format!("instance {} is {}", i.name, i.state)),
        None => Ok(()),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Look again after this long.
    Wait(Duration),
    Good,
    GiveUp(String),
}

pub struct Trial {
    times: TrialTimes,
    started: Instant,
    healthy_since: Option<Instant>,
}

impl Trial {
    pub fn new(times: TrialTimes, now: Instant) -> Trial {
        Trial {
            times,
            started: now,
            healthy_since: None,
        }
    }

    /// One look at the daemon: `Ok` healthy, `Err(why)` not.
    pub fn observe(&mut self, now: Instant, health: Result<(), String>) -> Verdict {
        let good_after = Duration::from_secs(self.times.good_after.into());
        let give_up = self.started + Duration::from_secs(self.times.give_up_after.into());
        match health {
            Ok(()) => {
                let since = *self.healthy_since.get_or_insert(now);
                if now.duration_since(since) >= good_after {
                    return Verdict::Good;
                }
            }
            Err(why) => {
                self.healthy_since = None;
                if now >= give_up {
                    return Verdict::GiveUp(format!(
                        "not healthy {} s after boot ({why})",
                        self.times.give_up_after
                    ));
                }
            }
        }
        Verdict::Wait(POLL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::InstanceStatus;

    const T: TrialTimes = TrialTimes {
        good_after: 10,
        give_up_after: 60,
    };

    fn report(states: &[&str]) -> StatusReport {
        StatusReport {
            instances: states
                .iter()
                .map(|s| InstanceStatus {
                    name: "VI_1".into(),
                    state: (*s).into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn health_rules() {
        assert_eq!(health(&report(&["MASTER", "BACKUP"]), false), Ok(()));
        assert_eq!(health(&report(&[]), false), Ok(()));
        assert_eq!(
            health(&report(&["MASTER", "FAULT"]), false),
            Err("instance VI_1 is FAULT".into())
        );
        assert!(health(&report(&["INIT"]), false).is_err());
        assert!(health(&report(&["MASTER"]), true).is_err());
    }

    #[test]
    fn good_after_uninterrupted_health() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut tr = Trial::new(T, t0);
        assert_eq!(tr.observe(s(0), Err("down".into())), Verdict::Wait(POLL));
        assert_eq!(tr.observe(s(2), Ok(())), Verdict::Wait(POLL));
        assert_eq!(tr.observe(s(8), Ok(())), Verdict::Wait(POLL));
        // A relapse restarts the clock.
        assert_eq!(tr.observe(s(10), Err("FAULT".into())), Verdict::Wait(POLL));
        assert_eq!(tr.observe(s(12), Ok(())), Verdict::Wait(POLL));
        assert_eq!(tr.observe(s(21), Ok(())), Verdict::Wait(POLL));
        assert_eq!(tr.observe(s(22), Ok(())), Verdict::Good);
    }

    #[test]
    fn gives_up_at_the_deadline() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut tr = Trial::new(T, t0);
        assert_eq!(tr.observe(s(59), Err("x".into())), Verdict::Wait(POLL));
        assert_eq!(
            tr.observe(s(60), Err("instance VI_1 is FAULT".into())),
            Verdict::GiveUp("not healthy 60 s after boot (instance VI_1 is FAULT)".into())
        );
        // Healthy at the deadline but not yet long enough: it may still finish its run.
        let mut tr = Trial::new(T, t0);
        assert_eq!(tr.observe(s(55), Ok(())), Verdict::Wait(POLL));
        assert_eq!(tr.observe(s(61), Ok(())), Verdict::Wait(POLL));
        assert_eq!(tr.observe(s(65), Ok(())), Verdict::Good);
    }
}
