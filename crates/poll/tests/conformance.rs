#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Conformance suite: every behaviour the runtime relies on, written once as a function of the
//! [`PollMethod`] and instantiated by `conformance!` for each method this OS supports.
//!
//! Real sockets only (unix stream pairs, TCP on 127.0.0.1). Every wait is bounded by a deadline
//! (`PATIENCE` for what must happen, `QUIET` for what must not); no test relies on a sleep.

mod support;

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use sipwire_poll::{Events, Interest, PollMethod, Poller, Token, Waker};
use sipwire_testkit::Deadline;
use support::*;

/// Instantiates each named test body for every method available on this OS, as
/// `<method>::<test>` (e.g. `epoll_et::level_vs_edge`).
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        conformance!(@method poll, PollMethod::Poll, [all()]; $($test),*);
        conformance!(@method select, PollMethod::Select, [all()]; $($test),*);
        conformance!(@method epoll_lt, PollMethod::EpollLt,
            [any(target_os = "linux", target_os = "android")]; $($test),*);
        conformance!(@method epoll_et, PollMethod::EpollEt,
            [any(target_os = "linux", target_os = "android")]; $($test),*);
        conformance!(@method kqueue, PollMethod::Kqueue,
            [bsd]; $($test),*);
        conformance!(@method none, PollMethod::None, [all()]; $($test),*);
    };
    (@method $module:ident, $method:expr, [$cfg:meta]; $($test:ident),*) => {
        #[cfg($cfg)]
        mod $module {
            use super::*;
            $(
                #[test]
                fn $test() {
                    super::$test($method);
                }
            )*
        }
    };
}

conformance!(
    readable_after_peer_writes,
    not_readable_after_drain,
    level_vs_edge,
    reregister_rearms,
    writable_on_fresh_socket,
    readable_and_writable_together,
    hup_on_peer_close,
    error_on_reset,
    deregister_stops_events,
    reregister_switches_interest,
    many_sockets_few_active,
    capacity_limits_but_loses_nothing,
    waker_wakes_blocked_wait,
    waker_coalesces_and_does_not_repeat,
    timeout_returns_no_events,
    eintr_is_retried,
    registration_errors,
);

fn new_poller(method: PollMethod) -> Poller {
    let p = Poller::new(method).unwrap();
    assert_eq!(p.method(), method.resolve());
    assert_ne!(p.method(), PollMethod::None);
    p
}

fn readable(e: &sipwire_poll::Event) -> bool {
    e.is_readable()
}

fn readable_after_peer_writes(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let mut events = Events::with_capacity(16);
    let (a, mut b) = unix_pair();
    poller
        .register(a.as_raw_fd(), Token(7), Interest::READABLE)
        .unwrap();
    assert!(events_within_quiet(&mut poller, &mut events, Token(7)).is_empty());
    b.write_all(b"INVITE").unwrap();
    let ev = wait_event(&mut poller, &mut events, Token(7), "readable", readable);
    assert!(!ev.is_hup() && !ev.is_error(), "{ev:?}");
    poller.deregister(a.as_raw_fd()).unwrap();
}

fn not_readable_after_drain(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let mut events = Events::with_capacity(16);
    let (a, mut b) = unix_pair();
    poller
        .register(a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();
    b.write_all(&[b'x'; 3000]).unwrap();
    wait_event(&mut poller, &mut events, Token(1), "readable", readable);
    assert_eq!(drain(&a), 3000);
    let again = events_within_quiet(&mut poller, &mut events, Token(1));
    assert!(again.is_empty(), "{method}: drained fd reported {again:?}");
    poller.deregister(a.as_raw_fd()).unwrap();
}

/// Level triggered: unread data is reported by every wait. Edge triggered: once per arrival.
fn level_vs_edge(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let mut events = Events::with_capacity(16);
    let (a, mut b) = unix_pair();
    poller
        .register(a.as_raw_fd(), Token(3), Interest::READABLE)
        .unwrap();
    b.write_all(b"1").unwrap();
    wait_event(&mut poller, &mut events, Token(3), "readable", readable);
    // Not drained: the byte is still there.
    let again = events_within_quiet(&mut poller, &mut events, Token(3));
    if poller.is_edge_triggered() {
        assert!(again.is_empty(), "ET reported unread data twice: {again:?}");
        // New data is a new edge, even though the old byte was never read.
        b.write_all(b"2").unwrap();
        wait_event(&mut poller, &mut events, Token(3), "readable", readable);
        let third = events_within_quiet(&mut poller, &mut events, Token(3));
        assert!(
            third.is_empty(),
            "ET reported the second edge twice: {third:?}"
        );
    } else {
        assert!(
            again.iter().any(|e| e.is_readable()),
            "{method}: level-triggered backend did not report unread data again"
        );
    }
    assert!(drain(&a) >= 1);
    assert!(events_within_quiet(&mut poller, &mut events, Token(3)).is_empty());
    poller.deregister(a.as_raw_fd()).unwrap();
}

/// `reregister` re-arms: pending readiness is reported again, on every backend.
fn reregister_rearms(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let mut events = Events::with_capacity(16);
    let (a, mut b) = unix_pair();
    poller
        .register(a.as_raw_fd(), Token(4), Interest::READABLE)
        .unwrap();
    b.write_all(b"x").unwrap();
    wait_event(&mut poller, &mut events, Token(4), "readable", readable);
    poller
        .reregister(a.as_raw_fd(), Token(5), Interest::READABLE)
        .unwrap();
    wait_event(
        &mut poller,
        &mut events,
        Token(5),
        "re-armed readable",
        readable,
    );
    poller.deregister(a.as_raw_fd()).unwrap();
}

fn writable_on_fresh_socket(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let mut events = Events::with_capacity(16);
    let (ours, _peer) = tcp_pair();
    poller
        .register(ours.as_raw_fd(), Token(9), Interest::WRITABLE)
        .unwrap();
    let ev = wait_event(&mut poller, &mut events, Token(9), "writable", |e| {
        e.is_writable()
    });
    assert!(
        !ev.is_readable() && !ev.is_hup() && !ev.is_error(),
        "{ev:?}"
    );
    poller.deregister(ours.as_raw_fd()).unwrap();
}

/// Interest BOTH on a socket with data pending reports both (kqueue: as two events).
fn readable_and_writable_together(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let mut events = Events::with_capacity(16);
    let (a, mut b) = unix_pair();
    b.write_all(b"x").unwrap();
    poller
        .register(
            a.as_raw_fd(),
            Token(2),
            Interest::READABLE | Interest::WRITABLE,
        )
        .unwrap();
    let deadline = Deadline::after(PATIENCE);
    let (mut r, mut w) = (false, false);
    while !(r && w || deadline.passed()) {
        poller.wait(&mut events, Some(PATIENCE)).unwrap();
        for e in events.iter().filter(|e| e.token() == Token(2)) {
            r |= e.is_readable();
            w |= e.is_writable();
        }
    }
    assert!(r && w, "{method}: readable={r} writable={w}");
    poller.deregister(a.as_raw_fd()).unwrap();
}

/// Peer close (FIN): hup on poll/epoll/kqueue; select shows readable and read() returns 0.
fn hup_on_peer_close(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let mut events = Events::with_capacity(16);
    let (mut ours, peer) = tcp_pair();
    poller
        .register(ours.as_raw_fd(), Token(11), Interest::READABLE)
        .unwrap();
    drop(peer);
    if method.reports_hup() {
        let ev = wait_event(&mut poller, &mut events, Token(11), "hup", |e| e.is_hup());
        assert!(ev.is_readable(), "{ev:?}");
    } else {
        wait_event(&mut poller, &mut events, Token(11), "readable", readable);
    }
    assert_eq!(
        ours.read(&mut [0u8; 16]).unwrap(),
        0,
        "read after peer close"
    );
    poller.deregister(ours.as_raw_fd()).unwrap();
}

/// Peer reset (RST, SO_LINGER 0): error or hup where reported; select shows readable only.
/// Everywhere the next read fails with ECONNRESET.
fn error_on_reset(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let mut events = Events::with_capacity(16);
    let (mut ours, peer) = tcp_pair();
    poller
        .register(ours.as_raw_fd(), Token(12), Interest::READABLE)
        .unwrap();
    reset(peer);
    if method.reports_hup() {
        wait_event(&mut poller, &mut events, Token(12), "error or hup", |e| {
            e.is_error() || e.is_hup()
        });
    } else {
        wait_event(&mut poller, &mut events, Token(12), "readable", readable);
    }
    let err = ours.read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    poller.deregister(ours.as_raw_fd()).unwrap();
}

fn deregister_stops_events(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let mut events = Events::with_capacity(16);
    let (a, mut b) = unix_pair();
    poller
        .register(a.as_raw_fd(), Token(1), Interest::BOTH)
        .unwrap();
    b.write_all(b"x").unwrap();
    poller.deregister(a.as_raw_fd()).unwrap();
    poller.wait(&mut events, Some(QUIET)).unwrap();
    assert!(
        events.is_empty(),
        "{method}: events after deregister: {events:?}"
    );
    // The fd can be registered again afterwards.
    poller
        .register(a.as_raw_fd(), Token(2), Interest::READABLE)
        .unwrap();
    wait_event(&mut poller, &mut events, Token(2), "readable", readable);
    poller.deregister(a.as_raw_fd()).unwrap();
}

fn reregister_switches_interest(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let mut events = Events::with_capacity(16);
    let (a, mut b) = unix_pair();
    let fd = a.as_raw_fd();
    poller.register(fd, Token(1), Interest::READABLE).unwrap();
    assert!(events_within_quiet(&mut poller, &mut events, Token(1)).is_empty());
    poller.reregister(fd, Token(1), Interest::WRITABLE).unwrap();
    let ev = wait_event(&mut poller, &mut events, Token(1), "writable", |e| {
        e.is_writable()
    });
    assert!(!ev.is_readable(), "{ev:?}");
    b.write_all(b"x").unwrap();
    poller.reregister(fd, Token(2), Interest::READABLE).unwrap();
    let ev = wait_event(&mut poller, &mut events, Token(2), "readable", readable);
    assert!(!ev.is_writable(), "{ev:?}");
    drain(&a);
    let rest = events_within_quiet(&mut poller, &mut events, Token(2));
    assert!(
        rest.is_empty(),
        "{method}: writable still reported: {rest:?}"
    );
    poller.deregister(fd).unwrap();
}

/// 1,000 registered sockets (both ends of 500 pairs), 10 active: exactly those 10 tokens.
///
/// Runs under the exclusive fd lock, so the process holds only these ~1,000 fds plus a few of
/// the harness: all stay below FD_SETSIZE (1024), which the select variant needs and checks.
fn many_sockets_few_active(method: PollMethod) {
    let _fds = many_fds();
    // 500 pairs = 1,000 sockets, fewer only if the hard fd limit cannot give that many.
    let pairs_possible = (fd_limit().saturating_sub(100) / 2) as usize;
    let pairs_wanted = 500;
    if pairs_possible < pairs_wanted {
        eprintln!(
            "RLIMIT_NOFILE {} allows only {pairs_possible} pairs",
            fd_limit()
        );
    }
    let pairs_n = pairs_wanted.min(pairs_possible);
    assert!(
        pairs_n >= 50,
        "RLIMIT_NOFILE {} too low for this test",
        fd_limit()
    );
    let mut poller = new_poller(method);
    let mut events = Events::with_capacity(64);
    let pairs: Vec<_> = (0..pairs_n).map(|_| unix_pair()).collect();
    for (i, (a, b)) in pairs.iter().enumerate() {
        for (end, fd) in [(0, a.as_raw_fd()), (1, b.as_raw_fd())] {
            if method.resolve() == PollMethod::Select {
                assert!(
                    (fd as usize) < libc::FD_SETSIZE,
                    "fd {fd} >= FD_SETSIZE: too many fds open in the test process"
                );
            }
            poller
                .register(fd, Token(2 * i + end), Interest::READABLE)
                .unwrap();
        }
    }
    // Every 50th pair: write on end b, so end a (token 2i) becomes readable.
    let mut expected = BTreeSet::new();
    for i in (0..pairs_n).step_by(pairs_n / 10).take(10) {
        (&pairs[i].1).write_all(b"!").unwrap();
        expected.insert(2 * i);
    }
    assert_eq!(expected.len(), 10);
    let mut seen = BTreeSet::new();
    let deadline = Deadline::after(PATIENCE);
    while seen != expected && !deadline.passed() {
        poller.wait(&mut events, Some(PATIENCE)).unwrap();
        for e in events.iter() {
            assert!(e.is_readable(), "{e:?}");
            assert!(
                expected.contains(&e.token().0),
                "idle token reported: {e:?}"
            );
            seen.insert(e.token().0);
        }
    }
    assert_eq!(seen, expected);
    for (a, b) in &pairs {
        poller.deregister(a.as_raw_fd()).unwrap();
        poller.deregister(b.as_raw_fd()).unwrap();
    }
}

/// A capacity of 2 with 5 ready fds: at most 2 per wait, and all 5 within 3 waits
/// (level triggered backends rotate; edge triggered keeps the rest on the ready list).
fn capacity_limits_but_loses_nothing(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let mut events = Events::with_capacity(2);
    let pairs: Vec<_> = (0..5).map(|_| unix_pair()).collect();
    for (i, (a, b)) in pairs.iter().enumerate() {
        poller
            .register(a.as_raw_fd(), Token(i), Interest::READABLE)
            .unwrap();
        let mut b = b;
        b.write_all(b"x").unwrap();
    }
    let mut seen = BTreeSet::new();
    for _ in 0..3 {
        let n = poller.wait(&mut events, Some(PATIENCE)).unwrap();
        assert!(n <= 2 && n == events.len(), "n={n}");
        seen.extend(events.iter().map(|e| e.token().0));
    }
    assert_eq!(seen, (0..5).collect::<BTreeSet<_>>(), "{method}");
    for (a, _) in &pairs {
        poller.deregister(a.as_raw_fd()).unwrap();
    }
}

const WAKE: Token = Token(usize::MAX);

/// A thread blocked in `wait(None)` is woken by `Waker::wake` from another thread.
fn waker_wakes_blocked_wait(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let waker = Waker::new(&mut poller, WAKE).unwrap();
    let (_a, _b) = unix_pair();
    poller
        .register(_a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let mut events = Events::with_capacity(8);
        ready_tx.send(()).unwrap();
        let n = poller.wait(&mut events, None);
        done_tx
            .send((n.map_err(|e| e.to_string()), events))
            .unwrap();
        poller
    });
    ready_rx.recv_timeout(PATIENCE).unwrap();
    let remote = waker.clone();
    thread::spawn(move || remote.wake().unwrap())
        .join()
        .unwrap();
    let (n, events) = done_rx
        .recv_timeout(PATIENCE)
        .expect("wait(None) was not woken");
    assert_eq!(n, Ok(1));
    let ev = events.iter().next().unwrap();
    assert_eq!(ev.token(), WAKE);
    assert!(ev.is_readable());
    let mut poller = waiter.join().unwrap();
    poller.deregister(_a.as_raw_fd()).unwrap();
}

/// Several wakes coalesce into one event; the waker fd is drained, so no repeat, and a later
/// wake is reported again.
fn waker_coalesces_and_does_not_repeat(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let mut events = Events::with_capacity(8);
    let waker = Waker::new(&mut poller, WAKE).unwrap();
    for _ in 0..3 {
        waker.wake().unwrap();
    }
    wait_event(&mut poller, &mut events, WAKE, "wake", readable);
    assert_eq!(events.iter().filter(|e| e.token() == WAKE).count(), 1);
    let again = events_within_quiet(&mut poller, &mut events, WAKE);
    assert!(
        again.is_empty(),
        "{method}: waker event repeated: {again:?}"
    );
    waker.wake().unwrap();
    wait_event(&mut poller, &mut events, WAKE, "second wake", readable);
}

fn timeout_returns_no_events(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let mut events = Events::with_capacity(8);
    let (a, _b) = unix_pair();
    poller
        .register(a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();
    let timeout = Duration::from_millis(150);
    let start = Instant::now();
    assert_eq!(poller.wait(&mut events, Some(timeout)).unwrap(), 0);
    let elapsed = start.elapsed();
    assert!(events.is_empty());
    assert!(
        elapsed >= timeout,
        "returned after {elapsed:?} < {timeout:?}"
    );
    assert!(
        elapsed < timeout + Duration::from_secs(2),
        "took {elapsed:?}"
    );
    // A zero timeout polls and returns at once.
    let start = Instant::now();
    assert_eq!(poller.wait(&mut events, Some(Duration::ZERO)).unwrap(), 0);
    assert!(start.elapsed() < Duration::from_secs(2));
    poller.deregister(a.as_raw_fd()).unwrap();
}

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// Installs a counting SIGUSR1 handler without SA_RESTART, so blocked waits see EINTR.
fn install_sigusr1() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sigaction is plain data; zeroed is a valid "no flags, empty mask" start.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = count_signal as *const () as libc::sighandler_t;
        sa.sa_flags = 0;
        // SAFETY: sa_mask is a valid sigset_t inside `sa`.
        unsafe { libc::sigemptyset(&mut sa.sa_mask) };
        // SAFETY: installs an async-signal-safe handler (one atomic add) from a valid struct.
        let rc = unsafe { libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()) };
        assert_eq!(rc, 0);
    });
}

/// Signals delivered to the waiting thread do not end the wait: a timed wait still lasts its
/// full timeout and returns 0, and `wait(None)` keeps blocking until the waker fires.
fn eintr_is_retried(method: PollMethod) {
    use std::os::unix::thread::JoinHandleExt;
    let _fds = few_fds();
    install_sigusr1();
    let mut poller = new_poller(method);
    let waker = Waker::new(&mut poller, WAKE).unwrap();
    let timeout = Duration::from_millis(300);
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let mut events = Events::with_capacity(8);
        let start = Instant::now();
        let timed = poller
            .wait(&mut events, Some(timeout))
            .map_err(|e| e.to_string());
        tx.send((timed, start.elapsed())).unwrap();
        let forever = poller.wait(&mut events, None).map_err(|e| e.to_string());
        let tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
        tx.send((forever.map(|_| tokens.len()), Duration::ZERO))
            .unwrap();
        tokens
    });
    let thread_id = waiter.as_pthread_t();
    let before = SIGNALS.load(Ordering::SeqCst);
    let kick = || {
        // SAFETY: the thread has not been joined yet, so its pthread_t is valid.
        unsafe { libc::pthread_kill(thread_id, libc::SIGUSR1) };
    };
    // Signal the waiter every 10 ms during its timed wait.
    let (timed, elapsed) = loop {
        kick();
        if let Ok(r) = rx.recv_timeout(Duration::from_millis(10)) {
            break r;
        }
    };
    assert_eq!(timed, Ok(0), "{method}: timed wait under signals");
    assert!(
        elapsed >= timeout,
        "{method}: timed wait ended early: {elapsed:?}"
    );
    // Now it is in (or entering) wait(None): signal it a few more times, then wake it.
    for _ in 0..10 {
        kick();
        assert!(
            rx.recv_timeout(Duration::from_millis(10)).is_err(),
            "wait(None) returned"
        );
    }
    waker.wake().unwrap();
    let (forever, _) = rx.recv_timeout(PATIENCE).expect("wait(None) not woken");
    assert_eq!(forever, Ok(1));
    assert_eq!(waiter.join().unwrap(), vec![WAKE]);
    assert!(
        SIGNALS.load(Ordering::SeqCst) > before,
        "no signal was delivered"
    );
}

/// Same errors on every backend: EEXIST, ENOENT, EBADF.
fn registration_errors(method: PollMethod) {
    let _fds = few_fds();
    let mut poller = new_poller(method);
    let (a, _b) = unix_pair();
    let fd = a.as_raw_fd();
    poller.register(fd, Token(1), Interest::READABLE).unwrap();
    let e = poller
        .register(fd, Token(2), Interest::WRITABLE)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
    poller.deregister(fd).unwrap();
    let e = poller.deregister(fd).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    let e = poller
        .reregister(fd, Token(1), Interest::READABLE)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    let e = poller
        .register(-1, Token(1), Interest::READABLE)
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
}

#[test]
fn poller_is_send_and_waker_is_send_sync() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Poller>();
    send_sync::<Waker>();
}
