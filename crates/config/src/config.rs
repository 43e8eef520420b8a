//! The [`Config`] struct: every option as a typed field, grouped as the references group
//! them, with Kamailio's defaults. What each option means is in its row (`options/rows_*.rs`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::types::{ClosedEvent, Listen, ListenProto, SctpHeartbeat};
use sipwire_poll::PollMethod;

/// The whole transport configuration. Build it with [`Config::default`], a config file, or
/// [`Config::set`]; fields are public for reading (a hand-edited config should pass
/// [`Config::validate`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `disable_tcp`: do not start TCP at all.
    pub disable_tcp: bool,
    /// `listen=` entries for TCP and SCTP, in file order.
    pub listen: Vec<Listen>,
    /// Kamailio core `tcp_*` and OpenSIPS `proto_tcp` options.
    pub tcp: TcpConfig,
    /// `tcpops` module parameters.
    pub tcpops: TcpOpsConfig,
    /// `sctp` module parameters.
    pub sctp: SctpConfig,
}

/// TCP options. Names follow Kamailio without the `tcp_` prefix; the last block holds
/// OpenSIPS `proto_tcp` parameters that Kamailio has no name for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// `tcp_accept_aliases`: add a port alias from a Via `alias` parameter.
    pub accept_aliases: bool,
    /// `tcp_accept_haproxy`: expect a PROXY v1/v2 header first (and require it).
    pub accept_haproxy: bool,
    /// `tcp_accept_hep3`: accept HEP3 packets.
    pub accept_hep3: bool,
    /// `tcp_accept_no_cl`: accept requests without Content-Length.
    pub accept_no_cl: bool,
    /// `tcp_accept_unique`: refuse a second connection from the same source ip:port.
    pub accept_unique: bool,
    /// `tcp_async` / `tcp_buf_write` / proto_tcp `tcp_async`: queue writes and connects that
    /// would block.
    pub asynchronous: bool,
    /// `tcp_children`: reader threads.
    pub children: usize,
    /// `tcp_clone_rcvbuf`: hand the application an owned copy of each message.
    pub clone_rcvbuf: bool,
    /// `tcp_connection_lifetime`: idle time before a connection is closed.
    pub connection_lifetime: Duration,
    /// `tcp_connection_match`: match outbound connections on the local port too.
    pub connection_match: bool,
    /// `tcp_connect_timeout`: give up an outgoing connect after this.
    pub connect_timeout: Duration,
    /// `tcp_conn_wq_max`: bytes queued per connection.
    pub conn_wq_max: usize,
    /// `tcp_crlf_ping` / proto_tcp `tcp_crlf_pingpong`: answer CRLFCRLF with CRLF.
    pub crlf_ping: bool,
    /// `tcp_defer_accept`: TCP_DEFER_ACCEPT timeout; `None` = disabled.
    pub defer_accept: Option<Duration>,
    /// `tcp_delayed_ack`: delay the first ACK (TCP_QUICKACK off).
    pub delayed_ack: bool,
    /// `tcp_fd_cache`: per-thread cache of connections used for sending.
    pub fd_cache: bool,
    /// `tcp_keepalive`: SO_KEEPALIVE.
    pub keepalive: bool,
    /// `tcp_keepcnt`: TCP_KEEPCNT; `None` = OS default.
    pub keepcnt: Option<u32>,
    /// `tcp_keepidle`: TCP_KEEPIDLE; `None` = OS default.
    pub keepidle: Option<Duration>,
    /// `tcp_keepintvl`: TCP_KEEPINTVL; `None` = OS default.
    pub keepintvl: Option<Duration>,
    /// `tcp_linger2`: TCP_LINGER2; `None` = OS default.
    pub linger2: Option<Duration>,
    /// `tcp_max_connections`: refuse new connections above this.
    pub max_connections: u32,
    /// `tcp_no_connect`: never open outgoing connections.
    pub no_connect: bool,
    /// `tcp_poll_method`.
    pub poll_method: PollMethod,
    /// `tcp_rd_buf_size`: read buffer per busy connection (also the largest message).
    pub rd_buf_size: usize,
    /// `tcp_reuse_port`: SO_REUSEPORT, so outgoing connections can use listening ports.
    pub reuse_port: bool,
    /// `tcp_script_mode`: keep the connection open when message processing fails.
    pub script_mode: bool,
    /// `tcp_send_timeout` (s) / proto_tcp `tcp_send_timeout` (ms).
    pub send_timeout: Duration,
    /// `tcp_source_ipv4`: source address of outgoing IPv4 connections.
    pub source_ipv4: Option<IpAddr>,
    /// `tcp_source_ipv6`: source address of outgoing IPv6 connections.
    pub source_ipv6: Option<IpAddr>,
    /// `tcp_syncnt`: TCP_SYNCNT; `None` = OS default.
    pub syncnt: Option<u32>,
    /// `tcp_wait_data`: how long to wait for data (PROXY header).
    pub wait_data: Duration,
    /// `tcp_wq_blk_size`: write queue block size.
    pub wq_blk_size: usize,
    /// `tcp_wq_max`: bytes queued for write in total.
    pub wq_max: usize,
    /// proto_tcp `tcp_port`: port of `listen=tcp:IP` lines without one.
    pub port: u16,
    /// proto_tcp `tcp_max_msg_chunks`: reads allowed per message.
    pub max_msg_chunks: u32,
    /// proto_tcp `tcp_crlf_drop`: drop a lone CRLF between messages.
    pub crlf_drop: bool,
    /// proto_tcp `tcp_async_max_postponed_chunks`: messages queued per connection.
    pub async_max_postponed_chunks: u32,
    /// proto_tcp `tcp_async_local_connect_timeout`: blocking connect attempt before async.
    pub async_local_connect_timeout: Duration,
    /// proto_tcp `tcp_async_local_write_timeout`: blocking write attempt before async.
    pub async_local_write_timeout: Duration,
}

/// `tcpops` module parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpOpsConfig {
    /// `closed_event`: when `tcp:closed` (and timeout/reset) events are raised.
    pub closed_event: ClosedEvent,
    /// `event_callback`: name of the callback run instead of `event_route` blocks; empty =
    /// none.
    pub event_callback: String,
}

/// `sctp` module parameters. `None` means "leave the OS default".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SctpConfig {
    /// `sctp_socket_rcvbuf`.
    pub socket_rcvbuf: Option<u32>,
    /// `sctp_socket_sndbuf`.
    pub socket_sndbuf: Option<u32>,
    /// `sctp_autoclose`: idle time before an association is closed.
    pub autoclose: Duration,
    /// `sctp_send_ttl`: time before an unsent message is dropped.
    pub send_ttl: Duration,
    /// `sctp_send_retries`: re-sends on a re-opened association.
    pub send_retries: u32,
    /// `sctp_assoc_tracking`: track associations.
    pub assoc_tracking: bool,
    /// `sctp_assoc_reuse`: reuse associations for replies (needs tracking).
    pub assoc_reuse: bool,
    /// `sctp_max_assocs`: `None` = as many as the OS allows (-1).
    pub max_assocs: Option<u32>,
    /// `sctp_srto_initial`.
    pub srto_initial: Option<Duration>,
    /// `sctp_srto_max`.
    pub srto_max: Option<Duration>,
    /// `sctp_srto_min`.
    pub srto_min: Option<Duration>,
    /// `sctp_asocmaxrxt`.
    pub asocmaxrxt: Option<u32>,
    /// `sctp_init_max_attempts`.
    pub init_max_attempts: Option<u32>,
    /// `sctp_init_max_timeo`.
    pub init_max_timeo: Option<Duration>,
    /// `sctp_hbinterval`.
    pub hbinterval: Option<SctpHeartbeat>,
    /// `sctp_pathmaxrxt`.
    pub pathmaxrxt: Option<u32>,
    /// `sctp_sack_delay`.
    pub sack_delay: Option<Duration>,
    /// `sctp_sack_freq`.
    pub sack_freq: Option<u32>,
    /// `sctp_max_burst`.
    pub max_burst: Option<u32>,
}

/// Default `tcp_children`: one reader per CPU.
pub fn default_children() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            accept_aliases: false,
            accept_haproxy: false,
            accept_hep3: false,
            accept_no_cl: false,
            accept_unique: false,
            asynchronous: true,
            children: default_children(),
            clone_rcvbuf: false,
            connection_lifetime: Duration::from_secs(120),
            connection_match: false,
            connect_timeout: Duration::from_secs(10),
            conn_wq_max: 32 * 1024,
            crlf_ping: true,
            defer_accept: None,
            delayed_ack: true,
            fd_cache: true,
            keepalive: true,
            keepcnt: None,
            keepidle: None,
            keepintvl: None,
            linger2: None,
            max_connections: 2048,
            no_connect: false,
            poll_method: PollMethod::None,
            rd_buf_size: 4096,
            reuse_port: false,
            script_mode: false,
            send_timeout: Duration::from_secs(10),
            source_ipv4: None,
            source_ipv6: None,
            syncnt: None,
            wait_data: Duration::from_millis(5000),
            wq_blk_size: 2100,
            wq_max: 10 * 1024 * 1024,
            port: 5060,
            max_msg_chunks: 4,
            crlf_drop: false,
            async_max_postponed_chunks: 32,
            async_local_connect_timeout: Duration::from_millis(100),
            async_local_write_timeout: Duration::from_millis(10),
        }
    }
}

impl Default for TcpOpsConfig {
    fn default() -> Self {
        TcpOpsConfig {
            closed_event: ClosedEvent::On,
            event_callback: String::new(),
        }
    }
}

impl Default for SctpConfig {
    fn default() -> Self {
        SctpConfig {
            socket_rcvbuf: None,
            socket_sndbuf: None,
            autoclose: Duration::from_secs(180),
            send_ttl: Duration::from_millis(32000),
            send_retries: 0,
            assoc_tracking: true,
            assoc_reuse: true,
            max_assocs: None,
            srto_initial: None,
            srto_max: None,
            srto_min: None,
            asocmaxrxt: None,
            init_max_attempts: None,
            init_max_timeo: None,
            hbinterval: None,
            pathmaxrxt: None,
            sack_delay: None,
            sack_freq: None,
            max_burst: None,
        }
    }
}

impl Config {
    /// The listen addresses with ports resolved: a TCP line without a port gets `tcp_port`,
    /// an SCTP one 5060.
    pub fn listeners(&self) -> Vec<(ListenProto, SocketAddr)> {
        self.listen
            .iter()
            .map(|l| (l.proto, l.socket_addr(self.tcp.port)))
            .collect()
    }
}
