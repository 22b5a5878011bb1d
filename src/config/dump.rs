//! Prints a [`Config`] back in keepalived syntax, every value explicit, so that parsing the
//! output gives an equal model (`keeplite -d > k.conf; keeplite -t -f k.conf`).

use super::model::*;
use crate::ipvs::model::{SVC_F_ONEPACKET, SVC_F_SCHED1, SVC_F_SCHED2};
use std::fmt::Write;
use std::time::Duration;

/// The normalised configuration in keepalived syntax.
pub fn dump(cfg: &Config) -> String {
    let mut w = W(String::new(), 0);
    global(&mut w, &cfg.global);
    for s in &cfg.vrrp_scripts {
        script(&mut w, s);
    }
    for f in &cfg.track_files {
        w.open(&format!("track_file {}", q(&f.name)));
        w.kv("file", q(&f.file.to_string_lossy()));
        let rev = if f.reverse { " reverse" } else { "" };
        w.kv("weight", format!("{}{rev}", f.weight));
        if let Some((v, overwrite)) = f.init {
            let ow = if overwrite { " overwrite" } else { "" };
            w.kv("init_file", format!("{v}{ow}"));
        }
        w.close();
    }
    for p in &cfg.track_processes {
        track_process(&mut w, p);
    }
    for g in &cfg.sync_groups {
        w.open(&format!("vrrp_sync_group {}", q(&g.name)));
        w.open("group");
        for m in &g.group {
            w.line(&q(m));
        }
        w.close();
        notify(&mut w, &g.notify);
        track_scripts(&mut w, &g.track_script);
        w.opt("notify_priority_changes", g.notify_priority_changes);
        w.opt("smtp_alert", g.smtp_alert.map(yes_no));
        w.close();
    }
    for i in &cfg.instances {
        instance(&mut w, i, &cfg.global);
    }
    for g in &cfg.server_groups {
        w.open(&format!("virtual_server_group {}", q(&g.name)));
        for e in &g.entries {
            match e {
                GroupEntry::Fwmark(m) => w.line(&format!("fwmark {m}")),
                GroupEntry::Range { addr, last, port } => {
                    let range = match (last, addr) {
                        (None, _) => String::new(),
                        (Some(l), std::net::IpAddr::V4(_)) => format!("-{l}"),
                        (Some(l), std::net::IpAddr::V6(_)) => format!("-{l:x}"),
                    };
                    w.line(&format!("{addr}{range} {port}"));
                }
            }
        }
        w.close();
    }
    for vs in &cfg.virtual_servers {
        virtual_server(&mut w, vs);
    }
    vips(&mut w, "static_ipaddress", &cfg.static_ipaddress);
    routes(
        &mut w,
        "static_routes",
        &cfg.static_routes,
        &cfg.static_rules,
    );
    w.0
}

/// `KEY_routes` and `KEY_rules` blocks (`static` / `virtual`).
fn routes(w: &mut W, key: &str, routes: &[Route], rules: &[Rule]) {
    if !routes.is_empty() {
        w.open(key);
        for r in routes {
            let kind = [
                "",
                "",
                "",
                "",
                "",
                "",
                "blackhole ",
                "unreachable ",
                "prohibit ",
                "throw ",
            ];
            let kind = kind.get(usize::from(r.kind)).unwrap_or(&"");
            let mut s = format!("{kind}{}/{}", r.dst, r.dst_len);
            for (k, a) in [("src", r.src), ("via", r.via)] {
                if let Some(a) = a {
                    s += &format!(" {k} {a}");
                }
            }
            if let Some(d) = &r.dev {
                s += &format!(" dev {}", q(d));
            }
            s += &format!(" table {}", r.table);
            if let Some(m) = r.metric {
                s += &format!(" metric {m}");
            }
            if let Some(sc) = r.scope {
                s += &format!(" scope {sc}");
            }
            // keeplite does not watch its routes: `no_track` says so to keepalived too.
            s += &format!(" protocol {} no_track", r.protocol);
            s += match r.mode {
                RouteMode::Prepend => "",
                RouteMode::Add => " add",
                RouteMode::Append => " append",
            };
            if r.onlink {
                s += " onlink";
            }
            w.line(&s);
        }
        w.close();
    }
    if !rules.is_empty() {
        w.open(&key.replace("routes", "rules"));
        for r in rules {
            // keepalived's `inet6` swallows the word after it: only where nothing else
            // gives the family.
            let bare = r.v6 && r.from.is_none() && r.to.is_none();
            let mut s = String::from(if bare { "inet6 " } else { "" });
            if r.invert {
                s += "not ";
            }
            for (k, p) in [("from", r.from), ("to", r.to)] {
                if let Some((a, l)) = p {
                    s += &format!("{k} {a}/{l} ");
                }
            }
            match (r.fwmark, r.fwmask) {
                (Some(m), Some(k)) => s += &format!("fwmark {m}/{k} "),
                (Some(m), None) => s += &format!("fwmark {m} "),
                _ => {}
            }
            for (k, i) in [("iif", &r.iif), ("oif", &r.oif)] {
                if let Some(i) = i {
                    s += &format!("{k} {} ", q(i));
                }
            }
            s += &match r.action {
                RuleAction::Table(t) => format!("table {t}"),
                RuleAction::Goto(p) => format!("goto {p}"),
                RuleAction::Blackhole => "blackhole".into(),
                RuleAction::Unreachable => "unreachable".into(),
                RuleAction::Prohibit => "prohibit".into(),
            };
            s += &format!(" priority {}", r.priority);
            if !r.track {
                s += " no_track";
            }
            w.line(&s);
        }
        w.close();
    }
}

struct W(String, usize);

impl W {
    fn line(&mut self, s: &str) {
        let _ = writeln!(self.0, "{}{s}", "    ".repeat(self.1));
    }
    fn kv(&mut self, k: &str, v: impl std::fmt::Display) {
        self.line(&format!("{k} {v}"));
    }
    fn opt(&mut self, k: &str, v: Option<impl std::fmt::Display>) {
        if let Some(v) = v {
            self.kv(k, v);
        }
    }
    fn flag(&mut self, k: &str, on: bool) {
        if on {
            self.line(k);
        }
    }
    fn open(&mut self, s: &str) {
        self.line(&format!("{s} {{"));
        self.1 += 1;
    }
    fn close(&mut self) {
        self.1 -= 1;
        self.line("}");
        if self.1 == 0 {
            self.0.push('\n');
        }
    }
}

/// Whether `s` survives as one bare word.
fn bare(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['!', '#', '"', '@', '$'])
        && !s.contains(|c: char| c.is_whitespace() || matches!(c, '{' | '}'))
}

/// Writes a value so that it lexes back to the same text: bare, quoted, or — for text with a
/// `"`, which quoted strings cannot hold — as bare words for the pieces containing `"` and
/// quoted runs for the rest (multi-word values are re-joined with single spaces).
fn q(s: &str) -> String {
    if bare(s) {
        return s.to_owned();
    }
    if !s.contains('"') {
        return format!("\"{s}\"");
    }
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    for piece in s.split(' ') {
        if piece.contains('"') {
            if !run.is_empty() {
                out.push(format!("\"{}\"", run.join(" ")));
                run.clear();
            }
            out.push(piece.to_owned());
        } else {
            run.push(piece);
        }
    }
    if !run.is_empty() {
        out.push(format!("\"{}\"", run.join(" ")));
    }
    out.join(" ")
}

fn secs(d: Duration) -> String {
    if d.subsec_micros() == 0 {
        return d.as_secs().to_string();
    }
    let s = format!("{}.{:06}", d.as_secs(), d.subsec_micros());
    s.trim_end_matches('0').to_owned()
}

fn nonzero(d: Duration) -> Option<String> {
    (!d.is_zero()).then(|| secs(d))
}

fn lease(l: VipLease) -> Option<String> {
    match l {
        VipLease::Auto => None,
        VipLease::Off => Some("off".into()),
        VipLease::Seconds(s) => Some(s.to_string()),
    }
}

fn user(u: &ScriptUser) -> String {
    match &u.group {
        Some(g) => format!("{} {}", q(&u.user), q(g)),
        None => q(&u.user),
    }
}

fn fifo(w: &mut W, kw: &str, f: &NotifyFifo) {
    let with_user = |head: String, u: &Option<ScriptUser>| match u {
        Some(u) => format!("{head} {}", user(u)),
        None => head,
    };
    if let Some(p) = &f.path {
        w.kv(kw, with_user(q(&p.to_string_lossy()), &f.owner));
    }
    if let Some(s) = &f.script {
        w.kv(&format!("{kw}_script"), with_user(q(s), &f.script_user));
    }
}

fn global(w: &mut W, g: &GlobalDefs) {
    w.open("global_defs");
    w.opt("router_id", g.router_id.as_deref().map(q));
    w.kv("vrrp_mcast_group4", g.vrrp_mcast_group4);
    w.kv("vrrp_mcast_group6", g.vrrp_mcast_group6);
    w.kv("vrrp_version", g.vrrp_version);
    w.kv("vrrp_garp_master_delay", secs(g.garp.master_delay));
    w.kv("vrrp_garp_master_repeat", g.garp.master_repeat);
    w.kv("vrrp_garp_master_refresh", secs(g.garp.master_refresh));
    w.kv(
        "vrrp_garp_master_refresh_repeat",
        g.garp.master_refresh_repeat,
    );
    // keepalived refuses 0 for these (0 is the default: none).
    w.opt("vrrp_garp_interval", nonzero(g.vrrp_garp_interval));
    w.opt("vrrp_gna_interval", nonzero(g.vrrp_gna_interval));
    w.flag("vrrp_strict", g.vrrp_strict);
    w.flag("vrrp_skip_check_adv_addr", g.vrrp_skip_check_adv_addr);
    w.flag("vrrp_lower_prio_no_advert", g.vrrp_lower_prio_no_advert);
    w.flag(
        "vrrp_higher_prio_send_advert",
        g.vrrp_higher_prio_send_advert,
    );
    w.opt(
        "vrrp_garp_lower_prio_delay",
        g.garp.lower_prio_delay.map(secs),
    );
    w.opt("vrrp_garp_lower_prio_repeat", g.garp.lower_prio_repeat);
    w.opt("vrrp_priority", g.vrrp_priority);
    w.opt("checker_priority", g.checker_priority);
    w.flag("vrrp_no_swap", g.vrrp_no_swap);
    w.flag("vrrp_raw_adverts", g.vrrp_raw_adverts);
    w.flag("checker_no_swap", g.checker_no_swap);
    w.opt("vrrp_rt_priority", g.vrrp_rt_priority);
    w.opt("checker_rt_priority", g.checker_rt_priority);
    w.kv("max_auto_priority", g.max_auto_priority);
    w.kv(
        "min_auto_priority_delay",
        g.min_auto_priority_delay.as_micros(),
    );
    w.opt("default_interface", g.default_interface.as_deref().map(q));
    w.opt("vmac_prefix", g.vmac_prefix.as_deref().map(q));
    w.opt("vrrp_startup_delay", nonzero(g.vrrp_startup_delay));
    w.opt("script_user", g.script_user.as_ref().map(user));
    w.flag("enable_script_security", g.enable_script_security);
    for (kw, f) in [
        ("notify_fifo", &g.notify_fifo),
        ("vrrp_notify_fifo", &g.vrrp_notify_fifo),
        ("lvs_notify_fifo", &g.lvs_notify_fifo),
    ] {
        fifo(w, kw, f);
    }
    w.flag(
        "vrrp_notify_priority_changes",
        g.vrrp_notify_priority_changes,
    );
    smtp(w, &g.smtp);
    if let Some(d) = &g.lvs_sync_daemon {
        let mut line = format!("{} {}", q(&d.interface), q(&d.instance));
        let opts = [
            ("id", d.syncid.map(|v| v.to_string())),
            ("maxlen", d.maxlen.map(|v| v.to_string())),
            ("port", d.port.map(|v| v.to_string())),
            ("ttl", d.ttl.map(|v| v.to_string())),
            ("group", d.group.map(|v| v.to_string())),
        ];
        for (k, v) in opts {
            if let Some(v) = v {
                line += &format!(" {k} {v}");
            }
        }
        w.kv("lvs_sync_daemon", line);
    }
    let t = g.lvs_timeouts;
    let timeouts: Vec<String> = [("tcp", t.tcp), ("tcpfin", t.tcpfin), ("udp", t.udp)]
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
        .collect();
    if !timeouts.is_empty() {
        w.kv("lvs_timeouts", timeouts.join(" "));
    }
    w.flag("lvs_flush", g.lvs_flush);
    w.flag("lvs_flush_on_stop", g.lvs_flush_on_stop);
    // keeplite's own keywords only when set, so that keepalived loads the dump unchanged.
    w.opt("vip_lease", lease(g.vip_lease));
    w.opt(
        "watchdog_device",
        g.watchdog_device.as_ref().map(|p| q(&p.to_string_lossy())),
    );
    let d = GlobalDefs::default();
    w.opt(
        "watchdog_timeout",
        (g.watchdog_timeout != d.watchdog_timeout).then_some(g.watchdog_timeout),
    );
    w.opt(
        "control_socket",
        (g.control_socket != d.control_socket).then(|| q(&g.control_socket.to_string_lossy())),
    );
    w.close();
}

fn yes_no(on: bool) -> &'static str {
    if on {
        "yes"
    } else {
        "no"
    }
}

fn smtp(w: &mut W, m: &Smtp) {
    if !m.to.is_empty() {
        w.open("notification_email");
        for a in &m.to {
            w.line(&q(a));
        }
        w.close();
    }
    w.opt("notification_email_from", m.from.as_deref().map(q));
    w.opt(
        "smtp_server",
        m.server.map(|s| format!("{} {}", s.ip(), s.port())),
    );
    w.opt("smtp_helo_name", m.helo_name.as_deref().map(q));
    w.kv("smtp_connect_timeout", m.connect_timeout.as_secs());
    w.opt("smtp_alert", m.alert.map(yes_no));
    w.opt("smtp_alert_vrrp", m.alert_vrrp.map(yes_no));
    w.opt("smtp_alert_checker", m.alert_checker.map(yes_no));
    w.flag("no_email_faults", m.no_email_faults);
    w.flag("no_checker_emails", m.no_checker_emails);
}

fn script(w: &mut W, s: &VrrpScript) {
    w.open(&format!("vrrp_script {}", q(&s.name)));
    w.kv("script", q(&s.script));
    w.kv("interval", secs(s.interval));
    w.kv("timeout", secs(s.timeout));
    let rev = if s.weight_reverse { " reverse" } else { "" };
    w.kv("weight", format!("{}{rev}", s.weight));
    w.kv("rise", s.rise);
    w.kv("fall", s.fall);
    w.flag("init_fail", s.init_fail);
    w.opt("user", s.user.as_ref().map(user));
    w.close();
}

fn notify(w: &mut W, n: &Notify) {
    for (k, v) in [
        ("notify_master", &n.master),
        ("notify_backup", &n.backup),
        ("notify_fault", &n.fault),
        ("notify_stop", &n.stop),
        ("notify", &n.any),
    ] {
        w.opt(k, v.as_deref().map(q));
    }
}

fn weight_rev(weight: Option<i32>, reverse: bool) -> String {
    let mut s = String::new();
    if let Some(wt) = weight {
        s += &format!(" weight {wt}");
    }
    if reverse {
        s += " reverse";
    }
    s
}

fn track_scripts(w: &mut W, list: &[TrackScript]) {
    tracked(w, "track_script", list);
}

fn track_process(w: &mut W, p: &TrackProcess) {
    w.open(&format!("vrrp_track_process {}", q(&p.name)));
    let mut line = q(&p.process);
    for a in p.params.iter().flat_map(|b| b.split(|c| *c == 0)) {
        if !a.is_empty() {
            line += &format!(" {}", q(&String::from_utf8_lossy(a)));
        }
    }
    w.kv("process", line);
    match p.param_match {
        ParamMatch::None => {}
        ParamMatch::Exact => w.line("param_match"),
        ParamMatch::Partial => w.kv("param_match", "partial"),
        ParamMatch::Initial => w.kv("param_match", "initial"),
    }
    w.flag("full_command", p.full_command);
    if p.quorum_max != u32::MAX {
        w.kv("quorum_max", p.quorum_max);
    }
    if p.quorum > 0 {
        w.kv("quorum", p.quorum);
    }
    w.opt("fork_delay", nonzero(p.fork_delay));
    w.opt("terminate_delay", nonzero(p.terminate_delay));
    let rev = if p.reverse { " reverse" } else { "" };
    w.kv("weight", format!("{}{rev}", p.weight));
    w.close();
}

fn tracked(w: &mut W, kw: &str, list: &[TrackScript]) {
    if list.is_empty() {
        return;
    }
    w.open(kw);
    for t in list {
        w.line(&format!(
            "{}{}",
            q(&t.name),
            weight_rev(t.weight, t.reverse)
        ));
    }
    w.close();
}

fn vips(w: &mut W, key: &str, list: &[VirtualIp]) {
    if list.is_empty() {
        return;
    }
    w.open(key);
    for v in list {
        let mut s = format!("{}/{}", v.addr, v.prefix_len);
        if let Some(b) = v.brd {
            s += &format!(" brd {b}");
        }
        for (k, val) in [("dev", &v.dev), ("scope", &v.scope), ("label", &v.label)] {
            if let Some(val) = val {
                s += &format!(" {k} {}", q(val));
            }
        }
        w.line(&s);
    }
    w.close();
}

fn instance(w: &mut W, i: &VrrpInstance, g: &GlobalDefs) {
    w.open(&format!("vrrp_instance {}", q(&i.name)));
    w.kv("state", i.state.keyword());
    w.kv("interface", q(&i.interface));
    w.kv("virtual_router_id", i.virtual_router_id);
    w.kv("priority", i.priority);
    w.kv("advert_int", secs(i.advert_int));
    w.kv("version", i.version);
    if let Some(p) = &i.auth_pass {
        w.open("authentication");
        w.kv("auth_type", "PASS");
        w.kv("auth_pass", q(p));
        w.close();
    }
    vips(w, "virtual_ipaddress", &i.virtual_ipaddress);
    vips(
        w,
        "virtual_ipaddress_excluded",
        &i.virtual_ipaddress_excluded,
    );
    if !i.track_interface.is_empty() {
        w.open("track_interface");
        for t in &i.track_interface {
            w.line(&format!(
                "{}{}",
                q(&t.name),
                weight_rev(Some(t.weight), t.reverse)
            ));
        }
        w.close();
    }
    track_scripts(w, &i.track_script);
    w.opt("unicast_src_ip", i.unicast_src_ip);
    if !i.unicast_peer.is_empty() {
        w.open("unicast_peer");
        for p in &i.unicast_peer {
            w.line(&p.to_string());
        }
        w.close();
    }
    w.opt(
        "unicast_ttl",
        (i.unicast_ttl != 255).then_some(i.unicast_ttl),
    );
    w.opt("mcast_src_ip", i.mcast_src_ip);
    w.flag("nopreempt", i.nopreempt);
    w.opt("smtp_alert", i.smtp_alert.map(yes_no));
    w.kv("preempt_delay", secs(i.preempt_delay));
    w.kv("garp_master_delay", secs(i.garp.master_delay));
    w.kv("garp_master_repeat", i.garp.master_repeat);
    w.kv("garp_master_refresh", secs(i.garp.master_refresh));
    w.kv("garp_master_refresh_repeat", i.garp.master_refresh_repeat);
    w.opt("garp_lower_prio_delay", i.garp.lower_prio_delay.map(secs));
    w.opt("garp_lower_prio_repeat", i.garp.lower_prio_repeat);
    // Only where the instance differs from what it inherits from global_defs.
    let own = |v: bool, inherited: bool| (v != inherited).then_some(v);
    let lower = own(
        i.lower_prio_no_advert,
        g.vrrp_lower_prio_no_advert || g.vrrp_strict,
    );
    w.opt("lower_prio_no_advert", lower);
    let higher = own(i.higher_prio_send_advert, g.vrrp_higher_prio_send_advert);
    w.opt("higher_prio_send_advert", higher);
    w.opt(
        "skip_check_adv_addr",
        own(i.skip_check_adv_addr, g.vrrp_skip_check_adv_addr),
    );
    notify(w, &i.notify);
    let rx_lower = i.notify_master_rx_lower_pri.as_deref().map(q);
    w.opt("notify_master_rx_lower_pri", rx_lower);
    w.flag("dont_track_primary", i.dont_track_primary);
    tracked(w, "track_file", &i.track_file);
    tracked(w, "track_process", &i.track_process);
    w.opt("strict_mode", i.strict_mode);
    w.opt("notify_priority_changes", i.notify_priority_changes);
    w.line(if i.accept { "accept" } else { "no_accept" });
    w.opt("vip_lease", i.vip_lease.and_then(lease));
    routes(w, "virtual_routes", &i.virtual_routes, &i.virtual_rules);
    if let Some(v) = &i.vmac {
        let mut line = q(&v.name);
        // keepalived refuses the RFC 5798 MAC written out: it is the default.
        if v.mac != i.default_vmac() {
            line += " ";
            line += &v.mac_text();
        }
        w.kv("use_vmac", line);
        w.flag("vmac_xmit_base", v.xmit_base);
    }
    w.close();
}

fn virtual_server(w: &mut W, vs: &VirtualServer) {
    let head = match &vs.addr {
        VsAddr::Ip(ip, port) => format!("{ip} {port}"),
        VsAddr::Fwmark(m) => format!("fwmark {m}"),
        VsAddr::Group(g) => format!("group {}", q(g)),
    };
    w.open(&format!("virtual_server {head}"));
    w.kv("delay_loop", secs(vs.delay_loop));
    w.kv("lb_algo", &vs.lb_algo);
    w.kv("lb_kind", vs.lb_kind.keyword());
    let sched = if vs.lb_algo == "mh" { "mh" } else { "sh" };
    for (bit, name) in [(SVC_F_SCHED1, "fallback"), (SVC_F_SCHED2, "port")] {
        w.flag(&format!("{sched}-{name}"), vs.sched_flags & bit != 0);
    }
    w.flag("ops", vs.sched_flags & SVC_F_ONEPACKET != 0);
    w.opt("persistence_timeout", vs.persistence_timeout);
    w.opt("persistence_granularity", vs.persistence_granularity);
    w.opt(
        "persistence_engine",
        vs.persistence_engine_sip.then_some("sip"),
    );
    if !matches!(vs.addr, VsAddr::Fwmark(_)) {
        w.kv("protocol", vs.protocol.keyword());
    }
    w.flag("ha_suspend", vs.ha_suspend);
    w.opt("virtualhost", vs.virtualhost.as_deref().map(q));
    w.opt(
        "sorry_server",
        vs.sorry_server.map(|(a, p)| format!("{a} {p}")),
    );
    w.flag("inhibit_on_failure", vs.inhibit_on_failure);
    w.kv("quorum", vs.quorum);
    w.kv("hysteresis", vs.hysteresis);
    w.opt("quorum_up", vs.quorum_up.as_deref().map(q));
    w.opt("quorum_down", vs.quorum_down.as_deref().map(q));
    w.flag("alpha", vs.alpha);
    w.flag("omega", vs.omega);
    w.opt("smtp_alert", vs.smtp_alert.map(yes_no));
    for rs in &vs.real_servers {
        let port = if rs.port == 0 {
            String::new()
        } else {
            format!(" {}", rs.port)
        };
        w.open(&format!("real_server {}{port}", rs.addr));
        w.kv("weight", rs.weight);
        w.flag("inhibit_on_failure", rs.inhibit_on_failure);
        w.opt("notify_up", rs.notify_up.as_deref().map(q));
        w.opt("notify_down", rs.notify_down.as_deref().map(q));
        w.opt("smtp_alert", rs.smtp_alert.map(yes_no));
        for c in &rs.checkers {
            checker(w, c);
        }
        w.close();
    }
    w.close();
}

fn checker(w: &mut W, c: &Checker) {
    let name = match c.kind {
        CheckKind::Tcp => "TCP_CHECK",
        CheckKind::Http(_) => "HTTP_GET",
        CheckKind::Ssl(_) => "SSL_GET",
        CheckKind::Misc(_) => "MISC_CHECK",
        CheckKind::Udp(_) => "UDP_CHECK",
        CheckKind::Ping => "PING_CHECK",
        CheckKind::Dns(_) => "DNS_CHECK",
        CheckKind::File(_) => "FILE_CHECK",
    };
    w.open(name);
    match &c.kind {
        CheckKind::Misc(m) => {
            w.kv("misc_path", q(&m.path));
            w.opt("misc_timeout", m.timeout.map(secs));
            w.flag("misc_dynamic", m.dynamic);
        }
        CheckKind::Http(h) | CheckKind::Ssl(h) => {
            for u in &h.urls {
                w.open("url");
                w.kv("path", q(&u.path));
                w.opt("digest", u.digest.as_deref());
                if !u.status_code.is_empty() {
                    let codes: Vec<String> = u
                        .status_code
                        .iter()
                        .map(|&(lo, hi)| {
                            if lo == hi {
                                lo.to_string()
                            } else {
                                format!("{lo}-{hi}")
                            }
                        })
                        .collect();
                    w.kv("status_code", codes.join(" "));
                }
                w.opt("virtualhost", u.virtualhost.as_deref().map(q));
                w.close();
            }
            w.opt("virtualhost", h.virtualhost.as_deref().map(q));
        }
        CheckKind::Udp(u) => {
            if !u.payload.is_empty() {
                w.kv("payload", hex(&u.payload, &[]));
            }
            w.flag("require_reply", u.require_reply && u.reply.is_empty());
            if !u.reply.is_empty() {
                w.kv("require_reply", hex(&u.reply, &u.reply_mask));
            }
            w.kv("min_reply_length", u.min_reply_len);
            w.kv("max_reply_length", u.max_reply_len);
        }
        CheckKind::Dns(d) => {
            let t = crate::check::dns::TYPES.iter().find(|(_, c)| *c == d.qtype);
            w.opt("type", t.map(|(name, _)| name));
            w.kv("name", q(&d.name));
        }
        CheckKind::File(f) => {
            w.kv("track_file", q(&f.track_file));
            let rev = if f.reverse { " reverse" } else { "" };
            w.kv("weight", format!("{}{rev}", f.weight));
            w.close();
            return;
        }
        CheckKind::Tcp | CheckKind::Ping => {}
    }
    if !matches!(c.kind, CheckKind::Misc(_)) {
        w.opt("connect_ip", c.connect_ip);
        w.opt("connect_port", c.connect_port);
        w.opt("bindto", c.bindto);
        w.opt("bind_port", c.bind_port);
        w.kv("connect_timeout", secs(c.connect_timeout));
    }
    w.kv("retry", c.retry);
    w.kv("delay_before_retry", secs(c.delay_before_retry));
    w.opt("delay_loop", c.delay_loop.map(secs));
    w.close();
}

/// Octets as keepalived's hex strings, `x` for the nibbles set in `mask`.
fn hex(data: &[u8], mask: &[u8]) -> String {
    let nib = |v: u8, m: u8| {
        if m != 0 {
            'x'
        } else {
            char::from_digit(v.into(), 16).unwrap_or('0')
        }
    };
    let words: Vec<String> = data
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let m = mask.get(i).copied().unwrap_or(0);
            [nib(b >> 4, m >> 4), nib(b & 15, m & 15)].iter().collect()
        })
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::q;

    #[test]
    fn quoting() {
        assert_eq!(q("eth0"), "eth0");
        assert_eq!(q("a  b"), "\"a  b\"");
        assert_eq!(q(""), "\"\"");
        assert_eq!(q("#x"), "\"#x\"");
        assert_eq!(q("a  b c\"d"), "\"a  b\" c\"d");
        assert_eq!(q("x\"  y"), "x\" \" y\"");
    }
}
