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

/// Bytes waiting to be written to one connection. What only a non-empty queue needs is boxed
/// ([`Held`]): an idle connection's queue is a pointer, a count and two flags (memory per idle
/// connection). The box goes when the queue drains (its offsets start again from zero).
#[derive(Debug, Default)]
pub(crate) struct WriteQueue {
    /// The blocks and their books; `None` while nothing is queued or booked.
    held: Option<Box<Held>>,
    /// Bytes queued and not yet written.
    bytes: usize,
    /// Cleared by the final close: nothing booked after this is reported.
    closed: bool,
    /// TCP main is watching the socket for writability on this queue's behalf.
    main_watching: bool,
}

/// The part of a queue that exists while it holds bytes: its blocks and the books on them.
#[derive(Debug, Default)]
struct Held {
    blocks: VecDeque<Vec<u8>>,
    /// Bytes of the front block already written.
    head_written: usize,
    /// Cumulative end offsets (in bytes ever stored) of the messages still (partly) queued:
    /// its length is what `tcp_async_max_postponed_chunks` limits (OpenSIPS's
    /// `async_chunks_no`, which goes down as each one is completely written).
    ends: VecDeque<u64>,
    /// Offset (in bytes ever stored) where the first message of `ends` starts: a partly
    /// written head message keeps its whole bytes until it is completely written, so the
    /// final close can hand it out whole.
    head_start: u64,
    /// Offset (in bytes ever stored) of the front block's first byte.
    front_off: u64,
    /// Bytes ever stored: pushed, plus the already written start of a message whose rest was
    /// pushed (kept so the message can be handed out whole).
    pushed: u64,
    /// Bytes ever stored that are written (or were written before they were stored).
    written: u64,
    /// Accepted messages (and their bytes) dropped outside the queue — a corked batch whose
    /// write failed — reported by the next [`WriteQueue::clear`].
    lost: (usize, usize),
    /// Last time the queue made progress (or was created): `tcp_send_timeout` counts from here.
    last_progress: Option<Instant>,
}

impl WriteQueue {
    /// Bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages still (partly) queued.
    #[cfg(test)]
    pub fn msgs(&self) -> usize {
        self.pending_msgs()
    }

    /// Messages still (partly) queued.
    fn pending_msgs(&self) -> usize {
        self.held.as_ref().map_or(0, |h| h.ends.len())
    }

    /// Records accepted messages that will never be written and are not in the queue (a
    /// corked batch whose write failed): `lens` are the batch's message lengths, of which the
    /// first `from` bytes were written. Reported by the next [`WriteQueue::clear`]; false if
    /// the queue was cleared by the final close already (so they will not be).
    pub fn lose(&mut self, lens: &[u32], from: usize) -> bool {
        let (msgs, bytes) = unwritten(lens, from);
        let h = self.held.get_or_insert_with(Box::default);
        h.lost.0 += msgs;
        h.lost.1 += bytes;
        !self.closed
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Last time the queue made progress (or was first pushed to since it was empty); `None`
    /// when it is empty: `tcp_send_timeout` counts from here.
    pub fn last_progress(&self) -> Option<Instant> {
        self.held.as_ref().and_then(|h| h.last_progress)
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

    /// Appends `bytes[from..]` as one push if every limit allows it, counting it in `gauge`
    /// (bytes in all queues). `lens` are the lengths of the messages `bytes` holds (one, or a
    /// corked batch; they sum to `bytes.len()`), of which the first `from` bytes were written:
    /// the messages left keep their boundaries, a partly written one counting as one. The
    /// messages limit (`tcp_async_max_postponed_chunks`) counts those pending: the ones
    /// already queued and not completely written, plus the ones this push adds.
    pub fn try_push(
        &mut self,
        bytes: &[u8],
        lens: &[u32],
        from: usize,
        limits: Limits,
        gauge: &AtomicU64,
        now: Instant,
    ) -> Result<(), QueueLimit> {
        let msg = bytes.get(from..).unwrap_or(&[]);
        let n = msg.len();
        if n == 0 {
            return Ok(());
        }
        if self.bytes + n > limits.conn_bytes {
            return Err(QueueLimit::ConnBytes);
        }
        // Lengths that do not add up make the rest one message (see `mark_ends`).
        let adds = unwritten(lens, from).0.max(1);
        if self.pending_msgs() + adds > limits.msgs {
            return Err(QueueLimit::Messages);
        }
        let n64 = n as u64;
        let total = gauge.fetch_add(n64, Ordering::AcqRel) + n64;
        if total > limits.total_bytes {
            gauge.fetch_sub(n64, Ordering::AcqRel);
            return Err(QueueLimit::TotalBytes);
        }
        // A message partly written before (directly, so the queue was empty) is stored whole:
        // its written start as a written prefix of a new block.
        let start = msg_start(lens, from).min(from);
        let prefix = if self.held.as_ref().is_none_or(|h| h.blocks.is_empty()) {
            from - start
        } else {
            0
        };
        let stored = bytes.get(from - prefix..).unwrap_or(msg);
        let base = self.held.as_ref().map_or(0, |h| h.pushed);
        self.push(stored, prefix, limits.blk_size, now);
        self.mark_ends(lens, from - prefix, base);
        Ok(())
    }

    /// Records the ends of the messages of the push just made at offset `base`: `lens` are
    /// the lengths of the messages it came from, of which the first `from` bytes were not
    /// stored.
    fn mark_ends(&mut self, lens: &[u32], from: usize, base: u64) {
        let Some(h) = self.held.as_deref_mut() else {
            return; // nothing was stored
        };
        let pushed = h.pushed;
        let from = from as u64;
        let mut end_in = 0u64;
        for &l in lens {
            end_in += u64::from(l);
            if end_in > from {
                h.ends.push_back(base + (end_in - from));
            }
        }
        debug_assert_eq!(
            base + end_in.saturating_sub(from),
            pushed,
            "message lengths must sum to the bytes"
        );
        if h.ends.back().is_none_or(|&e| e != pushed) {
            // Lengths that do not add up: keep the books whole (the rest is one message).
            h.ends.retain(|&e| e < pushed);
            h.ends.push_back(pushed);
        }
    }

    /// Appends one push, packing it into the last block when it fits, else into a new block
    /// of `blk_size` bytes (or the push's size, if larger). A push never spans blocks, so
    /// neither does a message. The first `prefix` bytes are written already (only when the
    /// queue holds no block: they start the new front block, marked written).
    fn push(&mut self, msg: &[u8], prefix: usize, blk_size: usize, now: Instant) {
        if msg.len() <= prefix {
            return;
        }
        let h = self.held.get_or_insert_with(Box::default);
        if self.bytes == 0 {
            h.last_progress = Some(now);
        }
        match h.blocks.back_mut() {
            Some(b) if prefix == 0 && b.capacity() - b.len() >= msg.len() => {
                b.extend_from_slice(msg)
            }
            _ => {
                let mut b = Vec::with_capacity(blk_size.max(msg.len()));
                b.extend_from_slice(msg);
                if h.blocks.is_empty() {
                    h.front_off = h.pushed;
                    h.head_written = prefix;
                }
                h.blocks.push_back(b);
            }
        }
        self.bytes += msg.len() - prefix;
        h.pushed += msg.len() as u64;
        h.written += prefix as u64;
        if h.ends.is_empty() {
            h.head_start = h.pushed - msg.len() as u64;
        }
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
        let Some(h) = self.held.as_deref_mut() else {
            return Ok(());
        };
        while let Some(front) = h.blocks.front() {
            let Some(rest) = front.get(h.head_written..) else {
                break;
            };
            match w.write(rest) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    *total += n;
                    self.bytes -= n;
                    h.written += n as u64;
                    while let Some(e) = h.ends.front().copied().filter(|&e| e <= h.written) {
                        h.ends.pop_front();
                        h.head_start = e;
                    }
                    h.head_written += n;
                    h.last_progress = Some(now);
                    if h.head_written >= front.len() {
                        h.front_off += front.len() as u64;
                        h.blocks.pop_front();
                        h.head_written = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.bytes == 0 {
            h.last_progress = None;
            if h.blocks.is_empty() && h.ends.is_empty() && h.lost == (0, 0) {
                // Drained: an idle connection keeps no blocks or books.
                self.held = None;
            }
        }
        Ok(())
    }

    /// Drops everything, taking it off `gauge`; returns (bytes, messages) not written: those
    /// still (partly) queued, a partly written message counting as one and only its unwritten
    /// bytes counted, plus those recorded by [`WriteQueue::lose`]. The queued messages
    /// themselves are not kept: see [`WriteQueue::take_unsent`] for them.
    #[cfg(test)]
    pub fn clear(&mut self, gauge: &AtomicU64) -> (usize, usize) {
        let u = self.take_unsent(gauge);
        (u.bytes, u.msgs)
    }

    /// The final close: drops everything, taking it off `gauge`, and hands out the messages
    /// still (partly) queued — each whole, a partly written head message from its first byte
    /// — with the counts: bytes not written (of a partly written message, only its unwritten
    /// bytes) and messages, those recorded by [`WriteQueue::lose`] included (their bytes are
    /// handed out by whoever recorded them). Nothing booked after this is reported. Moves the
    /// blocks out (no copy): call it under the lock, use the result after.
    pub fn take_unsent(&mut self, gauge: &AtomicU64) -> Unsent {
        let h = self.held.take().map(|b| *b).unwrap_or_default();
        let mut ranges = Vec::with_capacity(h.ends.len());
        let mut start = h.head_start;
        let mut block = 0;
        let mut block_off = h.front_off;
        for &end in &h.ends {
            // Messages never span blocks: find the block holding this one.
            while let Some(b) = h.blocks.get(block) {
                let b_end = block_off + b.len() as u64;
                if start < b_end {
                    break;
                }
                block_off = b_end;
                block += 1;
            }
            let Some(b) = h.blocks.get(block) else {
                break;
            };
            let lo = usize::try_from(start.saturating_sub(block_off)).unwrap_or(usize::MAX);
            let hi = usize::try_from(end.saturating_sub(block_off)).unwrap_or(usize::MAX);
            ranges.push((block, lo.min(b.len()), hi.min(b.len())));
            start = end;
        }
        let u = Unsent {
            bytes: self.bytes + h.lost.1,
            msgs: h.ends.len() + h.lost.0,
            blocks: h.blocks,
            ranges,
        };
        gauge.fetch_sub(self.bytes as u64, Ordering::AcqRel);
        self.bytes = 0;
        self.closed = true;
        u
    }

    /// Memory held by the queue's blocks (for bounds checks in tests).
    #[cfg(test)]
    pub fn allocated(&self) -> usize {
        self.held
            .as_ref()
            .map_or(0, |h| h.blocks.iter().map(Vec::capacity).sum())
    }
}

/// What the final close took out of a queue: the messages not completely written (each whole)
/// and the counts the close event reports.
#[derive(Debug, Default)]
pub(crate) struct Unsent {
    /// Bytes not written (queued ones, plus those recorded lost).
    pub bytes: usize,
    /// Messages not completely written (queued ones, plus those recorded lost).
    pub msgs: usize,
    blocks: VecDeque<Vec<u8>>,
    /// (block, start, end) of each queued message.
    ranges: Vec<(usize, usize, usize)>,
}

impl Unsent {
    /// The queued messages, whole, in queue order (those recorded lost are not here).
    pub fn messages(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.ranges
            .iter()
            .filter_map(|&(b, lo, hi)| self.blocks.get(b).and_then(|blk| blk.get(lo..hi)))
    }
}

/// The offset, within a batch of messages of lengths `lens`, where the message holding byte
/// `at` starts (`at` itself at a boundary or past the end).
fn msg_start(lens: &[u32], at: usize) -> usize {
    let mut start = 0usize;
    for &l in lens {
        let end = start + l as usize;
        if end > at {
            return start;
        }
        start = end;
    }
    at
}

/// The messages of a batch of messages of lengths `lens` in `bytes`, the first `from` bytes
/// written, that were not completely written — each whole.
pub(crate) fn unwritten_msgs<'a>(
    bytes: &'a [u8],
    lens: &'a [u32],
    from: usize,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut start = 0usize;
    lens.iter().filter_map(move |&l| {
        let s = start;
        start += l as usize;
        if start > from {
            bytes.get(s..start)
        } else {
            None
        }
    })
}

/// Of messages of lengths `lens`, the first `from` bytes written: (messages, bytes) not
/// completely written.
pub(crate) fn unwritten(lens: &[u32], from: usize) -> (usize, usize) {
    let mut skip = from as u64;
    let (mut msgs, mut bytes) = (0, 0u64);
    for &l in lens {
        let l = u64::from(l);
        if l <= skip {
            skip -= l;
            continue;
        }
        msgs += 1;
        bytes += l - skip;
        skip = 0;
    }
    (msgs, bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl WriteQueue {
        /// Pushes one message, no limits.
        fn push_one(&mut self, msg: &[u8], blk_size: usize, now: Instant) {
            let start = self.held.as_ref().map_or(0, |h| h.pushed);
            self.push(msg, 0, blk_size, now);
            if !msg.is_empty() {
                self.mark_ends(&[msg.len() as u32], 0, start);
            }
        }
    }

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
        q.push_one(b"aaaa", 10, now);
        q.push_one(b"bbbb", 10, now);
        q.push_one(b"cccccccccccccccc", 10, now); // larger than a block: its own block
        assert_eq!(q.bytes(), 24);
        assert_eq!(q.msgs(), 3);
        assert_eq!(q.held.as_ref().map(|h| h.blocks.len()), Some(2));
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
        assert!(q.last_progress().is_none());
        assert!(q.held.is_none(), "a drained queue keeps no blocks");
        // And it works again after that.
        q.push_one(b"dddd", 10, now);
        assert_eq!((q.bytes(), q.msgs()), (4, 1));
        let gauge = AtomicU64::new(4);
        assert_eq!(q.flush_to(&mut w, now, &gauge).unwrap(), 4);
        assert!(w.out.ends_with(b"ccccdddd"));
    }

    #[test]
    fn clear_reports_what_was_dropped() {
        let now = Instant::now();
        let mut q = WriteQueue::default();
        q.push_one(b"xyz", 2100, now);
        q.push_one(b"", 2100, now);
        q.push_one(b"12", 2100, now);
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
            q.try_push(b"0123456789a", &[11], 0, limits, &gauge, now),
            Err(QueueLimit::ConnBytes)
        );
        assert_eq!(q.try_push(b"0123", &[4], 0, limits, &gauge, now), Ok(()));
        assert_eq!(gauge.load(Ordering::Relaxed), 4);
        gauge.fetch_add(6, Ordering::Relaxed); // another connection's queue
        assert_eq!(
            q.try_push(b"abc", &[3], 0, limits, &gauge, now),
            Err(QueueLimit::TotalBytes)
        );
        assert_eq!(
            gauge.load(Ordering::Relaxed),
            10,
            "a refused push leaves the gauge"
        );
        assert_eq!(q.try_push(b"ab", &[2], 0, limits, &gauge, now), Ok(()));
        assert_eq!(
            q.try_push(b"c", &[1], 0, limits, &gauge, now),
            Err(QueueLimit::Messages)
        );
        assert_eq!((q.bytes(), q.msgs()), (6, 2));
    }

    #[test]
    fn postponed_chunks_count_messages_pending_not_pushes() {
        let now = Instant::now();
        let limits = Limits {
            conn_bytes: 1000,
            msgs: 3,
            total_bytes: 1000,
            blk_size: 16,
        };
        let gauge = AtomicU64::new(0);
        let mut q = WriteQueue::default();
        // A corked batch of three messages is three pending, whatever the pushes.
        assert_eq!(
            q.try_push(b"aabbcc", &[2, 2, 2], 0, limits, &gauge, now),
            Ok(())
        );
        assert_eq!(q.msgs(), 3);
        assert_eq!(
            q.try_push(b"d", &[1], 0, limits, &gauge, now),
            Err(QueueLimit::Messages),
            "a fourth pending message"
        );
        // Messages complete one by one and the count goes down, the queue never empty: 30
        // pushes, never more than 3 pending, none refused.
        let mut w = Limited {
            out: Vec::new(),
            room: 0,
        };
        for i in 0..30u8 {
            w.room = 2;
            q.flush_to(&mut w, now, &gauge).unwrap();
            assert!(!q.is_empty(), "drains partly, never empties");
            assert_eq!(q.msgs(), 2);
            assert_eq!(
                q.try_push(&[b'e' + i % 20; 2], &[2], 0, limits, &gauge, now),
                Ok(())
            );
        }
        // A partly written head message is still pending.
        w.room = 1;
        q.flush_to(&mut w, now, &gauge).unwrap();
        assert_eq!((q.msgs(), q.bytes()), (3, 5));
        assert_eq!(
            q.try_push(b"z", &[1], 0, limits, &gauge, now),
            Err(QueueLimit::Messages)
        );
        // A batch whose first message was written directly adds only the ones left.
        w.room = 3;
        q.flush_to(&mut w, now, &gauge).unwrap();
        assert_eq!(q.msgs(), 1);
        assert_eq!(
            q.try_push(b"xxyyzz", &[2, 2, 2], 2, limits, &gauge, now),
            Ok(())
        );
        assert_eq!(q.msgs(), 3);
    }

    #[test]
    fn boundaries_survive_partial_writes() {
        let now = Instant::now();
        let mut q = WriteQueue::default();
        q.push_one(b"aaaa", 6, now);
        q.push_one(b"bbbbbb", 6, now);
        q.push_one(b"cc", 6, now);
        let gauge = AtomicU64::new(12);
        let mut w = Limited {
            out: Vec::new(),
            room: 3,
        };
        for (room, msgs, bytes) in [(3, 3, 9), (1, 2, 8), (5, 2, 3), (1, 1, 2), (1, 1, 1)] {
            w.room = room;
            q.flush_to(&mut w, now, &gauge).unwrap();
            assert_eq!(
                (q.msgs(), q.bytes()),
                (msgs, bytes),
                "after {room} more bytes"
            );
        }
        assert_eq!(
            q.clear(&gauge),
            (1, 1),
            "a partly written message is one unsent"
        );
        assert_eq!(gauge.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_push_of_three_messages_written_one_and_a_half_reports_two_unsent() {
        let now = Instant::now();
        let limits = Limits {
            conn_bytes: 1000,
            msgs: 32,
            total_bytes: 1000,
            blk_size: 4,
        };
        let gauge = AtomicU64::new(0);
        let mut q = WriteQueue::default();
        // Three 10-byte messages, of which a direct write took 4 bytes already.
        let batch = [b'm'; 30];
        assert_eq!(
            q.try_push(&batch, &[10, 10, 10], 4, limits, &gauge, now),
            Ok(())
        );
        assert_eq!((q.msgs(), q.bytes()), (3, 26));
        let mut w = Limited {
            out: Vec::new(),
            room: 11, // up to 15 of 30: one and a half messages
        };
        assert_eq!(q.flush_to(&mut w, now, &gauge).unwrap(), 11);
        assert_eq!(q.clear(&gauge), (15, 2));
        assert_eq!(gauge.load(Ordering::Relaxed), 0);
        // A batch that failed outright: the messages not written are reported too.
        assert!(!q.lose(&[10, 10, 10], 15), "cleared by the close: too late");
        assert_eq!(q.clear(&gauge), (15, 2));
        assert_eq!(q.clear(&gauge), (0, 0));
    }

    #[test]
    fn take_unsent_hands_out_each_unwritten_message_whole() {
        let now = Instant::now();
        let limits = Limits {
            conn_bytes: 1000,
            msgs: 32,
            total_bytes: 1000,
            blk_size: 8,
        };
        let gauge = AtomicU64::new(0);
        let mut q = WriteQueue::default();
        // A batch of three messages, of which a direct write took 4 bytes of the first.
        let batch = b"aaaaaaaaaabbbbbbbbbbcccccccccc";
        q.try_push(batch, &[10, 10, 10], 4, limits, &gauge, now)
            .unwrap();
        assert_eq!(
            gauge.load(Ordering::Relaxed),
            26,
            "the kept prefix is not queued bytes"
        );
        q.try_push(b"dd", &[2], 0, limits, &gauge, now).unwrap();
        let mut w = Limited {
            out: Vec::new(),
            room: 11, // the rest of "a", and "b" up to its 6th byte
        };
        q.flush_to(&mut w, now, &gauge).unwrap();
        assert_eq!(w.out, b"aaaaaabbbbb");
        let u = q.take_unsent(&gauge);
        assert_eq!((u.bytes, u.msgs), (17, 3));
        let msgs: Vec<&[u8]> = u.messages().collect();
        assert_eq!(msgs, [&b"bbbbbbbbbb"[..], b"cccccccccc", b"dd"]);
        assert_eq!(gauge.load(Ordering::Relaxed), 0);
        // A head message partly written by a direct write is handed out whole.
        q = WriteQueue::default();
        q.try_push(b"xxxxyyyy", &[4, 4], 5, limits, &gauge, now)
            .unwrap();
        let u = q.take_unsent(&gauge);
        assert_eq!((u.bytes, u.msgs), (3, 1));
        assert_eq!(u.messages().collect::<Vec<_>>(), [&b"yyyy"[..]]);
        assert_eq!(gauge.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn unwritten_msgs_are_whole() {
        let b = b"aaabbbbccccc";
        let all: Vec<&[u8]> = unwritten_msgs(b, &[3, 4, 5], 0).collect();
        assert_eq!(all, [&b"aaa"[..], b"bbbb", b"ccccc"]);
        let some: Vec<&[u8]> = unwritten_msgs(b, &[3, 4, 5], 4).collect();
        assert_eq!(some, [&b"bbbb"[..], b"ccccc"]);
        assert_eq!(unwritten_msgs(b, &[3, 4, 5], 12).count(), 0);
    }

    #[test]
    fn unwritten_counts_a_partly_written_message_as_one() {
        assert_eq!(unwritten(&[3, 4, 5], 0), (3, 12));
        assert_eq!(unwritten(&[3, 4, 5], 3), (2, 9));
        assert_eq!(unwritten(&[3, 4, 5], 4), (2, 8));
        assert_eq!(unwritten(&[3, 4, 5], 12), (0, 0));
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
