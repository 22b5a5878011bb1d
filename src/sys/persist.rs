//! Files keeplite writes as root: the last-known-good configuration and the pid file.
//!
//! After keeplite accepts a configuration it keeps a copy next to it
//! (`/config/keepalived.conf.good`), written atomically so that a power cut leaves either the
//! old copy or the new one, never a torn file. At boot an invalid configuration falls back to
//! this copy (rootfs/etc/init.d/run-keeplite).
//!
//! Every write goes to a fresh temporary file opened with `O_CREAT | O_EXCL | O_NOFOLLOW`
//! (a name planted beforehand, symlink or hard link, is never opened) and is renamed over
//! the target (a symlink there is replaced, not followed). Directories where another user
//! could rename or replace our files afterwards are refused, see [`check_dir`].

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Temporary names tried before giving up (others are taken by planted files).
const TMP_ATTEMPTS: u32 = 8;

/// Where the last-known-good copy of `config` lives: the same name with `.good` appended.
pub fn good_path(config: &Path) -> PathBuf {
    let mut name = OsString::from(config.as_os_str());
    name.push(".good");
    PathBuf::from(name)
}

/// Whether an accepted configuration must be stored: only when it differs from the current
/// copy, so that reloads of an unchanged file do not wear the flash.
pub fn needs_store(current_good: Option<&[u8]>, accepted: &[u8]) -> bool {
    current_good != Some(accepted)
}

/// Refuses a directory in which another user could replace what root writes: one owned by
/// someone other than root or us, or writable by group or others without the sticky bit.
/// A sticky world-writable directory (`/tmp`) is accepted, as keepalived and systemd accept
/// pid files there: the sticky bit stops others from renaming or removing our file, and
/// the exclusive, no-follow create plus rename defeat names they plant in advance.
pub fn check_dir(dir: &Path) -> io::Result<()> {
    let meta = fs::metadata(dir)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let mode = meta.mode();
    let shared = mode & 0o022 != 0 && mode & 0o1000 == 0;
    if (meta.uid() != 0 && meta.uid() != me) || shared {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing to write in {}: owned by uid {} with mode {:o}, another user could \
                 replace the file\n  = help: use a directory only root can write, e.g. /run",
                dir.display(),
                meta.uid(),
                mode & 0o7777
            ),
        ));
    }
    Ok(())
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// The `attempt`th temporary name for `name` (deterministic, so tests can plant them).
fn tmp_name(name: &std::ffi::OsStr, attempt: u32) -> OsString {
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".tmp{}.{attempt}", std::process::id()));
    tmp
}

/// Replace `path` with `data` (file mode `mode`) atomically and durably: write a fresh
/// temporary file in the same directory, fsync it, rename it over `path`, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let dir = parent(path);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file name", path.display()),
        )
    })?;
    check_dir(dir).map_err(with_path)?;
    let mut created = None;
    for attempt in 0..TMP_ATTEMPTS {
        let tmp = dir.join(tmp_name(name, attempt));
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp);
        match opened {
            Ok(f) => {
                created = Some((tmp, f));
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(with_path(e)),
        }
    }
    let (tmp, mut f) = created.ok_or_else(|| {
        with_path(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{TMP_ATTEMPTS} temporary names in the way"),
        ))
    })?;
    let result = f
        .write_all(data)
        .and_then(|()| f.sync_all())
        .and_then(|()| fs::rename(&tmp, path))
        .and_then(|()| File::open(dir)?.sync_all());
    if result.is_err() {
        // Best effort: a leftover temporary file is harmless but untidy.
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(with_path)
}

/// Writes the pid file like keepalived (mode 0644, `PID\n`), never through a planted link.
pub fn write_pid_file(path: &Path, pid: u32) -> io::Result<()> {
    write_atomic(path, format!("{pid}\n").as_bytes(), 0o644)
}

/// Whether the regular file at `path` holds exactly `data`; anything else there (missing, a
/// symlink, a FIFO, a device, other bytes) is "no". Reads at most `data.len()` bytes.
fn holds(path: &Path, data: &[u8]) -> io::Result<bool> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path);
    let f = match f {
        Ok(f) => f,
        // ELOOP: a symlink, to be replaced.
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ELOOP) => {
            return Ok(false)
        }
        Err(e) => return Err(e),
    };
    let meta = f.metadata()?;
    if !meta.is_file() || meta.len() != data.len() as u64 {
        return Ok(false);
    }
    let mut current = Vec::with_capacity(data.len());
    f.take(data.len() as u64).read_to_end(&mut current)?;
    Ok(!needs_store(Some(&current), data))
}

/// Record `accepted` (the bytes of the configuration keeplite just loaded from `config`) as
/// the last-known-good copy, mode 0600 (it may hold passwords). Returns whether the copy was
/// (re)written.
pub fn remember_good(config: &Path, accepted: &[u8]) -> io::Result<bool> {
    let good = good_path(config);
    if holds(&good, accepted)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", good.display())))?
    {
        return Ok(false);
    }
    write_atomic(&good, accepted, 0o600)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct TempDir(PathBuf);
    impl TempDir {
        fn new() -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "klpersist-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&p).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn good_path_appends_suffix() {
        assert_eq!(
            good_path(Path::new("/config/keepalived.conf")),
            PathBuf::from("/config/keepalived.conf.good")
        );
    }

    #[test]
    fn store_only_when_changed() {
        assert!(needs_store(None, b"a"));
        assert!(needs_store(Some(b"a"), b"b"));
        assert!(!needs_store(Some(b"a"), b"a"));
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let d = TempDir::new();
        let p = d.0.join("keepalived.conf.good");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert_eq!(entries(&d.0), ["keepalived.conf.good"]);
    }

    #[test]
    fn atomic_write_reports_path_and_cleans_up() {
        let d = TempDir::new();
        // The target is a directory: the rename fails after the temporary file was written.
        let p = d.0.join("occupied");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("x"), b"").unwrap();
        let err = write_atomic(&p, b"data", 0o600).unwrap_err();
        assert!(err.to_string().contains("occupied"), "{err}");
        assert_eq!(entries(&d.0), ["occupied"]);

        let missing = d.0.join("nodir").join("f");
        let err = write_atomic(&missing, b"data", 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("nodir"), "{err}");
    }

    #[test]
    fn remember_good_writes_once_per_content() {
        let d = TempDir::new();
        let conf = d.0.join("keepalived.conf");
        assert!(remember_good(&conf, b"v1").unwrap());
        assert!(!remember_good(&conf, b"v1").unwrap());
        assert!(remember_good(&conf, b"v2").unwrap());
        assert_eq!(fs::read(good_path(&conf)).unwrap(), b"v2");
    }

    /// Symlinks planted at the temporary names and at the target: the victim is never
    /// written, the target ends up a regular file.
    #[test]
    fn planted_symlinks_are_never_followed() {
        let d = TempDir::new();
        let victim = d.0.join("victim");
        fs::write(&victim, b"precious").unwrap();
        let pid = d.0.join("keeplite.pid");
        for attempt in 0..TMP_ATTEMPTS - 1 {
            symlink(
                &victim,
                d.0.join(tmp_name(pid.file_name().unwrap(), attempt)),
            )
            .unwrap();
        }
        symlink(&victim, &pid).unwrap();
        write_pid_file(&pid, 4242).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert!(fs::symlink_metadata(&pid).unwrap().is_file());
        assert_eq!(fs::read_to_string(&pid).unwrap(), "4242\n");
        assert_eq!(fs::metadata(&pid).unwrap().mode() & 0o777, 0o644);

        // Every temporary name taken: refused, victim intact.
        let last =
            d.0.join(tmp_name(pid.file_name().unwrap(), TMP_ATTEMPTS - 1));
        symlink(&victim, last).unwrap();
        let err = write_pid_file(&pid, 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    /// A `.good` planted as a link to an endless device is neither read nor followed.
    #[test]
    fn planted_good_copy_link_is_replaced_not_read() {
        let d = TempDir::new();
        let conf = d.0.join("keepalived.conf");
        symlink("/dev/zero", good_path(&conf)).unwrap();
        assert!(remember_good(&conf, b"v1").unwrap());
        let good = good_path(&conf);
        assert!(fs::symlink_metadata(&good).unwrap().is_file());
        assert_eq!(fs::read(&good).unwrap(), b"v1");
    }

    #[test]
    fn directories_others_can_write_are_refused_unless_sticky() {
        let d = TempDir::new();
        let open = d.0.join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let err = write_pid_file(&open.join("k.pid"), 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("refusing to write in"), "{err}");
        assert!(entries(&open).is_empty());
        fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).unwrap();
        write_pid_file(&open.join("k.pid"), 1).unwrap();
        assert!(check_dir(&d.0).is_ok());
        // Owned by another user: refused even without write bits for others (giving a
        // directory away takes root).
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let theirs = d.0.join("theirs");
            fs::create_dir(&theirs).unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
            assert!(check_dir(&theirs).is_err());
        }
    }
}
