//! [`BinrpcError`]: why a BINRPC packet or body could not be read or written.

use std::fmt;

/// Why bytes are not a valid BINRPC packet or body, or why a value cannot be written as one.
///
/// Offsets are byte positions inside the body (the payload after the header), pointing at the
/// tag of the record at fault, so an operator can find it in a hex dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinrpcError {
    /// The first byte's high nibble is not the BINRPC magic 0xA.
    BadMagic(u8),
    /// The magic is right but the version (low nibble of the first byte) is not 1.
    BadVersion(u8),
    /// The packet type (high nibble of the second byte) is not 0 (request), 1 (reply) or
    /// 3 (fault).
    BadType(u8),
    /// The header announces a body longer than the caller's cap (or than 2^31 - 1 bytes,
    /// which Kamailio refuses too); decided from the header alone.
    BodyTooLarge {
        /// The length the header announces.
        len: u64,
        /// The largest body accepted.
        max: usize,
    },
    /// A record, or its length bytes, runs past the end of the body.
    Truncated {
        /// Where the record starts.
        offset: usize,
    },
    /// A length that cannot be: an INT over 4 bytes, a DOUBLE over 8, more than 4 length
    /// bytes, or a struct/array tag other than exactly start (`0x03`/`0x04`) or end
    /// (`0x83`/`0x84`).
    BadLength {
        /// Where the record starts.
        offset: usize,
    },
    /// A record type that BINRPC does not define (7..=15).
    UnknownType {
        /// Where the record starts.
        offset: usize,
        /// The tag byte.
        tag: u8,
    },
    /// A STR or AVP name whose last byte is not the NUL terminator (or that has no bytes).
    StrWithoutNul {
        /// Where the record starts.
        offset: usize,
    },
    /// Structs and arrays are nested deeper than the limit.
    TooDeep {
        /// Where the container that went over starts.
        offset: usize,
        /// The nesting limit.
        limit: usize,
    },
    /// The body holds more values than the limit.
    TooManyElements {
        /// The element limit.
        limit: usize,
    },
    /// An AVP (a named struct member) outside a struct: at the top level or in an array.
    AvpOutsideStruct {
        /// Where the AVP starts.
        offset: usize,
    },
    /// An AVP not followed by its value: the body ends, or an end tag or another AVP follows.
    AvpWithoutValue {
        /// Where the AVP starts.
        offset: usize,
    },
    /// An AVP whose value is an array; Kamailio refuses these (its structs cannot hold
    /// named arrays), so this codec does too.
    AvpArray {
        /// Where the AVP starts.
        offset: usize,
    },
    /// A struct or array end that closes nothing, or closes the other kind of container.
    UnmatchedEnd {
        /// Where the end tag is.
        offset: usize,
    },
    /// The body ends inside a struct or an array.
    Unterminated,
    /// A request body whose first record is not a STR (the method name), or that is empty.
    NoMethod,
    /// A fault body that is not an INT code followed by a STR message.
    BadFault,
    /// A value to encode does not fit BINRPC: a string or body of 2^31 bytes or more, or
    /// nesting deeper than [`super::MAX_DEPTH`].
    TooLarge,
}

impl fmt::Display for BinrpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BinrpcError::BadMagic(b) => write!(f, "not a BINRPC packet (first byte {b:#04x})"),
            BinrpcError::BadVersion(b) => {
                write!(
                    f,
                    "unsupported BINRPC version {} (first byte {b:#04x})",
                    b & 0x0f
                )
            }
            BinrpcError::BadType(t) => write!(f, "bad BINRPC packet type {t}"),
            BinrpcError::BodyTooLarge { len, max } => {
                write!(f, "BINRPC body of {len} bytes is over the limit of {max}")
            }
            BinrpcError::Truncated { offset } => {
                write!(f, "record at offset {offset} runs past the end of the body")
            }
            BinrpcError::BadLength { offset } => {
                write!(f, "record at offset {offset} has an impossible length")
            }
            BinrpcError::UnknownType { offset, tag } => {
                write!(
                    f,
                    "record at offset {offset} has unknown type (tag {tag:#04x})"
                )
            }
            BinrpcError::StrWithoutNul { offset } => {
                write!(f, "string at offset {offset} is not NUL-terminated")
            }
            BinrpcError::TooDeep { offset, limit } => {
                write!(f, "container at offset {offset} nests deeper than {limit}")
            }
            BinrpcError::TooManyElements { limit } => {
                write!(f, "body holds more than {limit} values")
            }
            BinrpcError::AvpOutsideStruct { offset } => {
                write!(f, "struct member at offset {offset} is outside a struct")
            }
            BinrpcError::AvpWithoutValue { offset } => {
                write!(f, "struct member at offset {offset} has no value")
            }
            BinrpcError::AvpArray { offset } => {
                write!(f, "struct member at offset {offset} has an array value")
            }
            BinrpcError::UnmatchedEnd { offset } => {
                write!(f, "end tag at offset {offset} closes no open container")
            }
            BinrpcError::Unterminated => write!(f, "body ends inside a struct or array"),
            BinrpcError::NoMethod => write!(f, "request does not start with a method name"),
            BinrpcError::BadFault => write!(f, "fault is not an integer code and a message"),
            BinrpcError::TooLarge => write!(f, "value too large or too deep for BINRPC"),
        }
    }
}

impl std::error::Error for BinrpcError {}
