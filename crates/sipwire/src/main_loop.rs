//! TCP main: the supervisor thread. It owns the listeners and every idle connection, accepts,
//! applies accept-side options, runs the timers (lifetime, `tcp_wait_data`), hands readable
//! connections to the least-busy reader, takes them back when they go quiet, and does the final
//! close of every connection (table removal, events). It never blocks on one connection.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use sipwire_poll::{Events, Interest, Poller, Token};

use crate::config::ClosedEvent;
use crate::conn::{CloseReason, ConId, Conn, ConnState};
use crate::handler::Event;
use crate::reader::{ReadSide, ReaderMsg};
use crate::stats::bump;
use crate::timer::{TimerHandle, TimerWheel};
use crate::transport::Shared;
use sipwire_sys as sys;

const WAKER: Token = Token(0);
const LISTENER_BASE: usize = 1;
/// Connection tokens are `CONN_BASE + conid index`.
const CONN_BASE: usize = 1 << 20;
/// How long accepting pauses after EMFILE/ENFILE, so a full fd table does not spin main.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
const TIMER_TICK: Duration = Duration::from_millis(10);

/// What readers and `Transport` handles tell TCP main.
// Unboxed on purpose: a handoff moves ~200 bytes through the channel instead of allocating.
#[allow(clippy::large_enum_variant)]
pub(crate) enum MainMsg {
    /// A reader hands back a quiet connection.
    Release(ReadSide),
    /// A reader is done with a connection that must close.
    Closed(ReadSide, CloseReason),
    /// `set_connection_lifetime` changed this connection's lifetime.
    LifetimeChanged(ConId),
    /// `close_connection` (or a failed send) asked for this connection to close.
    CloseRequested(ConId),
    /// A send queued data: watch the socket for writability and flush.
    WantWrite(ConId),
    /// A connection a send opened: connected, still connecting (timeout counts from the
    /// instant), or already failed (close reason set).
    Outbound(Arc<Conn>, Instant),
    /// Stop: close listeners and every connection, stop the readers, exit.
    Shutdown,
}

#[derive(Debug, Clone, Copy)]
enum TimerKind {
    Lifetime,
    WaitData,
    AcceptResume(usize),
    ConnectTimeout,
    SendTimeout,
}

struct Entry {
    conn: Arc<Conn>,
    /// `Some` while the connection is idle in main (registered in main's poller).
    idle: Option<ReadSide>,
    lifetime: Option<TimerHandle>,
    wait_data: Option<TimerHandle>,
    connect: Option<TimerHandle>,
    send: Option<TimerHandle>,
    /// What the fd is registered for in main's poller, if anything.
    interest: Option<Interest>,
}

impl Entry {
    fn new(conn: Arc<Conn>) -> Entry {
        Entry {
            conn,
            idle: None,
            lifetime: None,
            wait_data: None,
            connect: None,
            send: None,
            interest: None,
        }
    }

    /// What main must watch: readability while idle here, writability while connecting or
    /// while the write queue waits for room.
    fn wanted(&self) -> Option<Interest> {
        if self.conn.state() == ConnState::Connecting {
            return Some(Interest::WRITABLE);
        }
        let read = self.idle.is_some();
        let write = self.conn.write.lock().main_watching;
        match (read, write) {
            (true, true) => Some(Interest::BOTH),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        }
    }
}

struct Listener {
    sock: TcpListener,
    addr: SocketAddr,
    paused: bool,
}

pub(crate) struct TcpMain {
    shared: Arc<Shared>,
    rx: Receiver<MainMsg>,
    poller: Poller,
    listeners: Vec<Listener>,
    entries: Vec<Option<Entry>>,
    timers: TimerWheel<(ConId, TimerKind)>,
    stopping: bool,
}

impl TcpMain {
    pub fn new(
        shared: Arc<Shared>,
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
            shared,
            rx,
            poller,
            listeners: ls,
            entries: Vec::new(),
            stopping: false,
        };
        for (i, l) in m.listeners.iter().enumerate() {
            m.poller.register(
                l.sock.as_raw_fd(),
                Token(LISTENER_BASE + i),
                Interest::READABLE,
            )?;
        }
        Ok(m)
    }

    /// Runs until shutdown has closed every connection.
    pub fn run(mut self) {
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
                let t = ev.token().0;
                if t == WAKER.0 {
                    continue;
                } else if t >= CONN_BASE {
                    self.on_conn_ready(
                        t - CONN_BASE,
                        ev.is_readable() || ev.is_hup(),
                        ev.is_writable(),
                        ev.is_error(),
                    );
                } else if t >= LISTENER_BASE {
                    self.accept_all(t - LISTENER_BASE);
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

    fn accept_all(&mut self, li: usize) {
        loop {
            let Some(l) = self.listeners.get(li) else {
                return;
            };
            if self.stopping || l.paused {
                return;
            }
            match sys::accept_nonblocking(&l.sock) {
                Ok((stream, peer)) => {
                    let local = if l.addr.ip().is_unspecified() {
                        stream.local_addr().unwrap_or(l.addr)
                    } else {
                        l.addr
                    };
                    self.on_accepted(stream, peer, local);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    bump(&self.shared.stats.accept_errors);
                    let code = e.raw_os_error();
                    if code == Some(libc::EMFILE)
                        || code == Some(libc::ENFILE)
                        || code == Some(libc::ENOMEM)
                        || code == Some(libc::ENOBUFS)
                    {
                        log::warn!(
                            "accept on {}: {e}; pausing accepts for {ACCEPT_PAUSE:?}",
                            l.addr
                        );
                        let fd = l.sock.as_raw_fd();
                        if let Err(e) = self.poller.deregister(fd) {
                            log::error!("deregister listener: {e}");
                        }
                        if let Some(l) = self.listeners.get_mut(li) {
                            l.paused = true;
                        }
                        self.timers.insert(
                            Instant::now() + ACCEPT_PAUSE,
                            (ConId(0), TimerKind::AcceptResume(li)),
                        );
                        return;
                    }
                    // ECONNABORTED and friends: that connection is gone, keep accepting.
                    log::debug!("accept on {}: {e}", l.addr);
                }
            }
        }
    }

    fn on_accepted(&mut self, stream: std::net::TcpStream, peer: SocketAddr, local: SocketAddr) {
        let cfg = self.shared.config.snapshot();
        let tcp = &cfg.tcp;
        if self.shared.table.len() >= tcp.max_connections as usize {
            bump(&self.shared.stats.refused_max_connections);
            log::warn!(
                "refusing connection from {peer}: tcp_max_connections ({}) reached",
                tcp.max_connections
            );
            return;
        }
        if tcp.accept_unique && self.shared.table.by_peer(&peer).is_some() {
            bump(&self.shared.stats.refused_unique);
            log::info!("refusing duplicate connection from {peer} (tcp_accept_unique)");
            return;
        }
        crate::sockopt::apply(&stream, &cfg, crate::sockopt::Side::Accepted);
        let now_ms = self.shared.now_ms();
        let Some(conn) = self
            .shared
            .table
            .insert(|id| Conn::new(id, stream, peer, local, now_ms))
        else {
            log::error!("connection table full; refusing {peer}");
            return;
        };
        bump(&self.shared.stats.accepted);
        log::debug!("conid {}: accepted from {peer} on {local}", conn.id);
        let idx = conn.id.index() as usize;
        if self.entries.len() <= idx {
            self.entries.resize_with(idx + 1, || None);
        }
        let now = Instant::now();
        let lifetime = Some(self.timers.insert(
            now + tcp.connection_lifetime,
            (conn.id, TimerKind::Lifetime),
        ));
        let wait_data = tcp.accept_haproxy.then(|| {
            self.timers
                .insert(now + tcp.wait_data, (conn.id, TimerKind::WaitData))
        });
        let mut e = Entry::new(conn.clone());
        e.lifetime = lifetime;
        e.wait_data = wait_data;
        self.entries[idx] = Some(e);
        // A new connection almost always has data on its way: hand it to a reader at once.
        self.hand_off(ReadSide::new(conn));
    }

    fn on_conn_ready(&mut self, idx: usize, readable: bool, writable: bool, error: bool) {
        let Some(Some(e)) = self.entries.get_mut(idx) else {
            return;
        };
        let conn = e.conn.clone();
        if conn.state() == ConnState::Connecting {
            if writable || error || readable {
                self.connect_done(conn);
            }
            return;
        }
        if writable || error {
            self.flush(&conn);
        }
        let Some(Some(e)) = self.entries.get_mut(idx) else {
            return;
        };
        if (readable || error) && e.idle.is_some() {
            if let Some(rs) = e.idle.take() {
                self.sync_interest(conn.id);
                self.hand_off(rs);
            }
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
        let token = Token(CONN_BASE + id.index() as usize);
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
        let mut q = conn.write.lock();
        if q.is_empty() {
            q.main_watching = false;
            drop(q);
            self.sync_interest(conn.id);
            return;
        }
        match q.flush_to(&conn.stream, Instant::now()) {
            Ok(n) => {
                self.shared
                    .stats
                    .queued_bytes
                    .fetch_sub(n as u64, Ordering::AcqRel);
                crate::stats::add(&self.shared.stats.bytes_sent, n as u64);
                if q.is_empty() {
                    q.main_watching = false;
                    drop(q);
                    conn.touch(self.shared.now_ms());
                    if let Some(e) = self.entry(conn.id) {
                        if let Some(h) = e.send.take() {
                            self.timers.cancel(h);
                        }
                    }
                    self.sync_interest(conn.id);
                }
            }
            Err(err) => {
                drop(q);
                log::info!("conid {}: write failed: {err}", conn.id);
                self.close_from_main(conn.clone(), crate::reader::reason_for_read_error(&err));
            }
        }
    }

    /// A send queued data on a connection: watch for room and time the queue.
    fn want_write(&mut self, id: ConId) {
        let timeout = self.shared.config.snapshot().tcp.send_timeout;
        let Some(e) = self.entry(id) else { return };
        if e.send.is_none() {
            let since = e
                .conn
                .write
                .lock()
                .last_progress
                .unwrap_or_else(Instant::now);
            let h = self
                .timers
                .insert(since + timeout, (id, TimerKind::SendTimeout));
            if let Some(e) = self.entry(id) {
                e.send = Some(h);
            }
        }
        self.sync_interest(id);
    }

    /// A connection a send opened arrives in main.
    fn adopt_outbound(&mut self, conn: Arc<Conn>, started: Instant) {
        let cfg = self.shared.config.snapshot();
        let idx = conn.id.index() as usize;
        if self.entries.len() <= idx {
            self.entries.resize_with(idx + 1, || None);
        }
        let mut e = Entry::new(conn.clone());
        e.idle = Some(ReadSide::new(conn.clone()));
        self.entries[idx] = Some(e);
        if let Some(reason) = conn.close_reason() {
            self.finalize(conn, reason);
            return;
        }
        if conn.state() == ConnState::Connecting {
            let h = self.timers.insert(
                started + cfg.tcp.connect_timeout,
                (conn.id, TimerKind::ConnectTimeout),
            );
            if let Some(e) = self.entry(conn.id) {
                e.connect = Some(h);
            }
            self.sync_interest(conn.id);
        } else {
            self.arm_lifetime(conn.id);
            if conn.write.lock().main_watching {
                self.want_write(conn.id);
            } else {
                self.sync_interest(conn.id);
            }
        }
    }

    /// A pending connect resolved (writable or error).
    fn connect_done(&mut self, conn: Arc<Conn>) {
        let id = conn.id;
        if let Some(e) = self.entry(id) {
            if let Some(h) = e.connect.take() {
                self.timers.cancel(h);
            }
        }
        let err = match sys::take_socket_error(conn.stream.as_raw_fd()) {
            Ok(None) => None,
            Ok(Some(e)) | Err(e) => Some(e),
        };
        if let Some(err) = err {
            bump(&self.shared.stats.connect_failures);
            let reason = if err.raw_os_error() == Some(libc::ECONNREFUSED) {
                CloseReason::ConnectRefused
            } else {
                CloseReason::ConnectFailed
            };
            log::info!("conid {id}: connect to {} failed: {err}", conn.peer);
            self.close_from_main(conn, reason);
            return;
        }
        let cfg = self.shared.config.snapshot();
        if crate::send::finish_connect(&self.shared, &cfg, &conn).is_err() {
            return;
        }
        self.arm_lifetime(id);
        if conn.write.lock().main_watching {
            self.want_write(id);
        } else {
            self.sync_interest(id);
        }
    }

    /// Gives a connection's read side to the least-busy reader.
    fn hand_off(&mut self, rs: ReadSide) {
        let readers = &self.shared.readers;
        let Some((i, r)) = readers
            .iter()
            .enumerate()
            .min_by_key(|(_, r)| r.load.load(Ordering::Relaxed))
        else {
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
            MainMsg::Release(rs) => {
                bump(&self.shared.stats.releases);
                let id = rs.conn.id;
                if let Some(reason) = rs.conn.close_reason() {
                    self.finalize(rs.conn, reason);
                    return;
                }
                if self.stopping {
                    self.finalize(rs.conn, CloseReason::Shutdown);
                    return;
                }
                match self.entry(id) {
                    Some(e) => e.idle = Some(rs),
                    None => return,
                }
                self.sync_interest(id);
            }
            MainMsg::Closed(rs, reason) => self.finalize(rs.conn, reason),
            MainMsg::LifetimeChanged(id) => {
                if let Some(e) = self.entry(id) {
                    let old = e.lifetime.take();
                    if let Some(h) = old {
                        self.timers.cancel(h);
                    }
                    self.arm_lifetime(id);
                }
            }
            MainMsg::CloseRequested(id) => {
                // Idle in main: close now. Owned by a reader: the shutdown it got makes the
                // reader hand it back as closed.
                if let Some(e) = self.entry(id) {
                    if e.idle.is_some() {
                        let conn = e.conn.clone();
                        let reason = conn.close_reason().unwrap_or(CloseReason::Application);
                        self.finalize(conn, reason);
                    }
                }
            }
            MainMsg::WantWrite(id) => self.want_write(id),
            MainMsg::Outbound(conn, started) => self.adopt_outbound(conn, started),
            MainMsg::Shutdown => self.begin_shutdown(),
        }
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
        let idle: Vec<Arc<Conn>> = self
            .entries
            .iter()
            .flatten()
            .filter(|e| e.idle.is_some())
            .map(|e| e.conn.clone())
            .collect();
        for c in idle {
            c.set_close_reason(CloseReason::Shutdown);
            self.finalize(c, CloseReason::Shutdown);
        }
    }

    /// (Re)arms the lifetime timer from the connection's last activity.
    fn arm_lifetime(&mut self, id: ConId) {
        let lifetime = self.lifetime_of(id);
        let Some(e) = self.entry(id) else { return };
        let last = e.conn.last_activity_ms();
        let deadline = self.shared.epoch + Duration::from_millis(last) + lifetime;
        let h = self.timers.insert(deadline, (id, TimerKind::Lifetime));
        if let Some(e) = self.entry(id) {
            e.lifetime = Some(h);
        }
    }

    fn lifetime_of(&self, id: ConId) -> Duration {
        let conf = self.shared.config.snapshot().tcp.connection_lifetime;
        self.entries
            .get(id.index() as usize)
            .and_then(Option::as_ref)
            .and_then(|e| e.conn.lifetime_override_ms())
            .map_or(conf, Duration::from_millis)
    }

    fn run_timers(&mut self) {
        let mut fired = Vec::new();
        self.timers.advance(Instant::now(), |v| fired.push(v));
        for (id, kind) in fired {
            match kind {
                TimerKind::AcceptResume(li) => self.resume_accept(li),
                TimerKind::Lifetime => self.on_lifetime(id),
                TimerKind::ConnectTimeout => {
                    let Some(e) = self.entry(id) else { continue };
                    e.connect = None;
                    let conn = e.conn.clone();
                    if conn.state() == ConnState::Connecting {
                        bump(&self.shared.stats.connect_failures);
                        log::info!(
                            "conid {id}: connect to {} timed out (tcp_connect_timeout)",
                            conn.peer
                        );
                        self.close_from_main(conn, CloseReason::ConnectTimeout);
                    }
                }
                TimerKind::SendTimeout => self.on_send_timeout(id),
                TimerKind::WaitData => {
                    let Some(e) = self.entry(id) else { continue };
                    e.wait_data = None;
                    if !e.conn.proxy_done.load(Ordering::Acquire) {
                        let conn = e.conn.clone();
                        bump(&self.shared.stats.wait_data_expired);
                        log::info!("conid {id}: no PROXY header within tcp_wait_data; closing");
                        self.close_from_main(conn, CloseReason::WaitData);
                    }
                }
            }
        }
    }

    fn on_send_timeout(&mut self, id: ConId) {
        let timeout = self.shared.config.snapshot().tcp.send_timeout;
        let Some(e) = self.entry(id) else { return };
        e.send = None;
        let conn = e.conn.clone();
        let last = {
            let q = conn.write.lock();
            if q.is_empty() {
                return;
            }
            q.last_progress.unwrap_or_else(Instant::now)
        };
        if last.elapsed() >= timeout {
            bump(&self.shared.stats.send_timeouts);
            log::info!("conid {id}: queued data made no progress for {timeout:?} (tcp_send_timeout); closing");
            self.close_from_main(conn, CloseReason::SendTimeout);
        } else {
            let h = self
                .timers
                .insert(last + timeout, (id, TimerKind::SendTimeout));
            if let Some(e) = self.entry(id) {
                e.send = Some(h);
            }
        }
    }

    fn on_lifetime(&mut self, id: ConId) {
        let lifetime = self.lifetime_of(id);
        let now_ms = self.shared.now_ms();
        let Some(e) = self.entry(id) else { return };
        e.lifetime = None;
        let idle_for = Duration::from_millis(now_ms.saturating_sub(e.conn.last_activity_ms()));
        if idle_for >= lifetime {
            let conn = e.conn.clone();
            bump(&self.shared.stats.lifetime_expired);
            log::debug!("conid {id}: idle {idle_for:?} >= lifetime {lifetime:?}; closing");
            self.close_from_main(conn, CloseReason::Lifetime);
        } else {
            self.arm_lifetime(id);
        }
    }

    /// Closes a connection main decided to close: at once if idle here, else by shutting the
    /// socket down so its reader hands it back.
    fn close_from_main(&mut self, conn: Arc<Conn>, reason: CloseReason) {
        let idle = self.entry(conn.id).is_some_and(|e| e.idle.is_some());
        conn.request_close(reason);
        if idle {
            let reason = conn.close_reason().unwrap_or(reason);
            self.finalize(conn, reason);
        }
    }

    fn resume_accept(&mut self, li: usize) {
        let Some(l) = self.listeners.get_mut(li) else {
            return;
        };
        if !l.paused {
            return;
        }
        l.paused = false;
        let fd = l.sock.as_raw_fd();
        if let Err(e) = self
            .poller
            .register(fd, Token(LISTENER_BASE + li), Interest::READABLE)
        {
            log::error!("cannot resume accepting: {e}");
        }
        self.accept_all(li);
    }

    /// The final close: out of the table and main's poller, timers cancelled, socket shut,
    /// event delivered.
    fn finalize(&mut self, conn: Arc<Conn>, reason: CloseReason) {
        let id = conn.id;
        if let Some(slot) = self.entries.get_mut(id.index() as usize) {
            if slot.as_ref().is_some_and(|e| e.conn.id == id) {
                if let Some(e) = slot.take() {
                    if e.interest.is_some() {
                        let _ = self.poller.deregister(conn.stream.as_raw_fd());
                    }
                    for h in [e.lifetime, e.wait_data, e.connect, e.send]
                        .into_iter()
                        .flatten()
                    {
                        self.timers.cancel(h);
                    }
                }
            }
        }
        if self.shared.table.remove(id).is_none() {
            return;
        }
        conn.set_close_reason(reason);
        let (unsent_bytes, unsent_msgs) = conn.write.lock().clear();
        self.shared
            .stats
            .queued_bytes
            .fetch_sub(unsent_bytes as u64, Ordering::AcqRel);
        if unsent_msgs > 0 {
            log::info!("conid {id}: {unsent_msgs} queued messages ({unsent_bytes} bytes) not sent: {reason}");
        }
        conn.set_state(match reason {
            CloseReason::PeerClosed => ConnState::Eof,
            CloseReason::Reset
            | CloseReason::Timeout
            | CloseReason::Error
            | CloseReason::ConnectRefused
            | CloseReason::ConnectTimeout
            | CloseReason::ConnectFailed => ConnState::Error,
            _ => ConnState::Bad,
        });
        let _ = conn.stream.shutdown(std::net::Shutdown::Both);
        let stats = &self.shared.stats;
        bump(&stats.closed);
        match reason {
            CloseReason::PeerClosed => bump(&stats.closed_by_peer),
            CloseReason::Reset => bump(&stats.resets),
            CloseReason::Timeout => bump(&stats.timeouts),
            _ => {}
        }
        log::debug!("conid {id}: closed ({reason})");
        let mode = self.shared.config.snapshot().tcpops.closed_event;
        let fire = match mode {
            ClosedEvent::Off => false,
            ClosedEvent::On => true,
            ClosedEvent::Manual => conn.closed_event.load(Ordering::Relaxed),
        };
        if fire {
            bump(&stats.events);
            let ev = Event {
                reason,
                conid: id,
                proto: conn.proto,
                local: conn.local,
                remote: conn.peer,
                source: conn.source(),
                unsent_msgs,
                unsent_bytes,
            };
            self.shared.handler.on_event(&ev);
        }
    }
}
