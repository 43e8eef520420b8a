//! The per-connection socket options Kamailio applies, from the config, in one place for
//! accepted and for outbound connections. A refused option is logged with its name and the
//! others are still applied: none of them is worth losing the connection over.
//!
//! Outbound sockets get them before `connect()` (through `sys::start_connect_with`), as
//! Kamailio's `init_sock_opt` does: `TCP_SYNCNT` must be there before the first SYN, and
//! `TCP_QUICKACK` off only delays the handshake's last ACK (so that it rides on the first
//! data segment) when it is set before the SYN-ACK arrives. Accepted sockets get them right
//! after `accept()`. Listeners get `tcp_syncnt` too (`runtime::bind_listeners`), where it
//! bounds the SYN-ACK retransmissions.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::config::Config;
use sipwire_sys as sys;

/// Which side opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// We accepted it.
    Accepted,
    /// We are connecting (`tcp_syncnt` applies only here).
    Outbound,
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

fn log_err(what: &str, side: Side, r: io::Result<()>) {
    if let Err(e) = r {
        log::warn!("{what} on an {side:?} connection: {e}");
    }
}

/// Whether connections get `SO_KEEPALIVE`: `tcp_keepalive`, or any of `tcp_keepidle`,
/// `tcp_keepcnt`, `tcp_keepintvl` set — Kamailio turns keepalive on whenever one of those
/// is (`tcp_options.c`), whatever `tcp_keepalive` says.
pub(crate) fn keepalive_on(cfg: &Config) -> bool {
    let tcp = &cfg.tcp;
    tcp.keepalive || tcp.keepidle.is_some() || tcp.keepcnt.is_some() || tcp.keepintvl.is_some()
}

/// Applies `TCP_NODELAY`, keepalive (`tcp_keepalive`, `tcp_keepidle`, `tcp_keepcnt`,
/// `tcp_keepintvl`; see [`keepalive_on`]), `tcp_linger2`, `tcp_delayed_ack` and, when
/// connecting, `tcp_syncnt`. An outbound socket gets them before `connect()`.
pub(crate) fn apply(sock: &impl AsRawFd, cfg: &Config, side: Side) {
    let fd = sock.as_raw_fd();
    let tcp = &cfg.tcp;
    // As Kamailio: no Nagle delay. SIP messages are written whole, and waiting to coalesce
    // them only adds latency (up to a delayed-ACK timeout on the peer).
    log_err("TCP_NODELAY", side, sys::set_nodelay(fd, true));
    let keepalive = keepalive_on(cfg);
    log_err("SO_KEEPALIVE", side, sys::set_keepalive(fd, keepalive));
    if keepalive {
        let params = sys::set_keepalive_params(
            fd,
            tcp.keepidle.map(secs),
            tcp.keepcnt,
            tcp.keepintvl.map(secs),
        );
        log_err("keepalive timing", side, params);
    }
    if let (Side::Outbound, Some(n)) = (side, tcp.syncnt) {
        log_err("TCP_SYNCNT", side, sys::set_syncnt(fd, n));
    }
    if let Some(l) = tcp.linger2 {
        log_err("TCP_LINGER2", side, sys::set_linger2(fd, secs(l)));
    }
    if tcp.delayed_ack {
        log_err("TCP_QUICKACK", side, sys::set_quickack(fd, false));
    }
}
