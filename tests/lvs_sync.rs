//! IPVS connection sync (`lvs_sync_daemon`) across a director failover, on real kernels: two
//! qemu VMs (Debian's kernel with ip_vs, tests/kvm) run keeplite as the directors of a DR
//! virtual server, a client and the real server are namespaces on the VMs' bridge. A
//! long-lived TCP connection through the VIP must survive pulling the master VM's plug: the
//! backup's sync daemon has received the connection from the master's, so after taking over it
//! keeps forwarding it. Without the sync, the new master has no entry for the connection and
//! its own stack answers the next segment with a reset.
//!
//! The directors' configuration also has the other IPVS globals and flags (`lvs_flush`,
//! `lvs_timeouts`, `ops`, `persistence_engine sip`): what the kernel makes of them is read
//! back with ipvsadm on the first director.
//!
//! The `vm_*` tests are the directors, run inside the VMs; they are `#[ignore]`d on the host.

mod common;
mod kvm;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{ChildGuard, Lan};

const KEEPLITE: &str = env!("CARGO_BIN_EXE_keeplite");
/// On the LAN of `common::Lan`: the client is 192.0.2.1, the real server 192.0.2.2.
const VIP: &str = "192.0.2.100";
const PORT: u16 = 7000;
/// Generous: TCG VMs on a loaded machine.
const BOOT: Duration = Duration::from_secs(400);

const MODULES: &[&str] = &[
    "crc32c_generic",
    "ip_vs",
    "ip_vs_rr",
    "ip_vs_pe_sip",
    "e1000",
];

/// An echo server, one thread per connection.
const ECHO: &str = r#"
import socket, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 7000))
srv.listen()
def echo(c):
    for d in iter(lambda: c.recv(100), b""):
        c.sendall(d)
while True:
    c, _ = srv.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
"#;

/// One connection to the VIP, a numbered line every 100 ms, each echo checked and counted on
/// stdout; any error (a reset above all) ends it with a traceback.
const CLIENT: &str = r#"
import socket, sys, time
s = socket.create_connection((sys.argv[1], 7000), timeout=300)
n = 0
while True:
    n += 1
    s.sendall(b"%d\n" % n)
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(100)
        if not d:
            sys.exit("connection closed")
        buf += d
    assert buf == b"%d\n" % n, buf
    print(n, flush=True)
    time.sleep(0.1)
"#;

fn director(
    test: &'static str,
    lan: &Lan,
    tap: &str,
    mac: &str,
    kernel: &kvm::Kernel,
) -> kvm::Running {
    kvm::VmRun {
        kernel,
        modules: MODULES,
        programs: &[KEEPLITE, "/usr/sbin/ipvsadm"],
        tests: &[test],
        timeout: BOOT,
    }
    .spawn(Some(kvm::Nic {
        netns: &lan.switch.name,
        bridge: "br0",
        tap,
        mac,
    }))
}

#[test]
fn connection_survives_director_failover() {
    let kernel = kvm::kernel();
    let lan = Lan::new(2);
    let (client, real) = (&lan.hosts[0], &lan.hosts[1]);
    // DR real server: the VIP on lo, never answered for in ARP.
    real.sh(&format!(
        "ip addr add {VIP}/32 dev lo && sysctl -qw net.ipv4.conf.all.arp_ignore=1 \
         net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.eth0.arp_ignore=1 \
         net.ipv4.conf.eth0.arp_announce=2"
    ));
    let _echo = real.spawn("python3", &["-c", ECHO]);
    let mut a = director("vm_director_a", &lan, "kta", "52:54:00:4b:53:0a", &kernel);
    let mut b = director("vm_director_b", &lan, "ktb", "52:54:00:4b:53:0b", &kernel);
    a.wait_for("VI_1: BACKUP -> MASTER", 0, BOOT);
    // The kernel runs what keeplite asked for (ipvsadm reads it back).
    a.wait_for(
        "KL-DAEMON master sync daemon (mcast=eth0, syncid=7",
        0,
        BOOT,
    );
    b.wait_for(
        "KL-DAEMON backup sync daemon (mcast=eth0, syncid=7",
        0,
        BOOT,
    );
    // lvs_timeouts (tcpfin as it was), ops and the SIP engine reached the kernel; lvs_flush
    // removed the foreign service before keeplite added its own.
    a.wait_for("KL-IPVS Timeout (tcp tcpfin udp): 7200 120 30", 0, BOOT);
    a.wait_for(
        "KL-IPVS UDP 192.0.2.100:5060 rr persistent 60 pe sip ops",
        0,
        BOOT,
    );
    a.wait_for("KL-FLUSHED", 0, BOOT);
    a.wait_for(
        "IPVS: start the master sync daemon on eth0 (sync id 7)",
        0,
        BOOT,
    );
    b.wait_for(
        "IPVS: start the backup sync daemon on eth0 (sync id 7)",
        0,
        BOOT,
    );

    let mut child = client
        .command("python3")
        .args(["-c", CLIENT, VIP])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let echoes = Arc::new(AtomicU64::new(0));
    let (out, count) = (child.stdout.take().unwrap(), Arc::clone(&echoes));
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            count.store(line.trim().parse().unwrap_or(0), Ordering::SeqCst);
        }
    });
    let mut client = ChildGuard(child);
    let wait_echoes = |n: u64, client: &mut ChildGuard, what: &str| {
        let ok = common::wait_until(BOOT, || {
            echoes.load(Ordering::SeqCst) >= n || client.0.try_wait().unwrap().is_some()
        });
        let status = client.0.try_wait().unwrap();
        assert!(
            ok && status.is_none(),
            "{what}: {} echoes, client {status:?}",
            echoes.load(Ordering::SeqCst)
        );
    };
    wait_echoes(20, &mut client, "through the first master");
    // The backup's kernel has the connection, from the master's sync daemon only (it never saw
    // a packet of it).
    b.wait_for("KL-CONN TCP C0000201", 0, BOOT);

    let before = echoes.load(Ordering::SeqCst);
    a.kill();
    let mark = b.wait_for("VI_1: BACKUP -> MASTER", 0, BOOT);
    b.wait_for(
        "IPVS: start the master sync daemon on eth0 (sync id 7)",
        mark,
        BOOT,
    );
    b.wait_for(
        "KL-DAEMON master sync daemon (mcast=eth0, syncid=7",
        mark,
        BOOT,
    );
    wait_echoes(before + 30, &mut client, "through the new master");
    eprintln!(
        "lvs_sync: {} echoes before the failover, {} after, one connection",
        before,
        echoes.load(Ordering::SeqCst) - before
    );
    drop(b);
}

/// Director a (priority 150, MASTER at start) or b (100, BACKUP).
fn run_director(addr: &str, state: &str, priority: u8) {
    assert!(kvm::in_vm(), "runs inside the qemu VM only");
    let sh = |cmd: &str| {
        let ok = Command::new("sh").args(["-c", cmd]).status().unwrap();
        assert!(ok.success(), "{cmd}");
    };
    sh(&format!(
        "ip link set eth0 up && ip addr add {addr}/24 dev eth0"
    ));
    // Somebody else's service, which `lvs_flush` removes.
    sh("/usr/sbin/ipvsadm -A -t 10.9.9.9:25 -s rr");
    let conf = format!(
        "global_defs {{\n  lvs_sync_daemon eth0 VI_1 id 7\n  lvs_flush\n  \
         lvs_timeouts tcp 7200 udp 30\n}}\n\
         vrrp_instance VI_1 {{\n  state {state}\n  interface eth0\n  virtual_router_id 51\n  \
         priority {priority}\n  advert_int 1\n  virtual_ipaddress {{\n    {VIP}\n  }}\n}}\n\
         virtual_server {VIP} {PORT} {{\n  lb_algo rr\n  lb_kind DR\n  protocol TCP\n  \
         real_server 192.0.2.2 {PORT} {{\n    weight 1\n  }}\n}}\n\
         virtual_server {VIP} 5060 {{\n  lb_algo rr\n  lb_kind DR\n  protocol UDP\n  ops\n  \
         persistence_timeout 60\n  persistence_engine sip\n  \
         real_server 192.0.2.2 5060 {{\n    weight 1\n  }}\n}}\n"
    );
    std::fs::write("/tmp/keepalived.conf", conf).unwrap();
    let _keeplite = ChildGuard(
        Command::new(KEEPLITE)
            .args([
                "-n",
                "-l",
                "-f",
                "/tmp/keepalived.conf",
                "--control",
                "/tmp/k.sock",
            ])
            .spawn()
            .unwrap(),
    );
    // Reports each connection entry the kernel gets (the backup's come from the sync daemon),
    // each sync daemon it runs and the services and timeouts it has, until the host pulls the
    // plug.
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..2400 {
        for (tag, arg) in [
            ("KL-DAEMON", "--daemon"),
            ("KL-IPVS", "-n"),
            ("KL-IPVS", "--timeout"),
        ] {
            if i % 8 != 0 {
                break;
            }
            let out = Command::new("/usr/sbin/ipvsadm")
                .args(["-L", arg])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            // keeplite's service is in, the foreign one gone.
            let flushed = text.contains(":7000") && !text.contains("10.9.9.9:25");
            if arg == "-n" && flushed && seen.insert("KL-FLUSHED".into()) {
                println!("KL-FLUSHED");
            }
            for l in text.lines() {
                let l = l.split_whitespace().collect::<Vec<_>>().join(" ");
                if seen.insert(l.clone()) {
                    println!("{tag} {l}");
                }
            }
        }
        let table = std::fs::read_to_string("/proc/net/ip_vs_conn").unwrap_or_default();
        for l in table.lines().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() > 4 && seen.insert(format!("{} {}", f[1], f[2])) {
                println!("KL-CONN {}", f.join(" "));
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
#[ignore = "runs in the VM"]
fn vm_director_a() {
    run_director("192.0.2.11", "MASTER", 150);
}

#[test]
#[ignore = "runs in the VM"]
fn vm_director_b() {
    run_director("192.0.2.12", "BACKUP", 100);
}
