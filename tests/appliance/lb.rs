//! Load balancing on a real kernel with IPVS, run in the appliance VM of tests/appliance.rs
//! (sharing its boot): keeplite with three seed LVS director configurations as written (only
//! interface names adapted), their real servers being busybox httpd on addresses inside the VM.
//! Checks /proc/net/ip_vs against the configs, real-server failure and recovery, a reload that
//! edits one destination only, and the removal of keeplite's services on SIGTERM. Every packet
//! stays in the VM.

use crate::harness::{Vm, TOP};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// `ADDR:PORT` as /proc/net/ip_vs spells it (`C0A8EB64:0050`).
fn hex(addr: &str, port: u16) -> String {
    let a: Ipv4Addr = addr.parse().unwrap();
    format!("{:08X}:{port:04X}", u32::from(a))
}

/// /proc/net/ip_vs as service (`TCP C0A8EB64:0050`) -> (scheduler and flags, destinations
/// as `ADDR:PORT Forward Weight`).
fn ipvs(vm: &mut Vm) -> BTreeMap<String, (String, Vec<String>)> {
    let text = vm.ok("cat /proc/net/ip_vs");
    let mut out: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut last = None;
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.as_slice() {
            ["->", "RemoteAddress:Port", ..] => {}
            ["->", addr, fwd, weight, ..] => {
                let dests = &mut out.get_mut(last.as_ref().unwrap()).unwrap().1;
                dests.push(format!("{addr} {fwd} {weight}"));
                dests.sort();
            }
            [proto @ ("TCP" | "UDP" | "FWM"), addr, rest @ ..] => {
                let key = format!("{proto} {addr}");
                out.insert(key.clone(), (rest.join(" "), Vec::new()));
                last = Some(key);
            }
            _ => {}
        }
    }
    out
}

/// Writes `content` to `path` on the VM a few lines per command, as printf escapes: typed
/// tabs would trigger the shell's completion and long lines overflow the tty.
fn put_file(vm: &mut Vm, path: &str, content: &str) {
    vm.ok(&format!(": > {path}"));
    let lines: Vec<&str> = content.lines().collect();
    for chunk in lines.chunks(8) {
        let mut fmt = String::new();
        for l in chunk {
            for b in l.bytes() {
                match b {
                    b'\\' => fmt.push_str("\\\\"),
                    b'%' => fmt.push_str("%%"),
                    b'\'' => fmt.push_str("'\\''"),
                    b' '..=b'~' => fmt.push(b as char),
                    _ => fmt.push_str(&format!("\\{b:03o}")),
                }
            }
            fmt.push_str("\\n");
        }
        vm.ok(&format!("printf '{fmt}' >> {path}"));
    }
}

fn seed(name: &str) -> String {
    std::fs::read_to_string(format!("{TOP}/tests/corpus/seed/{name}")).unwrap()
}

/// Polls /proc/net/ip_vs (about once a second) until `cond` holds.
fn wait_ipvs(
    vm: &mut Vm,
    secs: u64,
    cond: impl Fn(&BTreeMap<String, (String, Vec<String>)>) -> bool,
) {
    for _ in 0..secs {
        if cond(&ipvs(vm)) {
            return;
        }
        vm.ok("sleep 1");
    }
    let t = ipvs(vm);
    let logs = vm.ok("tail -n 30 /tmp/lb1.log /tmp/lb2.log /tmp/lb3.log");
    panic!("IPVS never reached the expected state: {t:#?}\n{logs}");
}

/// Runs the load-balancing checks on a booted appliance `vm` (its own instance stays on eth0,
/// untouched); leaves VLANs, addresses and httpd behind, so the caller reboots afterwards.
pub fn seed_directors(vm: &mut Vm) {
    // The seed configs' interfaces, as VLANs of the VM's NIC (their own L2, away from the
    // appliance's instance on eth0); real servers are httpd on local addresses.
    vm.ok("for v in 33 34 192; do ip link add link eth0 name ens$v type vlan id $v && ip link set ens$v up || exit 1; done");
    vm.ok("ip addr add 192.168.235.1/24 dev ens33 && ip addr add 192.168.216.1/24 dev ens34 && ip addr add 200.222.0.73/24 dev ens192");
    let reals = [
        "192.168.235.12",
        "192.168.235.13",
        "192.168.216.204",
        "192.168.216.179",
        "200.222.0.87",
        "200.222.0.89",
    ];
    vm.ok("mkdir -p /tmp/www && echo ok > /tmp/www/index.html");
    for a in reals {
        vm.ok(&format!(
            "ip addr add {a}/32 dev lo && (httpd -f -p {a}:80 -h /tmp/www & echo $! > /tmp/h{a}.pid)"
        ));
    }
    put_file(vm, "/tmp/lb1.conf", &seed("lvs-dr-http-master.conf"));
    put_file(
        vm,
        "/tmp/lb2.conf",
        &seed("tcp-check-master.conf").replace("interface ens33", "interface ens34"),
    );
    let director = seed("unicast-wlc-director1.conf");
    put_file(vm, "/tmp/lb3.conf", &director);
    // lb2 keeps its services at exit, as keepalived -I does.
    for (n, flags) in [("lb1", ""), ("lb2", " -I"), ("lb3", "")] {
        vm.ok(&format!(
            "(keeplite -n -l{flags} -f /tmp/{n}.conf --control /run/{n}.sock > /tmp/{n}.log 2>&1 & echo $! > /tmp/{n}.pid)"
        ));
    }

    let lvs_dr = format!("TCP {}", hex("192.168.235.100", 80));
    let tcp = format!("TCP {}", hex("192.168.216.250", 80));
    let wlc = format!("TCP {}", hex("200.222.0.113", 80));
    let dests = |a: &str, b: &str, w: u32| {
        let mut v = vec![
            format!("{} Route {w}", hex(a, 80)),
            format!("{} Route {w}", hex(b, 80)),
        ];
        v.sort();
        v
    };
    let want_dr = dests("192.168.235.12", "192.168.235.13", 1);
    wait_ipvs(vm, 60, |t| {
        t.get(&lvs_dr).is_some_and(|s| s.1 == want_dr)
            && t.get(&tcp).is_some_and(|s| s.1.len() == 2)
            && t.get(&wlc).is_some_and(|s| s.1.len() == 2)
    });
    let t = ipvs(vm);
    // Scheduler, DR, persistence and weights as configured (persistence_timeout 0: none).
    assert_eq!(t[&lvs_dr].0, "rr", "{t:#?}");
    // The kernel prints the persistence timeout in jiffies, with the full netmask.
    let hz = |flags: &str, sched: &str, secs: u64| {
        let f: Vec<&str> = flags.split_whitespace().collect();
        assert_eq!(f[..2], [sched, "persistent"], "{flags}");
        assert_eq!(f[3], "FFFFFFFF", "{flags}");
        let jiffies: u64 = f[2].parse().unwrap();
        assert_eq!(jiffies % secs, 0, "{flags}");
        jiffies / secs
    };
    let tick = hz(&t[&tcp].0, "rr", 50);
    assert!([100, 250, 300, 1000].contains(&tick), "{t:#?}");
    assert_eq!(hz(&t[&wlc].0, "wlc", 600), tick, "{t:#?}");
    assert_eq!(t[&tcp].1, dests("192.168.216.204", "192.168.216.179", 1));
    assert_eq!(t[&wlc].1, dests("200.222.0.87", "200.222.0.89", 100));
    let status = vm.ok("keeplite status --control /run/lb1.sock");
    assert!(
        status.contains("TCP 192.168.235.100:80 rr DR quorum up"),
        "{status}"
    );
    assert!(!status.contains("IPVS:"), "{status}");

    // A real server stops: removed within delay_loop 6 + 3 retries x 3 s (+ slack). Timed
    // inside the VM, from the kill to the entry leaving /proc/net/ip_vs.
    let d13 = hex("192.168.235.13", 80);
    let took = vm.ok(&format!(
        "kill $(cat /tmp/h192.168.235.13.pid); s=$(cut -d' ' -f1 /proc/uptime); i=0; \
         while grep -q {d13} /proc/net/ip_vs && [ $i -lt 300 ]; do usleep 100000; i=$((i+1)); done; \
         e=$(cut -d' ' -f1 /proc/uptime); echo took $s $e"
    ));
    let secs = |out: &str| {
        let f: Vec<f64> = out
            .split_whitespace()
            .skip_while(|w| *w != "took")
            .skip(1)
            .map(|w| w.parse().unwrap())
            .collect();
        f[1] - f[0]
    };
    let down = secs(&took);
    eprintln!("appliance_lb: real server stop -> IPVS removal {down:.1}s");
    assert!(down < 20.0, "{took}");
    let t = ipvs(vm);
    assert_eq!(
        t[&lvs_dr].1,
        vec![format!("{} Route 1", hex("192.168.235.12", 80))]
    );
    let status = vm.ok("keeplite status --control /run/lb1.sock");
    eprintln!("appliance_lb: keeplite status after the stop:\n{status}");
    assert!(
        status.contains("192.168.235.13:80 DOWN w=0 HTTP connection refused"),
        "{status}"
    );

    // It comes back: restored after the next check (delay_loop after the failure).
    let took = vm.ok(&format!(
        "(httpd -f -p 192.168.235.13:80 -h /tmp/www & echo $! > /tmp/h192.168.235.13.pid); \
         s=$(cut -d' ' -f1 /proc/uptime); i=0; \
         while ! grep -q {d13} /proc/net/ip_vs && [ $i -lt 300 ]; do usleep 100000; i=$((i+1)); done; \
         e=$(cut -d' ' -f1 /proc/uptime); echo took $s $e"
    ));
    let up = secs(&took);
    eprintln!("appliance_lb: real server start -> IPVS restore {up:.1}s");
    assert!(up < 15.0, "{took}");
    assert_eq!(ipvs(vm)[&lvs_dr].1, want_dr);

    // Reload with one weight changed: one destination edited, nothing else.
    let before = ipvs(vm);
    let edited = {
        let (head, tail) = director.split_once("real_server 200.222.0.89 80").unwrap();
        format!(
            "{head}real_server 200.222.0.89 80{}",
            tail.replacen("weight 100", "weight 50", 1)
        )
    };
    put_file(vm, "/tmp/lb3.conf", &edited);
    let lines = vm
        .ok("wc -l < /tmp/lb3.log")
        .trim()
        .parse::<usize>()
        .unwrap();
    vm.ok("keeplite reload --control /run/lb3.sock");
    wait_ipvs(vm, 10, |t| {
        t[&wlc]
            .1
            .contains(&format!("{} Route 50", hex("200.222.0.89", 80)))
    });
    let after = ipvs(vm);
    assert_eq!(after[&lvs_dr], before[&lvs_dr]);
    assert_eq!(after[&tcp], before[&tcp]);
    assert_eq!(after[&wlc].0, before[&wlc].0);
    assert!(after[&wlc]
        .1
        .contains(&format!("{} Route 100", hex("200.222.0.87", 80))));
    let log = vm.ok(&format!("tail -n +{} /tmp/lb3.log", lines + 1));
    let ops: Vec<&str> = log.lines().filter(|l| l.contains("IPVS: ")).collect();
    assert_eq!(
        ops,
        ["IPVS: update real server 200.222.0.89:80 (weight 50) of TCP 200.222.0.113:80"],
        "{log}"
    );

    // SIGTERM: each keeplite removes its own services, and only those; lb2 (-I) keeps its.
    vm.ok("for n in lb1 lb2 lb3; do kill $(cat /tmp/$n.pid); done");
    // Each has exited (so is done with IPVS) before the table is read.
    vm.ok("for n in lb1 lb2 lb3; do while kill -0 $(cat /tmp/$n.pid) 2>/dev/null; do usleep 100000; done; done");
    let t = ipvs(vm);
    assert_eq!(t.keys().collect::<Vec<_>>(), [&tcp], "{t:#?}");
    assert_eq!(t[&tcp], after[&tcp]);
    let log = vm.ok("cat /tmp/lb1.log");
    assert!(
        log.contains("IPVS: remove virtual server TCP 192.168.235.100:80"),
        "{log}"
    );
}
