//! Hardware watchdog. keeplite arms `/dev/watchdog` (or `watchdog_device`) with
//! `watchdog_timeout` and pets it only while its event loop keeps its schedule: if the loop
//! hangs, or keeplite dies and is not respawned in time, the watchdog resets the box. An
//! orderly shutdown disarms it with the magic close ('V').
//!
//! Use from the event loop: `Watchdog::open`, then put `next_pet()` among the loop's deadlines
//! and, when that timer fires, call `pet(due, now)` with the deadline it was due at.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

// linux/watchdog.h: _IOR('W', 5, int) and _IOWR('W', 6, int).
const WDIOC_KEEPALIVE: libc::c_ulong = 0x8004_5705;
const WDIOC_SETTIMEOUT: libc::c_ulong = 0xC004_5706;

/// When to pet and whether the loop is healthy enough to do so; pure, so it is tested in
/// virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PetPolicy {
    timeout: Duration,
}

impl PetPolicy {
    pub fn new(timeout: Duration) -> Self {
        PetPolicy { timeout }
    }

    /// Pet three times per timeout: two consecutive late ticks still leave slack.
    pub fn interval(&self) -> Duration {
        self.timeout / 3
    }

    pub fn next_pet(&self, last_pet: Instant) -> Instant {
        last_pet + self.interval()
    }

    /// A timer due at `due` that runs at `now` shows a healthy loop if it is late by less than
    /// one interval. A loop that was stuck longer does not pet: if it stays that slow the
    /// hardware resets the box, which is the point.
    pub fn healthy(&self, due: Instant, now: Instant) -> bool {
        now.saturating_duration_since(due) < self.interval()
    }
}

pub struct Watchdog {
    file: File,
    policy: PetPolicy,
    last_pet: Instant,
}

impl Watchdog {
    /// Open and arm `path` with `timeout` (whole seconds, at least 1; drivers may round up).
    pub fn open(path: &Path, timeout: Duration, now: Instant) -> io::Result<Watchdog> {
        let ctx = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(ctx)?;
        let mut secs: libc::c_int = timeout.as_secs().clamp(1, 65535) as libc::c_int;
        // SAFETY: WDIOC_SETTIMEOUT reads and writes one c_int through the valid pointer.
        if unsafe { libc::ioctl(file.as_raw_fd(), WDIOC_SETTIMEOUT, &mut secs) } < 0 {
            let e = io::Error::last_os_error();
            // Disarm before reporting: the device is armed as soon as it is open.
            let _ = disarm(file);
            return Err(ctx(io::Error::new(
                e.kind(),
                format!("cannot set watchdog_timeout {}s: {e}", timeout.as_secs()),
            )));
        }
        let dog = Watchdog {
            file,
            policy: PetPolicy::new(Duration::from_secs(secs.max(1) as u64)),
            last_pet: now,
        };
        dog.keepalive().map_err(ctx)?;
        Ok(dog)
    }

    /// The timeout the driver accepted.
    pub fn timeout(&self) -> Duration {
        self.policy.timeout
    }

    pub fn next_pet(&self) -> Instant {
        self.policy.next_pet(self.last_pet)
    }

    /// Called when the pet timer (due at `due`) fires at `now`; pets only if the loop is on
    /// schedule. Returns whether it petted.
    pub fn pet(&mut self, due: Instant, now: Instant) -> io::Result<bool> {
        if !self.policy.healthy(due, now) {
            // Re-arm the timer from now so the loop keeps trying; the hardware decides.
            self.last_pet = now;
            return Ok(false);
        }
        self.keepalive()?;
        self.last_pet = now;
        Ok(true)
    }

    fn keepalive(&self) -> io::Result<()> {
        // SAFETY: WDIOC_KEEPALIVE takes no argument data; the fd is an open watchdog.
        if unsafe { libc::ioctl(self.file.as_raw_fd(), WDIOC_KEEPALIVE, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Orderly shutdown: the magic close stops the hardware timer.
    pub fn close(self) -> io::Result<()> {
        disarm(self.file)
    }
}

fn disarm(mut file: File) -> io::Result<()> {
    file.write_all(b"V")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pets_three_times_per_timeout() {
        let p = PetPolicy::new(Duration::from_secs(30));
        let t0 = Instant::now();
        assert_eq!(p.next_pet(t0), t0 + Duration::from_secs(10));
    }

    #[test]
    fn on_time_and_slightly_late_ticks_are_healthy() {
        let p = PetPolicy::new(Duration::from_secs(30));
        let due = Instant::now();
        assert!(p.healthy(due, due));
        assert!(p.healthy(due, due + Duration::from_millis(9_999)));
        // A timer that fires early (clock granularity) is on schedule too.
        assert!(p.healthy(due + Duration::from_millis(5), due));
    }

    #[test]
    fn a_stalled_loop_does_not_pet() {
        let p = PetPolicy::new(Duration::from_secs(30));
        let due = Instant::now();
        assert!(!p.healthy(due, due + Duration::from_secs(10)));
        assert!(!p.healthy(due, due + Duration::from_secs(60)));
    }

    #[test]
    fn open_reports_the_device_path() {
        let now = Instant::now();
        let err = Watchdog::open(
            Path::new("/nonexistent/watchdog"),
            Duration::from_secs(5),
            now,
        )
        .err()
        .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("/nonexistent/watchdog"), "{err}");
        // A device that is not a watchdog refuses the ioctl.
        let err = Watchdog::open(Path::new("/dev/null"), Duration::from_secs(5), now)
            .err()
            .unwrap();
        assert!(err.to_string().contains("watchdog_timeout 5s"), "{err}");
    }
}
