//! Corked sends: the messages a reader's handler sends during one read pass, gathered per
//! connection and written once when the pass ends (one write per connection per pass instead
//! of one per message).
//!
//! The reader owns the [`Batch`] (and its allocation, reused pass after pass). During a pass
//! it is lent to the reader thread through a thread-local, because the handler sends through
//! `Transport::send` — from `Ctx`, a cloned `Transport` or any helper — and a send cannot be
//! told which reader, if any, is calling it. So: a send on a reader thread inside a pass, to
//! an open connection, in `tcp_async` mode, is appended here and returns `Ok` at once; a
//! failure of the later write closes that connection and is counted (`send_errors`). Any other
//! send writes at once.

use std::cell::RefCell;
use std::sync::Arc;

use crate::config::Config;
use crate::conn::Conn;
use crate::handler::{call_on_unsent, Handler};
use crate::shared::Shared;
use crate::stats::bump;
use crate::transport::Transport;

/// Buffers kept between passes, each no larger than this (a burst does not pin its memory).
const KEEP: usize = 64 * 1024;

/// Messages for one connection, gathered during a read pass: their bytes, back to back, and
/// each one's length (so a failed or partial write books exactly what was not sent).
struct ForConn {
    conn: Arc<Conn>,
    bytes: Vec<u8>,
    lens: Vec<u32>,
}

/// One pass's messages per connection, and spare buffers for the next passes.
#[derive(Default)]
struct Pending {
    by_conn: Vec<ForConn>,
    spare: Vec<(Vec<u8>, Vec<u32>)>,
}

thread_local! {
    /// The batch lent by the reader running a pass on this thread; `None` outside a pass.
    static CORK: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

/// A reader's batch of corked sends.
#[derive(Default)]
pub(crate) struct Batch {
    /// Kept between passes for its allocations (no messages then).
    spare: Pending,
}

impl Batch {
    /// Starts corking this thread's sends (a reader, before it delivers one read's frames).
    pub fn cork(&mut self) {
        CORK.with(|c| {
            let mut c = c.borrow_mut();
            if c.is_none() {
                *c = Some(std::mem::take(&mut self.spare));
            }
        });
    }

    /// Stops corking and writes what was gathered, one write per connection. Messages of a
    /// batch dropped without being queued (its write failed, or the queue refused the rest)
    /// go to `Handler::on_unsent`, each whole, once per message, after the connection's write
    /// lock is released: on this (the reader's) thread, before the next batch is written.
    pub fn uncork(&mut self, cfg: &Config, app: (&dyn Handler, &Transport)) {
        let shared: &Shared = &app.1.shared;
        let Some(mut pending) = CORK.with(|c| c.borrow_mut().take()) else {
            return;
        };
        for ForConn {
            conn,
            mut bytes,
            mut lens,
        } in pending.by_conn.drain(..)
        {
            let mut lost = super::write::Lost::default();
            let r = super::write::write_now(shared, cfg, &conn, &bytes, &lens, Some(&mut lost));
            if let Err(e) = r {
                bump(&shared.stats.send_errors);
                log::info!("conid {}: corked write failed: {e}", conn.id);
            }
            if let Some(from) = lost.from {
                for msg in crate::wq::unwritten_msgs(&bytes, &lens, from) {
                    call_on_unsent(app.0, app.1, conn.id, msg);
                }
            }
            if bytes.capacity() <= KEEP {
                bytes.clear();
                lens.clear();
                pending.spare.push((bytes, lens));
            }
        }
        self.spare = pending;
    }
}

/// Appends to this thread's batch if a read pass is corking; false otherwise.
pub(super) fn append(conn: &Arc<Conn>, bytes: &[u8]) -> bool {
    CORK.with(|c| {
        let mut c = c.borrow_mut();
        let Some(pending) = c.as_mut() else {
            return false;
        };
        let i = match pending
            .by_conn
            .iter()
            .position(|x| Arc::ptr_eq(&x.conn, conn))
        {
            Some(i) => i,
            None => {
                let (b, l) = pending.spare.pop().unwrap_or_default();
                pending.by_conn.push(ForConn {
                    conn: conn.clone(),
                    bytes: b,
                    lens: l,
                });
                pending.by_conn.len() - 1
            }
        };
        if let Some(x) = pending.by_conn.get_mut(i) {
            x.bytes.extend_from_slice(bytes);
            x.lens.push(super::write::len32(bytes.len()));
        }
        true
    })
}
