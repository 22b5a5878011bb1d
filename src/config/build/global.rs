//! `global_defs`.

use super::*;

/// Gratuitous ARP keywords: `vrrp_garp_master_*` in global_defs (defaults), `garp_master_*`
/// in instances.
pub(super) trait HasGarp {
    fn garp(&mut self) -> &mut Garp;
}

impl HasGarp for GlobalDefs {
    fn garp(&mut self) -> &mut Garp {
        &mut self.garp
    }
}

pub(super) fn garp_secs<T: HasGarp>(c: &mut Ctx, t: &mut T, n: &Node) {
    let Some(v) = c.secs(n) else { return };
    let g = t.garp();
    if n.kw.text.ends_with("delay") {
        g.master_delay = v;
    } else {
        g.master_refresh = v;
    }
}

pub(super) fn garp_count<T: HasGarp>(c: &mut Ctx, t: &mut T, n: &Node) {
    let Some(v) = c.int(n, 1, 255) else { return };
    let g = t.garp();
    if n.kw.text.ends_with("refresh_repeat") {
        g.master_refresh_repeat = v as u32;
    } else {
        g.master_repeat = v as u32;
    }
}

pub(super) const GLOBAL_GARP: [Kw<GlobalDefs>; 4] = garp_kws!(
    GlobalDefs,
    "vrrp_garp_master_delay",
    "vrrp_garp_master_repeat",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat"
);

/// `[vrrp_]garp_lower_prio_delay SECS` / `[vrrp_]garp_lower_prio_repeat N`.
pub(super) fn garp_lower_prio<T: HasGarp>(c: &mut Ctx, t: &mut T, n: &Node) {
    if n.kw.text.ends_with("delay") {
        if let Some(v) = c.secs(n) {
            t.garp().lower_prio_delay = Some(v);
        }
    } else if let Some(v) = c.int(n, 0, 255) {
        t.garp().lower_prio_repeat = Some(v as u32);
    }
}

/// `smtp_alert [yes|no|true|false|on|off]`: no value means yes, as in keepalived; another
/// word is ignored with a warning (keepalived: "Invalid value").
pub(super) fn yes_no(c: &mut Ctx, n: &Node) -> Option<bool> {
    if n.args.is_empty() {
        return Some(true);
    }
    c.choice(
        n,
        &[
            ("yes", true),
            ("true", true),
            ("on", true),
            ("no", false),
            ("false", false),
            ("off", false),
        ],
    )
}

fn smtp_server(c: &mut Ctx, g: &mut GlobalDefs, n: &Node) {
    let host = &n.args[0];
    // RFC 6761 §6.3: `localhost` is the loopback address (keepalived's lookup gives it too).
    let localhost = host.text.eq_ignore_ascii_case("localhost");
    let name_like = !localhost
        && host.text.parse::<std::net::IpAddr>().is_err()
        && host.text.contains(|ch: char| ch.is_ascii_alphabetic())
        && host
            .text
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '.' || ch == '-');
    if name_like {
        // keepalived resolves a host name here, once, at load time; keeplite's loop does no
        // DNS, so it says what is lost instead of differing silently.
        c.warn(
            host,
            format!(
                "`smtp_server {}`: keeplite needs an address here (keepalived looks the name up when it loads the file); no alert e-mail is sent",
                host.text
            ),
            Some("write the mail relay's IP address, such as `127.0.0.1`".into()),
        );
        return;
    }
    let ip = if localhost {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        let Some(ip) = c.ip(&n.kw.text, host) else {
            return;
        };
        ip
    };
    let port = match n.args.get(1) {
        Some(t) => match c.port(&n.kw.text, t) {
            Some(p) => p,
            None => return,
        },
        None => 25,
    };
    g.smtp.server = Some(std::net::SocketAddr::new(ip, port));
}

/// Seconds that keepalived requires to be positive: `0` is invalid there, so it is ignored
/// here too, with a warning.
fn positive_secs(c: &mut Ctx, n: &Node) -> Option<Duration> {
    let v = c.secs(n)?;
    if v.is_zero() {
        c.warn(
            &n.args[0],
            format!(
                "`{} 0` is invalid in keepalived (it must be positive); ignored",
                n.kw.text
            ),
            Some("remove the line: the default is no delay".into()),
        );
        return None;
    }
    Some(v)
}

pub(super) const GLOBAL: &[Kw<GlobalDefs>] = &[
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
        doc: "`vrrp_garp_interval SECS`: gap between gratuitous ARPs on one interface (default: none; `0` is refused by keepalived and ignored with a warning)",
        set: |c, g, n| g.vrrp_garp_interval = positive_secs(c, n).unwrap_or(g.vrrp_garp_interval),
    },
    Kw {
        name: "vrrp_gna_interval",
        arity: N(1),
        doc: "`vrrp_gna_interval SECS`: gap between unsolicited NAs on one interface (default: none; `0` is refused by keepalived and ignored with a warning)",
        set: |c, g, n| g.vrrp_gna_interval = positive_secs(c, n).unwrap_or(g.vrrp_gna_interval),
    },
    Kw {
        name: "dynamic_interfaces",
        arity: Range(0, 1),
        doc: "`dynamic_interfaces [allow_if_changes]`: keeplite always runs so: an instance whose interface is missing waits for it in FAULT (`-t` warns; `status` says why), one whose interface is deleted goes to FAULT, and restarts on it when it is created again",
        set: |_, _, _| {},
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
        name: "vrrp_check_unicast_src",
        arity: N(0),
        doc: "`vrrp_check_unicast_src`: adverts of unicast instances are only accepted from their `unicast_peer`s. keeplite always does this (keepalived only with this keyword); a dropped advert is logged once per instance",
        set: |_, _, _| {},
    },
    Kw {
        name: "vrrp_lower_prio_no_advert",
        arity: Range(0, 1),
        doc: "`vrrp_lower_prio_no_advert [true|false]`: default of the instances' `lower_prio_no_advert` (default false; true under `vrrp_strict`)",
        set: |c, g, n| g.vrrp_lower_prio_no_advert = yes_no(c, n).unwrap_or(g.vrrp_lower_prio_no_advert),
    },
    Kw {
        name: "vrrp_higher_prio_send_advert",
        arity: Range(0, 1),
        doc: "`vrrp_higher_prio_send_advert [true|false]`: default of the instances' `higher_prio_send_advert` (default false)",
        set: |c, g, n| g.vrrp_higher_prio_send_advert = yes_no(c, n).unwrap_or(g.vrrp_higher_prio_send_advert),
    },
    Kw {
        name: "vrrp_garp_lower_prio_delay",
        arity: N(1),
        doc: "`vrrp_garp_lower_prio_delay SECS`: default of the instances' `garp_lower_prio_delay` (default `vrrp_garp_master_delay`)",
        set: garp_lower_prio,
    },
    Kw {
        name: "vrrp_garp_lower_prio_repeat",
        arity: N(1),
        doc: "`vrrp_garp_lower_prio_repeat N`: default of the instances' `garp_lower_prio_repeat` (default `vrrp_garp_master_repeat`)",
        set: garp_lower_prio,
    },
    Kw {
        name: "vrrp_priority",
        arity: N(1),
        doc: "`vrrp_priority -20..19`: nice value of the process at start. keeplite is one process: with `checker_priority` too, the lower value applies",
        set: |c, g, n| g.vrrp_priority = c.int(n, -20, 19).map(|v| v as i8).or(g.vrrp_priority),
    },
    Kw {
        name: "checker_priority",
        arity: N(1),
        doc: "`checker_priority -20..19`: as `vrrp_priority` (one process: the lower value applies)",
        set: |c, g, n| g.checker_priority = c.int(n, -20, 19).map(|v| v as i8).or(g.checker_priority),
    },
    Kw {
        name: "vrrp_no_swap",
        arity: N(0),
        doc: "`vrrp_no_swap`: lock the process's memory at start (mlockall), so swapping never delays an advert",
        set: |_, g, _| g.vrrp_no_swap = true,
    },
    Kw {
        name: "vrrp_raw_adverts",
        arity: N(0),
        doc: "keeplite: `vrrp_raw_adverts`: send multicast adverts through the raw IP socket as keepalived does, so the netfilter OUTPUT chain sees them (default: prebuilt Ethernet frames through a packet socket, which skip it and cost less)",
        set: |_, g, _| g.vrrp_raw_adverts = true,
    },
    Kw {
        name: "checker_no_swap",
        arity: N(0),
        doc: "`checker_no_swap`: as `vrrp_no_swap` (one process for both)",
        set: |_, g, _| g.checker_no_swap = true,
    },
    Kw {
        name: "vrrp_rt_priority",
        arity: N(1),
        doc: "`vrrp_rt_priority 1..99`: realtime scheduling (SCHED_RR, not inherited by scripts) at this priority from the start. keeplite is one process: with `checker_rt_priority` too, the higher applies; no realtime CPU-time limit is set (`vrrp_rlimit_rttime` is not supported)",
        set: |c, g, n| g.vrrp_rt_priority = c.int(n, 1, 99).map(|v| v as u8).or(g.vrrp_rt_priority),
    },
    Kw {
        name: "checker_rt_priority",
        arity: N(1),
        doc: "`checker_rt_priority 1..99`: as `vrrp_rt_priority` (one process: the higher applies)",
        set: |c, g, n| g.checker_rt_priority = c.int(n, 1, 99).map(|v| v as u8).or(g.checker_rt_priority),
    },
    Kw {
        name: "max_auto_priority",
        arity: Range(0, 1),
        doc: "`max_auto_priority [-1..99]`: when a timer runs `min_auto_priority_delay` late, switch to realtime scheduling (SCHED_RR, not inherited by scripts) one priority step higher, up to this (no value: 99; 0 or -1: never, the default). keepalived also sets a realtime CPU-time limit; keeplite leaves a runaway to the kernel's realtime throttling",
        set: |c, g, n| {
            let v = match n.args.first() {
                None => 99,
                Some(t) => match c.int_tok("max_auto_priority", t, -1, 99) {
                    Some(v) => v.max(0) as u8,
                    None => return,
                },
            };
            g.max_auto_priority = v;
        },
    },
    Kw {
        name: "min_auto_priority_delay",
        arity: N(1),
        doc: "`min_auto_priority_delay USECS`: how late a timer must run to raise the priority, 1..10000000 microseconds (default 1000000)",
        set: |c, g, n| {
            if let Some(us) = c.int(n, 1, 10_000_000) {
                g.min_auto_priority_delay = Duration::from_micros(us as u64);
            }
        },
    },
    Kw {
        name: "default_interface",
        arity: N(1),
        doc: "`default_interface IF`: interface of the `vrrp_instance`s without `interface`",
        set: |c, g, n| {
            c.interface(&n.args[0]);
            g.default_interface = Some(n.args[0].text.clone());
        },
    },
    Kw {
        name: "vmac_prefix",
        arity: N(1),
        doc: "`vmac_prefix NAME`: start of the generated `use_vmac` interface names, NAME.VRID (default `vrrp`; a second one is ignored with a warning, as keepalived does)",
        set: |c, g, n| match &g.vmac_prefix {
            Some(p) => c.warn(
                &n.args[0],
                format!("vmac_prefix `{p}` is already set; ignored, as keepalived does"),
                None,
            ),
            None => g.vmac_prefix = Some(n.args[0].text.clone()),
        },
    },
    Kw {
        name: "vrrp_startup_delay",
        arity: N(1),
        doc: "`vrrp_startup_delay SECS`: wait before starting VRRP after boot (default: none; `0` is refused by keepalived and ignored with a warning)",
        set: |c, g, n| g.vrrp_startup_delay = positive_secs(c, n).unwrap_or(g.vrrp_startup_delay),
    },
    Kw {
        name: "notify_fifo",
        arity: Range(1, 3),
        doc: "`notify_fifo PATH [USER [GROUP]]`: FIFO receiving every VRRP and LVS event as one line (`INSTANCE \"VI_1\" MASTER 100`, `GROUP \"G\" BACKUP 0`, `VS [10.0.0.1]:tcp:80 UP`, `RS [10.0.0.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN`); created (mode 0644, owned by USER) if absent; a reader that stops reading loses lines, never delays keeplite",
        set: |_, g, n| fifo_path(&mut g.notify_fifo, n),
    },
    Kw {
        name: "notify_fifo_script",
        arity: Range(1, 3),
        doc: "`notify_fifo_script CMD [USER [GROUP]]`: reader started with the FIFO path as last argument, stopped with SIGTERM at exit",
        set: |c, g, n| fifo_script(c, &mut g.notify_fifo, n),
    },
    Kw {
        name: "vrrp_notify_fifo",
        arity: Range(1, 3),
        doc: "`vrrp_notify_fifo PATH [USER [GROUP]]`: as `notify_fifo`, VRRP lines only",
        set: |_, g, n| fifo_path(&mut g.vrrp_notify_fifo, n),
    },
    Kw {
        name: "vrrp_notify_fifo_script",
        arity: Range(1, 3),
        doc: "`vrrp_notify_fifo_script CMD [USER [GROUP]]`: reader of `vrrp_notify_fifo`",
        set: |c, g, n| fifo_script(c, &mut g.vrrp_notify_fifo, n),
    },
    Kw {
        name: "lvs_notify_fifo",
        arity: Range(1, 3),
        doc: "`lvs_notify_fifo PATH [USER [GROUP]]`: as `notify_fifo`, `VS` / `RS` lines only",
        set: |_, g, n| fifo_path(&mut g.lvs_notify_fifo, n),
    },
    Kw {
        name: "lvs_notify_fifo_script",
        arity: Range(1, 3),
        doc: "`lvs_notify_fifo_script CMD [USER [GROUP]]`: reader of `lvs_notify_fifo`",
        set: |c, g, n| fifo_script(c, &mut g.lvs_notify_fifo, n),
    },
    Kw {
        name: "vrrp_notify_priority_changes",
        arity: Range(0, 1),
        doc: "`vrrp_notify_priority_changes [BOOL]`: instance default of `notify_priority_changes` (default off)",
        set: |c, g, n| {
            g.vrrp_notify_priority_changes = bool_arg(c, n).unwrap_or(g.vrrp_notify_priority_changes)
        },
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
        doc: "`notification_email { ADDR... }`: recipients of the alert e-mails",
        set: |c, g, n| {
            g.smtp.to = block(n).iter().map(|m| m.kw.text.clone()).collect();
            if g.smtp.to.is_empty() {
                c.warn(
                    &n.kw,
                    "empty `notification_email` block ignored: no alert e-mail is sent (keepalived warns too)"
                        .into(),
                    Some("list the recipients, one per line, or remove the block".into()),
                );
            }
        },
    },
    Kw {
        name: "notification_email_from",
        arity: N(1),
        doc: "`notification_email_from ADDR`: sender of the alerts (default root@HOSTNAME)",
        set: |_, g, n| g.smtp.from = Some(n.args[0].text.clone()),
    },
    Kw {
        name: "smtp_server",
        arity: Range(1, 2),
        doc: "`smtp_server ADDR [PORT]`: mail relay for the alerts (port 25 by default); no mail without it",
        set: smtp_server,
    },
    Kw {
        name: "smtp_connect_timeout",
        arity: N(1),
        doc: "`smtp_connect_timeout SECS`: give up on the mail relay after this long (default 30)",
        set: |c, g, n| {
            if let Some(v) = c.int(n, 1, 86400) {
                g.smtp.connect_timeout = Duration::from_secs(v as u64);
            }
        },
    },
    Kw {
        name: "smtp_helo_name",
        arity: N(1),
        doc: "`smtp_helo_name NAME`: name given in HELO (default: the host name)",
        set: |_, g, n| g.smtp.helo_name = Some(n.args[0].text.clone()),
    },
    Kw {
        name: "smtp_alert",
        arity: Range(0, 1),
        doc: "`smtp_alert [yes|no]`: default alert setting of instances, sync groups and virtual servers (default no)",
        set: |c, g, n| g.smtp.alert = yes_no(c, n),
    },
    Kw {
        name: "smtp_alert_vrrp",
        arity: Range(0, 1),
        doc: "`smtp_alert_vrrp [yes|no]`: the same, for instances and sync groups only",
        set: |c, g, n| g.smtp.alert_vrrp = yes_no(c, n),
    },
    Kw {
        name: "smtp_alert_checker",
        arity: Range(0, 1),
        doc: "`smtp_alert_checker [yes|no]`: the same, for virtual servers only",
        set: |c, g, n| g.smtp.alert_checker = yes_no(c, n),
    },
    Kw {
        name: "no_email_faults",
        arity: N(0),
        doc: "`no_email_faults`: no alert for FAULT states",
        set: |_, g, _| g.smtp.no_email_faults = true,
    },
    Kw {
        name: "no_checker_emails",
        arity: N(0),
        doc: "`no_checker_emails`: alert for a checker's change only when the real server's state changes with it",
        set: |_, g, _| g.smtp.no_checker_emails = true,
    },
    Kw {
        name: "lvs_sync_daemon",
        arity: Range(1, 13),
        doc: "`lvs_sync_daemon IFACE INSTANCE [id N] [maxlen N] [port N] [ttl N] [group ADDR]`: run the kernel's IPVS connection sync daemon on IFACE, master while INSTANCE is MASTER and backup otherwise, so a new master director keeps forwarding the connections of the old one (id: sync id, default the instance's VRID; maxlen: UDP payload of a sync message; port, ttl, group: multicast settings, default 8848, 1, 224.0.0.81)",
        set: lvs_sync_daemon,
    },
    Kw {
        name: "lvs_timeouts",
        arity: Range(2, 6),
        doc: "`lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS]`: the kernel's IPVS connection timeouts (established TCP, TCP after FIN, UDP), set at start and reload; unnamed ones stay as they are",
        set: lvs_timeouts,
    },
    Kw {
        name: "lvs_flush",
        arity: N(0),
        doc: "`lvs_flush`: empty the whole IPVS table at start, other programs' services included",
        set: |_, g, _| g.lvs_flush = true,
    },
    Kw {
        name: "lvs_flush_on_stop",
        arity: Range(0, 1),
        doc: "`lvs_flush_on_stop [VS]`: at exit, empty the whole IPVS table, other programs' services included (not with `-I`); `VS`: remove keeplite's virtual servers only, which keeplite always does",
        set: lvs_flush_on_stop,
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

fn fifo_path(f: &mut NotifyFifo, n: &Node) {
    f.path = Some(n.args[0].text.clone().into());
    f.owner = (n.args.len() > 1).then(|| script_user_at(n, 1));
}

fn fifo_script(c: &mut Ctx, f: &mut NotifyFifo, n: &Node) {
    if n.args[0].text.is_empty() {
        c.warn(
            &n.args[0],
            format!("`{}` needs a command; ignored", n.kw.text),
            None,
        );
        return;
    }
    f.script = Some(n.args[0].text.clone());
    f.script_user = (n.args.len() > 1).then(|| script_user_at(n, 1));
}
