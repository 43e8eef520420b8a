//! The stateless relay (RFC 3261 §16.11) as a pure function: message bytes plus where they
//! came from in, an [`Action`] out. No I/O happens here: host names go through the
//! [`Resolve`] trait (in the daemon the [`NameTable`] of configured names, refreshed off the
//! readers; a fake in tests); sending, replying and counting are the handler's job
//! (`crate::handler`).
//!
//! The outgoing message is built by splicing byte ranges of the original ([`edit::Edits`]):
//! only our Via, Max-Forwards, the previous hop's `received`/`rport`, our own Route value and
//! (for responses) our Via are touched; everything else, bodies included, is copied as is.
//! URI and parameter parsing is `sipwire_frame::sip`'s; the relay keeps only the rules.
//! The headers the rules read are found in one pass, and the edits and the outgoing message
//! are built in a [`Scratch`] the handler reuses per reader ([`Relay::process_in`]): the
//! steady path allocates nothing (`benches/tests/relay_alloc.rs` counts it).
//! The rules and the decisions behind them are in `docs/sipwired.md`.

mod allow;
mod edit;
pub mod hash;
pub mod mac;
mod names;
mod reply;
mod request;
mod response;
mod scratch;
mod stats;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use sipwire_frame::sip::{SipError, SipMessage, StartLine};

/// The transport a message leaves on: TCP, or SCTP (RFC 4168). The runtime's own enum.
pub use sipwire::Proto;

pub use allow::AllowList;
pub use mac::MacKey;
pub use names::{system_lookup, Entry, Lookup, NameTable, Refresher};
pub use scratch::Scratch;
pub use stats::RelayStats;

/// The runtime's open connections, as far as the relay needs them: the peer address of a
/// connection id (the runtime's `Transport::conn_peer`; a table in tests). A response's
/// `cid` is honoured only when its MAC verifies against this address.
pub trait Conns: fmt::Debug {
    /// The socket peer of open connection `conid`, or `None` when it is not open.
    fn peer(&self, conid: u64) -> Option<SocketAddr>;
}

/// No open connections (for callers without a runtime).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConns;

impl Conns for NoConns {
    fn peer(&self, _conid: u64) -> Option<SocketAddr> {
        None
    }
}

/// Name resolution for Request-URI, Route and `--forward` hosts that are not IP literals.
/// Called on a reader thread: it must not block (the daemon's [`NameTable`] only reads a
/// table).
pub trait Resolve: Send + Sync {
    /// One address for `host` (no brackets) and `port`, or `None`.
    fn resolve(&self, host: &str, port: u16) -> Option<SocketAddr>;
}

/// The system resolver (`getaddrinfo` through `ToSocketAddrs`): blocking, no SRV or NAPTR
/// (RFC 3263 is not implemented), first address wins. Not used by the daemon (a lookup
/// would block the reader); for embedders and benches that route by IP literals.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> Option<SocketAddr> {
        (host, port).to_socket_addrs().ok()?.next()
    }
}

/// Where a message came from and which addresses are ours.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The sender (PROXY-provided when there was a PROXY header): `received`/`rport` values.
    pub source: SocketAddr,
    /// The local address of the connection the message came in on.
    pub local: SocketAddr,
    /// The addresses the runtime listens on over TCP (ports resolved).
    pub listen: &'a [SocketAddr],
    /// The addresses of the runtime's SCTP endpoints (every endpoint's bound addresses, in
    /// endpoint order; ports resolved). Empty without `listen=sctp:` lines.
    pub sctp_listen: &'a [SocketAddr],
    /// Id of the connection the message came in on; written into our Via (`cid`) so the
    /// responses can go back over exactly that connection.
    pub conid: u64,
    /// The socket peer of that connection as the runtime sees it (not PROXY-provided): the
    /// `cid` MAC binds the id to it.
    pub peer: SocketAddr,
    /// Lookup of open connections, for the `cid` of responses.
    pub conns: &'a dyn Conns,
}

impl Context<'_> {
    /// The address written in our TCP Via: the local address the request came in on when
    /// that is a listening address; for a request that came in on a connection we opened
    /// (local port is ephemeral), or over another transport, the listening address on the
    /// same IP (or the first one), so responses come back to a port that accepts connections.
    pub fn via_addr(&self) -> SocketAddr {
        pick_via_addr(self.local, self.listen, |_| true)
    }

    /// The address written in our Via for a request leaving over `proto` to `to`: TCP as
    /// [`Context::via_addr`]; SCTP by the same rules among our SCTP endpoint addresses of
    /// `to`'s family (the runtime sends from the first endpoint of that family), or among all
    /// of them when none has that family (the send then fails: no endpoint reaches `to`).
    /// Without any SCTP endpoint the TCP rules apply (the send fails the same way).
    pub fn via_addr_for(&self, proto: Proto, to: SocketAddr) -> SocketAddr {
        match proto {
            Proto::Tcp => self.via_addr(),
            Proto::Sctp => {
                let to_v4 = canonical(to).is_ipv4();
                let of_family = |a: &SocketAddr| a.is_ipv4() == to_v4;
                let sctp = || self.sctp_listen.iter().map(|a| canonical(*a));
                if sctp().any(|a| of_family(&a)) {
                    pick_via_addr(self.local, self.sctp_listen, of_family)
                } else if !self.sctp_listen.is_empty() {
                    pick_via_addr(self.local, self.sctp_listen, |_| true)
                } else {
                    self.via_addr()
                }
            }
        }
    }

    /// True if `addr` (from a Route URI, a routing decision or a response's next hop) means
    /// us, over TCP or SCTP alike: one of our listening addresses or SCTP endpoint
    /// addresses; a wildcard listener's port on the connection's local IP or on loopback; a
    /// loopback IP with the port of a loopback listener (any `127.x` reaches the loopback
    /// interface); or an unspecified IP (`0.0.0.0`, `[::]`, which a connect turns into a
    /// local address). IPv4-mapped IPv6 counts as IPv4. The transport is not compared: an
    /// address:port we listen on with either transport is ours.
    pub fn is_own(&self, addr: SocketAddr) -> bool {
        let addr = canonical(addr);
        if addr.ip().is_unspecified() {
            return true;
        }
        let local_ip = canonical(self.local).ip();
        self.listen
            .iter()
            .chain(self.sctp_listen)
            .map(|a| canonical(*a))
            .any(|l| {
                l == addr
                    || (l.port() == addr.port()
                        && ((l.ip().is_unspecified()
                            && l.is_ipv4() == addr.is_ipv4()
                            && (addr.ip() == local_ip || addr.ip().is_loopback()))
                            || (l.ip().is_loopback() && addr.ip().is_loopback())))
            })
    }
}

/// The Via address rules of [`Context::via_addr`] over the listening addresses in `listen`
/// that `keep` (given canonical addresses) accepts.
fn pick_via_addr(
    local: SocketAddr,
    listen: &[SocketAddr],
    keep: impl Fn(&SocketAddr) -> bool,
) -> SocketAddr {
    let local = canonical(local);
    let same_family = |a: &SocketAddr| a.is_ipv4() == local.is_ipv4();
    let listen = || listen.iter().map(|a| canonical(*a)).filter(|a| keep(a));
    if listen().any(|l| l == local || (l.ip().is_unspecified() && l.port() == local.port())) {
        return local;
    }
    if let Some(l) = listen().find(|l| l.ip() == local.ip()) {
        return l;
    }
    if let Some(l) = listen().find(|l| l.ip().is_unspecified() && same_family(l)) {
        return SocketAddr::new(local.ip(), l.port());
    }
    listen().find(|l| !l.ip().is_unspecified()).unwrap_or(local)
}

/// IPv4-mapped IPv6 addresses as plain IPv4.
pub(crate) fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// Which way a forwarded message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A request, towards the callee.
    Request,
    /// A response, back along the Vias.
    Response,
}

/// What to do with one received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `bytes` to `to` over `proto` (an open connection or association to that
    /// address, or a new one).
    Forward {
        /// Destination.
        to: SocketAddr,
        /// The transport to `to`: for a request, `--forward`'s or the routing URI's
        /// `transport` parameter (`sctp`: SCTP; anything else: TCP); for a response, the
        /// next Via's transport (`SIP/2.0/SCTP`: SCTP; anything else: TCP).
        proto: Proto,
        /// The edited message.
        bytes: Vec<u8>,
        /// Request or response.
        direction: Direction,
        /// For responses: the connection (or SCTP association) the request came in on (the
        /// `cid` parameter of our Via). The handler sends over it while it is open, and to
        /// `to` over `proto` otherwise (RFC 3261 §18.2.2: the connection the request arrived
        /// on).
        via_conn: Option<u64>,
    },
    /// Send `bytes` back on the connection the request came in on (a stateless reply).
    Reply {
        /// Status code of the reply.
        status: u16,
        /// The reply.
        bytes: Vec<u8>,
    },
    /// Do nothing with it (the handler counts it).
    Drop {
        /// Why.
        reason: DropReason,
    },
}

/// [`Action`] with the forwarded bytes borrowed from the [`Scratch`] they were built in
/// ([`Relay::process_in`]): what the handler sends without a copy of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionRef<'s> {
    /// As [`Action::Forward`].
    Forward {
        /// Destination.
        to: SocketAddr,
        /// The transport to `to`.
        proto: Proto,
        /// The edited message (in the scratch buffers).
        bytes: &'s [u8],
        /// Request or response.
        direction: Direction,
        /// For responses: the connection the request came in on.
        via_conn: Option<u64>,
    },
    /// As [`Action::Reply`] (not the steady path: the reply is built in a buffer of its own).
    Reply {
        /// Status code of the reply.
        status: u16,
        /// The reply.
        bytes: Vec<u8>,
    },
    /// As [`Action::Drop`].
    Drop {
        /// Why.
        reason: DropReason,
    },
}

impl ActionRef<'_> {
    /// The owned [`Action`] (the forwarded bytes copied).
    pub fn into_owned(self) -> Action {
        match self {
            ActionRef::Forward {
                to,
                proto,
                bytes,
                direction,
                via_conn,
            } => Action::Forward {
                to,
                proto,
                bytes: bytes.to_vec(),
                direction,
                via_conn,
            },
            ActionRef::Reply { status, bytes } => Action::Reply { status, bytes },
            ActionRef::Drop { reason } => Action::Drop { reason },
        }
    }
}

/// Why a message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A response whose top Via is not ours.
    NotOurs,
    /// A request without Via, or a response with no Via left after ours.
    NoVia,
    /// A Via that does not parse (top Via of a request, top two of a response).
    BadVia,
    /// A SIP start line but a malformed header block.
    ParseError,
    /// A response whose next hop cannot be resolved (no longer produced: a response's next
    /// hop is the MAC-checked IP of its next Via, never a name).
    Unroutable,
    /// Not SIP/2.0 at all (no SIP start line): the handler closes the connection.
    NotSip,
    /// An ACK that cannot be forwarded (Max-Forwards 0, no route): ACKs get no reply.
    AckNotForwarded,
    /// A response with our branch marker whose MACs do not verify (forged, altered, or
    /// made with another key), or whose `cid` is missing or malformed.
    BadMac,
    /// A response whose next hop is this relay itself (it would loop through us).
    Loop,
    /// An ACK to a destination `--relay-allow` does not allow (other requests get a 403).
    Refused,
    /// A HEP3 packet (`tcp_accept_hep3`): sipwired does not relay HEP.
    Hep3,
}

impl DropReason {
    /// Short name, as in the counters (`dropped_<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NotOurs => "not_ours",
            DropReason::NoVia => "no_via",
            DropReason::BadVia => "bad_via",
            DropReason::ParseError => "parse_error",
            DropReason::Unroutable => "unroutable",
            DropReason::NotSip => "not_sip",
            DropReason::AckNotForwarded => "ack",
            DropReason::BadMac => "bad_mac",
            DropReason::Loop => "loop",
            DropReason::Refused => "refused",
            DropReason::Hep3 => "hep3",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::NotOurs => "response whose top Via is not ours",
            DropReason::NoVia => "no Via to route by",
            DropReason::BadVia => "malformed Via",
            DropReason::ParseError => "malformed message",
            DropReason::Unroutable => "response whose next hop cannot be resolved",
            DropReason::NotSip => "not a SIP/2.0 message",
            DropReason::AckNotForwarded => "ACK that cannot be forwarded",
            DropReason::BadMac => "response whose Via MAC does not verify",
            DropReason::Loop => "response whose next hop is ourselves",
            DropReason::Refused => "ACK to a destination not allowed",
            DropReason::Hep3 => "HEP3 packet",
        })
    }
}

/// The fixed next hop of `--forward`: an address, or a configured name looked up through
/// the relay's [`Resolve`] (the [`NameTable`] in the daemon). Its transport is set apart
/// ([`Relay::with_forward_proto`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    /// An IP literal and port.
    Addr(SocketAddr),
    /// A host name (lower case) and port.
    Name(String, u16),
}

/// The relay: the optional fixed next hop, the resolver, the MAC key of our Vias and the
/// destinations requests may go to.
#[derive(Debug, Clone)]
pub struct Relay<R = SystemResolver> {
    forward: Option<Forward>,
    forward_proto: Proto,
    resolver: R,
    key: MacKey,
    allow: AllowList,
}

impl<R: Resolve> Relay<R> {
    /// A relay sending every request to `forward` when set, else routing by Route and
    /// Request-URI to destinations allowed by [`Relay::with_allow`] (none by default). The
    /// MAC key is random ([`MacKey::random`]; see [`Relay::with_key`]).
    pub fn new(forward: Option<SocketAddr>, resolver: R) -> Self {
        Relay {
            forward: forward.map(Forward::Addr),
            forward_proto: Proto::Tcp,
            resolver,
            key: MacKey::random().unwrap_or_else(|_| MacKey::from_random_state()),
            allow: AllowList::default(),
        }
    }

    /// The MAC key of our Vias (`--relay-secret`, or a random one per start).
    pub fn with_key(mut self, key: MacKey) -> Self {
        self.key = key;
        self
    }

    /// The destinations requests may be routed to without `--forward` (`--relay-allow`).
    pub fn with_allow(mut self, allow: AllowList) -> Self {
        self.allow = allow;
        self
    }

    /// The fixed next hop (`--forward`), replacing the one given to [`Relay::new`]; a name
    /// is looked up through the resolver for each request.
    pub fn with_forward(mut self, forward: Option<Forward>) -> Self {
        self.forward = forward;
        self
    }

    /// The transport to the fixed next hop (`--forward sctp:...`); TCP by default. Without
    /// a fixed next hop it is not used (the routing URI's `transport` decides).
    pub fn with_forward_proto(mut self, proto: Proto) -> Self {
        self.forward_proto = proto;
        self
    }

    /// The fixed next hop, if any.
    pub fn forward(&self) -> Option<&Forward> {
        self.forward.as_ref()
    }

    /// The transport to the fixed next hop.
    pub fn forward_proto(&self) -> Proto {
        self.forward_proto
    }

    pub(crate) fn key(&self) -> &MacKey {
        &self.key
    }

    pub(crate) fn allow(&self) -> &AllowList {
        &self.allow
    }

    /// Decides what to do with one message.
    pub fn process(&self, bytes: &[u8], ctx: &Context<'_>) -> Action {
        self.process_in(bytes, ctx, &mut Scratch::new())
            .into_owned()
    }

    /// [`Relay::process`] with the forwarded message built in `scratch` (reused from
    /// message to message, it makes the steady path allocation-free); the same decisions
    /// and bytes.
    pub fn process_in<'s>(
        &self,
        bytes: &[u8],
        ctx: &Context<'_>,
        scratch: &'s mut Scratch,
    ) -> ActionRef<'s> {
        let msg = match SipMessage::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                return ActionRef::Drop {
                    reason: classify(e),
                }
            }
        };
        match msg.start_line() {
            StartLine::Request { version, .. } | StartLine::Response { version, .. }
                if !version.eq_ignore_ascii_case(b"SIP/2.0") =>
            {
                ActionRef::Drop {
                    reason: DropReason::NotSip,
                }
            }
            StartLine::Request { .. } => request::process(self, &msg, ctx, scratch),
            StartLine::Response { .. } => response::process(self, &msg, ctx, scratch),
        }
    }

    /// A stateless error reply to `bytes` if it is a request other than ACK (the handler
    /// sends `503` this way when forwarding fails).
    pub fn error_reply(&self, bytes: &[u8], status: u16, reason: &str) -> Option<Vec<u8>> {
        let msg = SipMessage::parse(bytes).ok()?;
        match msg.method() {
            Some(m) if m != b"ACK" => Some(reply::stateless_reply(&msg, status, reason)),
            _ => None,
        }
    }

    /// A message the relay sent on that the runtime handed back unsent
    /// (`Handler::on_unsent`): for a request with our top Via (branch MAC verified), the
    /// stateless `status` reply built from it with our Via removed, and the client connection
    /// its `cid` names — only if that connection is open and the cid MAC verifies for its
    /// peer. See [`Unsent`].
    pub fn unsent(&self, bytes: &[u8], conns: &dyn Conns, status: u16, reason: &str) -> Unsent {
        let Ok(msg) = SipMessage::parse(bytes) else {
            return Unsent::NotOurs;
        };
        if !matches!(msg.start_line(), StartLine::Request { .. }) {
            return Unsent::Response;
        }
        let Ok(via) = response::our_top_via(self, &msg, conns) else {
            return Unsent::NotOurs;
        };
        let Some(client) = via.via_conn else {
            return Unsent::ClientGone;
        };
        let mut edits = edit::Edits::default();
        edits.remove(via.removal);
        let Some(theirs) = edits.apply(bytes) else {
            return Unsent::NotOurs;
        };
        match self.error_reply(&theirs, status, reason) {
            Some(reply) => Unsent::Reply { client, reply },
            None => Unsent::Ack,
        }
    }

    /// Host (IP literal or name) and port to an address (a name through the resolver).
    fn resolve(&self, host: &[u8], port: u16) -> Option<SocketAddr> {
        let host = std::str::from_utf8(host).ok()?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Some(SocketAddr::new(ip, port));
        }
        self.resolver.resolve(bare, port)
    }
}

/// What [`Relay::unsent`] made of a message handed back unsent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsent {
    /// A request we forwarded: send `reply` on connection `client`.
    Reply {
        /// The client connection (its cid MAC verified).
        client: u64,
        /// The stateless reply.
        reply: Vec<u8>,
    },
    /// An ACK we forwarded (ACKs get no reply).
    Ack,
    /// A request we forwarded whose client connection is gone (or the cid does not verify
    /// for it): no one to answer.
    ClientGone,
    /// A response (nothing to answer).
    Response,
    /// Not a request with our verified Via on top.
    NotOurs,
}

/// An IP literal (IPv6 with or without brackets) to an address; `None` for a name.
pub(crate) fn ip_literal(host: &[u8]) -> Option<IpAddr> {
    let host = std::str::from_utf8(host).ok()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok()
}

fn classify(e: SipError) -> DropReason {
    match e {
        SipError::NoEndOfHeaders | SipError::BadStartLine | SipError::BadStatusCode => {
            DropReason::NotSip
        }
        SipError::BadHeaderLine { .. } => DropReason::ParseError,
        SipError::ViaBadProtocol { .. }
        | SipError::ViaBadHost { .. }
        | SipError::ViaBadPort { .. }
        | SipError::ViaBadParam { .. } => DropReason::BadVia,
    }
}

/// The line terminator the message uses (CRLF, or LF for a bare-LF message), for the lines
/// we insert.
pub(crate) fn eol(msg: &SipMessage<'_>) -> &'static [u8] {
    let start = msg.headers_start();
    if start >= 2 && msg.bytes().get(start - 2) == Some(&b'\r') {
        b"\r\n"
    } else {
        b"\n"
    }
}
