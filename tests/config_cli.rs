//! Command-line behaviour of the binary that does not need a network namespace.

use std::process::{Command, Output};

fn kl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keeplite"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn version_and_help() {
    let out = kl(&["-v"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("keeplite {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = kl(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--config-test[=FILE]"));
}

#[test]
fn bad_option_and_missing_file_exit_1() {
    let out = kl(&["--frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown option `--frobnicate`"));
    let out = kl(&["-t", "-f", "/nonexistent/keeplite.conf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("error: cannot read configuration file `/nonexistent/keeplite.conf`"));
}

#[test]
fn dump_is_keepalived_syntax() {
    let out = kl(&[
        "-d",
        "-i",
        "x",
        "-f",
        "tests/corpus/samples/keepalived.conf.virtual_server_group",
    ]);
    let dump = String::from_utf8_lossy(&out.stdout);
    assert!(
        dump.contains("virtual_server_group VSG_1 {\n    10.0.0.1 8080\n"),
        "{dump}"
    );
    assert!(
        dump.contains("    192.168.200.3-10 80\n    fwmark 1\n"),
        "{dump}"
    );
    assert!(dump.contains("virtual_server group VSG_1 {\n"), "{dump}");
    assert!(dump.contains("            retry 3\n"), "{dump}");
}

/// A scratch directory for one test, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("kl-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `-t` with `stdin` as standard input; (status, stderr). Before only regular files were read,
/// a FIFO include blocked here forever and `/dev/zero` grew until memory ran out.
fn check_with_stdin(file: &str, stdin: std::process::Stdio) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keeplite"))
        .args(["-t", "-f", file])
        .stdin(stdin)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn hostile_includes_are_refused_with_the_include_line() {
    let s = Scratch::new("hostile");
    let fifo = s.0.join("fifo.conf");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let main = s.write(
        "k.conf",
        "! hostile\ninclude fifo.conf\ninclude /dev/zero\n",
    );
    let (code, err) = check_with_stdin(&main, std::process::Stdio::null());
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "k.conf:2:9: error: cannot read included file `{}`: it is a FIFO; keeplite reads only regular files",
            fifo.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "k.conf:3:9: error: cannot read included file `/dev/zero`: it is a character device"
        ),
        "{err}"
    );
}

#[test]
fn main_file_must_be_regular_and_bounded() {
    let (code, err) = check_with_stdin("/proc/self/fd/0", std::process::Stdio::piped());
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("error: cannot read configuration file `/proc/self/fd/0`: it is a FIFO"),
        "{err}"
    );
    assert!(err.contains("keeplite -d > FILE"), "{err}");
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let (code, err) = check_with_stdin("/proc/self/fd/0", zero.into());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("it is a character device"), "{err}");
    let s = Scratch::new("huge");
    let huge = s.write("huge.conf", &"! padding padding padding\n".repeat(700_000));
    let (code, err) = check_with_stdin(&huge, std::process::Stdio::null());
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("larger than the 16777216 bytes left under the configuration size limit"),
        "{err}"
    );
}
