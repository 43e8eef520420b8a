//! Read-buffer accounting: a connection that closes with a partial message buffered gives its
//! read buffer back to the pool (`read_buffers_in_use` returns to 0).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sipwire::config::{Config, ParseOptions};
use sipwire::{Ctx, Handler, HandlerError, Message, Runtime, Transport};

/// Generous bound on a loaded machine; the wait ends as soon as the condition holds.
const WAIT: Duration = Duration::from_secs(10);

struct Ignore;

impl Handler for Ignore {
    fn on_message(&self, _ctx: &Ctx<'_>, _msg: Message<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// Polls `cond` until it holds or `WAIT` passes; true if it held.
fn wait_until(t: &Transport, mut cond: impl FnMut(&Transport) -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    loop {
        if cond(t) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn start() -> Runtime {
    let text = "listen=tcp:127.0.0.1:0\ntcp_children=2\n";
    let (cfg, _warnings) = Config::from_str_with("test.cfg", text, ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    Runtime::start(cfg, Arc::new(Ignore)).unwrap_or_else(|e| panic!("{e}"))
}

const HALF: &[u8] =
    b"OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK1\r\n\
Call-ID: c1@test\r\nCSeq: 1 OPT";

#[test]
fn close_with_partial_message_returns_the_read_buffer() {
    let rt = start();
    let t = rt.transport();
    let addr = t.listen_addrs()[0];
    for round in 0..3 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(HALF).unwrap();
        assert!(
            wait_until(&t, |t| t.stats().read_buffers_in_use >= 1),
            "round {round}: the partial message never took a read buffer"
        );
        drop(c);
        assert!(
            wait_until(&t, |t| t.connection_count() == 0),
            "round {round}: the connection did not close"
        );
        assert!(
            wait_until(&t, |t| t.stats().read_buffers_in_use == 0),
            "round {round}: read_buffers_in_use stayed at {} after the close",
            t.stats().read_buffers_in_use
        );
    }
    rt.shutdown();
}
