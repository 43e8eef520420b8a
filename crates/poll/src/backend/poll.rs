//! The `poll` backend: poll(2) over a dense `Vec<pollfd>`.
//!
//! Registration is O(1): an fd-indexed table maps each fd to its slot in the array, and
//! deregistration swaps the last slot into the hole. Each wait hands the whole array to the
//! kernel and scans it for results, so a wait costs O(registered fds).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::event::{Event, Events, EV_ERROR, EV_HUP, EV_READABLE, EV_WRITABLE};
use crate::sys::{already_registered, check_open, not_registered, timeout_ms};
use crate::{Interest, Token};

/// Marks an fd that has no slot in `fds`.
const NO_SLOT: u32 = u32::MAX;

/// Read-half hang-up bit; only Linux has `POLLRDHUP`.
#[cfg(any(target_os = "linux", target_os = "android"))]
const RDHUP: libc::c_short = libc::POLLRDHUP;
/// Read-half hang-up bit; only Linux has `POLLRDHUP`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const RDHUP: libc::c_short = 0;

/// State of the `poll` backend.
#[derive(Debug, Default)]
pub(crate) struct PollBackend {
    /// What poll(2) gets; slot `i` belongs to `tokens[i]`.
    fds: Vec<libc::pollfd>,
    /// Token of each slot.
    tokens: Vec<Token>,
    /// fd → slot in `fds`, or `NO_SLOT`.
    slot_of: Vec<u32>,
    /// Slot where the next scan starts, so a full `Events` does not starve later slots.
    cursor: usize,
}

/// The `events` mask asking for `interest`.
fn mask(interest: Interest) -> libc::c_short {
    let mut m = 0;
    if interest.is_readable() {
        m |= libc::POLLIN | RDHUP;
    }
    if interest.is_writable() {
        m |= libc::POLLOUT;
    }
    m
}

/// Translates `revents` into event flags.
fn flags(revents: libc::c_short) -> u8 {
    let mut f = 0;
    if revents & libc::POLLIN != 0 {
        f |= EV_READABLE;
    }
    if revents & libc::POLLOUT != 0 {
        f |= EV_WRITABLE;
    }
    if revents & (libc::POLLHUP | RDHUP) != 0 {
        f |= EV_HUP;
    }
    if revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
        f |= EV_ERROR;
    }
    f
}

impl PollBackend {
    /// An empty poll set.
    pub(crate) fn new() -> PollBackend {
        PollBackend::default()
    }

    /// The slot of a registered fd.
    fn slot(&self, fd: RawFd) -> Option<usize> {
        let i = usize::try_from(fd).ok()?;
        match self.slot_of.get(i) {
            Some(&s) if s != NO_SLOT => Some(s as usize),
            _ => None,
        }
    }

    /// Adds `fd`; `EEXIST` if present, `EBADF` if not open.
    pub(crate) fn register(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        check_open(fd)?;
        if self.slot(fd).is_some() {
            return Err(already_registered());
        }
        let slot = u32::try_from(self.fds.len())
            .map_err(|_| io::Error::from_raw_os_error(libc::ENOSPC))?;
        // check_open made sure fd >= 0.
        let i = fd as usize;
        if self.slot_of.len() <= i {
            self.slot_of.resize(i + 1, NO_SLOT);
        }
        self.slot_of[i] = slot;
        self.fds.push(libc::pollfd {
            fd,
            events: mask(interest),
            revents: 0,
        });
        self.tokens.push(token);
        Ok(())
    }

    /// Changes token and interest of a registered fd; `ENOENT` if absent.
    pub(crate) fn reregister(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        let s = self.slot(fd).ok_or_else(not_registered)?;
        self.fds[s].events = mask(interest);
        self.fds[s].revents = 0;
        self.tokens[s] = token;
        Ok(())
    }

    /// Removes a registered fd in O(1); `ENOENT` if absent.
    pub(crate) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let s = self.slot(fd).ok_or_else(not_registered)?;
        self.fds.swap_remove(s);
        self.tokens.swap_remove(s);
        self.slot_of[fd as usize] = NO_SLOT;
        if let Some(moved) = self.fds.get(s) {
            // `s` came from a u32 slot, so it fits.
            self.slot_of[moved.fd as usize] = s as u32;
        }
        Ok(())
    }

    /// One poll(2) call; `EINTR` is returned to the caller, which retries.
    pub(crate) fn wait_once(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let nfds = self.fds.len() as libc::nfds_t;
        // SAFETY: `fds` points to `nfds` initialised pollfd structs that we own mutably for the
        // duration of the call; the kernel writes only their `revents` fields.
        let n = unsafe { libc::poll(self.fds.as_mut_ptr(), nfds, timeout_ms(timeout)) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut left = n as usize;
        let len = self.fds.len();
        if left == 0 || len == 0 {
            return Ok(());
        }
        let start = if self.cursor < len { self.cursor } else { 0 };
        for s in (start..len).chain(0..start) {
            let revents = self.fds[s].revents;
            if revents == 0 {
                continue;
            }
            events.push(Event::new(self.tokens[s], flags(revents)));
            self.cursor = s + 1;
            left -= 1;
            if left == 0 || events.is_full() {
                break;
            }
        }
        Ok(())
    }
}
