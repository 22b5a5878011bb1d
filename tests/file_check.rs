//! FILE_CHECK in the daemon (root, a network namespace): writing a number into a `track_file`
//! takes a real server down and up (weight 0) or moves its weight (weighted), as keepalived's
//! check_file.c does. The state is read from `keeplite status` (this kernel may lack IPVS; the
//! checks and the status run regardless).

mod common;

use common::{vrrp_conf, wait_until, Keeplite, Lan, TempDir};
use serde_json::Value;
use std::time::Duration;

fn real(kl: &Keeplite, addr: &str) -> Value {
    let st = kl.status().unwrap_or_default();
    st["virtual_servers"][0]["real_servers"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["addr"] == addr).cloned())
        .unwrap_or_default()
}

fn expect(kl: &Keeplite, addr: &str, cond: impl Fn(&Value) -> bool) {
    let ok = wait_until(Duration::from_secs(10), || cond(&real(kl, addr)));
    assert!(ok, "{addr}: {}\n{}", real(kl, addr), kl.log());
}

#[test]
fn the_file_value_takes_real_servers_down_and_moves_weights() {
    let lan = Lan::new(1);
    let dir = TempDir::new("fchk");
    let (gate, load) = (dir.join("gate"), dir.join("load"));
    let conf = format!(
        "track_file gate {{\n  file {}\n  weight 0\n  init_file 0 overwrite\n}}\n\
         track_file load {{\n  file {}\n  init_file 0 overwrite\n}}\n{}\
         virtual_server 10.9.0.1 80 {{\n  protocol TCP\n  \
         real_server 127.0.0.2 80 {{\n    weight 5\n    FILE_CHECK {{\n      track_file gate\n    }}\n  }}\n  \
         real_server 127.0.0.3 80 {{\n    weight 10\n    FILE_CHECK {{\n      track_file load\n      weight -2\n    }}\n  }}\n}}\n",
        gate.display(),
        load.display(),
        vrrp_conf("VI_1", 64, 150, &["192.0.2.100/24"], "state MASTER")
    );
    let kl = Keeplite::start(&lan.hosts[0], &conf);
    let (a, b) = ("127.0.0.2:80", "127.0.0.3:80");
    expect(&kl, a, |r| {
        r["up"] == true && r["weight"] == 5 && r["last"]["check"] == "FILE"
    });
    expect(&kl, b, |r| r["up"] == true && r["weight"] == 10);

    // Weight 0: a non-zero value takes the server down, 0 brings it back.
    std::fs::write(&gate, "1\n").unwrap();
    expect(&kl, a, |r| {
        r["up"] == false && r["last"]["reason"] == "file value 1"
    });
    assert!(kl
        .log()
        .contains("real server 127.0.0.2:80 DOWN (FILE file value 1)"));
    std::fs::write(&gate, "0\n").unwrap();
    expect(&kl, a, |r| r["up"] == true);

    // Weighted: 10 + 3 × -2 = 4; a value pushing it below 0 gives weight 0, still up.
    std::fs::write(&load, "3").unwrap();
    expect(&kl, b, |r| r["up"] == true && r["weight"] == 4);
    std::fs::write(&load, "7").unwrap();
    expect(&kl, b, |r| r["up"] == true && r["weight"] == 0);
    std::fs::write(&load, "-5").unwrap();
    expect(&kl, b, |r| r["weight"] == 20);
    assert!(kl.log().contains("weight 20 (FILE_CHECK)"), "{}", kl.log());
}

/// keepalived adds up the FILE_CHECKs of one real server (each moves the weight by its own
/// value × weight, check_file.c / track_file.c): 10 + 2×1 + 3×2 = 18, not the last one's 16.
#[test]
fn several_file_checks_on_one_real_server_add_up() {
    let lan = Lan::new(1);
    let dir = TempDir::new("fsum");
    let (f1, f2) = (dir.join("one"), dir.join("two"));
    let conf = format!(
        "track_file one {{\n  file {}\n  weight 2\n  init_file 0 overwrite\n}}\n\
         track_file two {{\n  file {}\n  weight 3\n  init_file 0 overwrite\n}}\n{}\
         virtual_server 10.9.0.1 80 {{\n  protocol TCP\n  \
         real_server 127.0.0.2 80 {{\n    weight 10\n    FILE_CHECK {{\n      track_file one\n    }}\n    \
         FILE_CHECK {{\n      track_file two\n    }}\n  }}\n}}\n",
        f1.display(),
        f2.display(),
        vrrp_conf("VI_1", 64, 150, &["192.0.2.100/24"], "state MASTER")
    );
    let kl = Keeplite::start(&lan.hosts[0], &conf);
    let a = "127.0.0.2:80";
    expect(&kl, a, |r| r["up"] == true && r["weight"] == 10);
    std::fs::write(&f1, "1").unwrap();
    expect(&kl, a, |r| r["weight"] == 12);
    std::fs::write(&f2, "2").unwrap();
    expect(&kl, a, |r| r["weight"] == 18);
    // One check's value changing moves only its own share: 10 + 2×(-1) + 6.
    std::fs::write(&f1, "-1").unwrap();
    expect(&kl, a, |r| r["weight"] == 14);
    std::fs::write(&f2, "0").unwrap();
    expect(&kl, a, |r| r["weight"] == 8);
}
