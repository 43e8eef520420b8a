//! A bounded pool of read buffers shared by reader threads.
//!
//! An idle connection holds no read buffer: the runtime takes one from the
//! pool when a connection turns busy and drops it (with its decoder) when the
//! connection goes idle with no partial message or closes. A buffer from
//! [`BufPool::get`] returns to its pool when dropped, so "in use" counts
//! exactly the live buffers whatever path drops them; [`BufPool::put`] is the
//! same as dropping it. The pool is `Sync` (a std `Mutex` around a `Vec` of
//! free allocations, shared with its buffers through an `Arc`); the lock is
//! held only to push or pop.
//!
//! Bounds: at most `max_free` free buffers are retained; a buffer returned
//! beyond that is freed. Buffers in use are not limited by the pool (the
//! connection limit bounds them). Memory held by the pool is therefore at
//! most `max_free * capacity` bytes.
//!
//! `tcp_rd_buf_size` can change at runtime: [`BufPool::set_capacity`] frees
//! the retained buffers of the old size, later [`BufPool::get`] calls hand out
//! the new size, and buffers of the old size are freed when returned.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::buf::{check_capacity, Recycle};
use crate::{FrameError, ReadBuf};

/// Counters of a [`BufPool`], for tests and statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Capacity of the buffers handed out now.
    pub capacity: usize,
    /// Free buffers retained now.
    pub free: usize,
    /// Limit on retained free buffers.
    pub max_free: usize,
    /// Buffers handed out and not yet returned.
    pub outstanding: usize,
    /// Buffers allocated because none was free (total).
    pub allocated: u64,
    /// Requests served from a retained buffer (total).
    pub reused: u64,
    /// Returned buffers freed because the pool was full or the size was stale (total).
    pub discarded: u64,
}

#[derive(Debug)]
struct Inner {
    free: Vec<Box<[u8]>>,
    stats: PoolStats,
}

/// The part of a pool its buffers point back to.
#[derive(Debug)]
struct Core {
    inner: Mutex<Inner>,
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the Vec inconsistent,
        // so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Retains `buf` if it has the current capacity and there is room, else frees it.
    fn retain(&self, buf: Box<[u8]>) {
        let mut g = self.lock();
        if buf.len() == g.stats.capacity && g.free.len() < g.stats.max_free {
            g.free.push(buf);
            g.stats.free = g.free.len();
        } else {
            g.stats.discarded += 1;
            drop(g);
            drop(buf);
        }
    }
}

impl Recycle for Core {
    fn recycle(&self, buf: Box<[u8]>) {
        self.detach();
        self.retain(buf);
    }

    fn detach(&self) {
        let mut g = self.lock();
        g.stats.outstanding = g.stats.outstanding.saturating_sub(1);
    }
}

/// A thread-safe, bounded pool of read buffers of one capacity.
#[derive(Debug)]
pub struct BufPool {
    core: Arc<Core>,
}

impl BufPool {
    /// Creates a pool handing out buffers of `capacity` bytes and retaining
    /// at most `max_free` free ones. Nothing is allocated up front except the
    /// list of free slots.
    pub fn new(capacity: usize, max_free: usize) -> Result<Self, FrameError> {
        check_capacity(capacity)?;
        Ok(Self {
            core: Arc::new(Core {
                inner: Mutex::new(Inner {
                    free: Vec::with_capacity(max_free),
                    stats: PoolStats {
                        capacity,
                        max_free,
                        ..PoolStats::default()
                    },
                }),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.core.lock()
    }

    fn home(&self) -> Arc<dyn Recycle> {
        self.core.clone()
    }

    /// Takes a buffer (empty, of the current capacity), allocating if none is free. It
    /// returns to this pool when dropped.
    pub fn get(&self) -> ReadBuf {
        let mut g = self.lock();
        g.stats.outstanding += 1;
        if let Some(b) = g.free.pop() {
            g.stats.reused += 1;
            g.stats.free = g.free.len();
            drop(g);
            return ReadBuf::pooled(b, self.home());
        }
        g.stats.allocated += 1;
        let cap = g.stats.capacity;
        drop(g);
        ReadBuf::pooled(vec![0u8; cap].into_boxed_slice(), self.home())
    }

    /// Returns a buffer: the same as dropping one this pool handed out. A buffer from
    /// elsewhere ([`ReadBuf::new`]) is adopted. Either way it is freed instead of retained if
    /// its capacity is not the current one or `max_free` buffers are already retained.
    pub fn put(&self, buf: ReadBuf) {
        if buf.home().is_some() {
            drop(buf); // returns to its own pool
        } else {
            self.core.retain(buf.into_boxed());
        }
    }

    /// Changes the capacity of buffers handed out from now on and frees the
    /// retained buffers of the old capacity.
    pub fn set_capacity(&self, capacity: usize) -> Result<(), FrameError> {
        check_capacity(capacity)?;
        let old = {
            let mut g = self.lock();
            if g.stats.capacity == capacity {
                return Ok(());
            }
            g.stats.capacity = capacity;
            g.stats.free = 0;
            std::mem::take(&mut g.free)
        };
        drop(old);
        let mut g = self.lock();
        let max = g.stats.max_free;
        g.free.reserve(max);
        Ok(())
    }

    /// Changes the limit on retained free buffers, freeing any excess.
    pub fn set_max_free(&self, max_free: usize) {
        let mut g = self.lock();
        g.stats.max_free = max_free;
        g.free.truncate(max_free);
        let extra = max_free.saturating_sub(g.free.len());
        g.free.reserve(extra);
        g.stats.free = g.free.len();
    }

    /// Capacity of the buffers handed out now.
    pub fn capacity(&self) -> usize {
        self.lock().stats.capacity
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PoolStats {
        self.lock().stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuse_and_bound() {
        let p = BufPool::new(1024, 2).unwrap();
        let (a, b, c) = (p.get(), p.get(), p.get());
        assert_eq!(p.stats().outstanding, 3);
        assert_eq!(p.stats().allocated, 3);
        p.put(a);
        p.put(b);
        p.put(c); // beyond max_free: freed
        let s = p.stats();
        assert_eq!((s.free, s.discarded, s.outstanding), (2, 1, 0));
        let d = p.get();
        assert_eq!(d.capacity(), 1024);
        assert!(d.is_empty());
        assert_eq!(p.stats().reused, 1);
        p.put(d);
    }

    #[test]
    fn dropped_buffers_return_to_their_pool() {
        let p = BufPool::new(512, 4).unwrap();
        let mut b = p.get();
        b.advance(100); // a partial message, say
        drop(b);
        let s = p.stats();
        assert_eq!((s.outstanding, s.free), (0, 1));
        // A decoder dropped while it holds a partial message gives its buffer back too.
        let mut d = crate::StreamDecoder::new(crate::DecoderConfig::default());
        d.put_buffer(p.get()).unwrap();
        let n = d.spare_mut().len().min(10);
        d.spare_mut()[..n].copy_from_slice(&b"OPTIONS si"[..n]);
        d.advance(n);
        assert!(d.has_partial());
        assert!(
            d.take_buffer().is_none(),
            "a partial message keeps its buffer"
        );
        assert_eq!(p.stats().outstanding, 1);
        drop(d);
        assert_eq!(p.stats().outstanding, 0);
        // into_boxed takes a buffer out of the pool for good.
        let boxed = p.get().into_boxed();
        assert_eq!((boxed.len(), p.stats().outstanding), (512, 0));
    }

    #[test]
    fn returned_buffer_is_empty() {
        let p = BufPool::new(512, 1).unwrap();
        let mut b = p.get();
        b.advance(100);
        p.put(b);
        assert!(p.get().is_empty());
    }

    #[test]
    fn capacity_change_drops_old_buffers() {
        let p = BufPool::new(1024, 4).unwrap();
        let old = p.get();
        p.put(p.get());
        assert_eq!(p.stats().free, 1);
        p.set_capacity(2048).unwrap();
        assert_eq!(p.stats().free, 0);
        let fresh = p.get(); // held: a dropped buffer would return to the pool
        assert_eq!(fresh.capacity(), 2048);
        p.put(old); // old size: freed on return
        let s = p.stats();
        assert_eq!((s.free, s.discarded), (0, 1));
        drop(fresh);
        assert!(p.set_capacity(10).is_err());
        p.set_max_free(0);
        p.put(ReadBuf::new(2048).unwrap());
        assert_eq!(p.stats().free, 0);
    }

    #[test]
    fn shared_between_threads() {
        let p = std::sync::Arc::new(BufPool::new(512, 8).unwrap());
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        let b = p.get();
                        p.put(b);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let s = p.stats();
        assert_eq!(s.outstanding, 0);
        assert!(s.free <= 8);
    }
}
