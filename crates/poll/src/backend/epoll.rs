//! The `epoll_lt` and `epoll_et` backends: Linux epoll(7), level or edge triggered.
//!
//! The kernel keeps the interest list, so register/modify/deregister are one `epoll_ctl` each
//! and a wait costs O(ready fds), not O(registered fds).
//!
//! Edge triggered (`EPOLLET`) means one event per edge: new data arriving (or, for writable,
//! buffer space freed), or the interest being re-armed with `reregister`. A fd whose data the
//! caller did not read to `EAGAIN` is NOT reported again on the next wait; the caller must
//! drain it (or remember it) itself. Ready fds beyond the `Events` capacity stay on the kernel's
//! ready list and are reported by the next wait, so nothing is lost.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::event::{Event, Events, EV_ERROR, EV_HUP, EV_READABLE, EV_WRITABLE};
use crate::sys::{cvt, timeout_ms};
use crate::{Interest, Token};

/// State of an epoll backend.
#[derive(Debug)]
pub(crate) struct EpollBackend {
    /// The epoll instance, closed on drop.
    epfd: OwnedFd,
    /// `EPOLLET` on every registration.
    edge: bool,
    /// Kernel output buffer, as long as the largest `Events` capacity seen.
    buf: Vec<libc::epoll_event>,
}

impl EpollBackend {
    /// A new epoll instance (`EPOLL_CLOEXEC`).
    pub(crate) fn new(edge: bool) -> io::Result<EpollBackend> {
        // SAFETY: epoll_create1 takes no pointers; it returns a new fd or -1.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
        let epfd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EpollBackend {
            epfd,
            edge,
            buf: Vec::new(),
        })
    }

    /// The `events` mask for `interest`; read interest also asks for read-half hang-up.
    fn mask(&self, interest: Interest) -> u32 {
        let mut m = 0;
        if interest.is_readable() {
            m |= (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
        }
        if interest.is_writable() {
            m |= libc::EPOLLOUT as u32;
        }
        if self.edge {
            m |= libc::EPOLLET as u32;
        }
        m
    }

    /// One `epoll_ctl` call.
    fn ctl(&self, op: libc::c_int, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: self.mask(interest),
            u64: token.0 as u64,
        };
        // SAFETY: `ev` is a valid epoll_event on our stack for the duration of the call (DEL
        // ignores it; passing it anyway keeps pre-2.6.9 semantics safe); bad fds give an errno.
        cvt(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    /// `EPOLL_CTL_ADD`; the kernel says `EEXIST` for a registered fd.
    pub(crate) fn register(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    /// `EPOLL_CTL_MOD` (re-arms an edge-triggered fd); `ENOENT` if not registered.
    pub(crate) fn reregister(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    /// `EPOLL_CTL_DEL`; `ENOENT` if not registered.
    pub(crate) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, Token(0), Interest::READABLE)
    }

    /// One `epoll_wait` for at most `events.capacity()` events; `EINTR` goes to the caller.
    pub(crate) fn wait_once(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let cap = events.capacity().min(libc::c_int::MAX as usize);
        if self.buf.len() < cap {
            self.buf
                .resize(cap, libc::epoll_event { events: 0, u64: 0 });
        }
        // SAFETY: `buf` holds at least `cap` epoll_event structs that we own mutably; the kernel
        // writes at most `cap` of them.
        let n = cvt(unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                self.buf.as_mut_ptr(),
                cap as libc::c_int,
                timeout_ms(timeout),
            )
        })?;
        for ev in &self.buf[..n as usize] {
            // Copy out of the (packed on x86_64) struct before use.
            let bits = ev.events;
            let data = ev.u64;
            events.push(Event::new(Token(data as usize), flags(bits)));
        }
        Ok(())
    }
}

/// Translates epoll's `events` bits into event flags.
fn flags(bits: u32) -> u8 {
    let mut f = 0;
    if bits & libc::EPOLLIN as u32 != 0 {
        f |= EV_READABLE;
    }
    if bits & libc::EPOLLOUT as u32 != 0 {
        f |= EV_WRITABLE;
    }
    if bits & (libc::EPOLLHUP | libc::EPOLLRDHUP) as u32 != 0 {
        f |= EV_HUP;
    }
    if bits & libc::EPOLLERR as u32 != 0 {
        f |= EV_ERROR;
    }
    f
}
