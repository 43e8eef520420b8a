//! The send path never blocks a reader: connects in async mode are finished by TCP main while
//! the message waits in the connection's queue, failures reach the close event, and
//! `tcp_max_connections` counts outbound connections too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sipwire::{CloseReason, ConId, SendError};
use sipwire_sys as sys;
use sipwire_testkit::prelude::*;

/// A listener whose accept queue is full, so connects to it hang (SYNs are dropped). With
/// `probe`, checks that a connect really does not complete here.
fn blackhole(probe: bool) -> (TcpListener, Vec<TcpStream>, SocketAddr) {
    let opts = sys::ListenOptions {
        backlog: 1,
        ..Default::default()
    };
    let l = sys::listen_tcp("127.0.0.1:0".parse().unwrap(), opts).unwrap();
    let a = l.local_addr().unwrap();
    let fill: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect_timeout(&a, Duration::from_secs(2)).unwrap())
        .collect();
    if probe {
        let r = TcpStream::connect_timeout(&a, Duration::from_millis(300));
        assert!(
            r.is_err(),
            "connects still complete: no hanging connect here"
        );
    }
    (l, fill, a)
}

/// The Call-ID number of a test message (`c<n>@test`).
fn number(bytes: &[u8]) -> usize {
    let text = String::from_utf8_lossy(bytes);
    let n = text.split("Call-ID: c").nth(1).unwrap().split('@').next();
    n.unwrap().parse().unwrap()
}

fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[test]
fn sends_to_hanging_destinations_do_not_stall_a_bystander_on_the_same_reader() {
    const HANGS: usize = 30;
    let holes: Vec<_> = (0..HANGS).map(|i| blackhole(i == 0)).collect();
    let dsts: Vec<SocketAddr> = holes.iter().map(|h| h.2).collect();
    let (rt, rec, addr) = start("tcp_children=1\ntcp_connect_timeout=1");
    let t = rt.transport();
    let sent: Arc<Mutex<Vec<(ConId, Duration)>>> = Arc::default();
    let sent2 = sent.clone();
    *rec.on_msg.lock() = Some(Box::new(move |ctx, got| {
        if got.bytes.ends_with(b"hang") {
            let dst = dsts[number(&got.bytes)];
            let t0 = Instant::now();
            let id = ctx.send(dst, b"queued").unwrap();
            sent2.lock().unwrap().push((id, t0.elapsed()));
        } else {
            ctx.reply(b"pong\n").unwrap();
        }
    }));
    // B: round trips on the same (only) reader, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let bystander = std::thread::spawn(move || {
        let mut b = connect(addr);
        let (mut worst, mut n) = (Duration::ZERO, 0usize);
        while !stop2.load(Ordering::Relaxed) || n < 20 {
            let t0 = Instant::now();
            send(&mut b, &options(1000 + n, "ping"));
            let mut pong = [0u8; 5];
            b.read_exact(&mut pong).unwrap();
            assert_eq!(&pong, b"pong\n");
            worst = worst.max(t0.elapsed());
            n += 1;
        }
        (worst, n)
    });
    std::thread::sleep(Duration::from_millis(50));
    // A: all the requests in one write, so the reader runs them back to back.
    let mut a = connect(addr);
    let all: Vec<u8> = (0..HANGS).flat_map(|i| options(i, "hang")).collect();
    send(&mut a, &all);
    wait_for("every hanging send returned", WAIT, || {
        sent.lock().unwrap().len() == HANGS
    });
    stop.store(true, Ordering::Relaxed);
    let (worst, trips) = bystander.join().unwrap();
    let sends = sent.lock().unwrap().clone();
    let slowest = sends.iter().map(|s| s.1).max().unwrap();
    println!("bystander: {trips} round trips, worst {worst:?}; slowest hanging send {slowest:?}");
    assert!(
        worst < Duration::from_millis(300),
        "bystander stalled {worst:?}"
    );
    assert!(
        slowest < Duration::from_millis(50),
        "a send waited {slowest:?}"
    );
    // Each connect is aborted by TCP main at tcp_connect_timeout; its message is reported.
    let ours = |e: &sipwire::Event| sends.iter().any(|s| s.0 == e.conid);
    wait_for("every connect aborted", WAIT, || {
        rec.events.lock().iter().filter(|e| ours(e)).count() == HANGS
    });
    for e in rec.events.lock().iter().filter(|e| ours(e)) {
        assert_eq!(e.reason, CloseReason::ConnectTimeout);
        assert_eq!((e.unsent_msgs, e.unsent_bytes), (1, 6));
    }
    assert_eq!(t.stats().connects, HANGS as u64);
    drop(holes);
}

#[test]
fn a_refused_connect_from_a_handler_reports_its_message_in_the_close_event() {
    let dst = closed_port();
    let (rt, rec, addr) = start("tcp_children=1");
    let t = rt.transport();
    let ids: Arc<Mutex<Vec<ConId>>> = Arc::default();
    let ids2 = ids.clone();
    *rec.on_msg.lock() = Some(Box::new(move |ctx, _| {
        ids2.lock()
            .unwrap()
            .push(ctx.send(dst, b"never sent").unwrap());
    }));
    let mut a = connect(addr);
    send(&mut a, &options(1, ""));
    let ev = rec.wait_events(1);
    let id = ids.lock().unwrap()[0];
    assert_eq!(ev[0].conid, id);
    assert_eq!(ev[0].remote, dst);
    assert_eq!(ev[0].reason, CloseReason::ConnectRefused);
    assert_eq!((ev[0].unsent_msgs, ev[0].unsent_bytes), (1, 10));
    assert_eq!(t.stats().connect_failures, 1);
    assert_eq!(
        t.stats().send_errors,
        0,
        "the send itself succeeded (queued)"
    );
}

#[test]
fn two_sends_to_one_connecting_destination_share_one_connection() {
    let (_l, _fill, hole) = blackhole(true);
    let (rt, rec, addr) = start("tcp_children=1\ntcp_connect_timeout=1");
    let t = rt.transport();
    let ids: Arc<Mutex<Vec<ConId>>> = Arc::default();
    let ids2 = ids.clone();
    *rec.on_msg.lock() = Some(Box::new(move |ctx, _| {
        let mut v = ids2.lock().unwrap();
        v.push(ctx.send(hole, b"first").unwrap());
        v.push(ctx.send(hole, b"second").unwrap());
    }));
    let mut a = connect(addr);
    send(&mut a, &options(1, ""));
    wait_for("two sends", WAIT, || ids.lock().unwrap().len() == 2);
    // And one from another thread, while it still connects.
    let id = ids.lock().unwrap()[0];
    assert_eq!(t.send(hole, b"third").unwrap(), id);
    assert_eq!(ids.lock().unwrap()[1], id);
    assert_eq!(t.conid_state(id), sipwire::ConnState::Connecting);
    assert_eq!(t.connection_count(), 2, "A's connection and one outbound");
    assert_eq!(t.stats().connects, 1);
    let ev = rec.wait_events(1);
    assert_eq!(ev[0].conid, id);
    assert_eq!(ev[0].reason, CloseReason::ConnectTimeout);
    assert_eq!((ev[0].unsent_msgs, ev[0].unsent_bytes), (3, 16));
}

#[test]
fn max_connections_counts_inbound_and_outbound_at_the_edge() {
    let (rt, _rec, addr) = start("tcp_max_connections=3");
    let t = rt.transport();
    let l1 = TcpListener::bind("127.0.0.1:0").unwrap();
    let a1 = l1.local_addr().unwrap();
    let l2 = TcpListener::bind("127.0.0.1:0").unwrap();
    let a2 = l2.local_addr().unwrap();
    // Two inbound, one outbound: three, all fine.
    let _in1 = connect(addr);
    let in2 = connect(addr);
    wait_for("two inbound", WAIT, || t.connection_count() == 2);
    let out1 = t.send(a1, b"1").unwrap();
    assert_eq!(t.connection_count(), 3);
    // The 4th, outbound: refused and counted; a send on the open one still works.
    let e = t.send(a2, b"x").unwrap_err();
    assert!(
        matches!(e, SendError::TooManyConnections(x) if x == a2),
        "{e}"
    );
    assert_eq!(t.send(a1, b"2").unwrap(), out1);
    // The 4th, inbound: refused too.
    let mut in3 = connect(addr);
    assert!(
        wait_closed(&mut in3),
        "the 4th inbound connection must be refused"
    );
    assert_eq!(t.stats().refused_max_connections, 2);
    assert_eq!(t.connection_count(), 3);
    l2.set_nonblocking(true).unwrap();
    assert!(
        l2.accept().is_err(),
        "no connect was started over the limit"
    );
    // One inbound goes: an outbound connect fits again, and then the limit holds again.
    drop(in2);
    wait_for("two left", WAIT, || t.connection_count() == 2);
    let out2 = t.send(a2, b"y").unwrap();
    assert_ne!(out2, out1);
    let mut in4 = connect(addr);
    assert!(wait_closed(&mut in4));
    assert_eq!(t.stats().refused_max_connections, 3);
    let (_s1, _) = l1.accept().unwrap();
    l2.set_nonblocking(false).unwrap();
    let (_s2, _) = l2.accept().unwrap();
}

#[test]
fn a_blocked_blocking_mode_sender_does_not_stall_tcp_main() {
    let (rt, rec, addr) = start("tcp_async=no\ntcp_send_timeout=2");
    let t = rt.transport();
    *rec.on_msg.lock() = Some(Box::new(|ctx, got| {
        if got.bytes.ends_with(b"ping") {
            ctx.reply(b"pong\n").unwrap();
        }
    }));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let id = t.send(l.local_addr().unwrap(), b"x").unwrap();
    let (mut peer, _) = l.accept().unwrap(); // never reads
    let t2 = t.clone();
    let blocker = std::thread::spawn(move || {
        let big = vec![b'y'; 65536];
        loop {
            if let Err(e) = t2.send(id, &big) {
                return e;
            }
        }
    });
    // Let the sender fill the socket and block in its write, then make the connection
    // readable while it sits idle in TCP main: main must not wait for its write lock.
    std::thread::sleep(Duration::from_millis(300));
    send(&mut peer, &options(1, ""));
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    let mut c = connect(addr);
    send(&mut c, &options(2, "ping"));
    let mut pong = [0u8; 5];
    c.read_exact(&mut pong).unwrap();
    let rtt = t0.elapsed();
    println!("new client's first round trip while a blocking send is stuck: {rtt:?}");
    assert!(rtt < Duration::from_millis(500), "TCP main stalled {rtt:?}");
    let e = blocker.join().unwrap();
    assert!(matches!(e, SendError::SendTimeout(x) if x == id), "{e}");
}
