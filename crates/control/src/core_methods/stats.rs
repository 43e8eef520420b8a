//! The counters: Kamailio's `stats.get_statistics`, `stats.fetch` and `stats.fetchn` (kex's
//! `core_stats.c`) over counter groups, and sipwire's own `stats.get`.
//!
//! Groups, as Kamailio's counters framework lists them (groups sorted by name, counters sorted
//! by name inside a group):
//!
//! - `tcp`: Kamailio's 11 TCP counters (`tcp_stats.c`), mapped from sipwire's;
//! - `sipwire`: every counter of `stats.get` (the runtime's, the SCTP ones);
//! - the embedder's counters ([`RpcExtension::stats`](crate::RpcExtension::stats)): one named
//!   `relay.requests_relayed` is counter `requests_relayed` of group `relay`; one without a
//!   dot is in `sipwire`.

use serde_json::{Map, Value};
use sipwire::Transport;

use super::super::context::Ctx;
use super::super::error::RpcError;
use super::super::params::Params;
use super::super::values::object;

/// One counter: group, name, value.
type Counter = (String, String, u64);

/// Kamailio's `tcp:` counters from sipwire's, sorted by name as Kamailio lists them.
fn tcp_group(t: &Transport) -> [(&'static str, u64); 11] {
    let s = t.stats();
    // Every connect that completed is in the connect-time histogram.
    let connected = t.connect_time().count();
    [
        // Closes by a peer RST (Kamailio also counts a connect refused or reset).
        ("con_reset", s.resets),
        // Closes for being idle past the lifetime.
        ("con_timeout", s.lifetime_expired),
        ("connect_failed", s.connect_failures),
        ("connect_success", connected),
        ("current_opened_connections", t.connection_count() as u64),
        ("current_write_queue_size", s.queued_bytes),
        // Counted when accepted or connected (Kamailio: at the first read or write).
        ("established", s.accepted.saturating_add(connected)),
        // Refused at tcp_max_connections (also counts outbound connects refused at it).
        ("local_reject", s.refused_max_connections),
        ("passive_open", s.accepted),
        ("send_timeout", s.send_timeouts),
        ("sendq_full", s.queue_full),
    ]
}

/// sipwire's counters by their `stats.get` names: the runtime's, the SCTP ones, then the
/// embedder's.
fn own_counters(ctx: &Ctx<'_>) -> Vec<(String, u64)> {
    let t = ctx.transport;
    let mut all: Vec<(String, u64)> = t
        .stats()
        .fields()
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
    all.extend(t.sctp_stats().into_iter().map(|(n, v)| (n.to_string(), v)));
    if let Some(ext) = ctx.ext {
        all.extend(ext.stats());
    }
    all
}

/// Every counter in its group, groups and names sorted.
fn grouped(ctx: &Ctx<'_>) -> Vec<Counter> {
    let mut all: Vec<Counter> = tcp_group(ctx.transport)
        .into_iter()
        .map(|(n, v)| ("tcp".to_string(), n.to_string(), v))
        .collect();
    let t = ctx.transport;
    let runtime = t.stats().fields().len() + t.sctp_stats().len();
    for (i, (name, v)) in own_counters(ctx).into_iter().enumerate() {
        // The embedder's `group.name` counters go to their group.
        match name.split_once('.') {
            Some((g, n)) if i >= runtime && !g.is_empty() && !n.is_empty() => {
                all.push((g.to_string(), n.to_string(), v));
            }
            _ => all.push(("sipwire".to_string(), name, v)),
        }
    }
    all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    all
}

/// The counters one `stats.*` parameter names, as Kamailio reads it: `all`; `group:` (the
/// whole group); `group:name` or `group.name`; or a bare `name` (its first counter in group
/// order). Nothing for an unknown one.
fn select<'a>(all: &'a [Counter], stat: &str) -> Vec<&'a Counter> {
    if stat == "all" {
        return all.iter().collect();
    }
    if let Some(g) = stat.strip_suffix(':') {
        return all.iter().filter(|c| c.0 == g).collect();
    }
    let by_name = || all.iter().find(|c| c.1 == stat);
    let qualified = stat.find([':', '.']).and_then(|i| {
        let (g, n) = (&stat[..i], &stat[i + 1..]);
        all.iter().find(|c| c.0 == g && c.1 == n)
    });
    qualified.or_else(by_name).into_iter().collect()
}

/// The counters all the parameters name, in their order (repeats kept).
fn selected<'a>(all: &'a [Counter], p: &Params<'_>) -> Result<Vec<&'a Counter>, RpcError> {
    let mut out = Vec::new();
    for i in 0..p.len() {
        out.extend(select(all, &p.string(i)?));
    }
    Ok(out)
}

/// `stats.get_statistics <stat>...`: one `"group:name = value"` string per counter.
pub(crate) fn get_statistics(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let all = grouped(ctx);
    let lines: Vec<String> = selected(&all, p)?
        .into_iter()
        .map(|(g, n, v)| format!("{g}:{n} = {v}"))
        .collect();
    Ok(Value::from(lines))
}

/// `stats.fetch` (values as strings, `numeric` false) and `stats.fetchn` (as numbers): an
/// object of `"group.name"` members.
fn fetch_as(ctx: &Ctx<'_>, p: &Params<'_>, numeric: bool) -> Result<Value, RpcError> {
    let all = grouped(ctx);
    let mut out = Map::new();
    for (g, n, v) in selected(&all, p)? {
        let value = if numeric {
            Value::from(*v)
        } else {
            Value::from(v.to_string())
        };
        out.insert(format!("{g}.{n}"), value);
    }
    Ok(Value::Object(out))
}

/// `stats.fetch <stat>...`: `{"group.name": "value"}`, values as decimal strings.
pub(crate) fn fetch(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    fetch_as(ctx, p, false)
}

/// `stats.fetchn <stat>...`: `{"group.name": value}`, values as numbers.
pub(crate) fn fetchn(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    fetch_as(ctx, p, true)
}

/// `stats.get [name...]`: sipwire's counters by their own names, all (no name, or `all`) or
/// the ones named.
pub(crate) fn get(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let all = own_counters(ctx);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn c(g: &str, n: &str, v: u64) -> Counter {
        (g.to_string(), n.to_string(), v)
    }

    #[test]
    fn selection_as_kamailio_reads_it() {
        let all = [
            c("relay", "requests_relayed", 4),
            c("sipwire", "accepted", 2),
            c("tcp", "established", 3),
            c("tcp", "passive_open", 2),
        ];
        assert_eq!(select(&all, "all").len(), 4);
        assert_eq!(select(&all, "tcp:"), [&all[2], &all[3]]);
        assert!(select(&all, "nope:").is_empty());
        assert_eq!(select(&all, "established"), [&all[2]]);
        assert_eq!(select(&all, "tcp:established"), [&all[2]]);
        assert_eq!(select(&all, "tcp.passive_open"), [&all[3]]);
        assert_eq!(select(&all, "relay.requests_relayed"), [&all[0]]);
        assert!(select(&all, "sipwire:established").is_empty());
        assert!(select(&all, "bogus").is_empty());
        assert!(select(&all, "").is_empty());
    }
}
