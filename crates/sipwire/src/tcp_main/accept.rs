//! TCP main's listeners: accepting (with `tcp_max_connections`, which counts outbound
//! connections too, `tcp_accept_unique` and `tcp_accept_iplimit`), accept-side options and
//! timers, and the pause after a persistent accept error.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use sipwire_poll::Interest;

use crate::conn::{ConId, Conn};
use crate::conn_table::InsertError;
use crate::handoff::ReadSide;
use crate::lifecycle::{Entry, TimerKind};
use crate::ratelimit::{limited_log, RateLimit};
use crate::stats::bump;
use sipwire_sys as sys;

use super::{listener_token, TcpMain};

/// How long accepting pauses after a persistent accept error (EMFILE, ENFILE, ENOMEM, ...), so
/// main does not spin on it.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Accept-side warnings (errors, refusals): a flood of connections cannot fill the log.
static ACCEPT_LOG: RateLimit = RateLimit::new(10);

/// A listening socket.
pub(super) struct Listener {
    pub sock: TcpListener,
    pub addr: SocketAddr,
    pub paused: bool,
}

impl TcpMain {
    pub(super) fn accept_all(&mut self, li: usize) {
        loop {
            let Some(l) = self.listeners.get(li) else {
                return;
            };
            if self.stopping || l.paused {
                return;
            }
            match sys::accept_nonblocking(&l.sock) {
                Ok((stream, peer)) => {
                    let local = if l.addr.ip().is_unspecified() {
                        stream.local_addr().unwrap_or(l.addr)
                    } else {
                        l.addr
                    };
                    self.on_accepted(stream, peer, local);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    bump(&self.shared.stats.accept_errors);
                    if is_transient(&e) {
                        // That connection is gone (ECONNABORTED and friends): keep accepting.
                        limited_log!(ACCEPT_LOG, Debug, "accept on {}: {e}", l.addr);
                        continue;
                    }
                    limited_log!(
                        ACCEPT_LOG,
                        Warn,
                        "accept on {}: {e}; pausing accepts for {ACCEPT_PAUSE:?}",
                        l.addr
                    );
                    self.pause_accept(li);
                    return;
                }
            }
        }
    }

    /// Stops watching a listener for [`ACCEPT_PAUSE`].
    pub(super) fn pause_accept(&mut self, li: usize) {
        let Some(l) = self.listeners.get_mut(li) else {
            return;
        };
        if let Err(e) = self.poller.deregister(l.sock.as_raw_fd()) {
            log::error!("deregister listener: {e}");
        }
        l.paused = true;
        self.timers.insert(
            Instant::now() + ACCEPT_PAUSE,
            (ConId(0), TimerKind::AcceptResume(li)),
        );
    }

    pub(super) fn on_accepted(
        &mut self,
        stream: std::net::TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
    ) {
        let cfg = self.shared.config.snapshot();
        let tcp = &cfg.tcp;
        if self.shared.table.len() >= tcp.max_connections as usize {
            bump(&self.shared.stats.refused_max_connections);
            limited_log!(
                ACCEPT_LOG,
                Warn,
                "refusing connection from {peer}: tcp_max_connections ({}) reached",
                tcp.max_connections
            );
            return;
        }
        if tcp.accept_unique && self.shared.table.by_peer(&peer).is_some() {
            bump(&self.shared.stats.refused_unique);
            limited_log!(
                ACCEPT_LOG,
                Info,
                "refusing duplicate connection from {peer} (tcp_accept_unique)"
            );
            return;
        }
        if self.refused_by_iplimit(peer.ip()) {
            return;
        }
        crate::sockopt::apply(&stream, &cfg, crate::sockopt::Side::Accepted);
        let now_ms = self.shared.now_ms();
        // The limit again, atomically with the insert: a send may have connected meanwhile.
        let max = tcp.max_connections as usize;
        let conn = match self
            .shared
            .table
            .insert(max, |id| Conn::new(id, stream, peer, local, now_ms))
        {
            Ok(conn) => conn,
            Err(InsertError::AtLimit) => {
                bump(&self.shared.stats.refused_max_connections);
                limited_log!(
                    ACCEPT_LOG,
                    Warn,
                    "refusing connection from {peer}: tcp_max_connections ({max}) reached"
                );
                return;
            }
            Err(InsertError::NoSlot) => {
                limited_log!(ACCEPT_LOG, Error, "connection table full; refusing {peer}");
                return;
            }
        };
        bump(&self.shared.stats.accepted);
        log::debug!("conid {}: accepted from {peer} on {local}", conn.id);
        let now = Instant::now();
        let mut e = Entry::accepted(conn.clone());
        e.timers.lifetime = Some(self.timers.insert(
            now + tcp.connection_lifetime,
            (conn.id, TimerKind::Lifetime),
        ));
        e.timers.wait_data = tcp.accept_haproxy.then(|| {
            self.timers
                .insert(now + tcp.wait_data, (conn.id, TimerKind::WaitData))
        });
        self.insert_entry(e);
        self.hand_off(ReadSide::new(conn));
    }

    pub(super) fn resume_accept(&mut self, li: usize) {
        let Some(l) = self.listeners.get_mut(li) else {
            return;
        };
        if !l.paused {
            return;
        }
        l.paused = false;
        let fd = l.sock.as_raw_fd();
        let r = listener_token(li).and_then(|t| self.poller.register(fd, t, Interest::READABLE));
        if let Err(e) = r {
            log::error!("cannot resume accepting: {e}");
        }
        self.accept_all(li);
    }
}

/// Accept errors about the one connection being accepted (accept(2) says to retry them);
/// anything else is persistent and pauses accepting.
fn is_transient(e: &io::Error) -> bool {
    let Some(code) = e.raw_os_error() else {
        return false;
    };
    #[cfg(target_os = "linux")]
    if code == libc::ENONET {
        return true;
    }
    matches!(
        code,
        libc::ECONNABORTED
            | libc::EPROTO
            | libc::ENETDOWN
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
    )
}
