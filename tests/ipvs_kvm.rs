//! IPVS against a real kernel: `kernel_ipvs_suite` boots one qemu VM (Debian's kernel with the
//! ip_vs modules) and runs the `vm_*` tests below inside it. The `vm_*` tests are `#[ignore]`d
//! on the host, where the kernel has no IPVS; they need KEEPLITE_IN_VM (set by the harness).

mod kvm;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use keeplite::ipvs::model::*;
use keeplite::ipvs::plan::{plan, teardown, Op};
use keeplite::ipvs::policy::{Event, Health, RealServer, VirtualServer};
use keeplite::ipvs::syncd::{Cmd, Mode, SyncDaemon};
use keeplite::ipvs::wire::{Reply, Request, IPVS_CMD_NEW_DAEMON};
use keeplite::sys::ipvs::IpvsSocket;

const VM_TESTS: &[&str] = &[
    "vm_every_scheduler",
    "vm_missing_scheduler_is_explained",
    "vm_forwarding_persistence_fwmark_ipv6",
    "vm_reload_applies_only_the_difference",
    "vm_start_adopts_and_shutdown_cleans_only_own_services",
    "vm_seed_config_virtual_servers",
    "vm_thousands_of_destinations_in_batches",
    "vm_capture_kernel_replies",
    "vm_requests_match_ipvsadm",
    "vm_health_changes_reach_the_kernel",
    "vm_timeouts_and_flush",
    "vm_persistence_engine_sip",
    "vm_sync_daemon_requests_match_ipvsadm",
];

/// Every scheduler module except twos, which Debian 12's kernel does not build. libcrc32c
/// (an ip_vs dependency) needs a crc32c implementation: a soft dependency modinfo only names
/// by alias, so it is listed here.
const MODULES: &[&str] = &[
    "crc32c_generic",
    "ip_vs",
    "ip_vs_rr",
    "ip_vs_wrr",
    "ip_vs_lc",
    "ip_vs_wlc",
    "ip_vs_lblc",
    "ip_vs_lblcr",
    "ip_vs_dh",
    "ip_vs_sh",
    "ip_vs_sed",
    "ip_vs_nq",
    "ip_vs_mh",
    "ip_vs_fo",
    "ip_vs_ovf",
    // `persistence_engine sip`.
    "ip_vs_pe_sip",
    // A multicast-capable link for the sync daemons.
    "veth",
    // Netlink monitor device, to capture the requests ipvsadm sends.
    "nlmon",
];

#[test]
fn kernel_ipvs_suite() {
    let kernel = kvm::kernel();
    kvm::VmRun {
        kernel: &kernel,
        modules: MODULES,
        // iproute2's ip: busybox's cannot create nlmon devices.
        programs: &["/usr/sbin/ipvsadm", "/usr/bin/tcpdump", "/usr/bin/ip"],
        tests: VM_TESTS,
        timeout: Duration::from_secs(300),
    }
    .run();
}

fn vm() -> IpvsSocket {
    assert!(
        kvm::in_vm(),
        "runs inside the qemu VM only: cargo test --test ipvs_kvm kernel_ipvs_suite"
    );
    let mut s = IpvsSocket::open().expect("IPVS family");
    // Each test starts from an empty table (tests run one at a time in the VM).
    let all = s.state().unwrap();
    assert_eq!(s.apply(&teardown(&all, |_| true)).unwrap(), vec![]);
    s
}

fn tcp(addr: &str) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: addr.parse().unwrap(),
    }
}

fn params(scheduler: Scheduler) -> ServiceParams {
    ServiceParams {
        scheduler,
        persistence: None,
        flags: 0,
    }
}

fn dest(addr: &str, forward: Forward, weight: u32) -> Dest {
    Dest::new(addr.parse().unwrap(), forward, weight)
}

/// Programs `want` from scratch, reads it back, and checks a second plan is empty.
fn program(s: &mut IpvsSocket, want: &State) {
    let have = s.state().unwrap();
    let errors = s.apply(&plan(want, &have, |_| true)).unwrap();
    assert!(errors.is_empty(), "{}", errors[0]);
    let back = s.state().unwrap();
    assert_eq!(&back, want);
    assert_eq!(plan(want, &back, |_| true), vec![]);
}

fn ipvsadm_ln() -> String {
    ipvsadm(&["-Ln"])
}

/// What `ipvsadm ARGS` prints.
fn ipvsadm(args: &[&str]) -> String {
    let out = Command::new("/usr/sbin/ipvsadm")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts each of `wants` starts a line of `listing` (whitespace-normalised).
fn assert_listed(what: &str, listing: &str, wants: &[&str]) {
    let lines: Vec<String> = listing
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for want in wants {
        assert!(
            lines.iter().any(|l| l.starts_with(want)),
            "{what} lacks `{want}`:\n{listing}"
        );
    }
}

#[test]
#[ignore = "runs in the VM"]
fn vm_every_scheduler() {
    let mut s = vm();
    let mut want = State::default();
    for (i, sched) in Scheduler::ALL
        .iter()
        .filter(|s| **s != Scheduler::Twos)
        .enumerate()
    {
        let e = want.add_service(Service {
            key: tcp(&format!("10.1.0.1:{}", 1000 + i)),
            params: params(*sched),
        });
        e.add_dest(dest("10.2.0.1:80", Forward::Direct, 1));
    }
    program(&mut s, &want);
    let wants: Vec<String> = (want.services.iter())
        .map(|(key, e)| format!("{key} {}", e.params.scheduler))
        .collect();
    let wants: Vec<&str> = wants.iter().map(String::as_str).collect();
    assert_listed("ipvsadm -Ln", &ipvsadm_ln(), &wants);
}

#[test]
#[ignore = "runs in the VM"]
fn vm_missing_scheduler_is_explained() {
    let mut s = vm();
    let op = Op::AddService(Service {
        key: tcp("10.1.0.1:80"),
        params: params(Scheduler::Twos),
    });
    let errors = s.apply(&[op]).unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].errno, libc::ENOENT);
    assert!(errors[0].to_string().contains("modprobe ip_vs_twos"));
    assert!(s.services().unwrap().is_empty());
}

/// Services of every kind: forwarding methods, persistence, fwmark, IPv6, SCTP/UDP, flags.
fn assorted() -> State {
    let mut want = State::default();
    let udp = ServiceKey::Addr {
        protocol: Protocol::Udp,
        addr: "10.1.0.2:53".parse().unwrap(),
    };
    let sctp = ServiceKey::Addr {
        protocol: Protocol::Sctp,
        addr: "10.1.0.3:3868".parse().unwrap(),
    };
    let e = want.add_service(Service {
        key: tcp("10.1.0.1:80"),
        params: params(Scheduler::Wlc),
    });
    e.add_dest(dest("10.2.0.1:80", Forward::Direct, 1));
    let mut thresholds = dest("10.2.0.2:8080", Forward::Masq, 100);
    thresholds.params.upper_threshold = 500;
    thresholds.params.lower_threshold = 100;
    e.add_dest(thresholds);
    e.add_dest(dest("10.2.0.3:80", Forward::Tunnel, 0));
    let e = want.add_service(Service {
        key: udp,
        params: ServiceParams {
            flags: SVC_F_ONEPACKET,
            ..params(Scheduler::Rr)
        },
    });
    e.add_dest(dest("10.2.0.1:53", Forward::Masq, 2));
    let e = want.add_service(Service {
        key: sctp,
        params: params(Scheduler::Sh),
    });
    e.add_dest(dest("10.2.0.1:3868", Forward::Direct, 3));
    let e = want.add_service(Service {
        key: ServiceKey::Fwmark {
            family: Family::V4,
            mark: 7,
        },
        params: ServiceParams {
            persistence: Some(Persistence {
                timeout: 600,
                prefix: 24,
                sip: false,
            }),
            ..params(Scheduler::Wrr)
        },
    });
    e.add_dest(dest("10.2.0.4:0", Forward::Direct, 5));
    let e = want.add_service(Service {
        key: ServiceKey::Fwmark {
            family: Family::V6,
            mark: 8,
        },
        params: params(Scheduler::Mh),
    });
    e.add_dest(dest("[2001:db8::4]:0", Forward::Direct, 1));
    let e = want.add_service(Service {
        key: tcp("[2001:db8::1]:443"),
        params: ServiceParams {
            persistence: Some(Persistence {
                timeout: 50,
                prefix: 64,
                sip: false,
            }),
            flags: SVC_F_SCHED1,
            ..params(Scheduler::Sh)
        },
    });
    e.add_dest(dest("[2001:db8::10]:443", Forward::Masq, 10));
    e.add_dest(dest("[2001:db8::11]:443", Forward::Direct, 20));
    want
}

#[test]
#[ignore = "runs in the VM"]
fn vm_forwarding_persistence_fwmark_ipv6() {
    let mut s = vm();
    program(&mut s, &assorted());
    assert_listed(
        "ipvsadm -Ln",
        &ipvsadm_ln(),
        &[
            "TCP 10.1.0.1:80 wlc",
            "-> 10.2.0.1:80 Route 1 0 0",
            "-> 10.2.0.2:8080 Masq 100 0 0",
            "-> 10.2.0.3:80 Tunnel 0 0 0",
            "UDP 10.1.0.2:53 rr ops",
            "SCTP 10.1.0.3:3868 sh",
            "FWM 7 wrr persistent 600 mask 255.255.255.0",
            "FWM 8 IPv6 mh",
            "TCP [2001:db8::1]:443 sh (sh-fallback) persistent 50 mask 64",
            "-> [2001:db8::11]:443 Route 20 0 0",
        ],
    );
    // The kernel's own listing: services in hex (0A010001:0050 = 10.1.0.1:80).
    let proc = std::fs::read_to_string("/proc/net/ip_vs").unwrap();
    assert_listed(
        "/proc/net/ip_vs",
        &proc,
        &[
            "TCP 0A010001:0050 wlc",
            "-> 0A020002:1F90 Masq 100 0 0",
            // Timeout in jiffies here (600 s * CONFIG_HZ), then the netmask.
            "FWM 00000007 wrr persistent 150000 FFFFFF00",
            "UDP 0A010002:0035 rr ops",
        ],
    );
}

#[test]
#[ignore = "runs in the VM"]
fn vm_reload_applies_only_the_difference() {
    let mut s = vm();
    let old = assorted();
    program(&mut s, &old);
    let mut new = old.clone();
    let web = tcp("10.1.0.1:80");
    let e = new.services.get_mut(&web).unwrap();
    e.dests.remove(&dest("10.2.0.3:80", Forward::Tunnel, 0).key);
    e.add_dest(dest("10.2.0.9:80", Forward::Direct, 4));
    new.services.remove(&tcp("[2001:db8::1]:443"));
    let ops = plan(&new, &s.state().unwrap(), |_| true);
    assert_eq!(
        ops,
        vec![
            Op::AddDest(web, dest("10.2.0.9:80", Forward::Direct, 4)),
            Op::DelDest(web, dest("10.2.0.3:80", Forward::Tunnel, 0).key),
            Op::DelService(tcp("[2001:db8::1]:443")),
        ]
    );
    assert_eq!(s.apply(&ops).unwrap(), vec![]);
    assert_eq!(s.state().unwrap(), new);
}

#[test]
#[ignore = "runs in the VM"]
fn vm_start_adopts_and_shutdown_cleans_only_own_services() {
    let mut s = vm();
    // Left over from a previous run: our web service with a stale real server and scheduler,
    // and somebody else's service added with ipvsadm.
    let mut leftover = State::default();
    let web = tcp("10.1.0.1:80");
    leftover
        .add_service(Service {
            key: web,
            params: params(Scheduler::Rr),
        })
        .add_dest(dest("10.2.0.7:80", Forward::Direct, 1));
    program(&mut s, &leftover);
    let ok = Command::new("/usr/sbin/ipvsadm")
        .args(["-A", "-t", "10.9.9.9:25", "-s", "lc"])
        .status()
        .unwrap();
    assert!(ok.success());

    let mut want = State::default();
    want.add_service(Service {
        key: web,
        params: params(Scheduler::Wlc),
    })
    .add_dest(dest("10.2.0.1:80", Forward::Direct, 1));
    let config: BTreeSet<ServiceKey> = want.services.keys().copied().collect();
    let owned = |k: &ServiceKey| config.contains(k);
    let kernel = s.state().unwrap();
    let errors = s.apply(&plan(&want, &kernel, owned)).unwrap();
    assert_eq!(errors, vec![]);
    let foreign = tcp("10.9.9.9:25");
    let mut expected = want.clone();
    expected.add_service(Service {
        key: foreign,
        params: params(Scheduler::Lc),
    });
    assert_eq!(s.state().unwrap(), expected);

    let kernel = s.state().unwrap();
    let errors = s.apply(&teardown(&kernel, owned)).unwrap();
    assert_eq!(errors, vec![]);
    let left = s.services().unwrap();
    assert_eq!(
        left.iter().map(|s| s.key).collect::<Vec<_>>(),
        vec![foreign]
    );
}

/// VIP, scheduler, persistence timeout, real servers with weights.
type Seed = (&'static str, Scheduler, u32, &'static [(&'static str, u32)]);

#[test]
#[ignore = "runs in the VM"]
fn vm_seed_config_virtual_servers() {
    let mut s = vm();
    // /work/shared/seed-configs, mapped by hand: lvs-dr-http-master (rr, DR, persistence 0),
    // unicast-wlc-director1 (wlc, DR, persistence 600), tcp-check-master (rr, DR, 50).
    let mut want = State::default();
    let seeds: [Seed; 3] = [
        (
            "192.168.235.100:80",
            Scheduler::Rr,
            0,
            &[("192.168.235.12:80", 1), ("192.168.235.13:80", 1)],
        ),
        (
            "200.222.0.113:80",
            Scheduler::Wlc,
            600,
            &[("200.222.0.87:80", 100), ("200.222.0.89:80", 100)],
        ),
        (
            "192.168.216.250:80",
            Scheduler::Rr,
            50,
            &[("192.168.216.204:80", 1), ("192.168.216.205:80", 1)],
        ),
    ];
    for (vip, sched, timeout, reals) in seeds {
        let e = want.add_service(Service {
            key: tcp(vip),
            params: ServiceParams {
                persistence: (timeout > 0).then_some(Persistence {
                    timeout,
                    prefix: 32,
                    sip: false,
                }),
                ..params(sched)
            },
        });
        for (rip, w) in reals {
            e.add_dest(dest(rip, Forward::Direct, *w));
        }
    }
    program(&mut s, &want);
    assert_listed(
        "ipvsadm -Ln",
        &ipvsadm_ln(),
        &[
            "TCP 192.168.235.100:80 rr",
            "-> 192.168.235.12:80 Route 1 0 0",
            "TCP 200.222.0.113:80 wlc persistent 600",
            "-> 200.222.0.89:80 Route 100 0 0",
            "TCP 192.168.216.250:80 rr persistent 50",
        ],
    );
}

/// `n` services with `per` destinations each (the benchmark's set).
pub fn many(n: u32, per: u32) -> State {
    let mut want = State::default();
    for i in 0..n {
        let e = want.add_service(Service {
            key: tcp(&format!("10.{}.{}.1:80", 100 + i / 256, i % 256)),
            params: params(Scheduler::Wlc),
        });
        for j in 0..per {
            e.add_dest(dest(
                &format!("172.16.{}.{}:80", i % 256, j + 1),
                Forward::Masq,
                1,
            ));
        }
    }
    want
}

#[test]
#[ignore = "runs in the VM"]
fn vm_thousands_of_destinations_in_batches() {
    let mut s = vm();
    program(&mut s, &many(1000, 10));
}

#[test]
#[ignore = "runs in the VM"]
fn vm_capture_kernel_replies() {
    let mut s = vm();
    let web = Service {
        key: tcp("10.1.0.1:80"),
        params: ServiceParams {
            persistence: Some(Persistence {
                timeout: 600,
                prefix: 24,
                sip: false,
            }),
            ..params(Scheduler::Wlc)
        },
    };
    let v6 = Service {
        key: tcp("[2001:db8::1]:443"),
        params: params(Scheduler::Rr),
    };
    let web_dest = dest("10.2.0.2:8080", Forward::Direct, 100);
    let v6_dest = dest("[2001:db8::10]:443", Forward::Masq, 3);
    let mut want = State::default();
    want.add_service(web).add_dest(web_dest);
    want.add_service(v6).add_dest(v6_dest);
    program(&mut s, &want);
    // The kernel's dump replies (printed: src/ipvs/wire.rs keeps them as byte vectors) decode
    // to exactly what was programmed, at the captured sizes (stats included): a change of the
    // kernel's layout fails here before the stored vectors go stale.
    let hex = |m: &[u8]| m.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let services = s.dump_raw(Request::dump_services()).unwrap();
    let mut decoded = Vec::new();
    for m in &services {
        println!("KL-CAPTURE service {}", hex(m));
        assert_eq!(m.len(), 320, "service reply size");
        decoded.push(Reply::decode(m).unwrap());
    }
    assert_eq!(decoded.len(), 2, "{decoded:?}");
    for svc in [web, v6] {
        assert!(decoded.contains(&Reply::Service(svc)), "{decoded:?}");
    }
    for (svc, d) in [(web, web_dest), (v6, v6_dest)] {
        let dests = s.dump_raw(Request::dump_dests(&svc.key)).unwrap();
        assert_eq!(dests.len(), 1, "{:?}", svc.key);
        println!("KL-CAPTURE dest {}", hex(&dests[0]));
        assert_eq!(dests[0].len(), 356, "dest reply size");
        assert_eq!(Reply::decode(&dests[0]).unwrap(), Reply::Dest(d));
    }
}

/// Benchmark (bench/ipvs-bench.sh): programming 1,000 services x 10 destinations into an empty
/// table, keeplite's batched client vs `ipvsadm -R`, in the same VM. Not part of the suite.
#[test]
#[ignore = "benchmark: bench/ipvs-bench.sh"]
fn bench_ipvs_program_in_vm() {
    let kernel = kvm::kernel();
    let out = kvm::VmRun {
        kernel: &kernel,
        modules: MODULES,
        programs: &["/usr/sbin/ipvsadm"],
        tests: &["vm_bench_program_1000x10"],
        timeout: Duration::from_secs(600),
    }
    .run();
    for line in out.lines().filter(|l| l.contains("KL-BENCH")) {
        println!("{}", line.trim());
    }
}

/// The same set as an `ipvsadm -R` script.
fn ipvsadm_rules(state: &State) -> String {
    let mut rules = String::new();
    for (key, e) in &state.services {
        let ServiceKey::Addr { addr, .. } = key else {
            unreachable!("the benchmark set has TCP services only")
        };
        rules += &format!("-A -t {addr} -s {}\n", e.params.scheduler);
        for (d, p) in &e.dests {
            let r = SocketAddr::new(d.addr, d.port);
            rules += &format!("-a -t {addr} -r {r} -m -w {}\n", p.weight);
        }
    }
    rules
}

/// Each run happens in a fresh network namespace (IPVS state is per namespace): after a
/// teardown the kernel keeps deleted destinations in a trash list that every later add scans,
/// which would penalise whichever tool runs second.
#[test]
#[ignore = "runs in the VM"]
fn vm_bench_program_1000x10() {
    assert!(kvm::in_vm(), "runs inside the qemu VM only");
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut runs = [Vec::new(), Vec::new()];
    for _ in 0..5 {
        for (tool, times) in ["keeplite", "ipvsadm"].iter().zip(runs.iter_mut()) {
            let out = Command::new("unshare")
                .args([
                    "-n",
                    "/t",
                    "--ignored",
                    "--exact",
                    "vm_bench_one_run",
                    "--nocapture",
                ])
                .env("KL_BENCH_TOOL", tool)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{text}");
            let ms = text
                .lines()
                .find_map(|l| l.split_once("KL-RUN-MS ").map(|(_, ms)| ms))
                .expect("run time")
                .trim()
                .parse::<f64>()
                .unwrap();
            times.push(ms);
        }
    }
    let [ours, theirs] = runs;
    println!(
        "KL-BENCH 1000x10 keeplite_median_ms={:.1} ipvsadm_R_median_ms={:.1} \
         keeplite_runs={ours:.1?} ipvsadm_runs={theirs:.1?}",
        median(ours.clone()),
        median(theirs.clone()),
    );
}

/// One timed run in the current (fresh) network namespace, tool from KL_BENCH_TOOL.
#[test]
#[ignore = "runs in the VM"]
fn vm_bench_one_run() {
    use std::time::Instant;
    let lo = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status();
    assert!(lo.unwrap().success());
    let mut s = vm();
    let want = many(1000, 10);
    let tool = std::env::var("KL_BENCH_TOOL").unwrap();
    let ms = if tool == "keeplite" {
        let ops = plan(&want, &State::default(), |_| true);
        let t = Instant::now();
        assert_eq!(s.apply(&ops).unwrap(), vec![]);
        t.elapsed().as_secs_f64() * 1e3
    } else {
        let rules = ipvsadm_rules(&want);
        let mut child = Command::new("/usr/sbin/ipvsadm")
            .arg("-R")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let t = Instant::now();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), rules.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        t.elapsed().as_secs_f64() * 1e3
    };
    assert_eq!(s.state().unwrap(), want);
    println!("KL-RUN-MS {ms}");
}

/// Netlink messages in a pcap file captured on an nlmon device: each packet is a 16-byte
/// Linux cooked header (LINKTYPE_LINUX_SLL, ARPHRD_NETLINK) and one netlink message.
fn pcap_messages(pcap: &[u8]) -> Vec<Vec<u8>> {
    assert_eq!(&pcap[..4], &0xa1b2c3d4u32.to_ne_bytes(), "pcap magic");
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= pcap.len() {
        let caplen = u32::from_ne_bytes(pcap[off + 8..off + 12].try_into().unwrap()) as usize;
        out.push(pcap[off + 32..off + 16 + caplen].to_vec());
        off += 16 + caplen;
    }
    out
}

/// Runs `ipvsadm` with each of `runs` while tcpdump captures netlink on an nlmon device;
/// returns the requests (NLM_F_REQUEST) to a dynamic genl family (not nlctrl 0x10, not acks)
/// whose generic netlink command is one of `cmds`.
fn ipvsadm_requests(runs: &[&[&str]], cmds: &[u8]) -> Vec<Vec<u8>> {
    let run = |cmd: &str, args: &[&str]| {
        let ok = Command::new(cmd).args(args).status().unwrap();
        assert!(ok.success(), "{cmd} {args:?}");
    };
    // A second call in the same VM finds the device there.
    let _ = Command::new("/usr/bin/ip")
        .args(["link", "add", "nlmon0", "type", "nlmon"])
        .status();
    run("/usr/bin/ip", &["link", "set", "nlmon0", "up"]);
    let mut dump = Command::new("/usr/bin/tcpdump")
        .args([
            "--immediate-mode",
            "-Z",
            "root",
            "-i",
            "nlmon0",
            "-U",
            "-w",
            "/tmp/nl.pcap",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // tcpdump reports "listening on nlmon0" once capturing.
    let mut err = std::io::BufReader::new(dump.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert!(line.contains("listening"), "{line}");
    for args in runs {
        run("/usr/sbin/ipvsadm", args);
    }
    run("kill", &["-INT", &dump.id().to_string()]);
    dump.wait().unwrap();
    pcap_messages(&std::fs::read("/tmp/nl.pcap").unwrap())
        .into_iter()
        .filter(|m| {
            m[6] & 1 == 1 && u16::from_ne_bytes([m[4], m[5]]) > 0x10 && cmds.contains(&m[16])
        })
        .collect()
}

#[test]
#[ignore = "runs in the VM"]
fn vm_requests_match_ipvsadm() {
    let _s = vm();
    let vip = "10.1.0.1:80";
    let theirs = ipvsadm_requests(
        &[
            &[
                "-A",
                "-t",
                vip,
                "-s",
                "wlc",
                "-p",
                "600",
                "-M",
                "255.255.255.0",
            ],
            &["-a", "-t", vip, "-r", "10.2.0.2:8080", "-g", "-w", "100"],
        ],
        // NEW_SERVICE, NEW_DEST (ipvsadm also asks for IPVS_CMD_GET_INFO first).
        &[1, 5],
    );
    assert_eq!(theirs.len(), 2, "ipvsadm sent NEW_SERVICE and NEW_DEST");

    let service = Service {
        key: tcp(vip),
        params: ServiceParams {
            persistence: Some(Persistence {
                timeout: 600,
                prefix: 24,
                sip: false,
            }),
            ..params(Scheduler::Wlc)
        },
    };
    // ipvsadm gives DR real servers the virtual port.
    let real = dest("10.2.0.2:80", Forward::Direct, 100);
    let family = u16::from_ne_bytes([theirs[0][4], theirs[0][5]]);
    let mut mine = Vec::new();
    Request::op(&Op::AddService(service)).write_message(family, 0, 0, &mut mine);
    let hex = |m: &[u8]| m.iter().map(|b| format!("{b:02x}")).collect::<String>();
    println!("KL-CAPTURE ipvsadm-new-service {}", hex(&theirs[0]));
    println!("KL-CAPTURE ipvsadm-new-dest {}", hex(&theirs[1]));
    // NEW_SERVICE: same genl header and attributes, byte for byte (only the nlmsghdr's
    // flags/seq/pid differ).
    assert_eq!(hex(&mine[16..]), hex(&theirs[0][16..]));
    // NEW_DEST: ipvsadm also sends an empty full service and the tunnel attributes, so
    // compare what the destination attributes say.
    mine.clear();
    Request::op(&Op::AddDest(service.key, real)).write_message(family, 0, 0, &mut mine);
    assert_eq!(Reply::decode(&theirs[1]).unwrap(), Reply::Dest(real));
    assert_eq!(Reply::decode(&mine).unwrap(), Reply::Dest(real));
}

#[test]
#[ignore = "runs in the VM"]
fn vm_health_changes_reach_the_kernel() {
    let mut s = vm();
    let real = |addr: &str, inhibit| {
        let d = dest(addr, Forward::Masq, 5);
        RealServer {
            key: d.key,
            forward: d.params.forward,
            weight: d.params.weight,
            inhibit_on_failure: inhibit,
        }
    };
    let vs = VirtualServer {
        services: vec![tcp("10.1.0.1:80"), tcp("10.1.0.2:80")],
        params: params(Scheduler::Wrr),
        reals: vec![real("10.2.0.1:8080", true), real("10.2.0.2:8080", false)],
        sorry: Some(dest("10.2.0.99:8080", Forward::Masq, 1)),
        quorum: 1,
        hysteresis: 0,
        alpha: false,
        omega: false,
    };
    let (mut health, event) = Health::new(&vs);
    assert_eq!(event, None);
    // Applies the policy's current view and returns the number of kernel operations.
    let mut sync = |h: &Health| {
        let mut want = State::default();
        h.install(&vs, &mut want);
        let kernel = s.state().unwrap();
        let ops = plan(&want, &kernel, |k| vs.services.contains(k));
        assert_eq!(s.apply(&ops).unwrap(), vec![]);
        assert_eq!(s.state().unwrap(), want);
        ops.len()
    };
    assert_eq!(sync(&health), 2 + 2 * 2);
    health.set_up(&vs, 0, false); // inhibited: weight 0 on both services
    assert_eq!(sync(&health), 2);
    assert_eq!(health.set_up(&vs, 1, false), Some(Event::QuorumDown));
    // Real 2 removed and the sorry server added, on both services.
    assert_eq!(sync(&health), 4);
    assert_eq!(health.set_up(&vs, 0, true), Some(Event::QuorumUp));
    // Real 1 back to weight 5, sorry server removed.
    assert_eq!(sync(&health), 4);
    health.set_weight(&vs, 0, Some(9)); // MISC_CHECK dynamic weight
    assert_eq!(sync(&health), 2);
    assert_eq!(sync(&health), 0);
}

#[test]
#[ignore = "runs in the VM"]
fn vm_timeouts_and_flush() {
    let mut s = vm();
    let timeout = || ipvsadm(&["-L", "--timeout"]);
    // The kernel's defaults, then `lvs_timeouts tcp 7200 udp 30`: tcpfin stays.
    assert!(
        timeout().contains("(tcp tcpfin udp): 900 120 300"),
        "{}",
        timeout()
    );
    let t = keeplite::config::LvsTimeouts {
        tcp: Some(7200),
        tcpfin: None,
        udp: Some(30),
    };
    s.command(Request::set_timeouts(&t)).unwrap();
    assert!(
        timeout().contains("(tcp tcpfin udp): 7200 120 30"),
        "{}",
        timeout()
    );
    // `lvs_flush`: every service goes, keeplite's or not.
    program(&mut s, &assorted());
    let ok = Command::new("/usr/sbin/ipvsadm")
        .args(["-A", "-t", "10.9.9.9:25", "-s", "lc"])
        .status()
        .unwrap();
    assert!(ok.success());
    s.command(Request::flush()).unwrap();
    assert_eq!(s.state().unwrap(), State::default());
}

#[test]
#[ignore = "runs in the VM"]
fn vm_persistence_engine_sip() {
    let mut s = vm();
    let sip = ServiceKey::Addr {
        protocol: Protocol::Udp,
        addr: "10.1.0.5:5060".parse().unwrap(),
    };
    let mut want = State::default();
    want.add_service(Service {
        key: sip,
        params: ServiceParams {
            persistence: Some(Persistence {
                timeout: 60,
                prefix: 32,
                sip: true,
            }),
            ..params(Scheduler::Rr)
        },
    })
    .add_dest(dest("10.2.0.1:5060", Forward::Masq, 1));
    // Read back with the engine: a second plan is empty.
    program(&mut s, &want);
    assert_listed(
        "ipvsadm -Ln",
        &ipvsadm_ln(),
        &["UDP 10.1.0.5:5060 rr persistent 60 pe sip"],
    );
}

#[test]
#[ignore = "runs in the VM"]
fn vm_sync_daemon_requests_match_ipvsadm() {
    let mut s = vm();
    let sh = |cmd: &str| {
        let ok = Command::new("sh").args(["-c", cmd]).status().unwrap();
        assert!(ok.success(), "{cmd}");
    };
    // The master daemon binds to the link's address and sends to 224.0.0.81 on it.
    sh(
        "/usr/bin/ip link add sy0 type veth peer name sy1 && ip link set sy1 up && ip link set sy0 up \
        && ip addr add 10.99.0.1/24 dev sy0",
    );
    let theirs = ipvsadm_requests(
        &[
            &[
                "--start-daemon",
                "master",
                "--mcast-interface",
                "sy0",
                "--syncid",
                "5",
            ],
            &["--stop-daemon", "master"],
        ],
        &[IPVS_CMD_NEW_DAEMON],
    );
    assert_eq!(theirs.len(), 1, "ipvsadm sent NEW_DAEMON");
    let d = SyncDaemon {
        interface: "sy0".into(),
        syncid: 5,
        maxlen: None,
        port: None,
        ttl: None,
        group: None,
    };
    let family = u16::from_ne_bytes([theirs[0][4], theirs[0][5]]);
    let mut mine = Vec::new();
    Request::daemon(&Cmd::Start(d.clone(), Mode::Master)).write_message(family, 0, 0, &mut mine);
    // The same genl header and attributes, byte for byte.
    let hex = |m: &[u8]| m.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(hex(&mine[16..]), hex(&theirs[0][16..]));
    // The kernel runs what keeplite asks for, with every option, and stops it.
    let tuned = SyncDaemon {
        maxlen: Some(1400),
        port: Some(8849),
        ttl: Some(2),
        group: Some("239.1.2.3".parse().unwrap()),
        ..d
    };
    s.command(Request::daemon(&Cmd::Start(tuned.clone(), Mode::Backup)))
        .unwrap();
    let daemons = || ipvsadm(&["-L", "--daemon"]);
    assert!(
        daemons().contains(
            "backup sync daemon (mcast=sy0, syncid=5, maxlen=1400, group=239.1.2.3, port=8849, ttl=2)"
        ),
        "{}",
        daemons()
    );
    s.command(Request::daemon(&Cmd::Stop(tuned.clone(), Mode::Backup)))
        .unwrap();
    assert_eq!(daemons(), "");
    // Stopping what is not running: ESRCH, which the daemon ignores.
    let e = s.command(Request::daemon(&Cmd::Stop(tuned, Mode::Backup)));
    assert_eq!(e.unwrap_err().raw_os_error(), Some(libc::ESRCH));
}
