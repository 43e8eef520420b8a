//! BINRPC, the binary RPC that Kamailio's `ctl` module serves and that `kamcmd` and the Go
//! Prometheus exporters (`go-kamailio-binrpc`) speak: a codec with no I/O, so the control
//! socket can answer them and `sipwire-ctl` can talk to Kamailio.
//!
//! A packet is a header ([`parse_header`], [`write_header`]: magic/version `0xA1`, type,
//! body length, cookie) and a body of records ([`decode_records`], [`encode_records`]) that
//! make a tree of [`Value`]s. [`parse_packet`] frames packets out of a stream as its bytes
//! arrive. On top of that:
//!
//! * serving: [`decode_request`] gives the method and its parameters
//!   ([`Request::json_params`] for the JSON method table); [`reply_packet`] and
//!   [`fault_packet`] answer from a method's `serde_json::Value` result or error, following
//!   Kamailio's conventions ([`reply_records`], [`Value::from_json`]);
//! * calling: [`request_packet`] (with [`kamcmd_arg`] to type words as kamcmd does), then
//!   [`decode_records`] or [`decode_fault`] on the answer, and [`print_kamcmd`] /
//!   [`print_kamcmd_fault`] to print it exactly as kamcmd does.
//!
//! ```
//! use sipwire_control::binrpc;
//!
//! let req = binrpc::request_packet(0x70c1_d8e7, "core.tcp_info", &[]).unwrap();
//! assert_eq!(&req[..7], [0xa1, 0x03, 0x10, 0x70, 0xc1, 0xd8, 0xe7]);
//! let (pkt, used) = binrpc::parse_packet(&req, 32 * 1024).unwrap().unwrap();
//! assert_eq!(used, req.len());
//! assert_eq!(binrpc::decode_request(&pkt.body).unwrap().method, "core.tcp_info");
//!
//! let reply = binrpc::encode_reply(&serde_json::json!({ "readers": 1 })).unwrap();
//! let records = binrpc::decode_records(&reply).unwrap();
//! assert_eq!(binrpc::print_kamcmd(&records), "{\n\treaders: 1\n}\n");
//! ```
//!
//! Decisions, where the format or Kamailio leave room:
//!
//! * Decoding is bounded: [`Limits`] (nesting [`MAX_DEPTH`] 16, [`MAX_ELEMENTS`] values) and
//!   the caller's body cap, checked from the header before any body byte is read.
//! * Decoding accepts what kamcmd accepts (unnamed values inside structs, non-minimal
//!   integers and lengths) and encoding writes what Kamailio writes (minimal lengths; JSON
//!   arrays and named arrays as structs of unnamed values). Struct/array tags must be exactly `0x03`/`0x83` and
//!   `0x04`/`0x84`, containers must nest properly, an INT has at most 4 bytes and a DOUBLE 8.
//! * Strings that are not UTF-8 are kept lossily (U+FFFD), not refused: a Kamailio reply
//!   with one odd byte in a User-Agent stays readable. A STR without its NUL is an error.
//! * JSON null is an empty STR inside objects and arrays (a member keeps its place), and a
//!   null (or `{}`, or `[]`) result is an empty reply body.
//! * DOUBLE is fixed point (× 1000). Encoding rounds to the nearest thousandth, so every
//!   decoded value re-encodes to the same bytes, and saturates out of range (NaN is 0).
//!   Kamailio truncates instead (kamcmd 5.6.3 sends `1.001` as 1000, i.e. 1.000) and sends
//!   `i64::MIN` for inf and NaN.
//! * Object members go out in the order the method inserted them (the workspace builds
//!   serde_json with `preserve_order`), so kamcmd prints Kamailio's field order. A
//!   [`Value::Struct`] built directly keeps its order too.

mod arg;
mod encode;
mod error;
mod fuzz;
mod header;
mod json;
mod print;
mod value;

pub use arg::kamcmd_arg;
pub use encode::{encode_records, encode_value};
pub use error::BinrpcError;
pub use fuzz::fuzz_one;
pub use header::{
    build_packet, parse_header, parse_packet, write_header, Header, Packet, PacketType,
    MAGIC_VERSION, MAX_BODY_LEN, MAX_HEADER_LEN,
};
pub use json::{
    decode_fault, decode_request, encode_fault, encode_reply, encode_request, fault_packet,
    reply_packet, reply_records, request_packet, Fault, Request,
};
pub use print::{print_kamcmd, print_kamcmd_fault};
pub use value::{
    decode_records, decode_records_with, Limits, Member, Value, MAX_DEPTH, MAX_ELEMENTS,
};

#[cfg(test)]
mod tests;
