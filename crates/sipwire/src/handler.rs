//! The application boundary: what the runtime calls (`Handler`) and what it hands over
//! (`Message`, `Event`, `Ctx`).
//!
//! The shapes are C-friendly on purpose: a message is bytes plus plain fields, valid for the
//! duration of the call, so a C function pointer with a `void *` can implement `Handler` later
//! (issue: C ABI) without generics or lifetimes crossing the boundary.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::conn::{CloseReason, ConId, Conn, ConnState, Proto, ProxyInfo};
use crate::send::{SendError, Target};
use crate::transport::{TcpOpsError, Transport};

/// What a delivered message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A SIP message (or HTTP with `tcp_accept_no_cl`).
    Sip,
    /// A HEP3 packet (`tcp_accept_hep3`).
    Hep3,
}

/// One received message.
#[derive(Debug)]
pub struct Message<'a> {
    /// SIP or HEP3.
    pub kind: MessageKind,
    /// The message bytes: borrowed from the connection's read buffer, or an owned copy when
    /// `tcp_clone_rcvbuf = 1` (the application may keep it).
    pub bytes: Cow<'a, [u8]>,
    /// Offset of the body within `bytes` (SIP; 0 for HEP3). A chunked body
    /// (`Transfer-Encoding: chunked` with `tcp_accept_no_cl`) is delivered as it came and
    /// starts at its first chunk-size line; `sipwire_frame::sip::chunked_data` walks its data.
    pub body_start: usize,
    /// The connection it came in on.
    pub conid: ConId,
    /// Transport protocol.
    pub proto: Proto,
    /// The source the application should use: the PROXY-provided client when a PROXY header
    /// was read, the socket's peer otherwise.
    pub source: SocketAddr,
    /// The socket's peer address (the load balancer, behind PROXY).
    pub peer: SocketAddr,
    /// The local address the application should use: the PROXY-provided destination (the
    /// address the client connected to at the proxy) when a PROXY header was read, as
    /// Kamailio's `rcv.dst_ip`/`dst_port` (`$Ri`/`$Rp`); the socket's local address otherwise.
    pub local: SocketAddr,
    /// The listening socket's address, whatever a PROXY header said (for a connection this
    /// side opened, its local address): what actually reaches this process, for Via,
    /// Record-Route and routing back. Equal to `local` without a PROXY header.
    pub bound: SocketAddr,
    /// Number of reads the message took (`tcp_max_msg_chunks`).
    pub chunks: u32,
}

/// A failed `on_message`: the connection is closed unless `tcp_script_mode = 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError(pub String);

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HandlerError {}

/// A connection closed (Kamailio's `tcp:closed`, `tcp:reset`, `tcp:timeout` event routes, plus
/// closes sipwire decided, told apart by `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Why it closed; [`CloseReason::event_name`] gives the Kamailio route name.
    pub reason: CloseReason,
    /// The connection's id: gone from the table, except that inside this `on_event` call
    /// (and the `on_unsent` calls before it) `Transport::conid_state` still reports the state
    /// it closed in (-2 EOF, -3 error, -4 other), as Kamailio's event routes see it.
    pub conid: ConId,
    /// Transport protocol.
    pub proto: Proto,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address (the socket's peer).
    pub remote: SocketAddr,
    /// The PROXY-provided source, if any.
    pub source: SocketAddr,
    /// Messages still in the write queue that were never sent (reported, not silently lost).
    pub unsent_msgs: usize,
    /// Bytes of those messages.
    pub unsent_bytes: usize,
}

/// The application: Kamailio's routing script. Called on reader threads (`on_message`) and on
/// TCP main (`on_event`, at the final close of every connection), so it must be
/// `Send + Sync`, and it should return quickly.
pub trait Handler: Send + Sync + 'static {
    /// A complete message arrived.
    fn on_message(&self, ctx: &Ctx<'_>, msg: Message<'_>) -> Result<(), HandlerError>;

    /// A connection closed; gated by `closed_event` (0 never, 1 always, 2 only where
    /// `enable_closed_event` was called).
    fn on_event(&self, _event: &Event) {}

    /// A message a send accepted (returned `Ok` for) will never be completely written: called
    /// once per such message, with its whole bytes (even if some were written: a partly
    /// written message is handed out from its first byte), so the application can answer it
    /// (a stateless 503, say) instead of losing it silently.
    ///
    /// Called on TCP main at the final close of connection `conid`, just before its
    /// [`Event`], for each message still in its write queue (connect refused or timed out,
    /// send timeout, reset, queue full, ...) — whether or not the event is reported; and on
    /// the reader thread that ran a read pass, when that pass's corked batch for `conid` was
    /// dropped without being queued (its write failed, or the queue's limits refused it), as
    /// the pass ends. Never under a connection's lock: it may send (the connection `conid`
    /// itself is closing). The close event's `unsent_msgs` counts exactly these calls, except
    /// for a corked batch dropped after the close event was made (then handed out here, not
    /// counted there).
    fn on_unsent(&self, _transport: &Transport, _conid: ConId, _msg: &[u8]) {}
}

/// Calls [`Handler::on_unsent`], a panic counted as a handler error instead of killing the
/// calling thread.
pub(crate) fn call_on_unsent(
    handler: &dyn Handler,
    transport: &Transport,
    conid: ConId,
    msg: &[u8],
) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        handler.on_unsent(transport, conid, msg)
    }));
    if r.is_err() {
        crate::stats::bump(&transport.shared.stats.handler_errors);
        log::error!("conid {conid}: on_unsent panicked");
    }
}

/// The current connection inside `on_message`, with Kamailio's tcpops functions that default to
/// "the current message source connection".
pub struct Ctx<'a> {
    /// The TCP connection; `None` for a message on an SCTP association (`conid` names it).
    pub(crate) conn: Option<&'a Arc<Conn>>,
    conid: ConId,
    pub(crate) transport: &'a Transport,
    otcpid: Cell<Option<ConId>>,
    otcpid_flag: Cell<bool>,
    /// The message being handled (for defaults taken from it, such as the Via port).
    bytes: &'a [u8],
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(conn: &'a Arc<Conn>, transport: &'a Transport, bytes: &'a [u8]) -> Ctx<'a> {
        Ctx {
            conn: Some(conn),
            conid: conn.id,
            bytes,
            transport,
            otcpid: Cell::new(None),
            otcpid_flag: Cell::new(false),
        }
    }

    /// The context of a message on SCTP association `id`.
    pub(crate) fn sctp(id: ConId, transport: &'a Transport, bytes: &'a [u8]) -> Ctx<'a> {
        Ctx {
            conn: None,
            conid: id,
            bytes,
            transport,
            otcpid: Cell::new(None),
            otcpid_flag: Cell::new(false),
        }
    }

    /// `tcp_set_otcpid(conid)`: the outbound connection id to use for sends from this message
    /// while the flag is set.
    pub fn set_otcpid(&self, id: ConId) {
        self.otcpid.set(Some(id));
    }

    /// `tcp_set_otcpid_flag(mode)`: use (true) or ignore (false) the otcpid. While set, a send
    /// goes to that connection whatever its destination says — reset it after changing the
    /// destination, as the reference warns.
    pub fn set_otcpid_flag(&self, on: bool) {
        self.otcpid_flag.set(on);
    }

    /// Sends a message from inside `on_message`, honouring the otcpid when its flag is set.
    pub fn send(&self, target: impl Into<Target>, bytes: &[u8]) -> Result<ConId, SendError> {
        let pinned = self.otcpid.get().filter(|_| self.otcpid_flag.get());
        match pinned {
            Some(id) => self.transport.send_via(id, target, bytes),
            None => self.transport.send(target, bytes),
        }
    }

    /// Sends a reply on the connection the message came in on.
    pub fn reply(&self, bytes: &[u8]) -> Result<ConId, SendError> {
        self.transport.send(self.conid, bytes)
    }

    /// The current connection's id (`$conid`; an SCTP association's id for SCTP).
    pub fn conid(&self) -> ConId {
        self.conid
    }

    /// A handle for sends and tcpops on any connection.
    pub fn transport(&self) -> &Transport {
        self.transport
    }

    /// What the current connection's PROXY header announced (`tcp_accept_haproxy`): the
    /// client, the address it connected to, and a v2 header's TLVs (ALPN, authority, unique
    /// id, SSL); `None` without a PROXY header with addresses (and for SCTP).
    pub fn proxy(&self) -> Option<&'a ProxyInfo> {
        self.conn.and_then(|c| c.proxy.get()).map(|p| &**p)
    }

    /// `tcp_conid_state()` of the current connection (see [`Transport::conid_state`]): OK
    /// while a message is handled, unless a close was asked for meanwhile.
    pub fn conid_state(&self) -> ConnState {
        match self.conn {
            Some(c) => c.tcpops_state(),
            None => self.transport.conid_state(self.conid),
        }
    }

    /// `tcp_keepalive_enable(idle, count, interval)` on the current connection.
    pub fn keepalive_enable(
        &self,
        idle: u32,
        count: u32,
        interval: u32,
    ) -> Result<(), TcpOpsError> {
        self.transport
            .keepalive_enable(self.conid, idle, count, interval)
    }

    /// `tcp_keepalive_disable()` on the current connection.
    pub fn keepalive_disable(&self) -> Result<(), TcpOpsError> {
        self.transport.keepalive_disable(self.conid)
    }

    /// `tcp_set_connection_lifetime(lifetime)` on the current connection, in seconds.
    pub fn set_connection_lifetime(&self, secs: u64) -> Result<(), TcpOpsError> {
        self.transport.set_connection_lifetime(self.conid, secs)
    }

    /// `tcp_enable_closed_event()` on the current connection.
    pub fn enable_closed_event(&self) -> Result<(), TcpOpsError> {
        self.transport.enable_closed_event(self.conid)
    }

    /// `tcp_close_connection()` of the current connection (after `on_message` returns).
    pub fn close_connection(&self) -> Result<(), TcpOpsError> {
        self.transport.close_connection(self.conid)
    }

    /// Kamailio's `force_tcp_alias([port])`: the current connection also answers to its source
    /// IP with `port`, or without one with the sent-by port of the message's top Via (5060
    /// when it names none or cannot be read), as [`Transport::add_alias`]. TCP only.
    pub fn force_tcp_alias(&self, port: Option<u16>) -> Result<SocketAddr, TcpOpsError> {
        let port = port.unwrap_or_else(|| crate::inbound::via_port(self.bytes));
        self.transport.add_alias(self.conid, port)
    }
}
