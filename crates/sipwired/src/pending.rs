//! Requests waiting on a connect: the runtime completes outbound connects on TCP main (a
//! reader never waits for one), so a request sent to a new next hop is queued on a connection
//! that may still fail. For each such request the handler keeps its ready-made `503`; when the
//! connection's close event says the connect failed, the `503`s go back to the clients — no
//! request is lost silently. Bounded: past [`MAX_PENDING`] entries, entries of connections that
//! are no longer connecting are dropped first, then new ones are not kept (and counted).

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use sipwire::{ConId, ConnState, Transport};

/// Most requests kept waiting on connects at once (each holds one small reply).
pub const MAX_PENDING: usize = 4096;

/// Failed connects remembered for a request that is recorded after its connection's close
/// event already ran (the connect failed on TCP main before the sender got to record it).
const RECENT_FAILURES: usize = 256;

/// What [`PendingConnects::keep`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Kept {
    /// The reply waits for the connect's outcome.
    Waiting,
    /// The connect already failed: send this reply now.
    FailedAlready(Vec<u8>),
    /// The table is full: the request has no 503 on a later failure.
    Full,
}

/// One request waiting on connection `upstream`: who asked, and the reply to send if the
/// connect fails.
#[derive(Debug)]
struct Waiting {
    client: ConId,
    reply: Vec<u8>,
}

/// The requests waiting on connects, by upstream connection id.
#[derive(Debug, Default)]
pub struct PendingConnects {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_conn: HashMap<u64, Vec<Waiting>>,
    len: usize,
    /// Connection ids (never reused: they carry a generation) whose connect failed lately.
    failed: VecDeque<u64>,
}

impl PendingConnects {
    /// Keeps `reply` for `client` until `upstream` is known to be up or to have failed.
    pub fn keep(&self, t: &Transport, upstream: ConId, client: ConId, reply: Vec<u8>) -> Kept {
        let mut g = self.inner.lock();
        if g.failed.contains(&upstream.0) {
            return Kept::FailedAlready(reply);
        }
        if g.len >= MAX_PENDING {
            // Connections that came up (or went) no longer need their entries.
            let before = g.len;
            g.by_conn
                .retain(|id, _| t.conid_state(ConId(*id)) == ConnState::Connecting);
            g.len = g.by_conn.values().map(Vec::len).sum();
            log::debug!("pending connects: pruned {} entries", before - g.len);
            if g.len >= MAX_PENDING {
                return Kept::Full;
            }
        }
        g.by_conn
            .entry(upstream.0)
            .or_default()
            .push(Waiting { client, reply });
        g.len += 1;
        Kept::Waiting
    }

    /// The connection `upstream` closed: its waiting requests, as (client, reply), if `failed`
    /// (the connect never completed); forgotten otherwise.
    pub fn closed(&self, upstream: ConId, failed: bool) -> Vec<(ConId, Vec<u8>)> {
        let mut g = self.inner.lock();
        if failed {
            if g.failed.len() == RECENT_FAILURES {
                g.failed.pop_front();
            }
            g.failed.push_back(upstream.0);
        }
        let Some(list) = g.by_conn.remove(&upstream.0) else {
            return Vec::new();
        };
        g.len -= list.len();
        if !failed {
            return Vec::new();
        }
        list.into_iter().map(|w| (w.client, w.reply)).collect()
    }

    /// Requests kept now.
    pub fn len(&self) -> usize {
        self.inner.lock().len
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
