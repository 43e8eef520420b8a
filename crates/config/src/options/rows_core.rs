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
              `sctp:IP[:PORT]`, a multi-homed SCTP endpoint `sctp:(IP1, IP2)[:PORT]` (up to \
              4 addresses of one family); udp/tls/ws/wss lines get a warning. A missing TCP \
              port is `tcp_port`, a missing SCTP port 5060. `socket=` (newer OpenSIPS) is \
              the same. A config with `sctp:` lines and no TCP line binds no TCP listener. \
              Where the kernel has no SCTP, an `sctp:` line next to TCP ones is skipped with \
              one error naming the cause (TCP is unaffected); with no TCP line the start \
              fails with that error.",
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
