//! The keyword tables (one per block: keyword, arity, doc, handler) and the engine applying
//! them. Unknown-keyword suggestions, the "not supported" list and the reference table all come
//! from here.

use super::diag::{suggest, Diagnostic, Severity};
use super::lexer::{Pos, Sources, Token};
use super::parser::Node;
use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// How many values a keyword takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Exactly N values; extra words draw a warning, missing ones an error.
    N(usize),
    /// One or more values (scripts, lists of codes, ...).
    Rest,
    /// Between min and max values, then a `{ ... }` block (`Block(1, 1)`: `vrrp_instance NAME {`).
    Block(usize, usize),
    /// Between min and max values; the handler interprets them.
    Range(usize, usize),
}

/// One keyword of one block.
pub struct Kw<T: 'static> {
    pub name: &'static str,
    pub arity: Arity,
    /// Syntax and meaning, for the reference table.
    pub doc: &'static str,
    pub set: fn(&mut Ctx, &mut T, &Node),
}

/// keepalived keywords keeplite knows but does not implement. They parse (blocks skipped) and
/// draw a "not supported" warning.
pub const UNSUPPORTED: &[&str] = &[
    "SMTP_CHECK",
    "BFD_CHECK",
    "bfd_instance",
    "static_track_group",
    "use_ipvlan",
    "net_namespace",
    "track_bfd",
    "garp_group",
    "linkbeat_use_polling",
    "linkbeat_interfaces",
    "enable_traps",
    "enable_snmp_vrrp",
    "enable_snmp_checker",
    "enable_dbus",
    "debug",
    "vrrp_iptables",
    "vrrp_ipsets",
    "warmup",
    "SSL",
    "nftables",
    "nftables_priority",
    "process_names",
    "snmp_socket",
    "native_ipv6",
    "unicast_fault_no_peer",
    "ip_family",
    "vrrp_rx_bufs_policy",
    "vrrp_rx_bufs_multiplier",
    "track_src_ip",
    "http_protocol",
    "enable_sni",
    "bfd_cpu_affinity",
    "bfd_no_swap",
    "bfd_priority",
    "bfd_process_name",
    "bfd_rlimit_rttime",
    "bfd_rt_priority",
    "bind_if",
    "checker_cpu_affinity",
    "checker_log_all_failures",
    "checker_process_name",
    "checker_rlimit_rttime",
    "child_wait_time",
    "config_save_dir",
    "data_use_instance",
    "dbus_service_name",
    "disable_local_igmp",
    "down_timer_adverts",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "fast_recovery",
    "fifo_write_vrrp_states_on_reload",
    "garp_extra_if",
    "garp_interval",
    "global_tracking",
    "gna_interval",
    "idle_tx",
    "include_check",
    "interface_up_down_delays",
    "log_all_failures",
    "log_unknown_vrids",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force",
    "mcast_dst_ip",
    "namespace_with_ipsets",
    "net_namespace_ipvs",
    "nftables_counters",
    "nftables_ifindex",
    "nftables_ipvs",
    "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark",
    "notify_deleted",
    "old_unicast_checksum",
    "process_monitor_rcv_bufs",
    "process_monitor_rcv_bufs_force",
    "promote_secondaries",
    "random_seed",
    "reload_check_config",
    "reload_file",
    "reload_repeat",
    "reload_time_file",
    "rs_init_notifies",
    "shutdown_script",
    "shutdown_script_timeout",
    "snmp_name",
    "sorry_server_inhibit",
    "sorry_server_lvs_method",
    "startup_script",
    "startup_script_timeout",
    "sync_group_tracking_weight",
    "tmp_config_directory",
    "track_group",
    "use_pid_dir",
    "use_vmac_addr",
    "vmac_addr_prefix",
    "vrrp_cpu_affinity",
    "vrrp_down_timer_adverts",
    "vrrp_garp_extra_if",
    "vrrp_min_garp",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "vrrp_process_name",
    "vrrp_rlimit_rttime",
    "uthreshold",
    "lthreshold",
    "regex",
    "helo_name",
    "kernel_rx_buf_size",
];

/// Checker settings given at virtual_server / real_server level (keepalived 2.x), inherited by
/// the checkers below unless they set their own.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckDefaults {
    pub connect_timeout: Option<Duration>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Duration>,
    pub delay_loop: Option<Duration>,
}

/// Building context: collects diagnostics and the places later checks need.
pub struct Ctx<'s> {
    pub src: &'s Sources,
    pub diags: Vec<Diagnostic>,
    /// Every interface name the config mentions, for the existence check.
    pub interfaces: Vec<(String, Pos)>,
    /// Checker settings inherited from the enclosing virtual_server / real_server.
    pub check_defaults: CheckDefaults,
    /// The `track_file`s defined so far (FILE_CHECK names one defined above it).
    pub track_files: Vec<super::model::TrackFile>,
    /// Where each command first appears, and each `track_script NAME` entry: the places of
    /// the script checks' findings ([`super::LoadOptions::vet_scripts`]).
    pub scripts: Vec<(String, Pos)>,
}

impl<'s> Ctx<'s> {
    pub fn new(src: &'s Sources) -> Self {
        Ctx {
            src,
            diags: Vec::new(),
            interfaces: Vec::new(),
            check_defaults: Default::default(),
            track_files: Vec::new(),
            scripts: Vec::new(),
        }
    }

    pub fn at(&mut self, sev: Severity, pos: Pos, msg: String, help: Option<String>) {
        let d = self.src.diag(sev, pos, msg, help);
        self.diags.push(d);
    }

    pub fn error(&mut self, t: &Token, msg: String, help: Option<String>) {
        self.at(Severity::Error, t.pos, msg, help);
    }

    pub fn warn(&mut self, t: &Token, msg: String, help: Option<String>) {
        self.at(Severity::Warning, t.pos, msg, help);
    }

    pub fn note(&mut self, t: &Token, msg: String, help: Option<String>) {
        self.at(Severity::Note, t.pos, msg, help);
    }

    /// An invalid value: keepalived reports it and ignores the line (the default stays), so
    /// keeplite does the same and warns. Checks that need the value (a missing VRID) still fail.
    fn invalid(&mut self, t: &Token, msg: String, help: Option<String>) {
        self.warn(t, format!("{msg}; ignored, as keepalived does"), help);
    }

    /// Parses `t` with `FromStr`, or reports "expected `what`".
    pub fn parse<T: FromStr>(&mut self, kw: &str, t: &Token, what: &str) -> Option<T> {
        let v = t.text.parse().ok();
        if v.is_none() {
            self.invalid(
                t,
                format!("invalid value `{}` for `{kw}`: expected {what}", t.text),
                None,
            );
        }
        v
    }

    /// An integer in `lo..=hi`.
    pub fn int_tok(&mut self, kw: &str, t: &Token, lo: i64, hi: i64) -> Option<i64> {
        let v = self.parse::<i64>(kw, t, &format!("an integer in {lo}..={hi}"))?;
        if !(lo..=hi).contains(&v) {
            self.invalid(
                t,
                format!("`{kw}` {v} is out of range: expected {lo}..={hi}"),
                None,
            );
            return None;
        }
        Some(v)
    }

    /// The first value of `n` as an integer in `lo..=hi`.
    pub fn int(&mut self, n: &Node, lo: i64, hi: i64) -> Option<i64> {
        self.int_tok(&n.kw.text, &n.args[0], lo, hi)
    }

    /// Seconds, possibly fractional (`0.5`, `1.25`); microsecond resolution.
    pub fn secs(&mut self, n: &Node) -> Option<Duration> {
        let t = &n.args[0];
        let v = parse_secs(&t.text);
        if v.is_none() {
            self.invalid(
                t,
                format!(
                    "invalid value `{}` for `{}`: expected seconds, such as `1` or `0.5`",
                    t.text, n.kw.text
                ),
                None,
            );
        }
        v
    }

    pub fn ip(&mut self, kw: &str, t: &Token) -> Option<IpAddr> {
        self.parse(kw, t, "an IPv4 or IPv6 address")
    }

    pub fn port(&mut self, kw: &str, t: &Token) -> Option<u16> {
        self.int_tok(kw, t, 0, 65535).map(|v| v as u16)
    }

    /// One of `choices` (case-insensitive), with a suggestion when it is not.
    pub fn choice<T: Copy>(&mut self, n: &Node, choices: &[(&str, T)]) -> Option<T> {
        let t = &n.args[0];
        if let Some((_, v)) = choices
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(&t.text))
        {
            return Some(*v);
        }
        let names: Vec<&str> = choices.iter().map(|c| c.0).collect();
        let expected = format!("expected one of: {}", names.join(", "));
        let help = match suggest(&t.text, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? ({expected})"),
            None => expected,
        };
        self.invalid(
            t,
            format!("invalid value `{}` for `{}`", t.text, n.kw.text),
            Some(help),
        );
        None
    }

    /// One of `choices`, spelled exactly (keepalived compares case-sensitively); anything else
    /// takes `fallback` with a warning, as keepalived does (`state master` runs as BACKUP).
    pub fn keepalived_choice<T: Copy>(
        &mut self,
        n: &Node,
        choices: &[(&str, T)],
        fallback: (&str, T),
    ) -> T {
        let t = &n.args[0];
        if let Some((_, v)) = choices.iter().find(|(s, _)| *s == t.text) {
            return *v;
        }
        let names: Vec<&str> = choices.iter().map(|c| c.0).collect();
        let help = match choices
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(&t.text))
        {
            Some((s, _)) => format!("write `{s}`: keepalived only knows that spelling"),
            None => format!("expected one of: {}", names.join(", ")),
        };
        self.warn(
            t,
            format!(
                "unknown value `{}` for `{}`; keepalived and keeplite use `{}`",
                t.text, n.kw.text, fallback.0
            ),
            Some(help),
        );
        fallback.1
    }

    /// A command (script, notify, misc_path): its words joined, with a warning where keeplite's
    /// `/bin/sh -c` and keepalived differ. keepalived executes a command whose first word is an
    /// executable directly, so a `|`, `;`, `&`, `>`, `<`, backquote or `$(` reaches it as an
    /// argument (wild corpus W15: `iptables -L | grep x` never pipes there).
    pub fn command(&mut self, n: &Node) -> String {
        let cmd = rest(n);
        if !self.scripts.iter().any(|(c, _)| *c == cmd) {
            self.scripts.push((cmd.clone(), n.args[0].pos));
        }
        let mut words = cmd.split_whitespace();
        let shell = words.next().is_some_and(|w| {
            let base = w.rsplit('/').next().unwrap_or(w);
            ["sh", "bash", "dash", "ash", "zsh", "ksh"].contains(&base)
        }) && words.next() == Some("-c");
        let op = ["|", ";", "&", ">", "<", "`", "$("]
            .into_iter()
            .find(|op| cmd.contains(op));
        if let (Some(op), false) = (op, shell) {
            self.warn(
                &n.args[0],
                format!("keeplite runs this with `/bin/sh -c`, so `{op}` works here; keepalived runs a command without a shell when its first word is an executable, and passes `{op}` to it as an argument"),
                Some("to behave the same under both, put the pipeline in a script or write `/bin/sh -c '...'`".into()),
            );
        }
        cmd
    }

    /// An address that may carry a `/LEN`, which keepalived drops (`unicast_peer`, sources).
    pub fn ip_no_prefix(&mut self, kw: &str, t: &Token) -> Option<IpAddr> {
        match t.text.split_once('/') {
            Some((a, _)) => self.ip(
                kw,
                &Token {
                    text: a.into(),
                    ..t.clone()
                },
            ),
            None => self.ip(kw, t),
        }
    }

    pub fn interface(&mut self, t: &Token) {
        self.interfaces.push((t.text.clone(), t.pos));
    }
}

/// The values of a statement joined by single spaces (scripts, commands). A command wrapped
/// whole in single quotes (`script 'killall -0 haproxy'`) loses them: keepalived splits the
/// command honouring them, while `/bin/sh -c` would read one word.
fn rest(n: &Node) -> String {
    let s = n
        .args
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    match s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        Some(inner) if !inner.contains('\'') => inner.to_owned(),
        _ => s,
    }
}

/// `1`, `0.5`, `1.25` -> Duration (at most 6 decimals).
pub fn parse_secs(s: &str) -> Option<Duration> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty()
        || frac.len() > 6
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let micros: u32 = format!("{frac:0<6}").parse().ok()?;
    Some(Duration::from_secs(secs) + Duration::from_micros(micros.into()))
}

/// Keyword token of each statement handled, by keyword name (last one wins).
pub type Seen = HashMap<&'static str, Token>;

/// Applies `tables` (searched in order) to the statements of one block.
pub fn apply<'n, T>(
    ctx: &mut Ctx,
    block: &str,
    tables: &[&[Kw<T>]],
    target: &mut T,
    nodes: impl IntoIterator<Item = &'n Node>,
) -> Seen {
    let mut seen = Seen::new();
    for n in nodes {
        let name = n.kw.text.as_str();
        let Some(kw) = tables
            .iter()
            .flat_map(|t| t.iter())
            .find(|k| k.name == name)
        else {
            unknown(ctx, block, tables, n);
            continue;
        };
        if check_arity(ctx, kw.arity, kw.doc, n) {
            seen.insert(kw.name, n.kw.clone());
            (kw.set)(ctx, target, n);
        }
    }
    seen
}

fn unknown<T>(ctx: &mut Ctx, block: &str, tables: &[&[Kw<T>]], n: &Node) {
    let name = n.kw.text.as_str();
    if UNSUPPORTED.contains(&name) {
        let what = if n.block.is_some() {
            "block ignored"
        } else {
            "ignored"
        };
        ctx.warn(
            &n.kw,
            format!("`{name}` is a keepalived keyword not supported by keeplite; {what}"),
            None,
        );
        return;
    }
    let help = match suggest(name, tables.iter().flat_map(|t| t.iter()).map(|k| k.name)) {
        Some(s) => format!("did you mean `{s}`?"),
        None => "if this is a comment, start it with `#` or `!`".into(),
    };
    ctx.warn(
        &n.kw,
        format!("unknown keyword `{name}` in {block}; line ignored"),
        Some(help),
    );
}

/// Checks the number of values and the presence of a block; false = do not call the handler.
fn check_arity(ctx: &mut Ctx, arity: Arity, doc: &str, n: &Node) -> bool {
    let kw = &n.kw.text;
    let wants_block = matches!(arity, Arity::Block(..));
    if wants_block && n.block.is_none() {
        // keepalived: "Missing '{' at beginning of configuration block"; the lines meant for
        // the block follow as statements of the enclosing one.
        ctx.warn(
            &n.kw,
            format!("`{kw}` expects a `{{ ... }}` block; statement ignored, as keepalived does"),
            Some(format!("syntax: {doc}")),
        );
        return false;
    }
    if !wants_block {
        if let Some(b) = &n.block {
            if let Some(first) = b.first() {
                ctx.warn(
                    &first.kw,
                    format!("`{kw}` takes no block; its contents are ignored"),
                    None,
                );
            }
        }
    }
    let (min, max) = match arity {
        Arity::N(k) => (k, k),
        Arity::Rest => (1, usize::MAX),
        Arity::Block(lo, hi) | Arity::Range(lo, hi) => (lo, hi),
    };
    if n.args.len() < min {
        ctx.error(
            &n.kw,
            format!("`{kw}` expects a value"),
            Some(format!("syntax: {doc}")),
        );
        return false;
    }
    if n.args.len() > max {
        let first = &n.args[max];
        let last = n.args.last().unwrap_or(first);
        let mut pos = first.pos;
        if last.pos.line == pos.line && last.pos.file == pos.file {
            pos.width = last.pos.col + last.pos.width - pos.col;
        }
        let msg = if max == 0 {
            format!("`{kw}` takes no value; extra words ignored")
        } else {
            format!("extra words after the value of `{kw}` are ignored")
        };
        ctx.at(
            Severity::Warning,
            pos,
            msg,
            Some("comments start with `#` or `!`".into()),
        );
    }
    true
}

/// (name, doc) rows of a table, for [`reference_table`].
pub fn rows<T>(table: &[Kw<T>]) -> Vec<(&'static str, &'static str)> {
    table.iter().map(|k| (k.name, k.doc)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_secs("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_secs("0.25"), Some(Duration::from_millis(250)));
        assert_eq!(parse_secs(".5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_secs("1."), Some(Duration::from_secs(1)));
        assert_eq!(parse_secs("-1"), None);
        assert_eq!(parse_secs("."), None);
        assert_eq!(parse_secs("1e3"), None);
        assert_eq!(parse_secs(""), None);
    }
}
