//! Socket options: the integer get/set pair and one function per option Kamailio sets, each
//! mapped to what the OS calls it (`TCP_KEEPIDLE` vs macOS `TCP_KEEPALIVE`, `TCP_DEFER_ACCEPT`
//! vs FreeBSD's `accf_data` filter). An option the OS lacks returns `Unsupported`.

use std::io;
use std::mem::size_of;
use std::os::fd::RawFd;

use crate::{cvt, unsupported};

/// Sets an integer socket option.
pub fn set_int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int, value: i32) -> io::Result<()> {
    let v: libc::c_int = value;
    // SAFETY: `v` lives across the call and its exact size is passed; the kernel only reads it.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Reads an integer socket option.
pub fn get_int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<i32> {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes and `len` holds the size of `v`.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(v)
}

/// `TCP_NODELAY` on or off (no Nagle delay).
pub fn set_nodelay(fd: RawFd, on: bool) -> io::Result<()> {
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, i32::from(on))
}

/// `SO_KEEPALIVE` on or off (`tcp_keepalive`).
pub fn set_keepalive(fd: RawFd, on: bool) -> io::Result<()> {
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, i32::from(on))
}

/// The option that sets the idle time before the first keepalive probe.
#[cfg(target_vendor = "apple")]
const KEEPIDLE: Option<libc::c_int> = Some(libc::TCP_KEEPALIVE);
#[cfg(all(not(target_vendor = "apple"), not(target_os = "openbsd")))]
const KEEPIDLE: Option<libc::c_int> = Some(libc::TCP_KEEPIDLE);
#[cfg(target_os = "openbsd")]
const KEEPIDLE: Option<libc::c_int> = None;

/// Keepalive probe timing (`tcp_keepidle`, `tcp_keepcnt`, `tcp_keepintvl`), seconds and
/// counts; `None` leaves the kernel's value.
pub fn set_keepalive_params(
    fd: RawFd,
    idle: Option<u32>,
    count: Option<u32>,
    interval: Option<u32>,
) -> io::Result<()> {
    if let Some(v) = idle {
        let name = KEEPIDLE.ok_or_else(|| unsupported("tcp_keepidle"))?;
        set_int_opt(fd, libc::IPPROTO_TCP, name, clamp_i32(v))?;
    }
    #[cfg(not(target_os = "openbsd"))]
    {
        if let Some(v) = count {
            set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, clamp_i32(v))?;
        }
        if let Some(v) = interval {
            set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, clamp_i32(v))?;
        }
    }
    #[cfg(target_os = "openbsd")]
    if count.is_some() || interval.is_some() {
        return Err(unsupported("tcp_keepcnt / tcp_keepintvl"));
    }
    Ok(())
}

/// `SO_KEEPALIVE` as the kernel has it.
pub fn get_keepalive(fd: RawFd) -> io::Result<bool> {
    Ok(get_int_opt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE)? != 0)
}

/// Keepalive probe timing as the kernel has it: (idle seconds, probe count, interval seconds);
/// 0 for a value the OS does not expose.
pub fn get_keepalive_params(fd: RawFd) -> io::Result<(u32, u32, u32)> {
    let read = |name: Option<libc::c_int>| -> io::Result<u32> {
        match name {
            Some(n) => Ok(u32::try_from(get_int_opt(fd, libc::IPPROTO_TCP, n)?).unwrap_or(0)),
            None => Ok(0),
        }
    };
    #[cfg(not(target_os = "openbsd"))]
    let (count, interval) = (Some(libc::TCP_KEEPCNT), Some(libc::TCP_KEEPINTVL));
    #[cfg(target_os = "openbsd")]
    let (count, interval) = (None, None);
    Ok((read(KEEPIDLE)?, read(count)?, read(interval)?))
}

fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// `TCP_LINGER2`: lifetime of orphaned FIN_WAIT2 sockets, seconds (`tcp_linger2`; Linux).
pub fn set_linger2(fd: RawFd, secs: u32) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_LINGER2, clamp_i32(secs));
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (fd, secs);
        Err(unsupported("TCP_LINGER2 (tcp_linger2)"))
    }
}

/// Wake `accept` only once data arrived (`tcp_defer_accept`): `TCP_DEFER_ACCEPT` with a
/// timeout in seconds on Linux; the `dataready` accept filter (`accf_data`, no timeout) on
/// FreeBSD.
pub fn set_defer_accept(fd: RawFd, secs: u32) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return set_int_opt(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_DEFER_ACCEPT,
        clamp_i32(secs),
    );
    #[cfg(target_os = "freebsd")]
    {
        let _ = secs;
        // SAFETY: accept_filter_arg is plain old data for which all-zero bytes are valid.
        let mut arg: libc::accept_filter_arg = unsafe { std::mem::zeroed() };
        for (dst, src) in arg.af_name.iter_mut().zip(b"dataready") {
            *dst = *src as libc::c_char;
        }
        // SAFETY: `arg` lives across the call and its exact size is passed; the kernel reads it.
        cvt(unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ACCEPTFILTER,
                (&arg as *const libc::accept_filter_arg).cast(),
                size_of::<libc::accept_filter_arg>() as libc::socklen_t,
            )
        })
        .map(drop)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    {
        let _ = (fd, secs);
        Err(unsupported("tcp_defer_accept"))
    }
}

/// `TCP_QUICKACK`: off delays the first ACK to ride on data (`tcp_delayed_ack = yes`; Linux).
pub fn set_quickack(fd: RawFd, on: bool) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_QUICKACK, i32::from(on));
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (fd, on);
        Err(unsupported("TCP_QUICKACK (tcp_delayed_ack)"))
    }
}

/// `TCP_SYNCNT`: SYN retransmissions before a connect gives up (`tcp_syncnt`; Linux).
pub fn set_syncnt(fd: RawFd, count: u32) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_SYNCNT, clamp_i32(count));
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (fd, count);
        Err(unsupported("TCP_SYNCNT (tcp_syncnt)"))
    }
}

/// Segments a TCP socket has received and sent so far, handshake and pure ACKs included
/// (`TCP_INFO`'s `tcpi_segs_in` / `tcpi_segs_out`; Linux 4.2 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentCounts {
    /// Segments received.
    pub received: u32,
    /// Segments sent.
    pub sent: u32,
}

/// The segment counters of a TCP socket (a diagnostic: tests use it to see whether an ACK
/// went out on its own or rode on data, which is what `tcp_delayed_ack` changes).
pub fn tcp_segment_counts(fd: RawFd) -> io::Result<SegmentCounts> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: tcp_info is plain old data for which all-zero bytes are valid.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: `info` and `len` are valid for writes and `len` holds the size of `info`;
        // the kernel writes at most `len` bytes.
        cvt(unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        })?;
        Ok(SegmentCounts {
            received: info.tcpi_segs_in,
            sent: info.tcpi_segs_out,
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = fd;
        Err(unsupported("TCP_INFO segment counters"))
    }
}

/// `SO_LINGER {on, 0}`: the next close sends RST instead of FIN (used to abort a connection).
pub fn set_linger_abort(fd: RawFd) -> io::Result<()> {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `l` lives across the call and its exact size is passed; the kernel only reads it.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// The pending socket error (`SO_ERROR`), cleared by reading it.
pub fn take_socket_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let e = get_int_opt(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((e != 0).then(|| io::Error::from_raw_os_error(e)))
}
