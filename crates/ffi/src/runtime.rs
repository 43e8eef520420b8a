//! `sipwire_runtime`: a running runtime owned by C — start with a config and callbacks, the
//! queue fd, listen addresses, runtime config changes, shutdown and free — and the adapter
//! that turns the runtime's [`Handler`] calls into C callbacks or queue items.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use sipwire::{ConId, Ctx, Event, Handler, HandlerError, Message, Runtime, Transport};

use crate::config::sipwire_config;
use crate::context::{CallScope, Current};
use crate::ptr;
use crate::queue::Queue;
use crate::result::{self, sipwire_result, sipwire_result::*};
use crate::types::{sipwire_addr, sipwire_event, sipwire_message, sipwire_unsent};

/// Called on a reader thread for each received message; `msg` and its bytes are borrowed for
/// the duration of the call (`sipwire_message_copy` keeps them). Return 0 when handled;
/// anything else is a failure, which closes the connection unless `tcp_script_mode = 1`.
#[allow(non_camel_case_types)]
pub type sipwire_message_cb =
    Option<extern "C" fn(userdata: *mut c_void, msg: *const sipwire_message) -> c_int>;

/// Called on the TCP main thread when a connection closed (as `closed_event` says).
#[allow(non_camel_case_types)]
pub type sipwire_event_cb = Option<extern "C" fn(userdata: *mut c_void, ev: *const sipwire_event)>;

/// Called for a message a send accepted that will never be written (its connection closed
/// first), on TCP main or a reader thread; `msg` is borrowed for the call.
#[allow(non_camel_case_types)]
pub type sipwire_unsent_cb =
    Option<extern "C" fn(userdata: *mut c_void, msg: *const sipwire_unsent)>;

/// The application's callbacks. Each may be NULL: what has no callback goes to the queue
/// drained by `sipwire_next`. Callbacks run on the runtime's threads, concurrently (several
/// readers), so `userdata` must be safe to use from several threads. They must return
/// quickly (not block), must not unwind out (no C++ exception, no `longjmp` past the call),
/// and may call any function of this API except `sipwire_runtime_shutdown` and
/// `sipwire_runtime_free` of their own runtime.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sipwire_callbacks {
    /// Passed first to every callback.
    pub userdata: *mut c_void,
    /// Received messages.
    pub on_message: sipwire_message_cb,
    /// Close events.
    pub on_event: sipwire_event_cb,
    /// Messages that will never be sent.
    pub on_unsent: sipwire_unsent_cb,
}

/// The callbacks as the runtime's threads hold them.
struct Callbacks(sipwire_callbacks);

// SAFETY: the header documents that callbacks and `userdata` are used from the runtime's
// threads concurrently; making that safe is the C side's contract. The function pointers
// themselves are plain code addresses.
unsafe impl Send for Callbacks {}
// SAFETY: as above.
unsafe impl Sync for Callbacks {}

/// A running runtime. Create with `sipwire_runtime_new`; stop with `sipwire_runtime_shutdown`
/// and free with `sipwire_runtime_free` (which also stops it). Every function taking a
/// `const sipwire_runtime *` is thread-safe.
pub struct sipwire_runtime {
    pub(crate) transport: Transport,
    runtime: Mutex<Option<Runtime>>,
    /// The process that created it: a call from any other (a forked child) is refused.
    pid: u32,
    pub(crate) queue: Arc<Queue>,
    stopped: AtomicBool,
}

impl sipwire_runtime {
    /// `Err(SIPWIRE_RESULT_FORKED)` in a process other than the creator.
    pub(crate) fn check_pid(&self) -> Result<(), sipwire_result> {
        if std::process::id() == self.pid {
            Ok(())
        } else {
            Err(SIPWIRE_RESULT_FORKED)
        }
    }

    /// [`check_pid`](Self::check_pid), and `SIPWIRE_RESULT_WRONG_STATE` once shut down.
    pub(crate) fn check_running(&self) -> Result<(), sipwire_result> {
        self.check_pid()?;
        if self.stopped.load(Ordering::Acquire) || self.transport.is_stopping() {
            return Err(SIPWIRE_RESULT_WRONG_STATE);
        }
        Ok(())
    }

    /// The key callbacks of this runtime record in the thread's [`Current`].
    pub(crate) fn key(&self) -> usize {
        Arc::as_ptr(&self.queue) as usize
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        let rt = self.runtime.lock().take();
        if let Some(rt) = rt {
            rt.shutdown();
        }
    }
}

/// The runtime's [`Handler`]: C callbacks where given, the queue otherwise.
struct CHandler {
    cb: Callbacks,
    queue: Arc<Queue>,
    key: usize,
}

impl Handler for CHandler {
    fn on_message(&self, ctx: &Ctx<'_>, msg: Message<'_>) -> Result<(), HandlerError> {
        let Some(f) = self.cb.0.on_message else {
            return if self.queue.push_message(&msg) {
                Ok(())
            } else {
                Err(HandlerError("the sipwire_next queue is full".into()))
            };
        };
        let view = sipwire_message::view(&msg, &msg.bytes);
        let _scope = CallScope::enter(Current::message(self.key, ctx, &view));
        match f(self.cb.0.userdata, &view) {
            0 => Ok(()),
            rc => Err(HandlerError(format!("on_message returned {rc}"))),
        }
    }

    fn on_event(&self, event: &Event) {
        let Some(f) = self.cb.0.on_event else {
            self.queue.push_event(event);
            return;
        };
        let view = sipwire_event::from(event);
        let _scope = CallScope::enter(Current::other(self.key));
        f(self.cb.0.userdata, &view);
    }

    fn on_unsent(&self, _transport: &Transport, conid: ConId, msg: &[u8]) {
        let Some(f) = self.cb.0.on_unsent else {
            self.queue.push_unsent(conid, msg);
            return;
        };
        let view = sipwire_unsent {
            conid: conid.0,
            data: msg.as_ptr(),
            len: msg.len(),
        };
        let _scope = CallScope::enter(Current::other(self.key));
        f(self.cb.0.userdata, &view);
    }
}

/// Starts a runtime: validates `cfg`, binds its listeners, starts TCP main and the
/// `tcp_children` readers, and writes the runtime to `*out`. `callbacks` may be NULL (all to
/// the queue); it is copied. `cfg` is copied too and may be freed afterwards; on failure
/// (`SIPWIRE_RESULT_CONFIG`, `SIPWIRE_RESULT_BIND`, `SIPWIRE_RESULT_IO`)
/// `sipwire_config_error(cfg)` says why.
///
/// Threads do not survive `fork()`: create the runtime in the process that uses it, after
/// forking (in a `child_init`, or in one dedicated process). A runtime used in a forked child
/// returns `SIPWIRE_RESULT_FORKED` from every call.
///
/// Not thread-safe for the same `cfg`.
#[no_mangle]
pub extern "C" fn sipwire_runtime_new(
    cfg: *mut sipwire_config,
    callbacks: *const sipwire_callbacks,
    out: *mut *mut sipwire_runtime,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(cfg) = ptr::borrow_mut(cfg) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        if out.is_null() {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        let cb = ptr::borrow(callbacks)
            .copied()
            .unwrap_or(sipwire_callbacks {
                userdata: std::ptr::null_mut(),
                on_message: None,
                on_event: None,
                on_unsent: None,
            });
        if let Err(e) = cfg.config.validate() {
            return cfg.fail(SIPWIRE_RESULT_CONFIG, e.to_string(), e.line.unwrap_or(0));
        }
        let queue = match Queue::new(cfg.queue_limit) {
            Ok(q) => Arc::new(q),
            Err(e) => {
                return cfg.fail(
                    SIPWIRE_RESULT_IO,
                    format!("cannot create the queue fd: {e}"),
                    0,
                )
            }
        };
        let handler = Arc::new(CHandler {
            cb: Callbacks(cb),
            queue: queue.clone(),
            key: Arc::as_ptr(&queue) as usize,
        });
        match Runtime::start(cfg.config.clone(), handler) {
            Ok(rt) => {
                let r = sipwire_runtime {
                    transport: rt.transport(),
                    runtime: Mutex::new(Some(rt)),
                    pid: std::process::id(),
                    queue,
                    stopped: AtomicBool::new(false),
                };
                ptr::put(out, ptr::into_raw(r));
                SIPWIRE_RESULT_OK
            }
            Err(e) => cfg.fail(result::from_start_error(&e), e.to_string(), 0),
        }
    })
}

/// The fd that is readable while items wait for `sipwire_next` (an eventfd on Linux, a
/// pipe elsewhere). Watch it for reading in your own loop; do not read or close it. -1 for
/// NULL or in a forked child.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_runtime_fd(rt: *const sipwire_runtime) -> c_int {
    ptr::guard_or(-1, || match ptr::borrow(rt) {
        Some(rt) if rt.check_pid().is_ok() => rt.queue.fd(),
        _ => -1,
    })
}

/// Writes the addresses the runtime listens on (with the ports the OS chose for port 0) into
/// `buf` (room for `cap`), and how many there are to `out_n`.
/// `SIPWIRE_RESULT_INSUFFICIENT_SIZE` when not all fit.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_runtime_listen_addrs(
    rt: *const sipwire_runtime,
    buf: *mut sipwire_addr,
    cap: usize,
    out_n: *mut usize,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(rt) = ptr::borrow(rt) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        if let Err(r) = rt.check_pid() {
            return r;
        }
        let addrs: Vec<sipwire_addr> = rt
            .transport
            .listen_addrs()
            .iter()
            .map(|a| (*a).into())
            .collect();
        ptr::copy_array(&addrs, buf, cap, out_n)
    })
}

/// Kamailio's `cfg.set_now_int`: changes a runtime-changeable option now, by group (`tcp`,
/// `tcpops`, `proto_tcp`, `core`) and name (`connection_lifetime`, `no_connect`, ...).
/// `SIPWIRE_RESULT_UNKNOWN_OPTION`, `SIPWIRE_RESULT_READ_ONLY`,
/// `SIPWIRE_RESULT_OUT_OF_RANGE` or `SIPWIRE_RESULT_BAD_VALUE` when refused.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_runtime_set_now_int(
    rt: *const sipwire_runtime,
    group: *const c_char,
    name: *const c_char,
    value: i64,
) -> sipwire_result {
    with_cfg_name(rt, group, name, |t, g, n| {
        t.config().set_now_int(g, n, value)
    })
}

/// Kamailio's `cfg.set_now_string`, for options that take text. Results as
/// `sipwire_runtime_set_now_int`.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_runtime_set_now_string(
    rt: *const sipwire_runtime,
    group: *const c_char,
    name: *const c_char,
    value: *const c_char,
) -> sipwire_result {
    if value.is_null() {
        return SIPWIRE_RESULT_NULL_PARAMETER;
    }
    let Some(value) = ptr::text(value) else {
        return SIPWIRE_RESULT_INVALID_ARGUMENT;
    };
    with_cfg_name(rt, group, name, |t, g, n| {
        t.config().set_now_string(g, n, value)
    })
}

/// Kamailio's `cfg.get` for a numeric option: writes its current value to `*out`.
/// `SIPWIRE_RESULT_UNKNOWN_OPTION` for an unknown name, `SIPWIRE_RESULT_BAD_VALUE` for a text
/// option.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_runtime_get_int(
    rt: *const sipwire_runtime,
    group: *const c_char,
    name: *const c_char,
    out: *mut i64,
) -> sipwire_result {
    if out.is_null() {
        return SIPWIRE_RESULT_NULL_PARAMETER;
    }
    ptr::guard(|| {
        let Some(rt) = ptr::borrow(rt) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        if let Err(r) = rt.check_pid() {
            return r;
        }
        let (Some(g), Some(n)) = (ptr::text(group), ptr::text(name)) else {
            return if group.is_null() || name.is_null() {
                SIPWIRE_RESULT_NULL_PARAMETER
            } else {
                SIPWIRE_RESULT_INVALID_ARGUMENT
            };
        };
        match rt.transport.config().get(g, n) {
            None => SIPWIRE_RESULT_UNKNOWN_OPTION,
            Some(v) => match v.as_int() {
                Some(i) => {
                    ptr::put(out, i);
                    SIPWIRE_RESULT_OK
                }
                None => SIPWIRE_RESULT_BAD_VALUE,
            },
        }
    })
}

fn with_cfg_name(
    rt: *const sipwire_runtime,
    group: *const c_char,
    name: *const c_char,
    f: impl FnOnce(&Transport, &str, &str) -> Result<(), sipwire::config::ConfigError>,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(rt) = ptr::borrow(rt) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        if let Err(r) = rt.check_pid() {
            return r;
        }
        if group.is_null() || name.is_null() {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        let (Some(g), Some(n)) = (ptr::text(group), ptr::text(name)) else {
            return SIPWIRE_RESULT_INVALID_ARGUMENT;
        };
        match f(&rt.transport, g, n) {
            Ok(()) => SIPWIRE_RESULT_OK,
            Err(e) => result::from_config_error(&e),
        }
    })
}

/// Graceful shutdown, as `Runtime::shutdown`: stops accepting, lets readers finish the
/// message in hand, closes every connection (close events with reason
/// `SIPWIRE_CLOSE_SHUTDOWN`, unsent messages reported), and joins the runtime's threads.
/// Returns once all of that is done; a second call does nothing. Afterwards sends and
/// tcpops return `SIPWIRE_RESULT_WRONG_STATE`; queued items can still be taken.
///
/// Thread-safe, except from inside this runtime's own callbacks
/// (`SIPWIRE_RESULT_WRONG_THREAD`).
#[no_mangle]
pub extern "C" fn sipwire_runtime_shutdown(rt: *const sipwire_runtime) -> sipwire_result {
    ptr::guard(|| {
        let Some(rt) = ptr::borrow(rt) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        if let Err(r) = rt.check_pid() {
            return r;
        }
        if crate::context::inside(rt.key()) {
            return SIPWIRE_RESULT_WRONG_THREAD;
        }
        rt.stop();
        SIPWIRE_RESULT_OK
    })
}

/// Shuts the runtime down (as `sipwire_runtime_shutdown`) and frees it; NULL does nothing.
/// No other call on `rt` may be in progress or follow. Items already taken with
/// `sipwire_next` stay valid. In a forked child it frees nothing (the threads it would wait
/// for do not exist there) and returns `SIPWIRE_RESULT_FORKED`; from the runtime's own
/// callbacks it returns `SIPWIRE_RESULT_WRONG_THREAD` and frees nothing.
#[no_mangle]
pub extern "C" fn sipwire_runtime_free(rt: *mut sipwire_runtime) -> sipwire_result {
    ptr::guard(|| {
        let Some(r) = ptr::borrow(rt.cast_const()) else {
            return SIPWIRE_RESULT_OK;
        };
        if let Err(res) = r.check_pid() {
            return res;
        }
        if crate::context::inside(r.key()) {
            return SIPWIRE_RESULT_WRONG_THREAD;
        }
        r.stop();
        ptr::free_box(rt);
        SIPWIRE_RESULT_OK
    })
}
