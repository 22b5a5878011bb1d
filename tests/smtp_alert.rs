//! SMTP alerts end to end (root, network namespaces): keeplite nodes mail a real SMTP server
//! (Python's `smtpd`, Debian's python3) in a third namespace on a VRRP failover and on a real
//! server going DOWN and UP; a dead mail server delays nothing.

mod common;

use common::{vrrp_conf, wait_until, ChildGuard, Keeplite, Lan, Netns};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// Stores every message it accepts as `DIR/NNN.mail`: envelope lines, then the data.
const SERVER: &str = r#"
import asyncore, os, smtpd, sys
addr, port, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class Box(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kw):
        n = len([f for f in os.listdir(d) if f.endswith('.mail')])
        tmp = os.path.join(d, 'tmp')
        with open(tmp, 'wb') as f:
            f.write(('MAIL FROM ' + mailfrom + '\nRCPT TO ' + ' '.join(rcpttos) + '\n').encode())
            f.write(data)
        os.rename(tmp, os.path.join(d, '%03d.mail' % n))
Box((addr, port), None, decode_data=False)
open(os.path.join(d, 'ready'), 'w').close()
asyncore.loop()
"#;

struct MailBox {
    _server: ChildGuard,
    dir: PathBuf,
}

impl MailBox {
    fn start(ns: &Netns, addr: &str, port: u16) -> MailBox {
        let dir = std::env::temp_dir().join(format!("kl{}_{}mail", std::process::id(), port));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("server.py");
        std::fs::write(&script, SERVER).unwrap();
        let child = ns
            // Debian's interpreter (3.11 still has smtpd), not a shim on PATH.
            .command("/usr/bin/python3")
            .arg("-W")
            .arg("ignore")
            .arg(&script)
            .args([addr, &port.to_string(), dir.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = ChildGuard(child);
        assert!(
            wait_until(Duration::from_secs(10), || dir.join("ready").exists()),
            "SMTP server did not start"
        );
        MailBox {
            _server: server,
            dir,
        }
    }

    fn mails(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "mail"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Waits for a mail whose subject is `subject`; returns it.
    fn expect(&self, subject: &str, kl: &Keeplite) -> String {
        let line = format!("Subject: {subject}\n");
        let mut found = None;
        let ok = wait_until(Duration::from_secs(15), || {
            found = self.mails().into_iter().find(|m| m.contains(&line));
            found.is_some()
        });
        assert!(
            ok,
            "no mail `{subject}`; got {:#?}\nlog:\n{}",
            self.mails(),
            kl.log()
        );
        found.unwrap()
    }
}

impl Drop for MailBox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn global(router_id: &str, server: &str, extra: &str) -> String {
    format!(
        "global_defs {{\n  router_id {router_id}\n  notification_email {{\n    ops@example.org\n    \
         noc@example.org\n  }}\n  notification_email_from keeplite@example.org\n  \
         smtp_server {server}\n  smtp_connect_timeout 2\n  smtp_helo_name {router_id}.lan\n  \
         {extra}\n}}\n"
    )
}

#[test]
fn failover_is_mailed_as_keepalived_mails_it() {
    let lan = Lan::new(3);
    let mail = MailBox::start(&lan.hosts[2], "192.0.2.3", 2525);
    let server = "192.0.2.3 2525";
    let vip = ["192.0.2.100/24"];
    let a_conf = global("node-a", server, "") + &vrrp_conf("VI_1", 51, 150, &vip, "smtp_alert");
    let b_conf =
        global("node-b", server, "smtp_alert_vrrp") + &vrrp_conf("VI_1", 51, 100, &vip, "");
    let a = Keeplite::start(&lan.hosts[0], &a_conf);
    let b = Keeplite::start(&lan.hosts[1], &b_conf);
    a.expect_state("VI_1", "MASTER", 10);
    b.expect_state("VI_1", "BACKUP", 5);

    let m = mail.expect("[node-a] VRRP Instance VI_1 - Entering MASTER state", &a);
    assert!(m.starts_with("MAIL FROM keeplite@example.org\n"), "{m}");
    assert!(
        m.contains("RCPT TO ops@example.org noc@example.org\n"),
        "{m}"
    );
    assert!(m.contains("From: keeplite@example.org\n"), "{m}");
    assert!(m.contains("To: ops@example.org, noc@example.org\n"), "{m}");
    assert!(m.contains("X-Mailer: Keepalived\n"), "{m}");
    assert!(m.contains("\nDate: "), "{m}");
    assert!(
        m.contains("\n\n=> VRRP Instance is now owning VRRP VIPs <=\n"),
        "{m}"
    );
    let m = mail.expect("[node-b] VRRP Instance VI_1 - Entering BACKUP state", &b);
    assert!(
        m.contains("=> VRRP Instance is no longer owning VRRP VIPs <="),
        "{m}"
    );

    // The master dies: the backup takes over and says so.
    a.child.signal("KILL");
    b.expect_state("VI_1", "MASTER", 8);
    mail.expect("[node-b] VRRP Instance VI_1 - Entering MASTER state", &b);
    assert!(
        b.log().contains("SMTP alert successfully sent"),
        "{}",
        b.log()
    );
}

#[test]
fn real_server_down_and_up_and_quorum_are_mailed() {
    let lan = Lan::new(2);
    let mail = MailBox::start(&lan.hosts[1], "192.0.2.2", 2526);
    let ns = &lan.hosts[0];
    let listener = || {
        let child = ns
            .command("/usr/bin/python3")
            .args([
                "-c",
                "import socket,time\ns=socket.create_server(('127.0.0.2',8080))\n\
                 while True: s.accept()[0].close()",
            ])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        ChildGuard(child)
    };
    let mut rs = listener();
    let conf = global("lb", "192.0.2.2 2526", "smtp_alert_checker")
        + "virtual_server 10.9.0.1 80 {\n  delay_loop 1\n  protocol TCP\n  \
           real_server 127.0.0.2 8080 {\n    TCP_CHECK {\n      connect_timeout 1\n      \
           retry 0\n    }\n  }\n}\n";
    let kl = Keeplite::start(ns, &conf);
    let subject = |s: &str| {
        format!("[lb] Realserver [127.0.0.2]:tcp:8080 of virtual server [10.9.0.1]:tcp:80 - {s}")
    };
    // Starts up (no mail: nothing changed) and checks once; the server goes away, then
    // comes back.
    let checked = || {
        let st = kl.status().unwrap_or_default();
        !st["virtual_servers"][0]["real_servers"][0]["last"].is_null()
    };
    assert!(wait_until(Duration::from_secs(10), checked), "{}", kl.log());
    rs.signal("KILL");
    let _ = rs.0.wait();
    let vs = |s: &str| format!("[lb] Virtualserver [10.9.0.1]:tcp:80 - {s}");
    let m = mail.expect(&subject("DOWN"), &kl);
    assert!(m.contains("=> TCP CHECK failed on service <="), "{m}");
    // Its only real server gone, the virtual server loses its quorum (default 1).
    let m = mail.expect(&vs("DOWN"), &kl);
    assert!(m.contains("\n\n=> Lost quorum 1+0=1 <= 0 <=\n"), "{m}");
    rs = listener();
    let m = mail.expect(&subject("UP"), &kl);
    assert!(m.contains("=> TCP CHECK succeed on service <="), "{m}");
    let m = mail.expect(&vs("UP"), &kl);
    assert!(m.contains("\n\n=> Gained quorum 1+0=1 <= 1 <=\n"), "{m}");
    drop(rs);
}

/// A mail server that never answers costs nothing but a log line: the failover still
/// happens, on the usual schedule, and the sessions time out.
#[test]
fn dead_mail_server_delays_nothing() {
    let lan = Lan::new(3);
    // Host 2 accepts connections and never says a word.
    let ns = &lan.hosts[2];
    let silent = ns
        .command("/usr/bin/python3")
        .args([
            "-c",
            "import socket,time\ns=socket.create_server(('192.0.2.3',25))\nc=[]\n\
             while True: c.append(s.accept())",
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let _silent = ChildGuard(silent);
    let probe =
        "/usr/bin/python3 -c 'import socket; socket.create_connection((\"192.0.2.3\", 25), 1)'";
    assert!(wait_until(Duration::from_secs(10), || ns
        .sh_output(probe)
        .status
        .success()));
    let vip = ["192.0.2.100/24"];
    // Longer than the backup's master-down interval (3.6 s): a loop blocked on the mail
    // server would let the backup take over.
    let conf = |id: &str, server: &str, prio: u8| {
        global(id, server, "smtp_alert").replace("smtp_connect_timeout 2", "smtp_connect_timeout 5")
            + &vrrp_conf("VI_1", 51, prio, &vip, "")
    };
    let a = Keeplite::start(&lan.hosts[0], &conf("a", "192.0.2.3", 150));
    let b = Keeplite::start(&lan.hosts[1], &conf("b", "192.0.2.3", 100));
    a.expect_state("VI_1", "MASTER", 10);
    b.expect_state("VI_1", "BACKUP", 5);
    let log_has = |kl: &Keeplite, what: &str| {
        let ok = wait_until(Duration::from_secs(15), || kl.log().contains(what));
        assert!(ok, "no `{what}` in:\n{}", kl.log());
    };
    log_has(&a, "failed: timeout waiting for a reply");
    assert_eq!(b.state("VI_1"), "BACKUP", "{}", b.log());
    // An unreachable server (nobody has 192.0.2.9) for the backup after a reload.
    b.write_conf(&conf("b", "192.0.2.9", 100));
    assert!(b.client(&["reload"]).0);
    a.child.signal("KILL");
    b.expect_state("VI_1", "MASTER", 8);
    // Unreachable: no route to host (ARP gave up) or the connect timed out.
    log_has(&b, "SMTP alert to 192.0.2.9:25 failed");
}

/// keepalived 2.2.7 and keeplite, configured alike, send the same mails (the date aside) for
/// an instance and its sync group.
#[test]
fn mail_matches_keepalived_s() {
    let lan = Lan::new(3);
    let ka_box = MailBox::start(&lan.hosts[2], "192.0.2.3", 2527);
    let kl_box = MailBox::start(&lan.hosts[2], "192.0.2.3", 2528);
    // Alone on their VRIDs, both become master.
    let conf = |port: u16, vrid: u8, vip: &str| {
        global("r", &format!("192.0.2.3 {port}"), "smtp_alert")
            + &vrrp_conf("VI_1", vrid, 100, &[vip], "")
            + "vrrp_sync_group G {\n  group {\n    VI_1\n  }\n}\n"
    };
    let mut ka = common::Keepalived::start(&lan.hosts[0], &conf(2527, 61, "192.0.2.161/24"));
    let kl = Keeplite::start(&lan.hosts[1], &conf(2528, 62, "192.0.2.162/24"));
    let normalize = |m: String| {
        m.lines()
            .map(|l| {
                if l.starts_with("Date: ") {
                    "Date: -"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let subjects = ["Instance VI_1", "Group G"].map(|what| {
        ["BACKUP", "MASTER"].map(|state| format!("[r] VRRP {what} - Entering {state} state"))
    });
    for subject in subjects.concat() {
        let line = format!("Subject: {subject}\n");
        let ok = wait_until(Duration::from_secs(15), || {
            ka_box.mails().iter().any(|m| m.contains(&line))
        });
        assert!(ok, "keepalived sent no `{subject}`:\n{}", ka.log());
        let theirs = ka_box.mails().into_iter().find(|m| m.contains(&line));
        let ours = normalize(kl_box.expect(&subject, &kl));
        assert!(ours.contains("\n\n=> "), "{ours}");
        assert_eq!(ours, normalize(theirs.unwrap()));
    }
    ka.stop();
}
