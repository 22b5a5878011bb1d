//! Process events for `vrrp_track_process`: the kernel's proc connector (what keepalived
//! uses) and `/proc` reads. What the events mean is `vrrp::track_process`'s to say.
//!
//! The connector exists only in the initial network namespace: inside another one the
//! subscription is refused (ECONNREFUSED; keepalived then tracks nothing and the processes
//! count as absent), and the daemon falls back to scanning `/proc`.

use std::io::{self, Read};
use std::path::Path;

use crate::netlink::{begin, end, messages, NLMSG_DONE};
use crate::proto::cn_proc::{emit_listen, Event, Packet, CN_IDX_PROC, PROC_CN_MCAST_LISTEN};
use crate::sys::netlink::Socket;

const NETLINK_CONNECTOR: libc::c_int = 11;
/// Room for bursts of process events (a fork bomb, a service restarting its workers); past
/// it the kernel drops events and reports ENOBUFS, and the daemon rescans.
const RCVBUF: i32 = 1 << 20;

/// A subscription to the kernel's process events.
pub struct Connector {
    sock: Socket,
}

impl Connector {
    pub fn open() -> io::Result<Connector> {
        let sock = Socket::open(NETLINK_CONNECTOR, CN_IDX_PROC, true)?;
        // Best effort: the default buffer still works, with rescans after bursts.
        let _ = sock.set_option(libc::SOL_SOCKET, libc::SO_RCVBUF, RCVBUF);
        let mut msg = Vec::with_capacity(40);
        let at = begin(&mut msg, NLMSG_DONE, 0, 0);
        emit_listen(&mut msg, PROC_CN_MCAST_LISTEN);
        end(&mut msg, at);
        sock.send(&msg)?;
        Ok(Connector { sock })
    }

    pub fn fd(&self) -> std::os::fd::RawFd {
        self.sock.fd()
    }

    /// Appends the pending events to `out`. `Err` with ENOBUFS: the kernel dropped some.
    /// Only the kernel (or root) can send to the connector's group.
    pub fn recv(&self, out: &mut Vec<Event>) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            let n = match self.sock.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            for m in messages(&buf[..n]) {
                let ev = Packet::new_checked(m.payload).and_then(|p| Event::parse(&p));
                if let Ok(Some(ev)) = ev {
                    out.push(ev);
                }
            }
        }
    }
}

/// `comm` and command line as [`ident`] reads them.
pub type Names = (Option<Vec<u8>>, Option<Vec<u8>>);

/// What `/proc/PID` says of a process: `comm` (from `stat`, `None` for a zombie, which
/// keepalived does not count) and the command line, each only if asked for.
pub fn ident(pid: &str, comm: bool, cmdline: bool) -> Names {
    let dir = Path::new("/proc").join(pid);
    let comm = comm.then(|| read(&dir.join("stat"), 512)).flatten();
    let comm = comm.and_then(|stat| {
        // `PID (COMM) S ...`: COMM may itself hold parentheses.
        let open = stat.iter().position(|&b| b == b'(')?;
        let close = stat.iter().rposition(|&b| b == b')')?;
        let zombie = stat.get(close + 2) == Some(&b'Z');
        (!zombie && open < close).then(|| stat[open + 1..close].to_vec())
    });
    let cmdline = cmdline.then(|| read(&dir.join("cmdline"), 4096)).flatten();
    (comm, cmdline)
}

fn read(path: &Path, max: usize) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(max.min(512));
    std::fs::File::open(path)
        .ok()?
        .take(max as u64)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

/// Every process (`/proc/PID` with PID numeric), with its [`ident`].
pub fn scan(comm: bool, cmdline: bool) -> io::Result<Vec<(u32, Names)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc")? {
        let Ok(e) = e else { continue };
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        out.push((pid, ident(&pid.to_string(), comm, cmdline)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let (comm, cmdline) = ident(&me.to_string(), true, true);
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_string_lossy();
        // comm: the executable's name, cut to 15 bytes.
        let want = &name.as_bytes()[..name.len().min(15)];
        assert_eq!(comm.as_deref(), Some(want));
        let cmdline = cmdline.unwrap();
        assert!(cmdline.ends_with(b"\0"), "{cmdline:?}");
        let all = scan(true, false).unwrap();
        assert!(all
            .iter()
            .any(|(p, (c, l))| *p == me && c.as_deref() == Some(want) && l.is_none()));
    }

    #[test]
    fn zombies_have_no_comm() {
        let mut child = std::process::Command::new("/bin/true").spawn().unwrap();
        let pid = child.id().to_string();
        // Not reaped yet: a zombie once it exits.
        let zombie = (0..500).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.contains(") Z ")
        });
        assert!(zombie);
        assert_eq!(ident(&pid, true, false).0, None);
        child.wait().unwrap();
    }
}
