//! Keyword tables of every block and their handlers: statement tree -> typed [`Config`], with
//! keepalived's defaults and the semantic checks. One file per block; the engine applying the
//! tables is in [`super::schema`].

use super::diag::Severity;
use super::lexer::Token;
use super::model::*;
use super::parser::Node;
use super::schema::{apply, rest, rows, Arity, CheckDefaults, Ctx, Kw, Seen, UNSUPPORTED};
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
    ("TCP_CHECK, HTTP_GET, SSL_GET", || rows(CONNECT)),
    ("all checkers", || rows(RETRY)),
    ("HTTP_GET, SSL_GET", || rows(HTTP)),
    ("url", || rows(URL)),
    ("MISC_CHECK", || rows(MISC)),
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
}

#[derive(Default)]
struct Builder {
    cfg: Config,
    instances: Vec<InstanceAt>,
    /// Parallel to `sync_groups`: member tokens, then track_script tokens.
    groups: Vec<(Vec<Token>, Vec<Token>)>,
    /// Parallel to `virtual_servers`: the `group NAME` token, if any.
    vs_groups: Vec<Option<Token>>,
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
            apply(c, "global_defs", &[GLOBAL, &GLOBAL_GARP], &mut b.cfg.global, block(n));
        },
    },
    Kw {
        name: "vrrp_script",
        arity: Block(1, 1),
        doc: "`vrrp_script NAME { ... }`: a check script instances can track",
        set: vrrp_script,
    },
    Kw {
        name: "vrrp_sync_group",
        arity: Block(1, 1),
        doc: "`vrrp_sync_group NAME { group { INSTANCE... } ... }`: instances that change state together (the old bare-list form is accepted)",
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
];

fn vip_lease(c: &mut Ctx, n: &Node) -> Option<VipLease> {
    if n.args[0].text.eq_ignore_ascii_case("off") {
        return Some(VipLease::Off);
    }
    c.int(n, 1, 1_000_000).map(|v| VipLease::Seconds(v as u32))
}

fn script_user(n: &Node) -> ScriptUser {
    ScriptUser {
        user: n.args[0].text.clone(),
        group: n.args.get(1).map(|t| t.text.clone()),
    }
}

fn version(c: &mut Ctx, n: &Node) -> Option<u8> {
    c.int(n, 2, 3).map(|v| v as u8)
}

/// A Markdown reference of every block's keywords, plus the unsupported ones.
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
    out += "\n## Not supported (parsed, ignored with a warning)\n\n";
    out += &UNSUPPORTED
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    out.push('\n');
    out
}
