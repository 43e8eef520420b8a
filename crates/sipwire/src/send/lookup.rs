//! Finding the connection a message goes to: `otcpid` first, then the id or the destination
//! (address or alias, with `tcp_connection_match` the local address too), through the thread's
//! fd cache when `tcp_fd_cache` is on.

use std::sync::Arc;

use crate::config::Config;
use crate::conn::{ConId, Conn};
use crate::fdcache::ThreadCache;
use crate::shared::Shared;

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
    let local = local.filter(|_| cfg.tcp.connection_match);
    if use_cache {
        if let Some(c) = cache.by_addr(&dst, local) {
            return Some(c);
        }
    }
    let c = shared.table.find(&dst, local)?;
    if use_cache {
        cache.remember(Some(dst), &c);
    }
    Some(c)
}
