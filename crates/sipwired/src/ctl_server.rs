//! The control socket server: JSON-RPC 2.0 over a unix stream socket (mode 0600).
//! (Stub: the real server replaces this file.)

use std::io;
use std::path::Path;

use sipwire::Transport;

/// A running control socket server; `shutdown` stops it and removes the socket file.
#[derive(Debug)]
pub struct CtlServer;

impl CtlServer {
    /// Stops the server and removes the socket file.
    pub fn shutdown(self) {}
}

/// Binds the control socket at `path` and serves it on a thread of its own.
pub fn spawn(_path: &Path, _transport: Transport) -> io::Result<CtlServer> {
    Ok(CtlServer)
}
