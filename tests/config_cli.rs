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
