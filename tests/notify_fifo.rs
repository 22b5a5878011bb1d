//! Notify FIFOs end to end (root): real readers in keepalived's two styles see the lines of a
//! failover, and a FIFO nobody reads never stalls the daemon.

mod common;

use common::{vrrp_conf, wait_until, Keeplite, Lan, TempDir};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn conf(prio: u8, extra: &str) -> String {
    vrrp_conf("VI_1", 51, prio, &["192.0.2.100/24"], extra)
}

fn lines(p: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    text.lines().map(str::to_owned).collect()
}

fn wait_lines(p: &Path, want: &[&str]) {
    let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    let ok = wait_until(Duration::from_secs(15), || lines(p).ends_with(&want));
    assert!(ok, "wanted {want:?} at the end of {:?}", lines(p));
}

#[test]
fn readers_see_keepalived_lines_for_a_failover() {
    let lan = Lan::new(2);
    let dir = TempDir::new("fifo");
    // Host a: keepalived's `vrrp_notify_fifo_script` style, the reader gets the FIFO's path.
    let reader = dir.join("reader.sh");
    let got_a = dir.join("a.lines");
    std::fs::write(
        &reader,
        format!(
            "#!/bin/sh\nwhile read -r line; do echo \"$line\" >> {}; done < \"$1\"\n",
            got_a.display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&reader)
        .status()
        .unwrap();
    let flag = dir.join("fail");
    let global = format!(
        "global_defs {{\n  vrrp_notify_fifo {}\n  vrrp_notify_fifo_script {}\n  \
         vrrp_notify_priority_changes\n}}\nvrrp_script chk {{\n  script \"test ! -e {}\"\n  \
         interval 1\n  weight -100\n}}\n",
        dir.join("a.fifo").display(),
        reader.display(),
        flag.display()
    );
    // Host b: a FIFO made beforehand and read by `cat` (keepalived's other style).
    let fifo_b = dir.join("b.fifo");
    let got_b = dir.join("b.lines");
    assert!(Command::new("mkfifo")
        .arg(&fifo_b)
        .status()
        .unwrap()
        .success());
    let cat = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec cat {} > {}",
            fifo_b.display(),
            got_b.display()
        ))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let _cat = common::ChildGuard(cat);

    let a = Keeplite::start(
        &lan.hosts[0],
        &(global + &conf(150, "track_script {\n    chk\n  }")),
    );
    a.expect_state("VI_1", "MASTER", 10);
    let b_global = format!("global_defs {{\n  notify_fifo {}\n}}\n", fifo_b.display());
    let b = Keeplite::start(&lan.hosts[1], &(b_global + &conf(100, "")));
    b.expect_state("VI_1", "BACKUP", 5);
    wait_lines(&got_a, &["INSTANCE \"VI_1\" MASTER 150"]);
    wait_lines(&got_b, &["INSTANCE \"VI_1\" BACKUP 100"]);

    std::fs::write(&flag, "").unwrap();
    b.expect_state("VI_1", "MASTER", 10);
    wait_lines(
        &got_a,
        &[
            "INSTANCE \"VI_1\" MASTER 150",
            "INSTANCE \"VI_1\" MASTER_PRIORITY 50",
            "INSTANCE \"VI_1\" BACKUP 50",
        ],
    );
    wait_lines(
        &got_b,
        &[
            "INSTANCE \"VI_1\" BACKUP 100",
            "INSTANCE \"VI_1\" MASTER 100",
        ],
    );
    // At exit keeplite stops its reader and removes the FIFO it made; b.fifo was the
    // user's and stays.
    assert!(dir.join("a.fifo").exists());
    let mut a = a;
    a.child.signal("TERM");
    assert!(
        a.child.wait_timeout(Duration::from_secs(5)).is_some(),
        "{}",
        a.log()
    );
    assert!(!dir.join("a.fifo").exists());
    let reader_runs = || {
        let out = Command::new("pgrep")
            .arg("-f")
            .arg(&reader)
            .output()
            .unwrap();
        out.status.success()
    };
    assert!(wait_until(Duration::from_secs(5), || !reader_runs()));
    drop(b);
    assert!(fifo_b.exists());
}

#[test]
fn a_reader_that_never_reads_does_not_stall_the_daemon() {
    let lan = Lan::new(2);
    let dir = TempDir::new("fifo");
    let fifo = dir.join("stuck.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // Fill the pipe and keep it open: every line keeplite writes finds it full.
    let mut stuck = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let block = [b'x'; 4096];
    while stuck.write(&block).is_ok() {}
    let global = format!(
        "global_defs {{\n  notify_fifo {}\n  vrrp_notify_priority_changes\n}}\n",
        fifo.display()
    );
    let a = Keeplite::start(&lan.hosts[0], &(global + &conf(150, "")));
    let b = Keeplite::start(&lan.hosts[1], &conf(100, ""));
    a.expect_state("VI_1", "MASTER", 10);
    b.expect_state("VI_1", "BACKUP", 5);
    // Adverts keep coming from a's loop after its FIFO writes failed.
    let adverts = || {
        b.status().unwrap()["instances"][0]["adverts_received"]
            .as_u64()
            .unwrap()
    };
    let seen = adverts();
    assert!(
        wait_until(Duration::from_secs(10), || adverts() >= seen + 3),
        "{}",
        a.log()
    );
    assert_eq!(b.state("VI_1"), "BACKUP");
    assert!(
        a.log()
            .contains("the reader is not keeping up; lines are dropped"),
        "{}",
        a.log()
    );
}

#[test]
fn lvs_lines_for_a_real_server_going_down_and_up() {
    let lan = Lan::new(1);
    let ns = &lan.hosts[0];
    let dir = TempDir::new("fifo");
    let fifo = dir.join("lvs.fifo");
    let got = dir.join("lvs.lines");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let cat = Command::new("sh")
        .arg("-c")
        .arg(format!("exec cat {} > {}", fifo.display(), got.display()))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let _cat = common::ChildGuard(cat);
    let server = || {
        let args = ["-m", "http.server", "8080", "--bind", "127.0.0.2"];
        ns.spawn("/usr/bin/python3", &args)
    };
    let up = server();
    let conf = format!(
        "global_defs {{\n  lvs_notify_fifo {}\n}}\n{}\
         virtual_server 10.9.0.1 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  \
         protocol TCP\n  real_server 127.0.0.2 8080 {{\n    TCP_CHECK {{\n      \
         connect_timeout 1\n      retry 1\n      delay_before_retry 1\n    }}\n  }}\n}}\n",
        fifo.display(),
        conf(150, "")
    );
    let k = Keeplite::start(ns, &conf);
    k.expect_state("VI_1", "MASTER", 10);
    drop(up);
    let down = [
        "RS [127.0.0.2]:tcp:8080 [10.9.0.1]:tcp:80 DOWN",
        "VS [10.9.0.1]:tcp:80 DOWN",
    ];
    wait_lines(&got, &down);
    let _up = server();
    wait_lines(
        &got,
        &[
            "RS [127.0.0.2]:tcp:8080 [10.9.0.1]:tcp:80 UP",
            "VS [10.9.0.1]:tcp:80 UP",
        ],
    );
}
