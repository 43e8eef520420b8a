//! The glue between the runtime and the relay: run [`Relay::process`] on each message, then
//! send, reply or drop, and count.

use std::sync::{Arc, OnceLock};

use sipwire::{
    CloseReason, ConId, ConnState, Ctx, Event, Handler, HandlerError, Message, MessageKind,
    Transport,
};

use crate::pending::{Kept, PendingConnects};

use crate::relay::{Action, Conns, Context, Direction, DropReason, Relay, RelayStats, Resolve};

/// The runtime's connection table as the relay sees it: the peer of a connection id.
#[derive(Debug)]
struct RuntimeConns<'a>(&'a sipwire::Transport);

impl Conns for RuntimeConns<'_> {
    fn peer(&self, conid: u64) -> Option<std::net::SocketAddr> {
        self.0.conn_peer(sipwire::ConId(conid))
    }
}

/// The relay as a sipwire [`Handler`].
#[derive(Debug)]
pub struct RelayHandler<R> {
    relay: Relay<R>,
    stats: Arc<RelayStats>,
    /// Requests queued on connects that may still fail (their 503s, ready).
    pending: PendingConnects,
    /// The runtime's handle, for the 503s sent from `on_event` (taken from the first message).
    transport: OnceLock<Transport>,
}

impl<R: Resolve> RelayHandler<R> {
    /// Wraps `relay`; counters go to `stats`.
    pub fn new(relay: Relay<R>, stats: Arc<RelayStats>) -> Self {
        RelayHandler {
            relay,
            stats,
            pending: PendingConnects::default(),
            transport: OnceLock::new(),
        }
    }
}

impl<R: Resolve + 'static> Handler for RelayHandler<R> {
    fn on_message(&self, ctx: &Ctx<'_>, msg: Message<'_>) -> Result<(), HandlerError> {
        if msg.kind == MessageKind::Hep3 {
            self.stats.dropped(DropReason::Hep3);
            log::debug!("conid {}: HEP3 packet dropped", msg.conid);
            return Ok(());
        }
        let transport = ctx.transport();
        let conns = RuntimeConns(transport);
        let context = Context {
            source: msg.source,
            local: msg.local,
            listen: transport.listen_addrs(),
            conid: msg.conid.0,
            peer: msg.peer,
            conns: &conns,
        };
        match self.relay.process(&msg.bytes, &context) {
            Action::Forward {
                to,
                bytes,
                direction,
                via_conn,
            } => match send_back(transport, via_conn, to, &bytes) {
                Ok(upstream) => match direction {
                    Direction::Request => {
                        self.stats.request_relayed();
                        // Not up yet (connecting, or its connect already failed and closed):
                        // keep the 503 until the close event says how it ended.
                        if transport.conid_state(upstream) != ConnState::Ok {
                            self.guard(transport, upstream, msg.conid, &msg.bytes);
                        }
                    }
                    Direction::Response => self.stats.response_relayed(),
                },
                Err(e) => {
                    self.stats.send_failed();
                    log::info!("conid {}: cannot relay to {to}: {e}", msg.conid);
                    if direction == Direction::Request {
                        self.reply_unavailable(ctx, &msg.bytes);
                    }
                }
            },
            Action::Reply { status, bytes } => match ctx.reply(&bytes) {
                Ok(_) => self.stats.replied(status),
                Err(e) => {
                    self.stats.send_failed();
                    log::info!("conid {}: cannot send {status} reply: {e}", msg.conid);
                }
            },
            Action::Drop { reason } => {
                self.stats.dropped(reason);
                log::debug!(
                    "conid {} from {}: dropped ({}): {reason}",
                    msg.conid,
                    msg.source,
                    reason.as_str()
                );
                if reason == DropReason::NotSip {
                    // Closes the connection (unless tcp_script_mode = 1): a peer that does
                    // not speak SIP has nothing else to say to a SIP relay.
                    return Err(HandlerError(format!(
                        "not a SIP/2.0 message from {}",
                        msg.source
                    )));
                }
            }
        }
        Ok(())
    }

    /// A connection closed: if it was a connect that never completed, the requests queued on
    /// it get their 503s (runs on TCP main; the replies go to open client connections).
    fn on_event(&self, ev: &Event) {
        let failed = matches!(
            ev.reason,
            CloseReason::ConnectRefused | CloseReason::ConnectTimeout | CloseReason::ConnectFailed
        );
        let waiting = self.pending.closed(ev.conid, failed);
        let Some(t) = self.transport.get() else {
            return;
        };
        for (client, reply) in waiting {
            self.send_503(t, client, &reply);
        }
    }
}

impl<R: Resolve> RelayHandler<R> {
    /// A request's connect failed: counted, and its kept 503 (none for an ACK) sent to the
    /// client connection it is for.
    fn send_503(&self, t: &Transport, client: ConId, reply: &[u8]) {
        self.stats.send_failed();
        if reply.is_empty() {
            return;
        }
        match t.send(client, reply) {
            Ok(_) => self.stats.replied(503),
            Err(e) => {
                self.stats.send_failed();
                log::info!("conid {client}: cannot send 503 reply: {e}");
            }
        }
    }

    /// Keeps the 503 of a request queued on connection `upstream`, which is still connecting.
    fn guard(&self, transport: &Transport, upstream: ConId, client: ConId, request: &[u8]) {
        let _ = self.transport.set(transport.clone());
        // An ACK gets no reply, but its failure is still counted: keep an empty one.
        let reply = self
            .relay
            .error_reply(request, 503, "Service Unavailable (next hop unreachable)")
            .unwrap_or_default();
        match self.pending.keep(transport, upstream, client, reply) {
            Kept::Waiting => {}
            Kept::FailedAlready(reply) => self.send_503(transport, client, &reply),
            Kept::Full => self.stats.unguarded(),
        }
    }

    /// A stateless `503` for a request the relay could not send on.
    fn reply_unavailable(&self, ctx: &Ctx<'_>, request: &[u8]) {
        let Some(reply) =
            self.relay
                .error_reply(request, 503, "Service Unavailable (next hop unreachable)")
        else {
            return;
        };
        match ctx.reply(&reply) {
            Ok(_) => self.stats.replied(503),
            Err(e) => {
                self.stats.send_failed();
                log::info!("conid {}: cannot send 503 reply: {e}", ctx.conid());
            }
        }
    }
}

/// Sends a response over the connection its request came in on (`via_conn`: the relay has
/// checked its `cid` MAC against that connection's peer) while it is open; to `to` (the
/// MAC-checked `received` and sent-by port of the next Via) once it is gone. Requests have no
/// `via_conn` and go to `to`. A send error is returned at once; failures the runtime only
/// learns later (a corked or queued write, an asynchronous connect) are not seen here.
fn send_back(
    transport: &sipwire::Transport,
    via_conn: Option<u64>,
    to: std::net::SocketAddr,
    bytes: &[u8],
) -> Result<sipwire::ConId, sipwire::SendError> {
    if let Some(id) = via_conn.map(sipwire::ConId) {
        match transport.send(id, bytes) {
            Err(sipwire::SendError::NoSuchConnection(_) | sipwire::SendError::Closed(_)) => {}
            other => return other,
        }
    }
    transport.send(to, bytes)
}
