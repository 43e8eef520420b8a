//! The send path: find the connection (`lookup`: by id, `otcpid`, address or alias, through
//! the thread's fd cache), connect when there is none (`connect`: started here, finished by
//! TCP main in async mode, so no sender ever waits for it), and write (`write`) —
//! directly when the socket takes it, through the async write queue when it does not
//! (`queue`, `tcp_async`), or blocking up to `tcp_send_timeout` (`tcp_async = no`). A reader's
//! sends during one read pass are gathered and written once per connection (`batch`).
//!
//! A connection's write lock (`Conn::write`) is held for the whole of one message's write or
//! enqueue, so messages from several threads never interleave and one sender's messages keep
//! their order. Failures are counted once, at the outcome of [`send`].

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::conn::{CloseReason, ConId, Conn};
use crate::fdcache::with_cache;
use crate::handoff::MainMsg;
use crate::shared::Shared;
use crate::stats::bump;

mod batch;
mod connect;
mod lookup;
mod queue;
mod write;

pub use crate::wq::QueueLimit;
pub(crate) use batch::Batch;
pub(crate) use connect::finish_connect;
pub(crate) use write::{never_wait_on_this_thread, write_msg};

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An open connection, by id.
    Conn(ConId),
    /// A destination: an open connection to (or aliased as) this address, or a new one.
    Addr(SocketAddr),
    /// A destination reached from a given local address (Kamailio's forced send socket): an
    /// open connection needs `local`'s IP (and its port with `tcp_reuse_port`); with
    /// `tcp_connection_match = 1` one on `local`'s port is preferred. A new connection binds
    /// `local`'s IP (and its port with `tcp_reuse_port`).
    AddrFrom {
        /// Remote address.
        dst: SocketAddr,
        /// Local address the message should leave from.
        local: SocketAddr,
    },
    /// A destination over SCTP: its association, or a new one set up by the send.
    Sctp(SocketAddr),
}

impl Target {
    /// Whether it names an SCTP association or destination.
    pub fn is_sctp(&self) -> bool {
        match self {
            Target::Conn(id) => id.is_sctp(),
            Target::Sctp(_) => true,
            _ => false,
        }
    }
}

impl From<ConId> for Target {
    fn from(id: ConId) -> Self {
        Target::Conn(id)
    }
}

impl From<SocketAddr> for Target {
    fn from(a: SocketAddr) -> Self {
        Target::Addr(a)
    }
}

/// How far a send got by the time it returned (all of them are successes: the message is
/// accepted and goes out in order, or comes back through `Handler::on_unsent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// All of it is in the socket.
    Written,
    /// Corked into the current read pass's batch (a send from `on_message` in async mode):
    /// written, with the pass's other replies to that connection, when the pass ends.
    Batched,
    /// (Part of) it waits in the connection's write queue: the connect is in progress or the
    /// socket is full. TCP main writes it when the socket has room.
    Queued,
}

/// A successful send: where it went and how far it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The connection it went to or waits on.
    pub conid: ConId,
    /// How far it got.
    pub delivery: Delivery,
}

/// Why a send failed. Every variant that involves a connection names it.
///
/// In async mode (`tcp_async`) a send that opens a connection returns once the connect is
/// started; a connect that fails later is reported by the close event (reason, and the
/// messages queued meanwhile in `unsent_msgs`/`unsent_bytes`), not here.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// No open connection has this id.
    NoSuchConnection(ConId),
    /// No connection to the destination and `tcp_no_connect` forbids opening one.
    NoConnect(SocketAddr),
    /// The destination refused the connection.
    ConnectRefused(SocketAddr),
    /// The connect did not complete within `tcp_connect_timeout` (blocking mode).
    ConnectTimeout(SocketAddr),
    /// The connect failed otherwise.
    Connect(SocketAddr, io::Error),
    /// A new connection would exceed `tcp_max_connections` (inbound and outbound count).
    TooManyConnections(SocketAddr),
    /// A blocking write made no progress within `tcp_send_timeout`; the connection was closed.
    SendTimeout(ConId),
    /// The message would exceed a write-queue limit; the connection was closed (too slow).
    QueueFull(ConId, QueueLimit),
    /// The connection is closing or closed.
    Closed(ConId),
    /// The socket failed; the connection was closed.
    Io(ConId, io::Error),
    /// No SCTP endpoint can reach the destination (none configured, or none of its
    /// address family).
    NoSctpEndpoint(SocketAddr),
    /// An SCTP send failed (the association, if any, stays as it is).
    Sctp(String),
    /// A TCP send (to a connection id or an address) while `disable_tcp` is set: as in
    /// Kamailio, no TCP at all — no listener, no connect, no write. SCTP targets are not
    /// affected.
    TcpDisabled(Target),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NoSuchConnection(id) => write!(f, "no open connection with id {id}"),
            SendError::NoConnect(a) => write!(f, "no connection to {a} and tcp_no_connect is set"),
            SendError::ConnectRefused(a) => write!(f, "connection to {a} refused"),
            SendError::ConnectTimeout(a) => {
                write!(f, "connect to {a} timed out (tcp_connect_timeout)")
            }
            SendError::Connect(a, e) => write!(f, "connect to {a} failed: {e}"),
            SendError::TooManyConnections(a) => {
                write!(f, "no connect to {a}: tcp_max_connections reached")
            }
            SendError::SendTimeout(id) => {
                write!(f, "conid {id}: send timed out (tcp_send_timeout); closed")
            }
            SendError::QueueFull(id, l) => {
                let what = match l {
                    QueueLimit::ConnBytes => "tcp_conn_wq_max",
                    QueueLimit::TotalBytes => "tcp_wq_max",
                    QueueLimit::Messages => "tcp_async_max_postponed_chunks",
                };
                write!(
                    f,
                    "conid {id}: write queue over {what}; connection closed (peer too slow)"
                )
            }
            SendError::Closed(id) => write!(f, "conid {id} is closing"),
            SendError::Io(id, e) => write!(f, "conid {id}: write failed: {e}; closed"),
            SendError::NoSctpEndpoint(a) => write!(f, "no SCTP endpoint can reach {a}"),
            SendError::Sctp(e) => f.write_str(e),
            SendError::TcpDisabled(t) => {
                let to = match t {
                    Target::Conn(id) => format!("conid {id}"),
                    Target::Addr(a) | Target::Sctp(a) | Target::AddrFrom { dst: a, .. } => {
                        a.to_string()
                    }
                };
                write!(f, "no TCP send to {to}: TCP is off (disable_tcp)")
            }
        }
    }
}

impl std::error::Error for SendError {}

/// Sends one message; returns the id of the connection it went to (or is queued on).
pub(crate) fn send(
    shared: &Shared,
    target: Target,
    otcpid: Option<ConId>,
    bytes: &[u8],
) -> Result<Sent, SendError> {
    if target.is_sctp() || otcpid.is_some_and(ConId::is_sctp) {
        let cfg = shared.config.snapshot();
        if let Some(r) = crate::sctp::send(shared, &cfg, target, otcpid, bytes) {
            return r;
        }
    }
    let (cfg, found) = with_cache(shared.id, &shared.config, |cache| {
        let cfg = cache.config();
        let found = if cfg.disable_tcp {
            None
        } else {
            lookup::lookup(shared, cache, &cfg, target, otcpid)
        };
        (cfg, found)
    });
    bump(&shared.stats.sends);
    let result = match (found, target) {
        // Not runtime-changeable, so no TCP connection exists to find.
        _ if cfg.disable_tcp => Err(SendError::TcpDisabled(target)),
        (Some(conn), _) => write_msg(shared, &cfg, &conn, bytes).map(|delivery| Sent {
            conid: conn.id,
            delivery,
        }),
        (None, Target::Conn(id)) => Err(SendError::NoSuchConnection(id)),
        (None, Target::Sctp(dst)) => Err(SendError::NoSctpEndpoint(dst)),
        (None, Target::Addr(dst)) => connect::connect(shared, &cfg, dst, None, bytes),
        (None, Target::AddrFrom { dst, local }) => {
            connect::connect(shared, &cfg, dst, Some(local), bytes)
        }
    };
    if result.is_err() {
        bump(&shared.stats.send_errors);
    }
    result
}

/// Closes a connection from a sending thread: its owner hands it to TCP main for the final
/// close, which reports it.
fn close(shared: &Shared, conn: &Conn, reason: CloseReason) {
    conn.request_close(reason);
    shared.tell_main(MainMsg::CloseRequested(conn.id));
}

/// Closes a connection whose write failed and says why.
fn write_failed(shared: &Shared, conn: &Conn, e: io::Error) -> SendError {
    close(shared, conn, CloseReason::from_io_error(&e));
    SendError::Io(conn.id, e)
}
