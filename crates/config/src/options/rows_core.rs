//! Rows for the core options that are not `tcp_*`: `disable_tcp`, `listen` and sipwired's
//! `metrics_listen` (cfg group `core`).

use super::codec::{opt, Codec, Flag, Text};
use super::row::{Kind, OptionDef, BASE};
use crate::config::Config;
use crate::types::ConfigValue;

/// Core rows that are not `tcp_*` (cfg group `core`).
pub(super) static CORE: &[OptionDef] = &[
    opt!(disable_tcp => Flag {
        name: "disable_tcp", cfg_group: "core", cfg_name: "disable_tcp",
        doc: "No TCP at all, as in Kamailio: no TCP listener (neither the `listen` lines \
              nor the default ones), no TCP main thread, and every TCP send fails \
              (`SendError::TcpDisabled`) without connecting. SCTP is unaffected: its \
              endpoints keep the readers they need (one per endpoint, at most \
              `tcp_children`).",
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
              the same. With no `listen` line at all, TCP listens on every interface on \
              `tcp_port`: `0.0.0.0`, and `[::]` too where the host has IPv6 (Kamailio's \
              `auto_bind_ipv6`), as two sockets (the IPv6 one IPV6_V6ONLY, so IPv4 peers \
              keep IPv4 addresses). A config with `sctp:` lines and no TCP line binds no TCP \
              listener. \
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
    opt!(metrics_listen => Text {
        name: "metrics_listen", cfg_group: "core", cfg_name: "metrics_listen",
        kind: Kind::Text,
        doc: "sipwired's Prometheus listener: `IP:PORT` or `[IPv6]:PORT` (quoted in the \
              file: `metrics_listen = \"127.0.0.1:9090\"`) where it serves `/metrics` over \
              HTTP; empty (the default) = no listener. `--metrics` overrides it. Only that \
              address is bound; the metrics and the listener's limits are in \
              docs/control.md. Not a Kamailio option; the sipwire library does not read it.",
    }),
];
