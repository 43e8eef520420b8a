//! Allocations per relayed message on sipwired's steady path (issue 16): the relay handler in
//! a real runtime between a client and a UAS over loopback TCP, requests one way and their
//! responses back, counted by a counting global allocator.
//!
//! What counts: only the allocations made by the reader thread *inside* the handler's
//! `on_message` (the relay's parsing and editing, the handler's glue and its `send`), each
//! call run with its thread armed ([`count_allocs`]: a thread-local flag the allocator reads).
//! Everything else the process does — the test harness, the client and UAS threads, the
//! runtime's reading, framing and connection handling — allocates unarmed and is not counted,
//! so the number does not depend on the machine's load or on what the runtime does around
//! the handler (a baseline subtraction would). Counted after a warm-up (connections open,
//! buffers grown), over many transactions.
//!
//! It lives in the benches crate because the counting allocator needs `unsafe`, which only
//! `sipwire-sys` may hold (`tools/check-layers.sh`), and this crate depends on both
//! `sipwire-sys` and `sipwired`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sipwire::config::{Config, ParseOptions};
use sipwire::{ConId, Ctx, Event, Handler, HandlerError, Message, Runtime, Transport};
use sipwire_sys::alloc_count::{count_allocs, CountingAlloc};
use sipwired::handler::RelayHandler;
use sipwired::relay::{Relay, RelayStats, SystemResolver};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

/// The most allocations a relayed message (request or response) may make on the steady path.
const MAX_ALLOCS_PER_MESSAGE: f64 = 0.0;

/// Transactions before counting (connections opened, buffers and caches grown).
const WARM_UP: usize = 300;
/// Transactions counted.
const COUNTED: usize = 2000;
/// Requests in flight per batch.
const BATCH: usize = 50;

/// `inner`, with each `on_message` counted.
struct Counted<H> {
    inner: H,
    allocs: AtomicU64,
    /// The part of `allocs` made relaying responses.
    response_allocs: AtomicU64,
    messages: AtomicU64,
}

impl<H: Handler> Handler for Counted<H> {
    fn on_message(&self, ctx: &Ctx<'_>, msg: Message<'_>) -> Result<(), HandlerError> {
        let response = msg.bytes.starts_with(b"SIP/2.0 ");
        let (r, n) = count_allocs(|| self.inner.on_message(ctx, msg));
        self.allocs.fetch_add(n, Ordering::Relaxed);
        if response {
            self.response_allocs.fetch_add(n, Ordering::Relaxed);
        }
        self.messages.fetch_add(1, Ordering::Release);
        r
    }

    fn on_event(&self, event: &Event) {
        self.inner.on_event(event);
    }

    fn on_unsent(&self, transport: &Transport, conid: ConId, msg: &[u8]) {
        self.inner.on_unsent(transport, conid, msg);
    }
}

fn request(n: usize, me: SocketAddr) -> Vec<u8> {
    format!(
        "INVITE sip:uas@127.0.0.1:5070 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {me};branch=z9hG4bK-alloc-{n:08};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=1928301774\r\n\
         To: <sip:uas@127.0.0.1>\r\nCall-ID: a84b4c76e66710-{n:08}@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:alice@{me};transport=tcp>\r\n\
         User-Agent: sipwire-alloc-test\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Reads `want` whole messages (no bodies: they end at the empty line) from `s`, calling
/// `each`; `false` if the connection ended first.
fn read_messages(s: &mut TcpStream, want: usize, mut each: impl FnMut(&[u8])) -> bool {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let mut seen = 0;
    while seen < want {
        let n = s.read(&mut chunk).unwrap_or(0);
        if n == 0 {
            return false;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            each(&buf[..end + 4]);
            buf.drain(..end + 4);
            seen += 1;
        }
    }
    true
}

/// A UAS answering every request with a 200 carrying its headers.
fn uas() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        while let Ok((mut s, _)) = l.accept() {
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                // Until the relay closes the connection (at the end of the test).
                read_messages(&mut s, usize::MAX, |req| {
                    let lf = req.iter().position(|&b| b == b'\n').unwrap_or(0);
                    let mut resp = b"SIP/2.0 200 OK\r\n".to_vec();
                    resp.extend_from_slice(&req[lf + 1..]);
                    let _ = w.write_all(&resp);
                });
            });
        }
    });
    a
}

fn transactions(client: &mut TcpStream, from: usize, count: usize) {
    let me = client.local_addr().unwrap();
    let mut reader = client.try_clone().unwrap();
    let mut n = from;
    while n < from + count {
        let k = BATCH.min(from + count - n);
        let batch: Vec<u8> = (n..n + k).flat_map(|i| request(i, me)).collect();
        client.write_all(&batch).unwrap();
        let complete = read_messages(&mut reader, k, |resp| {
            assert!(
                resp.starts_with(b"SIP/2.0 200 OK\r\n"),
                "{}",
                String::from_utf8_lossy(resp)
            );
        });
        assert!(complete, "the relay closed the client connection");
        n += k;
    }
}

#[test]
fn the_steady_relay_path_allocates_nothing_per_message() {
    // The counter counts (a 0 below must not come from an allocator that is not installed).
    let (v, n) = count_allocs(|| std::hint::black_box(Vec::<u8>::with_capacity(64)));
    drop(v);
    assert_eq!(n, 1, "the counting allocator sees this thread's allocation");

    let to = uas();
    let text = "listen=tcp:127.0.0.1:0\ntcp_children=2\n";
    let (cfg, _) = Config::from_str_with("alloc.cfg", text, ParseOptions::default()).unwrap();
    let relay = RelayHandler::new(
        Relay::new(Some(to), SystemResolver),
        Arc::new(RelayStats::default()),
    );
    let handler = Arc::new(Counted {
        inner: relay,
        allocs: AtomicU64::new(0),
        response_allocs: AtomicU64::new(0),
        messages: AtomicU64::new(0),
    });
    let rt = Runtime::start(cfg, handler.clone()).unwrap();
    let addr = rt.transport().listen_addrs()[0];
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();

    // One transaction alone first: it opens the relay's connection to the UAS (a burst on a
    // connection still connecting is refused past `tcp_async_max_postponed_chunks`).
    transactions(&mut client, 0, 1);
    transactions(&mut client, 1, WARM_UP - 1);
    let wait_handled = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while handler.messages.load(Ordering::Acquire) < n {
            assert!(Instant::now() < deadline, "handler calls did not finish");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    wait_handled(2 * WARM_UP as u64);
    let (a0, r0, m0) = (
        handler.allocs.load(Ordering::Relaxed),
        handler.response_allocs.load(Ordering::Relaxed),
        handler.messages.load(Ordering::Acquire),
    );
    transactions(&mut client, WARM_UP, COUNTED);
    wait_handled(m0 + 2 * COUNTED as u64);
    let allocs = handler.allocs.load(Ordering::Relaxed) - a0;
    let responses = handler.response_allocs.load(Ordering::Relaxed) - r0;
    let messages = handler.messages.load(Ordering::Acquire) - m0;
    let per = allocs as f64 / messages as f64;
    eprintln!(
        "{allocs} allocations in {messages} relayed messages: {per:.3} per message \
         ({} in requests, {responses} in responses)",
        allocs - responses
    );
    drop(client);
    rt.shutdown();
    assert_eq!(
        messages,
        2 * COUNTED as u64,
        "every request and response relayed"
    );
    assert!(
        per <= MAX_ALLOCS_PER_MESSAGE,
        "{per:.3} allocations per relayed message (at most {MAX_ALLOCS_PER_MESSAGE})"
    );
}
