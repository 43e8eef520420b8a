//! The [`Config`] struct: every option as a typed field, grouped as the references group
//! them, with Kamailio's defaults. What each option means is in its row (`options/rows_*.rs`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::types::{ClosedEvent, Listen, ListenProto, SctpHeartbeat};
use sipwire_poll::PollMethod;

/// The whole transport configuration. Build it with [`Config::default`], a config file, or
/// [`Config::set`]; fields are public for reading (a hand-edited config should pass
/// [`Config::validate`]). A field's doc names its option; what the option means, its range
/// and unit are in the option's row ([`Config::options`], `docs/config.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `disable_tcp`.
    pub disable_tcp: bool,
    /// `listen=` entries for TCP and SCTP, in file order.
    pub listen: Vec<Listen>,
    /// Kamailio core `tcp_*` and OpenSIPS `proto_tcp` options.
    pub tcp: TcpConfig,
    /// `tcpops` module parameters.
    pub tcpops: TcpOpsConfig,
    /// `sctp` module parameters.
    pub sctp: SctpConfig,
    /// `metrics_listen`: sipwired's `/metrics` address as written; empty = none.
    pub metrics_listen: String,
    /// The control transports of Kamailio's `ctl` and `jsonrpcs` modules, for sipwired.
    pub control: ControlConfig,
}

/// `modparam("ctl", ...)` and `modparam("jsonrpcs", ...)`: where sipwired serves kamcmd
/// (BINRPC), kamctl (the FIFO) and kamcli (the datagram socket). Kept as written; sipwired
/// parses them (the library does not read them). Empty means sipwired's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlConfig {
    /// `modparam("ctl", "binrpc", "unixs:PATH" | "unixd:PATH" | "off")`.
    pub binrpc: String,
    /// `modparam("jsonrpcs", "fifo_name", PATH)`.
    pub jsonrpcs_fifo: String,
    /// `modparam("jsonrpcs", "dgram_socket", PATH)`.
    pub jsonrpcs_dgram: String,
}

/// TCP options. Names follow Kamailio without the `tcp_` prefix; the last block holds
/// OpenSIPS `proto_tcp` parameters that Kamailio has no name for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// `tcp_accept_aliases`.
    pub accept_aliases: bool,
    /// `tcp_accept_haproxy`.
    pub accept_haproxy: bool,
    /// `tcp_accept_hep3`.
    pub accept_hep3: bool,
    /// `tcp_accept_no_cl`.
    pub accept_no_cl: bool,
    /// `tcp_accept_unique`.
    pub accept_unique: bool,
    /// `tcp_async` / `tcp_buf_write` / proto_tcp `tcp_async`.
    pub asynchronous: bool,
    /// `tcp_children`; a file that sets only `children` gives that.
    pub children: usize,
    /// `tcp_clone_rcvbuf`.
    pub clone_rcvbuf: bool,
    /// `tcp_connection_lifetime`.
    pub connection_lifetime: Duration,
    /// `tcp_connection_match`.
    pub connection_match: bool,
    /// `tcp_connect_timeout`.
    pub connect_timeout: Duration,
    /// `tcp_conn_wq_max`.
    pub conn_wq_max: usize,
    /// `tcp_crlf_ping` / proto_tcp `tcp_crlf_pingpong`.
    pub crlf_ping: bool,
    /// `tcp_defer_accept`; `None` = disabled.
    pub defer_accept: Option<Duration>,
    /// `tcp_delayed_ack`.
    pub delayed_ack: bool,
    /// `tcp_fd_cache`.
    pub fd_cache: bool,
    /// `tcp_keepalive`.
    pub keepalive: bool,
    /// `tcp_keepcnt`; `None` = OS default.
    pub keepcnt: Option<u32>,
    /// `tcp_keepidle`; `None` = OS default.
    pub keepidle: Option<Duration>,
    /// `tcp_keepintvl`; `None` = OS default.
    pub keepintvl: Option<Duration>,
    /// `tcp_linger2`; `None` = OS default.
    pub linger2: Option<Duration>,
    /// `tcp_max_connections`.
    pub max_connections: u32,
    /// `tcp_accept_iplimit`: most open accepted connections from one IP (0 = no limit).
    pub accept_iplimit: u32,
    /// `tcp_msg_read_timeout`: a started message must complete within it (0 = off).
    pub msg_read_timeout: Duration,
    /// `tcp_msg_data_timeout`: an accepted connection must send a message within it (0 = off).
    pub msg_data_timeout: Duration,
    /// `tcp_no_connect`.
    pub no_connect: bool,
    /// `tcp_poll_method`.
    pub poll_method: PollMethod,
    /// `tcp_rd_buf_size`.
    pub rd_buf_size: usize,
    /// `tcp_reuse_port`.
    pub reuse_port: bool,
    /// `tcp_script_mode`.
    pub script_mode: bool,
    /// `tcp_send_timeout` (s) / proto_tcp `tcp_send_timeout` (ms); 10 s, or 100 ms for a
    /// file that uses proto_tcp and sets neither.
    pub send_timeout: Duration,
    /// `tcp_source_ipv4`.
    pub source_ipv4: Option<IpAddr>,
    /// `tcp_source_ipv6`.
    pub source_ipv6: Option<IpAddr>,
    /// `tcp_syncnt`; `None` = OS default.
    pub syncnt: Option<u32>,
    /// `tcp_wait_data` (cfg `tcp.wait_data_ms`).
    pub wait_data: Duration,
    /// `tcp_wq_blk_size`.
    pub wq_blk_size: usize,
    /// `tcp_wq_max`.
    pub wq_max: usize,
    /// proto_tcp `tcp_port`.
    pub port: u16,
    /// proto_tcp `tcp_max_msg_chunks`.
    pub max_msg_chunks: u32,
    /// proto_tcp `tcp_crlf_drop`.
    pub crlf_drop: bool,
    /// proto_tcp `tcp_async_max_postponed_chunks`.
    pub async_max_postponed_chunks: u32,
    /// proto_tcp `tcp_async_local_connect_timeout`.
    pub async_local_connect_timeout: Duration,
    /// proto_tcp `tcp_async_local_write_timeout`.
    pub async_local_write_timeout: Duration,
}

/// `tcpops` module parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpOpsConfig {
    /// `closed_event`.
    pub closed_event: ClosedEvent,
    /// `event_callback`.
    pub event_callback: String,
}

/// `sctp` module parameters. `None` means "leave the OS default".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SctpConfig {
    /// `sctp_socket_rcvbuf`.
    pub socket_rcvbuf: Option<u32>,
    /// `sctp_socket_sndbuf`.
    pub socket_sndbuf: Option<u32>,
    /// `sctp_autoclose`.
    pub autoclose: Duration,
    /// `sctp_send_ttl`.
    pub send_ttl: Duration,
    /// `sctp_send_retries`.
    pub send_retries: u32,
    /// `sctp_assoc_tracking`.
    pub assoc_tracking: bool,
    /// `sctp_assoc_reuse`.
    pub assoc_reuse: bool,
    /// `sctp_max_assocs`; `None` = as many as the OS allows (-1).
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

/// Kamailio's default number of `children` (`CHILD_NO` in its `config.h`), which is also
/// the `tcp_children` default when a config sets neither.
pub const DEFAULT_CHILDREN: usize = 8;

/// OpenSIPS proto_tcp's default `tcp_send_timeout` (100 ms), used by configs that use
/// proto_tcp and set no send timeout.
pub const OPENSIPS_SEND_TIMEOUT: Duration = Duration::from_millis(100);

/// Default `tcp_children` of a config built in code: Kamailio's default for `children`
/// ([`DEFAULT_CHILDREN`], 8). A config file that sets `children` and not `tcp_children`
/// gets `children`'s value instead, as in Kamailio.
pub fn default_children() -> usize {
    DEFAULT_CHILDREN
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
            accept_iplimit: 1024,
            msg_read_timeout: Duration::from_secs(20),
            msg_data_timeout: Duration::from_secs(20),
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
