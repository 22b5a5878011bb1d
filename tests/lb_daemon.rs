//! Load balancing in the daemon (root, network namespaces): health checks against real
//! servers running in the test's namespace, status, notify scripts, MISC_CHECK dynamic weight,
//! reload without re-checking unchanged virtual servers, and the report when the kernel has
//! no IPVS (the daemon keeps running).

mod common;

use common::{vrrp_conf, wait_until, ChildGuard, Keeplite, Lan, Netns, TempDir};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn http_server(ns: &Netns, addr: &str, port: u16, dir: &Path) -> ChildGuard {
    let port = port.to_string();
    let dir = dir.to_str().unwrap();
    let child = ns
        // Debian's interpreter: a pyenv shim on PATH would be a script in front of it.
        .command("/usr/bin/python3")
        .args([
            "-m",
            "http.server",
            &port,
            "--bind",
            addr,
            "--directory",
            dir,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let g = ChildGuard(child);
    let probe = format!(
        "/usr/bin/python3 -c 'import socket; socket.create_connection((\"{addr}\", {port}), 1)'"
    );
    assert!(
        wait_until(Duration::from_secs(10), || ns
            .sh_output(&probe)
            .status
            .success()),
        "http.server on {addr}:{port} did not start"
    );
    g
}

fn lb_conf(dir: &Path, extra_vs: &str) -> String {
    let d = dir.display();
    let mut c = vrrp_conf("VI_1", 51, 150, &["192.0.2.100/24"], "state MASTER");
    c.push_str(&format!(
        r#"
virtual_server 10.9.0.1 80 {{
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol TCP
  quorum 7
  quorum_up "touch {d}/qup"
  quorum_down "touch {d}/qdown"
  real_server 127.0.0.2 8080 {{
    weight 1
    notify_up "touch {d}/up"
    notify_down "touch {d}/down"
    HTTP_GET {{
      url {{
        path /
        status_code 200
      }}
      connect_timeout 1
      retry 1
      delay_before_retry 1
    }}
  }}
  real_server 127.0.0.4 9 {{
    weight 5
    MISC_CHECK {{
      misc_path "/bin/sh {d}/misc.sh"
      misc_dynamic
    }}
  }}
  real_server 127.0.0.5 80 {{
    weight 2
  }}
}}
"#
    ));
    // ha_suspend: 192.0.2.100 is VI_1's VIP (held when MASTER), 192.0.2.200 is nobody's.
    for vip in ["192.0.2.100", "192.0.2.200"] {
        c.push_str(&format!(
            "virtual_server {vip} 80 {{\n  delay_loop 1\n  ha_suspend\n  protocol TCP\n  \
             real_server 127.0.0.3 8081 {{\n    TCP_CHECK {{\n      connect_timeout 1\n    \
             }}\n  }}\n}}\n"
        ));
    }
    c.push_str(extra_vs);
    c
}

fn real(kl: &Keeplite, vs: usize, addr: &str) -> Value {
    let st = kl.status().unwrap_or_default();
    st["virtual_servers"][vs]["real_servers"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["addr"] == addr).cloned())
        .unwrap_or_default()
}

/// Waits until each of `addrs` (real servers of virtual server `vs`) has finished two more
/// checks: any transition a reload caused would be logged by then.
fn checked_twice_more(kl: &Keeplite, vs: usize, addrs: &[&str]) {
    for _ in 0..2 {
        let since = Instant::now();
        for addr in addrs {
            let fresh = || {
                real(kl, vs, addr)["last"]["ago_ms"]
                    .as_u64()
                    .is_some_and(|ms| u128::from(ms) < since.elapsed().as_millis())
            };
            assert!(
                wait_until(Duration::from_secs(15), fresh),
                "{addr} not checked again:\n{}",
                kl.log()
            );
        }
    }
}

fn wait_real(
    kl: &Keeplite,
    vs: usize,
    addr: &str,
    secs: u64,
    cond: impl Fn(&Value) -> bool,
) -> Duration {
    let t0 = Instant::now();
    let last = std::cell::RefCell::new(Value::Null);
    let ok = wait_until(Duration::from_secs(secs), || {
        *last.borrow_mut() = real(kl, vs, addr);
        cond(&last.borrow())
    });
    assert!(
        ok,
        "{addr} never reached the expected state in {:?}; last seen {}\n{}",
        t0.elapsed(),
        last.borrow(),
        kl.log()
    );
    t0.elapsed()
}

fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn checks_status_notify_misc_reload_without_ipvs() {
    let lan = Lan::new(1);
    let h = &lan.hosts[0];
    h.sh("ip addr add 127.0.0.2/8 dev lo; ip addr add 127.0.0.3/8 dev lo");
    let web = TempDir::new("lbweb");
    std::fs::write(web.join("index.html"), "ok\n").unwrap();
    std::fs::write(web.join("code"), "0").unwrap();
    std::fs::write(
        web.join("misc.sh"),
        format!("exit $(cat {}/code)\n", web.display()),
    )
    .unwrap();
    let mut httpd = Some(http_server(h, "127.0.0.2", 8080, &web));
    let _tcp = http_server(h, "127.0.0.3", 8081, &web);

    let kl = Keeplite::start(h, &lb_conf(&web, ""));
    kl.expect_state("VI_1", "MASTER", 20);

    // Both checked servers report a successful check; the one without checker is up.
    wait_real(&kl, 0, "127.0.0.2:8080", 15, |r| {
        r["up"] == true && r["last"]["reason"] == "HTTP 200 ok"
    });
    wait_real(&kl, 0, "127.0.0.4:9", 15, |r| {
        r["up"] == true && r["weight"] == 5 && r["last"]["check"] == "MISC"
    });
    assert_eq!(real(&kl, 0, "127.0.0.5:80")["up"], true);
    assert_eq!(real(&kl, 0, "127.0.0.5:80")["weight"], 2);
    // ha_suspend: the VIP is held (MASTER), so its checks run.
    wait_real(&kl, 1, "127.0.0.3:8081", 15, |r| {
        r["up"] == true && r["last"]["reason"] == "connected"
    });

    let st = kl.status().unwrap();
    let vs = &st["virtual_servers"][0];
    assert_eq!(vs["name"], "TCP 10.9.0.1:80");
    assert_eq!(vs["scheduler"], "rr");
    assert_eq!(vs["method"], "NAT");
    assert_eq!(vs["quorum_up"], true);
    assert_eq!(st["virtual_servers"][1]["suspended"], false);
    // Not held here: suspended, never checked.
    assert_eq!(st["virtual_servers"][2]["suspended"], true);
    assert!(
        st["virtual_servers"][2]["real_servers"][0]["last"].is_null(),
        "{st}"
    );
    // This machine may or may not have IPVS: either way the daemon says which, and runs on.
    let has_ipvs = h.sh_output("test -e /proc/net/ip_vs").status.success();
    if has_ipvs {
        assert!(st["ipvs_error"].is_null(), "{st}");
    } else {
        let e = st["ipvs_error"].as_str().unwrap_or_default();
        assert!(e.contains("modprobe ip_vs"), "{st}");
    }
    let (ok, text) = kl.client(&["status"]);
    assert!(ok, "{text}");
    assert!(text.lines().all(|l| l.len() <= 80), "{text}");
    let vi = text.find("VI_1").unwrap();
    let vsl = text.find("TCP 10.9.0.1:80 rr NAT quorum up").expect(&text);
    assert!(vi < vsl, "{text}");
    assert!(
        text.contains("  127.0.0.2:8080 UP w=1 HTTP 200 ok ("),
        "{text}"
    );
    assert!(
        text.contains("  127.0.0.4:9 UP w=5 MISC misc exit 0 ("),
        "{text}"
    );
    if !has_ipvs {
        assert!(
            text.contains("IPVS: error: IPVS is not available"),
            "{text}"
        );
    }

    // Stop the web server: DOWN within delay_loop + retry x delay_before_retry + slack.
    drop(httpd.take());
    let took = wait_real(&kl, 0, "127.0.0.2:8080", 15, |r| {
        r["up"] == false && r["weight"] == 0
    });
    eprintln!("real server down noticed after {took:?}");
    let r = real(&kl, 0, "127.0.0.2:8080");
    assert_eq!(r["last"]["reason"], "connection refused", "{r}");
    assert!(wait_until(Duration::from_secs(5), || web
        .join("down")
        .exists()));
    assert!(!web.join("up").exists());
    // Quorum holds with the other servers.
    assert_eq!(
        kl.status().unwrap()["virtual_servers"][0]["quorum_up"],
        true
    );

    let _httpd = http_server(h, "127.0.0.2", 8080, &web);
    wait_real(&kl, 0, "127.0.0.2:8080", 15, |r| {
        r["up"] == true && r["weight"] == 1
    });
    assert!(wait_until(Duration::from_secs(5), || web
        .join("up")
        .exists()));

    // misc_dynamic: exit 12 means up with weight 10; exit 1 means down.
    std::fs::write(web.join("code"), "12").unwrap();
    wait_real(&kl, 0, "127.0.0.4:9", 15, |r| {
        r["up"] == true && r["weight"] == 10
    });
    std::fs::write(web.join("code"), "1").unwrap();
    wait_real(&kl, 0, "127.0.0.4:9", 15, |r| {
        r["up"] == false && r["last"]["reason"] == "misc exit 1"
    });
    // Live weight 1 + 2 is below quorum 7.
    let quorum = || kl.status().unwrap()["virtual_servers"][0]["quorum_up"].clone();
    assert_eq!(quorum(), false);
    assert!(wait_until(Duration::from_secs(5), || web
        .join("qdown")
        .exists()));
    let (_, text) = kl.client(&["status"]);
    assert!(
        text.contains("TCP 10.9.0.1:80 rr NAT QUORUM DOWN"),
        "{text}"
    );
    std::fs::write(web.join("code"), "0").unwrap();
    wait_real(&kl, 0, "127.0.0.4:9", 15, |r| {
        r["up"] == true && r["weight"] == 5
    });
    assert_eq!(quorum(), true);
    assert!(wait_until(Duration::from_secs(5), || web
        .join("qup")
        .exists()));

    // Reload adding a virtual server: the unchanged ones keep their checkers' state (no
    // new transition, no notify), the new one starts checking.
    let before = kl.log();
    let ups = count(&before, "127.0.0.2:8080 UP");
    std::fs::remove_file(web.join("up")).unwrap();
    let added = "virtual_server 10.9.0.2 81 {\n  delay_loop 1\n  protocol TCP\n  \
                 real_server 127.0.0.3 8081 {\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }\n}\n";
    kl.write_conf(&lb_conf(&web, added));
    let (ok, out) = kl.client(&["reload"]);
    assert!(ok, "{out}");
    wait_real(&kl, 3, "127.0.0.3:8081", 15, |r| {
        r["last"]["reason"] == "connected"
    });
    checked_twice_more(&kl, 0, &["127.0.0.2:8080"]);
    let after = kl.log();
    assert_eq!(count(&after, "127.0.0.2:8080 UP"), ups, "{after}");
    assert_eq!(count(&after, "127.0.0.2:8080 DOWN"), 1, "{after}");
    assert!(!web.join("up").exists());
    let r = real(&kl, 0, "127.0.0.2:8080");
    assert_eq!(r["up"], true);
    // The kept checker did not restart: its last result is from its regular schedule.
    assert!(r["last"]["ago_ms"].as_u64().unwrap() < 2000, "{r}");

    // Reload removing the added virtual server and changing a weight in the first one: the
    // real servers whose checks did not change keep their checkers.
    kl.write_conf(&lb_conf(&web, "").replace("    weight 2\n", "    weight 3\n"));
    let (ok, out) = kl.client(&["reload"]);
    assert!(ok, "{out}");
    let st = kl.status().unwrap();
    assert_eq!(st["virtual_servers"].as_array().unwrap().len(), 3, "{st}");
    assert_eq!(real(&kl, 0, "127.0.0.5:80")["weight"], 3);
    checked_twice_more(&kl, 0, &["127.0.0.2:8080", "127.0.0.4:9"]);
    let after = kl.log();
    assert_eq!(count(&after, "127.0.0.2:8080 UP"), ups, "{after}");
    assert_eq!(
        count(&after, "127.0.0.4:9 UP"),
        count(&before, "127.0.0.4:9 UP")
    );
    assert_eq!(real(&kl, 0, "127.0.0.2:8080")["up"], true);
}
