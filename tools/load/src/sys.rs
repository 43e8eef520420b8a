//! The few operating-system services the tool needs beyond `std`, all through
//! safe APIs: a SIGINT/SIGTERM flag (a signal thread, no handler), CPU time
//! (`getrusage(2)`), the thread's timer slack, a nanosecond wakeup for a
//! [`Poller`] (a `timerfd`), and the poll method the loops use.
//!
//! The timer slack and the `timerfd` are Linux-only: elsewhere the slack is
//! left alone and [`PreciseTimer::new`] fails with `Unsupported`, so open-loop
//! pacing (`--rate`) is refused there with that error.
//!
//! The crate has no `unsafe` code (`#![forbid(unsafe_code)]`): readiness
//! polling is `sipwire-poll`, socket options, the listener and the fd limit
//! are `sipwire_sys`, and the rest is `nix`.

use std::io;
#[cfg(any(target_os = "linux", target_os = "android"))]
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(any(target_os = "linux", target_os = "android"))]
use std::time::Duration;

use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::signal::{SigSet, Signal};
#[cfg(any(target_os = "linux", target_os = "android"))]
use nix::sys::time::TimeSpec;
use nix::sys::time::TimeVal;
#[cfg(any(target_os = "linux", target_os = "android"))]
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use sipwire_poll::{PollMethod, Poller, Token};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// True once SIGINT or SIGTERM arrived (after [`install_signals`]).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Makes the first SIGINT or SIGTERM set the [`interrupted`] flag (a run
/// then stops sending and reports); the same signal a second time kills the
/// process, as with a one-shot (`SA_RESETHAND`) handler.
///
/// Blocks both signals in the calling thread, so call it before starting
/// any other thread (they inherit the mask), and starts a thread that takes
/// them with `sigwait(3)`: no signal handler. Blocked signals are queued
/// even where the process inherited them ignored (a background job of a
/// script), so `kill -INT` works there too. On a repeat the thread unblocks
/// the signal for itself and raises it again, which terminates the process
/// by that signal; if it was inherited ignored, it exits with 128 + signal.
pub fn install_signals() -> io::Result<()> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block().map_err(io::Error::from)?;
    std::thread::Builder::new()
        .name("load-signals".into())
        .spawn(move || {
            let mut seen = Vec::with_capacity(2);
            loop {
                let Ok(sig) = set.wait() else { continue };
                if !seen.contains(&sig) {
                    seen.push(sig);
                    INTERRUPTED.store(true, Ordering::Relaxed);
                    continue;
                }
                let mut one = SigSet::empty();
                one.add(sig);
                let _ = one.thread_unblock();
                let _ = nix::sys::signal::raise(sig);
                std::process::exit(128 + sig as i32);
            }
        })?;
    Ok(())
}

/// User and system CPU time of the whole process so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    /// User-mode seconds.
    pub user_s: f64,
    /// Kernel-mode seconds.
    pub sys_s: f64,
}

impl CpuTimes {
    /// `self - earlier`, clamped at zero.
    pub fn since(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            user_s: (self.user_s - earlier.user_s).max(0.0),
            sys_s: (self.sys_s - earlier.sys_s).max(0.0),
        }
    }
}

/// `getrusage(RUSAGE_SELF)`: CPU used by every thread of this process
/// (client threads and an in-process UAS alike). Zero if the call fails.
pub fn cpu_times() -> CpuTimes {
    let Ok(ru) = getrusage(UsageWho::RUSAGE_SELF) else {
        return CpuTimes::default();
    };
    let secs = |tv: TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
    CpuTimes {
        user_s: secs(ru.user_time()),
        sys_s: secs(ru.system_time()),
    }
}

/// Sets the calling thread's timer slack (default 50 µs) so that open-loop
/// pacing wakes close to the intended send times. Best effort; Linux only
/// (`prctl(PR_SET_TIMERSLACK)`), a no-op elsewhere.
pub fn set_timer_slack(ns: u64) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = nix::sys::prctl::set_timerslack(ns);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = ns;
}

/// The poll method of the tool's loops: level triggered (`epoll_lt` on
/// Linux), the drop-in for code written for `poll(2)` / level-triggered
/// epoll: a fd with unread data or pending writability is reported by every
/// wait.
pub fn poll_method() -> PollMethod {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        PollMethod::EpollLt
    } else {
        // kqueue on the BSDs, poll elsewhere: both level triggered.
        PollMethod::None
    }
}

/// A one-shot `timerfd` (CLOCK_MONOTONIC) registered in a level-triggered
/// [`Poller`]: it ends a wait at a nanosecond-exact deadline, where a
/// poller's own timeout is whole milliseconds (rounded up). Open-loop pacing
/// needs this; a wait for anything else uses the poller's timeout.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[derive(Debug)]
pub struct PreciseTimer {
    fd: TimerFd,
    token: Token,
    /// Deadline the timer is armed for (the caller's clock), if any.
    armed: Option<u64>,
    /// The armed deadline passed: the fd is readable until re-armed or disarmed.
    fired: bool,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl PreciseTimer {
    /// Creates the timer and registers it readable in `poller` under `token`.
    pub fn new(poller: &mut Poller, token: Token) -> io::Result<Self> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        poller.register(
            fd.as_fd().as_raw_fd(),
            token,
            sipwire_poll::Interest::READABLE,
        )?;
        Ok(Self {
            fd,
            token,
            armed: None,
            fired: false,
        })
    }

    /// The token its events carry.
    pub fn token(&self) -> Token {
        self.token
    }

    /// Notes that the poller reported the timer (it stays readable until
    /// the next [`PreciseTimer::prepare`] re-arms or disarms it).
    pub fn on_event(&mut self) {
        self.fired = true;
    }

    /// Before a wait at time `now` (any clock counting ns, the same for
    /// every call): arms the timer for `deadline`, or disarms it for `None`.
    /// A syscall only if that changes something.
    pub fn prepare(&mut self, now: u64, deadline: Option<u64>) -> io::Result<()> {
        let deadline = deadline.filter(|&d| d > now);
        if deadline == self.armed && !self.fired {
            return Ok(());
        }
        match deadline {
            Some(d) => {
                let after = TimeSpec::from_duration(Duration::from_nanos(d - now));
                self.fd
                    .set(Expiration::OneShot(after), TimerSetTimeFlags::empty())
                    .map_err(io::Error::from)?;
            }
            None => {
                // Also clears the readability of a timer that fired.
                self.fd.unset().map_err(io::Error::from)?;
            }
        }
        self.armed = deadline;
        self.fired = false;
        Ok(())
    }
}

/// Off Linux there is no `timerfd`: [`PreciseTimer::new`] fails with
/// `Unsupported`, so open-loop pacing is refused with a clear error.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[derive(Debug)]
pub struct PreciseTimer {
    token: Token,
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
impl PreciseTimer {
    /// Always `Unsupported` on this OS (no `timerfd`).
    pub fn new(_poller: &mut Poller, _token: Token) -> io::Result<Self> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "timerfd (open-loop pacing) is Linux-only",
        ))
    }

    /// The token its events carry.
    pub fn token(&self) -> Token {
        self.token
    }

    /// Nothing to note: never created on this OS.
    pub fn on_event(&mut self) {}

    /// Nothing to arm: never created on this OS.
    pub fn prepare(&mut self, _now: u64, _deadline: Option<u64>) -> io::Result<()> {
        Ok(())
    }
}
