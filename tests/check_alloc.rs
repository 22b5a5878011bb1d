//! Heap allocations per TCP check in steady state, counted with a counting allocator around
//! the system one, on the checkers' pure path as `sys::check_io` drives it: 1,000 TCP_CHECK
//! checkers in virtual time whose connects are all refused (a down real server is checked
//! every second, for good), each attempt answered the way the driver answers it (Connect,
//! then the refusal on a later readiness, then Close).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use keeplite::check::set::{Checkers, Output};
use keeplite::check::{Action, CheckKind, CheckParams, Checker, ConnParams};

struct Counting;

thread_local! {
    /// This thread's allocations (the test harness's other threads do not count).
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call forwards to the system allocator with the caller's layout unchanged;
// the counter is only a statistic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `alloc` above with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: `p` came from this allocator with layout `l`, as the caller guarantees.
        unsafe { System.realloc(p, l, size) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

const N: usize = 1000;

/// Runs every due checker at `now` as the driver does; returns the checkers left connecting
/// (appended to `connecting`) and the attempts started.
fn run_due(cs: &mut Checkers, now: Instant, connecting: &mut Vec<usize>) -> usize {
    let mut started = 0;
    while let Some(id) = cs.next_due(now) {
        cs.get_mut(id).handle_timeout(now);
        while let Some(a) = cs.get_mut(id).poll_action() {
            match a {
                Action::Connect { .. } => {
                    started += 1;
                    connecting.push(id);
                }
                Action::Report(e) => cs.push_output(Output::Event(id, e)),
                a => panic!("unexpected {a:?}"),
            }
        }
        cs.rearm(id);
    }
    started
}

/// The refusals of the connects in flight come back.
fn refuse(cs: &mut Checkers, now: Instant, connecting: &mut Vec<usize>) {
    for id in connecting.drain(..) {
        cs.get_mut(id).on_connect_failed(now, libc::ECONNREFUSED);
        while let Some(a) = cs.get_mut(id).poll_action() {
            match a {
                Action::Close => {}
                Action::Report(e) => cs.push_output(Output::Event(id, e)),
                a => panic!("unexpected {a:?}"),
            }
        }
        cs.rearm(id);
    }
    while cs.poll_output().is_some() {}
}

#[test]
fn a_refused_tcp_check_allocates_nothing_in_steady_state() {
    let t0 = Instant::now();
    let params = Rc::new(CheckParams {
        kind: CheckKind::Tcp(ConnParams {
            connect_ip: None,
            connect_port: None,
            bind: None,
            connect_timeout: Duration::from_secs(5),
        }),
        delay_loop: Duration::from_secs(1),
        retry: 1,
        delay_before_retry: Duration::from_secs(1),
        alpha: false,
        initial_delay: Duration::ZERO,
    });
    let mut cs = Checkers::new();
    cs.reserve(N);
    for i in 0..N {
        let real = SocketAddr::from(([127, 1, (i / 250) as u8, (i % 250) as u8 + 1], 80));
        let delay = Duration::from_millis((i % 1000) as u64);
        cs.add(Checker::start(params.clone(), real, true, delay, t0));
    }
    let mut connecting = Vec::with_capacity(N);
    let step = Duration::from_millis(10);
    let mut now = t0;
    // Warm-up: the queues and the timer heap grow to their working size, every server goes
    // down (reported once).
    while now < t0 + Duration::from_secs(30) {
        run_due(&mut cs, now, &mut connecting);
        now += step;
        refuse(&mut cs, now, &mut connecting);
    }
    let before = allocs();
    let mut checks = 0;
    while now < t0 + Duration::from_secs(90) {
        checks += run_due(&mut cs, now, &mut connecting);
        now += step;
        refuse(&mut cs, now, &mut connecting);
    }
    let n = allocs() - before;
    eprintln!("{checks} checks, {n} allocations");
    assert!(checks >= 50 * N, "{checks} checks");
    assert_eq!(n, 0, "allocations in {checks} checks");
}
