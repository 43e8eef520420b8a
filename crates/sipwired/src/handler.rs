//! The glue between the runtime and the relay: run [`Relay::process`] on each message, then
//! send, reply or drop, and count. Messages over TCP and over SCTP (RFC 4168) go through the
//! same path: an SCTP association has a [`ConId`] like a connection (top bit set), and
//! `Ctx::reply`, `Transport::send(ConId)` and `Transport::conn_peer` work for both.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use sipwire::{ConId, Ctx, Handler, HandlerError, Message, MessageKind, Proto, Target, Transport};

use crate::relay::{
    Action, Conns, Context, Direction, DropReason, Relay, RelayStats, Resolve, Unsent,
};

/// The reason phrase of the 503 for a request the relay could not send on.
const UNREACHABLE: &str = "Service Unavailable (next hop unreachable)";

/// The runtime's connection table as the relay sees it: the peer of a connection id (or of
/// a tracked SCTP association's id).
#[derive(Debug)]
struct RuntimeConns<'a>(&'a Transport);

impl Conns for RuntimeConns<'_> {
    fn peer(&self, conid: u64) -> Option<SocketAddr> {
        self.0.conn_peer(ConId(conid))
    }
}

/// The relay as a sipwire [`Handler`].
#[derive(Debug)]
pub struct RelayHandler<R> {
    relay: Relay<R>,
    stats: Arc<RelayStats>,
    /// The SCTP endpoints' addresses, read from the runtime at the first message (the
    /// endpoints are opened at start and never change).
    sctp_listen: OnceLock<Vec<SocketAddr>>,
}

impl<R: Resolve> RelayHandler<R> {
    /// Wraps `relay`; counters go to `stats`.
    pub fn new(relay: Relay<R>, stats: Arc<RelayStats>) -> Self {
        RelayHandler {
            relay,
            stats,
            sctp_listen: OnceLock::new(),
        }
    }

    /// Every address of every SCTP endpoint of `transport`, in endpoint order.
    fn sctp_listen(&self, transport: &Transport) -> &[SocketAddr] {
        self.sctp_listen.get_or_init(|| {
            transport
                .sctp_endpoints()
                .iter()
                .flat_map(|ep| ep.local_addrs().iter().copied())
                .collect()
        })
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
            sctp_listen: self.sctp_listen(transport),
            conid: msg.conid.0,
            peer: msg.peer,
            conns: &conns,
        };
        match self.relay.process(&msg.bytes, &context) {
            Action::Forward {
                to,
                proto,
                bytes,
                direction,
                via_conn,
            } => match send_back(transport, via_conn, to, proto, &bytes) {
                // Accepted: if it is never written after all (connect refused or timed out,
                // queue full, reset, ...), the runtime hands it back to `on_unsent`.
                Ok(_) => match direction {
                    Direction::Request => self.stats.request_relayed(),
                    Direction::Response => self.stats.response_relayed(),
                },
                Err(e) => {
                    self.stats.send_failed();
                    log::info!("conid {}: cannot relay to {proto}:{to}: {e}", msg.conid);
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
                if reason == DropReason::NotSip && msg.proto == Proto::Tcp {
                    // Closes the connection (unless tcp_script_mode = 1): a peer that does
                    // not speak SIP has nothing else to say to a SIP relay. Over SCTP each
                    // message stands alone (no stream to resynchronise) and a handler error
                    // closes nothing: the message is only dropped and counted.
                    return Err(HandlerError(format!(
                        "not a SIP/2.0 message from {}",
                        msg.source
                    )));
                }
            }
        }
        Ok(())
    }

    /// A message sent on was never completely written: if it is a request we forwarded (our
    /// Via on top, its MACs verified), the client named by its `cid` gets a stateless 503
    /// built from it with our Via removed. Counted once per lost request (`send_failures`);
    /// an unsent response is only counted (`unsent_responses`). Runs on TCP main (the final
    /// close of the next hop's connection) or on a reader (a corked batch dropped).
    fn on_unsent(&self, transport: &Transport, conid: ConId, msg: &[u8]) {
        match self
            .relay
            .unsent(msg, &RuntimeConns(transport), 503, UNREACHABLE)
        {
            Unsent::Reply { client, reply } => {
                self.stats.send_failed();
                match transport.send(ConId(client), &reply) {
                    Ok(_) => self.stats.replied(503),
                    Err(e) => {
                        self.stats.send_failed();
                        log::info!("conid {client}: cannot send 503 reply: {e}");
                    }
                }
            }
            Unsent::Ack | Unsent::ClientGone => {
                self.stats.send_failed();
                log::debug!("conid {conid}: unsent request, no one to answer");
            }
            Unsent::Response => self.stats.unsent_response(),
            Unsent::NotOurs => {
                self.stats.send_failed();
                log::info!("conid {conid}: unsent message without our Via: not answered");
            }
        }
    }
}

impl<R: Resolve> RelayHandler<R> {
    /// A stateless `503` for a request the relay could not send on.
    fn reply_unavailable(&self, ctx: &Ctx<'_>, request: &[u8]) {
        let Some(reply) = self.relay.error_reply(request, 503, UNREACHABLE) else {
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

/// Sends a response over the connection (or SCTP association) its request came in on
/// (`via_conn`: the relay has checked its `cid` MAC against that connection's peer) while it
/// is open; to `to` (the MAC-checked `received` and sent-by port of the next Via) over
/// `proto` (the next Via's transport) once it is gone. Requests have no `via_conn` and go to
/// `to` over `proto`: an open connection or association to it, or a new one. A send error is
/// returned at once; failures the runtime only learns later (a corked or queued write, an
/// asynchronous connect, an SCTP send the kernel gives back) are not seen here.
fn send_back(
    transport: &Transport,
    via_conn: Option<u64>,
    to: SocketAddr,
    proto: Proto,
    bytes: &[u8],
) -> Result<ConId, sipwire::SendError> {
    if let Some(id) = via_conn.map(ConId) {
        match transport.send(id, bytes) {
            Err(sipwire::SendError::NoSuchConnection(_) | sipwire::SendError::Closed(_)) => {}
            other => return other,
        }
    }
    let target = match proto {
        Proto::Tcp => Target::Addr(to),
        Proto::Sctp => Target::Sctp(to),
    };
    transport.send(target, bytes)
}
