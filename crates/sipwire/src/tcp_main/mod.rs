//! TCP main: the supervisor thread. It owns the listeners and every idle connection, accepts,
//! applies accept-side options, runs the timers (lifetime, `tcp_wait_data`, connect, send),
//! hands readable connections to the least-busy reader, takes them back when they go quiet,
//! and does the final close of every connection (table removal, events). It never blocks on
//! one connection. What to do in each state is decided in `lifecycle.rs`; this file does it.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use sipwire_poll::{Events, Interest, Poller};

use crate::conn::{CloseReason, ConId, Conn, ConnState};
use crate::handler::{call_on_unsent, Event, Handler};
use crate::handoff::{MainMsg, ReadSide, ReaderMsg};
use crate::lifecycle::{self, Close, Entry, MainToken, TimerKind};
use crate::shared::Shared;
use crate::stats::bump;
use crate::timer::TimerWheel;
use crate::transport::Transport;
use sipwire_sys as sys;

mod accept;
mod iplimit;
mod timers;

use accept::Listener;

const TIMER_TICK: Duration = Duration::from_millis(10);

thread_local! {
    /// The connection TCP main is finalizing, and the state it closed in, while `on_unsent`
    /// and `on_event` run for it: it has left the table, but the handler may still ask.
    static FINALIZING: Cell<Option<(ConId, ConnState)>> = const { Cell::new(None) };
}

/// The `tcp_conid_state` of connection `id` if its close is being reported on this thread
/// (inside `on_unsent` or `on_event` for it): the state it closed in, as Kamailio's event
/// routes see the connection with its EOF or error state.
pub(crate) fn finalizing_state(id: ConId) -> Option<ConnState> {
    FINALIZING
        .with(Cell::get)
        .filter(|&(i, _)| i == id)
        .map(|(_, s)| s)
}

/// Clears [`FINALIZING`] when the close has been reported (a panicking handler included).
struct Reporting;

impl Reporting {
    fn start(id: ConId, state: ConnState) -> Reporting {
        FINALIZING.with(|f| f.set(Some((id, state))));
        Reporting
    }
}

impl Drop for Reporting {
    fn drop(&mut self) {
        FINALIZING.with(|f| f.set(None));
    }
}

pub(crate) struct TcpMain {
    shared: Arc<Shared>,
    handler: Arc<dyn Handler>,
    /// Handed to `Handler::on_unsent`.
    transport: Transport,
    rx: Receiver<MainMsg>,
    poller: Poller,
    listeners: Vec<Listener>,
    entries: Vec<Option<Entry>>,
    timers: TimerWheel<(ConId, TimerKind)>,
    /// Open accepted connections per peer IP (`tcp_accept_iplimit`).
    per_ip: iplimit::IpCounts,
    /// When each pending outbound connect started (for the connect-time histogram).
    connect_started: HashMap<ConId, Instant>,
    stopping: bool,
}

fn listener_token(i: usize) -> io::Result<sipwire_poll::Token> {
    let i = u16::try_from(i).map_err(|_| io::Error::other("too many listeners"))?;
    Ok(MainToken::Listener(i).encode())
}

impl TcpMain {
    pub fn new(
        shared: Arc<Shared>,
        handler: Arc<dyn Handler>,
        rx: Receiver<MainMsg>,
        poller: Poller,
        listeners: Vec<TcpListener>,
    ) -> io::Result<TcpMain> {
        let mut ls = Vec::with_capacity(listeners.len());
        for sock in listeners {
            let addr = sock.local_addr()?;
            ls.push(Listener {
                sock,
                addr,
                paused: false,
            });
        }
        let mut m = TcpMain {
            timers: TimerWheel::new(TIMER_TICK, shared.epoch),
            transport: Transport {
                shared: shared.clone(),
            },
            shared,
            handler,
            rx,
            poller,
            listeners: ls,
            entries: Vec::new(),
            per_ip: iplimit::IpCounts::default(),
            connect_started: HashMap::new(),
            stopping: false,
        };
        for (i, l) in m.listeners.iter().enumerate() {
            m.poller
                .register(l.sock.as_raw_fd(), listener_token(i)?, Interest::READABLE)?;
        }
        Ok(m)
    }

    /// Runs until shutdown has closed every connection.
    pub fn run(mut self) {
        // Sends made on this thread (`on_event`, `on_unsent`) queue what does not fit at once.
        crate::send::never_wait_on_this_thread();
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self
                .timers
                .next_timeout(Instant::now())
                .map(|t| t.max(Duration::from_millis(1)));
            if let Err(e) = self.poller.wait(&mut events, timeout) {
                log::error!("TCP main: poll wait failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            for ev in events.iter() {
                match MainToken::decode(ev.token()) {
                    Some(MainToken::Conn(id)) => self.on_conn_ready(
                        id,
                        ev.is_readable() || ev.is_hup(),
                        ev.is_writable(),
                        ev.is_error(),
                    ),
                    Some(MainToken::Listener(i)) => self.accept_all(usize::from(i)),
                    Some(MainToken::Waker) | None => {}
                }
            }
            while let Ok(msg) = self.rx.try_recv() {
                self.on_msg(msg);
            }
            self.run_timers();
            self.shared
                .stats
                .timers_armed
                .store(self.timers.len() as u64, Ordering::Relaxed);
            if self.stopping && self.entries.iter().all(Option::is_none) {
                break;
            }
        }
        log::debug!("TCP main: stopped");
    }

    fn entry(&mut self, id: ConId) -> Option<&mut Entry> {
        self.entries
            .get_mut(id.index() as usize)?
            .as_mut()
            .filter(|e| e.conn.id == id)
    }

    /// Puts a new entry in its slot and arms its read timers. An accepted connection over
    /// `tcp_accept_iplimit` is refused instead: out of the table, no event (its hand-off
    /// then finds no entry and drops it).
    fn insert_entry(&mut self, e: Entry) {
        let accepted = !e.conn.outbound;
        let id = e.conn.id;
        if accepted {
            let ip = e.conn.peer.ip();
            if self.refused_by_iplimit(ip) {
                for h in e.timers.into_handles() {
                    self.timers.cancel(h);
                }
                self.shared.table.remove(id);
                let _ = e.conn.stream.shutdown(std::net::Shutdown::Both);
                return;
            }
            self.per_ip.add(ip);
        }
        let idx = id.index() as usize;
        if self.entries.len() <= idx {
            self.entries.resize_with(idx + 1, || None);
        }
        if let Some(slot) = self.entries.get_mut(idx) {
            *slot = Some(e);
        }
        self.arm_msg_timers(id, accepted);
    }

    fn on_conn_ready(&mut self, id: ConId, readable: bool, writable: bool, error: bool) {
        let Some(e) = self.entry(id) else { return };
        let ready = e.ready(readable, writable, error);
        let conn = e.conn.clone();
        if ready.connect_done {
            self.connect_done(conn);
            return;
        }
        if ready.flush {
            self.flush(&conn);
        }
        // Flushing can close the connection; ask the entry again.
        let rs = self
            .entry(id)
            .filter(|_| ready.hand_off)
            .and_then(Entry::take_for_reader);
        if let Some(rs) = rs {
            self.sync_interest(id);
            self.hand_off(rs);
        }
    }

    /// Makes main's poller registration of a connection match what it needs now.
    fn sync_interest(&mut self, id: ConId) {
        let Some(e) = self.entry(id) else { return };
        let want = e.wanted();
        let have = e.interest;
        if want == have {
            return;
        }
        let fd = e.conn.stream.as_raw_fd();
        let token = MainToken::Conn(id).encode();
        let r = match (have, want) {
            (None, Some(w)) => self.poller.register(fd, token, w),
            (Some(_), Some(w)) => self.poller.reregister(fd, token, w),
            (Some(_), None) => self.poller.deregister(fd),
            (None, None) => Ok(()),
        };
        match r {
            Ok(()) => {
                if let Some(e) = self.entry(id) {
                    e.interest = want;
                }
            }
            Err(err) => {
                log::error!("conid {id}: TCP main cannot watch the socket: {err}");
                if let Some(e) = self.entry(id) {
                    let conn = e.conn.clone();
                    self.close_from_main(conn, CloseReason::Error);
                }
            }
        }
    }

    /// Writes queued data while the socket takes it.
    fn flush(&mut self, conn: &Arc<Conn>) {
        // A sender holds the lock: it writes now; the (level-triggered) event comes again.
        let Some(mut q) = conn.write.try_lock() else {
            return;
        };
        if q.is_empty() {
            q.unwatch();
            drop(q);
            self.sync_interest(conn.id);
            return;
        }
        match q.flush_to(
            &conn.stream,
            Instant::now(),
            &self.shared.stats.queued_bytes,
        ) {
            Ok(n) => {
                crate::stats::add(&self.shared.stats.bytes_sent, n as u64);
                if q.is_empty() {
                    q.unwatch();
                    drop(q);
                    conn.touch(self.shared.now_ms());
                    if let Some(h) = self.entry(conn.id).and_then(|e| e.timers.send.take()) {
                        self.timers.cancel(h);
                    }
                    self.sync_interest(conn.id);
                }
            }
            Err(err) => {
                drop(q);
                log::info!("conid {}: write failed: {err}", conn.id);
                self.close_from_main(conn.clone(), CloseReason::from_io_error(&err));
            }
        }
    }

    /// Once a connection is open: lifetime timer, and writability if its queue waits.
    fn opened(&mut self, conn: &Conn) {
        self.arm_lifetime(conn.id);
        if conn.write.try_lock().is_none_or(|q| q.is_watched()) {
            self.want_write(conn.id);
        } else {
            self.sync_interest(conn.id);
        }
    }

    /// A connection a send opened arrives in main.
    fn adopt_outbound(&mut self, conn: Arc<Conn>, started: Instant, home: Option<usize>) {
        let connect_timeout = self.shared.config.snapshot().tcp.connect_timeout;
        let mut e = Entry::outbound(conn.clone());
        e.home = home.and_then(|i| u16::try_from(i).ok());
        self.insert_entry(e);
        if let Some(reason) = conn.close_reason() {
            self.finalize(conn, reason);
            return;
        }
        if conn.state() == ConnState::Connecting {
            let h = self.timers.insert(
                started + connect_timeout,
                (conn.id, TimerKind::ConnectTimeout),
            );
            if let Some(e) = self.entry(conn.id) {
                e.timers.connect = Some(h);
                self.connect_started.insert(conn.id, started);
            }
            self.sync_interest(conn.id);
        } else {
            self.opened(&conn);
        }
    }

    /// A pending connect resolved (writable or error).
    fn connect_done(&mut self, conn: Arc<Conn>) {
        let id = conn.id;
        let started = self.connect_started.remove(&id);
        if let Some(h) = self.entry(id).and_then(|e| e.timers.connect.take()) {
            self.timers.cancel(h);
        }
        let err = match sys::take_socket_error(conn.stream.as_raw_fd()) {
            Ok(None) => None,
            Ok(Some(e)) | Err(e) => Some(e),
        };
        if let Some(err) = err {
            bump(&self.shared.stats.connect_failures);
            log::info!("conid {id}: connect to {} failed: {err}", conn.peer);
            self.close_from_main(conn, CloseReason::from_connect_error(&err));
            return;
        }
        // Connected (finish_connect publishes it as `ConnState::Ok`), even if flushing what
        // was queued then fails: that failure closes it through a close request.
        if let Some(e) = self.entry(id) {
            e.connected();
        }
        let cfg = self.shared.config.snapshot();
        if crate::send::finish_connect(&self.shared, &cfg, &conn, started).is_err() {
            return;
        }
        self.opened(&conn);
    }

    /// Gives a connection's read side to its home reader, else to the least-busy one.
    fn hand_off(&mut self, rs: ReadSide) {
        let Some(home) = self.entry(rs.conn.id).map(|e| e.home) else {
            return; // refused on registration (tcp_accept_iplimit)
        };
        let readers = &self.shared.readers;
        let at_home = home.and_then(|i| Some((usize::from(i), readers.get(usize::from(i))?)));
        let Some((i, r)) = at_home.or_else(|| {
            readers
                .iter()
                .enumerate()
                .min_by_key(|(_, r)| r.load.load(Ordering::Relaxed))
        }) else {
            return;
        };
        r.load.fetch_add(1, Ordering::Relaxed);
        bump(&self.shared.stats.handoffs);
        if let Err(crossbeam_channel::SendError(ReaderMsg::Take(rs))) =
            r.tx.send(ReaderMsg::Take(rs))
        {
            // The reader is gone (shutdown): close here.
            r.load.fetch_sub(1, Ordering::Relaxed);
            log::debug!("reader {i} gone; closing conid {}", rs.conn.id);
            self.finalize(rs.conn, CloseReason::Shutdown);
            return;
        }
        if let Err(e) = r.waker.wake() {
            log::error!("cannot wake reader {i}: {e}");
        }
    }

    fn on_msg(&mut self, msg: MainMsg) {
        match msg {
            MainMsg::Release(rs) => self.on_release(rs),
            MainMsg::Closed(rs, reason) => self.finalize(rs.conn, reason),
            MainMsg::LifetimeChanged(id) => {
                if let Some(h) = self.entry(id).map(|e| e.timers.lifetime.take()) {
                    if let Some(h) = h {
                        self.timers.cancel(h);
                    }
                    self.arm_lifetime(id);
                }
            }
            MainMsg::CloseRequested(id) => {
                // Idle in main: close now. Owned by a reader: the shutdown it got makes the
                // reader hand it back as closed.
                if let Some(e) = self.entry(id).filter(|e| e.read_side_here()) {
                    let conn = e.conn.clone();
                    let reason = conn.close_reason().unwrap_or(CloseReason::Application);
                    self.finalize(conn, reason);
                }
            }
            MainMsg::WantWrite(id) => self.want_write(id),
            MainMsg::Outbound(conn, started, home) => self.adopt_outbound(conn, started, home),
            MainMsg::StopAccepting => self.close_listeners(),
            MainMsg::Shutdown => self.begin_shutdown(),
        }
    }

    /// A reader handed back a quiet connection: park it here, or finalize it.
    fn on_release(&mut self, rs: ReadSide) {
        bump(&self.shared.stats.releases);
        let id = rs.conn.id;
        // The connection's own reason is the first one set; main's is a fallback.
        let closing = self.entry(id).and_then(|e| e.closing_reason());
        let asked = rs.conn.close_reason().or(closing);
        if let Some(reason) = lifecycle::on_hand_back(asked, self.stopping) {
            self.finalize(rs.conn, reason);
            return;
        }
        match self.entry(id) {
            Some(e) => e.park(rs),
            None => return,
        }
        self.sync_interest(id);
    }

    /// Stops accepting: what is already queued on the listeners is accepted (closing them
    /// would reset it), then they close, so new connects are refused; connections stay.
    fn close_listeners(&mut self) {
        for li in 0..self.listeners.len() {
            self.accept_all(li);
        }
        for l in &self.listeners {
            if !l.paused {
                let _ = self.poller.deregister(l.sock.as_raw_fd());
            }
            log::info!("stopped accepting on tcp:{}", l.addr);
        }
        self.listeners.clear();
    }

    fn begin_shutdown(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        for l in &self.listeners {
            if !l.paused {
                let _ = self.poller.deregister(l.sock.as_raw_fd());
            }
        }
        self.listeners.clear();
        for r in &self.shared.readers {
            let _ = r.tx.send(ReaderMsg::Stop);
            let _ = r.waker.wake();
        }
        let here: Vec<Arc<Conn>> = self
            .entries
            .iter()
            .flatten()
            .filter(|e| e.read_side_here())
            .map(|e| e.conn.clone())
            .collect();
        for c in here {
            c.set_close_reason(CloseReason::Shutdown);
            self.finalize(c, CloseReason::Shutdown);
        }
    }

    /// Closes a connection main decided to close: at once if its read side is here, else by
    /// shutting the socket down so its reader hands it back.
    fn close_from_main(&mut self, conn: Arc<Conn>, reason: CloseReason) {
        let now = self
            .entry(conn.id)
            .is_some_and(|e| e.close(reason) == Close::Now);
        conn.request_close(reason);
        if now {
            let reason = conn.close_reason().unwrap_or(reason);
            self.finalize(conn, reason);
        }
    }

    /// The final close: out of main's poller and timers, out of the table, socket shut,
    /// queue dropped, counted, event delivered. From the moment its close reason was set
    /// (here at the latest) until it leaves the table, `tcp_conid_state` reports the state
    /// that reason means; inside `on_unsent` and `on_event` for it, still that state.
    fn finalize(&mut self, conn: Arc<Conn>, reason: CloseReason) {
        let id = conn.id;
        self.forget(&conn);
        // The reason first: a lookup racing with the removal sees the closing state, never OK.
        conn.set_close_reason(reason);
        if self.shared.table.remove(id).is_none() {
            return;
        }
        let _reporting = Reporting::start(id, conn.tcpops_state());
        // Shut the socket before taking the write lock: a sender blocked in a write on it
        // fails at once and lets go of the lock.
        let _ = conn.stream.shutdown(std::net::Shutdown::Both);
        let unsent = conn
            .write
            .lock()
            .take_unsent(&self.shared.stats.queued_bytes);
        let (unsent_bytes, unsent_msgs) = (unsent.bytes, unsent.msgs);
        if unsent_msgs > 0 {
            log::info!("conid {id}: {unsent_msgs} queued messages ({unsent_bytes} bytes) not sent: {reason}");
        }
        // Out of the lock: the handler may send.
        for msg in unsent.messages() {
            call_on_unsent(&*self.handler, &self.transport, id, msg);
        }
        drop(unsent);
        self.count_close(reason);
        log::debug!("conid {id}: closed ({reason})");
        let mode = self.shared.config.snapshot().tcpops.closed_event;
        if lifecycle::reports_close(mode, conn.closed_event.load(Ordering::Relaxed)) {
            bump(&self.shared.stats.events);
            self.handler.on_event(&Event {
                reason,
                conid: id,
                proto: conn.proto,
                local: conn.local,
                remote: conn.peer,
                source: conn.source(),
                unsent_msgs,
                unsent_bytes,
            });
        }
    }

    /// Drops main's entry of a connection: poller registration and timers.
    fn forget(&mut self, conn: &Conn) {
        self.connect_started.remove(&conn.id);
        let Some(slot) = self.entries.get_mut(conn.id.index() as usize) else {
            return;
        };
        if slot.as_ref().is_none_or(|e| e.conn.id != conn.id) {
            return;
        }
        if let Some(e) = slot.take() {
            if !e.conn.outbound {
                self.per_ip.remove(e.conn.peer.ip());
            }
            if e.interest.is_some() {
                let _ = self.poller.deregister(conn.stream.as_raw_fd());
            }
            for h in e.timers.into_handles() {
                self.timers.cancel(h);
            }
        }
    }

    fn count_close(&self, reason: CloseReason) {
        let stats = &self.shared.stats;
        bump(&stats.closed);
        self.shared.closes.bump(reason);
        match reason {
            CloseReason::PeerClosed => bump(&stats.closed_by_peer),
            CloseReason::Reset => bump(&stats.resets),
            CloseReason::Timeout => bump(&stats.timeouts),
            _ => {}
        }
    }
}
