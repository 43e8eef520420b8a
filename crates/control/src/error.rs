//! [`RpcError`]: a JSON-RPC 2.0 error object, with the standard codes and sipwire's own, and
//! the fault Kamailio would answer in its place ([`RpcError::kamailio`] for BINRPC/kamcmd,
//! [`RpcError::kamailio_jsonrpcs`] for the jsonrpcs FIFO and datagram transports).

use std::fmt;

use serde_json::{json, Value};

/// -32700: the request is not valid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// -32600: the JSON is not a valid JSON-RPC 2.0 request (or is too large).
pub const INVALID_REQUEST: i64 = -32600;
/// -32601: no such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// -32602: wrong number or types of parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// -32603: the server failed while handling the call (a bug: a method panicked).
pub const INTERNAL_ERROR: i64 = -32603;
/// -32000: the operation was refused or failed; the message is the library's reason (an
/// option that cannot change at runtime, a value out of range, a connection that is gone).
pub const OPERATION_FAILED: i64 = -32000;
/// -32001: the control server is busy (too many clients at once).
pub const SERVER_BUSY: i64 = -32001;
/// -32002: the answer would be larger than [`crate::MAX_RESPONSE`]; the call's result is
/// dropped (and later calls of the batch are not run).
pub const RESPONSE_TOO_LARGE: i64 = -32002;

/// A JSON-RPC error: code, message a person can act on, optional data; and what Kamailio
/// would answer instead (its fault code and text), for the Kamailio-facing transports.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// One of the codes above (or an embedder's own in -32099..=-32000).
    pub code: i64,
    /// What went wrong, in words.
    pub message: String,
    /// Extra structured detail, if any.
    pub data: Option<Value>,
    /// How Kamailio reports this error when `code` does not say it (see
    /// [`RpcError::kamailio`]); boxed, so the error stays small.
    kamailio: Option<Box<KamailioFault>>,
}

/// What Kamailio would answer for an error, when it differs from what `code` implies.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KamailioFault {
    /// No such method: BINRPC says `command <m> not found`, jsonrpcs `Method Not Found`.
    MethodNotFound(String),
    /// A parameter is missing or has the wrong type, as Kamailio's `rpc->scan` finds it:
    /// `index` counts from 0 (Kamailio's `record_no`), `expected` is its type name.
    Param {
        index: usize,
        expected: &'static str,
        missing: bool,
    },
    /// The method's own fault, exactly (`400 Failed to set the variable`).
    Exact(i32, String),
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
            kamailio: None,
        }
    }

    /// -32700 parse error.
    pub fn parse_error(message: impl Into<String>) -> RpcError {
        RpcError::new(PARSE_ERROR, message)
    }

    /// -32600 invalid request.
    pub fn invalid_request(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_REQUEST, message)
    }

    /// -32601 method not found (Kamailio: 500 `command <method> not found` over BINRPC,
    /// 500 `Method Not Found` over jsonrpcs).
    pub fn method_not_found(method: &str) -> RpcError {
        let mut e = RpcError::new(
            METHOD_NOT_FOUND,
            format!("method not found: {method} (system.listMethods lists them)"),
        );
        e.kamailio = Some(Box::new(KamailioFault::MethodNotFound(method.to_string())));
        e
    }

    /// -32602 invalid params.
    pub fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_PARAMS, message)
    }

    /// -32000 operation failed, carrying the library error's `Display` text.
    pub fn failed(reason: impl fmt::Display) -> RpcError {
        RpcError::new(OPERATION_FAILED, reason.to_string())
    }

    /// -32602 for parameter `index` (from 0) of the type Kamailio names `expected`
    /// (`"integer"`, `"string"`): `missing`, or given with another type. Kamailio's BINRPC
    /// answers such a call `400 error at parameter <index>: expected <type> type but ...`.
    pub(crate) fn bad_param(
        index: usize,
        expected: &'static str,
        missing: bool,
        message: impl Into<String>,
    ) -> RpcError {
        let mut e = RpcError::invalid_params(message);
        e.kamailio = Some(Box::new(KamailioFault::Param {
            index,
            expected,
            missing,
        }));
        e
    }

    /// The same error with `data` attached.
    pub fn with_data(mut self, data: Value) -> RpcError {
        self.data = Some(data);
        self
    }

    /// The same error, answered to Kamailio's clients as the fault `code` `message` (for
    /// example `400` `Failed to set the variable`, what Kamailio's `cfg.set_now_int` says for
    /// an unknown, read-only or out-of-range variable). The JSON-RPC `code` and `message`
    /// stay as they are.
    pub fn with_kamailio(mut self, code: i32, message: impl Into<String>) -> RpcError {
        self.kamailio = Some(Box::new(KamailioFault::Exact(code, message.into())));
        self
    }

    /// The fault Kamailio's BINRPC (`ctl` module, what kamcmd and the Prometheus exporters
    /// speak) would send for this error, as (code, text):
    ///
    /// - no such method: 500 `command <method> not found` (`binrpc_run.c`);
    /// - a parameter missing or of the wrong type: 400 `error at parameter <i>: expected
    ///   <type> type but end of packet encountered` (or `... but record doesn't match type`),
    ///   `i` counting from 0, as Kamailio's `rpc->scan`;
    /// - a method's own Kamailio fault ([`with_kamailio`](Self::with_kamailio)): exactly it,
    ///   e.g. 400 `Failed to set the variable`;
    /// - a code that already is a Kamailio one (100..=999, e.g. 500 `sctp support disabled`):
    ///   as it is;
    /// - other bad requests or params (-32700, -32600, -32602): 400 with the message;
    /// - anything else (refusals, failures, internal errors): 500 with the message.
    pub fn kamailio(&self) -> (i32, String) {
        match self.kamailio.as_deref() {
            Some(KamailioFault::MethodNotFound(m)) => (500, format!("command {m} not found")),
            Some(KamailioFault::Param {
                index,
                expected,
                missing,
            }) => {
                let why = if *missing {
                    "end of packet encountered"
                } else {
                    "record doesn't match type"
                };
                (
                    400,
                    format!("error at parameter {index}: expected {expected} type but {why}"),
                )
            }
            _ => self.kamailio_common(),
        }
    }

    /// The fault Kamailio's jsonrpcs module (kamctl over its FIFO, kamcli over its datagram
    /// socket) would put in `error.code`/`error.message`: as [`kamailio`](Self::kamailio),
    /// except 500 `Method Not Found` for an unknown method and 400 `Invalid Parameters` for a
    /// parameter that is missing or of the wrong type (jsonrpcs' own words).
    pub fn kamailio_jsonrpcs(&self) -> (i32, String) {
        match self.kamailio.as_deref() {
            Some(KamailioFault::MethodNotFound(_)) => (500, "Method Not Found".into()),
            Some(KamailioFault::Param { .. }) => (400, "Invalid Parameters".into()),
            _ => self.kamailio_common(),
        }
    }

    /// What both Kamailio transports answer for the other errors.
    fn kamailio_common(&self) -> (i32, String) {
        if let Some(KamailioFault::Exact(code, text)) = self.kamailio.as_deref() {
            return (*code, text.clone());
        }
        match self.code {
            100..=999 => (self.code as i32, self.message.clone()),
            PARSE_ERROR | INVALID_REQUEST | INVALID_PARAMS => (400, self.message.clone()),
            _ => (500, self.message.clone()),
        }
    }

    /// The JSON error object (`{"code": .., "message": .., "data": ..}`).
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "code": self.code, "message": self.message });
        if let (Some(d), Some(obj)) = (&self.data, v.as_object_mut()) {
            obj.insert("data".into(), d.clone());
        }
        v
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

impl std::error::Error for RpcError {}

impl From<sipwire_config::ConfigError> for RpcError {
    fn from(e: sipwire_config::ConfigError) -> Self {
        RpcError::failed(e)
    }
}

impl From<sipwire::TcpOpsError> for RpcError {
    fn from(e: sipwire::TcpOpsError) -> Self {
        RpcError::failed(e)
    }
}
