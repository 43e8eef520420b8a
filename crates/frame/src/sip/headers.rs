//! Header lines, well-known names with compact forms, and comma-separated values.
//!
//! A header is a `name: value` line plus any continuation lines that start
//! with SP or HT. Its `value` slice runs from the first non-blank byte after
//! the colon to the last non-blank byte of the last continuation line, so a
//! folded value contains the raw `CRLF SP` bytes of the fold; [`split_values`]
//! and the Via parser treat them as whitespace.

use std::ops::Range;

use super::lex::{find_unquoted, is_lws, quoted_end};
use super::trim_cr;

/// `(name, offset of the value start)` of a header line; `None` if there is
/// no colon or the name is empty or contains blanks other than trailing ones.
pub(crate) fn split_name(line: &[u8]) -> Option<(&[u8], usize)> {
    let colon = memchr::memchr(b':', line)?;
    let raw = line.get(..colon)?;
    let end = raw.iter().rposition(|&b| b != b' ' && b != b'\t')? + 1;
    let name = raw.get(..end)?;
    if name.iter().any(|&b| b <= b' ' || b >= 0x7f) {
        return None;
    }
    Some((name, colon + 1))
}

/// One header, possibly folded over several lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// Header name as written (without trailing blanks).
    pub name: &'a [u8],
    /// Value, trimmed; spans folds (see the module docs).
    pub value: &'a [u8],
    /// The header's lines in the message, terminators included: remove this
    /// range to remove the header.
    pub line: Range<usize>,
    /// Range of `value` in the message.
    pub value_range: Range<usize>,
}

/// Iterator over the headers of a message.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    msg: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Headers<'a> {
    pub(crate) fn new(msg: &'a [u8], start: usize, end: usize) -> Self {
        Self {
            msg,
            pos: start,
            end,
        }
    }

    /// End of the line starting at `at` (past its LF), bounded by the header end.
    fn line_end(&self, at: usize) -> usize {
        let region = self.msg.get(at..self.end).unwrap_or(&[]);
        memchr::memchr(b'\n', region).map_or(self.end, |i| at + i + 1)
    }
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        loop {
            if self.pos >= self.end {
                return None;
            }
            let start = self.pos;
            let first_end = self.line_end(start);
            let mut end = first_end;
            // Swallow continuation lines.
            while end < self.end && matches!(self.msg.get(end), Some(b' ' | b'\t')) {
                end = self.line_end(end);
            }
            self.pos = end;
            let first = self.msg.get(start..end).unwrap_or(&[]);
            let line = self.msg.get(start..first_end).unwrap_or(&[]);
            let first_line = trim_cr(line.strip_suffix(b"\n").unwrap_or(line));
            // Lines that are not headers (leading fold, no colon) are skipped;
            // SipMessage::parse rejects them up front.
            let Some((name, vstart)) = split_name(first_line) else {
                continue;
            };
            let whole = first;
            let vs = whole
                .get(vstart..)
                .and_then(|v| v.iter().position(|&b| !is_lws(b)))
                .map_or(whole.len(), |p| vstart + p);
            let ve = whole
                .iter()
                .rposition(|&b| !is_lws(b))
                .map_or(vs, |p| (p + 1).max(vs));
            return Some(Header {
                name,
                value: whole.get(vs..ve).unwrap_or(&[]),
                line: start..end,
                value_range: start + vs..start + ve,
            });
        }
    }
}

/// Well-known header names, matched with their compact forms (RFC 3261 §7.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderName {
    /// `Via` / `v`.
    Via,
    /// `Call-ID` / `i`.
    CallId,
    /// `Content-Length` / `l`.
    ContentLength,
    /// `From` / `f`.
    From,
    /// `To` / `t`.
    To,
    /// `Contact` / `m`.
    Contact,
    /// `Content-Type` / `c`.
    ContentType,
    /// `Supported` / `k`.
    Supported,
    /// `Subject` / `s`.
    Subject,
    /// `Route`.
    Route,
    /// `Record-Route`.
    RecordRoute,
    /// `Max-Forwards`.
    MaxForwards,
    /// `CSeq`.
    CSeq,
}

impl HeaderName {
    /// Full name and compact letter, if any.
    pub fn forms(self) -> (&'static str, Option<u8>) {
        match self {
            Self::Via => ("Via", Some(b'v')),
            Self::CallId => ("Call-ID", Some(b'i')),
            Self::ContentLength => ("Content-Length", Some(b'l')),
            Self::From => ("From", Some(b'f')),
            Self::To => ("To", Some(b't')),
            Self::Contact => ("Contact", Some(b'm')),
            Self::ContentType => ("Content-Type", Some(b'c')),
            Self::Supported => ("Supported", Some(b'k')),
            Self::Subject => ("Subject", Some(b's')),
            Self::Route => ("Route", None),
            Self::RecordRoute => ("Record-Route", None),
            Self::MaxForwards => ("Max-Forwards", None),
            Self::CSeq => ("CSeq", None),
        }
    }

    /// True if `name` is this header (case-insensitive, full or compact form).
    pub fn matches(self, name: &[u8]) -> bool {
        let (full, compact) = self.forms();
        match (name, compact) {
            ([c], Some(k)) => c.to_ascii_lowercase() == k,
            _ => name.eq_ignore_ascii_case(full.as_bytes()),
        }
    }
}

/// One element of a comma-separated header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value<'a> {
    /// The element, trimmed.
    pub bytes: &'a [u8],
    /// Its range in the message.
    pub range: Range<usize>,
}

/// Iterator over the elements of a comma-separated value; see [`split_values`].
#[derive(Debug, Clone)]
pub struct Values<'a> {
    value: &'a [u8],
    base: usize,
    pos: usize,
}

/// Splits a header value at commas that are outside `"quoted strings"` (with
/// backslash escapes), `<angle brackets>` and `[IPv6 brackets]`. Elements are
/// trimmed; empty elements are skipped. Only meaningful for list headers
/// (Via, Contact, Route, Record-Route, Supported, ...), not e.g. for
/// `WWW-Authenticate` or `Date`.
pub fn split_values<'a>(header: &Header<'a>) -> Values<'a> {
    Values {
        value: header.value,
        base: header.value_range.start,
        pos: 0,
    }
}

impl<'a> Iterator for Values<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        while self.pos < self.value.len() {
            let start = self.pos;
            let rest = self.value.get(start..).unwrap_or(&[]);
            let len = element_len(rest);
            self.pos = start + len + 1; // past the comma
            let elem = rest.get(..len).unwrap_or(&[]);
            let s = elem.iter().position(|&b| !is_lws(b));
            let Some(s) = s else { continue };
            let e = elem.iter().rposition(|&b| !is_lws(b)).map_or(s, |p| p + 1);
            return Some(Value {
                bytes: elem.get(s..e).unwrap_or(&[]),
                range: self.base + start + s..self.base + start + e,
            });
        }
        None
    }
}

/// Length of the first element of `s` (up to a comma outside quotes and brackets, or the end).
fn element_len(s: &[u8]) -> usize {
    if memchr::memchr(b'[', s).is_none() {
        element_len_fast(s)
    } else {
        element_len_loop(s)
    }
}

/// [`element_len`] byte by byte.
pub(crate) fn element_len_loop(s: &[u8]) -> usize {
    let (mut angle, mut square) = (false, false);
    let top_comma = |b| {
        match b {
            b'<' => angle = true,
            b'>' => angle = false,
            b'[' => square = true,
            b']' => square = false,
            b',' => return !angle && !square,
            _ => {}
        }
        false
    };
    find_unquoted(s, top_comma).unwrap_or(s.len())
}

/// [`element_len`] for a value without `[`, jumping between the bytes that matter with
/// `memchr`: the same result as the byte loop (no square brackets to track).
pub(crate) fn element_len_fast(s: &[u8]) -> usize {
    let (mut pos, mut angle) = (0, false);
    loop {
        let rest = s.get(pos..).unwrap_or(&[]);
        let hit = if angle {
            memchr::memchr2(b'>', b'"', rest)
        } else {
            memchr::memchr3(b',', b'"', b'<', rest)
        };
        let Some(i) = hit.map(|i| pos + i) else {
            return s.len();
        };
        match s.get(i) {
            Some(b',') => return i,
            Some(b'"') => match quoted_end(s, i + 1) {
                Some(end) => pos = end,
                None => return s.len(),
            },
            Some(b'<') => (angle, pos) = (true, i + 1),
            _ => (angle, pos) = (false, i + 1),
        }
    }
}
