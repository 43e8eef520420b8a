//! The send path: find the connection (by id, `otcpid`, address or alias; through the thread's
//! fd cache), connect when there is none, and write — directly when the socket takes it,
//! through the async write queue when it does not (`tcp_async`), or blocking up to
//! `tcp_send_timeout` (`tcp_async = no`).
//!
//! A connection's write lock (`Conn::write`) is held for the whole of one message's write or
//! enqueue, so messages from several threads never interleave and one sender's messages keep
//! their order.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::conn::{CloseReason, ConId, Conn, ConnState};
use crate::fdcache::with_cache;
use crate::main_loop::MainMsg;
use crate::reader::reason_for_read_error;
use crate::stats::{add, bump};
use crate::transport::Shared;
use crate::wq::WriteQueue;
use sipwire_sys as sys;

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An open connection, by id.
    Conn(ConId),
    /// A destination: an open connection to (or aliased as) this address, or a new one.
    Addr(SocketAddr),
    /// A destination reached from a given local address: with `tcp_connection_match = 1` only a
    /// connection bound to `local` matches.
    AddrFrom {
        /// Remote address.
        dst: SocketAddr,
        /// Local address the message should leave from.
        local: SocketAddr,
    },
}

impl From<ConId> for Target {
    fn from(id: ConId) -> Self {
        Target::Conn(id)
    }
}

impl From<SocketAddr> for Target {
    fn from(a: SocketAddr) -> Self {
        Target::Addr(a)
    }
}

/// Which write-queue limit a send hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueLimit {
    /// `tcp_conn_wq_max`: bytes queued on one connection.
    ConnBytes,
    /// `tcp_wq_max`: bytes queued on all connections.
    TotalBytes,
    /// `tcp_async_max_postponed_chunks`: messages queued on one connection.
    Messages,
}

/// Why a send failed. Every variant that involves a connection names it.
#[derive(Debug)]
pub enum SendError {
    /// No open connection has this id.
    NoSuchConnection(ConId),
    /// No connection to the destination and `tcp_no_connect` forbids opening one.
    NoConnect(SocketAddr),
    /// The destination refused the connection.
    ConnectRefused(SocketAddr),
    /// The connect did not complete within `tcp_connect_timeout` (blocking mode).
    ConnectTimeout(SocketAddr),
    /// The connect failed otherwise.
    Connect(SocketAddr, io::Error),
    /// A blocking write made no progress within `tcp_send_timeout`; the connection was closed.
    SendTimeout(ConId),
    /// The message would exceed a write-queue limit; the connection was closed (too slow).
    QueueFull(ConId, QueueLimit),
    /// The connection is closing or closed.
    Closed(ConId),
    /// The socket failed; the connection was closed.
    Io(ConId, io::Error),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NoSuchConnection(id) => write!(f, "no open connection with id {id}"),
            SendError::NoConnect(a) => write!(f, "no connection to {a} and tcp_no_connect is set"),
            SendError::ConnectRefused(a) => write!(f, "connection to {a} refused"),
            SendError::ConnectTimeout(a) => {
                write!(f, "connect to {a} timed out (tcp_connect_timeout)")
            }
            SendError::Connect(a, e) => write!(f, "connect to {a} failed: {e}"),
            SendError::SendTimeout(id) => {
                write!(f, "conid {id}: send timed out (tcp_send_timeout); closed")
            }
            SendError::QueueFull(id, l) => {
                let what = match l {
                    QueueLimit::ConnBytes => "tcp_conn_wq_max",
                    QueueLimit::TotalBytes => "tcp_wq_max",
                    QueueLimit::Messages => "tcp_async_max_postponed_chunks",
                };
                write!(
                    f,
                    "conid {id}: write queue over {what}; connection closed (peer too slow)"
                )
            }
            SendError::Closed(id) => write!(f, "conid {id} is closing"),
            SendError::Io(id, e) => write!(f, "conid {id}: write failed: {e}; closed"),
        }
    }
}

impl std::error::Error for SendError {}

/// Sends one message; returns the id of the connection it went to (or is queued on).
pub(crate) fn send(
    shared: &Shared,
    target: Target,
    otcpid: Option<ConId>,
    bytes: &[u8],
) -> Result<ConId, SendError> {
    let (cfg, found) = with_cache(shared.id, &shared.config, |cache| {
        let cfg = cache.config();
        let found = lookup(shared, cache, &cfg, target, otcpid);
        (cfg, found)
    });
    bump(&shared.stats.sends);
    let result = match (found, target) {
        (Some(conn), _) => write_msg(shared, &cfg, &conn, bytes).map(|()| conn.id),
        (None, Target::Conn(id)) => Err(SendError::NoSuchConnection(id)),
        (None, Target::Addr(dst)) => connect(shared, &cfg, dst, None, bytes),
        (None, Target::AddrFrom { dst, local }) => connect(shared, &cfg, dst, Some(local), bytes),
    };
    if result.is_err() {
        bump(&shared.stats.send_errors);
    }
    result
}

fn lookup(
    shared: &Shared,
    cache: &mut crate::fdcache::ThreadCache,
    cfg: &Config,
    target: Target,
    otcpid: Option<ConId>,
) -> Option<Arc<Conn>> {
    let use_cache = cfg.tcp.fd_cache;
    let by_id = |cache: &mut crate::fdcache::ThreadCache, id: ConId| {
        if use_cache {
            if let Some(c) = cache.by_id(id) {
                return Some(c);
            }
        }
        let c = shared
            .table
            .get(id)
            .filter(|c| c.close_reason().is_none())?;
        if use_cache {
            cache.remember(None, &c);
        }
        Some(c)
    };
    // tcp_set_otcpid with the flag set pins the message to that connection while it is open,
    // whatever the destination says (the reference's caveat).
    if let Some(c) = otcpid.and_then(|id| by_id(cache, id)) {
        return Some(c);
    }
    let (dst, local) = match target {
        Target::Conn(id) => return by_id(cache, id),
        Target::Addr(dst) => (dst, None),
        Target::AddrFrom { dst, local } => (dst, Some(local)),
    };
    let local = local.filter(|_| cfg.tcp.connection_match);
    if use_cache {
        if let Some(c) = cache.by_addr(&dst, local) {
            return Some(c);
        }
    }
    let c = shared.table.find(&dst, local)?;
    if use_cache {
        cache.remember(Some(dst), &c);
    }
    Some(c)
}

/// Closes a connection from a sending thread: its owner hands it to TCP main for the final
/// close, which reports it.
fn close(shared: &Shared, conn: &Conn, reason: CloseReason) {
    conn.request_close(reason);
    shared.tell_main(MainMsg::CloseRequested(conn.id));
}

/// Queues `bytes` if every limit allows it.
fn enqueue(
    shared: &Shared,
    cfg: &Config,
    q: &mut WriteQueue,
    bytes: &[u8],
    now: Instant,
) -> Result<(), QueueLimit> {
    let n = bytes.len();
    if q.bytes() + n > cfg.tcp.conn_wq_max {
        return Err(QueueLimit::ConnBytes);
    }
    if q.msgs() + 1 > cfg.tcp.async_max_postponed_chunks as usize {
        return Err(QueueLimit::Messages);
    }
    let n64 = n as u64;
    let total = shared.stats.queued_bytes.fetch_add(n64, Ordering::AcqRel) + n64;
    if total > cfg.tcp.wq_max as u64 {
        shared.stats.queued_bytes.fetch_sub(n64, Ordering::AcqRel);
        return Err(QueueLimit::TotalBytes);
    }
    q.push(bytes, cfg.tcp.wq_blk_size, now);
    Ok(())
}

/// Writes one message to an open (or connecting) connection.
pub(crate) fn write_msg(
    shared: &Shared,
    cfg: &Config,
    conn: &Arc<Conn>,
    bytes: &[u8],
) -> Result<(), SendError> {
    if cfg.tcp.asynchronous && conn.state() == ConnState::Ok && cork_append(conn, bytes) {
        return Ok(());
    }
    write_now(shared, cfg, conn, bytes)
}

/// Messages for one connection, gathered during a read pass.
type Batches = Vec<(Arc<Conn>, Vec<u8>)>;

thread_local! {
    /// Messages a reader thread's handler sent during one read pass, per connection, written
    /// when the pass ends (one write instead of one per message). `None` outside a pass.
    static CORK: RefCell<Option<Batches>> = const { RefCell::new(None) };
}

/// Appends to this thread's cork if a read pass is corking; false otherwise.
fn cork_append(conn: &Arc<Conn>, bytes: &[u8]) -> bool {
    CORK.with(|c| {
        let mut c = c.borrow_mut();
        let Some(batches) = c.as_mut() else {
            return false;
        };
        match batches.iter_mut().find(|(x, _)| Arc::ptr_eq(x, conn)) {
            Some((_, buf)) => buf.extend_from_slice(bytes),
            None => batches.push((conn.clone(), bytes.to_vec())),
        }
        true
    })
}

/// Starts corking this thread's sends (a reader, before it delivers one read's frames).
pub(crate) fn cork() {
    CORK.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(Vec::new());
        }
    });
}

/// Writes what was corked, one write per connection, and stops corking. A failure closes that
/// connection and is counted (`send_errors`); the handler's `send` already returned.
pub(crate) fn uncork(shared: &Shared, cfg: &Config) {
    let Some(batches) = CORK.with(|c| c.borrow_mut().take()) else {
        return;
    };
    for (conn, bytes) in batches {
        if let Err(e) = write_now(shared, cfg, &conn, &bytes) {
            bump(&shared.stats.send_errors);
            log::info!("conid {}: corked write failed: {e}", conn.id);
        }
    }
}

/// Writes one message (or one corked batch) to an open (or connecting) connection.
fn write_now(
    shared: &Shared,
    cfg: &Config,
    conn: &Arc<Conn>,
    bytes: &[u8],
) -> Result<(), SendError> {
    let now = Instant::now();
    let mut q = conn.write.lock();
    if conn.close_reason().is_some() {
        return Err(SendError::Closed(conn.id));
    }
    if !cfg.tcp.asynchronous {
        let r = write_blocking(conn, bytes, now + cfg.tcp.send_timeout);
        drop(q);
        return match r {
            Ok(()) => {
                add(&shared.stats.bytes_sent, bytes.len() as u64);
                conn.touch(shared.now_ms());
                Ok(())
            }
            Err(None) => {
                bump(&shared.stats.send_timeouts);
                close(shared, conn, CloseReason::SendTimeout);
                Err(SendError::SendTimeout(conn.id))
            }
            Err(Some(e)) => {
                close(shared, conn, reason_for_read_error(&e));
                Err(SendError::Io(conn.id, e))
            }
        };
    }
    let mut tell_main = false;
    let connecting = conn.state() == ConnState::Connecting;
    if !connecting && !q.is_empty() {
        // Help TCP main: a sender holding the lock writes what the socket takes now, so a
        // single flusher never falls behind many senders. Order is kept: the queue goes first.
        match q.flush_to(&conn.stream, now) {
            Ok(n) => {
                shared
                    .stats
                    .queued_bytes
                    .fetch_sub(n as u64, Ordering::AcqRel);
                add(&shared.stats.bytes_sent, n as u64);
            }
            Err(e) => {
                drop(q);
                close(shared, conn, reason_for_read_error(&e));
                return Err(SendError::Io(conn.id, e));
            }
        }
    }
    let rest: &[u8] = if connecting || !q.is_empty() {
        bytes
    } else {
        match write_direct(conn, bytes, now + cfg.tcp.async_local_write_timeout) {
            Ok(n) => {
                add(&shared.stats.bytes_sent, n as u64);
                bytes.get(n..).unwrap_or(&[])
            }
            Err(e) => {
                drop(q);
                close(shared, conn, reason_for_read_error(&e));
                return Err(SendError::Io(conn.id, e));
            }
        }
    };
    if !rest.is_empty() {
        if let Err(limit) = enqueue(shared, cfg, &mut q, rest, now) {
            drop(q);
            bump(&shared.stats.queue_full);
            log::warn!(
                "conid {}: write queue limit {limit:?} reached; closing (peer too slow)",
                conn.id
            );
            close(shared, conn, CloseReason::QueueFull);
            return Err(SendError::QueueFull(conn.id, limit));
        }
        if conn.state() != ConnState::Connecting && !q.main_watching {
            q.main_watching = true;
            tell_main = true;
        }
    }
    drop(q);
    if tell_main {
        shared.tell_main(MainMsg::WantWrite(conn.id));
    }
    conn.touch(shared.now_ms());
    Ok(())
}

/// Writes what the socket takes, waiting for room until `deadline`; returns bytes written.
fn write_direct(conn: &Conn, bytes: &[u8], deadline: Instant) -> io::Result<usize> {
    let mut off = 0;
    while let Some(rest) = bytes.get(off..).filter(|r| !r.is_empty()) {
        match (&conn.stream).write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || !sys::wait_writable(conn.stream.as_raw_fd(), left)? {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(off)
}

/// Writes all of `bytes` or fails: `Err(None)` when `deadline` passed first.
fn write_blocking(conn: &Conn, bytes: &[u8], deadline: Instant) -> Result<(), Option<io::Error>> {
    let n = write_direct(conn, bytes, deadline).map_err(Some)?;
    if n == bytes.len() {
        Ok(())
    } else {
        Err(None)
    }
}

/// The local address a new connection to `dst` binds to: `tcp_source_ipv4/6`, and with
/// `tcp_reuse_port` the port of a listener of the same family.
fn source_for(shared: &Shared, cfg: &Config, dst: SocketAddr) -> Option<SocketAddr> {
    let ip = if dst.is_ipv4() {
        cfg.tcp.source_ipv4
    } else {
        cfg.tcp.source_ipv6
    };
    let listener = shared
        .listen_addrs
        .iter()
        .find(|l| l.is_ipv4() == dst.is_ipv4());
    match (cfg.tcp.reuse_port, listener) {
        (true, Some(l)) => Some(SocketAddr::new(ip.unwrap_or(l.ip()), l.port())),
        _ => ip.map(|ip| SocketAddr::new(ip, 0)),
    }
}

fn connect_error(dst: SocketAddr, e: io::Error) -> SendError {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => SendError::ConnectRefused(dst),
        Some(libc::ETIMEDOUT) => SendError::ConnectTimeout(dst),
        _ => SendError::Connect(dst, e),
    }
}

/// The connect lock stripe of a destination.
fn connect_stripe<'a>(shared: &'a Shared, dst: &SocketAddr) -> &'a parking_lot::Mutex<()> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dst.hash(&mut h);
    let i = (h.finish() as usize) % shared.connect_locks.len();
    &shared.connect_locks[i]
}

/// Opens a connection to `dst` and sends `bytes` on it (or queues them until it is up).
fn connect(
    shared: &Shared,
    cfg: &Config,
    dst: SocketAddr,
    local: Option<SocketAddr>,
    bytes: &[u8],
) -> Result<ConId, SendError> {
    if cfg.tcp.no_connect {
        return Err(SendError::NoConnect(dst));
    }
    let started = Instant::now();
    let match_local = local.filter(|_| cfg.tcp.connection_match);
    // One connect per destination: senders racing to the same place serialise on its lock
    // stripe, and all but the first find the first one's connection in the table. The lock
    // covers only the non-blocking connect start and the insert, a few syscalls.
    let stripe = connect_stripe(shared, &dst);
    let guard = stripe.lock();
    if let Some(conn) = shared.table.find(&dst, match_local) {
        drop(guard);
        return write_msg(shared, cfg, &conn, bytes).map(|()| conn.id);
    }
    let bind = local.or_else(|| source_for(shared, cfg, dst));
    let (stream, done) = match sys::start_connect(dst, bind, cfg.tcp.reuse_port) {
        Ok(v) => v,
        Err(e) if bind.is_some() => {
            // As Kamailio: if the source address cannot be used, connect from the default one.
            log::warn!("connect to {dst}: cannot bind {bind:?} ({e}); using the default source");
            sys::start_connect(dst, None, false).map_err(|e| connect_error(dst, e))?
        }
        Err(e) => return Err(connect_error(dst, e)),
    };
    crate::sockopt::apply(&stream, cfg, crate::sockopt::Side::Outbound);
    let local_addr = stream
        .local_addr()
        .map_err(|e| SendError::Connect(dst, e))?;
    let now_ms = shared.now_ms();
    let Some((conn, inserted)) = shared.table.insert_unless_present(&dst, match_local, |id| {
        Conn::new_outbound(id, stream, dst, local_addr, now_ms)
    }) else {
        return Err(SendError::Connect(
            dst,
            io::Error::other("connection table full"),
        ));
    };
    drop(guard);
    if !inserted {
        // Another sender is connecting (or connected) to the same place: join it.
        return write_msg(shared, cfg, &conn, bytes).map(|()| conn.id);
    }
    bump(&shared.stats.connects);
    log::debug!("conid {}: connecting to {dst} from {local_addr}", conn.id);
    {
        let mut q = conn.write.lock();
        if let Err(limit) = enqueue(shared, cfg, &mut q, bytes, started) {
            drop(q);
            close(shared, &conn, CloseReason::QueueFull);
            shared.tell_main(MainMsg::Outbound(conn.clone(), started));
            return Err(SendError::QueueFull(conn.id, limit));
        }
    }
    let wait = if cfg.tcp.asynchronous {
        cfg.tcp.async_local_connect_timeout
    } else {
        cfg.tcp.connect_timeout
    };
    let fd = conn.stream.as_raw_fd();
    let ready = done || sys::wait_writable(fd, wait).unwrap_or(true);
    if !ready {
        if cfg.tcp.asynchronous {
            // TCP main takes the pending connect over; tcp_connect_timeout runs from `started`.
            shared.tell_main(MainMsg::Outbound(conn.clone(), started));
            return Ok(conn.id);
        }
        bump(&shared.stats.connect_failures);
        conn.request_close(CloseReason::ConnectTimeout);
        shared.tell_main(MainMsg::Outbound(conn.clone(), started));
        return Err(SendError::ConnectTimeout(dst));
    }
    let err = match sys::take_socket_error(fd) {
        Ok(None) => None,
        Ok(Some(e)) | Err(e) => Some(e),
    };
    if let Some(e) = err {
        bump(&shared.stats.connect_failures);
        let reason = if e.raw_os_error() == Some(libc::ECONNREFUSED) {
            CloseReason::ConnectRefused
        } else {
            CloseReason::ConnectFailed
        };
        conn.request_close(reason);
        shared.tell_main(MainMsg::Outbound(conn.clone(), started));
        return Err(connect_error(dst, e));
    }
    let flushed = finish_connect(shared, cfg, &conn);
    shared.tell_main(MainMsg::Outbound(conn.clone(), started));
    flushed.map(|()| conn.id)
}

/// A connect completed: the connection is usable; write what was queued while connecting.
pub(crate) fn finish_connect(shared: &Shared, cfg: &Config, conn: &Conn) -> Result<(), SendError> {
    let mut q = conn.write.lock();
    conn.set_state(ConnState::Ok);
    let now = Instant::now();
    let r = if cfg.tcp.asynchronous {
        q.flush_to(&conn.stream, now)
    } else {
        // Blocking mode: the queue holds the connecting sender's message; write it all.
        let deadline = now + cfg.tcp.send_timeout;
        let mut total = 0;
        loop {
            match q.flush_to(&conn.stream, Instant::now()) {
                Ok(n) => total += n,
                Err(e) => break Err(e),
            }
            if q.is_empty() {
                break Ok(total);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !sys::wait_writable(conn.stream.as_raw_fd(), left).unwrap_or(false)
            {
                break Ok(total);
            }
        }
    };
    match r {
        Ok(n) => {
            shared
                .stats
                .queued_bytes
                .fetch_sub(n as u64, Ordering::AcqRel);
            add(&shared.stats.bytes_sent, n as u64);
            if !q.is_empty() {
                if !cfg.tcp.asynchronous {
                    drop(q);
                    bump(&shared.stats.send_timeouts);
                    close(shared, conn, CloseReason::SendTimeout);
                    return Err(SendError::SendTimeout(conn.id));
                }
                q.main_watching = true;
            }
            Ok(())
        }
        Err(e) => {
            drop(q);
            close(shared, conn, reason_for_read_error(&e));
            Err(SendError::Io(conn.id, e))
        }
    }
}
