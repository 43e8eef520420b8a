//! The JSON-RPC 2.0 envelope: parsing, validation, batches, notifications, responses.

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::{json, Value};

use super::context::Ctx;
use super::error::RpcError;
use super::methods;

/// Serialises a response (compact: one line, strings escape their newlines).
pub(crate) fn encode(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_else(|e| {
        // Only a non-string map key could fail, and `Value` has none; answer something valid.
        format!(
            r#"{{"jsonrpc":"2.0","error":{{"code":-32603,"message":"cannot encode the response: {}"}},"id":null}}"#,
            e.to_string().replace(['"', '\\'], "'")
        )
        .into_bytes()
    })
}

pub(crate) fn error_response(id: Value, e: &RpcError) -> Value {
    json!({ "jsonrpc": "2.0", "error": e.to_json(), "id": id })
}

fn result_response(id: Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "result": result, "id": id })
}

pub(crate) fn handle_bytes(ctx: &Ctx<'_>, bytes: &[u8]) -> Vec<u8> {
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            let err = RpcError::parse_error(format!("parse error: {e}"));
            return encode(&error_response(Value::Null, &err));
        }
    };
    match v {
        Value::Array(items) if items.is_empty() => {
            let err = RpcError::invalid_request("empty batch");
            encode(&error_response(Value::Null, &err))
        }
        Value::Array(items) => {
            let out: Vec<Value> = items.iter().filter_map(|item| one(ctx, item)).collect();
            if out.is_empty() {
                Vec::new()
            } else {
                encode(&Value::Array(out))
            }
        }
        single => one(ctx, &single).map(|r| encode(&r)).unwrap_or_default(),
    }
}

/// One request: its response, or `None` for a notification.
fn one(ctx: &Ctx<'_>, v: &Value) -> Option<Value> {
    let Some(obj) = v.as_object() else {
        let e = RpcError::invalid_request("a request must be a JSON object");
        return Some(error_response(Value::Null, &e));
    };
    let (id, notification) = match obj.get("id") {
        None => (Value::Null, true),
        Some(id @ (Value::Null | Value::String(_) | Value::Number(_))) => (id.clone(), false),
        Some(_) => {
            let e = RpcError::invalid_request("\"id\" must be a string, a number or null");
            return Some(error_response(Value::Null, &e));
        }
    };
    let invalid = |msg: &str| Some(error_response(id.clone(), &RpcError::invalid_request(msg)));
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid("\"jsonrpc\" must be \"2.0\"");
    }
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        return invalid("\"method\" must be a string");
    };
    let result = match obj.get("params") {
        None => call(ctx, method, &[]),
        Some(Value::Array(params)) => call(ctx, method, params),
        Some(Value::Object(_)) => Err(by_name(method)),
        Some(_) => return invalid("\"params\" must be an array or an object"),
    };
    if notification {
        if let Err(e) = &result {
            log::debug!("control: notification {method} failed: {e}");
        }
        return None;
    }
    Some(match result {
        Ok(r) => result_response(id, r),
        Err(e) => error_response(id, &e),
    })
}

fn by_name(method: &str) -> RpcError {
    RpcError::invalid_params(format!(
        "{method}: by-name params are not supported; pass them by position, as an array"
    ))
}

/// Calls a method: the extension first, then the built-ins. A panicking method answers
/// -32603 instead of taking the server down.
fn call(ctx: &Ctx<'_>, method: &str, params: &[Value]) -> Result<Value, RpcError> {
    log::debug!("control: {method} {params:?}");
    let run = || {
        if let Some(ext) = ctx.ext {
            if let Some(r) = ext.call(method, params) {
                return r;
            }
        }
        match methods::find(method) {
            Some(def) => def.invoke(ctx, params),
            None => Err(RpcError::method_not_found(method)),
        }
    };
    catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|_| {
        log::error!("control: method {method} panicked");
        Err(RpcError::new(
            super::error::INTERNAL_ERROR,
            format!("internal error while running {method}"),
        ))
    })
}
