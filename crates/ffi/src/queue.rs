//! The second way to receive: a queue the caller drains from its own event loop. Messages and
//! events without a callback are copied into one queue (so per-connection order holds: a
//! connection's messages come before its close event); a notify fd is readable while it holds
//! anything; `sipwire_next` takes one item out.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender};
use sipwire::{ConId, Event, Message};
use sipwire_poll::NotifyFd;

use crate::ptr;
use crate::result::sipwire_result::{self, *};
use crate::runtime::sipwire_runtime;
use crate::types::{sipwire_event, sipwire_message, sipwire_unsent};

/// Messages the queue holds at most by default (`sipwire_config_set_queue_limit`).
pub const SIPWIRE_DEFAULT_QUEUE_LIMIT: usize = 65536;

/// One queued thing, owned, as it travels between threads.
enum Pending {
    Message {
        meta: sipwire_message,
        bytes: Box<[u8]>,
    },
    Event(sipwire_event),
    Unsent {
        conid: ConId,
        bytes: Box<[u8]>,
    },
}

// SAFETY: the only raw pointers in a `Pending` are `sipwire_message.data`, which is
// re-pointed at the item's own `bytes` when it is taken out (never read before), and
// `sipwire_event.name`, which points to a static string.
unsafe impl Send for Pending {}

/// The queue of one runtime. Its fd is readable whenever items are waiting, provided the
/// consumer calls `sipwire_next` until `SIPWIRE_RESULT_EMPTY` after each wake-up.
pub(crate) struct Queue {
    tx: Sender<Pending>,
    rx: Receiver<Pending>,
    /// Messages in the queue (events and unsent messages do not count against the limit:
    /// there is at most one event per connection, and losing either would lose information).
    messages: AtomicUsize,
    limit: usize,
    /// The fd has been made readable and not drained since.
    signalled: AtomicBool,
    fd: NotifyFd,
    /// Messages refused because the queue held `limit` messages.
    pub(crate) refused: AtomicU64,
}

impl Queue {
    pub(crate) fn new(limit: usize) -> std::io::Result<Queue> {
        let (tx, rx) = crossbeam_channel::unbounded();
        Ok(Queue {
            tx,
            rx,
            messages: AtomicUsize::new(0),
            limit,
            signalled: AtomicBool::new(false),
            fd: NotifyFd::new()?,
            refused: AtomicU64::new(0),
        })
    }

    pub(crate) fn fd(&self) -> i32 {
        self.fd.fd()
    }

    /// Queues a copy of `msg`; `false` when the queue is at its limit (the message is not
    /// queued, and the caller treats it as a failed `on_message`).
    pub(crate) fn push_message(&self, msg: &Message<'_>) -> bool {
        if self.messages.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.messages.fetch_sub(1, Ordering::AcqRel);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let bytes: Box<[u8]> = msg.bytes.as_ref().into();
        let meta = sipwire_message::view(msg, &bytes);
        self.push(Pending::Message { meta, bytes });
        true
    }

    pub(crate) fn push_event(&self, ev: &Event) {
        self.push(Pending::Event(ev.into()));
    }

    pub(crate) fn push_unsent(&self, conid: ConId, msg: &[u8]) {
        self.push(Pending::Unsent {
            conid,
            bytes: msg.into(),
        });
    }

    fn push(&self, p: Pending) {
        // The receiver lives as long as the queue, so the send cannot fail.
        let _ = self.tx.send(p);
        if !self.signalled.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.fd.notify() {
                log::error!("sipwire C API: cannot signal the queue fd: {e}");
            }
        }
    }

    /// The next item, or `None` when empty (then the fd is drained, unless an item arrived
    /// meanwhile, which is returned instead).
    fn pop(&self) -> Option<Pending> {
        let p = match self.rx.try_recv() {
            Ok(p) => p,
            Err(_) => {
                self.signalled.store(false, Ordering::Release);
                self.fd.drain();
                let p = self.rx.try_recv().ok()?;
                // Something arrived between the two looks, and its signal may have been
                // drained above: make the fd readable again, so what else waits is not
                // stranded even if the caller stops before EMPTY.
                self.signalled.store(true, Ordering::Release);
                let _ = self.fd.notify();
                p
            }
        };
        if matches!(p, Pending::Message { .. }) {
            self.messages.fetch_sub(1, Ordering::AcqRel);
        }
        Some(p)
    }
}

/// What a queued item holds.
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sipwire_item_kind {
    /// A received message: `sipwire_item_message`.
    SIPWIRE_ITEM_MESSAGE = 1,
    /// A connection closed: `sipwire_item_event`.
    SIPWIRE_ITEM_EVENT = 2,
    /// A message that will never be sent: `sipwire_item_unsent`.
    SIPWIRE_ITEM_UNSENT = 3,
}

/// One item taken from a runtime's queue by `sipwire_next`; owns its bytes until
/// `sipwire_item_free` (also after the runtime is freed).
pub struct sipwire_item {
    kind: sipwire_item_kind,
    message: sipwire_message,
    event: Option<sipwire_event>,
    unsent: sipwire_unsent,
    /// The message's or unsent message's bytes; the views above point here.
    _bytes: Box<[u8]>,
}

impl sipwire_item {
    fn new(p: Pending) -> sipwire_item {
        let empty_unsent = sipwire_unsent {
            conid: 0,
            data: std::ptr::null(),
            len: 0,
        };
        match p {
            Pending::Message { mut meta, bytes } => {
                meta.data = bytes.as_ptr();
                meta.len = bytes.len();
                sipwire_item {
                    kind: sipwire_item_kind::SIPWIRE_ITEM_MESSAGE,
                    message: meta,
                    event: None,
                    unsent: empty_unsent,
                    _bytes: bytes,
                }
            }
            Pending::Event(e) => sipwire_item {
                kind: sipwire_item_kind::SIPWIRE_ITEM_EVENT,
                message: empty_message(),
                event: Some(e),
                unsent: empty_unsent,
                _bytes: Box::default(),
            },
            Pending::Unsent { conid, bytes } => sipwire_item {
                kind: sipwire_item_kind::SIPWIRE_ITEM_UNSENT,
                message: empty_message(),
                event: None,
                unsent: sipwire_unsent {
                    conid: conid.0,
                    data: bytes.as_ptr(),
                    len: bytes.len(),
                },
                _bytes: bytes,
            },
        }
    }
}

fn empty_message() -> sipwire_message {
    sipwire_message {
        conid: 0,
        kind: crate::types::sipwire_message_kind::SIPWIRE_MESSAGE_SIP,
        proto: crate::types::sipwire_proto::SIPWIRE_PROTO_TCP,
        data: std::ptr::null(),
        len: 0,
        body_start: 0,
        source: crate::types::sipwire_addr::NONE,
        peer: crate::types::sipwire_addr::NONE,
        local: crate::types::sipwire_addr::NONE,
        bound: crate::types::sipwire_addr::NONE,
        chunks: 0,
    }
}

/// Takes the next waiting item (a message, close event or unsent message without a
/// callback) without blocking: writes it to `*out` and returns `SIPWIRE_RESULT_OK`, or
/// returns `SIPWIRE_RESULT_EMPTY`. The caller owns the item until `sipwire_item_free`.
///
/// When the fd of `sipwire_runtime_fd` becomes readable, call this until it returns
/// `SIPWIRE_RESULT_EMPTY`: that also makes the fd unreadable again (edge- and level-triggered
/// loops both work). Items that were queued before `sipwire_runtime_shutdown` can still be
/// taken after it. Thread-safe (several threads may take items; each item goes to one).
#[no_mangle]
pub extern "C" fn sipwire_next(
    rt: *const sipwire_runtime,
    out: *mut *mut sipwire_item,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(rt) = ptr::borrow(rt) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        if out.is_null() {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        if let Err(r) = rt.check_pid() {
            return r;
        }
        match rt.queue.pop() {
            Some(p) => {
                ptr::put(out, ptr::into_raw(sipwire_item::new(p)));
                SIPWIRE_RESULT_OK
            }
            None => SIPWIRE_RESULT_EMPTY,
        }
    })
}

/// What `item` holds (0 for NULL).
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_item_get_kind(item: *const sipwire_item) -> u32 {
    ptr::guard_or(0, || ptr::borrow(item).map_or(0, |i| i.kind as u32))
}

/// The message `item` holds, or NULL when it holds something else (or `item` is NULL).
/// Borrowed from the item: valid until `sipwire_item_free(item)`.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_item_message(item: *const sipwire_item) -> *const sipwire_message {
    ptr::guard_or(std::ptr::null(), || match ptr::borrow(item) {
        Some(i) if i.kind == sipwire_item_kind::SIPWIRE_ITEM_MESSAGE => &i.message,
        _ => std::ptr::null(),
    })
}

/// The close event `item` holds, or NULL. Borrowed from the item.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_item_event(item: *const sipwire_item) -> *const sipwire_event {
    ptr::guard_or(std::ptr::null(), || {
        match ptr::borrow(item).and_then(|i| i.event.as_ref()) {
            Some(e) => e,
            None => std::ptr::null(),
        }
    })
}

/// The unsent message `item` holds, or NULL. Borrowed from the item.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_item_unsent(item: *const sipwire_item) -> *const sipwire_unsent {
    ptr::guard_or(std::ptr::null(), || match ptr::borrow(item) {
        Some(i) if i.kind == sipwire_item_kind::SIPWIRE_ITEM_UNSENT => &i.unsent,
        _ => std::ptr::null(),
    })
}

/// Frees an item from `sipwire_next` and the bytes it holds; NULL does nothing. Call it once
/// per item, from any thread.
#[no_mangle]
pub extern "C" fn sipwire_item_free(item: *mut sipwire_item) {
    ptr::guard_or((), || ptr::free_box(item))
}

/// A message copied out of a callback: the view C sees first, the bytes it points to after.
#[repr(C)]
struct OwnedMessage {
    view: sipwire_message,
    bytes: Box<[u8]>,
}

/// Copies `msg` (its fields and its bytes) so it outlives the callback or item it came from:
/// writes a new message to `*out`, owned by the caller until `sipwire_message_free`.
/// `SIPWIRE_RESULT_INVALID_ARGUMENT` when `msg->data` is NULL with a non-zero `len`.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_message_copy(
    msg: *const sipwire_message,
    out: *mut *mut sipwire_message,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(m) = ptr::borrow(msg) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        if out.is_null() {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        let Some(data) = ptr::bytes(m.data, m.len) else {
            return SIPWIRE_RESULT_INVALID_ARGUMENT;
        };
        let bytes: Box<[u8]> = data.into();
        let mut view = *m;
        view.data = bytes.as_ptr();
        let owned = ptr::into_raw(OwnedMessage { view, bytes });
        // `view` is the first field of a repr(C) struct: the pointers are the same.
        ptr::put(out, owned.cast::<sipwire_message>());
        SIPWIRE_RESULT_OK
    })
}

/// Frees a message made by `sipwire_message_copy` (never one from a callback or an item);
/// NULL does nothing.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_message_free(msg: *mut sipwire_message) {
    ptr::guard_or((), || ptr::free_box(msg.cast::<OwnedMessage>()))
}
