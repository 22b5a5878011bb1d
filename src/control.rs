//! The control protocol between `keeplite status` / `keeplite reload` and the daemon, and the
//! rendering of status for people (80 columns) and programs (JSON).
//!
//! Wire: each message is a 4-byte little-endian length, then the postcard encoding of a
//! [`Request`] or [`Response`]. Client and daemon are the same binary, so the model grows by
//! adding fields (virtual servers, real servers) without any version negotiation.

use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::net::IpAddr;

/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 1 << 20;
/// Largest request body the daemon accepts: a [`Request`] encodes in a few bytes, so a longer
/// frame is not worth buffering.
pub const MAX_REQUEST: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Status,
    Reload,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Status(StatusReport),
    /// Reload result: `errors` empty on success, else compiler-style `file:line: ...` lines
    /// (the old configuration keeps running).
    Reload {
        errors: Vec<String>,
    },
    Error(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    pub pid: u32,
    pub config: String,
    pub instances: Vec<InstanceStatus>,
    /// Received packets no instance could be blamed for (unknown VRID, unreadable header).
    pub unattributed_rx_errors: Vec<(String, u64)>,
    pub virtual_servers: Vec<VirtualServerStatus>,
    /// Why IPVS cannot be programmed at all (module missing, no permission); health checks
    /// still run and are reported.
    pub ipvs_error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServerStatus {
    /// `TCP 192.0.2.10:80`, `FWM 7`, or `group NAME` (with its services listed in `services`).
    pub name: String,
    pub services: Vec<String>,
    pub scheduler: String,
    /// DR, NAT or TUN.
    pub method: String,
    /// persistence_timeout in seconds.
    pub persistence: Option<u32>,
    pub quorum_up: bool,
    /// ha_suspend: checks paused because the address is not held here.
    pub suspended: bool,
    /// The last refusal of the kernel for this virtual server's services.
    pub sync_error: Option<String>,
    pub real_servers: Vec<RealServerStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServerStatus {
    /// `ADDR:PORT` (`[V6]:PORT`).
    pub addr: String,
    pub up: bool,
    /// Weight in IPVS now (0 when removed or inhibited).
    pub weight: u32,
    /// Most recent check result of any of its checkers; `None` without checker or before
    /// the first one ran.
    pub last: Option<CheckResult>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// TCP, HTTP, SSL or MISC.
    pub check: String,
    pub success: bool,
    pub reason: String,
    pub ago_ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    /// INIT, BACKUP, MASTER or FAULT (also while its interface is missing: the transition
    /// says why).
    pub state: String,
    pub priority: u8,
    pub configured_priority: u8,
    /// The master as this node sees it (itself when MASTER).
    pub master: Option<IpAddr>,
    pub vips: Vec<VipStatus>,
    pub last_transition: Option<Transition>,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    /// Lower-priority / priority-0 adverts a master left unanswered (reply rate limit).
    pub replies_suppressed: u64,
    /// Received packets dropped, by kind (`ttl`, `version`, `checksum`, `vrid`, `auth`,
    /// `addresses`, `interval`, ...); kinds with a zero count are left out.
    pub rx_errors: Vec<(String, u64)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipStatus {
    /// `ADDR/LEN`.
    pub addr: String,
    /// Milliseconds until the kernel drops the address unless refreshed; `None` when the
    /// address is permanent or not held.
    pub lease_left_ms: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub from: String,
    pub to: String,
    /// How long ago, at the time of the report.
    pub ago_ms: u64,
    pub reason: String,
}

/// Encodes a message as one frame.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let body = postcard::to_stdvec(msg).expect("postcard encodes any owned model value");
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// The body length announced by the frame at the start of `buf`, once its 4-byte header is in.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    let len = buf.get(..4)?;
    Some(u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize)
}

/// Decodes the first complete frame of `buf`: `Ok(None)` when more bytes are needed,
/// otherwise the message and the number of bytes it took.
pub fn decode<'a, T: Deserialize<'a>>(buf: &'a [u8]) -> Result<Option<(T, usize)>, String> {
    let Some(len) = frame_len(buf) else {
        return Ok(None);
    };
    if len > MAX_FRAME {
        return Err(format!("control frame of {len} bytes exceeds {MAX_FRAME}"));
    }
    let Some(body) = buf.get(4..4 + len) else {
        return Ok(None);
    };
    postcard::from_bytes(body)
        .map(|m| Some((m, 4 + len)))
        .map_err(|e| format!("bad control message: {e}"))
}

fn secs(ms: u64) -> String {
    if ms < 10_000 {
        format!("{}.{}s", ms / 1000, ms % 1000 / 100)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60)
    }
}

/// Appends `items` to `out` as indented lines no wider than 80 columns.
fn wrap(out: &mut String, head: &str, items: &[String]) {
    let mut line = format!("  {head}");
    for (i, item) in items.iter().enumerate() {
        let sep = if i == 0 { " " } else { ", " };
        if line.len() + sep.len() + item.len() > 80 && i > 0 {
            out.push_str(&line);
            out.push_str(",\n");
            line = format!("    {item}");
        } else {
            line.push_str(sep);
            line.push_str(item);
        }
    }
    out.push_str(&line);
    out.push('\n');
}

/// The longest prefix of `s` of at most `max` characters.
fn clip(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(i, _)| &s[..i])
}

/// `text` without control characters (shown as `?`, except the line breaks of multi-line
/// messages when `lines`): a name or message must neither break the layout nor drive the
/// reader's terminal.
fn printable(text: &str, lines: bool) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && !(lines && c == '\n') {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// The report with every text made [`printable`].
fn printable_report(r: &StatusReport) -> StatusReport {
    let p = |s: &String| printable(s, false);
    let counts = |v: &[(String, u64)]| v.iter().map(|(k, n)| (p(k), *n)).collect();
    let mut r = r.clone();
    r.version = p(&r.version);
    r.config = p(&r.config);
    r.unattributed_rx_errors = counts(&r.unattributed_rx_errors);
    r.ipvs_error = r.ipvs_error.map(|e| printable(&e, true));
    for i in &mut r.instances {
        (i.name, i.interface, i.state) = (p(&i.name), p(&i.interface), p(&i.state));
        i.vips.iter_mut().for_each(|v| v.addr = p(&v.addr));
        if let Some(t) = &mut i.last_transition {
            (t.from, t.to, t.reason) = (p(&t.from), p(&t.to), p(&t.reason));
        }
        i.rx_errors = counts(&i.rx_errors);
    }
    for v in &mut r.virtual_servers {
        (v.name, v.scheduler, v.method) = (p(&v.name), p(&v.scheduler), p(&v.method));
        v.services.iter_mut().for_each(|s| *s = p(s));
        v.sync_error = v.sync_error.as_ref().map(|e| printable(e, true));
        for rs in &mut v.real_servers {
            rs.addr = p(&rs.addr);
            if let Some(c) = &mut rs.last {
                (c.check, c.reason) = (p(&c.check), p(&c.reason));
            }
        }
    }
    r
}

/// The `keeplite status` text: one block per instance, every line within 80 columns (longer
/// ones are cut), no control characters but line breaks.
pub fn render_human(r: &StatusReport) -> String {
    let text = render_lines(&printable_report(r));
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(clip(line, 80));
        out.push('\n');
    }
    out
}

fn render_lines(r: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "keeplite {} pid {} ({})", r.version, r.pid, r.config);
    if r.instances.is_empty() {
        out.push_str("no vrrp_instance configured\n");
    }
    for i in &r.instances {
        let master = i.master.map_or("none".to_owned(), |m| m.to_string());
        let _ = writeln!(
            out,
            "{} {} vrid {}: {} prio {}/{} master {}",
            i.name, i.interface, i.vrid, i.state, i.priority, i.configured_priority, master
        );
        let vips: Vec<String> = i
            .vips
            .iter()
            .map(|v| match v.lease_left_ms {
                Some(ms) => format!("{} ({} left)", v.addr, secs(ms)),
                None => v.addr.clone(),
            })
            .collect();
        if vips.is_empty() {
            out.push_str("  vips: none held\n");
        } else {
            wrap(&mut out, "vips:", &vips);
        }
        if let Some(t) = &i.last_transition {
            let _ = writeln!(
                out,
                "  {} -> {} {} ago: {}",
                t.from,
                t.to,
                secs(t.ago_ms),
                t.reason
            );
        }
        let errs: Vec<String> = i
            .rx_errors
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = write!(
            out,
            "  adverts sent {} received {}",
            i.adverts_sent, i.adverts_received
        );
        if i.replies_suppressed > 0 {
            let _ = write!(out, " unanswered {}", i.replies_suppressed);
        }
        out.push('\n');
        if !errs.is_empty() {
            wrap(&mut out, "rx errors:", &errs);
        }
    }
    let other: Vec<String> = r
        .unattributed_rx_errors
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if !other.is_empty() {
        out.push_str("other VRRP traffic dropped:\n");
        wrap(&mut out, "", &other);
    }
    render_lb(&mut out, r);
    out
}

/// Appends `text` (possibly several lines) as lines of at most 80 columns, broken at spaces:
/// the first starts with `first`, the others with `rest`.
fn wrap_text(out: &mut String, first: &str, rest: &str, text: &str) {
    let mut line = first.to_owned();
    let mut fresh = true;
    for (i, l) in text.lines().enumerate() {
        if i > 0 {
            out.push_str(line.trim_end());
            out.push('\n');
            line = rest.to_owned();
            fresh = true;
        }
        for word in l.split_whitespace() {
            if !fresh && line.len() + 1 + word.len() > 80 {
                out.push_str(&line);
                out.push('\n');
                line = format!("{rest}  ");
                fresh = true;
            }
            if !fresh {
                line.push(' ');
            }
            line.push_str(word);
            fresh = false;
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// Virtual and real servers, after the instances.
fn render_lb(out: &mut String, r: &StatusReport) {
    if let Some(e) = &r.ipvs_error {
        wrap_text(out, "IPVS: ", "  ", e);
    }
    for v in &r.virtual_servers {
        let mut head = format!("{} {} {}", v.name, v.scheduler, v.method);
        if let Some(p) = v.persistence {
            let _ = write!(head, " persist {p}s");
        }
        head.push_str(if v.quorum_up {
            " quorum up"
        } else {
            " QUORUM DOWN"
        });
        if v.suspended {
            head.push_str(" suspended");
        }
        let _ = writeln!(out, "{head}");
        if v.services.len() > 1 {
            wrap(out, "services:", &v.services);
        }
        if let Some(e) = &v.sync_error {
            wrap_text(out, "  ! ", "  ! ", e);
        }
        for rs in &v.real_servers {
            let mut line = format!(
                "  {} {} w={}",
                rs.addr,
                if rs.up { "UP" } else { "DOWN" },
                rs.weight
            );
            if let Some(c) = &rs.last {
                // "HTTP 200 ok" already says which check it was.
                if !c.reason.starts_with(&c.check) {
                    let _ = write!(line, " {}", c.check);
                }
                let _ = write!(line, " {} ({} ago)", c.reason, secs(c.ago_ms));
            }
            if line.chars().count() > 80 {
                line = format!("{}...", clip(&line, 77));
            }
            let _ = writeln!(out, "{line}");
        }
    }
}

/// The `keeplite status --json` text.
pub fn render_json(r: &StatusReport) -> String {
    serde_json::to_string_pretty(r).expect("the status model serialises to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StatusReport {
        StatusReport {
            version: "0.1.0".into(),
            pid: 42,
            config: "/etc/keepalived/keepalived.conf".into(),
            instances: vec![InstanceStatus {
                name: "VI_1".into(),
                interface: "eth0".into(),
                vrid: 51,
                state: "MASTER".into(),
                priority: 100,
                configured_priority: 100,
                master: Some("192.0.2.1".parse().unwrap()),
                vips: (100..110)
                    .map(|n| VipStatus {
                        addr: format!("192.0.2.{n}/24"),
                        lease_left_ms: Some(2300),
                    })
                    .collect(),
                last_transition: Some(Transition {
                    from: "BACKUP".into(),
                    to: "MASTER".into(),
                    ago_ms: 75_000,
                    reason: "higher priority than 192.0.2.2".into(),
                }),
                adverts_sent: 120,
                adverts_received: 3,
                replies_suppressed: 7,
                rx_errors: vec![("ttl".into(), 1), ("auth".into(), 2)],
            }],
            unattributed_rx_errors: vec![("vrid".into(), 4)],
            virtual_servers: vec![VirtualServerStatus {
                name: "TCP 192.168.235.100:80".into(),
                services: vec!["TCP 192.168.235.100:80".into()],
                scheduler: "wlc".into(),
                method: "DR".into(),
                persistence: Some(300),
                quorum_up: true,
                suspended: false,
                sync_error: Some(
                    "error: cannot add virtual server TCP 192.168.235.100:80: scheduler \
                     `wlc` is not available in this kernel\n  = help: load its module"
                        .into(),
                ),
                real_servers: vec![
                    RealServerStatus {
                        addr: "192.168.235.12:80".into(),
                        up: true,
                        weight: 1,
                        last: Some(CheckResult {
                            check: "HTTP".into(),
                            success: true,
                            reason: "HTTP 200 ok".into(),
                            ago_ms: 2000,
                        }),
                    },
                    RealServerStatus {
                        addr: "192.168.235.13:80".into(),
                        up: false,
                        weight: 0,
                        last: Some(CheckResult {
                            check: "TCP".into(),
                            success: false,
                            reason: "connect timeout after 3 s but this reason is long enough \
                                     to be cut"
                                .into(),
                            ago_ms: 1200,
                        }),
                    },
                ],
            }],
            ipvs_error: Some(
                "error: IPVS is not available in this kernel\n  = help: `modprobe ip_vs`".into(),
            ),
        }
    }

    #[test]
    fn frames_round_trip_and_wait_for_more_bytes() {
        let req = encode(&Request::Reload);
        assert_eq!(decode::<Request>(&req[..3]), Ok(None));
        assert_eq!(decode::<Request>(&req[..req.len() - 1]), Ok(None));
        assert_eq!(decode(&req), Ok(Some((Request::Reload, req.len()))));
        let resp = Response::Status(sample());
        let bytes = encode(&resp);
        assert_eq!(decode(&bytes), Ok(Some((resp, bytes.len()))));
        let huge = ((MAX_FRAME + 1) as u32).to_le_bytes();
        assert!(decode::<Request>(&huge).is_err());
        assert!(decode::<Request>(&[1, 0, 0, 0, 9]).is_err());
    }

    #[test]
    fn human_status_fits_80_columns() {
        let text = render_human(&sample());
        assert!(text.lines().all(|l| l.len() <= 80), "{text}");
        assert!(text.contains("VI_1 eth0 vrid 51: MASTER prio 100/100 master 192.0.2.1"));
        assert!(text.contains("192.0.2.109/24 (2.3s left)"), "{text}");
        assert!(text.contains("BACKUP -> MASTER 1m15s ago: higher priority than 192.0.2.2"));
        assert!(text.contains("rx errors: ttl 1, auth 2"), "{text}");
        assert!(
            text.contains("other VRRP traffic dropped:\n   vrid 4"),
            "{text}"
        );
        let lb = text.split_once("vrid 4\n").unwrap().1;
        assert_eq!(
            lb.lines().take(6).collect::<Vec<_>>(),
            [
                "IPVS: error: IPVS is not available in this kernel",
                "  = help: `modprobe ip_vs`",
                "TCP 192.168.235.100:80 wlc DR persist 300s quorum up",
                "  ! error: cannot add virtual server TCP 192.168.235.100:80: scheduler `wlc` is",
                "  !   not available in this kernel",
                "  ! = help: load its module",
            ],
        );
        assert!(text.contains("\n  192.168.235.12:80 UP w=1 HTTP 200 ok (2.0s ago)\n"));
        assert!(text.contains("\n  192.168.235.13:80 DOWN w=0 TCP connect timeout after 3 s"));
        assert!(text.trim_end().ends_with("..."), "{text}");
    }

    /// Long non-ASCII names and control characters: no panic (the daemon renders this on
    /// SIGUSR1), lines cut at 80 characters, no escape sequence reaches the terminal.
    #[test]
    fn hostile_names_are_cut_and_neutralised() {
        let mut r = sample();
        r.instances[0].name = format!("{}é", "x".repeat(79));
        r.instances[0].last_transition.as_mut().unwrap().reason = "a\nb\x1b[2J".into();
        r.virtual_servers[0].real_servers[0].addr = "ü".repeat(100);
        r.ipvs_error = Some("line one\nline \x1b]0;two".into());
        let text = render_human(&r);
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains(&format!("\n{}é\n", "x".repeat(79))), "{text}");
        assert!(text.contains(" ago: a?b?[2J\n"), "{text}");
        assert!(text.contains("IPVS: line one\n  line ?]0;two\n"), "{text}");
        assert!(
            text.contains(&format!("  {}...\n", "ü".repeat(75))),
            "{text}"
        );
    }

    #[test]
    fn json_status_carries_the_model() {
        let json = render_json(&sample());
        let back: StatusReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sample());
        assert!(json.contains("\"lease_left_ms\": 2300"));
    }
}
