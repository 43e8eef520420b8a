//! The jsonrpcs unix datagram socket (kamcli's `transport=socket`): one request per datagram,
//! the answer sent to the sender's bound address in one datagram. A sender with no address
//! (an unbound socket) cannot be answered and is ignored. An answer larger than
//! [`MAX_DATAGRAM`] is replaced by an error saying so and how to page (`core.tcp_list` takes
//! an offset and a limit), never cut.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use sipwire::Transport;

use super::{
    is_socket, prepare, start, Answerer, JsonrpcsServer, Serve, MAX_DOCUMENT, REPLY_TIMEOUT,
};
use crate::RpcExtension;

/// Largest answer sent, in bytes (what a unix datagram carries with Linux's default buffer
/// sizes, and what kamcli reads: it `recv`s 84000 bytes).
pub const MAX_DATAGRAM: usize = 65_000;
/// Datagrams answered per wake-up before polling again.
const BURST: usize = 64;

/// Binds the datagram socket at `path` (mode 0600; a leftover socket file is replaced) and
/// answers each request datagram.
pub fn spawn_dgram(
    path: &Path,
    transport: Transport,
    ext: Option<Arc<dyn RpcExtension>>,
) -> io::Result<JsonrpcsServer> {
    prepare(path, is_socket, "socket")?;
    let shown = path.display();
    let sock = UnixDatagram::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {shown}: {e}")))?;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        let _ = std::fs::remove_file(path);
        return Err(io::Error::new(
            e.kind(),
            format!("cannot set mode 0600 on {shown}: {e}"),
        ));
    }
    sock.set_nonblocking(true)?;
    start(
        "jsonrpc-dgram",
        path,
        Dgram { sock },
        Answerer { transport, ext },
    )
}

struct Dgram {
    sock: UnixDatagram,
}

impl Serve for Dgram {
    fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    fn readable(&mut self, answerer: &Answerer) -> bool {
        // One byte more than a request may have, to tell a request that fits from one cut.
        let mut buf = vec![0u8; MAX_DOCUMENT + 1];
        for _ in 0..BURST {
            let (n, from) = match self.sock.recv_from(&mut buf) {
                Ok(v) => v,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    log::error!("jsonrpc datagram socket: receive failed: {e}; stopping");
                    return false;
                }
            };
            let Some(to) = from.as_pathname().map(Path::to_path_buf) else {
                log::debug!("jsonrpc datagram from an unbound socket: no reply possible");
                continue;
            };
            let out = if n > MAX_DOCUMENT {
                too_large_request(n)
            } else {
                fit(answerer.answer(&buf[..n]))
            };
            if out.is_empty() {
                continue;
            }
            if let Err(e) = send(&self.sock, &out, &to) {
                log::info!("jsonrpc datagram: cannot answer {}: {e}", to.display());
            }
        }
        true
    }
}

/// The answer, or an error in its place when it does not fit one datagram.
fn fit(out: Vec<u8>) -> Vec<u8> {
    if out.len() <= MAX_DATAGRAM {
        return out;
    }
    let id = serde_json::from_slice::<Value>(&out)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .unwrap_or(Value::Null);
    let e = json!({
        "jsonrpc": "2.0",
        "error": {
            "code": 500,
            "message": format!(
                "reply of {} bytes does not fit one datagram ({MAX_DATAGRAM} bytes): ask for \
                 less (core.tcp_list takes an offset and a limit) or use the FIFO or the \
                 stream socket",
                out.len()
            ),
        },
        "id": id,
    });
    crate::protocol::encode(&e)
}

fn too_large_request(n: usize) -> Vec<u8> {
    let e = json!({
        "jsonrpc": "2.0",
        "error": {"code": -32600, "message": format!("request over {MAX_DOCUMENT} bytes ({n}+)")},
        "id": null,
    });
    crate::protocol::encode(&e)
}

/// Sends one datagram, waiting for room at most [`REPLY_TIMEOUT`].
pub(crate) fn send(sock: &UnixDatagram, bytes: &[u8], to: &Path) -> io::Result<()> {
    let deadline = std::time::Instant::now() + REPLY_TIMEOUT;
    loop {
        match sock.send_to(bytes, to) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let wait = deadline.saturating_duration_since(std::time::Instant::now());
                if wait.is_zero()
                    || !sipwire_sys::wait_writable(sock.as_raw_fd(), wait).unwrap_or(false)
                {
                    return Err(io::ErrorKind::TimedOut.into());
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// [`fit`], for the module's tests.
#[cfg(test)]
pub(super) fn fit_for_test(out: Vec<u8>) -> Vec<u8> {
    fit(out)
}
