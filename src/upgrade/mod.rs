//! Field upgrade of the appliance: A/B slots, signed bundles, boot counting, mark-good and
//! rollback. The logic is pure ([`bundle`], [`slots`], [`trial`]); this module is the thin
//! I/O around it: the `keeplite upgrade`, `keeplite slot` and `keeplite bundle` commands.
//!
//! On the box (board/pc-x86_64/README.md has the layout): the boot partition `KLBOOT` is
//! mounted read-only at `/boot` and remounted read-write only while the slot state or a
//! slot's kernel is written; slot A's root is partition 2, slot B's partition 4 of the same
//! disk; the running slot is `klslot=` on the kernel command line.

pub mod adv;
pub mod bundle;
pub mod slots;
pub mod trial;

use crate::control::{Request, Response};
use bundle::{Header, Manifest, PartCheck, HEADER_LEN};
use slots::{BootDecision, Slot, State, TrialTimes};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

const BOOT_DIR: &str = "/boot";
const PUBLIC_KEY: &str = "/etc/keeplite/upgrade.pub";
const BOARD: &str = "/etc/keeplite/board";
const CONFIG: &str = "/config/keepalived.conf";

pub const USAGE: &str = "\
Usage: keeplite upgrade FILE|- [--reboot] [--allow-downgrade] [--tries N]
                        [--good-after SECS] [--give-up-after SECS]
       keeplite slot status|mark-good
       keeplite slot boot|trial              (run by the initramfs / at boot)
       keeplite bundle create --key SEED --board NAME --version V
                        --kernel F --initrd F --rootfs F -o OUT    (build machine)
       keeplite bundle keygen SECRET PUBLIC | bundle pubkey SECRET

upgrade: verify FILE (or standard input) against /etc/keeplite/upgrade.pub, write it into the
slot that is not running, and make that slot boot next, on trial: it has N boots (default 3)
to run healthy for --good-after seconds (default 60) within --give-up-after (default 300),
else the box rolls back to the running slot by itself. Nothing is changed if the bundle is
for another board, not newer than the running version (unless --allow-downgrade), or not
signed with this appliance's key, or while the running slot is itself still on trial (the
other one is then the only good slot).
";

/// `keeplite upgrade|slot|bundle ...` (arguments after the command word). Exit status.
pub fn main(command: &str, args: &[String]) -> i32 {
    let result = match (command, args.first().map(String::as_str)) {
        (_, Some("-h" | "--help")) => {
            print!("{USAGE}");
            Ok(0)
        }
        ("upgrade", _) => upgrade(args),
        ("slot", Some("status")) => slot_status(),
        ("slot", Some("mark-good")) => with_state(|st, running| {
            st.mark_good(running);
            Ok(())
        })
        .map(|()| 0),
        ("slot", Some("boot")) => slot_boot(),
        ("slot", Some("trial")) => slot_trial(),
        ("bundle", Some("create")) => bundle_create(&args[1..]),
        ("bundle", Some("keygen")) => keygen(&args[1..]),
        ("bundle", Some("pubkey")) => pubkey(&args[1..]),
        _ => Err(format!(
            "unknown `{command}` arguments (see `keeplite {command} --help`)"
        )),
    };
    result.unwrap_or_else(|e| {
        eprintln!("keeplite {command}: error: {e}");
        1
    })
}

fn err<E: std::fmt::Display>(what: impl std::fmt::Display) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {e}")
}

fn running_slot() -> Result<Slot, String> {
    let cmdline = fs::read_to_string("/proc/cmdline").map_err(err("/proc/cmdline"))?;
    slots::running_slot(&cmdline).ok_or_else(|| {
        "no klslot=a|b on the kernel command line: not an A/B appliance image".into()
    })
}

fn state_path() -> PathBuf {
    Path::new(BOOT_DIR).join("slots")
}

fn load_state() -> Result<State, String> {
    let p = state_path();
    let text = fs::read_to_string(&p).map_err(err(p.display()))?;
    State::parse(&text).map_err(|e| format!("{}: {e}", p.display()))
}

/// Writes the state: syslinux's boot-once first (a power cut right after it boots the armed
/// slot, whose initramfs reads the older state and copes), the state file, and syslinux.cfg's
/// DEFAULT when it changed; `/boot` must be writable.
fn save_state(st: &State) -> Result<(), String> {
    let cfg_path = Path::new(BOOT_DIR).join("syslinux.cfg");
    let cfg = fs::read_to_string(&cfg_path).map_err(err(cfg_path.display()))?;
    let new_cfg = slots::with_default(&cfg, st.default_slot());
    set_boot_once(st.boot_once())?;
    replace_on_fat(&state_path(), st.emit().as_bytes())?;
    if new_cfg != cfg {
        replace_on_fat(&cfg_path, new_cfg.as_bytes())?;
    }
    Ok(())
}

/// Arms (or clears) syslinux's boot-once command in the ADV at the end of ldlinux.sys,
/// written in place: syslinux reads and writes those sectors by the addresses its installer
/// recorded, so the file must keep them.
fn set_boot_once(slot: Option<Slot>) -> Result<(), String> {
    let path = Path::new(BOOT_DIR).join("ldlinux.sys");
    let f = match OpenOptions::new().read(true).write(true).open(&path) {
        Err(x) if x.kind() == io::ErrorKind::NotFound && slot.is_none() => return Ok(()),
        f => f.map_err(err(path.display()))?,
    };
    let len = f.metadata().map_err(err(path.display()))?.len();
    let at = len
        .checked_sub(2 * adv::SIZE as u64)
        .ok_or_else(|| format!("{}: too short for syslinux's ADV", path.display()))?;
    let mut old = [0u8; 2 * adv::SIZE];
    f.read_exact_at(&mut old, at).map_err(err(path.display()))?;
    let mut repr = adv::AdvRepr::parse_pair(&old);
    repr.set(adv::BOOT_ONCE, slot.map(|s| s.name().as_bytes()));
    let new = repr
        .emit()
        .map_err(|x| format!("{}: {x}", path.display()))?;
    if new != old {
        f.write_all_at(&new, at)
            .and_then(|()| f.sync_all())
            .map_err(err(path.display()))?;
    }
    Ok(())
}

/// Atomic replace on FAT: a renamed file's new directory entry belongs to the file's inode,
/// not the directory's, so fsync of the directory does not make the rename durable (a power
/// cut brought the old file back in the VM test); fsync the file under its new name too.
fn replace_on_fat(path: &Path, data: &[u8]) -> Result<(), String> {
    crate::sys::persist::write_atomic(path, data, 0o644).map_err(|e| e.to_string())?;
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(err(path.display()))
}

/// `/boot` read-write for the duration of `f` (and back to read-only after, also on error).
fn boot_writable<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    remount_boot("rw")?;
    let r = f();
    let back = remount_boot("ro");
    let v = r?;
    back.map(|()| v)
}

fn remount_boot(mode: &str) -> Result<(), String> {
    let st = Command::new("mount")
        .args(["-o", &format!("remount,{mode}"), BOOT_DIR])
        .status()
        .map_err(err("mount"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("cannot remount {BOOT_DIR} {mode}"))
    }
}

fn with_state(f: impl FnOnce(&mut State, Slot) -> Result<(), String>) -> Result<(), String> {
    let running = running_slot()?;
    boot_writable(|| {
        let mut st = load_state()?;
        f(&mut st, running)?;
        save_state(&st)?;
        print!("{}", st.summary(Some(running)));
        Ok(())
    })
}

fn slot_status() -> Result<i32, String> {
    print!("{}", load_state()?.summary(running_slot().ok()));
    Ok(0)
}

/// The initramfs, at every boot, with the boot partition mounted read-write at /boot:
/// count the boot. Exit 0: boot on; 10: boot on, on trial (arm the watchdog); 11: reboot.
fn slot_boot() -> Result<i32, String> {
    let running = running_slot()?;
    let mut st = load_state()?;
    let decision = st.on_boot(running);
    save_state(&st)?;
    let _ = Command::new("sync").status();
    for line in st.summary(Some(running)).lines() {
        println!("keeplite slot: {line}");
    }
    if let Some(once) = st.boot_once() {
        println!(
            "keeplite slot: {once} boots next (once); a reset after that boots {}",
            st.default_slot()
        );
    }
    Ok(match decision {
        BootDecision::Run { trial: false } => 0,
        BootDecision::Run { trial: true } => 10,
        BootDecision::Reboot => 11,
    })
}

/// At boot, in the background: if the running slot is on trial, watch the daemon until the
/// slot is good (marked) or given up (marked bad, reboot into the other slot).
fn slot_trial() -> Result<i32, String> {
    let running = running_slot()?;
    let st = load_state()?;
    if !matches!(st.slot(running).status, slots::Status::Try { .. }) {
        return Ok(0);
    }
    let boot_time = SystemTime::now() - uptime();
    println!(
        "keeplite slot: {running} on trial: good after {} s of health, given up after {} s",
        st.trial.good_after, st.trial.give_up_after
    );
    let control = control_socket();
    let mut tr = trial::Trial::new(st.trial, Instant::now());
    loop {
        let health = match crate::sys::control::request(
            &control,
            &Request::Status,
            Duration::from_secs(5),
        ) {
            Ok(Response::Status(r)) => trial::health(&r, rejected_since(boot_time)),
            Ok(other) => Err(format!("unexpected answer {other:?}")),
            Err(e) => Err(format!("the daemon does not answer: {e}")),
        };
        match tr.observe(Instant::now(), health) {
            trial::Verdict::Wait(d) => std::thread::sleep(d),
            trial::Verdict::Good => {
                with_state(|st, running| {
                    st.mark_good(running);
                    Ok(())
                })?;
                println!("keeplite slot: {running} marked good");
                return Ok(0);
            }
            trial::Verdict::GiveUp(why) => {
                let mut back = false;
                with_state(|st, running| {
                    back = st.abandon(running, &why);
                    Ok(())
                })?;
                println!("keeplite slot: {running} given up: {why}");
                if back {
                    let _ = Command::new("reboot").status();
                }
                return Ok(1);
            }
        }
    }
}

/// Where the daemon answers: `global_defs control_socket` of the configuration, else the
/// default.
fn control_socket() -> PathBuf {
    let opts = crate::cli::Options {
        config_file: CONFIG.into(),
        ..Default::default()
    };
    crate::config::load(&opts.config_file, &crate::cli::load_options(&opts))
        .map(|(cfg, _)| cfg.global.control_socket)
        .unwrap_or_else(|_| crate::config::DEFAULT_CONTROL_SOCKET.into())
}

/// Whole seconds since boot (no float parsing: it would add to the binary for nothing).
fn uptime() -> Duration {
    let s = fs::read_to_string("/proc/uptime").unwrap_or_default();
    let secs = s.split(['.', ' ']).next().and_then(|v| v.parse().ok());
    Duration::from_secs(secs.unwrap_or(0))
}

/// Whether run-keeplite rejected the configuration at this boot.
fn rejected_since(boot: SystemTime) -> bool {
    fs::metadata(format!("{CONFIG}.rejected"))
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= boot)
}

struct UpgradeArgs {
    file: String,
    reboot: bool,
    allow_downgrade: bool,
    tries: u8,
    trial: TrialTimes,
}

fn parse_upgrade(args: &[String]) -> Result<UpgradeArgs, String> {
    let mut u = UpgradeArgs {
        file: String::new(),
        reboot: false,
        allow_downgrade: false,
        tries: slots::DEFAULT_TRIES,
        trial: slots::DEFAULT_TRIAL,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<u32, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("`{name}` needs a number"))
        };
        match a.as_str() {
            "--reboot" => u.reboot = true,
            "--allow-downgrade" => u.allow_downgrade = true,
            "--tries" => u.tries = num(a)?.clamp(1, 255) as u8,
            "--good-after" => u.trial.good_after = num(a)?,
            "--give-up-after" => u.trial.give_up_after = num(a)?,
            f if u.file.is_empty() && (f == "-" || !f.starts_with('-')) => u.file = f.to_owned(),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    if u.file.is_empty() {
        return Err(
            "expected the bundle: `keeplite upgrade FILE` or `-` for standard input".into(),
        );
    }
    Ok(u)
}

fn read_key(path: &str) -> Result<[u8; 32], String> {
    let text = fs::read_to_string(path).map_err(err(path))?;
    let line = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap_or("");
    bundle::parse_hex(line).ok_or_else(|| format!("{path}: expected 64 hex digits"))
}

/// Reads the header and manifest, checks signature, board and version.
fn open_bundle(r: &mut dyn Read, u: &UpgradeArgs) -> Result<Manifest, String> {
    let mut head = [0u8; HEADER_LEN];
    r.read_exact(&mut head)
        .map_err(|_| bundle::Error::Truncated("header").to_string())?;
    let h = Header::new_checked(&head[..]).map_err(|e| e.to_string())?;
    let len = h.manifest_len().map_err(|e| e.to_string())?;
    let mut manifest = vec![0; len];
    r.read_exact(&mut manifest)
        .map_err(|_| bundle::Error::Truncated("manifest").to_string())?;
    let m = bundle::verify_manifest(&h.signature(), &manifest, &read_key(PUBLIC_KEY)?)
        .map_err(|e| e.to_string())?;
    let board = fs::read_to_string(BOARD).map_err(err(BOARD))?;
    let running = load_state()?.slot(running_slot()?).version.clone();
    m.check_install(board.trim(), &running, u.allow_downgrade)
        .map_err(|e| e.to_string())?;
    Ok(m)
}

/// Streams every part from `r` to `sinks` (one per part; `None` = only hash it).
fn copy_parts(
    r: &mut dyn Read,
    m: &Manifest,
    sinks: &mut [Option<File>],
    verb: &str,
) -> Result<(), String> {
    let total = m.total_size().max(1);
    let mut done = 0u64;
    let mut shown = 0;
    let mut buf = vec![0u8; 256 * 1024];
    for (part, sink) in m.parts.iter().zip(sinks.iter_mut()) {
        let mut check = PartCheck::new(part);
        while check.remaining() > 0 {
            let want = check.remaining().min(buf.len() as u64) as usize;
            let n = r
                .read(&mut buf[..want])
                .map_err(err("reading the bundle"))?;
            if n == 0 {
                break;
            }
            check.update(&buf[..n]);
            if let Some(f) = sink {
                f.write_all(&buf[..n])
                    .map_err(err(format!("writing {}", part.name)))?;
            }
            done += n as u64;
            let pct = done * 100 / total;
            if pct >= shown + 10 {
                shown = pct - pct % 10;
                eprintln!(
                    "upgrade: {verb} {shown}% ({} of {} KiB)",
                    done / 1024,
                    total / 1024
                );
            }
        }
        check.finish().map_err(|e| e.to_string())?;
        if let Some(f) = sink {
            f.sync_all()
                .map_err(err(format!("syncing {}", part.name)))?;
        }
    }
    Ok(())
}

/// The block device of partition `n` on the disk that holds the partition mounted at /boot.
fn partition_of_boot_disk(n: u32) -> Result<PathBuf, String> {
    let mounts = fs::read_to_string("/proc/mounts").map_err(err("/proc/mounts"))?;
    let dev = mounts
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(1) == Some(&BOOT_DIR)).then(|| f[0].to_owned())
        })
        .ok_or_else(|| format!("{BOOT_DIR} is not mounted"))?;
    let name = dev.trim_start_matches("/dev/");
    let sys = fs::canonicalize(format!("/sys/class/block/{name}")).map_err(err(&dev))?;
    let disk = sys.parent().ok_or("no disk")?;
    for e in fs::read_dir(disk).map_err(err(disk.display()))?.flatten() {
        let p = fs::read_to_string(e.path().join("partition")).unwrap_or_default();
        if p.trim() == n.to_string() {
            return Ok(Path::new("/dev").join(e.file_name()));
        }
    }
    Err(format!("no partition {n} on the disk of {dev}"))
}

fn root_partition(slot: Slot) -> u32 {
    match slot {
        Slot::A => 2,
        Slot::B => 4,
    }
}

fn upgrade(args: &[String]) -> Result<i32, String> {
    let u = parse_upgrade(args)?;
    let started = Instant::now();
    let running = running_slot()?;
    let target = load_state()?
        .upgrade_target(running)
        .map_err(|e| format!("{e}\nupgrade: nothing was changed"))?;
    let stdin = u.file == "-";
    let open = || -> Result<Box<dyn Read>, String> {
        Ok(if stdin {
            Box::new(io::stdin().lock())
        } else {
            Box::new(File::open(&u.file).map_err(err(&u.file))?)
        })
    };
    let mut r = open()?;
    let m = open_bundle(&mut *r, &u).map_err(|e| format!("{e}\nupgrade: nothing was changed"))?;
    eprintln!(
        "upgrade: bundle {} for {} signed by this appliance's key; installing into slot {target} (running: {running})",
        m.version, m.board
    );
    let root_dev = partition_of_boot_disk(root_partition(target))?;
    let root_size = fs::read_to_string(format!(
        "/sys/class/block/{}/size",
        root_dev.file_name().unwrap_or_default().to_string_lossy()
    ))
    .ok()
    .and_then(|s| s.trim().parse::<u64>().ok())
    .map_or(u64::MAX, |sectors| sectors * 512);
    if m.parts[2].size > root_size {
        return Err(format!(
            "rootfs of {} bytes does not fit slot {target}'s {} bytes\nupgrade: nothing was changed",
            m.parts[2].size, root_size
        ));
    }
    if !stdin {
        // A file can be read twice: check every byte before changing anything.
        copy_parts(&mut *r, &m, &mut [None, None, None], "verifying")
            .map_err(|e| format!("{e}\nupgrade: nothing was changed"))?;
        r = open()?;
        open_bundle(&mut *r, &u)?;
    }
    let kdir = Path::new(BOOT_DIR).join(target.name());
    boot_writable(|| {
        let mut st = load_state()?;
        st.begin_write(running)?;
        save_state(&st)?;
        fs::create_dir_all(&kdir).map_err(err(kdir.display()))?;
        let create = |p: PathBuf| File::create(&p).map_err(err(p.display()));
        let root = OpenOptions::new()
            .write(true)
            .open(&root_dev)
            .map_err(err(root_dev.display()))?;
        let mut sinks = [
            Some(create(kdir.join("bzImage"))?),
            Some(create(kdir.join("initrd.img"))?),
            Some(root),
        ];
        copy_parts(&mut *r, &m, &mut sinks, "writing").map_err(|e| {
            format!(
                "{e}\nupgrade: slot {target} is left incomplete and will not boot; {running} stays"
            )
        })?;
        st.finish_write(target, &m.version, u.tries, u.trial);
        save_state(&st)?;
        let _ = Command::new("sync").status();
        print!("{}", st.summary(Some(running)));
        Ok(())
    })?;
    eprintln!(
        "upgrade: slot {target} written and verified in {:.1} s; it boots next, on trial ({} tries)",
        started.elapsed().as_secs_f64(),
        u.tries
    );
    if u.reboot {
        eprintln!("upgrade: rebooting");
        Command::new("reboot").status().map_err(err("reboot"))?;
    } else {
        eprintln!("upgrade: reboot to run it");
    }
    Ok(0)
}

fn bundle_create(args: &[String]) -> Result<i32, String> {
    let get = |flag: &str| -> Result<String, String> {
        let i = args
            .iter()
            .position(|a| a == flag)
            .ok_or_else(|| format!("missing `{flag}`"))?;
        args.get(i + 1)
            .cloned()
            .ok_or_else(|| format!("`{flag}` needs a value"))
    };
    let seed = read_key(&get("--key")?)?;
    let (board, version, out) = (get("--board")?, get("--version")?, get("-o")?);
    let mut parts = Vec::new();
    for name in bundle::PARTS {
        let p = get(&format!("--{name}"))?;
        parts.push(fs::read(&p).map_err(err(&p))?);
    }
    let named: Vec<(&str, &[u8])> = bundle::PARTS
        .iter()
        .copied()
        .zip(parts.iter().map(Vec::as_slice))
        .collect();
    let manifest = bundle::manifest_text(&board, &version, &named);
    let mut f = File::create(&out).map_err(err(&out))?;
    f.write_all(&bundle::signed_header(&manifest, &seed))
        .map_err(err(&out))?;
    for p in &parts {
        f.write_all(p).map_err(err(&out))?;
    }
    f.sync_all().map_err(err(&out))?;
    println!("{out}: bundle {version} for {board}");
    Ok(0)
}

fn keygen(args: &[String]) -> Result<i32, String> {
    let [secret, public] = args else {
        return Err("expected `bundle keygen SECRET PUBLIC`".into());
    };
    let mut seed = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(err("/dev/urandom"))?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(secret)
        .map_err(err(secret))?;
    writeln!(
        f,
        "# keeplite bundle signing key: keep it on the build machine only\n{}",
        bundle::hex(&seed)
    )
    .map_err(err(secret))?;
    fs::write(
        public,
        format!("{}\n", bundle::hex(&bundle::public_key(&seed))),
    )
    .map_err(err(public))?;
    Ok(0)
}

fn pubkey(args: &[String]) -> Result<i32, String> {
    let [secret] = args else {
        return Err("expected `bundle pubkey SECRET`".into());
    };
    println!("{}", bundle::hex(&bundle::public_key(&read_key(secret)?)));
    Ok(0)
}
