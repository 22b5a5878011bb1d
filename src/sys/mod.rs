//! The OS shell: everything that touches sockets, netlink, processes and signals.
//!
//! The pure cores never see a file descriptor; the daemon moves bytes and events between them
//! and these primitives. Every call here is non-blocking or kernel-local (netlink requests are
//! answered by the kernel synchronously), so the single event-loop thread never stalls.

pub mod check_io;
pub mod control;
pub mod event;
pub mod fifo;
pub mod garp;
pub mod ipvs;
pub mod netlink;
pub mod persist;
pub mod process;
pub mod sched;
pub mod smtp;
pub mod track_file;
pub mod track_process;
pub mod vmac;
pub mod vrrp_sock;
pub mod watchdog;
pub mod worker;

use std::io;

/// Turns a libc return value into `io::Result`, reading `errno` on failure.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Sets socket option `level`/`name` of `fd` to `val`.
pub(crate) fn setsockopt<T>(
    fd: std::os::fd::RawFd,
    level: libc::c_int,
    name: libc::c_int,
    val: &T,
) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of the size passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Same as [`cvt`] for calls returning `ssize_t`.
pub(crate) fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Index of the interface called `name` in the current network namespace.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name has a NUL"))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(idx)
}

/// Serves allocations of 64 KiB and more from their own mappings (glibc starts at 128 KiB
/// and raises the bar as such blocks are freed). The receive buffers (64 KiB each, zeroed)
/// then hold only the pages a message actually filled, not the whole buffer (~190 KiB with
/// three of them), and the big tables of a load go back to the kernel when freed instead
/// of fragmenting the heap (1,000 instances: -280 KiB RSS). Call before they are allocated.
pub fn tune_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets one of glibc's allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
    }
}

/// Hands freed heap pages back to the kernel after a configuration is applied (the model's
/// transfer buffer, the replaced units and LB state; the parse itself runs in a child): glibc
/// would keep them in RSS for good. musl's allocator returns memory by itself.
pub fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks and releases glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Unmaps the executable's clean read-only file pages (text, rodata) once a load has settled.
/// Fault-around maps nearly the whole binary at start (~1.7 MiB of RSS, all of it page cache);
/// afterwards only the code that keeps running is faulted back in, in 64 KiB blocks (which is
/// why src/steady-text.ld puts that code together). Pages that
/// were ever written (RELRO after relocation: `Anonymous` > 0) are skipped, since dropping
/// them would bring back the unrelocated file contents. With `vrrp_no_swap` (mlockall) the
/// binary stays resident: the kernel refuses locked pages (EINVAL).
pub fn trim_text() {
    let (Ok(exe), Ok(smaps)) = (
        std::fs::read_link("/proc/self/exe"),
        std::fs::read_to_string("/proc/self/smaps"),
    ) else {
        return;
    };
    for (start, end) in clean_file_ranges(&smaps, &exe.to_string_lossy()) {
        // SAFETY: the range is a whole private, non-writable mapping of `exe` with no
        // anonymous (copied-on-write) page, so MADV_DONTNEED only drops page-table entries
        // and the next access re-reads the unchanged file page; no Rust object is invalidated.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

/// The `start..end` ranges in `smaps` (the text of /proc/PID/smaps) of private, non-writable
/// mappings of the file `path` that hold no anonymous page.
fn clean_file_ranges(smaps: &str, path: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut cur = None;
    for line in smaps.lines() {
        let mut f = line.splitn(6, ' ');
        let (Some(first), Some(second)) = (f.next(), f.next()) else {
            continue;
        };
        if first.ends_with(':') {
            // A mapping's field line; a copied-on-write page disqualifies it.
            if first == "Anonymous:" && line[first.len()..].trim() != "0 kB" {
                cur = None;
            }
            continue;
        }
        out.extend(cur.take());
        let (_off, _dev, _inode, name) = (f.next(), f.next(), f.next(), f.next().unwrap_or(""));
        let range = first.split_once('-').and_then(|(a, b)| {
            Some((
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
            ))
        });
        let perms = second.as_bytes();
        if perms.get(1) == Some(&b'-') && perms.get(3) == Some(&b'p') && name.trim() == path {
            cur = range;
        }
    }
    out.extend(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clean_read_only_mappings_of_the_file_are_trimmed() {
        let smaps = "\
00400000-00401000 r--p 00000000 08:01 42         /usr/sbin/keeplite
Rss:                   4 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
00401000-00500000 r-xp 00001000 08:01 42         /usr/sbin/keeplite
Anonymous:             0 kB
00500000-00510000 r--p 00100000 08:01 42         /usr/sbin/keeplite
Anonymous:            12 kB
00510000-00512000 rw-p 00110000 08:01 42         /usr/sbin/keeplite
Anonymous:             0 kB
00512000-00520000 r--s 00112000 08:01 42         /usr/sbin/keeplite
Anonymous:             0 kB
7f0000000000-7f0000010000 r-xp 00000000 08:01 7  /usr/lib/libc.so.6
Anonymous:             0 kB
7f0000020000-7f0000030000 r--p 00000000 00:00 0 
Anonymous:             0 kB
7f0000040000-7f0000041000 r--p 00000000 08:01 43 /usr/sbin/keeplite (deleted)
Anonymous:             0 kB
";
        assert_eq!(
            clean_file_ranges(smaps, "/usr/sbin/keeplite"),
            [(0x400000, 0x401000), (0x401000, 0x500000)]
        );
        assert_eq!(
            clean_file_ranges(smaps, "/usr/sbin/keeplite (deleted)"),
            [(0x7f0000040000, 0x7f0000041000)]
        );
    }

    #[test]
    fn trimming_the_running_binary_keeps_its_code_and_relocated_data() {
        // The test binary is PIE: its RELRO pages were written by the loader; dropping them
        // would bring back unrelocated pointers and crash the dyn calls below.
        let shown: Vec<Box<dyn std::fmt::Display>> = vec![Box::new(7u8), Box::new("seven")];
        trim_text();
        let text: Vec<String> = shown.iter().map(|d| format!("{d}")).collect();
        assert_eq!(text, ["7", "seven"]);
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert!(!clean_file_ranges(&smaps, &exe.to_string_lossy()).is_empty());
    }
}
