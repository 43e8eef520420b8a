//! Sans-IO SIP stream framing for sipwire.
//!
//! This crate takes bytes and returns frames; it performs no system calls and
//! allocates nothing per message. Pieces:
//!
//! - [`ReadBuf`] / [`BufPool`]: the per-connection read buffer of
//!   `tcp_rd_buf_size` bytes (also the largest message) and a bounded,
//!   thread-safe pool so idle connections hold none.
//! - [`StreamDecoder`]: framing of one connection: SIP by Content-Length
//!   (and, with `tcp_accept_no_cl`, HTTP/1.1 chunked bodies), CRLF keepalives (RFC 5626 §3.5.1), a PROXY v1/v2 header first
//!   (`tcp_accept_haproxy`), HEP3 packets (`tcp_accept_hep3`), per-message
//!   read counts (`tcp_max_msg_chunks`). Frames borrow the buffer.
//! - [`sip`]: zero-copy start line, headers (compact forms, folding,
//!   comma-separated values), Via parsing with byte ranges for splicing.
//! - [`proxy`] and [`hep3`]: the parsers on their own.
//!
//! No input can make this crate panic: positions derived from input are only
//! used through `get` and checked arithmetic, and the fuzz targets in `fuzz/`
//! (entry points in [`fuzzing`]) check that.
#![forbid(unsafe_code)]

mod buf;
mod decoder;
mod error;
mod framer;
mod framer_ref;
pub mod hep3;
mod pool;
pub mod proxy;
pub mod sip;

#[doc(hidden)]
pub mod fuzzing;

pub use buf::{ReadBuf, DEFAULT_RD_BUF_SIZE, MAX_RD_BUF_SIZE, MIN_RD_BUF_SIZE};
pub use decoder::{DecoderConfig, Fill, Frame, FrameKind, StreamDecoder};
pub use error::{FrameError, Hep3Error, ProxyError};
pub use framer::parse_content_length;
pub use hep3::Hep3Packet;
pub use pool::{BufPool, PoolStats};
pub use proxy::{
    ProxyAddresses, ProxyHeader, ProxySsl, ProxyTlv, ProxyTlvArea, ProxyTlvIter, ProxyTlvs,
    ProxyTransport, ProxyVersion,
};
pub use sip::{HeaderName, SipError, SipMessage, StartLine, Via};
