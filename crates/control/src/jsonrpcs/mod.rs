//! The transports of Kamailio's `jsonrpcs` module, so `kamctl rpc` and `kamcli` work against
//! sipwire unchanged: a FIFO ([`spawn_fifo`]: JSON documents in, each answered into the reply
//! FIFO its `reply_name` names) and a unix datagram socket ([`spawn_dgram`]: one request per
//! datagram, the answer sent back to the sender's address in one datagram).
//!
//! Both run the same method table as the stream socket, each on one thread of its own that
//! waits in `poll` beside a wake-up pipe, so [`JsonrpcsServer::shutdown`] stops it at once.
//! Neither trusts its input: documents are bounded ([`MAX_DOCUMENT`]), `reply_name` must be a
//! plain file name of an existing FIFO in the reply directory (no `/`, no `..`, no symlink,
//! never a regular file), Kamailio's `store_path` (write the answer to any path) is not
//! implemented, and a reply that does not fit one datagram is answered with an error that
//! says how to page instead of being cut.

use std::fmt;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use sipwire::Transport;
use sipwire_poll::{Events, Interest, PollMethod, Poller, Token};

use crate::context::Ctx;
use crate::RpcExtension;

mod dgram;
mod fifo;
mod split;

pub(crate) use dgram::send as send_datagram;
pub use dgram::{spawn_dgram, MAX_DATAGRAM};
pub use fifo::{spawn_fifo, DEFAULT_REPLY_DIR};

/// Largest request document (FIFO) or datagram read, in bytes (jsonrpcs reads at most 65456).
pub const MAX_DOCUMENT: usize = 64 * 1024;
/// How long an answer may take to be accepted by the client (jsonrpcs' `dgram_timeout`).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// A running FIFO or datagram transport; `shutdown` (or drop) stops its thread and removes the
/// file it created.
pub struct JsonrpcsServer {
    what: &'static str,
    path: PathBuf,
    /// (device, inode) of the file we made, so we never remove someone else's.
    file_id: (u64, u64),
    stopping: Arc<AtomicBool>,
    wake: Option<UnixStream>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for JsonrpcsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonrpcsServer")
            .field("what", &self.what)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl JsonrpcsServer {
    /// The FIFO's or socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the thread and removes the FIFO or socket file.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(t) = self.thread.take() else { return };
        self.stopping.store(true, Ordering::Release);
        drop(self.wake.take());
        if t.join().is_err() {
            log::error!("{} {}: its thread panicked", self.what, self.path.display());
        }
        remove_if_ours(&self.path, self.file_id);
    }
}

impl Drop for JsonrpcsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes `path` if it is still the file we made.
fn remove_if_ours(path: &Path, file_id: (u64, u64)) {
    match fs::symlink_metadata(path) {
        Ok(m) if (m.dev(), m.ino()) == file_id => {
            if let Err(e) = fs::remove_file(path) {
                log::warn!("cannot remove {}: {e}", path.display());
            }
        }
        Ok(_) => log::warn!(
            "{} was replaced by another file; leaving it",
            path.display()
        ),
        Err(_) => {}
    }
}

/// What a transport's thread needs to answer requests (also the BINRPC datagram socket's).
pub(crate) struct Answerer {
    pub(crate) transport: Transport,
    pub(crate) ext: Option<Arc<dyn RpcExtension>>,
}

impl Answerer {
    /// The JSON-RPC answer to one request document (empty for a notification).
    fn answer(&self, request: &[u8]) -> Vec<u8> {
        let ctx = Ctx {
            transport: &self.transport,
            ext: self.ext.as_deref(),
            session: None,
        };
        crate::protocol::handle_bytes_jsonrpcs(&ctx, request)
    }
}

/// A transport's loop body: called when its fd is readable; false stops the thread.
pub(crate) trait Serve: Send + 'static {
    fn fd(&self) -> RawFd;
    fn readable(&mut self, answerer: &Answerer) -> bool;
}

/// Starts `serve`'s thread named `name`: it polls the fd and a wake-up socket.
pub(crate) fn start(
    what: &'static str,
    path: &Path,
    serve: impl Serve,
    answerer: Answerer,
) -> io::Result<JsonrpcsServer> {
    let meta = fs::symlink_metadata(path)?;
    let file_id = (meta.dev(), meta.ino());
    let (wake_tx, wake_rx) = UnixStream::pair()?;
    let stopping = Arc::new(AtomicBool::new(false));
    let stop = stopping.clone();
    let shown = path.display().to_string();
    let thread = std::thread::Builder::new()
        .name(format!("sipwire-{what}"))
        .spawn(move || run(what, &shown, serve, &answerer, &wake_rx, &stop))?;
    log::info!("{what} listening on {}", path.display());
    Ok(JsonrpcsServer {
        what,
        path: path.to_path_buf(),
        file_id,
        stopping,
        wake: Some(wake_tx),
        thread: Some(thread),
    })
}

fn run(
    what: &str,
    shown: &str,
    mut serve: impl Serve,
    answerer: &Answerer,
    wake: &UnixStream,
    stopping: &AtomicBool,
) {
    const INPUT: Token = Token(0);
    const WAKE: Token = Token(1);
    let poller = Poller::new(PollMethod::Poll)
        .map_err(|e| io::Error::other(e.to_string()))
        .and_then(|mut p| {
            p.register(serve.fd(), INPUT, Interest::READABLE)?;
            p.register(wake.as_raw_fd(), WAKE, Interest::READABLE)?;
            Ok(p)
        });
    let mut poller = match poller {
        Ok(p) => p,
        Err(e) => {
            log::error!("{what} {shown}: cannot poll: {e}; stopping");
            return;
        }
    };
    let mut events = Events::with_capacity(2);
    while !stopping.load(Ordering::Acquire) {
        if let Err(e) = poller.wait(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            log::error!("{what} {shown}: poll failed: {e}; stopping");
            return;
        }
        if events.iter().any(|ev| ev.token() == WAKE) || stopping.load(Ordering::Acquire) {
            return;
        }
        if !serve.readable(answerer) {
            return;
        }
    }
}

/// Makes sure `path`'s directory exists (mode 0700 when created) and that nothing but a
/// leftover of `kind` is at `path`, which is then removed.
pub(crate) fn prepare(
    path: &Path,
    stale: impl Fn(&fs::FileType) -> bool,
    kind: &str,
) -> io::Result<()> {
    let shown = path.display();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
                })?;
        }
    }
    match fs::symlink_metadata(path) {
        Ok(m) if stale(&m.file_type()) => {
            log::info!("replacing the leftover {kind} {shown}");
            fs::remove_file(path)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot remove {shown}: {e}")))
        }
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{shown} exists and is not a {kind}; not replacing it"),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io::Error::new(e.kind(), format!("{shown}: {e}"))),
    }
}

/// Whether a file type is a FIFO.
fn is_fifo(t: &fs::FileType) -> bool {
    t.is_fifo()
}

/// Whether a file type is a socket.
pub(crate) fn is_socket(t: &fs::FileType) -> bool {
    t.is_socket()
}

#[cfg(test)]
mod tests;
