//! [`Endpoint`]: one one-to-many SCTP socket — open (bind every address, apply the options,
//! subscribe to notifications, listen), receive one SIP message per SCTP message, send by
//! association or by destination (implicit association setup), and what the notifications
//! mean for the application.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Instant;

use parking_lot::Mutex;
use sipwire_config::SctpConfig;
use sipwire_sys::sctp::{self, AssocState, Notification, Recv, SendFlags, SendInfo};

use crate::options::apply_socket_options;
use crate::stats::{add, bump, SctpStats};
use crate::tracker::{AssocInfo, Tracker};
use crate::AssocId;

/// SIP's SCTP payload protocol id (RFC 4168 registers none; Kamailio sends 0).
const PPID: u32 = 0;
/// Backlog of the listening socket (associations being set up).
const BACKLOG: i32 = 1024;

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// An association by id.
    Assoc(AssocId),
    /// A peer address: its association (reused when tracked and `sctp_assoc_reuse` is on, or
    /// found by the kernel), or a new one set up by the send itself.
    Addr(SocketAddr),
}

/// Why a send failed.
#[derive(Debug)]
pub enum SendError {
    /// `Dest::Assoc` names no association of this endpoint.
    NoSuchAssoc(AssocId),
    /// A new association would exceed `sctp_max_assocs` (tracking on: nothing was sent).
    TooManyAssocs(SocketAddr),
    /// The socket's send buffer is full (the peer is too slow).
    WouldBlock,
    /// The kernel refused it.
    Io(io::Error),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NoSuchAssoc(a) => write!(f, "no SCTP association {a}"),
            SendError::TooManyAssocs(d) => {
                write!(f, "no association to {d}: sctp_max_assocs reached")
            }
            SendError::WouldBlock => f.write_str("the SCTP send buffer is full"),
            SendError::Io(e) => write!(f, "SCTP send failed: {e}"),
        }
    }
}

impl std::error::Error for SendError {}

/// How an association ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Shut down gracefully (`SCTP_SHUTDOWN_COMP`, or the peer's SHUTDOWN).
    Shutdown,
    /// Lost: retransmissions or heartbeats unanswered, or an ABORT (`SCTP_COMM_LOST`).
    Lost,
    /// Never came up (`SCTP_CANT_STR_ASSOC`).
    CantStart,
    /// Aborted by us: `sctp_max_assocs` exceeded, or a message too big for the buffer.
    Aborted,
}

/// What a notification meant, for the runtime to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssocEvent {
    /// An association came up (or restarted).
    Up {
        /// Its id.
        assoc: AssocId,
    },
    /// An association ended.
    Closed {
        /// Its id.
        assoc: AssocId,
        /// The peer, when tracked.
        peer: Option<SocketAddr>,
        /// How.
        how: Closed,
    },
    /// A peer address changed state (multi-homing: a path went down or came back).
    PathChange {
        /// The association.
        assoc: AssocId,
        /// The address.
        addr: Option<SocketAddr>,
        /// The new state, in words ("available", "unreachable", ...).
        state: &'static str,
    },
    /// The kernel gave back a message it could not deliver; `resent` when
    /// `sctp_send_retries` allowed another attempt.
    SendFailed {
        /// The association.
        assoc: AssocId,
        /// The message.
        data: Vec<u8>,
        /// Sent again.
        resent: bool,
    },
}

/// What one [`Endpoint::recv`] produced.
#[derive(Debug)]
pub enum Received {
    /// One whole SIP message, `buf[..len]`.
    Message {
        /// Its length in the buffer.
        len: usize,
        /// Offset of the body (after the empty line).
        body_start: usize,
        /// The association it came on.
        assoc: AssocId,
        /// The address it came from.
        from: SocketAddr,
        /// The stream.
        stream: u16,
    },
    /// A notification, handled; what it means for the application.
    Event(AssocEvent),
    /// Something consumed with nothing to report (a dropped or partial message, an
    /// uninteresting notification): call again.
    Nothing,
    /// Nothing more to read now.
    WouldBlock,
}

/// One SCTP endpoint (a listen line): its socket, addresses, tracking and counters.
#[derive(Debug)]
pub struct Endpoint {
    fd: OwnedFd,
    locals: Vec<SocketAddr>,
    tracker: Mutex<Tracker>,
    /// The endpoint's counters.
    pub stats: SctpStats,
}

impl Endpoint {
    /// Opens an endpoint on `addrs` (one port; several addresses make it multi-homed): the
    /// socket, every address bound, the options of `cfg` applied, notifications subscribed,
    /// listening. The error says which step failed (a kernel without SCTP fails the first).
    pub fn open(addrs: &[SocketAddr], cfg: &SctpConfig) -> io::Result<Endpoint> {
        let first = addrs
            .first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
        let step = |what: &'static str| {
            move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"))
        };
        let fd = sctp::socket(first.is_ipv6()).map_err(step("SCTP socket"))?;
        let raw = fd.as_raw_fd();
        sctp::bindx(raw, addrs).map_err(step("bind"))?;
        apply_socket_options(raw, cfg)?;
        // SIP messages are sent whole and waited for: no Nagle-style bundling delay (Kamailio
        // and SIPp turn it off too; with it, a reply can wait for the peer's delayed SACK).
        sctp::set_nodelay(raw, true).map_err(step("SCTP_NODELAY"))?;
        sctp::subscribe(raw).map_err(step("subscribe to notifications"))?;
        sctp::listen(raw, BACKLOG).map_err(step("listen"))?;
        let locals = sctp::local_addrs(raw).unwrap_or_else(|_| addrs.to_vec());
        Ok(Endpoint {
            fd,
            locals,
            tracker: Mutex::new(Tracker::default()),
            stats: SctpStats::default(),
        })
    }

    /// The socket, to register for readability.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The bound addresses (with the port the OS chose for port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.locals
    }

    /// Re-applies the socket options after a runtime change (`cfg.set_now_int sctp ...`):
    /// they hold for associations set up from now on, as Kamailio's do. Turning tracking off
    /// forgets every tracked association.
    pub fn reconfigure(&self, cfg: &SctpConfig) -> io::Result<()> {
        if !cfg.assoc_tracking {
            self.tracker.lock().clear();
        }
        apply_socket_options(self.fd(), cfg)
    }

    /// Tracked associations (empty with `sctp_assoc_tracking = 0`).
    pub fn assocs(&self) -> Vec<AssocInfo> {
        self.tracker.lock().all()
    }

    /// Associations up now (counted with tracking on or off).
    pub fn live_assocs(&self) -> usize {
        self.tracker.lock().live
    }

    /// What is tracked of association `assoc`.
    pub fn assoc(&self, assoc: AssocId) -> Option<AssocInfo> {
        self.tracker.lock().get(assoc).cloned()
    }

    /// Reads one thing from the socket into `buf`. A message that does not fit `buf` is a
    /// protocol error on its association only: the association is aborted and the rest of
    /// the message dropped.
    pub fn recv(&self, buf: &mut [u8], cfg: &SctpConfig) -> io::Result<Received> {
        match sctp::recv(self.fd(), buf)? {
            Recv::WouldBlock => Ok(Received::WouldBlock),
            Recv::Notification(n) => Ok(self.on_notification(n, cfg)),
            Recv::Data {
                len,
                from,
                assoc,
                stream,
                eor,
                ..
            } => Ok(self.on_data(&buf[..len], from, assoc, stream, eor, cfg)),
        }
    }

    fn on_data(
        &self,
        data: &[u8],
        from: SocketAddr,
        assoc: AssocId,
        stream: u16,
        eor: bool,
        cfg: &SctpConfig,
    ) -> Received {
        let mut t = self.tracker.lock();
        if let Some(i) = t.discarding.iter().position(|a| *a == assoc) {
            if eor {
                t.discarding.swap_remove(i);
            }
            return Received::Nothing;
        }
        if !eor {
            bump(&self.stats.too_big);
            t.discarding.push(assoc);
            drop(t);
            log::warn!(
                "sctp assoc {assoc} from {from}: message larger than {} bytes; aborting the association",
                data.len()
            );
            self.abort(assoc);
            return Received::Nothing;
        }
        if cfg.assoc_tracking {
            t.seen(assoc, from, Instant::now());
        }
        drop(t);
        let Some(end) = find_headers_end(data) else {
            bump(&self.stats.parse_errors);
            log::info!(
                "sctp assoc {assoc} from {from}: dropped {} bytes that are not SIP",
                data.len()
            );
            return Received::Nothing;
        };
        bump(&self.stats.messages);
        add(&self.stats.bytes_read, data.len() as u64);
        Received::Message {
            len: data.len(),
            body_start: end,
            assoc,
            from,
            stream,
        }
    }

    fn on_notification(&self, n: Notification, cfg: &SctpConfig) -> Received {
        match n {
            Notification::AssocChange { assoc, state, .. } => match state {
                AssocState::CommUp | AssocState::Restart => {
                    let over = {
                        let mut t = self.tracker.lock();
                        t.live += 1;
                        cfg.max_assocs.is_some_and(|m| t.live > m as usize)
                    };
                    bump(&self.stats.assoc_up);
                    if over {
                        // Tracking off (or a peer opening one): it is up already; close it.
                        bump(&self.stats.assoc_refused);
                        self.abort(assoc);
                    }
                    if cfg.assoc_tracking {
                        if let Ok(peer) = sctp::peer_addrs(self.fd(), assoc) {
                            if let Some(p) = peer.first() {
                                self.tracker.lock().seen(assoc, *p, Instant::now());
                            }
                        }
                    }
                    Received::Event(AssocEvent::Up { assoc })
                }
                AssocState::CommLost
                | AssocState::ShutdownComplete
                | AssocState::CantStartAssoc => {
                    let how = match state {
                        AssocState::CommLost => {
                            bump(&self.stats.assoc_lost);
                            Closed::Lost
                        }
                        AssocState::ShutdownComplete => {
                            bump(&self.stats.assoc_shutdown);
                            Closed::Shutdown
                        }
                        _ => {
                            bump(&self.stats.assoc_failed);
                            Closed::CantStart
                        }
                    };
                    let peer = {
                        let mut t = self.tracker.lock();
                        if how != Closed::CantStart {
                            t.live = t.live.saturating_sub(1);
                        }
                        t.forget(assoc).map(|a| a.peer)
                    };
                    Received::Event(AssocEvent::Closed { assoc, peer, how })
                }
                AssocState::Other(_) => Received::Nothing,
            },
            Notification::PeerAddrChange {
                assoc, addr, state, ..
            } => {
                bump(&self.stats.addr_changes);
                Received::Event(AssocEvent::PathChange {
                    assoc,
                    addr,
                    state: path_state(&state),
                })
            }
            Notification::SendFailed { assoc, data, .. } => {
                bump(&self.stats.send_failed);
                let resent = self.resend(assoc, &data, cfg);
                Received::Event(AssocEvent::SendFailed {
                    assoc,
                    data,
                    resent,
                })
            }
            Notification::Shutdown { .. } | Notification::Other { .. } => Received::Nothing,
        }
    }

    /// `sctp_send_retries`: sends a message the kernel gave back again, to the same peer (a
    /// new association if the old one is gone), at most that many times per message.
    fn resend(&self, assoc: AssocId, data: &[u8], cfg: &SctpConfig) -> bool {
        if cfg.send_retries == 0 || data.is_empty() {
            return false;
        }
        let h = hash(data);
        let peer = {
            let t = self.tracker.lock();
            t.get(assoc)
                .map(|a| a.peer)
                .or_else(|| t.opened_for.get(&h).copied())
        };
        let Some(peer) = peer else {
            return false;
        };
        if !self.tracker.lock().retry((peer, h), cfg.send_retries) {
            return false;
        }
        let ok = self.send(Dest::Addr(peer), data, cfg).is_ok();
        if ok {
            bump(&self.stats.resent);
        }
        ok
    }

    /// Sends one message. `Dest::Addr` to a peer with no association sets one up (the
    /// message travels with the handshake); with tracking on, that is refused first when
    /// `sctp_max_assocs` associations are up. Each message carries `sctp_send_ttl`.
    pub fn send(&self, dest: Dest, data: &[u8], cfg: &SctpConfig) -> Result<AssocId, SendError> {
        let ttl_ms = u32::try_from(cfg.send_ttl.as_millis()).unwrap_or(u32::MAX);
        let (dst, assoc) = match dest {
            Dest::Assoc(a) => {
                let known = self.tracker.lock().get(a).map(|i| i.peer);
                if cfg.assoc_tracking && known.is_none() {
                    return Err(SendError::NoSuchAssoc(a));
                }
                (None, a)
            }
            Dest::Addr(d) => {
                let t = self.tracker.lock();
                match t.by_peer(&d) {
                    Some(a) if cfg.assoc_tracking && cfg.assoc_reuse => (None, a),
                    Some(_) => (Some(d), 0),
                    None => {
                        if cfg.assoc_tracking
                            && cfg.max_assocs.is_some_and(|m| t.live >= m as usize)
                        {
                            drop(t);
                            bump(&self.stats.assoc_refused);
                            bump(&self.stats.send_errors);
                            return Err(SendError::TooManyAssocs(d));
                        }
                        drop(t);
                        if cfg.send_retries > 0 {
                            self.tracker.lock().opening(hash(data), d);
                        }
                        (Some(d), 0)
                    }
                }
            }
        };
        let info = SendInfo {
            assoc,
            stream: 0,
            ppid: PPID,
            ttl_ms,
            flags: SendFlags::default(),
        };
        match sctp::send(self.fd(), data, dst, &info) {
            Ok(_) => {
                bump(&self.stats.sends);
                add(&self.stats.bytes_sent, data.len() as u64);
                let used = if assoc != 0 {
                    assoc
                } else {
                    dst.and_then(|d| self.tracker.lock().by_peer(&d))
                        .unwrap_or(0)
                };
                Ok(used)
            }
            Err(e) => {
                bump(&self.stats.send_errors);
                if e.kind() == io::ErrorKind::WouldBlock {
                    Err(SendError::WouldBlock)
                } else if assoc != 0 && e.raw_os_error() == Some(libc::EINVAL) {
                    Err(SendError::NoSuchAssoc(assoc))
                } else {
                    Err(SendError::Io(e))
                }
            }
        }
    }

    /// Ends an association gracefully (SHUTDOWN after what is queued).
    pub fn shutdown_assoc(&self, assoc: AssocId) -> io::Result<()> {
        self.control(assoc, SendFlags::EOF)
    }

    /// Aborts an association at once.
    pub fn abort(&self, assoc: AssocId) {
        if let Err(e) = self.control(assoc, SendFlags::ABORT) {
            log::debug!("sctp assoc {assoc}: abort failed: {e}");
        }
    }

    fn control(&self, assoc: AssocId, flags: SendFlags) -> io::Result<()> {
        let info = SendInfo {
            assoc,
            stream: 0,
            ppid: PPID,
            ttl_ms: 0,
            flags,
        };
        sctp::send(self.fd(), &[], None, &info).map(|_| ())
    }
}

/// A message's hash, to recognise it when the kernel gives it back.
fn hash(data: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

fn path_state(s: &sctp::PeerAddrState) -> &'static str {
    use sctp::PeerAddrState::*;
    match s {
        Available => "available",
        Unreachable => "unreachable",
        Removed => "removed",
        Added => "added",
        MadePrimary => "made primary",
        Confirmed => "confirmed",
        Other(_) => "other",
    }
}

/// The offset after the empty line that ends a SIP message's headers (CRLF CRLF, or bare LF
/// LF), or `None` when there is none (not SIP).
fn find_headers_end(data: &[u8]) -> Option<usize> {
    let crlf = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = data.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::find_headers_end;

    #[test]
    fn headers_end() {
        assert_eq!(
            find_headers_end(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\nbody"),
            Some(33)
        );
        assert_eq!(
            find_headers_end(b"OPTIONS sip:a SIP/2.0\nVia: x\n\n"),
            Some(30)
        );
        assert_eq!(find_headers_end(b"no end"), None);
        assert_eq!(find_headers_end(b""), None);
    }
}
