//! TCP main never waits for room in a socket: a send the application makes from `on_event`
//! (which runs on TCP main) to a connection whose socket is full is queued at once, instead of
//! waiting `tcp_async_local_write_timeout` — during which TCP main would accept nobody.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sipwire::config::{Config, ParseOptions};
use sipwire::{ConId, Ctx, Event, Handler, HandlerError, Message, Runtime, Transport};
use sipwire_testkit::prelude::*;

/// Echoes every message; remembers the first sender (the victim whose socket fills up) and,
/// on every close event, sends 64 KiB to it from TCP main.
#[derive(Default)]
struct H {
    victim: Mutex<Option<(ConId, Transport)>>,
}

impl Handler for H {
    fn on_message(&self, ctx: &Ctx<'_>, msg: Message<'_>) -> Result<(), HandlerError> {
        let mut v = self.victim.lock().unwrap();
        if v.is_none() {
            *v = Some((msg.conid, ctx.transport().clone()));
            return Ok(());
        }
        drop(v);
        ctx.reply(&msg.bytes)
            .map(drop)
            .map_err(|e| HandlerError(e.to_string()))
    }

    fn on_event(&self, _ev: &Event) {
        if let Some((id, t)) = self.victim.lock().unwrap().clone() {
            let _ = t.send(id, &vec![b'x'; 64 * 1024]);
        }
    }
}

/// A small OPTIONS request, numbered.
fn msg(n: usize) -> String {
    String::from_utf8(options(n, "")).unwrap()
}

#[test]
fn a_send_from_on_event_to_a_full_socket_does_not_stall_accepts() {
    let text = "listen=tcp:127.0.0.1:0\ntcp_children=1\ntcp_async_local_write_timeout=1500\n\
                tcp_conn_wq_max=1048576\ntcp_wq_max=67108864\n";
    let (cfg, _) = Config::from_str_with("t.cfg", text, ParseOptions::default()).unwrap();
    let h = Arc::new(H::default());
    let rt = Runtime::start(cfg, h.clone()).unwrap();
    let t = rt.transport();
    let addr = t.listen_addrs()[0];

    // The victim never reads; fill its socket until the runtime has to queue.
    let mut victim = SipConn::connect(addr);
    victim.send(&msg(0));
    wait_for("the victim is known", WAIT, || {
        h.victim.lock().unwrap().is_some()
    });
    let (vid, _) = h.victim.lock().unwrap().clone().unwrap();
    let chunk = vec![b'y'; 256 * 1024];
    wait_for("the victim's socket is full", WAIT, || {
        t.send(vid, &chunk).unwrap();
        t.stats().queued_bytes > 0
    });

    // A close makes TCP main send to the full socket; right after, a new client must be
    // accepted and answered at once.
    drop(TcpStream::connect(addr).unwrap());
    let mut worst = Duration::ZERO;
    for i in 0..5 {
        let start = Instant::now();
        let mut c = SipConn::connect(addr);
        c.send(&msg(i + 1));
        let r = c.recv();
        assert!(r.starts_with("OPTIONS "), "{r}");
        worst = worst.max(start.elapsed());
        drop(c); // another close event, another send from TCP main to the full socket
    }
    eprintln!("tcp_main_never_waits: worst round trip of a new client {worst:?}");
    // Waiting for room would take 1.5 s per close event on TCP main.
    assert!(
        worst < Duration::from_millis(700),
        "a new client waited {worst:?}"
    );
    drop(victim);
    rt.shutdown();
}
