//! Requests, replies and faults, and the bridge between [`Value`] and `serde_json::Value`
//! that lets the JSON method table answer BINRPC calls the way Kamailio would.

use serde_json::{Map, Number, Value as Json};

use super::encode::encode_records;
use super::error::BinrpcError;
use super::header::{build_packet, PacketType};
use super::value::{decode_records, Member, Value, MAX_DEPTH};

/// A decoded request: the method name (the first record) and the parameters after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The method, e.g. `core.tcp_info`.
    pub method: String,
    /// The parameters, in order (kamcmd sends INT, STR and DOUBLE).
    pub params: Vec<Value>,
}

impl Request {
    /// The parameters as JSON, by position, for the JSON-RPC method table
    /// (see [`Value::to_json`]).
    pub fn json_params(&self) -> Vec<Json> {
        self.params.iter().map(Value::to_json).collect()
    }
}

/// A decoded fault: Kamailio's code (400, 500, ...) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The error code.
    pub code: i32,
    /// The error text.
    pub message: String,
}

impl Value {
    /// This value as JSON: INT and DOUBLE as numbers (a DOUBLE always as a float), STR as a
    /// string, BYTES as a string (invalid UTF-8 replaced), ARRAY as an array.
    ///
    /// A STRUCT whose members are all named becomes an object (a repeated name keeps its
    /// last value), and an empty one `{}`; a STRUCT with unnamed members (a Kamailio array)
    /// becomes an array, where any named member is a one-key object `{name: value}`.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Int(i) => Json::from(*i),
            Value::Str(s) => Json::from(s.as_str()),
            Value::Double(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Value::Bytes(b) => Json::from(String::from_utf8_lossy(b).into_owned()),
            Value::Array(items) => Json::Array(items.iter().map(Value::to_json).collect()),
            Value::Struct(members) if members.iter().all(|m| m.name.is_some()) => Json::Object(
                members
                    .iter()
                    .map(|m| (m.name.clone().unwrap_or_default(), m.value.to_json()))
                    .collect::<Map<_, _>>(),
            ),
            Value::Struct(members) => Json::Array(
                members
                    .iter()
                    .map(|m| match &m.name {
                        Some(n) => {
                            let mut one = Map::new();
                            one.insert(n.clone(), m.value.to_json());
                            Json::Object(one)
                        }
                        None => m.value.to_json(),
                    })
                    .collect(),
            ),
        }
    }

    /// A JSON value as BINRPC, following Kamailio's RPC conventions so kamcmd prints what
    /// Kamailio prints: an object is a STRUCT of AVPs (in the map's order), an array a STRUCT
    /// of unnamed values (what `rpc->add("[")` writes), an integer that fits 32 bits an INT,
    /// any other number a DOUBLE (as Kamailio sends its 64-bit `l`/`j` values), a boolean
    /// INT 0/1, a string STR, and null an empty STR (so a member keeps its place).
    ///
    /// Fails with [`BinrpcError::TooLarge`] for nesting deeper than [`MAX_DEPTH`].
    pub fn from_json(v: &Json) -> Result<Value, BinrpcError> {
        from_json_at(v, 0)
    }
}

/// `depth` counts the containers open around `v`.
fn from_json_at(v: &Json, depth: usize) -> Result<Value, BinrpcError> {
    let inner = depth + 1;
    Ok(match v {
        Json::Null => Value::Str(String::new()),
        Json::Bool(b) => Value::Int(i32::from(*b)),
        Json::Number(n) => number(n),
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(_) | Json::Object(_) if inner > MAX_DEPTH => return Err(BinrpcError::TooLarge),
        Json::Array(items) => Value::Struct(
            items
                .iter()
                .map(|x| from_json_at(x, inner).map(Member::unnamed))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(map) => Value::Struct(
            map.iter()
                .map(|(k, x)| from_json_at(x, inner).map(|x| Member::named(k.clone(), x)))
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn number(n: &Number) -> Value {
    if let Some(i) = n.as_i64() {
        match i32::try_from(i) {
            Ok(small) => Value::Int(small),
            Err(_) => Value::Double(i as f64),
        }
    } else if let Some(u) = n.as_u64() {
        Value::Double(u as f64)
    } else {
        Value::Double(n.as_f64().unwrap_or(0.0))
    }
}

/// The top-level records of a reply carrying a method's JSON `result`.
///
/// Null and `{}` give no records (an empty reply, as Kamailio answers a `cfg.set_now_int`
/// that worked); an array gives one record per element (how `RET_ARRAY` methods such as
/// `core.tcp_list` answer, so `[]` is an empty reply too); anything else one record
/// ([`Value::from_json`]).
pub fn reply_records(result: &Json) -> Result<Vec<Value>, BinrpcError> {
    match result {
        Json::Null => Ok(Vec::new()),
        Json::Object(map) if map.is_empty() => Ok(Vec::new()),
        Json::Array(items) => items.iter().map(Value::from_json).collect(),
        other => Ok(vec![Value::from_json(other)?]),
    }
}

/// A reply body for a method's JSON `result` ([`reply_records`]).
pub fn encode_reply(result: &Json) -> Result<Vec<u8>, BinrpcError> {
    encode_records(&reply_records(result)?)
}

/// A whole reply packet for `result`, echoing the request's `cookie`.
pub fn reply_packet(cookie: u32, result: &Json) -> Result<Vec<u8>, BinrpcError> {
    build_packet(PacketType::Reply, cookie, &encode_reply(result)?)
}

/// A fault body: the INT `code`, then the STR `message`.
pub fn encode_fault(code: i32, message: &str) -> Result<Vec<u8>, BinrpcError> {
    encode_records(&[Value::Int(code), Value::Str(message.to_owned())])
}

/// A whole fault packet, echoing the request's `cookie`.
pub fn fault_packet(cookie: u32, code: i32, message: &str) -> Result<Vec<u8>, BinrpcError> {
    build_packet(PacketType::Fault, cookie, &encode_fault(code, message)?)
}

/// Reads a fault body: exactly an INT code and a STR message, else
/// [`BinrpcError::BadFault`] (the records are still there for [`super::print_kamcmd_fault`]).
pub fn decode_fault(body: &[u8]) -> Result<Fault, BinrpcError> {
    match decode_records(body)?.as_slice() {
        [Value::Int(code), Value::Str(message)] => Ok(Fault {
            code: *code,
            message: message.clone(),
        }),
        _ => Err(BinrpcError::BadFault),
    }
}

/// A request body: the method name as a STR, then `params` in order.
pub fn encode_request(method: &str, params: &[Value]) -> Result<Vec<u8>, BinrpcError> {
    let mut records = Vec::with_capacity(params.len() + 1);
    records.push(Value::Str(method.to_owned()));
    records.extend_from_slice(params);
    encode_records(&records)
}

/// A whole request packet with `cookie` (the reply must echo it).
pub fn request_packet(cookie: u32, method: &str, params: &[Value]) -> Result<Vec<u8>, BinrpcError> {
    build_packet(
        PacketType::Request,
        cookie,
        &encode_request(method, params)?,
    )
}

/// Reads a request body: the first record must be a STR (the method name,
/// [`BinrpcError::NoMethod`] otherwise); the rest are the parameters.
pub fn decode_request(body: &[u8]) -> Result<Request, BinrpcError> {
    let mut records = decode_records(body)?.into_iter();
    match records.next() {
        Some(Value::Str(method)) => Ok(Request {
            method,
            params: records.collect(),
        }),
        _ => Err(BinrpcError::NoMethod),
    }
}
