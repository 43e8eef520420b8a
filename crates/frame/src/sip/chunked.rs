//! The data of a chunked body (RFC 9112 §7.1), without copying.

use crate::framer::parse_chunk_size;

/// The data of each chunk of a chunked body, in order, borrowed from it.
///
/// With `tcp_accept_no_cl`, a message with `Transfer-Encoding: chunked` is delivered as it
/// came: its body (from `body_start`) is the chunk framing and data. The framer has checked
/// that framing, so on a delivered body this yields every chunk's data and then ends at the
/// last chunk (`0`); [`ChunkedData::rest`] then holds the trailer section and the final
/// empty line. On bytes that are not a valid chunked body it ends at the first bad line.
///
/// ```
/// let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
/// let data: Vec<u8> = sipwire_frame::sip::chunked_data(body).flatten().copied().collect();
/// assert_eq!(data, b"hello, world");
/// ```
#[derive(Debug, Clone)]
pub struct ChunkedData<'a> {
    rest: &'a [u8],
    done: bool,
}

/// Iterates over the data of the chunked body `body` (see [`ChunkedData`]).
pub fn chunked_data(body: &[u8]) -> ChunkedData<'_> {
    ChunkedData {
        rest: body,
        done: false,
    }
}

impl<'a> ChunkedData<'a> {
    /// What follows the chunks read so far; after the last chunk, the trailer field lines
    /// and the final empty line.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for ChunkedData<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        self.done = true;
        let lf = memchr::memchr(b'\n', self.rest)?;
        let raw = self.rest.get(..lf)?;
        let size = parse_chunk_size(raw.strip_suffix(b"\r").unwrap_or(raw)).ok()?;
        let after = self.rest.get(lf + 1..)?;
        if size == 0 {
            self.rest = after;
            return None;
        }
        let size = usize::try_from(size).ok()?;
        let data = after.get(..size)?;
        let next = match after.get(size..)? {
            [b'\n', ..] => size + 1,
            [b'\r', b'\n', ..] => size + 2,
            _ => return None,
        };
        self.rest = after.get(next..)?;
        self.done = false;
        Some(data)
    }
}
