//! Starting and stopping a runtime: listeners, TCP main, the readers.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Receiver;
use sipwire_frame::BufPool;
use sipwire_poll::{PollError, PollMethod, Poller, Token, Waker};

use crate::config::{Config, ConfigHandle, ListenProto};
use crate::conn_table::Table;
use crate::handler::Handler;
use crate::handoff::{MainMsg, ReaderMsg};
use crate::reader::Reader;
use crate::shared::{ReaderHandle, Shared};
use crate::stats::Stats;
use crate::tcp_main::TcpMain;
use crate::transport::Transport;
use sipwire_sys::{self as sys, ListenOptions};

/// Free read buffers the pool keeps per reader thread: enough to absorb bursts of connections
/// turning busy without allocating, small enough that idle memory stays bounded.
const POOL_FREE_PER_READER: usize = 64;

/// Ids for runtimes in this process (keys of the per-thread fd caches).
static NEXT_RUNTIME_ID: AtomicU64 = AtomicU64::new(1);

/// Why a runtime did not start.
#[derive(Debug)]
pub enum StartError {
    /// `tcp_poll_method` names a method this build cannot use.
    PollMethod(PollError),
    /// A listener could not be created (address in use, permission, ...).
    Bind(SocketAddr, io::Error),
    /// Creating a poller, waker or thread failed.
    Io(io::Error),
    /// An SCTP endpoint could not be opened and there is no TCP listener to go on with (no
    /// kernel SCTP, address in use, ...).
    Sctp(SocketAddr, io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::PollMethod(e) => write!(f, "tcp_poll_method: {e}"),
            StartError::Bind(a, e) => write!(f, "cannot listen on tcp:{a}: {e}"),
            StartError::Io(e) => write!(f, "cannot start the runtime: {e}"),
            StartError::Sctp(a, e) => write!(f, "cannot listen on sctp:{a}: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<io::Error> for StartError {
    fn from(e: io::Error) -> Self {
        StartError::Io(e)
    }
}

impl From<PollError> for StartError {
    fn from(e: PollError) -> Self {
        StartError::PollMethod(e)
    }
}

/// A running sipwire runtime: TCP main plus `tcp_children` readers. Dropping it shuts it down.
pub struct Runtime {
    transport: Transport,
    threads: Vec<JoinHandle<()>>,
    /// TCP main runs (not with `disable_tcp`); it is the one that stops the readers.
    has_main: bool,
    stopped: AtomicBool,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Binds the listeners of `config` and starts TCP main and the readers.
    ///
    /// With `disable_tcp` there is no TCP at all, as in Kamailio: no listener, no TCP main,
    /// and every TCP send fails ([`SendError::TcpDisabled`](crate::SendError::TcpDisabled)).
    /// Only the readers the SCTP endpoints need start: one per endpoint, at most
    /// `tcp_children` (endpoint `i` is served by reader `i % readers`); none without SCTP.
    pub fn start(config: Config, handler: Arc<dyn Handler>) -> Result<Runtime, StartError> {
        let method: PollMethod = config.tcp.poll_method;
        let tcp = !config.disable_tcp;
        let (listeners, addrs) = bind_listeners(&config)?;
        let sctp = crate::sctp::open_endpoints(&config, listeners.len())
            .map_err(|(a, e)| StartError::Sctp(a, e))?;
        let children = if tcp {
            config.tcp.children.max(1)
        } else {
            config.tcp.children.max(1).min(sctp.len())
        };
        if !tcp && sctp.is_empty() {
            log::warn!("disable_tcp is set and there is no SCTP endpoint: nothing to serve");
        }
        let pool = BufPool::new(
            config.tcp.rd_buf_size,
            POOL_FREE_PER_READER * children.max(1),
        )
        .map_err(|e| StartError::Io(io::Error::new(io::ErrorKind::InvalidInput, e.to_string())))?;
        let mut main_poller = Poller::new(method)?;
        let main_waker = Waker::new(&mut main_poller, Token(0))?;
        let (main_tx, main_rx) = crossbeam_channel::unbounded();
        let (readers, reader_parts) = reader_channels(method, children)?;
        let shared = Arc::new(Shared {
            table: Table::default(),
            config: ConfigHandle::new(config),
            stats: Stats::default(),
            connect_time: crate::latency::Histogram::connect_time(),
            closes: Default::default(),
            pool,
            main_tx,
            main_waker,
            readers,
            epoch: Instant::now(),
            stopping: AtomicBool::new(false),
            listen_addrs: addrs,
            id: NEXT_RUNTIME_ID.fetch_add(1, Ordering::Relaxed),
            connect_locks: Default::default(),
            sctp,
        });
        // Without TCP, nothing reaches TCP main: `main_rx` and `main_poller` are dropped
        // here, so `Shared::tell_main` is a no-op — its send fails, and it wakes only after a
        // send that succeeded, so `main_waker` is never woken (there is no TCP connection to
        // talk about anyway).
        let main = if tcp {
            Some(TcpMain::new(
                shared.clone(),
                handler.clone(),
                main_rx,
                main_poller,
                listeners,
            )?)
        } else {
            None
        };
        let mut threads = Vec::with_capacity(children + 1);
        for (i, (p, rx)) in reader_parts.into_iter().enumerate() {
            let r = Reader::new(i, shared.clone(), handler.clone(), rx, p);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("sipwire-reader-{i}"))
                    .spawn(move || r.run())?,
            );
        }
        let has_main = main.is_some();
        if let Some(main) = main {
            threads.push(
                std::thread::Builder::new()
                    .name("sipwire-tcp-main".into())
                    .spawn(move || main.run())?,
            );
        }
        if tcp {
            log::info!(
                "sipwire started: listening on {:?}, poll method {}, {} readers",
                shared.listen_addrs,
                method.resolve(),
                children
            );
        } else {
            log::info!(
                "sipwire started without TCP (disable_tcp): {} SCTP endpoints, {} readers",
                shared.sctp.len(),
                children
            );
        }
        Ok(Runtime {
            transport: Transport { shared },
            threads,
            has_main,
            stopped: AtomicBool::new(false),
        })
    }

    /// A handle for sends, tcpops and stats, usable from any thread.
    pub fn transport(&self) -> Transport {
        self.transport.clone()
    }

    /// Graceful shutdown: stop accepting, let readers finish the message in hand, close every
    /// connection (delivering close events with reason `Shutdown`), join all threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = &self.transport.shared;
        shared.stopping.store(true, Ordering::Release);
        if self.has_main {
            shared.tell_main(MainMsg::Shutdown);
        } else {
            // No TCP main to tell them (`disable_tcp`): stop the SCTP readers directly.
            for r in &shared.readers {
                let _ = r.tx.send(ReaderMsg::Stop);
                if let Err(e) = r.waker.wake() {
                    log::error!("cannot wake a reader: {e}");
                }
            }
        }
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                log::error!("a sipwire thread panicked");
            }
        }
    }
}

/// The TCP listeners of `config` (none with `disable_tcp`) and their bound addresses.
///
/// With no TCP `listen` line (and no SCTP one either), every interface on `tcp_port`, IPv6
/// included where the host has it (Kamailio's `auto_bind_ipv6`): two wildcard sockets,
/// `0.0.0.0` and `[::]` (`IPV6_V6ONLY`) on the same port, rather than one dual-stack `[::]`
/// socket. A dual-stack socket would show IPv4 peers as `::ffff:a.b.c.d`, so they would
/// not match their IPv4 addresses in the connection table, aliases, `tcp_accept_iplimit` or
/// the application's ACLs, and whether `[::]` takes IPv4 at all depends on the host's
/// `bindv6only` setting. A host without IPv6 (no `AF_INET6`, or no address to bind) keeps
/// the IPv4 socket alone, with a log line.
///
/// Every listener gets `tcp_reuse_port` and `tcp_defer_accept` before it listens, and
/// `tcp_syncnt` (as Kamailio's `tcp_init`: on a listener it bounds the SYN-ACK
/// retransmissions, the limit the reference pairs with `tcp_defer_accept`).
fn bind_listeners(config: &Config) -> Result<(Vec<TcpListener>, Vec<SocketAddr>), StartError> {
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    if config.disable_tcp {
        return Ok((listeners, addrs));
    }
    let mut wanted: Vec<SocketAddr> = config
        .listen
        .iter()
        .filter(|l| l.proto == ListenProto::Tcp)
        .map(|l| l.socket_addr(config.tcp.port))
        .collect();
    let sctp_only = wanted.is_empty() && config.listen.iter().any(|l| l.proto == ListenProto::Sctp);
    let every_interface = wanted.is_empty() && !sctp_only;
    if every_interface {
        // As Kamailio: no listen line means every interface on the default port.
        wanted.push(SocketAddr::from((Ipv4Addr::UNSPECIFIED, config.tcp.port)));
    }
    let opts = ListenOptions {
        reuse_port: config.tcp.reuse_port,
        defer_accept: config
            .tcp
            .defer_accept
            .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX).max(1)),
        backlog: 1024,
    };
    let listen = |a: SocketAddr| -> io::Result<TcpListener> {
        let l = sys::listen_tcp(a, opts)?;
        if let Some(n) = config.tcp.syncnt {
            if let Err(e) = sys::set_syncnt(l.as_raw_fd(), n) {
                log::warn!("TCP_SYNCNT (tcp_syncnt) on the listener tcp:{a}: {e}");
            }
        }
        Ok(l)
    };
    for a in wanted {
        let l = listen(a).map_err(|e| StartError::Bind(a, e))?;
        addrs.push(l.local_addr()?);
        listeners.push(l);
    }
    if every_interface {
        // The IPv4 socket's port, so that `tcp_port = 0` gives both families one port.
        let port = addrs.first().map_or(config.tcp.port, SocketAddr::port);
        let a = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
        match listen(a) {
            Ok(l) => {
                addrs.push(l.local_addr()?);
                listeners.push(l);
            }
            Err(e) if no_ipv6(&e) => {
                log::info!("no IPv6 on this host ({e}): listening on IPv4 only");
            }
            Err(e) => return Err(StartError::Bind(a, e)),
        }
    }
    Ok((listeners, addrs))
}

/// The errors that mean the host has no IPv6 to listen on (rather than a real bind failure).
fn no_ipv6(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT | libc::EADDRNOTAVAIL)
    )
}

/// Each reader's poller and channel: TCP main's half (`ReaderHandle`) and the reader's.
type ReaderPart = (Poller, Receiver<ReaderMsg>);

fn reader_channels(
    method: PollMethod,
    children: usize,
) -> Result<(Vec<ReaderHandle>, Vec<ReaderPart>), StartError> {
    let mut readers = Vec::with_capacity(children);
    let mut parts = Vec::with_capacity(children);
    for _ in 0..children {
        let mut p = Poller::new(method)?;
        let waker = Waker::new(&mut p, Token(0))?;
        let (tx, rx) = crossbeam_channel::unbounded();
        readers.push(ReaderHandle {
            tx,
            waker,
            load: AtomicUsize::new(0),
        });
        parts.push((p, rx));
    }
    Ok((readers, parts))
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop();
    }
}
