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

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
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
    let child = dir.write("child.sh", "trap '' TERM\nwhile :; do sleep 0.2; done\n");
    let runs = dir.0.join("runs");
    let script = dir.write(
        "stubborn.sh",
        &format!(
            "echo run >> {}\n/bin/sh {c} &\n/bin/sh {c} &\nwait\n",
            runs.display(),
            c = child.display()
        ),
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
