//! The per-connection stream decoder: read buffer + framing state.
//!
//! Runtime loop:
//!
//! ```
//! # use sipwire_frame::{DecoderConfig, FrameKind, ReadBuf, StreamDecoder};
//! # let mut dec = StreamDecoder::with_buffer(DecoderConfig::default(), ReadBuf::new(4096).unwrap());
//! # let mut input: &[u8] = b"OPTIONS sip:a SIP/2.0\r\nl: 0\r\n\r\n\r\n\r\n";
//! let spare = dec.spare_mut();              // free tail (compacts if too small)
//! let n = input.len().min(spare.len());     // read(fd, spare)
//! spare[..n].copy_from_slice(&input[..n]);
//! dec.advance(n);                           // one read = one chunk
//! while let Some(frame) = dec.next_frame()? {
//!     match frame.kind {
//!         FrameKind::Sip { .. } => { /* dispatch frame.bytes */ }
//!         FrameKind::Ping => { /* answer CRLF if tcp_crlf_pingpong */ }
//!         _ => {}
//!     }
//! }
//! // Ok(None): need more data. dec.pending_chunks() > tcp_max_msg_chunks: close.
//! # Ok::<(), sipwire_frame::FrameError>(())
//! ```
//!
//! Decisions:
//! - CRLF between messages (RFC 5626 §3.5.1): `CRLFCRLF` is a [`FrameKind::Ping`];
//!   a CRLF followed by anything else, or by nothing at all (exactly `\r\n`
//!   buffered), is a [`FrameKind::Keepalive`], delivered at once so that a
//!   pong is seen promptly. `\r` or `\r\n\r` alone wait for more bytes. A
//!   bare LF between messages is a 1-byte `Keepalive` (bare LF is tolerated
//!   elsewhere too). Consequence: a ping split by TCP right after its first
//!   CRLF arrives as two keepalives.
//! - Unless a lone CRLF is held ([`StreamDecoder::set_hold_lone_crlf`]: OpenSIPS's
//!   proto_tcp without `tcp_crlf_drop`, and Kamailio's parser): exactly `\r\n`
//!   buffered then waits for more bytes, as the first half of a `CRLFCRLF` ping
//!   or the empty line before a message (RFC 3261 §7.5), and counts as a read of
//!   the message in progress. A CRLF that follows completes the ping; anything
//!   else makes the held CRLF part of what follows: skipped, no frame of its
//!   own, its read counted in the next frame's chunks.
//! - With `hep3` on, each message is classified by its first 4 bytes:
//!   `HEP3` frames a HEP3 packet, anything else is SIP. A connection may mix
//!   both (Kamailio checks per message too). 1–3 buffered bytes that are a
//!   prefix of `HEP3` wait for the 4th.
//! - With `haproxy` on, the first frame must be a PROXY v1/v2 header; nothing
//!   (not even a CRLF) may come before it.
//! - Chunk counts are exact when the caller drains frames after each read
//!   (the loop above); reads that pile up undrained are counted approximately.
//! - Errors are sticky: after one, every `next_frame` returns it again.

use std::io::{self, Read};

use crate::framer::{Scan, SipFramer};
use crate::hep3::{self, HEP3_MAGIC};
use crate::proxy::{parse_proxy, ProxyHeader, ProxyParse};
use crate::{FrameError, ReadBuf};

/// What the runtime accepts on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecoderConfig {
    /// `tcp_accept_no_cl`: a message without Content-Length has an empty body,
    /// or, with `Transfer-Encoding: chunked`, a chunked body (RFC 9112 §7.1)
    /// delivered with its chunk framing (see [`crate::sip::chunked_data`]).
    /// Off, a message without Content-Length or with any `Transfer-Encoding`
    /// is an error.
    pub accept_no_cl: bool,
    /// `tcp_accept_haproxy`: a PROXY v1/v2 header must come first.
    pub haproxy: bool,
    /// `tcp_accept_hep3`: messages starting with `HEP3` are HEP3 packets.
    pub hep3: bool,
}

/// The kind of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A SIP (or, with `accept_no_cl`, HTTP) message; the body starts at `body_start`.
    Sip {
        /// Offset of the body (just past the empty line) in the frame bytes. A chunked
        /// body (`accept_no_cl`) starts with its first chunk-size line and runs to the
        /// end of the frame, trailers and final empty line included.
        body_start: usize,
    },
    /// A whole HEP3 packet (view it with [`crate::Hep3Packet::parse`]).
    Hep3,
    /// `CRLFCRLF` keepalive ping; answer `CRLF` if pongs are enabled.
    Ping,
    /// A lone `CRLF` (or bare LF) keepalive; nothing to answer.
    Keepalive,
    /// The PROXY header at the start of the connection.
    Proxy(ProxyHeader),
}

/// One complete frame, borrowed from the read buffer until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// What the bytes are.
    pub kind: FrameKind,
    /// The exact bytes of the frame.
    pub bytes: &'a [u8],
    /// Number of reads ([`StreamDecoder::advance`] calls) that carried these bytes.
    pub chunks: u32,
}

impl Frame<'_> {
    /// The SIP body (empty for other kinds); a chunked body as it came, framing
    /// included.
    pub fn body(&self) -> &[u8] {
        match self.kind {
            FrameKind::Sip { body_start } => self.bytes.get(body_start..).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// A decoded frame kind without the PROXY header (kept in [`State`] until
/// the frame is built): small, so the hot path does not copy a whole
/// [`FrameKind`] around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Kind {
    Sip {
        body_start: usize,
    },
    Hep3,
    Ping,
    #[default]
    Keepalive,
    Proxy,
    /// A held lone CRLF that more bytes followed: skipped, never a frame.
    HeldCrlf,
}

/// Framing state that does not borrow the buffer.
#[derive(Debug, Clone, Default)]
struct State {
    cfg: DecoderConfig,
    proxy_pending: bool,
    /// The PROXY header just decoded, until its frame is built.
    proxy_header: Option<ProxyHeader>,
    /// The frame just decoded: kind, length, chunks.
    ready: (Kind, usize, u32),
    /// The SIP framer is working on the current message.
    in_sip: bool,
    sip: SipFramer,
    /// Bytes of the last frame, consumed on the next call.
    release: usize,
    /// Exact bytes still needed by the current message, when known.
    need: Option<usize>,
    /// Reads that carried bytes of the current message.
    msg_reads: u32,
    /// Offset (from the current message start) of the latest read's first byte.
    last_read_off: usize,
    /// A lone CRLF at the end of the buffer waits for more bytes.
    hold_crlf: bool,
    /// The buffer holds exactly a lone CRLF, held (set when decoding stopped on it).
    held: bool,
    error: Option<FrameError>,
}

/// What one [`StreamDecoder::fill_from`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// `n > 0` bytes were appended: frames may be ready.
    Data(usize),
    /// The peer closed its side (a read returned 0).
    Eof,
    /// Nothing to read now.
    WouldBlock,
    /// No room to read into: no buffer was given, or the buffer is full of a message the
    /// framer could not bound (it reports oversize messages itself, so this is a safety net).
    Full,
}

/// Frames one connection's byte stream. See the module docs for the loop.
#[derive(Debug)]
pub struct StreamDecoder {
    buf: Option<ReadBuf>,
    st: State,
}

impl StreamDecoder {
    /// A decoder without a buffer (an idle connection); give it one with
    /// [`StreamDecoder::put_buffer`] before reading.
    pub fn new(cfg: DecoderConfig) -> Self {
        Self {
            buf: None,
            st: State {
                cfg,
                proxy_pending: cfg.haproxy,
                ..State::default()
            },
        }
    }

    /// A decoder holding `buf`.
    pub fn with_buffer(cfg: DecoderConfig, buf: ReadBuf) -> Self {
        let mut d = Self::new(cfg);
        d.buf = Some(buf);
        d
    }

    /// The configuration in use.
    pub fn config(&self) -> DecoderConfig {
        self.st.cfg
    }

    /// Changes `accept_no_cl` and `hep3` from the next message on (runtime
    /// config changes). `haproxy` only matters at connection start and is
    /// kept as it was.
    pub fn set_config(&mut self, cfg: DecoderConfig) {
        self.st.cfg = DecoderConfig {
            haproxy: self.st.cfg.haproxy,
            ..cfg
        };
    }

    /// Whether a lone CRLF (exactly `\r\n` buffered between messages) waits for more
    /// bytes instead of being a [`FrameKind::Keepalive`] at once (see the module docs); off
    /// by default. OpenSIPS's proto_tcp holds it unless `tcp_crlf_drop` is set (which drops
    /// a packet holding a single CRLF). Applies from the next [`StreamDecoder::next_frame`].
    pub fn set_hold_lone_crlf(&mut self, on: bool) {
        self.st.hold_crlf = on;
    }

    /// True if decoding stopped on a lone CRLF it holds (see
    /// [`StreamDecoder::set_hold_lone_crlf`]): the buffer holds exactly `\r\n`.
    pub fn holds_lone_crlf(&self) -> bool {
        self.st.held && self.buffered() == 2
    }

    /// True if the decoder holds a read buffer.
    pub fn has_buffer(&self) -> bool {
        self.buf.is_some()
    }

    /// Gives the decoder a buffer (cleared first). If it already has one, the
    /// new buffer is handed back as `Err`.
    pub fn put_buffer(&mut self, mut buf: ReadBuf) -> Result<(), ReadBuf> {
        if self.buf.is_some() {
            return Err(buf);
        }
        buf.clear();
        self.buf = Some(buf);
        Ok(())
    }

    /// Takes the buffer back if no partial message is buffered; otherwise `None` and the
    /// decoder keeps it. (Dropping the decoder drops its buffer, and a pooled buffer returns
    /// to its pool on drop: no path loses one.)
    pub fn take_buffer(&mut self) -> Option<ReadBuf> {
        self.release();
        if self.has_partial() {
            return None;
        }
        self.buf.take()
    }

    /// Takes the buffer whatever it holds (when closing the connection).
    pub fn into_buffer(mut self) -> Option<ReadBuf> {
        let mut b = self.buf.take()?;
        b.clear();
        Some(b)
    }

    /// True if bytes of an incomplete frame are buffered.
    pub fn has_partial(&self) -> bool {
        self.buf.as_ref().is_some_and(|b| b.len() > self.st.release)
    }

    /// Bytes buffered and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf
            .as_ref()
            .map_or(0, |b| b.len().saturating_sub(self.st.release))
    }

    /// Reads that carried bytes of the incomplete message so far (0 if none):
    /// compare with `tcp_max_msg_chunks`.
    pub fn pending_chunks(&self) -> u32 {
        if self.has_partial() {
            self.st.msg_reads
        } else {
            0
        }
    }

    /// After `next_frame` returned `Ok(None)`: the number of bytes the current
    /// frame still needs, when known: exact when its length is known (a
    /// Content-Length, PROXY, HEP3), a lower bound inside a chunked body (the
    /// rest of the current chunk's data).
    pub fn needed_bytes(&self) -> Option<usize> {
        self.st.need
    }

    /// Bytes the SIP framer has examined since creation (test hook for the
    /// linear-cost guarantee).
    #[doc(hidden)]
    pub fn scan_work(&self) -> u64 {
        self.st.sip.work()
    }

    fn release(&mut self) {
        let n = std::mem::take(&mut self.st.release);
        if let Some(b) = self.buf.as_mut() {
            b.consume(n);
        }
    }

    /// The free tail to read into (empty without a buffer). Moves a partial
    /// message to the front first if the tail is smaller than what it still
    /// needs, or than a minimal read (a quarter of the capacity, at most 4 KiB).
    pub fn spare_mut(&mut self) -> &mut [u8] {
        self.release();
        let need = self.st.need.unwrap_or(0);
        let Some(b) = self.buf.as_mut() else {
            return &mut [];
        };
        let min_read = (b.capacity() / 4).clamp(1, 4096);
        b.reserve_tail(need.max(min_read));
        b.spare_mut()
    }

    /// Records that a read put `n` bytes into the tail returned by
    /// [`StreamDecoder::spare_mut`] (clamped to the tail). Counts one chunk if `n > 0`.
    pub fn advance(&mut self, n: usize) {
        self.release();
        let Some(b) = self.buf.as_mut() else {
            return;
        };
        let before = b.len();
        b.advance(n);
        if b.len() > before {
            self.st.msg_reads = self.st.msg_reads.saturating_add(1);
            self.st.last_read_off = before;
        }
    }

    /// One read from `src` into the free tail ([`StreamDecoder::spare_mut`] then
    /// [`StreamDecoder::advance`]), retrying `EINTR`. The caller drains
    /// [`StreamDecoder::next_frame`] after [`Fill::Data`] and calls again until
    /// [`Fill::WouldBlock`]; any other I/O error is returned as is. A `Read` is not an I/O
    /// policy: the decoder stays sans-IO (blocking, polling and timeouts are the caller's).
    pub fn fill_from<R: Read + ?Sized>(&mut self, src: &mut R) -> io::Result<Fill> {
        let spare = self.spare_mut();
        if spare.is_empty() {
            return Ok(Fill::Full);
        }
        loop {
            match src.read(spare) {
                Ok(0) => return Ok(Fill::Eof),
                Ok(n) => {
                    self.advance(n);
                    return Ok(Fill::Data(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Fill::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or the
    /// error that makes this connection unusable.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, FrameError> {
        // The work is in `decode_next`; this inlinable part builds the frame
        // in the caller, so it is not copied through memory.
        if !self.decode_next()? {
            return Ok(None);
        }
        let (kind, len, chunks) = self.st.ready;
        let kind = match kind {
            Kind::Sip { body_start } => FrameKind::Sip { body_start },
            Kind::Hep3 => FrameKind::Hep3,
            Kind::Ping => FrameKind::Ping,
            Kind::Keepalive => FrameKind::Keepalive,
            Kind::Proxy => match self.st.proxy_header.take() {
                Some(h) => FrameKind::Proxy(h),
                None => return Ok(None), // unreachable: set with `Kind::Proxy`
            },
            Kind::HeldCrlf => return Ok(None), // unreachable: skipped in `decode_next`
        };
        let data = self.buf.as_ref().map_or(&[][..], ReadBuf::data);
        Ok(Some(Frame {
            kind,
            bytes: data.get(..len).unwrap_or(&[]),
            chunks,
        }))
    }

    /// Decodes the next frame into `st.ready`; false if more bytes are needed.
    fn decode_next(&mut self) -> Result<bool, FrameError> {
        if let Some(e) = self.st.error {
            return Err(e);
        }
        loop {
            self.release();
            let Some(buf) = self.buf.as_ref() else {
                return Ok(false);
            };
            let data = buf.data();
            let st = &mut self.st;
            let len = match st.decode(data, buf.capacity()) {
                Ok(Some(len)) => len,
                Ok(None) => return Ok(false),
                Err(e) => {
                    st.error = Some(e);
                    return Err(e);
                }
            };
            if st.ready.0 == Kind::HeldCrlf {
                // The held CRLF is the empty line before what followed it: no frame.
                st.skip(len);
                continue;
            }
            let chunks = st.account(len, data.len());
            st.ready.1 = len;
            st.ready.2 = chunks;
            return Ok(true);
        }
    }
}

impl State {
    /// A frame of `kind` and `len` bytes is ready.
    fn frame(&mut self, kind: Kind, len: usize) -> Result<Option<usize>, FrameError> {
        self.ready.0 = kind;
        Ok(Some(len))
    }

    fn decode(&mut self, data: &[u8], capacity: usize) -> Result<Option<usize>, FrameError> {
        self.need = None;
        if self.in_sip {
            return self.sip(data, capacity);
        }
        if self.proxy_pending {
            return match parse_proxy(data, capacity)? {
                ProxyParse::Incomplete { need } => {
                    self.need = need;
                    Ok(None)
                }
                ProxyParse::Complete { header, len } => {
                    self.proxy_pending = false;
                    self.proxy_header = Some(header);
                    self.frame(Kind::Proxy, len)
                }
            };
        }
        let was_held = std::mem::take(&mut self.held);
        match data {
            [] | [b'\r'] => Ok(None),
            [b'\r', b'\n'] | [b'\r', b'\n', b'\r'] => {
                // `\r\n\r` waits in any case; `\r\n` only when lone CRLFs are held.
                self.held = was_held || self.hold_crlf;
                if data.len() == 2 && !self.held {
                    return self.frame(Kind::Keepalive, 2);
                }
                Ok(None)
            }
            [b'\r', b'\n', b'\r', b'\n', ..] => self.frame(Kind::Ping, 4),
            [b'\r', b'\n', ..] if was_held => self.frame(Kind::HeldCrlf, 2),
            [b'\r', b'\n', ..] => self.frame(Kind::Keepalive, 2),
            [b'\n', ..] => self.frame(Kind::Keepalive, 1),
            [b'H', ..] if self.cfg.hep3 => {
                let n = data.len().min(4);
                match (data.get(..n), HEP3_MAGIC.get(..n)) {
                    (Some(a), Some(b)) if a == b && n < 4 => Ok(None),
                    (Some(a), Some(b)) if a == b => self.hep3(data, capacity),
                    _ => self.sip(data, capacity),
                }
            }
            _ => self.sip(data, capacity),
        }
    }

    fn hep3(&mut self, data: &[u8], capacity: usize) -> Result<Option<usize>, FrameError> {
        let Some(total) = hep3::packet_len(data, capacity)? else {
            return Ok(None);
        };
        match data.get(..total) {
            Some(pkt) => {
                hep3::validate(pkt)?;
                self.frame(Kind::Hep3, total)
            }
            None => {
                self.need = Some(total - data.len());
                Ok(None)
            }
        }
    }

    fn sip(&mut self, data: &[u8], capacity: usize) -> Result<Option<usize>, FrameError> {
        self.in_sip = true;
        match self.sip.scan(data, capacity, self.cfg.accept_no_cl)? {
            Scan::Incomplete { need } => {
                self.need = need;
                Ok(None)
            }
            Scan::Complete { len, body_start } => {
                self.in_sip = false;
                self.sip.reset();
                self.frame(Kind::Sip { body_start }, len)
            }
        }
    }

    /// Skips `len` bytes that belong to no frame (a held CRLF): the reads that carried them
    /// count for the frame that follows.
    fn skip(&mut self, len: usize) {
        self.release = len;
        self.last_read_off = self.last_read_off.saturating_sub(len);
    }

    /// Chunk accounting for a frame of `len` bytes out of `have` buffered.
    fn account(&mut self, len: usize, have: usize) -> u32 {
        self.release = len;
        let chunks = if self.last_read_off < len {
            self.msg_reads
        } else {
            self.msg_reads.saturating_sub(1)
        }
        .max(1);
        if have <= len {
            self.msg_reads = 0;
            self.last_read_off = 0;
        } else if self.last_read_off <= len {
            // The latest read spans the boundary: it starts the next message.
            self.msg_reads = 1;
            self.last_read_off = 0;
        } else {
            // Undrained reads: at least the latest and one before it.
            self.msg_reads = 2;
            self.last_read_off -= len;
        }
        chunks
    }
}
