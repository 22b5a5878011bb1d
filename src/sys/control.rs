//! The control socket: a unix stream socket (mode 0600) answered by the event loop without
//! blocking. Connections are read and written non-blockingly, one request at a time: a
//! client's next request is read only once its previous answer is out, so a client that sends
//! without reading costs one bounded buffer, never a growing queue. Clients are bounded in
//! number and dropped when they stall; the listener backs off when descriptors run out.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::event::{Interest, Poller};
use crate::control::{decode, encode, frame_len, Request, Response, MAX_REQUEST};

/// Default `--control` path.
pub const DEFAULT_PATH: &str = "/run/keeplite.sock";
/// Connections served at once; a new one beyond this evicts the stalest.
pub const MAX_CLIENTS: usize = 16;
/// A client that neither completes a request nor takes its answer for this long is dropped
/// (one waiting for a reload in progress is not).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes buffered from one client: room for a few requests.
const MAX_INPUT: usize = 4 * (4 + MAX_REQUEST);
/// The listener pauses this long after `accept` failed (out of descriptors: the connection
/// stays queued, so a level-triggered listener would spin), doubling up to `BACKOFF_MAX`.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// At most one log line per this interval about failing accepts.
pub const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(60);

struct Conn {
    token: u64,
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    /// The peer finished sending, or sent garbage: close once the answers are out.
    eof: bool,
    /// A request went to the daemon and is not answered yet.
    pending: bool,
    /// Dropped when no byte moves by then (unless `pending`).
    deadline: Instant,
    /// What epoll watches for (`None`: not registered, while a request is pending).
    watching: Option<Interest>,
}

impl Conn {
    fn has_request(&self) -> bool {
        frame_len(&self.inbuf).is_some_and(|n| self.inbuf.len() >= 4 + n)
    }

    /// Readiness to wait for: writability while answers are queued (or to come back for a
    /// request already buffered), nothing while the daemon works on one, else input.
    fn wants(&self) -> Option<Interest> {
        if self.pending {
            None
        } else if !self.outbuf.is_empty() || self.has_request() {
            Some(Interest::Write)
        } else {
            Some(Interest::Read)
        }
    }

    /// Moves the connection forward: writes queued answers, then takes the next request
    /// (from the buffer, else from the socket). `Err` means close it.
    fn serve(&mut self, now: Instant) -> io::Result<Option<Request>> {
        if !self.outbuf.is_empty() {
            self.write_out(now)?;
            if !self.outbuf.is_empty() {
                return Ok(None);
            }
        }
        if self.pending {
            return Ok(None);
        }
        if !self.eof && !self.has_request() {
            self.read_in(now)?;
        }
        let req = self.next_request();
        if req.is_none() && self.eof && self.outbuf.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(req)
    }

    /// Reads what fits in the input buffer.
    fn read_in(&mut self, now: Instant) -> io::Result<()> {
        let mut chunk = [0u8; MAX_INPUT];
        while self.inbuf.len() < MAX_INPUT {
            let room = MAX_INPUT - self.inbuf.len();
            match self.stream.read(&mut chunk[..room]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.inbuf.extend_from_slice(&chunk[..n]);
                    self.deadline = now + CLIENT_TIMEOUT;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next buffered request; a malformed or oversized frame queues an error answer and
    /// ends the connection.
    fn next_request(&mut self) -> Option<Request> {
        let err = match frame_len(&self.inbuf) {
            Some(n) if n > MAX_REQUEST => {
                format!("control request of {n} bytes exceeds {MAX_REQUEST}")
            }
            _ => match decode::<Request>(&self.inbuf) {
                Ok(Some((req, used))) => {
                    self.inbuf.drain(..used);
                    self.pending = true;
                    return Some(req);
                }
                Ok(None) => return None,
                Err(msg) => msg,
            },
        };
        self.outbuf.extend(encode(&Response::Error(err)));
        self.inbuf.clear();
        self.eof = true;
        None
    }

    fn write_out(&mut self, now: Instant) -> io::Result<()> {
        while !self.outbuf.is_empty() {
            match self.stream.write(&self.outbuf) {
                Ok(n) => {
                    self.outbuf.drain(..n);
                    self.deadline = now + CLIENT_TIMEOUT;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The daemon side. Owns the epoll tokens `base` (listener) and `base + 1 ..` (connections).
pub struct ControlServer {
    path: PathBuf,
    listener: UnixListener,
    base: u64,
    next: u64,
    conns: Vec<Conn>,
    /// Accepting is paused (listener out of epoll) until then.
    paused_until: Option<Instant>,
    backoff: Duration,
    /// Accept failures since the last log line, and when the next line may go out.
    unlogged: u64,
    next_log: Option<Instant>,
}

/// Binds a unix listener at `path` that only root can reach, at every moment: the socket is
/// made in a fresh 0700 directory beside `path`, set to 0600 there, then renamed into place
/// (replacing a stale socket left by a crash). A plain bind creates the file with the
/// process's umask, reachable by anyone until a later chmod.
fn bind_private(path: &Path) -> io::Result<UnixListener> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if path.file_name().is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file name",
        ));
    }
    let mut name = OsString::from(".kl");
    name.push(std::process::id().to_string());
    let private = dir.join(name);
    let inner = private.join("s");
    // Left over by a crashed process with the same pid.
    let _ = std::fs::remove_file(&inner);
    let _ = std::fs::remove_dir(&private);
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let bound = UnixListener::bind(&inner).and_then(|l| {
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&inner, path)?;
        Ok(l)
    });
    let _ = std::fs::remove_file(&inner);
    let _ = std::fs::remove_dir(&private);
    bound
}

impl ControlServer {
    /// Binds `path` (see [`bind_private`]) and registers with `poller`.
    pub fn bind(path: &Path, poller: &Poller, base: u64) -> io::Result<Self> {
        let listener = bind_private(path)?;
        listener.set_nonblocking(true)?;
        poller.add(listener.as_raw_fd(), Interest::Read, base)?;
        Ok(ControlServer {
            path: path.to_owned(),
            listener,
            base,
            next: base + 1,
            conns: Vec::new(),
            paused_until: None,
            backoff: BACKOFF_MIN,
            unlogged: 0,
            next_log: None,
        })
    }

    /// Whether `token` belongs to this server.
    pub fn owns(&self, token: u64) -> bool {
        token == self.base || self.conns.iter().any(|c| c.token == token)
    }

    /// Handles readiness of `token`: accepts, reads, flushes pending output. Returns the next
    /// complete request of that connection, to [`ControlServer::respond`] to; the connection
    /// reads no further request until then. Errors on one connection close only that
    /// connection; an `Err` is a failing listener, already rate-limited for the log.
    pub fn ready(
        &mut self,
        token: u64,
        poller: &Poller,
        now: Instant,
    ) -> io::Result<Option<(u64, Request)>> {
        if token == self.base {
            return self.accept(poller, now).map(|()| None);
        }
        let Some(i) = self.conns.iter().position(|c| c.token == token) else {
            return Ok(None);
        };
        match self.conns[i].serve(now) {
            Ok(req) => {
                self.watch(i, poller);
                Ok(req.map(|r| (token, r)))
            }
            Err(_) => {
                self.close(i, poller);
                Ok(None)
            }
        }
    }

    fn accept(&mut self, poller: &Poller, now: Instant) -> io::Result<()> {
        for _ in 0..MAX_CLIENTS {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => return self.pause(e, poller, now),
            };
            self.backoff = BACKOFF_MIN;
            if self.conns.len() >= MAX_CLIENTS {
                // The stalest client makes room; if all wait for a reload, the new one goes.
                let stalest = (0..self.conns.len())
                    .filter(|&i| !self.conns[i].pending)
                    .min_by_key(|&i| self.conns[i].deadline);
                match stalest {
                    Some(i) => self.close(i, poller),
                    None => continue,
                }
            }
            stream.set_nonblocking(true)?;
            let token = self.next;
            self.next += 1;
            poller.add(stream.as_raw_fd(), Interest::Read, token)?;
            self.conns.push(Conn {
                token,
                stream,
                inbuf: Vec::new(),
                outbuf: Vec::new(),
                eof: false,
                pending: false,
                deadline: now + CLIENT_TIMEOUT,
                watching: Some(Interest::Read),
            });
        }
        Ok(())
    }

    /// Takes the listener out of epoll for the backoff time; returns the error when a log
    /// line about it is due.
    fn pause(&mut self, e: io::Error, poller: &Poller, now: Instant) -> io::Result<()> {
        let _ = poller.delete(self.listener.as_raw_fd());
        self.paused_until = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        self.unlogged += 1;
        if self.next_log.is_some_and(|t| now < t) {
            return Ok(());
        }
        self.next_log = Some(now + ACCEPT_LOG_EVERY);
        let n = std::mem::take(&mut self.unlogged);
        let more = if n > 1 {
            format!(" ({n} times since the last report)")
        } else {
            String::new()
        };
        Err(io::Error::new(
            e.kind(),
            format!("accept: {e}{more}; new connections wait, retrying with backoff"),
        ))
    }

    /// Queues the answer to a request from connection `conn` and writes what the socket takes.
    pub fn respond(&mut self, conn: u64, resp: &Response, poller: &Poller, now: Instant) {
        let Some(i) = self.conns.iter().position(|c| c.token == conn) else {
            return;
        };
        let c = &mut self.conns[i];
        c.pending = false;
        c.outbuf.extend(encode(resp));
        let done = c.write_out(now).is_err() || (c.eof && c.outbuf.is_empty() && !c.has_request());
        if done {
            self.close(i, poller);
        } else {
            self.watch(i, poller);
        }
    }

    /// When [`ControlServer::handle_timeout`] has work: the listener's pause ends or a
    /// client stalls.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let stalls = self.conns.iter().filter(|c| !c.pending).map(|c| c.deadline);
        stalls.chain(self.paused_until).min()
    }

    /// Resumes accepting after a pause and drops stalled clients.
    pub fn handle_timeout(&mut self, now: Instant, poller: &Poller) -> io::Result<()> {
        while let Some(i) = self
            .conns
            .iter()
            .position(|c| !c.pending && c.deadline <= now)
        {
            self.close(i, poller);
        }
        if self.paused_until.is_some_and(|t| now >= t) {
            self.paused_until = None;
            poller.add(self.listener.as_raw_fd(), Interest::Read, self.base)?;
        }
        Ok(())
    }

    fn watch(&mut self, i: usize, poller: &Poller) {
        let c = &mut self.conns[i];
        let want = c.wants();
        if want == c.watching {
            return;
        }
        let fd = c.stream.as_raw_fd();
        let r = match (c.watching, want) {
            (_, None) => poller.delete(fd),
            (None, Some(w)) => poller.add(fd, w, c.token),
            (Some(_), Some(w)) => poller.modify(fd, w, c.token),
        };
        c.watching = want;
        if r.is_err() {
            self.close(i, poller);
        }
    }

    fn close(&mut self, i: usize, poller: &Poller) {
        let c = self.conns.swap_remove(i);
        if c.watching.is_some() {
            let _ = poller.delete(c.stream.as_raw_fd());
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The client side (`keeplite status`, `keeplite reload`): one blocking request.
pub fn request(path: &Path, req: &Request, timeout: Duration) -> io::Result<Response> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(&encode(req))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((resp, _)) =
            decode::<Response>(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            return Ok(resp);
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::StatusReport;
    use std::os::unix::fs::MetadataExt;

    /// A server on `ctl.sock` in a fresh directory: (directory, socket path, poller, server).
    fn setup(tag: &str) -> (PathBuf, PathBuf, Poller, ControlServer) {
        let dir = std::env::temp_dir().join(format!("kl{}ctl{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl.sock");
        let poller = Poller::new().unwrap();
        let server = ControlServer::bind(&path, &poller, 100).unwrap();
        (dir, path, poller, server)
    }

    fn answer(req: Request, filler: usize) -> Response {
        match req {
            Request::Status => Response::Status(StatusReport {
                pid: 7,
                config: "x".repeat(filler),
                ..Default::default()
            }),
            Request::Reload => Response::Reload {
                errors: vec!["x.conf:3: expected '{'".into()],
            },
        }
    }

    /// Serves until `until` holds, or with `None` until nothing is ready for 100 ms; returns
    /// the requests served.
    fn serve(
        server: &mut ControlServer,
        poller: &mut Poller,
        filler: usize,
        until: Option<&dyn Fn(&ControlServer) -> bool>,
    ) -> usize {
        let mut served = 0;
        let end = Instant::now() + Duration::from_secs(10);
        while !until.is_some_and(|f| f(server)) && Instant::now() < end {
            let now = Instant::now();
            let tokens = poller
                .wait(now, Some(now + Duration::from_millis(100)))
                .unwrap();
            if tokens.is_empty() && until.is_none() {
                break;
            }
            for t in tokens {
                assert!(server.owns(t));
                if let Some((conn, req)) = server.ready(t, poller, now).unwrap() {
                    served += 1;
                    server.respond(conn, &answer(req, filler), poller, now);
                }
            }
        }
        served
    }

    #[test]
    fn requests_are_answered_by_the_loop() {
        let (dir, path, mut poller, mut server) = setup("a");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        // Nothing but the socket is left beside it.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let client_path = path.clone();
        let client = std::thread::spawn(move || {
            let a = request(&client_path, &Request::Status, Duration::from_secs(10)).unwrap();
            let b = request(&client_path, &Request::Reload, Duration::from_secs(10)).unwrap();
            (a, b)
        });
        // A client that connects and sends garbage gets an error and is dropped.
        let mut bad = UnixStream::connect(&path).unwrap();
        bad.write_all(&[2, 0, 0, 0, 0xff, 0xff]).unwrap();
        // A client announcing a frame longer than any request is dropped before it is sent.
        let mut long = UnixStream::connect(&path).unwrap();
        long.write_all(&(MAX_REQUEST as u32 + 1).to_le_bytes())
            .unwrap();
        let done = |s: &ControlServer| client.is_finished() && s.conns.is_empty();
        let served = serve(&mut server, &mut poller, 0, Some(&done));
        let (a, b) = client.join().unwrap();
        assert!(matches!(a, Response::Status(StatusReport { pid: 7, .. })));
        assert_eq!(b, answer(Request::Reload, 0));
        assert_eq!(served, 2);
        for mut c in [bad, long] {
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reply = Vec::new();
            c.read_to_end(&mut reply).unwrap();
            assert!(matches!(decode(&reply), Ok(Some((Response::Error(_), _)))));
        }
        drop(server);
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A client that pipelines requests and never reads: the server answers only as fast as
    /// the client takes answers, keeps its buffers bounded, and drops it once it stalls.
    #[test]
    fn non_reading_client_is_bounded_then_dropped() {
        let (dir, path, mut poller, mut server) = setup("b");
        let mut flood = UnixStream::connect(&path).unwrap();
        flood.set_nonblocking(true).unwrap();
        let req = encode(&Request::Status);
        let mut sent = 0;
        while sent < 10_000 {
            match flood.write(&req) {
                Ok(_) => sent += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        // 64 KiB answers: a few fill the socket, then the server waits for the reader.
        let filler = 64 * 1024;
        let served = serve(&mut server, &mut poller, filler, None);
        assert!(served >= 1 && served < sent, "served {served} of {sent}");
        let c = &server.conns[0];
        assert!(c.inbuf.len() <= MAX_INPUT);
        assert!(c.outbuf.len() <= filler + 64, "{}", c.outbuf.len());
        // Stalled past the timeout: dropped.
        let later = Instant::now() + CLIENT_TIMEOUT;
        assert!(server.poll_timeout().unwrap() <= later);
        server.handle_timeout(later, &poller).unwrap();
        assert!(server.conns.is_empty());
        flood.set_nonblocking(false).unwrap();
        let mut rest = Vec::new();
        let _ = flood.read_to_end(&mut rest); // what was sent, then EOF (or a reset)
        drop(server);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn clients_are_bounded_and_pending_ones_kept() {
        let (dir, path, mut poller, mut server) = setup("c");
        let now = Instant::now();
        // The first asks for a reload the daemon has not answered yet.
        let mut first = UnixStream::connect(&path).unwrap();
        first.write_all(&encode(&Request::Reload)).unwrap();
        let mut conn = None;
        while conn.is_none() {
            for t in poller.wait(now, None).unwrap() {
                conn = conn.or(server.ready(t, &poller, now).unwrap());
            }
        }
        let idle: Vec<UnixStream> = (0..2 * MAX_CLIENTS)
            .map(|_| UnixStream::connect(&path).unwrap())
            .collect();
        while server.conns.len() < MAX_CLIENTS {
            for t in poller.wait(now, None).unwrap() {
                assert!(server.ready(t, &poller, now).unwrap().is_none());
            }
        }
        // Drain the backlog: each newcomer evicts the stalest idle client, never the first.
        serve(&mut server, &mut poller, 0, None);
        assert_eq!(server.conns.len(), MAX_CLIENTS);
        let later = Instant::now() + CLIENT_TIMEOUT;
        server.handle_timeout(later, &poller).unwrap();
        assert_eq!(server.conns.len(), 1);
        let (token, _) = conn.unwrap();
        server.respond(token, &answer(Request::Reload, 0), &poller, later);
        first
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 256];
        let n = first.read(&mut buf).unwrap();
        assert_eq!(decode(&buf[..n]), Ok(Some((answer(Request::Reload, 0), n))));
        drop(idle);
        drop(server);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
