//! `tcp.*`: Kamailio's tcpops functions by connection id.

use serde_json::{json, Value};

use super::context::Ctx;
use super::error::RpcError;
use super::params::Params;
use sipwire::ConnState;

/// The lowercase name of a `tcp_conid_state` value.
pub(crate) fn state_name(s: ConnState) -> &'static str {
    match s {
        ConnState::Ok => "ok",
        ConnState::Accepting => "accepting",
        ConnState::Connecting => "connecting",
        ConnState::Gone => "gone",
        ConnState::Eof => "eof",
        ConnState::Error => "error",
        ConnState::Bad => "bad",
    }
}

pub(crate) fn conid_state(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let id = p.conid(0)?;
    let s = ctx.transport.conid_state(id);
    Ok(json!({ "conid": id.0, "state": s as i8, "state_name": state_name(s) }))
}

pub(crate) fn conid_alive(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let id = p.conid(0)?;
    Ok(json!({ "conid": id.0, "alive": ctx.transport.conid_alive(id) }))
}

pub(crate) fn keepalive_enable(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let id = p.conid(0)?;
    let (idle, count, interval) = (p.u32(1)?, p.u32(2)?, p.u32(3)?);
    ctx.transport.keepalive_enable(id, idle, count, interval)?;
    // Report what the kernel now has (it may round), or what was asked if the connection
    // closed in between.
    let (keepalive, (i, c, n)) = ctx
        .transport
        .conn_info(id)
        .map_or((true, (idle, count, interval)), |ci| {
            (ci.keepalive, ci.keepalive_params)
        });
    Ok(json!({
        "conid": id.0, "keepalive": keepalive, "keepidle": i, "keepcnt": c, "keepintvl": n,
    }))
}

pub(crate) fn keepalive_disable(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let id = p.conid(0)?;
    ctx.transport.keepalive_disable(id)?;
    let keepalive = ctx.transport.conn_info(id).is_some_and(|ci| ci.keepalive);
    Ok(json!({ "conid": id.0, "keepalive": keepalive }))
}

pub(crate) fn set_connection_lifetime(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let id = p.conid(0)?;
    let secs = p.u64(1)?;
    ctx.transport.set_connection_lifetime(id, secs)?;
    Ok(json!({ "conid": id.0, "lifetime_s": secs }))
}

pub(crate) fn enable_closed_event(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let id = p.conid(0)?;
    ctx.transport.enable_closed_event(id)?;
    Ok(json!({ "conid": id.0, "closed_event": true }))
}

/// `force_tcp_alias`: the connection also answers to its source IP with `port` (5060 when
/// left out or 0: the control socket has no message whose Via could give it).
pub(crate) fn force_alias(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let id = p.conid(0)?;
    let port = match p.get(1) {
        None => 0,
        Some(_) => {
            let n = p.u64(1)?;
            u16::try_from(n)
                .map_err(|_| RpcError::invalid_params(format!("port {n}: 0 to 65535")))?
        }
    };
    let alias = ctx.transport.add_alias(id, port)?;
    Ok(json!({ "conid": id.0, "alias": alias.to_string() }))
}

pub(crate) fn close_connection(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let id = p.conid(0)?;
    ctx.transport.close_connection(id)?;
    Ok(json!({ "conid": id.0, "closing": true }))
}

pub(crate) fn get_conid(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let hostport = p.string(0)?;
    let id = ctx.transport.get_conid(&hostport)?;
    Ok(Value::from(id.0))
}
