//! Stopping gracefully behind a balancer (`--drain-timeout`): on the first SIGINT/SIGTERM the
//! runtime stops accepting (its listeners close, so the balancer's connects and health checks
//! are refused and new calls go to the other instances), the connections already accepted
//! are served until their clients close them, then the daemon stops as before. The wait is
//! bounded by the timeout and cut short by a second signal.
//!
//! The signals are taken with `sigwait` on a thread of their own (they are blocked in every
//! thread), so the main thread can wait for either a signal or the drain's end.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use sipwire::Transport;

/// How often a drain looks at the number of open client connections.
const POLL: Duration = Duration::from_millis(20);

/// The blocked signals, as they arrive.
pub struct Signals {
    rx: Receiver<Result<Signal, Errno>>,
}

impl Signals {
    /// Waits for the signals of `set` (blocked in every thread) on a thread named
    /// `sipwired-signals`.
    pub fn spawn(set: SigSet) -> std::io::Result<Signals> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("sipwired-signals".into())
            .spawn(move || loop {
                let got = set.wait();
                let failed = got.is_err();
                if tx.send(got).is_err() || failed {
                    return;
                }
            })?;
        Ok(Signals { rx })
    }

    /// The next signal (an error if waiting for signals failed).
    pub fn wait(&self) -> Result<Signal, Errno> {
        self.rx.recv().unwrap_or(Err(Errno::EINTR))
    }

    /// The next signal within `timeout`, if one comes.
    fn wait_timeout(&self, timeout: Duration) -> Option<Result<Signal, Errno>> {
        match self.rx.recv_timeout(timeout) {
            Ok(s) => Some(s),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Err(Errno::EINTR)),
        }
    }
}

/// How a drain ended; each carries the client connections still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every accepted connection was closed by its client.
    Empty,
    /// The timeout passed first.
    TimedOut(usize),
    /// Another signal came first (or waiting for signals failed).
    Interrupted(usize),
}

/// Stops accepting, then waits until no accepted TCP connection is open, `timeout` passes, or
/// a signal comes. Connections the relay opened (to next hops) are not waited for: they carry
/// the responses of what is in flight, and close with the runtime.
pub fn drain(transport: &Transport, timeout: Duration, signals: &Signals) -> Drained {
    transport.stop_accepting();
    let deadline = Instant::now() + timeout;
    loop {
        let open = transport.accepted_count();
        if open == 0 {
            return Drained::Empty;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Drained::TimedOut(open);
        }
        if signals.wait_timeout(left.min(POLL)).is_some() {
            return Drained::Interrupted(transport.accepted_count());
        }
    }
}
