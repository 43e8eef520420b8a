//! The kqueue backend's logic, with no system call in it: which change list each
//! register/reregister/deregister hands the kernel, and what [`Event`] each kevent the kernel
//! reports becomes. It is written against [`Kev`] (the fields of `struct kevent` as plain
//! integers) and the [`KeventCalls`] trait (the two ways the backend calls `kevent(2)`), so it
//! compiles on every OS: on the BSDs and macOS the real backend (`super`) implements the trait
//! with libc's `kevent`; on Linux the unit tests (`super::tests`) implement it with a fake
//! kernel that records every change list and reports scripted readiness.
//!
//! Semantics (what the tests hold it to):
//! * Level triggered: filters are added with `EV_ADD | EV_ENABLE` and never `EV_CLEAR`,
//!   `EV_ONESHOT` or `EV_DISPATCH`, so a ready filter is reported by every wait until the
//!   condition goes away, as `poll` and `epoll_lt` do ([`PollMethod::Kqueue`] is not edge
//!   triggered).
//! * One kernel filter per interest: `EVFILT_READ`, `EVFILT_WRITE`. A fd ready for both is two
//!   kevents, reported as two [`Event`]s with the same token (they are not merged).
//! * `register` adds read, then write, in two calls, so that a refused write filter can be
//!   rolled back (read deleted) and the fd stays unregistered; `reregister` is one call: add
//!   (which also updates the token of an existing filter) each wanted filter, delete each
//!   dropped one; `deregister` is one call deleting each registered filter.
//! * `EV_EOF` is hang-up, plus error when `fflags` carries a socket error; `EV_ERROR` is error.
//!   A kevent of any other filter has no readable/writable bit.
//! * Errors as on every backend: `EEXIST` registering a registered fd, `ENOENT` for an unknown
//!   one, `EBADF` for a negative fd; none of these reaches the kernel.
//!
//! [`PollMethod::Kqueue`]: crate::PollMethod::Kqueue

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::event::{Event, Events, EV_ERROR, EV_HUP, EV_READABLE, EV_WRITABLE};
use crate::sys::{already_registered, not_registered, MAX_WAIT_SECS};
use crate::{Interest, Token};

/// The `sys/event.h` numbers the logic uses, as the OS defines them: libc's constants on the
/// BSDs and macOS (where `filter`/`flags` are `i16`/`u16`, `u32` on NetBSD; the casts widen).
#[cfg(bsd)]
#[allow(clippy::unnecessary_cast)]
pub(crate) mod consts {
    /// Readable filter.
    pub(crate) const EVFILT_READ: i32 = libc::EVFILT_READ as i32;
    /// Writable filter.
    pub(crate) const EVFILT_WRITE: i32 = libc::EVFILT_WRITE as i32;
    /// Add (or update) a filter.
    pub(crate) const EV_ADD: u32 = libc::EV_ADD as u32;
    /// Remove a filter.
    pub(crate) const EV_DELETE: u32 = libc::EV_DELETE as u32;
    /// Enable a filter (report it).
    pub(crate) const EV_ENABLE: u32 = libc::EV_ENABLE as u32;
    /// Edge semantics: reset the state after each report.
    #[cfg(test)]
    pub(crate) const EV_CLEAR: u32 = libc::EV_CLEAR as u32;
    /// Report once, then delete.
    #[cfg(test)]
    pub(crate) const EV_ONESHOT: u32 = libc::EV_ONESHOT as u32;
    /// Report once, then disable.
    #[cfg(test)]
    pub(crate) const EV_DISPATCH: u32 = libc::EV_DISPATCH as u32;
    /// End of file / peer hang-up (output).
    pub(crate) const EV_EOF: u32 = libc::EV_EOF as u32;
    /// An error, its errno in `data` (output).
    pub(crate) const EV_ERROR: u32 = libc::EV_ERROR as u32;
}

/// The `sys/event.h` numbers the logic uses: FreeBSD's values, for the unit tests on an OS
/// without kqueue (Linux). Nothing but those tests runs with them.
#[cfg(not(bsd))]
pub(crate) mod consts {
    /// Readable filter.
    pub(crate) const EVFILT_READ: i32 = -1;
    /// Writable filter.
    pub(crate) const EVFILT_WRITE: i32 = -2;
    /// Add (or update) a filter.
    pub(crate) const EV_ADD: u32 = 0x0001;
    /// Remove a filter.
    pub(crate) const EV_DELETE: u32 = 0x0002;
    /// Enable a filter (report it).
    pub(crate) const EV_ENABLE: u32 = 0x0004;
    /// Edge semantics: reset the state after each report.
    pub(crate) const EV_CLEAR: u32 = 0x0020;
    /// Report once, then delete.
    pub(crate) const EV_ONESHOT: u32 = 0x0010;
    /// Report once, then disable.
    pub(crate) const EV_DISPATCH: u32 = 0x0080;
    /// End of file / peer hang-up (output).
    pub(crate) const EV_EOF: u32 = 0x8000;
    /// An error, its errno in `data` (output).
    pub(crate) const EV_ERROR: u32 = 0x4000;
}

use consts::{EVFILT_READ, EVFILT_WRITE, EV_ADD, EV_DELETE, EV_ENABLE, EV_EOF};

/// The fields of one `struct kevent`, as plain integers (the OS's types differ: `filter` is
/// `i16` or `u32`, `udata` a pointer or an integer). `ident` is the fd, `udata` the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Kev {
    /// The fd.
    pub(crate) ident: usize,
    /// `EVFILT_*`.
    pub(crate) filter: i32,
    /// `EV_*`.
    pub(crate) flags: u32,
    /// Filter-specific flags; for a socket with `EV_EOF`, its pending error.
    pub(crate) fflags: u32,
    /// Filter-specific data (bytes readable, room to write, an errno with `EV_ERROR`).
    pub(crate) data: i64,
    /// The token, stored by value (never dereferenced).
    pub(crate) udata: usize,
}

/// The two ways the backend calls `kevent(2)` on its kqueue.
pub(crate) trait KeventCalls {
    /// `kevent(kq, changes, n, NULL, 0, &{0, 0})`: applies a change list, collecting no events
    /// and never blocking. The first refused change's errno is the error; the changes before
    /// it stay applied, the ones after it are not applied.
    fn apply(&mut self, changes: &[Kev]) -> io::Result<()>;

    /// `kevent(kq, NULL, 0, list, max, timeout)`: waits up to `timeout` (`None`: forever) for
    /// at most `max` (at least 1) kevents and hands each to `each`, in the kernel's order.
    /// `EINTR` is returned as an error, not retried.
    fn wait<F: FnMut(Kev)>(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
        each: F,
    ) -> io::Result<()>;
}

/// The `kqueue` backend over any [`KeventCalls`]: the registered interests, the change lists,
/// the event translation.
#[derive(Debug)]
pub(crate) struct Kqueue<K> {
    /// The kernel side.
    calls: K,
    /// Interest of every registered fd: which filters to delete, and the `EEXIST`/`ENOENT`
    /// answers the other backends give.
    registered: HashMap<RawFd, Interest>,
}

/// A change-list entry for `fd` on `filter` (`ident` and `udata` as kevent holds them).
pub(crate) fn change(fd: RawFd, filter: i32, flags: u32, token: Token) -> Kev {
    Kev {
        ident: fd as usize,
        filter,
        flags,
        fflags: 0,
        data: 0,
        udata: token.0,
    }
}

/// The flags that add a filter: level triggered, so no `EV_CLEAR`.
const ADD: u32 = EV_ADD | EV_ENABLE;

impl<K: KeventCalls> Kqueue<K> {
    /// A backend over `calls`, with nothing registered.
    pub(crate) fn with_calls(calls: K) -> Kqueue<K> {
        Kqueue {
            calls,
            registered: HashMap::new(),
        }
    }

    /// The kernel side (tests inspect their fake through it).
    #[cfg(test)]
    pub(crate) fn calls(&mut self) -> &mut K {
        &mut self.calls
    }

    /// Applies a non-empty change list.
    fn apply(&mut self, changes: &[Kev]) -> io::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        self.calls.apply(changes)
    }

    /// `EV_ADD` the filters of `interest`, read first, each in its own call; a refused write
    /// filter deletes the read filter again. `EEXIST` if already registered, `EBADF` if
    /// `fd < 0`.
    pub(crate) fn register(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        if self.registered.contains_key(&fd) {
            return Err(already_registered());
        }
        if interest.is_readable() {
            self.apply(&[change(fd, EVFILT_READ, ADD, token)])?;
        }
        if interest.is_writable() {
            if let Err(e) = self.apply(&[change(fd, EVFILT_WRITE, ADD, token)]) {
                if interest.is_readable() {
                    // Best effort roll-back of the read filter added above.
                    let _ = self.apply(&[change(fd, EVFILT_READ, EV_DELETE, token)]);
                }
                return Err(e);
            }
        }
        self.registered.insert(fd, interest);
        Ok(())
    }

    /// One call: `EV_ADD` each wanted filter (which also updates the token of one already
    /// there), `EV_DELETE` each no longer wanted one. `ENOENT` if not registered. On a refused
    /// change the remembered interest stays the old one.
    pub(crate) fn reregister(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        let old = *self.registered.get(&fd).ok_or_else(not_registered)?;
        let mut changes = [Kev::default(); 2];
        let mut n = 0;
        let filters = [
            (EVFILT_READ, old.is_readable(), interest.is_readable()),
            (EVFILT_WRITE, old.is_writable(), interest.is_writable()),
        ];
        for (filter, had, wants) in filters {
            if wants {
                changes[n] = change(fd, filter, ADD, token);
                n += 1;
            } else if had {
                changes[n] = change(fd, filter, EV_DELETE, token);
                n += 1;
            }
        }
        self.apply(&changes[..n])?;
        self.registered.insert(fd, interest);
        Ok(())
    }

    /// One call deleting the registered filters; `ENOENT` if not registered. The fd is
    /// forgotten even if the kernel refuses (e.g. it was closed, which removed its filters).
    pub(crate) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let old = self.registered.remove(&fd).ok_or_else(not_registered)?;
        let mut changes = [Kev::default(); 2];
        let mut n = 0;
        if old.is_readable() {
            changes[n] = change(fd, EVFILT_READ, EV_DELETE, Token(0));
            n += 1;
        }
        if old.is_writable() {
            changes[n] = change(fd, EVFILT_WRITE, EV_DELETE, Token(0));
            n += 1;
        }
        self.apply(&changes[..n])
    }

    /// One kernel wait for at most the room left in `events`, each kevent becoming one event;
    /// `EINTR` goes to the caller. The timeout is capped at [`MAX_WAIT_SECS`] (the poller
    /// waits again for the rest).
    pub(crate) fn wait_once(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let room = events.capacity().saturating_sub(events.len());
        if room == 0 {
            return Ok(());
        }
        self.calls.wait(room, wait_timeout(timeout), |kev| {
            // The kernel hands at most `room`; a broken one must not overflow the buffer.
            if !events.is_full() {
                events.push(translate(&kev));
            }
        })
    }
}

/// The timeout one kernel wait gets: at most [`MAX_WAIT_SECS`] (nanoseconds kept).
pub(crate) fn wait_timeout(timeout: Option<Duration>) -> Option<Duration> {
    timeout.map(|d| {
        if d.as_secs() >= MAX_WAIT_SECS {
            Duration::new(MAX_WAIT_SECS, d.subsec_nanos())
        } else {
            d
        }
    })
}

/// One reported kevent as an [`Event`]: the filter gives readable or writable, `EV_EOF` hang-up
/// (and error if `fflags` holds a socket error), `EV_ERROR` error; `udata` is the token.
pub(crate) fn translate(kev: &Kev) -> Event {
    let mut f = 0;
    if kev.filter == EVFILT_READ {
        f |= EV_READABLE;
    } else if kev.filter == EVFILT_WRITE {
        f |= EV_WRITABLE;
    }
    if kev.flags & EV_EOF != 0 {
        f |= EV_HUP;
        if kev.fflags != 0 {
            f |= EV_ERROR;
        }
    }
    if kev.flags & consts::EV_ERROR != 0 {
        f |= EV_ERROR;
    }
    Event::new(Token(kev.udata), f)
}
