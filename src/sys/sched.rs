//! Process-wide CPU and memory settings: keepalived's `vrrp_priority` / `checker_priority`
//! (nice value), `vrrp_no_swap` / `checker_no_swap` (memory locked, never swapped out) and
//! `max_auto_priority` (realtime scheduling once timers run late).
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

/// keepalived's increment_process_priority: the SCHED_RR priority to take after a late
/// timer (`cur` 0: not realtime yet), if `max` allows one more step.
pub fn next_rt_priority(cur: u8, max: u8) -> Option<u8> {
    (cur < max).then_some(cur + 1)
}

/// Realtime round-robin scheduling at `priority` (1..=99); scripts started later do not
/// inherit it (SCHED_RESET_ON_FORK).
pub fn set_realtime(priority: u8) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority.into(),
    };
    // SAFETY: `param` is a valid sched_param; the call only changes this process's policy.
    cvt(unsafe {
        libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param)
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::next_rt_priority;

    #[test]
    fn late_timers_raise_the_priority_one_step_up_to_the_cap() {
        assert_eq!(next_rt_priority(0, 0), None);
        assert_eq!(next_rt_priority(0, 2), Some(1));
        assert_eq!(next_rt_priority(1, 2), Some(2));
        assert_eq!(next_rt_priority(2, 2), None);
        assert_eq!(next_rt_priority(5, 2), None);
    }
}
