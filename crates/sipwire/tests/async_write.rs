//! `tcp_async_local_write_timeout` (OpenSIPS proto_tcp), set through the config: how long a
//! sender keeps writing to a full socket itself before the rest is queued for TCP main. The
//! send that finds the socket full returns `Queued` only after waiting that long (a lower
//! bound, robust under load); with a long timeout and a peer that reads, the sender writes
//! everything itself. Nothing is lost or reordered either way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use sipwire::Delivery;
use sipwire_testkit::prelude::*;

/// One message: 64 KiB.
const CHUNK: usize = 64 << 10;

/// A runtime with the write timeout `ms`, and a connection to a test peer, up and drained of
/// its first message.
fn connected(ms: u32) -> (sipwire::Runtime, TcpStream, sipwire::ConId) {
    let (rt, _rec, _) = start(&format!(
        "modparam(\"proto_tcp\", \"tcp_async_local_write_timeout\", {ms})\ntcp_send_timeout=60000\n\
         tcp_conn_wq_max=1048576"
    ));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let id = rt.transport().send(l.local_addr().unwrap(), b"hi").unwrap();
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut two = [0u8; 2];
    s.read_exact(&mut two).unwrap();
    (rt, s, id)
}

fn chunk(n: usize) -> Vec<u8> {
    vec![b'a' + (n % 26) as u8; CHUNK]
}

/// Reads `n` chunks and checks each is whole and in order.
fn read_chunks(s: &mut TcpStream, n: usize) {
    let mut b = vec![0u8; CHUNK];
    for i in 0..n {
        s.read_exact(&mut b).unwrap();
        assert!(b == chunk(i), "chunk {i} intact and in order");
    }
}

/// Sends chunks to a peer that does not read until one comes back `Queued`; returns how many
/// were sent and how long that last send took.
fn fill(t: &sipwire::Transport, id: sipwire::ConId) -> (usize, Duration) {
    for n in 0..1024 {
        let started = Instant::now();
        let sent = t.send_report(id, &chunk(n)).unwrap();
        let took = started.elapsed();
        match sent.delivery {
            Delivery::Written => {}
            Delivery::Queued => return (n + 1, took),
            other => panic!("chunk {n}: {other:?}"),
        }
    }
    panic!("64 MiB went into the socket without it filling up");
}

#[test]
fn the_sender_waits_that_long_for_room_then_queues() {
    let (rt, mut s, id) = connected(300);
    let (n, took) = fill(&rt.transport(), id);
    assert!(
        took >= Duration::from_millis(300),
        "the send that found the socket full waited {took:?}, less than the option's 300 ms"
    );
    // TCP main writes the rest as the peer reads.
    read_chunks(&mut s, n);
}

#[test]
fn zero_queues_when_the_socket_is_full_and_the_rest_still_arrives() {
    let (rt, mut s, id) = connected(0);
    let (n, _) = fill(&rt.transport(), id);
    read_chunks(&mut s, n);
}

#[test]
fn a_long_timeout_lets_the_sender_write_it_all_while_the_peer_reads() {
    let (rt, mut s, id) = connected(60_000);
    const N: usize = 256;
    let reader = std::thread::spawn(move || read_chunks(&mut s, N));
    for n in 0..N {
        let sent = rt.transport().send_report(id, &chunk(n)).unwrap();
        assert_eq!(sent.delivery, Delivery::Written, "chunk {n}");
    }
    reader.join().unwrap();
}
