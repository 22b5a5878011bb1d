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
