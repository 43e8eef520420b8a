//! `Transport`: the application's handle on the SIP transport layer (as Kamailio names that
//! layer) — sends, tcpops by conid, connection lookups and counters.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, ConfigHandle};
use crate::conn::{CloseReason, ConId, Conn, ConnState, ProxyInfo};
use crate::handoff::MainMsg;
use crate::send::{SendError, Sent, Target};
use crate::shared::Shared;
use crate::stats::{bump, StatsSnapshot};
use sipwire_sys as sys;

/// Why a tcpops call failed (Kamailio's functions return -1 in all these cases).
#[derive(Debug)]
pub enum TcpOpsError {
    /// No open connection has this id (closed, or never existed).
    NoSuchConnection(ConId),
    /// `get_conid`: the "host:port" text is not an address.
    BadAddress(String),
    /// `get_conid`: no open connection to that address.
    NotFound(String),
    /// `add_alias`: the connection has its maximum number of aliases.
    TooManyAliases(ConId),
    /// The socket refused the option.
    Io(io::Error),
    /// The id names an SCTP association: a TCP-only function (keepalive, lifetime, ...).
    NotTcp(ConId),
}

impl fmt::Display for TcpOpsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOpsError::NoSuchConnection(id) => write!(f, "no open connection with id {id}"),
            TcpOpsError::BadAddress(s) => write!(f, "not a host:port address: {s:?}"),
            TcpOpsError::NotFound(s) => write!(f, "no open connection to {s}"),
            TcpOpsError::TooManyAliases(id) => {
                write!(f, "conid {id} already has the maximum number of aliases")
            }
            TcpOpsError::Io(e) => write!(f, "socket option failed: {e}"),
            TcpOpsError::NotTcp(id) => write!(f, "conid {id} is an SCTP association, not TCP"),
        }
    }
}

impl std::error::Error for TcpOpsError {}

/// What `Transport::conn_info` reports about one connection (`core.tcp_list`, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// The connection id.
    pub conid: ConId,
    /// `tcp_conid_state` value.
    pub state: ConnState,
    /// The socket's peer.
    pub peer: SocketAddr,
    /// The local address.
    pub local: SocketAddr,
    /// The PROXY-provided source, or the peer.
    pub source: SocketAddr,
    /// SO_KEEPALIVE as the socket has it now.
    pub keepalive: bool,
    /// TCP_KEEPIDLE, TCP_KEEPCNT, TCP_KEEPINTVL as the socket has them now.
    pub keepalive_params: (u32, u32, u32),
    /// The per-connection lifetime override, if `set_connection_lifetime` was called.
    pub lifetime_override: Option<Duration>,
    /// Time since the last traffic.
    pub idle_for: Duration,
    /// What a PROXY header announced, if one with addresses was read: its addresses and a v2
    /// header's TLVs.
    pub proxy: Option<ProxyInfo>,
    /// Opened by this side (a send connected it) rather than accepted.
    pub outbound: bool,
    /// Bytes waiting in its write queue.
    pub queued_bytes: usize,
}

/// The application's handle on the SIP transport layer of a running runtime (Kamailio calls
/// that layer "transport": send, tcpops, counters); cloneable and usable from any thread,
/// including inside `on_message`. Not to be confused with [`crate::Proto`], the transport
/// protocol of one connection.
#[derive(Clone)]
pub struct Transport {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("listen", &self.shared.listen_addrs)
            .finish_non_exhaustive()
    }
}

impl Transport {
    fn conn(&self, id: ConId) -> Result<Arc<Conn>, TcpOpsError> {
        if id.is_sctp() {
            return Err(TcpOpsError::NotTcp(id));
        }
        self.shared
            .table
            .get(id)
            .ok_or(TcpOpsError::NoSuchConnection(id))
    }

    /// Time since the runtime started (`core.uptime`).
    pub fn uptime(&self) -> Duration {
        self.shared.epoch.elapsed()
    }

    /// Number of reader threads (`tcp_children`).
    pub fn reader_count(&self) -> usize {
        self.shared.readers.len()
    }

    /// The addresses the runtime listens on (with the ports the OS picked for port 0).
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.shared.listen_addrs
    }

    /// The live configuration: read a snapshot, or change a runtime-changeable option.
    pub fn config(&self) -> &ConfigHandle {
        &self.shared.config
    }

    /// A copy of the counters.
    pub fn stats(&self) -> StatsSnapshot {
        let mut s = self.shared.stats.snapshot();
        let pool = self.shared.pool.stats();
        s.read_buffers_in_use = pool.outstanding as u64;
        s.read_buffers_free = pool.free as u64;
        s
    }

    /// The outbound connect times so far (each completed connect, from its start to the
    /// connection being up; failed connects are in `connect_failures`).
    pub fn connect_time(&self) -> crate::latency::HistogramSnapshot {
        self.shared.connect_time.snapshot()
    }

    /// TCP closes so far by reason ([`CloseReason::label`], count), every reason listed; they
    /// add up to `stats().closed`.
    pub fn closes_by_reason(&self) -> Vec<(&'static str, u64)> {
        self.shared.closes.snapshot()
    }

    /// Number of open connections.
    pub fn connection_count(&self) -> usize {
        self.shared.table.len()
    }

    /// Ids of every open connection.
    pub fn connection_ids(&self) -> Vec<ConId> {
        self.shared.table.all().iter().map(|c| c.id).collect()
    }

    /// The peer address of an open connection, or of a tracked SCTP association (cheap: no
    /// socket calls).
    pub fn conn_peer(&self, id: ConId) -> Option<SocketAddr> {
        if let Some((ep, assoc)) = id.sctp_parts() {
            return self
                .shared
                .sctp
                .get(ep as usize)?
                .assoc(assoc)
                .map(|a| a.peer);
        }
        self.shared.table.get(id).map(|c| c.peer)
    }

    /// The SCTP endpoints: their addresses, tracked associations and counters
    /// (`sctp.info`, the connection listing).
    pub fn sctp_endpoints(&self) -> &[Arc<sipwire_sctp::Endpoint>] {
        &self.shared.sctp
    }

    /// The SCTP counters summed over the endpoints (`sctp_*` names).
    pub fn sctp_stats(&self) -> Vec<(&'static str, u64)> {
        let mut sum: Vec<(&'static str, u64)> = Vec::new();
        for ep in &self.shared.sctp {
            for (i, (name, v)) in ep.stats.fields().into_iter().enumerate() {
                match sum.get_mut(i) {
                    Some(s) => s.1 += v,
                    None => sum.push((name, v)),
                }
            }
        }
        sum
    }

    /// What the runtime knows of one open connection, with socket options read back from the
    /// kernel; `None` when it is not open.
    pub fn conn_info(&self, id: ConId) -> Option<ConnInfo> {
        let c = self.shared.table.get(id)?;
        let fd = c.stream.as_raw_fd();
        let queued_bytes = c.write.lock().bytes();
        Some(ConnInfo {
            conid: c.id,
            state: self.conid_state(id),
            peer: c.peer,
            local: c.local,
            source: c.source(),
            keepalive: sys::get_keepalive(fd).unwrap_or(false),
            keepalive_params: sys::get_keepalive_params(fd).unwrap_or((0, 0, 0)),
            lifetime_override: c.lifetime_override_ms().map(Duration::from_millis),
            idle_for: Duration::from_millis(
                self.shared.now_ms().saturating_sub(c.last_activity_ms()),
            ),
            proxy: c.proxy.get().map(|p| (**p).clone()),
            outbound: c.outbound,
            queued_bytes,
        })
    }

    /// A diagnostic: an integer socket option (`getsockopt(level, name)`, e.g.
    /// `libc::IPPROTO_TCP, libc::TCP_SYNCNT`) as the kernel has it now on an open TCP
    /// connection's socket; `None` when the connection is not open, is an SCTP association,
    /// or the kernel refuses the read. For checking what the config put on a socket (tests,
    /// troubleshooting); the runtime never reads it back itself.
    pub fn socket_option(&self, id: ConId, level: i32, name: i32) -> Option<i32> {
        let c = self.conn(id).ok()?;
        sys::get_int_opt(c.stream.as_raw_fd(), level, name).ok()
    }

    /// Stops accepting TCP connections, for a drain before
    /// [`Runtime::shutdown`](crate::Runtime::shutdown): TCP main accepts what is already queued on the listeners,
    /// then closes them, so a connect is refused from then on (a balancer takes it elsewhere);
    /// open connections are served as before and sends may still connect. Returns at once;
    /// there is no way back short of a new runtime. SCTP endpoints are not affected.
    pub fn stop_accepting(&self) {
        self.shared.tell_main(MainMsg::StopAccepting);
    }

    /// Number of open TCP connections that were accepted (not opened by a send): what a
    /// drain waits for.
    pub fn accepted_count(&self) -> usize {
        self.shared
            .table
            .all()
            .iter()
            .filter(|c| !c.outbound)
            .count()
    }

    /// `true` once the runtime has begun shutting down: sends and tcpops then have no one to
    /// carry them out.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::Acquire)
    }

    /// Sends one message to a connection or destination, connecting when needed (see
    /// [`Target`]); returns the id of the connection it went to or is queued on. Callable from
    /// any thread, including inside `on_message`.
    pub fn send(&self, target: impl Into<Target>, bytes: &[u8]) -> Result<ConId, SendError> {
        crate::send::send(&self.shared, target.into(), None, bytes).map(|s| s.conid)
    }

    /// [`send`](Self::send) pinned to an outbound connection id while it is open (Kamailio's
    /// `tcp_set_otcpid` with `tcp_set_otcpid_flag(1)`): `otcpid` wins over the destination.
    pub fn send_via(
        &self,
        otcpid: ConId,
        target: impl Into<Target>,
        bytes: &[u8],
    ) -> Result<ConId, SendError> {
        crate::send::send(&self.shared, target.into(), Some(otcpid), bytes).map(|s| s.conid)
    }

    /// [`send`](Self::send), also saying how far the message got ([`Delivery`](crate::Delivery)): in the
    /// socket, batched for the end of the current read pass, or queued.
    pub fn send_report(&self, target: impl Into<Target>, bytes: &[u8]) -> Result<Sent, SendError> {
        crate::send::send(&self.shared, target.into(), None, bytes)
    }

    /// [`send_via`](Self::send_via) with the report of [`send_report`](Self::send_report).
    pub fn send_via_report(
        &self,
        otcpid: ConId,
        target: impl Into<Target>,
        bytes: &[u8],
    ) -> Result<Sent, SendError> {
        crate::send::send(&self.shared, target.into(), Some(otcpid), bytes)
    }

    /// Kamailio's `force_tcp_alias(port)` on connection `id`: it also answers to its source IP
    /// with `port` (0 means 5060, as Kamailio's `SIP_PORT`), so sends to that address reuse
    /// it. Only a port: the IP is always the connection's own source (the PROXY-announced
    /// client behind a load balancer), since host aliases would let a peer claim traffic for
    /// addresses it does not have (the reference calls them dangerous). The alias moves from
    /// any other connection that had it. Returns the alias; fails when the connection is gone,
    /// is an SCTP association, or has its maximum of aliases.
    pub fn add_alias(&self, id: ConId, port: u16) -> Result<SocketAddr, TcpOpsError> {
        let conn = self.conn(id)?;
        let addr = SocketAddr::new(conn.source().ip(), if port == 0 { 5060 } else { port });
        if self.shared.table.add_alias(id, addr) {
            bump(&self.shared.stats.aliases_added);
            log::debug!("conid {id}: alias {addr} (force_tcp_alias)");
            Ok(addr)
        } else if self.shared.table.get(id).is_none() {
            Err(TcpOpsError::NoSuchConnection(id))
        } else {
            Err(TcpOpsError::TooManyAliases(id))
        }
    }

    /// `tcp_conid_alive(conid)`: the connection exists and is not closing — its
    /// [`conid_state`](Self::conid_state) is positive (OK, accepting or connecting), as
    /// Kamailio's `state >= 1`; false from the moment it is known to close (EOF read, an
    /// error, a close asked for) and once it is gone.
    pub fn conid_alive(&self, id: ConId) -> bool {
        self.conid_state(id).is_alive()
    }

    /// `tcp_conid_state(conid)`, with Kamailio's values (`ConnState as i8`): 2 from accept
    /// until the first read returns data, 3 while an outbound connect is in progress, then 1;
    /// -2 from reading EOF, -3 from a read, write or connect error, -4 from any other close
    /// reason, each until the final close (and inside `on_unsent`/`on_event` for it); -1
    /// after it, or for an id that never existed.
    pub fn conid_state(&self, id: ConId) -> ConnState {
        if id.is_sctp() {
            return if self.conn_peer(id).is_some() {
                ConnState::Ok
            } else {
                ConnState::Gone
            };
        }
        match self.shared.table.get(id) {
            Some(c) => c.tcpops_state(),
            None => crate::tcp_main::finalizing_state(id).unwrap_or(ConnState::Gone),
        }
    }

    /// `tcp_keepalive_enable(conid, idle, count, interval)`: SO_KEEPALIVE on with these probe
    /// timings (seconds, count, seconds).
    pub fn keepalive_enable(
        &self,
        id: ConId,
        idle: u32,
        count: u32,
        interval: u32,
    ) -> Result<(), TcpOpsError> {
        let c = self.conn(id)?;
        let fd = c.stream.as_raw_fd();
        sys::set_keepalive(fd, true).map_err(TcpOpsError::Io)?;
        sys::set_keepalive_params(fd, Some(idle), Some(count), Some(interval))
            .map_err(TcpOpsError::Io)
    }

    /// `tcp_keepalive_disable(conid)`.
    pub fn keepalive_disable(&self, id: ConId) -> Result<(), TcpOpsError> {
        let c = self.conn(id)?;
        sys::set_keepalive(c.stream.as_raw_fd(), false).map_err(TcpOpsError::Io)
    }

    /// `tcp_set_connection_lifetime(conid, lifetime)`, in seconds; takes effect at once (a
    /// shorter lifetime can close an already idle connection right away).
    pub fn set_connection_lifetime(&self, id: ConId, secs: u64) -> Result<(), TcpOpsError> {
        let c = self.conn(id)?;
        c.set_lifetime_ms(secs.saturating_mul(1000).min(u64::MAX - 1));
        self.shared.tell_main(MainMsg::LifetimeChanged(id));
        Ok(())
    }

    /// `tcp_enable_closed_event(conid)`: with `closed_event = 2`, report this connection's close.
    pub fn enable_closed_event(&self, id: ConId) -> Result<(), TcpOpsError> {
        let c = self.conn(id)?;
        c.closed_event.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// `tcp_close_connection(conid)`: closes it (the event reports
    /// [`CloseReason::Application`]).
    pub fn close_connection(&self, id: ConId) -> Result<(), TcpOpsError> {
        if let Some((ep, assoc)) = id.sctp_parts() {
            // An association ends with a graceful SHUTDOWN.
            let ep = self
                .shared
                .sctp
                .get(ep as usize)
                .ok_or(TcpOpsError::NoSuchConnection(id))?;
            return ep.shutdown_assoc(assoc).map_err(TcpOpsError::Io);
        }
        let c = self.conn(id)?;
        c.request_close(CloseReason::Application);
        self.shared.tell_main(MainMsg::CloseRequested(id));
        Ok(())
    }

    /// `tcp_get_conid("host:port")`: the id of an open connection to that peer; the port
    /// defaults to 5060. Names are resolved with the system resolver.
    pub fn get_conid(&self, hostport: &str) -> Result<ConId, TcpOpsError> {
        let bad = || TcpOpsError::BadAddress(hostport.to_string());
        let addrs: Vec<SocketAddr> = if let Ok(a) = hostport.parse::<SocketAddr>() {
            vec![a]
        } else if let Ok(ip) = hostport.trim_matches(['[', ']']).parse::<IpAddr>() {
            vec![SocketAddr::new(ip, 5060)]
        } else if hostport.contains(':') {
            hostport.to_socket_addrs().map_err(|_| bad())?.collect()
        } else {
            (hostport, 5060)
                .to_socket_addrs()
                .map_err(|_| bad())?
                .collect()
        };
        addrs
            .iter()
            .find_map(|a| self.shared.table.by_peer(a))
            .map(|c| c.id)
            .ok_or_else(|| TcpOpsError::NotFound(hostport.to_string()))
    }

    /// The current configuration snapshot (what [`config`](Self::config)`().snapshot()`
    /// returns): runtime changes (`set_now_*`) show in the next call.
    pub fn config_snapshot(&self) -> Arc<Config> {
        self.shared.config.snapshot()
    }
}
