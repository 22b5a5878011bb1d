//! Reloads never stall the loop (issue 9 item 3): the new configuration is parsed in a child
//! process, so a master whose reload hangs on a FIFO include keeps advertising, and a storm of
//! reloads keeps the VIP and leaks nothing.

mod common;

use common::{has_addr, vrrp_conf, wait_until, AddrWatch, Keeplite, Lan};
use std::process::Command;
use std::time::Duration;

const VIP: &str = "192.0.2.100";

fn conf(prio: u8, extra: &str) -> String {
    vrrp_conf("VI_1", 51, prio, &["192.0.2.100/24"], extra)
}

fn children(pid: i32) -> Vec<String> {
    let out = Command::new("ps")
        .args(["-o", "pid=,stat=,comm=", "--ppid", &pid.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn rss_kb(pid: i32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// The daemon's descriptor count once the reload child is gone and no file the loop opens
/// for a moment (the reload's `/proc/self/smaps` read, a client's connection) is open: two
/// reads 200 ms apart agree.
fn settled_fds(pid: i32) -> usize {
    assert!(wait_until(Duration::from_secs(10), || children(pid).is_empty()));
    let mut last = fds(pid);
    for _ in 0..25 {
        std::thread::sleep(Duration::from_millis(200));
        let now = fds(pid);
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("descriptor count of {pid} never settled");
}

/// The master's new configuration includes a FIFO nobody writes to. Reading it would block
/// forever; the daemon must keep advertising (the backup never takes over), answer status
/// meanwhile, and refuse the reload with a reason.
#[test]
fn reload_hanging_on_a_fifo_include_keeps_adverts_flowing() {
    let lan = Lan::new(2);
    let a = Keeplite::start(&lan.hosts[0], &conf(150, ""));
    let b = Keeplite::start(&lan.hosts[1], &conf(100, ""));
    a.expect_state("VI_1", "MASTER", 10);
    b.expect_state("VI_1", "BACKUP", 5);
    let fifo = a.dir.join("more.conf");
    let ok = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    a.write_conf(&format!("{}include {}\n", conf(150, ""), fifo.display()));
    let sock = a.dir.join("ctl.sock");
    let reload = std::thread::spawn(move || {
        Command::new(env!("CARGO_BIN_EXE_keeplite"))
            .args(["reload", "--control"])
            .arg(sock)
            .output()
            .unwrap()
    });
    // While the reload is pending the master answers and advertises.
    let mut answered = 0;
    while !reload.is_finished() {
        if a.status().is_some() {
            answered += 1;
        }
    }
    let out = reload.join().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("reload refused"), "{text}\n{}", a.log());
    assert!(answered > 0, "status never answered during the reload");
    assert_eq!(a.state("VI_1"), "MASTER", "{}", a.log());
    assert!(
        !b.log().contains("-> MASTER"),
        "the backup took over during the reload:\n{}",
        b.log()
    );
    assert!(has_addr(&lan.hosts[0], "eth0", VIP));
    assert!(children(a.child.pid()).is_empty());
}

/// 200 reloads by SIGHUP and by the control socket, alternating two files: the VIP never
/// leaves, and no child, descriptor or memory is left behind.
#[test]
fn reload_storm_keeps_the_vip_and_leaks_nothing() {
    let lan = Lan::new(1);
    let k = Keeplite::start(&lan.hosts[0], &conf(150, ""));
    k.expect_state("VI_1", "MASTER", 10);
    let pid = k.child.pid();
    // One reload first so lazily created state (the .good copy) exists before measuring.
    assert!(k.client(&["reload"]).0);
    let fds_before = settled_fds(pid);
    // The daemon hands a load's pages back a second after it (daemon::TRIM_AFTER): the
    // baseline is the lowest RSS over the next few seconds.
    let rss_before = (0..30)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            rss_kb(pid)
        })
        .min()
        .unwrap();
    let watch = AddrWatch::start(&lan.hosts[0]);
    for i in 0..200 {
        // Atomically: a reload in flight may be reading the file right now.
        let tmp = k.dir.join("next.conf");
        std::fs::write(&tmp, conf(150, &format!("! revision {i}"))).unwrap();
        std::fs::rename(&tmp, Keeplite::conf_path(&k.dir)).unwrap();
        if i % 2 == 0 {
            k.child.signal("HUP");
        } else {
            let (ok, out) = k.client(&["reload"]);
            assert!(ok, "reload {i}: {out}");
        }
    }
    // The last word: a reload by the client covers every SIGHUP before it.
    let (ok, out) = k.client(&["reload"]);
    assert!(ok, "{out}");
    assert!(
        wait_until(Duration::from_secs(10), || children(pid).is_empty()),
        "children left: {:?}",
        children(pid)
    );
    let events = watch.finish();
    assert!(
        !events
            .lines()
            .any(|l| l.contains("Deleted") && l.contains(VIP)),
        "{events}"
    );
    assert!(has_addr(&lan.hosts[0], "eth0", VIP));
    assert_eq!(k.state("VI_1"), "MASTER");
    // The last client's connection closes when the daemon sees its EOF.
    assert!(
        wait_until(Duration::from_secs(10), || fds(pid) <= fds_before),
        "descriptors leaked: {} before, {} after",
        fds_before,
        fds(pid)
    );
    // 200 parsed models went through the loop: none of them may stay once the last load's
    // pages are handed back.
    assert!(
        wait_until(Duration::from_secs(10), || rss_kb(pid) <= rss_before + 512),
        "RSS {rss_before} kB -> {} kB",
        rss_kb(pid)
    );
    let good = std::fs::read_to_string(k.dir.join("keeplite.conf.good")).unwrap();
    assert!(good.contains("! revision 199"), "{good}");
    assert!(!k.log().contains("refused"), "{}", k.log());
}
