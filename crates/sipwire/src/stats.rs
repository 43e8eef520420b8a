//! The runtime's counters (declared with [`counters!`](crate::counters)): relaxed atomics
//! bumped on the hot paths, read as a [`StatsSnapshot`].

crate::counters! {
    /// Live counters of one runtime.
    pub(crate) struct Stats => pub struct StatsSnapshot {
        /// Connections accepted and kept.
        accepted,
        /// Connections refused because `tcp_max_connections` was reached.
        refused_max_connections,
        /// Connections refused by `tcp_accept_unique`.
        refused_unique,
        /// Connections refused by `tcp_accept_iplimit`.
        refused_iplimit,
        /// accept(2) failures other than "no connection waiting".
        accept_errors,
        /// Connections closed, whatever the reason.
        closed,
        /// Closes by peer FIN (`tcp:closed`).
        closed_by_peer,
        /// Closes by peer RST (`tcp:reset`).
        resets,
        /// Closes by keepalive timeout (`tcp:timeout`).
        timeouts,
        /// Closes by `tcp_connection_lifetime`.
        lifetime_expired,
        /// Closes because no PROXY header came within `tcp_wait_data`.
        wait_data_expired,
        /// Closes because a started message did not complete within `tcp_msg_read_timeout`.
        msg_read_timeouts,
        /// Closes because an accepted connection sent no message within `tcp_msg_data_timeout`.
        msg_data_timeouts,
        /// Closes on malformed input (framing errors, too many chunks, oversize messages).
        parse_errors,
        /// Closes because a message needed more than `tcp_max_msg_chunks` reads.
        chunks_exceeded,
        /// `on_message` failures (closing the connection unless `tcp_script_mode = 1`).
        handler_errors,
        /// read(2) calls that returned data.
        reads,
        /// read(2) calls on a readable-reported connection that found nothing (`EAGAIN`):
        /// with a level-triggered poller a short read ends the pass, so these stay rare.
        empty_reads,
        /// Bytes read.
        bytes_read,
        /// SIP and HEP3 messages delivered to the application.
        messages,
        /// CRLFCRLF pings received.
        pings,
        /// CRLF pongs sent.
        pongs,
        /// Lone CRLF keepalives received.
        keepalives,
        /// Connections handed from TCP main to a reader.
        handoffs,
        /// Connections handed back from a reader to TCP main.
        releases,
        /// Events delivered to `on_event`.
        events,
        /// `send` calls.
        sends,
        /// `send` calls that failed.
        send_errors,
        /// Sends that looked their connection up in the shared table, not in the sending
        /// thread's fd cache (`tcp_fd_cache`): every send with the cache off, a thread's first
        /// send to a connection with it on.
        table_lookups,
        /// Bytes written to sockets (direct writes and queue flushes).
        bytes_sent,
        /// Bytes waiting in write queues now (a gauge, bounded by `tcp_wq_max`).
        queued_bytes,
        /// Outbound connects started.
        connects,
        /// Outbound connects that failed (refused, timed out, other errors).
        connect_failures,
        /// Connections closed by `tcp_send_timeout`.
        send_timeouts,
        /// Sends refused by a write-queue limit (the connection was closed).
        queue_full,
        /// Aliases added (`tcp_accept_aliases`, `add_alias`).
        aliases_added,
        /// Timers armed in TCP main now (a gauge: lifetime, wait-data, connect, send timers).
        timers_armed,
        /// Read buffers held by connections now (a gauge: only busy connections, and idle ones
        /// with a partial message, hold one).
        read_buffers_in_use,
        /// Free read buffers the pool keeps for reuse now (a gauge).
        read_buffers_free,
    }
}

pub(crate) use crate::counters::{add, bump};
