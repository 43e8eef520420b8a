//! Incremental SIP message framing: end of headers plus Content-Length.
//!
//! The framer sees the buffered bytes of the current message (offset 0 is the
//! first byte of the start line) and keeps its position between calls, so a
//! message fed one byte at a time costs O(message) in total: each byte is
//! searched for LF once, and each header line is examined once, when its LF
//! arrives. Line and value positions are offsets from the message start, so
//! they survive buffer compaction.
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

use crate::FrameError;

/// Outcome of one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// More bytes are needed; `need` is the exact count when the total is known.
    Incomplete { need: Option<usize> },
    /// A whole message of `len` bytes; the body starts at `body_start`.
    Complete { len: usize, body_start: usize },
}

/// Per-message framing state (all positions relative to the message start).
#[derive(Debug, Clone, Default)]
pub(crate) struct SipFramer {
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
        if let Some((body_start, total)) = self.done {
            return Ok(body_state(data.len(), body_start, total));
        }
        let hay = data.get(self.search_from..).unwrap_or(&[]);
        self.work += hay.len() as u64;
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
        self.work += raw.len() as u64;
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

fn body_state(have: usize, body_start: usize, total: usize) -> Scan {
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
pub(crate) fn value_offset(line: &[u8], name: &[u8]) -> Option<usize> {
    let head = line.get(..name.len())?;
    if !head.eq_ignore_ascii_case(name) {
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
}
