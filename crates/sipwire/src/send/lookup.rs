//! Finding the connection a message goes to: `otcpid` first, then the id or the destination
//! (address or alias, and the local side as `tcp_connection_match` says), through the thread's
//! fd cache when `tcp_fd_cache` is on.
//!
//! The local side follows Kamailio's `tcp_send`: a send from a given local address
//! ([`Target::AddrFrom`], Kamailio's forced send socket) needs a connection with that local IP
//! (and, with `tcp_reuse_port`, that port, since new connections bind it). With
//! `tcp_connection_match = 1` the lookup first tries the local *port* too — the forced
//! socket's, or for a plain [`Target::Addr`] the port of the first TCP listener of the
//! destination's family (Kamailio's default send socket) — and falls back to the above when no
//! such connection is open. So strict matching prefers the connection a peer opened to our
//! listener (or one sent from the listener's port) over one we opened from an ephemeral port.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::Config;
use crate::conn::{ConId, Conn};
use crate::conn_table::{LocalMatch, Plan};
use crate::fdcache::ThreadCache;
use crate::shared::Shared;
use crate::stats::bump;

use super::Target;

/// The open connection for `target` (or `otcpid`), if there is one.
pub(super) fn lookup(
    shared: &Shared,
    cache: &mut ThreadCache,
    cfg: &Config,
    target: Target,
    otcpid: Option<ConId>,
) -> Option<Arc<Conn>> {
    let use_cache = cfg.tcp.fd_cache;
    let by_id = |cache: &mut ThreadCache, id: ConId| {
        if use_cache {
            if let Some(c) = cache.by_id(id) {
                return Some(c);
            }
        }
        bump(&shared.stats.table_lookups);
        let c = shared
            .table
            .get(id)
            .filter(|c| c.close_reason().is_none())?;
        if use_cache {
            cache.remember(None, &c);
        }
        Some(c)
    };
    // tcp_set_otcpid with the flag set pins the message to that connection while it is open,
    // whatever the destination says (the reference's caveat).
    if let Some(c) = otcpid.and_then(|id| by_id(cache, id)) {
        return Some(c);
    }
    let (dst, local) = match target {
        Target::Conn(id) => return by_id(cache, id),
        Target::Sctp(_) => return None,
        Target::Addr(dst) => (dst, None),
        Target::AddrFrom { dst, local } => (dst, Some(local)),
    };
    let plan = plan(shared, cfg, dst, local);
    if use_cache {
        if let Some(c) = cache.by_addr(&dst, plan.first.unwrap_or(plan.then)) {
            return Some(c);
        }
    }
    bump(&shared.stats.table_lookups);
    let c = shared.table.find(&dst, plan)?;
    if use_cache {
        cache.remember(Some(dst), &c);
    }
    Some(c)
}

/// Which local sides a send to `dst` (from `local`, when the target names one) accepts and
/// prefers; see the module doc.
pub(super) fn plan(
    shared: &Shared,
    cfg: &Config,
    dst: SocketAddr,
    local: Option<SocketAddr>,
) -> Plan {
    let then = match local {
        None => LocalMatch::ANY,
        Some(l) => LocalMatch {
            ip: Some(l.ip()).filter(|ip| !ip.is_unspecified()),
            port: Some(l.port()).filter(|&p| p != 0 && cfg.tcp.reuse_port),
        },
    };
    let try_port = match local {
        Some(l) => Some(l.port()),
        None => default_listener(shared, dst).map(|l| l.port()),
    }
    .filter(|&p| p != 0);
    let first = match (cfg.tcp.connection_match, then.port, try_port) {
        (true, None, Some(port)) => Some(LocalMatch {
            port: Some(port),
            ..then
        }),
        _ => None,
    };
    Plan { first, then }
}

/// The TCP listener Kamailio would send from by default: the first of the destination's
/// address family.
pub(super) fn default_listener(shared: &Shared, dst: SocketAddr) -> Option<SocketAddr> {
    shared
        .listen_addrs
        .iter()
        .find(|l| l.is_ipv4() == dst.is_ipv4())
        .copied()
}
