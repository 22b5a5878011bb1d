//! The wild corpus (`tests/corpus/wild/`): keepalived.conf files from public repositories, each
//! checked by Debian's keepalived (`keepalived -t`) and by keeplite (`keeplite -t`) side by side.
//!
//! Every file runs in a network namespace of its own that has the interfaces the file names
//! (veth links, up, with an address of each family the file uses) and inside a private root:
//! an overlay of `/` (changes land in a tmpfs) where every script the file names is an
//! executable stub, so keepalived's script checks see what the user's machine would have.
//! Nothing is written to the host: the overlay, its tmpfs and the links vanish with the
//! namespace. keepalived only ever runs with `-t`.
//!
//! The agreement table, per file:
//! - keepalived starts (`-t` exits 0, 5 or 6: ok / config warnings / script security) =>
//!   keeplite exits 0 or 4 (no false rejection);
//! - every keepalived message that names a line has a keeplite diagnostic on that line;
//!   messages without a line are matched by subject (the script, the security warning);
//! - keeplite's `-d` dump draws no keepalived message the original did not draw;
//! - keeplite's `-t` output equals the golden `F.expected` (`KEEPLITE_BLESS=1` rewrites it).
//!
//! Known open discrepancies are listed in `OPEN` with the reason; an entry that no longer
//! happens fails the test too, so the list only shrinks.

mod common;

use common::Netns;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_keeplite");
const DIR: &str = "tests/corpus/wild";
/// keepalived's `-t` exit codes for a configuration it runs: OK, CONFIG_TEST (messages), and
/// CONFIG_TEST_SECURITY (scripts disabled). 4 (CONFIG: fatal or bad interface) means it stops.
const KEEPALIVED_STARTS: [i32; 3] = [0, 5, 6];
/// Where the script search of both programs looks for bare command names.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Open discrepancies, each written up in /work/plan/wild-findings.md under its W-number:
/// (reason, finding, files). A finding is `exit 1` (false rejection), `line N` (keepalived
/// message on line N with no keeplite diagnostic there), `lineless: MSG` (a keepalived message
/// without a line that keeplite does not echo) or `dump: MSG` (a keepalived message on keeplite's
/// `-d` dump that the original did not draw). Entries that stop happening fail the test.
const OPEN: &[(&str, &str, &[&str])] = &[
    (
        "W7 values ending in `;`: keepalived -t exits 5, but its daemon stops at once (\"the \
         virtual router id must be set\" ... \"exited with permanent error CONFIG. \
         Terminating\"): keeplite refuses up front",
        "exit 1",
        &["059-course-semicolons-everywhere.conf"],
    ),
    (
        "W16 no usable script user: keepalived removes the script and says so at the end of \
         its vrrp_script block; keeplite says it on the `script` line (and notes the \
         track_script naming it)",
        "line 11",
        &["043-oracle-hash-in-quoted-script.conf"],
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    v.sort();
    v
}

/// The file's text with comments (`#`, `!` outside quotes) removed, one entry per line.
fn code_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let mut quoted = false;
            let mut out = String::new();
            for c in l.chars() {
                match c {
                    '"' => quoted = !quoted,
                    '#' | '!' if !quoted => break,
                    _ => {}
                }
                out.push(c);
            }
            out
        })
        .collect()
}

fn is_ipv6(word: &str) -> bool {
    let addr = word.split('/').next().unwrap_or("");
    addr.parse::<std::net::Ipv6Addr>().is_ok()
}

/// What the namespace must hold for one file: interfaces with their addresses, and the
/// scripts (absolute paths) to stub.
#[derive(Default, Debug)]
struct Needs {
    ifaces: BTreeMap<String, BTreeSet<String>>,
    scripts: BTreeSet<String>,
}

const SCRIPT_KEYWORDS: &[&str] = &[
    "script",
    "notify",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify_master_rx_lower_pri",
    "notify_up",
    "notify_down",
    "misc_path",
];

fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "lo"
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Reads the interfaces, source addresses and scripts a configuration names.
fn needs(text: &str) -> Needs {
    let mut n = Needs::default();
    let v6 = text.split_whitespace().any(is_ipv6);
    // The current vrrp_instance's interface and source addresses, assigned at its end.
    let (mut depth, mut inst_if, mut inst_src) = (0usize, None::<String>, Vec::<String>::new());
    let mut in_track_if = None::<usize>;
    for line in code_lines(text) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let first = words.first().copied().unwrap_or("");
        if let Some(d) = in_track_if {
            if depth == d && !first.is_empty() && first != "}" {
                add_if(&mut n, first);
            }
        }
        match first {
            "interface" | "lvs_sync_daemon_interface" | "lvs_sync_daemon" | "default_interface" => {
                if let Some(w) = words.get(1) {
                    add_if(&mut n, w);
                    if first == "interface" {
                        inst_if = Some(w.to_string());
                    }
                }
            }
            "track_interface" => match words.get(1) {
                Some(&"{") => in_track_if = Some(depth + 1),
                Some(w) => add_if(&mut n, w),
                None => {}
            },
            "unicast_src_ip" | "mcast_src_ip" => {
                let addr = words.get(1).and_then(|w| w.split('/').next()?.parse().ok());
                // A multicast "source" (seen in the wild) cannot be assigned; keepalived
                // reports it itself.
                if let Some(a) = addr.filter(|a: &std::net::IpAddr| !a.is_multicast()) {
                    inst_src.push(a.to_string());
                }
            }
            k if SCRIPT_KEYWORDS.contains(&k) => {
                let rest = line.trim_start()[k.len()..].trim();
                let cmd = rest.trim_start_matches('"').split_whitespace().next();
                if let Some(cmd) = cmd.map(|c| c.trim_end_matches('"')) {
                    if cmd.starts_with('/') {
                        n.scripts.insert(cmd.to_string());
                    } else if cmd
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                        && !in_path(cmd)
                    {
                        n.scripts.insert(format!("/usr/local/bin/{cmd}"));
                    }
                }
            }
            _ => {}
        }
        for pair in words.windows(2) {
            if pair[0] == "dev" {
                add_if(&mut n, pair[1]);
            }
        }
        for w in &words {
            if w.ends_with('{') && w.len() > 1 || *w == "{" {
                depth += 1;
            }
            if *w == "}" || w.starts_with('}') {
                depth = depth.saturating_sub(1);
                if in_track_if.is_some_and(|d| depth < d) {
                    in_track_if = None;
                }
                if depth == 0 {
                    if let Some(i) = inst_if.take() {
                        if let Some(set) = n.ifaces.get_mut(&i) {
                            set.extend(inst_src.iter().map(|a| {
                                let len = if is_ipv6(a) { 128 } else { 32 };
                                format!("{a}/{len}")
                            }));
                        }
                    }
                    inst_src.clear();
                }
            }
        }
    }
    for (k, addrs) in n.ifaces.values_mut().enumerate() {
        addrs.insert(format!("10.254.{k}.254/24"));
        if v6 {
            addrs.insert(format!("fd00:254:{k}::254/64"));
        }
    }
    n
}

fn add_if(n: &mut Needs, name: &str) {
    if valid_ifname(name) {
        n.ifaces.entry(name.to_string()).or_default();
    }
}

fn in_path(cmd: &str) -> bool {
    PATH.split(':').any(|d| Path::new(d).join(cmd).exists())
}

/// Output and exit status of one program run.
struct Run {
    text: String,
    code: i32,
}

/// Everything measured for one file.
struct Outcome {
    keepalived: Run,
    keeplite: Run,
    /// keepalived -t on keeplite's -d dump (None when keeplite refused the file).
    dump: Option<Run>,
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs both programs on `file` in a fresh namespace and private root.
fn run_file(file: &Path) -> Outcome {
    let text = std::fs::read_to_string(file).unwrap();
    let needs = needs(&text);
    let ns = Netns::new("wild");
    for (k, (name, addrs)) in needs.ifaces.iter().enumerate() {
        ns.sh(&format!(
            "ip link add {name} type veth peer name wpeer{k} && ip link set {name} up && \
             ip link set wpeer{k} up"
        ));
        for a in addrs {
            let extra = if is_ipv6(a) { " nodad" } else { "" };
            ns.sh(&format!("ip addr add {a} dev {name}{extra}"));
        }
    }
    let work = std::env::temp_dir().join(format!("{}.{}", ns.name, "w"));
    let out = work.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let rel = file.strip_prefix(root()).unwrap().display().to_string();
    std::fs::create_dir_all(work.join("t")).unwrap();
    let stubs: String = needs
        .scripts
        .iter()
        .map(|s| {
            let p = format!("\"$R\"{}", shell_quote(s));
            format!(
                "mkdir -p \"$(dirname {p})\"\n[ -e {p} ] || {{ printf '#!/bin/sh\\nexit 0\\n' > {p}; chmod 755 {p}; }}\n"
            )
        })
        .collect();
    // Runs in the private root; /klout is the only directory shared with the host.
    let inner = format!(
        "cd {root}\nexport PATH={PATH}\n\
         keepalived -t -l -D -f {rel} >/klout/ka 2>&1; echo $? >/klout/ka.rc\n\
         {bin} -t -f {rel} >/dev/null 2>/klout/kl; echo $? >/klout/kl.rc\n\
         if [ \"$(cat /klout/kl.rc)\" != 1 ]; then\n\
         {bin} -d -f {rel} >/klout/dump.conf 2>/dev/null\n\
         keepalived -t -l -D -f /klout/dump.conf >/klout/kd 2>&1; echo $? >/klout/kd.rc\nfi\n",
        root = shell_quote(&root().display().to_string()),
        rel = shell_quote(&rel),
        bin = shell_quote(BIN),
    );
    std::fs::write(out.join("inner.sh"), inner).unwrap();
    // Inside `ip netns exec` (its own mount namespace, slave to the host's): an overlay of `/`
    // whose upper layer is a tmpfs, then chroot into it.
    let script = format!(
        r#"set -e
W={work}
mount -t tmpfs kl-wild "$W/t"
mkdir -p "$W/t/u" "$W/t/w" "$W/t/r"
mount -t overlay kl-wild -o "lowerdir=/,upperdir=$W/t/u,workdir=$W/t/w" "$W/t/r"
R="$W/t/r"
mount --rbind /proc "$R/proc"
mount -t sysfs kl-wild "$R/sys"
mount --rbind /dev "$R/dev"
mkdir -p "$R/klout"
mount --bind "$W/out" "$R/klout"
{stubs}
chroot "$R" /bin/sh /klout/inner.sh
"#,
        work = shell_quote(&work.display().to_string()),
    );
    let status = Command::new("ip")
        .args(["netns", "exec", &ns.name, "sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .expect("ip netns exec");
    assert!(
        status.status.success(),
        "{rel}: namespace setup failed:\n{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let read = |name: &str| -> Option<Run> {
        let code = std::fs::read_to_string(out.join(format!("{name}.rc"))).ok()?;
        Some(Run {
            text: std::fs::read_to_string(out.join(name)).unwrap_or_default(),
            code: code.trim().parse().unwrap(),
        })
    };
    let outcome = Outcome {
        keepalived: read("ka").expect("keepalived ran"),
        keeplite: read("kl").expect("keeplite ran"),
        dump: read("kd"),
    };
    // The tmpfs and overlay were in the namespace's mount table only: nothing to unmount here.
    let _ = std::fs::remove_dir_all(&work);
    outcome
}

/// keepalived's `(Line N) msg` / `(file: Line N) msg`: (line, message).
fn keepalived_messages(text: &str) -> Vec<(Option<usize>, String)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            if let Some(rest) = l.strip_prefix('(') {
                if let Some((head, msg)) = rest.split_once(") ") {
                    let num = head.rsplit_once("Line ").map(|(_, n)| n).unwrap_or(head);
                    if let Ok(n) = num.parse() {
                        return (Some(n), msg.to_string());
                    }
                }
            }
            (None, l.to_string())
        })
        .collect()
}

/// Lines keeplite spoke about (`rel:LINE:COL: ...`). A diagnostic that drops a whole block
/// ("block ignored", "accepted but ignored", "line ignored", "statement ignored", on the line
/// that opens it) speaks for every line of that block.
fn keeplite_lines(text: &str, rel: &str, source: &str) -> BTreeSet<usize> {
    const WHOLE: &[&str] = &[
        "block ignored",
        "accepted but ignored",
        "line ignored",
        "statement ignored",
    ];
    let code = code_lines(source);
    let mut lines = BTreeSet::new();
    for (n, diag) in diagnostics(text, rel) {
        lines.insert(n);
        if WHOLE.iter().any(|w| diag.contains(w))
            && code.get(n - 1).is_some_and(|l| l.contains('{'))
        {
            lines.extend(n..=block_end(&code, n - 1));
        }
    }
    lines
}

/// keeplite's diagnostics on `rel`: (line, the whole diagnostic line).
fn diagnostics<'a>(text: &'a str, rel: &str) -> Vec<(usize, &'a str)> {
    text.lines()
        .filter_map(|l| {
            let at = l.strip_prefix(rel)?.strip_prefix(':')?;
            Some((at.split(':').next()?.parse().ok()?, l))
        })
        .collect()
}

/// The (1-based) line that closes the block opened on `code[start]`.
fn block_end(code: &[String], start: usize) -> usize {
    let mut depth = 0i32;
    for (i, l) in code.iter().enumerate().skip(start) {
        depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
        if depth <= 0 && i > start {
            return i + 1;
        }
    }
    code.len()
}

/// The lines of the block whose opening line starts with the words `head`.
fn block_lines(source: &str, head: &[&str]) -> Option<std::ops::RangeInclusive<usize>> {
    let code = code_lines(source);
    let start = code.iter().position(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.len() >= head.len() && w[..head.len()] == *head
    })?;
    Some(start + 1..=block_end(&code, start))
}

/// A lineless keepalived message is matched by its subject in keeplite's diagnostics: a
/// diagnostic naming the subject or on a line of its block, sharing a significant word.
fn lineless_matched(msg: &str, keeplite: &str, rel: &str, source: &str) -> bool {
    if let Some(name) = msg
        .strip_prefix("Disabling track script ")
        .and_then(|r| r.split_whitespace().next())
    {
        return keeplite.contains(&format!("`{name}`")) && keeplite.contains("script");
    }
    if msg.starts_with("SECURITY VIOLATION - ") {
        return keeplite.contains("enable_script_security");
    }
    if msg.starts_with("Non-existent interface specified") {
        return keeplite.contains("does not exist");
    }
    if msg.contains("missing '}'s or extra '{'s") {
        return keeplite.contains("unclosed `{`");
    }
    let Some((name, head, text)) = subject(msg) else {
        return false;
    };
    let block = block_lines(source, &head);
    let named = format!("`{}`", name.to_ascii_lowercase());
    let words = significant(text);
    diagnostics(keeplite, rel).into_iter().any(|(n, l)| {
        let l = l.to_ascii_lowercase();
        (l.contains(&named) || block.as_ref().is_some_and(|b| b.contains(&n)))
            && words.iter().any(|w| {
                // Long words as prefixes, short ones ('wlc', NAT) as whole words.
                w.len() >= 5 && l.contains(w.as_str())
                    || l.split(|c: char| !c.is_ascii_alphanumeric())
                        .any(|t| t == w)
            })
    })
}

/// What a lineless keepalived message is about: (name, first words of its block, the rest).
fn subject(msg: &str) -> Option<(&str, Vec<&str>, &str)> {
    if let Some((inst, text)) = msg.strip_prefix('(').and_then(|m| m.split_once(") ")) {
        return Some((inst, vec!["vrrp_instance", inst], text));
    }
    if let Some(rest) = msg.strip_prefix("Sync group ") {
        let (group, text) = rest.split_once(' ')?;
        return Some((group, vec!["vrrp_sync_group", group], text));
    }
    let rest = msg.strip_prefix("Warning: ").unwrap_or(msg);
    let (vs, text) = rest.strip_prefix("Virtual server ")?.split_once(": ")?;
    if let Some(mark) = vs.strip_prefix("FWM ") {
        return Some((vs, vec!["virtual_server", "fwmark", mark], text));
    }
    // `[10.0.0.1]:tcp:80`
    let (addr, port) = vs.strip_prefix('[')?.split_once(']')?;
    let port = port.rsplit(':').next()?;
    Some((vs, vec!["virtual_server", addr, port], text))
}

/// Words of five letters or more, cut to five (so "removes" meets "removing"), words in
/// capitals (NAT) and words keepalived quotes ('wlc'); vague ones left out.
fn significant(text: &str) -> BTreeSet<String> {
    const VAGUE: &[&str] = &[
        "warni", "ignor", "since", "there", "which", "keepa", "keepl",
    ];
    let quoted = text.split('\'').skip(1).step_by(2);
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| w.len() >= 5)
        .map(|w| w[..5].to_ascii_lowercase())
        .filter(|w| !VAGUE.contains(&w.as_str()))
        .chain(
            text.split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| w.len() >= 2 && w.chars().all(|c| c.is_ascii_uppercase()))
                .map(str::to_ascii_lowercase),
        )
        .chain(quoted.map(str::to_ascii_lowercase))
        .collect()
}

/// The findings for one file, as `OPEN` spells them.
fn findings(rel: &str, source: &str, o: &Outcome) -> Vec<String> {
    let mut f = Vec::new();
    let starts = KEEPALIVED_STARTS.contains(&o.keepalived.code);
    if starts && o.keeplite.code == 1 {
        f.push("exit 1".to_string());
    }
    let lines = keeplite_lines(&o.keeplite.text, rel, source);
    let original = keepalived_messages(&o.keepalived.text);
    for (line, msg) in &original {
        match line {
            Some(n) if !lines.contains(n) => f.push(format!("line {n}")),
            None if !lineless_matched(msg, &o.keeplite.text, rel, source) => {
                f.push(format!("lineless: {msg}"))
            }
            _ => {}
        }
    }
    if let Some(d) = &o.dump {
        let before: BTreeSet<&String> = original.iter().map(|(_, m)| m).collect();
        for (_, msg) in keepalived_messages(&d.text) {
            let msg = msg.replace("dump.conf", &file_name(rel));
            if !before.contains(&msg) {
                f.push(format!("dump: {msg}"));
            }
        }
    }
    f.sort();
    f.dedup();
    f
}

fn file_name(rel: &str) -> String {
    rel.rsplit('/').next().unwrap().to_string()
}

#[test]
fn wild_corpus_agrees_with_keepalived() {
    let files = files();
    assert!(
        files.len() >= 50,
        "the wild corpus has {} files",
        files.len()
    );
    let bless = std::env::var_os("KEEPLITE_BLESS").is_some();
    let threads = 4;
    let chunks: Vec<Vec<PathBuf>> = (0..threads)
        .map(|t| files.iter().skip(t).step_by(threads).cloned().collect())
        .collect();
    let results: Vec<(String, Outcome)> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|f| {
                            let rel = f.strip_prefix(root()).unwrap().display().to_string();
                            (rel, run_file(f))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut failures = Vec::new();
    let mut seen_open = BTreeSet::new();
    let mut report = String::new();
    // `KEEPLITE_WILD_FINDINGS=FILE` lists every finding, open or not, to review `OPEN` against.
    let mut all = String::new();
    for (rel, o) in &results {
        let got = format!("{}exit status: {}\n", o.keeplite.text, o.keeplite.code);
        let golden = root().join(format!("{rel}.expected"));
        if bless {
            std::fs::write(&golden, &got).unwrap();
        }
        if std::fs::read_to_string(&golden).unwrap_or_default() != got {
            failures.push(format!(
                "{rel}: keeplite -t differs from its golden:\n{got}"
            ));
        }
        let name = file_name(rel);
        let source = std::fs::read_to_string(root().join(rel)).unwrap();
        all.push_str(&format!(
            "{name}: (keepalived exit {}, keeplite exit {})\n",
            o.keepalived.code, o.keeplite.code
        ));
        for finding in findings(rel, &source, o) {
            all.push_str(&format!("{name}: {finding}\n"));
            let open = OPEN
                .iter()
                .any(|(_, what, files)| *what == finding && files.contains(&name.as_str()));
            if open {
                seen_open.insert((name.clone(), finding));
            } else {
                failures.push(format!("{rel}: {finding}"));
                report.push_str(&format!(
                    "--- {rel}: {finding}\nkeepalived (exit {}):\n{}keeplite:\n{got}",
                    o.keepalived.code, o.keepalived.text
                ));
                if let Some(d) = &o.dump {
                    report.push_str(&format!(
                        "keepalived on the dump (exit {}):\n{}",
                        d.code, d.text
                    ));
                }
            }
        }
    }
    if let Some(path) = std::env::var_os("KEEPLITE_WILD_FINDINGS") {
        std::fs::write(path, &all).unwrap();
    }
    for (reason, what, files) in OPEN {
        for f in *files {
            if !seen_open.contains(&(f.to_string(), what.to_string())) {
                failures.push(format!(
                    "{f}: `{what}` ({reason}) is listed in OPEN but no longer happens"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{report}\n{} finding(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn keepalived_messages_carry_their_line() {
    let text = "(Line 10) Unknown keyword 'garp_master_delay'\n\
                (x.conf: Line 24) WARNING - interface ens7f0 doesn't exist\n\
                SECURITY VIOLATION - scripts are being executed\n";
    assert_eq!(
        keepalived_messages(text),
        vec![
            (Some(10), "Unknown keyword 'garp_master_delay'".to_string()),
            (
                Some(24),
                "WARNING - interface ens7f0 doesn't exist".to_string()
            ),
            (
                None,
                "SECURITY VIOLATION - scripts are being executed".to_string()
            ),
        ]
    );
}

#[test]
fn needs_reads_interfaces_sources_and_scripts() {
    let n = needs(
        "vrrp_script s {\n script \"/etc/keepalived/chk.sh arg\" # c\n}\n\
         vrrp_instance V {\n interface eth1\n unicast_src_ip 10.1.1.1/24\n\
         track_interface {\n  bond0\n }\n virtual_ipaddress {\n  10.9.9.9 dev eth2 label eth2:1\n }\n\
         notify_master /vagrant/m.sh\n}\n",
    );
    let names: Vec<&str> = n.ifaces.keys().map(String::as_str).collect();
    assert_eq!(names, ["bond0", "eth1", "eth2"]);
    assert!(n.ifaces["eth1"].contains("10.1.1.1/32"), "{n:?}");
    let scripts: Vec<&str> = n.scripts.iter().map(String::as_str).collect();
    assert_eq!(scripts, ["/etc/keepalived/chk.sh", "/vagrant/m.sh"]);
}

#[test]
fn findings_flag_false_rejection_and_unmatched_lines() {
    let run = |text: &str, code| Run {
        text: text.to_string(),
        code,
    };
    let rel = "tests/corpus/wild/x.conf";
    let source = "global_defs {\n  notification_email {\n  }\n  bogus 1\n}\n";
    let o = Outcome {
        keepalived: run(
            "(Line 3) Warning - empty notification_email block\n(Line 4) Unknown keyword 'bogus'\n",
            5,
        ),
        keeplite: run(
            "tests/corpus/wild/x.conf:2:3: warning: `notification_email` is accepted but ignored\n",
            1,
        ),
        dump: None,
    };
    // Line 3 is inside the block keeplite ignores as a whole; line 4 is not spoken for.
    assert_eq!(findings(rel, source, &o), ["exit 1", "line 4"]);
}

#[test]
fn lineless_messages_are_matched_by_subject() {
    let rel = "x.conf";
    let source = "virtual_server 10.0.0.1 80 {\n  delay_loop 6\n}\n\
                  virtual_server 10.0.0.2 80 {\n  delay_loop 6\n}\n";
    let msg = "Virtual server [10.0.0.1]:tcp:80: no forwarding method set, setting default NAT";
    let about = |line| format!("x.conf:{line}:1: note: keepalived: no forwarding method, NAT\n");
    assert!(lineless_matched(msg, &about(2), rel, source));
    // The same words about the other virtual server do not count.
    assert!(!lineless_matched(msg, &about(5), rel, source));
    let vi = "(VI_1) Warning - nopreempt will not work with initial state MASTER - clearing";
    let unrelated = "x.conf:3:1: warning: (`VI_1`) auth_pass is longer than 8 characters\n";
    assert!(!lineless_matched(vi, unrelated, rel, source));
}
