//! Sockets: a non-blocking close-on-exec TCP listener (`SO_REUSEPORT` before `bind`), a
//! non-blocking accept in one call where the OS has `accept4`, a non-blocking connect from an
//! optional source, and `sockaddr` conversions.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{
    Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpListener, TcpStream,
};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::{cvt, set_defer_accept, set_int_opt, take_socket_error, wait_writable};

/// Options applied to a listening socket before `bind`/`listen`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListenOptions {
    /// `SO_REUSEPORT` (`tcp_reuse_port`).
    pub reuse_port: bool,
    /// `tcp_defer_accept` seconds (see [`set_defer_accept`](crate::set_defer_accept)).
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
    cvt(rc)?;
    if let Some(secs) = opts.defer_accept {
        set_defer_accept(raw, secs)?;
    }
    let backlog = if opts.backlog > 0 { opts.backlog } else { 1024 };
    // SAFETY: plain syscall on a socket fd we own.
    cvt(unsafe { libc::listen(raw, backlog) })?;
    Ok(TcpListener::from(fd))
}

/// Creates a non-blocking, close-on-exec stream socket of `domain`.
pub fn socket(domain: libc::c_int) -> io::Result<OwnedFd> {
    #[cfg(not(target_vendor = "apple"))]
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    #[cfg(target_vendor = "apple")]
    let flags = 0;
    // SAFETY: plain syscall with constant arguments; the result is checked.
    let fd = cvt(unsafe { libc::socket(domain, libc::SOCK_STREAM | flags, 0) })?;
    // SAFETY: `fd` was just returned by socket(2), is valid and owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    #[cfg(target_vendor = "apple")]
    set_nonblock_cloexec(fd.as_raw_fd())?;
    Ok(fd)
}

/// `O_NONBLOCK` and `FD_CLOEXEC` after the fact, where `socket`/`accept` cannot set them
/// (macOS), and `SO_NOSIGPIPE`: macOS has no `MSG_NOSIGNAL`, so std's writes on a socket it
/// did not create itself would raise `SIGPIPE` on a closed peer, killing a C host process
/// (libsipwire) that does not ignore it. std sets the same option on the sockets it creates.
#[cfg(target_vendor = "apple")]
fn set_nonblock_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own; F_GETFL/F_SETFL/F_SETFD take integer arguments.
    unsafe {
        let fl = cvt(libc::fcntl(fd, libc::F_GETFL))?;
        cvt(libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK))?;
        cvt(libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC))?;
    }
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_NOSIGPIPE, 1)
}

/// Accepts one connection as a non-blocking, close-on-exec stream (one `accept4` call where
/// the OS has it, `accept` + `fcntl` on macOS). `WouldBlock` means the backlog is empty.
pub fn accept_nonblocking(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let mut storage = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let lfd = listener.as_raw_fd();
    // SAFETY: `storage` is writable for `len` bytes and `len` is updated by the kernel.
    #[cfg(not(target_vendor = "apple"))]
    let fd = cvt(unsafe {
        libc::accept4(
            lfd,
            storage.as_mut_ptr().cast(),
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: as above.
    #[cfg(target_vendor = "apple")]
    let fd = cvt(unsafe { libc::accept(lfd, storage.as_mut_ptr().cast(), &mut len) })?;
    // SAFETY: `fd` was just returned by the kernel, is valid and owned by nobody else.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    #[cfg(target_vendor = "apple")]
    set_nonblock_cloexec(stream.as_raw_fd())?;
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
            // SAFETY: sockaddr_in is plain old data for which all-zero bytes are valid.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            #[cfg(bsd)]
            {
                sin.sin_len = size_of::<libc::sockaddr_in>() as u8;
            }
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_in6 is plain old data for which all-zero bytes are valid.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            #[cfg(bsd)]
            {
                sin6.sin6_len = size_of::<libc::sockaddr_in6>() as u8;
            }
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
    if !done && !wait_writable(stream.as_raw_fd(), Duration::from_secs(30))? {
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
    start_connect_with(remote, local, reuse_port, |_| Ok(()))
}

/// [`start_connect`], with `setup` run on the new socket before it is bound and before
/// `connect(2)` starts the handshake: the place for the options that must be set before the
/// first SYN goes out, as Kamailio sets them (`TCP_SYNCNT` limits that SYN's
/// retransmissions; `TCP_QUICKACK` off makes the handshake's last ACK wait for the first
/// data). An error from `setup` fails the call and closes the socket.
pub fn start_connect_with(
    remote: SocketAddr,
    local: Option<SocketAddr>,
    reuse_port: bool,
    setup: impl FnOnce(BorrowedFd<'_>) -> io::Result<()>,
) -> io::Result<(TcpStream, bool)> {
    let domain = if remote.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let fd = socket(domain)?;
    setup(fd.as_fd())?;
    let raw = fd.as_raw_fd();
    if let Some(local) = local {
        set_int_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        if reuse_port {
            set_int_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        }
        let (sa, len) = to_sockaddr(&local);
        // SAFETY: `sa` is a valid sockaddr of `len` bytes; the kernel only reads it.
        cvt(unsafe { libc::bind(raw, (&sa as *const libc::sockaddr_storage).cast(), len) })?;
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

/// The local address a socket is bound to (`getsockname`), IPv4 or IPv6; for any socket
/// descriptor, a listener's included (diagnostics: tests find a runtime's listening socket
/// by its address).
pub fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    let mut storage = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage` is writable for `len` bytes and `len` is updated by the kernel.
    cvt(unsafe { libc::getsockname(fd, storage.as_mut_ptr().cast(), &mut len) })?;
    // SAFETY: zeroed before the call, so initialised whatever the kernel wrote.
    let storage = unsafe { storage.assume_init() };
    from_sockaddr(&storage)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IPv4/IPv6 socket"))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_os = "linux")]
    use crate::{get_int_opt, set_keepalive, set_keepalive_params, set_linger2};
    #[cfg(target_os = "linux")]
    use std::io::{Read, Write};

    #[test]
    #[cfg(target_os = "linux")]
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
    #[cfg(target_os = "linux")]
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

    #[test]
    fn connect_setup_runs_before_bind_and_connect() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dst = l.local_addr().unwrap();
        let mut seen = None;
        let (s, _) = start_connect_with(dst, Some("127.0.0.1:0".parse().unwrap()), false, |fd| {
            // Not bound yet (connect or bind would have given it a port), so not connected.
            seen = Some(local_addr(fd.as_raw_fd()).unwrap());
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen.map(|a| a.port()),
            Some(0),
            "setup ran after bind/connect"
        );
        assert_ne!(local_addr(s.as_raw_fd()).unwrap().port(), 0);
        // An error from setup fails the connect.
        let e =
            start_connect_with(dst, None, false, |_| Err(io::ErrorKind::Other.into())).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Other);
    }

    /// What `tcp_delayed_ack` relies on: `TCP_QUICKACK` off before `connect` makes the
    /// handshake's last ACK wait and ride on the first data segment (the peer receives SYN
    /// and data: 2 segments); set after the handshake, the ACK went out alone (3).
    #[test]
    #[cfg(target_os = "linux")]
    fn quickack_off_before_connect_saves_the_handshake_ack() {
        use crate::{set_quickack, tcp_segment_counts};
        for before in [true, false] {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let (c, done) = start_connect_with(l.local_addr().unwrap(), None, false, |fd| {
                if before {
                    set_quickack(fd.as_raw_fd(), false)?;
                }
                Ok(())
            })
            .unwrap();
            let fd = c.as_raw_fd();
            assert!(done || wait_writable(fd, Duration::from_secs(5)).unwrap());
            if !before {
                set_quickack(fd, false).unwrap();
            }
            (&c).write_all(b"x").unwrap();
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap();
            let got = tcp_segment_counts(s.as_raw_fd()).unwrap().received;
            assert_eq!(got, if before { 2 } else { 3 }, "before connect: {before}");
        }
    }
}
