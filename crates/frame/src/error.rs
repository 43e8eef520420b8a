//! Error types: one enum per concern, each variant naming the reason so that a
//! log line tells an operator what the peer did wrong and which option limits it.

use std::fmt;

/// Why a byte stream could not be framed. Every error is fatal for the
/// connection: the runtime logs it and closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A read buffer capacity outside `MIN_RD_BUF_SIZE..=MAX_RD_BUF_SIZE`.
    BadCapacity {
        /// The capacity that was asked for.
        requested: usize,
    },
    /// The header block is not finished and already fills the whole buffer.
    HeadersTooLarge {
        /// Read buffer capacity (`tcp_rd_buf_size`).
        capacity: usize,
    },
    /// The message does not fit the buffer capacity: header length plus
    /// Content-Length exceeds it, or (chunked body, `tcp_accept_no_cl`) a
    /// chunk-size line announces data that ends past it, or the chunk framing
    /// fills the buffer before the message ends.
    MessageTooLarge {
        /// Total message size announced by the headers. For a chunked body,
        /// the least size the message can have: the end of the announced
        /// chunk data, or the capacity plus one when the buffer is full.
        size: u64,
        /// Read buffer capacity (`tcp_rd_buf_size`).
        capacity: usize,
    },
    /// No Content-Length header and `tcp_accept_no_cl` is off.
    MissingContentLength,
    /// Two Content-Length headers with different values.
    ContentLengthMismatch {
        /// The value of the first Content-Length header.
        first: u64,
        /// The value of a later, different Content-Length header.
        second: u64,
    },
    /// A Content-Length value starting with `-`.
    NegativeContentLength,
    /// A Content-Length value that is empty or not a decimal number.
    InvalidContentLength,
    /// A Content-Length value too large to represent (more than 64 bits).
    ContentLengthOverflow,
    /// A `Transfer-Encoding` header while `tcp_accept_no_cl` is off.
    TransferEncodingUnsupported,
    /// Both `Content-Length` and `Transfer-Encoding` (a request-smuggling
    /// pattern, RFC 9112 §6.3).
    ContentLengthWithTransferEncoding,
    /// A `Transfer-Encoding` other than exactly `chunked`: another coding
    /// (`gzip`, ...), `chunked` not last or given twice, or an empty value.
    UnsupportedTransferCoding,
    /// A chunk-size line (size and extensions, without its line ending) longer
    /// than the limit.
    ChunkLineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// A chunk-size line that is not hex digits followed by optional
    /// whitespace and `;` extensions, or that holds a control character.
    InvalidChunkSize,
    /// A chunk size too large to represent (more than 64 bits).
    ChunkSizeOverflow,
    /// Chunk data not followed by CRLF (or LF).
    ChunkDataNotTerminated,
    /// A malformed PROXY protocol header (see [`ProxyError`]).
    Proxy(ProxyError),
    /// A malformed HEP3 packet (see [`Hep3Error`]).
    Hep3(Hep3Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadCapacity { requested } => write!(
                f,
                "read buffer capacity {requested} is out of range {}..={} (tcp_rd_buf_size)",
                crate::MIN_RD_BUF_SIZE,
                crate::MAX_RD_BUF_SIZE
            ),
            Self::HeadersTooLarge { capacity } => write!(
                f,
                "SIP headers fill the read buffer capacity {capacity} (tcp_rd_buf_size) without an end of headers"
            ),
            Self::MessageTooLarge { size, capacity } => write!(
                f,
                "message of {size} bytes exceeds the read buffer capacity {capacity} (tcp_rd_buf_size)"
            ),
            Self::MissingContentLength => f.write_str(
                "SIP message over TCP has no Content-Length header (set tcp_accept_no_cl to allow)",
            ),
            Self::ContentLengthMismatch { first, second } => {
                write!(f, "Content-Length headers disagree ({first} vs {second})")
            }
            Self::NegativeContentLength => f.write_str("Content-Length is negative"),
            Self::InvalidContentLength => {
                f.write_str("Content-Length value is empty or not a decimal number")
            }
            Self::ContentLengthOverflow => {
                f.write_str("Content-Length value does not fit in 64 bits")
            }
            Self::TransferEncodingUnsupported => f.write_str(
                "Transfer-Encoding is not accepted (set tcp_accept_no_cl to frame chunked bodies)",
            ),
            Self::ContentLengthWithTransferEncoding => f.write_str(
                "message has both Content-Length and Transfer-Encoding (possible request smuggling)",
            ),
            Self::UnsupportedTransferCoding => f.write_str(
                "Transfer-Encoding is not exactly 'chunked' (other codings, chunked not last or twice)",
            ),
            Self::ChunkLineTooLong { limit } => write!(
                f,
                "chunk-size line is longer than {limit} bytes (size plus extensions)"
            ),
            Self::InvalidChunkSize => f.write_str(
                "chunk-size line is not a hex size with optional ';' extensions",
            ),
            Self::ChunkSizeOverflow => f.write_str("chunk size does not fit in 64 bits"),
            Self::ChunkDataNotTerminated => f.write_str("chunk data is not followed by CRLF"),
            Self::Proxy(e) => write!(f, "PROXY protocol header: {e}"),
            Self::Hep3(e) => write!(f, "HEP3 packet: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<ProxyError> for FrameError {
    fn from(e: ProxyError) -> Self {
        Self::Proxy(e)
    }
}

impl From<Hep3Error> for FrameError {
    fn from(e: Hep3Error) -> Self {
        Self::Hep3(e)
    }
}

/// Why a PROXY protocol (v1 or v2) header was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    /// The connection does not start with a v1 or v2 signature
    /// (`tcp_accept_haproxy` requires one).
    BadSignature,
    /// A v1 line without CRLF within the 107-byte limit.
    V1TooLong,
    /// A v1 line with a bare LF (the line must end in CRLF).
    V1BareLf,
    /// A v1 protocol other than `TCP4`, `TCP6` or `UNKNOWN`.
    V1BadProtocol,
    /// A v1 address that is missing or does not parse for its protocol.
    V1BadAddress,
    /// A v1 port that is missing, not decimal or above 65535.
    V1BadPort,
    /// A v1 line with missing or extra fields or doubled spaces.
    V1BadFormat,
    /// A v2 header whose version nibble is not 2.
    V2BadVersion(u8),
    /// A v2 command other than LOCAL (0) or PROXY (1).
    V2BadCommand(u8),
    /// A v2 address family other than UNSPEC, INET, INET6, UNIX.
    V2BadFamily(u8),
    /// A v2 transport other than UNSPEC, STREAM, DGRAM.
    V2BadTransport(u8),
    /// The v2 length does not cover the addresses of its family.
    V2ShortAddresses {
        /// The length field of the header.
        len: u16,
        /// Bytes the address family needs.
        needed: u16,
    },
    /// The v2 header (16 + length bytes) does not fit the read buffer.
    TooLarge {
        /// Header size in bytes.
        size: usize,
        /// Read buffer capacity.
        capacity: usize,
    },
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSignature => f.write_str(
                "connection does not start with a PROXY v1 or v2 signature (tcp_accept_haproxy is on)",
            ),
            Self::V1TooLong => f.write_str("v1 line has no CRLF within 107 bytes"),
            Self::V1BareLf => f.write_str("v1 line ends in LF without CR"),
            Self::V1BadProtocol => f.write_str("v1 protocol is not TCP4, TCP6 or UNKNOWN"),
            Self::V1BadAddress => f.write_str("v1 address is missing or invalid for the protocol"),
            Self::V1BadPort => f.write_str("v1 port is missing, not decimal or above 65535"),
            Self::V1BadFormat => f.write_str("v1 line has missing or extra fields"),
            Self::V2BadVersion(v) => write!(f, "v2 version is {v}, expected 2"),
            Self::V2BadCommand(c) => write!(f, "v2 command {c} is neither LOCAL (0) nor PROXY (1)"),
            Self::V2BadFamily(a) => write!(f, "v2 address family {a} is unknown"),
            Self::V2BadTransport(t) => write!(f, "v2 transport {t} is unknown"),
            Self::V2ShortAddresses { len, needed } => write!(
                f,
                "v2 length {len} is shorter than the {needed} address bytes of its family"
            ),
            Self::TooLarge { size, capacity } => write!(
                f,
                "header of {size} bytes exceeds the read buffer capacity {capacity} (tcp_rd_buf_size)"
            ),
        }
    }
}

impl std::error::Error for ProxyError {}

/// Why a HEP3 packet was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hep3Error {
    /// Bytes that do not start with the `HEP3` magic.
    BadMagic,
    /// The total length is below the 6-byte packet header.
    LengthTooShort(u16),
    /// The packet does not fit the read buffer.
    TooLarge {
        /// Total length announced by the packet.
        size: usize,
        /// Read buffer capacity.
        capacity: usize,
    },
    /// Fewer bytes than the packet header announces.
    Truncated {
        /// Total length announced by the packet.
        len: u16,
        /// Bytes available.
        available: usize,
    },
    /// A chunk whose length is below its own 6-byte header.
    ChunkTooShort {
        /// Byte offset of the chunk in the packet.
        offset: usize,
        /// The chunk's length field.
        len: u16,
    },
    /// A chunk (or a partial chunk header) that runs past the packet end.
    ChunkOverrun {
        /// Byte offset of the chunk in the packet.
        offset: usize,
    },
    /// A well-known chunk whose payload has the wrong size.
    BadChunkSize {
        /// The chunk type id.
        chunk_type: u16,
        /// Payload bytes found.
        len: usize,
    },
}

impl fmt::Display for Hep3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic => f.write_str("does not start with HEP3"),
            Self::LengthTooShort(l) => {
                write!(f, "total length {l} is shorter than the 6-byte header")
            }
            Self::TooLarge { size, capacity } => write!(
                f,
                "packet of {size} bytes exceeds the read buffer capacity {capacity} (tcp_rd_buf_size)"
            ),
            Self::Truncated { len, available } => {
                write!(f, "length says {len} bytes but only {available} are present")
            }
            Self::ChunkTooShort { offset, len } => write!(
                f,
                "chunk at offset {offset} has length {len}, below its 6-byte header"
            ),
            Self::ChunkOverrun { offset } => {
                write!(f, "chunk at offset {offset} runs past the end of the packet")
            }
            Self::BadChunkSize { chunk_type, len } => write!(
                f,
                "chunk type 0x{chunk_type:04x} has {len} payload bytes, which is not its fixed size"
            ),
        }
    }
}

impl std::error::Error for Hep3Error {}
