//! Rows for the core options that are not `tcp_*`: `disable_tcp` and `listen` (cfg group
//! `core`).

use super::codec::{opt, Codec, Flag};
use super::row::{Kind, OptionDef, BASE};
use crate::config::Config;
use crate::types::ConfigValue;

/// Core rows that are not `tcp_*` (cfg group `core`).
pub(super) static CORE: &[OptionDef] = &[
    opt!(disable_tcp => Flag {
        name: "disable_tcp", cfg_group: "core", cfg_name: "disable_tcp",
        doc: "Bind no TCP listener, neither the `listen` lines nor the default one. TCP \
              main and the readers still start, and sends to an address still open outgoing \
              connections (Kamailio starts no TCP at all).",
    }),
    OptionDef {
        name: "listen",
        aliases: &["socket"],
        cfg_group: "core",
        cfg_name: "listen",
        kind: Kind::Listen,
        doc: "Address to listen on, repeatable: `tcp:IP[:PORT]`, `tcp:[IPv6][:PORT]`, \
              `sctp:...`; udp/tls/ws/wss lines get a warning. A missing TCP port is \
              `tcp_port`. `socket=` (newer OpenSIPS) is the same. The runtime binds the TCP \
              lines; `sctp:` lines are kept but nothing binds them, and a config whose only \
              lines are `sctp:` gets the default TCP listener, as if it had none.",
        field: "listen",
        get: |c: &Config| {
            let all: Vec<String> = c
                .listeners()
                .into_iter()
                .map(|(proto, addr)| format!("{}:{addr}", proto.as_str()))
                .collect();
            ConfigValue::Str(all.join(", "))
        },
        ..BASE
    },
];
