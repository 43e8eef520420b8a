//! Relay hot path, in process: a SIP request in on one socket, relayed out on another — the
//! work `sipwired` does per request (framing, parsing, Via insert, Max-Forwards, routing, send),
//! so a regression shows in `make bench` without Kamailio.
//!
//! Setup: sipwired's relay handler in a runtime forwarding to a sink (`--forward`); 4 client
//! connections. One iteration: every client writes a batch of ~400-byte requests in one
//! `write`; it ends when the sink has seen all of them (it counts `\r\n\r\n`). The baseline,
//! `plain_forward`, is a thread per connection that copies bytes from client to sink unchanged
//! (no parsing at all): the floor of a TCP relay on this machine.
//! Run: `cargo bench -p sipwire-benches --bench relay`.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sipwire::config::{Config, ParseOptions};
use sipwire::Runtime;
use sipwire_benches::Counter;
use sipwired::handler::RelayHandler;
use sipwired::relay::{Relay, RelayStats, SystemResolver};

const CLIENTS: usize = 4;
const PER_CLIENT: usize = 32;

fn request(n: usize, port: u16) -> Vec<u8> {
    format!(
        "OPTIONS sip:uas@127.0.0.1:5070 SIP/2.0\r\n\
         Via: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bK-bench-{n:08};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=1928301774\r\n\
         To: <sip:uas@127.0.0.1>\r\nCall-ID: a84b4c76e66710-{n:08}@127.0.0.1\r\n\
         CSeq: 63104 OPTIONS\r\nContact: <sip:alice@127.0.0.1:{port};transport=tcp>\r\n\
         Accept: application/sdp\r\nUser-Agent: sipwire-bench\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A listener whose connections are read by counting threads.
fn sink(count: Arc<Counter>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        while let Ok((mut s, _)) = l.accept() {
            let count = count.clone();
            std::thread::spawn(move || {
                let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
                let mut buf = vec![0u8; 1 << 16];
                let mut carry = 0usize;
                while let Ok(n) = s.read(&mut buf[carry..]) {
                    if n == 0 {
                        break;
                    }
                    let end = carry + n;
                    let hits: Vec<usize> = finder.find_iter(&buf[..end]).collect();
                    count.add(hits.len() as u64);
                    // Keep up to 3 trailing bytes: a terminator may straddle two reads.
                    let keep_from = hits.last().map_or(end.saturating_sub(3), |&h| {
                        (h + 4).max(end.saturating_sub(3))
                    });
                    buf.copy_within(keep_from..end, 0);
                    carry = end - keep_from;
                }
            });
        }
    });
    a
}

fn batches(clients: &[TcpStream]) -> Vec<Vec<u8>> {
    clients
        .iter()
        .map(|c| {
            let port = c.local_addr().unwrap().port();
            (0..PER_CLIENT).flat_map(|n| request(n, port)).collect()
        })
        .collect()
}

fn bench_relay(c: &mut Criterion) {
    let per_iter = (CLIENTS * PER_CLIENT) as u64;
    let mut g = c.benchmark_group("relay_hot_path");
    g.throughput(Throughput::Elements(per_iter));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));

    // Baseline: plain byte forwarding, one thread per connection.
    {
        let count = Arc::new(Counter::default());
        let to = sink(count.clone());
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let from = l.local_addr().unwrap();
        std::thread::spawn(move || {
            while let Ok((mut inbound, _)) = l.accept() {
                let mut out = TcpStream::connect(to).unwrap();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 1 << 16];
                    while let Ok(n) = inbound.read(&mut buf) {
                        if n == 0 || out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let mut clients: Vec<TcpStream> = (0..CLIENTS)
            .map(|_| TcpStream::connect(from).unwrap())
            .collect();
        let data = batches(&clients);
        g.bench_function("plain_forward", |b| {
            b.iter(|| {
                let target = count.get() + per_iter;
                for (c, d) in clients.iter_mut().zip(&data) {
                    c.write_all(d).unwrap();
                }
                count.wait_for(target);
            })
        });
    }

    // sipwired's relay, forwarding every request to the sink.
    {
        let count = Arc::new(Counter::default());
        let to = sink(count.clone());
        let text = "listen=tcp:127.0.0.1:0\ntcp_children=2\n";
        let (cfg, _) = Config::from_str_with("bench.cfg", text, ParseOptions::default()).unwrap();
        let stats = Arc::new(RelayStats::default());
        let handler = Arc::new(RelayHandler::new(
            Relay::new(Some(to), SystemResolver),
            stats,
        ));
        let rt = Runtime::start(cfg, handler).unwrap();
        let from = rt.transport().listen_addrs()[0];
        let mut clients: Vec<TcpStream> = (0..CLIENTS)
            .map(|_| TcpStream::connect(from).unwrap())
            .collect();
        let data = batches(&clients);
        // Open the relay's connection to the sink before measuring: the bench is about the
        // hot path, and a burst of more than `tcp_async_max_postponed_chunks` (32) messages
        // queued on a connection that is still connecting closes it, as OpenSIPS does.
        let warm = count.get() + 1;
        let port = clients[0].local_addr().unwrap().port();
        clients[0].write_all(&request(PER_CLIENT, port)).unwrap();
        count.wait_for(warm);
        g.bench_function("sipwired_relay", |b| {
            b.iter(|| {
                let target = count.get() + per_iter;
                for (c, d) in clients.iter_mut().zip(&data) {
                    c.write_all(d).unwrap();
                }
                count.wait_for(target);
            })
        });
        drop(clients);
        rt.shutdown();
    }
    g.finish();
}

criterion_group!(benches, bench_relay);
criterion_main!(benches);
