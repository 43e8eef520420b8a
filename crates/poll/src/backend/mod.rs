//! The backends, one per file, and the enum the [`Poller`](crate::Poller) dispatches on.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::{Events, Interest, Token};

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) mod epoll;
/// Compiled on the BSDs and macOS, and for the unit tests everywhere (its logic runs against
/// a fake kernel there; see `kqueue/mod.rs`).
#[cfg(any(bsd, test))]
pub(crate) mod kqueue;
pub(crate) mod poll;
pub(crate) mod select;

/// One of the backends; a plain enum so calls are a `match`, not a virtual call.
#[derive(Debug)]
pub(crate) enum Backend {
    /// poll(2).
    Poll(poll::PollBackend),
    /// epoll, level or edge triggered.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Epoll(epoll::EpollBackend),
    /// select(2); boxed, its two `fd_set`s are large.
    Select(Box<select::SelectBackend>),
    /// kqueue.
    #[cfg(bsd)]
    Kqueue(kqueue::KqueueBackend),
}

/// Forwards a call to whichever backend is active.
macro_rules! dispatch {
    ($self:expr, $b:ident => $call:expr) => {
        match $self {
            Backend::Poll($b) => $call,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Backend::Epoll($b) => $call,
            Backend::Select($b) => $call,
            #[cfg(bsd)]
            Backend::Kqueue($b) => $call,
        }
    };
}

impl Backend {
    /// See [`Poller::register`](crate::Poller::register).
    pub(crate) fn register(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        dispatch!(self, b => b.register(fd, token, interest))
    }

    /// See [`Poller::reregister`](crate::Poller::reregister).
    pub(crate) fn reregister(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        dispatch!(self, b => b.reregister(fd, token, interest))
    }

    /// See [`Poller::deregister`](crate::Poller::deregister).
    pub(crate) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        dispatch!(self, b => b.deregister(fd))
    }

    /// One kernel wait, appending to `events`; `EINTR` is returned, not retried.
    pub(crate) fn wait_once(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        dispatch!(self, b => b.wait_once(events, timeout))
    }
}
