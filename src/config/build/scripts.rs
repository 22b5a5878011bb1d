//! `vrrp_script`, notify scripts and script tracking, shared by instances and sync groups.

use super::*;

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
            let w = c.int(n, -253, 253);
            let (_, reverse) = weight_rev(c, "weight", &n.args[1..], 0, 0);
            s.weight = w.unwrap_or(0) as i32;
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
    for e in block(n) {
        let (weight, reverse) = weight_rev(c, "track_script", &e.args, -253, 253);
        out.push(TrackScript {
            name: e.kw.text.clone(),
            weight,
            reverse,
        });
        at.push(e.kw.clone());
    }
}
