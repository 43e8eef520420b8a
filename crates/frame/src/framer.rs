//! Incremental SIP message framing: end of headers plus Content-Length.
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
//! - No Content-Length: an error unless `accept_no_cl`, then the body is empty.
//! - Any `Transfer-Encoding` header is rejected: chunked bodies are not
//!   supported, and guessing the framing would let a peer smuggle messages.
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
//! With no Content-Length value open, the only lines whose handling is not a
//! no-op are the empty line, Content-Length / `l` and Transfer-Encoding
//! headers, and each of them contains its pattern at that place; the other
//! lines are skipped unseen. A candidate is checked only with bytes up to the
//! end of its match (later ones may not have arrived yet), and the line is
//! then handled by the same code as before, when its LF has arrived. While a
//! Content-Length value is open (it may be folded), the following lines are
//! walked one by one with `memchr` until the next non-continuation line
//! closes it. The common ending, `Content-Length: N` followed by the empty
//! line, is handled on the spot by a fast path that does what the general
//! path would do. So results, errors included, and the read at which they
//! appear are those of the line-by-line framer; `framer_ref.rs` keeps it,
//! and a differential test and the `sip_framer` fuzz target compare both.
//!
//! The search resumes where it stopped; a pattern cut by the end of the data
//! is searched again from its first byte. If the packed searcher cannot be
//! built (no SSSE3/AVX2 or NEON), every LF is a candidate: the line-by-line
//! framer.

use std::sync::OnceLock;

use aho_corasick::packed::{Config, MatchKind, Searcher};
use aho_corasick::Span;

use crate::FrameError;

/// Candidate patterns; see the module docs. Pattern ids: 0–1 empty line,
/// 2–3 compact `l`, 4–5 `Content-Length`, 6–9 `Transfer-Encoding`. All are
/// two bytes long, so Teddy's two-byte fingerprint is exact.
const PATTERNS: [&[u8]; 10] = [
    b"\n\r", b"\n\n", b"\nl", b"\nL", b"-l", b"-L", b"sf", b"sF", b"Sf", b"SF",
];

/// How candidate header lines are found.
#[derive(Debug)]
pub(crate) enum Finder {
    /// Teddy over [`PATTERNS`].
    Packed(Searcher),
    /// Every line is a candidate (no packed searcher on this CPU).
    Lines,
}

/// What a candidate line probably is: the fast path tries it, the general
/// path decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    /// Unknown.
    Any,
    /// Found by `\n\r` or `\n\n`: maybe the empty line.
    Empty,
    /// Found by `\nl`: maybe a compact Content-Length.
    Compact,
    /// Found by `-l` after `\ncontent`: maybe a Content-Length.
    Full,
}

/// The result of one candidate search.
enum Next {
    /// A line starting at `start` must be handled; its LF is at or after `lf_from`.
    Line {
        start: usize,
        lf_from: usize,
        hint: Hint,
    },
    /// No candidate before the end of the data; search again from `resume`.
    None { resume: usize },
}

impl Finder {
    /// The packed searcher, or `Lines` if it cannot be built here.
    pub(crate) fn new() -> Self {
        let mut b = Config::new().match_kind(MatchKind::LeftmostFirst).builder();
        b.extend(PATTERNS);
        b.build().map_or(Finder::Lines, Finder::Packed)
    }

    /// The process-wide finder.
    pub(crate) fn get() -> &'static Finder {
        static FINDER: OnceLock<Finder> = OnceLock::new();
        FINDER.get_or_init(Finder::new)
    }

    /// Finds the next candidate line whose pattern starts at or after `from`.
    #[inline]
    fn next(&self, data: &[u8], from: usize, work: &mut u64) -> Next {
        let len = data.len();
        let mut from = from.min(len);
        match self {
            Finder::Lines => match memchr::memchr(b'\n', data.get(from..).unwrap_or(&[])) {
                Some(rel) => {
                    *work += rel as u64 + 1;
                    let start = from + rel + 1;
                    Next::Line {
                        start,
                        lf_from: start,
                        hint: Hint::Any,
                    }
                }
                None => {
                    *work += (len - from) as u64;
                    Next::None { resume: len }
                }
            },
            Finder::Packed(searcher) => loop {
                let Some(m) = searcher.find_in(data, Span::from(from..len)) else {
                    *work += (len - from) as u64;
                    return Next::None {
                        resume: resume_point(data, from),
                    };
                };
                *work += (m.end() - from) as u64;
                let p = m.start();
                let (start, hint) = match m.pattern().as_usize() {
                    0 | 1 => (p + 1, Hint::Empty),
                    2 | 3 => (p + 1, Hint::Compact),
                    // `-l`: the line must start 7 bytes earlier, after an
                    // LF, with `content`. Only bytes up to the end of the
                    // match are used: later ones may not have arrived yet.
                    4 | 5 => {
                        *work += 8;
                        match p.checked_sub(8) {
                            Some(lf) if word_is(data, lf, LF_CONTENT) => (lf + 1, Hint::Full),
                            _ => {
                                from = p + 1;
                                continue;
                            }
                        }
                    }
                    // `sf`: the line must start 4 bytes earlier, after an
                    // LF, with `tran`.
                    _ => {
                        *work += 5;
                        match p.checked_sub(5) {
                            Some(lf)
                                if data.get(lf) == Some(&b'\n')
                                    && data
                                        .get(lf + 1..p)
                                        .is_some_and(|n| eq_lower(n, b"tran")) =>
                            {
                                (lf + 1, Hint::Any)
                            }
                            _ => {
                                from = p + 1;
                                continue;
                            }
                        }
                    }
                };
                return Next::Line {
                    start,
                    lf_from: m.end(),
                    hint,
                };
            },
        }
    }
}

/// Where to search again after no candidate was found in `from..`: the
/// start of a pattern cut by the end of the data, if any.
fn resume_point(data: &[u8], from: usize) -> usize {
    let len = data.len();
    let at = match data {
        [.., b'\n' | b'-' | b's' | b'S'] => len - 1,
        _ => len,
    };
    at.max(from)
}

/// Eight bytes to compare ignoring ASCII case: the lowercase bytes as a
/// little-endian word, and the mask of the letters (bit 5 set for each).
#[derive(Clone, Copy)]
struct Word {
    lower: u64,
    letters: u64,
}

impl Word {
    const fn new(lit: &[u8; 8]) -> Self {
        let mut letters = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            if lit[i].is_ascii_lowercase() {
                letters[i] = 0x20;
            }
            i += 1;
        }
        Self {
            lower: u64::from_le_bytes(*lit),
            letters: u64::from_le_bytes(letters),
        }
    }
}

const LF_CONTENT: Word = Word::new(b"\ncontent");
const CONTENT_: Word = Word::new(b"content-");
const T_LENGTH: Word = Word::new(b"t-length");

/// True if the 8 bytes at `at` equal `w` ignoring ASCII case. For a letter,
/// `b | 0x20` equals it only for its two cases; other bytes must be equal.
#[inline(always)]
fn word_is(data: &[u8], at: usize, w: Word) -> bool {
    let Some(bytes) = at
        .checked_add(8)
        .and_then(|end| data.get(at..end))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
    else {
        return false;
    };
    u64::from_le_bytes(bytes) | w.letters == w.lower
}

/// Skips SP and HT from `i`.
#[inline(always)]
fn skip_ws(data: &[u8], mut i: usize) -> usize {
    while matches!(data.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

/// Outcome of one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// More bytes are needed; `need` is the exact count when the total is known.
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

/// Per-message framing state (all positions relative to the message start).
#[derive(Debug, Clone, Default)]
pub(crate) struct SipFramer {
    mode: Mode,
    /// Value start of a Content-Length header whose end is not known yet.
    open_cl: Option<usize>,
    /// Content-Length found so far.
    cl: Option<u64>,
    /// Header length and total length once the empty line was seen.
    done: Option<(usize, usize)>,
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
        if let Some((body_start, total)) = self.done {
            return Ok(body_state(data.len(), body_start, total));
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
                            return self.headers_done(
                                data.len(),
                                body_start?,
                                capacity,
                                accept_no_cl,
                            );
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
            match self.next_line(data, start, lf_from)? {
                Step::Done { body_start } => {
                    return self.headers_done(data.len(), body_start, capacity, accept_no_cl)
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
    fn next_line(&mut self, data: &[u8], start: usize, lf_from: usize) -> Result<Step, FrameError> {
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
        if self.line(data, start, nl)? {
            return Ok(Step::Done { body_start: nl + 1 });
        }
        self.mode = if self.open_cl.is_some() {
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

    /// The empty line ended at `body_start`: checks the Content-Length.
    #[inline]
    fn headers_done(
        &mut self,
        have: usize,
        body_start: usize,
        capacity: usize,
        accept_no_cl: bool,
    ) -> Result<Scan, FrameError> {
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
        self.done = Some((body_start, total));
        Ok(body_state(have, body_start, total))
    }

    /// Handles the header line from `start` to its LF at `nl` (never the
    /// start line); true at the empty line ending the headers.
    fn line(&mut self, data: &[u8], start: usize, nl: usize) -> Result<bool, FrameError> {
        let raw = data.get(start..nl).unwrap_or(&[]);
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Some(&first) = line.first() else {
            self.close_cl(data, start)?;
            return Ok(true);
        };
        if first == b' ' || first == b'\t' {
            return Ok(false); // continuation of the previous header
        }
        self.close_cl(data, start)?;
        match first | 0x20 {
            b'c' | b'l' => {
                let name: &[u8] = if first | 0x20 == b'l' {
                    b"l"
                } else {
                    b"content-length"
                };
                if let Some(v) = value_offset(line, name) {
                    self.open_cl = Some(start + v);
                }
            }
            b't' if value_offset(line, b"transfer-encoding").is_some() => {
                return Err(FrameError::TransferEncodingUnsupported);
            }
            _ => {}
        }
        Ok(false)
    }

    /// Parses an open Content-Length value that ends before offset `end`.
    fn close_cl(&mut self, data: &[u8], end: usize) -> Result<(), FrameError> {
        let Some(vs) = self.open_cl.take() else {
            return Ok(());
        };
        let raw = data.get(vs..end).unwrap_or(&[]);
        self.work += raw.len() as u64;
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

/// `a.eq_ignore_ascii_case(lower)` for a lowercase `lower`, without
/// branches (the names compared are short constants).
#[inline]
fn eq_lower(a: &[u8], lower: &[u8]) -> bool {
    a.len() == lower.len()
        && a.iter()
            .zip(lower)
            .fold(0u8, |acc, (&x, &y)| acc | (x.to_ascii_lowercase() ^ y))
            == 0
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
mod tests {
    use super::*;

    fn scan_all(msg: &[u8], cap: usize, no_cl: bool) -> Result<Scan, FrameError> {
        SipFramer::default().scan(msg, cap, no_cl)
    }

    fn complete(msg: &[u8]) -> (usize, usize) {
        match scan_all(msg, 65536, false).unwrap() {
            Scan::Complete { len, body_start } => (len, body_start),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn content_length_values() {
        assert_eq!(parse_content_length(b" 12 "), Ok(12));
        assert_eq!(parse_content_length(b"\r\n\t007"), Ok(7));
        assert_eq!(parse_content_length(b"0"), Ok(0));
        assert_eq!(
            parse_content_length(b" -1"),
            Err(FrameError::NegativeContentLength)
        );
        assert_eq!(
            parse_content_length(b""),
            Err(FrameError::InvalidContentLength)
        );
        assert_eq!(
            parse_content_length(b"1 2"),
            Err(FrameError::InvalidContentLength)
        );
        assert_eq!(
            parse_content_length(b"+3"),
            Err(FrameError::InvalidContentLength)
        );
        assert_eq!(parse_content_length(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_content_length(b"18446744073709551616"),
            Err(FrameError::ContentLengthOverflow)
        );
    }

    #[test]
    fn header_name_matching() {
        assert_eq!(
            value_offset(b"Content-Length: 5", b"content-length"),
            Some(15)
        );
        assert_eq!(
            value_offset(b"CONTENT-LENGTH \t: 5", b"content-length"),
            Some(17)
        );
        assert_eq!(value_offset(b"l:5", b"l"), Some(2));
        assert_eq!(value_offset(b"Lorem: 5", b"l"), None);
        assert_eq!(value_offset(b"Content-Lengthy: 5", b"content-length"), None);
        assert_eq!(value_offset(b"Content-Type: x", b"content-length"), None);
    }

    #[test]
    fn forms_of_content_length() {
        let body = b"hello";
        for h in [
            "Content-Length: 5",
            "content-length:5",
            "CONTENT-LENGTH   :   5   ",
            "l: 5",
            "L :5",
            "Content-Length:\r\n 5",
            "Content-Length: \r\n\t5\r\n  ",
        ] {
            let m = format!("MESSAGE sip:a SIP/2.0\r\nVia: x\r\n{h}\r\nTo: b\r\n\r\nhello");
            let (len, bs) = complete(m.as_bytes());
            assert_eq!(len, m.len(), "{h}");
            assert_eq!(&m.as_bytes()[bs..len], body);
        }
    }

    #[test]
    fn bare_lf_tolerated() {
        for m in [
            &b"OPTIONS sip:a SIP/2.0\nl: 2\n\nab"[..],
            b"OPTIONS sip:a SIP/2.0\r\nl: 2\n\r\nab",
            b"OPTIONS sip:a SIP/2.0\nl: 2\r\n\nab",
        ] {
            assert_eq!(complete(m).0, m.len());
        }
    }

    #[test]
    fn folded_header_is_not_a_new_line() {
        // "l: 9" folded into Subject must not count as Content-Length.
        let m = b"OPTIONS sip:a SIP/2.0\r\nSubject: x\r\n l: 9\r\nl: 0\r\n\r\n";
        assert_eq!(complete(m).0, m.len());
    }

    #[test]
    fn errors() {
        let e = |m: &[u8]| scan_all(m, 65536, false).unwrap_err();
        assert_eq!(
            e(b"A sip:a SIP/2.0\r\nTo: x\r\n\r\n"),
            FrameError::MissingContentLength
        );
        assert_eq!(
            e(b"A sip:a SIP/2.0\r\nContent-Length: 12\r\nl: 15\r\n\r\n"),
            FrameError::ContentLengthMismatch {
                first: 12,
                second: 15
            }
        );
        assert_eq!(
            e(b"A sip:a SIP/2.0\r\nContent-Length: 12\r\nl: 15\r\n\r\n").to_string(),
            "Content-Length headers disagree (12 vs 15)"
        );
        assert_eq!(
            e(b"A sip:a SIP/2.0\r\nl: -1\r\n\r\n"),
            FrameError::NegativeContentLength
        );
        assert_eq!(
            e(b"A sip:a SIP/2.0\r\nl: 1x\r\n\r\n"),
            FrameError::InvalidContentLength
        );
        assert_eq!(
            e(b"A sip:a SIP/2.0\r\nl: 99999999999999999999\r\n\r\n"),
            FrameError::ContentLengthOverflow
        );
        assert_eq!(
            e(b"A sip:a SIP/2.0\r\nl: 18446744073709551615\r\n\r\n"),
            FrameError::MessageTooLarge {
                size: u64::MAX,
                capacity: 65536
            }
        );
        assert_eq!(
            e(b"A sip:a SIP/2.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            FrameError::TransferEncodingUnsupported
        );
        // Agreeing duplicates are fine.
        let ok = b"A sip:a SIP/2.0\r\nContent-Length: 0\r\nl:0\r\n\r\n";
        assert_eq!(complete(ok).0, ok.len());
    }

    #[test]
    fn accept_no_cl_means_empty_body() {
        let m = b"GET /xcap HTTP/1.1\r\nHost: a\r\n\r\nNEXT";
        assert_eq!(
            scan_all(m, 4096, true).unwrap(),
            Scan::Complete {
                len: m.len() - 4,
                body_start: m.len() - 4
            }
        );
    }

    #[test]
    fn size_checked_as_soon_as_headers_end() {
        // Headers end; CL makes the total 1 byte too large: error before any body.
        let head = b"A sip:a SIP/2.0\r\nl: 983\r\n\r\n"; // 27 bytes + 983 = 1010
        assert_eq!(head.len(), 27);
        let mut f = SipFramer::default();
        assert_eq!(
            f.scan(head, 1009, false),
            Err(FrameError::MessageTooLarge {
                size: 1010,
                capacity: 1009
            })
        );
        let mut f = SipFramer::default();
        assert_eq!(
            f.scan(head, 1010, false),
            Ok(Scan::Incomplete { need: Some(983) })
        );
    }

    #[test]
    fn byte_at_a_time_is_linear() {
        let mut m = b"INVITE sip:a SIP/2.0\r\n".to_vec();
        for i in 0..200 {
            m.extend_from_slice(format!("X-H{i}: {}\r\n", "v".repeat(i % 50)).as_bytes());
        }
        m.extend_from_slice(b"Content-Length: 3\r\n\r\nabc");
        let mut f = SipFramer::default();
        let mut done = None;
        for n in 1..=m.len() {
            if let Scan::Complete { len, .. } = f.scan(&m[..n], 1 << 20, false).unwrap() {
                done = Some((n, len));
                break;
            }
        }
        assert_eq!(done, Some((m.len(), m.len())));
        assert!(
            f.work() <= 2 * m.len() as u64,
            "work {} for {}",
            f.work(),
            m.len()
        );
    }

    #[test]
    fn packed_search_is_used_where_available() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("ssse3") {
            assert!(matches!(Finder::get(), Finder::Packed(_)));
        }
        #[cfg(target_arch = "aarch64")]
        assert!(matches!(Finder::get(), Finder::Packed(_)));
    }

    /// Every candidate pattern and fast-path ending cut at every byte, in
    /// every read size, with both finders: same results as the reference.
    #[test]
    fn candidates_split_across_reads() {
        let msgs: [&[u8]; 8] = [
            b"SIP/2.0 200 OK\r\nVia: x\r\nTransfer-Encoding: chunked\r\nl: 0\r\n\r\n",
            b"SIP/2.0 200 OK\ntRANSFER-encoding :x\nl: 0\n\n",
            b"A sip:a SIP/2.0\r\nX-Long: a-l s-f\r\nCONTENT-length : 12 \r\n\r\nhello world!",
            b"A sip:a SIP/2.0\r\nl:3\r\nContent-Length: 3\r\n\r\nabc",
            b"A sip:a SIP/2.0\r\nContent-Length:\r\n 3\r\nTo: b\r\n\r\nabc",
            b"A sip:a SIP/2.0\r\nContent-Length: 3\r\nl: 4\r\n\r\nabcd",
            b"A sip:a SIP/2.0\r\n\rl: 9\r\nL: 1\n\r\nx",
            b"A sip:a SIP/2.0\r\nContent-Length: 123456789012345678901\r\n\r\n",
        ];
        let lines = Finder::Lines;
        for m in msgs {
            for step in 1..=m.len() {
                let mut packed = SipFramer::default();
                let mut plain = SipFramer::default();
                let mut reference = crate::framer_ref::RefFramer::default();
                let mut n = 0;
                while n < m.len() {
                    n = (n + step).min(m.len());
                    let r = reference.scan(&m[..n], 4096, false);
                    assert_eq!(
                        packed.scan(&m[..n], 4096, false),
                        r,
                        "{m:?} step {step} at {n}"
                    );
                    assert_eq!(plain.scan_with(&lines, &m[..n], 4096, false), r);
                    if !matches!(r, Ok(Scan::Incomplete { .. })) {
                        break;
                    }
                }
            }
        }
    }

    #[test]
    fn partial_patterns_at_the_end_are_linear() {
        // Every byte may start a pattern, so each read re-reads one byte.
        let mut m = b"A sip:a SIP/2.0\r\nX: ".to_vec();
        for _ in 0..2000 {
            m.extend_from_slice(b"-sS\n ");
        }
        m.extend_from_slice(b"\r\nl: 0\r\n\r\n");
        let mut f = SipFramer::default();
        let mut done = false;
        for n in 1..=m.len() {
            if let Scan::Complete { len, .. } = f.scan(&m[..n], 1 << 20, false).unwrap() {
                assert_eq!((n, len), (m.len(), m.len()));
                done = true;
            }
        }
        assert!(done);
        assert!(
            f.work() <= 3 * m.len() as u64,
            "work {} for {}",
            f.work(),
            m.len()
        );
    }
}
