//! Outbound runtime behaviour over loopback: send path, connects, write queues, timeouts, fd
//! cache, aliases, otcpid (issue #5).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sipwire::{CloseReason, QueueLimit, SendError, Target};
use sipwire_sys as sys;
use sipwire_testkit::prelude::*;

/// A plain peer: a listener the runtime connects to.
fn peer() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

fn accept(l: &TcpListener) -> TcpStream {
    let (s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Waits until a connection a send opened is up: in async mode the send returns with the
/// connect started, and tests that fill the socket need it connected first.
fn wait_up(t: &sipwire::Transport, id: sipwire::ConId) {
    wait_for("connected", WAIT, || {
        t.conid_state(id) == sipwire::ConnState::Ok
    });
}

fn read_exact_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).unwrap();
    b
}

fn send_by_address_connects_and_replies_come_back(extra: &str, cached: bool) {
    let (rt, rec, _) = start(extra);
    let t = rt.transport();
    let (l, pa) = peer();
    let m = options(1, "to the peer");
    let id = t.send(pa, &m).unwrap();
    let mut s = accept(&l);
    assert_eq!(read_exact_n(&mut s, m.len()), m);
    // The same destination reuses the connection.
    let m2 = options(2, "again");
    assert_eq!(t.send(pa, &m2).unwrap(), id);
    assert_eq!(t.send(id, &m2).unwrap(), id);
    assert_eq!(
        read_exact_n(&mut s, 2 * m2.len()),
        [m2.clone(), m2].concat()
    );
    // With the fd cache this thread's later sends skip the shared table; without, each one
    // looks its connection up there.
    let before = t.stats().table_lookups;
    for _ in 0..50 {
        t.send(pa, b"a").unwrap();
        t.send(id, b"i").unwrap();
    }
    assert_eq!(read_exact_n(&mut s, 100), b"ai".repeat(50));
    let lookups = t.stats().table_lookups - before;
    assert_eq!(lookups, if cached { 0 } else { 100 }, "table lookups");
    // The outbound connection is read like any other.
    s.write_all(&options(3, "reply")).unwrap();
    let got = rec.wait_msgs(1);
    assert_eq!(got[0].conid, id);
    assert!(got[0].bytes.ends_with(b"reply"));
    assert_eq!(t.stats().connects, 1);
}

#[test]
fn send_by_address_with_fd_cache() {
    send_by_address_connects_and_replies_come_back("tcp_fd_cache=yes", true);
}

#[test]
fn send_by_address_without_fd_cache() {
    send_by_address_connects_and_replies_come_back("tcp_fd_cache=no", false);
}

#[test]
fn send_by_address_blocking_mode() {
    send_by_address_connects_and_replies_come_back("tcp_async=no", true);
}

#[test]
fn reply_on_the_incoming_connection() {
    let (_rt, rec, addr) = start("");
    *rec.on_msg.lock() = Some(Box::new(|ctx, got| {
        let mut r = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
        r.extend_from_slice(&got.bytes[..8]);
        ctx.reply(&r).unwrap();
    }));
    let mut c = connect(addr);
    send(&mut c, &options(1, ""));
    let want = [
        b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n".as_slice(),
        b"OPTIONS ",
    ]
    .concat();
    assert_eq!(read_exact_n(&mut c, want.len()), want);
}

#[test]
fn concurrent_sends_to_one_new_destination_open_one_connection() {
    let (rt, _rec, _) = start("");
    let t = rt.transport();
    let (l, pa) = peer();
    let ids: Vec<_> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let t = t.clone();
                sc.spawn(move || t.send(pa, format!("m{i}\n").as_bytes()).unwrap())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
    let s = accept(&l);
    let mut lines: Vec<String> = BufReader::new(s)
        .lines()
        .take(8)
        .map(|l| l.unwrap())
        .collect();
    lines.sort();
    assert_eq!(lines, (0..8).map(|i| format!("m{i}")).collect::<Vec<_>>());
    l.set_nonblocking(true).unwrap();
    assert!(l.accept().is_err(), "a second connection was opened");
    assert_eq!(t.stats().connects, 1);
}

fn many_senders_keep_messages_whole_and_ordered(extra: &str) {
    const THREADS: usize = 8;
    const PER: usize = 10_000;
    let (rt, _rec, _) = start(&format!(
        "tcp_conn_wq_max=1048576\ntcp_wq_max=8388608\n{extra}"
    ));
    let t = rt.transport();
    let (l, pa) = peer();
    let id = t.send(pa, b"hello\n").unwrap();
    let s = accept(&l);
    let reader = std::thread::spawn(move || {
        let mut next = [0usize; THREADS];
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "hello\n");
        for _ in 0..THREADS * PER {
            line.clear();
            r.read_line(&mut line).unwrap();
            // "t=<thread> n=<seq> <padding of seq % 50 dots>\n": any interleaving breaks it.
            let mut parts = line.trim_end_matches('\n').splitn(3, ' ');
            let th: usize = parts
                .next()
                .unwrap()
                .strip_prefix("t=")
                .unwrap()
                .parse()
                .unwrap();
            let n: usize = parts
                .next()
                .unwrap()
                .strip_prefix("n=")
                .unwrap()
                .parse()
                .unwrap();
            let pad = parts.next().unwrap();
            assert_eq!(pad.len(), n % 50 + 1, "garbled line {line:?}");
            assert!(pad.bytes().all(|b| b == b'.'), "garbled line {line:?}");
            assert_eq!(n, next[th], "thread {th} out of order");
            next[th] += 1;
        }
        next
    });
    std::thread::scope(|sc| {
        for th in 0..THREADS {
            let t = t.clone();
            sc.spawn(move || {
                for n in 0..PER {
                    let m = format!("t={th} n={n} {}\n", ".".repeat(n % 50 + 1));
                    t.send(id, m.as_bytes()).unwrap();
                }
            });
        }
    });
    let next = reader.join().unwrap();
    assert!(next.iter().all(|&n| n == PER));
}

#[test]
fn eight_senders_one_connection_with_fd_cache() {
    many_senders_keep_messages_whole_and_ordered(
        "tcp_fd_cache=yes\ntcp_send_timeout=10\nmodparam(\"proto_tcp\", \"tcp_async_max_postponed_chunks\", 65535)",
    );
}

#[test]
fn eight_senders_one_connection_without_fd_cache() {
    many_senders_keep_messages_whole_and_ordered(
        "tcp_fd_cache=no\ntcp_send_timeout=10\nmodparam(\"proto_tcp\", \"tcp_async_max_postponed_chunks\", 65535)",
    );
}

/// Sends 64 KiB messages to `to` until a send fails; returns the error.
fn fill_until_error(t: &sipwire::Transport, to: impl Into<Target> + Copy) -> SendError {
    let big = vec![b'x'; 65536];
    let deadline = Deadline::after(WAIT);
    loop {
        assert!(!deadline.passed(), "sends never failed");
        if let Err(e) = t.send(to, &big) {
            return e;
        }
    }
}

#[test]
fn slow_peer_hits_conn_wq_max_and_is_closed_while_a_healthy_one_carries_on() {
    let (rt, rec, _) = start(
        "tcp_conn_wq_max=262144\ntcp_send_timeout=10\nmodparam(\"proto_tcp\", \"tcp_async_max_postponed_chunks\", 1000)",
    );
    let t = rt.transport();
    let (slow_l, slow_a) = peer();
    let (ok_l, ok_a) = peer();
    let slow_id = t.send(slow_a, b"x").unwrap();
    let _slow = accept(&slow_l); // never read
    let ok_id = t.send(ok_a, b"0\n").unwrap();
    let ok = accept(&ok_l);
    wait_up(&t, slow_id);
    wait_up(&t, ok_id);
    let healthy = std::thread::spawn(move || {
        let mut r = BufReader::new(ok);
        let mut line = String::new();
        for i in 0..1001 {
            line.clear();
            r.read_line(&mut line).unwrap();
            assert_eq!(line, format!("{i}\n"));
        }
    });
    let e = fill_until_error(&t, slow_id);
    assert!(
        matches!(e, SendError::QueueFull(id, QueueLimit::ConnBytes) if id == slow_id),
        "{e}"
    );
    assert!(t.stats().queued_bytes <= 262_144);
    for i in 1..=1000 {
        t.send(ok_id, format!("{i}\n").as_bytes()).unwrap();
    }
    healthy.join().unwrap();
    let ev = rec.wait_events(1);
    assert_eq!(ev[0].conid, slow_id);
    assert_eq!(ev[0].reason, CloseReason::QueueFull);
    wait_for("queue memory released", WAIT, || {
        t.stats().queued_bytes == 0
    });
}

/// Messages pending in a connection's write queue when every queued message is `m` bytes (a
/// partly written head message counts as one, as the limit counts it).
fn pending(t: &sipwire::Transport, id: sipwire::ConId, m: usize) -> usize {
    t.conn_info(id).map_or(0, |i| i.queued_bytes.div_ceil(m))
}

/// Sends `m`-byte messages until one is refused; returns the messages that were pending just
/// before it and the error. A send made with fewer than `limit` pending must succeed (the
/// queue only shrinks between our sends), so the refused one had exactly `limit` pending.
fn push_until_refused(
    t: &sipwire::Transport,
    id: sipwire::ConId,
    m: usize,
    limit: usize,
) -> (usize, SendError) {
    let msg = vec![b'q'; m];
    let deadline = Deadline::after(WAIT);
    loop {
        assert!(!deadline.passed(), "sends never failed");
        let before = pending(t, id, m);
        match t.send(id, &msg) {
            Ok(_) => assert!(before <= limit, "accepted with {before} pending"),
            Err(e) => return (before, e),
        }
    }
}

#[test]
fn postponed_chunks_limit_counts_messages() {
    // A peer that never reads: the queue holds what the socket did not take; the send that
    // would make 5 messages pending is refused and the connection dropped with those 4.
    let (rt, rec, _) = start("tcp_send_timeout=10\nmodparam(\"proto_tcp\", \"tcp_async_max_postponed_chunks\", 4)\ntcp_conn_wq_max=1048576\ntcp_wq_max=104857600");
    let t = rt.transport();
    let (l, a) = peer();
    let id = t.send(a, b"x").unwrap();
    let _s = accept(&l);
    wait_up(&t, id);
    let (before, e) = push_until_refused(&t, id, 65536, 4);
    assert!(
        matches!(e, SendError::QueueFull(_, QueueLimit::Messages)),
        "{e}"
    );
    assert_eq!(before, 4, "refused with 4 pending, not fewer");
    let ev = rec.wait_events(1);
    assert_eq!((ev[0].conid, ev[0].reason), (id, CloseReason::QueueFull));
    assert_eq!(ev[0].unsent_msgs, 4, "the 4 pending messages");
}

#[test]
fn postponed_chunks_are_messages_pending_not_pushes_since_empty() {
    // OpenSIPS's async_chunks_no goes down as chunks complete: a slow reader whose queue
    // drains partly but never empties takes far more than 32 pushes while at most 32 wait.
    let (rt, rec, _) = start("tcp_conn_wq_max=1048576\ntcp_wq_max=104857600");
    let t = rt.transport();
    assert_eq!(t.config_snapshot().tcp.async_max_postponed_chunks, 32);
    const M: usize = 16 * 1024;
    let (l, a) = peer();
    // A small receive buffer the kernel does not grow: the peer's reads free little at once.
    let rcvbuf = 64 * 1024;
    sys::set_int_opt(l.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, rcvbuf).unwrap();
    let id = t.send(a, b"x").unwrap();
    let mut s = accept(&l);
    wait_up(&t, id);
    assert_eq!(read_exact_n(&mut s, 1), b"x");
    let msg = vec![b'm'; M];
    // Fill the socket and queue some messages. The kernel grows the send buffer as the first
    // bytes are acknowledged, so it is full only once a send (which writes the queue first)
    // gets nothing into it: three such sends 20 ms apart.
    let deadline = Deadline::after(WAIT);
    let queued = |t: &sipwire::Transport| t.conn_info(id).map_or(0, |i| i.queued_bytes);
    let mut full = 0;
    while full < 3 || pending(&t, id, M) < 12 {
        assert!(!deadline.passed());
        let before = queued(&t);
        t.send(id, &msg).unwrap();
        if before > 0 && queued(&t) == before + M {
            full += 1;
            std::thread::sleep(Duration::from_millis(20));
        } else {
            full = 0;
        }
    }
    // About one message read per push (two when many wait, none when few): the queue drains
    // partly and refills. It is never empty: checked before and after each step (it only
    // shrinks between our sends, so it was not empty in between either).
    let mut buf = vec![0u8; M];
    let mut most = 0;
    for i in 0..200 {
        let p = pending(&t, id, M);
        let reads = match p {
            0..=11 => 0,
            12..=19 => 1,
            _ => 2,
        };
        for _ in 0..reads {
            s.read_exact(&mut buf).unwrap();
        }
        let before = pending(&t, id, M);
        assert!(
            p >= 2 && before >= 2,
            "push {i}: the queue drained ({p}, {before})"
        );
        t.send(id, &msg)
            .unwrap_or_else(|e| panic!("push {i} refused with {before} pending: {e}"));
        let after = pending(&t, id, M);
        assert!(after >= 2, "push {i}: the push found the queue drained");
        most = most.max(after);
    }
    assert!(most <= 32, "{most} pending");
    assert_eq!(t.stats().queue_full, 0);
    assert!(rec.events.lock().is_empty(), "not dropped");
    // The peer stops reading: 32 pending still pass, the send that would make 33 drops it.
    let (before, e) = push_until_refused(&t, id, M, 32);
    assert!(
        matches!(e, SendError::QueueFull(_, QueueLimit::Messages)),
        "{e}"
    );
    assert_eq!(before, 32);
    let ev = rec.wait_events(1);
    assert_eq!((ev[0].conid, ev[0].reason), (id, CloseReason::QueueFull));
    assert!(ev[0].unsent_msgs <= 32, "{}", ev[0].unsent_msgs);
}

#[test]
fn global_wq_max_holds_with_many_slow_peers() {
    // Each connection may queue 1 MiB, all of them together 1.5 MiB.
    let (rt, _rec, _) = start("tcp_conn_wq_max=1048576\ntcp_wq_max=1572864\ntcp_send_timeout=10\nmodparam(\"proto_tcp\", \"tcp_async_max_postponed_chunks\", 1000)");
    let t = rt.transport();
    let mut keep = Vec::new();
    let big = vec![b'x'; 65536];
    let mut refused = None;
    'peers: for _ in 0..4 {
        let (l, a) = peer();
        let id = t.send(a, b"x").unwrap();
        keep.push((l.accept().unwrap(), l));
        wait_up(&t, id);
        // Queue about 600 KB on this slow peer (below its own limit), then go to the next.
        let before = t.stats().queued_bytes;
        let deadline = Deadline::after(WAIT);
        while t.stats().queued_bytes < before + 600_000 {
            assert!(!deadline.passed());
            if let Err(e) = t.send(id, &big) {
                refused = Some(e);
                break 'peers;
            }
            assert!(
                t.stats().queued_bytes <= 1_572_864,
                "queued {}",
                t.stats().queued_bytes
            );
        }
    }
    let e = refused.expect("tcp_wq_max never refused a send");
    assert!(
        matches!(e, SendError::QueueFull(_, QueueLimit::TotalBytes)),
        "{e}"
    );
    assert!(t.stats().queued_bytes <= 1_572_864);
}

#[test]
fn send_timeout_closes_a_stuck_queue_in_async_mode() {
    let (rt, rec, _) = start("tcp_send_timeout=1\ntcp_conn_wq_max=1048576\ntcp_wq_max=104857600\nmodparam(\"proto_tcp\", \"tcp_async_max_postponed_chunks\", 65535)");
    let t = rt.transport();
    let (l, a) = peer();
    let id = t.send(a, b"x").unwrap();
    let _s = accept(&l); // never read
    wait_up(&t, id);
    let big = vec![b'y'; 65536];
    while t.stats().queued_bytes == 0 {
        t.send(id, &big).unwrap();
    }
    let started = Instant::now();
    let ev = rec.wait_events(1);
    assert_eq!(ev[0].reason, CloseReason::SendTimeout);
    assert!(ev[0].unsent_bytes > 0 && ev[0].unsent_msgs > 0);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(t.stats().send_timeouts, 1);
    assert_eq!(t.stats().queued_bytes, 0);
}

#[test]
fn send_timeout_fails_a_blocking_send() {
    let (rt, _rec, _) = start("tcp_async=no\ntcp_send_timeout=1");
    let t = rt.transport();
    let (l, a) = peer();
    let id = t.send(a, b"x").unwrap();
    let _s = accept(&l); // never read
    let e = fill_until_error(&t, id);
    assert!(matches!(e, SendError::SendTimeout(x) if x == id), "{e}");
    wait_for("closed", WAIT, || {
        t.conid_state(id) == sipwire::ConnState::Gone
    });
}

#[test]
fn connect_refused_is_reported() {
    // Async mode: the send returns once the connect is started; the refusal closes the
    // connection, and its close event reports the reason and the queued message.
    let (rt, rec, _) = start("");
    let t = rt.transport();
    let (l, a) = peer();
    drop(l);
    let id = t.send(a, b"x").unwrap();
    let ev = rec.wait_events(1);
    assert_eq!(ev[0].conid, id);
    assert_eq!(ev[0].remote, a);
    assert_eq!(ev[0].reason, CloseReason::ConnectRefused);
    assert_eq!((ev[0].unsent_msgs, ev[0].unsent_bytes), (1, 1));
    wait_for("no connection left", WAIT, || t.connection_count() == 0);
    assert_eq!(t.stats().connect_failures, 1);
}

#[test]
fn connect_refused_fails_a_blocking_send() {
    let (rt, rec, _) = start("tcp_async=no");
    let t = rt.transport();
    let (l, a) = peer();
    drop(l);
    let e = t.send(a, b"x").unwrap_err();
    assert!(matches!(e, SendError::ConnectRefused(x) if x == a), "{e}");
    wait_for("no connection left", WAIT, || t.connection_count() == 0);
    assert_eq!(t.stats().connect_failures, 1);
    let ev = rec.wait_events(1);
    assert_eq!(ev[0].reason, CloseReason::ConnectRefused);
}

/// A listener whose accept queue is full: further SYNs are dropped, so connects hang.
fn blackhole() -> (TcpListener, Vec<TcpStream>, SocketAddr) {
    let l = sys::listen_tcp(
        "127.0.0.1:0".parse().unwrap(),
        sys::ListenOptions {
            backlog: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let a = l.local_addr().unwrap();
    let mut fill = Vec::new();
    // Fill the accept queue (backlog + 1 entries) without accepting.
    for _ in 0..2 {
        fill.push(TcpStream::connect_timeout(&a, Duration::from_secs(2)).unwrap());
    }
    // Now a connect must not complete.
    let probe = TcpStream::connect_timeout(&a, Duration::from_millis(300));
    assert!(
        probe.is_err(),
        "the kernel still completes connects: cannot make a hanging connect here"
    );
    (l, fill, a)
}

#[test]
fn connect_timeout_aborts_a_pending_connect_async() {
    let (_l, _fill, a) = blackhole();
    let (rt, rec, _) = start("tcp_connect_timeout=1");
    let t = rt.transport();
    let id = t.send(a, b"queued while connecting").unwrap();
    assert_eq!(t.conid_state(id), sipwire::ConnState::Connecting);
    assert_eq!(t.conid_state(id) as i8, 3);
    let ev = rec.wait_events(1);
    assert_eq!(ev[0].reason, CloseReason::ConnectTimeout);
    assert_eq!(
        ev[0].unsent_msgs, 1,
        "the queued message is reported, not silently lost"
    );
    assert_eq!(t.conid_state(id), sipwire::ConnState::Gone);
}

#[test]
fn connect_timeout_fails_a_blocking_send() {
    let (_l, _fill, a) = blackhole();
    let (rt, _rec, _) = start("tcp_async=no\ntcp_connect_timeout=1");
    let t = rt.transport();
    let started = Instant::now();
    let e = t.send(a, b"x").unwrap_err();
    assert!(matches!(e, SendError::ConnectTimeout(x) if x == a), "{e}");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[test]
fn no_connect_at_runtime_stops_new_connects_only() {
    let (rt, _rec, _) = start("");
    let t = rt.transport();
    let (l, a) = peer();
    let id = t.send(a, b"1\n").unwrap();
    let s = accept(&l);
    t.config().set_now_int("tcp", "no_connect", 1).unwrap();
    let (_l2, a2) = peer();
    let e = t.send(a2, b"x").unwrap_err();
    assert!(matches!(e, SendError::NoConnect(x) if x == a2), "{e}");
    t.send(a, b"2\n").unwrap();
    t.send(id, b"3\n").unwrap();
    let lines: Vec<String> = BufReader::new(s)
        .lines()
        .take(3)
        .map(|l| l.unwrap())
        .collect();
    assert_eq!(lines, ["1", "2", "3"]);
    t.config().set_now_int("tcp", "no_connect", 0).unwrap();
    t.send(a2, b"x").unwrap();
}

fn via_alias_request(alias_port: u16) -> Vec<u8> {
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:{alias_port};branch=z9hG4bKa;alias\r\n\
         Call-ID: al@x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn accept_aliases_reuses_the_incoming_connection() {
    let (rt, rec, addr) = start("tcp_accept_aliases=yes");
    let t = rt.transport();
    let (l, la) = peer();
    let mut c = connect(addr);
    send(&mut c, &via_alias_request(la.port()));
    let id = rec.wait_msgs(1)[0].conid;
    assert_eq!(t.send(la, b"via alias\n").unwrap(), id);
    assert_eq!(read_exact_n(&mut c, 10), b"via alias\n");
    l.set_nonblocking(true).unwrap();
    assert!(l.accept().is_err(), "no new connection expected");
    assert_eq!(t.stats().connects, 0);
}

#[test]
fn without_accept_aliases_a_new_connection_is_opened() {
    let (rt, rec, addr) = start("tcp_accept_aliases=no");
    let t = rt.transport();
    let (l, la) = peer();
    let mut c = connect(addr);
    send(&mut c, &via_alias_request(la.port()));
    let id = rec.wait_msgs(1)[0].conid;
    let out = t.send(la, b"new conn\n").unwrap();
    assert_ne!(out, id);
    let mut s = accept(&l);
    assert_eq!(read_exact_n(&mut s, 9), b"new conn\n");
}

#[test]
fn add_alias_api_and_otcpid_pinning() {
    let (rt, rec, addr) = start("");
    let t = rt.transport();
    let mut a = connect(addr);
    let mut b = connect(addr);
    send(&mut a, &options(1, ""));
    send(&mut b, &options(2, ""));
    let got = rec.wait_msgs(2);
    let id_of = |s: &TcpStream| {
        got.iter()
            .find(|g| g.peer == s.local_addr().unwrap())
            .unwrap()
            .conid
    };
    let (ida, idb) = (id_of(&a), id_of(&b));
    let fake: SocketAddr = "127.0.0.1:9".parse().unwrap();
    assert_eq!(t.add_alias(ida, 9).unwrap(), fake);
    assert_eq!(t.send(fake, b"A1").unwrap(), ida);
    assert_eq!(read_exact_n(&mut a, 2), b"A1");
    // otcpid wins over the destination while the flag is set.
    assert_eq!(t.send_via(idb, fake, b"B1").unwrap(), idb);
    assert_eq!(read_exact_n(&mut b, 2), b"B1");
    // In a handler: set_otcpid + flag, then reset the flag.
    *rec.on_msg.lock() = Some(Box::new(move |ctx, _| {
        ctx.set_otcpid(idb);
        ctx.set_otcpid_flag(true);
        assert_eq!(ctx.send(fake, b"B2").unwrap(), idb);
        ctx.set_otcpid_flag(false);
        assert_eq!(ctx.send(fake, b"A2").unwrap(), ida);
    }));
    send(&mut a, &options(3, ""));
    assert_eq!(read_exact_n(&mut b, 2), b"B2");
    assert_eq!(read_exact_n(&mut a, 2), b"A2");
    assert!(t.add_alias(sipwire::ConId(12345), 9).is_err());
}

#[test]
fn source_address_and_its_fallback() {
    let (l, a) = peer();
    let (rt, _rec, _) = start("tcp_source_ipv4=127.0.0.2");
    rt.transport().send(a, b"x").unwrap();
    let (_s, from) = l.accept().unwrap();
    assert_eq!(from.ip().to_string(), "127.0.0.2");
    drop(rt);
    // An address this host does not have: Kamailio falls back to the default source.
    let (rt, _rec, _) = start("tcp_source_ipv4=192.0.2.1");
    rt.transport().send(a, b"x").unwrap();
    let (_s, from) = l.accept().unwrap();
    assert_eq!(from.ip().to_string(), "127.0.0.1");
}

#[test]
fn reuse_port_sends_from_the_listener_port() {
    let (l, a) = peer();
    let (rt, _rec, addr) = start("tcp_reuse_port=yes");
    rt.transport().send(a, b"x").unwrap();
    let (_s, from) = l.accept().unwrap();
    assert_eq!(from, addr, "the source is the listener's address and port");
}

#[test]
fn queued_memory_is_bounded_and_released() {
    let (rt, _rec, _) = start(
        "tcp_conn_wq_max=131072\ntcp_send_timeout=10\nmodparam(\"proto_tcp\", \"tcp_async_max_postponed_chunks\", 1000)",
    );
    let t = rt.transport();
    let (l, a) = peer();
    let id = t.send(a, b"x").unwrap();
    let s = accept(&l);
    wait_up(&t, id);
    let _ = fill_until_error(&t, id);
    drop(s);
    wait_for("queue released", WAIT, || {
        t.stats().queued_bytes == 0 && t.connection_count() == 0
    });
    let _ = Arc::new(());
}

#[test]
fn sends_from_one_read_pass_arrive_whole_and_in_order() {
    let (rt, rec, addr) = start("");
    let t = rt.transport();
    let (l, pa) = peer();
    t.send(pa, b"first\n").unwrap();
    let s = accept(&l);
    *rec.on_msg.lock() = Some(Box::new(move |ctx, got| {
        // The message number is in the Call-ID: c<n>@test.
        let text = String::from_utf8_lossy(&got.bytes).to_string();
        let n = text
            .split("Call-ID: c")
            .nth(1)
            .unwrap()
            .split('@')
            .next()
            .unwrap()
            .to_string();
        ctx.send(pa, format!("{n}a\n").as_bytes()).unwrap();
        ctx.send(pa, format!("{n}b\n").as_bytes()).unwrap();
    }));
    // Five requests in one write: usually one read pass, so the ten sends are corked.
    let mut c = connect(addr);
    let all: Vec<u8> = (0..5).flat_map(|i| options(i, "")).collect();
    send(&mut c, &all);
    let lines: Vec<String> = BufReader::new(s)
        .lines()
        .take(11)
        .map(|l| l.unwrap())
        .collect();
    let want: Vec<String> = std::iter::once("first".to_string())
        .chain((0..5).flat_map(|i| [format!("{i}a"), format!("{i}b")]))
        .collect();
    assert_eq!(lines, want);
}
