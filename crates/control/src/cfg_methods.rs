//! `cfg.*` with the shapes of Kamailio 5.6's `cfg_rpc` module (get, set now, list, help,
//! diff), and `sipwire.cfg_list` / `sipwire.cfg_help` with what sipwire knows of each option.
//!
//! Changes apply at once, so `cfg.set`/`cfg.seti`/`cfg.sets` are the `set_now` ones and
//! `cfg.diff` never has anything pending. A set that works answers `{}` (Kamailio's empty
//! reply); one the config layer refuses (unknown variable, out of range, read-only) keeps
//! the layer's reason for JSON-RPC and is Kamailio's 400 `Failed to set the variable` for
//! Kamailio's clients.

use serde_json::{json, Map, Value};

use super::context::Ctx;
use super::error::RpcError;
use super::params::Params;
use super::values::cfg_value;
use sipwire_config::{CfgEntry, ConfigError, ConfigValue, ErrorKind};

/// Kamailio's fault for a set the cfg framework refuses.
const SET_FAILED: &str = "Failed to set the variable";

/// Kamailio 5.6's `tcp` cfg group in its order (`tcp_options.c`), which `cfg.list` and
/// `cfg.get tcp` follow (sipwire has no `max_tls_connections`, `connect_wait`,
/// `alias_flags`, `new_conn_alias_flags`).
const KAMAILIO_TCP: [&str; 28] = [
    "connect_timeout",
    "send_timeout",
    "connection_lifetime",
    "max_connections",
    "max_tls_connections",
    "no_connect",
    "fd_cache",
    "async",
    "connect_wait",
    "conn_wq_max",
    "wq_max",
    "defer_accept",
    "delayed_ack",
    "syncnt",
    "linger2",
    "keepalive",
    "keepidle",
    "keepintvl",
    "keepcnt",
    "crlf_ping",
    "accept_aliases",
    "alias_flags",
    "new_conn_alias_flags",
    "accept_no_cl",
    "reuse_port",
    "wait_data_ms",
    "rd_buf_size",
    "wq_blk_size",
];

/// `entries` with the groups in their order and the `tcp` group's variables in Kamailio's.
fn in_kamailio_order(mut entries: Vec<CfgEntry>) -> Vec<CfgEntry> {
    let mut groups: Vec<&'static str> = Vec::new();
    for e in &entries {
        if !groups.contains(&e.group) {
            groups.push(e.group);
        }
    }
    entries.sort_by_key(|e| {
        let g = groups.iter().position(|g| *g == e.group);
        let n = match e.group {
            "tcp" => KAMAILIO_TCP.iter().position(|n| *n == e.name),
            _ => None,
        };
        (g, n.unwrap_or(KAMAILIO_TCP.len()))
    });
    entries
}

fn unknown(group: &str, name: &str) -> RpcError {
    RpcError::failed(ConfigError::new(ErrorKind::UnknownCfg {
        group: group.to_string(),
        name: name.to_string(),
    }))
}

/// The entry `group.name` as it is now; `name` may be the script spelling
/// (`tcp_no_connect` for `no_connect`), as `cfg.get` and `cfg.set_now_*` accept.
fn entry(ctx: &Ctx<'_>, group: &str, name: &str) -> Option<CfgEntry> {
    let cfg_name = sipwire::config::options::by_cfg(group, name).map_or(name, |d| d.cfg_name);
    ctx.transport
        .config()
        .snapshot()
        .cfg_group(group)
        .into_iter()
        .find(|e| e.name == cfg_name)
}

/// `cfg.get <group> [name]`: the bare value; with only a group, an object of all of its
/// variables (`{}` for a group that does not exist, as Kamailio).
pub(crate) fn get(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let group = p.string(0)?;
    if p.len() < 2 {
        let entries = in_kamailio_order(ctx.transport.config().snapshot().cfg_group(&group));
        let members: Map<String, Value> = entries
            .iter()
            .map(|e| (e.name.to_string(), cfg_value(&e.value)))
            .collect();
        return Ok(Value::Object(members));
    }
    let name = p.string(1)?;
    ctx.transport
        .config()
        .get(&group, &name)
        .map(|v| cfg_value(&v))
        .ok_or_else(|| unknown(&group, &name).with_kamailio(400, "Failed to get the variable"))
}

/// A set the config layer refused: its reason, and Kamailio's fault.
fn set_failed(e: ConfigError) -> RpcError {
    RpcError::from(e).with_kamailio(400, SET_FAILED)
}

/// `cfg.set_now_int` / `cfg.seti <group> <name> <int>`: `{}` once set.
pub(crate) fn set_now_int(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let (group, name, value) = (p.string(0)?, p.string(1)?, p.int(2)?);
    ctx.transport
        .config()
        .set_now_int(&group, &name, value)
        .map_err(set_failed)?;
    log::info!("control: cfg.set_now_int {group} {name} {value}");
    Ok(json!({}))
}

/// `cfg.set_now_string` / `cfg.sets <group> <name> <text>`: the text is parsed as in the
/// config file (`yes`/`no`, addresses); `{}` once set.
pub(crate) fn set_now_string(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let (group, name, value) = (p.string(0)?, p.string(1)?, p.string(2)?);
    ctx.transport
        .config()
        .set_now_string(&group, &name, &value)
        .map_err(set_failed)?;
    log::info!("control: cfg.set_now_string {group} {name} {value:?}");
    Ok(json!({}))
}

/// `cfg.set <group> <name> <value>`: an integer (or boolean) value as `set_now_int`, any
/// other as `set_now_string`, as Kamailio's `cfg.set` tries `d` then `s`.
pub(crate) fn set(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    match p.get(2) {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => set_now_int(ctx, p),
        Some(Value::Bool(_)) => set_now_int(ctx, p),
        _ => set_now_string(ctx, p),
    }
}

/// `cfg.list [group]`: one `"group: name"` string per variable, all groups or one (`[]` for
/// a group that does not exist, as Kamailio).
pub(crate) fn list(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let group = p.get(0).map(|_| p.string(0)).transpose()?;
    let lines: Vec<String> = in_kamailio_order(ctx.transport.config().cfg_list())
        .iter()
        .filter(|e| !matches!(group.as_deref(), Some(g) if g != e.group))
        .map(|e| format!("{}: {}", e.group, e.name))
        .collect();
    Ok(Value::from(lines))
}

/// `cfg.help <group> <name>`: the variable's description, a newline, and
/// `(parameter type is integer)` or `(... string)`, as Kamailio 5.6 prints it.
pub(crate) fn help(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let (group, name) = (p.string(0)?, p.string(1)?);
    let e = entry(ctx, &group, &name).ok_or_else(|| {
        unknown(&group, &name).with_kamailio(400, "Failed to get the variable description")
    })?;
    let kind = match e.value {
        ConfigValue::Int(_) => "integer",
        ConfigValue::Str(_) => "string",
    };
    Ok(Value::from(format!(
        "{}\n(parameter type is {kind})",
        e.doc
    )))
}

/// `cfg.diff`: the changes waiting for `cfg.commit` — never any, every change applies at
/// once; `{}`, Kamailio's empty answer.
pub(crate) fn diff(_: &Ctx<'_>, _: &Params<'_>) -> Result<Value, RpcError> {
    Ok(json!({}))
}

/// sipwire's description of one cfg variable.
fn row(e: &CfgEntry) -> Value {
    json!({
        "group": e.group,
        "name": e.name,
        "value": cfg_value(&e.value),
        "key": e.key,
        "unit": e.unit.symbol(),
        "runtime": e.runtime,
        "doc": e.doc,
    })
}

/// `sipwire.cfg_list [group]`: every variable (or one group's) with its value, config-file
/// key, unit (`s`, `ms`, `bytes` or empty), whether it can change at runtime, and meaning.
pub(crate) fn sipwire_cfg_list(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let all = in_kamailio_order(ctx.transport.config().cfg_list());
    let group = p.get(0).map(|_| p.string(0)).transpose()?;
    if let Some(g) = &group {
        if !all.iter().any(|e| e.group == g) {
            let mut groups: Vec<&str> = all.iter().map(|e| e.group).collect();
            groups.dedup();
            return Err(RpcError::invalid_params(format!(
                "unknown cfg group {g:?} (groups: {})",
                groups.join(", ")
            )));
        }
    }
    let rows: Vec<Value> = all
        .iter()
        .filter(|e| !matches!(group.as_deref(), Some(g) if g != e.group))
        .map(row)
        .collect();
    Ok(Value::from(rows))
}

/// `sipwire.cfg_help <group> <name>`: the `sipwire.cfg_list` row of one variable (`name`
/// may be the script spelling).
pub(crate) fn sipwire_cfg_help(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let (group, name) = (p.string(0)?, p.string(1)?);
    entry(ctx, &group, &name)
        .map(|e| row(&e))
        .ok_or_else(|| unknown(&group, &name))
}
