//! The `select` backend: select(2) over two `fd_set`s kept up to date on every change.
//!
//! Only fds below `FD_SETSIZE` (1024 on Linux, the BSDs and macOS; 256 on NetBSD) fit in an
//! `fd_set`; registering a larger fd is refused with `InvalidInput`, never undefined behaviour.
//! select(2) has no hang-up or error flags: a peer close (FIN) shows as readable (and writable
//! if asked) and `read()` then returns 0; a reset (RST) shows the same way and `read()` then
//! fails with `ECONNRESET`. Each wait copies the sets and scans fds `0..=max_fd`.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::event::{Event, Events, EV_READABLE, EV_WRITABLE};
use crate::sys::{already_registered, check_open, not_registered, MAX_WAIT_SECS};
use crate::{Interest, Token};

/// State of the `select` backend.
pub(crate) struct SelectBackend {
    /// fds registered readable.
    read_set: libc::fd_set,
    /// fds registered writable.
    write_set: libc::fd_set,
    /// fd → registration; grows up to `FD_SETSIZE` entries.
    slots: Vec<Option<Token>>,
    /// Highest registered fd, or -1 when none.
    max_fd: RawFd,
    /// fd where the next scan starts, so a full `Events` does not starve higher fds.
    cursor: usize,
}

impl std::fmt::Debug for SelectBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectBackend")
            .field("max_fd", &self.max_fd)
            .finish_non_exhaustive()
    }
}

/// An empty `fd_set`.
fn empty_set() -> libc::fd_set {
    // SAFETY: fd_set is a plain array of integers, for which all-zero bytes are a valid value.
    let mut set: libc::fd_set = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed fd_set.
    unsafe { libc::FD_ZERO(&mut set) };
    set
}

/// The error for an fd that does not fit in an `fd_set`.
fn too_large(fd: RawFd) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "fd {fd} is not below FD_SETSIZE ({}): the select backend cannot watch it; \
             use tcp_poll_method = poll or epoll_et",
            libc::FD_SETSIZE
        ),
    )
}

impl SelectBackend {
    /// Empty sets.
    pub(crate) fn new() -> SelectBackend {
        SelectBackend {
            read_set: empty_set(),
            write_set: empty_set(),
            slots: Vec::new(),
            max_fd: -1,
            cursor: 0,
        }
    }

    /// Index of a registered fd in `slots`.
    fn slot(&self, fd: RawFd) -> Option<usize> {
        let i = usize::try_from(fd).ok()?;
        match self.slots.get(i) {
            Some(Some(_)) => Some(i),
            _ => None,
        }
    }

    /// Sets the bits of `fd` (below `FD_SETSIZE`, checked by the callers) to `interest`.
    fn set_bits(&mut self, fd: RawFd, interest: Interest) {
        // SAFETY: 0 <= fd < FD_SETSIZE (checked by every caller), so FD_SET/FD_CLR stay
        // inside the fd_sets, which we borrow exclusively.
        unsafe {
            if interest.is_readable() {
                libc::FD_SET(fd, &mut self.read_set);
            } else {
                libc::FD_CLR(fd, &mut self.read_set);
            }
            if interest.is_writable() {
                libc::FD_SET(fd, &mut self.write_set);
            } else {
                libc::FD_CLR(fd, &mut self.write_set);
            }
        }
    }

    /// Adds `fd`; `EEXIST` if present, `InvalidInput` if `fd >= FD_SETSIZE`.
    pub(crate) fn register(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        check_open(fd)?;
        let i = fd as usize;
        if i >= libc::FD_SETSIZE {
            return Err(too_large(fd));
        }
        if self.slot(fd).is_some() {
            return Err(already_registered());
        }
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        self.slots[i] = Some(token);
        self.set_bits(fd, interest);
        self.max_fd = self.max_fd.max(fd);
        Ok(())
    }

    /// Changes token and interest of a registered fd; `ENOENT` if absent.
    pub(crate) fn reregister(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        let i = self.slot(fd).ok_or_else(not_registered)?;
        self.slots[i] = Some(token);
        self.set_bits(fd, interest);
        Ok(())
    }

    /// Removes a registered fd; `ENOENT` if absent. Finding the new `max_fd` scans downwards.
    pub(crate) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let i = self.slot(fd).ok_or_else(not_registered)?;
        self.slots[i] = None;
        // SAFETY: `fd` was registered, so 0 <= fd < FD_SETSIZE; the sets are borrowed
        // exclusively.
        unsafe {
            libc::FD_CLR(fd, &mut self.read_set);
            libc::FD_CLR(fd, &mut self.write_set);
        }
        if fd == self.max_fd {
            self.max_fd = self.slots[..i]
                .iter()
                .rposition(Option::is_some)
                .map_or(-1, |p| p as RawFd);
            self.slots.truncate(i);
        }
        Ok(())
    }

    /// One select(2) call; `EINTR` goes to the caller.
    pub(crate) fn wait_once(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let mut rd = self.read_set;
        let mut wr = self.write_set;
        let mut tv = timeout.map(|d| {
            // Round up to whole microseconds so the wait is never shorter than asked.
            let (mut secs, mut micros) = (d.as_secs(), d.subsec_nanos().div_ceil(1000));
            if micros == 1_000_000 {
                secs += 1;
                micros = 0;
            }
            let secs = secs.min(MAX_WAIT_SECS);
            libc::timeval {
                tv_sec: secs as libc::time_t,
                tv_usec: micros as libc::suseconds_t,
            }
        });
        let tv_ptr = tv
            .as_mut()
            .map_or(std::ptr::null_mut(), |t| t as *mut libc::timeval);
        // SAFETY: `rd`/`wr` are local copies of valid fd_sets and `tv_ptr` is null or points to
        // a local timeval; all outlive the call. nfds = max_fd + 1 <= FD_SETSIZE.
        let n = unsafe {
            libc::select(
                self.max_fd + 1,
                &mut rd,
                &mut wr,
                std::ptr::null_mut(),
                tv_ptr,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // select counts set bits, not fds: an fd both readable and writable counts twice.
        let mut left = n as usize;
        let end = (self.max_fd + 1) as usize;
        if left == 0 || end == 0 {
            return Ok(());
        }
        let start = if self.cursor < end { self.cursor } else { 0 };
        for i in (start..end).chain(0..start) {
            let Some(token) = self.slots[i] else { continue };
            let fd = i as RawFd;
            // SAFETY: 0 <= fd < max_fd + 1 <= FD_SETSIZE, and the sets are valid locals.
            let (r, w) = unsafe { (libc::FD_ISSET(fd, &rd), libc::FD_ISSET(fd, &wr)) };
            if !r && !w {
                continue;
            }
            let mut f = 0;
            if r {
                f |= EV_READABLE;
            }
            if w {
                f |= EV_WRITABLE;
            }
            events.push(Event::new(token, f));
            self.cursor = i + 1;
            left = left.saturating_sub(usize::from(r) + usize::from(w));
            if left == 0 || events.is_full() {
                break;
            }
        }
        Ok(())
    }
}
