//! Association tracking (`sctp_assoc_tracking`): which associations are up, to whom, since
//! when — what `sctp_assoc_reuse` and `sctp_max_assocs` decide with, and what `sctp.info` and
//! the connection listing show. With tracking off only a count is kept (for
//! `sctp_max_assocs`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use crate::AssocId;

/// One tracked association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssocInfo {
    /// The kernel's id.
    pub assoc: AssocId,
    /// The peer's primary address as first seen.
    pub peer: SocketAddr,
    /// When it came up (or was first seen).
    pub since: Instant,
    /// When a message last went either way.
    pub last: Instant,
}

/// The table; one per endpoint, behind its lock.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    by_id: HashMap<AssocId, AssocInfo>,
    by_peer: HashMap<SocketAddr, AssocId>,
    /// Associations up, tracked or not (COMM_UP minus the ends).
    pub live: usize,
    /// Associations in partial delivery of a message too big for the buffer: data is dropped
    /// until its end.
    pub discarding: Vec<AssocId>,
    /// `sctp_send_retries`: resends of a failed message, by peer and message hash.
    pub retries: HashMap<(SocketAddr, u64), u32>,
    /// Where recent messages that set up a new association went, by message hash: a send
    /// failure on an association that never came up names no peer, the message does.
    pub opened_for: HashMap<u64, SocketAddr>,
}

/// Entries `retries` may hold before it is cleared (bounded memory).
const MAX_RETRY_ENTRIES: usize = 1024;

impl Tracker {
    /// Records an association seen (up, or a message from it).
    pub fn seen(&mut self, assoc: AssocId, peer: SocketAddr, now: Instant) {
        match self.by_id.get_mut(&assoc) {
            Some(a) => a.last = now,
            None => {
                self.by_id.insert(
                    assoc,
                    AssocInfo {
                        assoc,
                        peer,
                        since: now,
                        last: now,
                    },
                );
                self.by_peer.insert(peer, assoc);
            }
        }
    }

    /// Forgets an association; returns what was tracked of it.
    pub fn forget(&mut self, assoc: AssocId) -> Option<AssocInfo> {
        self.discarding.retain(|a| *a != assoc);
        let a = self.by_id.remove(&assoc)?;
        if self.by_peer.get(&a.peer) == Some(&assoc) {
            self.by_peer.remove(&a.peer);
        }
        Some(a)
    }

    /// Forgets everything (tracking turned off at run time).
    pub fn clear(&mut self) {
        self.by_id.clear();
        self.by_peer.clear();
    }

    pub fn by_peer(&self, peer: &SocketAddr) -> Option<AssocId> {
        self.by_peer.get(peer).copied()
    }

    pub fn get(&self, assoc: AssocId) -> Option<&AssocInfo> {
        self.by_id.get(&assoc)
    }

    pub fn all(&self) -> Vec<AssocInfo> {
        let mut v: Vec<AssocInfo> = self.by_id.values().cloned().collect();
        v.sort_by_key(|a| a.assoc);
        v
    }

    /// Remembers that the message with hash `h` opened an association to `peer`.
    pub fn opening(&mut self, h: u64, peer: SocketAddr) {
        if self.opened_for.len() >= MAX_RETRY_ENTRIES {
            self.opened_for.clear();
        }
        self.opened_for.insert(h, peer);
    }

    /// Counts one more resend of `key`; `false` once `limit` resends were made.
    pub fn retry(&mut self, key: (SocketAddr, u64), limit: u32) -> bool {
        if self.retries.len() >= MAX_RETRY_ENTRIES {
            self.retries.clear();
        }
        let n = self.retries.entry(key).or_insert(0);
        if *n >= limit {
            self.retries.remove(&key);
            return false;
        }
        *n += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_forget_and_peer_lookup() {
        let mut t = Tracker::default();
        let now = Instant::now();
        let p: SocketAddr = "192.0.2.1:5060".parse().unwrap_or_else(|_| unreachable!());
        t.seen(7, p, now);
        assert_eq!(t.by_peer(&p), Some(7));
        assert_eq!(t.all().len(), 1);
        assert_eq!(t.forget(7).map(|a| a.peer), Some(p));
        assert_eq!(t.by_peer(&p), None);
        assert!(t.forget(7).is_none());
    }

    #[test]
    fn retries_stop_at_the_limit() {
        let mut t = Tracker::default();
        let k = (
            "192.0.2.1:5060".parse().unwrap_or_else(|_| unreachable!()),
            1,
        );
        assert!(t.retry(k, 2));
        assert!(t.retry(k, 2));
        assert!(!t.retry(k, 2));
        assert!(!t.retry(k, 0));
    }
}
