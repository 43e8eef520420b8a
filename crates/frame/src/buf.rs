//! The per-connection read buffer.
//!
//! A [`ReadBuf`] is one fixed allocation of `tcp_rd_buf_size` bytes split into
//! three regions: consumed bytes at the front (`..start`), the filled region
//! (`start..end`) that holds bytes not yet handed out as frames, and the free
//! tail (`end..`) that the next `read(2)` fills. The capacity is also the
//! largest message a connection can receive, as in Kamailio.
//!
//! Bytes are never moved after each message. They move to the front
//! ([`ReadBuf::reserve_tail`]) only when the tail is too small for the next
//! read; when the filled region becomes empty both positions reset to zero,
//! which costs nothing.
//!
//! A buffer taken from a [`crate::BufPool`] remembers its pool and returns to it when dropped,
//! wherever that happens (a decoder dropped with a partial message, a closed connection): the
//! pool's accounting never depends on the caller picking the right method.

use std::fmt;
use std::sync::Arc;

use crate::FrameError;

/// Where a pooled buffer goes back to (implemented by the pool; kept as a trait so this file
/// does not depend on the pool's).
pub(crate) trait Recycle: Send + Sync {
    /// Takes the allocation of a dropped buffer back.
    fn recycle(&self, buf: Box<[u8]>);
    /// The buffer left the pool for good ([`ReadBuf::into_boxed`]): stop counting it.
    fn detach(&self);
}

/// Smallest accepted `tcp_rd_buf_size` (the lower bound of Kamailio's cfg range).
pub const MIN_RD_BUF_SIZE: usize = 512;
/// Largest accepted `tcp_rd_buf_size`: 16 MiB, Kamailio's internal limit.
pub const MAX_RD_BUF_SIZE: usize = 16 * 1024 * 1024;
/// Default `tcp_rd_buf_size`: 4096 as the Kamailio documentation states.
///
/// Kamailio's source code uses 16 KiB as its compiled-in default; sipwire
/// follows the documented value. Raise it for large SIP bodies.
pub const DEFAULT_RD_BUF_SIZE: usize = 4096;

/// A fixed-capacity read buffer: filled region plus free tail. One from a pool returns to it
/// on drop.
pub struct ReadBuf {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The pool this buffer came from, if any.
    home: Option<Arc<dyn Recycle>>,
}

impl fmt::Debug for ReadBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadBuf")
            .field("capacity", &self.buf.len())
            .field("start", &self.start)
            .field("end", &self.end)
            .field("pooled", &self.home.is_some())
            .finish()
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        if let Some(home) = self.home.take() {
            home.recycle(std::mem::take(&mut self.buf));
        }
    }
}

impl ReadBuf {
    /// Allocates a zeroed buffer of `capacity` bytes; the capacity must lie in
    /// `MIN_RD_BUF_SIZE..=MAX_RD_BUF_SIZE`.
    pub fn new(capacity: usize) -> Result<Self, FrameError> {
        check_capacity(capacity)?;
        Ok(Self::from_boxed(vec![0u8; capacity].into_boxed_slice()))
    }

    /// Wraps an existing allocation (any length, including below the minimum:
    /// tests and fuzzers use small buffers). The buffer starts empty.
    pub fn from_boxed(buf: Box<[u8]>) -> Self {
        Self {
            buf,
            start: 0,
            end: 0,
            home: None,
        }
    }

    /// A buffer that returns to `home` when dropped.
    pub(crate) fn pooled(buf: Box<[u8]>, home: Arc<dyn Recycle>) -> Self {
        let mut b = Self::from_boxed(buf);
        b.home = Some(home);
        b
    }

    /// The pool this buffer returns to, if any.
    pub(crate) fn home(&self) -> Option<&Arc<dyn Recycle>> {
        self.home.as_ref()
    }

    /// Gives the allocation back; any buffered bytes are dropped. A pooled buffer leaves its
    /// pool for good (the pool stops counting it as in use).
    pub fn into_boxed(mut self) -> Box<[u8]> {
        if let Some(home) = self.home.take() {
            home.detach();
        }
        std::mem::take(&mut self.buf)
    }

    /// Total size of the allocation, which is also the maximum message size.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The filled region: bytes read but not yet consumed.
    pub fn data(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }

    /// Number of filled bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True when no bytes are buffered.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Length of the free tail.
    pub fn tail_len(&self) -> usize {
        self.buf.len() - self.end
    }

    /// The free tail, to be filled by a read; follow with [`ReadBuf::advance`].
    pub fn spare_mut(&mut self) -> &mut [u8] {
        let end = self.end;
        self.buf.get_mut(end..).unwrap_or(&mut [])
    }

    /// Marks `n` bytes of the tail as filled. `n` is clamped to the tail length
    /// (a larger value is a caller bug, not something input can cause).
    pub fn advance(&mut self, n: usize) {
        self.end += n.min(self.tail_len());
    }

    /// Releases `n` bytes from the front of the filled region (clamped to the
    /// filled length). An emptied buffer resets both positions to zero.
    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drops every buffered byte.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Ensures the tail can take at least `want` bytes (or as many as the
    /// capacity allows) by moving the filled region to the front, but only if
    /// the tail is currently smaller than `want`. Returns true if bytes moved.
    pub fn reserve_tail(&mut self, want: usize) -> bool {
        if self.start == 0 || self.tail_len() >= want {
            return false;
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        true
    }
}

/// Checks a requested `tcp_rd_buf_size`.
pub(crate) fn check_capacity(capacity: usize) -> Result<(), FrameError> {
    if (MIN_RD_BUF_SIZE..=MAX_RD_BUF_SIZE).contains(&capacity) {
        Ok(())
    } else {
        Err(FrameError::BadCapacity {
            requested: capacity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_bounds() {
        assert!(ReadBuf::new(MIN_RD_BUF_SIZE - 1).is_err());
        assert!(ReadBuf::new(MIN_RD_BUF_SIZE).is_ok());
        assert_eq!(ReadBuf::new(DEFAULT_RD_BUF_SIZE).unwrap().capacity(), 4096);
        assert!(ReadBuf::new(MAX_RD_BUF_SIZE).is_ok());
        let e = ReadBuf::new(MAX_RD_BUF_SIZE + 1).unwrap_err();
        assert!(e.to_string().contains("16777216"), "{e}");
    }

    #[test]
    fn fill_consume_reset() {
        let mut b = ReadBuf::new(512).unwrap();
        b.spare_mut()[..5].copy_from_slice(b"hello");
        b.advance(5);
        assert_eq!(b.data(), b"hello");
        b.consume(2);
        assert_eq!(b.data(), b"llo");
        assert_eq!(b.tail_len(), 507);
        b.consume(3);
        assert!(b.is_empty());
        // Emptying resets positions: the whole buffer is free again.
        assert_eq!(b.tail_len(), 512);
        b.advance(10_000);
        assert_eq!(b.len(), 512);
        b.consume(10_000);
        assert!(b.is_empty());
    }

    #[test]
    fn compaction_only_when_tail_too_small() {
        let mut b = ReadBuf::new(512).unwrap();
        b.advance(500);
        b.consume(400);
        assert!(!b.reserve_tail(12), "tail of 12 suffices");
        assert!(b.reserve_tail(13));
        assert_eq!(b.len(), 100);
        assert_eq!(b.tail_len(), 412);
        assert!(!b.reserve_tail(1000), "already at the front");
    }
}
