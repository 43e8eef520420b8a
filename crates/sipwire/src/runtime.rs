//! Starting and stopping a runtime: listeners, TCP main, the readers.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
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
    pub fn start(config: Config, handler: Arc<dyn Handler>) -> Result<Runtime, StartError> {
        let method: PollMethod = config.tcp.poll_method;
        let (listeners, addrs) = bind_listeners(&config)?;
        let sctp = crate::sctp::open_endpoints(&config, listeners.len())
            .map_err(|(a, e)| StartError::Sctp(a, e))?;
        let children = config.tcp.children.max(1);
        let pool =
            BufPool::new(config.tcp.rd_buf_size, POOL_FREE_PER_READER * children).map_err(|e| {
                StartError::Io(io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
            })?;
        let mut main_poller = Poller::new(method)?;
        let main_waker = Waker::new(&mut main_poller, Token(0))?;
        let (main_tx, main_rx) = crossbeam_channel::unbounded();
        let (readers, reader_parts) = reader_channels(method, children)?;
        let shared = Arc::new(Shared {
            table: Table::default(),
            config: ConfigHandle::new(config),
            stats: Stats::default(),
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
        let main = TcpMain::new(
            shared.clone(),
            handler.clone(),
            main_rx,
            main_poller,
            listeners,
        )?;
        let mut threads = Vec::with_capacity(children + 1);
        for (i, (p, rx)) in reader_parts.into_iter().enumerate() {
            let r = Reader::new(i, shared.clone(), handler.clone(), rx, p);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("sipwire-reader-{i}"))
                    .spawn(move || r.run())?,
            );
        }
        threads.push(
            std::thread::Builder::new()
                .name("sipwire-tcp-main".into())
                .spawn(move || main.run())?,
        );
        log::info!(
            "sipwire started: listening on {:?}, poll method {}, {} readers",
            shared.listen_addrs,
            method.resolve(),
            children
        );
        Ok(Runtime {
            transport: Transport { shared },
            threads,
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
        shared.tell_main(MainMsg::Shutdown);
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                log::error!("a sipwire thread panicked");
            }
        }
    }
}

/// The TCP listeners of `config` (none with `disable_tcp`) and their bound addresses.
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
    if wanted.is_empty() && !sctp_only {
        // As Kamailio: no listen line means every interface on the default port.
        wanted.push(SocketAddr::from(([0, 0, 0, 0], config.tcp.port)));
    }
    let opts = ListenOptions {
        reuse_port: config.tcp.reuse_port,
        defer_accept: config
            .tcp
            .defer_accept
            .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX).max(1)),
        backlog: 1024,
    };
    for a in wanted {
        let l: TcpListener = sys::listen_tcp(a, opts).map_err(|e| StartError::Bind(a, e))?;
        addrs.push(l.local_addr()?);
        listeners.push(l);
    }
    Ok((listeners, addrs))
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
