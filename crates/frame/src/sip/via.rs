//! Via values: sent-protocol, sent-by (host incl. `[IPv6]`, port) and
//! parameters (`branch`, `received`, `rport`, `alias`, others iterable), each
//! with its position in the message for splicing.

use std::iter::Peekable;
use std::net::IpAddr;
use std::ops::Range;

use super::headers::{split_values, Header, HeaderName, Headers, Value, Values};
use super::lex::{is_lws, parse_ip, parse_port, trim_lws as trim};
use super::params::{Param, RawParams};
use super::SipError;

fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// One parsed Via value. Ranges are offsets in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    /// The whole value, e.g. `SIP/2.0/TCP h:5060;branch=z9hG4bK1`.
    pub value: &'a [u8],
    /// Range of `value`; append `;received=...` at `range.end`.
    pub range: Range<usize>,
    /// Range of the Via header line(s) holding this value.
    pub line: Range<usize>,
    /// Bytes to delete to remove just this value: the whole header line if
    /// it is the only value, else the value and one adjacent comma separator.
    pub removal: Range<usize>,
    /// Protocol name, `SIP`.
    pub protocol: &'a [u8],
    /// Protocol version, `2.0`.
    pub version: &'a [u8],
    /// Transport, e.g. `TCP`, `UDP`, `TLS`, `WS`.
    pub transport: &'a [u8],
    /// Sent-by host, without the brackets of an IPv6 reference.
    pub host: &'a [u8],
    /// Sent-by port, if given.
    pub port: Option<u16>,
    /// Range of the sent-by (`host[:port]`, brackets included).
    pub sent_by_range: Range<usize>,
    /// `branch` parameter value.
    pub branch: Option<&'a [u8]>,
    /// `received` parameter value.
    pub received: Option<&'a [u8]>,
    /// `rport`: `Some(None)` as a flag, `Some(Some(port))` with a value.
    pub rport: Option<Option<u16>>,
    /// `alias` parameter present.
    pub alias: bool,
    /// Range of the parameter section (from the first `;`, possibly empty).
    pub params_range: Range<usize>,
    params: &'a [u8],
}

impl<'a> Via<'a> {
    /// Parses one Via value located at `offset` in its message (use 0 for a
    /// standalone value; `line` and `removal` are then set to the value range).
    pub fn parse(value: &'a [u8], offset: usize) -> Result<Self, SipError> {
        let range = offset..offset + value.len();
        Self::parse_in(value, range.clone(), range.clone(), range)
    }

    fn parse_in(
        value: &'a [u8],
        range: Range<usize>,
        line: Range<usize>,
        removal: Range<usize>,
    ) -> Result<Self, SipError> {
        let offset = range.start;
        let bad_proto = SipError::ViaBadProtocol { offset };
        let s1 = memchr::memchr(b'/', value).ok_or(bad_proto)?;
        let protocol = trim(value.get(..s1).unwrap_or(&[]));
        let rest = value.get(s1 + 1..).unwrap_or(&[]);
        let s2 = memchr::memchr(b'/', rest).ok_or(bad_proto)?;
        let version = trim(rest.get(..s2).unwrap_or(&[]));
        let after = s1 + 1 + s2 + 1;
        let rest = value.get(after..).unwrap_or(&[]);
        let t0 = rest.iter().position(|&b| !is_lws(b)).ok_or(bad_proto)?;
        let tlen = rest
            .get(t0..)
            .unwrap_or(&[])
            .iter()
            .position(|&b| is_lws(b))
            .ok_or(SipError::ViaBadHost { offset })?;
        let transport = rest.get(t0..t0 + tlen).unwrap_or(&[]);
        if !is_token(protocol) || !is_token(version) || !is_token(transport) {
            return Err(bad_proto);
        }
        let sb_start = after + t0 + tlen;
        let tail = value.get(sb_start..).unwrap_or(&[]);
        let semi = memchr::memchr(b';', tail).unwrap_or(tail.len());
        let params_at = sb_start + semi;
        let sent_by_raw = tail.get(..semi).unwrap_or(&[]);
        let lead = sent_by_raw.iter().position(|&b| !is_lws(b)).unwrap_or(0);
        let sent_by = trim(sent_by_raw);
        let (host, port) = parse_sent_by(sent_by, offset)?;
        let sb_off = offset + sb_start + lead;
        let params = value.get(params_at..).unwrap_or(&[]);
        let mut via = Via {
            value,
            range: range.clone(),
            line,
            removal,
            protocol,
            version,
            transport,
            host,
            port,
            sent_by_range: sb_off..sb_off + sent_by.len(),
            branch: None,
            received: None,
            rport: None,
            alias: false,
            params_range: offset + params_at..range.end,
            params,
        };
        for (name, val) in via.params() {
            if name.is_empty() {
                return Err(SipError::ViaBadParam { offset });
            }
            if name.eq_ignore_ascii_case(b"branch") {
                via.branch = val;
            } else if name.eq_ignore_ascii_case(b"received") {
                via.received = val;
            } else if name.eq_ignore_ascii_case(b"rport") {
                via.rport = Some(match val {
                    None => None,
                    Some(v) => Some(parse_port(v).ok_or(SipError::ViaBadPort { offset })?),
                });
            } else if name.eq_ignore_ascii_case(b"alias") {
                via.alias = true;
            }
        }
        Ok(via)
    }

    /// All parameters as `(name, value)`, trimmed; quoted values keep their quotes.
    pub fn params(&self) -> ViaParams<'a> {
        ViaParams {
            text: self.params,
            raw: RawParams::new(self.params),
        }
    }

    /// The sent-by host as an IP address, if it is one.
    pub fn host_ip(&self) -> Option<IpAddr> {
        parse_ip(self.host)
    }
}

fn parse_sent_by(sent_by: &[u8], offset: usize) -> Result<(&[u8], Option<u16>), SipError> {
    let bad_host = SipError::ViaBadHost { offset };
    let (host, after) = if let Some(inner) = sent_by.strip_prefix(b"[") {
        let close = memchr::memchr(b']', inner).ok_or(bad_host)?;
        let host = inner.get(..close).unwrap_or(&[]);
        if host.is_empty()
            || !host
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(bad_host);
        }
        (host, inner.get(close + 1..).unwrap_or(&[]))
    } else {
        let end = sent_by
            .iter()
            .position(|&b| b == b':' || is_lws(b))
            .unwrap_or(sent_by.len());
        let host = sent_by.get(..end).unwrap_or(&[]);
        let ok = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
        if host.is_empty() || !host.iter().all(ok) {
            return Err(bad_host);
        }
        (host, sent_by.get(end..).unwrap_or(&[]))
    };
    let after = trim(after);
    if after.is_empty() {
        return Ok((host, None));
    }
    let port = after.strip_prefix(b":").ok_or(bad_host)?;
    let port = parse_port(trim(port)).ok_or(SipError::ViaBadPort { offset })?;
    Ok((host, Some(port)))
}

/// Iterator over `;name[=value]` parameters, empty ones included (a Via rejects them).
#[derive(Debug, Clone)]
pub struct ViaParams<'a> {
    text: &'a [u8],
    raw: RawParams<'a>,
}

impl<'a> Iterator for ViaParams<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        let p = Param::at(self.text, self.raw.next()?);
        Some((p.name_in(self.text), p.value_in(self.text)))
    }
}

#[derive(Debug, Clone)]
struct Current<'a> {
    line: Range<usize>,
    values: Peekable<Values<'a>>,
    prev_end: Option<usize>,
}

/// Iterator over every Via value of a message, top first.
#[derive(Debug, Clone)]
pub struct Vias<'a> {
    headers: Headers<'a>,
    cur: Option<Current<'a>>,
}

impl<'a> Vias<'a> {
    pub(crate) fn new(headers: Headers<'a>) -> Self {
        Self { headers, cur: None }
    }
}

impl<'a> Iterator for Vias<'a> {
    type Item = Result<Via<'a>, SipError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(c) = self.cur.as_mut() {
                if let Some(v) = c.values.next() {
                    let Value { bytes, range } = v;
                    let next_start = c.values.peek().map(|n| n.range.start);
                    let removal = match (c.prev_end, next_start) {
                        (None, None) => c.line.clone(),
                        (_, Some(n)) => range.start..n,
                        (Some(p), None) => p..range.end,
                    };
                    c.prev_end = Some(range.end);
                    return Some(Via::parse_in(bytes, range, c.line.clone(), removal));
                }
                self.cur = None;
            }
            let h: Header<'a> = self.headers.find(|h| HeaderName::Via.matches(h.name))?;
            self.cur = Some(Current {
                line: h.line.clone(),
                values: split_values(&h).peekable(),
                prev_end: None,
            });
        }
    }
}
