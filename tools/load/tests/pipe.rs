#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The byte pipe (`sipwire_load::pipe`) over loopback: 1 MiB each way at once through it,
//! compared byte for byte, with a slow reader (so the pending path runs), several pairs at
//! once, and the close of one side closing the other.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sipwire_load::pipe::Pipe;

const MIB: usize = 1024 * 1024;

/// A pipe to `upstream`, running in a thread until the returned flag is set.
fn start_pipe(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicBool>, JoinHandle<Pipe>) {
    let mut p = Pipe::bind("127.0.0.1:0".parse().unwrap(), upstream).unwrap();
    let addr = p.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let h = thread::spawn(move || {
        p.run(Some(&s)).unwrap();
        p
    });
    (addr, stop, h)
}

/// `len` bytes of a pattern seeded by `seed` (no period a short shift would hide).
fn pattern(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Writes `data` on one thread while reading `expect_len` bytes on this one (after `delay`).
fn exchange(s: TcpStream, data: Vec<u8>, expect_len: usize, delay: Duration) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || w.write_all(&data).unwrap());
    thread::sleep(delay);
    let mut got = vec![0u8; expect_len];
    (&s).read_exact(&mut got).unwrap();
    writer.join().unwrap();
    got
}

/// One pair: client ⇄ pipe ⇄ server, `len` bytes each way; `slow` delays the server's reads.
fn one_way_and_back(pipe: SocketAddr, server: &TcpListener, seed: u32, len: usize, slow: Duration) {
    let up = pattern(seed, len);
    let down = pattern(seed + 1000, len);
    let client = TcpStream::connect(pipe).unwrap();
    let (srv, _) = server.accept().unwrap();
    let (up2, down2) = (up.clone(), down.clone());
    let s = thread::spawn(move || exchange(srv, down2, len, slow));
    let got_down = exchange(client, up2, len, Duration::ZERO);
    let got_up = s.join().unwrap();
    assert!(got_up == up, "client → server bytes differ (seed {seed})");
    assert!(
        got_down == down,
        "server → client bytes differ (seed {seed})"
    );
}

#[test]
fn one_mib_each_way_arrives_unchanged() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let (addr, stop, h) = start_pipe(server.local_addr().unwrap());
    one_way_and_back(addr, &server, 1, MIB, Duration::ZERO);
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();

    // A slow reader upstream with a small receive buffer, and more than the socket buffers on
    // the way hold (16 MiB: loopback's send buffers grow to 4 MiB): the pipe's writes fill
    // the socket and it holds a pending rest (and stops reading the client) until it drains.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    nix::sys::socket::setsockopt(&server, nix::sys::socket::sockopt::RcvBuf, &4096).unwrap();
    let (addr, stop, h) = start_pipe(server.local_addr().unwrap());
    one_way_and_back(addr, &server, 2, 16 * MIB, Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
}

#[test]
fn pairs_at_once_stay_apart() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let (addr, stop, h) = start_pipe(server.local_addr().unwrap());
    let clients: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Each server side learns which client it serves from the first 4 bytes.
    let mut workers = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        let mut data = (i as u32).to_be_bytes().to_vec();
        data.extend(pattern(10 + i as u32, MIB / 4));
        workers.push(thread::spawn(move || {
            let n = data.len();
            assert!(
                exchange(c, data.clone(), n, Duration::ZERO) == data,
                "echo {i} differs"
            );
        }));
    }
    for _ in 0..4 {
        let (s, _) = server.accept().unwrap();
        workers.push(thread::spawn(move || {
            // an echo server
            let mut buf = [0u8; 8192];
            let mut w = s.try_clone().unwrap();
            loop {
                match (&s).read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => w.write_all(&buf[..n]).unwrap(),
                }
            }
        }));
    }
    let clients_done: Vec<_> = workers.drain(..4).collect();
    for w in clients_done {
        w.join().unwrap();
    }
    // The clients' streams are dropped: the pipe closes the upstream side, the echoes end.
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let p = h.join().unwrap();
    assert_eq!(p.open_pairs(), 0);
}

#[test]
fn a_close_on_either_side_closes_the_other() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let (addr, stop, h) = start_pipe(server.local_addr().unwrap());
    let timeout = Some(Duration::from_secs(5));

    // Client closes (after a few bytes): the server reads them, then end of file.
    let mut c = TcpStream::connect(addr).unwrap();
    let (mut s, _) = server.accept().unwrap();
    s.set_read_timeout(timeout).unwrap();
    c.write_all(b"hello").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hello");
    drop((c, s));

    // Server closes: the client sees end of file.
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(timeout).unwrap();
    let (mut s, _) = server.accept().unwrap();
    s.write_all(b"bye").unwrap();
    drop(s);
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bye");

    // No upstream: the accepted connection is closed at once.
    let gone = TcpListener::bind("127.0.0.1:0").unwrap();
    let gone_addr = gone.local_addr().unwrap();
    drop(gone);
    let (addr2, stop2, h2) = start_pipe(gone_addr);
    let mut c = TcpStream::connect(addr2).unwrap();
    c.set_read_timeout(timeout).unwrap();
    let t0 = Instant::now();
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    assert!(got.is_empty() && t0.elapsed() < Duration::from_secs(4));

    for (s, h) in [(stop, h), (stop2, h2)] {
        s.store(true, Ordering::Relaxed);
        assert_eq!(h.join().unwrap().open_pairs(), 0);
    }
}
