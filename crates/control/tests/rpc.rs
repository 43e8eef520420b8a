//! The JSON-RPC control methods (`sipwire_control`) against a running runtime with real client
//! connections: the methods, the protocol's error codes, batches, notifications, extensions
//! (`cfg.rs` has the cfg changes, `kamailio_shapes.rs` Kamailio's exact shapes and faults).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};
use sipwire::ConId;
use sipwire_control::{self as rpc, RpcError, RpcExtension};
use sipwire_testkit::prelude::{start, wait_for, WAIT};

mod common;
use common::{conid_of, err, ok, raw, reply, row_of, two_clients};

#[test]
fn core_methods_describe_the_running_runtime() {
    let (rt, _rec, addr) = start("tcp_max_connections=100");
    let t = rt.transport();
    let _clients = two_clients(&t, addr);

    // Kamailio's "kamailio 5.6.3 (x86_64/linux)".
    let v = ok(&t, "core.version", json!([]));
    assert_eq!(
        v,
        format!(
            "sipwire {} ({}/{})",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
            std::env::consts::OS
        )
    );

    let up = ok(&t, "core.uptime", json!([]));
    assert!(up["uptime"].as_i64().unwrap() < 600, "{up}");
    for f in ["now", "up_since"] {
        // ctime(): "Thu Aug 20 08:03:50 2026"
        let s = up[f].as_str().unwrap();
        assert_eq!(s.len(), 24, "{f}: {s:?}");
        assert_eq!(&s[3..4], " ", "{s:?}");
        assert_eq!(&s[13..14], ":", "{s:?}");
    }

    let info = ok(&t, "core.tcp_info", json!([]));
    assert_eq!(info["readers"], 2);
    assert_eq!(info["max_connections"], 100);
    assert_eq!(info["opened_connections"], 2);
    assert_eq!(info["write_queued_bytes"], 0);
    // What core.tcp_info had besides Kamailio's fields.
    let own = ok(&t, "sipwire.info", json!([]));
    assert_eq!(own["wq_max"], 10 * 1024 * 1024);
    assert_eq!(own["listen"], json!([format!("tcp:{addr}")]));
    assert_eq!(own["opened_connections"], 2);
    assert_eq!(own["version"], env!("CARGO_PKG_VERSION"));

    let opts = ok(&t, "core.tcp_options", json!([]));
    assert_eq!(opts["max_connections(soft)"], 100);
    assert_eq!(opts["connection_lifetime"], 120);
    assert_eq!(opts["no_connect"], 0);
    assert_eq!(opts["async"], 1);
    assert_eq!(ok(&t, "cfg.get", json!(["core", "tcp_children"])), 2);
    // The whole tcp group is in cfg.get tcp.
    let tcp_group = ok(&t, "cfg.get", json!(["tcp"]));
    assert_eq!(tcp_group["max_connections"], 100);
    assert!(tcp_group["wait_data_ms"].is_u64(), "{tcp_group}");
    let n = t
        .config()
        .cfg_list()
        .into_iter()
        .filter(|e| e.group == "tcp")
        .count();
    assert_eq!(tcp_group.as_object().unwrap().len(), n);

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
    // Sorted by name, as Kamailio lists them.
    assert_eq!(names, rpc::builtin_methods());
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    // methodHelp: the help string; methodSignature: the params.
    let help = ok(&t, "system.methodHelp", json!(["cfg.set_now_int"]));
    assert!(
        help.as_str().unwrap().starts_with("Set an integer"),
        "{help}"
    );
    assert_eq!(
        ok(&t, "system.methodSignature", json!(["cfg.set_now_int"])),
        "cfg.set_now_int <group> <name> <value>"
    );
    assert_eq!(
        ok(&t, "system.methodSignature", json!(["core.tcp_list"])),
        "core.tcp_list [offset] [limit] [filter]"
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

    // sipwire's own list: everything it knows of each connection.
    let list = ok(&t, "tcp.list", json!([]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    for c in list {
        assert_eq!(c["type"], "TCP");
        // Nothing sent yet: accepted, not read from (Kamailio's S_CONN_ACCEPT).
        assert_eq!(c["state"], 2);
        assert_eq!(c["state_name"], "accepting");
        assert_eq!(c["local"], addr.to_string());
        assert_eq!(c["destination"], addr.to_string());
        assert_eq!(c["source"], c["peer"], "no PROXY header: {c}");
        assert_eq!(c["proxy"], false);
        assert_eq!(c["outbound"], false);
        assert_eq!(c["keepalive"], true, "tcp_keepalive defaults to on: {c}");
        assert_eq!(c["lifetime_s"], 120);
        assert_eq!(c["lifetime_override_s"], Value::Null);
        assert!(c["idle_ms"].as_u64().is_some(), "{c}");
        assert!(c["timeout_s"].as_i64().unwrap() <= 120, "{c}");
        assert_eq!(c["queued_bytes"], 0);
    }
    let ida = conid_of(&t, &a);
    let idb = conid_of(&t, &b);
    assert_ne!(ida, idb);
    let a_local = a.local_addr().unwrap();
    let entry_a = list.iter().find(|c| c["id"] == ida).unwrap();
    assert_eq!(entry_a["peer"], a_local.to_string());
    // tcp.info: the same row for one conid.
    let one = ok(&t, "tcp.info", json!([ida]));
    assert_eq!(one["peer"], entry_a["peer"]);
    assert_eq!(one["id"], ida);
    let e = err(&t, "tcp.info", json!([987_654_321_u64]));
    assert_eq!(
        e,
        (
            rpc::OPERATION_FAILED,
            "no open connection with id 987654321".into()
        )
    );

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

    // Lifetime override, visible in both lists and conn_info.
    let l = ok(&t, "tcp.set_connection_lifetime", json!([ida, 600]));
    assert_eq!(l, json!({ "conid": ida, "lifetime_s": 600 }));
    assert_eq!(
        t.conn_info(ConId(ida)).unwrap().lifetime_override,
        Some(std::time::Duration::from_secs(600))
    );
    let entry_a = row_of(&t, &a);
    assert_eq!(entry_a["lifetime_override_s"], 600);
    assert_eq!(entry_a["lifetime_s"], 600);
    let list = ok(&t, "core.tcp_list", json!([]));
    let kam = list.as_array().unwrap().iter().find(|c| c["id"] == ida);
    assert_eq!(kam.unwrap()["lifetime"], 600);

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
    let e = err(&t, "cfg.help", json!(["tcp"]));
    assert_eq!(
        e,
        (
            rpc::INVALID_PARAMS,
            "cfg.help takes 2 params (<group> <name>), got 1".into()
        )
    );
    let e = err(&t, "cfg.get", json!([]));
    assert_eq!(
        e,
        (
            rpc::INVALID_PARAMS,
            "cfg.get takes 1 to 2 params (<group> [name]), got 0".into()
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
    assert!(reply(&r, json!("v"))
        .unwrap()
        .as_str()
        .unwrap()
        .starts_with("sipwire "));
    // And after all that, it still answers.
    assert!(ok(&t, "core.version", json!([]))
        .as_str()
        .unwrap()
        .starts_with("sipwire "));
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
    assert!(out[0]["result"].as_str().unwrap().starts_with("sipwire "));
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
    assert_eq!(help, "Adds to the forwarded counter.");
    let sig = call_ext("system.methodSignature", json!(["relay.bump"])).unwrap();
    assert_eq!(sig, "relay.bump");
    // The embedder's dotted counters are a group of their own in Kamailio's stats.
    let fetched = call_ext("stats.fetchn", json!(["sipwire.relay_forwarded"])).unwrap();
    assert_eq!(fetched, json!({ "sipwire.relay_forwarded": 5 }));
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
    for m in ["core.tcp_list", "tcp.list"] {
        let all = ok(&t, m, json!([]));
        let all = all.as_array().unwrap();
        assert_eq!(all.len(), 2);
        assert!(all[0]["id"].as_u64() < all[1]["id"].as_u64(), "id order");
        let first = ok(&t, m, json!([0, 1]));
        assert_eq!(first.as_array().unwrap().len(), 1);
        assert_eq!(first[0]["id"], all[0]["id"]);
        let next = ok(&t, m, json!([1, 1]));
        assert_eq!(next[0]["id"], all[1]["id"]);
        assert_eq!(ok(&t, m, json!([2])), json!([]));
        assert_eq!(ok(&t, m, json!([0, 0])), json!([]));
        assert_eq!(ok(&t, m, json!([0, 512])).as_array().unwrap().len(), 2);
        for bad in [json!(513), json!(-1), json!("many")] {
            let e = err(&t, m, json!([0, bad]));
            assert_eq!(e.0, rpc::INVALID_PARAMS);
        }
        let e = err(&t, m, json!([0, 513]));
        assert!(e.1.contains("must be 0..=512"), "{}", e.1);
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
