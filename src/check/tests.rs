//! Virtual-time tests of the checker state machines.

use super::*;
use md5::{Digest, Md5};

const S: Duration = Duration::from_secs(1);

/// A checker with its own action queue.
struct Tc {
    c: Checker,
    q: Actions,
}

impl std::ops::Deref for Tc {
    type Target = Checker;
    fn deref(&self) -> &Checker {
        &self.c
    }
}

impl Tc {
    fn ev(&mut self) -> CheckerMut<'_> {
        CheckerMut {
            checker: &mut self.c,
            out: &mut self.q,
        }
    }
}

fn tc(c: Checker) -> Tc {
    Tc {
        c,
        q: Actions::new(),
    }
}

fn new(p: CheckParams, now: Instant) -> Tc {
    tc(Checker::new(p, now))
}

fn drain(c: &mut Tc) -> Vec<Action> {
    c.q.drain(..).collect()
}

fn reports(actions: &[Action]) -> Vec<Event> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Report(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// Where [`conn`] connects.
fn dst() -> std::net::SocketAddr {
    "10.0.0.2:80".parse().unwrap()
}

fn conn() -> ConnParams {
    ConnParams {
        connect_ip: Some(dst().ip()),
        connect_port: Some(dst().port()),
        bind: Some("10.0.0.1:0".parse().unwrap()),
        connect_timeout: 3 * S,
    }
}

fn params(kind: CheckKind, retry: u32, alpha: bool) -> CheckParams {
    CheckParams {
        kind,
        delay_loop: 6 * S,
        retry,
        delay_before_retry: 2 * S,
        alpha,
        initial_delay: S,
    }
}

/// Runs the checker to its next attempt and returns (time, actions).
fn next_attempt(c: &mut Tc) -> (Instant, Vec<Action>) {
    let t = c.poll_timeout();
    c.ev().handle_timeout(t);
    (t, drain(c))
}

#[test]
fn tcp_first_success_reports_up_then_waits_delay_loop() {
    let t0 = Instant::now();
    let mut c = new(params(CheckKind::Tcp(conn()), 1, false), t0);
    assert!(c.is_up());
    assert_eq!(c.poll_timeout(), t0 + S);
    c.ev().handle_timeout(t0); // early: ignored
    assert!(drain(&mut c).is_empty());
    let (t, a) = next_attempt(&mut c);
    assert_eq!(
        a,
        vec![Action::Connect {
            dst: dst(),
            bind: conn().bind,
            tls: false
        }]
    );
    assert_eq!(c.poll_timeout(), t + 3 * S);
    c.ev().on_connected(t + S / 10);
    let a = drain(&mut c);
    assert_eq!(a[0], Action::Reset);
    // First result is always reported, even though the server started up.
    assert_eq!(reports(&a), vec![Event::Up(Reason::Connected)]);
    assert_eq!(c.poll_timeout(), t + S / 10 + 6 * S);
    // Second success: no new report.
    let (t, _) = next_attempt(&mut c);
    c.ev().on_connected(t);
    assert!(reports(&drain(&mut c)).is_empty());
    assert_eq!(c.last_result().unwrap().reason, Reason::Connected);
}

#[test]
fn tcp_down_after_retries_and_back_up() {
    let t0 = Instant::now();
    let mut c = new(params(CheckKind::Tcp(conn()), 2, false), t0);
    // Establish "up" with one success first.
    let (t, _) = next_attempt(&mut c);
    c.ev().on_connected(t);
    drain(&mut c);
    // retry 2 => three failed attempts, two delay_before_retry gaps, then DOWN.
    let mut times = vec![];
    for i in 0..3 {
        let (t, a) = next_attempt(&mut c);
        assert!(matches!(a[0], Action::Connect { .. }));
        times.push(t);
        c.ev().on_connect_failed(t, libc::ECONNREFUSED);
        let r = reports(&drain(&mut c));
        if i < 2 {
            assert!(r.is_empty(), "attempt {i}");
            assert!(c.is_up());
        } else {
            assert_eq!(r, vec![Event::Down(Reason::ConnectRefused)]);
        }
    }
    assert_eq!(times[1] - times[0], 2 * S);
    assert_eq!(times[2] - times[1], 2 * S);
    assert!(!c.is_up());
    assert_eq!(c.poll_timeout(), times[2] + 6 * S);
    assert_eq!(
        c.last_result().unwrap().reason.to_string(),
        "connection refused"
    );
    // TCP_CHECK keeps its retry cadence while down.
    let (t, _) = next_attempt(&mut c);
    c.ev().on_connect_failed(t, libc::EHOSTUNREACH);
    assert!(reports(&drain(&mut c)).is_empty());
    assert_eq!(c.poll_timeout(), t + 2 * S);
    // Recovery: one success is enough.
    let (t, _) = next_attempt(&mut c);
    c.ev().on_connected(t);
    assert_eq!(reports(&drain(&mut c)), vec![Event::Up(Reason::Connected)]);
    assert!(c.is_up());
}

#[test]
fn tcp_connect_timeout_closes_and_fails() {
    let t0 = Instant::now();
    let mut c = new(params(CheckKind::Tcp(conn()), 0, false), t0);
    let (t, _) = next_attempt(&mut c);
    let (t2, a) = next_attempt(&mut c);
    assert_eq!(t2, t + 3 * S);
    assert_eq!(a[0], Action::Close);
    // retry 0 and first run: DOWN at once.
    assert_eq!(
        reports(&a),
        vec![Event::Down(Reason::ConnectTimeout(3 * S))]
    );
    assert_eq!(
        c.last_result().unwrap().reason.to_string(),
        "connect timeout after 3 s"
    );
    // A late connect completion for the abandoned attempt is ignored.
    c.ev().on_connected(t2);
    assert!(drain(&mut c).is_empty());
}

#[test]
fn alpha_starts_down_and_failures_report_nothing() {
    let t0 = Instant::now();
    let mut c = new(params(CheckKind::Tcp(conn()), 1, true), t0);
    assert!(!c.is_up());
    let (t, _) = next_attempt(&mut c);
    c.ev().on_connect_failed(t, libc::ECONNREFUSED);
    assert!(reports(&drain(&mut c)).is_empty());
    // keepalived marks the check as run after the first attempt: an alpha server that never
    // came up is not reported down again.
    let (t, _) = next_attempt(&mut c);
    c.ev().on_connect_failed(t, libc::ECONNREFUSED);
    assert!(reports(&drain(&mut c)).is_empty());
    assert!(!c.is_up());
    let (t, _) = next_attempt(&mut c);
    c.ev().on_connected(t);
    assert_eq!(reports(&drain(&mut c)), vec![Event::Up(Reason::Connected)]);
}

fn url(path: &str, digest: Option<[u8; 16]>) -> UrlParams {
    UrlParams {
        digest,
        ..UrlParams::new(path)
    }
}

fn http(urls: Vec<UrlParams>) -> CheckKind {
    CheckKind::Http(Box::new(HttpParams {
        conn: conn(),
        urls,
        virtualhost: Some("example.org".into()),
        protocol: HttpProtocol::Http10,
        exchange_timeout: 9 * S,
        tls: false,
    }))
}

/// One full HTTP attempt: connect, check the request, feed the response, close.
fn http_attempt(c: &mut Tc, path: &str, response: &[u8]) -> (Instant, Vec<Event>) {
    let (t, a) = next_attempt(c);
    assert!(matches!(a[0], Action::Connect { .. }));
    c.ev().on_connected(t);
    let a = drain(c);
    let Action::Send(req) = &a[0] else {
        panic!("{a:?}")
    };
    let expect = format!("GET {path} HTTP/1.0\r\n");
    assert!(req.starts_with(expect.as_bytes()));
    assert!(req.ends_with(b"Host: example.org\r\n\r\n"));
    c.ev().on_data(t, response);
    c.ev().on_eof(t);
    let a = drain(c);
    assert_eq!(a[0], Action::Close);
    (t, reports(&a))
}

const OK: &[u8] = b"HTTP/1.0 200 OK\r\n\r\nbody";
const ERR: &[u8] = b"HTTP/1.0 500 Internal Server Error\r\n\r\noops";

#[test]
fn http_all_urls_must_pass_one_per_delay_loop() {
    let t0 = Instant::now();
    let digest = Md5::digest(b"body").into();
    let mut c = new(
        params(
            http(vec![url("/a", None), url("/b", Some(digest))]),
            1,
            true,
        ),
        t0,
    );
    let (t1, r) = http_attempt(&mut c, "/a", OK);
    assert!(r.is_empty());
    assert_eq!(c.poll_timeout(), t1 + 6 * S);
    let (_, r) = http_attempt(&mut c, "/b", OK);
    assert_eq!(r, vec![Event::Up(Reason::HttpOk(200))]);
    // Next round starts again at the first url.
    let (_, r) = http_attempt(&mut c, "/a", OK);
    assert!(r.is_empty());
}

#[test]
fn http_status_failure_retries_then_down_then_recovers() {
    let t0 = Instant::now();
    let mut c = new(
        params(http(vec![url("/a", None), url("/b", None)]), 1, false),
        t0,
    );
    // Pass both urls once.
    http_attempt(&mut c, "/a", OK);
    let (_, r) = http_attempt(&mut c, "/b", OK);
    assert_eq!(r, vec![Event::Up(Reason::HttpOk(200))]);
    // /a fails: one retry after delay_before_retry, then DOWN.
    let (t, r) = http_attempt(&mut c, "/a", ERR);
    assert!(r.is_empty());
    assert_eq!(c.poll_timeout(), t + 2 * S);
    let (t, r) = http_attempt(&mut c, "/a", ERR);
    assert_eq!(r, vec![Event::Down(Reason::HttpStatus(500))]);
    assert_eq!(c.last_result().unwrap().reason.to_string(), "HTTP 500");
    // Known down: no retries, wait max(delay_before_retry, delay_loop) on the failed url.
    assert_eq!(c.poll_timeout(), t + 6 * S);
    let (t, r) = http_attempt(&mut c, "/a", ERR);
    assert!(r.is_empty());
    assert_eq!(c.poll_timeout(), t + 6 * S);
    // Failed url passes: recheck every url from the first, UP when all passed.
    let (_, r) = http_attempt(&mut c, "/a", OK);
    assert!(r.is_empty());
    let (_, r) = http_attempt(&mut c, "/a", OK);
    assert!(r.is_empty());
    let (_, r) = http_attempt(&mut c, "/b", OK);
    assert_eq!(r, vec![Event::Up(Reason::HttpOk(200))]);
}

#[test]
fn http_digest_mismatch_and_first_pass_fails_fast() {
    let t0 = Instant::now();
    let mut c = new(
        params(
            http(vec![url("/a", None), url("/b", Some([0; 16]))]),
            3,
            false,
        ),
        t0,
    );
    http_attempt(&mut c, "/a", OK);
    // During the very first pass a failing later url means DOWN without retries.
    let (_, r) = http_attempt(&mut c, "/b", OK);
    assert_eq!(r, vec![Event::Down(Reason::DigestMismatch)]);
}

#[test]
fn http_slow_drip_hits_exchange_limit() {
    let t0 = Instant::now();
    let mut c = new(params(http(vec![url("/", None)]), 0, false), t0);
    let (t, _) = next_attempt(&mut c);
    c.ev().on_connected(t + S);
    drain(&mut c);
    assert_eq!(c.poll_timeout(), t + 4 * S); // idle limit: connect_timeout
    c.ev().on_data(t + S, b"HTTP/1.0 200 OK\r\n\r\n");
    let mut now = t + S;
    // A byte every 2 s never trips the idle limit...
    while now + 2 * S < t + 9 * S {
        now += 2 * S;
        c.ev().handle_timeout(now);
        c.ev().on_data(now, b"x");
        assert!(drain(&mut c).is_empty());
    }
    // ...but the whole exchange is capped at exchange_timeout from the connect.
    assert_eq!(c.poll_timeout(), t + 9 * S);
    let (_, a) = next_attempt(&mut c);
    assert_eq!(a[0], Action::Close);
    assert_eq!(
        reports(&a),
        vec![Event::Down(Reason::ExchangeTimeout(9 * S))]
    );
}

#[test]
fn http_read_timeout_and_errors() {
    let t0 = Instant::now();
    let mut c = new(params(http(vec![url("/", None)]), 0, false), t0);
    let (t, _) = next_attempt(&mut c);
    c.ev().on_connected(t);
    drain(&mut c);
    let (t2, a) = next_attempt(&mut c);
    assert_eq!(t2, t + 3 * S);
    assert_eq!(reports(&a), vec![Event::Down(Reason::ReadTimeout(3 * S))]);
    for (resp, reason) in [
        (&b""[..], Reason::NoData),
        (b"garbage\r\n\r\n", Reason::Malformed),
    ] {
        let (t, _) = next_attempt(&mut c);
        c.ev().on_connected(t);
        drain(&mut c);
        c.ev().on_data(t, resp);
        c.ev().on_eof(t);
        drain(&mut c);
        assert_eq!(c.last_result().unwrap().reason, reason);
        assert!(!c.last_result().unwrap().success);
    }
    let (t, _) = next_attempt(&mut c);
    c.ev().on_connected(t);
    drain(&mut c);
    c.ev().on_io_error(t, libc::ECONNRESET);
    assert_eq!(drain(&mut c), vec![Action::Close]);
    assert_eq!(
        c.last_result().unwrap().reason,
        Reason::SocketError(libc::ECONNRESET)
    );
}

#[test]
fn http_without_url_is_up_without_connecting() {
    let t0 = Instant::now();
    let mut c = new(params(http(vec![]), 0, true), t0);
    let (_, a) = next_attempt(&mut c);
    assert_eq!(reports(&a), vec![Event::Up(Reason::NoUrl)]);
    assert!(!a.iter().any(|a| matches!(a, Action::Connect { .. })));
}

fn misc(dynamic: bool, timeout: Option<Duration>) -> CheckKind {
    CheckKind::Misc(MiscParams {
        path: "/bin/check arg".into(),
        timeout,
        dynamic,
    })
}

#[test]
fn misc_exit_codes_retries_and_weight() {
    let t0 = Instant::now();
    let mut c = new(params(misc(true, None), 1, false), t0);
    let (t, a) = next_attempt(&mut c);
    assert_eq!(
        a,
        vec![Action::SpawnMisc {
            path: "/bin/check arg".into()
        }]
    );
    c.ev().on_misc_exit(t + S, MiscExit::Exited(12));
    assert_eq!(
        reports(&drain(&mut c)),
        vec![Event::Weight(Some(10)), Event::Up(Reason::MiscExit(12))]
    );
    // Scheduled from the script's start.
    assert_eq!(c.poll_timeout(), t + 6 * S);
    // Same code again: no new weight.
    let (t, _) = next_attempt(&mut c);
    c.ev().on_misc_exit(t, MiscExit::Exited(12));
    assert!(reports(&drain(&mut c)).is_empty());
    // exit 1: one retry, then DOWN.
    let (t, _) = next_attempt(&mut c);
    c.ev().on_misc_exit(t, MiscExit::Exited(1));
    assert!(reports(&drain(&mut c)).is_empty());
    assert_eq!(c.poll_timeout(), t + 2 * S);
    let (t, _) = next_attempt(&mut c);
    c.ev().on_misc_exit(t, MiscExit::Exited(1));
    assert_eq!(
        reports(&drain(&mut c)),
        vec![Event::Down(Reason::MiscExit(1))]
    );
    assert_eq!(c.last_result().unwrap().reason.to_string(), "misc exit 1");
    // Known down: no retries.
    let (t, _) = next_attempt(&mut c);
    c.ev().on_misc_exit(t, MiscExit::Exited(1));
    assert_eq!(c.poll_timeout(), t + 6 * S);
    // exit 0 restores the configured weight and brings it up.
    let (t, _) = next_attempt(&mut c);
    c.ev().on_misc_exit(t, MiscExit::Exited(0));
    assert_eq!(
        reports(&drain(&mut c)),
        vec![Event::Weight(None), Event::Up(Reason::MiscExit(0))]
    );
}

#[test]
fn misc_timeout_terminates_then_kills() {
    let t0 = Instant::now();
    let mut c = new(params(misc(false, Some(3 * S)), 0, false), t0);
    let (t, _) = next_attempt(&mut c);
    let (t1, a) = next_attempt(&mut c);
    assert_eq!(t1, t + 3 * S);
    assert_eq!(
        a,
        vec![Action::KillMisc {
            signal: libc::SIGTERM
        }]
    );
    let (t2, a) = next_attempt(&mut c);
    assert_eq!(t2, t1 + 2 * S);
    assert_eq!(
        a,
        vec![Action::KillMisc {
            signal: libc::SIGKILL
        }]
    );
    c.ev().on_misc_exit(t2, MiscExit::Signaled(libc::SIGKILL));
    assert_eq!(
        reports(&drain(&mut c)),
        vec![Event::Down(Reason::MiscTimeout(3 * S))]
    );
    // Next run counted from the start of the previous one, but never in the past.
    assert_eq!(c.poll_timeout(), t + 6 * S);
    assert_eq!(
        c.last_result().unwrap().reason.to_string(),
        "misc timeout after 3 s"
    );
    // A signal we did not send is a plain failure.
    let (t, _) = next_attempt(&mut c);
    c.ev().on_misc_exit(t, MiscExit::Signaled(libc::SIGSEGV));
    assert_eq!(
        c.last_result().unwrap().reason,
        Reason::MiscSignal(libc::SIGSEGV)
    );
}

fn udp(require_reply: bool, reply: &[u8]) -> CheckKind {
    CheckKind::Udp(Box::new(UdpParams {
        conn: conn(),
        spec: udp::UdpCheck {
            payload: b"ping".to_vec(),
            require_reply,
            reply: reply.to_vec(),
            ..Default::default()
        },
    }))
}

#[test]
fn udp_silence_passes_unless_a_reply_is_required() {
    let t0 = Instant::now();
    let mut c = new(params(udp(false, &[]), 1, true), t0);
    let (t, a) = next_attempt(&mut c);
    assert_eq!(
        a,
        vec![Action::SendDatagram {
            dst: dst(),
            bind: conn().bind,
            payload: b"ping".to_vec(),
            icmp: false
        }]
    );
    assert_eq!(c.poll_timeout(), t + 3 * S);
    let (t, a) = next_attempt(&mut c);
    assert_eq!(a[0], Action::Close);
    assert_eq!(reports(&a), vec![Event::Up(Reason::NoReplyNeeded)]);
    assert_eq!(c.poll_timeout(), t + 6 * S);

    let mut c = new(params(udp(true, &[]), 0, false), t0);
    next_attempt(&mut c);
    let (_, a) = next_attempt(&mut c);
    assert_eq!(reports(&a), vec![Event::Down(Reason::NoReply(3 * S))]);
    let (t, _) = next_attempt(&mut c);
    c.ev().on_datagram(t, b"", 0);
    assert_eq!(reports(&drain(&mut c)), vec![Event::Up(Reason::Reply(0))]);
}

#[test]
fn udp_port_unreachable_retries_while_up_only() {
    let t0 = Instant::now();
    let mut c = new(params(udp(false, &[]), 1, false), t0);
    let (t, _) = next_attempt(&mut c);
    c.ev().on_connect_failed(t, libc::ECONNREFUSED);
    assert!(reports(&drain(&mut c)).is_empty(), "one retry left");
    assert_eq!(c.poll_timeout(), t + 2 * S, "delay_before_retry");
    let (t, _) = next_attempt(&mut c);
    c.ev().on_connect_failed(t, libc::ECONNREFUSED);
    assert_eq!(
        reports(&drain(&mut c)),
        vec![Event::Down(Reason::ConnectRefused)]
    );
    assert_eq!(c.poll_timeout(), t + 6 * S);
    // Down: keepalived's udp_epilog waits delay_loop, no retry series.
    let (t, _) = next_attempt(&mut c);
    c.ev().on_connect_failed(t, libc::ECONNREFUSED);
    assert!(reports(&drain(&mut c)).is_empty());
    assert_eq!(c.poll_timeout(), t + 6 * S);
    // A late reply after the attempt ended is ignored.
    c.ev().on_datagram(t + S, b"x", 1);
    assert!(drain(&mut c).is_empty());
    let (t, _) = next_attempt(&mut c);
    c.ev().on_datagram(t, b"anything", 8);
    assert_eq!(reports(&drain(&mut c)), vec![Event::Up(Reason::Reply(8))]);
}

#[test]
fn udp_reply_must_match_the_pattern() {
    let t0 = Instant::now();
    let mut c = new(params(udp(true, b"OK"), 0, true), t0);
    let (t, _) = next_attempt(&mut c);
    c.ev().on_datagram(t, b"NO", 2);
    let a = drain(&mut c);
    assert_eq!(a[0], Action::Close);
    assert_eq!(reports(&a), vec![Event::Down(Reason::ReplyMismatch(2))]);
    let (t, _) = next_attempt(&mut c);
    c.ev().on_datagram(t, b"OK then", 7);
    assert_eq!(reports(&drain(&mut c)), vec![Event::Up(Reason::Reply(7))]);
}

#[test]
fn ping_needs_an_echo_reply_in_time() {
    let t0 = Instant::now();
    let mut c = new(params(CheckKind::Ping(conn()), 1, true), t0);
    let (t, a) = next_attempt(&mut c);
    let Action::SendDatagram {
        dst, payload, icmp, ..
    } = &a[0]
    else {
        panic!("{a:?}")
    };
    assert!(*icmp && *dst == self::dst());
    assert_eq!(payload[..2], [8, 0], "ICMP echo request");
    let mut reply = payload.clone();
    reply[0] = 0;
    c.ev().on_datagram(t, &reply, reply.len());
    assert_eq!(reports(&drain(&mut c)), vec![Event::Up(Reason::Reply(136))]);
    // Up: a silent attempt is retried after delay_before_retry, then goes down.
    let (t, a) = next_attempt(&mut c);
    let Action::SendDatagram { payload: p2, .. } = &a[0] else {
        panic!("{a:?}")
    };
    assert_ne!(p2[6..8], payload[6..8], "a new sequence number per attempt");
    assert_eq!(c.poll_timeout(), t + 3 * S);
    let (t, _) = next_attempt(&mut c);
    assert_eq!(c.poll_timeout(), t + 2 * S);
    let (t, _) = next_attempt(&mut c);
    let mut unreachable = reply.clone();
    unreachable[0] = 3;
    c.ev().on_datagram(t, &unreachable, 136);
    assert_eq!(
        reports(&drain(&mut c)),
        vec![Event::Down(Reason::ReplyMismatch(136))]
    );
    assert_eq!(c.poll_timeout(), t + 6 * S);
}

#[test]
fn dns_needs_a_response_to_its_query_with_rcode_0() {
    let t0 = Instant::now();
    let p = dns::DnsParams {
        conn: conn(),
        qtype: 1,
        name: "svc.test".into(),
    };
    let mut c = new(params(CheckKind::Dns(Box::new(p)), 0, true), t0);
    let (t, a) = next_attempt(&mut c);
    let Action::SendDatagram {
        payload: q, icmp, ..
    } = &a[0]
    else {
        panic!("{a:?}")
    };
    assert!(!icmp);
    assert_eq!(q[12..], dns::query(0, "svc.test", 1).unwrap()[12..]);
    let mut resp = q.clone();
    resp[2] |= 0x80;
    let mut other = resp.clone();
    other[0] ^= 0xff;
    c.ev().on_datagram(t, &other, other.len());
    c.ev().on_datagram(t, q, q.len());
    assert!(
        drain(&mut c).is_empty(),
        "another id, or no response: keep waiting"
    );
    c.ev().on_datagram(t, &resp, resp.len());
    assert_eq!(reports(&drain(&mut c)), vec![Event::Up(Reason::Reply(26))]);
    let (t, a) = next_attempt(&mut c);
    let Action::SendDatagram { payload: q, .. } = &a[0] else {
        panic!("{a:?}")
    };
    let mut refused = q.clone();
    refused[2] |= 0x80;
    refused[3] |= 5;
    c.ev().on_datagram(t, &refused, refused.len());
    let a = drain(&mut c);
    assert_eq!(a[0], Action::Close);
    assert_eq!(reports(&a), vec![Event::Down(Reason::DnsRcode(5))]);
    next_attempt(&mut c);
    let (_, a) = next_attempt(&mut c);
    assert!(reports(&a).is_empty(), "silence while down: no new report");
    assert_eq!(c.last_result().unwrap().reason, Reason::NoReply(3 * S));
}

#[test]
fn file_check_follows_the_value_read_each_second() {
    use super::file::FileParams;
    let t0 = Instant::now();
    let kind = |weight| {
        CheckKind::File(Box::new(FileParams {
            path: "/run/f".into(),
            weight,
            reverse: false,
        }))
    };
    let mut p = params(kind(0), 0, false);
    p.delay_loop = S;
    let mut c = new(p, t0);
    let (t, a) = next_attempt(&mut c);
    assert_eq!(a, vec![Action::ReadFile]);
    assert_eq!(c.poll_timeout(), t + S);
    // Weight 0: the first value is always news; 0 is up.
    c.ev().on_file_value(t, Some(0));
    assert_eq!(
        reports(&drain(&mut c)),
        vec![Event::Up(Reason::FileValue(0))]
    );
    c.ev().on_file_value(t + S, Some(0));
    assert!(reports(&drain(&mut c)).is_empty());
    c.ev().on_file_value(t + S, Some(3));
    assert_eq!(
        reports(&drain(&mut c)),
        vec![Event::Down(Reason::FileValue(3))]
    );
    // Out of range: ignored, the previous value stays.
    c.ev().on_file_value(t + S, None);
    c.ev().on_file_value(t + S, Some(3));
    assert!(reports(&drain(&mut c)).is_empty());
    assert_eq!(c.last_result().unwrap().reason.to_string(), "file value 3");

    // Weighted: the value moves the weight; the server stays up.
    let mut c = new(params(kind(2), 0, true), t0);
    let (t, _) = next_attempt(&mut c);
    c.ev().on_file_value(t, Some(5));
    assert_eq!(
        reports(&drain(&mut c)),
        vec![Event::WeightBy(10), Event::Up(Reason::FileValue(5))]
    );
    c.ev().on_file_value(t, Some(-4));
    assert_eq!(reports(&drain(&mut c)), vec![Event::WeightBy(-18)]);
    c.ev().on_file_value(t, Some(0));
    assert_eq!(reports(&drain(&mut c)), vec![Event::WeightBy(8)]);
    // Restarted (ha_suspend) from its last result, it moves the weight only by what changed:
    // its share is already in the real server's weight.
    let last = c.last_result();
    let mut r = tc(Checker::start(c.params.clone(), dst(), true, S, t).with_last(last));
    r.ev().on_file_value(t + S, Some(0));
    assert_eq!(reports(&drain(&mut r)), vec![]);
    r.ev().on_file_value(t + S, Some(1));
    assert_eq!(
        reports(&drain(&mut r)),
        vec![Event::WeightBy(2), Event::Up(Reason::FileValue(1))]
    );
    // Only a product of INT_MIN fails.
    c.ev().on_file_value(t, Some(-1_073_741_824));
    assert_eq!(
        reports(&drain(&mut c)),
        vec![Event::Down(Reason::FileValue(-1_073_741_824))]
    );
}

/// 10,000 real servers hold 10,000 checkers: each byte here is ~10 KB of the daemon's RSS.
#[test]
fn a_checker_stays_small() {
    let n = std::mem::size_of::<Checker>();
    assert!(n <= 136, "{n} B");
}
