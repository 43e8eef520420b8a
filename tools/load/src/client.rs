//! The client side: `--threads` threads, each owning a share of the
//! connections to `--target`, each running its own [`Poller`] loop
//! (level-triggered epoll) over nonblocking sockets, so a wakeup costs
//! O(ready connections). In open loop a `timerfd` in the same poller ends
//! each sleep at the nanosecond-exact send time. Threads share nothing but
//! the stop flag and the channel to the main thread, so they scale with
//! cores and stay cheap.
//!
//! Pacing:
//! - **Open loop** (`--rate`): thread `t` of `T` owns the send slots
//!   `k*T + t` of one global schedule `slot / rate`, so the threads
//!   interleave. Every request carries its *intended* send time, and its
//!   latency is measured from it: if the thread falls behind (scheduling,
//!   a full socket), the lag is part of the latency (coordinated-omission
//!   correction). A thread that wakes late sends all overdue requests at
//!   once. To keep wakeups (about 10 µs of CPU each in a VM) from
//!   dominating at high rates, a wakeup also sends the requests due within
//!   `--batch-us` (default 100 µs) ahead; those are measured from their
//!   actual send time, so early sending never shortens a latency.
//! - **Closed loop** (`--outstanding P`): each connection starts with P
//!   requests and sends a new one whenever one finishes (answered or timed
//!   out); latency runs from the actual send.
//!
//! Transactions live in [`crate::book::Book`]: matched on the top Via branch,
//! Call-ID and CSeq, expired after `--timeout`.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::os::fd::AsRawFd;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use sipwire_frame::{DecoderConfig, Fill, FrameKind, ReadBuf, StreamDecoder};
use sipwire_poll::{Events, Interest, Poller, Token};

use crate::book::{Book, Txn};
use crate::frames;
use crate::msg::{sent_by, Method};
use crate::run::{ns_since, to_ns, RunCommon};
use crate::stats::{Delta, Event};
use crate::sys;

/// Read buffer per connection (also the largest message accepted).
pub const RD_BUF: usize = 65536;
/// Unsent bytes above which a connection takes no more requests (they count as lost).
const OUT_CAP: usize = 8 << 20;
/// How often a thread ships its counters to the main thread: at every
/// multiple of this from the run start, so the main thread's per-second
/// progress line (printed just after each whole second) covers whole seconds.
pub const REPORT_EVERY_NS: u64 = 250_000_000;
/// Longest sleep in a poller wait, so the stop flag is seen promptly.
const MAX_SLEEP_NS: u64 = 100_000_000;
/// Poller token of the open-loop timer; connections use their index.
const TIMER: Token = Token(usize::MAX);
/// Most events one wait reports (the rest come with the next wait).
const MAX_EVENTS: usize = 1024;

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// Fixed rate in transactions/s over all threads.
    Open {
        /// Total rate.
        rate: f64,
        /// Number of client threads sharing it.
        threads: usize,
        /// Send window, ns: a wakeup also sends the requests due within
        /// this much time (early), so that at high rates one wakeup serves
        /// several requests. 0: every request at its own time.
        window_ns: u64,
    },
    /// A fixed number of transactions in flight per connection.
    Closed {
        /// In flight per connection.
        outstanding: usize,
    },
}

/// One client thread's job.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Thread, target, limits, mix, stop flag.
    pub common: RunCommon,
    /// Connections this thread owns.
    pub conns: usize,
    /// Open or closed loop.
    pub pacing: Pacing,
}

struct Conn {
    stream: TcpStream,
    dec: StreamDecoder,
    out: Vec<u8>,
    out_pos: usize,
    sent_by: Vec<u8>,
    open: bool,
    dirty: bool,
    /// Registered for writability too (output is pending).
    want_out: bool,
}

fn connect(target: SocketAddr, timeout: Duration) -> Result<Conn, String> {
    let stream = TcpStream::connect_timeout(&target, timeout)
        .map_err(|e| format!("connect to {target}: {e}"))?;
    let local = stream
        .local_addr()
        .map_err(|e| format!("local address: {e}"))?;
    stream
        .set_nodelay(true)
        .and_then(|()| stream.set_nonblocking(true))
        .map_err(|e| format!("socket options: {e}"))?;
    let buf = ReadBuf::new(RD_BUF).map_err(|e| format!("read buffer: {e}"))?;
    Ok(Conn {
        stream,
        dec: StreamDecoder::with_buffer(DecoderConfig::default(), buf),
        out: Vec::with_capacity(16384),
        out_pos: 0,
        sent_by: sent_by(local),
        open: true,
        dirty: false,
        want_out: false,
    })
}

/// The thread's poller with every connection registered readable under its
/// index, and, in open loop, the send timer.
fn poller(conns: &[Conn], pacing: Pacing) -> Result<(Poller, Option<sys::PreciseTimer>), String> {
    let mut poller = Poller::new(sys::poll_method()).map_err(|e| format!("poller: {e}"))?;
    for (i, c) in conns.iter().enumerate() {
        poller
            .register(c.stream.as_raw_fd(), Token(i), Interest::READABLE)
            .map_err(|e| format!("poller: register: {e}"))?;
    }
    let timer = match pacing {
        Pacing::Open { .. } => {
            Some(sys::PreciseTimer::new(&mut poller, TIMER).map_err(|e| format!("timerfd: {e}"))?)
        }
        Pacing::Closed { .. } => None,
    };
    Ok((poller, timer))
}

/// Starts a client thread: it connects, reports [`Event::Ready`] (or
/// [`Event::Failed`]), waits for the start instant on `go` (exits if `go`
/// is dropped), runs, and ends with [`Event::Done`].
pub fn spawn(
    cfg: ClientConfig,
    events: Sender<Event>,
    go: Receiver<Instant>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("load-client-{}", cfg.common.thread))
        .spawn(move || {
            let conns: Result<Vec<Conn>, String> = (0..cfg.conns)
                .map(|_| connect(cfg.common.target, cfg.common.timeout))
                .collect();
            let conns = match conns {
                Ok(c) => c,
                Err(e) => {
                    let _ = events.send(Event::Failed(e));
                    return;
                }
            };
            let book = match Book::new(cfg.common.builder.clone(), to_ns(cfg.common.timeout)) {
                Ok(b) => b,
                Err(e) => {
                    let _ = events.send(Event::Failed(e));
                    return;
                }
            };
            let (poller, timer) = match poller(&conns, cfg.pacing) {
                Ok(p) => p,
                Err(e) => {
                    let _ = events.send(Event::Failed(e));
                    return;
                }
            };
            if events.send(Event::Ready).is_err() {
                return;
            }
            let Ok(start) = go.recv() else { return };
            if matches!(cfg.pacing, Pacing::Open { .. }) {
                sys::set_timer_slack(1000);
            }
            let mut client = Client::new(cfg, conns, poller, timer, book, start, events);
            client.run();
        })
}

struct Client {
    cfg: ClientConfig,
    conns: Vec<Conn>,
    poller: Poller,
    /// Open loop: wakes the thread at the exact send time.
    timer: Option<sys::PreciseTimer>,
    book: Book,
    start: Instant,
    events: Sender<Event>,
    warmup_ns: u64,
    end_ns: Option<u64>,
    next_seq: u64,
    measured_sent: u64,
    /// Open loop: index of the next slot and its intended time.
    slot: u64,
    next_due: u64,
    rr: usize,
    open_conns: usize,
    stopping: bool,
    stop_ns: u64,
    next_report: u64,
    dirty: Vec<usize>,
}

impl Client {
    fn new(
        cfg: ClientConfig,
        conns: Vec<Conn>,
        poller: Poller,
        timer: Option<sys::PreciseTimer>,
        book: Book,
        start: Instant,
        events: Sender<Event>,
    ) -> Self {
        let (warmup_ns, end_ns) = cfg.common.window_ns();
        let mut c = Self {
            cfg,
            conns,
            poller,
            timer,
            book,
            start,
            events,
            warmup_ns,
            end_ns,
            next_seq: 0,
            measured_sent: 0,
            slot: 0,
            next_due: 0,
            rr: 0,
            open_conns: 0,
            stopping: false,
            stop_ns: 0,
            next_report: REPORT_EVERY_NS,
            dirty: Vec::new(),
        };
        c.next_due = c.slot_time(0);
        c.open_conns = c.conns.len();
        c
    }

    fn now(&self) -> u64 {
        ns_since(self.start)
    }

    /// Intended time of this thread's `k`-th open-loop slot.
    fn slot_time(&self, k: u64) -> u64 {
        match self.cfg.pacing {
            Pacing::Open { rate, threads, .. } => {
                let global = k as f64 * threads as f64 + self.cfg.common.thread as f64;
                (global * 1e9 / rate) as u64
            }
            Pacing::Closed { .. } => 0,
        }
    }

    fn count_reached(&self) -> bool {
        self.cfg.common.count_reached(self.measured_sent)
    }

    fn check_stop(&mut self, now: u64) {
        if self.stopping {
            return;
        }
        let open_done = matches!(self.cfg.pacing, Pacing::Open { .. })
            && self.end_ns.is_some_and(|e| self.next_due >= e);
        if self.cfg.common.stop_requested()
            || self.end_ns.is_some_and(|e| now >= e)
            || open_done
            || self.count_reached()
            || self.open_conns == 0
        {
            self.stopping = true;
            self.stop_ns = now.min(self.end_ns.unwrap_or(u64::MAX));
        }
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity((self.conns.len() + 1).min(MAX_EVENTS));
        if let Pacing::Closed { outstanding } = self.cfg.pacing {
            let now = self.now();
            'fill: for _ in 0..outstanding {
                for i in 0..self.conns.len() {
                    if !self.send_one(i, now, now) {
                        break 'fill;
                    }
                }
            }
        }
        loop {
            let now = self.now();
            self.check_stop(now);
            self.send_due(now);
            self.book.expire(now);
            self.refill(now);
            self.flush_dirty();
            if now >= self.next_report {
                self.report(false);
                self.next_report = (now / REPORT_EVERY_NS + 1) * REPORT_EVERY_NS;
            }
            if self.stopping && self.book.outstanding() == 0 {
                break;
            }
            let wake = self.next_wake(now);
            let mut timeout = Duration::from_nanos(wake - now);
            if let Some(t) = self.timer.as_mut() {
                // Exact wakeups for pacing (the poller's own timeout is whole
                // milliseconds); the fallback sleep (nothing due sooner)
                // needs none. Timed from the current time, so the work done
                // since `now` does not delay the wakeup.
                let at = ns_since(self.start);
                let precise = (wake < now + MAX_SLEEP_NS).then_some(wake);
                if let Err(e) = t.prepare(at, precise) {
                    log::error!("client {}: timer: {e}", self.cfg.common.thread);
                    break;
                }
                timeout = Duration::from_nanos(wake.saturating_sub(at));
            }
            if let Err(e) = self.poller.wait(&mut events, Some(timeout)) {
                log::error!("client {}: poll: {e}", self.cfg.common.thread);
                break;
            }
            for ev in events.iter() {
                if ev.token() == TIMER {
                    if let Some(t) = self.timer.as_mut() {
                        t.on_event();
                    }
                    continue;
                }
                let i = ev.token().0;
                if ev.is_readable() || ev.is_hup() || ev.is_error() {
                    self.read(i);
                }
                if ev.is_writable() {
                    self.flush(i);
                }
            }
        }
        self.book.expire_all();
        self.report(true);
    }

    fn next_wake(&self, now: u64) -> u64 {
        let mut wake = now + MAX_SLEEP_NS;
        if !self.stopping && matches!(self.cfg.pacing, Pacing::Open { .. }) {
            wake = wake.min(self.next_due);
        }
        if let Some(d) = self.book.next_deadline() {
            wake = wake.min(d);
        }
        if let Some(e) = self.end_ns.filter(|_| !self.stopping) {
            wake = wake.min(e);
        }
        wake.min(self.next_report).max(now)
    }

    /// Open loop: sends every request whose intended time has come, and
    /// those due within the send window. Latency runs from the intended
    /// time for a request sent late (the lag counts), and from the actual
    /// send for one sent early (so it is never under-reported).
    fn send_due(&mut self, now: u64) {
        let Pacing::Open { window_ns, .. } = self.cfg.pacing else {
            return;
        };
        let horizon = now.saturating_add(window_ns);
        while !self.stopping && self.next_due <= horizon {
            if self.end_ns.is_some_and(|e| self.next_due >= e) || self.count_reached() {
                self.check_stop(now);
                break;
            }
            let n = self.conns.len();
            let Some(i) = (0..n)
                .map(|j| (self.rr + j) % n)
                .find(|&i| self.conns[i].open)
            else {
                self.check_stop(now);
                break;
            };
            self.rr = i + 1;
            let due = self.next_due;
            self.send_one(i, due, due.min(now));
            self.slot += 1;
            self.next_due = self.slot_time(self.slot);
        }
    }

    /// Closed loop: replaces finished transactions.
    fn refill(&mut self, now: u64) {
        let refill = self.book.take_refill();
        if matches!(self.cfg.pacing, Pacing::Closed { .. }) {
            for &i in &refill {
                if self.stopping || !self.send_one(i, now, now) {
                    break;
                }
            }
        }
        self.book.return_refill(refill);
    }

    /// Queues a request on connection `i`: `due` is its slot in the
    /// schedule (decides whether it is measured), `origin` the time its
    /// latency runs from. False if no more may be sent.
    fn send_one(&mut self, i: usize, due: u64, origin: u64) -> bool {
        if self.stopping || self.count_reached() {
            return false;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let measured = due >= self.warmup_ns;
        if measured {
            self.measured_sent += 1;
        }
        let method = Method::for_seq(self.cfg.common.mix, seq);
        let Some(conn) = self.conns.get_mut(i) else {
            return false;
        };
        if !conn.open || conn.out.len() - conn.out_pos > OUT_CAP {
            self.book.unsent(seq, measured);
            return true;
        }
        self.cfg
            .common
            .builder
            .write(&mut conn.out, &conn.sent_by, seq, method);
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(i);
        }
        self.book.sent(
            seq,
            Txn {
                intended: origin,
                conn: i as u32,
                method,
                measured,
            },
        );
        true
    }

    fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &i in &dirty {
            if let Some(c) = self.conns.get_mut(i) {
                c.dirty = false;
            }
            self.flush(i);
        }
        dirty.clear();
        self.dirty = dirty;
    }

    fn flush(&mut self, i: usize) {
        let Some(conn) = self.conns.get_mut(i) else {
            return;
        };
        let mut failure = None;
        while conn.open && conn.out_pos < conn.out.len() {
            match conn.stream.write(&conn.out[conn.out_pos..]) {
                Ok(0) => {
                    failure = Some("write returned 0".to_owned());
                    break;
                }
                Ok(n) => conn.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failure = Some(format!("write: {e}"));
                    break;
                }
            }
        }
        if conn.out_pos == conn.out.len() {
            conn.out.clear();
            conn.out_pos = 0;
        } else if conn.out_pos > conn.out.len() / 2 {
            conn.out.drain(..conn.out_pos);
            conn.out_pos = 0;
        }
        let pending = conn.open && !conn.out.is_empty();
        if pending != conn.want_out && failure.is_none() {
            conn.want_out = pending;
            let interest = if pending {
                Interest::BOTH
            } else {
                Interest::READABLE
            };
            if let Err(e) = self
                .poller
                .reregister(conn.stream.as_raw_fd(), Token(i), interest)
            {
                failure = Some(format!("poller: {e}"));
            }
        }
        if let Some(why) = failure {
            self.close(i, &why);
        }
    }

    /// Reads what connection `i` has and handles every answer in it; an
    /// answer's arrival time is taken right after the read that brought it.
    fn read(&mut self, i: usize) {
        loop {
            let start = self.start;
            let Some(conn) = self.conns.get_mut(i) else {
                return;
            };
            if !conn.open {
                return;
            }
            let cap = conn.dec.spare_mut().len();
            let n = match conn.dec.fill_from(&mut conn.stream) {
                Ok(Fill::Data(n)) => n,
                Ok(Fill::Full) => return self.close(i, "read buffer has no room"),
                Ok(Fill::Eof) => return self.close(i, "closed by the peer"),
                Ok(Fill::WouldBlock) => return,
                Err(e) => return self.close(i, &format!("read: {e}")),
            };
            let now = ns_since(start);
            let mut pong = false;
            let book = &mut self.book;
            let failure = frames::drain(&mut conn.dec, |f| {
                match f.kind {
                    FrameKind::Sip { .. } => book.on_response(f.bytes, now),
                    FrameKind::Ping => pong = true,
                    _ => {}
                }
                ControlFlow::<()>::Continue(())
            })
            .err()
            .map(|e| format!("framing: {e}"));
            if pong {
                conn.out.extend_from_slice(b"\r\n");
                if !conn.dirty {
                    conn.dirty = true;
                    self.dirty.push(i);
                }
            }
            if let Some(why) = failure {
                return self.close(i, &why);
            }
            if n < cap {
                return;
            }
        }
    }

    fn close(&mut self, i: usize, why: &str) {
        if let Some(c) = self.conns.get_mut(i) {
            if !c.open {
                return;
            }
            c.open = false;
            self.open_conns -= 1;
            c.out.clear();
            c.out_pos = 0;
            c.want_out = false;
            let _ = self.poller.deregister(c.stream.as_raw_fd());
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
        log::warn!("client {} connection {i}: {why}", self.cfg.common.thread);
        self.book.conn_failed(i);
    }

    fn report(&mut self, last: bool) {
        let end_ns = self.book.last_answer_ns().max(self.stop_ns);
        let Some(delta) = self.book.take_delta(last) else {
            return;
        };
        let delta = Box::new(Delta { end_ns, ..delta });
        let ev = if last {
            Event::Done(delta)
        } else {
            Event::Stats(delta)
        };
        let _ = self.events.send(ev);
    }
}
