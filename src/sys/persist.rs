//! Last-known-good configuration: after keeplite accepts a configuration it keeps a copy next
//! to it (`/config/keepalived.conf.good`), written atomically so that a power cut leaves either
//! the old copy or the new one, never a torn file. At boot an invalid configuration falls back
//! to this copy (rootfs/etc/init.d/run-keeplite).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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

/// Replace `path` with `data` atomically and durably: write a temporary file in the same
/// directory, fsync it, rename it over `path`, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file name", path.display()),
        )
    })?;
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = write_synced(&tmp, data)
        .and_then(|()| fs::rename(&tmp, path))
        .and_then(|()| File::open(dir)?.sync_all());
    if result.is_err() {
        // Best effort: a leftover temporary file is harmless but untidy.
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// Record `accepted` (the bytes of the configuration keeplite just loaded from `config`) as
/// the last-known-good copy. Returns whether the copy was (re)written.
pub fn remember_good(config: &Path, accepted: &[u8]) -> io::Result<bool> {
    let good = good_path(config);
    let current = match fs::read(&good) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", good.display()))),
    };
    if !needs_store(current.as_deref(), accepted) {
        return Ok(false);
    }
    write_atomic(&good, accepted)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(entries(&d.0), ["keepalived.conf.good"]);
    }

    #[test]
    fn atomic_write_reports_path_and_cleans_up() {
        let d = TempDir::new();
        // The target is a directory: the rename fails after the temporary file was written.
        let p = d.0.join("occupied");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("x"), b"").unwrap();
        let err = write_atomic(&p, b"data").unwrap_err();
        assert!(err.to_string().contains("occupied"), "{err}");
        assert_eq!(entries(&d.0), ["occupied"]);

        let missing = d.0.join("nodir").join("f");
        let err = write_atomic(&missing, b"data").unwrap_err();
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
}
