//! [`Poller`]: one readiness API over every backend, chosen at run time.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::{self, Backend};
use crate::waker::WakerFds;
use crate::{Events, Interest, PollError, PollMethod, Token};

/// Waits for readiness on registered fds with the backend chosen by a [`PollMethod`].
///
/// The backend is picked at run time (`tcp_poll_method`) and called through a `match`, so one
/// `Poller` type serves every method. A poller belongs to one thread at a time (it is `Send`,
/// and `wait` takes `&mut self`); other threads reach it through a [`Waker`](crate::Waker).
///
/// | method     | trigger | hang-up / error                                   | fd limit          | cost per wait        |
/// |------------|---------|---------------------------------------------------|-------------------|----------------------|
/// | `epoll_et` | edge    | `EPOLLRDHUP`/`EPOLLHUP` → hup, `EPOLLERR` → error | `RLIMIT_NOFILE`   | O(ready)             |
/// | `epoll_lt` | level   | as `epoll_et`                                     | `RLIMIT_NOFILE`   | O(ready)             |
/// | `poll`     | level   | `POLLRDHUP`/`POLLHUP` → hup, `POLLERR`/`POLLNVAL` → error | `RLIMIT_NOFILE` | O(registered)   |
/// | `select`   | level   | none: close and reset show as readable            | fd < `FD_SETSIZE` | O(highest fd)        |
/// | `kqueue`   | level   | `EV_EOF` → hup (+ error if `fflags`), `EV_ERROR` → error | `RLIMIT_NOFILE` | O(ready)         |
///
/// Read-half hang-up (`*RDHUP`) is asked for only with [`Interest::READABLE`]; `POLLRDHUP` exists
/// on Linux only. With `kqueue`, a fd ready for reading and writing is reported as two events.
///
/// Ownership: the poller does not own the fds registered in it. Deregister a fd before closing
/// it (dropping its socket); a closed but still registered fd is silently dropped by epoll and
/// kqueue, reported as an error (`POLLNVAL`) by `poll`, and makes `select` fail with `EBADF`.
/// Dropping the poller closes its own fds (the epoll/kqueue instance, its wakers' share).
#[derive(Debug)]
pub struct Poller {
    backend: Backend,
    method: PollMethod,
    /// Wakers registered here, drained inside `wait` when their token is reported.
    wakers: Vec<(Token, Arc<WakerFds>)>,
}

impl Poller {
    /// Creates a poller for `method`; `PollMethod::None` picks the best one for this OS.
    ///
    /// Fails with [`PollError::Unsupported`] for a method this build lacks, or
    /// [`PollError::Io`] if the kernel refuses (e.g. no fds left for the epoll instance).
    pub fn new(method: PollMethod) -> Result<Poller, PollError> {
        let method = method.resolve();
        let unsupported = || PollError::Unsupported {
            name: method.name().to_owned(),
        };
        let io_err = |source| PollError::Io { method, source };
        let backend = match method {
            PollMethod::Poll => Backend::Poll(backend::poll::PollBackend::new()),
            PollMethod::Select => Backend::Select(Box::new(backend::select::SelectBackend::new())),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            PollMethod::EpollLt => {
                Backend::Epoll(backend::epoll::EpollBackend::new(false).map_err(io_err)?)
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            PollMethod::EpollEt => {
                Backend::Epoll(backend::epoll::EpollBackend::new(true).map_err(io_err)?)
            }
            #[cfg(bsd)]
            PollMethod::Kqueue => {
                Backend::Kqueue(backend::kqueue::KqueueBackend::new().map_err(io_err)?)
            }
            _ => return Err(unsupported()),
        };
        Ok(Poller {
            backend,
            method,
            wakers: Vec::new(),
        })
    }

    /// The concrete method in use (never `PollMethod::None`).
    pub fn method(&self) -> PollMethod {
        self.method
    }

    /// True for `epoll_et`: each readiness edge is reported once, so the caller must read or
    /// write until `EAGAIN` before waiting again.
    pub fn is_edge_triggered(&self) -> bool {
        self.method.is_edge_triggered()
    }

    /// Starts watching `fd` for `interest`, reporting it under `token`.
    ///
    /// Errors: `AlreadyExists` (`EEXIST`) if `fd` is registered, `EBADF` if it is not open,
    /// `InvalidInput` on `select` if `fd >= FD_SETSIZE`.
    pub fn register(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.backend.register(fd, token, interest)
    }

    /// Replaces token and interest of a registered `fd`; on `epoll_et` this also re-arms it,
    /// so current readiness is reported again. `NotFound` (`ENOENT`) if not registered.
    pub fn reregister(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.backend.reregister(fd, token, interest)
    }

    /// Stops watching `fd`. `NotFound` (`ENOENT`) if not registered.
    pub fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        self.backend.deregister(fd)
    }

    /// Blocks until at least one registered fd is ready or `timeout` passes (`None`: forever),
    /// then fills `events` (cleared first) with at most `events.capacity()` events and returns
    /// how many. `Ok(0)` means the timeout passed, never sooner than asked.
    ///
    /// Signals (`EINTR`) do not end the wait: it is retried with the remaining time. Readiness
    /// beyond the capacity is reported by the next wait (see [`Events`]). Wakers whose token is
    /// reported are drained before returning (see [`Waker`](crate::Waker)).
    pub fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        events.clear();
        // A timeout too large for Instant is as good as forever.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut remaining = timeout;
        loop {
            match self.backend.wait_once(events, remaining) {
                Ok(()) if !events.is_empty() => break,
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => events.clear(),
                Err(e) => return Err(e),
            }
            // Interrupted, or no event: wait again for whatever time is left, if any.
            if let Some(deadline) = deadline {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                remaining = Some(deadline - now);
            }
        }
        if !self.wakers.is_empty() {
            for ev in events.iter() {
                for (token, fds) in &self.wakers {
                    if *token == ev.token() {
                        fds.drain();
                    }
                }
            }
        }
        Ok(events.len())
    }

    /// Remembers a waker's fds so `wait` can drain them.
    pub(crate) fn add_waker(&mut self, token: Token, fds: Arc<WakerFds>) {
        self.wakers.push((token, fds));
    }
}
