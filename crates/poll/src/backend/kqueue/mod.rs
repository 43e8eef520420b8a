//! The `kqueue` backend: BSD/macOS kqueue(2), level triggered.
//!
//! Split in two so that most of it is tested where the project is built (Linux, which has no
//! kqueue):
//! * [`logic`] — compiled on every OS: the registered interests, the change list each call
//!   hands the kernel, and the translation of reported kevents into [`Event`]s, written against
//!   plain integers ([`logic::Kev`]) and a two-method trait ([`logic::KeventCalls`]). Its unit
//!   tests (`tests.rs`) run it against a fake kernel on every OS.
//! * this file — compiled only on macOS, FreeBSD, NetBSD, OpenBSD and DragonFly (`cfg(bsd)`):
//!   [`KqueueFd`], the kqueue itself, implementing the trait with libc's `kevent` (copying
//!   fields between [`logic::Kev`] and `libc::kevent`, whose types differ per OS). It is
//!   type-checked for those targets by `make check-bsd`; it runs, with the conformance suite
//!   (`tests/conformance.rs`), only on a real BSD or macOS kernel.
//!
//! [`Event`]: crate::Event

pub(crate) mod logic;
#[cfg(test)]
mod tests;

#[cfg(bsd)]
pub(crate) use os::KqueueBackend;

/// The real kqueue.
#[cfg(bsd)]
mod os {
    // kevent's `filter`/`flags`/`data` are i16/u16/isize on most BSDs, u32/u32/i64 on NetBSD
    // and i64 `data` on FreeBSD; the casts through i32/u32/i64 are no-ops on some of them.
    #![allow(clippy::unnecessary_cast)]

    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    use super::logic::{Kev, KeventCalls, Kqueue};
    use crate::sys::cvt;

    /// The `kqueue` backend: the logic over the real kernel.
    pub(crate) type KqueueBackend = Kqueue<KqueueFd>;

    impl Kqueue<KqueueFd> {
        /// A new kqueue, close-on-exec.
        pub(crate) fn new() -> io::Result<KqueueBackend> {
            Ok(Kqueue::with_calls(KqueueFd::new()?))
        }
    }

    /// A kqueue fd and the kernel's output buffer.
    pub(crate) struct KqueueFd {
        /// The kqueue, closed on drop.
        kq: OwnedFd,
        /// Kernel output buffer, as long as the largest wait seen.
        buf: Vec<libc::kevent>,
    }

    impl std::fmt::Debug for KqueueFd {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            // libc's kevent has no Debug without its `extra_traits` feature.
            f.debug_struct("KqueueFd")
                .field("kq", &self.kq)
                .finish_non_exhaustive()
        }
    }

    // SAFETY: the only non-Send field is `buf`, whose kevents carry raw `udata` pointers. Those
    // are tokens stored by value and never dereferenced, so moving the kqueue to another thread
    // is sound.
    unsafe impl Send for KqueueFd {}

    /// A zeroed kevent.
    fn zeroed_kevent() -> libc::kevent {
        // SAFETY: kevent holds only integers and a raw pointer (and, on FreeBSD, an array of
        // integers); all-zero bytes (null udata) are a valid value for each of them.
        unsafe { std::mem::zeroed() }
    }

    /// `kev` as the OS's `struct kevent`.
    fn to_os(kev: &Kev) -> libc::kevent {
        let mut k = zeroed_kevent();
        k.ident = kev.ident as libc::uintptr_t;
        // The libc types of `filter`, `flags` and `data` differ per BSD; the values are the
        // small kernel constants of `logic::consts` (and 0), so the casts are lossless.
        k.filter = kev.filter as _;
        k.flags = kev.flags as _;
        k.fflags = kev.fflags;
        k.data = kev.data as _;
        k.udata = kev.udata as _;
        k
    }

    /// The OS's `struct kevent` as a [`Kev`] (fields copied out: the struct is packed on
    /// macOS, so no reference to a field is taken).
    fn from_os(k: &libc::kevent) -> Kev {
        Kev {
            ident: k.ident as usize,
            filter: k.filter as i32,
            flags: k.flags as u32,
            fflags: k.fflags,
            data: k.data as i64,
            udata: k.udata as usize,
        }
    }

    /// A zero timespec, so that applying changes never blocks.
    const NO_WAIT: libc::timespec = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };

    impl KqueueFd {
        /// `kqueue()` with `FD_CLOEXEC`.
        fn new() -> io::Result<KqueueFd> {
            // SAFETY: kqueue() takes no arguments; it returns a new fd or -1.
            let fd = cvt(unsafe { libc::kqueue() })?;
            // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
            let kq = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: F_SETFD on our own valid fd takes an int flag, no pointers.
            cvt(unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
            Ok(KqueueFd {
                kq,
                buf: Vec::new(),
            })
        }
    }

    impl KeventCalls for KqueueFd {
        fn apply(&mut self, changes: &[Kev]) -> io::Result<()> {
            // The logic never passes more than two changes.
            debug_assert!(changes.len() <= 2, "{} changes", changes.len());
            let mut list = [zeroed_kevent(), zeroed_kevent()];
            let n = changes.len().min(list.len());
            for (slot, kev) in list.iter_mut().zip(changes) {
                *slot = to_os(kev);
            }
            // SAFETY: `list` holds `n` (at most 2) valid kevents; no event list is passed
            // (null, 0), and NO_WAIT is a valid timespec, so the call reads only those.
            cvt(unsafe {
                libc::kevent(
                    self.kq.as_raw_fd(),
                    list.as_ptr(),
                    n as _,
                    std::ptr::null_mut(),
                    0,
                    &NO_WAIT,
                )
            })
            .map(drop)
        }

        fn wait<F: FnMut(Kev)>(
            &mut self,
            max: usize,
            timeout: Option<Duration>,
            mut each: F,
        ) -> io::Result<()> {
            let cap = max.clamp(1, libc::c_int::MAX as usize);
            if self.buf.len() < cap {
                self.buf.resize_with(cap, zeroed_kevent);
            }
            let ts = timeout.map(|d| libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as _,
            });
            let ts_ptr = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: no change list (null, 0); `buf` holds at least `cap` kevents we own
            // mutably, the kernel writes at most `cap`; `ts_ptr` is null (block) or points to
            // a local that outlives the call.
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
            for k in &self.buf[..n as usize] {
                each(from_os(k));
            }
            Ok(())
        }
    }
}
