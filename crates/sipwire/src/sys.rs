//! The socket layer: the few raw socket calls std does not offer (socket options Kamailio sets,
//! `SO_REUSEPORT` before `bind`, non-blocking `accept4`). Together with `sipwire-poll` this is
//! the only place in the runtime with `unsafe`; every block says why it is sound.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{
    Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpListener, TcpStream,
};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Sets an integer socket option.
pub fn set_int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int, value: i32) -> io::Result<()> {
    let v: libc::c_int = value;
    // SAFETY: `v` lives across the call and its exact size is passed; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads an integer socket option.
pub fn get_int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<i32> {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes and `len` holds the size of `v`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(v)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `SO_KEEPALIVE` on or off (`tcp_keepalive`).
pub fn set_keepalive(fd: RawFd, on: bool) -> io::Result<()> {
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, i32::from(on))
}

/// Keepalive probe timing (`tcp_keepidle`, `tcp_keepcnt`, `tcp_keepintvl`); `None` leaves the
/// kernel's value.
pub fn set_keepalive_params(
    fd: RawFd,
    idle: Option<u32>,
    count: Option<u32>,
    interval: Option<u32>,
) -> io::Result<()> {
    if let Some(v) = idle {
        set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, clamp_i32(v))?;
    }
    if let Some(v) = count {
        set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, clamp_i32(v))?;
    }
    if let Some(v) = interval {
        set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, clamp_i32(v))?;
    }
    Ok(())
}

fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// `TCP_LINGER2`: lifetime of orphaned FIN_WAIT2 sockets, seconds (`tcp_linger2`).
#[cfg(target_os = "linux")]
pub fn set_linger2(fd: RawFd, secs: u32) -> io::Result<()> {
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_LINGER2, clamp_i32(secs))
}

/// `TCP_DEFER_ACCEPT` on a listener: wake accept only once data arrived, seconds
/// (`tcp_defer_accept`).
#[cfg(target_os = "linux")]
pub fn set_defer_accept(fd: RawFd, secs: u32) -> io::Result<()> {
    set_int_opt(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_DEFER_ACCEPT,
        clamp_i32(secs),
    )
}

/// `TCP_QUICKACK`: off delays the first ACK to ride on data (`tcp_delayed_ack = yes`).
#[cfg(target_os = "linux")]
pub fn set_quickack(fd: RawFd, on: bool) -> io::Result<()> {
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_QUICKACK, i32::from(on))
}

/// `TCP_SYNCNT`: SYN retransmissions before a connect gives up (`tcp_syncnt`).
#[cfg(target_os = "linux")]
pub fn set_syncnt(fd: RawFd, count: u32) -> io::Result<()> {
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_SYNCNT, clamp_i32(count))
}

/// `SO_LINGER {on, 0}`: the next close sends RST instead of FIN (used to abort a connection).
pub fn set_linger_abort(fd: RawFd) -> io::Result<()> {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `l` lives across the call and its exact size is passed; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The pending socket error (`SO_ERROR`), cleared by reading it.
pub fn take_socket_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let e = get_int_opt(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((e != 0).then(|| io::Error::from_raw_os_error(e)))
}

/// Options applied to a listening socket before `bind`/`listen`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListenOptions {
    /// `SO_REUSEPORT` (`tcp_reuse_port`).
    pub reuse_port: bool,
    /// `TCP_DEFER_ACCEPT` seconds (`tcp_defer_accept`), Linux only.
    pub defer_accept: Option<u32>,
    /// The `listen(2)` backlog.
    pub backlog: i32,
}

/// Creates a non-blocking, close-on-exec TCP listener with `SO_REUSEADDR` (and `SO_REUSEPORT`
/// when asked, which must precede `bind`).
pub fn listen_tcp(addr: SocketAddr, opts: ListenOptions) -> io::Result<TcpListener> {
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let fd = socket(domain)?;
    let raw = fd.as_raw_fd();
    set_int_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if opts.reuse_port {
        set_int_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    if addr.is_ipv6() {
        set_int_opt(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    let (sa, len) = to_sockaddr(&addr);
    // SAFETY: `sa` is a valid sockaddr of `len` bytes for `addr`'s family; the kernel reads it.
    let rc = unsafe { libc::bind(raw, (&sa as *const libc::sockaddr_storage).cast(), len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    #[cfg(target_os = "linux")]
    if let Some(secs) = opts.defer_accept {
        set_defer_accept(raw, secs)?;
    }
    let backlog = if opts.backlog > 0 { opts.backlog } else { 1024 };
    // SAFETY: plain syscall on a socket fd we own.
    if unsafe { libc::listen(raw, backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpListener::from(fd))
}

/// Creates a non-blocking, close-on-exec stream socket of `domain`.
pub fn socket(domain: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments; the result is checked below.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2), is valid and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Accepts one connection as a non-blocking, close-on-exec stream in a single syscall.
/// `WouldBlock` means the backlog is empty.
pub fn accept_nonblocking(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let mut storage = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage` is writable for `len` bytes and `len` is updated by the kernel.
    let fd = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            storage.as_mut_ptr().cast(),
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by accept4(2), is valid and owned by nobody else.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    // SAFETY: the kernel initialised `len` bytes of `storage`; it was zeroed before, so the
    // whole struct is initialised either way.
    let storage = unsafe { storage.assume_init() };
    let peer = from_sockaddr(&storage).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "accept: unknown address family")
    })?;
    Ok((stream, peer))
}

/// Converts a `SocketAddr` into a `sockaddr_storage` and its length.
pub fn to_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data for which all-zero bytes are valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Converts a kernel-filled `sockaddr_storage` into a `SocketAddr` (IPv4 and IPv6 only).
pub fn from_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large and
            // aligned enough for.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read((storage as *const libc::sockaddr_storage).cast()) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6, which it is large and
            // aligned enough for.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read((storage as *const libc::sockaddr_storage).cast()) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// A blocking TCP connect from an optional local address, with `SO_REUSEADDR` and, when asked,
/// `SO_REUSEPORT` set before `bind` (so a listener's port can be the source port). Built on
/// [`start_connect`]; waits at most `timeout`.
pub fn connect_from(
    local: Option<SocketAddr>,
    remote: SocketAddr,
    reuse_port: bool,
) -> io::Result<TcpStream> {
    let (stream, done) = start_connect(remote, local, reuse_port)?;
    if !done && !wait_writable(stream.as_raw_fd(), std::time::Duration::from_secs(30))? {
        return Err(io::ErrorKind::TimedOut.into());
    }
    if let Some(e) = take_socket_error(stream.as_raw_fd())? {
        return Err(e);
    }
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Starts a non-blocking connect to `remote`, bound first to `local` when given (with
/// `SO_REUSEADDR`, and `SO_REUSEPORT` when `reuse_port`, so a listener's port can be the source
/// port). Returns the socket and whether the connect already completed; otherwise it is in
/// progress (wait for writability, then read [`take_socket_error`]).
pub fn start_connect(
    remote: SocketAddr,
    local: Option<SocketAddr>,
    reuse_port: bool,
) -> io::Result<(TcpStream, bool)> {
    let domain = if remote.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let fd = socket(domain)?;
    let raw = fd.as_raw_fd();
    if let Some(local) = local {
        set_int_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        if reuse_port {
            set_int_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        }
        let (sa, len) = to_sockaddr(&local);
        // SAFETY: `sa` is a valid sockaddr of `len` bytes; the kernel only reads it.
        if unsafe { libc::bind(raw, (&sa as *const libc::sockaddr_storage).cast(), len) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let (sa, len) = to_sockaddr(&remote);
    // SAFETY: `sa` is a valid sockaddr of `len` bytes; the kernel only reads it.
    if unsafe { libc::connect(raw, (&sa as *const libc::sockaddr_storage).cast(), len) } == 0 {
        return Ok((TcpStream::from(fd), true));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // EINTR: the connect goes on in the background, as with EINPROGRESS.
        Some(libc::EINPROGRESS) | Some(libc::EINTR) => Ok((TcpStream::from(fd), false)),
        _ => Err(e),
    }
}

/// Waits up to `timeout` for `fd` to become writable (or to report an error or hang-up, which
/// a following write or `SO_ERROR` read reveals). `Ok(false)`: the time ran out.
pub fn wait_writable(fd: RawFd, timeout: std::time::Duration) -> io::Result<bool> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd that outlives the call.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n > 0 {
            return Ok(true);
        }
        if n == 0 {
            if std::time::Instant::now() >= deadline {
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

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (benchmarks and the daemon hold many
/// connections); returns the soft limit now in force.
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

/// Number of open file descriptors of this process (from `/proc/self/fd`), for leak checks.
pub fn open_fd_count() -> io::Result<usize> {
    // The directory handle itself is one of the entries while we read it.
    Ok(std::fs::read_dir("/proc/self/fd")?
        .count()
        .saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn listener_accepts_nonblocking_and_options_apply() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let l = listen_tcp(
            addr,
            ListenOptions {
                reuse_port: true,
                defer_accept: None,
                backlog: 16,
            },
        )
        .unwrap();
        let fd = l.as_raw_fd();
        assert_eq!(
            get_int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT).unwrap(),
            1
        );
        let local = l.local_addr().unwrap();
        assert_eq!(
            accept_nonblocking(&l).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let mut c = TcpStream::connect(local).unwrap();
        c.write_all(b"x").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let (mut s, peer) = loop {
            match accept_nonblocking(&l) {
                Ok(v) => break v,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "no connection accepted"
                    );
                    std::thread::yield_now();
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(peer, c.local_addr().unwrap());
        let sfd = s.as_raw_fd();
        set_keepalive(sfd, true).unwrap();
        set_keepalive_params(sfd, Some(7), Some(3), Some(2)).unwrap();
        assert_eq!(
            get_int_opt(sfd, libc::SOL_SOCKET, libc::SO_KEEPALIVE).unwrap(),
            1
        );
        assert_eq!(
            get_int_opt(sfd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE).unwrap(),
            7
        );
        assert_eq!(
            get_int_opt(sfd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT).unwrap(),
            3
        );
        assert_eq!(
            get_int_opt(sfd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL).unwrap(),
            2
        );
        set_linger2(sfd, 9).unwrap();
        assert_eq!(
            get_int_opt(sfd, libc::IPPROTO_TCP, libc::TCP_LINGER2).unwrap(),
            9
        );
        // Non-blocking: reading drains the byte, then would block.
        let mut buf = [0u8; 4];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match s.read(&mut buf) {
                Ok(n) => {
                    assert_eq!(&buf[..n], b"x");
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline);
                    std::thread::yield_now();
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(
            s.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }

    #[test]
    fn sockaddr_round_trip() {
        for s in ["127.0.0.1:5060", "[::1]:5070", "[fe80::1%2]:1"] {
            let a: SocketAddr = s.parse().unwrap();
            let (st, _) = to_sockaddr(&a);
            assert_eq!(from_sockaddr(&st), Some(a));
        }
    }

    #[test]
    fn defer_accept_is_set_on_listener() {
        let l = listen_tcp(
            "127.0.0.1:0".parse().unwrap(),
            ListenOptions {
                reuse_port: false,
                defer_accept: Some(3),
                backlog: 0,
            },
        )
        .unwrap();
        // The kernel rounds to its retransmission schedule; it must be on.
        assert!(get_int_opt(l.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT).unwrap() > 0);
    }
}
