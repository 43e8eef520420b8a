//! Shared helpers for the runtime's loopback integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use sipwire::config::{Config, ParseOptions};
use sipwire::{ConId, Ctx, Event, Handler, HandlerError, Message, MessageKind, Runtime, Transport};

/// Generous bound for anything that should happen "soon" on a loaded 2-core machine.
pub const WAIT: Duration = Duration::from_secs(10);

/// A message as the handler saw it.
#[derive(Debug, Clone)]
pub struct Got {
    pub kind: MessageKind,
    pub bytes: Vec<u8>,
    pub conid: ConId,
    pub source: SocketAddr,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub chunks: u32,
    pub owned: bool,
    /// The thread that ran `on_message`.
    pub thread: String,
}

/// A hook the test runs inside `on_message`.
pub type OnMsg = Box<dyn Fn(&Ctx<'_>, &Got) + Send + Sync>;

/// Records messages and events; optionally fails messages containing "FAIL".
#[derive(Default)]
pub struct Recorder {
    pub msgs: Mutex<Vec<Got>>,
    pub events: Mutex<Vec<Event>>,
    cv: Condvar,
    pub on_msg: Mutex<Option<OnMsg>>,
}

impl Handler for Recorder {
    fn on_message(&self, ctx: &Ctx<'_>, msg: Message<'_>) -> Result<(), HandlerError> {
        let got = Got {
            kind: msg.kind,
            owned: matches!(msg.bytes, std::borrow::Cow::Owned(_)),
            bytes: msg.bytes.to_vec(),
            conid: msg.conid,
            source: msg.source,
            peer: msg.peer,
            local: msg.local,
            chunks: msg.chunks,
            thread: std::thread::current().name().unwrap_or("?").to_string(),
        };
        if let Some(f) = self.on_msg.lock().as_ref() {
            f(ctx, &got);
        }
        let fail = got.bytes.windows(4).any(|w| w == b"FAIL");
        self.msgs.lock().push(got);
        self.cv.notify_all();
        if fail {
            Err(HandlerError("test asked to fail".into()))
        } else {
            Ok(())
        }
    }

    fn on_event(&self, event: &Event) {
        self.events.lock().push(*event);
        self.cv.notify_all();
    }
}

impl Recorder {
    /// Waits until `n` messages were recorded.
    pub fn wait_msgs(&self, n: usize) -> Vec<Got> {
        let deadline = Instant::now() + WAIT;
        let mut g = self.msgs.lock();
        while g.len() < n {
            assert!(
                !self.cv.wait_until(&mut g, deadline).timed_out() || g.len() >= n,
                "timed out waiting for {n} messages, have {}",
                g.len()
            );
        }
        g.clone()
    }

    /// Waits until `n` events were recorded.
    pub fn wait_events(&self, n: usize) -> Vec<Event> {
        let deadline = Instant::now() + WAIT;
        let mut g = self.events.lock();
        while g.len() < n {
            assert!(
                !self.cv.wait_until(&mut g, deadline).timed_out() || g.len() >= n,
                "timed out waiting for {n} events, have {:?}",
                *g
            );
        }
        g.clone()
    }

    pub fn msg_count(&self) -> usize {
        self.msgs.lock().len()
    }
}

/// Starts a runtime on 127.0.0.1 (port chosen by the OS) with extra config lines.
pub fn start(extra: &str) -> (Runtime, Arc<Recorder>, SocketAddr) {
    let text = format!("listen=tcp:127.0.0.1:0\ntcp_children=2\n{extra}\n");
    let (cfg, _warnings) = Config::from_str_with("test.cfg", &text, ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    start_with(cfg)
}

pub fn start_with(cfg: Config) -> (Runtime, Arc<Recorder>, SocketAddr) {
    let rec = Arc::new(Recorder::default());
    let rt = Runtime::start(cfg, rec.clone()).unwrap_or_else(|e| panic!("{e}"));
    let addr = rt.transport().listen_addrs()[0];
    (rt, rec, addr)
}

/// A SIP request with a body and Content-Length.
pub fn sip(n: usize, body: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK{n}\r\n\
         Call-ID: c{n}@test\r\nCSeq: {n} OPTIONS\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Reads until EOF or error; true when the server closed the connection within `WAIT`.
pub fn wait_closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
    false
}

/// Waits for a runtime condition with a deadline.
pub fn wait_for(t: &Transport, what: &str, cond: impl FnMut(&Transport) -> bool) {
    assert!(t.wait_until(WAIT, cond), "timed out waiting for: {what}");
}

pub fn send(s: &mut TcpStream, b: &[u8]) {
    s.write_all(b).unwrap();
}
