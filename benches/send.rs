//! Send path bench: the cost of `Transport::send` of one ~400-byte message to an existing
//! connection, with the fd cache on and off, from 1 and from 8 concurrent sending threads.
//!
//! The receiving peer is a plain thread that reads and discards. The baseline, `raw_write`, is
//! a `write(2)` of the same bytes on a plain socket (TCP_NODELAY, like the runtime's) to the same
//! kind of peer: what the send path
//! adds on top of the syscall is the difference. Run: `cargo bench -p sipwire-benches --bench send`.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sipwire::config::{Config, ParseOptions};
use sipwire::{Ctx, Handler, HandlerError, Message, Runtime};

struct Nop;

impl Handler for Nop {
    fn on_message(&self, _ctx: &Ctx<'_>, _msg: Message<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// A peer that reads and discards everything.
fn sink() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        while let Ok((mut s, _)) = l.accept() {
            std::thread::spawn(move || {
                let mut b = vec![0u8; 1 << 16];
                while matches!(s.read(&mut b), Ok(n) if n > 0) {}
            });
        }
    });
    a
}

fn message() -> Vec<u8> {
    let mut m = b"MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-1\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: bench@127.0.0.1\r\n\
CSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
        .to_vec();
    let body = vec![b'x'; 400 - m.len() - 24];
    m.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    m.extend_from_slice(&body);
    m
}

fn bench_send(c: &mut Criterion) {
    let msg = message();
    let mut g = c.benchmark_group("send_path");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(1));

    let peer = sink();
    let mut raw = TcpStream::connect(peer).unwrap();
    // The runtime sets TCP_NODELAY on every connection (as Kamailio): same here, or the
    // baseline would get Nagle's coalescing for free.
    raw.set_nodelay(true).unwrap();
    g.bench_function("raw_write/1_thread", |b| {
        b.iter(|| raw.write_all(&msg).unwrap())
    });

    for cache in ["yes", "no"] {
        // Generous queue limits: 8 senders can outrun the sink for a moment; that is not what is
        // measured here.
        let text = format!(
            "listen=tcp:127.0.0.1:0\ntcp_children=1\ntcp_fd_cache={cache}\ntcp_conn_wq_max=1048576\n\
             tcp_send_timeout=10\n\
             modparam(\"proto_tcp\", \"tcp_async_max_postponed_chunks\", 65535)\n"
        );
        let (cfg, _) = Config::from_str_with("bench.cfg", &text, ParseOptions::default()).unwrap();
        let rt = Runtime::start(cfg, Arc::new(Nop)).unwrap();
        let t = rt.transport();
        let id = t.send(peer, &msg).unwrap();
        g.bench_with_input(
            BenchmarkId::new(format!("fd_cache_{cache}"), "1_thread"),
            &(),
            |b, _| b.iter(|| t.send(id, &msg).unwrap()),
        );
        // 8 threads share the connection: the time per message is wall time / messages sent.
        g.bench_with_input(
            BenchmarkId::new(format!("fd_cache_{cache}"), "8_threads"),
            &(),
            |b, _| {
                b.iter_custom(|iters| {
                    let per = iters.div_ceil(8);
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..8 {
                            let t = t.clone();
                            let msg = &msg;
                            s.spawn(move || {
                                for _ in 0..per {
                                    t.send(id, msg).unwrap();
                                }
                            });
                        }
                    });
                    start.elapsed().mul_f64(iters as f64 / (per * 8) as f64)
                })
            },
        );
        rt.shutdown();
    }
    g.finish();
}

criterion_group!(benches, bench_send);
criterion_main!(benches);
