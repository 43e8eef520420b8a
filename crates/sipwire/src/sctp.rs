//! The runtime's SCTP side: opening the `listen=sctp:` endpoints, serving them on the reader
//! that owns each one (messages to `on_message`, association ends to `on_event`), and sends
//! to associations and SCTP destinations from any thread. The endpoint mechanics (socket,
//! options, tracking) are `sipwire-sctp`'s.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use sipwire_sctp::{AssocEvent, Closed, Dest, Endpoint, Received};

use crate::config::{ClosedEvent, Config, ListenProto, SnapshotCache};
use crate::conn::{CloseReason, ConId, Proto};
use crate::handler::{Ctx, Event, Handler, HandlerError, Message, MessageKind};
use crate::send::{Delivery, SendError, Sent, Target};
use crate::shared::Shared;
use crate::stats::bump;
use crate::transport::Transport;
use sipwire_poll::{Interest, Poller, Token};

/// Most SCTP messages one endpoint delivers per reader pass (fairness with TCP connections).
pub(crate) const MESSAGES_PER_PASS: usize = 64;
/// Receive buffer: the largest SIP message one SCTP message may carry here.
pub(crate) const RECV_BUF: usize = 65536;

/// The SCTP endpoints of a config, opened. An endpoint that cannot be opened is an error
/// when it is the only kind of listener; next to TCP listeners it is logged, named with its
/// cause, and skipped (TCP is unaffected).
pub(crate) fn open_endpoints(
    config: &Config,
    tcp_listeners: usize,
) -> Result<Vec<Arc<Endpoint>>, (SocketAddr, std::io::Error)> {
    let mut out = Vec::new();
    for l in config
        .listen
        .iter()
        .filter(|l| l.proto == ListenProto::Sctp)
    {
        let addrs = l.socket_addrs(config.tcp.port);
        let addr = addrs[0];
        match Endpoint::open(&addrs, &config.sctp) {
            Ok(ep) => {
                log::info!(
                    "listening on sctp:{}",
                    ep.local_addrs().first().copied().unwrap_or(addr)
                );
                out.push(Arc::new(ep));
            }
            Err(e) => {
                let why = if sipwire_sctp::available() {
                    e.to_string()
                } else {
                    format!("this kernel has no SCTP ({e})")
                };
                if tcp_listeners == 0 {
                    return Err((addr, std::io::Error::new(e.kind(), why)));
                }
                log::error!("cannot listen on sctp:{addr}: {why}; TCP is unaffected");
            }
        }
    }
    Ok(out)
}

/// The SCTP part of a send, when the target is SCTP (an association id, an SCTP
/// destination, or an otcpid pinning an association); `None` for TCP targets.
pub(crate) fn send(
    shared: &Shared,
    cfg: &Config,
    target: Target,
    otcpid: Option<ConId>,
    bytes: &[u8],
) -> Option<Result<Sent, SendError>> {
    let pinned = otcpid.filter(|id| id.is_sctp());
    let (ep_index, dest, id_for_errors) = match (pinned, target) {
        (Some(id), _) | (None, Target::Conn(id)) if id.is_sctp() => {
            let (ep, assoc) = id.sctp_parts()?;
            (ep as usize, Dest::Assoc(assoc), Some(id))
        }
        (None, Target::Sctp(dst)) => {
            let i = shared.sctp.iter().position(|e| {
                e.local_addrs()
                    .first()
                    .is_some_and(|l| l.is_ipv4() == dst.is_ipv4())
            });
            match i {
                Some(i) => (i, Dest::Addr(dst), None),
                None => return Some(Err(SendError::NoSctpEndpoint(dst))),
            }
        }
        _ => return None,
    };
    bump(&shared.stats.sends);
    let Some(ep) = shared.sctp.get(ep_index) else {
        bump(&shared.stats.send_errors);
        return Some(Err(SendError::NoSuchConnection(
            id_for_errors.unwrap_or(ConId(0)),
        )));
    };
    let r = match ep.send(dest, bytes, &cfg.sctp) {
        Ok(assoc) => Ok(Sent {
            conid: ConId::sctp(ep_index as u16, assoc),
            delivery: Delivery::Written,
        }),
        Err(sipwire_sctp::SendError::NoSuchAssoc(_)) => Err(SendError::NoSuchConnection(
            id_for_errors.unwrap_or(ConId(0)),
        )),
        Err(sipwire_sctp::SendError::TooManyAssocs(d)) => Err(SendError::TooManyConnections(d)),
        Err(e) => Err(SendError::Sctp(e.to_string())),
    };
    if r.is_err() {
        bump(&shared.stats.send_errors);
    }
    Some(r)
}

/// The SCTP endpoints a reader serves, with its receive buffer.
pub(crate) struct Served {
    /// (endpoint index, endpoint).
    pub endpoints: Vec<(usize, Arc<Endpoint>)>,
    buf: Vec<u8>,
    /// Endpoints that are readable, or used their budget and may have more.
    more: Vec<bool>,
    /// The config generation last applied to the sockets.
    applied: u64,
}

impl Served {
    /// The endpoints reader `index` serves (endpoint `i` goes to reader `i % readers`),
    /// registered in its poller: slot `s` under token `usize::MAX - s`.
    pub(crate) fn register(shared: &Shared, index: usize, poller: &mut Poller) -> Served {
        let readers = shared.readers.len().max(1);
        let mine: Vec<_> = shared
            .sctp
            .iter()
            .cloned()
            .enumerate()
            .filter(|(i, _)| i % readers == index)
            .collect();
        for (slot, (i, ep)) in mine.iter().enumerate() {
            if let Err(e) = poller.register(ep.fd(), Token(usize::MAX - slot), Interest::READABLE) {
                log::error!("reader {index}: cannot watch sctp endpoint {i}: {e}");
            }
        }
        Served::new(mine, shared.config.generation())
    }

    /// Marks the endpoint of poller token `t` readable; `false` when `t` is not an endpoint's.
    pub(crate) fn mark(&mut self, t: usize) -> bool {
        let slot = usize::MAX - t;
        match self.more.get_mut(slot) {
            Some(m) => {
                *m = true;
                true
            }
            None => false,
        }
    }

    /// Serves the endpoints that are readable or have budget left over (the config read
    /// through the reader's snapshot cache, socket options re-applied when it changed).
    pub(crate) fn serve_pending(
        &mut self,
        snapshots: &mut SnapshotCache,
        shared: &Shared,
        handler: &dyn Handler,
        transport: &Transport,
    ) {
        if !self.has_more() {
            return;
        }
        let cfg = snapshots.get().clone();
        self.reconfigure(snapshots.generation(), &cfg);
        for slot in 0..self.more.len() {
            if self.more[slot] {
                self.serve(slot, shared, handler, transport, &cfg);
            }
        }
    }

    fn new(endpoints: Vec<(usize, Arc<Endpoint>)>, generation: u64) -> Served {
        let n = endpoints.len();
        Served {
            endpoints,
            buf: if n == 0 {
                Vec::new()
            } else {
                vec![0; RECV_BUF]
            },
            more: vec![false; n],
            applied: generation,
        }
    }

    /// Whether some endpoint has more to read without waiting.
    pub(crate) fn has_more(&self) -> bool {
        self.more.iter().any(|m| *m)
    }

    /// Re-applies the socket options when the config changed at run time.
    fn reconfigure(&mut self, generation: u64, cfg: &Config) {
        if generation == self.applied {
            return;
        }
        self.applied = generation;
        for (i, ep) in &self.endpoints {
            if let Err(e) = ep.reconfigure(&cfg.sctp) {
                log::warn!("sctp endpoint {i}: cannot apply the changed options: {e}");
            }
        }
    }

    /// Serves endpoint slot `slot` (readable, or with budget left over): up to
    /// [`MESSAGES_PER_PASS`] messages, each to `on_message`.
    fn serve(
        &mut self,
        slot: usize,
        shared: &Shared,
        handler: &dyn Handler,
        transport: &Transport,
        cfg: &Config,
    ) {
        let Some((index, ep)) = self.endpoints.get(slot).cloned() else {
            return;
        };
        let local = ep
            .local_addrs()
            .first()
            .copied()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        let mut delivered = 0;
        self.more[slot] = false;
        while delivered < MESSAGES_PER_PASS {
            let got = match ep.recv(&mut self.buf, &cfg.sctp) {
                Ok(g) => g,
                Err(e) => {
                    log::warn!("sctp endpoint {index}: receive failed: {e}");
                    return;
                }
            };
            match got {
                Received::WouldBlock => return,
                Received::Nothing => {}
                Received::Event(ev) => {
                    on_assoc_event(index as u16, local, &ev, handler, shared, transport, cfg)
                }
                Received::Message {
                    len,
                    body_start,
                    assoc,
                    from,
                    ..
                } => {
                    delivered += 1;
                    bump(&shared.stats.messages);
                    let id = ConId::sctp(index as u16, assoc);
                    let msg = Message {
                        kind: MessageKind::Sip,
                        bytes: Cow::Borrowed(&self.buf[..len]),
                        body_start,
                        conid: id,
                        proto: Proto::Sctp,
                        source: from,
                        peer: from,
                        local,
                        bound: local,
                        chunks: 1,
                    };
                    let ctx = Ctx::sctp(id, transport, &self.buf[..len]);
                    let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        handler.on_message(&ctx, msg)
                    }))
                    .unwrap_or_else(|_| Err(HandlerError("on_message panicked".into())));
                    if let Err(e) = r {
                        bump(&shared.stats.handler_errors);
                        log::info!("sctp assoc {id}: on_message failed ({e})");
                    }
                }
            }
        }
        self.more[slot] = true;
    }
}

/// Reports an association's end to `on_event` (as `closed_event` says: per-connection
/// enabling does not apply to associations, so mode 2 reports none).
fn on_assoc_event(
    index: u16,
    local: SocketAddr,
    ev: &AssocEvent,
    handler: &dyn Handler,
    shared: &Shared,
    transport: &Transport,
    cfg: &Config,
) {
    match ev {
        AssocEvent::Closed { assoc, peer, how } => {
            if cfg.tcpops.closed_event != ClosedEvent::On {
                return;
            }
            let reason = match how {
                Closed::Shutdown => CloseReason::PeerClosed,
                Closed::Lost => CloseReason::Timeout,
                Closed::CantStart => CloseReason::ConnectFailed,
                Closed::Aborted => CloseReason::Application,
            };
            let remote = peer.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
            bump(&shared.stats.events);
            let event = Event {
                reason,
                conid: ConId::sctp(index, *assoc),
                proto: Proto::Sctp,
                local,
                remote,
                source: remote,
                unsent_msgs: 0,
                unsent_bytes: 0,
            };
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| handler.on_event(&event)));
            if r.is_err() {
                bump(&shared.stats.handler_errors);
            }
        }
        AssocEvent::PathChange { assoc, addr, state } => {
            log::info!("sctp assoc {assoc}: path {addr:?} {state}");
        }
        AssocEvent::SendFailed {
            assoc,
            data,
            resent,
        } => {
            if !resent {
                crate::handler::call_on_unsent(
                    handler,
                    transport,
                    ConId::sctp(index, *assoc),
                    data,
                );
            }
        }
        AssocEvent::Up { .. } => {}
    }
}
