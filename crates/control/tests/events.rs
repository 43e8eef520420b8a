//! The event subscription over a real control socket: `events.subscribe`, notifications of
//! what is published on the bus, filters, a stuck subscriber that loses events (and is told
//! how many) without holding up `publish` or the other subscribers, `events.unsubscribe`,
//! and the server's shutdown ending subscriptions. Every wait has a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sipwire_control::{self as rpc, CtlServer, EventBus, EVENT_QUEUE};
use sipwire_testkit::prelude::{start, Deadline, TempDir, WAIT};

/// A control server on a fresh socket with a bus of the test's own.
fn server(name: &str) -> (sipwire::Runtime, CtlServer, EventBus, TempDir, PathBuf) {
    let (rt, _rec, _addr) = start("");
    let dir = TempDir::new(name);
    let path = dir.join("ctl.sock");
    let bus = EventBus::new();
    let server = rpc::spawn_with_events(&path, rt.transport(), None, bus.clone()).unwrap();
    assert_eq!(server.events().subscribers(), 0);
    (rt, server, bus, dir, path)
}

/// A control connection: write requests, read lines, each read within `WAIT`.
struct Client {
    s: UnixStream,
    r: BufReader<UnixStream>,
}

impl Client {
    fn connect(path: &Path) -> Client {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let r = BufReader::new(s.try_clone().unwrap());
        Client { s, r }
    }

    fn send(&mut self, method: &str, params: Value, id: u64) {
        let req = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id});
        self.s.write_all(format!("{req}\n").as_bytes()).unwrap();
    }

    /// The next line as JSON; panics on EOF or after `WAIT`.
    fn line(&mut self) -> Value {
        let mut l = String::new();
        let n = self
            .r
            .read_line(&mut l)
            .expect("no line within the deadline");
        assert!(n > 0 && l.ends_with('\n'), "server closed: {l:?}");
        serde_json::from_str(&l).unwrap()
    }

    /// Calls a method and returns its response (no event may come in between).
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, 1);
        let v = self.line();
        assert_eq!(v["id"], 1, "expected the answer to {method}, got {v}");
        v
    }

    fn subscribe(&mut self, filter: Value) -> Value {
        let v = self.call("events.subscribe", filter);
        assert_eq!(v["result"]["subscribed"], true, "{v}");
        v["result"].clone()
    }

    /// True if the server closed the connection (EOF) before the deadline.
    fn closed(&mut self) -> bool {
        let mut l = String::new();
        matches!(self.r.read_line(&mut l), Ok(0))
    }
}

#[test]
fn subscribers_get_each_event_as_a_notification_line() {
    let (rt, server, bus, _dir, path) = server("ctl-events");
    let mut a = Client::connect(&path);
    let r = a.subscribe(json!([]));
    assert_eq!(
        r,
        json!({"filter": [], "queue": EVENT_QUEUE, "subscribed": true})
    );
    let mut b = Client::connect(&path);
    assert_eq!(
        b.subscribe(json!(["tcp:reset", "x:*"]))["filter"],
        json!(["tcp:reset", "x:*"])
    );
    assert_eq!(bus.subscribers(), 2);

    assert_eq!(
        bus.publish(
            "tcp:closed",
            json!({"conid": 7, "reason": "closed by peer"})
        ),
        1
    );
    assert_eq!(bus.publish("tcp:reset", json!({"conid": 8})), 2);
    assert_eq!(bus.publish("x:y", json!("anything")), 2);
    assert_eq!(
        a.line(),
        json!({"jsonrpc": "2.0", "method": "event",
               "params": {"conid": 7, "name": "tcp:closed", "reason": "closed by peer"}})
    );
    assert_eq!(a.line()["params"], json!({"conid": 8, "name": "tcp:reset"}));
    assert_eq!(
        a.line()["params"],
        json!({"data": "anything", "name": "x:y"})
    );
    // b's filter skipped tcp:closed.
    let first = b.line();
    assert_eq!(first["params"]["name"], "tcp:reset", "{first}");
    assert!(
        first.get("id").is_none(),
        "a notification has no id: {first}"
    );
    assert_eq!(b.line()["params"]["name"], "x:y");

    // Requests still work on a subscribed connection, and events keep coming after.
    assert!(a.call("core.version", json!([]))["result"]
        .as_str()
        .is_some_and(|v| v.starts_with("sipwire ")));
    // Subscribing again changes the filter.
    assert_eq!(a.subscribe(json!(["only"]))["filter"], json!(["only"]));
    bus.publish("tcp:closed", json!({}));
    bus.publish("only", json!({"n": 1}));
    assert_eq!(a.line()["params"], json!({"n": 1, "name": "only"}));

    // Outside a socket there is no connection to push on.
    let out = rpc::handle(
        &rt.transport(),
        br#"{"jsonrpc":"2.0","method":"events.subscribe","id":1}"#,
    );
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["error"]["code"], rpc::OPERATION_FAILED, "{v}");

    // Closing the server ends the subscriptions.
    server.shutdown();
    assert!(a.closed() && b.closed());
    assert_eq!(bus.subscribers(), 0);
    assert_eq!(bus.publish("tcp:closed", json!({})), 0);
    rt.shutdown();
}

#[test]
fn unsubscribe_stops_delivery_and_a_disconnect_ends_the_subscription() {
    let (rt, server, bus, _dir, path) = server("ctl-unsub");
    let mut c = Client::connect(&path);
    c.subscribe(json!([]));
    bus.publish("e", json!({"n": 1}));
    assert_eq!(c.line()["params"]["n"], 1);
    let v = c.call("events.unsubscribe", json!([]));
    assert_eq!(
        v["result"],
        json!({"delivered": 1, "discarded": 0, "dropped": 0, "subscribed": false})
    );
    assert_eq!(bus.subscribers(), 0);
    assert_eq!(bus.publish("e", json!({"n": 2})), 0);
    // The next line is the answer to the next request: no event came after the unsubscribe.
    assert!(c.call("core.version", json!([]))["result"]
        .as_str()
        .is_some_and(|v| v.starts_with("sipwire ")));
    // Unsubscribing again is harmless.
    let v = c.call("events.unsubscribe", json!([]));
    assert_eq!(v["result"], json!({"subscribed": false}));

    // A subscriber that just goes away is dropped from the bus.
    let mut gone = Client::connect(&path);
    gone.subscribe(json!([]));
    assert_eq!(bus.subscribers(), 1);
    drop(gone);
    let deadline = Deadline::after(WAIT);
    while bus.subscribers() > 0 {
        assert!(
            !deadline.passed(),
            "the subscription outlived its connection"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    server.shutdown();
    rt.shutdown();
}

#[test]
fn a_stuck_subscriber_loses_events_without_holding_up_publish_or_the_others() {
    let (rt, server, bus, _dir, path) = server("ctl-stuck");
    let mut stuck = Client::connect(&path);
    stuck.subscribe(json!([]));
    let mut other = Client::connect(&path);
    other.subscribe(json!(["marker"]));

    // Far more than the socket buffer and the queue hold, while `stuck` reads nothing.
    let pad = "x".repeat(1000);
    let n = 20 * EVENT_QUEUE;
    let mut slowest = Duration::ZERO;
    for i in 0..n {
        let t = Instant::now();
        bus.publish("flood", json!({"i": i, "pad": pad}));
        slowest = slowest.max(t.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "a publish waited {slowest:?} for a subscriber"
    );
    assert!(
        bus.dropped() > 0,
        "the stuck subscriber's queue never filled"
    );
    // The other subscriber is served at once meanwhile.
    bus.publish("marker", json!({"m": 1}));
    assert_eq!(other.line()["params"], json!({"m": 1, "name": "marker"}));

    // `stuck` reads again: the events that fit, then an events.dropped notification with the
    // count of the rest (told in place: once its queue is empty, nothing coming after).
    // Nothing is lost without being counted.
    let published = n as u64 + 1;
    let (mut events, mut dropped, mut notices) = (0u64, 0u64, 0);
    let mut last_i = -1i64;
    while events + dropped < published {
        let v = stuck.line();
        match v["method"].as_str().unwrap() {
            "events.dropped" => {
                let c = v["params"]["count"].as_u64().unwrap();
                assert!(c > 0, "{v}");
                dropped += c;
                notices += 1;
                assert_eq!(v["params"]["total"].as_u64().unwrap(), dropped, "{v}");
            }
            "event" if v["params"]["name"] == "marker" => events += 1,
            "event" => {
                let i = v["params"]["i"].as_i64().unwrap();
                assert!(i > last_i, "events out of order: {i} after {last_i}");
                last_i = i;
                events += 1;
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(
        events + dropped,
        published,
        "every event delivered or counted"
    );
    assert!(notices >= 1, "never told about the dropped events");
    // Its queue has room again: the next event comes through, and nothing else before it.
    bus.publish("flood", json!({"i": "last"}));
    assert_eq!(
        stuck.line()["params"],
        json!({"i": "last", "name": "flood"})
    );
    events += 1;
    assert_eq!(dropped, bus.dropped());
    // Its connection still works.
    assert!(stuck.call("core.version", json!([]))["result"]
        .as_str()
        .is_some_and(|v| v.starts_with("sipwire ")));
    let v = stuck.call("events.unsubscribe", json!([]));
    assert_eq!(v["result"]["delivered"].as_u64().unwrap(), events);
    assert_eq!(v["result"]["dropped"].as_u64().unwrap(), dropped);
    server.shutdown();
    rt.shutdown();
}
