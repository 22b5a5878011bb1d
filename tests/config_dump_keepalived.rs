//! `keeplite -d` must load in keepalived: for every seed and sample corpus file, Debian's
//! keepalived 2.2.7 (`keepalived -t`) finds no problem in the dump that it did not find in the
//! original. Both run in a network namespace of the test's own that has the interfaces the file
//! names (keepalived -t looks them up).

mod common;

use common::Netns;
use keeplite::config::{dump, load, LoadOptions};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["seed", "samples"] {
        for e in std::fs::read_dir(root().join("tests/corpus").join(dir)).unwrap() {
            let p = e.unwrap().path();
            if !p.to_string_lossy().ends_with(".expected") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// keepalived's messages, without the `(file: Line N)` prefix (the dump's lines differ).
fn messages(ns: &Netns, file: &Path) -> BTreeSet<String> {
    let out = ns.sh_output(&format!(
        "keepalived -t -l -D -i corpus -f '{}' 2>&1",
        file.display()
    ));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(
            |l| match l.strip_prefix('(').and_then(|r| r.split_once(") ")) {
                Some((place, rest)) if place.contains("Line ") => rest.to_string(),
                _ => l.to_string(),
            },
        )
        .collect()
}

#[test]
fn keepalived_loads_every_dump_without_new_messages() {
    let ns = Netns::new("kdump");
    let dir = std::env::temp_dir().join(format!("kl-kdump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut made: BTreeSet<String> = BTreeSet::new();
    let mut failures = Vec::new();
    for (k, f) in corpus().iter().enumerate() {
        let names = RefCell::new(Vec::new());
        let exists = |n: &str| {
            names.borrow_mut().push(n.to_string());
            true
        };
        let opts = LoadOptions {
            config_id: "corpus".into(),
            interface_exists: Some(&exists),
            ..Default::default()
        };
        let (cfg, _) = load(f, &opts).unwrap_or_else(|d| panic!("{}: {d:?}", f.display()));
        for name in names.into_inner() {
            if made.insert(name.clone()) {
                let peer = format!("kp{}", made.len());
                ns.sh(&format!(
                    "ip link add '{name}' type veth peer name {peer} && ip link set '{name}' up && ip link set {peer} up"
                ));
            }
        }
        let out = dir.join(format!("dump{k}.conf"));
        std::fs::write(&out, dump(&cfg)).unwrap();
        let before = messages(&ns, f);
        let after = messages(&ns, &out);
        let new: Vec<&String> = after.difference(&before).collect();
        if !new.is_empty() {
            failures.push(format!("{}: {new:#?}", f.display()));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
