//! Counters of one endpoint (relaxed atomics, read as name/value pairs for `sctp.info` and
//! `stats.get`).

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! sctp_stats {
    ($( $(#[doc = $doc:expr])* $name:ident ),* $(,)?) => {
        /// Counters of one SCTP endpoint.
        #[derive(Debug, Default)]
        pub struct SctpStats {
            $( $(#[doc = $doc])* pub $name: AtomicU64, )*
        }

        impl SctpStats {
            /// Every counter with its name (prefixed `sctp_`).
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$( (concat!("sctp_", stringify!($name)), self.$name.load(Ordering::Relaxed)), )*]
            }
        }
    };
}

sctp_stats! {
    /// SIP messages received.
    messages,
    /// Bytes of them.
    bytes_read,
    /// Messages sent.
    sends,
    /// Bytes sent.
    bytes_sent,
    /// Sends that failed at once (no buffer room, bad stream, no association allowed...).
    send_errors,
    /// Associations that came up (`SCTP_COMM_UP`, `SCTP_RESTART`).
    assoc_up,
    /// Associations lost (`SCTP_COMM_LOST`).
    assoc_lost,
    /// Associations shut down (`SCTP_SHUTDOWN_COMP`).
    assoc_shutdown,
    /// Associations that could not be set up (`SCTP_CANT_STR_ASSOC`).
    assoc_failed,
    /// New associations refused or aborted by `sctp_max_assocs`.
    assoc_refused,
    /// Peer address changes (`SCTP_PEER_ADDR_CHANGE`).
    addr_changes,
    /// Messages the kernel reported unsent (`SCTP_SEND_FAILED`).
    send_failed,
    /// Of those, sent again (`sctp_send_retries`).
    resent,
    /// Messages larger than the receive buffer (partial delivery): the association is aborted.
    too_big,
    /// Messages that are not SIP (no end of headers) and were dropped.
    parse_errors,
}

/// Adds one.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n`.
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}
