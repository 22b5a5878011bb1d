//! Child processes for notify scripts, vrrp_script and MISC_CHECK: spawned without waiting,
//! reaped when SIGCHLD wakes the loop (by pid, never `waitpid(-1)`, so other owners of children
//! are unaffected), and stopped after their timeout like keepalived does: SIGTERM to the
//! script's process group, then SIGKILL if it is still there after a grace period.

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::check::script::{self, FileMeta, Ids, System, Vetting, SCRIPT_PATH};
pub use crate::check::script::{ProcId, ScriptSpec};
use crate::config::Config;

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
    /// The leader's pid, which is also the id of the script's process group.
    pgid: libc::pid_t,
    deadline: Option<Instant>,
    /// Set once the group was told to stop: when SIGKILL goes (again) to what is left.
    kill_at: Option<Instant>,
    /// The leader's end, once reaped. A stopped script's entry stays until its whole group is
    /// gone: a child that ignores SIGTERM must not outlive the tracking.
    exited: Option<Outcome>,
    /// Next look at a stopped group whose leader is gone.
    probe_at: Option<Instant>,
}

/// How often a stopped group whose leader is gone is looked at (and SIGKILLed again once its
/// grace is over).
const PROBE: Duration = Duration::from_millis(100);

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
        // Own process group: a timeout stops the shell and whatever it started. A minimal
        // environment and `/` as working directory: nothing of keeplite's leaks into scripts.
        cmd.env_clear()
            .env("PATH", SCRIPT_PATH)
            .current_dir("/")
            .process_group(0)
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
            pgid: child.id() as libc::pid_t,
            child,
            deadline: spec.timeout.map(|t| now + t),
            kill_at: None,
            exited: None,
            probe_at: None,
        });
        Ok(id)
    }

    /// Whether `id` still counts as running: its leader runs, or it was stopped and some of
    /// its group is still alive.
    pub fn is_running(&self, id: ProcId) -> bool {
        self.running.iter().any(|r| r.id == id)
    }

    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Collects children that have ended (call on SIGCHLD and after timeouts). A script that
    /// exited by itself is reported at once; a stopped one (timeout, [`Processes::stop`]) only
    /// when its whole process group is gone, so a tracker never has two runs in flight.
    pub fn reap(&mut self, now: Instant) -> Vec<Finished> {
        let mut done = Vec::new();
        self.running.retain_mut(|r| {
            if r.exited.is_none() {
                r.exited = match r.child.try_wait() {
                    Ok(Some(status)) => Some(match (status.code(), status.signal()) {
                        (Some(code), _) => Outcome::Exited(code),
                        (None, sig) => Outcome::Signaled(sig.unwrap_or(0)),
                    }),
                    Ok(None) => return true,
                    // ECHILD: someone else reaped it; report it as failed rather than leak it.
                    Err(_) => Some(Outcome::Signaled(0)),
                };
            }
            let outcome = match (r.kill_at, r.exited) {
                (None, Some(o)) => o,
                _ if r.probe_at.is_some_and(|t| now < t) => return true,
                _ if group_alive(r.pgid) => {
                    r.probe_at = Some(now + PROBE);
                    return true;
                }
                _ => Outcome::TimedOut,
            };
            done.push(Finished { id: r.id, outcome });
            false
        });
        done
    }

    /// The next moment [`Processes::handle_timeout`] or [`Processes::reap`] has something to
    /// do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.running
            .iter()
            .filter_map(|r| match r.kill_at {
                Some(k) => Some(r.probe_at.map_or(k, |p| p.min(k))),
                None => r.deadline,
            })
            .min()
    }

    /// Sends SIGTERM to the groups of overdue scripts and SIGKILL to those still there a grace
    /// period later (again every grace period until the group is gone).
    pub fn handle_timeout(&mut self, now: Instant) {
        let grace = self.kill_grace;
        for r in &mut self.running {
            match r.kill_at {
                None if r.deadline.is_some_and(|d| now >= d) => terminate(r, now, grace),
                Some(t) if now >= t => {
                    signal_group(r.pgid, libc::SIGKILL);
                    r.kill_at = Some(now + grace);
                }
                _ => {}
            }
        }
    }

    /// Stops child `id` like a timeout does (MISC_CHECK timeout, checker or tracker removed on
    /// reload): SIGTERM to its group now, SIGKILL after the grace period.
    pub fn stop(&mut self, id: ProcId, now: Instant) {
        let grace = self.kill_grace;
        if let Some(r) = self.running.iter_mut().find(|r| r.id == id) {
            if r.kill_at.is_none() {
                terminate(r, now, grace);
            }
        }
    }

    /// Sends `sig` to the process group of child `id` if it still runs; the child then counts
    /// as stopped (tracked until its group is gone).
    pub fn signal(&mut self, id: ProcId, sig: libc::c_int, now: Instant) {
        let grace = self.kill_grace;
        if let Some(r) = self.running.iter_mut().find(|r| r.id == id) {
            signal_group(r.pgid, sig);
            r.kill_at.get_or_insert(now + grace);
        }
    }

    /// Daemon exit, first step: every script still running is told to stop (the notify
    /// scripts of the shutdown itself are spawned after this).
    pub fn stop_all(&mut self, now: Instant) {
        let ids: Vec<ProcId> = self.running.iter().map(|r| r.id).collect();
        for id in ids {
            self.stop(id, now);
        }
    }

    /// Daemon exit, last step: waits up to one grace period for what is left (the shutdown's
    /// notify scripts), then SIGKILLs every remaining group and reaps the leaders. Blocks; the
    /// loop is over.
    pub fn kill_all(&mut self) {
        let end = Instant::now() + self.kill_grace;
        while !self.running.is_empty() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
            let now = Instant::now();
            self.handle_timeout(now);
            self.reap(now);
        }
        for r in &mut self.running {
            signal_group(r.pgid, libc::SIGKILL);
            if r.exited.is_none() {
                let _ = r.child.wait();
            }
        }
        self.running.clear();
    }
}

fn terminate(r: &mut Running, now: Instant, grace: Duration) {
    signal_group(r.pgid, libc::SIGTERM);
    r.kill_at = Some(now + grace);
}

/// Whether any live (not zombie) process is left in group `pgid`. Orphaned members belong to
/// init once the leader is gone, and an init that does not reap leaves zombies behind, which
/// still count for `kill(-pgid, 0)`: so look at their state.
fn group_alive(pgid: libc::pid_t) -> bool {
    // SAFETY: plain syscall; signal 0 only checks for existence.
    if unsafe { libc::kill(-pgid, 0) } != 0 {
        return false;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return true;
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .as_encoded_bytes()
                .iter()
                .all(u8::is_ascii_digit)
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .any(|stat| {
            // "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses.
            let mut f = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest)
                .split_ascii_whitespace();
            let state = f.next();
            let pgrp = f.nth(1).and_then(|p| p.parse::<libc::pid_t>().ok());
            pgrp == Some(pgid) && state != Some("Z")
        })
}

fn signal_group(pgid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: plain syscall. The id is not reused while any member of the group lives, and an
    // entry is dropped once the group is gone.
    unsafe { libc::kill(-pgid, sig) };
}

/// Looks up `script_user`'s uid and primary gid (and an explicit group if given) in
/// /etc/passwd and /etc/group. Not getpwnam(3): a static glibc binary that meets an
/// nsswitch.conf naming other modules (Debian's `systemd`) dlopens the host's libnss_*.so,
/// built for the shared libc, and crashes. keepalived goes through NSS, so users that exist
/// only in LDAP and the like are unknown to keeplite (documented in the README).
pub fn lookup_user(user: &str, group: Option<&str>) -> io::Result<(u32, u32)> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let not_found = |what: &str, name: &str| {
        io::Error::new(io::ErrorKind::NotFound, format!("no {what} named {name}"))
    };
    let (uid, primary) =
        db_entry(&read("/etc/passwd"), user, 2, 3).ok_or_else(|| not_found("user", user))?;
    let gid = match group {
        None => primary,
        Some(g) => {
            db_entry(&read("/etc/group"), g, 2, 2)
                .ok_or_else(|| not_found("group", g))?
                .0
        }
    };
    Ok((uid, gid))
}

/// Fields `a` and `b` (numbers) of the line named `name` in a passwd(5)/group(5) style file.
fn db_entry(db: &str, name: &str, a: usize, b: usize) -> Option<(u32, u32)> {
    db.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() <= a.max(b) || f[0] != name {
            return None;
        }
        Some((f[a].trim().parse().ok()?, f[b].trim().parse().ok()?))
    })
}

/// The machine as the script rules see it: the user database and `stat(2)`.
struct Os;

impl System for Os {
    fn user(&self, user: &str, group: Option<&str>) -> Option<Ids> {
        lookup_user(user, group).ok()
    }

    fn stat(&self, path: &std::path::Path) -> Option<FileMeta> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| FileMeta {
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode(),
        })
    }
}

/// keepalived's script rules applied to `cfg` on this machine (the daemon at every load, and
/// `-t`): who runs each script, which are disabled, and what to report.
pub fn vet_scripts(cfg: &Config) -> Vetting {
    script::vet(cfg, &Os)
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
            done.extend(p.reap(Instant::now()));
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

    /// The leader dies of SIGTERM but leaves children that ignore it: they are SIGKILLed after
    /// the grace period, and the run ends only when they are gone.
    #[test]
    fn children_ignoring_term_are_killed_after_the_leader_died() {
        let (mut p, sigs, mut poller) = setup();
        p.kill_grace = Duration::from_millis(300);
        let mut spec = ScriptSpec::new("(trap '' TERM; sleep 30 & sleep 30) & wait");
        spec.timeout = Some(Duration::from_millis(200));
        let id = p.spawn(&spec, Instant::now()).unwrap();
        let pgid = p.running[0].pgid;
        // Let the subshell set its trap before the timeout.
        std::thread::sleep(Duration::from_millis(100));
        let done = run_until_done(&mut p, &sigs, &mut poller);
        assert_eq!(
            done,
            vec![Finished {
                id,
                outcome: Outcome::TimedOut
            }]
        );
        assert!(!group_alive(pgid), "a TERM-ignoring child outlived its run");
    }

    #[test]
    fn stop_all_then_kill_all_leaves_nothing() {
        let (mut p, _sigs, _poller) = setup();
        p.kill_grace = Duration::from_millis(200);
        let now = Instant::now();
        p.spawn(&ScriptSpec::new("trap '' TERM; sleep 30 & sleep 30"), now)
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        p.stop_all(Instant::now());
        let late = p.spawn(&ScriptSpec::new("sleep 0.05; exit 0"), Instant::now());
        let pgids: Vec<libc::pid_t> = p.running.iter().map(|r| r.pgid).collect();
        p.kill_all();
        assert!(late.is_ok() && p.is_empty());
        // SIGKILL is delivered when the member next runs: on a loaded machine that is not at
        // once, so wait (bounded) for the groups to go.
        let end = Instant::now() + Duration::from_secs(10);
        while pgids.iter().any(|&g| group_alive(g)) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(pgids.iter().all(|&g| !group_alive(g)));
    }

    #[test]
    fn scripts_get_a_minimal_environment_and_root_as_cwd() {
        let (mut p, sigs, mut poller) = setup();
        // The test process has HOME (cargo's, or run-all's when run as nobody) and maybe CARGO;
        // none of it may reach the script.
        assert!(std::env::var_os("HOME").is_some());
        let check = format!(
            "test \"$PWD\" = / && test \"$(pwd)\" = / && test \"$PATH\" = '{SCRIPT_PATH}' \
             && test -z \"$CARGO\" && test -z \"$HOME\" \
             && test \"$(env | grep -v '^PWD=\\|^SHLVL=\\|^_=' | wc -l)\" = 1"
        );
        p.spawn(&ScriptSpec::new(&check), Instant::now()).unwrap();
        let done = run_until_done(&mut p, &sigs, &mut poller);
        assert_eq!(done[0].outcome, Outcome::Exited(0));
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

    #[test]
    fn passwd_and_group_lines() {
        let pw =
            "root:x:0:0:root:/root:/bin/sh\n# note\nbad line\nnobody:x:65534:65534::/:/bin/false\n";
        assert_eq!(db_entry(pw, "nobody", 2, 3), Some((65534, 65534)));
        assert_eq!(db_entry(pw, "root", 2, 3), Some((0, 0)));
        assert_eq!(db_entry(pw, "nob", 2, 3), None);
        assert_eq!(db_entry("wheel:x:10:root\n", "wheel", 2, 2), Some((10, 10)));
        assert_eq!(db_entry("odd:x:notanumber:0:::\n", "odd", 2, 3), None);
    }
}
