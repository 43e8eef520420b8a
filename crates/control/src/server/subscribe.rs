//! A client's event subscription (`events.subscribe` / `events.unsubscribe` on its
//! connection) and the pusher thread that writes its event lines.

use std::cell::RefCell;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};

use super::{lock, write_line, Shared};
use crate::events::{self, Feed, Next, Session, Subscription, EVENT_QUEUE};
use crate::RpcError;

/// A client's event subscription: the [`Session`] its calls act on. Used by the client's
/// thread only.
pub(super) struct ClientEvents {
    id: u64,
    shared: Arc<Shared>,
    writer: Arc<Mutex<UnixStream>>,
    active: RefCell<Option<Active>>,
}

struct Active {
    sub: Subscription,
    /// Started once the answer to `events.subscribe` is written.
    pusher: Option<JoinHandle<()>>,
}

impl Session for ClientEvents {
    fn subscribe(&self, filter: Vec<String>) -> Result<Value, RpcError> {
        let mut active = self.active.borrow_mut();
        match active.as_ref() {
            Some(a) => a.sub.set_filter(filter.clone()),
            None => {
                let sub = self.shared.events.subscribe(filter.clone())?;
                *active = Some(Active { sub, pusher: None });
                self.mark(true);
                log::info!("control client {}: subscribed to events", self.id);
            }
        }
        Ok(json!({ "filter": filter, "queue": EVENT_QUEUE, "subscribed": true }))
    }

    fn unsubscribe(&self) -> Result<Value, RpcError> {
        let Some(active) = self.active.borrow_mut().take() else {
            return Ok(json!({ "subscribed": false }));
        };
        let (delivered, dropped, discarded) = self.end(active);
        Ok(json!({
            "delivered": delivered,
            "discarded": discarded,
            "dropped": dropped,
            "subscribed": false,
        }))
    }
}

impl ClientEvents {
    pub(super) fn new(id: u64, shared: Arc<Shared>, writer: Arc<Mutex<UnixStream>>) -> Self {
        ClientEvents {
            id,
            shared,
            writer,
            active: RefCell::new(None),
        }
    }

    pub(super) fn subscribed(&self) -> bool {
        self.active.borrow().is_some()
    }

    /// The slot's `subscribed` flag.
    fn mark(&self, on: bool) {
        if let Some(c) = self.shared.clients().open.get_mut(&self.id) {
            c.subscribed = on;
        }
    }

    /// Ends a subscription: off the bus, pusher stopped (it may first finish the line in
    /// hand, within the write timeout). Answers (delivered, dropped, discarded).
    fn end(&self, active: Active) -> (u64, u64, u64) {
        let discarded = active.sub.close();
        if let Some(pusher) = active.pusher {
            if pusher.join().is_err() {
                log::error!("control client {}: the event pusher panicked", self.id);
            }
        }
        self.mark(false);
        let (delivered, dropped) = active.sub.totals();
        log::info!(
            "control client {}: event subscription ended ({delivered} delivered, {dropped} \
             dropped)",
            self.id
        );
        (delivered, dropped, discarded)
    }

    /// Ends the subscription, if any, when the client goes.
    pub(super) fn finish(&self) {
        let active = self.active.borrow_mut().take();
        if let Some(a) = active {
            self.end(a);
        }
    }

    /// Starts the pusher of a new subscription.
    pub(super) fn start_pusher(&self) {
        let mut slot = self.active.borrow_mut();
        let Some(active) = slot.as_mut().filter(|a| a.pusher.is_none()) else {
            return;
        };
        let (id, feed, writer) = (self.id, active.sub.feed(), self.writer.clone());
        let limit = self.shared.write_timeout;
        let spawned = std::thread::Builder::new()
            .name("sipwired-ctl-events".into())
            .spawn(move || push(id, &feed, &writer, limit));
        match spawned {
            Ok(h) => active.pusher = Some(h),
            Err(e) => {
                log::warn!("control client {id}: cannot start an event pusher: {e}; closing");
                // Ends the subscription; closing tells the client something went wrong.
                let _ = lock(&self.writer).shutdown(Shutdown::Both);
                if let Some(a) = slot.take() {
                    drop(slot);
                    self.end(a);
                }
            }
        }
    }
}

/// The pusher: writes a subscription's lines until it ends. A client that does not take a
/// line within `limit` is closed (its thread then reads EOF and ends the subscription).
fn push(id: u64, feed: &Feed, writer: &Mutex<UnixStream>, limit: Duration) {
    loop {
        let (line, event) = match feed.next() {
            Next::Closed => return,
            Next::Line(l) => (l.to_vec(), true),
            Next::Dropped(n, total) => {
                log::debug!("control client {id}: {n} events dropped (it reads too slowly)");
                (events::dropped_notification(n, total), false)
            }
        };
        let mut stream = lock(writer);
        match write_line(&mut stream, line, limit) {
            Ok(()) if event => feed.delivered(),
            Ok(()) => {}
            Err(e) => {
                log::info!("control client {id}: does not take its events ({e}); closing");
                // Already closed by the peer is fine.
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}
