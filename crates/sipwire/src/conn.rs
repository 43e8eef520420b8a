//! Connections: the shared part every thread may see (`Conn`), its id, state and close reason.
//!
//! The read side (decoder and read buffer) is not here: it travels with ownership between TCP
//! main and the readers (see `docs/architecture.md`), so reading takes no lock.

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI8, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use sipwire_frame::{ProxySsl, ProxyTlvs};

use crate::wq::WriteQueue;

/// Aliases one connection may carry (`tcp_accept_aliases`, `add_alias`), besides its peer.
pub const MAX_ALIASES: usize = 4;

/// A generation-tagged connection id (Kamailio's `$conid`): the low 32 bits index the
/// connection table, the high 32 bits count reuses of that slot (31 bits: the top bit stays
/// clear), so a stale id never names a newer connection. Id 0 is never valid.
///
/// An SCTP association has an id in the same space, with the top bit set: bits 32..48 name
/// the endpoint (listen line), the low 32 bits the kernel's association id ([`ConId::sctp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConId(pub u64);

impl ConId {
    pub(crate) fn new(index: u32, generation: u32) -> ConId {
        ConId(u64::from(generation) << 32 | u64::from(index))
    }
    pub(crate) fn index(self) -> u32 {
        self.0 as u32
    }
    pub(crate) fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The id of association `assoc` of SCTP endpoint `endpoint`.
    pub fn sctp(endpoint: u16, assoc: i32) -> ConId {
        ConId(SCTP_BIT | u64::from(endpoint) << 32 | u64::from(assoc as u32))
    }

    /// Whether this id names an SCTP association.
    pub fn is_sctp(self) -> bool {
        self.0 & SCTP_BIT != 0
    }

    /// The endpoint and association of an SCTP id.
    pub fn sctp_parts(self) -> Option<(u16, i32)> {
        self.is_sctp()
            .then_some(((self.0 >> 32) as u16, self.0 as u32 as i32))
    }
}

/// The top bit of an SCTP association's [`ConId`].
const SCTP_BIT: u64 = 1 << 63;

impl fmt::Display for ConId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Transport protocol of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// SIP over TCP.
    Tcp,
    /// SIP over SCTP (RFC 4168): one message per SCTP message, on an association.
    Sctp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Sctp => "sctp",
        })
    }
}

/// The state `tcp_conid_state` reports, with Kamailio's exact values. The positive ones are
/// the states of an open connection (Kamailio's `S_CONN_OK`, `S_CONN_ACCEPT`,
/// `S_CONN_CONNECT`); the negative ones say why a connection is closing, from the moment that
/// is known until its final close (then it is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ConnState {
    /// 1: connection is OK.
    Ok = 1,
    /// 2: socket is accepting incoming connections: an accepted connection from its accept
    /// until its first read that returns data (Kamailio's `S_CONN_ACCEPT`).
    Accepting = 2,
    /// 3: socket is setting up an outgoing connection.
    Connecting = 3,
    /// -1: connection does not exist (or was closed).
    Gone = -1,
    /// -2: socket has reached EOF: the peer closed it (FIN), and the final close is on its way.
    Eof = -2,
    /// -3: a socket error occurred (a read or write failed, a connect failed); the connection
    /// will likely close.
    Error = -3,
    /// -4: socket is in an unknown bad state; the connection will likely close (any other
    /// close: asked for, timed out, protocol error, queue full, shutdown).
    Bad = -4,
}

impl ConnState {
    /// What `tcp_conid_alive` says: 1 for the positive states (as Kamailio: `state >= 1`).
    pub fn is_alive(self) -> bool {
        self as i8 >= 1
    }
}

impl ConnState {
    fn from_i8(v: i8) -> ConnState {
        match v {
            1 => ConnState::Ok,
            2 => ConnState::Accepting,
            3 => ConnState::Connecting,
            -1 => ConnState::Gone,
            -2 => ConnState::Eof,
            -3 => ConnState::Error,
            _ => ConnState::Bad,
        }
    }
}

/// Why a connection closed. The first three are what Kamailio's tcpops event routes report
/// (`tcp:closed`, `tcp:reset`, `tcp:timeout`); the others are closes sipwire itself decided,
/// reported distinctly so an application can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CloseReason {
    /// The peer closed normally (FIN): `tcp:closed`.
    PeerClosed = 1,
    /// The peer reset the connection (RST, `ECONNRESET`): `tcp:reset`.
    Reset = 2,
    /// Keepalive probes went unanswered (`ETIMEDOUT`): `tcp:timeout`.
    Timeout = 3,
    /// The application asked (`tcp_close_connection`, a failed `on_message`).
    Application = 4,
    /// Idle longer than `tcp_connection_lifetime` (or its per-connection override).
    Lifetime = 5,
    /// No PROXY header within `tcp_wait_data`.
    WaitData = 6,
    /// Bytes that do not frame (bad SIP, PROXY, HEP3, oversize message, too many chunks).
    Protocol = 7,
    /// Another socket error.
    Error = 8,
    /// The runtime is shutting down.
    Shutdown = 9,
    /// An outbound connect was refused (`ECONNREFUSED`).
    ConnectRefused = 10,
    /// An outbound connect did not complete within `tcp_connect_timeout`.
    ConnectTimeout = 11,
    /// An outbound connect failed otherwise.
    ConnectFailed = 12,
    /// Queued data made no progress for `tcp_send_timeout` (or a blocking send timed out).
    SendTimeout = 13,
    /// A send would have exceeded `tcp_conn_wq_max`, `tcp_wq_max` or
    /// `tcp_async_max_postponed_chunks`: the peer is too slow.
    QueueFull = 14,
    /// A message started but did not complete within `tcp_msg_read_timeout`.
    MsgReadTimeout = 15,
    /// An accepted connection sent no complete message within `tcp_msg_data_timeout`.
    MsgDataTimeout = 16,
}

impl CloseReason {
    /// The Kamailio event route name for peer-side closes; `None` for closes sipwire decided.
    pub fn event_name(self) -> Option<&'static str> {
        match self {
            CloseReason::PeerClosed => Some("tcp:closed"),
            CloseReason::Reset => Some("tcp:reset"),
            CloseReason::Timeout => Some("tcp:timeout"),
            _ => None,
        }
    }

    /// The close a failed read or write means: `ECONNRESET`/`EPIPE` is `tcp:reset`,
    /// `ETIMEDOUT`/`EHOSTUNREACH` (the kernel gave up on unanswered keepalive probes or
    /// retransmissions) is `tcp:timeout`, anything else a socket error.
    pub(crate) fn from_io_error(e: &io::Error) -> CloseReason {
        match e.raw_os_error() {
            Some(libc::ECONNRESET) | Some(libc::EPIPE) => CloseReason::Reset,
            Some(libc::ETIMEDOUT) | Some(libc::EHOSTUNREACH) => CloseReason::Timeout,
            _ => CloseReason::Error,
        }
    }

    /// The `tcp_conid_state` of a connection closing for this reason: EOF (-2) for the peer's
    /// FIN, error (-3) for a failed read, write or connect, bad (-4) for every other close.
    pub(crate) fn closing_state(self) -> ConnState {
        match self {
            CloseReason::PeerClosed => ConnState::Eof,
            CloseReason::Reset
            | CloseReason::Timeout
            | CloseReason::Error
            | CloseReason::ConnectRefused
            | CloseReason::ConnectTimeout
            | CloseReason::ConnectFailed => ConnState::Error,
            _ => ConnState::Bad,
        }
    }

    /// The close a failed outbound connect means: refused, or failed otherwise.
    pub(crate) fn from_connect_error(e: &io::Error) -> CloseReason {
        if e.raw_os_error() == Some(libc::ECONNREFUSED) {
            CloseReason::ConnectRefused
        } else {
            CloseReason::ConnectFailed
        }
    }

    fn from_u8(v: u8) -> Option<CloseReason> {
        Some(match v {
            1 => CloseReason::PeerClosed,
            2 => CloseReason::Reset,
            3 => CloseReason::Timeout,
            4 => CloseReason::Application,
            5 => CloseReason::Lifetime,
            6 => CloseReason::WaitData,
            7 => CloseReason::Protocol,
            8 => CloseReason::Error,
            9 => CloseReason::Shutdown,
            10 => CloseReason::ConnectRefused,
            11 => CloseReason::ConnectTimeout,
            12 => CloseReason::ConnectFailed,
            13 => CloseReason::SendTimeout,
            14 => CloseReason::QueueFull,
            15 => CloseReason::MsgReadTimeout,
            16 => CloseReason::MsgDataTimeout,
            _ => return None,
        })
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseReason::PeerClosed => "closed by peer",
            CloseReason::Reset => "reset by peer",
            CloseReason::Timeout => "keepalive timeout",
            CloseReason::Application => "closed by the application",
            CloseReason::Lifetime => "connection lifetime expired",
            CloseReason::WaitData => "no PROXY header within tcp_wait_data",
            CloseReason::Protocol => "protocol error",
            CloseReason::Error => "socket error",
            CloseReason::Shutdown => "runtime shutdown",
            CloseReason::ConnectRefused => "connection refused",
            CloseReason::ConnectTimeout => "connect timed out (tcp_connect_timeout)",
            CloseReason::ConnectFailed => "connect failed",
            CloseReason::SendTimeout => "send timed out (tcp_send_timeout)",
            CloseReason::QueueFull => "write queue full: peer too slow",
            CloseReason::MsgReadTimeout => "message not complete within tcp_msg_read_timeout",
            CloseReason::MsgDataTimeout => "no message within tcp_msg_data_timeout",
        })
    }
}

/// Addresses a PROXY header announced for a connection (see [`ProxyInfo::addrs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyAddrs {
    /// The original client.
    pub source: SocketAddr,
    /// The address the client connected to at the proxy.
    pub destination: SocketAddr,
}

/// What a PROXY header (`tcp_accept_haproxy`) announced for a connection: the client and the
/// address it connected to, and the TLVs of a v2 header (ALPN, authority, unique id, SSL, any
/// other type), kept as the header carried them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyInfo {
    /// The original client: the source messages report ([`crate::Message::source`]).
    pub source: SocketAddr,
    /// The address the client connected to at the proxy: the local address messages report
    /// ([`crate::Message::local`]), as Kamailio's `$Ri`/`$Rp`.
    pub destination: SocketAddr,
    /// The v2 TLV bytes, when the header had well-formed TLVs (never for v1).
    tlvs: Option<Arc<[u8]>>,
    /// The v2 header had bytes after its addresses that are not whole TLVs (ignored).
    tlvs_malformed: bool,
}

impl ProxyInfo {
    /// Addresses plus `tlvs` (the header's well-formed TLV bytes; copied when not empty).
    pub(crate) fn new(
        source: SocketAddr,
        destination: SocketAddr,
        tlvs: &[u8],
        tlvs_malformed: bool,
    ) -> ProxyInfo {
        ProxyInfo {
            source,
            destination,
            tlvs: (!tlvs.is_empty()).then(|| Arc::from(tlvs)),
            tlvs_malformed,
        }
    }

    /// The two addresses.
    pub fn addrs(&self) -> ProxyAddrs {
        ProxyAddrs {
            source: self.source,
            destination: self.destination,
        }
    }

    /// The v2 header's TLVs (empty for v1, for a header without TLVs and for malformed ones).
    /// Lookups return the first TLV of a type; unknown types are there too.
    pub fn tlvs(&self) -> ProxyTlvs<'_> {
        self.tlvs
            .as_deref()
            .map_or_else(ProxyTlvs::default, ProxyTlvs::new)
    }

    /// True when the v2 header had bytes after its addresses that are not whole TLVs: they
    /// were ignored (as Kamailio ignores all TLVs) and [`ProxyInfo::tlvs`] is empty. An
    /// application that wants such connections refused can close them.
    pub fn tlvs_malformed(&self) -> bool {
        self.tlvs_malformed
    }

    /// `PP2_TYPE_ALPN`: the application protocol the client negotiated (e.g. `h2`, `sip`).
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tlvs().alpn()
    }

    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI).
    pub fn authority(&self) -> Option<&[u8]> {
        self.tlvs().authority()
    }

    /// `PP2_TYPE_UNIQUE_ID`: the proxy's id for the connection.
    pub fn unique_id(&self) -> Option<&[u8]> {
        self.tlvs().unique_id()
    }

    /// `PP2_TYPE_SSL`: the client's TLS as the proxy saw it ([`ProxySsl::client_tls`], its
    /// `verify` field, [`ProxySsl::version`]); `None` without one or when it is malformed.
    pub fn ssl(&self) -> Option<ProxySsl<'_>> {
        self.tlvs().ssl()
    }
}

/// The shared part of a connection: anything any thread may read or ask for.
#[derive(Debug)]
pub(crate) struct Conn {
    pub id: ConId,
    pub proto: Proto,
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// Set once when a PROXY header with addresses was read (boxed: most connections have
    /// none).
    pub proxy: OnceLock<Box<ProxyInfo>>,
    state: AtomicI8,
    close_reason: AtomicU8,
    /// Per-connection lifetime override in ms (`u64::MAX` = use the configured lifetime).
    lifetime_ms: AtomicU64,
    /// Last traffic in either direction, ms since the runtime's epoch.
    last_activity_ms: AtomicU64,
    /// `tcp_enable_closed_event` was called (matters in `closed_event = 2`).
    pub closed_event: AtomicBool,
    /// The PROXY header (any kind, including LOCAL/UNKNOWN) has been read.
    pub proxy_done: AtomicBool,
    /// We opened it (a send connected), rather than accepted it.
    pub outbound: bool,
    /// When the message now being read started (ms since the epoch, plus 1); 0 = none.
    /// Written by the reader, read by TCP main's `tcp_msg_read_timeout` check.
    msg_started: AtomicU64,
    /// A complete SIP or HEP3 message arrived (`tcp_msg_data_timeout`; keepalives do not count).
    pub got_message: AtomicBool,
    /// Async write queue; also the lock that keeps messages from several senders whole.
    pub write: Mutex<WriteQueue>,
    /// Extra addresses this connection answers to (guarded by the table's lock for changes).
    pub aliases: Mutex<Vec<SocketAddr>>,
}

impl Conn {
    /// An accepted connection (state `Accepting` until its first read returns data).
    pub fn new(
        id: ConId,
        stream: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        now_ms: u64,
    ) -> Conn {
        Conn {
            id,
            proto: Proto::Tcp,
            stream,
            peer,
            local,
            proxy: OnceLock::new(),
            state: AtomicI8::new(ConnState::Accepting as i8),
            close_reason: AtomicU8::new(0),
            lifetime_ms: AtomicU64::new(u64::MAX),
            last_activity_ms: AtomicU64::new(now_ms),
            closed_event: AtomicBool::new(false),
            proxy_done: AtomicBool::new(false),
            outbound: false,
            msg_started: AtomicU64::new(0),
            got_message: AtomicBool::new(false),
            write: Mutex::new(WriteQueue::default()),
            aliases: Mutex::new(Vec::new()),
        }
    }

    /// A connection we are opening to `peer` (state `Connecting`).
    pub fn new_outbound(
        id: ConId,
        stream: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        now_ms: u64,
    ) -> Conn {
        let mut c = Conn::new(id, stream, peer, local, now_ms);
        c.outbound = true;
        c.state = AtomicI8::new(ConnState::Connecting as i8);
        c
    }

    /// Where the open connection is: accepting, connecting or OK (whether it is closing is
    /// its close reason; see [`Conn::tcpops_state`]).
    pub fn state(&self) -> ConnState {
        ConnState::from_i8(self.state.load(Ordering::Acquire))
    }

    pub fn set_state(&self, s: ConnState) {
        self.state.store(s as i8, Ordering::Release);
    }

    /// A read returned data: an accepted connection is established now (accepting → OK, as
    /// Kamailio's `tcp_read_data` does on its first successful read).
    pub fn read_data(&self) {
        if self.state.load(Ordering::Relaxed) == ConnState::Accepting as i8 {
            let _ = self.state.compare_exchange(
                ConnState::Accepting as i8,
                ConnState::Ok as i8,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    /// The state `tcp_conid_state` reports while the connection is in the table: once a close
    /// reason is known (EOF read, a read or write error, a close asked for), the state that
    /// reason means, until the final close removes it; before that, [`Conn::state`].
    pub fn tcpops_state(&self) -> ConnState {
        match self.close_reason() {
            Some(r) => r.closing_state(),
            None => self.state(),
        }
    }

    /// The message source the application sees: the PROXY-provided one when present.
    pub fn source(&self) -> SocketAddr {
        self.proxy.get().map_or(self.peer, |p| p.source)
    }

    /// The local address the application sees: the PROXY-provided destination when present
    /// (Kamailio's `rcv.dst_ip`/`dst_port`), the socket's local address otherwise.
    pub fn destination(&self) -> SocketAddr {
        self.proxy.get().map_or(self.local, |p| p.destination)
    }

    /// Records why the connection is closing; the first reason wins. Returns true if this call
    /// set it.
    pub fn set_close_reason(&self, r: CloseReason) -> bool {
        self.close_reason
            .compare_exchange(0, r as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        CloseReason::from_u8(self.close_reason.load(Ordering::Acquire))
    }

    /// Asks for the connection to close from any thread: records the reason and shuts the
    /// socket down, which makes whichever thread owns the read side see EOF and hand the
    /// connection to TCP main for the final close.
    pub fn request_close(&self, r: CloseReason) -> bool {
        let first = self.set_close_reason(r);
        if first {
            // An error means the socket is already shut down or broken: nothing to add.
            let _ = self.stream.shutdown(Shutdown::Both);
        }
        first
    }

    pub fn touch(&self, now_ms: u64) {
        self.last_activity_ms.store(now_ms, Ordering::Relaxed);
    }

    pub fn last_activity_ms(&self) -> u64 {
        self.last_activity_ms.load(Ordering::Relaxed)
    }

    /// When the message in progress started, if one is.
    pub fn msg_started_ms(&self) -> Option<u64> {
        self.msg_started.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Records that a message started at `at_ms` (`None`: no message in progress).
    pub fn set_msg_started_ms(&self, at_ms: Option<u64>) {
        let v = at_ms.map_or(0, |t| t.saturating_add(1));
        if self.msg_started.load(Ordering::Relaxed) != v {
            self.msg_started.store(v, Ordering::Relaxed);
        }
    }

    pub fn set_lifetime_ms(&self, ms: u64) {
        self.lifetime_ms.store(ms, Ordering::Relaxed);
    }

    /// The lifetime override, if any.
    pub fn lifetime_override_ms(&self) -> Option<u64> {
        match self.lifetime_ms.load(Ordering::Relaxed) {
            u64::MAX => None,
            v => Some(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_kamailio_events() {
        let e = |code| io::Error::from_raw_os_error(code);
        assert_eq!(
            CloseReason::from_io_error(&e(libc::ECONNRESET)),
            CloseReason::Reset
        );
        assert_eq!(
            CloseReason::from_io_error(&e(libc::EPIPE)),
            CloseReason::Reset
        );
        assert_eq!(
            CloseReason::from_io_error(&e(libc::ETIMEDOUT)),
            CloseReason::Timeout
        );
        assert_eq!(
            CloseReason::from_io_error(&e(libc::EIO)),
            CloseReason::Error
        );
        assert_eq!(CloseReason::Reset.event_name(), Some("tcp:reset"));
        assert_eq!(CloseReason::Timeout.event_name(), Some("tcp:timeout"));
        assert_eq!(CloseReason::PeerClosed.event_name(), Some("tcp:closed"));
        assert_eq!(CloseReason::Lifetime.event_name(), None);
    }

    #[test]
    fn closing_states_follow_the_reason() {
        assert_eq!(CloseReason::PeerClosed.closing_state(), ConnState::Eof);
        for r in [
            CloseReason::Reset,
            CloseReason::Timeout,
            CloseReason::Error,
            CloseReason::ConnectRefused,
            CloseReason::ConnectTimeout,
            CloseReason::ConnectFailed,
        ] {
            assert_eq!(r.closing_state(), ConnState::Error, "{r:?}");
        }
        for r in [
            CloseReason::Application,
            CloseReason::Lifetime,
            CloseReason::WaitData,
            CloseReason::Protocol,
            CloseReason::Shutdown,
            CloseReason::SendTimeout,
            CloseReason::QueueFull,
            CloseReason::MsgReadTimeout,
            CloseReason::MsgDataTimeout,
        ] {
            assert_eq!(r.closing_state(), ConnState::Bad, "{r:?}");
        }
        let alive: Vec<i8> = [
            ConnState::Ok,
            ConnState::Accepting,
            ConnState::Connecting,
            ConnState::Gone,
            ConnState::Eof,
            ConnState::Error,
            ConnState::Bad,
        ]
        .into_iter()
        .filter(|s| s.is_alive())
        .map(|s| s as i8)
        .collect();
        assert_eq!(alive, [1, 2, 3]);
    }

    #[test]
    fn accepted_connection_is_accepting_until_its_first_read() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let s = TcpStream::connect(addr).unwrap();
        let c = Conn::new(ConId::new(1, 1), s, addr, addr, 0);
        assert_eq!(c.tcpops_state(), ConnState::Accepting);
        c.read_data();
        assert_eq!(c.tcpops_state(), ConnState::Ok);
        c.set_close_reason(CloseReason::PeerClosed);
        assert_eq!(c.tcpops_state(), ConnState::Eof, "never OK after EOF");
        let s = TcpStream::connect(addr).unwrap();
        let o = Conn::new_outbound(ConId::new(2, 1), s, addr, addr, 0);
        o.read_data();
        assert_eq!(
            o.tcpops_state(),
            ConnState::Connecting,
            "only accepting turns OK"
        );
        o.set_close_reason(CloseReason::ConnectRefused);
        assert_eq!(o.tcpops_state(), ConnState::Error);
    }

    #[test]
    fn connect_errors_tell_refused_from_the_rest() {
        let e = |code| io::Error::from_raw_os_error(code);
        assert_eq!(
            CloseReason::from_connect_error(&e(libc::ECONNREFUSED)),
            CloseReason::ConnectRefused
        );
        assert_eq!(
            CloseReason::from_connect_error(&e(libc::ENETUNREACH)),
            CloseReason::ConnectFailed
        );
    }
}
