//! SCTP sockets: the kernel probe, a non-blocking close-on-exec one-to-many socket, a
//! multi-homed bind (`bind` + `SCTP_SOCKOPT_BINDX_ADD`), `listen`, and the local and peer
//! address lists (`SCTP_GET_LOCAL_ADDRS`, `SCTP_GET_PEER_ADDRS`).

use std::io;
use std::mem::{offset_of, size_of};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::ffi::{
    SctpGetaddrs, IPPROTO_SCTP, SCTP_GET_LOCAL_ADDRS, SCTP_GET_PEER_ADDRS, SCTP_SOCKOPT_BINDX_ADD,
    SOL_SCTP,
};
use super::opts::getopt_bytes;
use super::{addr, gate, AssocId};
use crate::{cvt, to_sockaddr};

#[cfg(any(target_os = "linux", target_os = "android"))]
const SOCK_FLAGS: libc::c_int = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
// Never used there (the gate refuses first); the socket type would be set after the fact.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const SOCK_FLAGS: libc::c_int = 0;

fn raw_socket(domain: libc::c_int) -> io::Result<OwnedFd> {
    gate()?;
    // SAFETY: plain syscall with constant arguments; the result is checked.
    let fd = cvt(unsafe { libc::socket(domain, libc::SOCK_SEQPACKET | SOCK_FLAGS, IPPROTO_SCTP) })?;
    // SAFETY: `fd` was just returned by socket(2), is valid and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether this kernel has SCTP: a probe socket succeeds (and is closed again).
pub fn available() -> bool {
    raw_socket(libc::AF_INET).is_ok()
}

/// A one-to-many (`SOCK_SEQPACKET`) SCTP socket, non-blocking and close-on-exec; `v6` makes it
/// `AF_INET6` (which also takes IPv4 peers, as v4-mapped addresses, unless `IPV6_V6ONLY`).
pub fn socket(v6: bool) -> io::Result<OwnedFd> {
    raw_socket(if v6 { libc::AF_INET6 } else { libc::AF_INET })
}

/// Binds `fd` to all of `addrs`, one port: `bind(2)` to the first, then
/// `SCTP_SOCKOPT_BINDX_ADD` for the rest (a multi-homed endpoint). A port of 0 in the first
/// lets the kernel choose; 0 in the others means the port bound. Different non-zero ports are
/// `EINVAL`; no address at all is `InvalidInput`.
pub fn bindx(fd: RawFd, addrs: &[SocketAddr]) -> io::Result<()> {
    gate()?;
    let (first, rest) = addrs
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bindx: no address"))?;
    let (sa, len) = to_sockaddr(first);
    // SAFETY: `sa` is a valid sockaddr of `len` bytes for `first`'s family; the kernel reads it.
    cvt(unsafe { libc::bind(fd, (&sa as *const libc::sockaddr_storage).cast(), len) })?;
    if rest.is_empty() {
        return Ok(());
    }
    let packed = addr::encode_list(rest);
    let len = libc::socklen_t::try_from(packed.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bindx: too many addresses"))?;
    // SAFETY: `packed` holds `len` bytes of back-to-back sockaddrs in the kernel's layout and
    // lives across the call; the kernel only reads it.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            SOL_SCTP,
            SCTP_SOCKOPT_BINDX_ADD,
            packed.as_ptr().cast(),
            len,
        )
    })
    .map(drop)
}

/// `listen(2)`: a one-to-many socket accepts associations only once listening.
pub fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    gate()?;
    // SAFETY: plain syscall on a descriptor the caller owns; the result is checked.
    cvt(unsafe { libc::listen(fd, backlog) }).map(drop)
}

/// The local addresses of the socket (`SCTP_GET_LOCAL_ADDRS`, association 0: what it is bound
/// to; every local address for a wildcard bind).
pub fn local_addrs(fd: RawFd) -> io::Result<Vec<SocketAddr>> {
    get_addrs(fd, SCTP_GET_LOCAL_ADDRS, 0)
}

/// The peer addresses of association `assoc` (`SCTP_GET_PEER_ADDRS`; an unknown id is
/// `EINVAL`).
pub fn peer_addrs(fd: RawFd, assoc: AssocId) -> io::Result<Vec<SocketAddr>> {
    get_addrs(fd, SCTP_GET_PEER_ADDRS, assoc)
}

/// The largest buffer an address list is read into (a few thousand addresses).
const MAX_ADDRS_BUF: usize = 1 << 17;

fn get_addrs(fd: RawFd, name: libc::c_int, assoc: AssocId) -> io::Result<Vec<SocketAddr>> {
    const HDR: usize = size_of::<SctpGetaddrs>();
    const NUM: usize = offset_of!(SctpGetaddrs, addr_num);
    let mut size = HDR + 16 * addr::SOCKADDR_IN6_LEN;
    loop {
        let mut buf = vec![0u8; size];
        buf[..4].copy_from_slice(&assoc.to_ne_bytes());
        match getopt_bytes(fd, name, &mut buf) {
            Ok(_) => {
                // The kernel reports the length inconsistently across the two options (with or
                // without the header): go by the count and the buffer instead.
                let num = buf
                    .get(NUM..NUM + 4)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u32::from_ne_bytes);
                let body = buf.get(HDR..).unwrap_or_default();
                return Ok(addr::decode_list(body, num as usize));
            }
            // ENOMEM: the buffer is too small for the list.
            Err(e) if e.raw_os_error() == Some(libc::ENOMEM) && size < MAX_ADDRS_BUF => {
                size *= 4;
            }
            Err(e) => return Err(e),
        }
    }
}
