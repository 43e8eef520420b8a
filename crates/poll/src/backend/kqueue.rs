//! The `kqueue` backend: BSD/macOS kqueue(2), level triggered.
//!
//! Compiled and tested only on macOS, FreeBSD, NetBSD, OpenBSD and DragonFly (it is not built
//! on Linux). Each interest is its own kernel filter: `EVFILT_READ` and `EVFILT_WRITE`, added
//! with `EV_ADD` and removed with `EV_DELETE`. A fd ready for both is therefore reported as two
//! events with the same token, one readable and one writable. `EV_EOF` maps to hang-up (plus
//! error when the kernel passes a socket error in `fflags`), `EV_ERROR` to error. The backend
//! remembers each fd's interest so it knows which filters to delete, and so that registering
//! twice / deregistering an unknown fd fail exactly as on the other backends.

// kevent's `filter`/`flags` and the EV_*/EVFILT_* constants are i16/u16 on most BSDs and u32 on
// NetBSD; the code casts through i32/u32 so one text fits all, which is a no-op cast on NetBSD.
#![allow(clippy::unnecessary_cast)]

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::event::{Event, Events, EV_ERROR, EV_HUP, EV_READABLE, EV_WRITABLE};
use crate::sys::{already_registered, cvt, not_registered, MAX_WAIT_SECS};
use crate::{Interest, Token};

/// State of the `kqueue` backend.
pub(crate) struct KqueueBackend {
    /// The kqueue, closed on drop.
    kq: OwnedFd,
    /// Interest of every registered fd.
    registered: HashMap<RawFd, Interest>,
    /// Kernel output buffer, as long as the largest `Events` capacity seen.
    buf: Vec<libc::kevent>,
}

impl std::fmt::Debug for KqueueBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // libc's kevent has no Debug without its `extra_traits` feature.
        f.debug_struct("KqueueBackend")
            .field("kq", &self.kq)
            .field("registered", &self.registered)
            .finish_non_exhaustive()
    }
}

// SAFETY: the only non-Send field is `buf`, whose kevents carry raw `udata` pointers. Those are
// tokens stored by value and never dereferenced, so moving the backend to another thread is sound.
unsafe impl Send for KqueueBackend {}

/// A zeroed kevent.
fn zeroed_kevent() -> libc::kevent {
    // SAFETY: kevent holds only integers and a raw pointer; all-zero bytes (null udata) are a
    // valid value for each of them.
    unsafe { std::mem::zeroed() }
}

/// One change-list entry for `fd` on `filter`.
fn change(fd: RawFd, filter: i32, flags: u32, token: Token) -> libc::kevent {
    let mut kev = zeroed_kevent();
    kev.ident = fd as libc::uintptr_t;
    // The libc types of `filter` and `flags` differ per BSD (i16/u16, u32 on NetBSD); the
    // values are the small kernel constants passed in, so the casts are lossless.
    kev.filter = filter as _;
    kev.flags = flags as _;
    kev.udata = token.0 as _;
    kev
}

/// A zero timespec, so that applying changes never blocks.
const NO_WAIT: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 0,
};

impl KqueueBackend {
    /// A new kqueue, close-on-exec.
    pub(crate) fn new() -> io::Result<KqueueBackend> {
        // SAFETY: kqueue() takes no arguments; it returns a new fd or -1.
        let fd = cvt(unsafe { libc::kqueue() })?;
        // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
        let kq = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: F_SETFD on our own valid fd takes an int flag, no pointers.
        cvt(unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
        Ok(KqueueBackend {
            kq,
            registered: HashMap::new(),
            buf: Vec::new(),
        })
    }

    /// Applies a change list without collecting events; the first failing change's errno is
    /// returned (changes before it stay applied).
    fn apply(&self, changes: &[libc::kevent]) -> io::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        // SAFETY: `changes` points to `changes.len()` (at most 2) valid kevents; no event list
        // is passed (null, 0), and NO_WAIT is a valid timespec, so the call reads only those.
        cvt(unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                changes.as_ptr(),
                changes.len() as _,
                std::ptr::null_mut(),
                0,
                &NO_WAIT,
            )
        })
        .map(drop)
    }

    /// `EV_ADD` the filters of `interest`; `EEXIST` if already registered.
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
        let add = (libc::EV_ADD | libc::EV_ENABLE) as u32;
        if interest.is_readable() {
            self.apply(&[change(fd, libc::EVFILT_READ as i32, add, token)])?;
        }
        if interest.is_writable() {
            if let Err(e) = self.apply(&[change(fd, libc::EVFILT_WRITE as i32, add, token)]) {
                if interest.is_readable() {
                    let del = libc::EV_DELETE as u32;
                    // Best effort roll-back of the read filter added above.
                    let _ = self.apply(&[change(fd, libc::EVFILT_READ as i32, del, token)]);
                }
                return Err(e);
            }
        }
        self.registered.insert(fd, interest);
        Ok(())
    }

    /// Adds the newly wanted filters (`EV_ADD` also updates the token of existing ones) and
    /// deletes the no longer wanted ones; `ENOENT` if not registered.
    pub(crate) fn reregister(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        let old = *self.registered.get(&fd).ok_or_else(not_registered)?;
        let add = (libc::EV_ADD | libc::EV_ENABLE) as u32;
        let del = libc::EV_DELETE as u32;
        let mut changes = [zeroed_kevent(), zeroed_kevent()];
        let mut n = 0;
        let filters = [
            (
                libc::EVFILT_READ as i32,
                old.is_readable(),
                interest.is_readable(),
            ),
            (
                libc::EVFILT_WRITE as i32,
                old.is_writable(),
                interest.is_writable(),
            ),
        ];
        for (filter, had, wants) in filters {
            if wants {
                changes[n] = change(fd, filter, add, token);
                n += 1;
            } else if had {
                changes[n] = change(fd, filter, del, token);
                n += 1;
            }
        }
        self.apply(&changes[..n])?;
        self.registered.insert(fd, interest);
        Ok(())
    }

    /// `EV_DELETE` the registered filters; `ENOENT` if not registered.
    pub(crate) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let old = self.registered.remove(&fd).ok_or_else(not_registered)?;
        let del = libc::EV_DELETE as u32;
        let mut changes = [zeroed_kevent(), zeroed_kevent()];
        let mut n = 0;
        if old.is_readable() {
            changes[n] = change(fd, libc::EVFILT_READ as i32, del, Token(0));
            n += 1;
        }
        if old.is_writable() {
            changes[n] = change(fd, libc::EVFILT_WRITE as i32, del, Token(0));
            n += 1;
        }
        self.apply(&changes[..n])
    }

    /// One kevent(2) wait for at most `events.capacity()` filter events; `EINTR` goes to the
    /// caller.
    pub(crate) fn wait_once(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let cap = events.capacity().min(libc::c_int::MAX as usize);
        if self.buf.len() < cap {
            self.buf.resize_with(cap, zeroed_kevent);
        }
        let ts = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(MAX_WAIT_SECS) as libc::time_t,
            tv_nsec: d.subsec_nanos() as _,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: no change list (null, 0); `buf` holds at least `cap` kevents we own mutably,
        // the kernel writes at most `cap`; `ts_ptr` is null (block) or points to a local.
        let n = cvt(unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                std::ptr::null(),
                0,
                self.buf.as_mut_ptr(),
                cap as _,
                ts_ptr,
            )
        })?;
        for kev in &self.buf[..n as usize] {
            // Copy the fields out (the struct is packed on macOS).
            let filter = kev.filter as i32;
            let kflags = kev.flags as u32;
            let fflags = kev.fflags;
            let udata = kev.udata as usize;
            let mut f = 0;
            if filter == libc::EVFILT_READ as i32 {
                f |= EV_READABLE;
            } else if filter == libc::EVFILT_WRITE as i32 {
                f |= EV_WRITABLE;
            }
            if kflags & libc::EV_EOF as u32 != 0 {
                f |= EV_HUP;
                if fflags != 0 {
                    f |= EV_ERROR;
                }
            }
            if kflags & libc::EV_ERROR as u32 != 0 {
                f |= EV_ERROR;
            }
            events.push(Event::new(Token(udata), f));
        }
        Ok(())
    }
}
