//! Relay hot path, in process: a SIP request in on one socket, relayed out on another — the
//! work `sipwired` does per request (framing, parsing, Via insert, Max-Forwards, routing, send),
//! so a regression shows in `make bench` without Kamailio.
//!
//! Setup: sipwired's relay handler in a runtime forwarding to a sink (`--forward`); 4 client
//! connections. One iteration: every client writes a batch of ~400-byte requests in one
//! `write`; it ends when the sink has seen all of them (it counts `\r\n\r\n`). The baseline,
//! `plain_forward`, is a thread per connection that copies bytes from client to sink unchanged
//! (no parsing at all): the floor of a TCP relay on this machine.
//! `relay_rules` times the relay's rules alone (no I/O): a request, then its response.
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
use sipwired::relay::{
    Action, ActionRef, Context, MacKey, NoConns, Relay, RelayStats, Scratch, SystemResolver,
};

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

/// The relay's rules alone, no I/O: one request decided and edited, then the response to
/// it, as the handler runs them on a reader (the output built in a scratch reused from
/// message to message).
fn bench_rules(c: &mut Criterion) {
    let listen: [SocketAddr; 1] = ["127.0.0.1:5060".parse().unwrap()];
    let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let uas: SocketAddr = "127.0.0.1:5070".parse().unwrap();
    let relay = Relay::new(Some(uas), SystemResolver).with_key(MacKey::from_bytes([7; 16]));
    let from_client = Context {
        source: client,
        local: listen[0],
        listen: &listen,
        sctp_listen: &[],
        conid: 4294967296,
        peer: client,
        conns: &NoConns,
    };
    let from_uas = Context {
        source: uas,
        local: "127.0.0.1:41000".parse().unwrap(),
        conid: 4294967297,
        peer: uas,
        ..from_client
    };
    let req = request(1, client.port());
    let Action::Forward { bytes: fwd, .. } = relay.process(&req, &from_client) else {
        panic!("request not forwarded")
    };
    let lf = fwd.iter().position(|&b| b == b'\n').unwrap();
    let mut resp = b"SIP/2.0 200 OK\r\n".to_vec();
    resp.extend_from_slice(&fwd[lf + 1..]);
    assert!(matches!(
        relay.process(&resp, &from_uas),
        Action::Forward { .. }
    ));

    let mut g = c.benchmark_group("relay_rules");
    g.throughput(Throughput::Elements(1));
    g.sample_size(50);
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    let mut scratch = Scratch::new();
    g.bench_function("request", |b| {
        b.iter(|| decide(&relay, &req, &from_client, &mut scratch))
    });
    g.bench_function("response", |b| {
        b.iter(|| decide(&relay, &resp, &from_uas, &mut scratch))
    });
    g.finish();
}

/// One message through the rules: the length of what would be sent.
fn decide(relay: &Relay, msg: &[u8], ctx: &Context<'_>, scratch: &mut Scratch) -> usize {
    match relay.process_in(std::hint::black_box(msg), ctx, scratch) {
        ActionRef::Forward { bytes, .. } => bytes.len(),
        _ => 0,
    }
}

criterion_group!(benches, bench_relay, bench_rules);
criterion_main!(benches);
