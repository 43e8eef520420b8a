//! Helpers shared by the method tests: one JSON-RPC call through `sipwire_control::handle`,
//! with the envelope checked, and clients registered in the runtime.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpStream};

use serde_json::{json, Value};
use sipwire::Transport;
use sipwire_control as rpc;
use sipwire_testkit::prelude::{connect, wait_for, WAIT};

/// One call; `Ok(result)` or `Err((code, message))`, after checking the envelope.
pub fn call(t: &Transport, method: &str, params: Value) -> Result<Value, (i64, String)> {
    let req = json!({ "jsonrpc": "2.0", "method": method, "params": params, "id": 7 });
    reply(&rpc::handle(t, req.to_string().as_bytes()), json!(7))
}

/// The result or error of one response.
pub fn reply(bytes: &[u8], id: Value) -> Result<Value, (i64, String)> {
    let v: Value = serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("bad reply {:?}: {e}", String::from_utf8_lossy(bytes)));
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert_eq!(v["id"], id, "{v}");
    if let Some(e) = v.get("error") {
        assert!(v.get("result").is_none(), "{v}");
        let msg = e["message"].as_str().unwrap().to_string();
        return Err((e["code"].as_i64().unwrap(), msg));
    }
    Ok(v["result"].clone())
}

/// A call that must work.
pub fn ok(t: &Transport, method: &str, params: Value) -> Value {
    call(t, method, params.clone())
        .unwrap_or_else(|e| panic!("{method} {params} failed: {} {}", e.0, e.1))
}

/// A call that must fail.
pub fn err(t: &Transport, method: &str, params: Value) -> (i64, String) {
    match call(t, method, params.clone()) {
        Ok(r) => panic!("{method} {params} should fail, got {r}"),
        Err(e) => e,
    }
}

/// Raw request bytes in, raw response bytes out.
pub fn raw(t: &Transport, text: &str) -> Vec<u8> {
    rpc::handle(t, text.as_bytes())
}

/// Two clients connected and registered in the runtime's table.
pub fn two_clients(t: &Transport, addr: SocketAddr) -> (TcpStream, TcpStream) {
    let a = connect(addr);
    let b = connect(addr);
    wait_for("two connections", WAIT, || t.connection_count() == 2);
    (a, b)
}

/// The `tcp.list` row of the connection whose peer is `client`'s local address.
pub fn row_of(t: &Transport, client: &TcpStream) -> Value {
    let me = client.local_addr().unwrap().to_string();
    let list = ok(t, "tcp.list", json!([]));
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["peer"] == me)
        .unwrap_or_else(|| panic!("no connection from {me} in {list}"))
        .clone()
}

/// The conid of the connection whose peer is `client`'s local address.
pub fn conid_of(t: &Transport, client: &TcpStream) -> u64 {
    row_of(t, client)["id"].as_u64().unwrap()
}

/// The keys of an object, in order.
pub fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}
