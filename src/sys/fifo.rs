//! Notify FIFOs (`notify_fifo`, `vrrp_notify_fifo`, `lvs_notify_fifo`), opened as keepalived
//! opens them: created if absent (mode 0644), then opened read-write and non-blocking, so that
//! opening never waits for a reader and a missing or slow reader never blocks the loop. The
//! kernel's pipe buffer is the bounded queue: a line that does not fit is dropped and counted.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{cvt, cvt_size};

pub struct Fifo {
    fd: OwnedFd,
    path: PathBuf,
    /// keeplite made the node, so it removes it at close (as keepalived does).
    created: bool,
    /// Lines lost because the reader fell behind (pipe full).
    pub dropped: u64,
}

impl Fifo {
    /// Creates `path` as a FIFO unless it exists (owned by `owner` when created) and opens it.
    pub fn open(path: &Path, owner: Option<(u32, u32)>) -> io::Result<Fifo> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path has a NUL"))?;
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
        let created = match cvt(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }) {
            Ok(_) => true,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => false,
            Err(e) => return Err(e),
        };
        let flags = libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOFOLLOW;
        // SAFETY: as above; the returned descriptor is owned below.
        let fd = match cvt(unsafe { libc::open(c.as_ptr(), flags) }) {
            // SAFETY: a fresh descriptor nothing else owns.
            Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
            Err(e) => {
                if created {
                    let _ = std::fs::remove_file(path);
                }
                return Err(e);
            }
        };
        let fifo = Fifo {
            fd,
            path: path.to_owned(),
            created,
            dropped: 0,
        };
        // SAFETY: all-zero stat is valid; fstat fills it for an open descriptor.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a valid out-pointer and the descriptor is open.
        cvt(unsafe { libc::fstat(fifo.fd.as_raw_fd(), &mut st) })?;
        if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
            // Never write events into a regular file someone put there.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "exists and is not a FIFO",
            ));
        }
        if let (true, Some((uid, gid))) = (created, owner) {
            // SAFETY: plain syscall on an open descriptor.
            cvt(unsafe { libc::fchown(fifo.fd.as_raw_fd(), uid, gid) })?;
        }
        Ok(fifo)
    }

    /// Writes one line (shorter than PIPE_BUF, so all or nothing); a full pipe drops it.
    pub fn write_line(&mut self, line: &str) {
        let b = line.as_bytes();
        // SAFETY: `b` is valid for `b.len()` bytes; the descriptor is open and non-blocking.
        let r = cvt_size(unsafe { libc::write(self.fd.as_raw_fd(), b.as_ptr().cast(), b.len()) });
        if !matches!(r, Ok(n) if n == b.len()) {
            self.dropped += 1;
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn tmp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("keeplite-fifo-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn lines_reach_a_reader_and_the_node_goes_at_close() {
        let p = tmp("reader");
        let mut f = Fifo::open(&p, None).unwrap();
        let mut r = std::fs::File::open(&p).unwrap();
        f.write_line("INSTANCE \"VI_1\" MASTER 100\n");
        let mut buf = [0u8; 64];
        let n = r.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"INSTANCE \"VI_1\" MASTER 100\n");
        assert_eq!(f.dropped, 0);
        drop(f);
        assert!(!p.exists());
    }

    #[test]
    fn a_reader_that_never_reads_costs_dropped_lines_not_a_block() {
        let p = tmp("stuck");
        let mut f = Fifo::open(&p, None).unwrap();
        let line = "INSTANCE \"VI_1\" BACKUP 100\n";
        // 64 KiB pipe: a few thousand lines fill it; each further write returns at once.
        for _ in 0..5000 {
            f.write_line(line);
        }
        assert!(f.dropped > 0 && f.dropped < 5000, "{}", f.dropped);
    }

    #[test]
    fn a_regular_file_is_refused_and_kept() {
        let p = tmp("regular");
        std::fs::write(&p, "data").unwrap();
        let e = Fifo::open(&p, None).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(std::fs::read(&p).unwrap(), b"data");
        std::fs::remove_file(&p).unwrap();
    }
}
