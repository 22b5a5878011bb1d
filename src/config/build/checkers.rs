//! Real-server checkers: TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, UDP_CHECK, PING_CHECK,
//! DNS_CHECK, FILE_CHECK.

use super::*;

pub(super) fn checker(c: &mut Ctx, rs: &mut RealServer, n: &Node) {
    let (kind, tables): (CheckKind, &[&[Kw<Checker>]]) = match n.kw.text.as_str() {
        "TCP_CHECK" => (CheckKind::Tcp, &[CONNECT, RETRY]),
        "PING_CHECK" => (CheckKind::Ping, &[CONNECT, RETRY]),
        "DNS_CHECK" => (
            CheckKind::Dns(DnsCheck {
                qtype: 6,
                name: ".".into(),
            }),
            &[CONNECT, RETRY, DNS],
        ),
        "HTTP_GET" => (
            CheckKind::Http(HttpCheck::default()),
            &[CONNECT, RETRY, HTTP],
        ),
        "SSL_GET" => (
            CheckKind::Ssl(HttpCheck::default()),
            &[CONNECT, RETRY, HTTP],
        ),
        "UDP_CHECK" => (CheckKind::Udp(UdpCheck::default()), &[CONNECT, RETRY, UDP]),
        "FILE_CHECK" => (
            CheckKind::File(FileCheck {
                track_file: String::new(),
                path: Default::default(),
                weight: 0,
                reverse: false,
            }),
            &[FILE],
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
    // keepalived's DNS_DEFAULT_RETRY is 3.
    let retry = if matches!(kind, CheckKind::Dns(_)) {
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
        retry: d.retry.unwrap_or(retry),
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
    if let CheckKind::File(f) = &mut ck.kind {
        if !resolve_file(c, f, n) {
            return;
        }
        // Nothing to connect or retry: fixed values keep `-d` output re-parsing the same.
        (ck.connect_timeout, ck.retry) = (Duration::from_secs(5), 0);
        (ck.delay_before_retry, ck.delay_loop) = (Duration::from_secs(1), None);
    }
    if let CheckKind::Udp(u) = &ck.kind {
        if u.min_reply_len > u.max_reply_len {
            c.warn(
                &n.kw,
                format!(
                    "UDP_CHECK min_reply_length {} > max_reply_length {}: every reply fails",
                    u.min_reply_len, u.max_reply_len
                ),
                Some("lower `min_reply_length` or raise `max_reply_length`".into()),
            );
        }
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

/// FILE_CHECK's `track_file` must be defined above (keepalived looks it up while parsing);
/// without `weight` (or with `weight 0`, as keepalived reads it) the file's own applies.
fn resolve_file(c: &mut Ctx, f: &mut FileCheck, n: &Node) -> bool {
    let Some(t) = c.track_files.iter().find(|t| t.name == f.track_file) else {
        let msg = if f.track_file.is_empty() {
            "FILE_CHECK has no `track_file`; skipped, as keepalived does".to_owned()
        } else {
            format!(
                "FILE_CHECK: track_file `{}` is not defined above; skipped, as keepalived does",
                f.track_file
            )
        };
        let help = "define it with `track_file NAME { file PATH }` before the virtual_server";
        c.warn(&n.kw, msg, Some(help.into()));
        return false;
    };
    f.path = t.file.clone();
    if f.weight == 0 {
        (f.weight, f.reverse) = (t.weight, t.reverse);
    }
    true
}

fn file(k: &mut Checker) -> &mut FileCheck {
    match &mut k.kind {
        CheckKind::File(f) => f,
        // The FILE table is only applied to FILE_CHECK checkers.
        _ => unreachable!("file keyword outside FILE_CHECK"),
    }
}

pub(super) const FILE: &[Kw<Checker>] = &[
    Kw {
        name: "track_file",
        arity: N(1),
        doc: "`track_file NAME`: the `track_file` (defined above) whose value decides; read every second (keepalived watches it with inotify)",
        set: |_, k, n| file(k).track_file = n.args[0].text.clone(),
    },
    Kw {
        name: "weight",
        arity: Range(1, 2),
        doc: "`weight N [reverse|noreverse]`: value × N is added to the real server's weight (several FILE_CHECKs add up, as in keepalived), -65535..65535 (default: the track_file's; 0: a non-zero value takes the real server down, a zero one with `reverse`)",
        set: |c, k, n| {
            let Some(w) = c.int(n, -65535, 65535) else {
                return;
            };
            let reverse = match n.args.get(1).map(|t| t.text.as_str()) {
                None | Some("noreverse") => false,
                Some("reverse") => true,
                Some(other) => {
                    let msg = format!("unknown weight option `{other}`; line ignored, as keepalived does");
                    c.warn(&n.args[1], msg, Some("expected `reverse` or `noreverse`".into()));
                    return;
                }
            };
            (file(k).weight, file(k).reverse) = (w as i32, reverse);
        },
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

pub(super) fn dns(k: &mut Checker) -> &mut DnsCheck {
    match &mut k.kind {
        CheckKind::Dns(d) => d,
        // The DNS table is only applied to DNS_CHECK checkers.
        _ => unreachable!("DNS keyword outside DNS_CHECK"),
    }
}

pub(super) const DNS: &[Kw<Checker>] = &[
    Kw {
        name: "type",
        arity: N(1),
        doc: "`type A|NS|CNAME|SOA|MX|TXT|AAAA|RRSIG|DNSKEY`: query type (default SOA)",
        set: |c, k, n| {
            let t = &n.args[0];
            match crate::check::dns::TYPES
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&t.text))
            {
                Some(&(_, code)) => dns(k).qtype = code,
                None => c.warn(
                    t,
                    format!(
                        "unknown DNS_CHECK type `{}`; SOA is queried, as keepalived does",
                        t.text
                    ),
                    Some("use A, NS, CNAME, SOA, MX, TXT, AAAA, RRSIG or DNSKEY".into()),
                ),
            }
        },
    },
    Kw {
        name: "name",
        arity: N(1),
        doc: "`name NAME`: name queried (default `.`)",
        set: |c, k, n| {
            let t = &n.args[0];
            if crate::check::dns::query(0, &t.text, 1).is_none() {
                return c.error(
                    t,
                    format!("invalid DNS name `{}`", t.text),
                    Some("labels of 1 to 63 bytes separated by dots, 255 bytes in all".into()),
                );
            }
            dns(k).name = t.text.clone();
        },
    },
];

pub(super) fn udp(k: &mut Checker) -> &mut UdpCheck {
    match &mut k.kind {
        CheckKind::Udp(u) => u,
        // The UDP table is only applied to UDP_CHECK checkers.
        _ => unreachable!("UDP keyword outside UDP_CHECK"),
    }
}

/// keepalived's read_hex_str: hex digits, blanks between octets, a lone digit before a blank
/// is one octet; with `wildcards`, `x` is a don't-care nibble (its mask bits set).
pub(crate) fn parse_hex(text: &str, wildcards: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let nibble = |ch: char| match ch.to_digit(16) {
        Some(v) => Some((v as u8, 0u8)),
        None if wildcards && ch.eq_ignore_ascii_case(&'x') => Some((0, 0x0f)),
        None => None,
    };
    let (mut data, mut mask) = (Vec::new(), Vec::new());
    for word in text.split([' ', '\t']).filter(|w| !w.is_empty()) {
        let chars: Vec<char> = word.chars().collect();
        for pair in chars.chunks(2) {
            let (mut v, mut m) = nibble(pair[0])?;
            if let Some(&lo) = pair.get(1) {
                let (v2, m2) = nibble(lo)?;
                (v, m) = (v << 4 | v2, m << 4 | m2);
            }
            data.push(v);
            mask.push(m);
        }
    }
    (!data.is_empty()).then_some((data, mask))
}

fn hex_arg(c: &mut Ctx, n: &Node, wildcards: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let text: Vec<&str> = n.args.iter().map(|t| t.text.as_str()).collect();
    let r = parse_hex(&text.join(" "), wildcards);
    if r.is_none() {
        c.error(
            &n.args[0],
            format!("invalid hex string for UDP_CHECK `{}`", n.kw.text),
            Some(if wildcards {
                "expected hex octets such as `01 0a ff`, `x` for a wildcard nibble".into()
            } else {
                "expected hex octets such as `01 0a ff`".into()
            }),
        );
    }
    r
}

pub(super) const UDP: &[Kw<Checker>] = &[
    Kw {
        name: "payload",
        arity: Rest,
        doc: "`payload HEX`: datagram sent, e.g. `payload 01 0a ff` (default: empty)",
        set: |c, k, n| {
            if let Some((p, _)) = hex_arg(c, n, false) {
                udp(k).payload = p;
            }
        },
    },
    Kw {
        name: "require_reply",
        arity: Range(0, usize::MAX),
        doc: "`require_reply [HEX]`: fail without a reply within connect_timeout; with HEX, the reply must start with it (`x` = any nibble)",
        set: |c, k, n| {
            udp(k).require_reply = true;
            if n.args.is_empty() {
                return;
            }
            if let Some((d, m)) = hex_arg(c, n, true) {
                let u = udp(k);
                (u.reply, u.reply_mask) = (d, m);
            }
        },
    },
    Kw {
        name: "min_reply_length",
        arity: N(1),
        doc: "`min_reply_length N`: shortest reply accepted, with `require_reply HEX` (default 0)",
        set: |c, k, n| {
            if let Some(v) = c.int(n, 0, u16::MAX.into()) {
                udp(k).min_reply_len = v as u16;
            }
        },
    },
    Kw {
        name: "max_reply_length",
        arity: N(1),
        doc: "`max_reply_length N`: longest reply accepted, with `require_reply HEX` (default 255)",
        set: |c, k, n| {
            if let Some(v) = c.int(n, 0, u16::MAX.into()) {
                udp(k).max_reply_len = v as u16;
            }
        },
    },
];
