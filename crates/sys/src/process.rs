//! Process-wide descriptor limits: raising `RLIMIT_NOFILE` for many connections, and counting
//! open descriptors for leak checks.

use std::io;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (for processes that hold many
/// connections: benchmarks, the load tool, tests); returns the soft limit now in force.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the valid local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit reads only the valid local struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t differs per OS
    Ok(lim.rlim_cur as u64)
}

/// Number of open file descriptors of this process (`/proc/self/fd` on Linux, `/dev/fd`
/// elsewhere), for leak checks.
pub fn open_fd_count() -> io::Result<usize> {
    let dir = if cfg!(any(target_os = "linux", target_os = "android")) {
        "/proc/self/fd"
    } else {
        "/dev/fd"
    };
    // The directory handle itself is one of the entries while we read it.
    Ok(std::fs::read_dir(dir)?.count().saturating_sub(1))
}
