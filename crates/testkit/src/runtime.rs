//! An in-process runtime on loopback with a handler that records what it saw (feature
//! `runtime`), and the plain TCP clients the runtime suites drive it with.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use sipwire::config::{Config, ParseOptions};
use sipwire::{ConId, Ctx, Event, Handler, HandlerError, Message, MessageKind, Runtime};

use crate::wait::{Deadline, WAIT};

/// A message as the handler saw it.
#[derive(Debug, Clone)]
pub struct Got {
    /// SIP or other.
    pub kind: MessageKind,
    /// The message bytes.
    pub bytes: Vec<u8>,
    /// The connection it came on.
    pub conid: ConId,
    /// The source address (the PROXY header's, if any).
    pub source: SocketAddr,
    /// The TCP peer.
    pub peer: SocketAddr,
    /// Our address.
    pub local: SocketAddr,
    /// Reads that carried it.
    pub chunks: u32,
    /// True if the runtime handed it over as an owned copy.
    pub owned: bool,
    /// The thread that ran `on_message`.
    pub thread: String,
}

/// A hook the test runs inside `on_message`.
pub type OnMsg = Box<dyn Fn(&Ctx<'_>, &Got) + Send + Sync>;

/// Records messages and events; fails messages containing "FAIL".
#[derive(Default)]
pub struct Recorder {
    /// Every message so far.
    pub msgs: Mutex<Vec<Got>>,
    /// Every event so far.
    pub events: Mutex<Vec<Event>>,
    cv: Condvar,
    /// Run inside `on_message`, before recording.
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
    /// Waits (up to [`WAIT`]) until `n` items are in `list`; returns a copy of them.
    fn wait_len<T: Clone + std::fmt::Debug>(&self, list: &Mutex<Vec<T>>, n: usize) -> Vec<T> {
        let deadline = Deadline::after(WAIT);
        let mut g = list.lock();
        while g.len() < n {
            let timed_out = self.cv.wait_for(&mut g, deadline.left()).timed_out();
            assert!(
                !timed_out || g.len() >= n,
                "timed out waiting for {n} items, have {:?}",
                *g
            );
        }
        g.clone()
    }

    /// Waits until `n` messages were recorded.
    pub fn wait_msgs(&self, n: usize) -> Vec<Got> {
        self.wait_len(&self.msgs, n)
    }

    /// Waits until `n` events were recorded.
    pub fn wait_events(&self, n: usize) -> Vec<Event> {
        self.wait_len(&self.events, n)
    }

    /// Messages recorded so far.
    pub fn msg_count(&self) -> usize {
        self.msgs.lock().len()
    }
}

/// Starts a runtime on 127.0.0.1 (port chosen by the OS), two readers, plus config lines
/// `extra`.
pub fn start(extra: &str) -> (Runtime, Arc<Recorder>, SocketAddr) {
    let text = format!("listen=tcp:127.0.0.1:0\ntcp_children=2\n{extra}\n");
    let (cfg, _warnings) = Config::from_str_with("test.cfg", &text, ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    start_with(cfg)
}

/// Starts a runtime with `cfg` and a fresh [`Recorder`]; returns its first listen address.
pub fn start_with(cfg: Config) -> (Runtime, Arc<Recorder>, SocketAddr) {
    let rec = Arc::new(Recorder::default());
    let rt = Runtime::start(cfg, rec.clone()).unwrap_or_else(|e| panic!("{e}"));
    let addr = rt.transport().listen_addrs()[0];
    (rt, rec, addr)
}

/// A blocking client connection whose reads time out after [`WAIT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Writes all of `b`.
pub fn send(s: &mut TcpStream, b: &[u8]) {
    s.write_all(b).unwrap();
}

/// Reads until EOF or error; true when the server closed the connection within [`WAIT`].
pub fn wait_closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Deadline::after(WAIT);
    while !deadline.passed() {
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
