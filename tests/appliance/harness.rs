//! Helpers for the appliance tests: build the image once, boot VMs (TCG, copy-on-write
//! overlays of one image) inside test-owned network namespaces, and drive their serial
//! consoles expect-style. Everything is torn down by Drop guards, also when a test fails.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub use crate::common::Netns;

pub const TOP: &str = env!("CARGO_MANIFEST_DIR");
/// The root password the tests set at the console's first-boot step.
pub const ROOT_PASSWORD: &str = "kl-Test-pw-4711";

fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// TCG is CPU-heavy and the machine is shared: one VM test at a time per test binary.
pub fn vm_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Build (or reuse, if its inputs are unchanged) output/keeplite-pc-x86_64.img, once per run.
pub fn image() -> &'static Path {
    static IMG: OnceLock<PathBuf> = OnceLock::new();
    IMG.get_or_init(|| {
        run(Command::new(format!("{TOP}/board/pc-x86_64/build-image")).current_dir(TOP));
        PathBuf::from(format!("{TOP}/output/keeplite-pc-x86_64.img"))
    })
}

/// A namespace (tests/common's harness) with a bridge `br0` at `host_addr` that VMs' taps join.
pub fn switch(host_addr: &str) -> Netns {
    let ns = Netns::new("ap");
    ns.bridge("br0", Some(host_addr));
    ns
}

pub struct VmOptions<'a> {
    pub netns: &'a Netns,
    pub mac: &'a str,
}

/// One appliance VM: qemu on a qcow2 overlay of the image, console on a unix socket.
pub struct Vm {
    child: Child,
    qemu: Command,
    dir: PathBuf,
    console: UnixStream,
    /// Everything read from the console so far (by a thread that drains it all the time: a
    /// console nobody reads stalls the guest's serial port, and with it keeplite's logging),
    /// and how much of it expect() has consumed.
    log: Arc<Mutex<Vec<u8>>>,
    seen: usize,
    marker: usize,
    pub booted_at: Instant,
}

impl Vm {
    pub fn boot(opts: VmOptions) -> Vm {
        let dir = std::env::temp_dir().join(unique("klvm"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut qemu = Command::new(format!("{TOP}/board/pc-x86_64/run-qemu"));
        qemu.arg("--accel")
            .arg("tcg")
            .arg("--overlay")
            .arg(dir.join("disk.qcow2"))
            .arg("--serial-socket")
            .arg(dir.join("serial.sock"))
            .arg("--netns")
            .arg(&opts.netns.name)
            .arg("--nic")
            .arg(format!("tap={},bridge=br0,mac={}", unique("kt"), opts.mac))
            .arg(image())
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let log = Arc::new(Mutex::new(Vec::new()));
        let (child, console, booted_at) = Self::start(&mut qemu, &dir, &log);
        Vm {
            child,
            qemu,
            dir,
            console,
            log,
            seen: 0,
            marker: 0,
            booted_at,
        }
    }

    /// Power-cycle: kill qemu (as a power cut would) and boot the same disk again; the
    /// console log goes on (marks into it stay valid).
    pub fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(self.dir.join("serial.sock"));
        let (child, console, booted_at) = Self::start(&mut self.qemu, &self.dir, &self.log);
        (self.child, self.console, self.booted_at) = (child, console, booted_at);
    }

    /// Starts qemu and a thread that appends everything its console prints to `log`.
    fn start(
        qemu: &mut Command,
        dir: &Path,
        log: &Arc<Mutex<Vec<u8>>>,
    ) -> (Child, UnixStream, Instant) {
        let serial = dir.join("serial.sock");
        let child = qemu.spawn().expect("run-qemu");
        let booted_at = Instant::now();
        let deadline = booted_at + Duration::from_secs(30);
        let console = loop {
            match UnixStream::connect(&serial) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("{}: {e}", serial.display()),
            }
        };
        let (mut reader, sink) = (console.try_clone().unwrap(), Arc::clone(log));
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        (child, console, booted_at)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    /// Wait for `needle` in the console output after what earlier expects consumed; returns
    /// the output up to and including it.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let log = self.log.lock().unwrap();
                if let Some(pos) = find(&log[self.seen..], needle.as_bytes()) {
                    let end = self.seen + pos + needle.len();
                    let out = String::from_utf8_lossy(&log[self.seen..end]).into_owned();
                    self.seen = end;
                    return out;
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "console: no {needle:?} within {timeout:?}; console so far:\n{}",
                    self.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where the console output ends now, for `wait_after`.
    pub fn mark(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// Wait for `needle` anywhere after `mark`, independently of what expect() consumed
    /// (a state line may come before or after the prompt).
    pub fn wait_after(&self, mark: usize, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while find(&self.log.lock().unwrap()[mark..], needle.as_bytes()).is_none() {
            if Instant::now() >= deadline {
                panic!(
                    "console: no {needle:?} within {timeout:?}; console so far:\n{}",
                    self.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn tail(&self) -> String {
        let t = self.text();
        let mut start = t.len().saturating_sub(4000);
        while !t.is_char_boundary(start) {
            start += 1;
        }
        t[start..].to_string()
    }

    pub fn send(&mut self, line: &str) {
        self.console.write_all(line.as_bytes()).unwrap();
        self.console.write_all(b"\n").unwrap();
    }

    /// Run a shell command on the console; returns (exit status, output). The end marker is
    /// typed split by quotes so that the tty's echo of the command does not match it.
    pub fn sh(&mut self, cmd: &str, timeout: Duration) -> (i32, String) {
        self.marker += 1;
        let m = self.marker;
        self.send(&format!("{cmd}; echo \"@@KL\"\"END{m} $?\""));
        let needle = format!("@@KLEND{m} ");
        let out = self.expect(&needle, timeout);
        let status_line = self.expect("\n", Duration::from_secs(10));
        let status = status_line.trim().parse().unwrap_or(-1);
        let body = out.strip_suffix(&needle).unwrap_or(&out);
        // Drop the echoed command (the tty may have wrapped it over several lines).
        let echo_end = format!("END{m} $?\"");
        let body = match body.find(&echo_end) {
            Some(i) => body[i..].split_once('\n').map(|x| x.1).unwrap_or(""),
            None => body,
        };
        (status, body.replace('\r', ""))
    }

    /// Run a command that must succeed; returns its output.
    pub fn ok(&mut self, cmd: &str) -> String {
        let (st, out) = self.sh(cmd, Duration::from_secs(60));
        assert_eq!(st, 0, "`{cmd}` failed on the appliance:\n{out}");
        out
    }

    /// Log in on the serial console (on first boot, set the root password first) and wait
    /// until the login shell is up (banner printed by /etc/profile).
    pub fn wait_console(&mut self, timeout: Duration) -> Duration {
        if self.expect_any(&["New password:", " login: "], timeout) == 0 {
            self.send(ROOT_PASSWORD);
            self.expect("Retype password:", Duration::from_secs(30));
            self.send(ROOT_PASSWORD);
            self.expect(" login: ", Duration::from_secs(60));
        }
        let t = self.booted_at.elapsed();
        self.send("root");
        self.expect("Password:", Duration::from_secs(30));
        self.send(ROOT_PASSWORD);
        self.expect("keeplite appliance", Duration::from_secs(60));
        self.expect("# ", Duration::from_secs(30));
        t
    }

    /// Wait for the first of `needles` after what earlier expects consumed; returns its index.
    pub fn expect_any(&mut self, needles: &[&str], timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let log = self.log.lock().unwrap();
                let hit = needles
                    .iter()
                    .enumerate()
                    .filter_map(|(i, n)| Some((find(&log[self.seen..], n.as_bytes())?, i)))
                    .min();
                if let Some((pos, i)) = hit {
                    self.seen += pos + needles[i].len();
                    return i;
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "console: none of {needles:?} within {timeout:?}; console so far:\n{}",
                    self.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Write `content` to `path` on the appliance (one shell line: printf with quoted lines).
    pub fn write_file(&mut self, path: &str, content: &str) {
        let lines: Vec<String> = content
            .lines()
            .map(|l| format!("'{}'", l.replace('\'', "'\\''")))
            .collect();
        self.ok(&format!("printf '%s\\n' {} > {path}", lines.join(" ")));
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Ends the reader thread.
        let _ = self.console.shutdown(std::net::Shutdown::Both);
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            // The whole console, for the post-mortem (expect() only shows its tail).
            let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
                "console-{}.log",
                self.dir.file_name().unwrap().to_string_lossy()
            ));
            if std::fs::write(&p, self.text()).is_ok() {
                eprintln!("appliance: full console in {}", p.display());
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
