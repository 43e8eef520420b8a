//! Runtime inbound bench: messages per second through accept → read → frame → handler over
//! loopback, per poll method, with 1 and 2 readers.
//!
//! Setup per case: a runtime on 127.0.0.1 whose handler only counts, and 8 client connections.
//! One iteration: every client writes a batch of ~400-byte SIP requests in one `write`, and the
//! iteration ends when the handler has counted all of them. The baseline, `loopback_only`, is
//! the same writes read back by a plain blocking reader thread per connection that only finds
//! message ends with `memchr::memmem` — the floor a runtime can approach.
//! Run: `cargo bench -p sipwire-benches --bench runtime`.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sipwire::config::{Config, ParseOptions};
use sipwire::{Ctx, Handler, HandlerError, Message, Runtime};
use sipwire_benches::Counter;

const CLIENTS: usize = 8;
const PER_CLIENT: usize = 32;

#[derive(Default)]
struct Count(Counter);

impl Handler for Count {
    fn on_message(&self, _ctx: &Ctx<'_>, msg: Message<'_>) -> Result<(), HandlerError> {
        std::hint::black_box(msg.bytes.len());
        self.0.add(1);
        Ok(())
    }
}

fn request(n: usize) -> Vec<u8> {
    format!(
        "OPTIONS sip:bob@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/TCP 127.0.0.1:40000;branch=z9hG4bK-bench-{n:08}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=1928301774\r\n\
         To: <sip:bob@127.0.0.1>\r\nCall-ID: a84b4c76e66710-{n:08}@127.0.0.1\r\n\
         CSeq: 63104 OPTIONS\r\nContact: <sip:alice@127.0.0.1:40000;transport=tcp>\r\n\
         Accept: application/sdp\r\nUser-Agent: sipwire-bench\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn batch() -> Vec<u8> {
    (0..PER_CLIENT).flat_map(request).collect()
}

fn bench_runtime(c: &mut Criterion) {
    let _ = sipwire_sys::raise_fd_limit();
    let batch = batch();
    let per_iter = (CLIENTS * PER_CLIENT) as u64;
    let mut g = c.benchmark_group("runtime_inbound");
    g.throughput(Throughput::Elements(per_iter));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));

    // Baseline: blocking reader threads that only find message ends.
    {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let count = Arc::new(Counter::default());
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            clients.push(TcpStream::connect(addr).unwrap());
            let (mut s, _) = l.accept().unwrap();
            let count = count.clone();
            std::thread::spawn(move || {
                let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let k = finder.find_iter(&buf[..n]).count() as u64;
                    count.add(k);
                }
            });
        }
        g.bench_function("loopback_only", |b| {
            b.iter(|| {
                let target = count.get() + per_iter;
                for c in &mut clients {
                    c.write_all(&batch).unwrap();
                }
                count.wait_for(target);
            })
        });
    }

    for method in ["epoll_et", "epoll_lt", "poll", "select"] {
        for readers in [1usize, 2] {
            let text = format!(
                "listen=tcp:127.0.0.1:0\ntcp_poll_method={method}\ntcp_children={readers}\n"
            );
            let (cfg, _) =
                Config::from_str_with("bench.cfg", &text, ParseOptions::default()).unwrap();
            let count = Arc::new(Count::default());
            let rt = Runtime::start(cfg, count.clone()).unwrap();
            let addr = rt.transport().listen_addrs()[0];
            let mut clients: Vec<TcpStream> = (0..CLIENTS)
                .map(|_| TcpStream::connect(addr).unwrap())
                .collect();
            g.bench_with_input(
                BenchmarkId::new(method, format!("{readers}_readers")),
                &readers,
                |b, _| {
                    b.iter(|| {
                        let target = count.0.get() + per_iter;
                        for c in &mut clients {
                            c.write_all(&batch).unwrap();
                        }
                        count.0.wait_for(target);
                    })
                },
            );
            drop(clients);
            rt.shutdown();
        }
    }
    g.finish();
}

criterion_group!(benches, bench_runtime);
criterion_main!(benches);
