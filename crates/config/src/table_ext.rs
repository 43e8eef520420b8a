//! Rows for OpenSIPS `proto_tcp`, Kamailio `tcpops` and `sctp`, and core `disable_tcp` /
//! `listen`.
//!
//! proto_tcp parameters are accepted as `modparam("proto_tcp", ...)`; those whose name does
//! not clash with a Kamailio core name are also accepted as `name = value`. sctp parameters
//! are accepted both as `modparam("sctp", ...)` and `name = value`. tcpops parameters only as
//! modparams.

use super::codec::{
    opt, Closed, Codec, Count, Flag, Heartbeat, Limit, Millis, OptBytes, OptCount, OptMillis, Port,
    Secs, Text,
};
use super::options::{int, int0, Kind, Lands, OptionDef, BASE};
use super::table::MAX_TIMEOUT_S;
use super::types::ConfigValue;
use super::Config;

const PROTO_TCP_MOD: Option<&str> = Some("proto_tcp");
const SCTP_MOD: Option<&str> = Some("sctp");
/// Kamailio's upper bound for SCTP times (2^30 ms).
const SCTP_MS_MAX: i64 = 1 << 30;

/// OpenSIPS `proto_tcp` rows (cfg group `proto_tcp`).
pub(super) static PROTO_TCP: &[OptionDef] = &[
    opt!(tcp.port => Port {
        name: "tcp_port", module: PROTO_TCP_MOD, cfg_group: "proto_tcp", cfg_name: "port",
        kind: int(1, 65535), tests: &["listen_forms"],
        lands: Lands::Built,
        doc: "Port of `listen=tcp:IP` lines that give none, whatever the order of the lines, \
              and of the listener on every interface when no TCP `listen` line is given.",
    }),
    opt!(tcp.send_timeout => Millis {
        name: "tcp_send_timeout", core_form: false, module: PROTO_TCP_MOD,
        cfg_group: "proto_tcp", cfg_name: "send_timeout", runtime: true,
        kind: int(0, MAX_TIMEOUT_S * 1000),
        tests: &["send_timeout_units"],
        lands: Lands::Built,
        runtime_tests: &[
            "outbound::send_timeout_closes_a_stuck_queue_in_async_mode",
            "outbound::send_timeout_fails_a_blocking_send",
        ],
        doc: "OpenSIPS's spelling of `tcp_send_timeout`, in milliseconds (same field; \
              OpenSIPS's own default is 100 ms, sipwire keeps Kamailio's 10 s).",
    }),
    opt!(tcp.max_msg_chunks => Count {
        name: "tcp_max_msg_chunks", module: PROTO_TCP_MOD, cfg_group: "proto_tcp",
        cfg_name: "max_msg_chunks", runtime: true, kind: int(1, 65535),
        lands: Lands::Built,
        runtime_tests: &["options::max_msg_chunks_closes_a_message_dribbled_in_too_many_reads"],
        doc: "Most reads one message may take; a message arriving in more pieces drops the \
              connection (overload or a slow-drip attack).",
    }),
    opt!(tcp.crlf_ping => Flag {
        name: "tcp_crlf_pingpong", module: PROTO_TCP_MOD, cfg_group: "proto_tcp",
        cfg_name: "crlf_pingpong", runtime: true,
        tests: &["crlf_ping_both_spellings_last_wins"],
        lands: Lands::Built,
        runtime_tests: &[
            "options::crlf_ping_gets_a_pong_and_lone_crlf_gets_nothing",
            "options::crlf_pong_can_be_turned_off",
            "options::runtime_changes_apply_to_the_next_message",
        ],
        doc: "OpenSIPS's spelling of `tcp_crlf_ping` (same field): answer CRLFCRLF with CRLF.",
    }),
    opt!(tcp.crlf_drop => Flag {
        name: "tcp_crlf_drop", module: PROTO_TCP_MOD, cfg_group: "proto_tcp",
        cfg_name: "crlf_drop", runtime: true,
        lands: Lands::Built,
        doc: "Drop a lone CRLF between messages (a CRLFCRLF ping still follows the ping \
              option).",
    }),
    opt!(tcp.asynchronous => Flag {
        name: "tcp_async", core_form: false, module: PROTO_TCP_MOD, cfg_group: "proto_tcp",
        cfg_name: "async", tests: &["async_both_spellings"],
        lands: Lands::Built,
        runtime_tests: &[
            "outbound::send_by_address_blocking_mode",
            "outbound::send_timeout_fails_a_blocking_send",
            "outbound::connect_timeout_fails_a_blocking_send",
            "outbound::send_timeout_closes_a_stuck_queue_in_async_mode",
            "outbound::connect_timeout_aborts_a_pending_connect_async",
        ],
        doc: "OpenSIPS's spelling of `tcp_async` (same field), written as 0/1.",
    }),
    opt!(tcp.async_max_postponed_chunks => Count {
        name: "tcp_async_max_postponed_chunks", module: PROTO_TCP_MOD, cfg_group: "proto_tcp",
        cfg_name: "async_max_postponed_chunks", runtime: true, kind: int(1, 65535),
        lands: Lands::Built,
        runtime_tests: &["outbound::postponed_chunks_limit_counts_messages"],
        doc: "Most messages queued for async write on one connection; more marks the \
              connection broken and drops it.",
    }),
    opt!(tcp.async_local_connect_timeout => Millis {
        name: "tcp_async_local_connect_timeout", module: PROTO_TCP_MOD, cfg_group: "proto_tcp",
        cfg_name: "async_local_connect_timeout", runtime: true, kind: int(0, 60_000),
        lands: Lands::Built,
        doc: "How long a sender tries a connect itself before handing it to the TCP main \
              thread to finish asynchronously.",
    }),
    opt!(tcp.async_local_write_timeout => Millis {
        name: "tcp_async_local_write_timeout", module: PROTO_TCP_MOD, cfg_group: "proto_tcp",
        cfg_name: "async_local_write_timeout", runtime: true, kind: int(0, 60_000),
        lands: Lands::Built,
        doc: "How long a sender tries a write itself before queueing the rest for the TCP \
              main thread.",
    }),
];

/// Kamailio `tcpops` rows (cfg group `tcpops`).
pub(super) static TCPOPS: &[OptionDef] = &[
    opt!(tcpops.closed_event => Closed {
        name: "closed_event", core_form: false, module: Some("tcpops"), cfg_group: "tcpops",
        cfg_name: "closed_event", runtime: true, kind: int(0, 2),
        lands: Lands::Built,
        runtime_tests: &["options::closed_event_modes"],
        doc: "0: never raise tcp:closed/timeout/reset; 1: always; 2: only for connections \
              where tcp_enable_closed_event() was called.",
    }),
    opt!(tcpops.event_callback => Text {
        name: "event_callback", core_form: false, module: Some("tcpops"),
        cfg_group: "tcpops", cfg_name: "event_callback", kind: Kind::Text,
        lands: Lands::Config,
        doc: "Name of the KEMI function Kamailio runs for tcp:closed/timeout/reset instead of \
              event_route blocks; empty = none. sipwire only parses it: the embedding \
              application's `Handler::on_event` plays its role.",
    }),
];

/// Kamailio `sctp` rows (cfg group `sctp`).
pub(super) static SCTP: &[OptionDef] = &[
    opt!(sctp.socket_rcvbuf => OptBytes {
        name: "sctp_socket_rcvbuf", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "socket_rcvbuf", kind: int0(512, 1 << 30), lands: Lands::Sctp,
        doc: "SCTP socket receive buffer (0 = OS default).",
    }),
    opt!(sctp.socket_sndbuf => OptBytes {
        name: "sctp_socket_sndbuf", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "socket_sndbuf", kind: int0(512, 1 << 30), lands: Lands::Sctp,
        doc: "SCTP socket send buffer (0 = OS default).",
    }),
    opt!(sctp.autoclose => Secs {
        name: "sctp_autoclose", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "autoclose",
        runtime: true, kind: int(1, 1 << 30), lands: Lands::Sctp,
        doc: "Idle time before an association is closed; a runtime change affects new \
              associations only.",
    }),
    opt!(sctp.send_ttl => Millis {
        name: "sctp_send_ttl", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "send_ttl",
        runtime: true, kind: int(0, SCTP_MS_MAX), lands: Lands::Sctp,
        doc: "An unsent message or chunk is dropped after this long.",
    }),
    opt!(sctp.send_retries => Count {
        name: "sctp_send_retries", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "send_retries", runtime: true, kind: int(0, 9), lands: Lands::Sctp,
        doc: "Re-sends on a re-opened association after the SCTP stack gave up (not protocol \
              retransmissions); keep it low.",
    }),
    opt!(sctp.assoc_tracking => Flag {
        name: "sctp_assoc_tracking", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "assoc_tracking", runtime: true, lands: Lands::Sctp,
        tests: &["sctp_assoc_dependency"],
        doc: "Track associations (needed by sctp_assoc_reuse); can be turned off only after \
              sctp_assoc_reuse.",
    }),
    opt!(sctp.assoc_reuse => Flag {
        name: "sctp_assoc_reuse", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "assoc_reuse", runtime: true, lands: Lands::Sctp,
        tests: &["sctp_assoc_dependency"],
        doc: "Reuse the request's association for replies; needs sctp_assoc_tracking on.",
    }),
    opt!(sctp.max_assocs => Limit {
        name: "sctp_max_assocs", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "max_assocs",
        runtime: true, kind: int(-1, i32::MAX as i64), lands: Lands::Sctp,
        doc: "Most open associations (-1 = as many as the OS allows); beyond it new ones are \
              closed at once.",
    }),
    opt!(sctp.srto_initial => OptMillis {
        name: "sctp_srto_initial", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "srto_initial", runtime: true, runtime_zero_keeps: true,
        kind: int0(0, SCTP_MS_MAX), lands: Lands::Sctp,
        doc: "Initial retransmission timeout (0 = OS default); new associations only.",
    }),
    opt!(sctp.srto_max => OptMillis {
        name: "sctp_srto_max", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "srto_max",
        runtime: true, runtime_zero_keeps: true, kind: int0(0, SCTP_MS_MAX),
        lands: Lands::Sctp,
        doc: "Largest retransmission timeout (0 = OS default); keep it above the peers' \
              SACK delay.",
    }),
    opt!(sctp.srto_min => OptMillis {
        name: "sctp_srto_min", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "srto_min",
        runtime: true, runtime_zero_keeps: true, kind: int0(0, SCTP_MS_MAX),
        lands: Lands::Sctp,
        doc: "Smallest retransmission timeout (0 = OS default); below the peers' SACK delay \
              it causes spurious retransmissions.",
    }),
    opt!(sctp.asocmaxrxt => OptCount {
        name: "sctp_asocmaxrxt", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "asocmaxrxt",
        runtime: true, runtime_zero_keeps: true, kind: int0(0, 1024), lands: Lands::Sctp,
        doc: "Retransmissions per association before giving up (0 = OS default); about \
              pathmaxrxt times the number of paths.",
    }),
    opt!(sctp.init_max_attempts => OptCount {
        name: "sctp_init_max_attempts", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "init_max_attempts", runtime: true, runtime_zero_keeps: true,
        kind: int0(0, 1024), lands: Lands::Sctp,
        doc: "INIT retransmissions (0 = OS default).",
    }),
    opt!(sctp.init_max_timeo => OptMillis {
        name: "sctp_init_max_timeo", module: SCTP_MOD, cfg_group: "sctp",
        cfg_name: "init_max_timeo", runtime: true, runtime_zero_keeps: true,
        kind: int0(0, SCTP_MS_MAX), lands: Lands::Sctp,
        doc: "Largest INIT retransmission timeout (0 = OS default).",
    }),
    opt!(sctp.hbinterval => Heartbeat {
        name: "sctp_hbinterval", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "hbinterval",
        runtime: true, runtime_zero_keeps: true, kind: int0(-1, SCTP_MS_MAX),
        lands: Lands::Sctp,
        doc: "Heartbeat interval (-1 = no heartbeats, 0 = OS default); new associations \
              only.",
    }),
    opt!(sctp.pathmaxrxt => OptCount {
        name: "sctp_pathmaxrxt", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "pathmaxrxt",
        runtime: true, runtime_zero_keeps: true, kind: int0(0, 1024), lands: Lands::Sctp,
        doc: "Retransmissions per path before it is marked down (0 = OS default).",
    }),
    opt!(sctp.sack_delay => OptMillis {
        name: "sctp_sack_delay", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "sack_delay",
        runtime: true, runtime_zero_keeps: true, kind: int0(0, SCTP_MS_MAX),
        lands: Lands::Sctp,
        doc: "Delay before a SACK is sent (0 = OS default; the standard says 200-500 ms, and \
              it must stay below srto_min).",
    }),
    opt!(sctp.sack_freq => OptCount {
        name: "sctp_sack_freq", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "sack_freq",
        runtime: true, runtime_zero_keeps: true, kind: int0(0, 1024), lands: Lands::Sctp,
        doc: "Packets received before a SACK is sent without waiting (0 = OS default).",
    }),
    opt!(sctp.max_burst => OptCount {
        name: "sctp_max_burst", module: SCTP_MOD, cfg_group: "sctp", cfg_name: "max_burst",
        runtime: true, runtime_zero_keeps: true, kind: int0(0, 1024), lands: Lands::Sctp,
        doc: "Most packets an association may send in one burst (0 = OS default).",
    }),
];

/// Core rows that are not `tcp_*` (cfg group `core`).
pub(super) static CORE: &[OptionDef] = &[
    opt!(disable_tcp => Flag {
        name: "disable_tcp", cfg_group: "core", cfg_name: "disable_tcp",
        lands: Lands::Built,
        runtime_tests: &["options::disable_tcp_listens_nowhere"],
        doc: "Do not start TCP at all.",
    }),
    OptionDef {
        name: "listen",
        aliases: &["socket"],
        cfg_group: "core",
        cfg_name: "listen",
        kind: Kind::Listen,
        lands: Lands::Built,
        tests: &["listen_forms"],
        runtime_tests: &[
            "options::accept_unique_refuses_a_second_connection_from_the_same_ip_and_port",
            "options::reuse_port_lets_two_runtimes_share_a_port",
            "outbound::connection_match_requires_the_local_address",
        ],
        doc: "Address to listen on, repeatable: `tcp:IP[:PORT]`, `tcp:[IPv6][:PORT]`, \
              `sctp:...`; udp/tls/ws/wss lines get a warning. A missing TCP port is \
              `tcp_port`. `socket=` (newer OpenSIPS) is the same. The runtime binds the TCP \
              lines; `sctp:` lines wait for the SCTP transport.",
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
