//! The one-fd wait: block on a single descriptor with a deadline, for the few places that wait
//! on one socket outside a reactor (a local connect timeout, a control client's read).

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// What [`wait_fd`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// Data to read, or end of file.
    Readable,
    /// Room to write, or a finished connect.
    Writable,
}

/// Waits up to `timeout` for `fd` to become ready as asked, or to report an error or hang-up
/// (which the following read, write or `SO_ERROR` reveals). `Ok(false)`: the time ran out.
/// `EINTR` is retried with the time that is left.
pub fn wait_fd(fd: RawFd, what: WaitFor, timeout: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    let events = match what {
        WaitFor::Readable => libc::POLLIN,
        WaitFor::Writable => libc::POLLOUT,
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        let mut p = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd that outlives the call.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n > 0 {
            return Ok(true);
        }
        if n == 0 {
            if Instant::now() >= deadline {
                return Ok(false);
            }
            continue;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// [`wait_fd`] for writability (a connect in progress, a full send buffer).
pub fn wait_writable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    wait_fd(fd, WaitFor::Writable, timeout)
}
