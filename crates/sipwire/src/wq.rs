//! The per-connection async write queue (`tcp_async`): what a send could not write at once,
//! in blocks of `tcp_wq_blk_size` bytes (a block is grown to fit a larger message), flushed by
//! TCP main when the socket turns writable.
//!
//! Limits are checked by the caller before [`WriteQueue::push`] (see `send.rs`): bytes per
//! connection (`tcp_conn_wq_max`), messages per connection (`tcp_async_max_postponed_chunks`)
//! and bytes in all queues (`tcp_wq_max`).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::time::Instant;

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
    pub main_watching: bool,
}

impl WriteQueue {
    /// Bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages queued since the queue was last empty (`tcp_async_max_postponed_chunks`).
    pub fn msgs(&self) -> usize {
        self.msgs
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Appends one message, packing it into the last block when it fits, else into a new
    /// block of `blk_size` bytes (or the message's size, if larger).
    pub fn push(&mut self, msg: &[u8], blk_size: usize, now: Instant) {
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

    /// Writes as much as the socket takes. `Ok(n)` bytes were written (the queue may still
    /// hold more: the socket would block); errors other than would-block are returned.
    pub fn flush_to(&mut self, mut w: impl Write, now: Instant) -> io::Result<usize> {
        let mut total = 0;
        while let Some(front) = self.blocks.front() {
            let Some(rest) = front.get(self.head_written..) else {
                break;
            };
            match w.write(rest) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    total += n;
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
        Ok(total)
    }

    /// Drops everything; returns (bytes, messages) dropped.
    pub fn clear(&mut self) -> (usize, usize) {
        let dropped = (self.bytes, self.msgs);
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
        assert_eq!(q.flush_to(&mut w, now).unwrap(), 5);
        assert_eq!(q.bytes(), 19);
        w.room = 100;
        assert_eq!(q.flush_to(&mut w, now).unwrap(), 19);
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
        assert_eq!(q.clear(), (5, 2));
        assert!(q.is_empty());
    }
}
