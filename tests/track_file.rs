//! `track_file` end to end (root): writing a number into the tracked file moves the master.

mod common;

use common::{vrrp_conf, Keeplite, Lan, TempDir};

fn conf(prio: u8, extra: &str) -> String {
    vrrp_conf("VI_1", 52, prio, &["192.0.2.101/24"], extra)
}

#[test]
fn writing_the_file_moves_the_master_and_a_large_negative_value_faults() {
    let lan = Lan::new(2);
    let dir = TempDir::new("tfile");
    let file = dir.join("prio");
    let head = format!(
        "track_file f {{\n  file {}\n  weight 10\n  init_file 0\n}}\n",
        file.display()
    );
    let a = Keeplite::start(
        &lan.hosts[0],
        &(head + &conf(150, "track_file {\n    f\n  }")),
    );
    let b = Keeplite::start(&lan.hosts[1], &conf(120, ""));
    a.expect_state("VI_1", "MASTER", 10);
    b.expect_state("VI_1", "BACKUP", 5);
    // init_file made it.
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), "0");
    let prio = |k: &Keeplite| k.status().unwrap()["instances"][0]["priority"].clone();
    // 150 - 4 × 10 = 110 < 120: b preempts.
    std::fs::write(&file, "-4\n").unwrap();
    b.expect_state("VI_1", "MASTER", 10);
    a.expect_state("VI_1", "BACKUP", 5);
    assert_eq!(prio(&a), 110);
    assert!(
        a.log()
            .contains(&format!("track_file {}: -4", file.display())),
        "{}",
        a.log()
    );
    // 150 + 3 × 10 = 180: a takes over again.
    std::fs::write(&file, "3").unwrap();
    a.expect_state("VI_1", "MASTER", 10);
    assert_eq!(prio(&a), 180);
    // -30 × 10 < -253: fault.
    std::fs::write(&file, "-30").unwrap();
    a.expect_state("VI_1", "FAULT", 10);
    b.expect_state("VI_1", "MASTER", 10);
}
