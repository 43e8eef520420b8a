//! Linux kernel SCTP: one-to-many (`SOCK_SEQPACKET`) sockets, multi-homed binds, the options
//! Kamailio's `sctp_*` parameters set, `sendmsg`/`recvmsg` with SCTP's ancillary data, and the
//! notifications (association up/down, peer address changes, send failures, shutdown).
//!
//! On any OS but Linux every function returns [`std::io::ErrorKind::Unsupported`] (and
//! [`available`] is `false`): the code compiles everywhere and is gated at the syscall, so the
//! API is the same on every target. (FreeBSD and macOS SCTP stacks have other struct layouts
//! and option numbers; they are not spoken here.)
//!
//! - [`socket`], [`bindx`], [`listen`], [`local_addrs`], [`peer_addrs`], [`available`]: sockets
//!   and addresses.
//! - [`set_rtoinfo`], [`set_asocmaxrxt`], [`set_initmsg`], [`set_paddrparams`],
//!   [`set_delayed_sack`], [`set_max_burst`], [`set_autoclose`], [`set_nodelay`], each with a
//!   getter, and [`status`]: options. `SO_SNDBUF`/`SO_RCVBUF` are the generic
//!   [`set_int_opt`](crate::set_int_opt)/[`get_int_opt`](crate::get_int_opt).
//! - [`send`], [`recv`]: messages; [`subscribe`] asks for what [`recv`] reports as a
//!   [`Notification`], which [`parse_notification`] decodes (defensively: any bytes in, no
//!   panic, lengths checked against the buffer, never trusting the kernel's `sn_length`).
//!
//! A payload protocol identifier (`ppid`) is a number in host order here; it is put on the wire
//! in network byte order (the IANA numbers, as peers and Wireshark read them).

mod addr;
mod ffi;
mod io;
mod notify;
mod opts;
mod socket;
#[cfg(test)]
mod tests;

pub use io::{recv, send, Recv, SendFlags, SendInfo};
pub use notify::{parse_notification, subscribe, AssocState, Notification, PeerAddrState};
pub use opts::{
    get_asocmaxrxt, get_autoclose, get_delayed_sack, get_initmsg, get_max_burst, get_nodelay,
    get_paddrparams, get_rtoinfo, set_asocmaxrxt, set_autoclose, set_delayed_sack, set_initmsg,
    set_max_burst, set_nodelay, set_paddrparams, set_rtoinfo, status, InitMsg, PeerAddrParams,
    PeerAddrParamsSet, RtoInfo, Status,
};
pub use socket::{available, bindx, listen, local_addrs, peer_addrs, socket};

/// An association id (`sctp_assoc_t`). 0 names the socket itself (its defaults for future
/// associations) where an option takes one.
pub type AssocId = i32;

/// Whether this build speaks the kernel SCTP ABI declared in `ffi`.
const LINUX: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// The gate in front of every SCTP syscall: `Unsupported` off Linux.
fn gate() -> std::io::Result<()> {
    if LINUX {
        Ok(())
    } else {
        Err(crate::unsupported("SCTP"))
    }
}
