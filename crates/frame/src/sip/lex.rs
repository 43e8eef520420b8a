//! Lexical pieces of the SIP grammar shared by the header, Via, parameter and URI parsers:
//! linear white space, quoted strings, ports and IP literals.

use std::net::IpAddr;
use std::ops::Range;

/// Linear white space, fold bytes included (values may span folded lines).
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trims linear white space (including folds) from both ends.
pub fn trim_lws(s: &[u8]) -> &[u8] {
    let r = trim_range(s, 0..s.len());
    s.get(r).unwrap_or(&[])
}

/// `r` (a range of `text`) without the white space at its ends.
pub(crate) fn trim_range(text: &[u8], r: Range<usize>) -> Range<usize> {
    let s = text.get(r.clone()).unwrap_or(&[]);
    let a = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let e = s.iter().rposition(|&b| !is_lws(b)).map_or(a, |p| p + 1);
    r.start + a..r.start + e
}

/// Position of the first byte of `s` outside a `"quoted string"` (where `\` escapes the
/// next byte) for which `stop` is true. `stop` sees every byte outside quotes except the
/// opening `"` itself, in order, so it may keep state (e.g. `<…>` nesting).
pub(crate) fn find_unquoted(s: &[u8], mut stop: impl FnMut(u8) -> bool) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, &b) in s.iter().enumerate() {
        if quoted {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => {}
            }
        } else if b == b'"' {
            quoted = true;
        } else if stop(b) {
            return Some(i);
        }
    }
    None
}

/// [`find_unquoted`] for a single stop byte, with `memchr` jumps instead of a byte loop: the
/// first `stop` outside a quoted string. Same result as `find_unquoted(s, |b| b == stop)`.
pub(crate) fn find_unquoted_byte(s: &[u8], stop: u8) -> Option<usize> {
    let mut pos = 0;
    loop {
        let i = pos + memchr::memchr2(stop, b'"', s.get(pos..)?)?;
        if s.get(i) == Some(&stop) {
            return Some(i);
        }
        pos = quoted_end(s, i + 1)?;
    }
}

/// Just past the `"` that closes a quoted string whose content starts at `from` (`\`
/// escapes the next byte); `None` if it is not closed.
pub(crate) fn quoted_end(s: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    loop {
        let i = pos + memchr::memchr2(b'"', b'\\', s.get(pos..)?)?;
        if s.get(i) == Some(&b'"') {
            return Some(i + 1);
        }
        pos = i + 2;
    }
}

/// A port: one to five digits, at most 65535.
pub(crate) fn parse_port(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = s.iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0'));
    u16::try_from(v).ok()
}

/// A host (without brackets) as an IP address, if it is one.
pub(crate) fn parse_ip(host: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(host).ok()?.parse().ok()
}
