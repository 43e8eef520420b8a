//! The glue between the runtime and the relay: run [`Relay::process`] on each message, then
//! send, reply or drop, and count. Messages over TCP and over SCTP (RFC 4168) go through the
//! same path: an SCTP association has a [`ConId`] like a connection (top bit set), and
//! `Ctx::reply`, `Transport::send(ConId)` and `Transport::conn_peer` work for both.
//!
//! Each forward is timed, from the start of `on_message` to the return of its send (success
//! or not), into the relay-time histogram ([`RelayHandler::with_relay_time`]): two clock
//! reads and two relaxed atomic adds per relayed message.
//!
//! Close events (`on_event`, as `closed_event` lets them through) are logged (at most
//! [`EVENT_LOG_PER_SEC`] lines a second), counted (`events_*`) and published on the control
//! socket's [`EventBus`] for `events.subscribe`.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde_json::json;
use sipwire::{
    ConId, Ctx, Event, Handler, HandlerError, Histogram, Message, MessageKind, Proto, Target,
    Transport,
};
use sipwire_control::EventBus;

use crate::relay::{
    ActionRef, Conns, Context, Direction, DropReason, Relay, RelayStats, Resolve, Scratch, Unsent,
};

/// The reason phrase of the 503 for a request the relay could not send on.
const UNREACHABLE: &str = "Service Unavailable (next hop unreachable)";

/// Close events logged per second at most (a flood of connections must not fill the logs);
/// the first line after held-back ones says how many were held back. Counting and publishing
/// are not limited.
pub const EVENT_LOG_PER_SEC: u32 = 20;

/// The event name of a close sipwire decided (lifetime, protocol error, the application,
/// connect failure, shutdown, ...): not one of Kamailio's three routes.
pub const OTHER_EVENT: &str = "tcp:other";

thread_local! {
    /// The relay's working buffers on this reader thread ([`Scratch`]): reused by every
    /// message the thread handles, so relaying allocates nothing once they have grown.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
}

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
    /// Time from `on_message`'s start to the forward's send returning.
    relay_time: Arc<Histogram>,
    /// The SCTP endpoints' addresses, read from the runtime at the first message (the
    /// endpoints are opened at start and never change).
    sctp_listen: OnceLock<Vec<SocketAddr>>,
    /// Where close events go for the control socket's subscribers.
    events: EventBus,
    /// The budget of close-event log lines.
    event_log: LogBudget,
}

impl<R: Resolve> RelayHandler<R> {
    /// Wraps `relay`; counters go to `stats`.
    pub fn new(relay: Relay<R>, stats: Arc<RelayStats>) -> Self {
        RelayHandler {
            relay,
            stats,
            relay_time: Arc::new(Histogram::relay_time()),
            sctp_listen: OnceLock::new(),
            events: EventBus::new(),
            event_log: LogBudget::new(EVENT_LOG_PER_SEC),
        }
    }

    /// Publishes close events on `events` (the control server's bus) instead of a bus of
    /// its own nobody subscribes to.
    pub fn with_events(mut self, events: EventBus) -> Self {
        self.events = events;
        self
    }

    /// Times forwards into `relay_time` (the daemon's, which its metrics read) instead of a
    /// histogram of its own.
    pub fn with_relay_time(mut self, relay_time: Arc<Histogram>) -> Self {
        self.relay_time = relay_time;
        self
    }

    /// The relay-time histogram (see [`RelayHandler::with_relay_time`]).
    pub fn relay_time(&self) -> &Arc<Histogram> {
        &self.relay_time
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
        let started = Instant::now();
        if msg.kind == MessageKind::Hep3 {
            self.stats.dropped(DropReason::Hep3);
            log::debug!("conid {}: HEP3 packet dropped", msg.conid);
            return Ok(());
        }
        let transport = ctx.transport();
        let conns = RuntimeConns(transport);
        let context = Context {
            source: msg.source,
            // The address that reaches us, not a PROXY header's destination (the balancer's
            // address): our Via, `is_own` and the way back are about this socket.
            local: msg.bound,
            listen: transport.listen_addrs(),
            sctp_listen: self.sctp_listen(transport),
            conid: msg.conid.0,
            peer: msg.peer,
            conns: &conns,
        };
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => self.act(ctx, &msg, &context, &mut scratch, started),
            // Re-entered on this thread (a send that calls back into the handler): a buffer
            // of its own for this message.
            Err(_) => self.act(ctx, &msg, &context, &mut Scratch::new(), started),
        })
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

    /// A connection (or SCTP association) closed and `closed_event` reports it: counted,
    /// logged within the budget, published to the control socket's subscribers. Runs on TCP
    /// main (or an SCTP reader): nothing here waits.
    fn on_event(&self, ev: &Event) {
        self.stats.event(ev.reason);
        let name = ev.reason.event_name().unwrap_or(OTHER_EVENT);
        if log::log_enabled!(log::Level::Info) {
            if let Some(held) = self.event_log.check() {
                log::info!("{}", event_line(name, ev, held));
            }
        }
        if self.events.has_subscribers() {
            self.events.publish(
                name,
                json!({
                    "conid": ev.conid.0,
                    "local": ev.local.to_string(),
                    "proto": ev.proto.to_string(),
                    "reason": ev.reason.to_string(),
                    "remote": ev.remote.to_string(),
                    "source": ev.source.to_string(),
                    "unsent_bytes": ev.unsent_bytes,
                    "unsent_msgs": ev.unsent_msgs,
                }),
            );
        }
    }
}

impl<R: Resolve + 'static> RelayHandler<R> {
    /// Runs the relay on `msg` (its output built in `scratch`), then sends, replies or drops.
    fn act(
        &self,
        ctx: &Ctx<'_>,
        msg: &Message<'_>,
        context: &Context<'_>,
        scratch: &mut Scratch,
        started: Instant,
    ) -> Result<(), HandlerError> {
        let transport = ctx.transport();
        match self.relay.process_in(&msg.bytes, context, scratch) {
            ActionRef::Forward {
                to,
                proto,
                bytes,
                direction,
                via_conn,
            } => {
                let sent = send_back(transport, via_conn, to, proto, bytes);
                self.relay_time.observe(started.elapsed());
                match sent {
                    // Accepted: if it is never written after all (connect refused or timed
                    // out, queue full, reset, ...), the runtime hands it back to `on_unsent`.
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
                }
            }
            ActionRef::Reply { status, bytes } => match ctx.reply(&bytes) {
                Ok(_) => self.stats.replied(status),
                Err(e) => {
                    self.stats.send_failed();
                    log::info!("conid {}: cannot send {status} reply: {e}", msg.conid);
                }
            },
            ActionRef::Drop { reason } => {
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
}

/// The log line of a close event; `held`: lines held back before it.
fn event_line(name: &str, ev: &Event, held: u64) -> String {
    let mut line = format!(
        "{name}: conid {} ({}) local {} remote {}",
        ev.conid, ev.proto, ev.local, ev.remote
    );
    if ev.source != ev.remote {
        line.push_str(&format!(" source {} (PROXY)", ev.source));
    }
    line.push_str(&format!(": {}", ev.reason));
    if ev.unsent_msgs > 0 {
        line.push_str(&format!(
            " ({} messages, {} bytes unsent)",
            ev.unsent_msgs, ev.unsent_bytes
        ));
    }
    if held > 0 {
        line.push_str(&format!(
            " ({held} close events not logged before this one)"
        ));
    }
    line
}

/// At most `per_sec` lines a second, lock-free (as the runtime's own log limiter): what is
/// held back is counted and told by the next line let through.
#[derive(Debug)]
struct LogBudget {
    per_sec: u32,
    start: Instant,
    /// The current second since `start` (high 32 bits) and lines let through in it (low 32).
    window: AtomicU64,
    /// Lines held back since the last one let through.
    held: AtomicU64,
}

impl LogBudget {
    fn new(per_sec: u32) -> LogBudget {
        LogBudget {
            per_sec,
            start: Instant::now(),
            window: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(k)`: log this line, `k` having been held back before it; `None`: hold it back.
    fn check(&self) -> Option<u64> {
        self.check_at(self.start.elapsed().as_secs())
    }

    fn check_at(&self, secs: u64) -> Option<u64> {
        // Window 0 is "nothing counted yet": seconds count from 1.
        let sec = (secs + 1) & u64::from(u32::MAX);
        let mut cur = self.window.load(Ordering::Relaxed);
        loop {
            let (w, n) = (cur >> 32, cur & u64::from(u32::MAX));
            let next = if w != sec {
                sec << 32 | 1
            } else if n < u64::from(self.per_sec) {
                cur + 1
            } else {
                self.held.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            match self
                .window
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(self.held.swap(0, Ordering::Relaxed)),
                Err(v) => cur = v,
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

#[cfg(test)]
mod tests {
    use super::*;
    use sipwire::CloseReason;

    #[test]
    fn the_log_budget_lets_n_through_per_second_and_tells_the_rest() {
        let b = LogBudget::new(3);
        assert_eq!(b.check_at(0), Some(0));
        assert_eq!(b.check_at(0), Some(0));
        assert_eq!(b.check_at(0), Some(0));
        assert_eq!(b.check_at(0), None);
        assert_eq!(b.check_at(0), None);
        assert_eq!(
            b.check_at(1),
            Some(2),
            "the next second tells what was held back"
        );
        assert_eq!(b.check_at(1), Some(0));
    }

    #[test]
    fn event_lines_name_the_connection_and_the_reason() {
        let mut ev = Event {
            reason: CloseReason::PeerClosed,
            conid: ConId(4294967296),
            proto: Proto::Tcp,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: "127.0.0.1:40000".parse().unwrap(),
            source: "127.0.0.1:40000".parse().unwrap(),
            unsent_msgs: 0,
            unsent_bytes: 0,
        };
        assert_eq!(
            event_line("tcp:closed", &ev, 0),
            "tcp:closed: conid 4294967296 (tcp) local 127.0.0.1:5060 remote 127.0.0.1:40000: \
             closed by peer"
        );
        ev.source = "192.0.2.7:5061".parse().unwrap();
        ev.unsent_msgs = 2;
        ev.unsent_bytes = 900;
        assert_eq!(
            event_line("tcp:reset", &ev, 4),
            "tcp:reset: conid 4294967296 (tcp) local 127.0.0.1:5060 remote 127.0.0.1:40000 \
             source 192.0.2.7:5061 (PROXY): closed by peer (2 messages, 900 bytes unsent) \
             (4 close events not logged before this one)"
        );
    }
}
