//! Keyword tables of every block and their handlers: statement tree -> typed [`Config`], with
//! keepalived's defaults and the semantic checks. One file per block; the engine applying the
//! tables is in [`super::schema`].

use super::diag::Severity;
use super::lexer::Token;
use super::model::*;
use super::parser::Node;
use super::schema::{apply, rows, Arity, CheckDefaults, Ctx, Kw, Seen, UNSUPPORTED};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use Arity::{Block, Range, Rest, N};

// The keyword-table macros come first: macro_rules! scope is textual, and the block modules
// below use them.
macro_rules! garp_kws {
    ($t:ty, $delay:literal, $repeat:literal, $refresh:literal, $refresh_repeat:literal) => {
        [
            Kw::<$t> {
                name: $delay,
                arity: N(1),
                doc: "`SECS`: delay of the second gratuitous ARP / NA burst after becoming master (default 5)",
                set: garp_secs,
            },
            Kw::<$t> {
                name: $repeat,
                arity: N(1),
                doc: "`N`: gratuitous ARPs / NAs per burst (default 5)",
                set: garp_count,
            },
            Kw::<$t> {
                name: $refresh,
                arity: N(1),
                doc: "`SECS`: re-announce period while master (default 0 = never)",
                set: garp_secs,
            },
            Kw::<$t> {
                name: $refresh_repeat,
                arity: N(1),
                doc: "`N`: messages per refresh (default 1)",
                set: garp_count,
            },
        ]
    };
}

macro_rules! notify_kws {
    ($t:ty) => {
        [
            Kw::<$t> {
                name: "notify_master",
                arity: Rest,
                doc: "`notify_master CMD`: run on becoming MASTER",
                set: set_notify,
            },
            Kw::<$t> {
                name: "notify_backup",
                arity: Rest,
                doc: "`notify_backup CMD`: run on becoming BACKUP",
                set: set_notify,
            },
            Kw::<$t> {
                name: "notify_fault",
                arity: Rest,
                doc: "`notify_fault CMD`: run on entering FAULT",
                set: set_notify,
            },
            Kw::<$t> {
                name: "notify_stop",
                arity: Rest,
                doc: "`notify_stop CMD`: run when stopping",
                set: set_notify,
            },
            Kw::<$t> {
                name: "notify",
                arity: Rest,
                doc: "`notify CMD`: run on every transition with TYPE NAME STATE PRIORITY",
                set: set_notify,
            },
        ]
    };
}

macro_rules! check_default_kws {
    ($t:ty) => {
        [
            Kw::<$t> {
                name: "connect_timeout",
                arity: N(1),
                doc: "`connect_timeout SECS`: default for the checkers below",
                set: |c, _, n| c.check_defaults.connect_timeout = c.secs(n),
            },
            Kw::<$t> {
                name: "retry",
                arity: N(1),
                doc: "`retry N`: default for the checkers below",
                set: |c, _, n| c.check_defaults.retry = c.int(n, 0, 1_000_000).map(|v| v as u32),
            },
            Kw::<$t> {
                name: "delay_before_retry",
                arity: N(1),
                doc: "`delay_before_retry SECS`: default for the checkers below",
                set: |c, _, n| c.check_defaults.delay_before_retry = c.secs(n),
            },
        ]
    };
}

mod checkers;
mod cross;
mod global;
mod lvs;
mod routes;
mod scripts;
mod sync;
#[cfg(test)]
mod tests;
mod vrrp;
mod vrrp_check;

use checkers::*;
use cross::*;
use global::*;
use lvs::*;
use routes::*;
use scripts::*;
use sync::*;
use vrrp::*;
use vrrp_check::*;

/// Every table with a block name, for the reference table.
pub type TableRows = fn() -> Vec<(&'static str, &'static str)>;
pub const TABLES: &[(&str, TableRows)] = &[
    ("top level", || rows(TOP)),
    ("global_defs", || rows(GLOBAL)),
    ("global_defs: gratuitous ARP defaults", || {
        rows(&GLOBAL_GARP)
    }),
    ("vrrp_script", || rows(SCRIPT)),
    ("track_file", || rows(TRACK_FILE)),
    ("vrrp_track_process", || rows(TRACK_PROCESS)),
    ("vrrp_sync_group", || rows(SYNC)),
    ("vrrp_instance", || rows(INSTANCE)),
    ("vrrp_instance: gratuitous ARP", || rows(&INST_GARP)),
    ("vrrp_instance and vrrp_sync_group: notify scripts", || {
        rows(&INST_NOTIFY)
    }),
    ("authentication", || rows(AUTH)),
    ("virtual_server", || rows(VS)),
    ("real_server", || rows(RS)),
    ("virtual_server and real_server: checker defaults", || {
        rows(&VS_CHECK_DEFAULTS)
    }),
    (
        "TCP_CHECK, HTTP_GET, SSL_GET, UDP_CHECK, PING_CHECK, DNS_CHECK",
        || rows(CONNECT),
    ),
    ("all checkers", || rows(RETRY)),
    ("HTTP_GET, SSL_GET", || rows(HTTP)),
    ("url", || rows(URL)),
    ("MISC_CHECK", || rows(MISC)),
    ("UDP_CHECK", || rows(UDP)),
    ("DNS_CHECK", || rows(DNS)),
    ("FILE_CHECK", || rows(FILE)),
];

fn block(n: &Node) -> &[Node] {
    n.block.as_deref().unwrap_or(&[])
}

/// Places the cross-object checks need, parallel to the model's vectors.
struct InstanceAt {
    vrid: Option<Token>,
    /// Parallel to `virtual_ipaddress` and to `virtual_ipaddress_excluded`.
    vips: Vec<Token>,
    evips: Vec<Token>,
    /// The instance's address family: that of its first address (source, peer or VIP), as in
    /// keepalived. `None` until one is seen.
    v6: Option<bool>,
    /// Parallel to `track_script`.
    scripts: Vec<Token>,
    /// Parallel to `track_file`.
    files: Vec<Token>,
    /// Parallel to `track_process`.
    processes: Vec<Token>,
    /// How many vrrp_scripts were defined above the instance: keepalived reads in order and
    /// ignores references to later ones.
    scripts_above: usize,
}

#[derive(Default)]
struct Builder {
    cfg: Config,
    instances: Vec<InstanceAt>,
    /// Parallel to `sync_groups`: member tokens, then track_script tokens.
    groups: Vec<(Vec<Token>, Vec<Token>)>,
    /// Parallel to `virtual_servers`: the `group NAME` token, if any.
    vs_groups: Vec<Option<Token>>,
    /// Where `lvs_sync_daemon` (or an instance's `lvs_sync_daemon_interface`) was set.
    sync_daemon_at: Option<Token>,
}

/// Builds and checks the model. `global_defs` is applied first wherever it appears, since
/// instance defaults derive from it.
pub fn build(ctx: &mut Ctx, nodes: &[Node]) -> Config {
    let mut b = Builder::default();
    let (globals, others): (Vec<&Node>, Vec<&Node>) =
        nodes.iter().partition(|n| n.kw.text == "global_defs");
    apply(ctx, "the top level", &[TOP], &mut b, globals);
    apply(ctx, "the top level", &[TOP], &mut b, others);
    cross_check(ctx, &mut b);
    b.cfg
}

const TOP: &[Kw<Builder>] = &[
    Kw {
        name: "global_defs",
        arity: Block(0, 0),
        doc: "`global_defs { ... }`: settings for the whole file",
        set: |c, b, n| {
            let seen = apply(c, "global_defs", &[GLOBAL, &GLOBAL_GARP], &mut b.cfg.global, block(n));
            if let Some(t) = seen.get("lvs_sync_daemon") {
                b.sync_daemon_at.get_or_insert(t.clone());
            }
        },
    },
    Kw {
        name: "vrrp_script",
        arity: Block(1, 1),
        doc: "`vrrp_script NAME { ... }`: a check script instances can track",
        set: vrrp_script,
    },
    Kw {
        name: "track_file",
        arity: Block(1, 1),
        doc: "`track_file NAME { ... }`: a file whose number instances can track",
        set: track_file,
    },
    Kw {
        name: "vrrp_track_file",
        arity: Block(1, 1),
        doc: "`vrrp_track_file NAME { ... }`: keepalived's older name of `track_file`",
        set: track_file,
    },
    Kw {
        name: "vrrp_track_process",
        arity: Block(1, 1),
        doc: "`vrrp_track_process NAME { ... }`: processes of a name instances can track",
        set: track_process,
    },
    Kw {
        name: "track_process",
        arity: Block(1, 1),
        doc: "`track_process NAME { ... }`: the same as `vrrp_track_process`",
        set: track_process,
    },
    Kw {
        name: "vrrp_sync_group",
        arity: Block(1, 1),
        doc: "`vrrp_sync_group NAME { group { INSTANCE... } ... }`: instances that change state together (bare names in the block are unknown keywords, as in keepalived 2.2.7)",
        set: sync_group,
    },
    Kw {
        name: "vrrp_instance",
        arity: Block(1, 1),
        doc: "`vrrp_instance NAME { ... }`: one VRRP virtual router",
        set: instance,
    },
    Kw {
        name: "virtual_server_group",
        arity: Block(1, 1),
        doc: "`virtual_server_group NAME { IP[-LAST] PORT | fwmark N ... }`",
        set: server_group,
    },
    Kw {
        name: "virtual_server",
        arity: Block(2, 2),
        doc: "`virtual_server IP PORT | fwmark N | group NAME { ... }`: an IPVS service",
        set: virtual_server,
    },
    Kw {
        name: "static_ipaddress",
        arity: Block(0, 0),
        doc: "`static_ipaddress { ADDR[/LEN] dev IF [brd X] [scope S] [label L] ... }`: addresses installed at start (permanent), removed at exit",
        set: |c, b, n| b.cfg.static_ipaddress.extend(static_addresses(c, n)),
    },
    Kw {
        name: "static_routes",
        arity: Block(0, 0),
        doc: "`static_routes { ROUTE ... }`: routes installed at start, removed at exit (syntax as `virtual_routes`)",
        set: |c, b, n| b.cfg.static_routes.extend(routes(c, n)),
    },
    Kw {
        name: "static_rules",
        arity: Block(0, 0),
        doc: "`static_rules { RULE ... }`: policy rules installed at start, removed at exit (syntax as `virtual_rules`)",
        set: |c, b, n| b.cfg.static_rules.extend(rules(c, n)),
    },
];

fn vip_lease(c: &mut Ctx, n: &Node) -> Option<VipLease> {
    if n.args[0].text.eq_ignore_ascii_case("off") {
        return Some(VipLease::Off);
    }
    c.int(n, 1, 1_000_000).map(|v| VipLease::Seconds(v as u32))
}

fn script_user(n: &Node) -> ScriptUser {
    script_user_at(n, 0)
}

/// `USER [GROUP]` starting at value `i`.
fn script_user_at(n: &Node, i: usize) -> ScriptUser {
    ScriptUser {
        user: n.args[i].text.clone(),
        group: n.args.get(i + 1).map(|t| t.text.clone()),
    }
}

/// keepalived's optional boolean (`true|on|yes`, `false|off|no`; none = true).
fn bool_arg(c: &mut Ctx, n: &Node) -> Option<bool> {
    let Some(t) = n.args.first() else {
        return Some(true);
    };
    match t.text.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" => Some(true),
        "false" | "off" | "no" => Some(false),
        _ => {
            c.warn(
                t,
                format!("invalid value `{}` for `{}`: expected true or false; ignored, as keepalived does", t.text, n.kw.text),
                None,
            );
            None
        }
    }
}

fn version(c: &mut Ctx, n: &Node) -> Option<u8> {
    c.int(n, 2, 3).map(|v| v as u8)
}

/// A Markdown reference of every block's keywords, plus the unsupported ones.
/// Where keepalived 2.2.7 and keeplite read a construct differently, or where keeplite warns
/// about what keepalived does: (construct, what keeplite does, how keepalived differs). The
/// handlers named in each row implement it; the unit tests in build/tests.rs check each one.
pub const TOLERANCES: &[(&str, &str, &str)] = &[
    ("`$NAME` / `${NAME}` inside a quoted string", "expanded", "same"),
    ("an invalid value (`priority 300`, `advert_int abc`)", "line ignored, default kept, warning", "same, with its own message"),
    ("a bad VIP, status code, group entry; `MISC_CHECK` without `misc_path`", "entry skipped, warning", "same"),
    ("`state` other than `MASTER`/`BACKUP` (`SLAVE`, `master`)", "BACKUP, warning", "same (case-sensitive)"),
    ("`auth_type` other than `PASS`/`AH` (`PASS;`, `pass`)", "no authentication, warning", "same"),
    ("`lb_kind` / `lb_algo` spelled otherwise (`dr`, `RR`, unknown)", "NAT / wlc, warning", "same (case-sensitive)"),
    ("a second `vrrp_instance` with the same name", "block skipped, warning", "same"),
    ("`unicast_src_ip` / `unicast_peer` with `/LEN`", "prefix dropped", "same, silently"),
    ("VIPs, peers or sources of the other family than the instance's first address", "ignored, warning", "same"),
    ("IPv6 or mixed families in `virtual_ipaddress_excluded`", "accepted: installed, not adverted", "same"),
    ("IPv6 instance without `version`", "VRRPv3", "same, silently"),
    ("IPv6 instance with `version 2`", "VRRPv3, warning", "sends non-standard VRRPv2 over IPv6 (v3 in strict mode)"),
    ("`advert_int` beyond what the advert carries", "rounded / clamped (v2 whole seconds, v3 10 ms, <= 40.95 s), warning", "same"),
    ("more VIPs than one advert carries (255; 89 IPv6 at MTU 1500)", "the rest moved to `virtual_ipaddress_excluded`, warning", "same, using the interface's real MTU"),
    ("priority 255 with weighted `track_interface` / `track_script`", "those trackers dropped (sync group: weights cleared), warning", "same"),
    ("`track_script` naming a `vrrp_script` defined below the instance", "reference ignored, warning", "same (reads in order)"),
    ("own interface in `track_interface`; `preempt_delay` with state MASTER", "ignored / cleared, warning", "same"),
    ("same VRID on one interface and family", "refused only when both are multicast, or unicast with the same source and a common peer", "same"),
    ("a VIP in two instances", "refused (unsafe: leaving MASTER removes the other's address) unless both are excluded (warning)", "accepts both"),
    ("bare instance names in `vrrp_sync_group`; a group without members", "unknown keywords; the group is removed, warning", "same"),
    ("a VRRPv2 instance without `virtual_ipaddress`", "not run (the VRRP core needs an address), warning", "runs it (for its notify scripts)"),
    ("`quorum 0`", "1, warning", "same"),
    ("`persistence_timeout 0`; `vrrp_garp_interval`, `vrrp_gna_interval`, `vrrp_startup_delay` 0", "ignored (the default: none), warning", "invalid, ignored"),
    ("DR/TUN real server on another port than the service", "service port used, warning", "same"),
    ("`nb_get_retry`", "`retry` in HTTP_GET/SSL_GET (note); unknown keyword elsewhere, default retry", "same"),
    ("`protocol` on an fwmark service", "ignored (note)", "same"),
    ("a block without `{`, a stray `}`, an unclosed block at end of file", "statement ignored / `}` ignored / closed at end of file, warning", "same"),
    ("a missing include, an include loop", "skipped, warning", "same"),
    ("an include or `-f` that is not a regular file (FIFO, device, socket)", "refused with the include's file:line", "reads it (a FIFO blocks, `/dev/zero` never ends)"),
    ("more than 16 MiB in all files, 1024 files, 16 include levels, 1 MiB of `$` expansion", "refused", "no limit"),
    ("`|`, `;`, `&`, `>`, `<`, backquote or `$(` in a command", "run with `/bin/sh -c` (works), warning", "runs the command without a shell when its first word is an executable: the operator is an argument"),
    ("a virtual or static route, rule or static address deleted by someone else while running", "stays deleted (note at the block)", "puts a static one back; takes the instance out of MASTER for a virtual one without `no_track`"),
    ("route options `or`, `nexthop`, `from`, `tos`, `mtu` and the other metrics, `encap`, `expires`, `vrf`, `track_group`; rule options `tos`, `realms`, `uidrange`, `ip_proto`, `sport`, `dport`, `l3mdev`, `suppress_*`, `tun_id`, `protocol`", "that route or rule skipped, warning", "installed with them"),
    ("a command wrapped whole in single quotes (`script 'killall -0 x'`)", "quotes dropped (run through `/bin/sh -c`)", "split honouring the quotes, run without a shell"),
];

pub fn reference_table() -> String {
    let mut out = String::from(
        "# keeplite configuration reference\n\nGenerated from the keyword tables in src/config/.\n",
    );
    for (block, rows) in TABLES {
        out += &format!("\n## {block}\n\n| keyword | syntax and meaning |\n| --- | --- |\n");
        for (name, doc) in rows() {
            out += &format!("| `{name}` | {} |\n", doc.replace('|', "\\|"));
        }
    }
    out += "\n## Read as keepalived reads it, or with a warning\n\n`keeplite -t` exits 4 on a warning, 0 on a note.\n\n| construct | keeplite | keepalived 2.2.7 |\n| --- | --- | --- |\n";
    for (what, ours, theirs) in TOLERANCES {
        out += &format!("| {what} | {ours} | {theirs} |\n");
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
