//! Chunked bodies (RFC 9112 §7.1), framed when `tcp_accept_no_cl` is on and the message has
//! `Transfer-Encoding: chunked` and no Content-Length (see the framer docs for the rules):
//! the parse of a `Transfer-Encoding` value, of a chunk-size line, and the incremental walk
//! over the chunk framing, which keeps offsets from the message start (they survive buffer
//! compaction) and looks at every framing byte once and at no data byte.

use super::Scan;
use crate::FrameError;

/// Longest chunk-size line accepted: hex size, optional whitespace and `;` extensions,
/// without the line ending. Sizes need at most 16 hex digits; the rest leaves room for an
/// extension or two without letting a peer make the framer wait on an endless line.
pub(crate) const MAX_CHUNK_LINE: usize = 256;

/// Applies one `Transfer-Encoding` value (`raw`, from just past the colon to the end of the
/// header, folding included) to `chunked`, the codings seen so far: the only accepted list,
/// across all the headers, is one `chunked` (ASCII case-insensitive, OWS around it, empty
/// list elements ignored). Any other coding, `chunked` again, or a value with no coding is
/// [`FrameError::UnsupportedTransferCoding`].
pub(crate) fn transfer_codings(raw: &[u8], chunked: &mut bool) -> Result<(), FrameError> {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let mut any = false;
    for element in raw.split(|&b| b == b',') {
        let start = element.iter().position(|b| !is_ws(b));
        let Some(start) = start else {
            continue; // empty list element
        };
        let end = element
            .iter()
            .rposition(|b| !is_ws(b))
            .map_or(start, |p| p + 1);
        let coding = element.get(start..end).unwrap_or(&[]);
        if *chunked || !coding.eq_ignore_ascii_case(b"chunked") {
            return Err(FrameError::UnsupportedTransferCoding);
        }
        *chunked = true;
        any = true;
    }
    if any {
        Ok(())
    } else {
        Err(FrameError::UnsupportedTransferCoding)
    }
}

/// Parses a chunk-size line without its line ending: `1*HEXDIG [ BWS ";" ext ]`. The
/// extensions are ignored, but no control character (other than HT) may appear in them.
pub(crate) fn parse_chunk_size(line: &[u8]) -> Result<u64, FrameError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(FrameError::InvalidChunkSize);
    }
    let mut v: u64 = 0;
    for &b in line.get(..digits).unwrap_or(&[]) {
        let d = char::from(b).to_digit(16).unwrap_or(0);
        v = v
            .checked_mul(16)
            .and_then(|v| v.checked_add(u64::from(d)))
            .ok_or(FrameError::ChunkSizeOverflow)?;
    }
    let rest = line.get(digits..).unwrap_or(&[]);
    let ws = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let ext = rest.get(ws..).unwrap_or(&[]);
    let control = |&b: &u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    match ext.first() {
        None => Ok(v),
        Some(b';') if !ext.iter().any(control) => Ok(v),
        Some(_) => Err(FrameError::InvalidChunkSize),
    }
}

/// Where the walk over the chunk framing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// A chunk-size line starts at `start`; there is no LF before `lf_from`.
    Size { start: usize, lf_from: usize },
    /// Chunk data ends at `end`; a line ending must follow.
    Data { end: usize },
    /// A trailer field line, or the final empty line, starts at `start`; no LF before
    /// `lf_from`.
    Trailer { start: usize, lf_from: usize },
}

/// The chunked body of the current message (offsets from the message start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chunked {
    body_start: usize,
    part: Part,
}

impl Chunked {
    /// A chunked body starting at `body_start`, just past the empty line.
    pub(super) fn new(body_start: usize) -> Self {
        Self {
            body_start,
            part: Part::Size {
                start: body_start,
                lf_from: body_start,
            },
        }
    }

    /// Goes on with the bytes of the message buffered so far (a longer `data` than last
    /// time, same start).
    pub(super) fn scan(
        &mut self,
        data: &[u8],
        capacity: usize,
        work: &mut u64,
    ) -> Result<Scan, FrameError> {
        let have = data.len();
        loop {
            match self.part {
                Part::Size { start, lf_from } => {
                    let Some(nl) = find_lf(data, lf_from, work) else {
                        self.part = Part::Size {
                            start,
                            lf_from: lf_from.max(have),
                        };
                        if open_line_len(data, start) > MAX_CHUNK_LINE {
                            return Err(FrameError::ChunkLineTooLong {
                                limit: MAX_CHUNK_LINE,
                            });
                        }
                        return incomplete(have, capacity, None);
                    };
                    let line = line_at(data, start, nl);
                    if line.len() > MAX_CHUNK_LINE {
                        return Err(FrameError::ChunkLineTooLong {
                            limit: MAX_CHUNK_LINE,
                        });
                    }
                    let size = parse_chunk_size(line)?;
                    let next = nl + 1;
                    if size == 0 {
                        self.part = Part::Trailer {
                            start: next,
                            lf_from: next,
                        };
                        continue;
                    }
                    let end = (next as u64).saturating_add(size);
                    if end > capacity as u64 {
                        return Err(FrameError::MessageTooLarge {
                            size: end,
                            capacity,
                        });
                    }
                    self.part = Part::Data { end: end as usize };
                }
                Part::Data { end } => {
                    *work += 1;
                    let start = match data.get(end..).unwrap_or(&[]) {
                        [] => return incomplete(have, capacity, Some(end + 1 - have)),
                        [b'\n', ..] => end + 1,
                        [b'\r'] => return incomplete(have, capacity, Some(1)),
                        [b'\r', b'\n', ..] => end + 2,
                        _ => return Err(FrameError::ChunkDataNotTerminated),
                    };
                    self.part = Part::Size {
                        start,
                        lf_from: start,
                    };
                }
                Part::Trailer { start, lf_from } => {
                    let Some(nl) = find_lf(data, lf_from, work) else {
                        self.part = Part::Trailer {
                            start,
                            lf_from: lf_from.max(have),
                        };
                        return incomplete(have, capacity, None);
                    };
                    if line_at(data, start, nl).is_empty() {
                        return Ok(Scan::Complete {
                            len: nl + 1,
                            body_start: self.body_start,
                        });
                    }
                    self.part = Part::Trailer {
                        start: nl + 1,
                        lf_from: nl + 1,
                    };
                }
            }
        }
    }
}

/// The first LF at or after `from`, counting the bytes examined.
fn find_lf(data: &[u8], from: usize, work: &mut u64) -> Option<usize> {
    let hay = data.get(from..).unwrap_or(&[]);
    match memchr::memchr(b'\n', hay) {
        Some(rel) => {
            *work += rel as u64 + 1;
            Some(from + rel)
        }
        None => {
            *work += hay.len() as u64;
            None
        }
    }
}

/// The line from `start` to its LF at `nl`, without a CR just before the LF.
fn line_at(data: &[u8], start: usize, nl: usize) -> &[u8] {
    let raw = data.get(start..nl).unwrap_or(&[]);
    raw.strip_suffix(b"\r").unwrap_or(raw)
}

/// The length a line from `start` whose LF has not arrived has at least: its bytes so far,
/// less a final CR (it may end the line).
fn open_line_len(data: &[u8], start: usize) -> usize {
    let open = data.get(start..).unwrap_or(&[]);
    open.len() - usize::from(open.last() == Some(&b'\r'))
}

/// More bytes are needed; with the buffer full that is an oversize message (the framing
/// itself filled it).
fn incomplete(have: usize, capacity: usize, need: Option<usize>) -> Result<Scan, FrameError> {
    if have >= capacity {
        Err(FrameError::MessageTooLarge {
            size: (capacity as u64).saturating_add(1),
            capacity,
        })
    } else {
        Ok(Scan::Incomplete { need })
    }
}
