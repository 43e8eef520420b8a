//! Writing one message (or one corked batch) to an open or connecting connection: blocking
//! up to `tcp_send_timeout` (`tcp_async = no`), or async — what the socket takes now, the
//! rest to the write queue that TCP main flushes.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::conn::{CloseReason, Conn, ConnState};
use crate::shared::Shared;
use crate::stats::{add, bump};
use crate::wq::WriteQueue;
use sipwire_sys as sys;

use super::{batch, close, queue, write_failed, SendError};

/// Writes one message to an open (or connecting) connection; inside a reader's read pass (in
/// async mode, to an open connection) it joins the pass's batch instead.
pub(crate) fn write_msg(
    shared: &Shared,
    cfg: &Config,
    conn: &Arc<Conn>,
    bytes: &[u8],
) -> Result<(), SendError> {
    if cfg.tcp.asynchronous && conn.state() == ConnState::Ok && batch::append(conn, bytes) {
        return Ok(());
    }
    write_now(shared, cfg, conn, bytes)
}

/// Writes one message (or one corked batch) now, in the configured mode.
pub(super) fn write_now(
    shared: &Shared,
    cfg: &Config,
    conn: &Arc<Conn>,
    bytes: &[u8],
) -> Result<(), SendError> {
    let now = Instant::now();
    let q = conn.write.lock();
    if conn.close_reason().is_some() {
        return Err(SendError::Closed(conn.id));
    }
    if cfg.tcp.asynchronous {
        write_async(shared, cfg, conn, q, bytes, now)
    } else {
        let r = write_blocking(conn, bytes, now + cfg.tcp.send_timeout);
        drop(q);
        finish_blocking(shared, conn, bytes.len(), r)
    }
}

/// The outcome of a blocking write: counted, and the connection closed on failure.
fn finish_blocking(
    shared: &Shared,
    conn: &Conn,
    len: usize,
    r: Result<(), Option<io::Error>>,
) -> Result<(), SendError> {
    match r {
        Ok(()) => {
            add(&shared.stats.bytes_sent, len as u64);
            conn.touch(shared.now_ms());
            Ok(())
        }
        Err(None) => {
            bump(&shared.stats.send_timeouts);
            close(shared, conn, CloseReason::SendTimeout);
            Err(SendError::SendTimeout(conn.id))
        }
        Err(Some(e)) => Err(write_failed(shared, conn, e)),
    }
}

/// Async mode, holding the write lock: the queue first (so order is kept), then what the
/// socket takes of `bytes`, then the rest queued and TCP main told to watch.
fn write_async(
    shared: &Shared,
    cfg: &Config,
    conn: &Conn,
    mut q: parking_lot::MutexGuard<'_, WriteQueue>,
    bytes: &[u8],
    now: Instant,
) -> Result<(), SendError> {
    let connecting = conn.state() == ConnState::Connecting;
    if !connecting && !q.is_empty() {
        // Help TCP main: a sender holding the lock writes what the socket takes now, so a
        // single flusher never falls behind many senders. Order is kept: the queue goes first.
        match q.flush_to(&conn.stream, now, &shared.stats.queued_bytes) {
            Ok(n) => add(&shared.stats.bytes_sent, n as u64),
            Err(e) => {
                drop(q);
                return Err(write_failed(shared, conn, e));
            }
        }
    }
    let rest: &[u8] = if connecting || !q.is_empty() {
        bytes
    } else {
        match write_direct(conn, bytes, now + cfg.tcp.async_local_write_timeout) {
            Ok(n) => {
                add(&shared.stats.bytes_sent, n as u64);
                bytes.get(n..).unwrap_or(&[])
            }
            Err(e) => {
                drop(q);
                return Err(write_failed(shared, conn, e));
            }
        }
    };
    let mut tell_main = false;
    if !rest.is_empty() {
        if let Err(limit) = queue::enqueue(shared, cfg, &mut q, rest, now) {
            drop(q);
            bump(&shared.stats.queue_full);
            log::warn!(
                "conid {}: write queue limit {limit:?} reached; closing (peer too slow)",
                conn.id
            );
            close(shared, conn, CloseReason::QueueFull);
            return Err(SendError::QueueFull(conn.id, limit));
        }
        // While connecting, TCP main already watches the socket (for the connect).
        tell_main = conn.state() != ConnState::Connecting && q.watch();
    }
    drop(q);
    if tell_main {
        queue::tell_watch(shared, conn);
    }
    conn.touch(shared.now_ms());
    Ok(())
}

/// Writes what the socket takes, waiting for room until `deadline`; returns bytes written.
fn write_direct(conn: &Conn, bytes: &[u8], deadline: Instant) -> io::Result<usize> {
    let mut off = 0;
    while let Some(rest) = bytes.get(off..).filter(|r| !r.is_empty()) {
        match (&conn.stream).write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || !sys::wait_writable(conn.stream.as_raw_fd(), left)? {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(off)
}

/// Writes all of `bytes` or fails: `Err(None)` when `deadline` passed first.
fn write_blocking(conn: &Conn, bytes: &[u8], deadline: Instant) -> Result<(), Option<io::Error>> {
    let n = write_direct(conn, bytes, deadline).map_err(Some)?;
    if n == bytes.len() {
        Ok(())
    } else {
        Err(None)
    }
}
