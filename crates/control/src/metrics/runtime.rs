//! [`RuntimeMetrics`]: a runtime's [`Transport`] as metric families. Every runtime counter
//! (`Transport::stats`) has a place here, checked by a test, so a new counter cannot be
//! forgotten silently.

use sipwire::Transport;

use super::{MetricSet, MetricsSource};

/// Plain counters: (stats field, metric name, help).
const COUNTERS: &[(&str, &str, &str)] = &[
    (
        "accepted",
        "sipwire_connections_accepted_total",
        "Inbound TCP connections accepted and kept.",
    ),
    (
        "accept_errors",
        "sipwire_accept_errors_total",
        "accept(2) failures other than no connection waiting.",
    ),
    (
        "closed",
        "sipwire_connections_closed_total",
        "TCP connections closed, whatever the reason.",
    ),
    (
        "connects",
        "sipwire_connect_attempts_total",
        "Outbound TCP connects started.",
    ),
    (
        "messages",
        "sipwire_messages_received_total",
        "SIP and HEP3 messages received over TCP and delivered to the application.",
    ),
    (
        "bytes_read",
        "sipwire_received_bytes_total",
        "Bytes read from TCP connections.",
    ),
    (
        "reads",
        "sipwire_reads_total",
        "read(2) calls on TCP connections that returned data.",
    ),
    (
        "empty_reads",
        "sipwire_empty_reads_total",
        "read(2) calls on TCP connections that found nothing (EAGAIN).",
    ),
    (
        "sends",
        "sipwire_sends_total",
        "Send calls (TCP and SCTP destinations).",
    ),
    (
        "send_errors",
        "sipwire_send_errors_total",
        "Send calls that failed.",
    ),
    (
        "bytes_sent",
        "sipwire_sent_bytes_total",
        "Bytes written to TCP sockets (direct writes and queue flushes).",
    ),
    (
        "queue_full",
        "sipwire_write_queue_full_total",
        "Sends refused by a write-queue limit (tcp_conn_wq_max, tcp_wq_max); the connection was closed.",
    ),
    (
        "handler_errors",
        "sipwire_handler_errors_total",
        "Application on_message failures.",
    ),
    (
        "chunks_exceeded",
        "sipwire_chunks_exceeded_total",
        "Connections closed because a message needed more than tcp_max_msg_chunks reads (also counted as framing errors).",
    ),
    (
        "pings",
        "sipwire_crlf_pings_total",
        "CRLFCRLF keepalive pings received.",
    ),
    ("pongs", "sipwire_crlf_pongs_total", "CRLF pongs sent."),
    (
        "keepalives",
        "sipwire_crlf_keepalives_total",
        "Lone CRLF keepalives received.",
    ),
    (
        "handoffs",
        "sipwire_handoffs_total",
        "Connections handed from TCP main to a reader thread.",
    ),
    (
        "releases",
        "sipwire_releases_total",
        "Connections handed back from a reader thread to TCP main.",
    ),
    (
        "events",
        "sipwire_close_events_total",
        "Close events delivered to the application (as closed_event lets them through).",
    ),
    (
        "table_lookups",
        "sipwire_send_table_lookups_total",
        "Sends that looked their connection up in the shared table (not in the fd cache).",
    ),
    (
        "aliases_added",
        "sipwire_aliases_added_total",
        "Connection aliases added (tcp_accept_aliases, add_alias).",
    ),
];

/// `sipwire_connections_rejected_total{reason}`: (stats field, reason).
const REJECTED: &[(&str, &str)] = &[
    ("refused_max_connections", "max_connections"),
    ("refused_unique", "unique"),
    ("refused_iplimit", "iplimit"),
];

/// Stats fields whose counts `sipwire_connections_closed_by_reason_total` (from
/// `Transport::closes_by_reason`, every reason) already carries: (stats field, reason).
#[cfg(test)]
const CLOSED_BY: &[(&str, &str)] = &[
    ("closed_by_peer", "peer"),
    ("resets", "reset"),
    ("timeouts", "timeout"),
    ("lifetime_expired", "lifetime"),
    ("wait_data_expired", "wait_data"),
    ("msg_read_timeouts", "msg_read_timeout"),
    ("msg_data_timeouts", "msg_data_timeout"),
    ("send_timeouts", "send_timeout"),
    ("parse_errors", "framing_error"),
];

/// Gauges: (stats field, metric name, help).
const GAUGES: &[(&str, &str, &str)] = &[
    (
        "queued_bytes",
        "sipwire_write_queue_bytes",
        "Bytes waiting in TCP write queues now.",
    ),
    (
        "timers_armed",
        "sipwire_timers_armed",
        "Timers armed in TCP main now.",
    ),
    (
        "read_buffers_in_use",
        "sipwire_read_buffers_in_use",
        "Read buffers held by connections now.",
    ),
    (
        "read_buffers_free",
        "sipwire_read_buffers_free",
        "Free read buffers the pool keeps for reuse now.",
    ),
];

/// Help of the SCTP counters (`Transport::sctp_stats` names); others get a generic one.
const SCTP_HELP: &[(&str, &str)] = &[
    ("sctp_messages", "SIP messages received over SCTP."),
    (
        "sctp_bytes_read",
        "Bytes of SIP messages received over SCTP.",
    ),
    ("sctp_sends", "Messages sent over SCTP."),
    ("sctp_bytes_sent", "Bytes sent over SCTP."),
    ("sctp_send_errors", "SCTP sends that failed at once."),
    ("sctp_assoc_up", "SCTP associations that came up."),
    ("sctp_assoc_lost", "SCTP associations lost."),
    ("sctp_assoc_shutdown", "SCTP associations shut down."),
    (
        "sctp_assoc_failed",
        "SCTP associations that could not be set up.",
    ),
    (
        "sctp_assoc_refused",
        "New SCTP associations refused by sctp_max_assocs.",
    ),
    ("sctp_addr_changes", "SCTP peer address changes."),
    (
        "sctp_send_failed",
        "SCTP messages the kernel reported unsent.",
    ),
    (
        "sctp_resent",
        "SCTP messages sent again (sctp_send_retries).",
    ),
    (
        "sctp_too_big",
        "SCTP messages larger than the receive buffer (association aborted).",
    ),
    (
        "sctp_parse_errors",
        "SCTP messages that are not SIP, dropped.",
    ),
];

/// The runtime's families, read from its [`Transport`] at each scrape.
#[derive(Debug, Clone)]
pub struct RuntimeMetrics {
    transport: Transport,
}

impl RuntimeMetrics {
    /// The metrics of the runtime behind `transport`.
    pub fn new(transport: Transport) -> RuntimeMetrics {
        RuntimeMetrics { transport }
    }
}

impl MetricsSource for RuntimeMetrics {
    fn collect(&self, out: &mut MetricSet) {
        let t = &self.transport;
        let fields = t.stats().fields();
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| *k == name)
                .map_or(0, |(_, v)| *v)
        };
        let cfg = t.config().snapshot();
        out.gauge(
            "sipwire_connections",
            "Open TCP connections (inbound and outbound).",
            t.connection_count() as u64,
        );
        out.gauge(
            "sipwire_connections_limit",
            "The connection limit (tcp_max_connections).",
            u64::from(cfg.tcp.max_connections),
        );
        for (field, name, help) in COUNTERS {
            out.counter(name, help, get(field));
        }
        let pick = |table: &[(&str, &'static str)]| -> Vec<(&'static str, u64)> {
            table.iter().map(|(f, reason)| (*reason, get(f))).collect()
        };
        out.counters(
            "sipwire_connections_rejected_total",
            "Connections refused, by the limit that refused them (max_connections counts \
             refused connects too).",
            "reason",
            &pick(REJECTED),
        );
        out.counters(
            "sipwire_connections_closed_by_reason_total",
            "TCP connection closes by cause (every cause: they add up to \
             sipwire_connections_closed_total).",
            "reason",
            &t.closes_by_reason(),
        );
        let connect = t.connect_time();
        out.counter(
            "sipwire_connections_established_total",
            "Outbound TCP connects that completed (the connection came up).",
            connect.count(),
        );
        out.counters(
            "sipwire_connect_results_total",
            "Outbound TCP connects by result: success (came up) or failure (refused, timed \
             out, other errors).",
            "result",
            &[
                ("success", connect.count()),
                ("failure", get("connect_failures")),
            ],
        );
        out.histogram(
            "sipwire_connect_time_seconds",
            "Outbound TCP connect time, from the connect's start to the connection being up.",
            &connect,
        );
        for (field, name, help) in GAUGES {
            out.gauge(name, help, get(field));
        }
        if let Ok(n) = sipwire_sys::open_fd_count() {
            out.gauge(
                "sipwire_open_fds",
                "Open file descriptors of the process.",
                n as u64,
            );
        }
        if let Ok((soft, _)) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        {
            // rlim_t is u64 on Linux, i64 on the BSDs (never negative: RLIM_INFINITY is
            // i64::MAX there).
            #[allow(clippy::unnecessary_cast)]
            let soft = soft as u64;
            out.gauge(
                "sipwire_max_fds",
                "The process's file descriptor limit (soft RLIMIT_NOFILE).",
                soft,
            );
        }
        out.gauge(
            "sipwire_readers",
            "Reader threads (tcp_children).",
            t.reader_count() as u64,
        );
        out.gauge_f64(
            "sipwire_uptime_seconds",
            "Time since the runtime started.",
            t.uptime().as_secs_f64(),
        );
        if !t.sctp_endpoints().is_empty() {
            for (name, v) in t.sctp_stats() {
                let help = SCTP_HELP
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or("An SCTP counter.", |(_, h)| h);
                out.counter(&format!("sipwire_{name}_total"), help, v);
            }
        }
    }
}

/// Every stats field the families above read (the test checks it is all of them).
#[cfg(test)]
pub(super) fn fields_used() -> Vec<&'static str> {
    let mut v: Vec<&str> = COUNTERS.iter().map(|(f, ..)| *f).collect();
    v.extend(REJECTED.iter().map(|(f, _)| *f));
    v.extend(CLOSED_BY.iter().map(|(f, _)| *f));
    v.extend(GAUGES.iter().map(|(f, ..)| *f));
    v.push("connect_failures");
    v
}
