//! The callback in progress on this thread: which runtime it belongs to and, inside
//! `on_message`, the current message's connection and its otcpid state — what Kamailio's
//! tcpops mean by "the current message source connection". It lets `conid = 0` name the
//! current connection, `sipwire_reply` find it, `sipwire_tcp_set_otcpid` steer later sends,
//! and shutdown refuse to wait for its own thread. Kept per thread, set only while a callback
//! runs: there is no process-wide state.

use std::cell::RefCell;

use sipwire::{ConId, Ctx, Transport};

use crate::types::sipwire_message;

/// The callback running on this thread.
pub(crate) struct Current {
    /// [`crate::runtime::sipwire_runtime::key`] of its runtime.
    pub key: usize,
    /// Inside `on_message`: the message's connection, the address of the view C was given
    /// (so `sipwire_reply` can check it is replying to this very message) and the runtime.
    pub msg: Option<MsgScope>,
}

/// The `on_message` part of [`Current`].
pub(crate) struct MsgScope {
    pub conid: ConId,
    pub view: usize,
    /// `ctx.transport()` of the `on_message` call: it outlives the scope, which ends before
    /// the call returns.
    transport: *const Transport,
    /// The `Ctx` of the `on_message` call (same lifetime as `transport`), for the tcpops
    /// whose defaults come from the current message (`force_tcp_alias`'s Via port).
    ctx: *const Ctx<'static>,
    /// `tcp_set_otcpid` / `tcp_set_otcpid_flag` for sends made during this call.
    pub otcpid: Option<ConId>,
    pub otcpid_flag: bool,
}

impl Current {
    pub(crate) fn message(key: usize, ctx: &Ctx<'_>, view: &sipwire_message) -> Current {
        Current {
            key,
            msg: Some(MsgScope {
                conid: ctx.conid(),
                view: view as *const sipwire_message as usize,
                transport: ctx.transport(),
                ctx: (ctx as *const Ctx<'_>).cast::<Ctx<'static>>(),
                otcpid: None,
                otcpid_flag: false,
            }),
        }
    }

    pub(crate) fn other(key: usize) -> Current {
        Current { key, msg: None }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// Marks a callback as running on this thread until dropped (restoring what was there, so a
/// callback of one runtime that drives another nests correctly).
pub(crate) struct CallScope {
    prev: Option<Current>,
}

impl CallScope {
    pub(crate) fn enter(c: Current) -> CallScope {
        let prev = CURRENT.with(|cur| cur.borrow_mut().replace(c));
        CallScope { prev }
    }
}

impl Drop for CallScope {
    fn drop(&mut self) {
        let prev = self.prev.take();
        CURRENT.with(|cur| *cur.borrow_mut() = prev);
    }
}

/// Whether a callback of the runtime `key` is running on this thread.
pub(crate) fn inside(key: usize) -> bool {
    CURRENT.with(|cur| cur.borrow().as_ref().is_some_and(|c| c.key == key))
}

/// Runs `f` on the current `on_message` scope of runtime `key`, if this thread is in one.
pub(crate) fn with_message<T>(key: usize, f: impl FnOnce(&mut MsgScope) -> T) -> Option<T> {
    CURRENT.with(|cur| {
        let mut cur = cur.borrow_mut();
        match cur.as_mut() {
            Some(Current {
                key: k,
                msg: Some(m),
            }) if *k == key => Some(f(m)),
            _ => None,
        }
    })
}

/// Runs `f` with the `Ctx` of runtime `key`'s `on_message` call running on this thread, if any.
pub(crate) fn with_ctx<T>(key: usize, f: impl FnOnce(&Ctx<'_>) -> T) -> Option<T> {
    CURRENT.with(|cur| match cur.borrow().as_ref() {
        Some(Current {
            key: k,
            msg: Some(m),
        }) if *k == key => {
            // SAFETY: `m.ctx` points to the `Ctx` the `on_message` call was given; the scope is
            // dropped before that call returns, so while it is in `CURRENT` the `Ctx` (and what
            // it borrows) is alive and not moved. `f` gets it only with a lifetime bounded by
            // this call.
            let ctx = unsafe { &*m.ctx };
            Some(f(ctx))
        }
        _ => None,
    })
}

/// Runs `f` with the transport and connection of the `on_message` scope whose message view is
/// at `view`, if this thread is in it.
pub(crate) fn for_view<T>(view: usize, f: impl FnOnce(&Transport, ConId) -> T) -> Option<T> {
    CURRENT.with(|cur| match cur.borrow().as_ref() {
        Some(Current { msg: Some(m), .. }) if m.view == view => {
            // SAFETY: `m.transport` was taken from the `Ctx` of the `on_message` call this
            // scope belongs to; the scope is dropped before that call returns, so while it is
            // in `CURRENT` the `Transport` it points to is alive and not moved.
            let t = unsafe { &*m.transport };
            Some(f(t, m.conid))
        }
        _ => None,
    })
}
