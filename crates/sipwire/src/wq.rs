//! The per-connection async write queue (`tcp_async`): what a send could not write at once,
//! in blocks of `tcp_wq_blk_size` bytes (a block is grown to fit a larger message), flushed by
//! TCP main when the socket turns writable.
//!
//! The queue keeps its own books: [`WriteQueue::try_push`] checks the limits — bytes per
//! connection (`tcp_conn_wq_max`), messages per connection (`tcp_async_max_postponed_chunks`)
//! and bytes in all queues (`tcp_wq_max`) — and every push, write and clear updates the
//! all-queues gauge (`queued_bytes`) it is given. It also carries TCP main's "watching this
//! socket for writability" bit, set and cleared only through [`WriteQueue::watch`] and
//! [`WriteQueue::unwatch`], because senders must test and set it under this queue's lock.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Which write-queue limit a send hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueLimit {
    /// `tcp_conn_wq_max`: bytes queued on one connection.
    ConnBytes,
    /// `tcp_wq_max`: bytes queued on all connections.
    TotalBytes,
    /// `tcp_async_max_postponed_chunks`: messages queued on one connection.
    Messages,
}

/// The limits and block size a push obeys (from the config of the moment).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `tcp_conn_wq_max`.
    pub conn_bytes: usize,
    /// `tcp_async_max_postponed_chunks`.
    pub msgs: usize,
    /// `tcp_wq_max`, checked against the gauge.
    pub total_bytes: u64,
    /// `tcp_wq_blk_size`.
    pub blk_size: usize,
}

/// Bytes waiting to be written to one connection.
#[derive(Debug, Default)]
pub(crate) struct WriteQueue {
    blocks: VecDeque<Vec<u8>>,
    /// Bytes of the front block already written.
    head_written: usize,
    /// Bytes queued and not yet written.
    bytes: usize,
    /// Messages queued (each push is one), until the queue drains completely.
    msgs: usize,
    /// Last time the queue made progress (or was created): `tcp_send_timeout` counts from here.
    pub last_progress: Option<Instant>,
    /// TCP main is watching the socket for writability on this queue's behalf.
    main_watching: bool,
}

impl WriteQueue {
    /// Bytes waiting.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages queued since the queue was last empty (`tcp_async_max_postponed_chunks`).
    #[cfg(test)]
    pub fn msgs(&self) -> usize {
        self.msgs
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// TCP main is (or has been asked to be) watching the socket for this queue.
    pub fn is_watched(&self) -> bool {
        self.main_watching
    }

    /// Marks the queue as watched by TCP main; true if it was not (the caller then tells main).
    pub fn watch(&mut self) -> bool {
        !std::mem::replace(&mut self.main_watching, true)
    }

    /// TCP main stopped watching (the queue drained).
    pub fn unwatch(&mut self) {
        self.main_watching = false;
    }

    /// Appends one message if every limit allows it, counting it in `gauge` (bytes in all
    /// queues).
    pub fn try_push(
        &mut self,
        msg: &[u8],
        limits: Limits,
        gauge: &AtomicU64,
        now: Instant,
    ) -> Result<(), QueueLimit> {
        let n = msg.len();
        if self.bytes + n > limits.conn_bytes {
            return Err(QueueLimit::ConnBytes);
        }
        if self.msgs + 1 > limits.msgs {
            return Err(QueueLimit::Messages);
        }
        let n64 = n as u64;
        let total = gauge.fetch_add(n64, Ordering::AcqRel) + n64;
        if total > limits.total_bytes {
            gauge.fetch_sub(n64, Ordering::AcqRel);
            return Err(QueueLimit::TotalBytes);
        }
        self.push(msg, limits.blk_size, now);
        Ok(())
    }

    /// Appends one message, packing it into the last block when it fits, else into a new
    /// block of `blk_size` bytes (or the message's size, if larger).
    fn push(&mut self, msg: &[u8], blk_size: usize, now: Instant) {
        if msg.is_empty() {
            return;
        }
        if self.bytes == 0 {
            self.last_progress = Some(now);
        }
        match self.blocks.back_mut() {
            Some(b) if b.capacity() - b.len() >= msg.len() => b.extend_from_slice(msg),
            _ => {
                let mut b = Vec::with_capacity(blk_size.max(msg.len()));
                b.extend_from_slice(msg);
                self.blocks.push_back(b);
            }
        }
        self.bytes += msg.len();
        self.msgs += 1;
    }

    /// Writes as much as the socket takes, taking what was written off `gauge`. `Ok(n)` bytes
    /// were written (the queue may still hold more: the socket would block); errors other than
    /// would-block are returned.
    pub fn flush_to(
        &mut self,
        w: impl Write,
        now: Instant,
        gauge: &AtomicU64,
    ) -> io::Result<usize> {
        let mut written = 0;
        let r = self.write_out(w, now, &mut written);
        gauge.fetch_sub(written as u64, Ordering::AcqRel);
        r.map(|()| written)
    }

    fn write_out(&mut self, mut w: impl Write, now: Instant, total: &mut usize) -> io::Result<()> {
        while let Some(front) = self.blocks.front() {
            let Some(rest) = front.get(self.head_written..) else {
                break;
            };
            match w.write(rest) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    *total += n;
                    self.bytes -= n;
                    self.head_written += n;
                    self.last_progress = Some(now);
                    if self.head_written >= front.len() {
                        self.blocks.pop_front();
                        self.head_written = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.bytes == 0 {
            self.msgs = 0;
            self.last_progress = None;
        }
        Ok(())
    }

    /// Drops everything, taking it off `gauge`; returns (bytes, messages) dropped.
    pub fn clear(&mut self, gauge: &AtomicU64) -> (usize, usize) {
        let dropped = (self.bytes, self.msgs);
        gauge.fetch_sub(self.bytes as u64, Ordering::AcqRel);
        self.blocks.clear();
        self.head_written = 0;
        self.bytes = 0;
        self.msgs = 0;
        self.last_progress = None;
        dropped
    }

    /// Memory held by the queue's blocks (for bounds checks in tests).
    #[cfg(test)]
    pub fn allocated(&self) -> usize {
        self.blocks.iter().map(Vec::capacity).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `room` bytes, then would block.
    struct Limited {
        out: Vec<u8>,
        room: usize,
    }

    impl Write for Limited {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = b.len().min(self.room);
            self.out.extend_from_slice(&b[..n]);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn packs_into_blocks_and_flushes_in_order_across_partial_writes() {
        let now = Instant::now();
        let mut q = WriteQueue::default();
        q.push(b"aaaa", 10, now);
        q.push(b"bbbb", 10, now);
        q.push(b"cccccccccccccccc", 10, now); // larger than a block: its own block
        assert_eq!(q.bytes(), 24);
        assert_eq!(q.msgs(), 3);
        assert_eq!(q.blocks.len(), 2);
        assert!(q.allocated() <= 10 + 16);
        let mut w = Limited {
            out: Vec::new(),
            room: 5,
        };
        let gauge = AtomicU64::new(24);
        assert_eq!(q.flush_to(&mut w, now, &gauge).unwrap(), 5);
        assert_eq!(q.bytes(), 19);
        assert_eq!(gauge.load(Ordering::Relaxed), 19);
        w.room = 100;
        assert_eq!(q.flush_to(&mut w, now, &gauge).unwrap(), 19);
        assert_eq!(gauge.load(Ordering::Relaxed), 0);
        assert_eq!(w.out, b"aaaabbbbcccccccccccccccc");
        assert!(q.is_empty());
        assert_eq!(q.msgs(), 0);
        assert!(q.last_progress.is_none());
    }

    #[test]
    fn clear_reports_what_was_dropped() {
        let now = Instant::now();
        let mut q = WriteQueue::default();
        q.push(b"xyz", 2100, now);
        q.push(b"", 2100, now);
        q.push(b"12", 2100, now);
        let gauge = AtomicU64::new(5);
        assert_eq!(q.clear(&gauge), (5, 2));
        assert!(q.is_empty());
        assert_eq!(gauge.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn try_push_checks_each_limit_and_keeps_the_gauge() {
        let now = Instant::now();
        let limits = Limits {
            conn_bytes: 10,
            msgs: 2,
            total_bytes: 12,
            blk_size: 16,
        };
        let gauge = AtomicU64::new(0);
        let mut q = WriteQueue::default();
        assert_eq!(
            q.try_push(b"0123456789a", limits, &gauge, now),
            Err(QueueLimit::ConnBytes)
        );
        assert_eq!(q.try_push(b"0123", limits, &gauge, now), Ok(()));
        assert_eq!(gauge.load(Ordering::Relaxed), 4);
        gauge.fetch_add(6, Ordering::Relaxed); // another connection's queue
        assert_eq!(
            q.try_push(b"abc", limits, &gauge, now),
            Err(QueueLimit::TotalBytes)
        );
        assert_eq!(
            gauge.load(Ordering::Relaxed),
            10,
            "a refused push leaves the gauge"
        );
        assert_eq!(q.try_push(b"ab", limits, &gauge, now), Ok(()));
        assert_eq!(
            q.try_push(b"c", limits, &gauge, now),
            Err(QueueLimit::Messages)
        );
        assert_eq!((q.bytes(), q.msgs()), (6, 2));
    }

    #[test]
    fn watch_reports_only_the_first_request() {
        let mut q = WriteQueue::default();
        assert!(!q.is_watched());
        assert!(q.watch(), "first watch: tell main");
        assert!(!q.watch(), "already watched: main knows");
        q.unwatch();
        assert!(!q.is_watched());
    }
}
