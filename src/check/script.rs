//! Which scripts may run, and as whom: keepalived's rules (lib/notify.c `check_script_secure`,
//! `set_default_script_user`), applied the same way by the daemon (at every load) and by
//! `-t`. Pure: the OS answers through [`System`] (implemented in `sys::process`).
//!
//! * Scripts run as the vrrp_script's `user`, else `script_user`, else `keepalived_script` when
//!   that user exists, else root. A user that does not exist disables the scripts that need it;
//!   so does `enable_script_security` when the scripts would fall back to root that way.
//! * The program (first word of the command, searched in [`SCRIPT_PATH`] without a `/`) must
//!   exist and be executable by that user, else the script is disabled.
//! * A program run as root must not be writable by non-root, nor any directory on its path
//!   (sticky root-owned directories such as `/tmp` are fine): else it is disabled under
//!   `enable_script_security`, and reported otherwise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::{Config, ScriptUser};

/// The `PATH` scripts run with, and where a program without `/` is looked for.
pub const SCRIPT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// keepalived's default script user, used when it exists and `script_user` is not set.
pub const DEFAULT_USER: &str = "keepalived_script";

/// (uid, gid).
pub type Ids = (u32, u32);

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
    pub timeout: Option<std::time::Duration>,
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

/// What `stat(2)` says about a file (symlinks followed, as keepalived does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMeta {
    pub uid: u32,
    pub gid: u32,
    /// `st_mode`: type and permission bits.
    pub mode: u32,
}

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_ISVTX: u32 = 0o1000;

impl FileMeta {
    fn is_file(self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }

    /// keepalived's `is_executable`: root needs any x bit, others the bit of their class.
    pub fn executable_by(self, (uid, gid): Ids) -> bool {
        let m = self.mode;
        (uid == 0 && m & 0o111 != 0)
            || (uid == self.uid && m & 0o100 != 0)
            || (uid != self.uid
                && ((gid == self.gid && m & 0o010 != 0) || (gid != self.gid && m & 0o001 != 0)))
    }

    /// Whether running it as `ids` runs root code: as root, or set-uid/gid root.
    fn runs_as_root(self, (uid, gid): Ids) -> bool {
        uid == 0
            || gid == 0
            || (self.uid == 0 && self.mode & 0o100 != 0 && self.mode & S_ISUID != 0)
            || (self.gid == 0 && self.mode & 0o010 != 0 && self.mode & S_ISGID != 0)
    }

    /// keepalived's rule for the program and each directory above it: owned by root, and not
    /// writable by a non-root group or by others (a sticky directory may be).
    pub fn unsafe_for_root(self) -> bool {
        self.uid != 0
            || ((self.mode & S_ISVTX == 0 || self.is_file())
                && ((self.gid != 0 && self.mode & 0o020 != 0) || self.mode & 0o002 != 0))
    }
}

/// The OS lookups the rules need.
pub trait System {
    /// `(uid, gid)` of `user` (its primary group, or `group` when given).
    fn user(&self, user: &str, group: Option<&str>) -> Option<Ids>;
    fn stat(&self, path: &Path) -> Option<FileMeta>;
}

/// A problem found, for the log and for `-t` (a warning: the configuration still runs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub message: String,
    pub help: Option<String>,
    /// The commands it is about, and the `track_script NAME` entries naming them (where
    /// `-t` shows it); empty for findings about the whole configuration.
    pub about: Vec<String>,
}

fn finding(message: String, help: &str) -> Finding {
    Finding {
        message,
        help: (!help.is_empty()).then(|| help.to_owned()),
        about: Vec::new(),
    }
}

/// `command` and the `track_script` entries of the vrrp_scripts running it.
fn about(cfg: &Config, command: &str, out: &mut Vec<String>) {
    out.push(command.to_owned());
    let named = cfg.vrrp_scripts.iter().filter(|s| s.script == command);
    out.extend(named.map(|s| format!("track_script {}", s.name)));
}

/// The findings for `-t` ([`crate::config::LoadOptions::vet_scripts`]): each with what it is
/// about, which places it.
pub fn located(v: Vetting) -> Vec<crate::config::Placed> {
    let place = |mut f: Finding| (std::mem::take(&mut f.about), f);
    let found = v.findings.into_iter().map(place);
    found.map(|(about, f)| (f.into(), about)).collect()
}

impl From<Finding> for crate::config::Diagnostic {
    /// A `-t` warning: the configuration runs, without the script.
    fn from(f: Finding) -> Self {
        crate::config::Diagnostic {
            severity: crate::config::Severity::Warning,
            location: None,
            message: f.message,
            help: f.help,
        }
    }
}

/// The program a command line runs: its first word, quotes removed.
pub fn program(command: &str) -> &str {
    let w = command.split_ascii_whitespace().next().unwrap_or("");
    w.trim_matches(|c| c == '"' || c == '\'')
}

/// `/`, `/a`, `/a/b`, ... `path` (relative paths are taken from `/`, scripts' working
/// directory).
fn components(path: &Path) -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("/")];
    let mut cur = PathBuf::from("/");
    for c in path.components() {
        if let std::path::Component::Normal(name) = c {
            cur.push(name);
            out.push(cur.clone());
        }
    }
    out
}

/// How one program fares.
enum Verdict {
    Runs,
    /// Runs as root although writable by non-root (enable_script_security is off).
    Unsafe(PathBuf),
    Disabled(Finding),
}

fn judge(prog: &str, ids: Ids, security: bool, sys: &dyn System) -> Verdict {
    // Relative to `/`, the scripts' working directory.
    let path = if prog.contains('/') {
        Path::new("/").join(prog)
    } else {
        let found = SCRIPT_PATH
            .split(':')
            .map(|dir| Path::new(dir).join(prog))
            .find(|p| {
                sys.stat(p)
                    .is_some_and(|m| m.is_file() && m.executable_by(ids))
            });
        match found {
            Some(p) => p,
            None => {
                return Verdict::Disabled(finding(
                    format!("`{prog}` is not an executable file in PATH ({SCRIPT_PATH})"),
                    "give the script's full path",
                ))
            }
        }
    };
    let Some(meta) = sys.stat(&path) else {
        return Verdict::Disabled(finding(format!("`{prog}` does not exist"), ""));
    };
    if !meta.executable_by(ids) {
        return Verdict::Disabled(finding(
            format!(
                "`{}` is not executable for uid:gid {}:{}",
                path.display(),
                ids.0,
                ids.1
            ),
            "chmod +x it",
        ));
    }
    if !meta.runs_as_root(ids) {
        return Verdict::Runs;
    }
    for c in components(&path) {
        match sys.stat(&c) {
            Some(m) if !m.unsafe_for_root() => {}
            _ if security => {
                return Verdict::Disabled(finding(
                    format!(
                        "`{}` runs as root but `{}` is writable by non-root \
                         (enable_script_security)",
                        path.display(),
                        c.display()
                    ),
                    "make the script and every directory above it owned by root and writable \
                     only by root, or set `script_user`",
                ))
            }
            _ => return Verdict::Unsafe(c),
        }
    }
    Verdict::Runs
}

type Key = (String, Option<(String, Option<String>)>);

/// The decisions for every script of a configuration.
#[derive(Debug, Default)]
pub struct Vetting {
    /// (command, own user) -> who runs it (`None`: disabled).
    verdicts: HashMap<Key, Option<Ids>>,
    pub findings: Vec<Finding>,
}

impl Vetting {
    /// Who runs `command` (with the vrrp_script's own `user`); `None`: the script is disabled.
    /// Root comes back as `Some(None)` (no switch needed). Commands the configuration does not
    /// hold are disabled.
    pub fn run_as(&self, command: &str, user: Option<&ScriptUser>) -> Option<Option<Ids>> {
        let key = (
            command.to_owned(),
            user.map(|u| (u.user.clone(), u.group.clone())),
        );
        let ids = (*self.verdicts.get(&key)?)?;
        Some((ids != (0, 0)).then_some(ids))
    }
}

/// Every script of `cfg` with what names it in messages and its own user.
fn scripts(cfg: &Config) -> Vec<(String, &str, Option<&ScriptUser>)> {
    let mut out = Vec::new();
    for s in &cfg.vrrp_scripts {
        out.push((
            format!("vrrp_script `{}`", s.name),
            &*s.script,
            s.user.as_ref(),
        ));
    }
    let notifies = cfg
        .instances
        .iter()
        .map(|i| ("vrrp_instance", &i.name, &i.notify))
        .chain(
            cfg.sync_groups
                .iter()
                .map(|g| ("vrrp_sync_group", &g.name, &g.notify)),
        );
    for (block, name, n) in notifies {
        let each = [
            ("notify_master", &n.master),
            ("notify_backup", &n.backup),
            ("notify_fault", &n.fault),
            ("notify_stop", &n.stop),
            ("notify", &n.any),
        ];
        for (kw, cmd) in each {
            if let Some(c) = cmd {
                out.push((format!("{block} `{name}` {kw}"), c.as_str(), None));
            }
        }
    }
    for i in &cfg.instances {
        if let Some(c) = &i.notify_master_rx_lower_pri {
            let what = format!("vrrp_instance `{}` notify_master_rx_lower_pri", i.name);
            out.push((what, c.as_str(), None));
        }
    }
    let g = &cfg.global;
    for (kw, f) in [
        ("notify_fifo_script", &g.notify_fifo),
        ("vrrp_notify_fifo_script", &g.vrrp_notify_fifo),
        ("lvs_notify_fifo_script", &g.lvs_notify_fifo),
    ] {
        if let Some(c) = &f.script {
            out.push((
                format!("global_defs {kw}"),
                c.as_str(),
                f.script_user.as_ref(),
            ));
        }
    }
    for vs in &cfg.virtual_servers {
        for (kw, cmd) in [
            ("quorum_up", &vs.quorum_up),
            ("quorum_down", &vs.quorum_down),
        ] {
            if let Some(c) = cmd {
                out.push((format!("virtual_server {kw}"), c.as_str(), None));
            }
        }
        for rs in &vs.real_servers {
            let at = std::net::SocketAddr::new(rs.addr, rs.port);
            for (kw, cmd) in [
                ("notify_up", &rs.notify_up),
                ("notify_down", &rs.notify_down),
            ] {
                if let Some(c) = cmd {
                    out.push((format!("real_server {at} {kw}"), c.as_str(), None));
                }
            }
            for c in &rs.checkers {
                if let crate::config::CheckKind::Misc(m) = &c.kind {
                    out.push((
                        format!("real_server {at} MISC_CHECK"),
                        m.path.as_str(),
                        None,
                    ));
                }
            }
        }
    }
    out
}

/// `script_user`, else `keepalived_script` if it exists, else root (refused under
/// enable_script_security, as keepalived does).
fn default_user(cfg: &Config, sys: &dyn System) -> Result<Ids, String> {
    let security = cfg.global.enable_script_security;
    match &cfg.global.script_user {
        Some(u) => sys.user(&u.user, u.group.as_deref()).ok_or_else(|| {
            format!(
                "script_user `{}` does not exist: scripts without a user of their own are \
                 disabled (as keepalived does)",
                u.user
            )
        }),
        None => match sys.user(DEFAULT_USER, None) {
            Some(ids) => Ok(ids),
            None if security => Err(format!(
                "enable_script_security without `script_user`, and user `{DEFAULT_USER}` does \
                 not exist: scripts without a user of their own are disabled (as keepalived \
                 does)"
            )),
            None => Ok((0, 0)),
        },
    }
}

/// Applies keepalived's rules to every script of `cfg`.
pub fn vet(cfg: &Config, sys: &dyn System) -> Vetting {
    let security = cfg.global.enable_script_security;
    let mut v = Vetting::default();
    let default = default_user(cfg, sys);
    let list = scripts(cfg);
    if let Err(e) = &default {
        if list.iter().any(|(_, _, u)| u.is_none()) {
            let mut f = finding(
                e.clone(),
                "set `script_user` to an existing user, or create the user",
            );
            for (_, command, _) in list.iter().filter(|(_, _, u)| u.is_none()) {
                if !f.about.iter().any(|c| c == command) {
                    about(cfg, command, &mut f.about);
                }
            }
            v.findings.push(f);
        }
    }
    let (mut as_root, mut unsafe_root) = (false, false);
    // Findings are per program and user: a MISC_CHECK on 10,000 real servers says it once.
    let mut seen: HashMap<(String, Ids), bool> = HashMap::new();
    for (what, command, own) in list {
        let key = (
            command.to_owned(),
            own.map(|u| (u.user.clone(), u.group.clone())),
        );
        if v.verdicts.contains_key(&key) {
            continue;
        }
        let found = v.findings.len();
        let ids = match own {
            None => default.clone().ok(),
            Some(u) => {
                let ids = sys.user(&u.user, u.group.as_deref());
                if ids.is_none() {
                    v.findings.push(finding(
                        format!(
                            "{what}: user `{}` does not exist; the script is disabled",
                            u.user
                        ),
                        "",
                    ));
                }
                ids
            }
        };
        let verdict = ids.and_then(|ids| {
            let prog = program(command);
            let ok = *seen.entry((prog.to_owned(), ids)).or_insert_with(|| {
                match judge(prog, ids, security, sys) {
                    Verdict::Runs => true,
                    Verdict::Unsafe(at) => {
                        unsafe_root = true;
                        v.findings.push(finding(
                            format!(
                                "{what}: `{prog}` runs as root but `{}` is writable by non-root",
                                at.display()
                            ),
                            "set `enable_script_security` in global_defs to disable unsafe \
                             scripts, and fix the permissions",
                        ));
                        true
                    }
                    Verdict::Disabled(mut f) => {
                        f.message = format!("{what}: {}; the script is disabled", f.message);
                        v.findings.push(f);
                        false
                    }
                }
            });
            as_root |= ok && ids == (0, 0);
            ok.then_some(ids)
        });
        v.verdicts.insert(key, verdict);
        for f in &mut v.findings[found..] {
            about(cfg, command, &mut f.about);
        }
    }
    if as_root && !security {
        v.findings.push(finding(
            format!(
                "scripts run as root and enable_script_security is not set{} (keepalived: \
                 SECURITY VIOLATION - scripts are being executed but script_security not \
                 enabled.)",
                if unsafe_root {
                    ", some of them unsafe"
                } else {
                    ""
                }
            ),
            "set `enable_script_security` and a `script_user` (or create user \
             `keepalived_script`)",
        ));
    }
    v
}

/// Takes out what keepalived takes out: disabled vrrp_scripts and the `track_script` entries
/// naming them (an instance then ignores them), disabled notify scripts, disabled MISC_CHECKs.
pub fn strip_disabled(cfg: &mut Config, v: &Vetting) {
    let ok = |c: &str, u: Option<&ScriptUser>| v.run_as(c, u).is_some();
    cfg.vrrp_scripts.retain(|s| ok(&s.script, s.user.as_ref()));
    let names: Vec<String> = cfg.vrrp_scripts.iter().map(|s| s.name.clone()).collect();
    let drop_cmd = |c: &mut Option<String>| {
        if c.as_deref().is_some_and(|c| !ok(c, None)) {
            *c = None;
        }
    };
    let notify = |n: &mut crate::config::Notify| {
        for c in [
            &mut n.master,
            &mut n.backup,
            &mut n.fault,
            &mut n.stop,
            &mut n.any,
        ] {
            drop_cmd(c);
        }
    };
    for i in &mut cfg.instances {
        i.track_script.retain(|t| names.contains(&t.name));
        notify(&mut i.notify);
    }
    for g in &mut cfg.sync_groups {
        g.track_script.retain(|t| names.contains(&t.name));
        notify(&mut g.notify);
    }
    for vs in &mut cfg.virtual_servers {
        drop_cmd(&mut vs.quorum_up);
        drop_cmd(&mut vs.quorum_down);
        for rs in &mut vs.real_servers {
            drop_cmd(&mut rs.notify_up);
            drop_cmd(&mut rs.notify_down);
            rs.checkers.retain(|c| match &c.kind {
                crate::config::CheckKind::Misc(m) => ok(&m.path, None),
                _ => true,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, LoadOptions, MemFiles};

    const DIR: u32 = 0o040_000;
    const FILE: u32 = S_IFREG;

    fn meta(uid: u32, gid: u32, mode: u32) -> FileMeta {
        FileMeta { uid, gid, mode }
    }

    #[test]
    fn keepalived_permission_rules() {
        // Root runs anything with an x bit; others need their class's bit.
        assert!(meta(5, 5, FILE | 0o001).executable_by((0, 0)));
        assert!(!meta(5, 5, FILE | 0o644).executable_by((0, 0)));
        assert!(meta(7, 9, FILE | 0o100).executable_by((7, 1)));
        assert!(!meta(7, 9, FILE | 0o011).executable_by((7, 9)));
        assert!(meta(7, 9, FILE | 0o010).executable_by((8, 9)));
        assert!(!meta(7, 9, FILE | 0o010).executable_by((8, 1)));
        assert!(meta(7, 9, FILE | 0o001).executable_by((8, 1)));
        // Root-owned, written by root only: safe. /tmp (sticky, root) too; a sticky file not.
        assert!(!meta(0, 0, DIR | 0o755).unsafe_for_root());
        assert!(!meta(0, 0, DIR | 0o1777).unsafe_for_root());
        assert!(meta(0, 0, FILE | 0o1777).unsafe_for_root());
        assert!(meta(0, 0, DIR | 0o777).unsafe_for_root());
        assert!(meta(0, 5, DIR | 0o775).unsafe_for_root());
        assert!(!meta(0, 0, DIR | 0o775).unsafe_for_root());
        assert!(meta(1, 0, FILE | 0o700).unsafe_for_root());
        // Set-uid root needs protection even when run by another user.
        assert!(meta(0, 0, FILE | 0o4755).runs_as_root((5, 5)));
        assert!(!meta(0, 0, FILE | 0o755).runs_as_root((5, 5)));
        assert_eq!(program("  '/bin/x' a b"), "/bin/x");
        assert_eq!(
            components(Path::new("/a//b/c")),
            ["/", "/a", "/a/b", "/a/b/c"].map(PathBuf::from)
        );
    }

    /// A machine described as data: files and users.
    struct Table {
        files: Vec<(&'static str, FileMeta)>,
        users: Vec<(&'static str, Ids)>,
    }

    impl System for Table {
        fn user(&self, user: &str, _group: Option<&str>) -> Option<Ids> {
            self.users.iter().find(|u| u.0 == user).map(|u| u.1)
        }
        fn stat(&self, path: &Path) -> Option<FileMeta> {
            self.files
                .iter()
                .find(|f| Path::new(f.0) == path)
                .map(|f| f.1)
        }
    }

    fn machine(users: Vec<(&'static str, Ids)>) -> Table {
        let root_dir = meta(0, 0, DIR | 0o755);
        Table {
            files: vec![
                ("/", root_dir),
                ("/etc", root_dir),
                ("/etc/ok.sh", meta(0, 0, FILE | 0o755)),
                ("/etc/plain.sh", meta(0, 0, FILE | 0o644)),
                ("/etc/open.sh", meta(0, 0, FILE | 0o777)),
                ("/usr", root_dir),
                ("/usr/bin", root_dir),
                ("/usr/bin/test", meta(0, 0, FILE | 0o755)),
            ],
            users,
        }
    }

    fn cfg(global: &str) -> Config {
        let text = text(global);
        load_str(
            &MemFiles::default(),
            Path::new("/k.conf"),
            &text,
            &LoadOptions::default(),
        )
        .unwrap()
        .0
    }

    fn text(global: &str) -> String {
        format!(
            "global_defs {{\n{global}\n}}\n\
             vrrp_script ok {{\n script \"/etc/ok.sh arg\"\n}}\n\
             vrrp_script gone {{\n script /etc/missing.sh\n}}\n\
             vrrp_script plain {{\n script /etc/plain.sh\n}}\n\
             vrrp_script open {{\n script /etc/open.sh\n}}\n\
             vrrp_script bare {{\n script \"test -e /x\"\n}}\n\
             vrrp_script mine {{\n script /etc/open.sh\n user alice\n}}\n\
             vrrp_script ghost {{\n script /etc/ok.sh\n user nobody-here\n}}\n\
             vrrp_instance V {{\n interface eth0\n virtual_router_id 1\n \
             virtual_ipaddress {{\n 192.0.2.1\n }}\n notify_master /etc/open.sh\n}}\n"
        )
    }

    #[test]
    fn findings_point_at_the_scripts_in_the_configuration() {
        let text = text("enable_script_security\nscript_user root").replace(
            " notify_master",
            " track_script {\n  gone\n }\n notify_master",
        );
        let m = machine(vec![("root", (0, 0)), ("alice", (1000, 1000))]);
        let hook = |c: &Config| located(vet(c, &m));
        let opts = LoadOptions {
            vet_scripts: Some(&hook),
            ..Default::default()
        };
        let (_, d) = load_str(&MemFiles::default(), Path::new("/k.conf"), &text, &opts).unwrap();
        let at: Vec<String> = d
            .iter()
            .map(|d| d.to_string().lines().next().unwrap().to_owned())
            .collect();
        // The missing script on its `script` line, with a note where an instance tracks it.
        assert!(at.contains(&"/k.conf:9:9: warning: vrrp_script `gone`: `/etc/missing.sh` does not exist; the script is disabled".to_owned()), "{at:#?}");
        assert!(
            at.contains(
                &"/k.conf:35:3: note: the warning at /k.conf:9 applies here too".to_owned()
            ),
            "{at:#?}"
        );
        // `/etc/open.sh` is also the notify_master: shown once, where it first appears.
        assert!(
            at.iter()
                .any(|l| l.starts_with("/k.conf:15:9: warning: vrrp_script `open`")),
            "{at:#?}"
        );
    }

    fn runs(v: &Vetting, c: &Config, name: &str) -> Option<Option<Ids>> {
        let s = c.vrrp_scripts.iter().find(|s| s.name == name).unwrap();
        v.run_as(&s.script, s.user.as_ref())
    }

    #[test]
    fn without_script_security_unsafe_scripts_run_and_are_reported() {
        let c = cfg("");
        let v = vet(&c, &machine(vec![("alice", (1000, 1000))]));
        assert_eq!(runs(&v, &c, "ok"), Some(None));
        assert_eq!(runs(&v, &c, "bare"), Some(None));
        assert_eq!(runs(&v, &c, "open"), Some(None));
        assert_eq!(runs(&v, &c, "mine"), Some(Some((1000, 1000))));
        for gone in ["gone", "plain", "ghost"] {
            assert_eq!(runs(&v, &c, gone), None, "{gone}");
        }
        assert_eq!(v.run_as("/etc/open.sh", None), Some(None));
        let text: Vec<&str> = v.findings.iter().map(|f| f.message.as_str()).collect();
        assert!(text
            .iter()
            .any(|m| m.contains("`/etc/missing.sh` does not exist")));
        assert!(text
            .iter()
            .any(|m| m.contains("not executable for uid:gid 0:0")));
        assert!(text
            .iter()
            .any(|m| m.contains("user `nobody-here` does not exist")));
        assert!(text
            .iter()
            .any(|m| m.starts_with("vrrp_script `open`: `/etc/open.sh` runs as root but")));
        assert!(
            text.last().unwrap().contains("SECURITY VIOLATION"),
            "{text:?}"
        );
    }

    #[test]
    fn script_security_disables_unsafe_root_scripts_only() {
        let c = cfg("enable_script_security\nscript_user root");
        let v = vet(
            &c,
            &machine(vec![("root", (0, 0)), ("alice", (1000, 1000))]),
        );
        assert_eq!(runs(&v, &c, "ok"), Some(None));
        assert_eq!(runs(&v, &c, "open"), None);
        assert_eq!(v.run_as("/etc/open.sh", None), None);
        // Run as a plain user, a writable script harms only that user.
        assert_eq!(runs(&v, &c, "mine"), Some(Some((1000, 1000))));
        assert!(v.findings.iter().all(|f| !f.message.contains("SECURITY")));
        assert!(v.findings.iter().any(|f| f
            .message
            .contains("writable by non-root (enable_script_security)")));
    }

    #[test]
    fn the_default_user_and_missing_users() {
        // keepalived_script exists: scripts run as it.
        let c = cfg("enable_script_security");
        let v = vet(&c, &machine(vec![(DEFAULT_USER, (900, 900))]));
        assert_eq!(runs(&v, &c, "ok"), Some(Some((900, 900))));
        // It does not: under enable_script_security keepalived disables the scripts.
        let v = vet(&c, &machine(vec![("alice", (1000, 1000))]));
        assert_eq!(runs(&v, &c, "ok"), None);
        assert_eq!(runs(&v, &c, "mine"), Some(Some((1000, 1000))));
        assert!(v.findings[0].message.contains(DEFAULT_USER));
        // A script_user that does not exist disables them too.
        let c = cfg("script_user nosuch");
        let v = vet(&c, &machine(vec![]));
        assert_eq!(runs(&v, &c, "ok"), None);
        assert!(v.findings[0]
            .message
            .contains("script_user `nosuch` does not exist"));
    }

    #[test]
    fn disabled_scripts_leave_the_configuration() {
        let mut c = cfg("enable_script_security\nscript_user root");
        c.instances[0].track_script = ["ok", "open", "undefined"]
            .map(|name| crate::config::TrackScript {
                name: name.into(),
                weight: None,
                reverse: false,
            })
            .into();
        c.instances[0].notify.backup = Some("/etc/ok.sh".into());
        let v = vet(
            &c,
            &machine(vec![("root", (0, 0)), ("alice", (1000, 1000))]),
        );
        strip_disabled(&mut c, &v);
        let names: Vec<&str> = c.vrrp_scripts.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["ok", "bare", "mine"]);
        let tracked: Vec<&str> = c.instances[0]
            .track_script
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(tracked, ["ok"]);
        assert_eq!(c.instances[0].notify.master, None);
        assert_eq!(c.instances[0].notify.backup.as_deref(), Some("/etc/ok.sh"));
    }
}
