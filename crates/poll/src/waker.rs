//! [`Waker`]: wakes a thread blocked in [`Poller::wait`] from any other thread.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use crate::sys::cvt;
use crate::{Interest, Poller, Token};

/// The fds behind a waker. Shared (`Arc`) between the [`Waker`] and its [`Poller`], so the fd
/// the poller drains stays open, and cannot be reused for another file, until both are gone.
#[derive(Debug)]
pub(crate) struct WakerFds {
    /// The fd registered in the poller: an eventfd on Linux, a pipe's read end elsewhere.
    read: OwnedFd,
    /// The pipe's write end; absent for an eventfd, which is written through `read`.
    write: Option<OwnedFd>,
}

impl WakerFds {
    /// A non-blocking, close-on-exec eventfd.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn new() -> io::Result<WakerFds> {
        // SAFETY: eventfd takes no pointers; it returns a new fd or -1.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
        let read = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(WakerFds { read, write: None })
    }

    /// A non-blocking, close-on-exec pipe.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn new() -> io::Result<WakerFds> {
        let mut fds: [libc::c_int; 2] = [-1, -1];
        // SAFETY: `fds` is a valid array of two ints for pipe() to fill.
        cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
        // SAFETY: both fds were just returned by the kernel and nothing else owns them.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [read.as_raw_fd(), write.as_raw_fd()] {
            // SAFETY: fcntl on our own open fds with int arguments only.
            unsafe {
                let fl = cvt(libc::fcntl(fd, libc::F_GETFL))?;
                cvt(libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK))?;
                cvt(libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC))?;
            }
        }
        Ok(WakerFds {
            read,
            write: Some(write),
        })
    }

    /// The fd the poller watches.
    pub(crate) fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Makes the read fd readable. A full pipe or eventfd counter already is, so `EAGAIN` is
    /// success.
    fn wake(&self) -> io::Result<()> {
        let fd = self.write.as_ref().unwrap_or(&self.read).as_raw_fd();
        let one: u64 = 1;
        loop {
            // SAFETY: writes 8 bytes from a local u64 that outlives the call; an eventfd needs
            // exactly 8, a pipe accepts any count.
            let n = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
            if n >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(()),
                _ => return Err(err),
            }
        }
    }

    /// Reads everything pending so the fd is no longer readable (one read resets an eventfd;
    /// a pipe is read until `EAGAIN`).
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reads at most `buf.len()` bytes into a local buffer that outlives the call.
            let n =
                unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 && self.write.is_some() {
                continue;
            }
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
    }
}

/// Wakes a [`Poller`] blocked in [`Poller::wait`] from any thread.
///
/// Created with [`Waker::new`], which registers an internal fd (eventfd on Linux, a
/// non-blocking pipe elsewhere) readable under the given token. [`Waker::wake`] makes that fd
/// readable, so the blocked (or the next) `wait` returns a readable event with that token.
///
/// The poller drains the waker's fd inside `wait`, before returning, whenever it reports the
/// waker's token: the event does not repeat on level-triggered backends, and several wakes
/// before a wait coalesce into one event. A wake that arrives after that drain produces a new
/// event on the next wait, so "push work, then wake" never loses work as long as the woken
/// thread looks at its work queue after each waker event.
///
/// Dropping the waker closes its fds once the poller is also gone (they are shared); its
/// registration stays in the poller, silent, until the poller is dropped.
#[derive(Debug, Clone)]
pub struct Waker {
    fds: Arc<WakerFds>,
}

impl Waker {
    /// Creates a waker and registers it readable in `poller` under `token`.
    pub fn new(poller: &mut Poller, token: Token) -> io::Result<Waker> {
        let fds = Arc::new(WakerFds::new()?);
        poller.register(fds.read_fd(), token, Interest::READABLE)?;
        poller.add_waker(token, Arc::clone(&fds));
        Ok(Waker { fds })
    }

    /// Wakes the poller; cheap, never blocks, callable from any thread.
    pub fn wake(&self) -> io::Result<()> {
        self.fds.wake()
    }
}

/// A file descriptor another event loop can watch: readable after [`NotifyFd::notify`] until
/// [`NotifyFd::drain`]. The same fd pair as a [`Waker`] (eventfd on Linux, a non-blocking pipe
/// elsewhere), but registered in no [`Poller`] of ours: it is for code that runs its own loop
/// (a C server's epoll) and wants to learn that work is waiting for it.
#[derive(Debug)]
pub struct NotifyFd {
    fds: WakerFds,
}

impl NotifyFd {
    /// A new, unreadable notify fd (non-blocking, close-on-exec).
    pub fn new() -> io::Result<NotifyFd> {
        Ok(NotifyFd {
            fds: WakerFds::new()?,
        })
    }

    /// The fd to watch for readability. Owned by this `NotifyFd`: do not close it.
    pub fn fd(&self) -> RawFd {
        self.fds.read_fd()
    }

    /// Makes the fd readable; never blocks, callable from any thread.
    pub fn notify(&self) -> io::Result<()> {
        self.fds.wake()
    }

    /// Makes the fd unreadable again (until the next `notify`).
    pub fn drain(&self) {
        self.fds.drain()
    }
}
