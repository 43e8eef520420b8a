//! Zero-copy access to a framed SIP message: start line, headers, Via, body,
//! `;param` lists and `sip:` URIs / name-addrs ([`uri`]), the data of a
//! chunked body ([`chunked_data`]).
//!
//! Everything borrows the message bytes and carries byte offsets into them,
//! so the relay can splice (insert a Via, remove the top Via value, append
//! `;received=`) by copying ranges. Lines end at LF with an optional CR, as
//! in the framer.

mod chunked;
mod headers;
mod lex;
mod params;
pub mod uri;
mod via;

use std::fmt;
use std::ops::Range;

pub use chunked::{chunked_data, ChunkedData};
pub use headers::{split_values, Header, HeaderName, Headers, Value, Values};
pub use lex::trim_lws;
pub use params::{find_param, params, Param, Params};
pub use uri::{header_param, parse_sip_uri, split_name_addr, SipUri, UriError};
pub use via::{Via, ViaParams, Vias};

/// Why a SIP message or header could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipError {
    /// No empty line ends the header block.
    NoEndOfHeaders,
    /// The start line is neither `METHOD URI VERSION` nor `SIP/x.y CODE REASON`.
    BadStartLine,
    /// A status code that is not three digits (100–699).
    BadStatusCode,
    /// A header line without a colon, or with an empty or spaced name.
    BadHeaderLine {
        /// Offset of the line in the message.
        offset: usize,
    },
    /// A Via value whose sent-protocol is not `name/version/transport`.
    ViaBadProtocol {
        /// Offset of the Via value in the message.
        offset: usize,
    },
    /// A Via value whose sent-by host is missing or malformed.
    ViaBadHost {
        /// Offset of the Via value in the message.
        offset: usize,
    },
    /// A Via port (or `rport` value) that is not a number up to 65535.
    ViaBadPort {
        /// Offset of the Via value in the message.
        offset: usize,
    },
    /// A Via parameter with an empty name.
    ViaBadParam {
        /// Offset of the Via value in the message.
        offset: usize,
    },
}

impl fmt::Display for SipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoEndOfHeaders => f.write_str("no empty line ends the SIP headers"),
            Self::BadStartLine => {
                f.write_str("start line is neither 'METHOD URI VERSION' nor 'SIP/2.0 CODE REASON'")
            }
            Self::BadStatusCode => f.write_str("status code is not a number from 100 to 699"),
            Self::BadHeaderLine { offset } => {
                write!(f, "header line at byte {offset} has no 'name:'")
            }
            Self::ViaBadProtocol { offset } => write!(
                f,
                "Via at byte {offset}: sent-protocol is not 'SIP/2.0/TRANSPORT'"
            ),
            Self::ViaBadHost { offset } => {
                write!(
                    f,
                    "Via at byte {offset}: sent-by host is missing or malformed"
                )
            }
            Self::ViaBadPort { offset } => {
                write!(f, "Via at byte {offset}: port is not a number up to 65535")
            }
            Self::ViaBadParam { offset } => {
                write!(f, "Via at byte {offset}: parameter with an empty name")
            }
        }
    }
}

impl std::error::Error for SipError {}

/// The first line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `METHOD Request-URI SIP-Version`.
    Request {
        /// Method token, e.g. `INVITE`.
        method: &'a [u8],
        /// Request-URI as written.
        uri: &'a [u8],
        /// Version, e.g. `SIP/2.0`.
        version: &'a [u8],
    },
    /// `SIP-Version Status-Code Reason-Phrase`.
    Response {
        /// Version, e.g. `SIP/2.0`.
        version: &'a [u8],
        /// Status code, 100–699.
        status: u16,
        /// Reason phrase (may be empty).
        reason: &'a [u8],
    },
}

/// A parsed view of one message. Construction checks the start line and that
/// every header line has a name and a colon; access after that is infallible
/// (Via parsing aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipMessage<'a> {
    bytes: &'a [u8],
    start_line: StartLine<'a>,
    /// Offset of the first header line.
    headers_start: usize,
    /// Offset of the empty line that ends the headers.
    headers_end: usize,
    /// Offset just past the empty line.
    body_start: usize,
}

impl<'a> SipMessage<'a> {
    /// Parses `bytes` (typically a [`crate::Frame`]'s bytes). The body is
    /// everything after the empty line.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, SipError> {
        let first_lf = memchr::memchr(b'\n', bytes).ok_or(SipError::NoEndOfHeaders)?;
        let line = trim_cr(bytes.get(..first_lf).unwrap_or(&[]));
        let start_line = parse_start_line(line)?;
        let headers_start = first_lf + 1;
        let mut pos = headers_start;
        loop {
            let rest = bytes.get(pos..).unwrap_or(&[]);
            let lf = memchr::memchr(b'\n', rest).ok_or(SipError::NoEndOfHeaders)?;
            let line = trim_cr(rest.get(..lf).unwrap_or(&[]));
            match line.first() {
                None => {
                    return Ok(Self {
                        bytes,
                        start_line,
                        headers_start,
                        headers_end: pos,
                        body_start: pos + lf + 1,
                    })
                }
                Some(b' ' | b'\t') if pos != headers_start => {}
                Some(_) if headers::split_name(line).is_some() => {}
                Some(_) => return Err(SipError::BadHeaderLine { offset: pos }),
            }
            pos += lf + 1;
        }
    }

    /// The whole message.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The start line.
    pub fn start_line(&self) -> StartLine<'a> {
        self.start_line
    }

    /// The method of a request (`None` for a response).
    pub fn method(&self) -> Option<&'a [u8]> {
        match self.start_line {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response (`None` for a request).
    pub fn status(&self) -> Option<u16> {
        match self.start_line {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    /// All headers in order.
    pub fn headers(&self) -> Headers<'a> {
        Headers::new(self.bytes, self.headers_start, self.headers_end)
    }

    /// Headers with this name (full or compact form).
    pub fn headers_named(&self, name: HeaderName) -> impl Iterator<Item = Header<'a>> {
        self.headers().filter(move |h| name.matches(h.name))
    }

    /// The first header with this name (full or compact form).
    pub fn header(&self, name: HeaderName) -> Option<Header<'a>> {
        self.headers_named(name).next()
    }

    /// Every Via value in order, across all Via headers (`Via`/`v`), split at commas.
    pub fn vias(&self) -> Vias<'a> {
        Vias::new(self.headers())
    }

    /// The topmost Via value.
    pub fn top_via(&self) -> Option<Result<Via<'a>, SipError>> {
        self.vias().next()
    }

    /// Call-ID value.
    pub fn call_id(&self) -> Option<&'a [u8]> {
        self.header(HeaderName::CallId).map(|h| h.value)
    }

    /// Offset of the first header line (where a new top header can be inserted).
    pub fn headers_start(&self) -> usize {
        self.headers_start
    }

    /// Range of the header block, without the empty line.
    pub fn headers_range(&self) -> Range<usize> {
        self.headers_start..self.headers_end
    }

    /// Range of the body.
    pub fn body_range(&self) -> Range<usize> {
        self.body_start..self.bytes.len()
    }

    /// The body.
    pub fn body(&self) -> &'a [u8] {
        self.bytes.get(self.body_start..).unwrap_or(&[])
    }
}

pub(crate) fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, SipError> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
        return Err(SipError::BadStartLine);
    };
    let c = parts.next();
    if a.len() > 4 && a.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/")) {
        let status = match b {
            [h @ b'1'..=b'6', t @ b'0'..=b'9', u @ b'0'..=b'9'] => {
                u16::from(h - b'0') * 100 + u16::from(t - b'0') * 10 + u16::from(u - b'0')
            }
            _ => return Err(SipError::BadStatusCode),
        };
        return Ok(StartLine::Response {
            version: a,
            status,
            reason: c.unwrap_or(&[]),
        });
    }
    let version = c.ok_or(SipError::BadStartLine)?;
    let is_token = |s: &[u8]| !s.is_empty() && s.iter().all(|&x| x > b' ' && x < 0x7f);
    if !is_token(a) || !is_token(b) || !is_token(version) {
        return Err(SipError::BadStartLine);
    }
    Ok(StartLine::Request {
        method: a,
        uri: b,
        version,
    })
}

#[cfg(test)]
mod tests;
