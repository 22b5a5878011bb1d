//! Process-wide CPU and memory settings: keepalived's `vrrp_priority` / `checker_priority`
//! (nice value) and `vrrp_no_swap` / `checker_no_swap` (memory locked, never swapped out).
//! keepalived sets them per child process; keeplite is one process, so the daemon merges them.

use std::io;

use super::cvt;

/// Sets the process's nice value (-20..19; lower runs first).
pub fn set_nice(nice: i32) -> io::Result<()> {
    // SAFETY: plain syscall on this process.
    cvt(unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) })?;
    Ok(())
}

/// Locks every current and future page in RAM (mlockall), so a swapping host cannot stall
/// adverts behind page faults.
pub fn lock_memory() -> io::Result<()> {
    // SAFETY: plain syscall; it only pins this process's own mappings.
    cvt(unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) })?;
    Ok(())
}
