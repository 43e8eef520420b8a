//! The JSON-RPC 2.0 envelope: parsing, validation, batches, notifications, responses.

use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::{json, Value};

use super::context::{Ctx, RpcExtension};
use super::error::{RpcError, RESPONSE_TOO_LARGE};
use super::methods;
use sipwire::Transport;

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

/// Most calls in one batch; a larger batch is refused whole with `-32600`.
pub const MAX_BATCH: usize = 100;
/// Largest answer (one response line, or a batch's array), in bytes. A call whose result
/// does not fit gets a [`RESPONSE_TOO_LARGE`] error instead, and the calls after it in the
/// batch are not run (each gets the same code).
pub const MAX_RESPONSE: usize = 4 * 1024 * 1024;
/// Most JSON values (array items, object members, containers) in one request; checked before
/// parsing, so a small request cannot make a large tree of values.
pub const MAX_VALUES: usize = 10_000;

/// How a method's error goes into the response's `error` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Faults {
    /// JSON-RPC 2.0's codes and sipwire's messages (the control socket, `sipwire-ctl`).
    JsonRpc,
    /// Kamailio's jsonrpcs: the method's fault code (400, 500) and Kamailio's text
    /// ([`RpcError::kamailio_jsonrpcs`]); errors of the envelope keep the spec codes.
    Jsonrpcs,
}

impl Faults {
    /// The error object of a method's error.
    fn method_error(self, e: RpcError) -> RpcError {
        match self {
            Faults::JsonRpc => e,
            Faults::Jsonrpcs => {
                let (code, message) = e.kamailio_jsonrpcs();
                let mut k = RpcError::new(i64::from(code), message);
                k.data = e.data;
                k
            }
        }
    }
}

/// One request or batch as bytes in, the response bytes out, with JSON-RPC's error codes.
pub(crate) fn handle_bytes(ctx: &Ctx<'_>, bytes: &[u8]) -> Vec<u8> {
    handle_bytes_as(ctx, bytes, Faults::JsonRpc)
}

/// [`handle_bytes`] with Kamailio jsonrpcs' codes and texts for the methods' errors (what
/// kamctl and kamcli get from Kamailio: `{"code": 500, "message": "Method Not Found"}`).
#[allow(dead_code)] // For the jsonrpcs FIFO and datagram transports.
pub(crate) fn handle_bytes_jsonrpcs(ctx: &Ctx<'_>, bytes: &[u8]) -> Vec<u8> {
    handle_bytes_as(ctx, bytes, Faults::Jsonrpcs)
}

fn handle_bytes_as(ctx: &Ctx<'_>, bytes: &[u8], faults: Faults) -> Vec<u8> {
    if let Err(e) = precheck(bytes) {
        return encode(&error_response(Value::Null, &e));
    }
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
        Value::Array(items) => batch(ctx, &items, faults),
        single => {
            let Some(r) = one(ctx, &single, faults) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            if encode_within(&mut out, &r, MAX_RESPONSE) {
                return out;
            }
            let id = r.get("id").cloned().unwrap_or(Value::Null);
            encode(&error_response(id, &too_large(false)))
        }
    }
}

/// Counts what a request holds without building it: the members of a top-level array and
/// all values. Refuses a batch over [`MAX_BATCH`] or a request over [`MAX_VALUES`].
fn precheck(bytes: &[u8]) -> Result<(), RpcError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut batch = false;
    let (mut members, mut values) = (0usize, 0usize);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                if depth == 0 && b == b'[' {
                    batch = true;
                    members = 1;
                }
                depth += 1;
                values += 1;
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' => {
                values += 1;
                if depth == 1 && batch {
                    members += 1;
                }
            }
            _ => {}
        }
        if values > MAX_VALUES {
            return Err(RpcError::invalid_request(format!(
                "request holds more than {MAX_VALUES} JSON values"
            )));
        }
    }
    if members > MAX_BATCH {
        return Err(RpcError::invalid_request(format!(
            "batch of {members} calls; at most {MAX_BATCH} calls per batch"
        )));
    }
    Ok(())
}

/// The error of a call whose result did not fit in [`MAX_RESPONSE`] (`skipped`: it was not
/// run, an earlier call of the batch filled the answer).
fn too_large(skipped: bool) -> RpcError {
    let why = if skipped {
        "not run: the calls before it in the batch filled the answer"
    } else {
        "the result does not fit in the answer"
    };
    RpcError::new(
        RESPONSE_TOO_LARGE,
        format!("{why} (answers are limited to {MAX_RESPONSE} bytes)"),
    )
}

/// The id a response to `item` carries, or `None` for a notification (no response).
fn response_id(item: &Value) -> Option<Value> {
    match item.as_object().map(|o| o.get("id")) {
        Some(None) => None,
        Some(Some(id @ (Value::Null | Value::String(_) | Value::Number(_)))) => Some(id.clone()),
        _ => Some(Value::Null),
    }
}

/// Runs a batch, writing each response as it comes, within [`MAX_RESPONSE`]: room is kept for
/// a [`too_large`] error for each call still to come.
fn batch(ctx: &Ctx<'_>, items: &[Value], faults: Faults) -> Vec<u8> {
    // reserve[i]: the bytes the error responses of items i.. need (with their commas).
    let mut reserve = vec![0usize; items.len() + 1];
    for (i, item) in items.iter().enumerate().rev() {
        let own = response_id(item).map_or(0, |id| {
            encode(&error_response(id, &too_large(true))).len() + 1
        });
        reserve[i] = reserve[i + 1] + own;
    }
    let mut out = vec![b'['];
    let mut full = false;
    for (i, item) in items.iter().enumerate() {
        let resp = if full {
            response_id(item).map(|id| error_response(id, &too_large(true)))
        } else {
            one(ctx, item, faults)
        };
        let Some(resp) = resp else { continue };
        let start = out.len();
        if start > 1 {
            out.push(b',');
        }
        // What is left once the later calls' errors and the closing bracket have their room.
        let limit = MAX_RESPONSE.saturating_sub(reserve[i + 1] + 1);
        if !encode_within(&mut out, &resp, limit) {
            out.truncate(start);
            if start > 1 {
                out.push(b',');
            }
            let id = resp.get("id").cloned().unwrap_or(Value::Null);
            out.extend_from_slice(&encode(&error_response(id, &too_large(full))));
            full = true;
        }
    }
    if out.len() == 1 {
        return Vec::new();
    }
    out.push(b']');
    out
}

/// Appends `v` to `out` as JSON if `out` stays within `limit` bytes; else leaves `out` longer
/// than it was only by a partial write the caller truncates, and answers `false`.
fn encode_within(out: &mut Vec<u8>, v: &Value, limit: usize) -> bool {
    struct Capped<'a> {
        out: &'a mut Vec<u8>,
        limit: usize,
    }
    impl Write for Capped<'_> {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.out.len() + b.len() > self.limit {
                return Err(io::Error::other("answer limit reached"));
            }
            self.out.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Capped { out, limit }, v).is_ok()
}

/// One request: its response, or `None` for a notification.
fn one(ctx: &Ctx<'_>, v: &Value, faults: Faults) -> Option<Value> {
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
        None => dispatch(ctx, method, &[]),
        Some(Value::Array(params)) => dispatch(ctx, method, params),
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
        Err(e) => error_response(id, &faults.method_error(e)),
    })
}

fn by_name(method: &str) -> RpcError {
    RpcError::invalid_params(format!(
        "{method}: by-name params are not supported; pass them by position, as an array"
    ))
}

/// Runs one call of `method` with by-position `params`, whatever carries it: the
/// transport-independent entry point for the control transports (the JSON-RPC envelope
/// here, BINRPC, Kamailio's jsonrpcs FIFO and datagram).
///
/// The extension, if any, is asked first, then the built-in methods. An error keeps the
/// JSON-RPC view (`code`, `message`) and Kamailio's ([`RpcError::kamailio`] for BINRPC,
/// [`RpcError::kamailio_jsonrpcs`] for jsonrpcs). A method that panics is an
/// [`INTERNAL_ERROR`](crate::INTERNAL_ERROR) (Kamailio: 500), and the caller goes on.
/// `events.subscribe` needs a control connection, so here it fails (-32000).
pub fn call(
    transport: &Transport,
    ext: Option<&dyn RpcExtension>,
    method: &str,
    params: &[Value],
) -> Result<Value, RpcError> {
    dispatch(
        &Ctx {
            transport,
            ext,
            session: None,
        },
        method,
        params,
    )
}

/// Calls a method: the extension first, then the built-ins. A panicking method answers
/// -32603 instead of taking the server down.
pub(crate) fn dispatch(ctx: &Ctx<'_>, method: &str, params: &[Value]) -> Result<Value, RpcError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(t: &Transport, text: &str) -> Value {
        let ctx = Ctx {
            transport: t,
            ext: None,
            session: None,
        };
        serde_json::from_slice(&handle_bytes_jsonrpcs(&ctx, text.as_bytes())).unwrap()
    }

    #[test]
    fn jsonrpcs_answers_kamailios_fault_codes() {
        let (rt, _rec, _addr) = sipwire_testkit::prelude::start("");
        let t = rt.transport();
        let v = answer(&t, r#"{"jsonrpc":"2.0","method":"nosuch.method","id":1}"#);
        assert_eq!(
            v["error"],
            json!({"code": 500, "message": "Method Not Found"})
        );
        let v = answer(
            &t,
            r#"{"jsonrpc":"2.0","method":"cfg.set_now_int","params":["tcp","no_such_var",1],"id":2}"#,
        );
        assert_eq!(
            v["error"],
            json!({"code": 400, "message": "Failed to set the variable"})
        );
        let v = answer(&t, r#"{"jsonrpc":"2.0","method":"core.tcp_info","id":3}"#);
        assert_eq!(v["result"]["max_tls_connections"], 2048);
        // The envelope's own errors keep the spec codes, as jsonrpcs.
        let v = answer(&t, "{not json");
        assert_eq!(v["error"]["code"], crate::PARSE_ERROR);
        let v = answer(&t, r#"[{"jsonrpc":"2.0","method":"x.y","id":4}]"#);
        assert_eq!(v[0]["error"]["code"], 500);
        rt.shutdown();
    }
}
