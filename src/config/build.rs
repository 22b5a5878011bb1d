//! Keyword tables of every block and their handlers: statement tree -> typed [`Config`], with
//! keepalived's defaults and the semantic checks.

use super::diag::Severity;
use super::lexer::Token;
use super::model::*;
use super::parser::Node;
use super::schema::{apply, rest, rows, Arity, Ctx, Kw};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use Arity::{Block, Range, Rest, N};

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
    /// Parallel to `virtual_ipaddress` followed by `virtual_ipaddress_excluded`.
    vips: Vec<Token>,
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
        set: |c, b, n| {
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
                c.error(&n.args[0], format!("vrrp_script `{}` defined twice", s.name), None);
                return;
            }
            b.cfg.vrrp_scripts.push(s);
        },
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

/// Gratuitous ARP keywords: `vrrp_garp_master_*` in global_defs (defaults), `garp_master_*`
/// in instances.
trait HasGarp {
    fn garp(&mut self) -> &mut Garp;
}

impl HasGarp for GlobalDefs {
    fn garp(&mut self) -> &mut Garp {
        &mut self.garp
    }
}

fn garp_secs<T: HasGarp>(c: &mut Ctx, t: &mut T, n: &Node) {
    let Some(v) = c.secs(n) else { return };
    let g = t.garp();
    if n.kw.text.ends_with("delay") {
        g.master_delay = v;
    } else {
        g.master_refresh = v;
    }
}

fn garp_count<T: HasGarp>(c: &mut Ctx, t: &mut T, n: &Node) {
    let Some(v) = c.int(n, 1, 255) else { return };
    let g = t.garp();
    if n.kw.text.ends_with("refresh_repeat") {
        g.master_refresh_repeat = v as u32;
    } else {
        g.master_repeat = v as u32;
    }
}

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

const GLOBAL_GARP: [Kw<GlobalDefs>; 4] = garp_kws!(
    GlobalDefs,
    "vrrp_garp_master_delay",
    "vrrp_garp_master_repeat",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat"
);
const INST_GARP: [Kw<InstB>; 4] = garp_kws!(
    InstB,
    "garp_master_delay",
    "garp_master_repeat",
    "garp_master_refresh",
    "garp_master_refresh_repeat"
);

fn mail_ignored(c: &mut Ctx, _: &mut GlobalDefs, n: &Node) {
    c.warn(
        &n.kw,
        format!(
            "`{}` is accepted but ignored: keeplite sends no e-mail",
            n.kw.text
        ),
        Some("use notify scripts for alerts".into()),
    );
}

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

const GLOBAL: &[Kw<GlobalDefs>] = &[
    Kw {
        name: "router_id",
        arity: N(1),
        doc: "`router_id NAME`: name of this node in notifications",
        set: |_, g, n| g.router_id = Some(n.args[0].text.clone()),
    },
    Kw {
        name: "vrrp_mcast_group4",
        arity: N(1),
        doc: "`vrrp_mcast_group4 ADDR`: IPv4 VRRP multicast group (default 224.0.0.18)",
        set: |c, g, n| {
            if let Some(a) = c.parse(&n.kw.text, &n.args[0], "an IPv4 multicast address") {
                g.vrrp_mcast_group4 = a;
            }
        },
    },
    Kw {
        name: "vrrp_mcast_group6",
        arity: N(1),
        doc: "`vrrp_mcast_group6 ADDR`: IPv6 VRRP multicast group (default ff02::12)",
        set: |c, g, n| {
            if let Some(a) = c.parse(&n.kw.text, &n.args[0], "an IPv6 multicast address") {
                g.vrrp_mcast_group6 = a;
            }
        },
    },
    Kw {
        name: "vrrp_version",
        arity: N(1),
        doc: "`vrrp_version 2|3`: default VRRP version (default 2)",
        set: |c, g, n| g.vrrp_version = version(c, n).unwrap_or(g.vrrp_version),
    },
    Kw {
        name: "vrrp_garp_interval",
        arity: N(1),
        doc: "`vrrp_garp_interval SECS`: gap between gratuitous ARPs on one interface (0 = none)",
        set: |c, g, n| g.vrrp_garp_interval = c.secs(n).unwrap_or_default(),
    },
    Kw {
        name: "vrrp_gna_interval",
        arity: N(1),
        doc: "`vrrp_gna_interval SECS`: gap between unsolicited NAs on one interface (0 = none)",
        set: |c, g, n| g.vrrp_gna_interval = c.secs(n).unwrap_or_default(),
    },
    Kw {
        name: "vrrp_strict",
        arity: N(0),
        doc: "`vrrp_strict`: strict RFC compliance (no unicast, no accept mode by default)",
        set: |_, g, _| g.vrrp_strict = true,
    },
    Kw {
        name: "vrrp_skip_check_adv_addr",
        arity: N(0),
        doc: "`vrrp_skip_check_adv_addr`: do not check the address list of adverts from the current master",
        set: |_, g, _| g.vrrp_skip_check_adv_addr = true,
    },
    Kw {
        name: "vrrp_startup_delay",
        arity: N(1),
        doc: "`vrrp_startup_delay SECS`: wait before starting VRRP after boot",
        set: |c, g, n| g.vrrp_startup_delay = c.secs(n).unwrap_or_default(),
    },
    Kw {
        name: "script_user",
        arity: Range(1, 2),
        doc: "`script_user USER [GROUP]`: default user for scripts",
        set: |_, g, n| g.script_user = Some(script_user(n)),
    },
    Kw {
        name: "enable_script_security",
        arity: N(0),
        doc: "`enable_script_security`: refuse scripts writable by non-root",
        set: |_, g, _| g.enable_script_security = true,
    },
    Kw {
        name: "notification_email",
        arity: Block(0, 0),
        doc: "`notification_email { ADDR... }`: accepted, ignored (keeplite sends no e-mail)",
        set: mail_ignored,
    },
    Kw {
        name: "notification_email_from",
        arity: N(1),
        doc: "accepted, ignored",
        set: mail_ignored,
    },
    Kw {
        name: "smtp_server",
        arity: Range(1, 2),
        doc: "accepted, ignored",
        set: mail_ignored,
    },
    Kw {
        name: "smtp_connect_timeout",
        arity: N(1),
        doc: "accepted, ignored",
        set: mail_ignored,
    },
    Kw {
        name: "smtp_helo_name",
        arity: N(1),
        doc: "accepted, ignored",
        set: mail_ignored,
    },
    Kw {
        name: "vip_lease",
        arity: N(1),
        doc: "keeplite: `vip_lease SECS|off`: kernel lifetime of installed VIPs, refreshed by the live master, so a crashed master's VIPs expire (default: derived from the master-down interval)",
        set: |c, g, n| g.vip_lease = vip_lease(c, n).unwrap_or(g.vip_lease),
    },
    Kw {
        name: "watchdog_device",
        arity: N(1),
        doc: "keeplite: `watchdog_device PATH`: hardware watchdog to keep fed (default: none)",
        set: |_, g, n| g.watchdog_device = Some(n.args[0].text.clone().into()),
    },
    Kw {
        name: "watchdog_timeout",
        arity: N(1),
        doc: "keeplite: `watchdog_timeout SECS`: watchdog timeout (default 10)",
        set: |c, g, n| {
            if let Some(v) = c.int(n, 1, 3600) {
                g.watchdog_timeout = v as u32;
            }
        },
    },
    Kw {
        name: "control_socket",
        arity: N(1),
        doc: "keeplite: `control_socket PATH`: socket for `keeplite status|reload` (default /run/keeplite.sock)",
        set: |_, g, n| g.control_socket = n.args[0].text.clone().into(),
    },
];

/// `weight N [reverse]` at `args[i..]`.
fn weight_rev(c: &mut Ctx, kw: &str, args: &[Token], lo: i64, hi: i64) -> (Option<i32>, bool) {
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

const SCRIPT: &[Kw<VrrpScript>] = &[
    Kw {
        name: "script",
        arity: Rest,
        doc: "`script \"CMD ARGS\"`: command to run (exit 0 = success)",
        set: |_, s, n| s.script = rest(n),
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
trait HasNotify {
    fn notify(&mut self) -> &mut Notify;
}

fn set_notify<T: HasNotify>(_: &mut Ctx, t: &mut T, n: &Node) {
    let v = Some(rest(n));
    let no = t.notify();
    match n.kw.text.as_str() {
        "notify_master" => no.master = v,
        "notify_backup" => no.backup = v,
        "notify_fault" => no.fault = v,
        "notify_stop" => no.stop = v,
        _ => no.any = v,
    }
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

struct SyncB {
    g: SyncGroup,
    members: Vec<Token>,
    scripts: Vec<Token>,
}

impl HasNotify for SyncB {
    fn notify(&mut self) -> &mut Notify {
        &mut self.g.notify
    }
}

const SYNC_NOTIFY: [Kw<SyncB>; 5] = notify_kws!(SyncB);
const SYNC: &[Kw<SyncB>] = &[
    Kw {
        name: "group",
        arity: Block(0, 0),
        doc: "`group { INSTANCE... }`: member instances",
        set: |_, s, n| {
            for m in block(n) {
                s.g.group.push(m.kw.text.clone());
                s.members.push(m.kw.clone());
            }
        },
    },
    Kw {
        name: "track_script",
        arity: Block(0, 0),
        doc: "`track_script { NAME [weight N] [reverse] ... }`",
        set: |c, s, n| track_scripts(c, n, &mut s.g.track_script, &mut s.scripts),
    },
];

fn sync_group(c: &mut Ctx, b: &mut Builder, n: &Node) {
    let mut s = SyncB {
        g: SyncGroup {
            name: n.args[0].text.clone(),
            group: Vec::new(),
            notify: Notify::default(),
            track_script: Vec::new(),
        },
        members: Vec::new(),
        scripts: Vec::new(),
    };
    // Old form (keepalived.conf.vrrp.lvs_syncd): bare instance names directly in the block.
    let known = |k: &str| {
        SYNC.iter().chain(&SYNC_NOTIFY).any(|x| x.name == k)
            || super::schema::UNSUPPORTED.contains(&k)
    };
    let (stmts, bare): (Vec<&Node>, Vec<&Node>) = block(n)
        .iter()
        .partition(|m| known(&m.kw.text) || !m.args.is_empty() || m.block.is_some());
    for m in bare {
        s.g.group.push(m.kw.text.clone());
        s.members.push(m.kw.clone());
    }
    apply(c, "vrrp_sync_group", &[SYNC, &SYNC_NOTIFY], &mut s, stmts);
    b.cfg.sync_groups.push(s.g);
    b.groups.push((s.members, s.scripts));
}

fn track_scripts(c: &mut Ctx, n: &Node, out: &mut Vec<TrackScript>, at: &mut Vec<Token>) {
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

struct InstB {
    v: VrrpInstance,
    at: InstanceAt,
    auth_type: Option<Token>,
    auth_pass: Option<Token>,
}

impl HasGarp for InstB {
    fn garp(&mut self) -> &mut Garp {
        &mut self.v.garp
    }
}

impl HasNotify for InstB {
    fn notify(&mut self) -> &mut Notify {
        &mut self.v.notify
    }
}

fn vip_list(c: &mut Ctx, n: &Node, out: &mut Vec<VirtualIp>, at: &mut Vec<Token>) {
    for e in block(n) {
        if let Some(v) = vip(c, e) {
            out.push(v);
            at.push(e.kw.clone());
        }
    }
}

/// `ADDR[/LEN] [brd X] [dev IF] [scope S] [label L]`.
fn vip(c: &mut Ctx, e: &Node) -> Option<VirtualIp> {
    let (a, len) = match e.kw.text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (e.kw.text.as_str(), None),
    };
    let Ok(addr) = a.parse::<IpAddr>() else {
        c.error(
            &e.kw,
            format!("invalid virtual address `{}`", e.kw.text),
            Some("expected `ADDR[/LEN] [brd X] [dev IF] [scope S] [label L]`".into()),
        );
        return None;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = match len.map(|l| l.parse::<u8>()) {
        None => max,
        Some(Ok(l)) if l <= max => l,
        Some(_) => {
            c.error(
                &e.kw,
                format!(
                    "invalid prefix length in `{}`: expected 0..={max}",
                    e.kw.text
                ),
                None,
            );
            return None;
        }
    };
    let mut v = VirtualIp {
        addr,
        prefix_len,
        brd: None,
        dev: None,
        scope: None,
        label: None,
    };
    let mut i = 0;
    while i < e.args.len() {
        let key = &e.args[i];
        let Some(val) = e.args.get(i + 1) else {
            c.warn(
                key,
                format!("`{}` without a value; ignored", key.text),
                None,
            );
            break;
        };
        match key.text.as_str() {
            "brd" | "broadcast" => v.brd = c.parse("brd", val, "an IPv4 address"),
            "dev" => {
                c.interface(val);
                v.dev = Some(val.text.clone());
            }
            "scope" => {
                const SCOPES: &[&str] = &["global", "site", "link", "host", "nowhere"];
                if SCOPES.contains(&val.text.as_str()) {
                    v.scope = Some(val.text.clone());
                } else {
                    c.error(
                        val,
                        format!("invalid scope `{}`", val.text),
                        Some(format!("expected one of: {}", SCOPES.join(", "))),
                    );
                }
            }
            "label" => v.label = Some(val.text.clone()),
            other => {
                c.warn(
                    key,
                    format!(
                        "virtual address option `{other}` is not supported by keeplite; ignored"
                    ),
                    Some("supported: brd, dev, scope, label".into()),
                );
            }
        }
        i += 2;
    }
    Some(v)
}

const INST_NOTIFY: [Kw<InstB>; 5] = notify_kws!(InstB);
const INSTANCE: &[Kw<InstB>] = &[
    Kw {
        name: "state",
        arity: N(1),
        doc: "`state MASTER|BACKUP`: initial state (default BACKUP)",
        set: |c, i, n| {
            i.v.state = c.choice(n, InitialState::CHOICES).unwrap_or(i.v.state);
        },
    },
    Kw {
        name: "interface",
        arity: N(1),
        doc: "`interface IF`: interface VRRP runs on",
        set: |c, i, n| {
            c.interface(&n.args[0]);
            i.v.interface = n.args[0].text.clone();
        },
    },
    Kw {
        name: "virtual_router_id",
        arity: N(1),
        doc: "`virtual_router_id 1..255`: VRID, the same on all nodes of this router",
        set: |c, i, n| {
            if let Some(v) = c.int(n, 1, 255) {
                i.v.virtual_router_id = v as u8;
                i.at.vrid = Some(n.args[0].clone());
            }
        },
    },
    Kw {
        name: "priority",
        arity: N(1),
        doc: "`priority 1..255`: election priority (default 100; 255 with `state MASTER`)",
        set: |c, i, n| i.v.priority = c.int(n, 1, 255).map_or(i.v.priority, |v| v as u8),
    },
    Kw {
        name: "advert_int",
        arity: N(1),
        doc: "`advert_int SECS`: advert interval (default 1; VRRPv3 allows 0.01..40.95)",
        set: |c, i, n| i.v.advert_int = c.secs(n).unwrap_or(i.v.advert_int),
    },
    Kw {
        name: "version",
        arity: N(1),
        doc: "`version 2|3`: VRRP version (default `vrrp_version`)",
        set: |c, i, n| i.v.version = version(c, n).unwrap_or(i.v.version),
    },
    Kw {
        name: "authentication",
        arity: Block(0, 0),
        doc: "`authentication { auth_type PASS; auth_pass SECRET }` (VRRPv2)",
        set: |c, i, n| {
            apply(c, "authentication", &[AUTH], i, block(n));
        },
    },
    Kw {
        name: "virtual_ipaddress",
        arity: Block(0, 0),
        doc: "`virtual_ipaddress { ADDR[/LEN] [brd X] [dev IF] [scope S] [label L] ... }`",
        set: |c, i, n| vip_list(c, n, &mut i.v.virtual_ipaddress, &mut i.at.vips),
    },
    Kw {
        name: "virtual_ipaddress_excluded",
        arity: Block(0, 0),
        doc: "`virtual_ipaddress_excluded { ... }`: VIPs not carried in adverts",
        set: |c, i, n| vip_list(c, n, &mut i.v.virtual_ipaddress_excluded, &mut i.at.vips),
    },
    Kw {
        name: "track_interface",
        arity: Block(0, 0),
        doc: "`track_interface { IF [weight N] [reverse] ... }`: FAULT (or priority change) when down",
        set: |c, i, n| {
            for e in block(n) {
                c.interface(&e.kw);
                let (w, reverse) = weight_rev(c, "track_interface", &e.args, -253, 253);
                i.v.track_interface.push(TrackInterface {
                    name: e.kw.text.clone(),
                    weight: w.unwrap_or(0),
                    reverse,
                });
            }
        },
    },
    Kw {
        name: "track_script",
        arity: Block(0, 0),
        doc: "`track_script { NAME [weight N] [reverse] ... }`",
        set: |c, i, n| track_scripts(c, n, &mut i.v.track_script, &mut i.at.scripts),
    },
    Kw {
        name: "unicast_src_ip",
        arity: N(1),
        doc: "`unicast_src_ip ADDR`: source address of unicast adverts",
        set: |c, i, n| i.v.unicast_src_ip = c.ip(&n.kw.text, &n.args[0]),
    },
    Kw {
        name: "unicast_peer",
        arity: Block(0, 0),
        doc: "`unicast_peer { ADDR ... }`: send adverts to these peers instead of multicast",
        set: |c, i, n| {
            for e in block(n) {
                if let Some(a) = c.ip("unicast_peer", &e.kw) {
                    i.v.unicast_peer.push(a);
                }
                if let Some(extra) = e.args.first() {
                    c.warn(
                        extra,
                        "peer options are not supported by keeplite; ignored".into(),
                        None,
                    );
                }
            }
        },
    },
    Kw {
        name: "mcast_src_ip",
        arity: N(1),
        doc: "`mcast_src_ip ADDR`: source address of multicast adverts",
        set: |c, i, n| i.v.mcast_src_ip = c.ip(&n.kw.text, &n.args[0]),
    },
    Kw {
        name: "nopreempt",
        arity: N(0),
        doc: "`nopreempt`: a higher-priority backup does not take over from a live master",
        set: |_, i, _| i.v.nopreempt = true,
    },
    Kw {
        name: "preempt_delay",
        arity: N(1),
        doc: "`preempt_delay SECS`: wait before preempting after start (0..1000)",
        set: |c, i, n| i.v.preempt_delay = c.secs(n).unwrap_or_default(),
    },
    Kw {
        name: "dont_track_primary",
        arity: N(0),
        doc: "`dont_track_primary`: ignore faults of `interface`",
        set: |_, i, _| i.v.dont_track_primary = true,
    },
    Kw {
        name: "accept",
        arity: N(0),
        doc: "`accept`: accept packets to the VIPs while master (default unless vrrp_strict)",
        set: |_, i, _| i.v.accept = true,
    },
    Kw {
        name: "no_accept",
        arity: N(0),
        doc: "`no_accept`: drop packets to the VIPs while master",
        set: |_, i, _| i.v.accept = false,
    },
    Kw {
        name: "vip_lease",
        arity: N(1),
        doc: "keeplite: `vip_lease SECS|off`: overrides `global_defs vip_lease`",
        set: |c, i, n| i.v.vip_lease = vip_lease(c, n).or(i.v.vip_lease),
    },
];

const AUTH: &[Kw<InstB>] = &[
    Kw {
        name: "auth_type",
        arity: N(1),
        doc: "`auth_type PASS|AH`: AH is not supported (the instance runs unauthenticated)",
        set: |c, i, n| {
            if c.choice(n, &[("PASS", ()), ("AH", ())]).is_some() {
                i.auth_type = Some(n.args[0].clone());
            }
        },
    },
    Kw {
        name: "auth_pass",
        arity: N(1),
        doc: "`auth_pass SECRET`: password, first 8 characters used",
        set: |_, i, n| i.auth_pass = Some(n.args[0].clone()),
    },
];

fn instance(c: &mut Ctx, b: &mut Builder, n: &Node) {
    let g = &b.cfg.global;
    let mut i = InstB {
        v: VrrpInstance {
            name: n.args[0].text.clone(),
            state: InitialState::Backup,
            interface: String::new(),
            virtual_router_id: 0,
            priority: 100,
            advert_int: Duration::from_secs(1),
            version: g.vrrp_version,
            auth_pass: None,
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            track_interface: Vec::new(),
            track_script: Vec::new(),
            unicast_src_ip: None,
            unicast_peer: Vec::new(),
            mcast_src_ip: None,
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            garp: g.garp,
            notify: Notify::default(),
            dont_track_primary: false,
            accept: !g.vrrp_strict,
            vip_lease: None,
        },
        at: InstanceAt {
            vrid: None,
            vips: Vec::new(),
            scripts: Vec::new(),
        },
        auth_type: None,
        auth_pass: None,
    };
    let seen = apply(
        c,
        "vrrp_instance",
        &[INSTANCE, &INST_NOTIFY, &INST_GARP],
        &mut i,
        block(n),
    );
    check_instance(c, &b.cfg.global, &mut i, &seen, n);
    if b.cfg.instances.iter().any(|x| x.name == i.v.name) {
        c.error(
            &n.args[0],
            format!("vrrp_instance `{}` defined twice", i.v.name),
            Some("instance names must be unique".into()),
        );
        return;
    }
    b.cfg.instances.push(i.v);
    b.instances.push(i.at);
}

/// Checks that only need this instance.
fn check_instance(
    c: &mut Ctx,
    global: &GlobalDefs,
    i: &mut InstB,
    seen: &super::schema::Seen,
    n: &Node,
) {
    let name = i.v.name.clone();
    let v = &mut i.v;
    if v.interface.is_empty() {
        c.error(
            &n.kw,
            format!("vrrp_instance `{name}` has no `interface`"),
            Some("add `interface eth0` (the interface VRRP runs on)".into()),
        );
    }
    if i.at.vrid.is_none() && !seen.contains_key("virtual_router_id") {
        c.error(
            &n.kw,
            format!("vrrp_instance `{name}` has no `virtual_router_id`"),
            Some("add `virtual_router_id N` (1..255, the same on every node)".into()),
        );
    }
    // keepalived: MASTER without an explicit priority is the address owner.
    if v.state == InitialState::Master && !seen.contains_key("priority") {
        v.priority = 255;
    }
    if v.nopreempt && v.state == InitialState::Master {
        let t = &seen["nopreempt"];
        c.warn(
            t,
            format!("(`{name}`) nopreempt will not work with initial state MASTER; cleared (as keepalived does)"),
            Some("use `state BACKUP` on every node for non-preemptive failover".into()),
        );
        v.nopreempt = false;
    }
    if v.nopreempt && v.priority == 255 {
        c.warn(
            &seen["nopreempt"],
            format!("(`{name}`) nopreempt is incompatible with priority 255; cleared"),
            None,
        );
        v.nopreempt = false;
    }
    let adv = seen.get("advert_int").unwrap_or(&n.kw).clone();
    let cs = (v.advert_int.as_micros() / 10_000) as u64;
    if v.version == 2 {
        if v.advert_int.subsec_micros() != 0 {
            let secs = ((v.advert_int.as_micros() + 500_000) / 1_000_000).max(1) as u64;
            c.warn(
                &adv,
                format!("VRRPv2 advert_int must be a whole number of seconds; rounded to {secs}"),
                Some("use `version 3` for sub-second adverts".into()),
            );
            v.advert_int = Duration::from_secs(secs);
        }
        if !(1..=255).contains(&v.advert_int.as_secs()) {
            c.error(
                &adv,
                "VRRPv2 advert_int must be 1..=255 seconds".into(),
                None,
            );
        }
    } else {
        // RFC 5798 §5.2.7: 12-bit Max Adver Int in centiseconds.
        if !(1..=4095).contains(&cs) {
            c.error(
                &adv,
                "VRRPv3 advert_int must be 0.01..=40.95 seconds".into(),
                None,
            );
        } else if v.advert_int != Duration::from_millis(cs * 10) {
            c.warn(
                &adv,
                "advert_int has centisecond resolution; rounded down".into(),
                None,
            );
            v.advert_int = Duration::from_millis(cs * 10);
        }
    }
    if global.vrrp_strict && v.state == InitialState::Master && v.priority != 255 {
        c.warn(
            &seen["state"],
            format!("vrrp_strict: state MASTER needs priority 255 (address owner); `{name}` starts as BACKUP"),
            Some("use `state BACKUP`, or `priority 255` on the address owner".into()),
        );
        v.state = InitialState::Backup;
    }
    if global.vrrp_strict && !v.unicast_peer.is_empty() {
        c.error(
            &seen["unicast_peer"],
            "unicast_peer is not allowed with vrrp_strict (RFC 5798 §5.1.1.2 multicast only)"
                .into(),
            Some("remove `vrrp_strict` from global_defs or use multicast".into()),
        );
    }
    if global.vrrp_strict && i.auth_pass.is_some() {
        let t = &seen["authentication"];
        c.warn(
            t,
            "vrrp_strict: authentication is not allowed (RFC 5798 §9); ignored".into(),
            Some("remove the authentication block".into()),
        );
        i.auth_type = None;
        i.auth_pass = None;
    }
    // The live master refreshes the lease every advert: it must outlive a few lost adverts.
    if let VipLease::Seconds(secs) = v.effective_vip_lease(global) {
        let min = (v.advert_int * 3).as_secs_f64().ceil() as u64;
        if u64::from(secs) < min {
            let t = seen.get("vip_lease").unwrap_or(&n.kw);
            c.error(
                t,
                format!("vip_lease {secs} s is shorter than 3 advert intervals; VIPs would expire while the master is alive"),
                Some(format!("use `vip_lease {}` or more", min.max(1))),
            );
        }
    }
    match (&i.auth_type, &i.auth_pass) {
        (Some(t), _) if t.text.eq_ignore_ascii_case("AH") => c.warn(
            t,
            "keeplite does not support AH authentication; the instance runs without authentication"
                .into(),
            Some("use `auth_type PASS`, or drop the authentication block".into()),
        ),
        (_, Some(p)) if v.version == 3 => c.warn(
            p,
            "VRRPv3 has no authentication (RFC 5798 §9); auth_pass ignored".into(),
            None,
        ),
        (Some(_), Some(p)) => {
            let pass: String = p.text.chars().take(8).collect();
            if pass.len() < p.text.len() {
                c.warn(
                    p,
                    format!("auth_pass is longer than 8 characters; only `{pass}` is used"),
                    None,
                );
            }
            v.auth_pass = Some(pass);
        }
        (Some(t), None) => c.warn(
            t,
            "auth_type PASS without auth_pass; the instance runs without authentication".into(),
            Some("add `auth_pass SECRET`".into()),
        ),
        (None, Some(p)) => c.warn(
            p,
            "auth_pass without auth_type; ignored".into(),
            Some("add `auth_type PASS`".into()),
        ),
        (None, None) => {}
    }
    let all: Vec<(IpAddr, &Token)> = v
        .virtual_ipaddress
        .iter()
        .chain(&v.virtual_ipaddress_excluded)
        .map(|x| x.addr)
        .zip(&i.at.vips)
        .collect();
    if let Some((first, _)) = all.first() {
        if let Some((_, t)) = all.iter().find(|(a, _)| a.is_ipv6() != first.is_ipv6()) {
            c.error(
                t,
                format!("vrrp_instance `{name}` mixes IPv4 and IPv6 virtual addresses"),
                Some("use one instance per address family".into()),
            );
        } else if first.is_ipv6() && v.version == 2 {
            c.error(
                all[0].1,
                "IPv6 virtual addresses need VRRP version 3".into(),
                Some("add `version 3` to the instance or `vrrp_version 3` to global_defs".into()),
            );
        }
    }
    if !v.unicast_peer.is_empty() && v.unicast_src_ip.is_none() {
        c.warn(
            &seen["unicast_peer"],
            format!(
                "unicast_peer without unicast_src_ip: adverts use the primary address of `{}`",
                v.interface
            ),
            Some("set `unicast_src_ip` so peers can match this node".into()),
        );
    }
    if seen.contains_key("unicast_peer") && seen.contains_key("mcast_src_ip") {
        c.warn(
            &seen["mcast_src_ip"],
            "mcast_src_ip is ignored in unicast mode".into(),
            None,
        );
    }
}

fn server_group(c: &mut Ctx, b: &mut Builder, n: &Node) {
    let mut g = VirtualServerGroup {
        name: n.args[0].text.clone(),
        entries: Vec::new(),
    };
    for e in block(n) {
        if e.kw.text == "fwmark" {
            if let Some(m) = e.args.first() {
                if let Some(v) = c.int_tok("fwmark", m, 1, u32::MAX.into()) {
                    g.entries.push(GroupEntry::Fwmark(v as u32));
                }
                continue;
            }
        }
        let Some(port) = e.args.first() else {
            c.error(
                &e.kw,
                format!("virtual_server_group entry `{}` has no port", e.kw.text),
                Some("expected `IP[-LAST] PORT` or `fwmark N`".into()),
            );
            continue;
        };
        let (a, last) = match e.kw.text.split_once('-') {
            Some((a, l)) => (a, Some(l)),
            None => (e.kw.text.as_str(), None),
        };
        let Ok(addr) = a.parse::<IpAddr>() else {
            c.error(
                &e.kw,
                format!("invalid address `{}` in virtual_server_group", e.kw.text),
                Some("expected `IP[-LAST] PORT` or `fwmark N`".into()),
            );
            continue;
        };
        // The range end replaces the last octet (IPv4, decimal) or group (IPv6, hex).
        let (first, radix, max) = match addr {
            IpAddr::V4(v) => (u16::from(v.octets()[3]), 10, 255),
            IpAddr::V6(v) => (v.segments()[7], 16, 0xffff),
        };
        let last = match last.map(|l| u16::from_str_radix(l, radix)) {
            None => None,
            Some(Ok(l)) if l >= first && l <= max => Some(l),
            Some(_) => {
                c.error(
                    &e.kw,
                    format!(
                        "invalid range `{}`: the end must be >= the start's last part and <= {max}",
                        e.kw.text
                    ),
                    None,
                );
                continue;
            }
        };
        if let Some(port) = c.port("virtual_server_group", port) {
            g.entries.push(GroupEntry::Range { addr, last, port });
        }
    }
    b.cfg.server_groups.push(g);
}

/// Checker settings given at virtual_server / real_server level (keepalived 2.x), inherited by
/// the checkers below unless they set their own.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckDefaults {
    connect_timeout: Option<Duration>,
    retry: Option<u32>,
    delay_before_retry: Option<Duration>,
    delay_loop: Option<Duration>,
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

const VS_CHECK_DEFAULTS: [Kw<VirtualServer>; 3] = check_default_kws!(VirtualServer);
const RS_CHECK_DEFAULTS: [Kw<RealServer>; 3] = check_default_kws!(RealServer);

fn virtual_server(c: &mut Ctx, b: &mut Builder, n: &Node) {
    let (a0, a1) = (&n.args[0], &n.args[1]);
    let addr = match a0.text.as_str() {
        "fwmark" => c
            .int_tok("fwmark", a1, 1, u32::MAX.into())
            .map(|v| VsAddr::Fwmark(v as u32)),
        "group" => Some(VsAddr::Group(a1.text.clone())),
        _ => match (c.ip("virtual_server", a0), c.port("virtual_server", a1)) {
            (Some(ip), Some(port)) => Some(VsAddr::Ip(ip, port)),
            _ => None,
        },
    };
    let mut vs = VirtualServer {
        addr: VsAddr::Fwmark(0),
        delay_loop: Duration::from_secs(60),
        lb_algo: "wlc".into(),
        lb_kind: LbKind::Nat,
        persistence_timeout: None,
        persistence_granularity: None,
        protocol: Protocol::Udp,
        ha_suspend: false,
        virtualhost: None,
        sorry_server: None,
        inhibit_on_failure: false,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        alpha: false,
        omega: false,
        real_servers: Vec::new(),
    };
    // Checker defaults apply wherever they appear in the block: real servers come last.
    let (rss, others): (Vec<&Node>, Vec<&Node>) =
        block(n).iter().partition(|m| m.kw.text == "real_server");
    c.check_defaults = CheckDefaults::default();
    let tables: &[&[Kw<VirtualServer>]] = &[VS, &VS_CHECK_DEFAULTS];
    let seen = apply(
        c,
        "virtual_server",
        tables,
        &mut vs,
        others.into_iter().chain(rss),
    );
    c.check_defaults = CheckDefaults::default();
    let Some(addr) = addr else { return };
    if !seen.contains_key("protocol") && !matches!(addr, VsAddr::Fwmark(_)) {
        c.warn(
            &n.kw,
            "virtual_server has no `protocol`; defaulting to UDP (as keepalived does)".into(),
            Some("add `protocol TCP`".into()),
        );
    }
    vs.addr = addr;
    b.vs_groups.push(match vs.addr {
        VsAddr::Group(_) => Some(a1.clone()),
        _ => None,
    });
    b.cfg.virtual_servers.push(vs);
}

const VS: &[Kw<VirtualServer>] = &[
    Kw {
        name: "delay_loop",
        arity: N(1),
        doc: "`delay_loop SECS`: checker interval (default 60)",
        set: |c, v, n| v.delay_loop = c.secs(n).unwrap_or(v.delay_loop),
    },
    Kw {
        name: "lb_algo",
        arity: N(1),
        doc: "`lb_algo rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|mh|fo|ovf|twos`: IPVS scheduler (default wlc)",
        set: set_sched,
    },
    Kw {
        name: "lvs_sched",
        arity: N(1),
        doc: "same as `lb_algo`",
        set: set_sched,
    },
    Kw {
        name: "lb_kind",
        arity: N(1),
        doc: "`lb_kind DR|NAT|TUN`: forwarding method (default NAT)",
        set: set_kind,
    },
    Kw {
        name: "lvs_method",
        arity: N(1),
        doc: "same as `lb_kind`",
        set: set_kind,
    },
    Kw {
        name: "persistence_timeout",
        arity: N(1),
        doc: "`persistence_timeout SECS`: client affinity timeout (0 = none)",
        set: |c, v, n| {
            v.persistence_timeout = c
                .int(n, 0, u32::MAX.into())
                .and_then(|s| (s > 0).then_some(s as u32));
        },
    },
    Kw {
        name: "persistence_granularity",
        arity: N(1),
        doc: "`persistence_granularity NETMASK`: affinity per client network",
        set: |c, v, n| {
            v.persistence_granularity = c.parse(&n.kw.text, &n.args[0], "an IPv4 netmask");
        },
    },
    Kw {
        name: "protocol",
        arity: N(1),
        doc: "`protocol TCP|UDP|SCTP` (default UDP, as keepalived)",
        set: |c, v, n| {
            v.protocol = c.choice(n, Protocol::CHOICES).unwrap_or(v.protocol);
        },
    },
    Kw {
        name: "ha_suspend",
        arity: N(0),
        doc: "`ha_suspend`: suspend checkers while the VIP is absent",
        set: |_, v, _| v.ha_suspend = true,
    },
    Kw {
        name: "virtualhost",
        arity: N(1),
        doc: "`virtualhost NAME`: default HTTP Host header for HTTP_GET/SSL_GET",
        set: |_, v, n| v.virtualhost = Some(n.args[0].text.clone()),
    },
    Kw {
        name: "sorry_server",
        arity: Range(1, 2),
        doc: "`sorry_server IP [PORT]`: used when the quorum is lost (port 0 = the service's)",
        set: |c, v, n| {
            let port = opt_port(c, &n.kw.text, n.args.get(1));
            if let (Some(ip), Some(port)) = (c.ip(&n.kw.text, &n.args[0]), port) {
                v.sorry_server = Some((ip, port));
            }
        },
    },
    Kw {
        name: "inhibit_on_failure",
        arity: N(0),
        doc: "`inhibit_on_failure`: set weight 0 instead of removing failed real servers",
        set: |_, v, _| v.inhibit_on_failure = true,
    },
    Kw {
        name: "quorum",
        arity: N(1),
        doc: "`quorum N`: minimum total weight of live real servers (default 1)",
        set: |c, v, n| v.quorum = c.int(n, 0, u32::MAX.into()).unwrap_or(1) as u32,
    },
    Kw {
        name: "hysteresis",
        arity: N(1),
        doc: "`hysteresis N`: quorum tolerance (default 0)",
        set: |c, v, n| v.hysteresis = c.int(n, 0, u32::MAX.into()).unwrap_or(0) as u32,
    },
    Kw {
        name: "quorum_up",
        arity: Rest,
        doc: "`quorum_up CMD`: run when the quorum is reached",
        set: |_, v, n| v.quorum_up = Some(rest(n)),
    },
    Kw {
        name: "quorum_down",
        arity: Rest,
        doc: "`quorum_down CMD`: run when the quorum is lost",
        set: |_, v, n| v.quorum_down = Some(rest(n)),
    },
    Kw {
        name: "alpha",
        arity: N(0),
        doc: "`alpha`: real servers start down until their first successful check",
        set: |_, v, _| v.alpha = true,
    },
    Kw {
        name: "omega",
        arity: N(0),
        doc: "`omega`: run quorum_down and clear the service on shutdown",
        set: |_, v, _| v.omega = true,
    },
    Kw {
        name: "real_server",
        arity: Block(1, 2),
        doc: "`real_server IP [PORT] { ... }`: the port may be omitted with fwmark services",
        set: real_server,
    },
];

/// An optional port: absent = 0 (the service's port, or none with fwmark services).
fn opt_port(c: &mut Ctx, kw: &str, t: Option<&Token>) -> Option<u16> {
    t.map_or(Some(0), |t| c.port(kw, t))
}

fn set_sched(c: &mut Ctx, v: &mut VirtualServer, n: &Node) {
    let choices: Vec<(&str, &str)> = SCHEDULERS.iter().map(|s| (*s, *s)).collect();
    if let Some(s) = c.choice(n, &choices) {
        v.lb_algo = s.into();
    }
}

fn set_kind(c: &mut Ctx, v: &mut VirtualServer, n: &Node) {
    v.lb_kind = c.choice(n, LbKind::CHOICES).unwrap_or(v.lb_kind);
}

/// `inhibit_on_failure` is not inherited from the virtual server here: consumers OR the two.
fn real_server(c: &mut Ctx, v: &mut VirtualServer, n: &Node) {
    let addr = c.ip("real_server", &n.args[0]);
    let port = opt_port(c, "real_server", n.args.get(1));
    let mut rs = RealServer {
        addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        port: 0,
        weight: 1,
        inhibit_on_failure: false,
        notify_up: None,
        notify_down: None,
        checkers: Vec::new(),
    };
    let saved = c.check_defaults;
    let (checks, others): (Vec<&Node>, Vec<&Node>) =
        block(n).iter().partition(|m| m.block.is_some());
    let tables: &[&[Kw<RealServer>]] = &[RS, &RS_CHECK_DEFAULTS];
    apply(
        c,
        "real_server",
        tables,
        &mut rs,
        others.into_iter().chain(checks),
    );
    c.check_defaults = saved;
    if let (Some(addr), Some(port)) = (addr, port) {
        rs.addr = addr;
        rs.port = port;
        v.real_servers.push(rs);
    }
}

fn checker(c: &mut Ctx, rs: &mut RealServer, n: &Node) {
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
        c.error(
            &n.kw,
            "MISC_CHECK has no `misc_path`".into(),
            Some("add `misc_path \"/path/to/check args\"`".into()),
        );
        return;
    }
    rs.checkers.push(ck);
}

const RS: &[Kw<RealServer>] = &[
    Kw {
        name: "weight",
        arity: N(1),
        doc: "`weight N`: IPVS weight (default 1)",
        set: |c, r, n| r.weight = c.int(n, 0, i32::MAX.into()).unwrap_or(1) as i32,
    },
    Kw {
        name: "inhibit_on_failure",
        arity: N(0),
        doc: "`inhibit_on_failure`: set weight 0 instead of removing on failure",
        set: |_, r, _| r.inhibit_on_failure = true,
    },
    Kw {
        name: "notify_up",
        arity: Rest,
        doc: "`notify_up CMD`: run when the server comes up",
        set: |_, r, n| r.notify_up = Some(rest(n)),
    },
    Kw {
        name: "notify_down",
        arity: Rest,
        doc: "`notify_down CMD`: run when the server goes down",
        set: |_, r, n| r.notify_down = Some(rest(n)),
    },
    Kw {
        name: "delay_loop",
        arity: N(1),
        doc: "`delay_loop SECS`: default checker interval for this real server",
        set: |c, _, n| c.check_defaults.delay_loop = c.secs(n),
    },
    Kw {
        name: "TCP_CHECK",
        arity: Block(0, 0),
        doc: "`TCP_CHECK { ... }`: TCP connect check",
        set: checker,
    },
    Kw {
        name: "HTTP_GET",
        arity: Block(0, 0),
        doc: "`HTTP_GET { url { ... } ... }`: HTTP check",
        set: checker,
    },
    Kw {
        name: "SSL_GET",
        arity: Block(0, 0),
        doc: "`SSL_GET { url { ... } ... }`: HTTPS check",
        set: checker,
    },
    Kw {
        name: "MISC_CHECK",
        arity: Block(0, 0),
        doc: "`MISC_CHECK { misc_path CMD ... }`: script check",
        set: checker,
    },
];

fn set_retry(c: &mut Ctx, k: &mut Checker, n: &Node) {
    k.retry = c.int(n, 0, 1_000_000).unwrap_or(1) as u32;
}

const CONNECT: &[Kw<Checker>] = &[
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

const RETRY: &[Kw<Checker>] = &[
    Kw {
        name: "retry",
        arity: N(1),
        doc: "`retry N`: retries before failure (default 1)",
        set: set_retry,
    },
    Kw {
        name: "nb_get_retry",
        arity: N(1),
        doc: "old name of `retry`",
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

fn http(k: &mut Checker) -> &mut HttpCheck {
    match &mut k.kind {
        CheckKind::Http(h) | CheckKind::Ssl(h) => h,
        // The HTTP table is only applied to HTTP_GET / SSL_GET checkers.
        _ => unreachable!("HTTP keyword outside HTTP_GET/SSL_GET"),
    }
}

const HTTP: &[Kw<Checker>] = &[
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
                c.error(
                    &n.kw,
                    "url has no `path`".into(),
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

const URL: &[Kw<Url>] = &[
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
                c.error(
                    d,
                    "invalid digest: expected 32 hex digits (MD5)".into(),
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
                    _ => c.error(
                        t,
                        format!("invalid status_code `{}`", t.text),
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

fn misc(k: &mut Checker) -> &mut MiscCheck {
    match &mut k.kind {
        CheckKind::Misc(m) => m,
        // The MISC table is only applied to MISC_CHECK checkers.
        _ => unreachable!("misc keyword outside MISC_CHECK"),
    }
}

const MISC: &[Kw<Checker>] = &[
    Kw {
        name: "misc_path",
        arity: Rest,
        doc: "`misc_path \"CMD ARGS\"`: exit 0 = up",
        set: |_, k, n| misc(k).path = rest(n),
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

/// Checks across objects: duplicate VRIDs and VIPs, references to scripts, instances, groups.
fn cross_check(c: &mut Ctx, b: &mut Builder) {
    let cfg = &mut b.cfg;
    let mut vrids: HashMap<(String, u8, bool), String> = HashMap::new();
    let mut vips: HashMap<IpAddr, String> = HashMap::new();
    for (inst, at) in cfg.instances.iter_mut().zip(&b.instances) {
        if let Some(t) = &at.vrid {
            let key = (
                inst.interface.clone(),
                inst.virtual_router_id,
                inst.is_ipv6(),
            );
            if let Some(other) = vrids.insert(key, inst.name.clone()) {
                c.error(
                    t,
                    format!(
                        "virtual_router_id {} on `{}` is already used by vrrp_instance `{other}`",
                        inst.virtual_router_id, inst.interface
                    ),
                    Some("each instance on an interface needs its own VRID".into()),
                );
            }
        }
        let addrs = inst
            .virtual_ipaddress
            .iter()
            .chain(&inst.virtual_ipaddress_excluded);
        for (v, t) in addrs.zip(&at.vips) {
            match vips.get(&v.addr) {
                Some(other) if *other != inst.name => c.error(
                    t,
                    format!(
                        "virtual address {} is also in vrrp_instance `{other}`",
                        v.addr
                    ),
                    Some("a VIP can belong to one instance only".into()),
                ),
                _ => {
                    vips.insert(v.addr, inst.name.clone());
                }
            }
        }
        let scripts = &cfg.vrrp_scripts;
        retain_known(c, &mut inst.track_script, &at.scripts, "vrrp_script", |s| {
            scripts.iter().any(|x| x.name == s.name)
        });
    }
    let instances = &cfg.instances;
    for (g, (members, scripts)) in cfg.sync_groups.iter_mut().zip(&b.groups) {
        retain_known(c, &mut g.group, members, "vrrp_instance", |m| {
            instances.iter().any(|i| i.name == *m)
        });
        let known = &cfg.vrrp_scripts;
        retain_known(c, &mut g.track_script, scripts, "vrrp_script", |s| {
            known.iter().any(|x| x.name == s.name)
        });
    }
    for (vs, t) in cfg.virtual_servers.iter().zip(&b.vs_groups) {
        if let (VsAddr::Group(name), Some(t)) = (&vs.addr, t) {
            if !cfg.server_groups.iter().any(|g| g.name == *name) {
                c.error(
                    t,
                    format!("unknown virtual_server_group `{name}`"),
                    Some("define it with `virtual_server_group NAME { ... }`".into()),
                );
            }
        }
    }
}

/// Drops references to objects that do not exist, with a warning (keepalived ignores them too).
fn retain_known<T>(
    c: &mut Ctx,
    items: &mut Vec<T>,
    at: &[Token],
    what: &str,
    exists: impl Fn(&T) -> bool,
) {
    let mut idx = 0;
    items.retain(|item| {
        let t = &at[idx];
        idx += 1;
        let ok = exists(item);
        if !ok {
            c.at(
                Severity::Warning,
                t.pos,
                format!("unknown {what} `{}`; reference ignored", t.text),
                Some(format!("define it with `{what} {} {{ ... }}`", t.text)),
            );
        }
        ok
    });
}

#[cfg(test)]
mod tests {
    use crate::config::model::*;
    use crate::config::{load_str, Config, Diagnostic, LoadOptions, MemFiles, Severity};
    use std::net::IpAddr;
    use std::path::Path;
    use std::time::Duration;

    fn load(text: &str) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
        load_str(
            &MemFiles::default(),
            Path::new("t.conf"),
            text,
            &LoadOptions::default(),
        )
    }

    fn ok(text: &str) -> (Config, Vec<String>) {
        let (c, d) = load(text).unwrap_or_else(|d| panic!("{d:#?}"));
        (c, d.iter().map(|d| d.to_string()).collect())
    }

    fn err(text: &str) -> String {
        load(text)
            .expect_err("should fail")
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    const BASE: &str = "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n";

    #[test]
    fn instance_defaults() {
        let (c, d) = ok(&format!("{BASE}}}"));
        assert!(d.is_empty(), "{d:?}");
        let i = &c.instances[0];
        assert_eq!(i.state, InitialState::Backup);
        assert_eq!(i.priority, 100);
        assert_eq!(i.advert_int, Duration::from_secs(1));
        assert_eq!(i.version, 2);
        assert_eq!(i.garp, Garp::default());
        assert!(i.accept && !i.nopreempt);
        assert_eq!(i.effective_vip_lease(&c.global), VipLease::Auto);
    }

    #[test]
    fn master_without_priority_owns_the_address_and_clears_nopreempt() {
        let (c, d) = ok(&format!("{BASE} state MASTER\n nopreempt\n}}"));
        assert_eq!(c.instances[0].priority, 255);
        assert!(!c.instances[0].nopreempt);
        assert!(d[0].contains(
            "t.conf:5:2: warning: (`V`) nopreempt will not work with initial state MASTER"
        ));
        let (c, _) = ok(&format!("{BASE} state MASTER\n priority 90\n}}"));
        assert_eq!(c.instances[0].priority, 90);
    }

    #[test]
    fn global_defaults_flow_into_instances() {
        let g = "global_defs {\n vrrp_version 3\n vrrp_strict\n vrrp_garp_master_delay 2\n vip_lease 30\n}\n";
        let (c, d) = ok(&format!("{BASE} advert_int 0.25\n vip_lease off\n}}\n{g}"));
        assert!(d.is_empty(), "{d:?}");
        let i = &c.instances[0];
        assert_eq!((i.version, i.accept), (3, false));
        assert_eq!(i.advert_int, Duration::from_millis(250));
        assert_eq!(i.garp.master_delay, Duration::from_secs(2));
        assert_eq!(c.global.vip_lease, VipLease::Seconds(30));
        assert_eq!(i.effective_vip_lease(&c.global), VipLease::Off);
    }

    #[test]
    fn v2_fractional_advert_rounds_with_warning() {
        let (c, d) = ok(&format!("{BASE} advert_int 1.5\n}}"));
        assert_eq!(c.instances[0].advert_int, Duration::from_secs(2));
        assert!(d[0].contains("whole number of seconds; rounded to 2"));
    }

    #[test]
    fn authentication_rules() {
        let (c, d) = ok(&format!(
            "{BASE} authentication {{\n auth_type PASS\n auth_pass 0123456789\n }}\n}}"
        ));
        assert_eq!(c.instances[0].auth_pass.as_deref(), Some("01234567"));
        assert!(d[0].contains("only `01234567` is used"));
        let (c, d) = ok(&format!(
            "{BASE} authentication {{\n auth_type AH\n auth_pass x\n }}\n}}"
        ));
        assert_eq!(c.instances[0].auth_pass, None);
        assert!(d[0].contains("does not support AH"));
        let (_, d) = ok(&format!("{BASE} authentication {{\n uth_pass x\n }}\n}}"));
        assert!(d[0].contains("did you mean `auth_pass`?"), "{d:?}");
    }

    #[test]
    fn vip_options_and_tracking() {
        let (c, d) = ok(&format!(
            "vrrp_script chk {{\n script \"/bin/true x\"\n weight -20\n}}\n{BASE} virtual_ipaddress {{\n 192.0.2.1/24 brd 192.0.2.255 dev eth1 scope global label eth1:1\n 192.0.2.2\n }}\n track_interface {{\n eth2 weight 20 reverse\n eth3\n }}\n track_script {{\n chk weight 5\n nope\n }}\n}}"
        ));
        let i = &c.instances[0];
        let v = &i.virtual_ipaddress[0];
        assert_eq!(v.prefix_len, 24);
        assert_eq!(v.brd, Some("192.0.2.255".parse().unwrap()));
        assert_eq!(
            (v.dev.as_deref(), v.scope.as_deref(), v.label.as_deref()),
            (Some("eth1"), Some("global"), Some("eth1:1"))
        );
        assert_eq!(i.virtual_ipaddress[1].prefix_len, 32);
        assert_eq!(
            i.track_interface[0],
            TrackInterface {
                name: "eth2".into(),
                weight: 20,
                reverse: true
            }
        );
        assert_eq!(i.track_interface[1].weight, 0);
        assert_eq!(i.track_script.len(), 1);
        assert_eq!(i.track_script[0].weight, Some(5));
        assert_eq!(c.vrrp_scripts[0].script, "/bin/true x");
        assert_eq!(c.vrrp_scripts[0].weight, -20);
        assert!(
            d.iter().any(|d| d.contains("unknown vrrp_script `nope`")),
            "{d:?}"
        );
    }

    #[test]
    fn sync_group_both_forms() {
        let inst = |n: &str, id: u8| {
            format!("vrrp_instance {n} {{\n interface eth0\n virtual_router_id {id}\n}}\n")
        };
        let text = format!(
            "vrrp_sync_group A {{\n group {{\n I1\n }}\n notify_master \"/x m\"\n}}\nvrrp_sync_group B {{\n I2\n GHOST\n}}\n{}{}",
            inst("I1", 1),
            inst("I2", 2)
        );
        let (c, d) = ok(&text);
        assert_eq!(c.sync_groups[0].group, ["I1"]);
        assert_eq!(c.sync_groups[0].notify.master.as_deref(), Some("/x m"));
        assert_eq!(c.sync_groups[1].group, ["I2"]);
        assert!(
            d[0].contains("t.conf:9:2: warning: unknown vrrp_instance `GHOST`"),
            "{d:?}"
        );
    }

    #[test]
    fn semantic_errors() {
        assert!(err(&format!("{BASE} priority 0\n}}")).contains("out of range"));
        let dup =
            format!("{BASE}}}\nvrrp_instance W {{\n interface eth0\n virtual_router_id 7\n}}");
        assert!(err(&dup).contains("t.conf:7:20: error: virtual_router_id 7 on `eth0` is already used by vrrp_instance `V`"));
        // Same VRID on another family is fine.
        let v6 = format!("{BASE}}}\nvrrp_instance W {{\n interface eth0\n version 3\n virtual_router_id 7\n virtual_ipaddress {{\n fe80::1\n }}\n}}");
        ok(&v6);
        assert!(err(&format!(
            "{BASE} virtual_ipaddress {{\n 2001:db8::1\n }}\n}}"
        ))
        .contains("need VRRP version 3"));
        assert!(err("vrrp_instance V {\n}").contains("has no `interface`"));
        assert!(
            err(&format!("{BASE} state SLAVE\n}}")).contains("invalid value `SLAVE` for `state`")
        );
        let strict = "global_defs {\n vrrp_strict\n}\n";
        assert!(err(&format!(
            "{strict}{BASE} unicast_peer {{\n 192.0.2.2\n }}\n}}"
        ))
        .contains("not allowed with vrrp_strict"));
        assert!(err(&format!("{BASE} advert_int 2\n vip_lease 5\n}}"))
            .contains("t.conf:5:2: error: vip_lease 5 s is shorter than 3 advert intervals"));
    }

    #[test]
    fn virtual_server_and_checkers() {
        let text = "virtual_server_group G {\n 192.0.2.3-10 80\n ae00::2-f 80\n fwmark 4\n}\n\
            virtual_server group G {\n lvs_sched sh\n lvs_method TUN\n protocol SCTP\n persistence_timeout 600\n quorum 3\n sorry_server 192.0.2.9 8080\n\
            real_server 192.0.2.21 80 {\n weight 3\n HTTP_GET {\n url {\n path /h\n status_code 200-299 404\n }\n nb_get_retry 4\n }\n\
            MISC_CHECK {\n misc_path \"/bin/chk a\"\n misc_dynamic\n }\n TCP_CHECK {\n connect_port 81\n }\n }\n}";
        let (c, d) = ok(text);
        assert!(d.is_empty(), "{d:?}");
        let g = &c.server_groups[0];
        assert_eq!(
            g.entries[0],
            GroupEntry::Range {
                addr: "192.0.2.3".parse().unwrap(),
                last: Some(10),
                port: 80
            }
        );
        assert_eq!(
            g.entries[1],
            GroupEntry::Range {
                addr: "ae00::2".parse().unwrap(),
                last: Some(15),
                port: 80
            }
        );
        assert_eq!(g.entries[2], GroupEntry::Fwmark(4));
        let vs = &c.virtual_servers[0];
        assert_eq!(vs.addr, VsAddr::Group("G".into()));
        assert_eq!(
            (vs.lb_algo.as_str(), vs.lb_kind, vs.protocol),
            ("sh", LbKind::Tun, Protocol::Sctp)
        );
        assert_eq!((vs.persistence_timeout, vs.quorum), (Some(600), 3));
        assert_eq!(vs.delay_loop, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        assert_eq!(vs.sorry_server, Some((ip, 8080)));
        let rs = &vs.real_servers[0];
        assert_eq!(rs.weight, 3);
        let CheckKind::Http(h) = &rs.checkers[0].kind else {
            panic!()
        };
        assert_eq!(h.urls[0].status_code, [(200, 299), (404, 404)]);
        assert_eq!(rs.checkers[0].retry, 4);
        assert_eq!(rs.checkers[0].connect_timeout, Duration::from_secs(5));
        assert_eq!(
            rs.checkers[1].kind,
            CheckKind::Misc(MiscCheck {
                path: "/bin/chk a".into(),
                timeout: None,
                dynamic: true
            })
        );
        assert_eq!(rs.checkers[2].connect_port, Some(81));
    }

    #[test]
    fn checker_settings_inherit_from_server_levels() {
        let text = "virtual_server 192.0.2.1 80 {\n protocol TCP\n\
            real_server 192.0.2.2 80 {\n HTTP_GET {\n url {\n path /\n }\n }\n delay_loop 9\n retry 7\n }\n\
            real_server 192.0.2.3 80 {\n TCP_CHECK {\n retry 2\n }\n }\n\
            connect_timeout 2\n retry 4\n}";
        let (c, d) = ok(text);
        assert!(d.is_empty(), "{d:?}");
        let rs = &c.virtual_servers[0].real_servers;
        let (h, t) = (&rs[0].checkers[0], &rs[1].checkers[0]);
        assert_eq!((h.connect_timeout, h.retry), (Duration::from_secs(2), 7));
        assert_eq!(h.delay_before_retry, Duration::from_secs(3));
        assert_eq!(h.delay_loop, Some(Duration::from_secs(9)));
        assert_eq!((t.connect_timeout, t.retry), (Duration::from_secs(2), 2));
        assert_eq!(
            (t.delay_before_retry, t.delay_loop),
            (Duration::from_secs(1), None)
        );
    }

    #[test]
    fn unsupported_keywords_warn_and_skip_blocks() {
        let (c, d) = ok(&format!(
            "{BASE} use_vmac\n virtual_routes {{\n 10.0.0.0/8 via 192.0.2.1\n }}\n}}\nstatic_routes {{\n x\n}}"
        ));
        assert_eq!(c.instances.len(), 1);
        assert_eq!(d.len(), 3);
        assert!(d.iter().all(|d| d.contains("not supported by keeplite")));
    }
}
