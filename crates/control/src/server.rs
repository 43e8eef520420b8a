//! The control socket server: JSON-RPC 2.0 ([`crate::handle`]) over a unix stream socket.
//!
//! - The socket file gets mode 0600 right after bind; a missing parent directory is created
//!   with mode 0700. A socket file that is left over (nothing answers on it) is replaced; one a
//!   live server answers on, or a path that is not a socket, is an error.
//! - One thread accepts; each client is served on a short-lived thread of its own, at most
//!   [`MAX_CLIENTS`] at once. When all are taken, the client that has gone longest without a
//!   request, if that is over [`EVICT_GRACE`] and it has no call in hand, is closed (with a
//!   `-32001` notice) to make room; if every client is busy or fresh, the newcomer gets the
//!   `-32001` error and is closed. So silent connections cannot lock the owner out.
//! - Framing: newline-delimited JSON, one request (or batch) per line, one response line per
//!   answered request (notifications get none). A last request without a newline is answered
//!   when the client shuts down its write half. A request over [`MAX_REQUEST`] bytes gets a
//!   `-32600` error and the connection is closed. A client silent for [`IDLE_TIMEOUT`] is closed,
//!   and so is one that does not take an answer within [`WRITE_TIMEOUT`] (all of it).
//! - Events: a client that calls `events.subscribe` gets a notification line per event the
//!   embedder publishes on the server's [`EventBus`] (see `events.rs`), written by a pusher
//!   thread of its own (lines never interleave with answers: both write under one lock). A
//!   subscribed client is neither evicted nor closed for silence; one that does not take a
//!   line within [`WRITE_TIMEOUT`] is closed, as for answers. Its queue is bounded: while
//!   it is slow, events are dropped for it and it is told how many.
//! - [`CtlServer::shutdown`] stops the accept thread at once (it polls a wake-up socket beside
//!   the listener), closes the clients' connections (which ends their subscriptions) and
//!   removes the socket file.
//!
//! The protocol and every method are described in `docs/control.md`.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, DirBuilder, Permissions};
use std::io::{self, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::events::EventBus;
use crate::{self as rpc, RpcError, RpcExtension};
use client::Client;
use sipwire::Transport;
use sipwire_poll::{Events, Interest, PollMethod, Poller, Token};

mod binrpc;
mod binrpc_dgram;
mod client;
mod subscribe;

pub use binrpc::{spawn_binrpc, BINRPC_IDLE_TIMEOUT, MAX_BINRPC_INPUT};
pub use binrpc_dgram::spawn_binrpc_dgram;

/// What a stream control socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// Newline-delimited JSON-RPC 2.0 (`sipwire-ctl`).
    JsonRpc,
    /// Kamailio's BINRPC (`kamcmd`, the Prometheus exporters).
    Binrpc,
}

impl Protocol {
    /// The bytes that tell a client `e` outside any call (busy, evicted, too large).
    fn notice(self, e: &RpcError) -> Vec<u8> {
        match self {
            Protocol::JsonRpc => {
                let mut b = rpc::error_response(e);
                b.push(b'\n');
                b
            }
            Protocol::Binrpc => {
                let (code, text) = e.kamailio();
                crate::binrpc::fault_packet(0, code, &text).unwrap_or_default()
            }
        }
    }
}

/// Largest request (one line) the server reads, in bytes.
pub const MAX_REQUEST: usize = 1024 * 1024;
/// Clients served at once.
pub const MAX_CLIENTS: usize = 16;
/// A client that sends nothing for this long is disconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// An answer not taken whole by the client within this time closes the client.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// When all slots are taken, a client without a request for longer than this may be closed
/// to make room for a new one.
pub const EVICT_GRACE: Duration = Duration::from_secs(1);
/// How long `shutdown` waits for client threads to finish the call in hand.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// State the accept thread, the client threads and `shutdown` share.
struct Shared {
    stopping: AtomicBool,
    clients: Mutex<Clients>,
    /// Signalled when a client thread ends.
    client_done: Condvar,
    /// [`EVICT_GRACE`], [`WRITE_TIMEOUT`] and [`IDLE_TIMEOUT`], shorter or longer in tests.
    grace: Duration,
    write_timeout: Duration,
    idle: Duration,
    /// What `events.subscribe` subscribes to.
    events: EventBus,
    /// What the clients speak.
    protocol: Protocol,
}

#[derive(Default)]
struct Clients {
    next_id: u64,
    /// Each open client connection, so `shutdown` can close them and `admit` evict one.
    open: HashMap<u64, Slot>,
}

struct Slot {
    stream: UnixStream,
    /// A call is being read, run or answered.
    busy: bool,
    /// When the client connected or was last answered.
    since: Instant,
    /// It has an event subscription (not evictable: it is waiting for events, not idle).
    subscribed: bool,
}

impl Clients {
    /// The client that has gone longest without a request, if it is idle past the grace
    /// (a subscriber is not idle).
    fn evictable(&self, grace: Duration) -> Option<u64> {
        self.open
            .iter()
            .filter(|(_, c)| !c.busy && !c.subscribed && c.since.elapsed() >= grace)
            .min_by_key(|(_, c)| c.since)
            .map(|(&id, _)| id)
    }
}

impl Shared {
    fn clients(&self) -> MutexGuard<'_, Clients> {
        // A client thread that panicked while holding the lock left the map consistent (each
        // change is one insert or remove): keep using it.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running control socket server; `shutdown` stops it and removes the socket file.
pub struct CtlServer {
    path: PathBuf,
    /// (device, inode) of the socket file we bound, so we never remove someone else's.
    file_id: (u64, u64),
    shared: Arc<Shared>,
    /// Dropping it wakes the accept thread.
    wake: Option<UnixStream>,
    accept: Option<JoinHandle<()>>,
}

impl fmt::Debug for CtlServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtlServer")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl CtlServer {
    /// The bus whose events this server's subscribers get (the one given to
    /// [`spawn_with_events`], or the one [`spawn`] and [`spawn_with`] made).
    pub fn events(&self) -> EventBus {
        self.shared.events.clone()
    }

    /// Stops the server and removes the socket file.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::Release);
        drop(self.wake.take());
        if accept.join().is_err() {
            log::error!("control socket: the accept thread panicked");
        }
        // No new client can appear now; close the open ones and give their threads a moment
        // to finish the call in hand.
        let mut clients = self.shared.clients();
        for c in clients.open.values() {
            // Already closed by the peer is fine.
            let _ = c.stream.shutdown(Shutdown::Both);
        }
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while !clients.open.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log::warn!(
                    "control socket: {} client(s) still busy at shutdown",
                    clients.open.len()
                );
                break;
            }
            clients = match self.shared.client_done.wait_timeout(clients, left) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        drop(clients);
        match fs::symlink_metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == self.file_id => {
                if let Err(e) = fs::remove_file(&self.path) {
                    log::warn!("cannot remove {}: {e}", self.path.display());
                }
            }
            Ok(_) => log::warn!(
                "{} was replaced by another file; leaving it",
                self.path.display()
            ),
            Err(_) => {}
        }
        log::info!("control socket {} closed", self.path.display());
    }
}

impl Drop for CtlServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds the control socket at `path` and serves it on a thread of its own (built-in methods
/// only; a program with methods of its own uses [`spawn_with`]).
pub fn spawn(path: &Path, transport: Transport) -> io::Result<CtlServer> {
    spawn_with(path, transport, None)
}

/// [`spawn`] with the daemon's own methods and counters (see [`RpcExtension`]). Its events
/// come from a bus of its own ([`CtlServer::events`]).
pub fn spawn_with(
    path: &Path,
    transport: Transport,
    ext: Option<Arc<dyn RpcExtension>>,
) -> io::Result<CtlServer> {
    spawn_with_events(path, transport, ext, EventBus::new())
}

/// [`spawn_with`] serving the events published on `events` to the clients that subscribe
/// (the embedder made the bus before the runtime, to hand it to its handler too).
pub fn spawn_with_events(
    path: &Path,
    transport: Transport,
    ext: Option<Arc<dyn RpcExtension>>,
    events: EventBus,
) -> io::Result<CtlServer> {
    let timeouts = (EVICT_GRACE, WRITE_TIMEOUT, IDLE_TIMEOUT);
    spawn_inner(path, transport, ext, events, timeouts, Protocol::JsonRpc)
}

/// `timeouts`: the eviction grace, the write timeout and the idle timeout.
fn spawn_inner(
    path: &Path,
    transport: Transport,
    ext: Option<Arc<dyn RpcExtension>>,
    events: EventBus,
    (grace, write_timeout, idle): (Duration, Duration, Duration),
    protocol: Protocol,
) -> io::Result<CtlServer> {
    let in_context = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let listener = bind(path)?;
    let meta = fs::symlink_metadata(path).map_err(in_context)?;
    let file_id = (meta.dev(), meta.ino());
    let cleanup = |e: io::Error| {
        // Best effort: the file is ours, we just bound it.
        let _ = fs::remove_file(path);
        in_context(e)
    };
    listener.set_nonblocking(true).map_err(cleanup)?;
    let (wake_tx, wake_rx) = UnixStream::pair().map_err(cleanup)?;
    let shared = Arc::new(Shared {
        stopping: AtomicBool::new(false),
        clients: Mutex::new(Clients::default()),
        client_done: Condvar::new(),
        grace,
        write_timeout,
        idle,
        events,
        protocol,
    });
    let server = Server {
        listener,
        wake: wake_rx,
        shared: shared.clone(),
        transport,
        ext,
    };
    let accept = std::thread::Builder::new()
        .name("sipwired-ctl".into())
        .spawn(move || server.run())
        .map_err(cleanup)?;
    log::info!("control socket listening on {}", path.display());
    Ok(CtlServer {
        path: path.to_path_buf(),
        file_id,
        shared,
        wake: Some(wake_tx),
        accept: Some(accept),
    })
}

/// Binds `path` (mode 0600), replacing a stale socket file and creating the directory.
fn bind(path: &Path) -> io::Result<UnixListener> {
    let shown = path.display();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
                })?;
        }
    }
    match fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_socket() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{shown} exists and is not a socket; not replacing it"),
            ));
        }
        Ok(_) => match UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{shown}: another server is answering on this control socket"),
                ));
            }
            Err(_) => {
                log::info!("removing stale control socket {shown}");
                fs::remove_file(path)
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot remove {shown}: {e}")))?;
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io::Error::new(e.kind(), format!("{shown}: {e}"))),
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {shown}: {e}")))?;
    if let Err(e) = fs::set_permissions(path, Permissions::from_mode(0o600)) {
        // Best effort: do not leave a socket with the wrong mode behind.
        let _ = fs::remove_file(path);
        return Err(io::Error::new(
            e.kind(),
            format!("cannot set mode 0600 on {shown}: {e}"),
        ));
    }
    Ok(listener)
}

/// The accept thread.
struct Server {
    listener: UnixListener,
    wake: UnixStream,
    shared: Arc<Shared>,
    transport: Transport,
    ext: Option<Arc<dyn RpcExtension>>,
}

impl Server {
    fn run(self) {
        const LISTENER: Token = Token(0);
        const WAKE: Token = Token(1);
        let poller = Poller::new(PollMethod::Poll)
            .map_err(|e| io::Error::other(e.to_string()))
            .and_then(|mut p| {
                p.register(self.listener.as_raw_fd(), LISTENER, Interest::READABLE)?;
                p.register(self.wake.as_raw_fd(), WAKE, Interest::READABLE)?;
                Ok(p)
            });
        let mut poller = match poller {
            Ok(p) => p,
            Err(e) => {
                log::error!("control socket: cannot poll: {e}; stopping");
                return;
            }
        };
        let mut events = Events::with_capacity(2);
        while !self.shared.stopping.load(Ordering::Acquire) {
            if let Err(e) = poller.wait(&mut events, None) {
                log::error!("control socket: poll failed: {e}; stopping");
                return;
            }
            let woken = events.iter().any(|ev| ev.token() == WAKE);
            if woken || self.shared.stopping.load(Ordering::Acquire) {
                return;
            }
            match self.listener.accept() {
                Ok((stream, _)) => self.admit(stream),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors, typically: back off instead of spinning.
                    log::warn!("control socket: accept failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// Starts a thread for a new client, making room by closing an idle one when
    /// `MAX_CLIENTS` are connected, or turns the newcomer away if none is idle.
    fn admit(&self, mut stream: UnixStream) {
        // The listener is non-blocking; the client's socket must not be.
        if stream.set_nonblocking(false).is_err()
            || stream.set_read_timeout(Some(self.shared.idle)).is_err()
        {
            return;
        }
        let mut clients = self.shared.clients();
        if clients.open.len() >= MAX_CLIENTS {
            match clients.evictable(self.shared.grace) {
                Some(old) => {
                    if let Some(c) = clients.open.remove(&old) {
                        log::info!("control socket: closing idle client {old} to make room");
                        // Its thread reads EOF, sees it was evicted and says so.
                        let _ = c.stream.shutdown(Shutdown::Read);
                    }
                }
                None => {
                    drop(clients);
                    log::warn!("control socket: {MAX_CLIENTS} clients busy; turning one away");
                    let e = RpcError::new(
                        rpc::SERVER_BUSY,
                        format!("too many control clients ({MAX_CLIENTS}); try again later"),
                    );
                    // The client may be gone already; nothing to do about it.
                    let notice = self.shared.protocol.notice(&e);
                    let _ = write_all_within(&mut stream, &notice, NOTICE_TIMEOUT);
                    return;
                }
            }
        }
        let (Ok(handle), Ok(writer)) = (stream.try_clone(), stream.try_clone()) else {
            return;
        };
        let id = clients.next_id;
        clients.next_id += 1;
        let slot = Slot {
            stream: handle,
            busy: false,
            since: Instant::now(),
            subscribed: false,
        };
        clients.open.insert(id, slot);
        drop(clients);
        let writer = Arc::new(Mutex::new(writer));
        let client = Client::new(
            id,
            stream,
            writer,
            self.shared.clone(),
            self.transport.clone(),
            self.ext.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("sipwired-ctl-client".into())
            .spawn(move || client.run());
        if let Err(e) = spawned {
            log::warn!("control socket: cannot start a client thread: {e}");
            // The closure (and the client in it) was dropped, which unregistered it.
        }
    }
}

/// How long a refused or evicted client gets to take its error.
const NOTICE_TIMEOUT: Duration = Duration::from_secs(1);

fn lock(writer: &Mutex<UnixStream>) -> MutexGuard<'_, UnixStream> {
    // A thread that panicked while writing left at worst a partial line; the stream itself
    // is fine to use (or to fail on).
    writer.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes `bytes` and a newline, all of it within `limit` (however slowly the peer reads).
fn write_line(stream: &mut UnixStream, mut bytes: Vec<u8>, limit: Duration) -> io::Result<()> {
    bytes.push(b'\n');
    write_all_within(stream, &bytes, limit)
}

/// Writes all of `bytes` within `limit`.
fn write_all_within(stream: &mut UnixStream, bytes: &[u8], limit: Duration) -> io::Result<()> {
    let deadline = Instant::now() + limit;
    let mut rest = bytes;
    while !rest.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client does not take its answer",
            ));
        }
        stream.set_write_timeout(Some(left))?;
        match stream.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
