//! The packet header: magic and version, type, total length and cookie, and framing a
//! packet out of a byte stream as it arrives.

use super::error::BinrpcError;
use super::value::{decode_records, Value};

/// First byte of every packet: magic 0xA in the high nibble, version 1 in the low one.
pub const MAGIC_VERSION: u8 = 0xA1;
/// Longest header: two fixed bytes, a 4-byte length and a 4-byte cookie.
pub const MAX_HEADER_LEN: usize = 10;
/// Longest body any header may announce: Kamailio reads the length as a C `int` and refuses
/// a negative one.
pub const MAX_BODY_LEN: usize = i32::MAX as usize;

/// What a packet is, from the high nibble of its second byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// 0: a call (method name and parameters), sent by kamcmd and the exporters.
    Request,
    /// 1: a successful answer (zero or more records).
    Reply,
    /// 3: a failed call: an INT code and a STR message.
    Fault,
}

impl PacketType {
    /// The wire code (0, 1 or 3).
    pub fn code(self) -> u8 {
        match self {
            PacketType::Request => 0,
            PacketType::Reply => 1,
            PacketType::Fault => 3,
        }
    }

    /// The type of wire code `code`, if BINRPC defines it.
    pub fn from_code(code: u8) -> Option<PacketType> {
        match code {
            0 => Some(PacketType::Request),
            1 => Some(PacketType::Reply),
            3 => Some(PacketType::Fault),
            _ => None,
        }
    }
}

/// A parsed header: what follows it and how long it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Request, reply or fault.
    pub kind: PacketType,
    /// Bytes of body after the header.
    pub body_len: u32,
    /// The request's cookie; a reply echoes it (kamcmd compares the numbers).
    pub cookie: u32,
    /// Bytes the header itself took (4..=10).
    pub header_len: usize,
}

/// One whole packet, framed out of a stream: its type, cookie and body (the records, still
/// encoded; [`Packet::records`] decodes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Request, reply or fault.
    pub kind: PacketType,
    /// The cookie, to echo in the reply.
    pub cookie: u32,
    /// The payload: a sequence of records.
    pub body: Vec<u8>,
}

impl Packet {
    /// The body's records, with the default [`super::Limits`].
    pub fn records(&self) -> Result<Vec<Value>, BinrpcError> {
        decode_records(&self.body)
    }

    /// The packet as bytes again: a minimal header and the body.
    pub fn to_bytes(&self) -> Result<Vec<u8>, BinrpcError> {
        build_packet(self.kind, self.cookie, &self.body)
    }
}

/// Big-endian number of `bytes` (at most 4).
fn be_u32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
}

/// Bytes needed for `n` with leading zero bytes dropped; 0 for 0.
pub(crate) fn min_len_u32(n: u32) -> usize {
    4 - (n.leading_zeros() / 8) as usize
}

/// Reads a header from the start of `buf`, refusing a body over `max_body` bytes.
///
/// `Ok(None)` means more bytes are needed. Errors are decided as early as the bytes allow:
/// bad magic or version from the first byte, a bad type from the second, a body too large
/// as soon as the length bytes are in (before the cookie or any of the body).
pub fn parse_header(buf: &[u8], max_body: usize) -> Result<Option<Header>, BinrpcError> {
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    if b0 >> 4 != MAGIC_VERSION >> 4 {
        return Err(BinrpcError::BadMagic(b0));
    }
    if b0 & 0x0f != MAGIC_VERSION & 0x0f {
        return Err(BinrpcError::BadVersion(b0));
    }
    let Some(&b1) = buf.get(1) else {
        return Ok(None);
    };
    let kind = PacketType::from_code(b1 >> 4).ok_or(BinrpcError::BadType(b1 >> 4))?;
    let len_len = usize::from((b1 >> 2) & 3) + 1;
    let cookie_len = usize::from(b1 & 3) + 1;
    let Some(len_bytes) = buf.get(2..2 + len_len) else {
        return Ok(None);
    };
    let body_len = be_u32(len_bytes);
    let max = max_body.min(MAX_BODY_LEN);
    if usize::try_from(body_len).map_or(true, |n| n > max) {
        return Err(BinrpcError::BodyTooLarge {
            len: u64::from(body_len),
            max,
        });
    }
    let header_len = 2 + len_len + cookie_len;
    let Some(cookie_bytes) = buf.get(2 + len_len..header_len) else {
        return Ok(None);
    };
    Ok(Some(Header {
        kind,
        body_len,
        cookie: be_u32(cookie_bytes),
        header_len,
    }))
}

/// Frames one packet from the start of `buf` (bytes of a stream, as they arrive), refusing a
/// body over `max_body` bytes.
///
/// Returns the packet and how many bytes of `buf` it took, `Ok(None)` while the packet is
/// incomplete (call again with more bytes), or an error for a header that can never start a
/// valid packet ([`parse_header`]). The body is copied only once it is complete, so memory
/// is bounded by `max_body`. Records are not decoded here ([`Packet::records`]), so a server
/// can still answer a packet with a bad body with a fault that echoes its cookie.
pub fn parse_packet(buf: &[u8], max_body: usize) -> Result<Option<(Packet, usize)>, BinrpcError> {
    let Some(h) = parse_header(buf, max_body)? else {
        return Ok(None);
    };
    // body_len <= MAX_BODY_LEN, so this cannot overflow.
    let end = h.header_len + h.body_len as usize;
    let Some(body) = buf.get(h.header_len..end) else {
        return Ok(None);
    };
    Ok(Some((
        Packet {
            kind: h.kind,
            cookie: h.cookie,
            body: body.to_vec(),
        },
        end,
    )))
}

/// Appends a header for a `body_len`-byte body to `out`, with the length and the cookie each
/// on the fewest bytes (at least one), as Kamailio writes them.
pub fn write_header(
    out: &mut Vec<u8>,
    kind: PacketType,
    body_len: usize,
    cookie: u32,
) -> Result<(), BinrpcError> {
    if body_len > MAX_BODY_LEN {
        return Err(BinrpcError::TooLarge);
    }
    let len = u32::try_from(body_len).map_err(|_| BinrpcError::TooLarge)?;
    let len_len = min_len_u32(len).max(1);
    let cookie_len = min_len_u32(cookie).max(1);
    out.push(MAGIC_VERSION);
    // len_len and cookie_len are 1..=4, so each field fits its two bits.
    out.push((kind.code() << 4) | (((len_len - 1) as u8) << 2) | ((cookie_len - 1) as u8));
    out.extend_from_slice(len.to_be_bytes().get(4 - len_len..).unwrap_or(&[]));
    out.extend_from_slice(cookie.to_be_bytes().get(4 - cookie_len..).unwrap_or(&[]));
    Ok(())
}

/// A whole packet: a minimal header for `body` and the body.
pub fn build_packet(kind: PacketType, cookie: u32, body: &[u8]) -> Result<Vec<u8>, BinrpcError> {
    let mut out = Vec::with_capacity(MAX_HEADER_LEN + body.len());
    write_header(&mut out, kind, body.len(), cookie)?;
    out.extend_from_slice(body);
    Ok(out)
}
