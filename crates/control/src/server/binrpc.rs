//! BINRPC on the stream control socket (Kamailio's `ctl` module: what `kamcmd -s unixs:PATH`
//! and the Prometheus exporters speak), served by the same accept thread, client slots and
//! eviction as the JSON-RPC socket, and the same method table.
//!
//! A client may send many packets on one connection (kamcmd's interactive mode does); each
//! request is answered with a reply echoing its cookie, or a fault with Kamailio's code and
//! text ([`RpcError::kamailio`]). Input is capped at [`MAX_BINRPC_INPUT`] bytes of one
//! packet (Kamailio's `STREAM_BUF_SIZE`): a larger one, bytes that are not BINRPC, or a packet
//! that is not a request get a fault (cookie 0 when the header could not be read) and the
//! connection is closed. A client silent for [`BINRPC_IDLE_TIMEOUT`] is closed (Kamailio's
//! `IO_STREAM_CONN_TIMEOUT`). A reply larger than [`MAX_BINRPC_REPLY`] becomes a 500 fault
//! that says how to page (kamcmd itself refuses replies over 128 KiB).

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sipwire::Transport;

use super::client::Client;
use super::{lock, spawn_inner, write_all_within, CtlServer, Protocol};
use super::{EVICT_GRACE, WRITE_TIMEOUT};
use crate::binrpc::{self, PacketType};
use crate::context::Ctx;
use crate::events::EventBus;
use crate::RpcExtension;

/// Largest packet (header and body) a client may send, in bytes.
pub const MAX_BINRPC_INPUT: usize = 65_535;
/// A BINRPC client that sends nothing for this long is disconnected.
pub const BINRPC_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest reply body sent; above it the call gets a fault instead.
const MAX_BINRPC_REPLY: usize = 4 * 1024 * 1024;

/// Binds a BINRPC control socket at `path` (mode 0600; the same rules as [`super::spawn`])
/// and serves it on a thread of its own, with the embedder's `ext` methods if any.
pub fn spawn_binrpc(
    path: &Path,
    transport: Transport,
    ext: Option<Arc<dyn RpcExtension>>,
) -> io::Result<CtlServer> {
    let timeouts = (EVICT_GRACE, WRITE_TIMEOUT, BINRPC_IDLE_TIMEOUT);
    spawn_inner(
        path,
        transport,
        ext,
        EventBus::new(),
        timeouts,
        Protocol::Binrpc,
    )
}

/// Read size per `read` call.
const CHUNK: usize = 16 * 1024;

impl Client {
    /// Frames packets as their bytes arrive and answers each request; returns when the client
    /// is done, or after telling it why it is being closed.
    pub(super) fn serve_binrpc(&mut self) -> io::Result<()> {
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
        let mut chunk = vec![0u8; CHUNK];
        loop {
            loop {
                match binrpc::parse_packet(&buf, MAX_BINRPC_INPUT) {
                    Ok(Some((pkt, used))) => {
                        buf.drain(..used);
                        if pkt.kind != PacketType::Request {
                            return self.refuse(pkt.cookie, "only requests are accepted");
                        }
                        self.answer_binrpc(pkt.cookie, &pkt.body)?;
                    }
                    Ok(None) => break,
                    Err(e) => return self.refuse(0, &format!("bad packet: {e}")),
                }
            }
            if buf.len() >= MAX_BINRPC_INPUT {
                return self.refuse(0, "packet over 65535 bytes");
            }
            let n = match self.stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Runs one request and writes its reply or fault.
    fn answer_binrpc(&mut self, cookie: u32, body: &[u8]) -> io::Result<()> {
        if !self.begin() {
            return Err(io::Error::other("evicted"));
        }
        let out = match binrpc::decode_request(body) {
            Err(e) => fault(cookie, 400, &format!("bad request: {e}")),
            Ok(req) => {
                let ctx = Ctx {
                    transport: &self.transport,
                    ext: self.ext.as_deref(),
                    session: None,
                };
                match crate::protocol::dispatch(&ctx, &req.method, &req.json_params()) {
                    Ok(result) => reply(cookie, &req.method, &result),
                    Err(e) => {
                        let (code, text) = e.kamailio();
                        fault(cookie, code, &text)
                    }
                }
            }
        };
        let written = write_all_within(&mut lock(&self.writer), &out, self.shared.write_timeout);
        self.end();
        written
    }

    /// Tells the client why and ends the connection.
    fn refuse(&mut self, cookie: u32, why: &str) -> io::Result<()> {
        log::info!("binrpc client {}: {why}; closing", self.id);
        let out = fault(cookie, 400, why);
        let _ = write_all_within(&mut lock(&self.writer), &out, super::NOTICE_TIMEOUT);
        Ok(())
    }
}

/// A reply packet for `result`, or a fault when it cannot be sent.
fn reply(cookie: u32, method: &str, result: &serde_json::Value) -> Vec<u8> {
    match binrpc::encode_reply(result) {
        Ok(body) if body.len() <= MAX_BINRPC_REPLY => {
            binrpc::build_packet(PacketType::Reply, cookie, &body)
                .unwrap_or_else(|e| fault(cookie, 500, &format!("cannot send the reply: {e}")))
        }
        Ok(body) => fault(
            cookie,
            500,
            &format!(
                "{method}: reply of {} bytes is over {MAX_BINRPC_REPLY}; ask for less \
                 (core.tcp_list takes an offset and a limit)",
                body.len()
            ),
        ),
        Err(e) => fault(cookie, 500, &format!("cannot encode the reply: {e}")),
    }
}

/// A fault packet (never fails: a message too long to encode is cut).
fn fault(cookie: u32, code: i32, text: &str) -> Vec<u8> {
    binrpc::fault_packet(cookie, code, text)
        .or_else(|_| binrpc::fault_packet(cookie, code, "error"))
        .unwrap_or_default()
}
