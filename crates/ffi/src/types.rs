//! The plain C structs the API hands out — addresses, messages, events, unsent messages — and
//! their conversions from the runtime's Rust types.

use std::ffi::c_char;
use std::net::{IpAddr, SocketAddr};

use sipwire::{CloseReason, Event, Message, MessageKind, Proto};

/// No address (a field that does not apply).
pub const SIPWIRE_ADDR_NONE: u16 = 0;
/// An IPv4 address (`ip[0..4]`).
pub const SIPWIRE_ADDR_V4: u16 = 4;
/// An IPv6 address (`ip[0..16]`).
pub const SIPWIRE_ADDR_V6: u16 = 6;

/// An IP address and port, independent of the OS's `sockaddr` layout.
/// `sipwire_addr_to_sockaddr` and `sipwire_addr_format` convert it.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct sipwire_addr {
    /// `SIPWIRE_ADDR_V4`, `SIPWIRE_ADDR_V6` or `SIPWIRE_ADDR_NONE`.
    pub family: u16,
    /// Port, host byte order.
    pub port: u16,
    /// The address bytes, network order: 4 used for IPv4, 16 for IPv6.
    pub ip: [u8; 16],
}

impl sipwire_addr {
    /// The empty address.
    pub(crate) const NONE: sipwire_addr = sipwire_addr {
        family: SIPWIRE_ADDR_NONE,
        port: 0,
        ip: [0; 16],
    };

    /// The Rust address this one holds, if any.
    pub fn to_socket_addr(&self) -> Option<SocketAddr> {
        match self.family {
            SIPWIRE_ADDR_V4 => {
                let o = [self.ip[0], self.ip[1], self.ip[2], self.ip[3]];
                Some(SocketAddr::new(IpAddr::from(o), self.port))
            }
            SIPWIRE_ADDR_V6 => Some(SocketAddr::new(IpAddr::from(self.ip), self.port)),
            _ => None,
        }
    }
}

impl From<SocketAddr> for sipwire_addr {
    fn from(a: SocketAddr) -> Self {
        let mut ip = [0u8; 16];
        let family = match a.ip() {
            IpAddr::V4(v4) => {
                ip[..4].copy_from_slice(&v4.octets());
                SIPWIRE_ADDR_V4
            }
            IpAddr::V6(v6) => {
                ip = v6.octets();
                SIPWIRE_ADDR_V6
            }
        };
        sipwire_addr {
            family,
            port: a.port(),
            ip,
        }
    }
}

/// The transport protocol of a connection.
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sipwire_proto {
    /// SIP over TCP.
    SIPWIRE_PROTO_TCP = 1,
    /// SIP over SCTP: `conid` names an association.
    SIPWIRE_PROTO_SCTP = 2,
}

impl From<Proto> for sipwire_proto {
    fn from(p: Proto) -> Self {
        match p {
            Proto::Tcp => sipwire_proto::SIPWIRE_PROTO_TCP,
            Proto::Sctp => sipwire_proto::SIPWIRE_PROTO_SCTP,
        }
    }
}

/// What a received message is.
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sipwire_message_kind {
    /// A SIP message (or HTTP, with `tcp_accept_no_cl`).
    SIPWIRE_MESSAGE_SIP = 0,
    /// A HEP3 packet (`tcp_accept_hep3`).
    SIPWIRE_MESSAGE_HEP3 = 1,
}

/// One received message. `data` is borrowed: inside `on_message` for the duration of the
/// call, from `sipwire_next` until `sipwire_item_free`, from `sipwire_message_copy` until
/// `sipwire_message_free`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sipwire_message {
    /// The connection it came in on (Kamailio's `$conid`): never reused, never 0.
    pub conid: u64,
    /// SIP or HEP3.
    pub kind: sipwire_message_kind,
    /// Transport protocol.
    pub proto: sipwire_proto,
    /// The message bytes (not NUL-terminated).
    pub data: *const u8,
    /// Length of `data`.
    pub len: usize,
    /// Offset of the body within `data` (SIP; 0 for HEP3).
    pub body_start: usize,
    /// The source to use: the PROXY-announced client when a PROXY header was read, the
    /// socket's peer otherwise.
    pub source: sipwire_addr,
    /// The socket's peer (the load balancer, behind PROXY).
    pub peer: sipwire_addr,
    /// The local address to use: the PROXY-announced destination (the address the client
    /// connected to at the proxy, Kamailio's `$Ri`/`$Rp`) when a PROXY header was read, the
    /// address the connection was accepted on (or connected from) otherwise.
    pub local: sipwire_addr,
    /// The listening socket's address, whatever a PROXY header said (for a connection this
    /// side opened, its local address): equal to `local` without a PROXY header.
    pub bound: sipwire_addr,
    /// Reads the message took (`tcp_max_msg_chunks`).
    pub chunks: u32,
}

impl sipwire_message {
    /// The C view of `m`, whose bytes are `data` (the message's own or a copy of them).
    pub(crate) fn view(m: &Message<'_>, data: &[u8]) -> sipwire_message {
        sipwire_message {
            conid: m.conid.0,
            kind: match m.kind {
                MessageKind::Sip => sipwire_message_kind::SIPWIRE_MESSAGE_SIP,
                MessageKind::Hep3 => sipwire_message_kind::SIPWIRE_MESSAGE_HEP3,
            },
            proto: m.proto.into(),
            data: data.as_ptr(),
            len: data.len(),
            body_start: m.body_start,
            source: m.source.into(),
            peer: m.peer.into(),
            local: m.local.into(),
            bound: m.bound.into(),
            chunks: m.chunks,
        }
    }
}

/// Why a connection closed; the values of the runtime's close reasons.
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sipwire_close_reason {
    /// The peer closed (FIN): Kamailio's `tcp:closed`.
    SIPWIRE_CLOSE_PEER_CLOSED = 1,
    /// The peer reset the connection: `tcp:reset`.
    SIPWIRE_CLOSE_RESET = 2,
    /// Keepalive probes went unanswered: `tcp:timeout`.
    SIPWIRE_CLOSE_TIMEOUT = 3,
    /// The application closed it (`sipwire_tcp_close_connection`, `on_message` failed).
    SIPWIRE_CLOSE_APPLICATION = 4,
    /// Idle longer than `tcp_connection_lifetime`.
    SIPWIRE_CLOSE_LIFETIME = 5,
    /// No PROXY header within `tcp_wait_data`.
    SIPWIRE_CLOSE_WAIT_DATA = 6,
    /// Bytes that do not frame.
    SIPWIRE_CLOSE_PROTOCOL = 7,
    /// Another socket error.
    SIPWIRE_CLOSE_ERROR = 8,
    /// The runtime shut down.
    SIPWIRE_CLOSE_SHUTDOWN = 9,
    /// An outbound connect was refused.
    SIPWIRE_CLOSE_CONNECT_REFUSED = 10,
    /// An outbound connect timed out (`tcp_connect_timeout`).
    SIPWIRE_CLOSE_CONNECT_TIMEOUT = 11,
    /// An outbound connect failed otherwise.
    SIPWIRE_CLOSE_CONNECT_FAILED = 12,
    /// Queued data made no progress for `tcp_send_timeout`.
    SIPWIRE_CLOSE_SEND_TIMEOUT = 13,
    /// The write queue would have exceeded its limits: the peer is too slow.
    SIPWIRE_CLOSE_QUEUE_FULL = 14,
    /// A started message did not complete within `tcp_msg_read_timeout`.
    SIPWIRE_CLOSE_MSG_READ_TIMEOUT = 15,
    /// No complete message within `tcp_msg_data_timeout`.
    SIPWIRE_CLOSE_MSG_DATA_TIMEOUT = 16,
}

impl From<CloseReason> for sipwire_close_reason {
    fn from(r: CloseReason) -> Self {
        use sipwire_close_reason::*;
        match r {
            CloseReason::PeerClosed => SIPWIRE_CLOSE_PEER_CLOSED,
            CloseReason::Reset => SIPWIRE_CLOSE_RESET,
            CloseReason::Timeout => SIPWIRE_CLOSE_TIMEOUT,
            CloseReason::Application => SIPWIRE_CLOSE_APPLICATION,
            CloseReason::Lifetime => SIPWIRE_CLOSE_LIFETIME,
            CloseReason::WaitData => SIPWIRE_CLOSE_WAIT_DATA,
            CloseReason::Protocol => SIPWIRE_CLOSE_PROTOCOL,
            CloseReason::Error => SIPWIRE_CLOSE_ERROR,
            CloseReason::Shutdown => SIPWIRE_CLOSE_SHUTDOWN,
            CloseReason::ConnectRefused => SIPWIRE_CLOSE_CONNECT_REFUSED,
            CloseReason::ConnectTimeout => SIPWIRE_CLOSE_CONNECT_TIMEOUT,
            CloseReason::ConnectFailed => SIPWIRE_CLOSE_CONNECT_FAILED,
            CloseReason::SendTimeout => SIPWIRE_CLOSE_SEND_TIMEOUT,
            CloseReason::QueueFull => SIPWIRE_CLOSE_QUEUE_FULL,
            CloseReason::MsgReadTimeout => SIPWIRE_CLOSE_MSG_READ_TIMEOUT,
            CloseReason::MsgDataTimeout => SIPWIRE_CLOSE_MSG_DATA_TIMEOUT,
        }
    }
}

/// A connection closed (Kamailio's `tcp:closed`, `tcp:reset`, `tcp:timeout` event routes,
/// plus the closes sipwire decided, told apart by `reason`). Gated by `closed_event`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sipwire_event {
    /// The connection's id (now stale: calls with it return "no such connection").
    pub conid: u64,
    /// Why it closed.
    pub reason: sipwire_close_reason,
    /// Kamailio's event route name ("tcp:closed", "tcp:reset", "tcp:timeout") for peer-side
    /// closes, NULL for closes sipwire decided. A static string.
    pub name: *const c_char,
    /// Transport protocol.
    pub proto: sipwire_proto,
    /// Local address.
    pub local: sipwire_addr,
    /// The socket's peer.
    pub remote: sipwire_addr,
    /// The PROXY-announced source, or the peer.
    pub source: sipwire_addr,
    /// Messages still queued that were never sent (each also reported as unsent).
    pub unsent_msgs: usize,
    /// Bytes of those messages.
    pub unsent_bytes: usize,
}

impl From<&Event> for sipwire_event {
    fn from(e: &Event) -> Self {
        let name: *const c_char = match e.reason {
            CloseReason::PeerClosed => c"tcp:closed".as_ptr(),
            CloseReason::Reset => c"tcp:reset".as_ptr(),
            CloseReason::Timeout => c"tcp:timeout".as_ptr(),
            _ => std::ptr::null(),
        };
        sipwire_event {
            conid: e.conid.0,
            reason: e.reason.into(),
            name,
            proto: e.proto.into(),
            local: e.local.into(),
            remote: e.remote.into(),
            source: e.source.into(),
            unsent_msgs: e.unsent_msgs,
            unsent_bytes: e.unsent_bytes,
        }
    }
}

/// A message a send accepted that will never be completely written (its connection closed
/// first), handed back whole so the application can answer it (a stateless 503, say).
/// `data` is borrowed like `sipwire_message.data`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sipwire_unsent {
    /// The connection it was queued on.
    pub conid: u64,
    /// The message bytes, from its first byte.
    pub data: *const u8,
    /// Length of `data`.
    pub len: usize,
}
