//! The original line-by-line framer (it stops at every LF), kept as the
//! reference for differential tests: [`crate::framer::SipFramer`] must give
//! the same result after every read, errors included.
//!
//! A chunked body (`accept_no_cl`, see the framer docs) is walked here from
//! its start on every call, line by line, with no state kept between calls:
//! slow, but the result is plainly a function of the bytes so far, which the
//! incremental walk of `framer/chunked.rs` must match.

use crate::framer::{
    body_state, parse_content_length, transfer_codings, value_offset, Scan, MAX_CHUNK_LINE,
};
use crate::FrameError;

/// Per-message framing state (all positions relative to the message start).
#[derive(Debug, Clone, Default)]
pub(crate) struct RefFramer {
    /// Bytes before this offset have been searched for LF.
    search_from: usize,
    /// Start of the line whose LF has not been seen yet.
    line_start: usize,
    /// The start line has been passed.
    seen_start_line: bool,
    /// Value start of a Content-Length header whose end is not known yet.
    open_cl: Option<usize>,
    /// Value start of a Transfer-Encoding header whose end is not known yet.
    open_te: Option<usize>,
    /// Content-Length found so far.
    cl: Option<u64>,
    /// `Transfer-Encoding: chunked` seen.
    chunked: bool,
    /// Header length and total length once the empty line was seen.
    done: Option<(usize, usize)>,
    /// Body start of a chunked body once the empty line was seen.
    chunked_body: Option<usize>,
}

impl RefFramer {
    /// Scans newly buffered bytes of the current message.
    pub(crate) fn scan(
        &mut self,
        data: &[u8],
        capacity: usize,
        accept_no_cl: bool,
    ) -> Result<Scan, FrameError> {
        if let Some((body_start, total)) = self.done {
            return Ok(body_state(data.len(), body_start, total));
        }
        if let Some(body_start) = self.chunked_body {
            return walk_chunked(data, body_start, capacity);
        }
        let hay = data.get(self.search_from..).unwrap_or(&[]);
        for rel in memchr::memchr_iter(b'\n', hay) {
            let nl = self.search_from + rel;
            if self.line(data, nl, accept_no_cl)? {
                let body_start = nl + 1;
                if self.chunked {
                    if self.cl.is_some() {
                        return Err(FrameError::ContentLengthWithTransferEncoding);
                    }
                    self.chunked_body = Some(body_start);
                    return walk_chunked(data, body_start, capacity);
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
                self.done = Some((body_start, total));
                return Ok(body_state(data.len(), body_start, total));
            }
        }
        self.search_from = data.len();
        if data.len() >= capacity {
            return Err(FrameError::HeadersTooLarge { capacity });
        }
        Ok(Scan::Incomplete { need: None })
    }

    /// Handles the line ending at LF `nl`; true at the empty line ending the headers.
    fn line(&mut self, data: &[u8], nl: usize, accept_no_cl: bool) -> Result<bool, FrameError> {
        let start = self.line_start;
        self.line_start = nl + 1;
        let raw = data.get(start..nl).unwrap_or(&[]);
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if !self.seen_start_line {
            self.seen_start_line = true;
            return Ok(false);
        }
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
                    self.open_cl = Some(start + v);
                }
            }
            b't' => {
                if let Some(v) = value_offset(line, b"transfer-encoding") {
                    if !accept_no_cl {
                        return Err(FrameError::TransferEncodingUnsupported);
                    }
                    self.open_te = Some(start + v);
                }
            }
            _ => {}
        }
        Ok(false)
    }

    /// Parses an open Content-Length or Transfer-Encoding value that ends
    /// before offset `end`.
    fn close_open(&mut self, data: &[u8], end: usize) -> Result<(), FrameError> {
        if let Some(vs) = self.open_te.take() {
            transfer_codings(data.get(vs..end).unwrap_or(&[]), &mut self.chunked)?;
        }
        let Some(vs) = self.open_cl.take() else {
            return Ok(());
        };
        let raw = data.get(vs..end).unwrap_or(&[]);
        let v = parse_content_length(raw)?;
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
}

/// Frames the chunked body starting at `body_start` from scratch.
fn walk_chunked(data: &[u8], body_start: usize, capacity: usize) -> Result<Scan, FrameError> {
    let wait = |need: Option<usize>| {
        if data.len() >= capacity {
            Err(FrameError::MessageTooLarge {
                size: (capacity as u64).saturating_add(1),
                capacity,
            })
        } else {
            Ok(Scan::Incomplete { need })
        }
    };
    let mut pos = body_start;
    // Chunks, up to and including the last-chunk line.
    loop {
        let rest = data.get(pos..).unwrap_or(&[]);
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            let open = match rest {
                [head @ .., b'\r'] => head.len(),
                _ => rest.len(),
            };
            if open > MAX_CHUNK_LINE {
                return Err(FrameError::ChunkLineTooLong {
                    limit: MAX_CHUNK_LINE,
                });
            }
            return wait(None);
        };
        let raw = rest.get(..lf).unwrap_or(&[]);
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.len() > MAX_CHUNK_LINE {
            return Err(FrameError::ChunkLineTooLong {
                limit: MAX_CHUNK_LINE,
            });
        }
        let size = chunk_size(line)?;
        pos += lf + 1;
        if size == 0 {
            break;
        }
        let end = (pos as u64).saturating_add(size);
        if end > capacity as u64 {
            return Err(FrameError::MessageTooLarge {
                size: end,
                capacity,
            });
        }
        let end = end as usize;
        if data.len() <= end {
            return wait(Some(end + 1 - data.len()));
        }
        pos = match (data.get(end), data.get(end + 1)) {
            (Some(b'\n'), _) => end + 1,
            (Some(b'\r'), Some(b'\n')) => end + 2,
            (Some(b'\r'), None) => return wait(Some(1)),
            _ => return Err(FrameError::ChunkDataNotTerminated),
        };
    }
    // Trailer field lines up to the empty line.
    loop {
        let rest = data.get(pos..).unwrap_or(&[]);
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            return wait(None);
        };
        if matches!(rest.get(..lf), Some([] | [b'\r'])) {
            return Ok(Scan::Complete {
                len: pos + lf + 1,
                body_start,
            });
        }
        pos += lf + 1;
    }
}

/// A chunk-size line (no line ending): hex digits, then nothing, or SP/HT
/// and a `;` extension free of control characters.
fn chunk_size(line: &[u8]) -> Result<u64, FrameError> {
    let split = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (hex, rest) = line.split_at(split);
    if hex.is_empty() {
        return Err(FrameError::InvalidChunkSize);
    }
    let hex = std::str::from_utf8(hex).map_err(|_| FrameError::InvalidChunkSize)?;
    let size = u64::from_str_radix(hex, 16).map_err(|_| FrameError::ChunkSizeOverflow)?;
    let ext = String::from_utf8_lossy(rest);
    let ext = ext.trim_start_matches([' ', '\t']);
    if ext.is_empty()
        || (ext.starts_with(';') && !ext.chars().any(|c| c.is_ascii_control() && c != '\t'))
    {
        Ok(size)
    } else {
        Err(FrameError::InvalidChunkSize)
    }
}
