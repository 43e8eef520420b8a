//! Events pushed to control clients: the embedder [`publish`](EventBus::publish)es on an
//! [`EventBus`]; a control connection that called `events.subscribe` gets a JSON-RPC
//! notification line per event until `events.unsubscribe` or its disconnect.
//!
//! - [`EventBus::publish`] never blocks on a subscriber: it encodes the notification once and
//!   appends it to each matching subscriber's queue (a short lock, no I/O under it). A queue
//!   holds at most [`EVENT_QUEUE`] lines; an event that finds it full is dropped for that
//!   subscriber and counted, and the subscriber is told with an `events.dropped`
//!   notification at the place of the gap. So a slow or stuck subscriber loses events and
//!   never holds up the publisher (TCP main, in sipwired) or the other subscribers.
//! - Each subscribed connection has a pusher thread of the server that takes lines off its
//!   queue and writes them (see `server.rs`); at most [`MAX_SUBSCRIBERS`] subscriptions at once.
//!
//! Methods: `events.subscribe [name...]`, `events.unsubscribe`; see `docs/control.md`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use serde_json::{json, Map, Value};

use crate::context::Ctx;
use crate::error::{RpcError, OPERATION_FAILED, SERVER_BUSY};
use crate::params::Params;
use crate::protocol::encode;

/// Lines waiting for one subscriber; an event that finds its queue full is dropped for it.
pub const EVENT_QUEUE: usize = 1024;
/// Subscriptions at once on one bus (one per control connection, so the socket's own limit,
/// [`crate::MAX_CLIENTS`], is the same).
pub const MAX_SUBSCRIBERS: usize = crate::server::MAX_CLIENTS;

/// The JSON-RPC method of an event notification.
pub const EVENT_METHOD: &str = "event";
/// The JSON-RPC method of the notification that tells a subscriber it lost events.
pub const DROPPED_METHOD: &str = "events.dropped";

/// The handle events are published on; cheap to clone (all clones are the same bus). Give one
/// to the control server ([`crate::spawn_with_events`]) and keep one where events happen.
#[derive(Clone, Default)]
pub struct EventBus {
    inner: Arc<Bus>,
}

#[derive(Default)]
struct Bus {
    subs: RwLock<Vec<Arc<Subscriber>>>,
    /// `subs.len()`, read without the lock: publishing with no subscriber costs one load.
    count: AtomicUsize,
    next_id: AtomicU64,
    published: AtomicU64,
    dropped: AtomicU64,
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBus")
            .field("subscribers", &self.subscribers())
            .field("published", &self.inner.published.load(Ordering::Relaxed))
            .field("dropped", &self.inner.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

impl EventBus {
    /// A bus with no subscribers.
    pub fn new() -> EventBus {
        EventBus::default()
    }

    /// Whether anyone is subscribed now (to skip building an event nobody gets).
    pub fn has_subscribers(&self) -> bool {
        self.subscribers() > 0
    }

    /// Subscriptions now.
    pub fn subscribers(&self) -> usize {
        self.inner.count.load(Ordering::Acquire)
    }

    /// Events published that at least one subscriber's filter took.
    pub fn published(&self) -> u64 {
        self.inner.published.load(Ordering::Relaxed)
    }

    /// Events dropped, summed over the subscribers (each subscriber a full queue dropped an
    /// event for counts once).
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Sends event `name` to every subscriber whose filter takes it, as the notification
    /// `{"jsonrpc":"2.0","method":"event","params":{"name":NAME,...}}`: the members of
    /// `params` when it is an object (a `name` member in it is replaced), else
    /// `{"name":NAME,"data":params}`. Never blocks on a subscriber (see the module
    /// documentation); returns how many subscribers it was queued for.
    pub fn publish(&self, name: &str, params: Value) -> usize {
        if !self.has_subscribers() {
            return 0;
        }
        let subs = self.inner.subs.read().unwrap_or_else(|e| e.into_inner());
        let mut line: Option<Arc<[u8]>> = None;
        let mut queued = 0;
        let mut params = Some(params);
        for sub in subs.iter() {
            let mut q = sub.queue();
            if q.closed || !q.filter.takes(name) {
                continue;
            }
            let line = line.get_or_insert_with(|| {
                notification(name, params.take().unwrap_or(Value::Null)).into()
            });
            if q.lines.len() >= EVENT_QUEUE {
                q.gap += 1;
                q.dropped += 1;
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let dropped_before = std::mem::take(&mut q.gap);
            q.lines.push_back(Pending {
                dropped_before,
                line: line.clone(),
            });
            drop(q);
            sub.wake.notify_one();
            queued += 1;
        }
        if line.is_some() {
            self.inner.published.fetch_add(1, Ordering::Relaxed);
        }
        queued
    }

    /// Registers a subscriber with `filter` (empty: every event).
    pub(crate) fn subscribe(&self, filter: Vec<String>) -> Result<Subscription, RpcError> {
        let mut subs = self.inner.subs.write().unwrap_or_else(|e| e.into_inner());
        if subs.len() >= MAX_SUBSCRIBERS {
            return Err(RpcError::new(
                SERVER_BUSY,
                format!("too many event subscribers ({MAX_SUBSCRIBERS})"),
            ));
        }
        let sub = Arc::new(Subscriber {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            queue: Mutex::new(Queue {
                filter: Filter(filter),
                ..Queue::default()
            }),
            wake: Condvar::new(),
        });
        subs.push(sub.clone());
        self.inner.count.store(subs.len(), Ordering::Release);
        Ok(Subscription {
            bus: self.clone(),
            sub,
        })
    }

    fn remove(&self, id: u64) {
        let mut subs = self.inner.subs.write().unwrap_or_else(|e| e.into_inner());
        subs.retain(|s| s.id != id);
        self.inner.count.store(subs.len(), Ordering::Release);
    }
}

/// `{"jsonrpc":"2.0","method":"event","params":{...,"name":name}}` as one line's bytes.
fn notification(name: &str, params: Value) -> Vec<u8> {
    let mut members = match params {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            let mut m = Map::new();
            m.insert("data".into(), other);
            m
        }
    };
    members.insert("name".into(), Value::from(name));
    encode(&json!({ "jsonrpc": "2.0", "method": EVENT_METHOD, "params": members }))
}

/// The `events.dropped` notification: `count` lost since the last line, `total` in all.
pub(crate) fn dropped_notification(count: u64, total: u64) -> Vec<u8> {
    encode(&json!({
        "jsonrpc": "2.0",
        "method": DROPPED_METHOD,
        "params": { "count": count, "total": total },
    }))
}

/// Which event names a subscriber takes: all when empty; an entry ending in `*` takes the
/// names it is a prefix of (`tcp:*`).
#[derive(Debug, Default)]
struct Filter(Vec<String>);

impl Filter {
    fn takes(&self, name: &str) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|f| match f.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => f == name,
            })
    }
}

struct Subscriber {
    id: u64,
    queue: Mutex<Queue>,
    /// Signalled when a line is queued or the subscription closes.
    wake: Condvar,
}

impl Subscriber {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock left the queue consistent (each change is one
        // field): keep using it.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
struct Queue {
    filter: Filter,
    lines: VecDeque<Pending>,
    /// Events dropped since the last line queued: told before the next line queued, or once
    /// the queue is empty.
    gap: u64,
    closed: bool,
    delivered: u64,
    dropped: u64,
}

struct Pending {
    /// Events dropped just before this one.
    dropped_before: u64,
    line: Arc<[u8]>,
}

/// What the pusher writes next.
pub(crate) enum Next {
    /// An event's line.
    Line(Arc<[u8]>),
    /// The `events.dropped` line: this many lost here, that many in all.
    Dropped(u64, u64),
    /// The subscription ended.
    Closed,
}

/// One subscription; dropping it ends it (off the bus, the pusher told to stop).
pub(crate) struct Subscription {
    bus: EventBus,
    sub: Arc<Subscriber>,
}

impl Subscription {
    /// Replaces the filter.
    pub fn set_filter(&self, filter: Vec<String>) {
        self.sub.queue().filter = Filter(filter);
    }

    /// A handle for the pusher thread.
    pub fn feed(&self) -> Feed {
        Feed(self.sub.clone())
    }

    /// Ends the subscription: off the bus, queue cleared, the pusher woken to stop. Answers
    /// how many lines were still queued (discarded).
    pub fn close(&self) -> u64 {
        self.bus.remove(self.sub.id);
        let mut q = self.sub.queue();
        let discarded = q.lines.len() as u64;
        q.lines.clear();
        q.closed = true;
        drop(q);
        self.sub.wake.notify_all();
        discarded
    }

    /// Event lines written so far, and events dropped for this subscriber.
    pub fn totals(&self) -> (u64, u64) {
        let q = self.sub.queue();
        (q.delivered, q.dropped)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.close();
    }
}

/// The pusher's side of a subscription.
pub(crate) struct Feed(Arc<Subscriber>);

impl Feed {
    /// Waits for the next line to write (or the end).
    pub fn next(&self) -> Next {
        let mut q = self.0.queue();
        loop {
            if q.closed {
                return Next::Closed;
            }
            if let Some(front) = q.lines.front_mut() {
                if front.dropped_before > 0 {
                    let n = std::mem::take(&mut front.dropped_before);
                    return Next::Dropped(n, q.dropped);
                }
                if let Some(p) = q.lines.pop_front() {
                    return Next::Line(p.line);
                }
            }
            if q.gap > 0 {
                let n = std::mem::take(&mut q.gap);
                return Next::Dropped(n, q.dropped);
            }
            q = self.0.wake.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// An event line was written.
    pub fn delivered(&self) {
        self.0.queue().delivered += 1;
    }
}

/// What `events.subscribe` and `events.unsubscribe` act on: the control connection.
pub(crate) trait Session {
    /// Starts (or, subscribed already, re-filters) the connection's subscription.
    fn subscribe(&self, filter: Vec<String>) -> Result<Value, RpcError>;
    /// Ends it, if any.
    fn unsubscribe(&self) -> Result<Value, RpcError>;
}

fn session<'a>(ctx: &Ctx<'a>, method: &str) -> Result<&'a dyn Session, RpcError> {
    ctx.session.ok_or_else(|| {
        RpcError::new(
            OPERATION_FAILED,
            format!("{method} needs a control socket connection (events are pushed on it)"),
        )
    })
}

/// `events.subscribe [name...]`
pub(crate) fn subscribe(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let mut filter = Vec::with_capacity(p.len());
    for i in 0..p.len() {
        let name = p.string(i)?;
        if name.is_empty() {
            return Err(RpcError::invalid_params(format!(
                "param {} (name) of events.subscribe must be an event name (tcp:closed, \
                 tcp:*), got an empty string",
                i + 1
            )));
        }
        if !filter.contains(&name) {
            filter.push(name);
        }
    }
    session(ctx, "events.subscribe")?.subscribe(filter)
}

/// `events.unsubscribe`
pub(crate) fn unsubscribe(ctx: &Ctx<'_>, _: &Params<'_>) -> Result<Value, RpcError> {
    session(ctx, "events.unsubscribe")?.unsubscribe()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: &Next) -> Value {
        match n {
            Next::Line(l) => serde_json::from_slice(l).unwrap(),
            Next::Dropped(c, t) => json!({ "dropped": c, "total": t }),
            Next::Closed => json!("closed"),
        }
    }

    #[test]
    fn queues_filters_and_tells_the_gap_in_place() {
        let bus = EventBus::new();
        assert_eq!(bus.publish("tcp:closed", json!({})), 0, "nobody listens");
        let sub = bus.subscribe(vec!["tcp:*".into(), "x".into()]).unwrap();
        let feed = sub.feed();
        assert_eq!(bus.publish("tcp:closed", json!({"conid": 1})), 1);
        assert_eq!(bus.publish("other", json!({"conid": 2})), 0, "filtered out");
        assert_eq!(bus.publish("x", json!(5)), 1);
        assert_eq!(
            line(&feed.next()),
            json!({"jsonrpc":"2.0","method":"event","params":{"conid":1,"name":"tcp:closed"}})
        );
        assert_eq!(line(&feed.next())["params"], json!({"data":5,"name":"x"}));
        // Fill the queue, overflow it by 3, then one more after room is made.
        for i in 0..EVENT_QUEUE + 3 {
            bus.publish("tcp:reset", json!({ "i": i }));
        }
        assert_eq!(bus.dropped(), 3);
        assert_eq!(line(&feed.next())["params"]["i"], 0);
        bus.publish("tcp:reset", json!({ "i": "late" }));
        for i in 1..EVENT_QUEUE {
            assert_eq!(line(&feed.next())["params"]["i"], i);
        }
        assert_eq!(line(&feed.next()), json!({"dropped": 3, "total": 3}));
        assert_eq!(line(&feed.next())["params"]["i"], "late");
        // Drops with nothing after them are told once the queue is empty.
        for _ in 0..EVENT_QUEUE + 2 {
            bus.publish("tcp:reset", json!({}));
        }
        for _ in 0..EVENT_QUEUE {
            assert!(matches!(feed.next(), Next::Line(_)));
        }
        assert_eq!(line(&feed.next()), json!({"dropped": 2, "total": 5}));
        bus.publish("tcp:reset", json!({}));
        assert_eq!(sub.close(), 1);
        assert_eq!(sub.totals(), (0, 5));
        assert!(matches!(feed.next(), Next::Closed));
        assert_eq!(bus.subscribers(), 0);
        assert_eq!(bus.publish("tcp:closed", json!({})), 0);
    }

    #[test]
    fn at_most_max_subscribers() {
        let bus = EventBus::new();
        let subs: Vec<_> = (0..MAX_SUBSCRIBERS)
            .filter_map(|_| bus.subscribe(Vec::new()).ok())
            .collect();
        assert_eq!(subs.len(), MAX_SUBSCRIBERS);
        assert!(bus.subscribe(Vec::new()).is_err());
        drop(subs);
        assert_eq!(bus.subscribers(), 0);
        assert!(bus.subscribe(Vec::new()).is_ok());
    }
}
