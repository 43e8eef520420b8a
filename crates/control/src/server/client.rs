//! One client connection: its thread reads newline-delimited requests, answers each (under
//! the writer lock it shares with its event pusher) and unregisters the client when it ends.

use std::io::{self, Read};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::subscribe::ClientEvents;
use super::{
    lock, write_all_within, write_line, Protocol, Shared, MAX_CLIENTS, MAX_REQUEST, NOTICE_TIMEOUT,
};
use crate::context::Ctx;
use crate::{self as rpc, RpcError, RpcExtension};
use sipwire::Transport;

/// Read size per `read` call.
const CHUNK: usize = 16 * 1024;

/// One connected client, served on its own thread. Dropping it unregisters it.
pub(super) struct Client {
    pub(super) id: u64,
    /// Read by the client's thread only.
    pub(super) stream: UnixStream,
    /// Every write goes through this lock: answers from the client's thread, event lines
    /// from its pusher, never interleaved.
    pub(super) writer: Arc<Mutex<UnixStream>>,
    pub(super) shared: Arc<Shared>,
    pub(super) transport: Transport,
    pub(super) ext: Option<Arc<dyn RpcExtension>>,
    events: ClientEvents,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shared.clients().open.remove(&self.id);
        self.shared.client_done.notify_all();
    }
}

impl Client {
    pub(super) fn new(
        id: u64,
        stream: UnixStream,
        writer: Arc<Mutex<UnixStream>>,
        shared: Arc<Shared>,
        transport: Transport,
        ext: Option<Arc<dyn RpcExtension>>,
    ) -> Client {
        Client {
            id,
            stream,
            writer: writer.clone(),
            shared: shared.clone(),
            transport,
            ext,
            events: ClientEvents::new(id, shared, writer),
        }
    }

    pub(super) fn run(mut self) {
        if let Err(e) = self.serve() {
            log::debug!("control client {}: {e}", self.id);
        }
        self.events.finish();
        if !self.shared.clients().open.contains_key(&self.id) {
            let e = RpcError::new(
                rpc::SERVER_BUSY,
                format!(
                    "closed to make room for a new client: all {MAX_CLIENTS} slots were taken \
                     and this client had no request for over {} ms",
                    self.shared.grace.as_millis()
                ),
            );
            // The client may be gone already.
            let notice = self.shared.protocol.notice(&e);
            let _ = write_all_within(&mut lock(&self.writer), &notice, NOTICE_TIMEOUT);
        }
    }

    /// Writes one line (under the writer lock).
    fn send(&self, bytes: Vec<u8>, limit: Duration) -> io::Result<()> {
        write_line(&mut lock(&self.writer), bytes, limit)
    }

    /// Marks a call in hand (not evictable); `false` if the client was evicted meanwhile.
    pub(super) fn begin(&self) -> bool {
        match self.shared.clients().open.get_mut(&self.id) {
            Some(c) => {
                c.busy = true;
                true
            }
            None => false,
        }
    }

    pub(super) fn end(&self) {
        if let Some(c) = self.shared.clients().open.get_mut(&self.id) {
            c.busy = false;
            c.since = Instant::now();
        }
    }

    /// Serves the client in its protocol; returns when it is done.
    fn serve(&mut self) -> io::Result<()> {
        match self.shared.protocol {
            Protocol::JsonRpc => self.serve_lines(),
            Protocol::Binrpc => self.serve_binrpc(),
        }
    }

    /// Reads requests line by line and answers each; returns when the client is done.
    fn serve_lines(&mut self) -> io::Result<()> {
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
        let mut chunk = vec![0u8; CHUNK];
        // Bytes of `buf` already searched for a newline.
        let mut scanned = 0;
        loop {
            let mut start = 0;
            while let Some(pos) = buf[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + pos;
                if end - start > MAX_REQUEST {
                    return self.too_large();
                }
                self.answer(&buf[start..end])?;
                start = end + 1;
                scanned = start;
            }
            buf.drain(..start);
            scanned = buf.len();
            if buf.len() > MAX_REQUEST {
                return self.too_large();
            }
            let n = match self.stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A subscriber waits for events: its silence is not idleness.
                Err(e) if is_timeout(&e) && self.events.subscribed() => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                // EOF: a last request without a newline is still answered.
                return self.answer(&buf);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Answers one line (blank lines are skipped).
    fn answer(&mut self, line: &[u8]) -> io::Result<()> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        if !self.begin() {
            return Err(io::Error::other("evicted"));
        }
        let ctx = Ctx {
            transport: &self.transport,
            ext: self.ext.as_deref(),
            session: Some(&self.events),
        };
        let out = crate::protocol::handle_bytes(&ctx, line);
        let written = if out.is_empty() {
            Ok(())
        } else {
            self.send(out, self.shared.write_timeout)
        };
        self.end();
        if written.is_ok() {
            // After the answer to `events.subscribe`, so no event line comes before it.
            self.events.start_pusher();
        }
        written
    }

    fn too_large(&mut self) -> io::Result<()> {
        log::warn!(
            "control client {}: request over {MAX_REQUEST} bytes",
            self.id
        );
        let e = RpcError::invalid_request(format!(
            "request larger than {MAX_REQUEST} bytes; closing the connection"
        ));
        self.send(rpc::error_response(&e), NOTICE_TIMEOUT)?;
        // Stop sending, then drop what the client is still sending for a moment, so closing
        // with unread data does not reset the connection before it reads the error.
        self.stream.shutdown(Shutdown::Write)?;
        self.stream
            .set_read_timeout(Some(Duration::from_millis(200)))?;
        let mut sink = vec![0u8; CHUNK];
        let mut left = MAX_REQUEST;
        while left > 0 {
            match self.stream.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
        Ok(())
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
