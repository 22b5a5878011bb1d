//! Child processes for notify scripts, vrrp_script and MISC_CHECK: spawned without waiting,
//! reaped when SIGCHLD wakes the loop (by pid, never `waitpid(-1)`, so other owners of children
//! are unaffected), and stopped after their timeout like keepalived does: SIGTERM to the
//! script's process group, then SIGKILL if it is still there after a grace period.

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to run and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptSpec {
    /// A command line, run with `/bin/sh -c` (so quoting, pipes and arguments work as in
    /// keepalived's configs).
    pub command: String,
    /// Extra arguments appended after the command as separate, unsplit words (notify's
    /// `GROUP|INSTANCE name state priority`).
    pub args: Vec<String>,
    /// `script_user`: (uid, gid) to switch to in the child.
    pub user: Option<(u32, u32)>,
    /// Time the script may run before it is terminated; `None` waits forever.
    pub timeout: Option<Duration>,
}

impl ScriptSpec {
    pub fn new(command: &str) -> Self {
        ScriptSpec {
            command: command.to_owned(),
            args: Vec::new(),
            user: None,
            timeout: None,
        }
    }
}

/// Identifies one spawned process in [`Finished`].
pub type ProcId = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signaled(i32),
    /// Ran past its timeout and was stopped.
    TimedOut,
}

impl Outcome {
    /// Success as vrrp_script and MISC_CHECK count it: exit status 0.
    pub fn success(self) -> bool {
        self == Outcome::Exited(0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finished {
    pub id: ProcId,
    pub outcome: Outcome,
}

struct Running {
    id: ProcId,
    child: Child,
    deadline: Option<Instant>,
    /// When SIGTERM went out after the timeout.
    terminated_at: Option<Instant>,
}

/// The table of running children.
pub struct Processes {
    running: Vec<Running>,
    next_id: ProcId,
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
}

impl Default for Processes {
    fn default() -> Self {
        Self::new()
    }
}

impl Processes {
    pub fn new() -> Self {
        Processes {
            running: Vec::new(),
            next_id: 1,
            kill_grace: Duration::from_secs(1),
        }
    }

    pub fn spawn(&mut self, spec: &ScriptSpec, now: Instant) -> io::Result<ProcId> {
        let mut cmd = Command::new("/bin/sh");
        if spec.args.is_empty() {
            cmd.arg("-c").arg(&spec.command);
        } else {
            cmd.arg("-c")
                .arg(format!("{} \"$@\"", spec.command))
                .arg("sh")
                .args(&spec.args);
        }
        // Own process group: a timeout stops the shell and whatever it started.
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = spec.user {
            cmd.gid(gid).uid(uid);
        }
        let child = cmd.spawn()?;
        let id = self.next_id;
        self.next_id += 1;
        self.running.push(Running {
            id,
            child,
            deadline: spec.timeout.map(|t| now + t),
            terminated_at: None,
        });
        Ok(id)
    }

    pub fn is_running(&self, id: ProcId) -> bool {
        self.running.iter().any(|r| r.id == id)
    }

    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Collects children that have exited (call on SIGCHLD and after timeouts).
    pub fn reap(&mut self) -> Vec<Finished> {
        let mut done = Vec::new();
        self.running.retain_mut(|r| match r.child.try_wait() {
            Ok(Some(status)) => {
                let outcome = if r.terminated_at.is_some() {
                    Outcome::TimedOut
                } else if let Some(code) = status.code() {
                    Outcome::Exited(code)
                } else {
                    Outcome::Signaled(status.signal().unwrap_or(0))
                };
                done.push(Finished { id: r.id, outcome });
                false
            }
            Ok(None) => true,
            // ECHILD: someone else reaped it; report it as failed rather than leak the entry.
            Err(_) => {
                done.push(Finished {
                    id: r.id,
                    outcome: Outcome::Signaled(0),
                });
                false
            }
        });
        done
    }

    /// The next moment [`Processes::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.running
            .iter()
            .filter_map(|r| match r.terminated_at {
                Some(t) => Some(t + self.kill_grace),
                None => r.deadline,
            })
            .min()
    }

    /// Sends SIGTERM to overdue scripts and SIGKILL to those that ignored it.
    pub fn handle_timeout(&mut self, now: Instant) {
        for r in &mut self.running {
            let pgid = r.child.id() as libc::pid_t;
            match r.terminated_at {
                None if r.deadline.is_some_and(|d| now >= d) => {
                    signal_group(pgid, libc::SIGTERM);
                    r.terminated_at = Some(now);
                }
                Some(t) if now >= t + self.kill_grace => signal_group(pgid, libc::SIGKILL),
                _ => {}
            }
        }
    }

    /// Sends `sig` to the process group of child `id` if it still runs (MISC_CHECK timeout,
    /// checker removed on reload).
    pub fn signal(&self, id: ProcId, sig: libc::c_int) {
        if let Some(r) = self.running.iter().find(|r| r.id == id) {
            signal_group(r.child.id() as libc::pid_t, sig);
        }
    }

    /// Kills every child at once (daemon exit) and reaps them.
    pub fn kill_all(&mut self) {
        for r in &mut self.running {
            signal_group(r.child.id() as libc::pid_t, libc::SIGKILL);
            let _ = r.child.wait();
        }
        self.running.clear();
    }
}

fn signal_group(pgid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: plain syscall. The group exists until its leader is reaped, which only we do.
    unsafe { libc::kill(-pgid, sig) };
}

/// Looks up `script_user`'s uid and primary gid (and an explicit group if given).
pub fn lookup_user(user: &str, group: Option<&str>) -> io::Result<(u32, u32)> {
    let c = std::ffi::CString::new(user)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "user name has a NUL"))?;
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: all-zero passwd is valid; getpwnam_r writes into it and `buf`.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut res = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, `buf.len()` is its true size.
    let rc =
        unsafe { libc::getpwnam_r(c.as_ptr(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut res) };
    if rc != 0 || res.is_null() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no user named {user}"),
        ));
    }
    let gid = match group {
        None => pw.pw_gid,
        Some(g) => {
            let c = std::ffi::CString::new(g)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "group name has a NUL"))?;
            // SAFETY: as above, for the group database.
            let mut gr: libc::group = unsafe { std::mem::zeroed() };
            let mut res = std::ptr::null_mut();
            // SAFETY: every pointer is valid for the call, `buf.len()` is its true size.
            let rc = unsafe {
                libc::getgrnam_r(c.as_ptr(), &mut gr, buf.as_mut_ptr(), buf.len(), &mut res)
            };
            if rc != 0 || res.is_null() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no group named {g}"),
                ));
            }
            gr.gr_gid
        }
    };
    Ok((pw.pw_uid, gid))
}

/// Detaches like keepalived without `-n`: fork (the parent exits 0 so an init system's
/// `Type=forking` sees a started daemon), new session, `/` as working directory, stdin and
/// stdout (and stderr unless `keep_stderr`) on /dev/null. The parent writes the child's pid
/// to `pid_file` before it exits, so the file is there when the launcher returns. Call before
/// any thread exists.
pub fn daemonize(keep_stderr: bool, pid_file: Option<&std::path::Path>) -> io::Result<()> {
    // SAFETY: called while the process is single-threaded, so the child is a full copy.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        0 => {}
        child => {
            let status = match pid_file.map(|p| super::persist::write_pid_file(p, child as u32)) {
                Some(Err(e)) => {
                    eprintln!("keeplite: pid file: {e}");
                    1
                }
                _ => 0,
            };
            // SAFETY: the parent leaves at once, without destructors that would release what
            // the child now owns (control socket file, VIPs).
            unsafe { libc::_exit(status) }
        }
    }
    // SAFETY: plain syscalls on the child's own process and descriptors.
    unsafe {
        libc::setsid();
        libc::chdir(c"/".as_ptr());
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            if !keep_stderr {
                libc::dup2(null, 2);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::event::{Interest, Poller, Signals};

    /// Drives the table like the daemon does: sleep in epoll until SIGCHLD or a timer.
    fn run_until_done(p: &mut Processes, sigs: &Signals, poller: &mut Poller) -> Vec<Finished> {
        let mut done = Vec::new();
        let limit = Instant::now() + Duration::from_secs(20);
        while !p.is_empty() && Instant::now() < limit {
            let now = Instant::now();
            // A fallback tick: SIGCHLD may go to another test's thread, whose handler still
            // writes our pipe, but keep the loop robust anyway.
            let tick = now + Duration::from_millis(200);
            poller
                .wait(now, Some(p.poll_timeout().map_or(tick, |t| t.min(tick))))
                .unwrap();
            sigs.take();
            p.handle_timeout(Instant::now());
            done.extend(p.reap());
        }
        done
    }

    fn setup() -> (Processes, Signals, Poller) {
        let sigs = Signals::new(&[libc::SIGCHLD]).unwrap();
        let poller = Poller::new().unwrap();
        poller.add(sigs.fd(), Interest::Read, 0).unwrap();
        (Processes::new(), sigs, poller)
    }

    #[test]
    fn exit_status_arguments_and_signals() {
        let (mut p, sigs, mut poller) = setup();
        let now = Instant::now();
        let a = p.spawn(&ScriptSpec::new("exit 3"), now).unwrap();
        let mut spec = ScriptSpec::new("f() { test \"$1\" = 'two words' && test $# -eq 2; }; f");
        spec.args = vec!["two words".into(), "x".into()];
        let b = p.spawn(&spec, now).unwrap();
        let c = p.spawn(&ScriptSpec::new("kill -9 $$"), now).unwrap();
        let mut done = run_until_done(&mut p, &sigs, &mut poller);
        done.sort_by_key(|f| f.id);
        assert_eq!(
            done,
            vec![
                Finished {
                    id: a,
                    outcome: Outcome::Exited(3)
                },
                Finished {
                    id: b,
                    outcome: Outcome::Exited(0)
                },
                Finished {
                    id: c,
                    outcome: Outcome::Signaled(9)
                },
            ]
        );
    }

    #[test]
    fn timeout_terms_then_kills_the_whole_group() {
        let (mut p, sigs, mut poller) = setup();
        p.kill_grace = Duration::from_millis(300);
        let mut polite = ScriptSpec::new("sleep 30");
        polite.timeout = Some(Duration::from_millis(200));
        // Ignores TERM, and leaves a grandchild that must die with the group.
        let mut stubborn = ScriptSpec::new("trap '' TERM; sleep 30 & wait; wait");
        stubborn.timeout = Some(Duration::from_millis(200));
        let start = Instant::now();
        let a = p.spawn(&polite, start).unwrap();
        let b = p.spawn(&stubborn, start).unwrap();
        let pid_b = p.running[1].child.id() as libc::pid_t;
        let done = run_until_done(&mut p, &sigs, &mut poller);
        assert_eq!(done.len(), 2);
        assert!(done.iter().all(|f| f.outcome == Outcome::TimedOut));
        assert!(done.iter().any(|f| f.id == a) && done.iter().any(|f| f.id == b));
        // SAFETY: probing with signal 0; the group must be gone once its members are killed.
        let alive = |pgid: libc::pid_t| unsafe { libc::kill(-pgid, 0) } == 0;
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            !alive(pid_b)
        });
        assert!(gone, "grandchild survived");
    }

    #[test]
    fn script_user_is_applied() {
        let (uid, gid) = lookup_user("nobody", None).unwrap();
        assert_ne!(uid, 0);
        assert!(lookup_user("no-such-user-kl", None).is_err());
        let (mut p, sigs, mut poller) = setup();
        let mut spec = ScriptSpec::new(&format!("test $(id -u) = {uid} && test $(id -g) = {gid}"));
        spec.user = Some((uid, gid));
        p.spawn(&spec, Instant::now()).unwrap();
        let done = run_until_done(&mut p, &sigs, &mut poller);
        assert_eq!(done[0].outcome, Outcome::Exited(0));
    }
}
