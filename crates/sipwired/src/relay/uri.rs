//! The little URI and parameter parsing the relay needs: the host, port and parameters of a
//! `sip:`/`sips:` URI (Request-URI, Route), the URI inside a name-addr (`"Bob" <sip:...>`),
//! and `;name=value` parameter lists with their byte ranges (for Via and To edits).

use std::net::IpAddr;
use std::ops::Range;

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Position of the first `byte` in `s`.
pub(crate) fn find(byte: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == byte)
}

/// Trims linear white space (including folds) from both ends.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let a = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let e = s.iter().rposition(|&b| !is_lws(b)).map_or(a, |p| p + 1);
    s.get(a..e).unwrap_or(&[])
}

/// Why a URI cannot be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    /// Not `sip:` (`sips:` needs TLS, which sipwired does not speak; `tel:` and others need
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
        std::str::from_utf8(self.host).ok()?.parse().ok()
    }

    /// True if the URI has the parameter `name` (case-insensitive), e.g. `lr`.
    pub fn has_param(&self, name: &[u8]) -> bool {
        params(self.params)
            .into_iter()
            .any(|p| p.name_in(self.params).eq_ignore_ascii_case(name))
    }
}

fn parse_port(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = s.iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0'));
    u16::try_from(v).ok()
}

/// Parses a `sip:` URI. The userinfo ends at the first `@` (RFC 3261's grammar allows `@`
/// nowhere else unescaped); the host ends at `:`, `;`, `?` or the end.
pub fn parse_sip_uri(uri: &[u8]) -> Result<SipUri<'_>, UriError> {
    let uri = trim(uri);
    let colon = find(b':', uri).ok_or(UriError::Scheme)?;
    let scheme = uri.get(..colon).unwrap_or(&[]);
    if !scheme.eq_ignore_ascii_case(b"sip") {
        return Err(UriError::Scheme);
    }
    let rest = uri.get(colon + 1..).unwrap_or(&[]);
    let hostpart = match find(b'@', rest) {
        Some(at) => rest.get(at + 1..).unwrap_or(&[]),
        None => rest,
    };
    let (host, after) = if let Some(inner) = hostpart.strip_prefix(b"[") {
        let close = find(b']', inner).ok_or(UriError::Malformed)?;
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
    let params_end = find(b'?', after).unwrap_or(after.len());
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
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in value.iter().enumerate() {
        if quoted {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => quoted = true,
            b'<' => {
                let rest = value.get(i + 1..).unwrap_or(&[]);
                let close = find(b'>', rest).unwrap_or(rest.len());
                let uri = rest.get(..close).unwrap_or(&[]);
                let params_start = (i + 1 + close + 1).min(value.len());
                return (uri, params_start..value.len());
            }
            _ => {}
        }
    }
    // addr-spec: every parameter is a header parameter (RFC 3261 §20.10).
    let semi = find(b';', value).unwrap_or(value.len());
    (value.get(..semi).unwrap_or(&[]), semi..value.len())
}

/// One `;name[=value]` parameter, as ranges of the text it was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The parameter without its `;`, trimmed (`rport`, `received=1.2.3.4`).
    pub whole: Range<usize>,
    /// The name.
    pub name: Range<usize>,
    /// The value, if there is an `=`.
    pub value: Option<Range<usize>>,
}

impl Param {
    /// The name's bytes in `text`.
    pub fn name_in<'a>(&self, text: &'a [u8]) -> &'a [u8] {
        text.get(self.name.clone()).unwrap_or(&[])
    }

    /// The value's bytes in `text`.
    pub fn value_in<'a>(&self, text: &'a [u8]) -> Option<&'a [u8]> {
        self.value.clone().map(|r| text.get(r).unwrap_or(&[]))
    }
}

fn trimmed_range(text: &[u8], r: Range<usize>) -> Range<usize> {
    let s = text.get(r.clone()).unwrap_or(&[]);
    let a = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let e = s.iter().rposition(|&b| !is_lws(b)).map_or(a, |p| p + 1);
    r.start + a..r.start + e
}

/// Splits a parameter section (`;a=1;b;c="x;y"`) at semicolons outside quoted strings. Text
/// before the first `;` is ignored; empty parameters are skipped.
pub fn params(text: &[u8]) -> Vec<Param> {
    let mut out = Vec::new();
    let Some(first) = find(b';', text) else {
        return out;
    };
    let mut start = first + 1;
    let (mut quoted, mut escaped) = (false, false);
    let mut i = start;
    while i <= text.len() {
        let b = text.get(i).copied();
        let end_here = match b {
            None => true,
            Some(_) if escaped => {
                escaped = false;
                false
            }
            Some(b'\\') if quoted => {
                escaped = true;
                false
            }
            Some(b'"') => {
                quoted = !quoted;
                false
            }
            Some(b';') => !quoted,
            Some(_) => false,
        };
        if end_here {
            let whole = trimmed_range(text, start..i);
            if !whole.is_empty() {
                let w = text.get(whole.clone()).unwrap_or(&[]);
                let (name, value) = match find(b'=', w) {
                    Some(eq) => (
                        trimmed_range(text, whole.start..whole.start + eq),
                        Some(trimmed_range(text, whole.start + eq + 1..whole.end)),
                    ),
                    None => (whole.clone(), None),
                };
                out.push(Param { whole, name, value });
            }
            start = i + 1;
        }
        i += 1;
    }
    out
}

/// The value of header parameter `name` (e.g. `tag`) of a From/To value.
pub fn header_param<'a>(value: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let (_, prange) = split_name_addr(value);
    let section = value.get(prange)?;
    params(section)
        .into_iter()
        .find(|p| p.name_in(section).eq_ignore_ascii_case(name))
        .map(|p| p.value_in(section).unwrap_or(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uris() {
        let u = parse_sip_uri(b"sip:bob@10.0.0.1:5070;transport=tcp;lr?h=v").unwrap();
        assert_eq!(u.host, b"10.0.0.1");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params, b";transport=tcp;lr");
        assert!(u.has_param(b"LR"));
        assert!(!u.has_param(b"maddr"));
        let u = parse_sip_uri(b"SIP:[2001:db8::1]").unwrap();
        assert_eq!(u.host, b"2001:db8::1");
        assert_eq!(u.port, None);
        assert_eq!(u.host_ip(), Some("2001:db8::1".parse().unwrap()));
        let u = parse_sip_uri(b"sip:+1;phone-context=x@host.example;user=phone").unwrap();
        assert_eq!(u.host, b"host.example");
        assert!(u.has_param(b"user"));
        assert_eq!(parse_sip_uri(b"sips:a@b"), Err(UriError::Scheme));
        assert_eq!(parse_sip_uri(b"tel:+123"), Err(UriError::Scheme));
        assert_eq!(parse_sip_uri(b"nocolon"), Err(UriError::Scheme));
        assert_eq!(parse_sip_uri(b"sip:a@"), Err(UriError::Malformed));
        assert_eq!(parse_sip_uri(b"sip:h:99999"), Err(UriError::Malformed));
        assert_eq!(parse_sip_uri(b"sip:[::1"), Err(UriError::Malformed));
        assert_eq!(parse_sip_uri(b"sip:h x"), Err(UriError::Malformed));
    }

    #[test]
    fn name_addrs() {
        let v = b"\"A <b>, c\" <sip:a@h;lr>;tag=9";
        let (uri, p) = split_name_addr(v);
        assert_eq!(uri, b"sip:a@h;lr");
        assert_eq!(&v[p], b";tag=9");
        let v = b"sip:a@h;tag=3";
        let (uri, p) = split_name_addr(v);
        assert_eq!(uri, b"sip:a@h");
        assert_eq!(&v[p], b";tag=3");
        assert_eq!(
            header_param(b"<sip:a@h;tag=no>;TAG=yes", b"tag"),
            Some(&b"yes"[..])
        );
        assert_eq!(header_param(b"<sip:a@h;tag=no>", b"tag"), None);
        assert_eq!(header_param(b"Bob <sip:b@h", b"tag"), None);
    }

    #[test]
    fn param_ranges() {
        let t = b"h:5060 ; rport ;received= 1.2.3.4;x=\"a;b\";;branch=z";
        let ps = params(t);
        let names: Vec<&[u8]> = ps.iter().map(|p| p.name_in(t)).collect();
        assert_eq!(names, [&b"rport"[..], b"received", b"x", b"branch"]);
        assert_eq!(ps[0].value, None);
        assert_eq!(&t[ps[0].whole.clone()], b"rport");
        assert_eq!(ps[1].value_in(t), Some(&b"1.2.3.4"[..]));
        assert_eq!(ps[2].value_in(t), Some(&b"\"a;b\""[..]));
        assert_eq!(ps[3].value_in(t), Some(&b"z"[..]));
        assert!(params(b"no params").is_empty());
    }
}
