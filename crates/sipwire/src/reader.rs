//! Reader threads (`tcp_children`): each owns the read side of the connections TCP main handed
//! it, reads into the connection's pooled buffer, frames, and calls the application. A
//! connection quiet for [`READER_IDLE`] goes back to main (its buffer back to the pool when no
//! partial message is buffered); EOF, errors and closes go back to main for the final close.

use std::borrow::Cow;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use sipwire_frame::{FrameKind, ProxyAddresses, StreamDecoder};
use sipwire_poll::{Events, Interest, Poller, Token};
use slab::Slab;

use crate::config::{Config, SnapshotCache};
use crate::conn::{CloseReason, Conn, ProxyAddrs};
use crate::handler::{Ctx, HandlerError, Message, MessageKind};
use crate::main_loop::MainMsg;
use crate::stats::{add, bump};
use crate::transport::{Shared, Transport};

/// A connection with no traffic for this long goes back to TCP main.
pub(crate) const READER_IDLE: Duration = Duration::from_secs(1);
const WAKER: Token = Token(0);
const SWEEP_EVERY: Duration = Duration::from_millis(250);

/// The read side of a connection: what moves between main and the readers. The decoder
/// exists only while the connection is busy or holds a partial message: an idle connection
/// costs two pointers here, not a decoder (≈300 bytes) — this is what keeps memory per idle
/// connection low.
pub(crate) struct ReadSide {
    pub conn: Arc<Conn>,
    pub dec: Option<Box<StreamDecoder>>,
}

impl ReadSide {
    pub fn new(conn: Arc<Conn>) -> ReadSide {
        ReadSide { conn, dec: None }
    }
}

/// What TCP main tells a reader.
// Unboxed on purpose: a handoff moves ~200 bytes through the channel instead of allocating.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ReaderMsg {
    /// Take ownership of this connection's read side.
    Take(ReadSide),
    /// Hand everything back as closed and exit.
    Stop,
}

pub(crate) struct Reader {
    index: usize,
    shared: Arc<Shared>,
    transport: Transport,
    rx: Receiver<ReaderMsg>,
    poller: Poller,
    conns: Slab<ReadSide>,
    cfg: SnapshotCache,
}

/// What reading a connection ended with.
enum Outcome {
    /// Drained for now (would block); keep it.
    Keep,
    /// Close it for this reason.
    Close(CloseReason),
}

impl Reader {
    pub fn new(
        index: usize,
        shared: Arc<Shared>,
        rx: Receiver<ReaderMsg>,
        poller: Poller,
    ) -> Reader {
        let cfg = SnapshotCache::new(&shared.config);
        Reader {
            index,
            transport: Transport {
                shared: shared.clone(),
            },
            shared,
            rx,
            poller,
            conns: Slab::new(),
            cfg,
        }
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(256);
        let mut next_sweep = Instant::now() + SWEEP_EVERY;
        let mut stop = false;
        while !stop {
            let timeout = next_sweep.saturating_duration_since(Instant::now());
            if let Err(e) = self.poller.wait(&mut events, Some(timeout)) {
                log::error!("reader {}: poll wait failed: {e}", self.index);
                std::thread::sleep(Duration::from_millis(10));
            }
            for ev in events.iter() {
                let t = ev.token().0;
                if t != WAKER.0 {
                    self.on_readable(t - 1);
                }
            }
            while let Ok(msg) = self.rx.try_recv() {
                match msg {
                    ReaderMsg::Take(rs) => self.take(rs),
                    ReaderMsg::Stop => stop = true,
                }
            }
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
        let key = self.conns.insert(rs);
        if let Err(e) = self.poller.register(fd, Token(key + 1), Interest::READABLE) {
            log::error!("conid {id}: reader {} cannot register: {e}", self.index);
            self.give_back(key, Some(CloseReason::Error));
            return;
        }
        // Data may already be waiting (that is why main handed it over): read now.
        self.on_readable(key);
    }

    fn on_readable(&mut self, key: usize) {
        let outcome = match self.conns.get_mut(key) {
            Some(rs) => read_conn(rs, &self.shared, &self.transport, &mut self.cfg),
            None => return,
        };
        if let Outcome::Close(reason) = outcome {
            self.give_back(key, Some(reason));
        }
    }

    /// Hands connections that have been quiet for [`READER_IDLE`] back to main.
    fn sweep_idle(&mut self) {
        let now_ms = self.shared.now_ms();
        let idle_ms = READER_IDLE.as_millis() as u64;
        let quiet: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, rs)| now_ms.saturating_sub(rs.conn.last_activity_ms()) >= idle_ms)
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
        let Some(mut rs) = self.conns.try_remove(key) else {
            return;
        };
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

/// Reads a connection until it would block, delivering every complete frame.
fn read_conn(
    rs: &mut ReadSide,
    shared: &Shared,
    transport: &Transport,
    snapshots: &mut SnapshotCache,
) -> Outcome {
    let ReadSide { conn, dec } = rs;
    // Nothing buffered: read into a small stack buffer first, so a connection that wakes up
    // with nothing to read (or only EOF) never takes a decoder or a read buffer.
    let mut first = [0u8; 512];
    let first_len = if dec.is_none() {
        match read_once(conn, &mut first) {
            Ok(Some(n)) => n,
            Ok(None) => return Outcome::Keep,
            Err(outcome) => return outcome,
        }
    } else {
        0
    };
    let dec = dec.get_or_insert_with(|| {
        // A PROXY header is expected only until one was read.
        let mut c = snapshots.get().decoder_config();
        c.haproxy &= !conn.proxy_done.load(Ordering::Acquire);
        Box::new(StreamDecoder::new(c))
    });
    if !dec.has_buffer() {
        let cfg = snapshots.get();
        if shared.pool.capacity() != cfg.tcp.rd_buf_size {
            if let Err(e) = shared.pool.set_capacity(cfg.tcp.rd_buf_size) {
                log::error!("tcp_rd_buf_size {}: {e}", cfg.tcp.rd_buf_size);
            }
        }
        if let Err(buf) = dec.put_buffer(shared.pool.get()) {
            shared.pool.put(buf);
        }
        dec.set_config(cfg.decoder_config());
    }
    if first_len > 0 {
        // A fresh buffer's free tail is its whole capacity, at least 512 bytes.
        if let Some(spare) = dec.spare_mut().get_mut(..first_len) {
            spare.copy_from_slice(first.get(..first_len).unwrap_or(&[]));
            dec.advance(first_len);
            bump(&shared.stats.reads);
            add(&shared.stats.bytes_read, first_len as u64);
            let cfg = snapshots.get();
            crate::send::cork();
            let delivered = deliver(conn, dec, shared, transport, cfg);
            crate::send::uncork(shared, cfg);
            if let Err(reason) = delivered {
                return Outcome::Close(reason);
            }
        }
    }
    loop {
        if let Some(reason) = conn.close_reason() {
            return Outcome::Close(reason);
        }
        let spare = dec.spare_mut();
        if spare.is_empty() {
            // The framer reports oversize messages itself; an empty tail here means it could not.
            log::warn!(
                "conid {}: read buffer full ({} bytes buffered, tcp_rd_buf_size)",
                conn.id,
                dec.buffered()
            );
            bump(&shared.stats.parse_errors);
            return Outcome::Close(CloseReason::Protocol);
        }
        match (&conn.stream).read(spare) {
            Ok(0) => return Outcome::Close(conn.close_reason().unwrap_or(CloseReason::PeerClosed)),
            Ok(n) => {
                dec.advance(n);
                bump(&shared.stats.reads);
                add(&shared.stats.bytes_read, n as u64);
                // The frames of this read see the config as it is now: one atomic load, unless a
                // runtime change was published.
                let cfg = snapshots.get();
                crate::send::cork();
                let delivered = deliver(conn, dec, shared, transport, cfg);
                crate::send::uncork(shared, cfg);
                if let Err(reason) = delivered {
                    return Outcome::Close(reason);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Outcome::Keep,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                if let Some(reason) = conn.close_reason() {
                    return Outcome::Close(reason);
                }
                let reason = reason_for_read_error(&e);
                if reason == CloseReason::Error {
                    log::info!("conid {}: read error: {e}", conn.id);
                }
                return Outcome::Close(reason);
            }
        }
    }
}

/// One read into `buf`: `Ok(Some(n))` bytes, `Ok(None)` nothing to read now, `Err` the
/// connection is done (EOF or error).
fn read_once(conn: &Conn, buf: &mut [u8]) -> Result<Option<usize>, Outcome> {
    loop {
        return match (&conn.stream).read(buf) {
            Ok(0) => Err(Outcome::Close(
                conn.close_reason().unwrap_or(CloseReason::PeerClosed),
            )),
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let reason = conn
                    .close_reason()
                    .unwrap_or_else(|| reason_for_read_error(&e));
                if reason == CloseReason::Error {
                    log::info!("conid {}: read error: {e}", conn.id);
                }
                Err(Outcome::Close(reason))
            }
        };
    }
}

/// `tcp_accept_aliases`: a request whose top Via carries `alias` makes the connection answer
/// to (source IP, Via port) too.
fn add_via_alias(conn: &Conn, bytes: &[u8], shared: &Shared) {
    let Ok(msg) = sipwire_frame::SipMessage::parse(bytes) else {
        return;
    };
    if msg.method().is_none() {
        return;
    }
    let Some(Ok(via)) = msg.top_via() else { return };
    if !via.alias {
        return;
    }
    let addr = std::net::SocketAddr::new(conn.source().ip(), via.port.unwrap_or(5060));
    if shared.table.add_alias(conn.id, addr) {
        bump(&shared.stats.aliases_added);
        log::debug!("conid {}: alias {addr} (Via alias)", conn.id);
    }
}

/// Maps a read error to the close it means: `ECONNRESET` is `tcp:reset`, `ETIMEDOUT` (the
/// kernel gave up on unanswered keepalive probes or retransmissions) is `tcp:timeout`.
pub(crate) fn reason_for_read_error(e: &io::Error) -> CloseReason {
    match e.raw_os_error() {
        Some(libc::ECONNRESET) | Some(libc::EPIPE) => CloseReason::Reset,
        Some(libc::ETIMEDOUT) | Some(libc::EHOSTUNREACH) => CloseReason::Timeout,
        _ => CloseReason::Error,
    }
}

/// Delivers every complete frame in the buffer; `Err` closes the connection.
fn deliver(
    conn: &Arc<Conn>,
    dec: &mut StreamDecoder,
    shared: &Shared,
    transport: &Transport,
    cfg: &Config,
) -> Result<(), CloseReason> {
    let tcp = &cfg.tcp;
    let stats = &shared.stats;
    loop {
        let frame = match dec.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                bump(&stats.parse_errors);
                log::warn!("conid {} from {}: closing: {e}", conn.id, conn.source());
                return Err(CloseReason::Protocol);
            }
        };
        if frame.chunks > tcp.max_msg_chunks {
            bump(&stats.chunks_exceeded);
            bump(&stats.parse_errors);
            log::warn!(
                "conid {}: message arrived in {} reads, more than tcp_max_msg_chunks {}; closing",
                conn.id,
                frame.chunks,
                tcp.max_msg_chunks
            );
            return Err(CloseReason::Protocol);
        }
        let now_ms = shared.now_ms();
        match frame.kind {
            FrameKind::Sip { .. } | FrameKind::Hep3 => {
                conn.touch(now_ms);
                bump(&stats.messages);
                let (kind, body_start) = match frame.kind {
                    FrameKind::Sip { body_start } => (MessageKind::Sip, body_start),
                    _ => (MessageKind::Hep3, 0),
                };
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
                    local: conn.local,
                    chunks: frame.chunks,
                };
                if tcp.accept_aliases && kind == MessageKind::Sip {
                    add_via_alias(conn, frame.bytes, shared);
                }
                let ctx = Ctx::new(conn, transport);
                // A panicking handler is a failed handler, not a dead reader thread.
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    shared.handler.on_message(&ctx, msg)
                }))
                .unwrap_or_else(|_| Err(HandlerError("on_message panicked".into())));
                if let Err(e) = result {
                    bump(&stats.handler_errors);
                    if !tcp.script_mode {
                        log::info!(
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
                if let Some(reason) = conn.close_reason() {
                    return Err(reason);
                }
            }
            FrameKind::Ping => {
                conn.touch(now_ms);
                bump(&stats.pings);
                if tcp.crlf_ping {
                    // Through the send path, so a pong never lands inside another message.
                    match crate::send::write_msg(shared, cfg, conn, b"\r\n") {
                        Ok(()) => bump(&stats.pongs),
                        Err(e) => log::debug!("conid {}: pong not sent: {e}", conn.id),
                    }
                }
            }
            FrameKind::Keepalive => {
                bump(&stats.keepalives);
                if !tcp.crlf_drop {
                    conn.touch(now_ms);
                }
            }
            FrameKind::Proxy(h) => {
                if let ProxyAddresses::Proxied {
                    source,
                    destination,
                    ..
                } = h.addresses
                {
                    let _ = conn.proxy.set(Box::new(ProxyAddrs {
                        source,
                        destination,
                    }));
                }
                conn.proxy_done.store(true, Ordering::Release);
            }
        }
    }
    if dec.pending_chunks() > tcp.max_msg_chunks {
        bump(&stats.chunks_exceeded);
        bump(&stats.parse_errors);
        log::warn!(
            "conid {}: partial message already took {} reads, more than tcp_max_msg_chunks {}; closing",
            conn.id,
            dec.pending_chunks(),
            tcp.max_msg_chunks
        );
        return Err(CloseReason::Protocol);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_errors_map_to_kamailio_events() {
        let e = |code| io::Error::from_raw_os_error(code);
        assert_eq!(
            reason_for_read_error(&e(libc::ECONNRESET)),
            CloseReason::Reset
        );
        assert_eq!(
            reason_for_read_error(&e(libc::ETIMEDOUT)),
            CloseReason::Timeout
        );
        assert_eq!(reason_for_read_error(&e(libc::EIO)), CloseReason::Error);
        assert_eq!(CloseReason::Reset.event_name(), Some("tcp:reset"));
        assert_eq!(CloseReason::Timeout.event_name(), Some("tcp:timeout"));
        assert_eq!(CloseReason::PeerClosed.event_name(), Some("tcp:closed"));
        assert_eq!(CloseReason::Lifetime.event_name(), None);
    }
}
