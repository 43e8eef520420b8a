//! Helpers of sipwire-poll's real-socket tests only: socket pairs, a lock that keeps fd-hungry
//! tests apart, and waiting for a poller event with a deadline. The fd limit and the
//! deadline come from `sipwire-testkit`.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use sipwire_poll::{Event, Events, Poller, Token};
pub use sipwire_testkit::fd_limit;
use sipwire_testkit::Deadline;

/// How long a test waits for something that should happen (generous: loaded 2-core CI).
pub const PATIENCE: Duration = sipwire_testkit::WAIT;
/// How long a test watches for something that should NOT happen.
pub const QUIET: Duration = Duration::from_millis(100);

/// Tests run on parallel threads of one process and share its fd table. Tests that need many
/// fds, fixed fd numbers (dup2) or low fd numbers (select with ~1000 sockets) take this lock
/// exclusively; every other test takes it shared. So a `select` test never sees fds pushed
/// above FD_SETSIZE by a neighbour, and dup2 never replaces a neighbour's fd.
static FD_LOCK: RwLock<()> = RwLock::new(());

/// Shared access: the test uses a handful of fds.
pub fn few_fds() -> RwLockReadGuard<'static, ()> {
    fd_limit();
    FD_LOCK.read().unwrap_or_else(|e| e.into_inner())
}

/// Exclusive access: no other test holds fds meanwhile.
pub fn many_fds() -> RwLockWriteGuard<'static, ()> {
    fd_limit();
    FD_LOCK.write().unwrap_or_else(|e| e.into_inner())
}

/// A connected, non-blocking unix stream pair.
pub fn unix_pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// A connected TCP pair on 127.0.0.1: (our non-blocking side, the peer).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().unwrap();
    ours.set_nonblocking(true).unwrap();
    (ours, peer)
}

/// Makes `close(peer)` send a RST instead of a FIN (SO_LINGER on, 0 s), then closes it.
pub fn reset(peer: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `size_of::<linger>()` bytes from the valid local struct.
    let rc = unsafe {
        libc::setsockopt(
            peer.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", io::Error::last_os_error());
    drop(peer);
}

/// Reads a non-blocking stream until `EAGAIN`; returns the byte count (panics on EOF/errors).
pub fn drain(mut s: impl Read) -> usize {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => panic!("unexpected end of stream while draining"),
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("drain: {e}"),
        }
    }
}

/// Waits (until `PATIENCE` passes) for an event on `token` satisfying `pred`; panics with
/// everything seen otherwise.
pub fn wait_event(
    poller: &mut Poller,
    events: &mut Events,
    token: Token,
    what: &str,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    let deadline = Deadline::after(PATIENCE);
    let mut seen = Vec::new();
    loop {
        let left = deadline.left();
        if left.is_zero() {
            panic!(
                "{}: no {what} event for {token:?} within {PATIENCE:?}; saw {seen:?}",
                poller.method()
            );
        }
        poller.wait(events, Some(left)).unwrap();
        for ev in events.iter() {
            if ev.token() == token && pred(ev) {
                return *ev;
            }
            if seen.len() < 32 {
                seen.push(*ev);
            }
        }
    }
}

/// Events reported for `token` by one wait of at most `QUIET`.
pub fn events_within_quiet(poller: &mut Poller, events: &mut Events, token: Token) -> Vec<Event> {
    poller.wait(events, Some(QUIET)).unwrap();
    events
        .iter()
        .filter(|e| e.token() == token)
        .copied()
        .collect()
}
