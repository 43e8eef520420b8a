//! `sctp.info` and `sctp.options` over the JSON-RPC methods: Kamailio's fault without SCTP
//! (runs everywhere), and with an SCTP endpoint (needs kernel SCTP: `make sctp-test` runs
//! the ignored test in a guest).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use sipwire::Transport;
use sipwire_control as rpc;
use sipwire_testkit::prelude::start;

fn call(t: &Transport, method: &str, params: Value) -> Value {
    let req = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    serde_json::from_slice(&rpc::handle(t, req.to_string().as_bytes())).unwrap()
}

#[test]
fn without_an_sctp_endpoint_both_methods_say_sctp_is_disabled() {
    let (rt, _rec, _addr) = start("");
    let t = rt.transport();
    for m in ["sctp.info", "sctp.options"] {
        let r = call(&t, m, json!([]));
        assert_eq!(r["error"]["code"], 500, "{m}: {r}");
        assert_eq!(r["error"]["message"], "sctp support disabled", "{m}: {r}");
    }
    let list = call(&t, "system.listMethods", json!([]));
    let names = list["result"].as_array().unwrap();
    assert!(names.contains(&json!("sctp.info")) && names.contains(&json!("sctp.options")));
    rt.shutdown();
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn sctp_info_and_options_with_kamailio_field_names() {
    assert!(sipwire_sys::sctp::available(), "this kernel has no SCTP");
    let (rt, _rec, _addr) = start(
        "listen=sctp:127.0.0.1:0\nsctp_autoclose=90\nsctp_srto_initial=500\nsctp_srto_min=100\n\
         sctp_srto_max=1000\nsctp_hbinterval=-1\nsctp_send_ttl=5000",
    );
    let t = rt.transport();
    let info = call(&t, "sctp.info", json!([]))["result"].clone();
    for f in [
        "opened_connections",
        "tracked_connections",
        "total_connections",
    ] {
        assert_eq!(info[f], 0, "{f}: {info}");
    }
    let conf = call(&t, "sctp.options", json!([]))["result"].clone();
    assert_eq!(conf.as_object().unwrap().len(), 19, "{conf}");
    assert_eq!(conf["sctp_autoclose"], 90);
    assert_eq!(conf["sctp_send_ttl"], 5000);
    assert_eq!(conf["sctp_assoc_tracking"], 1);
    assert_eq!(conf["sctp_hbinterval"], -1);
    let kernel = call(&t, "sctp.options", json!(["first"]))["result"].clone();
    assert_eq!(kernel["sctp_autoclose"], 90, "{kernel}");
    assert_eq!(kernel["sctp_srto_initial"], 500);
    assert_eq!(kernel["sctp_srto_min"], 100);
    assert_eq!(kernel["sctp_srto_max"], 1000);
    assert_eq!(kernel["sctp_hbinterval"], -1);
    assert_eq!(
        kernel["sctp_send_ttl"], 0,
        "not a socket option: 0 as Kamailio"
    );
    // An association shows in tcp.list (not in Kamailio's core.tcp_list), after the TCP
    // connections, as type SCTP.
    let ep = t.sctp_endpoints()[0].local_addrs()[0];
    let peer = sipwire_sys::sctp::socket(false).unwrap();
    use std::os::fd::AsRawFd;
    sipwire_sys::sctp::bindx(peer.as_raw_fd(), &["127.0.0.1:0".parse().unwrap()]).unwrap();
    let req = sipwire_testkit::sip::options(1, "");
    sipwire_sys::sctp::send(peer.as_raw_fd(), &req, Some(ep), &Default::default()).unwrap();
    sipwire_testkit::wait_for("the association listed", sipwire_testkit::WAIT, || {
        call(&t, "tcp.list", json!([]))["result"]
            .as_array()
            .is_some_and(|l| l.iter().any(|c| c["type"] == "SCTP"))
    });
    let list = call(&t, "tcp.list", json!([]))["result"].clone();
    let e = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "SCTP")
        .unwrap()
        .clone();
    let me = sipwire_sys::sctp::local_addrs(peer.as_raw_fd()).unwrap()[0];
    assert_eq!(e["peer"], me.to_string(), "{e}");
    assert_eq!(e["local"], ep.to_string(), "{e}");
    let id = e["id"].clone();
    // The same row, but for the time since the last traffic, which moves.
    let without_idle = |mut v: Value| {
        v.as_object_mut().unwrap().remove("idle_ms");
        v
    };
    let one = call(&t, "tcp.info", json!([id]))["result"].clone();
    assert_eq!(without_idle(one), without_idle(e.clone()));
    let kamailio = call(&t, "core.tcp_list", json!([]))["result"].clone();
    assert!(
        kamailio
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["type"] == "TCP"),
        "{kamailio}"
    );
    let info = call(&t, "sctp.info", json!([]))["result"].clone();
    assert_eq!(info["opened_connections"], 1, "{info}");
    assert_eq!(info["tracked_connections"], 1, "{info}");
    assert_eq!(info["total_connections"], 1, "{info}");
    let bad = call(&t, "sctp.options", json!(["192.0.2.9:5060"]));
    assert_eq!(bad["error"]["code"], 500);
    // A runtime change shows in the configured values at once.
    let r = call(&t, "cfg.set_now_int", json!(["sctp", "autoclose", 30]));
    assert!(r.get("error").is_none(), "{r}");
    assert_eq!(
        call(&t, "sctp.options", json!([]))["result"]["sctp_autoclose"],
        30
    );
    rt.shutdown();
}
