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
    "DNS_CHECK",
    "UDP_CHECK",
    "PING_CHECK",
    "BFD_CHECK",
    "FILE_CHECK",
    "bfd_instance",
    "virtual_routes",
    "virtual_rules",
    "static_routes",
    "static_rules",
    "static_ipaddress",
    "static_track_group",
    "use_vmac",
    "vmac_xmit_base",
    "use_ipvlan",
    "net_namespace",
    "lvs_sync_daemon_interface",
    "lvs_sync_daemon",
    "smtp_alert",
    "track_file",
    "track_process",
    "track_bfd",
    "vrrp_track_file",
    "vrrp_track_process",
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
    "vrrp_priority",
    "checker_priority",
    "vrrp_no_swap",
    "checker_no_swap",
    "dynamic_interfaces",
    "max_auto_priority",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "lvs_flush",
    "warmup",
    "kernel_rx_buf_size",
    "higher_prio_send_advert",
    "lower_prio_no_advert",
];

/// Building context: collects diagnostics and the places later checks need.
pub struct Ctx<'s> {
    pub src: &'s Sources,
    pub diags: Vec<Diagnostic>,
    /// Every interface name the config mentions, for the existence check.
    pub interfaces: Vec<(String, Pos)>,
}

impl<'s> Ctx<'s> {
    pub fn new(src: &'s Sources) -> Self {
        Ctx {
            src,
            diags: Vec::new(),
            interfaces: Vec::new(),
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

    /// Parses `t` with `FromStr`, or reports "expected `what`".
    pub fn parse<T: FromStr>(&mut self, kw: &str, t: &Token, what: &str) -> Option<T> {
        let v = t.text.parse().ok();
        if v.is_none() {
            self.error(
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
            self.error(
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
            self.error(
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
        let help = match suggest(&t.text, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("expected one of: {}", names.join(", ")),
        };
        self.error(
            t,
            format!("invalid value `{}` for `{}`", t.text, n.kw.text),
            Some(help),
        );
        None
    }

    pub fn interface(&mut self, t: &Token) {
        self.interfaces.push((t.text.clone(), t.pos));
    }
}

/// The values of a statement joined by single spaces (scripts, commands).
pub fn rest(n: &Node) -> String {
    n.args
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
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
pub fn apply<T>(
    ctx: &mut Ctx,
    block: &str,
    tables: &[&[Kw<T>]],
    target: &mut T,
    nodes: &[Node],
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
    let help = suggest(name, tables.iter().flat_map(|t| t.iter()).map(|k| k.name))
        .map(|s| format!("did you mean `{s}`?"));
    ctx.warn(
        &n.kw,
        format!("unknown keyword `{name}` in {block}; line ignored"),
        help,
    );
}

/// Checks the number of values and the presence of a block; false = do not call the handler.
fn check_arity(ctx: &mut Ctx, arity: Arity, doc: &str, n: &Node) -> bool {
    let kw = &n.kw.text;
    let wants_block = matches!(arity, Arity::Block(..));
    if wants_block && n.block.is_none() {
        ctx.error(
            &n.kw,
            format!("`{kw}` expects a `{{ ... }}` block"),
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

/// A Markdown reference of every block's keywords, plus the unsupported ones.
pub fn reference_table() -> String {
    use super::build::TABLES;
    let mut out = String::from(
        "# keeplite configuration reference\n\nGenerated from the keyword tables in src/config/.\n",
    );
    for (block, rows) in TABLES {
        out += &format!("\n## {block}\n\n| keyword | syntax and meaning |\n| --- | --- |\n");
        for (name, doc) in rows() {
            out += &format!("| `{name}` | {} |\n", doc.replace('|', "\\|"));
        }
    }
    out += "\n## Not supported (parsed, ignored with a warning)\n\n";
    out += &UNSUPPORTED
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    out.push('\n');
    out
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
