//! The method table: names, parameters, help, and the `system.*` methods that read it.
//!
//! The table is sorted by name, as Kamailio's `system.listMethods` lists its methods.

use serde_json::Value;

use super::context::Ctx;
use super::core_methods::{stats, tcp_list};
use super::error::RpcError;
use super::params::Params;
use super::{cfg_methods, core_methods, events, sctp_methods, tcp_methods};

/// One built-in method.
pub(crate) struct MethodDef {
    pub name: &'static str,
    /// Parameter names, in order.
    pub args: &'static [&'static str],
    /// Their types as Kamailio's `rpc->scan` letters, one per name: `s` string, `d`
    /// integer (for the fault Kamailio sends when one is missing).
    pub types: &'static str,
    /// How many of `args` must be given.
    pub required: usize,
    /// The last parameter may repeat.
    pub variadic: bool,
    /// Kamailio's own fault when required params are missing, where the method checks for
    /// them itself (`cfg.get`: 500 `Failed to get the parameters`); `None`: the fault of
    /// Kamailio's parameter scan.
    pub missing: Option<(i32, &'static str)>,
    pub help: &'static str,
    pub run: fn(&Ctx<'_>, &Params<'_>) -> Result<Value, RpcError>,
}

impl MethodDef {
    /// `<group> <name> [value...]`
    pub fn usage(&self) -> String {
        let mut parts = Vec::with_capacity(self.args.len());
        for (i, a) in self.args.iter().enumerate() {
            let dots = if self.variadic && i + 1 == self.args.len() {
                "..."
            } else {
                ""
            };
            if i < self.required {
                parts.push(format!("<{a}>{dots}"));
            } else {
                parts.push(format!("[{a}{dots}]"));
            }
        }
        parts.join(" ")
    }

    /// The name and usage: `cfg.get <group> [name]`.
    pub fn signature(&self) -> String {
        let usage = self.usage();
        if usage.is_empty() {
            self.name.to_string()
        } else {
            format!("{} {usage}", self.name)
        }
    }

    /// Kamailio's name of the type of parameter `i` (from 0).
    fn kamailio_type(&self, i: usize) -> &'static str {
        let letter = self
            .types
            .as_bytes()
            .get(i)
            .or_else(|| self.types.as_bytes().last());
        match letter {
            Some(b'd') => "integer",
            _ => "string",
        }
    }

    /// Checks the number of params, then runs the method.
    pub fn invoke(&self, ctx: &Ctx<'_>, values: &[Value]) -> Result<Value, RpcError> {
        let n = values.len();
        let max_ok = self.variadic || n <= self.args.len();
        if n < self.required || !max_ok {
            let expected = match (self.args.len(), self.required, self.variadic) {
                (0, _, _) => "no params".to_string(),
                (_, r, true) => format!("at least {r} param{}", plural(r)),
                (a, r, false) if a == r => format!("{a} param{}", plural(a)),
                (a, r, false) => format!("{r} to {a} params"),
            };
            let usage = self.usage();
            let sig = if usage.is_empty() {
                String::new()
            } else {
                format!(" ({usage})")
            };
            let msg = format!("{} takes {expected}{sig}, got {n}", self.name);
            return Err(match (n < self.required, self.missing) {
                (true, Some((code, text))) => {
                    RpcError::invalid_params(msg).with_kamailio(code, text)
                }
                (true, None) => RpcError::bad_param(n, self.kamailio_type(n), true, msg),
                // Kamailio ignores extra params; we refuse them (400 with this text).
                (false, _) => RpcError::invalid_params(msg),
            });
        }
        (self.run)(ctx, &Params::new(self.name, self.args, values))
    }

    /// The last parameter may repeat.
    const fn variadic(mut self) -> MethodDef {
        self.variadic = true;
        self
    }

    /// Kamailio's fault for missing required params (see [`MethodDef::missing`]).
    const fn missing(mut self, code: i32, text: &'static str) -> MethodDef {
        self.missing = Some((code, text));
        self
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A method with parameters `args` of `types` (see [`MethodDef::types`]), the first
/// `required` of them required.
const fn m(
    name: &'static str,
    args: &'static [&'static str],
    types: &'static str,
    required: usize,
    help: &'static str,
    run: fn(&Ctx<'_>, &Params<'_>) -> Result<Value, RpcError>,
) -> MethodDef {
    MethodDef {
        name,
        args,
        types,
        required,
        variadic: false,
        missing: None,
        help,
        run,
    }
}

/// Kamailio's fault when `stats.*` gets no parameter.
const NO_STAT: &str = "Please provide which stats to retrieve";

/// Every built-in method, sorted by name (the order `system.listMethods` lists them).
pub(crate) static TABLE: &[MethodDef] = &[
    m(
        "cfg.diff",
        &[],
        "",
        0,
        "List the pending configuration changes that have not been committed yet: never \
         any, changes apply at once.",
        cfg_methods::diff,
    ),
    m(
        "cfg.get",
        &["group", "name"],
        "ss",
        1,
        "The value of a configuration variable (cfg.get tcp connection_lifetime); with \
         only a group, all of its variables.",
        cfg_methods::get,
    )
    .missing(500, "Failed to get the parameters"),
    m(
        "cfg.help",
        &["group", "name"],
        "ss",
        2,
        "Print the description of a configuration variable and its type.",
        cfg_methods::help,
    ),
    m(
        "cfg.list",
        &["group"],
        "s",
        0,
        "List the configuration variables (\"group: name\"), all or one group's.",
        cfg_methods::list,
    ),
    m(
        "cfg.set",
        &["group", "name", "value"],
        "sss",
        3,
        "Set a configuration variable now, from an integer or a string (parsed as in the \
         config file).",
        cfg_methods::set,
    ),
    m(
        "cfg.set_now_int",
        &["group", "name", "value"],
        "ssd",
        3,
        "Set an integer or boolean configuration variable now, if it can change at runtime.",
        cfg_methods::set_now_int,
    ),
    m(
        "cfg.set_now_string",
        &["group", "name", "value"],
        "sss",
        3,
        "Set a configuration variable now from text, parsed as in the config file (yes/no, \
         addresses).",
        cfg_methods::set_now_string,
    ),
    m(
        "cfg.seti",
        &["group", "name", "value"],
        "ssd",
        3,
        "Same as cfg.set_now_int.",
        cfg_methods::set_now_int,
    ),
    m(
        "cfg.sets",
        &["group", "name", "value"],
        "sss",
        3,
        "Same as cfg.set_now_string.",
        cfg_methods::set_now_string,
    ),
    m(
        "core.tcp_info",
        &[],
        "",
        0,
        "Returns tcp related info: readers, max and opened connections (TCP, TLS), queued \
         write bytes.",
        core_methods::tcp_info,
    ),
    m(
        "core.tcp_list",
        &["offset", "limit", "filter"],
        "dds",
        0,
        "Returns tcp connections details, in id order: at most limit (default and most \
         512) after skipping offset, only those with an address in filter (IP or CIDR).",
        tcp_list::core_tcp_list,
    ),
    m(
        "core.tcp_options",
        &[],
        "",
        0,
        "Returns active tcp options (Kamailio's 23, timeouts in seconds).",
        core_methods::tcp_options,
    ),
    m(
        "core.uptime",
        &[],
        "",
        0,
        "Returns uptime of the runtime: now, up_since (ctime, UTC) and uptime (seconds).",
        core_methods::uptime,
    ),
    m(
        "core.version",
        &[],
        "",
        0,
        "Returns the version string of the server.",
        core_methods::version,
    ),
    m(
        "events.subscribe",
        &["name"],
        "s",
        0,
        "Pushes a JSON-RPC notification line (method \"event\") per event on this \
         connection until events.unsubscribe or disconnect: all events, or the ones \
         named (tcp:closed, tcp:*). Lost events are told with events.dropped.",
        events::subscribe,
    )
    .variadic(),
    m(
        "events.unsubscribe",
        &[],
        "",
        0,
        "Ends this connection's event subscription; answers what it delivered and dropped.",
        events::unsubscribe,
    ),
    m(
        "sctp.info",
        &[],
        "",
        0,
        "SCTP associations: opened_connections, tracked_connections, total_connections.",
        sctp_methods::info,
    ),
    m(
        "sctp.options",
        &["socket"],
        "s",
        0,
        "The sctp_* options as configured; with default|first|address[:port], as that \
         endpoint's socket has them (0 for options that are not socket options).",
        sctp_methods::options,
    ),
    m(
        "sipwire.cfg_help",
        &["group", "name"],
        "ss",
        2,
        "One cfg variable with its value, config-file key, unit, runtime flag and meaning.",
        cfg_methods::sipwire_cfg_help,
    ),
    m(
        "sipwire.cfg_list",
        &["group"],
        "s",
        0,
        "Every cfg variable (or one group's) with its value, config-file key, unit, \
         runtime flag and meaning.",
        cfg_methods::sipwire_cfg_list,
    ),
    m(
        "sipwire.info",
        &[],
        "",
        0,
        "sipwire's summary: version, readers, connections, queued write bytes and their \
         limit (wq_max), the TCP and SCTP listen addresses.",
        core_methods::sipwire_info,
    ),
    m(
        "stats.fetch",
        &["stat"],
        "s",
        1,
        "Counters as {\"group.name\": \"value\"} strings: all, group: (tcp:), name or \
         group.name.",
        stats::fetch,
    )
    .variadic()
    .missing(400, NO_STAT),
    m(
        "stats.fetchn",
        &["stat"],
        "s",
        1,
        "Counters as {\"group.name\": value} numbers: all, group: (tcp:), name or \
         group.name.",
        stats::fetchn,
    )
    .variadic()
    .missing(400, NO_STAT),
    m(
        "stats.get",
        &["name"],
        "s",
        0,
        "sipwire's counters by their own names: all of them (no name, or all), or the ones \
         named.",
        stats::get,
    )
    .variadic(),
    m(
        "stats.get_statistics",
        &["stat"],
        "s",
        1,
        "Counters as \"group:name = value\" lines: all, group: (tcp:), name or group:name.",
        stats::get_statistics,
    )
    .variadic()
    .missing(400, NO_STAT),
    m(
        "system.listMethods",
        &[],
        "",
        0,
        "Returns the names of every method, sorted.",
        list_methods,
    ),
    m(
        "system.methodHelp",
        &["method"],
        "s",
        1,
        "Print the help string for given method.",
        method_help,
    )
    .missing(400, "Method Name Expected"),
    m(
        "system.methodSignature",
        &["method"],
        "s",
        1,
        "Returns the parameters of given method: name <required> [optional].",
        method_signature,
    )
    .missing(400, "Method Name Expected"),
    m(
        "tcp.close_connection",
        &["conid"],
        "d",
        1,
        "tcp_close_connection: closes the connection.",
        tcp_methods::close_connection,
    ),
    m(
        "tcp.conid_alive",
        &["conid"],
        "d",
        1,
        "tcp_conid_alive: whether the connection exists and is usable (ok, accepting, connecting).",
        tcp_methods::conid_alive,
    ),
    m(
        "tcp.conid_state",
        &["conid"],
        "d",
        1,
        "tcp_conid_state: Kamailio's state value of a connection and its name.",
        tcp_methods::conid_state,
    ),
    m(
        "tcp.enable_closed_event",
        &["conid"],
        "d",
        1,
        "tcp_enable_closed_event: report this connection's close when closed_event = 2.",
        tcp_methods::enable_closed_event,
    ),
    m(
        "tcp.force_alias",
        &["conid", "port"],
        "dd",
        1,
        "force_tcp_alias: the connection also answers to its source IP with this port \
         (5060 if omitted), so sends there reuse it. Only a port: never another host.",
        tcp_methods::force_alias,
    ),
    m(
        "tcp.get_conid",
        &["hostport"],
        "s",
        1,
        "tcp_get_conid: the id of an open connection to host:port (port 5060 if omitted).",
        tcp_methods::get_conid,
    ),
    m(
        "tcp.info",
        &["conid"],
        "d",
        1,
        "Everything sipwire knows of one connection or SCTP association (as tcp.list).",
        tcp_list::tcp_info,
    ),
    m(
        "tcp.keepalive_disable",
        &["conid"],
        "d",
        1,
        "tcp_keepalive_disable: SO_KEEPALIVE off.",
        tcp_methods::keepalive_disable,
    ),
    m(
        "tcp.keepalive_enable",
        &["conid", "idle", "count", "interval"],
        "dddd",
        4,
        "tcp_keepalive_enable: SO_KEEPALIVE on, probes after idle seconds, count probes, \
         interval seconds apart.",
        tcp_methods::keepalive_enable,
    ),
    m(
        "tcp.list",
        &["offset", "limit", "filter"],
        "dds",
        0,
        "sipwire's view of every connection, TCP then SCTP, in id order: addresses, \
         PROXY source, keepalive, lifetime, idle time, queued bytes; paged and filtered as \
         core.tcp_list.",
        tcp_list::tcp_list,
    ),
    m(
        "tcp.set_connection_lifetime",
        &["conid", "seconds"],
        "dd",
        2,
        "tcp_set_connection_lifetime: this connection's idle lifetime, in seconds.",
        tcp_methods::set_connection_lifetime,
    ),
];

/// The built-in method called `name`.
pub(crate) fn find(name: &str) -> Option<&'static MethodDef> {
    TABLE.iter().find(|m| m.name == name)
}

/// Every method name, the embedder's included, sorted and without repeats.
fn list_methods(ctx: &Ctx<'_>, _: &Params<'_>) -> Result<Value, RpcError> {
    let mut names: Vec<&str> = TABLE.iter().map(|m| m.name).collect();
    if let Some(ext) = ctx.ext {
        names.extend(ext.methods().into_iter().map(|(name, _)| name));
    }
    names.sort_unstable();
    names.dedup();
    Ok(Value::from(names))
}

/// The error for a method nobody has (Kamailio: 400 `command not found`).
fn no_such_method(name: &str) -> RpcError {
    RpcError::invalid_params(format!("no method {name} (system.listMethods lists them)"))
        .with_kamailio(400, "command not found")
}

fn method_help(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let name = p.string(0)?;
    if let Some(ext) = ctx.ext {
        if let Some((_, help)) = ext.methods().into_iter().find(|(n, _)| *n == name) {
            return Ok(Value::from(help));
        }
    }
    let def = find(&name).ok_or_else(|| no_such_method(&name))?;
    Ok(Value::from(def.help))
}

fn method_signature(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let name = p.string(0)?;
    if let Some(def) = find(&name) {
        return Ok(Value::from(def.signature()));
    }
    match ctx.ext {
        Some(ext) if ext.methods().iter().any(|(n, _)| *n == name) => Ok(Value::from(name)),
        _ => Err(no_such_method(&name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_each_arg_has_a_type() {
        for w in TABLE.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
        for d in TABLE {
            assert_eq!(d.types.len(), d.args.len(), "{}", d.name);
            assert!(d.required <= d.args.len(), "{}", d.name);
            assert!(
                d.types.bytes().all(|b| b == b's' || b == b'd'),
                "{}",
                d.name
            );
        }
    }
}
