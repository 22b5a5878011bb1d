//! UDP_CHECK, PING_CHECK and DNS_CHECK through the daemon, from the configuration to
//! `keeplite status`, against real servers (dnsmasq, the kernel's ICMP echo) in a network
//! namespace the test creates.

mod common;

use common::{wait_until, Keeplite, Netns, TempDir};
use std::time::Duration;

#[test]
fn udp_ping_dns_checks_in_the_daemon() {
    let ns = Netns::new("chkd");
    let dir = TempDir::new("chkd");
    let pid = dir.join("dnsmasq.pid");
    let _dns = ns.spawn(
        "dnsmasq",
        &[
            "-k",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--user=root",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--address=/svc.test/10.1.2.3",
            &format!("--pid-file={}", pid.display()),
        ],
    );
    assert!(wait_until(Duration::from_secs(10), || pid.exists()));
    let conf = r#"
virtual_server 10.9.0.1 53 {
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol UDP
  real_server 127.0.0.1 53 {
    DNS_CHECK {
      type A
      name svc.test
      connect_timeout 1
    }
  }
  real_server 127.0.0.1 54 {
    UDP_CHECK {
      payload 00 01
      require_reply
      connect_timeout 1
      retry 0
    }
  }
  real_server ::1 53 {
    PING_CHECK {
      connect_timeout 1
    }
  }
}
"#;
    let kl = Keeplite::start(&ns, conf);
    let want = [
        ("127.0.0.1:53", "DNS", true, "42-byte reply matched"),
        ("127.0.0.1:54", "UDP", false, "connection refused"),
        ("[::1]:53", "PING", true, "136-byte reply matched"),
    ];
    let seen = || {
        let st = kl.status().unwrap_or_default();
        let reals = st["virtual_servers"][0]["real_servers"].clone();
        want.iter().all(|(addr, check, up, reason)| {
            reals.as_array().into_iter().flatten().any(|r| {
                r["addr"] == *addr
                    && r["last"]["check"] == *check
                    && r["up"] == *up
                    && r["last"]["reason"] == *reason
            })
        })
    };
    assert!(
        wait_until(Duration::from_secs(20), seen),
        "{}\n{}",
        kl.status().unwrap_or_default(),
        kl.log()
    );
}
