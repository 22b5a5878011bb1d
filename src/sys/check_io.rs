//! Non-blocking socket driver for the health checkers.
//!
//! [`CheckIo`] owns the checkers' TCP and UDP sockets and nothing else: the checkers, their timers and
//! outputs are the caller's ([`Checkers`], pure), lent to every call. The daemon registers the
//! fds it is told about ([`CheckIo::poll_fd_change`]) in its own epoll, calls
//! [`CheckIo::handle_ready`] on readiness and [`CheckIo::handle_timeout`] at
//! [`Checkers::poll_timeout`]. Misc scripts are spawned by the daemon's spawner
//! ([`Output::SpawnMisc`]) which reports the exit back with [`CheckIo::misc_exited`].

use crate::check::misc::MiscExit;
use crate::check::{ping, Action, CheckKind, CheckerMut};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

pub use crate::check::set::{CheckId, Checkers, Output};

pub use super::event::{Interest, Readiness};

/// Keep the daemon's epoll set in step with the checkers' sockets.
#[derive(Debug)]
pub enum FdChange {
    Add(RawFd, Interest),
    /// A new interest.
    Modify(RawFd, Interest),
    /// The socket, still open: it closes when the change is dropped, once the caller has
    /// forgotten it (closing takes it out of an epoll set). Closed earlier, its number could
    /// go to another socket (a control client) that a late removal by number would hit.
    Remove(OwnedFd),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dgram {
    /// A TCP connection, IPv6 or not (which pooled sockets fit, see [`CheckIo::pool`]).
    Tcp {
        v6: bool,
    },
    Udp,
    /// An ICMP ping socket: the kernel picks the echo identifier and delivers only the
    /// replies to it.
    Ping,
    /// A raw ICMP socket (ping sockets not allowed by net.ipv4.ping_group_range): it sees
    /// every echo from the peer, with the IPv4 header in front.
    Raw {
        v4: bool,
    },
}

struct Conn {
    fd: OwnedFd,
    connecting: bool,
    /// UDP_CHECK / PING_CHECK: each readiness is one reply (or the ICMP error).
    dgram: Dgram,
    /// Bytes not sent yet: boxed, as only HTTP checks send and the table holds a `Conn`
    /// per checker (8 B, not 24); a `Box<[u8]>` would be a 16 B fat pointer.
    #[allow(clippy::box_collection)]
    out: Option<Box<Vec<u8>>>,
    interest: Interest,
    /// SSL_GET: the TLS session over `fd` (handshake runs before the checker hears
    /// "connected", so connect_timeout covers it, as in keepalived).
    #[cfg(feature = "tls")]
    tls: Option<Box<rustls::ClientConnection>>,
}

impl Conn {
    #[cfg(feature = "tls")]
    fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    fn wants_write(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(t) = &self.tls {
            return t.wants_write();
        }
        self.out.is_some()
    }
}

/// Frees most of a map keyed by open sockets once it is far below its capacity: all 10,000
/// checks can be in flight at start, a few dozen at a time later.
pub fn shrink_idle<K: Eq + std::hash::Hash, V>(m: &mut HashMap<K, V>) {
    if m.capacity() > 4 * m.len() + 64 {
        m.shrink_to(2 * m.len());
    }
}

/// Disconnected TCP_CHECK sockets kept for the next checks' connects, at most. The pool only
/// grows to the peak number of TCP checks in flight at once; each idle socket costs an fd and
/// ~4 KiB of kernel memory.
const POOL: usize = 256;

/// A disconnected TCP socket, still registered (edge-triggered) in the caller's poll set.
struct Idle {
    fd: OwnedFd,
    v6: bool,
    bind: Option<SocketAddr>,
}

/// Reads per readiness event before yielding back to the loop, so a fast sender cannot
/// starve other work.
const READS_PER_EVENT: usize = 4;
const READ_BUF: usize = 4096;

pub struct CheckIo {
    /// The open socket of each checker, by [`CheckId`].
    conns: Vec<Option<Conn>>,
    by_fd: HashMap<RawFd, CheckId>,
    changes: VecDeque<FdChange>,
    /// TCP_CHECK sockets reset by `connect(AF_UNSPEC)` instead of closed: the next check
    /// connects one again, which saves a socket(2), close(2), SO_LINGER and the epoll_ctl
    /// ADD and DEL per check. Their registrations are edge-triggered
    /// ([`Interest::ReadWriteEdge`]) and stay as they are: an event is the socket's state
    /// when the caller's wait returns it, so one caused by the last connection (its reset)
    /// shows the next one's state, or, idle, is ignored (the socket belongs to no check).
    pool: Vec<Idle>,
    buf: Box<[u8; READ_BUF]>,
    #[cfg(feature = "tls")]
    tls_config: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Default for CheckIo {
    fn default() -> Self {
        Self::new()
    }
}

impl CheckIo {
    pub fn new() -> Self {
        CheckIo {
            conns: Vec::new(),
            by_fd: HashMap::new(),
            changes: VecDeque::new(),
            pool: Vec::new(),
            buf: Box::new([0; READ_BUF]),
            #[cfg(feature = "tls")]
            tls_config: None,
        }
    }

    /// Stops checker `id` (reload, ha_suspend): its socket goes to an [`FdChange::Remove`],
    /// which closes it, and it leaves `cs`. A misc script it started is the caller's to stop.
    pub fn remove(&mut self, cs: &mut Checkers, id: CheckId) {
        if let Some(conn) = self.conns.get_mut(id).and_then(Option::take) {
            self.by_fd.remove(&conn.fd.as_raw_fd());
            self.changes.push_back(FdChange::Remove(conn.fd));
        }
        cs.remove(id);
    }

    /// The socket behind a raw fd from [`FdChange`], for registering it (nix's epoll/poll):
    /// a check's, or an idle one (a connect that finished at once went back to the pool before
    /// its registration was applied).
    pub fn fd(&self, raw: RawFd) -> Option<BorrowedFd<'_>> {
        match self.by_fd.get(&raw) {
            Some(&id) => Some(self.conns[id].as_ref()?.fd.as_fd()),
            None => self
                .pool
                .iter()
                .map(|i| i.fd.as_fd())
                .find(|f| f.as_raw_fd() == raw),
        }
    }

    /// Number of checks with an open socket right now.
    pub fn open_sockets(&self) -> usize {
        self.by_fd.len()
    }

    /// Runs every checker of `cs` whose deadline has come.
    pub fn handle_timeout(&mut self, cs: &mut Checkers, now: Instant) {
        while let Some(id) = cs.next_due(now) {
            cs.get_mut(id).handle_timeout(now);
            self.run_actions(cs, id, now);
        }
    }

    /// Readiness on `fd`, as the poller reported it.
    pub fn handle_ready(&mut self, cs: &mut Checkers, fd: RawFd, ready: Readiness, now: Instant) {
        if let Some(&id) = self.by_fd.get(&fd) {
            self.ready(cs, id, fd, ready, now);
        }
    }

    fn ready(&mut self, cs: &mut Checkers, id: CheckId, fd: RawFd, ready: Readiness, now: Instant) {
        let Some(conn) = self.conns[id].as_mut() else {
            return;
        };
        // An error or hang-up is for the read or write that meets it to report.
        let readable = ready.readable || ready.error;
        let writable = ready.writable || ready.error;
        if conn.connecting {
            if !(readable || writable) {
                return;
            }
            // A failed connect always raises an error condition; a socket polls writable only
            // once established (not in SYN-SENT), even if the peer has already sent or closed:
            // that saves a getsockopt per check.
            if ready.writable && !ready.error {
                conn.connecting = false;
                self.established(cs.get_mut(id), id, now);
            } else {
                let err = socket_error(fd);
                // No error on a pooled socket: the hang-up of its last reset, taken by the
                // caller's wait before this connect started (the daemon runs its timers before
                // the events). What the connect does next is a change the next wait reports.
                if err == 0 && conn.interest.edge() {
                    return;
                }
                conn.connecting = false;
                match err {
                    0 => self.established(cs.get_mut(id), id, now),
                    e => cs.get_mut(id).on_connect_failed(now, e),
                }
            }
            return self.run_actions(cs, id, now);
        }
        if !matches!(conn.dgram, Dgram::Tcp { .. }) {
            let (raw, dgram) = (conn.fd.as_raw_fd(), conn.dgram);
            for _ in 0..READS_PER_EVENT {
                // MSG_TRUNC: the datagram's real length, so length limits see past the buffer.
                let buf = &mut self.buf[..];
                // SAFETY: `buf` is valid for writes of its length.
                let n = retry_eintr(|| unsafe {
                    libc::recv(raw, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_TRUNC)
                });
                let len = match n {
                    Ok(n) => n,
                    Err(libc::EAGAIN) => return,
                    Err(e) => {
                        cs.get_mut(id).on_connect_failed(now, e);
                        return self.run_actions(cs, id, now);
                    }
                };
                let n = len.min(READ_BUF);
                let (msg, len) = match dgram {
                    Dgram::Raw { v4 } => {
                        let ihl = if v4 {
                            usize::from(self.buf[0] & 0xf) * 4
                        } else {
                            0
                        };
                        let msg = &self.buf[ihl.min(n)..n];
                        if ping::classify(!v4, msg, Some(ping::ID)) == ping::Received::Foreign {
                            continue;
                        }
                        (msg, msg.len())
                    }
                    _ => (&self.buf[..n], len),
                };
                cs.get_mut(id).on_datagram(now, msg, len);
                return self.run_actions(cs, id, now);
            }
            return;
        }
        #[cfg(feature = "tls")]
        if conn.is_tls() {
            tls::ready(conn, cs.get_mut(id), &mut self.buf[..], readable, now);
            self.update_interest(id);
            return self.run_actions(cs, id, now);
        }
        if writable && conn.out.is_some() {
            if let Err(e) = flush(conn) {
                cs.get_mut(id).on_io_error(now, e);
                return self.run_actions(cs, id, now);
            }
            self.update_interest(id);
        }
        if readable {
            for _ in 0..READS_PER_EVENT {
                let Some(conn) = self.conns[id].as_ref() else {
                    break;
                };
                let n = read(conn.fd.as_raw_fd(), &mut self.buf[..]);
                let mut checker = cs.get_mut(id);
                match n {
                    Ok(0) => checker.on_eof(now),
                    Ok(n) => checker.on_data(now, &self.buf[..n]),
                    Err(libc::EAGAIN) => break,
                    Err(e) => checker.on_io_error(now, e),
                }
                self.run_actions(cs, id, now);
                if n.map_or(true, |n| n < READ_BUF) {
                    break;
                }
            }
        }
    }

    /// The misc script started for `id` ended.
    pub fn misc_exited(&mut self, cs: &mut Checkers, id: CheckId, exit: MiscExit, now: Instant) {
        cs.get_mut(id).on_misc_exit(now, exit);
        self.run_actions(cs, id, now);
    }

    pub fn poll_fd_change(&mut self) -> Option<FdChange> {
        let c = self.changes.pop_front();
        if c.is_none() {
            // The batch is done: a burst (start, reload) leaves no peak-sized tables behind.
            if self.changes.capacity() > 64 {
                self.changes.shrink_to(64);
            }
            shrink_idle(&mut self.by_fd);
        }
        c
    }

    fn run_actions(&mut self, cs: &mut Checkers, id: CheckId, now: Instant) {
        if self.conns.len() <= id {
            // One entry per slot, exactly (a doubled Vec would waste up to half).
            let n = cs.slots();
            self.conns.reserve_exact(n - self.conns.len());
            self.conns.resize_with(n, || None);
        }
        while let Some(a) = cs.get_mut(id).poll_action() {
            match a {
                Action::Connect { dst, bind, tls } => self.connect(cs, id, dst, bind, tls, now),
                Action::SendDatagram {
                    dst,
                    bind,
                    payload,
                    icmp,
                } => {
                    match datagram_socket(dst, bind, icmp)
                        .and_then(|(fd, d)| send(fd.as_raw_fd(), &payload).map(|_| (fd, d)))
                    {
                        Ok((fd, dgram)) => {
                            let raw = fd.as_raw_fd();
                            self.conns[id] = Some(Conn {
                                fd,
                                connecting: false,
                                dgram,
                                out: None,
                                interest: Interest::Read,
                                #[cfg(feature = "tls")]
                                tls: None,
                            });
                            self.by_fd.insert(raw, id);
                            self.changes.push_back(FdChange::Add(raw, Interest::Read));
                        }
                        Err(e) => cs.get_mut(id).on_connect_failed(now, e),
                    }
                }
                Action::Send(bytes) => {
                    let Some(conn) = self.conns[id].as_mut() else {
                        continue;
                    };
                    #[cfg(feature = "tls")]
                    if let Some(t) = conn.tls.as_mut() {
                        if let Err(e) = tls::write(t, conn.fd.as_raw_fd(), &bytes) {
                            cs.get_mut(id).on_io_error(now, e);
                        }
                        self.update_interest(id);
                        continue;
                    }
                    conn.out = (!bytes.is_empty()).then(|| Box::new(bytes));
                    if let Err(e) = flush(conn) {
                        cs.get_mut(id).on_io_error(now, e);
                    }
                    self.update_interest(id);
                }
                Action::Close | Action::Reset => {
                    if let Some(conn) = self.conns[id].take() {
                        let raw = conn.fd.as_raw_fd();
                        self.by_fd.remove(&raw);
                        if matches!(a, Action::Reset) {
                            let bind = match &cs.get(id).params().kind {
                                CheckKind::Tcp(c) => c.bind,
                                _ => None,
                            };
                            self.reset(conn, bind);
                        } else {
                            self.changes.push_back(FdChange::Remove(conn.fd));
                        }
                    }
                }
                Action::SpawnMisc { path } => cs.push_output(Output::SpawnMisc { id, path }),
                Action::KillMisc { signal } => cs.push_output(Output::KillMisc { id, signal }),
                Action::ReadFile => {
                    let value = match &cs.get(id).params().kind {
                        CheckKind::File(f) => crate::sys::track_file::read_value(&f.path),
                        _ => continue,
                    };
                    cs.get_mut(id).on_file_value(now, value);
                }
                Action::Report(e) => cs.push_output(Output::Event(id, e)),
            }
        }
        cs.rearm(id);
    }

    fn connect(
        &mut self,
        cs: &mut Checkers,
        id: CheckId,
        dst: SocketAddr,
        bind: Option<SocketAddr>,
        tls: bool,
        now: Instant,
    ) {
        #[cfg(not(feature = "tls"))]
        if tls {
            // SSL_GET needs the `tls` feature; config rejects it without.
            return cs.get_mut(id).on_connect_failed(now, libc::EPROTONOSUPPORT);
        }
        #[cfg(feature = "tls")]
        let session = match tls.then(|| tls::session(&mut self.tls_config, dst)) {
            Some(Err(e)) => return cs.get_mut(id).on_connect_failed(now, e),
            Some(Ok(s)) => Some(s),
            None => None,
        };
        // TCP_CHECK sockets only connect: they can go back to the pool (an edge-triggered
        // registration), the others exchange data over a level-triggered one.
        let edge = !tls && matches!(cs.get(id).params().kind, CheckKind::Tcp(_));
        let v6 = dst.is_ipv6();
        let idle = self
            .pool
            .iter()
            .rposition(|i| edge && i.v6 == v6 && i.bind == bind)
            .map(|i| self.pool.swap_remove(i).fd);
        let reused = idle.is_some();
        let started = match idle {
            Some(fd) => match start_connect(fd.as_raw_fd(), dst) {
                Ok(done) => Ok((fd, done)),
                Err(e) => {
                    self.changes.push_back(FdChange::Remove(fd));
                    Err(e)
                }
            },
            None if edge => open_connected(dst, bind, libc::SOCK_STREAM, 0, true),
            None => connect(dst, bind),
        };
        match started {
            Ok((fd, done)) => {
                let raw = fd.as_raw_fd();
                // Connecting: writability (or an error) says it is done.
                let interest = if edge {
                    Interest::ReadWriteEdge
                } else {
                    Interest::ReadWrite
                };
                self.conns[id] = Some(Conn {
                    fd,
                    connecting: !done,
                    dgram: Dgram::Tcp { v6 },
                    out: None,
                    interest,
                    #[cfg(feature = "tls")]
                    tls: session,
                });
                self.by_fd.insert(raw, id);
                if !reused {
                    self.changes.push_back(FdChange::Add(raw, interest));
                }
                if done {
                    self.established(cs.get_mut(id), id, now);
                }
            }
            Err(e) => cs.get_mut(id).on_connect_failed(now, e),
        }
    }

    /// Ends a TCP connection with a reset: a TCP_CHECK socket goes back to the pool when it
    /// has room, others close.
    fn reset(&mut self, conn: Conn, bind: Option<SocketAddr>) {
        let raw = conn.fd.as_raw_fd();
        if conn.interest.edge() && self.pool.len() < POOL && disconnect(raw) {
            let v6 = conn.dgram == Dgram::Tcp { v6: true };
            self.pool.push(Idle {
                fd: conn.fd,
                v6,
                bind,
            });
        } else {
            set_linger_zero(raw);
            self.changes.push_back(FdChange::Remove(conn.fd));
        }
    }

    /// TCP connected: plain checks go on; TLS ones start the handshake first.
    fn established(&mut self, mut checker: CheckerMut<'_>, id: CheckId, now: Instant) {
        #[cfg(feature = "tls")]
        if let Some(conn) = self.conns[id].as_mut().filter(|c| c.is_tls()) {
            let fd = conn.fd.as_raw_fd();
            if let Err(e) = tls::flush(conn.tls.as_mut().expect("tls conn"), fd) {
                checker.on_connect_failed(now, e);
            }
            return self.update_interest(id);
        }
        #[cfg(not(feature = "tls"))]
        let _ = id;
        checker.on_connected(now);
    }

    fn update_interest(&mut self, id: CheckId) {
        let Some(conn) = self.conns[id].as_mut() else {
            return;
        };
        let want = if conn.wants_write() {
            Interest::ReadWrite
        } else {
            Interest::Read
        };
        if want != conn.interest {
            conn.interest = want;
            self.changes
                .push_back(FdChange::Modify(conn.fd.as_raw_fd(), want));
        }
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(ss).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(ss).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// A connected UDP socket, or for ICMP a ping socket, else a raw one (as root).
fn datagram_socket(
    mut dst: SocketAddr,
    mut bind: Option<SocketAddr>,
    icmp: bool,
) -> Result<(OwnedFd, Dgram), i32> {
    if !icmp {
        return open_connected(dst, bind, libc::SOCK_DGRAM, 0, false)
            .map(|(fd, _)| (fd, Dgram::Udp));
    }
    // Ports mean nothing to ICMP (a raw IPv6 socket even takes one for a protocol).
    dst.set_port(0);
    if let Some(b) = bind.as_mut() {
        b.set_port(0);
    }
    let proto = if dst.is_ipv4() {
        libc::IPPROTO_ICMP
    } else {
        libc::IPPROTO_ICMPV6
    };
    match open_connected(dst, bind, libc::SOCK_DGRAM, proto, false) {
        Err(libc::EACCES) | Err(libc::EPERM) => {
            open_connected(dst, bind, libc::SOCK_RAW, proto, false)
                .map(|(fd, _)| (fd, Dgram::Raw { v4: dst.is_ipv4() }))
        }
        r => r.map(|(fd, _)| (fd, Dgram::Ping)),
    }
}

/// Non-blocking TCP connect; returns the socket and whether it is already connected.
pub(crate) fn connect(dst: SocketAddr, bind: Option<SocketAddr>) -> Result<(OwnedFd, bool), i32> {
    open_connected(dst, bind, libc::SOCK_STREAM, 0, false)
}

/// Non-blocking connect of a `SOCK_STREAM`, `SOCK_DGRAM` or `SOCK_RAW` socket of protocol
/// `proto` (0: the default); returns the socket and whether it is already connected.
///
/// `hold_ack` (TCP_CHECK sockets, which only connect) sets `TCP_DEFER_ACCEPT` on the
/// connecting side, which makes the kernel delay the handshake's last ACK
/// (tcp_rcv_synsent_state_process): the connect still completes on the server's SYN-ACK, all
/// a TCP_CHECK learns from it, and the reset that ends the check follows at once. The real
/// server's kernel then drops a half-open request instead of building a connection, queueing
/// it for its application and tearing it down: three packets a check instead of four, and
/// no accept in the real server's application. The option stays set on a pooled socket.
fn open_connected(
    dst: SocketAddr,
    bind: Option<SocketAddr>,
    kind: i32,
    proto: i32,
    hold_ack: bool,
) -> Result<(OwnedFd, bool), i32> {
    let family = if dst.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe {
        libc::socket(
            family,
            kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            proto,
        )
    };
    if raw < 0 {
        return Err(errno());
    }
    // SAFETY: `raw` is a fresh descriptor we own; OwnedFd closes it on every return path.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if let Some(b) = bind {
        let (ss, len) = sockaddr(b);
        // SAFETY: `ss` holds a valid sockaddr of `len` bytes for the duration of the call.
        if unsafe { libc::bind(raw, std::ptr::addr_of!(ss).cast(), len) } < 0 {
            return Err(errno());
        }
    }
    if hold_ack {
        // Best effort: without it the check completes the handshake, as before.
        let _ = super::setsockopt(raw, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, &1);
    }
    start_connect(raw, dst).map(|done| (fd, done))
}

/// Non-blocking connect of `fd` to `dst`; whether it is already connected.
fn start_connect(fd: RawFd, dst: SocketAddr) -> Result<bool, i32> {
    let (ss, len) = sockaddr(dst);
    // SAFETY: `ss` holds a valid sockaddr of `len` bytes for the duration of the call.
    if unsafe { libc::connect(fd, std::ptr::addr_of!(ss).cast(), len) } == 0 {
        return Ok(true);
    }
    match errno() {
        libc::EINPROGRESS => Ok(false),
        e => Err(e),
    }
}

/// Dissolves a TCP connection, keeping the socket for another connect: `connect(AF_UNSPEC)`
/// sends a reset like a close with SO_LINGER 0 and frees the local port. The error it leaves
/// pending (ECONNRESET) is cleared by the next connect (tcp_connect_init).
fn disconnect(fd: RawFd) -> bool {
    let sa = libc::sockaddr {
        sa_family: libc::AF_UNSPEC as libc::sa_family_t,
        sa_data: [0; 14],
    };
    let len = std::mem::size_of::<libc::sockaddr>() as libc::socklen_t;
    // SAFETY: `sa` is a valid sockaddr of `len` bytes for the duration of the call.
    unsafe { libc::connect(fd, &sa, len) == 0 }
}

/// Makes the coming close(2) send a reset instead of a FIN (best effort: a failure only
/// means a normal close).
fn set_linger_zero(fd: RawFd) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = super::setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, &l);
}

/// Pending error of a socket after a non-blocking connect (0 = connected).
pub(crate) fn socket_error(fd: RawFd) -> i32 {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err`/`len` are valid out-pointers of the size SO_ERROR writes.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            std::ptr::addr_of_mut!(err).cast(),
            &mut len,
        )
    };
    if r < 0 {
        errno()
    } else {
        err
    }
}

/// Runs a byte-count syscall, retrying on EINTR; errors come back as errno.
fn retry_eintr(mut call: impl FnMut() -> isize) -> Result<usize, i32> {
    loop {
        let n = call();
        if n >= 0 {
            return Ok(n as usize);
        }
        match errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    retry_eintr(|| unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

fn send(fd: RawFd, buf: &[u8]) -> Result<usize, i32> {
    // SAFETY: `buf` is valid for reads of its length; MSG_NOSIGNAL avoids SIGPIPE.
    retry_eintr(|| unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) })
}

/// Writes as much of `conn.out` as the socket takes.
fn flush(conn: &mut Conn) -> Result<(), i32> {
    while let Some(out) = conn.out.as_mut() {
        match send(conn.fd.as_raw_fd(), out) {
            Ok(n) if n < out.len() => drop(out.drain(..n)),
            Ok(_) => conn.out = None,
            Err(libc::EAGAIN) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// SSL_GET over rustls. Like keepalived without a `ca`, the server certificate is not
/// verified (health checks target self-signed backends); handshake signatures are.
#[cfg(feature = "tls")]
mod tls {
    use super::RawFd;
    use crate::check::CheckerMut;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
    use std::io::{self, Read, Write};
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Instant;

    #[derive(Debug)]
    struct NoCertCheck(Arc<CryptoProvider>);

    impl ServerCertVerifier for NoCertCheck {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            msg: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(msg, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn verify_tls13_signature(
            &self,
            msg: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(msg, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// A client session to `dst`; the shared config is built on first use.
    pub(super) fn session(
        config: &mut Option<Arc<ClientConfig>>,
        dst: SocketAddr,
    ) -> Result<Box<ClientConnection>, i32> {
        let cfg = match config {
            Some(c) => c.clone(),
            None => {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let c = ClientConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(|_| libc::EPROTONOSUPPORT)?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(NoCertCheck(provider)))
                    .with_no_client_auth();
                config.insert(Arc::new(c)).clone()
            }
        };
        // An IP server name sends no SNI, like keepalived without enable_sni.
        let name = ServerName::IpAddress(dst.ip().into());
        ClientConnection::new(cfg, name)
            .map(Box::new)
            .map_err(|_| libc::EPROTO)
    }

    /// rustls's I/O over the raw non-blocking socket.
    struct Fd(RawFd);

    impl Read for Fd {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            super::read(self.0, buf).map_err(io::Error::from_raw_os_error)
        }
    }

    impl Write for Fd {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            super::send(self.0, buf).map_err(io::Error::from_raw_os_error)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn errno_of(e: &io::Error) -> i32 {
        e.raw_os_error().unwrap_or(libc::EPROTO)
    }

    /// Sends pending TLS records until the socket would block.
    pub(super) fn flush(t: &mut ClientConnection, fd: RawFd) -> Result<(), i32> {
        while t.wants_write() {
            match t.write_tls(&mut Fd(fd)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(errno_of(&e)),
            }
        }
        Ok(())
    }

    pub(super) fn write(t: &mut ClientConnection, fd: RawFd, data: &[u8]) -> Result<(), i32> {
        t.writer().write_all(data).map_err(|e| errno_of(&e))?;
        flush(t, fd)
    }

    /// Readiness on a TLS connection: advance the handshake or deliver plaintext.
    pub(super) fn ready(
        conn: &mut super::Conn,
        mut checker: CheckerMut<'_>,
        buf: &mut [u8],
        readable: bool,
        now: Instant,
    ) {
        let fd = super::AsRawFd::as_raw_fd(&conn.fd);
        let Some(t) = conn.tls.as_mut() else {
            return;
        };
        let handshaking = t.is_handshaking();
        let fail = |checker: &mut CheckerMut<'_>, e: i32| {
            if handshaking {
                checker.on_connect_failed(now, e)
            } else {
                checker.on_io_error(now, e)
            }
        };
        let mut eof = false;
        if readable {
            match t.read_tls(&mut Fd(fd)) {
                Ok(0) => eof = true,
                Ok(_) => {
                    if t.process_new_packets().is_err() {
                        // Still send the alert rustls queued.
                        let _ = flush(t, fd);
                        return fail(&mut checker, libc::EPROTO);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return fail(&mut checker, errno_of(&e)),
            }
        }
        if let Err(e) = flush(t, fd) {
            return fail(&mut checker, e);
        }
        if t.is_handshaking() {
            if eof {
                checker.on_connect_failed(now, libc::ECONNRESET);
            }
            return;
        }
        if handshaking {
            checker.on_connected(now);
        }
        loop {
            match t.reader().read(buf) {
                Ok(0) => return checker.on_eof(now),
                Ok(n) => checker.on_data(now, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // Closed without close_notify: the body ends there, as for keepalived.
                Err(_) => return checker.on_eof(now),
            }
        }
        if eof {
            checker.on_eof(now);
        }
    }
}

#[cfg(test)]
mod tests {
    /// The socket table has an entry per checker: 10,000 of them, ~10 KB of RSS per byte.
    #[test]
    fn a_socket_table_entry_stays_small() {
        let n = std::mem::size_of::<Option<super::Conn>>();
        let tls = if cfg!(feature = "tls") { 8 } else { 0 };
        assert!(n <= 16 + tls, "{n} B");
    }
}
