//! Queueing what the socket did not take (`tcp_async`): the limits of the moment, and asking
//! TCP main to watch the socket until the queue drains.

use std::time::Instant;

use crate::config::Config;
use crate::conn::Conn;
use crate::handoff::MainMsg;
use crate::shared::Shared;
use crate::wq::{Limits, QueueLimit, WriteQueue};

/// The write-queue limits of `cfg`.
fn limits(cfg: &Config) -> Limits {
    Limits {
        conn_bytes: cfg.tcp.conn_wq_max,
        msgs: cfg.tcp.async_max_postponed_chunks as usize,
        total_bytes: cfg.tcp.wq_max as u64,
        blk_size: cfg.tcp.wq_blk_size,
    }
}

/// Queues `bytes[from..]` if every limit allows it; `lens` are the lengths of the messages in
/// `bytes` (see `WriteQueue::try_push`).
pub(super) fn enqueue(
    shared: &Shared,
    cfg: &Config,
    q: &mut WriteQueue,
    bytes: &[u8],
    lens: &[u32],
    from: usize,
    now: Instant,
) -> Result<(), QueueLimit> {
    q.try_push(
        bytes,
        lens,
        from,
        limits(cfg),
        &shared.stats.queued_bytes,
        now,
    )
}

/// Tells TCP main to watch (after `WriteQueue::watch` returned true and the queue's lock was
/// dropped) a connection's socket for writability and time its queue.
pub(super) fn tell_watch(shared: &Shared, conn: &Conn) {
    shared.tell_main(MainMsg::WantWrite(conn.id));
}
