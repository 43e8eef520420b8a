//! The JSON-RPC control methods (`sipwire::rpc`) against a running runtime with real client
//! connections: every method, the protocol's error codes, batches, notifications, extensions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};
use sipwire::{ConId, SendError, Transport};
use sipwire_control::{self as rpc, RpcError, RpcExtension};
use sipwire_testkit::prelude::{connect, start, wait_for, WAIT};

/// One call; `Ok(result)` or `Err((code, message))`, after checking the envelope.
fn call(t: &Transport, method: &str, params: Value) -> Result<Value, (i64, String)> {
    let req = json!({ "jsonrpc": "2.0", "method": method, "params": params, "id": 7 });
    reply(&rpc::handle(t, req.to_string().as_bytes()), json!(7))
}

fn reply(bytes: &[u8], id: Value) -> Result<Value, (i64, String)> {
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

fn ok(t: &Transport, method: &str, params: Value) -> Value {
    call(t, method, params.clone())
        .unwrap_or_else(|e| panic!("{method} {params} failed: {} {}", e.0, e.1))
}

fn err(t: &Transport, method: &str, params: Value) -> (i64, String) {
    match call(t, method, params.clone()) {
        Ok(r) => panic!("{method} {params} should fail, got {r}"),
        Err(e) => e,
    }
}

fn raw(t: &Transport, text: &str) -> Vec<u8> {
    rpc::handle(t, text.as_bytes())
}

/// Two clients connected and registered in the runtime's table.
fn two_clients(t: &Transport, addr: SocketAddr) -> (TcpStream, TcpStream) {
    let a = connect(addr);
    let b = connect(addr);
    wait_for("two connections", WAIT, || t.connection_count() == 2);
    (a, b)
}

/// The conid of the connection whose peer is `client`'s local address.
fn conid_of(t: &Transport, client: &TcpStream) -> u64 {
    let me = client.local_addr().unwrap();
    let list = ok(t, "core.tcp_list", json!([]));
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["peer"] == me.to_string())
        .unwrap_or_else(|| panic!("no connection from {me} in {list}"))["id"]
        .as_u64()
        .unwrap()
}

#[test]
fn core_methods_describe_the_running_runtime() {
    let (rt, _rec, addr) = start("tcp_max_connections=100");
    let t = rt.transport();
    let _clients = two_clients(&t, addr);

    let v = ok(&t, "core.version", json!([]));
    assert_eq!(v["name"], "sipwire");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));

    let up = ok(&t, "core.uptime", json!([]));
    assert!(up["uptime"].as_u64().unwrap() < 600, "{up}");
    let (since, now) = (
        up["up_since"].as_u64().unwrap(),
        up["now"].as_u64().unwrap(),
    );
    assert!(since <= now && now - since < 600, "{up}");

    let info = ok(&t, "core.tcp_info", json!([]));
    assert_eq!(info["readers"], 2);
    assert_eq!(info["max_connections"], 100);
    assert_eq!(info["opened_connections"], 2);
    assert_eq!(info["write_queued_bytes"], 0);
    assert_eq!(info["wq_max"], 10 * 1024 * 1024);
    assert_eq!(info["listen"], json!([format!("tcp:{addr}")]));

    let opts = ok(&t, "core.tcp_options", json!([]));
    assert_eq!(opts["max_connections"], 100);
    assert_eq!(opts["connection_lifetime"], 120);
    assert_eq!(opts["no_connect"], 0);
    assert_eq!(opts["async"], 1);
    assert_eq!(ok(&t, "cfg.get", json!(["core", "tcp_children"])), 2);
    assert!(
        opts.get("autoclose").is_none(),
        "only the tcp group: {opts}"
    );
    let tcp_group = t
        .config()
        .cfg_list()
        .into_iter()
        .filter(|e| e.group == "tcp")
        .count();
    assert_eq!(opts.as_object().unwrap().len(), tcp_group);

    let names = ok(&t, "system.listMethods", json!([]));
    let names: Vec<&str> = names
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    // A few of Kamailio's own names, so that the list cannot silently lose them.
    for m in [
        "core.tcp_info",
        "core.tcp_list",
        "cfg.set_now_int",
        "tcp.close_connection",
        "system.listMethods",
    ] {
        assert!(names.contains(&m), "{m} missing from {names:?}");
    }
    assert_eq!(names, rpc::builtin_methods());
    let help = ok(&t, "system.methodHelp", json!(["cfg.set_now_int"]));
    assert!(
        help.as_str()
            .unwrap()
            .starts_with("cfg.set_now_int <group> <name> <value>: "),
        "{help}"
    );
    let e = err(&t, "system.methodHelp", json!(["nope.nope"]));
    assert_eq!(e.0, rpc::INVALID_PARAMS);
    rt.shutdown();
}

#[test]
fn tcp_list_and_per_connection_operations() {
    let (rt, _rec, addr) = start("");
    let t = rt.transport();
    let (mut a, b) = two_clients(&t, addr);

    let list = ok(&t, "core.tcp_list", json!([]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    for c in list {
        assert_eq!(c["type"], "TCP");
        // Nothing sent yet: accepted, not read from (Kamailio's S_CONN_ACCEPT).
        assert_eq!(c["state"], 2);
        assert_eq!(c["state_name"], "accepting");
        assert_eq!(c["local"], addr.to_string());
        assert_eq!(c["src_ip"], "127.0.0.1");
        assert_eq!(c["keepalive"], true, "tcp_keepalive defaults to on: {c}");
        assert_eq!(c["lifetime_override_s"], Value::Null);
        assert!(c["idle_ms"].as_u64().is_some(), "{c}");
    }
    let ida = conid_of(&t, &a);
    let idb = conid_of(&t, &b);
    assert_ne!(ida, idb);
    let a_local = a.local_addr().unwrap();
    let entry_a = list.iter().find(|c| c["id"] == ida).unwrap();
    assert_eq!(entry_a["src_port"], a_local.port());

    // tcp.conid_state / conid_alive, with the id as a number or as a decimal string.
    let s = ok(&t, "tcp.conid_state", json!([ida]));
    assert_eq!(
        s,
        json!({ "conid": ida, "state": 2, "state_name": "accepting" })
    );
    let s = ok(&t, "tcp.conid_state", json!([ida.to_string()]));
    assert_eq!(s["state"], 2);
    assert_eq!(ok(&t, "tcp.conid_alive", json!([ida]))["alive"], true);
    let gone = ok(&t, "tcp.conid_state", json!([987_654_321_u64]));
    assert_eq!(gone["state"], -1);
    assert_eq!(gone["state_name"], "gone");
    assert_eq!(
        ok(&t, "tcp.conid_alive", json!([987_654_321_u64]))["alive"],
        false
    );

    // tcp.get_conid by the client's address (the peer, from the runtime's side).
    assert_eq!(
        ok(&t, "tcp.get_conid", json!([a_local.to_string()])),
        json!(ida)
    );
    let e = err(&t, "tcp.get_conid", json!(["127.0.0.1:1"]));
    assert_eq!(e.0, rpc::OPERATION_FAILED);
    assert_eq!(e.1, "no open connection to 127.0.0.1:1");
    let e = err(&t, "tcp.get_conid", json!(["not an address"]));
    assert_eq!(e.0, rpc::OPERATION_FAILED);
    assert!(e.1.starts_with("not a host:port address"), "{}", e.1);

    // tcp.force_alias: the client's own IP with the port (5060 without one); a send to it
    // reuses the connection.
    let al = ok(&t, "tcp.force_alias", json!([ida, 7003]));
    assert_eq!(al, json!({ "conid": ida, "alias": "127.0.0.1:7003" }));
    let to: SocketAddr = "127.0.0.1:7003".parse().unwrap();
    assert_eq!(t.send(to, b"al").unwrap(), ConId(ida));
    let mut two = [0u8; 2];
    a.set_read_timeout(Some(WAIT)).unwrap();
    a.read_exact(&mut two).unwrap();
    assert_eq!(&two, b"al");
    let al = ok(&t, "tcp.force_alias", json!([idb]));
    assert_eq!(al["alias"], "127.0.0.1:5060");
    let e = err(&t, "tcp.force_alias", json!([ida, 70000]));
    assert_eq!(e.0, rpc::INVALID_PARAMS);
    let e = err(&t, "tcp.force_alias", json!([987_654_321_u64, 5060]));
    assert_eq!(e.0, rpc::OPERATION_FAILED);

    // Keepalive on with probe timings, read back from the socket; then off.
    let k = ok(&t, "tcp.keepalive_enable", json!([ida, 30, 4, 7]));
    assert_eq!(
        k,
        json!({ "conid": ida, "keepalive": true, "keepidle": 30, "keepcnt": 4, "keepintvl": 7 })
    );
    let info = t.conn_info(ConId(ida)).unwrap();
    assert!(info.keepalive);
    assert_eq!(info.keepalive_params, (30, 4, 7));
    let k = ok(&t, "tcp.keepalive_disable", json!([ida]));
    assert_eq!(k, json!({ "conid": ida, "keepalive": false }));
    assert!(!t.conn_info(ConId(ida)).unwrap().keepalive);
    let e = err(&t, "tcp.keepalive_enable", json!([ida, 30, 4, -1]));
    assert_eq!(e.0, rpc::INVALID_PARAMS);
    assert!(e.1.contains("param 4 (interval)"), "{}", e.1);

    // Lifetime override, visible in tcp_list and conn_info.
    let l = ok(&t, "tcp.set_connection_lifetime", json!([ida, 600]));
    assert_eq!(l, json!({ "conid": ida, "lifetime_s": 600 }));
    assert_eq!(
        t.conn_info(ConId(ida)).unwrap().lifetime_override,
        Some(std::time::Duration::from_secs(600))
    );
    let list = ok(&t, "core.tcp_list", json!([]));
    let entry_a = list.as_array().unwrap().iter().find(|c| c["id"] == ida);
    assert_eq!(entry_a.unwrap()["lifetime_override_s"], 600);

    let c = ok(&t, "tcp.enable_closed_event", json!([ida]));
    assert_eq!(c, json!({ "conid": ida, "closed_event": true }));

    // Close: the client sees EOF, the id turns "gone", the other connection stays.
    let c = ok(&t, "tcp.close_connection", json!([ida]));
    assert_eq!(c, json!({ "conid": ida, "closing": true }));
    let mut buf = [0u8; 16];
    a.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(a.read(&mut buf).unwrap(), 0, "client should see EOF");
    wait_for("conid gone", WAIT, || t.connection_count() == 1);
    assert_eq!(ok(&t, "tcp.conid_state", json!([ida]))["state"], -1);
    assert_eq!(ok(&t, "tcp.conid_state", json!([idb]))["state"], 2);
    let list = ok(&t, "core.tcp_list", json!([]));
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Operations on a closed id fail with the library's reason.
    for (m, p) in [
        ("tcp.close_connection", json!([ida])),
        ("tcp.keepalive_enable", json!([ida, 1, 1, 1])),
        ("tcp.keepalive_disable", json!([ida])),
        ("tcp.set_connection_lifetime", json!([ida, 5])),
        ("tcp.enable_closed_event", json!([ida])),
    ] {
        let e = err(&t, m, p);
        assert_eq!(
            e,
            (
                rpc::OPERATION_FAILED,
                format!("no open connection with id {ida}")
            )
        );
    }
    drop(b);
    rt.shutdown();
}

#[test]
fn set_now_int_no_connect_stops_the_next_connect() {
    let (rt, _rec, _addr) = start("");
    let t = rt.transport();
    // A destination that would accept: only no_connect can refuse the send.
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let dst = peer.local_addr().unwrap();

    assert_eq!(ok(&t, "cfg.get", json!(["tcp", "no_connect"])), json!(0));
    let r = ok(&t, "cfg.set_now_int", json!(["tcp", "no_connect", 1]));
    assert_eq!(
        r,
        json!({ "group": "tcp", "name": "no_connect", "value": 1 })
    );
    assert_eq!(ok(&t, "cfg.get", json!(["tcp", "no_connect"])), json!(1));
    assert_eq!(ok(&t, "core.tcp_options", json!([]))["no_connect"], 1);
    match t.send(dst, b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n") {
        Err(SendError::NoConnect(a)) => assert_eq!(a, dst),
        other => panic!("expected NoConnect, got {other:?}"),
    }

    // And back: the next send connects.
    ok(&t, "cfg.set_now_int", json!(["tcp", "no_connect", 0]));
    t.send(dst, b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    rt.shutdown();
}

#[test]
fn cfg_changes_are_checked_by_the_config_layer() {
    let (rt, _rec, _addr) = start("");
    let t = rt.transport();

    // Read-only: refused with the config layer's reason, value unchanged.
    let e = err(&t, "cfg.set_now_int", json!(["tcp", "async", 0]));
    assert_eq!(e.0, rpc::OPERATION_FAILED);
    assert_eq!(
        e.1,
        "tcp.async cannot be changed at runtime (set it in the config file and restart)"
    );
    assert_eq!(ok(&t, "cfg.get", json!(["tcp", "async"])), json!(1));
    let e = err(&t, "cfg.set_now_string", json!(["tcp", "async", "no"]));
    assert!(e.1.contains("cannot be changed at runtime"), "{}", e.1);

    // Out of range, unknown: the library's text.
    let e = err(
        &t,
        "cfg.set_now_int",
        json!(["tcp", "connection_lifetime", -5]),
    );
    assert_eq!(e.0, rpc::OPERATION_FAILED);
    assert!(e.1.contains("out of range"), "{}", e.1);
    let e = err(&t, "cfg.set_now_int", json!(["tcp", "no_such_thing", 1]));
    assert_eq!(
        e,
        (
            rpc::OPERATION_FAILED,
            "unknown cfg option tcp.no_such_thing".into()
        )
    );
    let e = err(&t, "cfg.get", json!(["tcp", "no_such_thing"]));
    assert_eq!(
        e,
        (
            rpc::OPERATION_FAILED,
            "unknown cfg option tcp.no_such_thing".into()
        )
    );

    // set_now_int with a value that is no integer is a params error.
    let e = err(&t, "cfg.set_now_int", json!(["tcp", "keepalive", "maybe"]));
    assert_eq!(e.0, rpc::INVALID_PARAMS);
    assert_eq!(
        e.1,
        "param 3 (value) of cfg.set_now_int must be an integer, got string \"maybe\""
    );

    // set_now_int, and set_now_string parsed as in the config file.
    let r = ok(
        &t,
        "cfg.set_now_int",
        json!(["tcp", "connection_lifetime", 3605]),
    );
    assert_eq!(r["value"], 3605);
    assert_eq!(
        t.config().snapshot().tcp.connection_lifetime.as_secs(),
        3605
    );
    let r = ok(&t, "cfg.set_now_string", json!(["tcp", "keepalive", "no"]));
    assert_eq!(
        r,
        json!({ "group": "tcp", "name": "keepalive", "value": 0 })
    );
    // A number given to set_now_string is taken as its text.
    let r = ok(
        &t,
        "cfg.set_now_string",
        json!(["tcp", "connection_lifetime", 90]),
    );
    assert_eq!(r["value"], 90);
    let r = ok(&t, "cfg.set_now_int", json!(["tcpops", "closed_event", 2]));
    assert_eq!(r["value"], 2);

    // cfg.list: everything, one group, a bad group.
    let all = ok(&t, "cfg.list", json!([]));
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), t.config().cfg_list().len());
    let lt = all
        .iter()
        .find(|e| e["group"] == "tcp" && e["name"] == "connection_lifetime")
        .unwrap();
    assert_eq!(
        *lt,
        json!({ "group": "tcp", "name": "connection_lifetime", "value": 90, "unit": "s",
                "runtime": true })
    );
    for g in ["tcp", "proto_tcp", "tcpops", "sctp"] {
        assert!(all.iter().any(|e| e["group"] == g), "group {g} missing");
    }
    let sctp = ok(&t, "cfg.list", json!(["sctp"]));
    let sctp = sctp.as_array().unwrap();
    assert!(!sctp.is_empty() && sctp.iter().all(|e| e["group"] == "sctp"));
    let e = err(&t, "cfg.list", json!(["nope"]));
    assert_eq!(e.0, rpc::INVALID_PARAMS);
    assert!(
        e.1.starts_with("unknown cfg group \"nope\" (groups: tcp"),
        "{}",
        e.1
    );

    // cfg.help
    let h = ok(&t, "cfg.help", json!(["tcp", "async"]));
    assert_eq!(h["key"], "tcp_async");
    assert_eq!(h["runtime"], false);
    assert!(!h["doc"].as_str().unwrap().is_empty());
    // The script spelling is an alias here too, as in cfg.get and cfg.set_now_*.
    assert_eq!(
        ok(&t, "cfg.help", json!(["tcp", "tcp_no_connect"])),
        ok(&t, "cfg.help", json!(["tcp", "no_connect"]))
    );
    assert_eq!(
        err(&t, "cfg.help", json!(["tcp", "tcp_nope"])).0,
        rpc::OPERATION_FAILED
    );
    rt.shutdown();
}

#[test]
fn stats_get_all_some_and_unknown() {
    let (rt, _rec, addr) = start("");
    let t = rt.transport();
    let _clients = two_clients(&t, addr);
    wait_for("accepted counted", WAIT, || t.stats().accepted == 2);

    let all = ok(&t, "stats.get", json!([]));
    let fields = t.stats().fields();
    assert_eq!(all.as_object().unwrap().len(), fields.len());
    for (name, _) in &fields {
        assert!(all.get(*name).is_some(), "{name} missing");
    }
    assert_eq!(all["accepted"], 2);
    assert_eq!(ok(&t, "stats.get", json!(["all"])), all);
    assert_eq!(
        ok(&t, "stats.get", json!(["accepted"])),
        json!({ "accepted": 2 })
    );
    let two = ok(&t, "stats.get", json!(["accepted", "queued_bytes"]));
    assert_eq!(two, json!({ "accepted": 2, "queued_bytes": 0 }));
    let e = err(&t, "stats.get", json!(["accepted", "bogus"]));
    assert_eq!(e.0, rpc::INVALID_PARAMS);
    assert!(e.1.contains("unknown counter \"bogus\""), "{}", e.1);
    rt.shutdown();
}

#[test]
fn protocol_errors_get_json_rpc_codes() {
    let (rt, _rec, _addr) = start("");
    let t = rt.transport();

    // Not JSON at all, or truncated.
    for bad in [
        "{",
        "hello",
        "",
        r#"{"jsonrpc":"2.0","method":"core.version","id":1"#,
    ] {
        let e = reply(&raw(&t, bad), Value::Null).unwrap_err();
        assert_eq!(e.0, rpc::PARSE_ERROR, "{bad:?}");
    }

    // Not a request.
    let invalid = [
        (r#"42"#, Value::Null),
        (r#"{"method":"core.version","id":1}"#, json!(1)),
        (
            r#"{"jsonrpc":"1.0","method":"core.version","id":1}"#,
            json!(1),
        ),
        (r#"{"jsonrpc":"2.0","method":5,"id":"x"}"#, json!("x")),
        (r#"{"jsonrpc":"2.0","id":2}"#, json!(2)),
        (
            r#"{"jsonrpc":"2.0","method":"core.version","id":[1]}"#,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","method":"core.version","params":"x","id":3}"#,
            json!(3),
        ),
        (r#"[]"#, Value::Null),
    ];
    for (text, id) in invalid {
        let e = reply(&raw(&t, text), id).unwrap_err();
        assert_eq!(e.0, rpc::INVALID_REQUEST, "{text}: {}", e.1);
    }

    // Unknown method.
    let e = err(&t, "core.nothing", json!([]));
    assert_eq!(e.0, rpc::METHOD_NOT_FOUND);
    assert_eq!(
        e.1,
        "method not found: core.nothing (system.listMethods lists them)"
    );

    // Wrong number of params, wrong types, by-name params.
    let e = err(&t, "cfg.get", json!(["tcp"]));
    assert_eq!(
        e,
        (
            rpc::INVALID_PARAMS,
            "cfg.get takes 2 params (<group> <name>), got 1".into()
        )
    );
    let e = err(&t, "core.version", json!([1]));
    assert_eq!(
        e,
        (
            rpc::INVALID_PARAMS,
            "core.version takes no params, got 1".into()
        )
    );
    let e = err(&t, "cfg.list", json!(["tcp", "x"]));
    assert_eq!(e.1, "cfg.list takes 0 to 1 params ([group]), got 2");
    let e = err(&t, "tcp.conid_state", json!([true]));
    assert_eq!(e.0, rpc::INVALID_PARAMS);
    assert_eq!(
        e.1,
        "param 1 (conid) of tcp.conid_state must be a connection id (a positive integer), \
         got boolean true"
    );
    let e = err(&t, "tcp.set_connection_lifetime", json!([1, -3]));
    assert_eq!(e.0, rpc::INVALID_PARAMS);
    let r = raw(
        &t,
        r#"{"jsonrpc":"2.0","method":"cfg.get","params":{"group":"tcp","name":"async"},"id":4}"#,
    );
    let e = reply(&r, json!(4)).unwrap_err();
    assert_eq!(e.0, rpc::INVALID_PARAMS);
    assert!(e.1.contains("by position"), "{}", e.1);

    // No params member at all is the same as [].
    let r = raw(&t, r#"{"jsonrpc":"2.0","method":"core.version","id":"v"}"#);
    assert_eq!(reply(&r, json!("v")).unwrap()["name"], "sipwire");
    // And after all that, it still answers.
    assert_eq!(ok(&t, "core.version", json!([]))["name"], "sipwire");
    rt.shutdown();
}

#[test]
fn batches_and_notifications() {
    let (rt, _rec, _addr) = start("");
    let t = rt.transport();

    // A notification is run but not answered.
    let r = raw(
        &t,
        r#"{"jsonrpc":"2.0","method":"cfg.set_now_int","params":["tcp","connection_lifetime",77]}"#,
    );
    assert!(r.is_empty(), "{}", String::from_utf8_lossy(&r));
    assert_eq!(t.config().snapshot().tcp.connection_lifetime.as_secs(), 77);
    // Even a failing notification is not answered.
    assert!(raw(&t, r#"{"jsonrpc":"2.0","method":"no.such"}"#).is_empty());

    // A batch: answers in order, notifications left out, errors in place.
    let batch = r#"[
        {"jsonrpc":"2.0","method":"core.version","id":1},
        {"jsonrpc":"2.0","method":"cfg.get","params":["tcp","connection_lifetime"]},
        {"jsonrpc":"2.0","method":"cfg.get","params":["tcp","connection_lifetime"],"id":"b"},
        {"jsonrpc":"2.0","method":"no.such","id":3},
        17
    ]"#;
    let out: Value = serde_json::from_slice(&raw(&t, batch)).unwrap();
    let out = out.as_array().unwrap();
    assert_eq!(out.len(), 4, "{out:?}");
    assert_eq!(out[0]["id"], 1);
    assert_eq!(out[0]["result"]["name"], "sipwire");
    assert_eq!(out[1]["id"], "b");
    assert_eq!(out[1]["result"], 77);
    assert_eq!(out[2]["id"], 3);
    assert_eq!(out[2]["error"]["code"], rpc::METHOD_NOT_FOUND);
    assert_eq!(out[3]["id"], Value::Null);
    assert_eq!(out[3]["error"]["code"], rpc::INVALID_REQUEST);

    // A batch of notifications only: nothing at all.
    let r = raw(
        &t,
        r#"[{"jsonrpc":"2.0","method":"core.version"},{"jsonrpc":"2.0","method":"core.uptime"}]"#,
    );
    assert!(r.is_empty());

    // Responses are one line (the control socket frames them by newline).
    let r = raw(&t, r#"{"jsonrpc":"2.0","method":"cfg.list","id":1}"#);
    assert!(!r.contains(&b'\n'));
    rt.shutdown();
}

/// An embedder's extension: one method, one counter, its own `core.version`, and a method that
/// panics.
struct Relay {
    forwarded: AtomicUsize,
}

impl RpcExtension for Relay {
    fn call(&self, method: &str, params: &[Value]) -> Option<Result<Value, RpcError>> {
        match method {
            "relay.bump" => {
                let p = rpc::Params::new(method, &["by"], params);
                Some(p.u64(0).map(|by| {
                    let n = self.forwarded.fetch_add(by as usize, Ordering::Relaxed);
                    json!(n as u64 + by)
                }))
            }
            "core.version" => Some(Ok(json!({ "name": "sipwired", "version": "9" }))),
            "relay.panic" => panic!("test panic"),
            _ => None,
        }
    }

    fn methods(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("relay.bump", "Adds to the forwarded counter."),
            ("relay.panic", "Panics."),
        ]
    }

    fn stats(&self) -> Vec<(String, u64)> {
        vec![(
            "relay_forwarded".into(),
            self.forwarded.load(Ordering::Relaxed) as u64,
        )]
    }
}

#[test]
fn extensions_add_methods_and_counters() {
    let (rt, _rec, _addr) = start("");
    let t = rt.transport();
    let ext = Relay {
        forwarded: AtomicUsize::new(0),
    };
    let call_ext = |method: &str, params: Value| {
        let req = json!({ "jsonrpc": "2.0", "method": method, "params": params, "id": 1 });
        reply(
            &rpc::handle_with(&t, &ext, req.to_string().as_bytes()),
            json!(1),
        )
    };
    assert_eq!(call_ext("relay.bump", json!([5])).unwrap(), json!(5));
    let e = call_ext("relay.bump", json!(["x"])).unwrap_err();
    assert_eq!(e.0, rpc::INVALID_PARAMS);
    assert_eq!(
        call_ext("core.version", json!([])).unwrap()["name"],
        "sipwired"
    );
    // Built-ins still answer through the extension.
    assert_eq!(call_ext("core.tcp_info", json!([])).unwrap()["readers"], 2);
    let stats = call_ext("stats.get", json!([])).unwrap();
    assert_eq!(stats["relay_forwarded"], 5);
    assert!(stats.get("accepted").is_some());
    assert_eq!(
        call_ext("stats.get", json!(["relay_forwarded"])).unwrap(),
        json!({ "relay_forwarded": 5 })
    );
    let names = call_ext("system.listMethods", json!([])).unwrap();
    assert!(names.as_array().unwrap().contains(&json!("relay.bump")));
    let help = call_ext("system.methodHelp", json!(["relay.bump"])).unwrap();
    assert_eq!(help, "relay.bump: Adds to the forwarded counter.");
    // A panicking method is an internal error, and the next call works.
    let e = call_ext("relay.panic", json!([])).unwrap_err();
    assert_eq!(e.0, rpc::INTERNAL_ERROR);
    assert_eq!(call_ext("relay.bump", json!([1])).unwrap(), json!(6));
    // Without the extension its method does not exist.
    assert_eq!(err(&t, "relay.bump", json!([1])).0, rpc::METHOD_NOT_FOUND);
    rt.shutdown();
}

#[test]
fn error_response_helper_is_a_valid_reply() {
    let r = rpc::error_response(&RpcError::invalid_request("too big"));
    let e = reply(&r, Value::Null).unwrap_err();
    assert_eq!(e, (rpc::INVALID_REQUEST, "too big".into()));
}

#[test]
fn tcp_list_pages() {
    let (rt, _rec, addr) = start("");
    let t = rt.transport();
    let _clients = two_clients(&t, addr);
    let all = ok(&t, "core.tcp_list", json!([]));
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2);
    let first = ok(&t, "core.tcp_list", json!([0, 1]));
    assert_eq!(first.as_array().unwrap().len(), 1);
    assert_eq!(first[0]["id"], all[0]["id"]);
    let next = ok(&t, "core.tcp_list", json!([all[0]["id"], 1]));
    assert_eq!(next[0]["id"], all[1]["id"]);
    let end = ok(&t, "core.tcp_list", json!([all[1]["id"]]));
    assert_eq!(end, json!([]));
    for bad in [json!(0), json!(1001), json!("many")] {
        let e = err(&t, "core.tcp_list", json!([0, bad]));
        assert_eq!(e.0, rpc::INVALID_PARAMS);
        assert!(e.1.contains("must be 1..=1000"), "{}", e.1);
    }
    rt.shutdown();
}

#[test]
fn request_size_limits_are_checked_before_parsing() {
    let (rt, _rec, _addr) = start("");
    let t = rt.transport();
    let call = r#"{"jsonrpc":"2.0","method":"core.version","id":1}"#;
    let batch = |n: usize| format!("[{}]", vec![call; n].join(","));
    let v: Value = serde_json::from_slice(&raw(&t, &batch(rpc::MAX_BATCH))).unwrap();
    assert_eq!(v.as_array().unwrap().len(), rpc::MAX_BATCH);
    let e = reply(&raw(&t, &batch(rpc::MAX_BATCH + 1)), Value::Null).unwrap_err();
    assert_eq!(e.0, rpc::INVALID_REQUEST);
    assert_eq!(e.1, "batch of 101 calls; at most 100 calls per batch");
    // Commas and brackets inside strings are not calls.
    let text = format!(
        r#"[{{"jsonrpc":"2.0","method":"system.methodHelp","params":["{}"],"id":1}}]"#,
        "[,]".repeat(500)
    );
    let v: Value = serde_json::from_slice(&raw(&t, &text)).unwrap();
    assert_eq!(v[0]["error"]["code"], rpc::INVALID_PARAMS);
    // A small request cannot make a large tree of values.
    let params = vec![json!({}); rpc::MAX_VALUES];
    let req = json!({"jsonrpc":"2.0","method":"stats.get","params":params,"id":1});
    let e = reply(&raw(&t, &req.to_string()), Value::Null).unwrap_err();
    assert_eq!(e.0, rpc::INVALID_REQUEST);
    assert!(e.1.contains("more than 10000 JSON values"), "{}", e.1);
    rt.shutdown();
}
