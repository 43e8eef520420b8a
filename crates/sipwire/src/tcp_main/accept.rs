//! TCP main's listeners: accepting (with `tcp_max_connections`, which counts outbound
//! connections too, and `tcp_accept_unique`),
//! accept-side options and timers, and the pause after EMFILE/ENFILE.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use sipwire_poll::Interest;

use crate::conn::{ConId, Conn};
use crate::conn_table::InsertError;
use crate::handoff::ReadSide;
use crate::lifecycle::{Entry, TimerKind};
use crate::stats::bump;
use sipwire_sys as sys;

use super::{listener_token, TcpMain};

/// How long accepting pauses after EMFILE/ENFILE, so a full fd table does not spin main.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

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
                    if is_resource_exhaustion(&e) {
                        log::warn!(
                            "accept on {}: {e}; pausing accepts for {ACCEPT_PAUSE:?}",
                            l.addr
                        );
                        self.pause_accept(li);
                        return;
                    }
                    // ECONNABORTED and friends: that connection is gone, keep accepting.
                    log::debug!("accept on {}: {e}", l.addr);
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
            log::warn!(
                "refusing connection from {peer}: tcp_max_connections ({}) reached",
                tcp.max_connections
            );
            return;
        }
        if tcp.accept_unique && self.shared.table.by_peer(&peer).is_some() {
            bump(&self.shared.stats.refused_unique);
            log::info!("refusing duplicate connection from {peer} (tcp_accept_unique)");
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
                log::warn!("refusing connection from {peer}: tcp_max_connections ({max}) reached");
                return;
            }
            Err(InsertError::NoSlot) => {
                log::error!("connection table full; refusing {peer}");
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

/// Accept errors that mean "out of fds or memory": pause accepting instead of spinning.
fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS)
    )
}
