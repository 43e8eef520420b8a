//! sipwire-control, the control plane: Kamailio's RPC methods (`core.tcp_info`, `cfg.set_now_int`,
//! `tcp.close_connection`, ...) as JSON-RPC 2.0, independent of how the bytes travel.
//!
//! [`handle`] takes one request or batch as bytes and returns the response bytes (empty for a
//! notification or a batch of notifications). A daemon serves it on its control socket;
//! [`handle_with`] adds an [`RpcExtension`] so the daemon can answer methods of its own and add
//! counters to `stats.get`. The methods, their parameters and results are listed in
//! `docs/control.md`.
//!
//! ```no_run
//! # fn demo(transport: &sipwire::Transport) {
//! let reply = sipwire_control::handle(
//!     transport,
//!     br#"{"jsonrpc":"2.0","method":"cfg.set_now_int","params":["tcp","no_connect",1],"id":1}"#,
//! );
//! assert!(!reply.is_empty());
//! # }
//! ```
//!
//! [`spawn`] serves it on a unix control socket ([`spawn_with`] with an extension). Control
//! connections may also subscribe to events (`events.subscribe`): the embedder publishes them
//! on an [`EventBus`] ([`spawn_with_events`]), which never blocks the publisher.
//!
//! Parameters are by position (an array), as kamcmd sends them; by-name parameters are refused
//! with -32602. Errors use the JSON-RPC codes ([`PARSE_ERROR`], [`INVALID_REQUEST`],
//! [`METHOD_NOT_FOUND`], [`INVALID_PARAMS`], [`INTERNAL_ERROR`]) and [`OPERATION_FAILED`] for
//! refusals and failures of the runtime, whose message is the library's own reason.
//!
//! A request's work is bounded: at most [`MAX_BATCH`] calls per batch and [`MAX_VALUES`] JSON
//! values (checked before parsing, `-32600`), answers of at most [`MAX_RESPONSE`] bytes
//! ([`RESPONSE_TOO_LARGE`] for a call that does not fit; later calls of its batch do not run).
#![forbid(unsafe_code)]

pub mod binrpc;
mod cfg_methods;
mod context;
mod core_methods;
mod error;
mod events;
pub mod jsonrpcs;
mod methods;
pub mod metrics;
mod params;
mod protocol;
mod sctp_methods;
mod server;
mod tcp_methods;
mod values;

pub use context::RpcExtension;
pub use error::{
    RpcError, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, OPERATION_FAILED,
    PARSE_ERROR, RESPONSE_TOO_LARGE, SERVER_BUSY,
};
pub use events::{EventBus, DROPPED_METHOD, EVENT_METHOD, EVENT_QUEUE, MAX_SUBSCRIBERS};
pub use params::Params;
pub use protocol::{call, MAX_BATCH, MAX_RESPONSE, MAX_VALUES};
pub use serde_json::Value;
pub use server::{
    spawn, spawn_binrpc, spawn_binrpc_dgram, spawn_with, spawn_with_events, CtlServer,
    BINRPC_IDLE_TIMEOUT, EVICT_GRACE, IDLE_TIMEOUT, MAX_BINRPC_INPUT, MAX_CLIENTS, MAX_REQUEST,
    WRITE_TIMEOUT,
};

use context::Ctx;
use sipwire::Transport;

/// Handles one JSON-RPC 2.0 request or batch and returns the response as bytes (no trailing
/// newline); empty when nothing is to be answered (notifications).
pub fn handle(transport: &Transport, request_bytes: &[u8]) -> Vec<u8> {
    protocol::handle_bytes(
        &Ctx {
            transport,
            ext: None,
            session: None,
        },
        request_bytes,
    )
}

/// [`handle`] with the embedder's methods and counters.
pub fn handle_with(transport: &Transport, ext: &dyn RpcExtension, request_bytes: &[u8]) -> Vec<u8> {
    protocol::handle_bytes(
        &Ctx {
            transport,
            ext: Some(ext),
            session: None,
        },
        request_bytes,
    )
}

/// A JSON-RPC error response (`{"jsonrpc":"2.0","error":..,"id":null}`) as bytes, for a server
/// that refuses a request before it can be read (too large, too many clients).
pub fn error_response(error: &RpcError) -> Vec<u8> {
    protocol::encode(&protocol::error_response(Value::Null, error))
}

/// The names of the built-in methods, in the order `system.listMethods` lists them.
pub fn builtin_methods() -> Vec<&'static str> {
    methods::TABLE.iter().map(|m| m.name).collect()
}
