//! Readiness polling for sipwire: Kamailio's `tcp_poll_method` backends behind one [`Poller`].
//!
//! The method is chosen at run time by name, as in a kamailio.cfg (`tcp_poll_method = epoll_et`),
//! or `none` for the best one of the OS. Every backend offers the same operations:
//! [`Poller::register`] / [`Poller::reregister`] / [`Poller::deregister`] a raw fd with a
//! [`Token`] and an [`Interest`], and [`Poller::wait`] for [`Event`]s into a reusable [`Events`]
//! buffer. A [`Waker`] lets another thread interrupt a blocked wait.
//!
//! ```
//! use std::os::fd::AsRawFd;
//! use std::os::unix::net::UnixStream;
//! use std::io::Write;
//! use std::time::Duration;
//! use sipwire_poll::{Events, Interest, PollMethod, Poller, Token};
//!
//! let method: PollMethod = "none".parse()?;
//! let mut poller = Poller::new(method)?;
//! let (a, mut b) = UnixStream::pair()?;
//! a.set_nonblocking(true)?;
//! poller.register(a.as_raw_fd(), Token(1), Interest::READABLE)?;
//! b.write_all(b"x")?;
//! let mut events = Events::with_capacity(64);
//! poller.wait(&mut events, Some(Duration::from_secs(5)))?;
//! assert!(events.iter().any(|e| e.token() == Token(1) && e.is_readable()));
//! poller.deregister(a.as_raw_fd())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Semantics per backend
//!
//! | method     | OS          | trigger | hang-up / error reported           | fd limit          | cost per wait  |
//! |------------|-------------|---------|------------------------------------|-------------------|----------------|
//! | `epoll_et` | Linux       | edge    | yes (`EPOLLRDHUP`/`EPOLLHUP`, `EPOLLERR`) | `RLIMIT_NOFILE` | O(ready) |
//! | `epoll_lt` | Linux       | level   | yes (as `epoll_et`)                | `RLIMIT_NOFILE`   | O(ready)       |
//! | `poll`     | all Unix    | level   | yes (`POLLRDHUP` Linux only, `POLLHUP`, `POLLERR`/`POLLNVAL`) | `RLIMIT_NOFILE` | O(registered) |
//! | `select`   | all Unix    | level   | no: close and reset show as readable | fd < `FD_SETSIZE` (1024) | O(highest fd) |
//! | `kqueue`   | BSD, macOS  | level   | yes (`EV_EOF`, `EV_ERROR`)         | `RLIMIT_NOFILE`   | O(ready)       |
//!
//! `none` resolves to `epoll_lt` on Linux (Kamailio's choice), `kqueue` on the BSDs and macOS,
//! `poll` elsewhere.
//! Kamailio's `sigio_rt` and `/dev/poll` are not implemented; naming them is an error.
//!
//! * **Level triggered** (`poll`, `epoll_lt`, `select`, `kqueue`): a ready fd is reported by
//!   every wait until the condition goes away (data read, buffer no longer full).
//! * **Edge triggered** (`epoll_et`): one event per edge, i.e. new data arriving, buffer space
//!   freed, or the interest re-armed with [`Poller::reregister`]. The caller must read (or
//!   write) until `EAGAIN`; a fd with unread data is NOT reported again by the next wait.
//! * **Hang-up** ([`Event::is_hup`]): peer fully closed, or, for fds registered readable, peer
//!   closed its write half (`*RDHUP`). **Error** ([`Event::is_error`]): an error is pending, e.g.
//!   after a reset. `select` reports neither: a peer close (FIN) shows as readable (and writable
//!   if asked) with `read()` returning 0, and a reset (RST) the same way with `read()` failing
//!   with `ECONNRESET`.
//! * **Capacity**: one wait reports at most [`Events::capacity`] events. The rest are not lost:
//!   level-triggered backends report them on the next wait (`poll` and `select` resume scanning
//!   after the last fd reported, so none starves); `epoll_et` keeps them on the kernel's ready
//!   list for the next wait.
//! * **Errors** are the same on every backend: registering a registered fd is `EEXIST`
//!   (`AlreadyExists`), reregistering or deregistering an unknown fd is `ENOENT` (`NotFound`),
//!   a closed fd is `EBADF`. `select` refuses fds `>= FD_SETSIZE` with `InvalidInput`.
//!
//! The conformance suite (`tests/conformance.rs`) runs against every method of
//! [`PollMethod::supported`] on the OS it is built on. The `kqueue` backend is built only on
//! macOS, FreeBSD, NetBSD, OpenBSD and DragonFly BSD, so the suite exercises it only on one of
//! those kernels; its logic (change lists, event translation, level semantics) is written
//! against a fake-able `kevent` interface and unit tested on every OS, Linux included.

#![cfg(unix)]

mod backend;
mod event;
mod method;
mod poller;
mod sys;
mod waker;

pub use event::{Event, Events, Interest, Token};
pub use method::{PollError, PollMethod};
pub use poller::Poller;
pub use waker::{NotifyFd, Waker};
