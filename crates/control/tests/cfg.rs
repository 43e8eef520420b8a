//! The `cfg.*` methods against a running runtime: a change that takes effect (`no_connect`
//! stops the next connect), and the config layer's checks and reasons (read-only, out of
//! range, unknown), with `sipwire.cfg_list` / `sipwire.cfg_help` describing the options.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;

use serde_json::json;
use sipwire::SendError;
use sipwire_control as rpc;
use sipwire_testkit::prelude::start;

mod common;
use common::{err, ok};

#[test]
fn set_now_int_no_connect_stops_the_next_connect() {
    let (rt, _rec, _addr) = start("");
    let t = rt.transport();
    // A destination that would accept: only no_connect can refuse the send.
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let dst = peer.local_addr().unwrap();

    assert_eq!(ok(&t, "cfg.get", json!(["tcp", "no_connect"])), json!(0));
    // Kamailio's empty answer.
    let r = ok(&t, "cfg.set_now_int", json!(["tcp", "no_connect", 1]));
    assert_eq!(r, json!({}));
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
    assert_eq!(r, json!({}));
    assert_eq!(
        t.config().snapshot().tcp.connection_lifetime.as_secs(),
        3605
    );
    ok(&t, "cfg.set_now_string", json!(["tcp", "keepalive", "no"]));
    assert_eq!(ok(&t, "cfg.get", json!(["tcp", "keepalive"])), 0);
    // A number given to set_now_string is taken as its text.
    ok(
        &t,
        "cfg.set_now_string",
        json!(["tcp", "connection_lifetime", 90]),
    );
    assert_eq!(ok(&t, "cfg.get", json!(["tcp", "connection_lifetime"])), 90);
    ok(&t, "cfg.set_now_int", json!(["tcpops", "closed_event", 2]));
    assert_eq!(ok(&t, "cfg.get", json!(["tcpops", "closed_event"])), 2);

    // sipwire.cfg_list: everything, one group, a bad group, with what sipwire knows.
    let all = ok(&t, "sipwire.cfg_list", json!([]));
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), t.config().cfg_list().len());
    let lt = all
        .iter()
        .find(|e| e["group"] == "tcp" && e["name"] == "connection_lifetime")
        .unwrap();
    assert_eq!(lt["value"], 90);
    assert_eq!(lt["unit"], "s");
    assert_eq!(lt["runtime"], true);
    assert_eq!(lt["key"], "tcp_connection_lifetime");
    assert!(!lt["doc"].as_str().unwrap().is_empty());
    for g in ["tcp", "proto_tcp", "tcpops", "sctp"] {
        assert!(all.iter().any(|e| e["group"] == g), "group {g} missing");
    }
    let sctp = ok(&t, "sipwire.cfg_list", json!(["sctp"]));
    let sctp = sctp.as_array().unwrap();
    assert!(!sctp.is_empty() && sctp.iter().all(|e| e["group"] == "sctp"));
    let e = err(&t, "sipwire.cfg_list", json!(["nope"]));
    assert_eq!(e.0, rpc::INVALID_PARAMS);
    assert!(
        e.1.starts_with("unknown cfg group \"nope\" (groups: "),
        "{}",
        e.1
    );

    // sipwire.cfg_help: one row; the script spelling is an alias here too.
    let h = ok(&t, "sipwire.cfg_help", json!(["tcp", "async"]));
    assert_eq!(h["key"], "tcp_async");
    assert_eq!(h["runtime"], false);
    assert_eq!(
        ok(&t, "sipwire.cfg_help", json!(["tcp", "tcp_no_connect"])),
        ok(&t, "sipwire.cfg_help", json!(["tcp", "no_connect"]))
    );
    assert_eq!(
        err(&t, "sipwire.cfg_help", json!(["tcp", "tcp_nope"])).0,
        rpc::OPERATION_FAILED
    );
    // cfg.help takes it too.
    assert_eq!(
        ok(&t, "cfg.help", json!(["tcp", "tcp_no_connect"])),
        ok(&t, "cfg.help", json!(["tcp", "no_connect"]))
    );
    rt.shutdown();
}
