//! The original line-by-line framer (it stops at every LF), kept as the
//! reference for differential tests: [`crate::framer::SipFramer`] must give
//! the same result after every read, errors included.

use crate::framer::{body_state, parse_content_length, value_offset, Scan};
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
    /// Content-Length found so far.
    cl: Option<u64>,
    /// Header length and total length once the empty line was seen.
    done: Option<(usize, usize)>,
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
        let hay = data.get(self.search_from..).unwrap_or(&[]);
        for rel in memchr::memchr_iter(b'\n', hay) {
            let nl = self.search_from + rel;
            if self.line(data, nl)? {
                let body_start = nl + 1;
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
    fn line(&mut self, data: &[u8], nl: usize) -> Result<bool, FrameError> {
        let start = self.line_start;
        self.line_start = nl + 1;
        let raw = data.get(start..nl).unwrap_or(&[]);
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if !self.seen_start_line {
            self.seen_start_line = true;
            return Ok(false);
        }
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
