//! `core.*`: version, uptime, and the TCP summary, connection list and options.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::context::Ctx;
use super::error::RpcError;
use super::params::Params;
use super::tcp_methods::state_name;
use super::values::cfg_value;
use super::values::object;

pub(crate) fn version(_: &Ctx<'_>, _: &Params<'_>) -> Result<Value, RpcError> {
    Ok(json!({ "name": "sipwire", "version": env!("CARGO_PKG_VERSION") }))
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(crate) fn uptime(ctx: &Ctx<'_>, _: &Params<'_>) -> Result<Value, RpcError> {
    let up = ctx.transport.uptime();
    let now = SystemTime::now();
    let since = now.checked_sub(up).unwrap_or(UNIX_EPOCH);
    Ok(json!({
        "uptime": up.as_secs(),
        "up_since": unix_secs(since),
        "now": unix_secs(now),
    }))
}

fn listen_text(a: &SocketAddr) -> String {
    format!("tcp:{a}")
}

pub(crate) fn tcp_info(ctx: &Ctx<'_>, _: &Params<'_>) -> Result<Value, RpcError> {
    let t = ctx.transport;
    let cfg = t.config().snapshot();
    let listen: Vec<String> = t.listen_addrs().iter().map(listen_text).collect();
    Ok(json!({
        "readers": t.reader_count(),
        "max_connections": cfg.tcp.max_connections,
        "opened_connections": t.connection_count(),
        "write_queued_bytes": t.stats().queued_bytes,
        "wq_max": cfg.tcp.wq_max,
        "listen": listen,
    }))
}

/// Most connections one `core.tcp_list` answers; the next page starts after the last id.
pub(crate) const TCP_LIST_MAX: usize = 1000;

pub(crate) fn tcp_list(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let after = if p.is_empty() { 0 } else { p.u64(0)? };
    let limit = match p.get(1) {
        None => TCP_LIST_MAX,
        Some(v) => match p.u64(1).map(usize::try_from) {
            Ok(Ok(n)) if (1..=TCP_LIST_MAX).contains(&n) => n,
            _ => {
                return Err(RpcError::invalid_params(format!(
                    "param 2 (limit) of core.tcp_list must be 1..={TCP_LIST_MAX}, got {v}"
                )))
            }
        },
    };
    let t = ctx.transport;
    let mut ids = t.connection_ids();
    ids.retain(|id| id.0 > after);
    ids.sort();
    let list: Vec<Value> = ids
        .into_iter()
        // A connection that closed since the ids were read is simply not listed.
        .filter_map(|id| t.conn_info(id))
        .take(limit)
        .map(|c| {
            let (idle, cnt, intvl) = c.keepalive_params;
            json!({
                "id": c.conid.0,
                "type": "TCP",
                "state": c.state as i8,
                "state_name": state_name(c.state),
                "src_ip": c.source.ip().to_string(),
                "src_port": c.source.port(),
                "peer": c.peer.to_string(),
                "local": c.local.to_string(),
                "keepalive": c.keepalive,
                "keepidle": idle,
                "keepcnt": cnt,
                "keepintvl": intvl,
                "lifetime_override_s": c.lifetime_override.map(|d| d.as_secs()),
                "idle_ms": u64::try_from(c.idle_for.as_millis()).unwrap_or(u64::MAX),
            })
        })
        .collect();
    let mut list = list;
    // SCTP associations follow (their ids have the top bit set, so paging by id still works).
    if list.len() < limit {
        let left = limit - list.len();
        list.extend(sctp_entries(t, after).into_iter().take(left));
    }
    Ok(Value::from(list))
}

/// The tracked SCTP associations with an id above `after`, as `core.tcp_list` entries of
/// type `SCTP`, in id order.
fn sctp_entries(t: &sipwire::Transport, after: u64) -> Vec<Value> {
    let mut out: Vec<(u64, Value)> = Vec::new();
    for (i, ep) in t.sctp_endpoints().iter().enumerate() {
        let local = ep
            .local_addrs()
            .first()
            .map(|a| a.to_string())
            .unwrap_or_default();
        for a in ep.assocs() {
            let id = sipwire::ConId::sctp(i as u16, a.assoc).0;
            if id <= after {
                continue;
            }
            out.push((
                id,
                json!({
                    "id": id,
                    "type": "SCTP",
                    "assoc_id": a.assoc,
                    "state": 1,
                    "state_name": "ok",
                    "src_ip": a.peer.ip().to_string(),
                    "src_port": a.peer.port(),
                    "peer": a.peer.to_string(),
                    "local": local,
                    "idle_ms": u64::try_from(a.last.elapsed().as_millis()).unwrap_or(u64::MAX),
                }),
            ));
        }
    }
    out.sort_by_key(|(id, _)| *id);
    out.into_iter().map(|(_, v)| v).collect()
}

pub(crate) fn tcp_options(ctx: &Ctx<'_>, _: &Params<'_>) -> Result<Value, RpcError> {
    let entries = ctx.transport.config().snapshot().cfg_group("tcp");
    Ok(object(
        entries.iter().map(|e| (e.name, cfg_value(&e.value))),
    ))
}
