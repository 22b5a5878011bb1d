//! Runs this test executable's inner tests inside a real Linux kernel (qemu, TCG).
//!
//! Debian's kernel package (which ships the ip_vs modules) is fetched with `apt-get download`
//! and unpacked under target/kvm-cache (nothing is installed on the host). A busybox-static
//! initramfs gets the test executable with its shared libraries, optional extra programs and
//! the requested modules with their dependencies; its /init loads the modules, runs
//! `/t --ignored --exact <tests> --nocapture --test-threads=1` with KEEPLITE_IN_VM=1, then
//! reboots, which ends qemu (-no-reboot). The VM has no network device, unless `spawn` is given
//! a [`Nic`]: an e1000 on a tap in a test-owned namespace, on that namespace's bridge.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Set inside the VM; inner tests do real kernel work only there.
pub const IN_VM: &str = "KEEPLITE_IN_VM";

pub fn in_vm() -> bool {
    std::env::var_os(IN_VM).is_some()
}

fn sh(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An unpacked Debian kernel: vmlinuz and its module tree.
pub struct Kernel {
    pub vmlinuz: PathBuf,
    pub modules: PathBuf,
}

/// Fetches (once; cached in target/kvm-cache) the kernel `linux-image-amd64` depends on.
pub fn kernel() -> Kernel {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("kvm-cache");
    fs::create_dir_all(&cache).unwrap();
    let resolve = || {
        // Fails ("No packages found") until the package lists exist.
        let out = Command::new("apt-cache")
            .args(["depends", "linux-image-amd64"])
            .output()
            .expect("apt-cache");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Depends: "))
            .find(|p| p.starts_with("linux-image-"))
            .map(str::to_string)
    };
    // A fresh machine has no package lists yet.
    let pkg = resolve()
        .or_else(|| {
            sh(Command::new("apt-get").args(["update", "-qq"]));
            resolve()
        })
        .expect("linux-image-amd64 depends on a versioned kernel package");
    let version = pkg.trim_start_matches("linux-image-").to_string();
    let root = cache.join(&pkg);
    let vmlinuz = root.join(format!("boot/vmlinuz-{version}"));
    if !vmlinuz.exists() {
        // Per-process scratch dir, renamed into place: concurrent test binaries never see a
        // half-unpacked tree.
        let tmp = cache.join(format!("kl-dl-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).unwrap();
        sh(Command::new("apt-get")
            .args(["download", &pkg])
            .current_dir(&tmp));
        let deb = fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .expect("downloaded .deb");
        sh(Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(tmp.join("root")));
        fs::remove_file(&deb).unwrap();
        let _ = fs::rename(tmp.join("root"), &root);
        let _ = fs::remove_dir_all(&tmp);
    }
    Kernel {
        modules: root.join(format!("lib/modules/{version}")),
        vmlinuz,
    }
}

impl Kernel {
    /// `names` and their dependencies, dependencies first.
    pub fn modules_in_load_order(&self, names: &[&str]) -> Vec<PathBuf> {
        let mut by_name = BTreeMap::new();
        let mut stack = vec![self.modules.join("kernel")];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Some(n) = p.file_name().unwrap().to_str().unwrap().strip_suffix(".ko")
                {
                    by_name.insert(n.replace('-', "_"), p);
                }
            }
        }
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        fn visit(
            name: &str,
            by_name: &BTreeMap<String, PathBuf>,
            seen: &mut BTreeSet<String>,
            order: &mut Vec<PathBuf>,
        ) {
            if !seen.insert(name.to_string()) {
                return;
            }
            let path = by_name
                .get(name)
                .unwrap_or_else(|| panic!("module {name} not in the kernel package"));
            let deps = sh(Command::new("modinfo").args(["-F", "depends"]).arg(path));
            for d in deps.trim().split(',').filter(|d| !d.is_empty()) {
                visit(&d.replace('-', "_"), by_name, seen, order);
            }
            order.push(path.clone());
        }
        for n in names {
            visit(n, &by_name, &mut seen, &mut order);
        }
        order
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A VM run: what goes into the initramfs and which inner tests run.
pub struct VmRun<'a> {
    pub kernel: &'a Kernel,
    pub modules: &'a [&'a str],
    /// Host programs copied in (with their libraries) under the same path.
    pub programs: &'a [&'a str],
    pub tests: &'a [&'a str],
    pub timeout: Duration,
}

/// Kills qemu if the test fails or times out.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes the staging directory however the test ends.
struct RmOnDrop(PathBuf);

impl Drop for RmOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn copy_with_libs(stage: &Path, program: &Path, dest: &str) {
    let to = stage.join(dest.trim_start_matches('/'));
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(program, &to).unwrap();
    let ldd = Command::new("ldd").arg(program).output().unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libx.so.1 => /lib/x/libx.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        if let Some(lib) = path.filter(|p| p.starts_with('/')) {
            let to = stage.join(lib.trim_start_matches('/'));
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(lib, &to).unwrap();
        }
    }
}

/// A VM's network card: tap `tap` in namespace `netns`, plugged into its bridge `bridge`.
pub struct Nic<'a> {
    pub netns: &'a str,
    pub bridge: &'a str,
    pub tap: &'a str,
    pub mac: &'a str,
}

/// A booted VM; killed (and its staging directory removed) on drop.
pub struct Running {
    qemu: KillOnDrop,
    console: PathBuf,
    timeout: Duration,
    tests: usize,
    _rm: RmOnDrop,
}

impl Running {
    /// Everything the serial console printed so far.
    pub fn console(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.console).unwrap_or_default()).into_owned()
    }

    /// Waits until the console shows `needle` after byte `from`; returns where it ends.
    pub fn wait_for(&mut self, needle: &str, from: usize, limit: Duration) -> usize {
        let start = Instant::now();
        loop {
            let out = self.console();
            if let Some(i) = out.get(from..).and_then(|t| t.find(needle)) {
                return from + i + needle.len();
            }
            let ended = self.qemu.0.try_wait().unwrap();
            assert!(
                start.elapsed() < limit && ended.is_none(),
                "no {needle:?} on the VM console within {limit:?} (qemu: {ended:?}); console:\n{out}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Pulls the plug.
    pub fn kill(&mut self) {
        let _ = self.qemu.0.kill();
        let _ = self.qemu.0.wait();
    }

    /// Waits for the VM to end; returns the console. Panics unless every inner test passed.
    pub fn wait(mut self) -> String {
        let start = Instant::now();
        while self.qemu.0.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed() < self.timeout,
                "VM timed out after {:?}; console:\n{}",
                self.timeout,
                self.console()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let out = self.console();
        println!("{out}");
        assert!(!out.contains("KL-INSMOD-FAILED"), "a module failed to load");
        assert!(
            out.contains("KL-EXIT 0"),
            "inner tests failed (console above)"
        );
        let summary = format!("test result: ok. {} passed", self.tests);
        assert!(
            out.contains(&summary),
            "expected `{summary}` (console above)"
        );
        out
    }
}

impl VmRun<'_> {
    /// Boots the VM, returns the serial console output. Panics unless every inner test passed.
    pub fn run(&self) -> String {
        self.spawn(None).wait()
    }

    /// Boots the VM (with `nic`, if any) and returns at once.
    pub fn spawn(&self, nic: Option<Nic>) -> Running {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let stage = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("kl-vm-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&stage);
        let rm = RmOnDrop(stage.clone());
        let root = stage.join("root");
        for d in ["bin", "proc", "sys", "dev", "mods", "tmp", "etc"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        // Programs like tcpdump look their user up.
        fs::write(root.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
        fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
        fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static installed");
        copy_with_libs(&root, &std::env::current_exe().unwrap(), "/t");
        for p in self.programs {
            copy_with_libs(&root, Path::new(p), p);
        }
        let mut insmod = String::new();
        for m in self.kernel.modules_in_load_order(self.modules) {
            let name = m.file_name().unwrap().to_str().unwrap().to_string();
            fs::copy(&m, root.join("mods").join(&name)).unwrap();
            insmod += &format!("insmod /mods/{name} || echo KL-INSMOD-FAILED {name}\n");
        }
        let init = format!(
            "#!/bin/busybox sh\n\
             /bin/busybox --install -s /bin\n\
             mount -t proc proc /proc\nmount -t sysfs sys /sys\nmount -t devtmpfs dev /dev\n\
             {insmod}\
             ip link set lo up\n\
             cd /tmp\n\
             {IN_VM}=1 RUST_BACKTRACE=1 /t --ignored --exact {} --nocapture --test-threads=1\n\
             echo KL-EXIT $?\n\
             reboot -f\n",
            self.tests.join(" ")
        );
        let init_path = root.join("init");
        fs::write(&init_path, init).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&init_path, fs::Permissions::from_mode(0o755)).unwrap();
        let initrd = stage.join("initrd.cpio");
        sh(Command::new("sh")
            .arg("-c")
            .arg(format!(
                "find . | cpio -o -H newc --quiet > {}",
                initrd.display()
            ))
            .current_dir(&root));

        let console = stage.join("console.log");
        // TCG is CPU-heavy on a shared machine: qemu runs niced.
        let mut qemu = Command::new("nice");
        match &nic {
            Some(n) => {
                sh(Command::new("ip")
                    .args(["netns", "exec", n.netns, "sh", "-c"])
                    .arg(format!(
                        "ip tuntap add dev {0} mode tap && ip link set {0} master {1} up",
                        n.tap, n.bridge
                    )));
                qemu = Command::new("ip");
                qemu.args(["netns", "exec", n.netns, "nice"]);
                qemu.args(["-n", "10", "qemu-system-x86_64"]).args([
                    "-netdev",
                    &format!("tap,id=n0,ifname={},script=no,downscript=no", n.tap),
                    "-device",
                    &format!("e1000,netdev=n0,mac={}", n.mac),
                ]);
            }
            None => {
                qemu.args(["-n", "10", "qemu-system-x86_64", "-nic", "none"]);
            }
        }
        let child = qemu
            .arg("-kernel")
            .arg(&self.kernel.vmlinuz)
            .arg("-initrd")
            .arg(&initrd)
            // no_timer_check: a slow TCG guest on a loaded host otherwise panics at boot
            // ("IO-APIC + timer doesn't work").
            .args(["-append", "console=ttyS0 quiet panic=-1 no_timer_check"])
            .args(["-nographic", "-no-reboot", "-m", "512"])
            .args(["-monitor", "none", "-serial", "stdio"])
            .stdin(Stdio::null())
            .stdout(fs::File::create(&console).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("qemu-system-x86_64 installed");
        Running {
            qemu: KillOnDrop(child),
            console,
            timeout: self.timeout,
            tests: self.tests.len(),
            _rm: rm,
        }
    }
}
