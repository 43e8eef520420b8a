//! What an inbound message or header changes on its connection: the PROXY-announced source,
//! and the alias a Via `alias` parameter asks for (`tcp_accept_aliases`).

use std::sync::atomic::Ordering;

use sipwire_frame::{ProxyAddresses, ProxyHeader, ProxyTlvArea};

use crate::conn::{Conn, ProxyInfo};
use crate::shared::Shared;
use crate::stats::bump;

/// The PROXY header, whose bytes are `bytes`: from now on the connection's source is the
/// proxied client and its local address (as messages report it) the address that client
/// connected to; a v2 header's TLVs are kept with them (a copy of the header's TLV bytes,
/// only when there are some).
pub(crate) fn on_proxy(conn: &Conn, h: ProxyHeader, bytes: &[u8]) {
    if let ProxyAddresses::Proxied {
        source,
        destination,
        ..
    } = h.addresses
    {
        let malformed = h.tlvs == ProxyTlvArea::Malformed;
        if malformed {
            log::debug!(
                "conid {}: PROXY v2 header from {} has malformed TLVs; ignored",
                conn.id,
                conn.peer
            );
        }
        let info = ProxyInfo::new(source, destination, h.tlvs(bytes).as_bytes(), malformed);
        let _ = conn.proxy.set(Box::new(info));
    }
    conn.proxy_done.store(true, Ordering::Release);
}

/// `tcp_accept_aliases`: a request whose top Via carries `alias` makes the connection answer
/// to (source IP, Via port) too.
pub(crate) fn add_via_alias(conn: &Conn, bytes: &[u8], shared: &Shared) {
    let Ok(msg) = sipwire_frame::SipMessage::parse(bytes) else {
        return;
    };
    if msg.method().is_none() {
        return;
    }
    let Some(Ok(via)) = msg.top_via() else { return };
    if !via.alias {
        return;
    }
    let addr = std::net::SocketAddr::new(conn.source().ip(), via.port.unwrap_or(SIP_PORT));
    if shared.table.add_alias(conn.id, addr) {
        bump(&shared.stats.aliases_added);
        log::debug!("conid {}: alias {addr} (Via alias)", conn.id);
    }
}

/// The default SIP port, for a Via without one.
const SIP_PORT: u16 = 5060;

/// The sent-by port of a request's or response's top Via: `force_tcp_alias`'s default port
/// (5060 when the Via names none, or when the message or its Via cannot be read).
pub(crate) fn via_port(bytes: &[u8]) -> u16 {
    sipwire_frame::SipMessage::parse(bytes)
        .ok()
        .and_then(|m| m.top_via())
        .and_then(Result::ok)
        .and_then(|v| v.port)
        .unwrap_or(SIP_PORT)
}
