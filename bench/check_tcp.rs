//! TCP_CHECK load generator for bench/check-bench.sh (run inside its network namespace).
//!
//! `check_tcp listen PORT`  accepts and closes connections, printing the count every second.
//! `check_tcp run N [NET]`  runs N TCP checks (delay_loop 1 s, spread over the first second)
//!                          against NET.1.x.y:80 (NET 127 by default) in an epoll loop, like
//!                          the daemon.

use keeplite::check::{CheckKind, CheckParams, ConnParams};
use keeplite::sys::check_io::{CheckIo, Checkers, FdChange, Interest, Readiness};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("listen") => listen(args[2].parse().unwrap()),
        Some("run") => run(
            args[2].parse().unwrap(),
            args.get(3).map_or(127, |a| a.parse().unwrap()),
        ),
        // `cargo bench` without arguments: nothing to do, the script drives this binary.
        _ => eprintln!("usage: check_tcp listen PORT | run N [NET] (see bench/check-bench.sh)"),
    }
}

/// Accepts and closes connections as fast as they come (a deep backlog so the SYN bursts of
/// the checker under test are not dropped), printing the running count every second.
fn listen(port: u16) {
    use nix::sys::socket::{
        accept, bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag,
        SockType, SockaddrIn,
    };
    use std::sync::atomic::{AtomicU64, Ordering};
    let s = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    setsockopt(&s, sockopt::ReuseAddr, &true).unwrap();
    bind(s.as_raw_fd(), &SockaddrIn::new(0, 0, 0, 0, port)).unwrap();
    listen(&s, Backlog::MAXCONN).unwrap();
    static N: AtomicU64 = AtomicU64::new(0);
    std::thread::spawn(|| loop {
        std::thread::sleep(Duration::from_secs(1));
        println!("{}", N.load(Ordering::Relaxed));
    });
    loop {
        if let Ok(fd) = accept(s.as_raw_fd()) {
            let _ = nix::unistd::close(fd);
            N.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Real server address number `i`: NET.1.0.1, NET.1.0.2, ... (250 per /24).
fn rs_addr(net: u8, i: usize) -> SocketAddr {
    let ip = Ipv4Addr::new(
        net,
        1 + (i / 250 / 250) as u8,
        (i / 250 % 250) as u8,
        (i % 250 + 1) as u8,
    );
    SocketAddr::from((ip, 80))
}

fn flags(i: Interest) -> EpollFlags {
    EpollFlags::from_bits_truncate(i.bits() as i32)
}

fn run(n: usize, net: u8) {
    let now = Instant::now();
    let mut io = CheckIo::new();
    let mut cs = Checkers::new();
    for i in 0..n {
        cs.add(keeplite::check::Checker::new(
            CheckParams {
                kind: CheckKind::Tcp(ConnParams {
                    connect_ip: Some(rs_addr(net, i).ip()),
                    connect_port: Some(rs_addr(net, i).port()),
                    bind: None,
                    connect_timeout: Duration::from_secs(3),
                }),
                delay_loop: Duration::from_secs(1),
                retry: 1,
                delay_before_retry: Duration::from_secs(1),
                alpha: false,
                initial_delay: Duration::from_secs(1) * i as u32 / n as u32,
            },
            now,
        ));
    }
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).unwrap();
    let mut events = vec![EpollEvent::empty(); 256];
    let mut downs = 0u64;
    loop {
        while let Some(c) = io.poll_fd_change() {
            match c {
                FdChange::Add(fd, i) => ep
                    .add(io.fd(fd).unwrap(), EpollEvent::new(flags(i), fd as u64))
                    .unwrap(),
                FdChange::Modify(fd, i) => ep
                    .modify(
                        io.fd(fd).unwrap(),
                        &mut EpollEvent::new(flags(i), fd as u64),
                    )
                    .unwrap(),
                // Closing the socket removes it from the epoll set.
                FdChange::Remove(_) => {}
            }
        }
        let ms = cs.poll_timeout().map_or(1000, |t| {
            t.saturating_duration_since(Instant::now()).as_millis() as u16 + 1
        });
        let k = ep.wait(&mut events, EpollTimeout::from(ms)).unwrap();
        let now = Instant::now();
        for e in &events[..k] {
            let f = e.events();
            let ready = Readiness {
                readable: f.contains(EpollFlags::EPOLLIN),
                writable: f.contains(EpollFlags::EPOLLOUT),
                error: f.intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP),
            };
            io.handle_ready(&mut cs, e.data() as i32, ready, now);
        }
        io.handle_timeout(&mut cs, now);
        while let Some(o) = cs.poll_output() {
            if matches!(
                o,
                keeplite::sys::check_io::Output::Event(_, keeplite::check::Event::Down(_))
            ) {
                downs += 1;
                eprintln!("down #{downs}: {o:?}");
            }
        }
    }
}
