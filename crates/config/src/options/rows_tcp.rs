//! Rows for Kamailio's core `tcp_*` parameters.
//!
//! cfg names: the cfg group `tcp` holds exactly the parameters Kamailio 5.6's `tcp` cfg group
//! has, under its names (`cfg.list`: `no_connect`, `wait_data_ms`, ...). The parameters
//! Kamailio keeps outside its cfg framework (plain core globals such as `tcp_children`,
//! `tcp_poll_method`, `tcp_accept_haproxy`) are in the cfg group `core` under their script
//! names, as `disable_tcp` is. In either group the script name (`tcp_no_connect`) is also
//! accepted as an alias of the cfg name.
//!
//! Runtime flags follow Kamailio's `tcp` cfg group: what it declares atomic is changeable
//! here; what it declares read-only is not. Of the `core` rows, only `tcp_accept_iplimit`,
//! `tcp_msg_read_timeout` and `tcp_msg_data_timeout` (not in Kamailio 5.6; plain globals in
//! later Kamailio) are changeable.

use super::codec::{
    opt, Addr, Bytes, Codec, Count, Flag, Millis, OptCount, OptSecs, Poll, Secs, Threads,
};
use super::row::{int, int0, IntSpec, IpFamily, Kind, OptionDef, BASE, MAX_TIMEOUT_S};
use crate::config::Config;
use crate::types::ConfigValue;

/// Kamailio's internal limit of `tcp_rd_buf_size` (16 MiB).
const MAX_RD_BUF_SIZE: i64 = 16 * 1024 * 1024;

/// The docs' default of `tcp_children` (it depends on the config's `children`).
const CHILDREN_DEFAULT_DOC: &str = "`children` if the file sets it, else 8 (Kamailio's \
                                    `children` default)";

/// Kamailio core `tcp_*` rows.
pub(super) static TCP: &[OptionDef] = &[
    opt!(tcp.accept_aliases => Flag {
        name: "tcp_accept_aliases", cfg_name: "accept_aliases", runtime: true,
        doc: "A message whose Via carries an `alias` parameter adds the Via port as an alias \
              of the connection it came on (port only, no host aliases).",
    }),
    opt!(tcp.accept_haproxy => Flag {
        name: "tcp_accept_haproxy", cfg_group: "core", cfg_name: "tcp_accept_haproxy",
        doc: "Every inbound connection must start with a PROXY protocol v1 or v2 header; \
              connections without one are refused. As in Kamailio, the header's source \
              replaces the peer and its destination the local address the application sees \
              (`Message.source`, `Message.local`: `$si`/`$Ri`), while `Message.bound` keeps \
              the listening socket's address. A v2 header's TLVs are kept, bounded by the \
              header: ALPN, authority, unique id, SSL (client-over-TLS bit, verify, version) \
              and any other type, read with `Ctx::proxy`, `ConnInfo.proxy` or C's \
              `sipwire_conn_proxy_tlv`/`_ssl`. TLVs that do not fit the header are ignored \
              (the connection stays); the CRC32C TLV is not checked.",
    }),
    opt!(tcp.accept_hep3 => Flag {
        name: "tcp_accept_hep3", cfg_group: "core", cfg_name: "tcp_accept_hep3",
        doc: "Inbound connections may carry HEP3 packets (framed by the HEP length) instead of \
              SIP.",
    }),
    opt!(tcp.accept_no_cl => Flag {
        name: "tcp_accept_no_cl", cfg_name: "accept_no_cl", runtime: true,
        doc: "Accept messages without a Content-Length header instead of closing the \
              connection. Without `Transfer-Encoding` the body is empty: the message ends at \
              the empty line and the bytes after it start the next message (as Kamailio). \
              With `Transfer-Encoding: chunked` (exactly that coding; HTTP/1.1 XCAP) the body \
              is framed per RFC 9112 §7.1 (hex sizes, extensions ignored, size line at most \
              256 bytes, trailers, final empty line) and delivered as it came, chunk framing \
              included, `body_start` at the first size line. The whole message must fit \
              `tcp_rd_buf_size`. Closed: another coding, Content-Length with \
              Transfer-Encoding, a malformed chunk. Off: any `Transfer-Encoding` closes.",
    }),
    opt!(tcp.accept_iplimit => Count {
        name: "tcp_accept_iplimit", cfg_group: "core", cfg_name: "tcp_accept_iplimit",
        runtime: true,
        kind: int(0, i32::MAX as i64),
        doc: "Most open accepted connections from one IP address (0 = no limit); beyond it \
              a new connection is closed at once, without an event. Outgoing connections \
              are not counted.",
    }),
    opt!(tcp.accept_unique => Flag {
        name: "tcp_accept_unique", cfg_group: "core", cfg_name: "tcp_accept_unique",
        doc: "1: refuse a new connection from a source IP and port that already has one.",
    }),
    opt!(tcp.asynchronous => Flag {
        name: "tcp_async", aliases: &["tcp_buf_write"], cfg_name: "async",
        doc: "Writes and connects that would block are queued and finished later by the TCP \
              main thread (see `tcp_conn_wq_max`, `tcp_wq_max`).",
    }),
    opt!(tcp.children => Threads {
        name: "tcp_children", cfg_group: "core", cfg_name: "tcp_children", kind: int(1, 1024),
        default_doc: Some(CHILDREN_DEFAULT_DOC),
        doc: "Number of reader threads. As in Kamailio, a config file that does not set it \
              gets the number of UDP workers: its `children = N` (0 or less means 8), else \
              Kamailio's `children` default, 8. sipwire has no UDP workers; `children` is \
              read only for this. A config built in code (`Config::default()`) has 8.",
    }),
    opt!(tcp.clone_rcvbuf => Flag {
        name: "tcp_clone_rcvbuf", cfg_group: "core", cfg_name: "tcp_clone_rcvbuf",
        doc: "1: hand the application an owned copy of each received message instead of a \
              slice of the read buffer.",
    }),
    opt!(tcp.connection_lifetime => Secs {
        name: "tcp_connection_lifetime", cfg_name: "connection_lifetime", runtime: true,
        kind: int(0, MAX_TIMEOUT_S),
        doc: "A connection with no traffic for this long is closed (0 closes idle connections \
              almost at once).",
    }),
    opt!(tcp.connection_match => Flag {
        name: "tcp_connection_match", cfg_group: "core", cfg_name: "tcp_connection_match",
        doc: "How a send picks among open connections to its destination, as Kamailio's \
              tcp_send. 0: the newest connection to the remote IP:port (or alias); a send from \
              a named local address needs that local IP (and, with tcp_reuse_port, its port). \
              1: first a connection whose local port is the sending socket's (the named local \
              address's, else the first TCP listener of the destination's family, Kamailio's \
              default send socket), then as with 0. So 1 prefers the connection a peer opened \
              to our listener over one we opened from an ephemeral port; sipwired's \
              forwarding follows it.",
    }),
    opt!(tcp.connect_timeout => Secs {
        name: "tcp_connect_timeout", cfg_name: "connect_timeout", runtime: true,
        kind: int(0, MAX_TIMEOUT_S),
        doc: "An outgoing connect that has not completed after this long is aborted.",
    }),
    opt!(tcp.conn_wq_max => Bytes {
        name: "tcp_conn_wq_max", cfg_name: "conn_wq_max", runtime: true,
        kind: int(0, 1024 * 1024),
        doc: "Most bytes queued for write on one connection; queueing more fails and closes \
              the connection (too slow). Only with `tcp_async`.",
    }),
    opt!(tcp.crlf_ping => Flag {
        name: "tcp_crlf_ping", cfg_name: "crlf_ping", runtime: true,
        doc: "Answer a CRLFCRLF keepalive ping with a CRLF pong. Same field as proto_tcp \
              `tcp_crlf_pingpong`.",
    }),
    opt!(tcp.defer_accept => OptSecs {
        name: "tcp_defer_accept", cfg_name: "defer_accept",
        kind: Kind::Int(IntSpec { min: 0, max: 3600, zero_unset: true, clamp_max: false,
                                  yes_no: true }),
        doc: "Accept a connection only once data has arrived: on Linux TCP_DEFER_ACCEPT with \
              this timeout in seconds; on FreeBSD the `dataready` accept filter, which has no \
              timeout (not tested: the project is built and tested on Linux). `no`/0 = \
              disabled, `yes` = 1.",
    }),
    opt!(tcp.delayed_ack => Flag {
        name: "tcp_delayed_ack", cfg_name: "delayed_ack", runtime: true,
        doc: "Linux TCP_QUICKACK off, so ACKs can wait to ride on data. Outgoing sockets \
              get it before connect(), as in Kamailio, so the handshake's last ACK goes out \
              with the first data segment; accepted sockets get it after accept(). Not set on \
              listeners (accepted sockets would not inherit it).",
    }),
    opt!(tcp.fd_cache => Flag {
        name: "tcp_fd_cache", cfg_name: "fd_cache",
        doc: "Each thread caches the connections it recently sent on, so sending takes no \
              global lock; the stats.get counter table_lookups counts the sends that did look \
              in the shared table (every send with the cache off).",
    }),
    opt!(tcp.keepalive => Flag {
        name: "tcp_keepalive", cfg_name: "keepalive", runtime: true,
        doc: "Set SO_KEEPALIVE on connections (accepted ones and, before connect(), \
              outgoing ones), with tcp_keepidle, tcp_keepcnt and tcp_keepintvl. As in \
              Kamailio, setting one of those three turns keepalive on even with \
              `tcp_keepalive = no` (which still reads back as set).",
    }),
    opt!(tcp.keepcnt => OptCount {
        name: "tcp_keepcnt", cfg_name: "keepcnt", runtime: true, kind: int0(0, 1024),
        doc: "Unanswered keepalive probes before the connection is dropped (TCP_KEEPCNT; \
              0 = OS default). Setting it turns keepalive on, whatever `tcp_keepalive` says.",
    }),
    opt!(tcp.keepidle => OptSecs {
        name: "tcp_keepidle", cfg_name: "keepidle", runtime: true, kind: int0(0, 86_400),
        doc: "Idle time before the first keepalive probe (TCP_KEEPIDLE; 0 = OS default). \
              Setting it turns keepalive on, whatever `tcp_keepalive` says.",
    }),
    opt!(tcp.keepintvl => OptSecs {
        name: "tcp_keepintvl", cfg_name: "keepintvl", runtime: true, kind: int0(0, 86_400),
        doc: "Time between keepalive probes (TCP_KEEPINTVL; 0 = OS default). Setting it \
              turns keepalive on, whatever `tcp_keepalive` says.",
    }),
    opt!(tcp.linger2 => OptSecs {
        name: "tcp_linger2", cfg_name: "linger2", runtime: true, kind: int0(0, 3600),
        doc: "Lifetime of orphaned sockets in FIN_WAIT2 (TCP_LINGER2; 0 = OS default).",
    }),
    opt!(tcp.max_connections => Count {
        name: "tcp_max_connections", cfg_name: "max_connections", runtime: true,
        kind: int(0, i32::MAX as i64),
        doc: "Most open TCP connections; beyond it incoming connections are refused. Only \
              accepts are checked: outgoing connects are not refused (Kamailio refuses them \
              too). Kamailio caps runtime raises at the startup value; sipwire's table grows, \
              so it does not.",
    }),
    opt!(tcp.msg_data_timeout => Secs {
        name: "tcp_msg_data_timeout", cfg_group: "core", cfg_name: "tcp_msg_data_timeout",
        runtime: true,
        kind: int(0, MAX_TIMEOUT_S),
        doc: "An accepted connection that has sent no complete SIP (or HEP3) message this \
              long after it was accepted is closed (CRLF keepalives do not count; 0 = off). \
              A change applies to connections accepted after it.",
    }),
    opt!(tcp.msg_read_timeout => Secs {
        name: "tcp_msg_read_timeout", cfg_group: "core", cfg_name: "tcp_msg_read_timeout",
        runtime: true,
        kind: int(0, MAX_TIMEOUT_S),
        doc: "A message whose first bytes arrived must be complete this long after them, \
              or the connection is closed (0 = off). Each connection is checked once per \
              period, so a change applies to it from its next check.",
    }),
    opt!(tcp.no_connect => Flag {
        name: "tcp_no_connect", cfg_name: "no_connect", runtime: true,
        doc: "Never open outgoing connections; only accepted ones are used for sending.",
    }),
    opt!(tcp.poll_method => Poll {
        name: "tcp_poll_method", cfg_group: "core", cfg_name: "tcp_poll_method",
        kind: Kind::PollMethod,
        doc: "Readiness backend: none (best for the OS: epoll_lt on Linux, as Kamailio picks; \
              kqueue on the BSDs), poll, epoll_lt, epoll_et, select, \
              kqueue. kqueue exists only on the BSDs and macOS: `make test` type-checks it for \
              them and unit-tests its logic on Linux against a fake kevent; it has never \
              run on a real kernel here. Kamailio's sigio_rt and /dev/poll are refused, as \
              are methods the OS lacks.",
    }),
    opt!(tcp.rd_buf_size => Bytes {
        name: "tcp_rd_buf_size", cfg_name: "rd_buf_size", runtime: true,
        kind: Kind::Int(IntSpec { min: 512, max: MAX_RD_BUF_SIZE, zero_unset: false,
                                  clamp_max: true, yes_no: false }),
        doc: "Read buffer of a busy connection, so also the largest message accepted. Above \
              16 MiB the file value is clamped with a warning, as Kamailio documents; the \
              512-byte minimum is Kamailio's runtime minimum.",
    }),
    opt!(tcp.reuse_port => Flag {
        name: "tcp_reuse_port", cfg_name: "reuse_port", runtime: true,
        doc: "SO_REUSEPORT, so outgoing connections can use the listening ports as source \
              ports.",
    }),
    opt!(tcp.script_mode => Flag {
        name: "tcp_script_mode", cfg_group: "core", cfg_name: "tcp_script_mode",
        doc: "1: keep a connection open when processing one of its messages fails (0 closes \
              it).",
    }),
    opt!(tcp.send_timeout => Secs {
        name: "tcp_send_timeout", cfg_name: "send_timeout", runtime: true,
        kind: int(0, MAX_TIMEOUT_S),
        default_doc: Some("10 s (Kamailio's); 100 ms in a config that uses proto_tcp"),
        doc: "A connection that cannot be written for this long while data waits is closed. \
              Kamailio's spelling, in seconds; proto_tcp's is in ms (same field). The default \
              is Kamailio's 10 s, except that a config file using OpenSIPS's proto_tcp (any \
              `modparam(\"proto_tcp\", ...)` or `loadmodule \"proto_tcp.so\"`) and setting \
              neither spelling gets OpenSIPS's 100 ms.",
    }),
    opt!(tcp.source_ipv4 => Addr {
        name: "tcp_source_ipv4", cfg_group: "core", cfg_name: "tcp_source_ipv4",
        kind: Kind::Ip(IpFamily::V4),
        doc: "Source address for outgoing IPv4 connections (if binding it fails, the OS \
              picks one).",
    }),
    opt!(tcp.source_ipv6 => Addr {
        name: "tcp_source_ipv6", cfg_group: "core", cfg_name: "tcp_source_ipv6",
        kind: Kind::Ip(IpFamily::V6),
        doc: "Source address for outgoing IPv6 connections (if binding it fails, the OS \
              picks one).",
    }),
    opt!(tcp.syncnt => OptCount {
        name: "tcp_syncnt", cfg_name: "syncnt", runtime: true, kind: int0(0, 1024),
        doc: "SYN retransmissions before a connect is aborted (TCP_SYNCNT; 0 = OS default), \
              set on outgoing sockets before connect(). Listeners get it too, as in \
              Kamailio's tcp_init: there it bounds the SYN-ACK retransmissions (the limit to \
              pair with `tcp_defer_accept`); they keep the value they were started with.",
    }),
    opt!(tcp.wait_data => Millis {
        name: "tcp_wait_data", cfg_name: "wait_data_ms", runtime: true,
        kind: int(0, 7_200_000),
        doc: "How long to wait for data where a read must wait; today, for the PROXY \
              header with `tcp_accept_haproxy`. Kamailio's range; a runtime change applies \
              to connections accepted after it.",
    }),
    opt!(tcp.wq_blk_size => Bytes {
        name: "tcp_wq_blk_size", cfg_name: "wq_blk_size", runtime: true,
        kind: int(1, 65535),
        doc: "Block size of the async write queue (a larger write gets a larger block); a \
              tuning/debugging knob.",
    }),
    opt!(tcp.wq_max => Bytes {
        name: "tcp_wq_max", cfg_name: "wq_max", runtime: true,
        kind: int(0, 1024 * 1024 * 1024),
        doc: "Most bytes queued for write over all connections. Only with `tcp_async`.",
    }),
];
