//! The UAS: answers every request (but ACK) with 200 OK, as a user agent
//! server would (Via, From, To + tag, Call-ID, CSeq copied; see
//! [`crate::msg::write_response`]).
//!
//! `--uas-threads` workers share one nonblocking listener (backlog 4096);
//! each polls the listener and its own connections with its own
//! [`Poller`] (level-triggered epoll: the UAS may hold thousands of
//! connections, e.g. under connect-rate or idle runs, and a wakeup costs
//! O(ready)) and serves the connections it accepted. All answers to one read are written with one
//! `write`. Fault injection (`--uas-drop-every`, `--uas-dup-every`) lets the
//! tool's own accounting be tested: it drops or doubles every Nth request
//! of each worker.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use sipwire_frame::{DecoderConfig, Fill, FrameKind, ReadBuf, SipMessage, StreamDecoder};
use sipwire_poll::{Event, Events, Interest, Poller, Token};
use sipwire_sys::{accept_nonblocking, listen_tcp, ListenOptions};

use crate::error::LoadError;
use crate::frames;
use crate::msg::write_response;
use crate::sys;

/// Unsent bytes above which the UAS gives up on a connection.
const OUT_CAP: usize = 64 << 20;
/// Longest sleep in a poller wait, so a stop is seen promptly.
const TICK: Duration = Duration::from_millis(50);

/// UAS settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UasConfig {
    /// Listening address (port 0: any free port).
    pub listen: SocketAddr,
    /// Worker threads.
    pub threads: usize,
    /// Drop every Nth request (0: never).
    pub drop_every: u64,
    /// Answer every Nth request twice (0: never).
    pub dup_every: u64,
}

/// What the UAS did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UasStats {
    /// Connections accepted.
    pub connections: u64,
    /// Requests received (ACK included).
    pub requests: u64,
    /// Responses written.
    pub responses: u64,
    /// Requests dropped by fault injection.
    pub dropped: u64,
    /// Unparsable messages and broken connections.
    pub errors: u64,
}

impl UasStats {
    fn add(&mut self, o: &UasStats) {
        self.connections += o.connections;
        self.requests += o.requests;
        self.responses += o.responses;
        self.dropped += o.dropped;
        self.errors += o.errors;
    }
}

/// A running UAS; stop it with [`Uas::stop`].
#[derive(Debug)]
pub struct Uas {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<UasStats>>,
}

impl Uas {
    /// Binds and starts the workers.
    pub fn start(cfg: &UasConfig) -> Result<Uas, LoadError> {
        let setup = |what: &str, e: io::Error| LoadError::Setup(format!("UAS {what}: {e}"));
        // Nonblocking, SO_REUSEADDR, and a backlog for thousands of
        // connections arriving at once (Linux caps it at net.core.somaxconn).
        let opts = ListenOptions {
            backlog: 4096,
            ..ListenOptions::default()
        };
        let listener =
            listen_tcp(cfg.listen, opts).map_err(|e| setup(&format!("bind {}", cfg.listen), e))?;
        let addr = listener.local_addr().map_err(|e| setup("address", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut uas = Uas {
            addr,
            stop: stop.clone(),
            workers: Vec::new(),
        };
        for w in 0..cfg.threads.max(1) {
            let l = listener.try_clone().map_err(|e| setup("listener", e))?;
            let stop = stop.clone();
            let cfg = *cfg;
            let h = std::thread::Builder::new()
                .name(format!("load-uas-{w}"))
                .spawn(move || match Worker::new(l, cfg) {
                    Ok(w) => w.run(&stop),
                    Err(e) => {
                        log::error!("uas: poller: {e}");
                        UasStats {
                            errors: 1,
                            ..UasStats::default()
                        }
                    }
                })
                .map_err(|e| setup("thread", e))?;
            uas.workers.push(h);
        }
        Ok(uas)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the workers (closing every connection) and sums their stats.
    pub fn stop(self) -> UasStats {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = UasStats::default();
        for w in self.workers {
            match w.join() {
                Ok(s) => total.add(&s),
                Err(_) => total.errors += 1,
            }
        }
        total
    }
}

struct UasConn {
    stream: TcpStream,
    dec: StreamDecoder,
    out: Vec<u8>,
    out_pos: usize,
    /// Registered for writability too.
    want_out: bool,
}

/// Token of the listener in the poller; connections use their slot index.
const LISTENER: Token = Token(usize::MAX);

struct Worker {
    listener: TcpListener,
    cfg: UasConfig,
    poller: Poller,
    /// Connections by slot (the poller token); `free` lists empty slots.
    conns: Vec<Option<UasConn>>,
    free: Vec<usize>,
    stats: UasStats,
    nth: u64,
}

impl Worker {
    fn new(listener: TcpListener, cfg: UasConfig) -> io::Result<Self> {
        let mut poller = Poller::new(sys::poll_method()).map_err(io::Error::other)?;
        poller.register(listener.as_raw_fd(), LISTENER, Interest::READABLE)?;
        Ok(Self {
            listener,
            cfg,
            poller,
            conns: Vec::new(),
            free: Vec::new(),
            stats: UasStats::default(),
            nth: 0,
        })
    }

    fn run(mut self, stop: &AtomicBool) -> UasStats {
        let mut events = Events::with_capacity(256);
        while !stop.load(Ordering::Relaxed) {
            if let Err(e) = self.poller.wait(&mut events, Some(TICK)) {
                log::error!("uas: poller wait: {e}");
                break;
            }
            for ev in events.iter() {
                if ev.token() == LISTENER {
                    self.accept();
                    continue;
                }
                let slot = ev.token().0;
                if !self.serve(slot, ev) {
                    self.close(slot);
                }
            }
        }
        self.stats
    }

    fn accept(&mut self) {
        loop {
            match accept_nonblocking(&self.listener) {
                Ok((stream, _)) => {
                    let buf = match ReadBuf::new(crate::client::RD_BUF) {
                        Ok(b) => b,
                        Err(e) => {
                            log::error!("uas: read buffer: {e}");
                            return;
                        }
                    };
                    if stream.set_nodelay(true).is_err() {
                        self.stats.errors += 1;
                        continue;
                    }
                    let slot = self.free.pop().unwrap_or(self.conns.len());
                    if let Err(e) =
                        self.poller
                            .register(stream.as_raw_fd(), Token(slot), Interest::READABLE)
                    {
                        log::warn!("uas: poller register: {e}");
                        self.stats.errors += 1;
                        if slot < self.conns.len() {
                            self.free.push(slot);
                        }
                        continue;
                    }
                    self.stats.connections += 1;
                    let conn = UasConn {
                        stream,
                        dec: StreamDecoder::with_buffer(DecoderConfig::default(), buf),
                        out: Vec::new(),
                        out_pos: 0,
                        want_out: false,
                    };
                    match self.conns.get_mut(slot) {
                        Some(s) => *s = Some(conn),
                        None => self.conns.push(Some(conn)),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE and friends: try again on the next wakeup.
                    log::warn!("uas: accept: {e}");
                    return;
                }
            }
        }
    }

    fn close(&mut self, slot: usize) {
        if let Some(c) = self.conns.get_mut(slot).and_then(Option::take) {
            let _ = self.poller.deregister(c.stream.as_raw_fd());
            self.free.push(slot);
        }
    }

    /// Handles readiness `ev` of the connection in `slot`; false if it is
    /// to be closed.
    fn serve(&mut self, slot: usize, ev: &Event) -> bool {
        let readable = ev.is_readable() || ev.is_hup() || ev.is_error();
        if readable && !self.read(slot) {
            return false;
        }
        self.flush(slot)
    }

    fn read(&mut self, slot: usize) -> bool {
        let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return false;
        };
        loop {
            let cap = c.dec.spare_mut().len();
            let n = match c.dec.fill_from(&mut c.stream) {
                Ok(Fill::Data(n)) => n,
                Ok(Fill::Full) => {
                    self.stats.errors += 1;
                    return false;
                }
                Ok(Fill::Eof) => return false,
                Ok(Fill::WouldBlock) => return true,
                // A reset is a way to close (e.g. connect-rate --linger0).
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return false,
                Err(e) => {
                    log::debug!("uas: read: {e}");
                    self.stats.errors += 1;
                    return false;
                }
            };
            let (cfg, stats, nth, out) = (&self.cfg, &mut self.stats, &mut self.nth, &mut c.out);
            let framed = frames::drain(&mut c.dec, |f| {
                match f.kind {
                    FrameKind::Sip { .. } => answer(cfg, stats, nth, f.bytes, out),
                    FrameKind::Ping => out.extend_from_slice(b"\r\n"),
                    _ => {}
                }
                ControlFlow::<()>::Continue(())
            });
            if let Err(e) = framed {
                log::warn!("uas: framing: {e}");
                self.stats.errors += 1;
                return false;
            }
            if c.out.len() > OUT_CAP {
                log::warn!("uas: peer does not read its answers; closing");
                self.stats.errors += 1;
                return false;
            }
            if n < cap {
                return true;
            }
        }
    }

    fn flush(&mut self, slot: usize) -> bool {
        let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return false;
        };
        while c.out_pos < c.out.len() {
            match c.stream.write(&c.out[c.out_pos..]) {
                Ok(0) => return false,
                Ok(n) => c.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("uas: write: {e}");
                    self.stats.errors += 1;
                    return false;
                }
            }
        }
        if c.out_pos == c.out.len() {
            c.out.clear();
            c.out_pos = 0;
        }
        let want_out = !c.out.is_empty();
        if want_out != c.want_out {
            c.want_out = want_out;
            let interest = if want_out {
                Interest::BOTH
            } else {
                Interest::READABLE
            };
            if self
                .poller
                .reregister(c.stream.as_raw_fd(), Token(slot), interest)
                .is_err()
            {
                self.stats.errors += 1;
                return false;
            }
        }
        true
    }
}

/// Answers one framed message into `out` (requests only; fault injection
/// applied). `nth` counts this worker's non-ACK requests.
fn answer(cfg: &UasConfig, stats: &mut UasStats, nth: &mut u64, bytes: &[u8], out: &mut Vec<u8>) {
    let msg = match SipMessage::parse(bytes) {
        Ok(m) => m,
        Err(e) => {
            log::debug!("uas: unparsable message: {e}");
            stats.errors += 1;
            return;
        }
    };
    if msg.method().is_none() {
        return;
    }
    stats.requests += 1;
    if msg.method() == Some(b"ACK") {
        return;
    }
    *nth += 1;
    if cfg.drop_every > 0 && *nth % cfg.drop_every == 0 {
        stats.dropped += 1;
        return;
    }
    let copies = if cfg.dup_every > 0 && *nth % cfg.dup_every == 0 {
        2
    } else {
        1
    };
    for _ in 0..copies {
        if write_response(&msg, out, *nth) {
            stats.responses += 1;
        }
    }
}
