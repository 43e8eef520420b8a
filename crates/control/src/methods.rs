//! The method table: names, parameters, help, and the `system.*` methods that read it.

use serde_json::Value;

use super::context::Ctx;
use super::error::RpcError;
use super::params::Params;
use super::{cfg_methods, core_methods, events, sctp_methods, tcp_methods};

/// One built-in method.
pub(crate) struct MethodDef {
    pub name: &'static str,
    /// Parameter names, in order.
    pub args: &'static [&'static str],
    /// How many of `args` must be given.
    pub required: usize,
    /// The last parameter may repeat.
    pub variadic: bool,
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
            return Err(RpcError::invalid_params(format!(
                "{} takes {expected}{sig}, got {n}",
                self.name
            )));
        }
        (self.run)(ctx, &Params::new(self.name, self.args, values))
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

const fn m(
    name: &'static str,
    args: &'static [&'static str],
    required: usize,
    help: &'static str,
    run: fn(&Ctx<'_>, &Params<'_>) -> Result<Value, RpcError>,
) -> MethodDef {
    MethodDef {
        name,
        args,
        required,
        variadic: false,
        help,
        run,
    }
}

/// Every built-in method, in the order `system.listMethods` lists them.
pub(crate) static TABLE: &[MethodDef] = &[
    m(
        "core.version",
        &[],
        0,
        "Name and version of the runtime.",
        core_methods::version,
    ),
    m(
        "core.uptime",
        &[],
        0,
        "Seconds since the runtime started, with the start and current times (Unix seconds).",
        core_methods::uptime,
    ),
    m(
        "core.tcp_info",
        &[],
        0,
        "TCP summary: readers, max and open connections, queued write bytes and their \
         limit, listen addresses.",
        core_methods::tcp_info,
    ),
    m(
        "core.tcp_list",
        &["after", "limit"],
        0,
        "One entry per open TCP connection, in id order: id, state, addresses, keepalive, \
         lifetime override, idle time. At most limit (default and most 1000) entries with \
         an id above after (default 0); a full page means: ask again after its last id.",
        core_methods::tcp_list,
    ),
    m(
        "core.tcp_options",
        &[],
        0,
        "Every option of the cfg group tcp with its current value.",
        core_methods::tcp_options,
    ),
    m(
        "cfg.get",
        &["group", "name"],
        2,
        "The current value of a cfg option (cfg.get tcp connection_lifetime).",
        cfg_methods::get,
    ),
    m(
        "cfg.set_now_int",
        &["group", "name", "value"],
        3,
        "Changes an integer or boolean option now, if it can change at runtime.",
        cfg_methods::set_now_int,
    ),
    m(
        "cfg.set_now_string",
        &["group", "name", "value"],
        3,
        "Changes an option now from text, parsed as in the config file (yes/no, addresses).",
        cfg_methods::set_now_string,
    ),
    m(
        "cfg.list",
        &["group"],
        0,
        "Every cfg option (or one group's) with its value, unit and whether it can change \
         at runtime.",
        cfg_methods::list,
    ),
    m(
        "cfg.help",
        &["group", "name"],
        2,
        "What a cfg option means, its config-file spelling, unit and runtime flag.",
        cfg_methods::help,
    ),
    m(
        "sctp.info",
        &[],
        0,
        "SCTP associations: opened_connections, tracked_connections, total_connections.",
        sctp_methods::info,
    ),
    m(
        "sctp.options",
        &["socket"],
        0,
        "The sctp_* options as configured; with default|first|address[:port], as that \
         endpoint's socket has them (0 for options that are not socket options).",
        sctp_methods::options,
    ),
    MethodDef {
        name: "stats.get",
        args: &["name"],
        required: 0,
        variadic: true,
        help: "Counters: all of them (no name, or all), or the ones named.",
        run: cfg_methods::stats_get,
    },
    m(
        "tcp.conid_state",
        &["conid"],
        1,
        "tcp_conid_state: Kamailio's state value of a connection and its name.",
        tcp_methods::conid_state,
    ),
    m(
        "tcp.conid_alive",
        &["conid"],
        1,
        "tcp_conid_alive: whether the connection exists and is usable (ok, accepting, connecting).",
        tcp_methods::conid_alive,
    ),
    m(
        "tcp.keepalive_enable",
        &["conid", "idle", "count", "interval"],
        4,
        "tcp_keepalive_enable: SO_KEEPALIVE on, probes after idle seconds, count probes, \
         interval seconds apart.",
        tcp_methods::keepalive_enable,
    ),
    m(
        "tcp.keepalive_disable",
        &["conid"],
        1,
        "tcp_keepalive_disable: SO_KEEPALIVE off.",
        tcp_methods::keepalive_disable,
    ),
    m(
        "tcp.set_connection_lifetime",
        &["conid", "seconds"],
        2,
        "tcp_set_connection_lifetime: this connection's idle lifetime, in seconds.",
        tcp_methods::set_connection_lifetime,
    ),
    m(
        "tcp.enable_closed_event",
        &["conid"],
        1,
        "tcp_enable_closed_event: report this connection's close when closed_event = 2.",
        tcp_methods::enable_closed_event,
    ),
    m(
        "tcp.close_connection",
        &["conid"],
        1,
        "tcp_close_connection: closes the connection.",
        tcp_methods::close_connection,
    ),
    m(
        "tcp.force_alias",
        &["conid", "port"],
        1,
        "force_tcp_alias: the connection also answers to its source IP with this port \
         (5060 if omitted), so sends there reuse it. Only a port: never another host.",
        tcp_methods::force_alias,
    ),
    m(
        "tcp.get_conid",
        &["hostport"],
        1,
        "tcp_get_conid: the id of an open connection to host:port (port 5060 if omitted).",
        tcp_methods::get_conid,
    ),
    MethodDef {
        name: "events.subscribe",
        args: &["name"],
        required: 0,
        variadic: true,
        help: "Pushes a JSON-RPC notification line (method \"event\") per event on this \
               connection until events.unsubscribe or disconnect: all events, or the ones \
               named (tcp:closed, tcp:*). Lost events are told with events.dropped.",
        run: events::subscribe,
    },
    m(
        "events.unsubscribe",
        &[],
        0,
        "Ends this connection's event subscription; answers what it delivered and dropped.",
        events::unsubscribe,
    ),
    m(
        "system.listMethods",
        &[],
        0,
        "The names of every method.",
        list_methods,
    ),
    m(
        "system.methodHelp",
        &["method"],
        1,
        "Usage and one-line help of a method.",
        method_help,
    ),
];

/// The built-in method called `name`.
pub(crate) fn find(name: &str) -> Option<&'static MethodDef> {
    TABLE.iter().find(|m| m.name == name)
}

fn list_methods(ctx: &Ctx<'_>, _: &Params<'_>) -> Result<Value, RpcError> {
    let mut names: Vec<String> = TABLE.iter().map(|m| m.name.to_string()).collect();
    if let Some(ext) = ctx.ext {
        for (name, _) in ext.methods() {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
    Ok(Value::from(names))
}

fn method_help(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let name = p.string(0)?;
    if let Some(ext) = ctx.ext {
        if let Some((_, help)) = ext.methods().into_iter().find(|(n, _)| *n == name) {
            return Ok(Value::from(format!("{name}: {help}")));
        }
    }
    let def = find(&name).ok_or_else(|| {
        RpcError::invalid_params(format!("no method {name} (system.listMethods lists them)"))
    })?;
    let usage = def.usage();
    let sig = if usage.is_empty() {
        String::new()
    } else {
        format!(" {usage}")
    };
    Ok(Value::from(format!("{}{sig}: {}", def.name, def.help)))
}
