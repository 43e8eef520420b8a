//! `sip:` URIs and name-addrs, zero-copy: the host, port and parameters of a URI
//! (Request-URI, Route), the URI inside a name-addr (`"Bob" <sip:...>`) and its header
//! parameters (`;tag=`), as the relay needs them for routing.

use std::net::IpAddr;
use std::ops::Range;

use super::lex::{find_unquoted, parse_ip, parse_port, trim_lws};
use super::params::find_param;

/// Why a URI cannot be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    /// Not `sip:` (`sips:` needs TLS, which sipwire does not speak; `tel:` and others need
    /// a location service).
    Scheme,
    /// No host, or a bad port.
    Malformed,
}

/// The routing-relevant parts of a `sip:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// Host without the brackets of an IPv6 reference.
    pub host: &'a [u8],
    /// Port, if written.
    pub port: Option<u16>,
    /// The parameter section, from the first `;` up to `?` or the end (maybe empty).
    pub params: &'a [u8],
}

impl SipUri<'_> {
    /// The host as an IP address, if it is one.
    pub fn host_ip(&self) -> Option<IpAddr> {
        parse_ip(self.host)
    }

    /// True if the URI has the parameter `name` (case-insensitive), e.g. `lr`.
    pub fn has_param(&self, name: &[u8]) -> bool {
        find_param(self.params, name).is_some()
    }
}

/// Parses a `sip:` URI. The userinfo ends at the first `@` (RFC 3261's grammar allows `@`
/// nowhere else unescaped); the host ends at `:`, `;`, `?` or the end.
pub fn parse_sip_uri(uri: &[u8]) -> Result<SipUri<'_>, UriError> {
    let uri = trim_lws(uri);
    let colon = memchr::memchr(b':', uri).ok_or(UriError::Scheme)?;
    let scheme = uri.get(..colon).unwrap_or(&[]);
    if !scheme.eq_ignore_ascii_case(b"sip") {
        return Err(UriError::Scheme);
    }
    let rest = uri.get(colon + 1..).unwrap_or(&[]);
    let hostpart = match memchr::memchr(b'@', rest) {
        Some(at) => rest.get(at + 1..).unwrap_or(&[]),
        None => rest,
    };
    let (host, after) = if let Some(inner) = hostpart.strip_prefix(b"[") {
        let close = memchr::memchr(b']', inner).ok_or(UriError::Malformed)?;
        (
            inner.get(..close).unwrap_or(&[]),
            inner.get(close + 1..).unwrap_or(&[]),
        )
    } else {
        let end = hostpart
            .iter()
            .position(|&b| matches!(b, b':' | b';' | b'?'))
            .unwrap_or(hostpart.len());
        (
            hostpart.get(..end).unwrap_or(&[]),
            hostpart.get(end..).unwrap_or(&[]),
        )
    };
    let host_ok = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':');
    if host.is_empty() || !host.iter().all(host_ok) {
        return Err(UriError::Malformed);
    }
    let (port, after) = match after.strip_prefix(b":") {
        Some(p) => {
            let end = p
                .iter()
                .position(|&b| matches!(b, b';' | b'?'))
                .unwrap_or(p.len());
            let port = parse_port(p.get(..end).unwrap_or(&[])).ok_or(UriError::Malformed)?;
            (Some(port), p.get(end..).unwrap_or(&[]))
        }
        None => (None, after),
    };
    let params_end = memchr::memchr(b'?', after).unwrap_or(after.len());
    let params = after.get(..params_end).unwrap_or(&[]);
    if !params.is_empty() && !params.starts_with(b";") {
        return Err(UriError::Malformed);
    }
    Ok(SipUri { host, port, params })
}

/// The URI of a name-addr or addr-spec header value (`"Bob" <sip:b@h>;tag=1` gives
/// `sip:b@h`; `sip:b@h;tag=1` gives `sip:b@h`), and the header-parameter section after it
/// (`;tag=1`) as a range of `value`.
pub fn split_name_addr(value: &[u8]) -> (&[u8], Range<usize>) {
    if let Some(open) = find_unquoted(value, |b| b == b'<') {
        let rest = value.get(open + 1..).unwrap_or(&[]);
        let close = memchr::memchr(b'>', rest).unwrap_or(rest.len());
        let uri = rest.get(..close).unwrap_or(&[]);
        let params_start = (open + 1 + close + 1).min(value.len());
        return (uri, params_start..value.len());
    }
    // addr-spec: every parameter is a header parameter (RFC 3261 §20.10).
    let semi = memchr::memchr(b';', value).unwrap_or(value.len());
    (value.get(..semi).unwrap_or(&[]), semi..value.len())
}

/// The value of header parameter `name` (e.g. `tag`) of a From/To value.
pub fn header_param<'a>(value: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let (_, prange) = split_name_addr(value);
    let section = value.get(prange)?;
    find_param(section, name).map(|p| p.value_in(section).unwrap_or(&[]))
}
