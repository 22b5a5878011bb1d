//! `vrrp_script`, notify scripts and script tracking, shared by instances and sync groups.

use super::*;
use std::path::PathBuf;

/// `weight N [reverse]` at `args[i..]`.
pub(super) fn weight_rev(
    c: &mut Ctx,
    kw: &str,
    args: &[Token],
    lo: i64,
    hi: i64,
) -> (Option<i32>, bool) {
    let mut weight = None;
    let mut reverse = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].text.as_str() {
            "weight" if i + 1 < args.len() => {
                weight = c.int_tok(kw, &args[i + 1], lo, hi).map(|v| v as i32);
                i += 2;
            }
            "reverse" => {
                reverse = true;
                i += 1;
            }
            other => {
                c.warn(
                    &args[i],
                    format!("unexpected `{other}` in `{kw}`; ignored"),
                    Some("expected `weight N` and/or `reverse`".into()),
                );
                i += 1;
            }
        }
    }
    (weight, reverse)
}

/// A `weight N [reverse]` line, N in -bound..=bound.
fn weight_line(c: &mut Ctx, n: &Node, bound: i64) -> (Option<i32>, bool) {
    let w = c.int(n, -bound, bound).map(|w| w as i32);
    let (_, reverse) = weight_rev(c, "weight", &n.args[1..], 0, 0);
    (w, reverse)
}

pub(super) fn vrrp_script(c: &mut Ctx, b: &mut Builder, n: &Node) {
    let mut s = VrrpScript {
        name: n.args[0].text.clone(),
        script: String::new(),
        interval: Duration::from_secs(1),
        timeout: Duration::ZERO,
        weight: 0,
        weight_reverse: false,
        rise: 1,
        fall: 1,
        init_fail: false,
        user: None,
    };
    let seen = apply(c, "vrrp_script", &[SCRIPT], &mut s, block(n));
    if !seen.contains_key("timeout") {
        s.timeout = s.interval;
    }
    if s.script.is_empty() {
        c.warn(
            &n.kw,
            format!("vrrp_script `{}` has no `script`; ignored", s.name),
            Some("add `script \"/path/to/check\"`".into()),
        );
        return;
    }
    if b.cfg.vrrp_scripts.iter().any(|x| x.name == s.name) {
        c.warn(
            &n.args[0],
            format!(
                "vrrp_script `{}` defined twice; this one is skipped, as keepalived does",
                s.name
            ),
            None,
        );
        return;
    }
    b.cfg.vrrp_scripts.push(s);
}

pub(super) const SCRIPT: &[Kw<VrrpScript>] = &[
    Kw {
        name: "script",
        arity: Rest,
        doc: "`script \"CMD ARGS\"`: command to run (exit 0 = success)",
        set: |c, s, n| s.script = c.command(n),
    },
    Kw {
        name: "interval",
        arity: N(1),
        doc: "`interval SECS`: run period (default 1)",
        set: |c, s, n| s.interval = c.secs(n).unwrap_or(s.interval),
    },
    Kw {
        name: "timeout",
        arity: N(1),
        doc: "`timeout SECS`: a run longer than this fails (default: the interval)",
        set: |c, s, n| s.timeout = c.secs(n).unwrap_or(s.timeout),
    },
    Kw {
        name: "weight",
        arity: Range(1, 2),
        doc: "`weight N [reverse]`: priority change, -253..=253 (default 0: fault on failure)",
        set: |c, s, n| {
            let (w, reverse) = weight_line(c, n, 253);
            s.weight = w.unwrap_or(0);
            s.weight_reverse = reverse;
        },
    },
    Kw {
        name: "rise",
        arity: N(1),
        doc: "`rise N`: successes before up (default 1)",
        set: |c, s, n| s.rise = c.int(n, 1, 1_000_000).unwrap_or(1) as u32,
    },
    Kw {
        name: "fall",
        arity: N(1),
        doc: "`fall N`: failures before down (default 1)",
        set: |c, s, n| s.fall = c.int(n, 1, 1_000_000).unwrap_or(1) as u32,
    },
    Kw {
        name: "init_fail",
        arity: N(0),
        doc: "`init_fail`: start in the failed state",
        set: |_, s, _| s.init_fail = true,
    },
    Kw {
        name: "user",
        arity: Range(1, 2),
        doc: "`user USER [GROUP]`: run as this user",
        set: |_, s, n| s.user = Some(script_user(n)),
    },
];

/// Notify keywords, shared by instances and sync groups through `notify_of`.
pub(super) trait HasNotify {
    fn notify(&mut self) -> &mut Notify;
}

pub(super) fn set_notify<T: HasNotify>(c: &mut Ctx, t: &mut T, n: &Node) {
    let v = Some(c.command(n));
    let no = t.notify();
    match n.kw.text.as_str() {
        "notify_master" => no.master = v,
        "notify_backup" => no.backup = v,
        "notify_fault" => no.fault = v,
        "notify_stop" => no.stop = v,
        _ => no.any = v,
    }
}

pub(super) fn track_scripts(
    c: &mut Ctx,
    n: &Node,
    out: &mut Vec<TrackScript>,
    at: &mut Vec<Token>,
) {
    tracked(c, n, 253, out, at);
}

/// `track_script { ... }` / `track_file { ... }`: `NAME [weight N] [reverse]` lines, N in
/// -bound..=bound.
pub(super) fn tracked(
    c: &mut Ctx,
    n: &Node,
    bound: i64,
    out: &mut Vec<TrackScript>,
    at: &mut Vec<Token>,
) {
    for e in block(n) {
        let (weight, reverse) = weight_rev(c, &n.kw.text, &e.args, -bound, bound);
        out.push(TrackScript {
            name: e.kw.text.clone(),
            weight,
            reverse,
        });
        at.push(e.kw.clone());
    }
}

pub(super) fn track_file(c: &mut Ctx, b: &mut Builder, n: &Node) {
    let mut f = TrackFile {
        name: n.args[0].text.clone(),
        file: PathBuf::new(),
        weight: 1,
        reverse: false,
        init: None,
    };
    apply(c, &n.kw.text, &[TRACK_FILE], &mut f, block(n));
    if f.file.as_os_str().is_empty() {
        c.warn(
            &n.kw,
            format!("{} `{}` has no `file`; ignored", n.kw.text, f.name),
            Some("add `file \"/path/to/file\"`".into()),
        );
        return;
    }
    if b.cfg.track_files.iter().any(|x| x.name == f.name) {
        let msg = format!("track_file `{}` defined twice; this one is skipped", f.name);
        c.warn(&n.args[0], msg, None);
        return;
    }
    let msg = format!(
        "`{}` is read every second; keepalived is told of a change at once (inotify)",
        f.file.display()
    );
    c.note(&n.args[0], msg, None);
    c.track_files.push(f.clone());
    b.cfg.track_files.push(f);
}

pub(super) const TRACK_FILE: &[Kw<TrackFile>] = &[
    Kw {
        name: "file",
        arity: N(1),
        doc: "`file PATH`: the file; its number (decimal, 0x hex, 0 octal; missing or empty = 0) times the weight is added to the priority, below -253 a fault; read every second (keepalived is told of a change at once by inotify)",
        set: |_, f, n| f.file = n.args[0].text.clone().into(),
    },
    Kw {
        name: "weight",
        arity: Range(1, 2),
        doc: "`weight N [reverse]`: multiplier, -2147483647..2147483647 (default 1; 0: a non-zero value is a fault, a zero one with `reverse`)",
        set: |c, f, n| {
            let (w, reverse) = weight_line(c, n, 2_147_483_647);
            f.weight = w.unwrap_or(f.weight);
            f.reverse = reverse;
        },
    },
    Kw {
        name: "init_file",
        arity: Range(0, 2),
        doc: "`init_file [VALUE] [overwrite]`: write VALUE (default 0) at start if the file is absent, or always with `overwrite`",
        set: |c, f, n| {
            let mut value = 0;
            let mut overwrite = false;
            for t in &n.args {
                if t.text == "overwrite" {
                    overwrite = true;
                } else if let Some(v) = c.int_tok("init_file", t, -2_147_483_648, 2_147_483_647) {
                    value = v;
                }
            }
            f.init = Some((value, overwrite));
        },
    },
];

pub(super) fn track_process(c: &mut Ctx, b: &mut Builder, n: &Node) {
    let mut p = TrackProcess::new(&n.args[0].text, "");
    apply(c, &n.kw.text, &[TRACK_PROCESS], &mut p, block(n));
    if p.process.is_empty() {
        c.warn(
            &n.kw,
            format!("{} `{}` has no `process`; ignored", n.kw.text, p.name),
            Some("add `process NAME`".into()),
        );
        return;
    }
    if b.cfg.track_processes.iter().any(|x| x.name == p.name) {
        let msg = format!(
            "track_process `{}` defined twice; this one is skipped",
            p.name
        );
        c.warn(&n.args[0], msg, None);
        return;
    }
    b.cfg.track_processes.push(p);
}

/// `delay`, `fork_delay`, `terminate_delay`: seconds in 0.000001..=3600.
fn process_delay(c: &mut Ctx, n: &Node) -> Option<Duration> {
    let d = c.secs(n)?;
    if d.is_zero() || d > Duration::from_secs(3600) {
        let msg = format!("`{}` must be in 0.000001..=3600 seconds", n.kw.text);
        c.warn(
            &n.args[0],
            format!("{msg}; ignored, as keepalived does"),
            None,
        );
        return None;
    }
    Some(d)
}

pub(super) const TRACK_PROCESS: &[Kw<TrackProcess>] = &[
    Kw {
        name: "process",
        arity: Rest,
        doc: "`process NAME [PARAM...]`: the process name (`comm`, 15 characters at most, unless `full_command`); with parameters, the command line is compared, parameters exactly unless `param_match`",
        set: |c, p, n| {
            if !p.process.is_empty() {
                let msg = format!("process already set for `{}`; ignored", p.name);
                c.warn(&n.args[0], msg, None);
                return;
            }
            p.process = n.args[0].text.clone();
            if n.args.len() > 1 {
                let mut params = Vec::new();
                for a in &n.args[1..] {
                    params.extend_from_slice(a.text.as_bytes());
                    params.push(0);
                }
                p.params = Some(params);
                if p.param_match == ParamMatch::None {
                    p.param_match = ParamMatch::Exact;
                }
                p.full_command = true;
            }
        },
    },
    Kw {
        name: "param_match",
        arity: Range(0, 1),
        doc: "`param_match [initial|partial]`: parameters compare exactly (no value), as the first ones (`partial`), or so with the last one a prefix (`initial`); implies `full_command`",
        set: |c, p, n| {
            let m = match n.args.first().map(|t| t.text.as_str()) {
                None => ParamMatch::Exact,
                Some("initial") => ParamMatch::Initial,
                Some("partial") => ParamMatch::Partial,
                Some(other) => {
                    let msg = format!("invalid param_match `{other}`; ignored, as keepalived does");
                    c.warn(&n.args[0], msg, Some("expected `initial` or `partial`".into()));
                    return;
                }
            };
            p.param_match = m;
            p.full_command = true;
        },
    },
    Kw {
        name: "weight",
        arity: Range(1, 2),
        doc: "`weight N [reverse]`: priority change while the quorum holds (>0) or not (<0), -254..254 (default 0: fault without quorum)",
        set: |c, p, n| {
            let (w, reverse) = weight_line(c, n, 254);
            p.weight = w.unwrap_or(p.weight);
            p.reverse = reverse;
        },
    },
    Kw {
        name: "quorum",
        arity: N(1),
        doc: "`quorum N`: processes needed, 1..65535 (default 1)",
        set: |c, p, n| {
            let Some(q) = c.int(n, 1, 65535) else { return };
            if q as u32 > p.quorum_max {
                let msg = "quorum is greater than quorum_max; ignored, as keepalived does";
                c.warn(&n.args[0], msg.into(), None);
                return;
            }
            p.quorum = q as u32;
        },
    },
    Kw {
        name: "quorum_max",
        arity: N(1),
        doc: "`quorum_max N`: more processes than this lose the quorum, 0..65535 (default unbounded; 0 without `quorum`: up while none runs)",
        set: |c, p, n| {
            let Some(max) = c.int(n, 0, 65535).map(|v| v as u32) else {
                return;
            };
            if (max > 0 || p.quorum > 1) && max < p.quorum {
                let msg = "quorum_max is less than quorum; ignored, as keepalived does";
                c.warn(&n.args[0], msg.into(), None);
                return;
            }
            p.quorum_max = max;
            p.quorum = if max == 0 { 0 } else { p.quorum.max(1) };
        },
    },
    Kw {
        name: "delay",
        arity: N(1),
        doc: "`delay SECS`: both `fork_delay` and `terminate_delay`",
        set: |c, p, n| {
            if let Some(d) = process_delay(c, n) {
                (p.fork_delay, p.terminate_delay) = (d, d);
            }
        },
    },
    Kw {
        name: "fork_delay",
        arity: N(1),
        doc: "`fork_delay SECS`: a quorum change caused by a new process waits this long",
        set: |c, p, n| p.fork_delay = process_delay(c, n).unwrap_or(p.fork_delay),
    },
    Kw {
        name: "terminate_delay",
        arity: N(1),
        doc: "`terminate_delay SECS`: a quorum change caused by a process exiting waits this long (a process starting meanwhile cancels it)",
        set: |c, p, n| p.terminate_delay = process_delay(c, n).unwrap_or(p.terminate_delay),
    },
    Kw {
        name: "full_command",
        arity: N(0),
        doc: "`full_command`: compare the command's first word (`/proc/PID/cmdline`) rather than `comm`",
        set: |_, p, _| p.full_command = true,
    },
];
