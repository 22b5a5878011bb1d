//! The control socket: a unix stream socket (mode 0600) answered by the event loop without
//! blocking. Connections are read and written non-blockingly; each complete request is handed
//! to the daemon's handler and its response queued.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::event::{Interest, Poller};
use crate::control::{decode, encode, Request, Response};

/// Default `--control` path.
pub const DEFAULT_PATH: &str = "/run/keeplite.sock";

struct Conn {
    token: u64,
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    /// The peer finished sending: close once the answers are out.
    eof: bool,
}

/// The daemon side. Owns the epoll tokens `base` (listener) and `base + 1 ..` (connections).
pub struct ControlServer {
    path: PathBuf,
    listener: UnixListener,
    base: u64,
    next: u64,
    conns: Vec<Conn>,
}

impl ControlServer {
    /// Binds `path` (replacing a stale socket left by a crash) and registers with `poller`.
    pub fn bind(path: &Path, poller: &Poller, base: u64) -> io::Result<Self> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        poller.add(listener.as_raw_fd(), Interest::Read, base)?;
        Ok(ControlServer {
            path: path.to_owned(),
            listener,
            base,
            next: base + 1,
            conns: Vec::new(),
        })
    }

    /// Whether `token` belongs to this server.
    pub fn owns(&self, token: u64) -> bool {
        token == self.base || self.conns.iter().any(|c| c.token == token)
    }

    /// Handles readiness of `token`: accepts, reads, flushes pending output. Returns the
    /// complete requests received, each with the connection to [`ControlServer::respond`] to.
    /// Errors on one connection close only that connection.
    pub fn ready(&mut self, token: u64, poller: &Poller) -> io::Result<Vec<(u64, Request)>> {
        if token == self.base {
            loop {
                match self.listener.accept() {
                    Ok((stream, _)) => {
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
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                }
            }
        }
        let Some(i) = self.conns.iter().position(|c| c.token == token) else {
            return Ok(Vec::new());
        };
        let reqs = match read_requests(&mut self.conns[i]) {
            Ok(r) => r,
            Err(_) => {
                self.close(i, poller);
                return Ok(Vec::new());
            }
        };
        self.flush(token, poller);
        Ok(reqs.into_iter().map(|r| (token, r)).collect())
    }

    /// Queues the answer to a request from connection `conn` and writes what the socket takes.
    pub fn respond(&mut self, conn: u64, resp: &Response, poller: &Poller) {
        if let Some(c) = self.conns.iter_mut().find(|c| c.token == conn) {
            c.outbuf.extend(encode(resp));
            self.flush(conn, poller);
        }
    }

    fn flush(&mut self, token: u64, poller: &Poller) {
        let Some(i) = self.conns.iter().position(|c| c.token == token) else {
            return;
        };
        let c = &mut self.conns[i];
        let done = write_out(c).and_then(|()| {
            if c.outbuf.is_empty() {
                if c.eof {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                poller.modify(c.stream.as_raw_fd(), Interest::Read, c.token)
            } else {
                // A slow reader: wait for room instead of blocking the loop.
                poller.modify(c.stream.as_raw_fd(), Interest::ReadWrite, c.token)
            }
        });
        if done.is_err() {
            self.close(i, poller);
        }
    }

    fn close(&mut self, i: usize, poller: &Poller) {
        let c = self.conns.swap_remove(i);
        let _ = poller.delete(c.stream.as_raw_fd());
    }
}

/// Reads what is available; a malformed frame queues an error answer and ends the connection.
fn read_requests(c: &mut Conn) -> io::Result<Vec<Request>> {
    let mut chunk = [0u8; 4096];
    loop {
        match c.stream.read(&mut chunk) {
            Ok(0) => {
                c.eof = true;
                break;
            }
            Ok(n) => c.inbuf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    let mut reqs = Vec::new();
    loop {
        match decode::<Request>(&c.inbuf) {
            Ok(Some((req, used))) => {
                c.inbuf.drain(..used);
                reqs.push(req);
            }
            Ok(None) => break,
            Err(msg) => {
                c.outbuf.extend(encode(&Response::Error(msg)));
                c.inbuf.clear();
                c.eof = true;
                break;
            }
        }
    }
    Ok(reqs)
}

fn write_out(c: &mut Conn) -> io::Result<()> {
    while !c.outbuf.is_empty() {
        match c.stream.write(&c.outbuf) {
            Ok(n) => {
                c.outbuf.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
    use std::time::Instant;

    #[test]
    fn requests_are_answered_by_the_loop() {
        let dir = std::env::temp_dir().join(format!("kl{}ctl", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl.sock");
        let mut poller = Poller::new().unwrap();
        let mut server = ControlServer::bind(&path, &poller, 100).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let client_path = path.clone();
        let client = std::thread::spawn(move || {
            let a = request(&client_path, &Request::Status, Duration::from_secs(10)).unwrap();
            let b = request(&client_path, &Request::Reload, Duration::from_secs(10)).unwrap();
            (a, b)
        });
        // A client that connects and sends garbage gets an error and is dropped.
        let mut bad = UnixStream::connect(&path).unwrap();
        bad.write_all(&[2, 0, 0, 0, 0xff, 0xff]).unwrap();
        let mut served = 0;
        let end = Instant::now() + Duration::from_secs(10);
        // Until both clients are done: the garbage one is closed by the server.
        while !(client.is_finished() && server.conns.is_empty()) && Instant::now() < end {
            let now = Instant::now();
            for t in poller
                .wait(now, Some(now + Duration::from_millis(100)))
                .unwrap()
            {
                assert!(server.owns(t));
                for (conn, req) in server.ready(t, &poller).unwrap() {
                    served += 1;
                    let resp = match req {
                        Request::Status => Response::Status(StatusReport {
                            pid: 7,
                            ..Default::default()
                        }),
                        Request::Reload => Response::Reload {
                            errors: vec!["x.conf:3: expected '{'".into()],
                        },
                    };
                    server.respond(conn, &resp, &poller);
                }
            }
        }
        let (a, b) = client.join().unwrap();
        assert!(matches!(a, Response::Status(StatusReport { pid: 7, .. })));
        assert_eq!(
            b,
            Response::Reload {
                errors: vec!["x.conf:3: expected '{'".into()]
            }
        );
        assert_eq!(served, 2);
        bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut reply = Vec::new();
        bad.read_to_end(&mut reply).unwrap();
        assert!(matches!(decode(&reply), Ok(Some((Response::Error(_), _)))));
        drop(server);
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
