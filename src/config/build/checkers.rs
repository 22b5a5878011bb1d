//! Real-server checkers: TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK.

use super::*;

pub(super) fn checker(c: &mut Ctx, rs: &mut RealServer, n: &Node) {
    let (kind, tables): (CheckKind, &[&[Kw<Checker>]]) = match n.kw.text.as_str() {
        "TCP_CHECK" => (CheckKind::Tcp, &[CONNECT, RETRY]),
        "HTTP_GET" => (
            CheckKind::Http(HttpCheck::default()),
            &[CONNECT, RETRY, HTTP],
        ),
        "SSL_GET" => (
            CheckKind::Ssl(HttpCheck::default()),
            &[CONNECT, RETRY, HTTP],
        ),
        _ => (
            CheckKind::Misc(MiscCheck {
                path: String::new(),
                timeout: None,
                dynamic: false,
            }),
            &[MISC, RETRY],
        ),
    };
    // keepalived: delay_before_retry defaults to 3 s for HTTP_GET / SSL_GET, 1 s otherwise.
    let before_retry = if matches!(kind, CheckKind::Http(_) | CheckKind::Ssl(_)) {
        3
    } else {
        1
    };
    let d = c.check_defaults;
    let mut ck = Checker {
        kind,
        connect_ip: None,
        connect_port: None,
        bindto: None,
        bind_port: None,
        connect_timeout: d.connect_timeout.unwrap_or(Duration::from_secs(5)),
        retry: d.retry.unwrap_or(1),
        delay_before_retry: d
            .delay_before_retry
            .unwrap_or(Duration::from_secs(before_retry)),
        delay_loop: d.delay_loop,
    };
    apply(c, &n.kw.text, tables, &mut ck, block(n));
    if matches!(&ck.kind, CheckKind::Misc(m) if m.path.is_empty()) {
        c.warn(
            &n.kw,
            "MISC_CHECK has no `misc_path`; skipped, as keepalived does".into(),
            Some("add `misc_path \"/path/to/check args\"`".into()),
        );
        return;
    }
    rs.checkers.push(ck);
}

pub(super) fn set_retry(c: &mut Ctx, k: &mut Checker, n: &Node) {
    k.retry = c.int(n, 0, 1_000_000).unwrap_or(1) as u32;
}

pub(super) const CONNECT: &[Kw<Checker>] = &[
    Kw {
        name: "connect_ip",
        arity: N(1),
        doc: "`connect_ip IP`: address to check (default: the real server's)",
        set: |c, k, n| k.connect_ip = c.ip(&n.kw.text, &n.args[0]),
    },
    Kw {
        name: "connect_port",
        arity: N(1),
        doc: "`connect_port PORT`: port to check (default: the real server's)",
        set: |c, k, n| k.connect_port = c.port(&n.kw.text, &n.args[0]),
    },
    Kw {
        name: "bindto",
        arity: N(1),
        doc: "`bindto IP`: source address",
        set: |c, k, n| k.bindto = c.ip(&n.kw.text, &n.args[0]),
    },
    Kw {
        name: "bind_port",
        arity: N(1),
        doc: "`bind_port PORT`: source port",
        set: |c, k, n| k.bind_port = c.port(&n.kw.text, &n.args[0]),
    },
    Kw {
        name: "connect_timeout",
        arity: N(1),
        doc: "`connect_timeout SECS`: (default 5)",
        set: |c, k, n| k.connect_timeout = c.secs(n).unwrap_or(k.connect_timeout),
    },
];

pub(super) const RETRY: &[Kw<Checker>] = &[
    Kw {
        name: "retry",
        arity: N(1),
        doc: "`retry N`: retries before failure (default 1)",
        set: set_retry,
    },
    Kw {
        name: "delay_before_retry",
        arity: N(1),
        doc: "`delay_before_retry SECS`: (default 1)",
        set: |c, k, n| k.delay_before_retry = c.secs(n).unwrap_or(k.delay_before_retry),
    },
    Kw {
        name: "delay_loop",
        arity: N(1),
        doc: "`delay_loop SECS`: overrides the virtual server's",
        set: |c, k, n| k.delay_loop = c.secs(n),
    },
];

pub(super) fn http(k: &mut Checker) -> &mut HttpCheck {
    match &mut k.kind {
        CheckKind::Http(h) | CheckKind::Ssl(h) => h,
        // The HTTP table is only applied to HTTP_GET / SSL_GET checkers.
        _ => unreachable!("HTTP keyword outside HTTP_GET/SSL_GET"),
    }
}

pub(super) const HTTP: &[Kw<Checker>] = &[
    Kw {
        name: "nb_get_retry",
        arity: N(1),
        doc: "old name of `retry`, known to HTTP_GET and SSL_GET only (keepalived calls it deprecated; elsewhere it is an unknown keyword and the default retry applies)",
        set: |c, k, n| {
            c.note(&n.kw, "`nb_get_retry` is deprecated: keepalived says use `retry`".into(), Some("write `retry`".into()));
            set_retry(c, k, n);
        },
    },
    Kw {
        name: "url",
        arity: Block(0, 0),
        doc: "`url { path P; digest MD5; status_code CODES; virtualhost H }`",
        set: |c, k, n| {
            let mut u = Url {
                path: String::new(),
                digest: None,
                status_code: Vec::new(),
                virtualhost: None,
            };
            apply(c, "url", &[URL], &mut u, block(n));
            if u.path.is_empty() {
                c.warn(
                    &n.kw,
                    "url has no `path`; skipped, as keepalived does".into(),
                    Some("add `path /`".into()),
                );
                return;
            }
            if u.status_code.is_empty() && u.digest.is_none() {
                u.status_code.push((200, 299));
            }
            http(k).urls.push(u);
        },
    },
    Kw {
        name: "virtualhost",
        arity: N(1),
        doc: "`virtualhost NAME`: Host header",
        set: |_, k, n| http(k).virtualhost = Some(n.args[0].text.clone()),
    },
];

pub(super) const URL: &[Kw<Url>] = &[
    Kw {
        name: "path",
        arity: N(1),
        doc: "`path /PATH`",
        set: |_, u, n| u.path = n.args[0].text.clone(),
    },
    Kw {
        name: "digest",
        arity: N(1),
        doc: "`digest MD5HEX`: expected MD5 of the body",
        set: |c, u, n| {
            let d = &n.args[0];
            if d.text.len() == 32 && d.text.bytes().all(|b| b.is_ascii_hexdigit()) {
                u.digest = Some(d.text.to_ascii_lowercase());
            } else {
                c.warn(
                    d,
                    "invalid digest: expected 32 hex digits (MD5); skipped, as keepalived does"
                        .into(),
                    None,
                );
            }
        },
    },
    Kw {
        name: "status_code",
        arity: Rest,
        doc: "`status_code CODE|LO-HI ...`: accepted statuses (default 200-299)",
        set: |c, u, n| {
            for t in &n.args {
                let (lo, hi) = t.text.split_once('-').unwrap_or((&t.text, &t.text));
                match (lo.parse::<u16>(), hi.parse::<u16>()) {
                    (Ok(lo), Ok(hi)) if (100..=599).contains(&lo) && (lo..=599).contains(&hi) => {
                        u.status_code.push((lo, hi))
                    }
                    _ => c.warn(
                        t,
                        format!(
                            "invalid status_code `{}`; skipped, as keepalived does",
                            t.text
                        ),
                        Some("expected codes 100..599 or ranges like `200-299`".into()),
                    ),
                }
            }
        },
    },
    Kw {
        name: "virtualhost",
        arity: N(1),
        doc: "`virtualhost NAME`: Host header for this url",
        set: |_, u, n| u.virtualhost = Some(n.args[0].text.clone()),
    },
];

pub(super) fn misc(k: &mut Checker) -> &mut MiscCheck {
    match &mut k.kind {
        CheckKind::Misc(m) => m,
        // The MISC table is only applied to MISC_CHECK checkers.
        _ => unreachable!("misc keyword outside MISC_CHECK"),
    }
}

pub(super) const MISC: &[Kw<Checker>] = &[
    Kw {
        name: "misc_path",
        arity: Rest,
        doc: "`misc_path \"CMD ARGS\"`: exit 0 = up",
        set: |c, k, n| misc(k).path = c.command(n),
    },
    Kw {
        name: "misc_timeout",
        arity: N(1),
        doc: "`misc_timeout SECS`: kill the script after this (default: delay_loop)",
        set: |c, k, n| misc(k).timeout = c.secs(n),
    },
    Kw {
        name: "misc_dynamic",
        arity: N(0),
        doc: "`misc_dynamic`: exit status 2..255 sets the weight to status - 2",
        set: |_, k, _| misc(k).dynamic = true,
    },
];
