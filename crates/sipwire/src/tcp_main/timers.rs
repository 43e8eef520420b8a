//! TCP main's connection timers: lifetime (`tcp_connection_lifetime` or the override),
//! `tcp_wait_data`, `tcp_connect_timeout` and `tcp_send_timeout` — armed here, decided in
//! `lifecycle.rs`, carried out here.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::conn::ConId;
use crate::lifecycle::{self, TimerAction, TimerKind};
use crate::ratelimit::{limited_log, RateLimit};
use crate::stats::bump;

/// Timeout closes a flood of slow clients causes, logged at most this often per second.
static TIMEOUT_LOG: RateLimit = RateLimit::new(10);

use super::TcpMain;

impl TcpMain {
    /// A send queued data on a connection: watch for room and time the queue.
    pub(super) fn want_write(&mut self, id: ConId) {
        let timeout = self.shared.config.snapshot().tcp.send_timeout;
        let Some(e) = self.entry(id) else { return };
        if e.timers.send.is_none() {
            let since = e
                .conn
                .write
                .try_lock()
                .and_then(|q| q.last_progress())
                .unwrap_or_else(Instant::now);
            let h = self
                .timers
                .insert(since + timeout, (id, TimerKind::SendTimeout));
            if let Some(e) = self.entry(id) {
                e.timers.send = Some(h);
            }
        }
        self.sync_interest(id);
    }

    /// The read timers of a new connection: the `tcp_msg_read_timeout` check, and for an
    /// accepted one the `tcp_msg_data_timeout` deadline.
    pub(super) fn arm_msg_timers(&mut self, id: ConId, accepted: bool) {
        let tcp = &self.shared.config.snapshot().tcp;
        let now = Instant::now();
        let check = match tcp.msg_read_timeout {
            Duration::ZERO => Duration::from_millis(lifecycle::MSG_READ_OFF_RECHECK_MS),
            t => t,
        };
        let read = self.timers.insert(now + check, (id, TimerKind::MsgRead));
        let data = (accepted && !tcp.msg_data_timeout.is_zero()).then(|| {
            self.timers
                .insert(now + tcp.msg_data_timeout, (id, TimerKind::MsgData))
        });
        if let Some(e) = self.entry(id) {
            e.timers.msg_read = Some(read);
            e.timers.msg_data = data;
        }
    }

    /// (Re)arms the lifetime timer from the connection's last activity.
    pub(super) fn arm_lifetime(&mut self, id: ConId) {
        let lifetime = self.lifetime_of(id);
        let Some(e) = self.entry(id) else { return };
        let last = e.conn.last_activity_ms();
        let deadline = self.shared.epoch + Duration::from_millis(last) + lifetime;
        let h = self.timers.insert(deadline, (id, TimerKind::Lifetime));
        if let Some(e) = self.entry(id) {
            e.timers.lifetime = Some(h);
        }
    }

    pub(super) fn lifetime_of(&self, id: ConId) -> Duration {
        self.lifetime_with(id, self.shared.config.snapshot().tcp.connection_lifetime)
    }

    /// The connection's lifetime: its override, or the configured `conf`.
    pub(super) fn lifetime_with(&self, id: ConId, conf: Duration) -> Duration {
        self.entries
            .get(id.index() as usize)
            .and_then(Option::as_ref)
            .and_then(|e| e.conn.lifetime_override_ms())
            .map_or(conf, Duration::from_millis)
    }

    pub(super) fn run_timers(&mut self) {
        let mut fired = Vec::new();
        self.timers.advance(Instant::now(), |v| fired.push(v));
        for (id, kind) in fired {
            if let TimerKind::AcceptResume(li) = kind {
                self.resume_accept(li);
            } else {
                self.on_conn_timer(id, kind);
            }
        }
    }

    /// A connection's timer fired: decide (`lifecycle`), then act.
    pub(super) fn on_conn_timer(&mut self, id: ConId, kind: TimerKind) {
        let cfg = self.shared.config.snapshot();
        let send_timeout = cfg.tcp.send_timeout;
        let lifetime = self.lifetime_with(id, cfg.tcp.connection_lifetime);
        let now_ms = self.shared.now_ms();
        let Some(e) = self.entry(id) else { return };
        let conn = e.conn.clone();
        let action = match kind {
            TimerKind::Lifetime => {
                e.timers.lifetime = None;
                let idle_for =
                    Duration::from_millis(now_ms.saturating_sub(conn.last_activity_ms()));
                let a = lifecycle::on_lifetime(idle_for, lifetime);
                if a != TimerAction::RearmLifetime {
                    bump(&self.shared.stats.lifetime_expired);
                    log::debug!("conid {id}: idle {idle_for:?} >= lifetime {lifetime:?}; closing");
                }
                a
            }
            TimerKind::ConnectTimeout => {
                e.timers.connect = None;
                let a = lifecycle::on_connect_timeout(e.connecting());
                if a != TimerAction::Nothing {
                    bump(&self.shared.stats.connect_failures);
                    log::info!(
                        "conid {id}: connect to {} timed out (tcp_connect_timeout)",
                        conn.peer
                    );
                }
                a
            }
            TimerKind::WaitData => {
                e.timers.wait_data = None;
                let a = lifecycle::on_wait_data(conn.proxy_done.load(Ordering::Acquire));
                if a != TimerAction::Nothing {
                    bump(&self.shared.stats.wait_data_expired);
                    log::info!("conid {id}: no PROXY header within tcp_wait_data; closing");
                }
                a
            }
            TimerKind::SendTimeout => {
                e.timers.send = None;
                // A sender holding the lock is writing: count from now.
                let queued_since = match conn.write.try_lock() {
                    Some(q) => {
                        (!q.is_empty()).then(|| q.last_progress().unwrap_or_else(Instant::now))
                    }
                    None => Some(Instant::now()),
                };
                let a = lifecycle::on_send_timeout(queued_since, Instant::now(), send_timeout);
                if let TimerAction::Close(_) = a {
                    bump(&self.shared.stats.send_timeouts);
                    log::info!("conid {id}: queued data made no progress for {send_timeout:?} (tcp_send_timeout); closing");
                }
                a
            }
            TimerKind::MsgRead => {
                e.timers.msg_read = None;
                let timeout_ms =
                    u64::try_from(cfg.tcp.msg_read_timeout.as_millis()).unwrap_or(u64::MAX);
                let a = lifecycle::on_msg_read(conn.msg_started_ms(), now_ms, timeout_ms);
                if let TimerAction::Close(_) = a {
                    bump(&self.shared.stats.msg_read_timeouts);
                    limited_log!(TIMEOUT_LOG, Info, "conid {id} from {}: message not complete within tcp_msg_read_timeout; closing", conn.source());
                }
                a
            }
            TimerKind::MsgData => {
                e.timers.msg_data = None;
                let a = lifecycle::on_msg_data(conn.got_message.load(Ordering::Relaxed));
                if let TimerAction::Close(_) = a {
                    bump(&self.shared.stats.msg_data_timeouts);
                    limited_log!(
                        TIMEOUT_LOG,
                        Info,
                        "conid {id} from {}: no message within tcp_msg_data_timeout; closing",
                        conn.source()
                    );
                }
                a
            }
            TimerKind::AcceptResume(_) => TimerAction::Nothing,
        };
        match action {
            TimerAction::Nothing => {}
            TimerAction::Close(reason) => self.close_from_main(conn, reason),
            TimerAction::RearmLifetime => self.arm_lifetime(id),
            TimerAction::RearmMsgRead(at_ms) => {
                let at = self.shared.epoch + Duration::from_millis(at_ms);
                let h = self.timers.insert(at, (id, TimerKind::MsgRead));
                if let Some(e) = self.entry(id) {
                    e.timers.msg_read = Some(h);
                }
            }
            TimerAction::RearmSend(at) => {
                let h = self.timers.insert(at, (id, TimerKind::SendTimeout));
                if let Some(e) = self.entry(id) {
                    e.timers.send = Some(h);
                }
            }
        }
    }
}
