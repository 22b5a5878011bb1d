//! Work that may take long or hang (parsing a configuration that includes a FIFO, a huge file)
//! done in a forked child, so the event loop keeps its schedule: the child computes, sends the
//! postcard encoding of the result down a pipe and exits; the loop reads the pipe when epoll
//! says it is readable, and kills a child that outlives its deadline.

use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use serde::{de::DeserializeOwned, Serialize};

use super::cvt;
use super::event::{Interest, Poller};

/// Largest result accepted from a child (a parsed configuration is far smaller).
const MAX_RESULT: usize = 64 << 20;

/// A child computing a `T`.
pub struct Worker<T> {
    pid: libc::pid_t,
    pipe: std::fs::File,
    buf: Vec<u8>,
    deadline: Instant,
    limit: Duration,
    /// Reaped (or never to be): nothing left to kill on drop.
    done: bool,
    _result: PhantomData<T>,
}

impl<T: Serialize + DeserializeOwned> Worker<T> {
    /// Forks a child that runs `work` and sends back its result; it is killed if it has not
    /// finished `limit` after `now`. Only for a single-threaded process (the daemon's loop):
    /// the child is a copy of the calling thread alone.
    pub fn spawn(work: impl FnOnce() -> T, limit: Duration, now: Instant) -> io::Result<Self> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 returns.
        cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
        // SAFETY: both fds were just created and are owned only here.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fork in a single-threaded process; the child only computes, writes to the
        // pipe and leaves with _exit, never returning into the caller.
        let pid = cvt(unsafe { libc::fork() })?;
        if pid == 0 {
            drop(read);
            child(work, write);
        }
        drop(write);
        // SAFETY: plain fcntl on our own descriptor.
        cvt(unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) })?;
        Ok(Worker {
            pid,
            pipe: std::fs::File::from(read),
            buf: Vec::new(),
            deadline: now + limit,
            limit,
            done: false,
            _result: PhantomData,
        })
    }

    /// The pipe to watch for readability.
    pub fn fd(&self) -> RawFd {
        self.pipe.as_raw_fd()
    }

    /// When [`Worker::handle_timeout`] must run.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Reads what the child sent; the result once it is complete (`Err`: the child died or
    /// sent something unreadable).
    pub fn ready(&mut self) -> Option<Result<T, String>> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) if self.buf.len() + n > MAX_RESULT => {
                    return Some(self.finish(Err(format!("result over {MAX_RESULT} bytes"))));
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(self.finish(Err(e.to_string()))),
            }
        }
        let result = match postcard::from_bytes::<Result<T, String>>(&self.buf) {
            Ok(r) => r,
            Err(_) if self.buf.is_empty() => Err("the worker died without an answer".into()),
            Err(e) => Err(format!("unreadable answer from the worker: {e}")),
        };
        Some(self.finish(result))
    }

    /// Blocks until the child answers, however long it takes (no deadline: for the startup
    /// load, before the loop has a schedule to keep).
    pub fn wait(mut self) -> Result<T, String> {
        let mut poller = Poller::new().map_err(|e| e.to_string())?;
        poller
            .add(self.fd(), Interest::Read, 0)
            .map_err(|e| e.to_string())?;
        loop {
            poller
                .wait(Instant::now(), None)
                .map_err(|e| e.to_string())?;
            if let Some(r) = self.ready() {
                return r;
            }
        }
    }

    /// Past the deadline: kills the child and reports it.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Result<T, String>> {
        (now >= self.deadline).then(|| {
            self.finish(Err(format!(
                "gave up after {} s: still not done (an include of a FIFO or device?)",
                self.limit.as_secs_f32()
            )))
        })
    }

    fn finish(&mut self, r: Result<T, String>) -> Result<T, String> {
        self.reap();
        r
    }
}

impl<T> Worker<T> {
    /// SIGKILL (a no-op for a child that already exited) then wait: the child never
    /// outlives its answer, and never stays a zombie.
    fn reap(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        // SAFETY: `pid` is our own unreaped child, so the signal cannot reach another
        // process; waitpid on it returns as soon as it is dead.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

impl<T> Drop for Worker<T> {
    fn drop(&mut self) {
        self.reap();
    }
}

/// The child's side: compute, answer, `_exit` (never unwinding into the parent's code, never
/// running destructors that would release what the parent owns, like the control socket).
fn child<T: Serialize>(work: impl FnOnce() -> T, pipe: OwnedFd) -> ! {
    // A service manager stopping the daemon signals its whole group: the child must die of
    // it, not run the parent's handlers.
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1] {
        // SAFETY: resetting a disposition to the default has no preconditions.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
        .map_err(|_| "the worker panicked".to_owned());
    let bytes = postcard::to_stdvec(&result).unwrap_or_default();
    let code = i32::from(std::fs::File::from(pipe).write_all(&bytes).is_err());
    // SAFETY: leaving the child without running the parent's destructors is the point.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T: Serialize + DeserializeOwned>(w: &mut Worker<T>) -> Result<T, String> {
        let mut p = Poller::new().unwrap();
        p.add(w.fd(), Interest::Read, 1).unwrap();
        loop {
            let now = Instant::now();
            let ready = p.wait(now, Some(w.deadline())).unwrap();
            if !ready.is_empty() {
                if let Some(r) = w.ready() {
                    return r;
                }
            } else if let Some(r) = w.handle_timeout(Instant::now()) {
                return r;
            }
        }
    }

    #[test]
    fn result_comes_back_through_the_pipe() {
        let big: Vec<u32> = (0..100_000).collect();
        let expect = big.clone();
        let mut w = Worker::spawn(move || big, Duration::from_secs(30), Instant::now()).unwrap();
        assert_eq!(run(&mut w), Ok(expect));
    }

    #[test]
    fn wait_outlasts_the_deadline() {
        let w = Worker::spawn(
            || {
                std::thread::sleep(Duration::from_millis(300));
                7u8
            },
            Duration::ZERO,
            Instant::now(),
        )
        .unwrap();
        assert_eq!(w.wait(), Ok(7));
    }

    #[test]
    fn a_hung_child_is_killed_at_its_deadline() {
        let start = Instant::now();
        let mut w = Worker::spawn(
            || {
                std::thread::sleep(Duration::from_secs(3600));
                0u8
            },
            Duration::from_millis(200),
            start,
        )
        .unwrap();
        let pid = w.pid;
        let err = run(&mut w).unwrap_err();
        assert!(err.contains("gave up after 0.2 s"), "{err}");
        // Reaped: the pid is no longer our child.
        // SAFETY: querying a pid we own (or owned).
        let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
        assert_eq!(r, -1);
    }

    #[test]
    fn a_panicking_child_reports_it() {
        let mut w = Worker::spawn(
            || -> u8 { panic!("boom") },
            Duration::from_secs(30),
            Instant::now(),
        )
        .unwrap();
        assert_eq!(run(&mut w), Err("the worker panicked".into()));
    }
}
