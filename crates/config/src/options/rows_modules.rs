//! Rows for module parameters: OpenSIPS `proto_tcp`, Kamailio `tcpops` and `sctp`.
//!
//! proto_tcp parameters are accepted as `modparam("proto_tcp", ...)`; those whose name does
//! not clash with a Kamailio core name are also accepted as `name = value`. sctp parameters
//! are accepted both as `modparam("sctp", ...)` and `name = value`. tcpops parameters only as
//! modparams.

use super::codec::{
    opt, Closed, Codec, Count, Flag, Heartbeat, Limit, Millis, OptBytes, OptCount, OptMillis, Port,
    Secs, Text,
};
use super::row::{int, int0, Kind, OptionDef, BASE, MAX_TIMEOUT_S};
use crate::config::Config;
use crate::types::ConfigValue;

const PROTO_TCP_MOD: Option<&str> = Some("proto_tcp");
const SCTP_MOD: Option<&str> = Some("sctp");
/// Kamailio's upper bound for SCTP times (2^30 ms).
const SCTP_MS_MAX: i64 = 1 << 30;

/// OpenSIPS `proto_tcp` rows (cfg group `proto_tcp`).
pub(super) static PROTO_TCP: &[OptionDef] = &[
    opt!(tcp.port => Port {
        name: "tcp_port", module: PROTO_TCP_MOD, cfg_group: "proto_tcp", cfg_name: "port",
        kind: int(1, 65535),
        doc: "Port of `listen=tcp:IP` lines that give none, whatever the order of the lines, \
              and of the default listeners (`0.0.0.0`, and `[::]` where the host has IPv6) when \
              no TCP `listen` line is given.",
    }),
    opt!(tcp.send_timeout => Millis {
        name: "tcp_send_timeout", core_form: false, module: PROTO_TCP_MOD,
        cfg_group: "proto_tcp", cfg_name: "send_timeout", runtime: true,
        kind: int(0, MAX_TIMEOUT_S * 1000),
        default_doc: Some("100 ms in a config that uses proto_tcp (OpenSIPS's); else 10000 ms"),
        doc: "OpenSIPS's spelling of `tcp_send_timeout`, in milliseconds (same field). A \
              config file that uses proto_tcp (any `modparam(\"proto_tcp\", ...)` or \
              `loadmodule \"proto_tcp.so\"`, any path, `.so` optional) and sets neither \
              spelling gets OpenSIPS's default, 100 ms; any other config, and \
              `Config::default()`, Kamailio's 10 s.",
    }),
    opt!(tcp.max_msg_chunks => Count {
        name: "tcp_max_msg_chunks", module: PROTO_TCP_MOD, cfg_group: "proto_tcp",
        cfg_name: "max_msg_chunks", runtime: true, kind: int(1, 65535),
        doc: "Most reads one message may take; a message arriving in more pieces drops the \
              connection (overload or a slow-drip attack).",
    }),
    opt!(tcp.crlf_ping => Flag {
        name: "tcp_crlf_pingpong", module: PROTO_TCP_MOD, cfg_group: "proto_tcp",
        cfg_name: "crlf_pingpong", runtime: true,
        doc: "OpenSIPS's spelling of `tcp_crlf_ping` (same field): answer CRLFCRLF with CRLF.",
    }),
    opt!(tcp.crlf_drop => Flag {
        name: "tcp_crlf_drop", module: PROTO_TCP_MOD, cfg_group: "proto_tcp",
        cfg_name: "crlf_drop", runtime: true,
        doc: "Drop packets holding a single CRLF: a read that leaves a lone CRLF between \
              messages discards it at once (traffic, so it postpones the lifetime, but part \
              of no message). Off (0), the CRLF is not dropped but waits for what follows: \
              a CRLF completing a CRLFCRLF ping split by TCP, or the message it precedes; \
              until then it is a message in progress (a read toward `tcp_max_msg_chunks`, \
              timed by `tcp_msg_read_timeout`). A CRLFCRLF ping follows `tcp_crlf_pingpong` \
              either way.",
    }),
    opt!(tcp.asynchronous => Flag {
        name: "tcp_async", core_form: false, module: PROTO_TCP_MOD, cfg_group: "proto_tcp",
        cfg_name: "async",
        doc: "OpenSIPS's spelling of `tcp_async` (same field), written as 0/1.",
    }),
    opt!(tcp.async_max_postponed_chunks => Count {
        name: "tcp_async_max_postponed_chunks", module: PROTO_TCP_MOD, cfg_group: "proto_tcp",
        cfg_name: "async_max_postponed_chunks", runtime: true, kind: int(1, 65535),
        doc: "Most messages pending in one connection's async write queue (not yet \
              completely written: the count goes down as each one is, as OpenSIPS's \
              `async_chunks_no`); a send that would make one more marks the connection \
              broken and drops it.",
    }),
    opt!(tcp.async_local_connect_timeout => Millis {
        name: "tcp_async_local_connect_timeout", module: PROTO_TCP_MOD, cfg_group: "proto_tcp",
        cfg_name: "async_local_connect_timeout", runtime: true, kind: int(0, 60_000),
        doc: "How long a sender tries a connect itself before handing it to the TCP main \
              thread to finish asynchronously. sipwire hands every async connect over at once \
              (as if 0): no sender, a reader least of all, waits for a connect; the value is \
              accepted and shown but not waited.",
    }),
    opt!(tcp.async_local_write_timeout => Millis {
        name: "tcp_async_local_write_timeout", module: PROTO_TCP_MOD, cfg_group: "proto_tcp",
        cfg_name: "async_local_write_timeout", runtime: true, kind: int(0, 60_000),
        doc: "How long a sender tries a write itself before queueing the rest for the TCP \
              main thread.",
    }),
];

/// Kamailio `tcpops` rows (cfg group `tcpops`).
pub(super) static TCPOPS: &[OptionDef] = &[
    opt!(tcpops.closed_event => Closed {
        name: "closed_event", core_form: false, module: Some("tcpops"), cfg_group: "tcpops",
        cfg_name: "closed_event", runtime: true, kind: int(0, 2),
        doc: "0: never raise tcp:closed/timeout/reset; 1: always; 2: only for connections \
              where tcp_enable_closed_event() was called.",
    }),
    opt!(tcpops.event_callback => Text {
        name: "event_callback", core_form: false, module: Some("tcpops"),
        cfg_group: "tcpops", cfg_name: "event_callback", kind: Kind::Text,
        doc: "Name of the KEMI function Kamailio runs for tcp:closed/timeout/reset instead of \
              event_route blocks; empty = none. sipwire has no script engine, so it \
              only parses it: the embedding application's `Handler::on_event` (the C API's \
              on_event callback or event queue) plays its role, and sipwired logs, counts \
              (stats.get relay.events_*) and publishes every event to control-socket \
              subscribers (events.subscribe) whatever it names.",
    }),
];

/// Kamailio `ctl` and `jsonrpcs` rows (cfg groups `ctl`, `jsonrpcs`): sipwired's control
/// transports.
pub(super) static CONTROL: &[OptionDef] = &[
    opt!(control.binrpc => Text {
        name: "binrpc", core_form: false, module: Some("ctl"), cfg_group: "ctl",
        cfg_name: "binrpc", kind: Kind::Text,
        doc: "Where sipwired serves BINRPC (kamcmd, the Prometheus exporters): \
              `unixs:PATH` (a unix stream socket) or `unixd:PATH` (a datagram socket); \
              `off` for none. Empty (the default): a stream socket `sipwire_ctl` beside the \
              JSON-RPC control socket. `--binrpc` overrides it. tcp:/udp: are refused (the \
              control socket is local only).",
    }),
    opt!(control.jsonrpcs_fifo => Text {
        name: "fifo_name", core_form: false, module: Some("jsonrpcs"), cfg_group: "jsonrpcs",
        cfg_name: "fifo_name", kind: Kind::Text,
        doc: "The FIFO `kamctl rpc` writes JSON-RPC requests to (RPCFIFOPATH); replies go to \
              the FIFO a request's `reply_name` names in /tmp. Empty (the default): none. \
              `--jsonrpc-fifo` overrides it.",
    }),
    opt!(control.jsonrpcs_dgram => Text {
        name: "dgram_socket", core_form: false, module: Some("jsonrpcs"),
        cfg_group: "jsonrpcs", cfg_name: "dgram_socket", kind: Kind::Text,
        doc: "The unix datagram socket kamcli (`transport=socket`) sends JSON-RPC requests \
              to; each answer is one datagram back to the sender. Empty (the default): none. \
              `--jsonrpc-dgram` overrides it.",
    }),
];

/// Kamailio `sctp` rows (cfg group `sctp`).
pub(super) static SCTP: &[OptionDef] = &[
    opt!(sctp.socket_rcvbuf => OptBytes {
        name: "sctp_socket_rcvbuf", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "socket_rcvbuf", kind: int0(512, 1 << 30),
        doc: "SCTP socket receive buffer (0 = OS default).",
    }),
    opt!(sctp.socket_sndbuf => OptBytes {
        name: "sctp_socket_sndbuf", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "socket_sndbuf", kind: int0(512, 1 << 30),
        doc: "SCTP socket send buffer (0 = OS default).",
    }),
    opt!(sctp.autoclose => Secs {
        name: "sctp_autoclose", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "autoclose",
        runtime: true, kind: int(1, 1 << 30),
        doc: "Idle time before an association is closed; a runtime change affects new \
              associations only.",
    }),
    opt!(sctp.send_ttl => Millis {
        name: "sctp_send_ttl", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "send_ttl",
        runtime: true, kind: int(0, SCTP_MS_MAX),
        doc: "An unsent message or chunk is dropped after this long: each message is sent \
              with this time to live (`sinfo_timetolive`); one dropped comes back as a send \
              failure (unsent).",
    }),
    opt!(sctp.send_retries => Count {
        name: "sctp_send_retries", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "send_retries", runtime: true, kind: int(0, 9),
        doc: "Re-sends on a re-opened association after the SCTP stack gave up (not protocol \
              retransmissions); keep it low. A message the kernel gives back is sent again \
              to its peer up to this many times, then handed to the application as unsent.",
    }),
    opt!(sctp.assoc_tracking => Flag {
        name: "sctp_assoc_tracking", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "assoc_tracking", runtime: true,
        doc: "Track associations (needed by sctp_assoc_reuse); can be turned off only after \
              sctp_assoc_reuse.",
    }),
    opt!(sctp.assoc_reuse => Flag {
        name: "sctp_assoc_reuse", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "assoc_reuse", runtime: true,
        doc: "Reuse the request's association for replies; needs sctp_assoc_tracking on.",
    }),
    opt!(sctp.max_assocs => Limit {
        name: "sctp_max_assocs", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "max_assocs",
        runtime: true, kind: int(-1, i32::MAX as i64),
        doc: "Most open associations (-1 = as many as the OS allows). With \
              sctp_assoc_tracking a send that would open one more fails before anything is \
              sent; without it (or for one the peer opens) the new association is aborted as \
              soon as it is up.",
    }),
    opt!(sctp.srto_initial => OptMillis {
        name: "sctp_srto_initial", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "srto_initial", runtime: true, runtime_zero_keeps: true,
        kind: int0(0, SCTP_MS_MAX),
        doc: "Initial retransmission timeout (0 = OS default); new associations only.",
    }),
    opt!(sctp.srto_max => OptMillis {
        name: "sctp_srto_max", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "srto_max",
        runtime: true, runtime_zero_keeps: true, kind: int0(0, SCTP_MS_MAX),
        doc: "Largest retransmission timeout (0 = OS default); keep it above the peers' \
              SACK delay.",
    }),
    opt!(sctp.srto_min => OptMillis {
        name: "sctp_srto_min", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "srto_min",
        runtime: true, runtime_zero_keeps: true, kind: int0(0, SCTP_MS_MAX),
        doc: "Smallest retransmission timeout (0 = OS default); below the peers' SACK delay \
              it causes spurious retransmissions.",
    }),
    opt!(sctp.asocmaxrxt => OptCount {
        name: "sctp_asocmaxrxt", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "asocmaxrxt",
        runtime: true, runtime_zero_keeps: true, kind: int0(0, 1024),
        doc: "Retransmissions per association before giving up (0 = OS default); about \
              pathmaxrxt times the number of paths.",
    }),
    opt!(sctp.init_max_attempts => OptCount {
        name: "sctp_init_max_attempts", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "init_max_attempts", runtime: true, runtime_zero_keeps: true,
        kind: int0(0, 1024),
        doc: "INIT retransmissions (0 = OS default).",
    }),
    opt!(sctp.init_max_timeo => OptMillis {
        name: "sctp_init_max_timeo", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "init_max_timeo", runtime: true, runtime_zero_keeps: true,
        kind: int0(0, SCTP_MS_MAX),
        doc: "Largest INIT retransmission timeout (0 = OS default).",
    }),
    opt!(sctp.hbinterval => Heartbeat {
        name: "sctp_hbinterval", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "hbinterval",
        runtime: true, runtime_zero_keeps: true, kind: int0(-1, SCTP_MS_MAX),
        doc: "Heartbeat interval (-1 = no heartbeats, 0 = OS default); new associations \
              only.",
    }),
    opt!(sctp.pathmaxrxt => OptCount {
        name: "sctp_pathmaxrxt", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "pathmaxrxt",
        runtime: true, runtime_zero_keeps: true, kind: int0(0, 1024),
        doc: "Retransmissions per path before it is marked down (0 = OS default).",
    }),
    opt!(sctp.sack_delay => OptMillis {
        name: "sctp_sack_delay", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "sack_delay",
        runtime: true, runtime_zero_keeps: true, kind: int0(0, SCTP_MS_MAX),
        doc: "Delay before a SACK is sent (0 = OS default; the standard says 200-500 ms, and \
              it must stay below srto_min).",
    }),
    opt!(sctp.sack_freq => OptCount {
        name: "sctp_sack_freq", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "sack_freq",
        runtime: true, runtime_zero_keeps: true, kind: int0(0, 1024),
        doc: "Packets received before a SACK is sent without waiting (0 = OS default).",
    }),
    opt!(sctp.max_burst => OptCount {
        name: "sctp_max_burst", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "max_burst",
        runtime: true, runtime_zero_keeps: true, kind: int0(0, 1024),
        doc: "Most packets an association may send in one burst (0 = OS default).",
    }),
];
