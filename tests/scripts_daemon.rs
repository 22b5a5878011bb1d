//! Scripts run by the daemon (root, network namespaces): timed-out vrrp_scripts whose children
//! ignore SIGTERM are killed as a group, never overlap, and do not outlive the daemon.

mod common;

use common::{vrrp_conf, wait_until, Keeplite, Lan};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A directory of the test's own for scripts and their traces, removed on drop.
struct ScriptDir(PathBuf);

impl ScriptDir {
    fn new(tag: &str) -> ScriptDir {
        let d = std::env::temp_dir().join(format!("kl{}_{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        ScriptDir(d)
    }

    /// Writes file `name` with permissions `mode`.
    fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        set_mode(&p, mode);
        p
    }
}

impl Drop for ScriptDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Live (not zombie) processes whose command line mentions `needle`.
fn live_with(needle: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter(|e| {
            let p = e.path();
            let cmd = std::fs::read(p.join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
            !zombie && String::from_utf8_lossy(&cmd).contains(needle)
        })
        .count()
}

fn lines(p: &Path) -> usize {
    std::fs::read_to_string(p).map_or(0, |s| s.lines().count())
}

/// The script's shell dies of SIGTERM at its timeout, but leaves two children that ignore it.
/// Before the fix they lived on (11 leaked processes in 20 s) and survived keeplite's exit.
#[test]
fn timed_out_script_children_are_killed_and_never_pile_up() {
    let lan = Lan::new(1);
    let dir = ScriptDir::new("stubborn");
    // A name of its own for `sleep`, so the test counts exactly these processes.
    let child = dir.0.join("zz-sleep");
    std::os::unix::fs::symlink("/bin/sleep", &child).unwrap();
    let runs = dir.0.join("runs");
    let script = dir.write(
        "stubborn.sh",
        &format!(
            "echo run >> {}\n(trap '' TERM; exec {c} 1000) &\n(trap '' TERM; exec {c} 1000) &\nwait\n",
            runs.display(),
            c = child.display()
        ),
        0o644,
    );
    let conf = format!(
        "vrrp_script chk {{\n  script \"/bin/sh {}\"\n  interval 1\n  timeout 1\n}}\n{}",
        script.display(),
        vrrp_conf(
            "VI_1",
            51,
            150,
            &["192.0.2.100/24"],
            "track_script {\n    chk\n  }"
        )
    );
    let mut k = Keeplite::start(&lan.hosts[0], &conf);
    let needle = child.to_str().unwrap();
    let mut most = 0;
    // Four runs started: three timed out (TERM, then KILL after the grace period).
    let ran = wait_until(Duration::from_secs(30), || {
        most = most.max(live_with(needle));
        lines(&runs) >= 4
    });
    assert!(ran, "runs: {}\n{}", lines(&runs), k.log());
    assert!(
        most <= 2,
        "{most} children alive at once: runs overlapped or outlived their timeout"
    );
    k.child.signal("TERM");
    assert!(k.child.wait_timeout(Duration::from_secs(10)).is_some());
    assert_eq!(
        live_with(needle),
        0,
        "a script outlived keeplite\n{}",
        k.log()
    );
}

/// Runs `cmd` as user nobody.
fn as_nobody(cmd: &str) {
    let ok = std::process::Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "sh",
            "-c",
            cmd,
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "as nobody: {cmd}");
}

fn set_mode(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// A world-writable notify script rewritten by an unprivileged user ran as root. Under
/// enable_script_security it is disabled (a safe one beside it still runs as root); with a
/// `script_user` it runs as that user.
#[test]
fn writable_notify_script_never_runs_as_root() {
    let lan = Lan::new(1);
    let dir = ScriptDir::new("secure");
    set_mode(&dir.0, 0o755);
    let out = dir.0.join("out");
    std::fs::create_dir(&out).unwrap();
    set_mode(&out, 0o777);
    let open = dir.write("open.sh", "#!/bin/sh\nexit 0\n", 0o777);
    let safe = dir.write(
        "safe.sh",
        &format!(
            "#!/bin/sh\nsleep 0.5\nid -u > {}/safe.tmp && mv {0}/safe.tmp {0}/safe\n",
            out.display()
        ),
        0o755,
    );
    // The attack: nobody replaces the script's body.
    as_nobody(&format!(
        "printf '#!/bin/sh\\nid -u > {}/pwned\\n' > {}",
        out.display(),
        open.display()
    ));
    let instance = |extra: &str| {
        vrrp_conf(
            "VI_1",
            51,
            150,
            &["192.0.2.100/24"],
            &format!(
                "state MASTER\n  notify_master \"{}\"\n  {extra}",
                open.display()
            ),
        )
    };
    let conf = format!(
        "global_defs {{\n  enable_script_security\n  script_user root\n}}\n{}",
        instance(&format!("notify \"{}\"", safe.display()))
    );
    let k = Keeplite::start(&lan.hosts[0], &conf);
    k.expect_state("VI_1", "MASTER", 10);
    let done = wait_until(Duration::from_secs(10), || out.join("safe").exists());
    assert!(done, "the safe notify script did not run\n{}", k.log());
    assert_eq!(std::fs::read_to_string(out.join("safe")).unwrap(), "0\n");
    assert!(
        !out.join("pwned").exists(),
        "the writable script ran as root"
    );
    assert!(
        k.log()
            .contains("writable by non-root (enable_script_security); the script is disabled"),
        "{}",
        k.log()
    );
    drop(k);
    let conf = format!("global_defs {{\n  script_user nobody\n}}\n{}", instance(""));
    let k = Keeplite::start(&lan.hosts[0], &conf);
    k.expect_state("VI_1", "MASTER", 10);
    let ran = wait_until(Duration::from_secs(10), || out.join("pwned").exists());
    assert!(ran, "{}", k.log());
    let uid = std::fs::read_to_string(out.join("pwned")).unwrap();
    assert_ne!(uid.trim(), "0", "ran as root");
}

/// Notify scripts see `/` as working directory and only PATH from keeplite's environment.
#[test]
fn notify_scripts_get_a_minimal_environment() {
    let lan = Lan::new(1);
    let dir = ScriptDir::new("env");
    let env = dir.0.join("env");
    let script = dir.write(
        "env.sh",
        &format!(
            "#!/bin/sh\n{{ pwd; env | sort; }} > {}.tmp && mv {0}.tmp {0}\n",
            env.display()
        ),
        0o755,
    );
    let conf = vrrp_conf(
        "VI_1",
        51,
        150,
        &["192.0.2.100/24"],
        &format!("state MASTER\n  notify_master \"{}\"", script.display()),
    );
    let k = Keeplite::start(&lan.hosts[0], &conf);
    assert!(
        wait_until(Duration::from_secs(15), || env.exists()),
        "{}",
        k.log()
    );
    let text = std::fs::read_to_string(&env).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("/"));
    let vars: Vec<&str> = lines
        .map(|l| l.split('=').next().unwrap())
        .filter(|v| !["PWD", "SHLVL", "_"].contains(v))
        .collect();
    assert_eq!(vars, ["PATH"], "{text}");
    assert!(text.contains("\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"));
}

/// `-t` reports what the daemon will disable, with keepalived's rules, and exits 4.
#[test]
fn dash_t_reports_missing_unexecutable_and_unsafe_scripts() {
    let lan = Lan::new(1);
    let dir = ScriptDir::new("dash-t");
    set_mode(&dir.0, 0o755);
    dir.write("plain.sh", "#!/bin/sh\n", 0o644);
    dir.write("open.sh", "#!/bin/sh\n", 0o777);
    let d = dir.0.display();
    let scripts = format!(
        "vrrp_script gone {{\n  script \"{d}/missing.sh\"\n}}\n\
         vrrp_script plain {{\n  script \"{d}/plain.sh\"\n}}\n\
         vrrp_script ghost {{\n  script \"{d}/open.sh\"\n  user no-such-user-kl\n}}\n"
    );
    let instance = vrrp_conf(
        "VI_1",
        51,
        150,
        &["192.0.2.100/24"],
        &format!("notify_master \"{d}/open.sh\""),
    );
    let check = |global: &str| {
        let conf = dir.write("k.conf", &format!("{global}{scripts}{instance}"), 0o644);
        let out = lan.hosts[0].sh_output(&format!(
            "{} -t -f {}",
            env!("CARGO_BIN_EXE_keeplite"),
            conf.display()
        ));
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), text)
    };
    let (code, text) = check("");
    assert_eq!(code, Some(4), "{text}");
    for want in [
        "vrrp_script `gone`: `",
        "missing.sh` does not exist; the script is disabled",
        "plain.sh` is not executable for uid:gid 0:0; the script is disabled",
        "vrrp_script `ghost`: user `no-such-user-kl` does not exist; the script is disabled",
        "open.sh` runs as root but `",
        "SECURITY VIOLATION - scripts are being executed but script_security not enabled.",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let (code, text) = check("global_defs {\n  enable_script_security\n  script_user root\n}\n");
    assert_eq!(code, Some(4), "{text}");
    assert!(
        text.contains("open.sh` runs as root but `")
            && text.contains("(enable_script_security); the script is disabled"),
        "{text}"
    );
    assert!(!text.contains("SECURITY VIOLATION"), "{text}");
}
