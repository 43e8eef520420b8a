//! Opening a connection for a send: one connect per destination (a striped lock), the limit
//! (`tcp_max_connections`, counting inbound and outbound), the source address
//! (`tcp_source_ipv4/6`, `tcp_reuse_port`), and what happens once it is up (`finish_connect`).
//!
//! Async mode (`tcp_async`): the sender only starts the non-blocking connect, queues its
//! message on the connection (state `Connecting`) and hands it to TCP main, which completes
//! it (or aborts it at `tcp_connect_timeout`); the sender never waits, whatever thread it is
//! (a reader, TCP main in `on_event`, an application thread), so
//! `tcp_async_local_connect_timeout` is not used. A connect that fails later closes the
//! connection; its close event carries the reason and the queued messages (`unsent_*`).
//! Blocking mode (`tcp_async = no`): the sender waits up to `tcp_connect_timeout`, holding
//! no lock.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::conn::{CloseReason, Conn, ConnState};
use crate::conn_table::InsertError;
use crate::handoff::MainMsg;
use crate::shared::Shared;
use crate::stats::{add, bump};
use sipwire_sys as sys;

use super::write::len32;
use super::{close, queue, write_failed, write_msg, Delivery, SendError, Sent};

/// The local address a new connection to `dst` binds to: `tcp_source_ipv4/6`, and with
/// `tcp_reuse_port` the port of a listener of the same family.
fn source_for(shared: &Shared, cfg: &Config, dst: SocketAddr) -> Option<SocketAddr> {
    let ip = if dst.is_ipv4() {
        cfg.tcp.source_ipv4
    } else {
        cfg.tcp.source_ipv6
    };
    let listener = super::lookup::default_listener(shared, dst);
    match (cfg.tcp.reuse_port, listener) {
        (true, Some(l)) => Some(SocketAddr::new(ip.unwrap_or(l.ip()), l.port())),
        _ => ip.map(|ip| SocketAddr::new(ip, 0)),
    }
}

/// The send error a failed connect means.
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

/// A connection for a send: one already there (joined), or one this send opened.
enum Opened {
    /// Another sender connected (or is connecting) to the same place.
    Existing(Arc<Conn>),
    /// Ours; `done` when the connect completed at once.
    New { conn: Arc<Conn>, done: bool },
}

/// Opens a connection to `dst` and sends `bytes` on it (or queues them until it is up).
pub(super) fn connect(
    shared: &Shared,
    cfg: &Config,
    dst: SocketAddr,
    local: Option<SocketAddr>,
    bytes: &[u8],
) -> Result<Sent, SendError> {
    if cfg.tcp.no_connect {
        return Err(SendError::NoConnect(dst));
    }
    let started = Instant::now();
    let (conn, done) = match open(shared, cfg, dst, local) {
        Ok(Opened::Existing(conn)) => {
            return write_msg(shared, cfg, &conn, bytes).map(|delivery| Sent {
                conid: conn.id,
                delivery,
            })
        }
        Ok(Opened::New { conn, done }) => (conn, done),
        Err(e) => {
            if matches!(e, SendError::TooManyConnections(_)) {
                bump(&shared.stats.refused_max_connections);
                log::warn!(
                    "no connect to {dst}: tcp_max_connections ({}) reached",
                    cfg.tcp.max_connections
                );
            } else {
                bump(&shared.stats.connect_failures);
            }
            return Err(e);
        }
    };
    bump(&shared.stats.connects);
    log::debug!("conid {}: connecting to {dst} from {}", conn.id, conn.local);
    {
        let mut q = conn.write.lock();
        if let Err(limit) = queue::enqueue(
            shared,
            cfg,
            &mut q,
            bytes,
            &[len32(bytes.len())],
            0,
            started,
        ) {
            drop(q);
            close(shared, &conn, CloseReason::QueueFull);
            shared.tell_main(MainMsg::Outbound(
                conn.clone(),
                started,
                crate::reader::current(shared),
            ));
            return Err(SendError::QueueFull(conn.id, limit));
        }
    }
    let r = if !cfg.tcp.asynchronous {
        complete_blocking(shared, cfg, &conn, done, dst, started)
    } else if done {
        // Connected at once: flush without waiting (async), as TCP main would.
        finish_connect(shared, cfg, &conn, Some(started))
    } else {
        Ok(())
    };
    let delivery = if !cfg.tcp.asynchronous || conn.write.lock().is_empty() {
        Delivery::Written
    } else {
        Delivery::Queued
    };
    shared.tell_main(MainMsg::Outbound(
        conn.clone(),
        started,
        crate::reader::current(shared),
    ));
    r.map(|()| Sent {
        conid: conn.id,
        delivery,
    })
}

/// Finds or starts the one connection to `dst`. Senders racing to the same place serialise
/// on its lock stripe, and all but the first find the first one's connection in the table.
/// The lock covers only the non-blocking connect start and the insert, a few syscalls.
fn open(
    shared: &Shared,
    cfg: &Config,
    dst: SocketAddr,
    local: Option<SocketAddr>,
) -> Result<Opened, SendError> {
    let plan = super::lookup::plan(shared, cfg, dst, local);
    let _guard = connect_stripe(shared, &dst).lock();
    if let Some(conn) = shared.table.find(&dst, plan) {
        return Ok(Opened::Existing(conn));
    }
    let max = cfg.tcp.max_connections as usize;
    // Checked again atomically with the insert; this one saves a socket and a SYN.
    if shared.table.len() >= max {
        return Err(SendError::TooManyConnections(dst));
    }
    // A forced local address gives the new connection its IP; its port only with
    // `tcp_reuse_port` (as Kamailio: "any local port will do" otherwise).
    let bind = match local {
        Some(l) => Some(SocketAddr::new(
            l.ip(),
            if cfg.tcp.reuse_port { l.port() } else { 0 },
        )),
        None => source_for(shared, cfg, dst),
    };
    // The socket options go on before connect() (Kamailio's `init_sock_opt`): `tcp_syncnt`
    // must be there for the first SYN, and `tcp_delayed_ack` works on the handshake's ACK.
    let setup = |fd: std::os::fd::BorrowedFd<'_>| {
        crate::sockopt::apply(&fd, cfg, crate::sockopt::Side::Outbound);
        Ok(())
    };
    let (stream, done) = match sys::start_connect_with(dst, bind, cfg.tcp.reuse_port, setup) {
        Ok(v) => v,
        Err(e) if bind.is_some() => {
            // As Kamailio: if the source address cannot be used, connect from the default one.
            log::warn!("connect to {dst}: cannot bind {bind:?} ({e}); using the default source");
            sys::start_connect_with(dst, None, false, setup).map_err(|e| connect_error(dst, e))?
        }
        Err(e) => return Err(connect_error(dst, e)),
    };
    let local_addr = stream
        .local_addr()
        .map_err(|e| SendError::Connect(dst, e))?;
    let now_ms = shared.now_ms();
    let (conn, inserted) = shared
        .table
        .insert_unless_present(&dst, plan, max, |id| {
            Conn::new_outbound(id, stream, dst, local_addr, now_ms)
        })
        .map_err(|e| match e {
            InsertError::AtLimit => SendError::TooManyConnections(dst),
            InsertError::NoSlot => {
                SendError::Connect(dst, io::Error::other("connection table full"))
            }
        })?;
    Ok(if inserted {
        Opened::New { conn, done }
    } else {
        Opened::Existing(conn)
    })
}

/// Blocking mode: waits up to `tcp_connect_timeout` for our connect (no lock held) and
/// finishes it. The caller hands the connection to TCP main whatever happened.
fn complete_blocking(
    shared: &Shared,
    cfg: &Config,
    conn: &Conn,
    done: bool,
    dst: SocketAddr,
    started: Instant,
) -> Result<(), SendError> {
    let fd = conn.stream.as_raw_fd();
    let ready = done || sys::wait_writable(fd, cfg.tcp.connect_timeout).unwrap_or(true);
    if !ready {
        bump(&shared.stats.connect_failures);
        conn.request_close(CloseReason::ConnectTimeout);
        return Err(SendError::ConnectTimeout(dst));
    }
    let err = match sys::take_socket_error(fd) {
        Ok(None) => None,
        Ok(Some(e)) | Err(e) => Some(e),
    };
    if let Some(e) = err {
        bump(&shared.stats.connect_failures);
        conn.request_close(CloseReason::from_connect_error(&e));
        return Err(connect_error(dst, e));
    }
    finish_connect(shared, cfg, conn, Some(started))
}

/// A connect completed: the connection is usable; write what was queued while connecting.
/// `started`: when the connect began (its duration goes to the connect-time histogram).
pub(crate) fn finish_connect(
    shared: &Shared,
    cfg: &Config,
    conn: &Conn,
    started: Option<Instant>,
) -> Result<(), SendError> {
    if let Some(t) = started {
        shared.connect_time.observe(t.elapsed());
    }
    let mut q = conn.write.lock();
    conn.set_state(ConnState::Ok);
    let now = Instant::now();
    let gauge = &shared.stats.queued_bytes;
    let r = if cfg.tcp.asynchronous {
        q.flush_to(&conn.stream, now, gauge)
    } else {
        // Blocking mode: the queue holds the connecting sender's message; write it all.
        let deadline = now + cfg.tcp.send_timeout;
        let mut total = 0;
        loop {
            match q.flush_to(&conn.stream, Instant::now(), gauge) {
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
            add(&shared.stats.bytes_sent, n as u64);
            if !q.is_empty() {
                if !cfg.tcp.asynchronous {
                    drop(q);
                    bump(&shared.stats.send_timeouts);
                    close(shared, conn, CloseReason::SendTimeout);
                    return Err(SendError::SendTimeout(conn.id));
                }
                // TCP main sees the bit when it adopts the connection (or in `connect_done`).
                q.watch();
            }
            Ok(())
        }
        Err(e) => {
            drop(q);
            Err(write_failed(shared, conn, e))
        }
    }
}
