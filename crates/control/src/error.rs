//! [`RpcError`]: a JSON-RPC 2.0 error object, with the standard codes and sipwire's own.

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

/// A JSON-RPC error: code, message a person can act on, optional data.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// One of the codes above (or an embedder's own in -32099..=-32000).
    pub code: i64,
    /// What went wrong, in words.
    pub message: String,
    /// Extra structured detail, if any.
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
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

    /// -32601 method not found.
    pub fn method_not_found(method: &str) -> RpcError {
        RpcError::new(
            METHOD_NOT_FOUND,
            format!("method not found: {method} (system.listMethods lists them)"),
        )
    }

    /// -32602 invalid params.
    pub fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_PARAMS, message)
    }

    /// -32000 operation failed, carrying the library error's `Display` text.
    pub fn failed(reason: impl fmt::Display) -> RpcError {
        RpcError::new(OPERATION_FAILED, reason.to_string())
    }

    /// The same error with `data` attached.
    pub fn with_data(mut self, data: Value) -> RpcError {
        self.data = Some(data);
        self
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
