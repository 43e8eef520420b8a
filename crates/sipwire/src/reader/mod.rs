//! Reader threads (`tcp_children`): each owns the read side of the connections TCP main handed
//! it, reads into the connection's pooled buffer, frames, and calls the application. A
//! connection quiet for [`READER_IDLE`] goes back to main (its decoder and buffer dropped, so
//! the buffer returns to the pool, unless a partial message is buffered); EOF, errors and
//! closes go back to main for the final close.
//!
//! Fairness: connections with data are served round-robin from a ready list, each at most
//! [`READS_PER_PASS`] reads or [`BYTES_PER_PASS`] bytes per pass; one with budget used up
//! stays on the list (so edge-triggered polling needs no new event), and the poller is
//! checked (without waiting) between passes, so a flooding client cannot starve the others.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use sipwire_frame::{Fill, Frame, FrameKind, StreamDecoder};
use sipwire_poll::{Events, Interest, Poller, Token};
use slab::Slab;

use crate::config::{Config, SnapshotCache};
use crate::conn::{CloseReason, Conn};
use crate::handler::{Ctx, Handler, HandlerError, Message, MessageKind};
use crate::handoff::{MainMsg, ReadSide, ReaderMsg};
use crate::inbound::{add_via_alias, on_proxy};
use crate::ratelimit::{limited_log, RateLimit};
use crate::sctp::Served;
use crate::send::Batch;
use crate::shared::Shared;
use crate::stats::{add, bump};
use crate::transport::Transport;

mod read;
use read::read_conn;

/// A connection with no traffic for this long goes back to TCP main.
pub(crate) const READER_IDLE: Duration = Duration::from_secs(1);
const WAKER: Token = Token(0);
const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// Most reads of one connection per pass of the ready list.
const READS_PER_PASS: u32 = 16;
/// Most bytes read from one connection per pass of the ready list.
const BYTES_PER_PASS: usize = 64 * 1024;

/// Framing errors and read errors, logged at most this often per second over all readers.
static FRAMING_LOG: RateLimit = RateLimit::new(10);
static READ_ERROR_LOG: RateLimit = RateLimit::new(10);
static HANDLER_LOG: RateLimit = RateLimit::new(10);

/// Reader poller tokens: the waker is 0, a connection is its slab key + 1 (SCTP endpoints
/// take the top of the range, see `Served::register`).
fn conn_token(key: usize) -> Token {
    Token(key + 1)
}

thread_local! {
    /// On a reader thread: its runtime's id and its index (see [`current`]).
    static CURRENT: std::cell::Cell<Option<(u64, usize)>> = const { std::cell::Cell::new(None) };
}

/// The index of the reader running on this thread, if it is one of `shared`'s readers: a
/// connection a send opens from there is handed to that reader, so a request's connection and
/// its response's are read by one thread (no cross-thread wake-up per message).
pub(crate) fn current(shared: &Shared) -> Option<usize> {
    CURRENT
        .with(std::cell::Cell::get)
        .and_then(|(rt, i)| (rt == shared.id).then_some(i))
}

pub(crate) struct Reader {
    index: usize,
    shared: Arc<Shared>,
    handler: Arc<dyn Handler>,
    transport: Transport,
    rx: Receiver<ReaderMsg>,
    poller: Poller,
    conns: Slab<Slot>,
    /// Keys of connections to read, served round-robin (storage reused across passes).
    ready: VecDeque<usize>,
    cfg: SnapshotCache,
    /// The sends the handler makes during one read pass, written when the pass ends.
    batch: Batch,
    /// The SCTP endpoints this reader serves.
    sctp: Served,
}

/// A connection the reader owns.
struct Slot {
    rs: ReadSide,
    /// On the ready list.
    queued: bool,
}

/// What reading a connection ended with.
enum Outcome {
    /// Drained for now (would block); keep it.
    Keep,
    /// Its budget for this pass is used up and it may have more: serve it again next pass.
    More,
    /// Close it for this reason.
    Close(CloseReason),
}

/// What a read pass needs besides the connection (the reader's fields, borrowed apart).
struct Pass<'a> {
    shared: &'a Shared,
    handler: &'a dyn Handler,
    transport: &'a Transport,
    snapshots: &'a mut SnapshotCache,
    batch: &'a mut Batch,
    /// The poller is edge-triggered: a pass must read until `EAGAIN`.
    edge: bool,
}

/// What delivering frames needs: the pass's parts and the config of this read.
#[derive(Clone, Copy)]
struct Env<'a> {
    shared: &'a Shared,
    handler: &'a dyn Handler,
    transport: &'a Transport,
    cfg: &'a Config,
}

impl Reader {
    pub fn new(
        index: usize,
        shared: Arc<Shared>,
        handler: Arc<dyn Handler>,
        rx: Receiver<ReaderMsg>,
        mut poller: Poller,
    ) -> Reader {
        let cfg = SnapshotCache::new(&shared.config);
        let sctp = Served::register(&shared, index, &mut poller);
        Reader {
            index,
            transport: Transport {
                shared: shared.clone(),
            },
            shared,
            handler,
            rx,
            poller,
            conns: Slab::new(),
            ready: VecDeque::with_capacity(64),
            cfg,
            batch: Batch::default(),
            sctp,
        }
    }

    pub fn run(mut self) {
        CURRENT.with(|c| c.set(Some((self.shared.id, self.index))));
        let mut events = Events::with_capacity(256);
        let mut next_sweep = Instant::now() + SWEEP_EVERY;
        let mut stop = false;
        while !stop {
            // Connections left with budget used up: look for new events without waiting.
            let timeout = if self.ready.is_empty() && !self.sctp.has_more() {
                next_sweep.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poller.wait(&mut events, Some(timeout)) {
                log::error!("reader {}: poll wait failed: {e}", self.index);
                std::thread::sleep(Duration::from_millis(10));
            }
            for ev in events.iter() {
                let t = ev.token().0;
                if !self.sctp.mark(t) && t != WAKER.0 {
                    self.mark_ready(t - 1);
                }
            }
            while let Ok(msg) = self.rx.try_recv() {
                match msg {
                    ReaderMsg::Take(rs) => self.take(rs),
                    ReaderMsg::Stop => stop = true,
                }
            }
            self.serve_ready();
            let h = &*self.handler;
            self.sctp
                .serve_pending(&mut self.cfg, &self.shared, h, &self.transport);
            if Instant::now() >= next_sweep {
                self.sweep_idle();
                next_sweep = Instant::now() + SWEEP_EVERY;
            }
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for k in keys {
            self.give_back(k, Some(CloseReason::Shutdown));
        }
        log::debug!("reader {}: stopped", self.index);
    }

    fn take(&mut self, rs: ReadSide) {
        let fd = rs.conn.stream.as_raw_fd();
        let id = rs.conn.id;
        let key = self.conns.insert(Slot { rs, queued: false });
        if let Err(e) = self
            .poller
            .register(fd, conn_token(key), Interest::READABLE)
        {
            log::error!("conid {id}: reader {} cannot register: {e}", self.index);
            self.give_back(key, Some(CloseReason::Error));
            return;
        }
        // Data may already be waiting (that is why main handed it over): read this pass.
        self.mark_ready(key);
    }

    /// Puts a connection on the ready list, once.
    fn mark_ready(&mut self, key: usize) {
        if let Some(slot) = self.conns.get_mut(key) {
            if !slot.queued {
                slot.queued = true;
                self.ready.push_back(key);
            }
        }
    }

    /// One pass over the ready list: each connection on it gets one budget; those that used
    /// it up go to the back for the next pass.
    fn serve_ready(&mut self) {
        let edge = self.poller.is_edge_triggered();
        for _ in 0..self.ready.len() {
            let Some(key) = self.ready.pop_front() else {
                return;
            };
            // A stale key (its connection left and the slot was reused) is skipped.
            let Some(slot) = self.conns.get_mut(key).filter(|s| s.queued) else {
                continue;
            };
            let mut pass = Pass {
                shared: &self.shared,
                handler: &*self.handler,
                transport: &self.transport,
                snapshots: &mut self.cfg,
                batch: &mut self.batch,
                edge,
            };
            match read_conn(&mut slot.rs, &mut pass) {
                Outcome::Keep => slot.queued = false,
                Outcome::More => self.ready.push_back(key),
                Outcome::Close(reason) => self.give_back(key, Some(reason)),
            }
        }
    }

    /// Hands connections that have been quiet for [`READER_IDLE`] back to main.
    fn sweep_idle(&mut self) {
        let now_ms = self.shared.now_ms();
        let idle_ms = READER_IDLE.as_millis() as u64;
        let quiet: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, s)| {
                !s.queued && now_ms.saturating_sub(s.rs.conn.last_activity_ms()) >= idle_ms
            })
            .map(|(k, _)| k)
            .collect();
        for k in quiet {
            self.give_back(k, None);
        }
        // A burst of connections grows the slab; give the memory back once it has drained.
        if self.conns.capacity() > 64 && self.conns.len() < self.conns.capacity() / 4 {
            self.conns.shrink_to_fit();
        }
    }

    /// Returns a connection to main: released (idle) or closed with a reason.
    fn give_back(&mut self, key: usize, close: Option<CloseReason>) {
        let Some(Slot { mut rs, .. }) = self.conns.try_remove(key) else {
            return;
        };
        if let Some(reason) = close {
            // Closing from now on (`tcp_conid_state`), not only once main has finalized it.
            rs.conn.set_close_reason(reason);
        }
        if let Err(e) = self.poller.deregister(rs.conn.stream.as_raw_fd()) {
            log::debug!("conid {}: reader deregister: {e}", rs.conn.id);
        }
        if let Some(r) = self.shared.readers.get(self.index) {
            r.load.fetch_sub(1, Ordering::Relaxed);
        }
        // An idle connection holds no read buffer, and no decoder, unless a partial message
        // is buffered. Dropping the decoder returns its buffer to the pool.
        if close.is_some() || !rs.dec.as_ref().is_some_and(|d| d.has_partial()) {
            rs.dec = None;
        }
        let msg = match close {
            Some(reason) => MainMsg::Closed(rs, reason),
            None => MainMsg::Release(rs),
        };
        self.shared.tell_main(msg);
    }
}

impl Pass<'_> {
    /// One read of `n` bytes landed in the decoder: count it and deliver its frames, the
    /// handler's sends corked into one write per connection.
    fn deliver_read(
        &mut self,
        conn: &Arc<Conn>,
        dec: &mut StreamDecoder,
        n: usize,
    ) -> Result<(), CloseReason> {
        bump(&self.shared.stats.reads);
        add(&self.shared.stats.bytes_read, n as u64);
        conn.read_data();
        // The frames of this read see the config as it is now: one atomic load, unless a
        // runtime change was published.
        let cfg = self.snapshots.get();
        // Without `tcp_crlf_drop` a lone CRLF is not dropped: it waits for what follows.
        dec.set_hold_lone_crlf(!cfg.tcp.crlf_drop);
        let env = Env {
            shared: self.shared,
            handler: self.handler,
            transport: self.transport,
            cfg,
        };
        self.batch.cork();
        let delivered = env.deliver(conn, dec);
        self.batch.uncork(cfg, (env.handler, env.transport));
        if dec.holds_lone_crlf() {
            bump(&self.shared.stats.keepalives);
        }
        // `tcp_msg_read_timeout` counts from the read that started the message in progress
        // (a message that started in this read has one chunk so far).
        match dec.pending_chunks() {
            0 => conn.set_msg_started_ms(None),
            1 => conn.set_msg_started_ms(Some(self.shared.now_ms())),
            _ => {}
        }
        delivered
    }
}

impl Env<'_> {
    /// Delivers every complete frame in the buffer; `Err` closes the connection.
    fn deliver(&self, conn: &Arc<Conn>, dec: &mut StreamDecoder) -> Result<(), CloseReason> {
        let tcp = &self.cfg.tcp;
        let stats = &self.shared.stats;
        loop {
            let frame = match dec.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    bump(&stats.parse_errors);
                    limited_log!(
                        FRAMING_LOG,
                        Warn,
                        "conid {} from {}: closing: {e}",
                        conn.id,
                        conn.source()
                    );
                    return Err(CloseReason::Protocol);
                }
            };
            if frame.chunks > tcp.max_msg_chunks {
                bump(&stats.chunks_exceeded);
                bump(&stats.parse_errors);
                limited_log!(
                    FRAMING_LOG,
                    Warn,
                    "conid {}: message arrived in {} reads, more than tcp_max_msg_chunks {}; closing",
                    conn.id,
                    frame.chunks,
                    tcp.max_msg_chunks
                );
                return Err(CloseReason::Protocol);
            }
            let now_ms = self.shared.now_ms();
            match frame.kind {
                FrameKind::Sip { body_start } => {
                    self.on_message(conn, &frame, MessageKind::Sip, body_start, now_ms)?
                }
                FrameKind::Hep3 => self.on_message(conn, &frame, MessageKind::Hep3, 0, now_ms)?,
                FrameKind::Ping => self.on_ping(conn, now_ms),
                FrameKind::Keepalive => self.on_keepalive(conn, now_ms),
                FrameKind::Proxy(h) => on_proxy(conn, h, frame.bytes),
            }
        }
        if dec.pending_chunks() > tcp.max_msg_chunks {
            bump(&stats.chunks_exceeded);
            bump(&stats.parse_errors);
            limited_log!(
                FRAMING_LOG,
                Warn,
                "conid {}: partial message already took {} reads, more than tcp_max_msg_chunks {}; closing",
                conn.id,
                dec.pending_chunks(),
                tcp.max_msg_chunks
            );
            return Err(CloseReason::Protocol);
        }
        Ok(())
    }

    /// A SIP message or HEP3 packet: to the handler (a panic counts as a failure).
    fn on_message(
        &self,
        conn: &Arc<Conn>,
        frame: &Frame<'_>,
        kind: MessageKind,
        body_start: usize,
        now_ms: u64,
    ) -> Result<(), CloseReason> {
        let tcp = &self.cfg.tcp;
        let stats = &self.shared.stats;
        conn.touch(now_ms);
        if !conn.got_message.load(Ordering::Relaxed) {
            conn.got_message.store(true, Ordering::Relaxed);
        }
        bump(&stats.messages);
        let bytes = if tcp.clone_rcvbuf {
            Cow::Owned(frame.bytes.to_vec())
        } else {
            Cow::Borrowed(frame.bytes)
        };
        let msg = Message {
            kind,
            bytes,
            body_start,
            conid: conn.id,
            proto: conn.proto,
            source: conn.source(),
            peer: conn.peer,
            local: conn.destination(),
            bound: conn.local,
            chunks: frame.chunks,
        };
        if tcp.accept_aliases && kind == MessageKind::Sip {
            add_via_alias(conn, frame.bytes, self.shared);
        }
        let ctx = Ctx::new(conn, self.transport, frame.bytes);
        // A panicking handler is a failed handler, not a dead reader thread.
        let result =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.handler.on_message(&ctx, msg)))
                .unwrap_or_else(|_| Err(HandlerError("on_message panicked".into())));
        if let Err(e) = result {
            bump(&stats.handler_errors);
            if !tcp.script_mode {
                limited_log!(
                    HANDLER_LOG,
                    Info,
                    "conid {}: on_message failed ({e}); closing (tcp_script_mode = 0)",
                    conn.id
                );
                conn.set_close_reason(CloseReason::Application);
                return Err(CloseReason::Application);
            }
            log::debug!(
                "conid {}: on_message failed ({e}); kept (tcp_script_mode = 1)",
                conn.id
            );
        }
        match conn.close_reason() {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    /// A CRLFCRLF ping: traffic; answered with a CRLF pong if `tcp_crlf_ping`.
    fn on_ping(&self, conn: &Arc<Conn>, now_ms: u64) {
        let stats = &self.shared.stats;
        conn.touch(now_ms);
        bump(&stats.pings);
        if self.cfg.tcp.crlf_ping {
            // Through the send path, so a pong never lands inside another message.
            match crate::send::write_msg(self.shared, self.cfg, conn, b"\r\n") {
                Ok(_) => bump(&stats.pongs),
                Err(e) => log::debug!("conid {}: pong not sent: {e}", conn.id),
            }
        }
    }

    /// A lone CRLF keepalive (or bare LF) consumed on its own: traffic. With
    /// `tcp_crlf_drop` this is the CRLF a read ended with, dropped (as OpenSIPS completes and
    /// discards that packet); without it such a CRLF is held by the decoder instead (counted
    /// when held, see `deliver_read`) and only CRLFs followed by more bytes come here.
    fn on_keepalive(&self, conn: &Conn, now_ms: u64) {
        bump(&self.shared.stats.keepalives);
        conn.touch(now_ms);
    }
}
