//! `core.*` with Kamailio 5.6's shapes (`core_cmd.c`): version, uptime, the TCP summary and
//! options; `sipwire.info`, what sipwire adds to the summary. The connection list is in
//! [`tcp_list`], the counters (`stats.*`) in [`stats`].

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::context::Ctx;
use super::error::RpcError;
use super::params::Params;
use super::values::{ctime_utc, d, object};
use sipwire_config::ConfigValue;

pub(crate) mod stats;
pub(crate) mod tcp_list;

/// What Kamailio prints for `max_tls_connections` without TLS: its default
/// (`DEFAULT_TLS_MAX_CONNECTIONS`). sipwire has no TLS, so nothing can change it.
pub(crate) const TLS_MAX_CONNECTIONS: i32 = 2048;

/// Kamailio answers its `core.tcp_*` methods so when `disable_tcp` is set.
pub(crate) fn tcp_disabled(ctx: &Ctx<'_>) -> Result<(), RpcError> {
    if ctx.transport.config().snapshot().disable_tcp {
        Err(RpcError::new(500, "tcp support disabled"))
    } else {
        Ok(())
    }
}

/// `core.version`: `sipwire <version> (<arch>/<os>)`, as Kamailio's `kamailio 5.6.3
/// (x86_64/linux)`.
pub(crate) fn version(_: &Ctx<'_>, _: &Params<'_>) -> Result<Value, RpcError> {
    Ok(Value::from(format!(
        "sipwire {} ({}/{})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )))
}

/// `core.uptime`: `now` and `up_since` as `ctime()` strings (in UTC), `uptime` in seconds
/// (the runtime's, not the control socket's).
pub(crate) fn uptime(ctx: &Ctx<'_>, _: &Params<'_>) -> Result<Value, RpcError> {
    let up = ctx.transport.uptime().as_secs();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(json!({
        "now": ctime_utc(now),
        "up_since": ctime_utc(now.saturating_sub(up)),
        "uptime": d(up),
    }))
}

/// `core.tcp_info`: Kamailio's six fields in its order, all 32-bit integers (`dddddd`).
pub(crate) fn tcp_info(ctx: &Ctx<'_>, _: &Params<'_>) -> Result<Value, RpcError> {
    tcp_disabled(ctx)?;
    let t = ctx.transport;
    let cfg = t.config().snapshot();
    Ok(json!({
        "readers": d(t.reader_count()),
        "max_connections": d(cfg.tcp.max_connections),
        "max_tls_connections": TLS_MAX_CONNECTIONS,
        "opened_connections": d(t.connection_count()),
        "opened_tls_connections": 0,
        "write_queued_bytes": d(t.stats().queued_bytes),
    }))
}

/// Where a `core.tcp_options` field comes from.
enum Opt {
    /// The `tcp` cfg variable of this name (in Kamailio's unit: seconds, bytes, 0/1).
    Cfg(&'static str),
    /// A value sipwire has no option for (see [`TCP_OPTIONS`]).
    Fixed(i32),
}

/// Kamailio's 23 `core.tcp_options` fields, in its order (`core_tcp_options`). The four that
/// sipwire has no option for are fixed at what sipwire does: no TLS (Kamailio's default
/// limit), one connect per destination at a time (`connect_wait` 1), and an alias, or a new
/// connection's own address, taken from any connection that had it (`TCP_ALIAS_REPLACE`, 2).
const TCP_OPTIONS: [(&str, Opt); 23] = [
    ("connect_timeout", Opt::Cfg("connect_timeout")),
    ("send_timeout", Opt::Cfg("send_timeout")),
    ("connection_lifetime", Opt::Cfg("connection_lifetime")),
    ("max_connections(soft)", Opt::Cfg("max_connections")),
    ("max_tls_connections(soft)", Opt::Fixed(TLS_MAX_CONNECTIONS)),
    ("no_connect", Opt::Cfg("no_connect")),
    ("fd_cache", Opt::Cfg("fd_cache")),
    ("async", Opt::Cfg("async")),
    ("connect_wait", Opt::Fixed(1)),
    ("conn_wq_max", Opt::Cfg("conn_wq_max")),
    ("wq_max", Opt::Cfg("wq_max")),
    ("defer_accept", Opt::Cfg("defer_accept")),
    ("delayed_ack", Opt::Cfg("delayed_ack")),
    ("syncnt", Opt::Cfg("syncnt")),
    ("linger2", Opt::Cfg("linger2")),
    ("keepalive", Opt::Cfg("keepalive")),
    ("keepidle", Opt::Cfg("keepidle")),
    ("keepintvl", Opt::Cfg("keepintvl")),
    ("keepcnt", Opt::Cfg("keepcnt")),
    ("crlf_ping", Opt::Cfg("crlf_ping")),
    ("accept_aliases", Opt::Cfg("accept_aliases")),
    ("alias_flags", Opt::Fixed(2)),
    ("new_conn_alias_flags", Opt::Fixed(2)),
];

/// `core.tcp_options`: Kamailio's 23 fields in its order, 32-bit integers, timeouts and the
/// lifetime in seconds. The rest of the tcp options: `cfg.get tcp` or `sipwire.cfg_list tcp`.
pub(crate) fn tcp_options(ctx: &Ctx<'_>, _: &Params<'_>) -> Result<Value, RpcError> {
    tcp_disabled(ctx)?;
    let config = ctx.transport.config();
    Ok(object(TCP_OPTIONS.iter().map(|(field, opt)| {
        let v = match opt {
            Opt::Fixed(v) => Value::from(*v),
            Opt::Cfg(name) => match config.get("tcp", name) {
                Some(ConfigValue::Int(i)) => d(i),
                // Every one of these is an integer; a missing one would be a table bug.
                Some(ConfigValue::Str(_)) | None => Value::from(0),
            },
        };
        (*field, v)
    })))
}

/// `sipwire.info`: what `core.tcp_info` had besides Kamailio's fields — the version,
/// readers, connections, queued write bytes and their limit (`tcp_wq_max`), and every
/// listen address (`tcp:ADDR`, then `sctp:ADDR` for each address of each SCTP endpoint).
pub(crate) fn sipwire_info(ctx: &Ctx<'_>, _: &Params<'_>) -> Result<Value, RpcError> {
    let t = ctx.transport;
    let cfg = t.config().snapshot();
    let mut listen: Vec<String> = t
        .listen_addrs()
        .iter()
        .map(|a| format!("tcp:{a}"))
        .collect();
    for ep in t.sctp_endpoints() {
        listen.extend(ep.local_addrs().iter().map(|a| format!("sctp:{a}")));
    }
    Ok(json!({
        "name": "sipwire",
        "version": env!("CARGO_PKG_VERSION"),
        "readers": t.reader_count(),
        "max_connections": cfg.tcp.max_connections,
        "opened_connections": t.connection_count(),
        "write_queued_bytes": t.stats().queued_bytes,
        "wq_max": cfg.tcp.wq_max,
        "listen": listen,
    }))
}
