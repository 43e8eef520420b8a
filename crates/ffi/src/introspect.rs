//! Looking at a running runtime from C: one connection's details, the open connections, a
//! counters snapshot, and the control socket (sipwire-control's JSON-RPC, what `sipwire-ctl`
//! and kamcmd-style tools talk to) served from the embedding process.

use std::ffi::{c_char, CString};
use std::path::Path;

use ::sipwire_control as control;
use control::CtlServer;
use sipwire::ConId;

use crate::ptr;
use crate::result::{sipwire_result, sipwire_result::*};
use crate::runtime::sipwire_runtime;
use crate::types::sipwire_addr;

/// What the runtime knows of one open connection.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sipwire_conn_info {
    /// The connection id.
    pub conid: u64,
    /// `tcp_conid_state` value (1 OK, 2 accepting, 3 connecting; -2 EOF, -3 error, -4 bad).
    pub state: i32,
    /// 1 when this side opened it (a send connected it), 0 when accepted.
    pub outbound: u8,
    /// 1 when a PROXY header was read: `proxy_source` and `proxy_destination` hold what it
    /// announced (a v2 header's TLVs: `sipwire_conn_proxy_tlv`).
    pub has_proxy: u8,
    /// SO_KEEPALIVE as the socket has it now (0 or 1).
    pub keepalive: u8,
    /// The socket's peer.
    pub peer: sipwire_addr,
    /// The socket's local address (a PROXY header's destination is `proxy_destination`).
    pub local: sipwire_addr,
    /// The source messages report: the PROXY-announced client, or the peer.
    pub source: sipwire_addr,
    /// The client a PROXY header announced (`SIPWIRE_ADDR_NONE` without one).
    pub proxy_source: sipwire_addr,
    /// The address the client connected to at the proxy (`SIPWIRE_ADDR_NONE` without one).
    pub proxy_destination: sipwire_addr,
    /// TCP_KEEPIDLE, TCP_KEEPCNT, TCP_KEEPINTVL as the socket has them now.
    pub keepalive_idle: u32,
    /// See `keepalive_idle`.
    pub keepalive_count: u32,
    /// See `keepalive_idle`.
    pub keepalive_interval: u32,
    /// Milliseconds since the last traffic.
    pub idle_ms: u64,
    /// The lifetime set by `sipwire_tcp_set_connection_lifetime`, in milliseconds; -1 when
    /// the connection follows `tcp_connection_lifetime`.
    pub lifetime_ms: i64,
    /// Bytes waiting in its write queue.
    pub queued_bytes: u64,
}

/// Writes what the runtime knows of connection `conid` to `*out`.
/// `SIPWIRE_RESULT_NO_SUCH_CONNECTION` when it is not open.
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_conn_get_info(
    rt: *const sipwire_runtime,
    conid: u64,
    out: *mut sipwire_conn_info,
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
        let Some(c) = rt.transport.conn_info(ConId(conid)) else {
            return SIPWIRE_RESULT_NO_SUCH_CONNECTION;
        };
        let (idle, count, interval) = c.keepalive_params;
        let info = sipwire_conn_info {
            conid: c.conid.0,
            state: i32::from(c.state as i8),
            outbound: u8::from(c.outbound),
            has_proxy: u8::from(c.proxy.is_some()),
            keepalive: u8::from(c.keepalive),
            peer: c.peer.into(),
            local: c.local.into(),
            source: c.source.into(),
            proxy_source: c
                .proxy
                .as_ref()
                .map_or(sipwire_addr::NONE, |p| p.source.into()),
            proxy_destination: c
                .proxy
                .as_ref()
                .map_or(sipwire_addr::NONE, |p| p.destination.into()),
            keepalive_idle: idle,
            keepalive_count: count,
            keepalive_interval: interval,
            idle_ms: u64::try_from(c.idle_for.as_millis()).unwrap_or(u64::MAX),
            lifetime_ms: c
                .lifetime_override
                .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            queued_bytes: c.queued_bytes as u64,
        };
        ptr::put(out, info);
        SIPWIRE_RESULT_OK
    })
}

/// Writes the ids of the open connections into `buf` (room for `cap`; NULL when `cap` is 0)
/// and how many are open to `out_n`. `SIPWIRE_RESULT_INSUFFICIENT_SIZE` when not all fit.
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_connections(
    rt: *const sipwire_runtime,
    buf: *mut u64,
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
        let ids: Vec<u64> = rt.transport.connection_ids().iter().map(|c| c.0).collect();
        ptr::copy_array(&ids, buf, cap, out_n)
    })
}

/// A snapshot of a runtime's counters, by name (the names of `stats.get` on the control
/// socket, plus `ffi_queue_refused`). Free with `sipwire_stats_free`. Read-only: thread-safe.
pub struct sipwire_stats {
    entries: Vec<(CString, u64)>,
}

/// Takes a snapshot of the runtime's counters and writes it to `*out`.
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_stats_new(
    rt: *const sipwire_runtime,
    out: *mut *mut sipwire_stats,
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
        let snap = rt.transport.stats();
        let mut entries: Vec<(CString, u64)> = snap
            .fields()
            .into_iter()
            .filter_map(|(n, v)| CString::new(n).ok().map(|c| (c, v)))
            .collect();
        entries.push((
            c"ffi_queue_refused".to_owned(),
            rt.queue.refused.load(std::sync::atomic::Ordering::Relaxed),
        ));
        ptr::put(out, ptr::into_raw(sipwire_stats { entries }));
        SIPWIRE_RESULT_OK
    })
}

/// How many counters `stats` holds (0 for NULL).
///
/// Thread-safe (a snapshot is read-only).
#[no_mangle]
pub extern "C" fn sipwire_stats_len(stats: *const sipwire_stats) -> usize {
    ptr::guard_or(0, || ptr::borrow(stats).map_or(0, |s| s.entries.len()))
}

/// The `index`-th counter: its name (a string owned by `stats`, valid until
/// `sipwire_stats_free`) to `*name` and its value to `*value` (either may be NULL).
/// `SIPWIRE_RESULT_INVALID_ARGUMENT` when `index >= sipwire_stats_len(stats)`.
///
/// Thread-safe (a snapshot is read-only).
#[no_mangle]
pub extern "C" fn sipwire_stats_at(
    stats: *const sipwire_stats,
    index: usize,
    name: *mut *const c_char,
    value: *mut u64,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(s) = ptr::borrow(stats) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        let Some((n, v)) = s.entries.get(index) else {
            return SIPWIRE_RESULT_INVALID_ARGUMENT;
        };
        ptr::put(name, n.as_ptr());
        ptr::put(value, *v);
        SIPWIRE_RESULT_OK
    })
}

/// The counter called `name` (`accepted`, `messages`, `closed`, ...) to `*value`.
/// `SIPWIRE_RESULT_UNKNOWN_OPTION` when there is none.
///
/// Thread-safe (a snapshot is read-only).
#[no_mangle]
pub extern "C" fn sipwire_stats_get(
    stats: *const sipwire_stats,
    name: *const c_char,
    value: *mut u64,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(s) = ptr::borrow(stats) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        if name.is_null() || value.is_null() {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        let Some(want) = ptr::text(name) else {
            return SIPWIRE_RESULT_INVALID_ARGUMENT;
        };
        match s
            .entries
            .iter()
            .find(|(n, _)| n.to_bytes() == want.as_bytes())
        {
            Some((_, v)) => {
                ptr::put(value, *v);
                SIPWIRE_RESULT_OK
            }
            None => SIPWIRE_RESULT_UNKNOWN_OPTION,
        }
    })
}

/// Frees a snapshot; NULL does nothing.
///
/// Any thread, once no other call on `stats` is in progress.
#[no_mangle]
pub extern "C" fn sipwire_stats_free(stats: *mut sipwire_stats) {
    ptr::guard_or((), || ptr::free_box(stats))
}

/// A control socket served from this process (see `sipwire_control_serve`).
pub struct sipwire_control {
    server: Option<CtlServer>,
}

/// Serves the control socket — JSON-RPC 2.0 with Kamailio's method names (`core.tcp_info`,
/// `core.tcp_list`, `cfg.set_now_int`, `tcp.close_connection`, `stats.get`, ...; see
/// docs/control.md) — on a Unix socket at `path`, on threads of its own, until
/// `sipwire_control_free`. Writes the server to `*out`. `SIPWIRE_RESULT_IO` when the socket
/// cannot be created (path in use by a live server, permissions).
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_control_serve(
    rt: *const sipwire_runtime,
    path: *const c_char,
    out: *mut *mut sipwire_control,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(rt) = ptr::borrow(rt) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        if path.is_null() || out.is_null() {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        if let Err(r) = rt.check_running() {
            return r;
        }
        let Some(p) = ptr::text(path) else {
            return SIPWIRE_RESULT_INVALID_ARGUMENT;
        };
        match control::spawn(Path::new(p), rt.transport.clone()) {
            Ok(server) => {
                ptr::put(
                    out,
                    ptr::into_raw(sipwire_control {
                        server: Some(server),
                    }),
                );
                SIPWIRE_RESULT_OK
            }
            Err(e) => {
                log::error!("sipwire C API: cannot serve the control socket at {p}: {e}");
                SIPWIRE_RESULT_IO
            }
        }
    })
}

/// Stops a control socket server, removes its socket file and frees it; NULL does nothing.
/// Free it before the runtime it serves.
///
/// Any thread except the runtime's callbacks, once no other call on `ctl` is in progress;
/// it waits for the server's threads to finish the request in hand.
#[no_mangle]
pub extern "C" fn sipwire_control_free(ctl: *mut sipwire_control) {
    ptr::guard_or((), || {
        if let Some(mut c) = ptr::take_box(ctl) {
            if let Some(s) = c.server.take() {
                s.shutdown();
            }
        }
    })
}
