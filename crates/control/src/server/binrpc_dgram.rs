//! BINRPC over a unix datagram socket (`kamcmd -s unixd:PATH`): kamcmd binds a reply socket
//! of its own and sends one request packet per datagram; the answer goes back to that address
//! in one datagram ("datagram too big" otherwise, as Kamailio says: here a 500 fault that
//! says how to page). Senders without an address cannot be answered and are skipped.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;

use sipwire::Transport;

use crate::binrpc::{self, PacketType};
use crate::context::Ctx;
use crate::jsonrpcs::{self, is_socket, prepare, Answerer, JsonrpcsServer, Serve, MAX_DATAGRAM};
use crate::RpcExtension;

/// Largest request datagram read.
const MAX_IN: usize = super::MAX_BINRPC_INPUT;

/// Binds a BINRPC datagram socket at `path` (mode 0600; a leftover socket file is replaced)
/// and answers each request datagram on a thread of its own.
pub fn spawn_binrpc_dgram(
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
    jsonrpcs::start(
        "binrpc-dgram",
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
        let mut buf = vec![0u8; MAX_IN + 1];
        for _ in 0..64 {
            let (n, from) = match self.sock.recv_from(&mut buf) {
                Ok(v) => v,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    log::error!("binrpc datagram socket: receive failed: {e}; stopping");
                    return false;
                }
            };
            let Some(to) = from.as_pathname().map(Path::to_path_buf) else {
                log::debug!("binrpc datagram from an unbound socket: no reply possible");
                continue;
            };
            let out = answer(answerer, buf.get(..n).unwrap_or_default());
            if let Err(e) = jsonrpcs::send_datagram(&self.sock, &out, &to) {
                log::info!("binrpc datagram: cannot answer {}: {e}", to.display());
            }
        }
        true
    }
}

/// The reply or fault packet for one request datagram.
fn answer(answerer: &Answerer, datagram: &[u8]) -> Vec<u8> {
    let pkt = match binrpc::parse_packet(datagram, MAX_IN) {
        Ok(Some((pkt, _))) => pkt,
        Ok(None) => return fault(0, 400, "truncated packet"),
        Err(e) => return fault(0, 400, &format!("bad packet: {e}")),
    };
    if pkt.kind != PacketType::Request {
        return fault(pkt.cookie, 400, "only requests are accepted");
    }
    let req = match binrpc::decode_request(&pkt.body) {
        Ok(r) => r,
        Err(e) => return fault(pkt.cookie, 400, &format!("bad request: {e}")),
    };
    let ctx = Ctx {
        transport: &answerer.transport,
        ext: answerer.ext.as_deref(),
        session: None,
    };
    match crate::protocol::dispatch(&ctx, &req.method, &req.json_params()) {
        Ok(result) => match binrpc::reply_packet(pkt.cookie, &result) {
            Ok(p) if p.len() <= MAX_DATAGRAM => p,
            Ok(p) => fault(
                pkt.cookie,
                500,
                &format!(
                    "reply of {} bytes does not fit one datagram ({MAX_DATAGRAM} bytes): ask \
                     for less (core.tcp_list takes an offset and a limit) or use unixs:",
                    p.len()
                ),
            ),
            Err(e) => fault(pkt.cookie, 500, &format!("cannot encode the reply: {e}")),
        },
        Err(e) => {
            let (code, text) = e.kamailio();
            fault(pkt.cookie, code, &text)
        }
    }
}

fn fault(cookie: u32, code: i32, text: &str) -> Vec<u8> {
    binrpc::fault_packet(cookie, code, text).unwrap_or_default()
}
