//! `sctp.*`: Kamailio's SCTP RPC methods, with its field names — `sctp.info` (association
//! counts) and `sctp.options` (the 19 options as configured, or as one socket has them).

use std::net::SocketAddr;

use serde_json::{json, Map, Value};
use sipwire::config::ConfigValue;
use sipwire_sys::sctp;

use super::context::Ctx;
use super::error::RpcError;
use super::params::Params;

/// The options in Kamailio's order, as `(field, cfg name in group sctp)`.
const OPTIONS: [(&str, &str); 19] = [
    ("sctp_socket_rcvbuf", "socket_rcvbuf"),
    ("sctp_socket_sndbuf", "socket_sndbuf"),
    ("sctp_autoclose", "autoclose"),
    ("sctp_send_ttl", "send_ttl"),
    ("sctp_send_retries", "send_retries"),
    ("sctp_assoc_tracking", "assoc_tracking"),
    ("sctp_assoc_reuse", "assoc_reuse"),
    ("sctp_max_assocs", "max_assocs"),
    ("sctp_srto_initial", "srto_initial"),
    ("sctp_srto_max", "srto_max"),
    ("sctp_srto_min", "srto_min"),
    ("sctp_asocmaxrxt", "asocmaxrxt"),
    ("sctp_init_max_attempts", "init_max_attempts"),
    ("sctp_init_max_timeo", "init_max_timeo"),
    ("sctp_hbinterval", "hbinterval"),
    ("sctp_pathmaxrxt", "pathmaxrxt"),
    ("sctp_sack_delay", "sack_delay"),
    ("sctp_sack_freq", "sack_freq"),
    ("sctp_max_burst", "max_burst"),
];

/// Kamailio answers 500 "sctp support disabled" when SCTP is not in use.
fn disabled() -> RpcError {
    RpcError::new(500, "sctp support disabled")
}

/// `sctp.info`: `opened_connections` (associations up), `tracked_connections`,
/// `total_connections` (associations that ever came up).
pub(crate) fn info(ctx: &Ctx<'_>, _p: &Params<'_>) -> Result<Value, RpcError> {
    let eps = ctx.transport.sctp_endpoints();
    if eps.is_empty() {
        return Err(disabled());
    }
    let opened: usize = eps.iter().map(|e| e.live_assocs()).sum();
    let tracked: usize = eps.iter().map(|e| e.assocs().len()).sum();
    let total: u64 = eps
        .iter()
        .map(|e| e.stats.assoc_up.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    Ok(json!({
        "opened_connections": opened,
        "tracked_connections": tracked,
        "total_connections": total,
    }))
}

/// `sctp.options [default|first|address[:port]]`: without a parameter the options as
/// configured now (Kamailio's values and units); with one, the values the kernel has on
/// that endpoint's socket, 0 for the options that are not socket options.
pub(crate) fn options(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let eps = ctx.transport.sctp_endpoints();
    if eps.is_empty() {
        return Err(disabled());
    }
    if p.is_empty() {
        let mut m = Map::new();
        for (field, name) in OPTIONS {
            let v = match ctx.transport.config().get("sctp", name) {
                Some(ConfigValue::Int(i)) => Value::from(i),
                Some(ConfigValue::Str(s)) => Value::from(s),
                None => Value::Null,
            };
            m.insert(field.to_string(), v);
        }
        return Ok(Value::Object(m));
    }
    let which = p.string(0)?;
    let ep = match which.to_ascii_lowercase().as_str() {
        "default" | "first" => &eps[0],
        _ => {
            let want = which.strip_prefix("sctp:").unwrap_or(&which);
            let matches = |a: &SocketAddr| {
                want.parse::<SocketAddr>().is_ok_and(|w| w == *a)
                    || want
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip == a.ip())
            };
            eps.iter()
                .find(|e| e.local_addrs().iter().any(matches))
                .ok_or_else(|| RpcError::new(500, format!("not listening on sctp {which}")))?
        }
    };
    let fd = ep.fd();
    let failed =
        |e: std::io::Error| RpcError::new(500, format!("failed to get socket options: {e}"));
    let rto = sctp::get_rtoinfo(fd, 0).map_err(failed)?;
    let init = sctp::get_initmsg(fd).map_err(failed)?;
    let pa = sctp::get_paddrparams(fd, 0).map_err(failed)?;
    let (sack_delay, sack_freq) = sctp::get_delayed_sack(fd, 0).unwrap_or((0, 0));
    let int = |level, name| i64::from(sipwire_sys::get_int_opt(fd, level, name).unwrap_or(0));
    let values: [i64; 19] = [
        int(libc::SOL_SOCKET, libc::SO_RCVBUF),
        int(libc::SOL_SOCKET, libc::SO_SNDBUF),
        i64::from(sctp::get_autoclose(fd).unwrap_or(0)),
        0,
        0,
        0,
        0,
        0,
        i64::from(rto.initial_ms),
        i64::from(rto.max_ms),
        i64::from(rto.min_ms),
        i64::from(sctp::get_asocmaxrxt(fd, 0).unwrap_or(0)),
        i64::from(init.max_attempts),
        i64::from(init.max_init_timeo_ms),
        if pa.hb_enabled {
            i64::from(pa.hbinterval_ms)
        } else {
            -1
        },
        i64::from(pa.pathmaxrxt),
        i64::from(sack_delay),
        i64::from(sack_freq),
        i64::from(sctp::get_max_burst(fd, 0).unwrap_or(0)),
    ];
    let mut m = Map::new();
    for ((field, _), v) in OPTIONS.iter().zip(values) {
        m.insert((*field).to_string(), Value::from(v));
    }
    Ok(Value::Object(m))
}
