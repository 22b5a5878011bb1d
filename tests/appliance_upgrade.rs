//! Field upgrade of the appliance (A/B slots, signed bundles, boot counting, rollback) on one
//! qemu VM (TCG), booted once and driven through its serial console; every scenario reuses the
//! same disk, so the boots are shared:
//!
//! 1. the console asks for a login (first boot: sets the root password; a wrong one is refused);
//! 2. a tampered bundle (one byte), one signed with another key, one for another board and a
//!    downgrade are refused and nothing is written;
//! 3. qemu killed while a bundle streams into slot B: slot A boots, B is never tried;
//! 4. a good bundle: B boots, is marked good after a healthy run, /config unchanged;
//! 5. a bundle whose root cannot be mounted, one whose keeplite hangs at start, and one whose
//!    kernel panics before its initramfs runs (a corrupt initramfs): the box rolls back to B by
//!    itself within the tries, and the console says why.
//!
//! And the rolling upgrade of an HA pair (two VMs): the backup first, then the master; the
//! VIP is answered throughout (ARP from the bridge every 50 ms) except around the failovers.
//!
//! Bundles are served over HTTP from the test's network namespace (busybox httpd) and fetched
//! with busybox wget on the box. Runs as root; nothing leaves the namespace.

mod common;
#[allow(dead_code)]
#[path = "appliance/harness.rs"]
mod harness;
#[path = "appliance/pair.rs"]
mod pair;

use harness::{image, run, switch, vm_lock, Netns, Vm, VmOptions, ROOT_PASSWORD, TOP};
use pair::ArpProbe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const BOOT: Duration = Duration::from_secs(180);
const HOST: &str = "10.77.4.1";
const URL: &str = "http://10.77.4.1:8000";

/// Bundles built on the "build machine" from the image's own parts.
struct Bundles {
    dir: PathBuf,
}

impl Bundles {
    fn new(test: &str) -> Bundles {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("klb-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Bundles { dir }
    }

    fn part(name: &str) -> String {
        format!("{TOP}/output/images/{name}")
    }

    /// `name`.klb: version `version`, signed with `key`, with `rootfs` as the root image.
    fn create(&self, name: &str, version: &str, key: &str, rootfs: &str) {
        let initrd = Self::part("initrd.img");
        self.create_with(name, "pc-x86_64", version, key, &initrd, rootfs);
    }

    /// Any board and initramfs.
    fn create_with(
        &self,
        name: &str,
        board: &str,
        version: &str,
        key: &str,
        initrd: &str,
        rootfs: &str,
    ) {
        run(Command::new(env!("CARGO_BIN_EXE_keeplite")).args([
            "bundle",
            "create",
            "--key",
            key,
            "--board",
            board,
            "--version",
            version,
            "--kernel",
            &Self::part("bzImage"),
            "--initrd",
            initrd,
            "--rootfs",
            rootfs,
            "-o",
            &self.path(name),
        ]));
    }

    fn path(&self, name: &str) -> String {
        self.dir
            .join(format!("{name}.klb"))
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Bundles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// busybox httpd serving `dir` on `addr`:8000 inside the namespace.
struct Httpd(Child);

impl Httpd {
    fn start(ns: &Netns, addr: &str, dir: &Path) -> Httpd {
        Httpd(
            Command::new("ip")
                .args(["netns", "exec", &ns.name, "busybox", "httpd", "-f", "-p"])
                .arg(format!("{addr}:8000"))
                .arg("-h")
                .arg(dir)
                .spawn()
                .expect("busybox httpd"),
        )
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The image's root with /usr/sbin/keeplite replaced by `script` (a keeplite that misbehaves).
fn root_with_keeplite(dir: &Path, script: &str) -> String {
    let tree = dir.join("tree");
    run(Command::new("unsquashfs")
        .args(["-q", "-n", "-d"])
        .arg(&tree)
        .arg(Bundles::part("rootfs.squashfs")));
    std::fs::write(tree.join("usr/sbin/keeplite"), script).unwrap();
    let out = dir.join("hang.squashfs");
    run(Command::new("mksquashfs").arg(&tree).arg(&out).args([
        "-all-root",
        "-comp",
        "gzip",
        "-noappend",
        "-quiet",
    ]));
    let _ = std::fs::remove_dir_all(&tree);
    out.to_string_lossy().into_owned()
}

const DEV_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/board/pc-x86_64/keys/development-signing.key"
);

/// Runs `keeplite upgrade` on the box; returns (status, output).
fn upgrade(vm: &mut Vm, bundle: &str, args: &str) -> (i32, String) {
    vm.ok("rm -f /tmp/u.klb");
    vm.ok(&format!("wget -q -O /tmp/u.klb {URL}/{bundle}.klb"));
    vm.sh(
        &format!("keeplite upgrade /tmp/u.klb {args} 2>&1"),
        Duration::from_secs(300),
    )
}

/// The md5 of what `cmd` prints on the box (keeplite's log lines may interleave with the
/// console output: the digest is the one 32-hex-digit word).
fn digest(vm: &mut Vm, cmd: &str) -> String {
    let out = vm.ok(&format!("{{ {cmd}; }} | md5sum"));
    out.split_whitespace()
        .find(|w| w.len() == 32 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no digest in:\n{out}"))
        .to_owned()
}

/// What must not change when a bundle is refused: the slot state, slot B's kernel directory
/// and the first MiB of slot B's root partition.
fn untouched(vm: &mut Vm) -> String {
    digest(
        vm,
        "cat /boot/slots; ls -la /boot/b; dd if=/dev/vda4 bs=1M count=1 2>/dev/null",
    )
}

/// /config's files that an upgrade must leave alone.
const CONFIG_FILES: &str = "cat /config/keepalived.conf /config/interfaces /config/shadow";

#[test]
fn appliance_upgrade_and_rollback() {
    image();
    let _lock = vm_lock();
    let b = Bundles::new("single");
    let version = "99.0.0";
    b.create("good", version, DEV_KEY, &Bundles::part("rootfs.squashfs"));
    b.create("old", "0.0.1", DEV_KEY, &Bundles::part("rootfs.squashfs"));
    b.create("broken-root", "99.1.0", DEV_KEY, &{
        let p = b.dir.join("zeros.img");
        std::fs::write(&p, vec![0u8; 1 << 20]).unwrap();
        p.to_string_lossy().into_owned()
    });
    b.create(
        "hang",
        "99.2.0",
        DEV_KEY,
        &root_with_keeplite(
            &b.dir,
            "#!/bin/sh\necho 'keeplite (test build): hanging at start'\nexec sleep 100000\n",
        ),
    );
    // The kernel panics before any initramfs code runs: the initramfs is not an archive, so
    // the kernel finds no /init and cannot mount root= without the initramfs's modules.
    let junk = b.dir.join("junk-initrd.img");
    std::fs::write(&junk, b"not an initramfs\n".repeat(4096)).unwrap();
    b.create_with(
        "dead-kernel",
        "pc-x86_64",
        "99.4.0",
        DEV_KEY,
        &junk.to_string_lossy(),
        &Bundles::part("rootfs.squashfs"),
    );
    b.create_with(
        "other-board",
        "other",
        "99.5.0",
        DEV_KEY,
        &Bundles::part("initrd.img"),
        &Bundles::part("rootfs.squashfs"),
    );
    // Signed with another key.
    let other = b.dir.join("other.key");
    run(Command::new(env!("CARGO_BIN_EXE_keeplite"))
        .args(["bundle", "keygen"])
        .arg(&other)
        .arg(b.dir.join("other.pub")));
    b.create(
        "wrong-key",
        "99.3.0",
        &other.to_string_lossy(),
        &Bundles::part("rootfs.squashfs"),
    );
    // One byte of the root changed after signing.
    let mut t = std::fs::read(b.path("good")).unwrap();
    let at = t.len() - 4096;
    t[at] ^= 0x20;
    std::fs::write(b.path("tampered"), t).unwrap();
    let size = std::fs::metadata(b.path("good")).unwrap().len();
    eprintln!("appliance upgrade: bundle size {size} bytes");

    let ns = switch(&format!("{HOST}/24"));
    let _httpd = Httpd::start(&ns, HOST, &b.dir);
    let mut vm = Vm::boot(VmOptions {
        netns: &ns,
        mac: "52:54:00:4b:4c:41",
    });

    // 1. Login on the console: first boot sets the password, a wrong one is refused.
    vm.wait_console(BOOT);
    assert!(vm
        .text()
        .contains("keeplite first boot: set the root password"));
    vm.send("exit");
    vm.expect(" login: ", Duration::from_secs(30));
    vm.send("root");
    vm.expect("Password:", Duration::from_secs(30));
    vm.send("not-the-password");
    vm.expect("Login incorrect", Duration::from_secs(30));
    vm.wait_console(BOOT);
    let shadow = vm.ok("ls -l /etc/shadow; cat /config/shadow");
    assert!(shadow.contains("/etc/shadow -> /config/shadow"), "{shadow}");
    assert!(
        shadow.contains("root:$"),
        "no password hash on /config:\n{shadow}"
    );
    assert!(!shadow.contains(ROOT_PASSWORD));

    vm.write_file("/config/interfaces", "eth0 10.77.4.2/24");
    vm.ok("/etc/init.d/network && mount -o remount,size=100m /tmp");
    let status = vm.ok("keeplite slot status");
    assert!(
        status.contains("slot a: good 0.1.0, boots next, running"),
        "{status}"
    );
    assert!(status.contains("slot b: empty"), "{status}");
    let config_before = digest(&mut vm, CONFIG_FILES);

    // 2. Refused, and nothing written.
    let before = untouched(&mut vm);
    for (bundle, why) in [
        ("tampered", "part `rootfs`: SHA-512 does not match"),
        ("wrong-key", "bad signature"),
        (
            "other-board",
            "bundle is for board `other`, this appliance is `pc-x86_64`",
        ),
        ("old", "is not newer than the running 0.1.0"),
    ] {
        let (st, out) = upgrade(&mut vm, bundle, "");
        assert_eq!(st, 1, "{bundle} accepted:\n{out}");
        assert!(out.contains(why), "{bundle}:\n{out}");
        assert!(out.contains("nothing was changed"), "{bundle}:\n{out}");
        assert_eq!(untouched(&mut vm), before, "{bundle} changed something");
    }

    // 3. Power cut while slot B is written: A boots, B is never tried.
    vm.ok("rm -f /tmp/u.klb");
    vm.send(&format!("wget -q -O - {URL}/good.klb | keeplite upgrade -"));
    vm.expect("upgrade: writing 30%", Duration::from_secs(120));
    let mark = vm.mark();
    vm.restart();
    vm.wait_console(BOOT);
    let console = vm.text()[mark..].to_string();
    assert!(
        console.contains("keeplite slot: slot b: writing (incomplete)"),
        "{console}"
    );
    assert!(!console.contains("booting slot b"), "{console}");
    assert!(vm.ok("cat /proc/cmdline").contains("klslot=a"));

    // 4. The good bundle: B boots on trial and is marked good; /config is the same.
    vm.ok("/etc/init.d/network && mount -o remount,size=100m /tmp");
    vm.ok(&format!("wget -q -O /tmp/u.klb {URL}/good.klb"));
    let mark = vm.mark();
    let t0 = Instant::now();
    vm.send("keeplite upgrade /tmp/u.klb --reboot --good-after 10");
    vm.wait_after(mark, "upgrade: rebooting", Duration::from_secs(300));
    let written = t0.elapsed();
    vm.wait_after(mark, "initramfs: booting slot b", BOOT);
    vm.wait_after(mark, "-> MASTER", BOOT);
    let to_master = t0.elapsed();
    vm.wait_after(
        mark,
        "keeplite slot: b marked good",
        Duration::from_secs(120),
    );
    eprintln!(
        "appliance upgrade: write+verify {:.1}s, upgrade -> MASTER on the new slot {:.1}s (TCG)",
        written.as_secs_f64(),
        to_master.as_secs_f64()
    );
    vm.wait_console(BOOT);
    let status = vm.ok("keeplite slot status");
    assert!(
        status.contains(&format!("slot b: good {version}, boots next, running")),
        "{status}"
    );
    assert_eq!(
        digest(&mut vm, CONFIG_FILES),
        config_before,
        "/config changed"
    );

    // 5. Bad releases roll back by themselves: one whose root cannot be mounted (2 tries),
    // one whose keeplite hangs at start (1 try; the watchdog the initramfs armed resets it),
    // one whose kernel panics before its initramfs (2 tries: syslinux's boot-once is spent,
    // b boots, counts the failed boot and sends the box to a once more).
    // (bundle, tries, what the console shows, boots of a that reach its initramfs)
    for (bundle, tries, why, counted) in [
        ("broken-root", 2, "cannot mount", 2),
        ("hang", 1, "hanging at start", 1),
        ("dead-kernel", 2, "Kernel panic", 0),
    ] {
        vm.ok("/etc/init.d/network && mount -o remount,size=100m /tmp");
        vm.ok(&format!("wget -q -O /tmp/u.klb {URL}/{bundle}.klb"));
        let mark = vm.mark();
        let t0 = Instant::now();
        vm.send(&format!(
            "keeplite upgrade /tmp/u.klb --reboot --tries {tries}"
        ));
        vm.wait_after(mark, "upgrade: rebooting", Duration::from_secs(300));
        vm.wait_after(mark, why, BOOT);
        vm.wait_after(mark, "rolled back to b", Duration::from_secs(600));
        vm.wait_after(mark, "-> MASTER", BOOT);
        eprintln!(
            "appliance upgrade: {bundle}: upgrade -> rolled back, MASTER on b again {:.1}s (TCG)",
            t0.elapsed().as_secs_f64()
        );
        let console = vm.text()[mark..].to_string();
        assert_eq!(
            console.matches("initramfs: slot a is on trial").count(),
            counted,
            "{console}"
        );
        if bundle == "dead-kernel" {
            // Each try died in the kernel; b's initramfs counted them and said so.
            assert_eq!(
                console.matches("Kernel panic - not syncing").count(),
                2,
                "{console}"
            );
            assert_eq!(console.matches("initramfs: booting slot a").count(), 0);
            assert!(
                console.contains("kernel stopped before its initramfs"),
                "{console}"
            );
            assert!(
                console.contains("trying a again (tries left: 1)"),
                "{console}"
            );
        }
        vm.wait_console(BOOT);
        let status = vm.ok("keeplite slot status");
        assert!(status.contains("slot a: bad"), "{status}");
        assert!(
            status.contains(&format!("slot b: good {version}, boots next, running")),
            "{status}"
        );
    }
}

const PAIR: [&str; 2] = ["52:54:00:4b:4c:5a", "52:54:00:4b:4c:5b"];

/// Upgrades `vm` from `url` and waits until the new slot is marked good.
fn upgrade_and_wait_good(vm: &mut Vm, url: &str) {
    vm.ok("mount -o remount,size=100m /tmp");
    vm.ok(&format!("wget -q -O /tmp/u.klb {url}"));
    let mark = vm.mark();
    vm.send("keeplite upgrade /tmp/u.klb --reboot --good-after 10");
    vm.wait_after(mark, "upgrade: rebooting", Duration::from_secs(300));
    vm.wait_after(
        mark,
        "keeplite slot: b marked good",
        Duration::from_secs(300),
    );
    vm.wait_console(BOOT);
}

#[test]
fn appliance_rolling_upgrade_of_a_pair() {
    image();
    let _lock = vm_lock();
    let b = Bundles::new("pair");
    b.create("good", "99.0.0", DEV_KEY, &Bundles::part("rootfs.squashfs"));
    let ns = switch(&format!("{}/24", pair::HOST));
    let _httpd = Httpd::start(&ns, pair::HOST, &b.dir);
    let url = format!("http://{}:8000/good.klb", pair::HOST);
    let mut vms = pair::boot_demo_pair(&ns, PAIR, BOOT);
    let probe = ArpProbe::start(&ns, 1800);
    std::thread::sleep(Duration::from_secs(1));

    // The backup first: the master keeps the VIP meanwhile.
    let t_backup = Instant::now();
    upgrade_and_wait_good(&mut vms[1], &url);
    // Then the master: its reboot is the failover; back and good, it preempts again.
    let t_master = Instant::now();
    let mark = vms[0].mark();
    upgrade_and_wait_good(&mut vms[0], &url);
    vms[0].wait_after(mark, "BACKUP -> MASTER", BOOT);
    std::thread::sleep(Duration::from_secs(2));
    let replies = probe.stop();

    let (mac_a, mac_b) = (PAIR[0], PAIR[1]);
    let during_backup: Vec<_> = replies
        .iter()
        .filter(|(t, _)| *t >= t_backup && *t < t_master)
        .collect();
    assert!(!during_backup.is_empty());
    assert!(
        during_backup.iter().all(|(_, m)| m == mac_a),
        "the VIP left the master while the backup was upgraded"
    );
    // Every silence longer than a second is a failover: the owner before and after differ.
    let mut gaps = Vec::new();
    for w in replies.windows(2) {
        let gap = w[1].0.duration_since(w[0].0);
        if gap > Duration::from_secs(1) {
            assert_ne!(
                w[0].1, w[1].1,
                "the VIP went unanswered for {gap:?} without a failover"
            );
            gaps.push(gap.as_secs_f64());
        }
    }
    assert!(replies.iter().any(|(t, m)| *t > t_master && m == mac_b));
    assert_eq!(replies.last().map(|r| r.1.as_str()), Some(mac_a));
    let longest = replies
        .windows(2)
        .map(|w| w[1].0.duration_since(w[0].0))
        .max()
        .unwrap_or_default();
    eprintln!(
        "appliance rolling upgrade: {} ARP replies over {:.0}s; longest silence {:.2}s; silences over 1 s (all at a failover): {gaps:.2?}",
        replies.len(),
        replies.last().unwrap().0.duration_since(replies[0].0).as_secs_f64(),
        longest.as_secs_f64()
    );
}
