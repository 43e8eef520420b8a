//! Writing one message (or one corked batch) to an open or connecting connection: blocking
//! up to `tcp_send_timeout` (`tcp_async = no`), or async — what the socket takes now, the
//! rest to the write queue that TCP main flushes.

use std::cell::Cell;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::conn::{CloseReason, Conn, ConnState};
use crate::shared::Shared;
use crate::stats::{add, bump};
use crate::wq::WriteQueue;
use sipwire_sys as sys;

use super::{batch, close, queue, write_failed, Delivery, SendError};

thread_local! {
    /// Set on TCP main: a send made there (from `on_event` or `on_unsent`) never waits for
    /// room in a socket (`tcp_async_local_write_timeout`); what does not fit is queued.
    static NEVER_WAIT: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one that must never wait in a send (TCP main).
pub(crate) fn never_wait_on_this_thread() {
    NEVER_WAIT.with(|c| c.set(true));
}

/// Writes one message to an open (or connecting) connection; inside a reader's read pass (in
/// async mode, to an open connection) it joins the pass's batch instead.
pub(crate) fn write_msg(
    shared: &Shared,
    cfg: &Config,
    conn: &Arc<Conn>,
    bytes: &[u8],
) -> Result<Delivery, SendError> {
    if cfg.tcp.asynchronous && conn.state() == ConnState::Ok && batch::append(conn, bytes) {
        return Ok(Delivery::Batched);
    }
    write_now(shared, cfg, conn, bytes, &[len32(bytes.len())], None)
}

/// A message length as the queue books it.
pub(super) fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Where a corked batch's messages were dropped without being queued: its messages not
/// completely written after byte `from` go back to the reader, which hands each to
/// `Handler::on_unsent` once the write lock is released.
#[derive(Debug, Default)]
pub(super) struct Lost {
    pub from: Option<usize>,
}

/// Writes one message (or one corked batch: `lens` are its messages' lengths) now, in the
/// configured mode. `corked` (a batch): the messages were accepted already (their sends
/// returned `Ok`), so any of them not written when this fails is booked as unsent for the
/// close event and noted in `corked` for the caller to hand out.
pub(super) fn write_now(
    shared: &Shared,
    cfg: &Config,
    conn: &Arc<Conn>,
    bytes: &[u8],
    lens: &[u32],
    mut corked: Option<&mut Lost>,
) -> Result<Delivery, SendError> {
    // The clock is read only when the lock is contended: the time waiting for it counts
    // towards the send's wait for room, as if the deadline had been set before taking it.
    let (mut q, since) = match conn.write.try_lock() {
        Some(q) => (q, None),
        None => {
            let t = Instant::now();
            (conn.write.lock(), Some(t))
        }
    };
    // Checked under the lock: the final close sets the reason before it takes the lock to
    // clear the queue, so whatever is queued after this check is in what it reports.
    if conn.close_reason().is_some() {
        if let Some(lost) = corked.as_deref_mut() {
            lose(conn, &mut q, lens, 0, lost);
        }
        return Err(SendError::Closed(conn.id));
    }
    if cfg.tcp.asynchronous {
        let w = Write1 {
            bytes,
            lens,
            corked,
            since,
        };
        write_async(shared, cfg, conn, q, w)
    } else {
        let r = write_blocking(conn, bytes, cfg.tcp.send_timeout, since);
        drop(q);
        finish_blocking(shared, conn, bytes.len(), r).map(|()| Delivery::Written)
    }
}

/// Books accepted messages that will not be written (after the first `from` bytes) and notes
/// where they start for the caller.
fn lose(conn: &Conn, q: &mut WriteQueue, lens: &[u32], from: usize, lost: &mut Lost) {
    lost.from = Some(from);
    let (msgs, bytes) = crate::wq::unwritten(lens, from);
    if !q.lose(lens, from) {
        log::info!(
            "conid {}: {msgs} corked messages ({bytes} bytes) not sent after the close was reported",
            conn.id
        );
    }
}

/// What one `write_now` writes.
struct Write1<'a, 'b> {
    bytes: &'a [u8],
    lens: &'a [u32],
    corked: Option<&'b mut Lost>,
    /// When the sender started waiting for the write lock, if it had to.
    since: Option<Instant>,
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
/// socket takes of the bytes, then the rest queued and TCP main told to watch. The clock is
/// read only when the queue is involved (the common case, a direct write, needs no time).
fn write_async(
    shared: &Shared,
    cfg: &Config,
    conn: &Conn,
    mut q: parking_lot::MutexGuard<'_, WriteQueue>,
    w: Write1<'_, '_>,
) -> Result<Delivery, SendError> {
    let Write1 {
        bytes,
        lens,
        mut corked,
        since,
    } = w;
    let connecting = conn.state() == ConnState::Connecting;
    if !connecting && !q.is_empty() {
        // Help TCP main: a sender holding the lock writes what the socket takes now, so a
        // single flusher never falls behind many senders. Order is kept: the queue goes first.
        match q.flush_to(&conn.stream, Instant::now(), &shared.stats.queued_bytes) {
            Ok(n) => add(&shared.stats.bytes_sent, n as u64),
            Err(e) => {
                if let Some(lost) = corked.as_deref_mut() {
                    lose(conn, &mut q, lens, 0, lost);
                }
                drop(q);
                return Err(write_failed(shared, conn, e));
            }
        }
    }
    let done = if connecting || !q.is_empty() {
        0
    } else {
        let wait = if NEVER_WAIT.with(Cell::get) {
            Duration::ZERO
        } else {
            cfg.tcp.async_local_write_timeout
        };
        let (n, r) = write_direct(conn, bytes, wait, since);
        // What the socket took is written, even if it failed after.
        add(&shared.stats.bytes_sent, n as u64);
        if let Err(e) = r {
            if let Some(lost) = corked.as_deref_mut() {
                lose(conn, &mut q, lens, n, lost);
            }
            drop(q);
            return Err(write_failed(shared, conn, e));
        }
        n
    };
    let mut tell_main = false;
    if done < bytes.len() {
        if let Err(limit) = queue::enqueue(shared, cfg, &mut q, bytes, lens, done, Instant::now()) {
            if let Some(lost) = corked {
                lose(conn, &mut q, lens, done, lost);
            }
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
    Ok(if done < bytes.len() {
        Delivery::Queued
    } else {
        Delivery::Written
    })
}

/// Writes what the socket takes, waiting for room up to `wait` from `since` (else from the
/// first time the socket is full); returns the bytes written and how it ended (an error after
/// some bytes were taken still counts them).
fn write_direct(
    conn: &Conn,
    bytes: &[u8],
    wait: Duration,
    since: Option<Instant>,
) -> (usize, io::Result<()>) {
    let mut deadline = since.map(|t| t + wait);
    let mut off = 0;
    while let Some(rest) = bytes.get(off..).filter(|r| !r.is_empty()) {
        match (&conn.stream).write(rest) {
            Ok(0) => return (off, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let deadline = *deadline.get_or_insert_with(|| Instant::now() + wait);
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match sys::wait_writable(conn.stream.as_raw_fd(), left) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => return (off, Err(e)),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (off, Err(e)),
        }
    }
    (off, Ok(()))
}

/// Writes all of `bytes` or fails: `Err(None)` when the socket stayed full for `wait`.
fn write_blocking(
    conn: &Conn,
    bytes: &[u8],
    wait: Duration,
    since: Option<Instant>,
) -> Result<(), Option<io::Error>> {
    let (n, r) = write_direct(conn, bytes, wait, since);
    r.map_err(Some)?;
    if n == bytes.len() {
        Ok(())
    } else {
        Err(None)
    }
}
