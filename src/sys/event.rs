//! The event loop's primitives: an epoll set keyed by caller tokens, deadline-to-timeout
//! conversion for the cores' `poll_timeout()`, and signals delivered through a self-pipe.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::cvt;

/// An epoll instance. Registered fds are level-triggered (but [`Interest::ReadWriteEdge`])
/// and readable-interest only: every
/// subsystem here reads until `EAGAIN`, and writes are small enough not to need EPOLLOUT except
/// where a caller asks for it with [`Poller::modify`].
pub struct Poller {
    epfd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

/// Interest in readiness for reading, writing or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Read,
    /// Writing only: a peer that does not take its answers is not read from meanwhile.
    Write,
    ReadWrite,
    /// `ReadWrite`, reported when the readiness changes (EPOLLET): a health check's socket
    /// stays registered for its life. Kept idle between connections (its closed state polls
    /// as a hang-up), it wakes the loop once, and its next connect needs no re-arming.
    ReadWriteEdge,
}

/// The kinds of readiness a wait reported for one fd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    pub readable: bool,
    pub writable: bool,
    /// An error or hang-up condition (EPOLLERR, EPOLLHUP).
    pub error: bool,
}

impl Interest {
    pub fn readable(self) -> bool {
        self != Interest::Write
    }

    pub fn writable(self) -> bool {
        self != Interest::Read
    }

    /// Reported on changes only (see [`Interest::ReadWriteEdge`]).
    pub fn edge(self) -> bool {
        self == Interest::ReadWriteEdge
    }

    /// The epoll event mask.
    pub fn bits(self) -> u32 {
        match self {
            Interest::Read => libc::EPOLLIN as u32,
            Interest::Write => libc::EPOLLOUT as u32,
            Interest::ReadWrite => (libc::EPOLLIN | libc::EPOLLOUT) as u32,
            Interest::ReadWriteEdge => (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLET) as u32,
        }
    }
}

impl Poller {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the returned fd is owned below.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Poller {
            // SAFETY: `fd` was just returned by epoll_create1 and is owned by nobody else.
            epfd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: Vec::with_capacity(256),
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: interest.bits(),
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    /// Watches `fd`; `wait` reports `token` when it is ready.
    pub fn add(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, interest, token)
    }

    pub fn modify(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, interest, token)
    }

    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, Interest::Read, 0)
    }

    /// Waits until an fd is ready or `deadline` passes; returns the ready tokens (empty on
    /// timeout). `EINTR` counts as a timeout-free wakeup with nothing ready.
    pub fn wait(&mut self, now: Instant, deadline: Option<Instant>) -> io::Result<Vec<u64>> {
        let mut ready = Vec::new();
        self.wait_into(now, deadline, &mut ready)?;
        Ok(ready.into_iter().map(|(t, _)| t).collect())
    }

    /// [`Poller::wait`] into `ready` (cleared first), which the event loop reuses: no
    /// allocation per wake-up. Each token comes with the kinds of readiness reported for it.
    pub fn wait_into(
        &mut self,
        now: Instant,
        deadline: Option<Instant>,
        ready: &mut Vec<(u64, Readiness)>,
    ) -> io::Result<()> {
        ready.clear();
        self.events.clear();
        let cap = self.events.capacity();
        // SAFETY: the buffer has room for `cap` events; the kernel writes at most that many
        // and we set the length to what it reports.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                cap as libc::c_int,
                timeout_ms(now, deadline),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(e);
        }
        // SAFETY: the kernel initialised the first `n` entries.
        unsafe { self.events.set_len(n as usize) };
        ready.extend(self.events.iter().map(|e| {
            let has = |b: libc::c_int| e.events & b as u32 != 0;
            let kinds = Readiness {
                readable: has(libc::EPOLLIN),
                writable: has(libc::EPOLLOUT),
                error: has(libc::EPOLLERR | libc::EPOLLHUP),
            };
            (e.u64, kinds)
        }));
        Ok(())
    }
}

/// epoll timeout for a deadline: rounded up to whole milliseconds so the loop never wakes just
/// before a timer and spins; `-1` (forever) without a deadline.
pub fn timeout_ms(now: Instant, deadline: Option<Instant>) -> libc::c_int {
    match deadline {
        None => -1,
        Some(d) => {
            let left = d.saturating_duration_since(now);
            let ms = left.as_nanos().div_ceil(1_000_000);
            ms.min(i32::MAX as u128) as libc::c_int
        }
    }
}

/// The earliest of several optional deadlines.
pub fn earliest(deadlines: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    deadlines.into_iter().flatten().min()
}

/// Signals the daemon handles, in a fixed order matching [`Signals::take`]'s output.
pub const HANDLED: [libc::c_int; 5] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGCHLD,
];

/// Signal delivery through a self-pipe: the handler (signal-hook's, async-signal-safe) sets a
/// flag and writes a byte; the loop polls [`Signals::fd`] and calls [`Signals::take`]. Works
/// whichever thread the kernel picks to deliver a process-directed signal.
pub struct Signals {
    read: OwnedFd,
    flags: Vec<(libc::c_int, Arc<AtomicBool>)>,
    ids: Vec<signal_hook::SigId>,
}

impl Signals {
    pub fn new(signals: &[libc::c_int]) -> io::Result<Self> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 returns.
        cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
        // SAFETY: both fds were just created and are owned only here.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let mut flags = Vec::new();
        let mut ids = Vec::new();
        for &sig in signals {
            let flag = Arc::new(AtomicBool::new(false));
            // Flag first, then the wake-up byte: the loop never wakes without a flag set.
            ids.push(signal_hook::flag::register(sig, flag.clone())?);
            ids.push(signal_hook::low_level::pipe::register(
                sig,
                write.try_clone()?,
            )?);
            flags.push((sig, flag));
        }
        Ok(Signals { read, flags, ids })
    }

    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Drains the pipe and returns the signals seen since the last call, in registration order.
    pub fn take(&self) -> Vec<libc::c_int> {
        let mut buf = [0u8; 64];
        // SAFETY: reading into a local buffer of the stated size; the fd is non-blocking.
        while unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {
        }
        self.flags
            .iter()
            .filter(|(_, f)| f.swap(false, Ordering::SeqCst))
            .map(|(s, _)| *s)
            .collect()
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timeout_rounds_up_and_saturates() {
        let now = Instant::now();
        assert_eq!(timeout_ms(now, None), -1);
        assert_eq!(timeout_ms(now, Some(now)), 0);
        assert_eq!(timeout_ms(now, Some(now + Duration::from_micros(1))), 1);
        assert_eq!(timeout_ms(now, Some(now + Duration::from_millis(10))), 10);
        assert_eq!(timeout_ms(now + Duration::from_secs(1), Some(now)), 0);
    }

    #[test]
    fn earliest_ignores_none() {
        let now = Instant::now();
        let later = now + Duration::from_secs(1);
        assert_eq!(earliest([None, Some(later), Some(now)]), Some(now));
        assert_eq!(earliest([None, None]), None);
    }

    #[test]
    fn poller_reports_ready_token_and_times_out() {
        let mut p = Poller::new().unwrap();
        let mut fds = [0; 2];
        // SAFETY: test-local pipe.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both fds are owned from here on.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        p.add(r.as_raw_fd(), Interest::Read, 7).unwrap();
        let now = Instant::now();
        assert!(p
            .wait(now, Some(now + Duration::from_millis(20)))
            .unwrap()
            .is_empty());
        // SAFETY: one byte from a static buffer.
        assert_eq!(
            unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) },
            1
        );
        assert_eq!(p.wait(Instant::now(), None).unwrap(), vec![7]);
        p.delete(r.as_raw_fd()).unwrap();
        let now = Instant::now();
        assert!(p.wait(now, Some(now)).unwrap().is_empty());
    }

    fn socket_pair() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: test-local socket pair.
        let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
        assert_eq!(r, 0);
        // SAFETY: both fds are owned from here on.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[test]
    fn readiness_tells_readable_from_writable() {
        let mut p = Poller::new().unwrap();
        let (a, b) = socket_pair();
        p.add(a.as_raw_fd(), Interest::ReadWrite, 9).unwrap();
        let mut got = Vec::new();
        let ready = |readable, writable, error| {
            vec![(
                9,
                Readiness {
                    readable,
                    writable,
                    error,
                },
            )]
        };
        p.wait_into(Instant::now(), None, &mut got).unwrap();
        assert_eq!(got, ready(false, true, false));
        p.modify(a.as_raw_fd(), Interest::Read, 9).unwrap();
        // SAFETY: one byte from a static buffer.
        assert_eq!(
            unsafe { libc::write(b.as_raw_fd(), b"x".as_ptr().cast(), 1) },
            1
        );
        p.wait_into(Instant::now(), None, &mut got).unwrap();
        assert_eq!(got, ready(true, false, false));
        // A hang-up is reported whatever the interest.
        drop(b);
        p.wait_into(Instant::now(), None, &mut got).unwrap();
        assert_eq!(got, ready(true, false, true));
    }

    #[test]
    fn an_edge_interest_reports_changes_only() {
        let mut p = Poller::new().unwrap();
        let (a, b) = socket_pair();
        p.add(a.as_raw_fd(), Interest::ReadWriteEdge, 3).unwrap();
        let mut got = Vec::new();
        let now = Instant::now();
        p.wait_into(now, Some(now), &mut got).unwrap();
        assert_eq!(got.len(), 1);
        // Still writable: nothing new to report.
        p.wait_into(now, Some(now), &mut got).unwrap();
        assert!(got.is_empty(), "{got:?}");
        // A hang-up is a change, reported once without re-arming.
        drop(b);
        p.wait_into(now, Some(now), &mut got).unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].1.error);
        p.wait_into(now, Some(now), &mut got).unwrap();
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn signals_arrive_through_the_pipe() {
        // SIGUSR2 is not one the daemon handles, so this test cannot disturb others in-process.
        let s = Signals::new(&[libc::SIGUSR2]).unwrap();
        let mut p = Poller::new().unwrap();
        p.add(s.fd(), Interest::Read, 1).unwrap();
        // SAFETY: raising a signal that has a handler installed above.
        unsafe { libc::raise(libc::SIGUSR2) };
        let now = Instant::now();
        assert_eq!(
            p.wait(now, Some(now + Duration::from_secs(5))).unwrap(),
            vec![1]
        );
        assert_eq!(s.take(), vec![libc::SIGUSR2]);
        assert!(s.take().is_empty());
    }
}
