//! C ABI bench: message in → callback → reply out, through libsipwire's C ABI
//! (`sipwire_runtime_new` with an `extern "C"` `on_message` that calls `sipwire_reply`) against
//! the same through the Rust API (`Handler::on_message` calling `Ctx::reply`), in one run.
//!
//! Setup per case: a runtime on 127.0.0.1 with 2 readers and 8 client connections, each with a
//! thread counting the replies it reads. One iteration: every client writes a batch of 32
//! ~400-byte OPTIONS in one `write`; it ends when all 256 replies are back. The C side is
//! called exactly as a C program would call it (the functions are the exported symbols; only
//! the callback is written in Rust), so the difference is the cost of the ABI layer.
//! Run: `cargo bench -p sipwire-benches --bench ffi`.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::ffi::{c_int, c_void};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sipwire::config::{Config, ParseOptions};
use sipwire::{Ctx, Handler, HandlerError, Message, Runtime};
use sipwire_benches::Counter;
use sipwire_ffi as ffi;

const CLIENTS: usize = 8;
const PER_CLIENT: usize = 32;
const CONFIG: &str = "listen=tcp:127.0.0.1:0\ntcp_children=2\n";

/// The reply every request gets: fixed bytes, so both sides do the same work.
const REPLY: &[u8] = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:40000;branch=z9hG4bK-bench\r\n\
From: <sip:alice@127.0.0.1>;tag=1928301774\r\nTo: <sip:bob@127.0.0.1>;tag=42\r\n\
Call-ID: a84b4c76e66710@127.0.0.1\r\nCSeq: 63104 OPTIONS\r\nContent-Length: 0\r\n\r\n";

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

/// The Rust API side.
struct Replier;

impl Handler for Replier {
    fn on_message(&self, ctx: &Ctx<'_>, _msg: Message<'_>) -> Result<(), HandlerError> {
        ctx.reply(REPLY)
            .map(|_| ())
            .map_err(|e| HandlerError(e.to_string()))
    }
}

/// The C ABI side's `on_message`, as a C server would write it.
extern "C" fn c_on_message(_userdata: *mut c_void, msg: *const ffi::sipwire_message) -> c_int {
    let r = ffi::sipwire_reply(msg, REPLY.as_ptr(), REPLY.len(), std::ptr::null_mut());
    if r == ffi::sipwire_result::SIPWIRE_RESULT_OK {
        0
    } else {
        -1
    }
}

/// A runtime started through the C ABI, freed on drop.
struct CRuntime(*mut ffi::sipwire_runtime);

impl CRuntime {
    fn start() -> (CRuntime, SocketAddr) {
        let mut cfg: *mut ffi::sipwire_config = std::ptr::null_mut();
        assert_eq!(
            ffi::sipwire_config_new(&mut cfg),
            ffi::sipwire_result::SIPWIRE_RESULT_OK
        );
        let r = ffi::sipwire_config_load_text(
            cfg,
            c"bench.cfg".as_ptr(),
            CONFIG.as_ptr(),
            CONFIG.len(),
            0,
        );
        assert_eq!(r, ffi::sipwire_result::SIPWIRE_RESULT_OK);
        let cb = ffi::sipwire_callbacks {
            userdata: std::ptr::null_mut(),
            on_message: Some(c_on_message),
            on_event: None,
            on_unsent: None,
        };
        let mut rt: *mut ffi::sipwire_runtime = std::ptr::null_mut();
        assert_eq!(
            ffi::sipwire_runtime_new(cfg, &cb, &mut rt),
            ffi::sipwire_result::SIPWIRE_RESULT_OK
        );
        ffi::sipwire_config_free(cfg);
        let mut addr = ffi::sipwire_addr {
            family: 0,
            port: 0,
            ip: [0; 16],
        };
        let mut n = 0usize;
        assert_eq!(
            ffi::sipwire_runtime_listen_addrs(rt, &mut addr, 1, &mut n),
            ffi::sipwire_result::SIPWIRE_RESULT_OK
        );
        let ip = [addr.ip[0], addr.ip[1], addr.ip[2], addr.ip[3]];
        (CRuntime(rt), SocketAddr::from((ip, addr.port)))
    }
}

impl Drop for CRuntime {
    fn drop(&mut self) {
        ffi::sipwire_runtime_free(self.0);
    }
}

/// Clients with one reply-counting thread each.
fn clients(addr: SocketAddr, count: &Arc<Counter>) -> Vec<TcpStream> {
    (0..CLIENTS)
        .map(|_| {
            let s = TcpStream::connect(addr).unwrap();
            s.set_nodelay(true).unwrap();
            let mut r = s.try_clone().unwrap();
            let count = count.clone();
            std::thread::spawn(move || {
                let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
                let mut buf = vec![0u8; 65536];
                let mut tail = 0usize;
                while let Ok(n) = r.read(&mut buf[tail..]) {
                    if n == 0 {
                        break;
                    }
                    let filled = tail + n;
                    let ends: Vec<usize> = finder.find_iter(&buf[..filled]).collect();
                    count.add(ends.len() as u64);
                    let keep = ends.last().map_or(0, |e| e + 4);
                    buf.copy_within(keep..filled, 0);
                    tail = filled - keep;
                }
            });
            s
        })
        .collect()
}

fn bench_ffi(c: &mut Criterion) {
    let batch: Vec<u8> = (0..PER_CLIENT).flat_map(request).collect();
    let per_iter = (CLIENTS * PER_CLIENT) as u64;
    let mut g = c.benchmark_group("reply_roundtrip");
    g.throughput(Throughput::Elements(per_iter));
    g.sample_size(30);
    g.measurement_time(Duration::from_secs(4));
    g.warm_up_time(Duration::from_secs(1));
    let mut round = |name: &str, addr: SocketAddr| {
        let count = Arc::new(Counter::default());
        let mut cs = clients(addr, &count);
        g.bench_function(name, |b| {
            b.iter(|| {
                let target = count.get() + per_iter;
                for c in &mut cs {
                    c.write_all(&batch).unwrap();
                }
                count.wait_for(target);
            })
        });
    };
    // Alternate the two sides twice, so drift over the run shows as a difference between
    // rounds of the same side rather than between sides.
    for pass in 1..=2 {
        {
            let (cfg, _) =
                Config::from_str_with("bench.cfg", CONFIG, ParseOptions::default()).unwrap();
            let rt = Runtime::start(cfg, Arc::new(Replier)).unwrap();
            let addr = rt.transport().listen_addrs()[0];
            round(&format!("rust_api/{pass}"), addr);
            rt.shutdown();
        }
        {
            let (rt, addr) = CRuntime::start();
            round(&format!("c_abi/{pass}"), addr);
            drop(rt);
        }
    }
    g.finish();
}

criterion_group!(benches, bench_ffi);
criterion_main!(benches);
