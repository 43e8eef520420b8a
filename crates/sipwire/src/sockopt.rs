//! The per-connection socket options Kamailio applies, from the config, in one place for
//! accepted and for outbound connections. A refused option is logged with its name and the
//! others are still applied: none of them is worth losing the connection over.

use std::io;
use std::net::TcpStream;
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

/// Applies `TCP_NODELAY`, keepalive (`tcp_keepalive`, `tcp_keepidle`, `tcp_keepcnt`,
/// `tcp_keepintvl`), `tcp_linger2`, `tcp_delayed_ack` and, when connecting, `tcp_syncnt`.
pub(crate) fn apply(stream: &TcpStream, cfg: &Config, side: Side) {
    let fd = stream.as_raw_fd();
    let tcp = &cfg.tcp;
    // As Kamailio: no Nagle delay. SIP messages are written whole, and waiting to coalesce
    // them only adds latency (up to a delayed-ACK timeout on the peer).
    log_err("TCP_NODELAY", side, stream.set_nodelay(true));
    log_err("SO_KEEPALIVE", side, sys::set_keepalive(fd, tcp.keepalive));
    if tcp.keepalive {
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
