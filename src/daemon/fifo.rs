//! Notify FIFOs: keepalived's one-line event format (pure, below) and the three FIFOs
//! (`notify_fifo` gets everything, `vrrp_notify_fifo` VRRP lines, `lvs_notify_fifo` LVS lines).
//! Lines are written in event order; a reader that falls behind loses lines (counted and
//! logged), never delays the loop (see `sys::fifo`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use crate::check::script::Vetting;
use crate::config::{GlobalDefs, NotifyFifo, Protocol, VsAddr};
use crate::sys::fifo::Fifo;
use crate::sys::process::{lookup_user, ProcId, Processes, ScriptSpec};
use crate::vrrp::State;

use super::log;

/// What a VRRP line reports (keepalived vrrp_notify.c `notify_fifo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrrpEvent {
    State(State),
    /// `notify_priority_changes`: the effective priority changed.
    Priority(State),
}

/// `INSTANCE "VI_1" MASTER 100` / `GROUP "G" BACKUP 0` (groups report priority 0).
pub fn vrrp_line(group: bool, name: &str, ev: VrrpEvent, priority: u8) -> String {
    let state = match ev {
        VrrpEvent::State(State::Master) => "MASTER",
        VrrpEvent::State(State::Backup) => "BACKUP",
        VrrpEvent::State(State::Fault) => "FAULT",
        VrrpEvent::State(State::Initialize) => "STOP",
        VrrpEvent::Priority(State::Master) => "MASTER_PRIORITY",
        VrrpEvent::Priority(_) => "BACKUP_PRIORITY",
    };
    let kind = if group { "GROUP" } else { "INSTANCE" };
    format!("{kind} \"{name}\" {state} {priority}\n")
}

fn proto(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// keepalived's `FMT_VS`: `[10.0.0.1]:tcp:80`, `[2001:db8::1]:udp:53`, `FWM 7`, and
/// `[NAME]:0` for a `virtual_server group NAME`.
pub fn vs_label(addr: &VsAddr, p: Protocol) -> String {
    match addr {
        VsAddr::Ip(ip, port) => trio(SocketAddr::new(*ip, *port), p),
        VsAddr::Fwmark(mark) => format!("FWM {mark}"),
        VsAddr::Group(name) => format!("[{name}]:0"),
    }
}

/// keepalived's `inet_sockaddrtotrio`: the real server with its virtual server's protocol.
pub fn trio(addr: SocketAddr, p: Protocol) -> String {
    format!("[{}]:{}:{}", addr.ip(), proto(p), addr.port())
}

/// `VS [10.0.0.1]:tcp:80 UP`: quorum gained or lost.
pub fn vs_line(vs: &str, up: bool) -> String {
    format!("VS {vs} {}\n", up_down(up))
}

/// `RS [10.0.0.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN`.
pub fn rs_line(rs: &str, vs: &str, up: bool) -> String {
    format!("RS {rs} {vs} {}\n", up_down(up))
}

fn up_down(up: bool) -> &'static str {
    if up {
        "UP"
    } else {
        "DOWN"
    }
}

#[derive(Default)]
struct Slot {
    cfg: NotifyFifo,
    fifo: Option<Fifo>,
    reader: Option<ProcId>,
    /// Dropping lines (logged once per episode).
    lagging: bool,
}

impl Slot {
    fn write(&mut self, kw: &str, line: &str) {
        let Some(f) = self.fifo.as_mut() else { return };
        let before = f.dropped;
        f.write_line(line);
        match (f.dropped > before, self.lagging) {
            (true, false) => {
                self.lagging = true;
                log::warn(&format!(
                    "{kw} {}: the reader is not keeping up; lines are dropped",
                    f.path().display()
                ));
            }
            (false, true) => {
                self.lagging = false;
                log::info(&format!(
                    "{kw} {}: the reader caught up ({} lines lost so far)",
                    f.path().display(),
                    f.dropped
                ));
            }
            _ => {}
        }
    }

    fn close(&mut self, procs: &mut Processes, now: Instant) {
        // keepalived stops the reader with SIGTERM; it reads on until the FIFO closes.
        if let Some(id) = self.reader.take() {
            procs.signal(id, libc::SIGTERM, now);
        }
        self.fifo = None;
    }

    fn open(
        &mut self,
        kw: &str,
        cfg: &NotifyFifo,
        vetting: &Vetting,
        procs: &mut Processes,
        now: Instant,
    ) {
        self.cfg = cfg.clone();
        let Some(path) = &cfg.path else { return };
        let owner = cfg.owner.as_ref().and_then(|u| {
            lookup_user(&u.user, u.group.as_deref())
                .map_err(|e| log::warn(&format!("{kw}: user {}: {e}", u.user)))
                .ok()
        });
        match Fifo::open(path, owner) {
            Ok(f) => self.fifo = Some(f),
            Err(e) => {
                log::error(&format!("{kw} {}: {e}", path.display()));
                return;
            }
        }
        if let Some(cmd) = &cfg.script {
            // Disabled by the script rules (already reported with the configuration).
            let Some(user) = vetting.run_as(cmd, cfg.script_user.as_ref()) else {
                return;
            };
            let spec = ScriptSpec {
                command: cmd.clone(),
                args: vec![path.to_string_lossy().into_owned()],
                user,
                timeout: None,
            };
            match procs.spawn(&spec, now) {
                Ok(id) => self.reader = Some(id),
                Err(e) => log::warn(&format!("{kw}_script {cmd}: {e}")),
            }
        }
    }
}

/// The three FIFOs and what the priority-change lines need to remember.
#[derive(Default)]
pub struct Fifos {
    all: Slot,
    vrrp: Slot,
    lvs: Slot,
    /// Last priority reported per instance, for `notify_priority_changes`.
    priorities: HashMap<String, u8>,
}

const KW: [&str; 3] = ["notify_fifo", "vrrp_notify_fifo", "lvs_notify_fifo"];

impl Fifos {
    /// (Re)opens the FIFOs whose configuration changed; unchanged ones keep their reader.
    pub fn configure(
        &mut self,
        g: &GlobalDefs,
        vetting: &Vetting,
        procs: &mut Processes,
        now: Instant,
    ) {
        let want = [&g.notify_fifo, &g.vrrp_notify_fifo, &g.lvs_notify_fifo];
        for (i, cfg) in want.iter().enumerate() {
            if self.slot(i).cfg == **cfg {
                continue;
            }
            self.slot(i).close(procs, now);
            let dup = cfg.path.is_some() && want[..i].iter().any(|c| c.path == cfg.path);
            if dup {
                // Two slots on one FIFO would write every line twice.
                log::warn(&format!(
                    "{}: same path as another notify FIFO; ignored",
                    KW[i]
                ));
                self.slot(i).cfg = (*cfg).clone();
                continue;
            }
            self.slot(i).open(KW[i], cfg, vetting, procs, now);
        }
    }

    fn slot(&mut self, i: usize) -> &mut Slot {
        match i {
            0 => &mut self.all,
            1 => &mut self.vrrp,
            _ => &mut self.lvs,
        }
    }

    pub fn vrrp(&mut self, group: bool, name: &str, ev: VrrpEvent, priority: u8) {
        if !group {
            self.priorities.insert(name.to_owned(), priority);
        }
        if self.all.fifo.is_none() && self.vrrp.fifo.is_none() {
            return;
        }
        let line = vrrp_line(group, name, ev, priority);
        self.all.write(KW[0], &line);
        self.vrrp.write(KW[1], &line);
    }

    /// Reports `priority` if it differs from the last one written for `name`.
    pub fn priority(&mut self, name: &str, state: State, priority: u8) {
        if self.priorities.get(name) != Some(&priority) {
            self.vrrp(false, name, VrrpEvent::Priority(state), priority);
        }
    }

    pub fn lvs(&mut self, line: &str) {
        self.all.write(KW[0], line);
        self.lvs.write(KW[2], line);
    }

    /// Daemon exit: readers get SIGTERM, FIFOs keeplite created are removed.
    pub fn close(&mut self, procs: &mut Processes, now: Instant) {
        for i in 0..3 {
            self.slot(i).close(procs, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    #[test]
    fn vrrp_lines_match_keepalived() {
        let s = |st| VrrpEvent::State(st);
        assert_eq!(
            vrrp_line(false, "VI_1", s(State::Master), 100),
            "INSTANCE \"VI_1\" MASTER 100\n"
        );
        assert_eq!(
            vrrp_line(false, "VI_1", s(State::Backup), 90),
            "INSTANCE \"VI_1\" BACKUP 90\n"
        );
        assert_eq!(
            vrrp_line(false, "VI_1", s(State::Fault), 90),
            "INSTANCE \"VI_1\" FAULT 90\n"
        );
        assert_eq!(
            vrrp_line(false, "VI_1", s(State::Initialize), 90),
            "INSTANCE \"VI_1\" STOP 90\n"
        );
        assert_eq!(
            vrrp_line(true, "G", s(State::Backup), 0),
            "GROUP \"G\" BACKUP 0\n"
        );
        let p = |st| VrrpEvent::Priority(st);
        assert_eq!(
            vrrp_line(false, "VI_1", p(State::Master), 80),
            "INSTANCE \"VI_1\" MASTER_PRIORITY 80\n"
        );
        assert_eq!(
            vrrp_line(false, "VI_1", p(State::Fault), 80),
            "INSTANCE \"VI_1\" BACKUP_PRIORITY 80\n"
        );
    }

    #[test]
    fn lvs_lines_match_keepalived() {
        let vs = vs_label(
            &VsAddr::Ip(Ipv4Addr::new(192, 168, 201, 15).into(), 80),
            Protocol::Tcp,
        );
        let rs = trio(
            SocketAddr::new(Ipv4Addr::new(1, 2, 3, 4).into(), 80),
            Protocol::Tcp,
        );
        assert_eq!(vs_line(&vs, true), "VS [192.168.201.15]:tcp:80 UP\n");
        assert_eq!(
            rs_line(&rs, &vs, false),
            "RS [1.2.3.4]:tcp:80 [192.168.201.15]:tcp:80 DOWN\n"
        );
        let v6 = VsAddr::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST), 53);
        assert_eq!(vs_label(&v6, Protocol::Udp), "[::1]:udp:53");
        let fwm = vs_label(&VsAddr::Fwmark(7), Protocol::Tcp);
        assert_eq!(vs_line(&fwm, false), "VS FWM 7 DOWN\n");
        assert_eq!(
            vs_label(&VsAddr::Group("web".into()), Protocol::Tcp),
            "[web]:0"
        );
    }

    #[test]
    fn priority_lines_only_when_the_priority_moved() {
        let p = std::env::temp_dir().join(format!("keeplite-fifos-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let mut g = GlobalDefs::default();
        g.vrrp_notify_fifo.path = Some(p.clone());
        let mut procs = Processes::new();
        let mut f = Fifos::default();
        f.configure(&g, &Vetting::default(), &mut procs, Instant::now());
        let mut r = std::fs::File::open(&p).unwrap();
        f.vrrp(false, "VI_1", VrrpEvent::State(State::Master), 100);
        f.priority("VI_1", State::Master, 100);
        f.priority("VI_1", State::Master, 80);
        f.priority("VI_1", State::Master, 80);
        f.lvs("VS FWM 7 UP\n");
        let mut got = String::new();
        let mut buf = [0u8; 256];
        let n = std::io::Read::read(&mut r, &mut buf).unwrap();
        got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        assert_eq!(
            got,
            "INSTANCE \"VI_1\" MASTER 100\nINSTANCE \"VI_1\" MASTER_PRIORITY 80\n"
        );
        f.close(&mut procs, Instant::now());
        assert!(!p.exists());
    }
}
