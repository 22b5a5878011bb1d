//! The kernel's IPVS connection sync daemons (`lvs_sync_daemon`), as keepalived drives them:
//! a master daemon (multicasting the connection table) while the followed VRRP instance is
//! MASTER, a backup daemon (receiving it) otherwise, so that a new master already has every
//! connection of the old one and keeps forwarding it.
//!
//! [`switch`] turns the daemon wanted now and the one running into kernel commands; the
//! daemon's loop calls it after each iteration, the commands go out over generic netlink
//! ([`crate::ipvs::wire::Request::daemon`]).

use std::net::IpAddr;

use crate::config::LvsSyncDaemon;

/// IP_VS_STATE_MASTER / IP_VS_STATE_BACKUP (uapi/linux/ip_vs.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Master = 1,
    Backup = 2,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Master => "master",
            Mode::Backup => "backup",
        }
    }

    fn other(self) -> Mode {
        match self {
            Mode::Master => Mode::Backup,
            Mode::Backup => Mode::Master,
        }
    }
}

/// A sync daemon's settings, the sync id resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemon {
    pub interface: String,
    pub syncid: u8,
    pub maxlen: Option<u16>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
    pub group: Option<IpAddr>,
}

impl SyncDaemon {
    /// `vrid`: the followed instance's, the sync id's default (keepalived's).
    pub fn from_config(c: &LvsSyncDaemon, vrid: u8) -> SyncDaemon {
        SyncDaemon {
            interface: c.interface.clone(),
            syncid: c.syncid.unwrap_or(vrid),
            maxlen: c.maxlen,
            port: c.port,
            ttl: c.ttl,
            group: c.group,
        }
    }
}

/// IPVS_CMD_NEW_DAEMON / IPVS_CMD_DEL_DAEMON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    Start(SyncDaemon, Mode),
    Stop(SyncDaemon, Mode),
}

impl Cmd {
    pub fn describe(&self) -> String {
        let (verb, d, m) = match self {
            Cmd::Start(d, m) => ("start", d, m),
            Cmd::Stop(d, m) => ("stop", d, m),
        };
        format!(
            "{verb} the {} sync daemon on {} (sync id {})",
            m.name(),
            d.interface,
            d.syncid
        )
    }
}

/// The commands that replace `running` by `want` (`None`: no daemon). Switching to a mode
/// first stops the other one, as keepalived's `ipvs_syncd_master` / `ipvs_syncd_backup` do,
/// so a daemon left by an earlier run (or by hand) does not double the traffic; stopping one
/// that is not running fails harmlessly (ESRCH), which the caller ignores.
pub fn switch(running: Option<&(SyncDaemon, Mode)>, want: Option<&(SyncDaemon, Mode)>) -> Vec<Cmd> {
    if running == want {
        return Vec::new();
    }
    let mut cmds = Vec::new();
    if let Some((d, m)) = running {
        cmds.push(Cmd::Stop(d.clone(), *m));
    }
    if let Some((d, m)) = want {
        // Unless that is the one just stopped.
        if running.is_none_or(|(rd, _)| rd != d) {
            cmds.push(Cmd::Stop(d.clone(), m.other()));
        }
        cmds.push(Cmd::Start(d.clone(), *m));
    }
    cmds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon(ifname: &str) -> SyncDaemon {
        SyncDaemon::from_config(
            &LvsSyncDaemon {
                interface: ifname.into(),
                instance: "VI_1".into(),
                syncid: None,
                maxlen: None,
                port: None,
                ttl: None,
                group: None,
            },
            51,
        )
    }

    #[test]
    fn sync_id_defaults_to_the_vrid() {
        assert_eq!(daemon("eth0").syncid, 51);
    }

    #[test]
    fn follows_the_instance_as_keepalived() {
        let d = daemon("eth0");
        let backup = (d.clone(), Mode::Backup);
        let master = (d.clone(), Mode::Master);
        // Start as backup (instances start in BACKUP): any master left over is stopped.
        assert_eq!(
            switch(None, Some(&backup)),
            vec![
                Cmd::Stop(d.clone(), Mode::Master),
                Cmd::Start(d.clone(), Mode::Backup)
            ]
        );
        assert_eq!(switch(Some(&backup), Some(&backup)), vec![]);
        // BACKUP -> MASTER: ipvs_syncd_master.
        assert_eq!(
            switch(Some(&backup), Some(&master)),
            vec![
                Cmd::Stop(d.clone(), Mode::Backup),
                Cmd::Start(d.clone(), Mode::Master)
            ]
        );
        // MASTER -> BACKUP / FAULT: ipvs_syncd_backup.
        assert_eq!(
            switch(Some(&master), Some(&backup)),
            vec![
                Cmd::Stop(d.clone(), Mode::Master),
                Cmd::Start(d.clone(), Mode::Backup)
            ]
        );
        // Shutdown, or the setting removed by a reload.
        assert_eq!(
            switch(Some(&master), None),
            vec![Cmd::Stop(d.clone(), Mode::Master)]
        );
    }

    #[test]
    fn a_reload_moving_the_daemon_restarts_it() {
        let (a, b) = (daemon("eth0"), daemon("eth1"));
        assert_eq!(
            switch(
                Some(&(a.clone(), Mode::Master)),
                Some(&(b.clone(), Mode::Master))
            ),
            vec![
                Cmd::Stop(a, Mode::Master),
                Cmd::Stop(b.clone(), Mode::Backup),
                Cmd::Start(b, Mode::Master)
            ]
        );
    }
}
