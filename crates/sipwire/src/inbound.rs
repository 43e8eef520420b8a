//! What an inbound message or header changes on its connection: the PROXY-announced source,
//! and the alias a Via `alias` parameter asks for (`tcp_accept_aliases`).

use std::sync::atomic::Ordering;

use sipwire_frame::{ProxyAddresses, ProxyHeader};

use crate::conn::{Conn, ProxyAddrs};
use crate::shared::Shared;
use crate::stats::bump;

/// The PROXY header: the connection's source is the proxied client from now on.
pub(crate) fn on_proxy(conn: &Conn, h: ProxyHeader) {
    if let ProxyAddresses::Proxied {
        source,
        destination,
        ..
    } = h.addresses
    {
        let _ = conn.proxy.set(Box::new(ProxyAddrs {
            source,
            destination,
        }));
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
    let addr = std::net::SocketAddr::new(conn.source().ip(), via.port.unwrap_or(5060));
    if shared.table.add_alias(conn.id, addr) {
        bump(&shared.stats.aliases_added);
        log::debug!("conid {}: alias {addr} (Via alias)", conn.id);
    }
}
