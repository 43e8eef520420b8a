//! `Handler::on_unsent` hands out every message a send accepted (returned `Ok`) that was not
//! completely written, each whole and exactly once: as many calls as the close event's
//! `unsent_msgs`, and together with what the peer read, every accepted message — a queue
//! cleared by the final close (TCP main) and a corked batch the queue refused (the reader).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sipwire::config::{Config, ParseOptions};
use sipwire::{ConId, Ctx, Event, Handler, HandlerError, Message, Runtime, Transport};
use sipwire_testkit::prelude::*;

/// Numbered messages of about 1 KiB.
fn msg(n: usize) -> Vec<u8> {
    options(n, &"x".repeat(1000))
}

/// The Call-ID number of a message (`c<n>@test`).
fn number(bytes: &[u8]) -> usize {
    let text = String::from_utf8_lossy(bytes);
    let n = text.split("Call-ID: c").nth(1).unwrap().split('@').next();
    n.unwrap().parse().unwrap()
}

/// The test kit's recorder, plus every `on_unsent` call: (conid, bytes, on TCP main).
#[derive(Default)]
struct Unsents {
    rec: Arc<Recorder>,
    got: Mutex<Vec<(ConId, Vec<u8>, String)>>,
}

impl Handler for Unsents {
    fn on_message(&self, ctx: &Ctx<'_>, msg: Message<'_>) -> Result<(), HandlerError> {
        self.rec.on_message(ctx, msg)
    }
    fn on_event(&self, ev: &Event) {
        self.rec.on_event(ev)
    }
    fn on_unsent(&self, _t: &Transport, conid: ConId, msg: &[u8]) {
        let thread = std::thread::current().name().unwrap_or("").to_string();
        self.got.lock().unwrap().push((conid, msg.to_vec(), thread));
    }
}

fn start_unsents(extra: &str) -> (Runtime, Arc<Unsents>, SocketAddr) {
    let text = format!("listen=tcp:127.0.0.1:0\ntcp_children=2\n{extra}\n");
    let (cfg, _) = Config::from_str_with("test.cfg", &text, ParseOptions::default()).unwrap();
    let h = Arc::new(Unsents::default());
    let rt = Runtime::start(cfg, h.clone()).unwrap();
    let addr = rt.transport().listen_addrs()[0];
    (rt, h, addr)
}

/// Reads everything until EOF: the distinct message numbers received whole.
fn read_all(s: TcpStream) -> HashSet<usize> {
    let mut got = HashSet::new();
    for_each_frame(s, |f| {
        assert!(got.insert(number(f)), "message received twice");
    });
    got
}

fn close_event(rec: &Recorder, id: ConId) -> Event {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(e) = rec.events.lock().iter().find(|e| e.conid == id) {
            return *e;
        }
        assert!(std::time::Instant::now() < deadline, "no close event");
        std::thread::sleep(Duration::from_millis(10));
    }
}

const BIG_QUEUE: &str = "tcp_conn_wq_max=1048576\ntcp_wq_max=134217728\n\
                         tcp_async_max_postponed_chunks=65535";

/// Sends numbered messages from `*next` until the queues hold `queued` bytes after a pause.
fn fill_settled(t: &Transport, dst: SocketAddr, next: &mut usize, queued: u64) {
    for _ in 0..50 {
        while t.stats().queued_bytes < queued {
            assert!(*next < 100_000, "the queue never filled");
            t.send(dst, &msg(*next)).unwrap();
            *next += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
        if t.stats().queued_bytes >= queued * 3 / 4 {
            return;
        }
    }
    panic!("the queue never stayed full");
}

/// Every accepted message (numbers `0..accepted`) was read by the peer or handed to
/// `on_unsent` — whole, once — and the calls are as many as the event's `unsent_msgs`.
fn check(h: &Unsents, id: ConId, ev: &Event, read: &HashSet<usize>, accepted: usize) -> usize {
    let got = h.got.lock().unwrap();
    assert!(got.iter().all(|(c, _, _)| *c == id));
    assert_eq!(
        got.len(),
        ev.unsent_msgs,
        "one call per unsent message: {ev:?}"
    );
    let mut unsent = HashSet::new();
    for (_, bytes, _) in got.iter() {
        let n = number(bytes);
        assert_eq!(bytes, &msg(n), "message {n} handed out whole, exactly");
        assert!(unsent.insert(n), "message {n} handed out twice");
        assert!(
            !read.contains(&n),
            "message {n} read by the peer and handed out"
        );
    }
    assert_eq!(
        read.len() + unsent.len(),
        accepted,
        "every accepted message accounted"
    );
    got.iter().filter(|(_, _, t)| t.contains("main")).count()
}

#[test]
fn a_queue_cleared_by_the_close_is_handed_out_message_by_message() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let dst = listener.local_addr().unwrap();
    let (rt, h, _addr) = start_unsents(BIG_QUEUE);
    let t = rt.transport();
    let id = t.send(dst, &msg(0)).unwrap();
    let (s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut next = 1;
    fill_settled(&t, dst, &mut next, 700_000);
    t.close_connection(id).unwrap();
    let ev = close_event(&h.rec, id);
    let read = read_all(s);
    assert!(ev.unsent_msgs > 0, "the queue held messages: {ev:?}");
    let on_main = check(&h, id, &ev, &read, next);
    println!(
        "queue at close: accepted {next}, read {}, on_unsent {} ({on_main} on TCP main)",
        read.len(),
        ev.unsent_msgs
    );
    drop(rt);
}

#[test]
fn a_corked_batch_over_the_queue_limit_is_handed_out_message_by_message() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let dst = listener.local_addr().unwrap();
    let (rt, h, addr) = start_unsents(BIG_QUEUE);
    let t = rt.transport();
    let id = t.send(dst, &msg(0)).unwrap();
    let (s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut next = 1;
    fill_settled(&t, dst, &mut next, 700_000);
    // 12 000 KiB in one read pass: more than the kernel's buffers and the 1 MiB queue.
    let burst = 12_000;
    let accepted = Arc::new(AtomicUsize::new(next));
    let acc2 = accepted.clone();
    *h.rec.on_msg.lock() = Some(Box::new(move |ctx, got| {
        if number(&got.bytes) == 999_999 {
            for n in next..next + burst {
                if ctx.send(dst, &msg(n)).is_ok() {
                    acc2.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }));
    let mut c = connect(addr);
    send(&mut c, &options(999_999, "go"));
    h.rec.wait_msgs(1);
    send(&mut c, &options(999_998, "after"));
    h.rec.wait_msgs(2);
    let accepted = accepted.load(Ordering::Relaxed);
    assert_eq!(accepted, next + burst, "corked sends all return Ok");
    let ev = close_event(&h.rec, id);
    let read = read_all(s);
    let on_main = check(&h, id, &ev, &read, accepted);
    let on_reader = ev.unsent_msgs - on_main;
    assert!(
        on_reader > 0,
        "the refused batch is handed out by the reader: {ev:?}"
    );
    println!(
        "corked batch over the limit: accepted {accepted}, read {}, on_unsent {} \
         ({on_main} on TCP main, {on_reader} on the reader)",
        read.len(),
        ev.unsent_msgs
    );
    drop(rt);
}
