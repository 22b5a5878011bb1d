//! Corpus tests: every seed config, keepalived sample and broken config against its golden
//! `-t` output; the `-d` round trip; `-i` selection; the example configs.
//! Runs the binary in a fresh network namespace (`unshare -n`, root), so interface checks are
//! deterministic. `KEEPLITE_BLESS=1` rewrites the goldens.

use keeplite::config::{dump, load, load_str, LoadOptions, MemFiles};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_keeplite");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `sh -c script` in a new network namespace from the crate root.
fn in_netns(script: &str) -> std::process::Output {
    Command::new("unshare")
        .args(["-n", "-m", "sh", "-c", script])
        .env("KL", BIN)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("unshare (util-linux) must be installed and the tests run as root")
}

fn corpus(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/corpus").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.ends_with(".expected") && !name.ends_with(".inc") && !name.ends_with(".md")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap().display().to_string()
}

/// `-t` output and status of one corpus file, as stored in the golden.
fn check_output(file: &Path) -> (String, i32) {
    let out = in_netns(&format!("\"$KL\" -t -i corpus -f '{}'", rel(file)));
    let code = out.status.code().expect("exit status");
    let text = format!(
        "{}exit status: {code}\n",
        String::from_utf8_lossy(&out.stderr)
    );
    (text, code)
}

fn goldens(dir: &str, allowed: &[i32]) {
    let bless = std::env::var_os("KEEPLITE_BLESS").is_some();
    let mut failures = Vec::new();
    for f in corpus(dir) {
        let (got, code) = check_output(&f);
        let golden = PathBuf::from(format!("{}.expected", f.display()));
        if bless {
            std::fs::write(&golden, &got).unwrap();
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        if got != want {
            failures.push(format!("{}: output differs from golden:\n{got}", rel(&f)));
        }
        if !allowed.contains(&code) {
            failures.push(format!(
                "{}: exit status {code}, expected {allowed:?}",
                rel(&f)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seed_goldens() {
    goldens("seed", &[0, 4]);
}

#[test]
fn sample_goldens() {
    goldens("samples", &[0, 4]);
}

/// Mistakes keepalived runs anyway (with a message): keeplite runs them as keepalived does and
/// warns (issue 10: never refuse what keepalived runs).
#[test]
fn tolerated_goldens_warn() {
    goldens("tolerated", &[4]);
}

#[test]
fn broken_goldens_fail_with_location() {
    goldens("broken", &[1]);
    for f in corpus("broken") {
        let (out, _) = check_output(&f);
        let located = format!("{}:", rel(&f));
        assert!(
            out.lines()
                .any(|l| l.starts_with("tests/corpus/broken/") && l.contains(": error: ")),
            "{located} no file:line:col error in\n{out}"
        );
    }
}

#[test]
fn typo_seeds_point_at_the_line() {
    let (out, code) = check_output(&root().join("tests/corpus/seed/vrrp-dual-master-typo.conf"));
    assert_eq!(code, 4);
    assert!(out.contains(
        "vrrp-dual-master-typo.conf:20:9: warning: unknown keyword `uth_pass` in authentication"
    ));
    assert!(out.contains("did you mean `auth_pass`?"));
    let (out, _) = check_output(&root().join("tests/corpus/seed/vrrp-script-notify-master.conf"));
    assert!(out.contains(
        "vrrp-script-notify-master.conf:21:24: warning: extra words after the value of `auth_pass`"
    ));
}

fn opts(id: &str) -> LoadOptions<'static> {
    LoadOptions {
        config_id: id.into(),
        interface_exists: None,
        ..Default::default()
    }
}

#[test]
fn dump_round_trip_every_corpus_file() {
    for f in corpus("seed").into_iter().chain(corpus("samples")) {
        let (cfg, first) = load(&f, &opts("corpus")).unwrap_or_else(|d| panic!("{d:?}"));
        let text = dump(&cfg);
        let (again, diags) = load_str(&MemFiles::default(), Path::new("dump"), &text, &opts(""))
            .unwrap_or_else(|d| panic!("{}: dump does not parse: {d:?}\n{text}", rel(&f)));
        // Only what still holds for the same model (a command keepalived would run without a
        // shell) may be said again.
        let new: Vec<_> = diags
            .iter()
            .filter(|d| !first.iter().any(|o| o.message == d.message))
            .collect();
        assert!(new.is_empty(), "{}: dump draws {new:?}", rel(&f));
        assert_eq!(cfg, again, "{}: round trip changed the model", rel(&f));
        assert_eq!(text, dump(&again));
    }
}

#[test]
fn dump_feeds_config_test() {
    // A pipe is not a regular file (a FIFO include would block a reload): the dump goes to a
    // file first.
    let out = in_netns(
        "ip link set lo up; f=$(mktemp); \"$KL\" -d -i corpus -f tests/corpus/samples/keepalived.conf.sample 2>/dev/null >$f; \
         \"$KL\" -t -f $f; echo \"status $?\"; rm -f $f",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Only the missing interface remains: the e-mail settings are gone from the dump.
    assert!(stdout.ends_with("status 4\n"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/tmp/"), "{stderr}");
    assert!(
        stderr.contains("interface `eth0` does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("e-mail"), "{stderr}");
}

#[test]
fn config_id_selects_lines() {
    let f = root().join("tests/corpus/samples/keepalived.conf.conditional_conf");
    for (id, prio, script) in [
        ("high", 170, "/etc/keepalived/scripts/check_high_VI_0.sh"),
        ("low", 85, "/etc/keepalived/scripts/check_low_VI_0.sh"),
    ] {
        let (cfg, diags) = load(&f, &opts(id)).unwrap();
        assert_eq!(cfg.instances[0].priority, prio);
        assert_eq!(cfg.vrrp_scripts[0].script, script);
        assert_eq!(cfg.instances[0].track_script[0].name, "check_VI_0");
        // net_namespace is not supported: exactly that warning.
        assert_eq!(diags.len(), 1, "{diags:?}");
    }
    let out = in_netns(&format!("\"$KL\" -t -i high -f '{}'", rel(&f)));
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn example_configs_run_as_written() {
    for name in [
        "keepalived.conf",
        "lvs-dr-director.conf",
        "ha-pair-unicast.conf",
    ] {
        // The notify script the examples name is the user's own: a stub on a private tmpfs.
        let out = in_netns(&format!(
            "mount -t tmpfs -o mode=755 none /usr/local/bin && \
             printf '#!/bin/sh\\n' >/usr/local/bin/vrrp-notify && chmod 755 /usr/local/bin/vrrp-notify && \
             ip link add eth0 type veth peer name eth1 && \"$KL\" -t -f config/{name}"
        ));
        assert_eq!(
            out.status.code(),
            Some(0),
            "config/{name}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
