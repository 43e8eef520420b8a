//! Incremental SIP message framing: end of headers plus Content-Length, or
//! (with `tcp_accept_no_cl`) a chunked body.
//!
//! The framer sees the buffered bytes of the current message (offset 0 is the
//! first byte of the start line) and keeps its position between calls, so a
//! message fed one byte at a time costs O(message) in total. Positions are
//! offsets from the message start, so they survive buffer compaction.
//!
//! Rules:
//! - A line ends at LF; a CR just before it is part of the line ending.
//!   Bare LF is tolerated (like Kamailio): the header block ends at the first
//!   empty line, `CRLF CRLF`, `LF LF` or a mix. Tolerating it costs nothing on
//!   the CRLF path and keeps hand-typed test traffic working; the message is
//!   delivered byte for byte, so the next hop sees what the peer sent.
//! - A line starting with SP or HT continues the previous header (folding).
//! - `Content-Length` (any case) and compact `l`, optional SP/HT before the
//!   colon, value may be folded. Duplicate headers must agree.
//! - `accept_no_cl` off: no Content-Length is an error, and so is any
//!   `Transfer-Encoding` header.
//! - `accept_no_cl` on, no Content-Length and no `Transfer-Encoding`: the
//!   body is empty and the message ends at the empty line, as in Kamailio
//!   (`tcp_read.c`: `bytes_to_go = 0`, complete at the blank line). Taking
//!   "the rest of the read" as the body instead cannot frame a stream: where
//!   a read ends is up to TCP, so the same bytes would frame differently
//!   depending on how they were segmented, and a following message would be
//!   swallowed into the body.
//! - `accept_no_cl` on, `Transfer-Encoding`: the codings of all its headers
//!   (folding allowed, empty list elements ignored) must be exactly one
//!   `chunked`, any case; anything else (`gzip`, `gzip, chunked`,
//!   `chunked, chunked`, an empty value) is `UnsupportedTransferCoding`. With
//!   a Content-Length as well the message is refused
//!   (`ContentLengthWithTransferEncoding`, RFC 9112 §6.3: the request-smuggling
//!   pattern). Otherwise the body is framed per RFC 9112 §7.1 (`chunked.rs`):
//!   `chunk-size [BWS ; ext] CRLF data CRLF` repeated, the last chunk `0`,
//!   optional trailer field lines, and the final empty line. The size is hex
//!   (any case); the size line, size and extensions without the line ending,
//!   is at most `MAX_CHUNK_LINE` (256) bytes (`ChunkLineTooLong`); it must
//!   start with a hex digit, and after the digits only SP/HT and a
//!   `;`-extension without control characters may follow
//!   (`InvalidChunkSize`); a size over 64 bits is `ChunkSizeOverflow`; data
//!   not followed by CRLF is `ChunkDataNotTerminated`. Bare LF is tolerated
//!   here as in the headers. The whole message, framing included, must fit
//!   the read buffer: a size line whose data would end past the capacity is
//!   `MessageTooLarge` at once, and so is a buffer filled before the final
//!   empty line. The chunk data is never scanned; each framing byte is
//!   looked at once.
//! - The chunked message is delivered as it came, chunk framing included:
//!   `body_start` is the offset of the first chunk-size line and
//!   `crate::sip::chunked_data` iterates over the data without copying.
//!   Kamailio instead de-chunks in place (`tcp_read.c`, `H_HTTP11_CHUNK_BODY`:
//!   `memmove` of each chunk's data next to the previous one, delivering
//!   headers plus the joined data). sipwire does not, for three reasons: the
//!   delivered message would still say `Transfer-Encoding: chunked` without
//!   being chunked and without a Content-Length, so a hop that forwards it
//!   verbatim sends a message the next hop misframes (a smuggling vector);
//!   every frame is otherwise the exact input bytes, which the runtime's
//!   byte accounting, `tcp_clone_rcvbuf` copies and the fuzz invariants rely
//!   on; and the read buffer is handed out read-only. Kamailio also ends the
//!   message right after the `0` line, leaving the trailers and the final
//!   CRLF to be read as the start of the next message; it parses sizes
//!   loosely (SP, HT and CR skipped anywhere in the size line, a `;`
//!   extension derails it), lets a Content-Length win over
//!   `Transfer-Encoding`, and chunks only requests whose version is
//!   `HTTP/1.`, framing any other chunked message with an empty body and its
//!   chunks as the next messages. sipwire frames the whole chunked message,
//!   strictly, whatever its start line.
//!
//! How the lines are found: most header lines cannot change the framing, so
//! the framer does not stop at every LF. One multi-pattern SIMD search
//! (`aho_corasick::packed`, Teddy; the CPU features are detected at run
//! time, no `unsafe` here) stops only at *candidate* lines, found by
//! two-byte patterns:
//!
//! | pattern | where | finds |
//! | --- | --- | --- |
//! | `\n\r`, `\n\n` | the LF before the line | the empty line (or a line starting with CR) |
//! | `\nl`, `\nL` | the LF before the line | compact `l` |
//! | `-l`, `-L` | 7 bytes into the line, after LF + `content` (any case) | `Content-Length` |
//! | `sf` (any case) | 4 bytes into the line, after LF + `tran` (any case) | `Transfer-Encoding` |
//!
//! With no Content-Length or Transfer-Encoding value open, the only lines
//! whose handling is not a no-op are the empty line, Content-Length / `l`
//! and Transfer-Encoding headers, and each of them contains its pattern at
//! that place; the other lines are skipped unseen. A candidate is checked
//! only with bytes up to the end of its match (later ones may not have
//! arrived yet), and the line is then handled by the same code as before,
//! when its LF has arrived. While such a value is open (it may be folded),
//! the following lines are walked one by one with `memchr` until the next
//! non-continuation line closes it. The common ending, `Content-Length: N` followed by the empty
//! line, is handled on the spot by a fast path that does what the general
//! path would do. So results, errors included, and the read at which they
//! appear are those of the line-by-line framer; `framer_ref.rs` keeps it,
//! and a differential test and the `sip_framer` fuzz target compare both.
//!
//! The search resumes where it stopped; a pattern cut by the end of the data
//! is searched again from its first byte. If the packed searcher cannot be
//! built (no SSSE3/AVX2 or NEON), every LF is a candidate: the line-by-line
//! framer.

mod candidates;
mod chunked;

pub(crate) use candidates::eq_lower;
pub(crate) use candidates::Finder;
use candidates::{skip_ws, word_is, Hint, Next, CONTENT_, T_LENGTH};
use chunked::Chunked;
pub(crate) use chunked::{parse_chunk_size, transfer_codings, MAX_CHUNK_LINE};

use crate::FrameError;

/// Outcome of one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// More bytes are needed; `need`, when known, is how many at least (the exact count
    /// with a Content-Length, the rest of the current chunk's data in a chunked body).
    Incomplete { need: Option<usize> },
    /// A whole message of `len` bytes; the body starts at `body_start`.
    Complete { len: usize, body_start: usize },
}

/// Where the framer resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Searching for the next candidate line from this offset.
    Search { from: usize },
    /// Waiting for the LF of the line at `start`, searching from `lf_from`.
    Line { start: usize, lf_from: usize },
}

impl Default for Mode {
    fn default() -> Self {
        Mode::Search { from: 0 }
    }
}

/// What [`SipFramer::next_line`] did.
enum Step {
    /// The line was the empty one; the body starts here.
    Done { body_start: usize },
    /// The line's LF has not arrived.
    Wait,
    /// The line was handled; go on in the new mode.
    Go,
}

/// A header value that may still be folded onto the next lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Open {
    /// Offset of the value (just past the colon).
    at: usize,
    /// Transfer-Encoding (else Content-Length).
    te: bool,
}

/// What is known of the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Body {
    /// The headers have not ended.
    #[default]
    Unknown,
    /// Content-Length (or none): body start and total length.
    Length { body_start: usize, total: usize },
    /// A chunked body, framed as it arrives.
    Chunked(Chunked),
}

/// Per-message framing state (all positions relative to the message start).
#[derive(Debug, Clone, Default)]
pub(crate) struct SipFramer {
    mode: Mode,
    /// A Content-Length or Transfer-Encoding value whose end is not known yet.
    open: Option<Open>,
    /// Content-Length found so far.
    cl: Option<u64>,
    /// A `Transfer-Encoding: chunked` was seen (only with `accept_no_cl`).
    te_chunked: bool,
    /// The body, once the empty line was seen.
    body: Body,
    /// Bytes examined (test hook for the linear-cost guarantee).
    work: u64,
}

impl SipFramer {
    /// Bytes examined since the framer was created.
    pub(crate) fn work(&self) -> u64 {
        self.work
    }

    /// Forgets the current message (keeps the work counter).
    pub(crate) fn reset(&mut self) {
        *self = Self {
            work: self.work,
            ..Self::default()
        };
    }

    /// Scans newly buffered bytes of the current message.
    pub(crate) fn scan(
        &mut self,
        data: &[u8],
        capacity: usize,
        accept_no_cl: bool,
    ) -> Result<Scan, FrameError> {
        self.scan_with(Finder::get(), data, capacity, accept_no_cl)
    }

    /// [`SipFramer::scan`] with a given candidate finder.
    pub(crate) fn scan_with(
        &mut self,
        finder: &Finder,
        data: &[u8],
        capacity: usize,
        accept_no_cl: bool,
    ) -> Result<Scan, FrameError> {
        match &mut self.body {
            Body::Unknown => {}
            Body::Length { body_start, total } => {
                return Ok(body_state(data.len(), *body_start, *total))
            }
            Body::Chunked(body) => return body.scan(data, capacity, &mut self.work),
        }
        loop {
            let (start, lf_from) = match self.mode {
                Mode::Search { from } => match finder.next(data, from, &mut self.work) {
                    Next::Line {
                        start,
                        lf_from,
                        hint,
                    } => {
                        if let Some(body_start) = self.fast_end(data, start, hint) {
                            return self.headers_done(data, body_start?, capacity, accept_no_cl);
                        }
                        (start, lf_from)
                    }
                    Next::None { resume } => {
                        self.mode = Mode::Search { from: resume };
                        break;
                    }
                },
                Mode::Line { start, lf_from } => (start, lf_from),
            };
            match self.next_line(data, start, lf_from, accept_no_cl)? {
                Step::Done { body_start } => {
                    return self.headers_done(data, body_start, capacity, accept_no_cl)
                }
                Step::Wait => break,
                Step::Go => {}
            }
        }
        if data.len() >= capacity {
            return Err(FrameError::HeadersTooLarge { capacity });
        }
        Ok(Scan::Incomplete { need: None })
    }

    /// The general path: finds the LF of the line at `start` (searching from
    /// `lf_from`) and handles the line, setting the mode to go on with.
    #[inline(never)]
    fn next_line(
        &mut self,
        data: &[u8],
        start: usize,
        lf_from: usize,
        accept_no_cl: bool,
    ) -> Result<Step, FrameError> {
        let hay = data.get(lf_from..).unwrap_or(&[]);
        let Some(rel) = memchr::memchr(b'\n', hay) else {
            self.work += hay.len() as u64;
            self.mode = Mode::Line {
                start,
                lf_from: lf_from.max(data.len()),
            };
            return Ok(Step::Wait);
        };
        self.work += rel as u64 + 1;
        let nl = lf_from + rel;
        if self.line(data, start, nl, accept_no_cl)? {
            return Ok(Step::Done { body_start: nl + 1 });
        }
        self.mode = if self.open.is_some() {
            Mode::Line {
                start: nl + 1,
                lf_from: nl + 1,
            }
        } else {
            Mode::Search { from: nl }
        };
        Ok(Step::Go)
    }

    /// Fast path for the usual end of the headers, taken when a candidate
    /// line is found (so no Content-Length is open): the empty line itself,
    /// or `Content-Length: N` (`N` up to 18 digits, SP/HT around it, no
    /// folding) with the empty line right after it. Does exactly what the
    /// general path would do with those lines, which have all arrived, and
    /// returns the body start; `None` (only the work counter changed)
    /// leaves the line to the general path.
    #[inline]
    fn fast_end(
        &mut self,
        data: &[u8],
        start: usize,
        hint: Hint,
    ) -> Option<Result<usize, FrameError>> {
        let mut seen = start;
        let found = fast_parse(data, start, hint, &mut seen);
        self.work += seen.saturating_sub(start) as u64;
        match found? {
            (None, body_start) => Some(Ok(body_start)),
            (Some(v), body_start) => Some(self.set_cl(v).map(|()| body_start)),
        }
    }

    /// Records a Content-Length value; duplicates must agree.
    #[inline]
    fn set_cl(&mut self, v: u64) -> Result<(), FrameError> {
        match self.cl {
            Some(first) if first != v => {
                Err(FrameError::ContentLengthMismatch { first, second: v })
            }
            _ => {
                self.cl = Some(v);
                Ok(())
            }
        }
    }

    /// The empty line ended at `body_start`: checks the Content-Length (or
    /// starts the chunked body).
    #[inline]
    fn headers_done(
        &mut self,
        data: &[u8],
        body_start: usize,
        capacity: usize,
        accept_no_cl: bool,
    ) -> Result<Scan, FrameError> {
        let have = data.len();
        if self.te_chunked {
            return self.chunked_body(data, body_start, capacity);
        }
        let cl = match self.cl {
            Some(cl) => cl,
            None if accept_no_cl => 0,
            None => return Err(FrameError::MissingContentLength),
        };
        let size = (body_start as u64).saturating_add(cl);
        if size > capacity as u64 {
            return Err(FrameError::MessageTooLarge { size, capacity });
        }
        let total = body_start + cl as usize;
        self.body = Body::Length { body_start, total };
        Ok(body_state(have, body_start, total))
    }

    /// The headers ended with `Transfer-Encoding: chunked`: frames the body.
    #[cold]
    #[inline(never)]
    fn chunked_body(
        &mut self,
        data: &[u8],
        body_start: usize,
        capacity: usize,
    ) -> Result<Scan, FrameError> {
        if self.cl.is_some() {
            return Err(FrameError::ContentLengthWithTransferEncoding);
        }
        let mut body = Chunked::new(body_start);
        let scan = body.scan(data, capacity, &mut self.work);
        self.body = Body::Chunked(body);
        scan
    }

    /// Handles the header line from `start` to its LF at `nl` (never the
    /// start line); true at the empty line ending the headers.
    fn line(
        &mut self,
        data: &[u8],
        start: usize,
        nl: usize,
        accept_no_cl: bool,
    ) -> Result<bool, FrameError> {
        let raw = data.get(start..nl).unwrap_or(&[]);
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Some(&first) = line.first() else {
            self.close_open(data, start)?;
            return Ok(true);
        };
        if first == b' ' || first == b'\t' {
            return Ok(false); // continuation of the previous header
        }
        self.close_open(data, start)?;
        match first | 0x20 {
            b'c' | b'l' => {
                let name: &[u8] = if first | 0x20 == b'l' {
                    b"l"
                } else {
                    b"content-length"
                };
                if let Some(v) = value_offset(line, name) {
                    self.open = Some(Open {
                        at: start + v,
                        te: false,
                    });
                }
            }
            b't' => {
                if let Some(v) = value_offset(line, b"transfer-encoding") {
                    if !accept_no_cl {
                        return Err(FrameError::TransferEncodingUnsupported);
                    }
                    self.open = Some(Open {
                        at: start + v,
                        te: true,
                    });
                }
            }
            _ => {}
        }
        Ok(false)
    }

    /// Parses an open Content-Length or Transfer-Encoding value that ends
    /// before offset `end`.
    fn close_open(&mut self, data: &[u8], end: usize) -> Result<(), FrameError> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let raw = data.get(open.at..end).unwrap_or(&[]);
        self.work += raw.len() as u64;
        if open.te {
            return transfer_codings(raw, &mut self.te_chunked);
        }
        let v = parse_content_length(raw)?;
        self.set_cl(v)
    }
}

/// The parsing half of [`SipFramer::fast_end`]: the Content-Length value
/// (`None` for the empty line itself) and the body start. `seen` is set to
/// the end of the bytes examined.
#[inline(always)]
fn fast_parse(
    data: &[u8],
    start: usize,
    hint: Hint,
    seen: &mut usize,
) -> Option<(Option<u64>, usize)> {
    let name_end = match hint {
        Hint::Empty => {
            *seen = start + 2;
            return empty_line_end(data, start).map(|b| (None, b));
        }
        Hint::Compact => start + 1,
        Hint::Full => {
            *seen = start + 14;
            if !(word_is(data, start, CONTENT_) && word_is(data, start + 6, T_LENGTH)) {
                return None;
            }
            start + 14
        }
        Hint::Any => return None,
    };
    let colon = skip_ws(data, name_end);
    *seen = colon + 1;
    if data.get(colon) != Some(&b':') {
        return None;
    }
    let digits = skip_ws(data, colon + 1);
    let mut i = digits;
    let mut v: u64 = 0;
    while let Some(&d) = data.get(i).filter(|d| d.is_ascii_digit()) {
        v = v * 10 + u64::from(d - b'0');
        i += 1;
        if i - digits > 18 {
            *seen = i;
            return None;
        }
    }
    i = skip_ws(data, i);
    *seen = i + 3;
    if i == digits {
        return None;
    }
    if data.get(i) == Some(&b'\r') {
        i += 1;
    }
    if data.get(i) != Some(&b'\n') {
        return None;
    }
    let body_start = empty_line_end(data, i + 1)?;
    Some((Some(v), body_start))
}

/// If an empty line (`LF` or `CR LF`) starts at `start`, the offset past it.
#[inline(always)]
fn empty_line_end(data: &[u8], start: usize) -> Option<usize> {
    match data.get(start..)? {
        [b'\n', ..] => Some(start + 1),
        [b'\r', b'\n', ..] => Some(start + 2),
        _ => None,
    }
}

#[inline]
pub(crate) fn body_state(have: usize, body_start: usize, total: usize) -> Scan {
    if have >= total {
        Scan::Complete {
            len: total,
            body_start,
        }
    } else {
        Scan::Incomplete {
            need: Some(total - have),
        }
    }
}

/// If `line` is a header named `name` (ASCII case-insensitive, optional SP/HT
/// before the colon), the offset just past the colon.
#[inline]
pub(crate) fn value_offset(line: &[u8], name: &[u8]) -> Option<usize> {
    let head = line.get(..name.len())?;
    if !eq_lower(head, name) {
        return None;
    }
    let rest = line.get(name.len()..)?;
    let ws = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    match rest.get(ws) {
        Some(b':') => Some(name.len() + ws + 1),
        _ => None,
    }
}

/// Parses a Content-Length value: optional linear whitespace (SP, HT, CR, LF
/// from folding) around decimal digits.
pub fn parse_content_length(raw: &[u8]) -> Result<u64, FrameError> {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = raw.iter().position(|b| !is_ws(b)).unwrap_or(raw.len());
    let end = raw.iter().rposition(|b| !is_ws(b)).map_or(start, |p| p + 1);
    let v = raw.get(start..end).unwrap_or(&[]);
    match v.first() {
        None => return Err(FrameError::InvalidContentLength),
        Some(b'-') => return Err(FrameError::NegativeContentLength),
        _ => {}
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return Err(FrameError::InvalidContentLength);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(FrameError::ContentLengthOverflow)?;
    }
    Ok(n)
}

#[cfg(test)]
mod chunked_tests;
#[cfg(test)]
mod tests;
