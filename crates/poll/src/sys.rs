//! Small helpers around raw syscalls shared by the backends.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

pub(crate) use sipwire_sys::cvt;

/// `EEXIST`: the fd is already registered (what `epoll_ctl(ADD)` says; every backend says it).
pub(crate) fn already_registered() -> io::Error {
    io::Error::from_raw_os_error(libc::EEXIST)
}

/// `ENOENT`: the fd is not registered (what `epoll_ctl(MOD/DEL)` says; every backend says it).
pub(crate) fn not_registered() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

/// Fails with `EBADF` unless `fd` is an open descriptor, so that the user-space backends
/// (`poll`, `select`) refuse what `epoll_ctl` refuses instead of reporting `POLLNVAL` later.
pub(crate) fn check_open(fd: RawFd) -> io::Result<()> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: F_GETFD only reads the descriptor flags of `fd`; an invalid fd yields EBADF.
    cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) }).map(drop)
}

/// A wait timeout in whole milliseconds for poll(2)/epoll_wait(2): `-1` for "forever", rounded
/// up so a wait never ends before the requested time, capped at `c_int::MAX` (the caller waits
/// again for whatever is left).
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}

/// Longest single kernel wait for the backends taking a seconds-based timeout (a day); longer
/// timeouts are waited in pieces by the caller.
pub(crate) const MAX_WAIT_SECS: u64 = 86_400;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_rounds_up() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1500))), 2);
        assert_eq!(timeout_ms(Some(Duration::from_millis(7))), 7);
        assert_eq!(
            timeout_ms(Some(Duration::from_secs(u64::MAX))),
            libc::c_int::MAX
        );
    }

    #[test]
    fn check_open_rejects_bad_fds() {
        assert_eq!(
            check_open(-1).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(check_open(std::os::fd::AsRawFd::as_raw_fd(&a)).is_ok());
    }
}
