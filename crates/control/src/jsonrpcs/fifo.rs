//! The jsonrpcs FIFO (`kamctl rpc`): `kamctl` makes a reply FIFO in the reply directory,
//! starts a reader on it and writes `{"jsonrpc": "2.0", "method": ..., "params": [...],
//! "reply_name": "kamailio_receiver_<pid>", "id": ...}` into our FIFO; the answer goes into
//! the reply FIFO, followed by a newline.
//!
//! The request FIFO is made with mode 0600 and opened read-write, so it never reads EOF when a
//! writer leaves. A `reply_name` must be a plain file name (no `/`, no `..`, at most 255
//! bytes) of a FIFO that exists in the reply directory; anything else (a symlink, a regular
//! file, a missing file, a FIFO nobody reads within [`REPLY_TIMEOUT`]) gets no answer and a
//! log line. `store_path` is ignored.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use serde_json::Value;
use sipwire::Transport;

use super::split::{Piece, Splitter};
use super::{
    is_fifo, prepare, start, Answerer, JsonrpcsServer, Serve, MAX_DOCUMENT, REPLY_TIMEOUT,
};
use crate::RpcExtension;

/// Where reply FIFOs are looked for unless told otherwise (jsonrpcs' `fifo_reply_dir`).
pub const DEFAULT_REPLY_DIR: &str = "/tmp";
/// Longest `reply_name`.
const MAX_REPLY_NAME: usize = 255;
/// Documents answered per wake-up before polling again (the wake-up socket gets a look).
const BURST: usize = 64;

/// Makes the FIFO at `path` (replacing a leftover FIFO; anything else there is an error) and
/// answers the requests written into it, replying into FIFOs of `reply_dir`.
pub fn spawn_fifo(
    path: &Path,
    reply_dir: &Path,
    transport: Transport,
    ext: Option<Arc<dyn RpcExtension>>,
) -> io::Result<JsonrpcsServer> {
    prepare(path, super::is_fifo, "FIFO")?;
    let shown = path.display();
    nix::unistd::mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR)
        .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("mkfifo {shown}: {e}")))?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open {shown}: {e}")))?;
    let serve = Fifo {
        file,
        splitter: Splitter::new(MAX_DOCUMENT),
        reply_dir: reply_dir.to_path_buf(),
        pending: Vec::new(),
    };
    start("jsonrpc-fifo", path, serve, Answerer { transport, ext })
}

struct Fifo {
    file: File,
    splitter: Splitter,
    reply_dir: PathBuf,
    pending: Vec<Piece>,
}

impl Serve for Fifo {
    fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    fn readable(&mut self, answerer: &Answerer) -> bool {
        let mut buf = [0u8; 16 * 1024];
        for _ in 0..BURST {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.splitter.push(&buf[..n], &mut self.pending),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    log::error!("jsonrpc FIFO: read failed: {e}; stopping");
                    return false;
                }
            }
            for piece in std::mem::take(&mut self.pending) {
                match piece {
                    Piece::Document(d) => self.one(answerer, &d),
                    Piece::TooLarge => {
                        log::warn!("jsonrpc FIFO: a request over {MAX_DOCUMENT} bytes; dropped")
                    }
                }
            }
        }
        true
    }
}

impl Fifo {
    /// Answers one document into its reply FIFO.
    fn one(&self, answerer: &Answerer, doc: &[u8]) {
        let Ok(Value::Object(mut req)) = serde_json::from_slice::<Value>(doc) else {
            log::warn!("jsonrpc FIFO: a request that is not a JSON object; no reply possible");
            return;
        };
        let name = req.remove("reply_name");
        if req.remove("store_path").is_some() {
            log::warn!("jsonrpc FIFO: store_path is not supported; answering into reply_name");
        }
        let name = match name.as_ref().and_then(Value::as_str).map(reply_name) {
            Some(Ok(n)) => n,
            Some(Err(why)) => {
                log::warn!("jsonrpc FIFO: refusing reply_name {name:?}: {why}");
                return;
            }
            None => {
                log::warn!("jsonrpc FIFO: a request without reply_name; no reply possible");
                return;
            }
        };
        let request = serde_json::to_vec(&Value::Object(req)).unwrap_or_default();
        let mut out = answerer.answer(&request);
        if out.is_empty() {
            return;
        }
        out.push(b'\n');
        let path = self.reply_dir.join(name);
        if let Err(e) = write_reply(&path, &out) {
            log::warn!("jsonrpc FIFO: cannot reply into {}: {e}", path.display());
        }
    }
}

/// Checks a `reply_name`: a plain file name.
pub(super) fn reply_name(name: &str) -> Result<&str, &'static str> {
    if name.is_empty() || name == "." || name == ".." {
        return Err("not a file name");
    }
    if name.len() > MAX_REPLY_NAME {
        return Err("longer than 255 bytes");
    }
    if name.contains('/') || name.contains("..") || name.contains('\0') {
        return Err("contains '/', '..' or NUL");
    }
    Ok(name)
}

/// Writes `bytes` into the FIFO at `path`, which must be a FIFO already (never follows a
/// symlink, never creates or truncates a file), within [`REPLY_TIMEOUT`].
fn write_reply(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if !is_fifo(&meta.file_type()) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a FIFO"));
    }
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let flags = (OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW).bits();
    // ENXIO: nobody has it open for reading yet; kamctl starts its reader first, but give it
    // a moment.
    let mut file = loop {
        match OpenOptions::new()
            .write(true)
            .custom_flags(flags)
            .open(path)
        {
            Ok(f) => break f,
            Err(e) if e.raw_os_error() == Some(nix::libc::ENXIO) && Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    };
    let mut left = bytes;
    while !left.is_empty() {
        match file.write(left) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => left = &left[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let wait = deadline.saturating_duration_since(Instant::now());
                if wait.is_zero()
                    || !sipwire_sys::wait_writable(file.as_raw_fd(), wait).unwrap_or(false)
                {
                    return Err(io::ErrorKind::TimedOut.into());
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
