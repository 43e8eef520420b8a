//! The hand-off between TCP main and the readers: the read side that moves between them
//! (`ReadSide`) and the messages each sends the other (`MainMsg`, `ReaderMsg`). A leaf both
//! threads and the send path stand on, so neither thread imports the other.

use std::sync::Arc;
use std::time::Instant;

use sipwire_frame::StreamDecoder;

use crate::conn::{CloseReason, ConId, Conn};

/// The read side of a connection: what moves between main and the readers. The decoder
/// exists only while the connection is busy or holds a partial message: an idle connection
/// costs two pointers here, not a decoder (≈300 bytes) — this is what keeps memory per idle
/// connection low. Dropping it drops the decoder, whose pooled buffer returns to the pool.
pub(crate) struct ReadSide {
    pub conn: Arc<Conn>,
    pub dec: Option<Box<StreamDecoder>>,
}

impl ReadSide {
    pub fn new(conn: Arc<Conn>) -> ReadSide {
        ReadSide { conn, dec: None }
    }
}

/// What TCP main tells a reader.
// Unboxed on purpose: a handoff moves ~200 bytes through the channel instead of allocating.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ReaderMsg {
    /// Take ownership of this connection's read side.
    Take(ReadSide),
    /// Hand everything back as closed and exit.
    Stop,
}

/// What readers, senders and `Transport` handles tell TCP main.
// Unboxed on purpose: a handoff moves ~200 bytes through the channel instead of allocating.
#[allow(clippy::large_enum_variant)]
pub(crate) enum MainMsg {
    /// A reader hands back a quiet connection.
    Release(ReadSide),
    /// A reader is done with a connection that must close.
    Closed(ReadSide, CloseReason),
    /// `set_connection_lifetime` changed this connection's lifetime.
    LifetimeChanged(ConId),
    /// `close_connection` (or a failed send) asked for this connection to close.
    CloseRequested(ConId),
    /// A send queued data: watch the socket for writability and flush.
    WantWrite(ConId),
    /// A connection a send opened: connected, still connecting (timeout counts from the
    /// instant), or already failed (close reason set); and the reader whose send opened it
    /// (its home: it reads the connection).
    Outbound(Arc<Conn>, Instant, Option<usize>),
    /// Stop accepting: close the listeners; the connections stay (`Transport::stop_accepting`).
    StopAccepting,
    /// Stop: close listeners and every connection, stop the readers, exit.
    Shutdown,
}
