//! Files keeplite writes as root, against links planted by a local user (issue 9 item 6): the
//! pid file and the last-known-good copy's temporary file must never be written through a
//! symlink, and directories others can write in (without the sticky bit) are refused.

mod common;

use common::{spawn_logged, wait_until, ChildGuard, Netns};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const KEEPLITE: &str = env!("CARGO_BIN_EXE_keeplite");

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("kl{}_pl{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(d.join("keeplite.conf"), "global_defs {\n  router_id t\n}\n").unwrap();
        std::fs::write(d.join("victim"), "precious\n").unwrap();
        Dir(d)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("log")).unwrap_or_default()
    }

    fn victim(&self) -> String {
        std::fs::read_to_string(self.path("victim")).unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `sh -c "PREP; exec keeplite -n -l -f conf --control sock ARGS"` in `ns`: inside
/// PREP, `$$` is the pid keeplite will have.
fn start(ns: &Netns, d: &Dir, prep: &str, args: &[&str]) -> ChildGuard {
    let mut cmd = ns.command("sh");
    cmd.arg("-c")
        .arg(format!("{prep}; exec \"$0\" -n -l \"$@\""))
        .arg(KEEPLITE)
        .arg("-f")
        .arg(d.path("keeplite.conf"))
        .arg("--control")
        .arg(d.path("ctl.sock"))
        .args(args)
        .current_dir(&d.0);
    spawn_logged(cmd, &d.0)
}

fn serving(d: &Dir) -> bool {
    wait_until(Duration::from_secs(10), || {
        Command::new(KEEPLITE)
            .args(["status", "--control"])
            .arg(d.path("ctl.sock"))
            .output()
            .unwrap()
            .status
            .success()
    })
}

fn is_regular(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file())
}

#[test]
fn pid_file_symlink_is_replaced_not_followed() {
    let ns = Netns::new("pl");
    let d = Dir::new("pid");
    let pid_file = d.path("keeplite.pid");
    symlink(d.path("victim"), &pid_file).unwrap();
    let k = start(&ns, &d, "true", &["-p", pid_file.to_str().unwrap()]);
    assert!(serving(&d), "{}", d.log());
    assert_eq!(
        d.victim(),
        "precious\n",
        "root wrote through the planted link"
    );
    assert!(is_regular(&pid_file));
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(pid.trim(), k.pid().to_string());
}

/// The copy's temporary names are derived from the daemon's pid, which a local user can
/// guess: links planted there must not make root write the victim.
#[test]
fn last_known_good_temporary_link_is_not_followed() {
    let ns = Netns::new("pl");
    let d = Dir::new("good");
    let prep = "for n in '' .0 .1 .2 .3; do ln -s victim .keeplite.conf.good.tmp$$$n; done";
    let _k = start(&ns, &d, prep, &[]);
    assert!(serving(&d), "{}", d.log());
    assert_eq!(
        d.victim(),
        "precious\n",
        "root wrote through the planted link"
    );
    let good = d.path("keeplite.conf.good");
    assert!(is_regular(&good));
    assert_eq!(
        std::fs::read(&good).unwrap(),
        std::fs::read(d.path("keeplite.conf")).unwrap()
    );
}

/// A pid file in a directory anyone may rename files in is refused, with the reason.
#[test]
fn pid_file_in_a_world_writable_directory_is_refused() {
    let ns = Netns::new("pl");
    let d = Dir::new("open");
    let open = d.path("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let pid_file = open.join("keeplite.pid");
    let _k = start(&ns, &d, "true", &["-p", pid_file.to_str().unwrap()]);
    assert!(serving(&d), "{}", d.log());
    assert!(!pid_file.exists());
    assert!(d.log().contains("refusing to write in"), "{}", d.log());
}
