//! `cfg.*` (Kamailio's cfg framework: get, set now, list, help) and `stats.get`.

use serde_json::{json, Value};

use super::context::Ctx;
use super::error::RpcError;
use super::params::Params;
use super::values::cfg_value;
use super::values::object;
use sipwire_config::{CfgEntry, ConfigError, ErrorKind};

fn unknown(group: &str, name: &str) -> RpcError {
    RpcError::failed(ConfigError::new(ErrorKind::UnknownCfg {
        group: group.to_string(),
        name: name.to_string(),
    }))
}

/// The entry `group.name` as it is now; `name` may be the script spelling
/// (`tcp_no_connect` for `no_connect`), as `cfg.get` and `cfg.set_now_*` accept.
fn entry(ctx: &Ctx<'_>, group: &str, name: &str) -> Result<CfgEntry, RpcError> {
    let cfg_name = sipwire::config::options::by_cfg(group, name).map_or(name, |d| d.cfg_name);
    ctx.transport
        .config()
        .snapshot()
        .cfg_group(group)
        .into_iter()
        .find(|e| e.name == cfg_name)
        .ok_or_else(|| unknown(group, name))
}

pub(crate) fn get(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let (group, name) = (p.string(0)?, p.string(1)?);
    ctx.transport
        .config()
        .get(&group, &name)
        .map(|v| cfg_value(&v))
        .ok_or_else(|| unknown(&group, &name))
}

/// What a successful `set_now_*` answers: the option and its value now.
fn after_set(ctx: &Ctx<'_>, group: &str, name: &str) -> Result<Value, RpcError> {
    let value = ctx
        .transport
        .config()
        .get(group, name)
        .map(|v| cfg_value(&v));
    Ok(json!({ "group": group, "name": name, "value": value }))
}

pub(crate) fn set_now_int(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let (group, name, value) = (p.string(0)?, p.string(1)?, p.int(2)?);
    ctx.transport.config().set_now_int(&group, &name, value)?;
    log::info!("control: cfg.set_now_int {group} {name} {value}");
    after_set(ctx, &group, &name)
}

pub(crate) fn set_now_string(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let (group, name, value) = (p.string(0)?, p.string(1)?, p.string(2)?);
    ctx.transport
        .config()
        .set_now_string(&group, &name, &value)?;
    log::info!("control: cfg.set_now_string {group} {name} {value:?}");
    after_set(ctx, &group, &name)
}

pub(crate) fn list(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let all = ctx.transport.config().cfg_list();
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
    let list: Vec<Value> = all
        .iter()
        .filter(|e| match &group {
            Some(g) => e.group == g,
            None => true,
        })
        .map(|e| {
            json!({
                "group": e.group,
                "name": e.name,
                "value": cfg_value(&e.value),
                "unit": e.unit.symbol(),
                "runtime": e.runtime,
            })
        })
        .collect();
    Ok(Value::from(list))
}

pub(crate) fn help(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let (group, name) = (p.string(0)?, p.string(1)?);
    let e = entry(ctx, &group, &name)?;
    Ok(json!({
        "group": e.group,
        "name": e.name,
        "key": e.key,
        "unit": e.unit.symbol(),
        "runtime": e.runtime,
        "doc": e.doc,
    }))
}

pub(crate) fn stats_get(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let mut all: Vec<(String, u64)> = ctx
        .transport
        .stats()
        .fields()
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
    all.extend(
        ctx.transport
            .sctp_stats()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v)),
    );
    if let Some(ext) = ctx.ext {
        all.extend(ext.stats());
    }
    let names = (0..p.len())
        .map(|i| p.string(i))
        .collect::<Result<Vec<_>, _>>()?;
    if names.is_empty() || names.iter().all(|n| n == "all") {
        return Ok(object(all.into_iter().map(|(n, v)| (n, Value::from(v)))));
    }
    let mut picked = Vec::with_capacity(names.len());
    for n in names {
        let (_, v) = all.iter().find(|(k, _)| *k == n).ok_or_else(|| {
            RpcError::invalid_params(format!(
                "unknown counter {n:?} (stats.get with no name lists them all)"
            ))
        })?;
        picked.push((n, Value::from(*v)));
    }
    Ok(object(picked))
}
