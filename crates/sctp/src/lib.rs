//! sipwire-sctp: SIP over kernel SCTP as Kamailio does it — one-to-many (`SOCK_SEQPACKET`)
//! endpoints, one SIP message per SCTP message, Kamailio's 19 `sctp_*` options applied to the
//! socket, association tracking (`sctp_assoc_tracking`, `sctp_assoc_reuse`,
//! `sctp_max_assocs`), and the notifications that matter (association up / lost / shut down,
//! peer address changes, send failures) turned into [`AssocEvent`]s and counters.
//!
//! An [`Endpoint`] is one socket: a listen line, possibly multi-homed. It does no threading:
//! the runtime registers [`Endpoint::fd`] in one reader's poller, calls [`Endpoint::recv`]
//! when it is readable, and any thread may [`Endpoint::send`] (a one-to-many socket sends
//! whole messages atomically). See `docs/sctp.md`.
#![forbid(unsafe_code)]

mod endpoint;
mod options;
mod stats;
mod tracker;

pub use endpoint::{AssocEvent, Closed, Dest, Endpoint, Received, SendError};
pub use options::apply_socket_options;
pub use stats::SctpStats;
pub use tracker::AssocInfo;

/// An association id as the kernel numbers it (`sctp_assoc_t`).
pub type AssocId = sipwire_sys::sctp::AssocId;

/// Whether this kernel has SCTP.
pub fn available() -> bool {
    sipwire_sys::sctp::available()
}
