//! Kamailio 5.6's shapes, over a real runtime with real client connections: the exact field
//! names and order of `core.tcp_info`, `core.tcp_options` and `core.tcp_list` (with paging
//! and filter edges), the `cfg.*` answers, the `stats.*` formats, and the Kamailio fault
//! (code, text) of each class of error, through the transport-independent `call`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;

use serde_json::{json, Value};
use sipwire::config::{Config, ParseOptions};
use sipwire::Transport;
use sipwire_control::{self as rpc, RpcError};
use sipwire_testkit::prelude::{start, wait_for, Recorder, WAIT};

mod common;
use common::{err, keys, ok, two_clients};

/// A call through the transport-independent entry point; it must fail.
fn fault(t: &Transport, method: &str, params: Value) -> RpcError {
    let params = params.as_array().cloned().unwrap_or_default();
    match rpc::call(t, None, method, &params) {
        Ok(r) => panic!("{method} {params:?} should fail, got {r}"),
        Err(e) => e,
    }
}

/// Both Kamailio views of a failing call: (BINRPC, jsonrpcs).
fn kamailio(t: &Transport, method: &str, params: Value) -> ((i32, String), (i32, String)) {
    let e = fault(t, method, params);
    (e.kamailio(), e.kamailio_jsonrpcs())
}

fn is_i32(v: &Value) -> bool {
    v.as_i64().is_some_and(|n| i32::try_from(n).is_ok())
}

#[test]
fn tcp_info_has_kamailios_six_integer_fields_in_order() {
    let (rt, _rec, addr) = start("tcp_max_connections=2147483647");
    let t = rt.transport();
    let _c = two_clients(&t, addr);
    let info = ok(&t, "core.tcp_info", json!([]));
    assert_eq!(
        keys(&info),
        [
            "readers",
            "max_connections",
            "max_tls_connections",
            "opened_connections",
            "opened_tls_connections",
            "write_queued_bytes"
        ]
    );
    for (k, v) in info.as_object().unwrap() {
        assert!(is_i32(v), "{k}: {v} is not a 32-bit integer");
    }
    // The largest Kamailio's `d` holds (anything larger would be clamped to it).
    assert_eq!(info["max_connections"], i64::from(i32::MAX));
    // No TLS: Kamailio's default limit, no connection.
    assert_eq!(info["max_tls_connections"], 2048);
    assert_eq!(info["opened_tls_connections"], 0);
    assert_eq!(info["opened_connections"], 2);
    assert_eq!(info["readers"], 2);
    // The rest lives in sipwire.info.
    let own = ok(&t, "sipwire.info", json!([]));
    assert_eq!(own["max_connections"], i64::from(i32::MAX));
    assert_eq!(own["opened_connections"], 2);
    rt.shutdown();
}

/// `kamcmd core.tcp_options` of Kamailio 5.6.3 with its default TCP options (captured live),
/// which are sipwire's defaults too; sipwire differs only in `alias_flags` (Kamailio's 1,
/// FORCE_ADD, lets two connections hold an alias; in sipwire an alias moves to the connection
/// that takes it: REPLACE, 2).
const KAMAILIO_TCP_OPTIONS: [(&str, i64); 23] = [
    ("connect_timeout", 10),
    ("send_timeout", 10),
    ("connection_lifetime", 120),
    ("max_connections(soft)", 2048),
    ("max_tls_connections(soft)", 2048),
    ("no_connect", 0),
    ("fd_cache", 1),
    ("async", 1),
    ("connect_wait", 1),
    ("conn_wq_max", 32768),
    ("wq_max", 10485760),
    ("defer_accept", 0),
    ("delayed_ack", 1),
    ("syncnt", 0),
    ("linger2", 0),
    ("keepalive", 1),
    ("keepidle", 0),
    ("keepintvl", 0),
    ("keepcnt", 0),
    ("crlf_ping", 1),
    ("accept_aliases", 0),
    ("alias_flags", 2),
    ("new_conn_alias_flags", 2),
];

#[test]
fn tcp_options_are_kamailios_23_fields_in_order_and_units() {
    let (rt, _rec, _addr) = start("");
    let t = rt.transport();
    let opts = ok(&t, "core.tcp_options", json!([]));
    let got: Vec<(&str, i64)> = opts
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_i64().unwrap()))
        .collect();
    assert_eq!(got, KAMAILIO_TCP_OPTIONS);
    // Values follow the config and runtime changes, in seconds.
    ok(&t, "cfg.set_now_int", json!(["tcp", "keepidle", 30]));
    assert_eq!(ok(&t, "core.tcp_options", json!([]))["keepidle"], 30);
    ok(
        &t,
        "cfg.set_now_int",
        json!(["tcp", "connection_lifetime", 90]),
    );
    ok(&t, "cfg.set_now_int", json!(["tcp", "no_connect", 1]));
    let opts = ok(&t, "core.tcp_options", json!([]));
    assert_eq!(opts["connection_lifetime"], 90);
    assert_eq!(opts["no_connect"], 1);
    rt.shutdown();
}

#[test]
fn tcp_list_rows_are_kamailios_with_paging_and_filter() {
    let (rt, _rec, addr) = start("");
    let t = rt.transport();
    // No connection: an empty list (kamcmd then prints nothing).
    assert_eq!(ok(&t, "core.tcp_list", json!([])), json!([]));
    let (mut a, b) = two_clients(&t, addr);
    let list = ok(&t, "core.tcp_list", json!([]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    for row in list {
        assert_eq!(
            keys(row),
            [
                "id",
                "type",
                "state",
                "timeout",
                "lifetime",
                "ref_count",
                "src_ip",
                "src_port",
                "dst_ip",
                "dst_port"
            ]
        );
        assert!(row["id"].is_u64(), "{row}");
        assert_eq!(row["type"], "TCP");
        assert_eq!(row["state"], "CONN_ACCEPT", "nothing read yet: {row}");
        let timeout = row["timeout"].as_i64().unwrap();
        assert!((118..=120).contains(&timeout), "{row}");
        assert_eq!(row["lifetime"], 120);
        assert_eq!(row["ref_count"], 1);
        assert_eq!(row["src_ip"], "127.0.0.1");
        assert_eq!(row["dst_ip"], addr.ip().to_string());
        assert_eq!(row["dst_port"], addr.port());
        for k in ["timeout", "lifetime", "ref_count", "src_port", "dst_port"] {
            assert!(is_i32(&row[k]), "{k}: {row}");
        }
    }
    let a_port = a.local_addr().unwrap().port();
    let ra = list.iter().find(|r| r["src_port"] == a_port).unwrap();
    // Once a message was read the connection is CONN_OK.
    a.write_all(b"\r\n\r\n").unwrap();
    let id = ra["id"].as_u64().unwrap();
    wait_for("CONN_OK", WAIT, || {
        ok(&t, "core.tcp_list", json!([]))
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id && r["state"] == "CONN_OK")
    });
    // Our conid is 64-bit and generation-tagged: above i32, sent as an integer.
    assert!(id > u64::from(u32::MAX), "{id}");

    // Paging: offset past the end, limit 0, the maximum.
    assert_eq!(ok(&t, "core.tcp_list", json!([5])), json!([]));
    assert_eq!(ok(&t, "core.tcp_list", json!([u64::MAX])), json!([]));
    assert_eq!(ok(&t, "core.tcp_list", json!([0, 0])), json!([]));
    let page = ok(&t, "core.tcp_list", json!([1, 512]));
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["id"], list[1]["id"]);
    // Filter: an IP, a network, a network without them, none.
    for (filter, n) in [
        ("127.0.0.1", 2),
        ("127.0.0.0/8", 2),
        ("10.0.0.0/8", 0),
        ("::1", 0),
        ("*", 2),
        ("", 2),
    ] {
        let l = ok(&t, "core.tcp_list", json!([0, 512, filter]));
        assert_eq!(l.as_array().unwrap().len(), n, "{filter}: {l}");
        let l = ok(&t, "tcp.list", json!([0, 512, filter]));
        assert_eq!(l.as_array().unwrap().len(), n, "tcp.list {filter}: {l}");
    }
    assert_eq!(
        ok(&t, "core.tcp_list", json!([1, 1, "127.0.0.1"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for bad in ["nonsense", "10.0.0.0/40", "127.0.0.1:5060"] {
        let e = err(&t, "core.tcp_list", json!([0, 10, bad]));
        assert_eq!(e.0, rpc::INVALID_PARAMS, "{bad}");
        assert!(e.1.contains("param 3 (filter)"), "{}", e.1);
    }
    let (code, text) = fault(&t, "core.tcp_list", json!([0, 513])).kamailio();
    assert_eq!(code, 400);
    assert!(text.contains("must be 0..=512"), "{text}");
    drop(b);
    rt.shutdown();
}

#[test]
fn cfg_methods_answer_as_cfg_rpc() {
    let (rt, _rec, _addr) = start("");
    let t = rt.transport();
    // cfg.get: the bare value; a group: all of it, in Kamailio's order; an unknown group: {}.
    assert_eq!(
        ok(&t, "cfg.get", json!(["tcp", "connection_lifetime"])),
        120
    );
    assert_eq!(ok(&t, "cfg.get", json!(["tcp", "tcp_no_connect"])), 0);
    let group = ok(&t, "cfg.get", json!(["tcp"]));
    assert_eq!(
        keys(&group)[..4],
        [
            "connect_timeout",
            "send_timeout",
            "connection_lifetime",
            "max_connections"
        ]
    );
    assert_eq!(ok(&t, "cfg.get", json!(["nope"])), json!({}));
    // The sets answer Kamailio's empty reply; cfg.set takes an int or a string.
    for (m, v, now) in [
        ("cfg.set_now_int", json!(30), 30),
        ("cfg.seti", json!(31), 31),
        ("cfg.set", json!(32), 32),
        ("cfg.set", json!("33"), 33),
        ("cfg.set_now_string", json!("34"), 34),
        ("cfg.sets", json!("35"), 35),
    ] {
        let r = ok(&t, m, json!(["tcp", "connection_lifetime", v]));
        assert_eq!(r, json!({}), "{m}");
        assert_eq!(
            ok(&t, "cfg.get", json!(["tcp", "connection_lifetime"])),
            now,
            "{m}"
        );
    }
    ok(&t, "cfg.set", json!(["tcp", "keepalive", "no"]));
    assert_eq!(ok(&t, "cfg.get", json!(["tcp", "keepalive"])), 0);
    // cfg.list: "group: name" strings; the tcp group in Kamailio's order.
    let all = ok(&t, "cfg.list", json!([]));
    let all: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(all.len(), t.config().cfg_list().len());
    let tcp: Vec<&str> = all
        .iter()
        .copied()
        .filter(|l| l.starts_with("tcp: "))
        .collect();
    assert_eq!(
        tcp[..4],
        [
            "tcp: connect_timeout",
            "tcp: send_timeout",
            "tcp: connection_lifetime",
            "tcp: max_connections"
        ]
    );
    assert_eq!(*tcp.last().unwrap(), "tcp: wq_blk_size");
    let one = ok(&t, "cfg.list", json!(["tcpops"]));
    assert!(one
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l.as_str().unwrap().starts_with("tcpops: ")));
    assert_eq!(ok(&t, "cfg.list", json!(["nope"])), json!([]));
    // cfg.help: the description, then the type (5.6's text).
    let h = ok(&t, "cfg.help", json!(["tcp", "no_connect"]));
    let h = h.as_str().unwrap();
    assert!(h.ends_with("\n(parameter type is integer)"), "{h:?}");
    assert_eq!(h.lines().count(), 2, "{h:?}");
    let h = ok(&t, "cfg.help", json!(["tcpops", "event_callback"]));
    assert!(
        h.as_str()
            .unwrap()
            .ends_with("\n(parameter type is string)"),
        "{h}"
    );
    // cfg.diff: nothing is ever pending.
    assert_eq!(ok(&t, "cfg.diff", json!([])), json!({}));
    rt.shutdown();
}

#[test]
fn stats_formats_are_kex_ones() {
    let (rt, _rec, addr) = start("");
    let t = rt.transport();
    let _c = two_clients(&t, addr);
    wait_for("accepted counted", WAIT, || t.stats().accepted == 2);
    // An outbound connect that succeeds.
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    t.send(peer.local_addr().unwrap(), b"OPTIONS sip:x SIP/2.0\r\n\r\n")
        .unwrap();
    let _accepted = peer.accept().unwrap();
    wait_for("connect_success", WAIT, || {
        ok(&t, "stats.fetchn", json!(["tcp:connect_success"]))["tcp.connect_success"] == 1
    });

    let tcp = ok(&t, "stats.get_statistics", json!(["tcp:"]));
    let tcp: Vec<&str> = tcp
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let names: Vec<&str> = tcp.iter().map(|l| l.split(" = ").next().unwrap()).collect();
    assert_eq!(
        names,
        [
            "tcp:con_reset",
            "tcp:con_timeout",
            "tcp:connect_failed",
            "tcp:connect_success",
            "tcp:current_opened_connections",
            "tcp:current_write_queue_size",
            "tcp:established",
            "tcp:local_reject",
            "tcp:passive_open",
            "tcp:send_timeout",
            "tcp:sendq_full"
        ]
    );
    assert!(tcp.contains(&"tcp:passive_open = 2"), "{tcp:?}");
    assert!(
        tcp.contains(&"tcp:current_opened_connections = 3"),
        "{tcp:?}"
    );
    assert!(tcp.contains(&"tcp:established = 3"), "{tcp:?}");
    // A bare name, a qualified one, several, an unknown one (nothing), all.
    assert_eq!(
        ok(&t, "stats.get_statistics", json!(["passive_open"])),
        json!(["tcp:passive_open = 2"])
    );
    assert_eq!(
        ok(
            &t,
            "stats.get_statistics",
            json!(["tcp:passive_open", "sipwire:accepted"])
        ),
        json!(["tcp:passive_open = 2", "sipwire:accepted = 2"])
    );
    assert_eq!(ok(&t, "stats.get_statistics", json!(["bogus"])), json!([]));
    let all = ok(&t, "stats.get_statistics", json!(["all"]));
    let all = all.as_array().unwrap();
    let groups: Vec<&str> = all
        .iter()
        .map(|l| l.as_str().unwrap().split(':').next().unwrap())
        .collect();
    let mut sorted = groups.clone();
    sorted.sort();
    assert_eq!(groups, sorted, "groups sorted as Kamailio's");
    assert!(all.len() >= 11 + t.stats().fields().len());
    // fetch: strings; fetchn: numbers; keys "group.name".
    let f = ok(
        &t,
        "stats.fetch",
        json!(["tcp.passive_open", "current_opened_connections"]),
    );
    assert_eq!(
        f,
        json!({ "tcp.passive_open": "2", "tcp.current_opened_connections": "3" })
    );
    let n = ok(&t, "stats.fetchn", json!(["tcp:"]));
    assert_eq!(keys(&n).len(), 11);
    assert_eq!(n["tcp.passive_open"], 2);
    assert_eq!(ok(&t, "stats.fetch", json!(["nope:"])), json!({}));
    rt.shutdown();
}

#[test]
fn faults_have_kamailios_codes_and_texts() {
    let (rt, _rec, _addr) = start("");
    let t = rt.transport();
    let k = |code: i32, text: &str| (code, text.to_string());

    // Unknown method: kamcmd's and jsonrpcs' words; JSON-RPC keeps -32601.
    let e = fault(&t, "core.nothing", json!([]));
    assert_eq!(e.code, rpc::METHOD_NOT_FOUND);
    assert_eq!(e.kamailio(), k(500, "command core.nothing not found"));
    assert_eq!(e.kamailio_jsonrpcs(), k(500, "Method Not Found"));

    // cfg set failures: unknown, out of range, read-only, the script spelling's typo.
    for params in [
        json!(["tcp", "no_such_thing", 1]),
        json!(["tcp", "no_connect", 5]),
        json!(["tcp", "async", 0]),
        json!(["nogroup", "x", 1]),
    ] {
        for m in ["cfg.set_now_int", "cfg.seti", "cfg.set"] {
            let e = fault(&t, m, params.clone());
            assert_eq!(e.code, rpc::OPERATION_FAILED, "{m} {params}");
            assert_eq!(
                e.kamailio(),
                k(400, "Failed to set the variable"),
                "{m} {params}"
            );
            assert_eq!(e.kamailio_jsonrpcs(), k(400, "Failed to set the variable"));
        }
    }
    let (bin, js) = kamailio(
        &t,
        "cfg.set_now_string",
        json!(["tcp", "keepalive", "maybe"]),
    );
    assert_eq!((bin, js.0), (k(400, "Failed to set the variable"), 400));

    // Params: missing, wrong type (Kamailio's scan counts them from 0).
    let (bin, js) = kamailio(&t, "cfg.set_now_int", json!(["tcp", "no_connect"]));
    assert_eq!(
        bin,
        k(
            400,
            "error at parameter 2: expected integer type but end of packet encountered"
        )
    );
    assert_eq!(js, k(400, "Invalid Parameters"));
    let (bin, _) = kamailio(&t, "cfg.set_now_int", json!(["tcp", "no_connect", "maybe"]));
    assert_eq!(
        bin,
        k(
            400,
            "error at parameter 2: expected integer type but record doesn't match type"
        )
    );
    let (bin, _) = kamailio(&t, "cfg.help", json!(["tcp"]));
    assert_eq!(
        bin,
        k(
            400,
            "error at parameter 1: expected string type but end of packet encountered"
        )
    );
    let (bin, _) = kamailio(&t, "tcp.conid_state", json!([[1]]));
    assert_eq!(
        bin,
        k(
            400,
            "error at parameter 0: expected integer type but record doesn't match type"
        )
    );
    // Extra params (Kamailio ignores them; we refuse): 400 with our text.
    let (bin, js) = kamailio(&t, "core.tcp_info", json!([1]));
    assert_eq!(bin, k(400, "core.tcp_info takes no params, got 1"));
    assert_eq!(js, bin);

    // The methods' own faults.
    assert_eq!(
        kamailio(&t, "cfg.get", json!([])).0,
        k(500, "Failed to get the parameters")
    );
    assert_eq!(
        kamailio(&t, "cfg.get", json!(["tcp", "nope"])).0,
        k(400, "Failed to get the variable")
    );
    assert_eq!(
        kamailio(&t, "cfg.help", json!(["tcp", "nope"])).0,
        k(400, "Failed to get the variable description")
    );
    for m in ["stats.get_statistics", "stats.fetch", "stats.fetchn"] {
        let (bin, js) = kamailio(&t, m, json!([]));
        assert_eq!(bin, k(400, "Please provide which stats to retrieve"), "{m}");
        assert_eq!(js, bin);
    }
    assert_eq!(
        kamailio(&t, "system.methodHelp", json!(["x.y"])).0,
        k(400, "command not found")
    );
    assert_eq!(
        kamailio(&t, "system.methodHelp", json!([])).0,
        k(400, "Method Name Expected")
    );
    assert_eq!(
        kamailio(&t, "sctp.info", json!([])).0,
        k(500, "sctp support disabled")
    );
    // Other failures: 500 with our reason.
    assert_eq!(
        kamailio(&t, "tcp.close_connection", json!([987_654_321_u64])).0,
        k(500, "no open connection with id 987654321")
    );
    assert_eq!(
        kamailio(&t, "events.subscribe", json!([])).0 .0,
        500,
        "no control connection to push on"
    );
    // The JSON-RPC socket's codes are unchanged.
    assert_eq!(
        err(&t, "cfg.set_now_int", json!(["tcp", "async", 0])).0,
        rpc::OPERATION_FAILED
    );
    assert_eq!(err(&t, "cfg.help", json!(["tcp"])).0, rpc::INVALID_PARAMS);
    rt.shutdown();
}

#[test]
fn without_tcp_the_core_tcp_methods_fault_as_kamailio() {
    let (cfg, _) = Config::from_str_with(
        "t.cfg",
        "disable_tcp=yes\nlisten=tcp:127.0.0.1:0\ntcp_children=2",
        ParseOptions::default(),
    )
    .unwrap();
    let rt = sipwire::Runtime::start(cfg, Arc::new(Recorder::default())).unwrap();
    let t = rt.transport();
    for m in ["core.tcp_info", "core.tcp_options", "core.tcp_list"] {
        let e = fault(&t, m, json!([]));
        assert_eq!(e.code, 500, "{m}");
        assert_eq!(
            e.kamailio(),
            (500, "tcp support disabled".to_string()),
            "{m}"
        );
    }
    // sipwire's own summary still answers: nothing listens.
    assert_eq!(ok(&t, "sipwire.info", json!([]))["listen"], json!([]));
    assert_eq!(ok(&t, "tcp.list", json!([])), json!([]));
    rt.shutdown();
}

#[test]
fn call_is_what_the_json_rpc_envelope_runs() {
    let (rt, _rec, _addr) = start("");
    let t = rt.transport();
    for (m, p) in [
        ("core.tcp_info", json!([])),
        ("cfg.get", json!(["tcp", "async"])),
        ("cfg.list", json!(["tcpops"])),
        ("system.listMethods", json!([])),
    ] {
        let direct = rpc::call(&t, None, m, p.as_array().unwrap()).unwrap();
        assert_eq!(direct, ok(&t, m, p), "{m}");
    }
    rt.shutdown();
}
