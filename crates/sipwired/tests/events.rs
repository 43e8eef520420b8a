//! End to end: close events of the `sipwired` binary reach its control socket's subscribers
//! (`events.subscribe`) and its `stats.get` counters, and `modparam("tcpops",
//! "closed_event", 0)` silences them. `sipwire-ctl events.subscribe` (the library's
//! [`sipwire_ctl::main_with`], in-process) prints them. Every wait has a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::mpsc;

use serde_json::{json, Value};
use sipwire_testkit::prelude::*;

/// The daemon under test.
const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");

/// A subscriber: a control connection that called `events.subscribe`.
fn subscribe(path: &Path) -> Ctl {
    let mut c = Ctl::connect(path);
    assert_eq!(c.call("events.subscribe", json!([]))["subscribed"], true);
    c
}

/// Asserts that `ev` is the `tcp:closed` notification of connection `conid` from `client`
/// to `daemon`.
fn assert_closed_event(ev: &Value, conid: u64, client: SocketAddr, daemon: SocketAddr) {
    assert_eq!(ev["jsonrpc"], "2.0", "{ev}");
    assert_eq!(ev["method"], "event", "{ev}");
    assert!(ev.get("id").is_none(), "a notification: {ev}");
    let p = &ev["params"];
    assert_eq!(p["name"], "tcp:closed", "{ev}");
    assert_eq!(p["reason"], "closed by peer", "{ev}");
    assert_eq!(p["conid"], conid, "{ev}");
    assert_eq!(p["proto"], "tcp", "{ev}");
    assert_eq!(p["local"], daemon.to_string(), "{ev}");
    assert_eq!(p["remote"], client.to_string(), "{ev}");
    assert_eq!(p["source"], client.to_string(), "no PROXY header: {ev}");
    assert_eq!(p["unsent_msgs"], 0, "{ev}");
}

/// A `Write` that hands each line to a channel (for `sipwire-ctl` running on a thread).
struct Lines(mpsc::Sender<String>, Vec<u8>);

impl Lines {
    fn new(tx: mpsc::Sender<String>) -> Lines {
        Lines(tx, Vec::new())
    }
}

impl Write for Lines {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.1.extend_from_slice(b);
        while let Some(end) = self.1.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = self.1.drain(..=end).collect();
            let _ = self.0.send(String::from_utf8_lossy(&line).into_owned());
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_closed_connection_reaches_subscribers_and_the_counters() {
    let d = Daemon::start(SIPWIRED, &[]);
    let sock = d.ctl_socket();
    let mut sub = subscribe(&sock);
    let mut ctl = Ctl::connect(&sock);

    // sipwire-ctl watching too; it says on stderr once it is subscribed.
    let (out_tx, out_rx) = mpsc::channel();
    let (err_tx, err_rx) = mpsc::channel();
    let (code_tx, code_rx) = mpsc::channel();
    let argv: Vec<String> = [
        "-s",
        sock.to_str().unwrap(),
        "events.subscribe",
        "tcp:closed",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    std::thread::spawn(move || {
        let code = sipwire_ctl::main_with(argv, &mut Lines::new(out_tx), &mut Lines::new(err_tx));
        let _ = code_tx.send(code);
    });
    let said = err_rx
        .recv_timeout(WAIT)
        .expect("sipwire-ctl never subscribed");
    assert!(said.contains("subscribed to tcp:closed"), "{said}");

    let client = TcpStream::connect(d.addr).unwrap();
    let me = client.local_addr().unwrap();
    let conid = ctl.conid_of(client.local_addr().unwrap());
    assert_eq!(ctl.counter("relay.events_closed"), 0);
    drop(client);
    let ev = sub.line();
    assert_closed_event(&ev, conid, me, d.addr);

    let printed = out_rx
        .recv_timeout(WAIT)
        .expect("sipwire-ctl printed nothing");
    assert!(
        printed.starts_with(&format!("tcp:closed conid={conid} local={} ", d.addr))
            && printed.contains(&format!("remote={me} "))
            && printed.contains("reason=\"closed by peer\"")
            && printed.ends_with('\n'),
        "{printed:?}"
    );

    // Counted once, by its route; the runtime's own count agrees.
    assert_eq!(ctl.counter("relay.events_closed"), 1);
    assert_eq!(ctl.counter("relay.events_reset"), 0);
    assert_eq!(ctl.counter("relay.events_timeout"), 0);
    assert_eq!(ctl.counter("relay.events_other"), 0);
    assert_eq!(ctl.counter("events"), 1);

    // A close sipwired decided (tcp.close_connection) is tcp:other.
    let client = TcpStream::connect(d.addr).unwrap();
    let conid = ctl.conid_of(client.local_addr().unwrap());
    ctl.call("tcp.close_connection", json!([conid]));
    let ev = sub.line();
    assert_eq!(ev["params"]["name"], "tcp:other", "{ev}");
    assert_eq!(ev["params"]["reason"], "closed by the application", "{ev}");
    assert_eq!(ev["params"]["conid"], conid, "{ev}");
    assert_eq!(ctl.counter("relay.events_other"), 1);
    drop(client);

    // Stopping the daemon ends the subscriptions: sipwire-ctl says so and exits 2.
    let (status, counters) = d.stop();
    assert!(status.success(), "{status:?}");
    assert_eq!(counter(&counters, "events_closed"), 1);
    assert_eq!(counter(&counters, "events_other"), 1);
    assert_eq!(code_rx.recv_timeout(WAIT), Ok(2));
    let rest: String = err_rx.try_iter().collect();
    assert!(rest.contains("closed the subscription"), "{rest}");
    // Its filter (tcp:closed) left the tcp:other event out.
    let more: Vec<String> = out_rx.try_iter().collect();
    assert!(more.is_empty(), "{more:?}");
}

#[test]
fn closed_event_0_reports_nothing() {
    let dir = TempDir::new("sipwired-events");
    let cfg = dir.join("sipwired.cfg");
    std::fs::write(
        &cfg,
        "listen=tcp:127.0.0.1:0\nmodparam(\"tcpops\", \"closed_event\", 0)\n",
    )
    .unwrap();
    let d = Daemon::start(SIPWIRED, &["-f", cfg.to_str().unwrap()]);
    let sock = d.ctl_socket();
    let mut sub = subscribe(&sock);
    let mut ctl = Ctl::connect(&sock);
    assert_eq!(ctl.call("cfg.get", json!(["tcpops", "closed_event"])), 0);

    // First connection: closed while closed_event is 0.
    let first = TcpStream::connect(d.addr).unwrap();
    let first_id = ctl.conid_of(first.local_addr().unwrap());
    drop(first);
    ctl.wait_gone(first_id);
    // TCP main finishes a close (event or none) before it accepts again: once the second
    // connection is listed, the first close is wholly done, with closed_event still 0.
    let second = TcpStream::connect(d.addr).unwrap();
    let me = second.local_addr().unwrap();
    let second_id = ctl.conid_of(second.local_addr().unwrap());
    ctl.call("cfg.set_now_int", json!(["tcpops", "closed_event", 1]));
    drop(second);

    // The first event the subscriber gets is the second connection's: none for the first.
    let ev = sub.line();
    assert_closed_event(&ev, second_id, me, d.addr);
    assert_eq!(ctl.counter("relay.events_closed"), 1);
    assert_eq!(ctl.counter("events"), 1);
    // Both closes are closes all the same.
    assert_eq!(ctl.counter("closed"), 2);
    d.stop();
}
