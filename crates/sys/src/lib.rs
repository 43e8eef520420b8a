//! sipwire-sys: the raw socket calls sipwire needs and std does not offer — socket options
//! Kamailio sets, `SO_REUSEPORT` before `bind`, non-blocking accept, non-blocking connect from a
//! chosen source, a one-fd wait — and the one syscall helper ([`cvt`]).
//!
//! With `sipwire-poll` this is the only crate with `unsafe`; every block says why it is sound.
//! It is portable by `cfg` across Linux and the BSDs/macOS (`cfg(bsd)`, set by `build.rs` from
//! one OS list), so the crates above it have no OS-specific code: an option the OS lacks
//! returns [`io::ErrorKind::Unsupported`] instead of being compiled out.
//!
//! [`sctp`] holds the Linux kernel SCTP calls (one-to-many sockets, multi-homed binds, the
//! `sctp_*` options, messages and notifications); elsewhere they return `Unsupported`.

use std::io;

pub mod alloc_count;
mod process;
pub mod sctp;
mod socket;
mod sockopt;
mod wait;

pub use process::{open_fd_count, raise_fd_limit};
pub use socket::{
    accept_nonblocking, connect_from, from_sockaddr, listen_tcp, local_addr, socket, start_connect,
    start_connect_with, to_sockaddr, ListenOptions,
};
pub use sockopt::{
    get_int_opt, get_keepalive, get_keepalive_params, set_defer_accept, set_int_opt, set_keepalive,
    set_keepalive_params, set_linger2, set_linger_abort, set_nodelay, set_quickack, set_syncnt,
    take_socket_error, tcp_segment_counts, SegmentCounts,
};
pub use wait::{wait_fd, wait_writable, WaitFor};

/// `true` on the BSD-like OSes of `build.rs` (for `if` rather than `#[cfg]` where both arms
/// compile everywhere).
pub const IS_BSD: bool = cfg!(bsd);

/// Turns a `-1`-on-error syscall result into an `io::Result`, reading `errno`.
pub fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The error an option or call returns on an OS that lacks it.
fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is not available on this OS"),
    )
}
