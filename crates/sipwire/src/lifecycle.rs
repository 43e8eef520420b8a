//! The life of a connection as TCP main sees it: one enum ([`Lifecycle`]) with its
//! transitions in one place, the [`Entry`] main keeps per connection (lifecycle, poller
//! registration, timers), the timer kinds, the poller interest a state wants, the decisions
//! main takes on readiness, hand-backs, timers and closes, and the token encoding of main's
//! poller. No sockets and no threads here: TCP main carries out what these decide, and the
//! decisions are unit-tested below.
//!
//! What other threads may change lives on `Conn` (atomics: close reason, PROXY done, state as
//! `tcp_conid_state` reports it) and in the write queue (the "watched" bit); the decisions take
//! those as plain inputs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sipwire_poll::{Interest, Token};

use crate::config::ClosedEvent;
use crate::conn::{CloseReason, ConId, Conn, ConnState};
use crate::handoff::ReadSide;
use crate::timer::TimerHandle;

/// Where a connection is in its life, as TCP main tracks it. The final state, closed, is the
/// entry's removal (`TcpMain::finalize`).
pub(crate) enum Lifecycle {
    /// An outbound connect in progress: main watches for writability; the read side waits
    /// here.
    Connecting(ReadSide),
    /// Open and quiet: the read side is parked in main, which watches for readability.
    Idle(ReadSide),
    /// Open, the read side owned by a reader.
    Reading,
    /// Main decided to close it while a reader owns the read side; the socket was shut down,
    /// so the reader hands it back soon and main finalizes it then.
    Closing(CloseReason),
}

/// Which of main's timers fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// `tcp_connection_lifetime` (or the connection's override).
    Lifetime,
    /// `tcp_wait_data`: a PROXY header is due.
    WaitData,
    /// Accepting on this listener resumes after EMFILE/ENFILE.
    AcceptResume(usize),
    /// `tcp_connect_timeout`.
    ConnectTimeout,
    /// `tcp_send_timeout` on the write queue.
    SendTimeout,
    /// `tcp_msg_read_timeout`: the periodic check of the message in progress.
    MsgRead,
    /// `tcp_msg_data_timeout`: a first message is due on an accepted connection.
    MsgData,
}

/// The timers armed for one connection.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    pub lifetime: Option<TimerHandle>,
    pub wait_data: Option<TimerHandle>,
    pub connect: Option<TimerHandle>,
    pub send: Option<TimerHandle>,
    pub msg_read: Option<TimerHandle>,
    pub msg_data: Option<TimerHandle>,
}

impl Timers {
    /// Every armed handle (to cancel them at the final close).
    pub fn into_handles(self) -> impl Iterator<Item = TimerHandle> {
        [
            self.lifetime,
            self.wait_data,
            self.connect,
            self.send,
            self.msg_read,
            self.msg_data,
        ]
        .into_iter()
        .flatten()
    }
}

/// What TCP main keeps per connection.
pub(crate) struct Entry {
    pub conn: Arc<Conn>,
    pub life: Lifecycle,
    pub timers: Timers,
    /// What the fd is registered for in main's poller, if anything.
    pub interest: Option<Interest>,
    /// The reader that reads this connection whenever it is handed off (an outbound
    /// connection: the reader whose send opened it); `None`: the least busy one.
    pub home: Option<u16>,
}

/// What a poller event on a connection asks main to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Ready {
    /// The pending connect resolved (writable, error or hang-up).
    pub connect_done: bool,
    /// Write what is queued.
    pub flush: bool,
    /// Give the read side to a reader.
    pub hand_off: bool,
}

/// What a close main decided comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Close {
    /// The read side is here: finalize now.
    Now,
    /// A reader owns the read side: finalize when it hands it back.
    AfterHandBack,
}

/// What a fired timer asks main to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerAction {
    /// Nothing (the condition no longer holds).
    Nothing,
    /// Close the connection for this reason.
    Close(CloseReason),
    /// Arm the lifetime timer again from the last activity.
    RearmLifetime,
    /// Arm the send timer again for this deadline.
    RearmSend(Instant),
    /// Check the message in progress again at this time (ms since the runtime's epoch).
    RearmMsgRead(u64),
}

/// How often a connection is checked while `tcp_msg_read_timeout` is 0 (off), so turning
/// it on at runtime reaches every connection.
pub(crate) const MSG_READ_OFF_RECHECK_MS: u64 = 5000;

impl Entry {
    /// An accepted connection, its read side handed to a reader at once (a new connection
    /// almost always has data on its way).
    pub fn accepted(conn: Arc<Conn>) -> Entry {
        Entry::with(conn, Lifecycle::Reading)
    }

    /// A connection a send opened, arriving in main with its read side.
    pub fn outbound(conn: Arc<Conn>) -> Entry {
        let rs = ReadSide::new(conn.clone());
        let life = if conn.state() == ConnState::Connecting {
            Lifecycle::Connecting(rs)
        } else {
            Lifecycle::Idle(rs)
        };
        Entry::with(conn, life)
    }

    fn with(conn: Arc<Conn>, life: Lifecycle) -> Entry {
        Entry {
            conn,
            life,
            timers: Timers::default(),
            interest: None,
            home: None,
        }
    }

    /// The read side is in main (idle or connecting), so a close can be final at once.
    pub fn read_side_here(&self) -> bool {
        matches!(self.life, Lifecycle::Idle(_) | Lifecycle::Connecting(_))
    }

    /// The close main decided while a reader owned the read side, if any.
    pub fn closing_reason(&self) -> Option<CloseReason> {
        match self.life {
            Lifecycle::Closing(r) => Some(r),
            _ => None,
        }
    }

    /// An outbound connect is in progress.
    pub fn connecting(&self) -> bool {
        matches!(self.life, Lifecycle::Connecting(_))
    }

    /// What main must watch: writability while connecting or while the write queue waits
    /// for room, readability while idle here.
    pub fn wanted(&self) -> Option<Interest> {
        // Never wait for the write lock: a blocking-mode sender holds it up to
        // `tcp_send_timeout`. Busy: assume watched; a writability event with nothing queued
        // drops it again (`flush`), and a full socket gives no such event.
        let watched =
            !self.connecting() && self.conn.write.try_lock().is_none_or(|q| q.is_watched());
        self.life.wanted(watched)
    }

    /// Connecting or idle → reading: the read side to give to a reader, if it is here and
    /// idle.
    pub fn take_for_reader(&mut self) -> Option<ReadSide> {
        if !matches!(self.life, Lifecycle::Idle(_)) {
            return None;
        }
        match std::mem::replace(&mut self.life, Lifecycle::Reading) {
            Lifecycle::Idle(rs) => Some(rs),
            other => {
                self.life = other;
                None
            }
        }
    }

    /// Connecting → idle: the connect completed.
    pub fn connected(&mut self) {
        if let Lifecycle::Connecting(_) = self.life {
            if let Lifecycle::Connecting(rs) = std::mem::replace(&mut self.life, Lifecycle::Reading)
            {
                self.life = Lifecycle::Idle(rs);
            }
        }
    }

    /// Reading → idle: a reader handed back a quiet connection (see [`on_hand_back`] for
    /// when it is parked rather than finalized).
    pub fn park(&mut self, rs: ReadSide) {
        self.life = Lifecycle::Idle(rs);
    }

    /// Main decided to close: final now if the read side is here, else reading → closing.
    pub fn close(&mut self, reason: CloseReason) -> Close {
        match self.life {
            Lifecycle::Idle(_) | Lifecycle::Connecting(_) => Close::Now,
            Lifecycle::Reading => {
                self.life = Lifecycle::Closing(reason);
                Close::AfterHandBack
            }
            Lifecycle::Closing(_) => Close::AfterHandBack,
        }
    }

    /// What a poller event means in the current state.
    pub fn ready(&self, readable: bool, writable: bool, error: bool) -> Ready {
        if self.connecting() {
            return Ready {
                connect_done: readable || writable || error,
                ..Ready::default()
            };
        }
        Ready {
            connect_done: false,
            flush: writable || error,
            hand_off: (readable || error) && matches!(self.life, Lifecycle::Idle(_)),
        }
    }
}

impl Lifecycle {
    /// The poller interest of this state, given whether the write queue wants watching.
    pub fn wanted(&self, write_watched: bool) -> Option<Interest> {
        match (self, write_watched) {
            (Lifecycle::Connecting(_), _) => Some(Interest::WRITABLE),
            (Lifecycle::Idle(_), true) => Some(Interest::BOTH),
            (Lifecycle::Idle(_), false) => Some(Interest::READABLE),
            (Lifecycle::Reading | Lifecycle::Closing(_), true) => Some(Interest::WRITABLE),
            (Lifecycle::Reading | Lifecycle::Closing(_), false) => None,
        }
    }
}

/// A reader handed a quiet connection back: `Some(reason)` finalizes it (a close was asked
/// meanwhile, or the runtime is stopping), `None` parks it idle in main.
pub(crate) fn on_hand_back(
    close_reason: Option<CloseReason>,
    stopping: bool,
) -> Option<CloseReason> {
    close_reason.or(stopping.then_some(CloseReason::Shutdown))
}

/// The lifetime timer fired after `idle_for` without traffic.
pub(crate) fn on_lifetime(idle_for: Duration, lifetime: Duration) -> TimerAction {
    if idle_for >= lifetime {
        TimerAction::Close(CloseReason::Lifetime)
    } else {
        TimerAction::RearmLifetime
    }
}

/// The connect timer fired.
pub(crate) fn on_connect_timeout(still_connecting: bool) -> TimerAction {
    if still_connecting {
        TimerAction::Close(CloseReason::ConnectTimeout)
    } else {
        TimerAction::Nothing
    }
}

/// The `tcp_wait_data` timer fired.
pub(crate) fn on_wait_data(proxy_done: bool) -> TimerAction {
    if proxy_done {
        TimerAction::Nothing
    } else {
        TimerAction::Close(CloseReason::WaitData)
    }
}

/// The `tcp_msg_read_timeout` check: `started_ms` is when the message in progress started
/// (`None`: none), all times in ms since the runtime's epoch; `timeout_ms` 0 is off.
pub(crate) fn on_msg_read(started_ms: Option<u64>, now_ms: u64, timeout_ms: u64) -> TimerAction {
    match started_ms {
        _ if timeout_ms == 0 => TimerAction::RearmMsgRead(now_ms + MSG_READ_OFF_RECHECK_MS),
        Some(t) if now_ms.saturating_sub(t) >= timeout_ms => {
            TimerAction::Close(CloseReason::MsgReadTimeout)
        }
        Some(t) => TimerAction::RearmMsgRead(t + timeout_ms),
        None => TimerAction::RearmMsgRead(now_ms + timeout_ms),
    }
}

/// The `tcp_msg_data_timeout` timer fired on an accepted connection.
pub(crate) fn on_msg_data(got_message: bool) -> TimerAction {
    if got_message {
        TimerAction::Nothing
    } else {
        TimerAction::Close(CloseReason::MsgDataTimeout)
    }
}

/// The send timer fired; `queued_since` is the queue's last progress, `None` if it is empty.
pub(crate) fn on_send_timeout(
    queued_since: Option<Instant>,
    now: Instant,
    timeout: Duration,
) -> TimerAction {
    match queued_since {
        None => TimerAction::Nothing,
        Some(last) if now.saturating_duration_since(last) >= timeout => {
            TimerAction::Close(CloseReason::SendTimeout)
        }
        Some(last) => TimerAction::RearmSend(last + timeout),
    }
}

/// Whether a close is reported to `on_event` (`closed_event`, and `enable_closed_event` in
/// mode 2).
pub(crate) fn reports_close(mode: ClosedEvent, enabled_on_conn: bool) -> bool {
    match mode {
        ClosedEvent::Off => false,
        ClosedEvent::On => true,
        ClosedEvent::Manual => enabled_on_conn,
    }
}

/// A token of TCP main's poller, encoded in one place. Connection tokens carry the whole
/// [`ConId`], generation included, so an event for a reused slot's old connection never
/// matches the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MainToken {
    /// The waker of main's channel.
    Waker,
    /// A listener, by index.
    Listener(u16),
    /// A connection.
    Conn(ConId),
}

// Connection ids have a generation of at least 1 in their high half, so they never collide
// with the waker (0) and listener (1..=65536) tokens; that needs a 64-bit token.
const _: () = assert!(usize::BITS >= 64, "TCP main's tokens carry a 64-bit ConId");

impl MainToken {
    /// The poller token.
    pub fn encode(self) -> Token {
        Token(match self {
            MainToken::Waker => 0,
            MainToken::Listener(i) => 1 + usize::from(i),
            MainToken::Conn(id) => id.0 as usize,
        })
    }

    /// The token's meaning; `None` for a token main never registers.
    pub fn decode(t: Token) -> Option<MainToken> {
        let v = t.0 as u64;
        match v {
            0 => Some(MainToken::Waker),
            1..=65536 => u16::try_from(v - 1).ok().map(MainToken::Listener),
            _ if v >> 32 != 0 => Some(MainToken::Conn(ConId(v))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{SocketAddr, TcpListener, TcpStream};

    /// A `Conn` over a loopback socket pair: the decisions never touch it, but `Entry` holds
    /// one.
    fn conn(outbound_connecting: bool) -> (Arc<Conn>, TcpListener) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr: SocketAddr = l.local_addr().unwrap();
        let s = TcpStream::connect(addr).unwrap();
        let id = ConId::new(3, 1);
        let c = if outbound_connecting {
            Conn::new_outbound(id, s, addr, addr, 0)
        } else {
            Conn::new(id, s, addr, addr, 0)
        };
        (Arc::new(c), l)
    }

    #[test]
    fn accepted_connection_goes_to_a_reader_and_comes_back_idle() {
        let (c, _l) = conn(false);
        let mut e = Entry::accepted(c.clone());
        assert!(!e.read_side_here());
        assert_eq!(e.wanted(), None, "a reader watches it, not main");
        assert_eq!(e.ready(true, false, false), Ready::default());
        assert_eq!(on_hand_back(None, false), None);
        e.park(ReadSide::new(c.clone()));
        assert!(e.read_side_here());
        assert_eq!(e.wanted(), Some(Interest::READABLE));
        let r = e.ready(true, false, false);
        assert!(r.hand_off && !r.flush && !r.connect_done);
        assert!(e.take_for_reader().is_some());
        assert!(e.take_for_reader().is_none(), "given once");
        assert_eq!(e.wanted(), None);
    }

    #[test]
    fn queued_writes_add_writability() {
        let (c, _l) = conn(false);
        let mut e = Entry::accepted(c.clone());
        assert!(c.write.lock().watch());
        assert_eq!(e.wanted(), Some(Interest::WRITABLE));
        let r = e.ready(false, true, false);
        assert!(r.flush && !r.hand_off);
        e.park(ReadSide::new(c.clone()));
        assert_eq!(e.wanted(), Some(Interest::BOTH));
        c.write.lock().unwatch();
        assert_eq!(e.wanted(), Some(Interest::READABLE));
    }

    #[test]
    fn outbound_connect_then_idle() {
        let (c, _l) = conn(true);
        let mut e = Entry::outbound(c.clone());
        assert!(e.connecting() && e.read_side_here());
        assert_eq!(e.wanted(), Some(Interest::WRITABLE));
        for (r, w, x) in [
            (true, false, false),
            (false, true, false),
            (false, false, true),
        ] {
            assert_eq!(
                e.ready(r, w, x),
                Ready {
                    connect_done: true,
                    ..Ready::default()
                }
            );
        }
        assert!(
            e.take_for_reader().is_none(),
            "no reading before the connect is done"
        );
        assert_eq!(
            on_connect_timeout(e.connecting()),
            TimerAction::Close(CloseReason::ConnectTimeout)
        );
        e.connected();
        assert!(!e.connecting());
        assert_eq!(e.wanted(), Some(Interest::READABLE));
        assert_eq!(on_connect_timeout(e.connecting()), TimerAction::Nothing);
        // An outbound connection already connected when it arrives is idle at once.
        let (c2, _l2) = conn(false);
        assert!(matches!(Entry::outbound(c2).life, Lifecycle::Idle(_)));
    }

    #[test]
    fn close_is_final_at_once_only_with_the_read_side_here() {
        let (c, _l) = conn(false);
        let mut e = Entry::accepted(c.clone());
        assert_eq!(e.close(CloseReason::Lifetime), Close::AfterHandBack);
        assert!(matches!(e.life, Lifecycle::Closing(CloseReason::Lifetime)));
        assert_eq!(e.close(CloseReason::Error), Close::AfterHandBack);
        e.park(ReadSide::new(c.clone()));
        assert_eq!(e.close(CloseReason::Lifetime), Close::Now);
        let (c2, _l2) = conn(true);
        assert_eq!(
            Entry::outbound(c2).close(CloseReason::Application),
            Close::Now
        );
    }

    #[test]
    fn hand_back_finalizes_when_closing_or_stopping() {
        assert_eq!(on_hand_back(None, false), None);
        assert_eq!(on_hand_back(None, true), Some(CloseReason::Shutdown));
        assert_eq!(
            on_hand_back(Some(CloseReason::Application), true),
            Some(CloseReason::Application),
            "the first reason wins"
        );
    }

    #[test]
    fn timers_decide_from_plain_facts() {
        let s = Duration::from_secs;
        assert_eq!(
            on_lifetime(s(5), s(5)),
            TimerAction::Close(CloseReason::Lifetime)
        );
        assert_eq!(on_lifetime(s(4), s(5)), TimerAction::RearmLifetime);
        assert_eq!(
            on_wait_data(false),
            TimerAction::Close(CloseReason::WaitData)
        );
        assert_eq!(on_wait_data(true), TimerAction::Nothing);
        assert_eq!(
            on_msg_read(Some(1000), 2000, 1000),
            TimerAction::Close(CloseReason::MsgReadTimeout)
        );
        assert_eq!(
            on_msg_read(Some(1500), 2000, 1000),
            TimerAction::RearmMsgRead(2500),
            "a message started since the last check gets its full time"
        );
        assert_eq!(
            on_msg_read(None, 2000, 1000),
            TimerAction::RearmMsgRead(3000)
        );
        assert_eq!(
            on_msg_read(Some(0), 9000, 0),
            TimerAction::RearmMsgRead(9000 + MSG_READ_OFF_RECHECK_MS),
            "0 is off"
        );
        assert_eq!(
            on_msg_data(false),
            TimerAction::Close(CloseReason::MsgDataTimeout)
        );
        assert_eq!(on_msg_data(true), TimerAction::Nothing);
        let t0 = Instant::now();
        assert_eq!(on_send_timeout(None, t0 + s(9), s(1)), TimerAction::Nothing);
        assert_eq!(
            on_send_timeout(Some(t0), t0 + s(1), s(1)),
            TimerAction::Close(CloseReason::SendTimeout)
        );
        assert_eq!(
            on_send_timeout(Some(t0 + s(1)), t0 + s(1), s(2)),
            TimerAction::RearmSend(t0 + s(3)),
            "progress since the timer was armed: count from the progress"
        );
    }

    #[test]
    fn event_gate() {
        assert!(!reports_close(ClosedEvent::Off, true));
        assert!(reports_close(ClosedEvent::On, false));
        assert!(reports_close(ClosedEvent::Manual, true));
        assert!(!reports_close(ClosedEvent::Manual, false));
    }

    #[test]
    fn tokens_round_trip_and_keep_the_generation() {
        let id = ConId::new(7, 3);
        for t in [
            MainToken::Waker,
            MainToken::Listener(0),
            MainToken::Listener(u16::MAX),
            MainToken::Conn(id),
        ] {
            assert_eq!(MainToken::decode(t.encode()), Some(t));
        }
        assert_ne!(
            MainToken::Conn(ConId::new(7, 4)).encode(),
            MainToken::Conn(id).encode(),
            "a reused slot has a new token"
        );
        assert_eq!(MainToken::decode(Token(70_000)), None);
    }
}
/// What an idle connection costs in TCP main and the table (the peer bench measures the PSS
/// per idle connection; these keep the structs behind it from growing unnoticed).
#[cfg(all(test, target_pointer_width = "64"))]
mod sizes {
    #[test]
    fn per_connection_structs_stay_small() {
        // Six timer handles of 8 bytes (a niche in the generation), the read side, the poller
        // interest and the home reader.
        assert!(std::mem::size_of::<Option<super::Entry>>() <= 88);
        // The write queue boxes what only a non-empty queue needs.
        assert!(std::mem::size_of::<parking_lot::Mutex<crate::wq::WriteQueue>>() <= 32);
        assert!(std::mem::size_of::<crate::conn::Conn>() <= 192);
    }
}
