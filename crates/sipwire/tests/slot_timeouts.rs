//! Every slot is timed out: `tcp_msg_read_timeout` (a started message must complete),
//! `tcp_msg_data_timeout` (an accepted connection must send a message) and
//! `tcp_accept_iplimit`, each at its edge through the option itself, over loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use sipwire::{CloseReason, ConId};
use sipwire_sys as sys;
use sipwire_testkit::prelude::*;

/// Timer tick plus scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(1500);

/// The conid of the connection whose first message carried `call_id` marker `n`.
fn conid_of(rec: &Recorder, n: usize) -> ConId {
    let tag = format!("Call-ID: c{n}@test");
    rec.msgs
        .lock()
        .iter()
        .find(|g| String::from_utf8_lossy(&g.bytes).contains(&tag))
        .map(|g| g.conid)
        .expect("message recorded")
}

/// Waits for the close event of `id`; returns its reason.
fn close_reason_of(rec: &Recorder, id: ConId) -> CloseReason {
    let mut r = None;
    wait_for("the close event", WAIT, || {
        r = rec
            .events
            .lock()
            .iter()
            .find(|e| e.conid == id)
            .map(|e| e.reason);
        r.is_some()
    });
    r.unwrap()
}

/// A request split in two: its first bytes, and the rest.
fn halves(n: usize) -> (Vec<u8>, Vec<u8>) {
    let m = options(n, "body");
    let (a, b) = m.split_at(40);
    (a.to_vec(), b.to_vec())
}

#[test]
fn msg_read_timeout_closes_an_unfinished_message_and_spares_one_finished_in_time() {
    let (rt, rec, addr) = start("tcp_msg_read_timeout=1\ntcp_msg_data_timeout=0");
    let t = rt.transport();
    // Each connection first sends a whole message (so its conid is known), then starts
    // another: `slow` never finishes it, `in_time` finishes it halfway through the timeout.
    let mut slow = connect(addr);
    let mut in_time = connect(addr);
    send(&mut slow, &options(1, ""));
    send(&mut in_time, &options(2, ""));
    rec.wait_msgs(2);
    let (slow_id, in_time_id) = (conid_of(&rec, 1), conid_of(&rec, 2));
    let (a3, _) = halves(3);
    let (a4, b4) = halves(4);
    let started = Instant::now();
    send(&mut slow, &a3);
    send(&mut in_time, &a4);
    std::thread::sleep(Duration::from_millis(500)); // the client is slow on purpose
    send(&mut in_time, &b4);
    rec.wait_msgs(3);
    assert_eq!(close_reason_of(&rec, slow_id), CloseReason::MsgReadTimeout);
    let took = started.elapsed();
    assert!(wait_closed(&mut slow));
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(1) + SLACK,
        "closed after {took:?}, tcp_msg_read_timeout is 1 s"
    );
    assert_eq!(t.stats().msg_read_timeouts, 1);
    // The one that finished in time is past its deadline and still served.
    wait_for("past in_time's deadline", WAIT, || {
        started.elapsed() > Duration::from_millis(1200)
    });
    send(&mut in_time, &options(5, ""));
    rec.wait_msgs(4);
    assert!(rec.events.lock().iter().all(|e| e.conid != in_time_id));
}

#[test]
fn msg_read_timeout_covers_a_started_body() {
    let (rt, rec, addr) = start("tcp_msg_read_timeout=1\ntcp_msg_data_timeout=0");
    let mut s = connect(addr);
    send(&mut s, &options(1, ""));
    rec.wait_msgs(1);
    let id = conid_of(&rec, 1);
    // Headers complete, body of 100 bytes started with 10.
    let m = options(2, &"b".repeat(100));
    send(&mut s, m.get(..m.len() - 90).unwrap());
    assert_eq!(close_reason_of(&rec, id), CloseReason::MsgReadTimeout);
    assert_eq!(rt.transport().stats().msg_read_timeouts, 1);
}

#[test]
fn msg_read_timeout_changes_at_runtime() {
    let (rt, rec, addr) = start("tcp_msg_read_timeout=20\ntcp_msg_data_timeout=0");
    let t = rt.transport();
    // `cfg.set_now_int core tcp_msg_read_timeout 1`; connections opened after
    // the change are checked at the new period.
    t.config()
        .set_now_int("core", "tcp_msg_read_timeout", 1)
        .unwrap();
    let mut s = connect(addr);
    send(&mut s, &options(1, ""));
    rec.wait_msgs(1);
    let id = conid_of(&rec, 1);
    let started = Instant::now();
    send(&mut s, &halves(2).0);
    assert_eq!(close_reason_of(&rec, id), CloseReason::MsgReadTimeout);
    assert!(started.elapsed() < Duration::from_secs(1) + SLACK);
}

#[test]
fn msg_data_timeout_closes_a_silent_connection_and_keepalives_do_not_count() {
    let (rt, rec, addr) = start("tcp_msg_data_timeout=1\ntcp_msg_read_timeout=0");
    let t = rt.transport();
    let started = Instant::now();
    let mut pinger = connect(addr);
    let mut in_time = connect(addr);
    wait_for("two connections", WAIT, || t.connection_count() == 2);
    // CRLF pings and lone CRLFs are traffic, not messages.
    send(&mut pinger, b"\r\n\r\n");
    send(&mut pinger, b"\r\n");
    std::thread::sleep(Duration::from_millis(500)); // the client is slow on purpose
    send(&mut pinger, b"\r\n\r\n");
    send(&mut in_time, &options(1, ""));
    rec.wait_msgs(1);
    let in_time_id = conid_of(&rec, 1);
    let ev = rec.wait_events(1);
    assert_eq!(ev[0].reason, CloseReason::MsgDataTimeout);
    assert_ne!(ev[0].conid, in_time_id);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(1) + SLACK,
        "closed after {took:?}, tcp_msg_data_timeout is 1 s"
    );
    assert!(wait_closed(&mut pinger));
    assert_eq!(t.stats().msg_data_timeouts, 1);
    // The one that sent a message in time stays.
    send(&mut in_time, &options(2, ""));
    rec.wait_msgs(2);
    assert_eq!(t.connection_count(), 1);
}

#[test]
fn msg_data_timeout_is_for_accepted_connections_only() {
    let (rt, rec, _) = start("tcp_msg_data_timeout=1");
    let t = rt.transport();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let pa = l.local_addr().unwrap();
    let id = t.send(pa, &options(1, "")).unwrap();
    let (_peer, _) = l.accept().unwrap();
    // An accepted silent connection is closed; the outbound one (silent too) is not.
    let mut silent = connect(rt.transport().listen_addrs()[0]);
    assert!(wait_closed(&mut silent));
    let ev = rec.wait_events(1);
    assert_eq!(ev[0].reason, CloseReason::MsgDataTimeout);
    assert_ne!(ev[0].conid, id);
    assert_eq!(t.connection_count(), 1);
}

fn connect_from(ip: &str, to: SocketAddr) -> TcpStream {
    let src: SocketAddr = format!("{ip}:0").parse().unwrap();
    let s = sys::connect_from(Some(src), to, true).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

#[test]
fn accept_iplimit_refuses_one_more_from_the_same_ip_only() {
    let (rt, rec, addr) = start("tcp_accept_iplimit=2");
    let t = rt.transport();
    let mut a = connect_from("127.0.0.1", addr);
    let mut b = connect_from("127.0.0.1", addr);
    wait_for("two connections", WAIT, || t.connection_count() == 2);
    let mut c = connect_from("127.0.0.1", addr);
    assert!(wait_closed(&mut c), "the third from 127.0.0.1 is refused");
    assert_eq!(t.stats().refused_iplimit, 1);
    // Another IP has its own count.
    let mut other = connect_from("127.0.0.2", addr);
    send(&mut other, &options(1, ""));
    send(&mut a, &options(2, ""));
    send(&mut b, &options(3, ""));
    rec.wait_msgs(3);
    assert!(rec.events.lock().is_empty(), "a refusal is no close event");
    // Below the limit again, 127.0.0.1 may connect.
    drop(a);
    wait_for("a's close", WAIT, || t.connection_count() == 2);
    let mut d = connect_from("127.0.0.1", addr);
    send(&mut d, &options(4, ""));
    rec.wait_msgs(4);
    assert_eq!(t.stats().refused_iplimit, 1);
    // Changed at runtime: 0 is no limit.
    t.config()
        .set_now_int("core", "tcp_accept_iplimit", 0)
        .unwrap();
    let mut e = connect_from("127.0.0.1", addr);
    send(&mut e, &options(5, ""));
    rec.wait_msgs(5);
}
