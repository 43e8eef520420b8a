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

/// Number of open file descriptors of this process, for leak checks and the `sipwire_open_fds`
/// metric: the entries of `/proc/self/fd` on Linux and of `/dev/fd` on macOS (both list
/// exactly the open fds); `KERN_PROC_NFDS` on FreeBSD (13.0 and later; its `/dev/fd` lists
/// only 0-2 unless fdescfs is mounted); `getdtablecount(2)` on OpenBSD; the fds up to
/// `F_MAXFD` that `F_GETFD` accepts on NetBSD. `Unsupported` elsewhere (DragonFly), rather
/// than a count of device nodes.
pub fn open_fd_count() -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        let dir = if cfg!(target_vendor = "apple") {
            "/dev/fd"
        } else {
            "/proc/self/fd"
        };
        // The directory handle itself is one of the entries while we read it.
        Ok(std::fs::read_dir(dir)?.count().saturating_sub(1))
    }
    #[cfg(target_os = "freebsd")]
    {
        let mib = [libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_NFDS, 0];
        let mut count: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>();
        // SAFETY: `mib` holds 4 valid ints; `count` and `len` are valid for writes, `len`
        // holds the size of `count`, and the kernel writes at most that; nothing is set.
        crate::cvt(unsafe {
            libc::sysctl(
                mib.as_ptr(),
                mib.len() as libc::c_uint,
                (&mut count as *mut libc::c_int).cast(),
                &mut len,
                std::ptr::null(),
                0,
            )
        })?;
        Ok(usize::try_from(count).unwrap_or(0))
    }
    #[cfg(target_os = "openbsd")]
    {
        extern "C" {
            /// OpenBSD's libc: the number of open descriptors of the process.
            fn getdtablecount() -> libc::c_int;
        }
        // SAFETY: getdtablecount takes no arguments and cannot fail.
        let n = unsafe { getdtablecount() };
        Ok(usize::try_from(n).unwrap_or(0))
    }
    #[cfg(target_os = "netbsd")]
    {
        // SAFETY: F_MAXFD takes no argument; it returns the highest open fd, or -1.
        let max = match crate::cvt(unsafe { libc::fcntl(0, libc::F_MAXFD) }) {
            Ok(max) => max,
            // No fd open at all.
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => return Ok(0),
            Err(e) => return Err(e),
        };
        // SAFETY: F_GETFD only reads the descriptor flags; a closed fd gives -1 (EBADF).
        let open = (0..=max)
            .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1)
            .count();
        Ok(open)
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd"
    )))]
    {
        Err(crate::unsupported("counting the open file descriptors"))
    }
}
