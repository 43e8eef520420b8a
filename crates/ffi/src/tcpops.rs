//! Kamailio's tcpops functions, with the module's return values: 1 for success (or "alive"),
//! -1 for failure — including a NULL runtime, a runtime used after fork or shut down, and a
//! panic. Where the module's parameter `conid` is optional, 0 means "the current message
//! source connection", which exists only inside `on_message` (-1 elsewhere).

use std::ffi::{c_char, c_int};

use sipwire::{ConId, ConnState};

use crate::context;
use crate::ptr;
use crate::runtime::sipwire_runtime;

const OK: c_int = 1;
const FAIL: c_int = -1;

/// The runtime and the connection `conid` names (0: the current one), or `None`.
fn resolve<'a>(rt: *const sipwire_runtime, conid: u64) -> Option<(&'a sipwire_runtime, ConId)> {
    let rt = ptr::borrow(rt)?;
    rt.check_running().ok()?;
    let id = match conid {
        0 => context::with_message(rt.key(), |m| m.conid)?,
        n => ConId(n),
    };
    Some((rt, id))
}

fn ok_or_fail<E>(r: Option<Result<(), E>>) -> c_int {
    match r {
        Some(Ok(())) => OK,
        _ => FAIL,
    }
}

/// `tcp_conid_alive(conid)`: 1 when the connection exists and is OK, -1 when it has errors,
/// does not exist or is about to be closed.
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_tcp_conid_alive(rt: *const sipwire_runtime, conid: u64) -> c_int {
    ptr::guard_or(FAIL, || match resolve(rt, conid) {
        Some((rt, id)) if rt.transport.conid_alive(id) => OK,
        _ => FAIL,
    })
}

/// `tcp_conid_state(conid)`: 1 OK, 2 accepting, 3 connecting, -1 does not exist (or was
/// closed), -2 EOF, -3 socket error, -4 unknown bad state.
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_tcp_conid_state(rt: *const sipwire_runtime, conid: u64) -> c_int {
    ptr::guard_or(ConnState::Gone as c_int, || match resolve(rt, conid) {
        Some((rt, id)) => rt.transport.conid_state(id) as i8 as c_int,
        None => ConnState::Gone as c_int,
    })
}

/// `tcp_keepalive_enable([conid], idle, count, interval)`: SO_KEEPALIVE on, first probe after
/// `idle` seconds, `count` probes `interval` seconds apart. 1 on success, -1 on failure
/// (negative values are failures).
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_tcp_keepalive_enable(
    rt: *const sipwire_runtime,
    conid: u64,
    idle: c_int,
    count: c_int,
    interval: c_int,
) -> c_int {
    ptr::guard_or(FAIL, || {
        let (Ok(idle), Ok(count), Ok(interval)) = (
            u32::try_from(idle),
            u32::try_from(count),
            u32::try_from(interval),
        ) else {
            return FAIL;
        };
        ok_or_fail(
            resolve(rt, conid)
                .map(|(rt, id)| rt.transport.keepalive_enable(id, idle, count, interval)),
        )
    })
}

/// `tcp_keepalive_disable([conid])`: 1 on success, -1 on failure.
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_tcp_keepalive_disable(rt: *const sipwire_runtime, conid: u64) -> c_int {
    ptr::guard_or(FAIL, || {
        ok_or_fail(resolve(rt, conid).map(|(rt, id)| rt.transport.keepalive_disable(id)))
    })
}

/// `tcp_set_connection_lifetime([conid], lifetime)`: this connection's idle lifetime, in
/// seconds, from now on. 1 on success, -1 on failure (a negative lifetime is a failure).
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_tcp_set_connection_lifetime(
    rt: *const sipwire_runtime,
    conid: u64,
    lifetime: c_int,
) -> c_int {
    ptr::guard_or(FAIL, || {
        let Ok(secs) = u64::try_from(lifetime) else {
            return FAIL;
        };
        ok_or_fail(
            resolve(rt, conid).map(|(rt, id)| rt.transport.set_connection_lifetime(id, secs)),
        )
    })
}

/// `tcp_enable_closed_event([conid])`: with `closed_event = 2`, report this connection's
/// close. 1 on success, -1 on failure.
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_tcp_enable_closed_event(rt: *const sipwire_runtime, conid: u64) -> c_int {
    ptr::guard_or(FAIL, || {
        ok_or_fail(resolve(rt, conid).map(|(rt, id)| rt.transport.enable_closed_event(id)))
    })
}

/// `tcp_get_conid(hostport, pvname)`: writes to `*out` the id of an open connection to
/// `hostport` (`"host:port"`, the port defaulting to 5060; a name is resolved with the
/// system resolver, which blocks). 1 when one was found, -1 when not or on error.
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_tcp_get_conid(
    rt: *const sipwire_runtime,
    hostport: *const c_char,
    out: *mut u64,
) -> c_int {
    ptr::guard_or(FAIL, || {
        let Some(rt) = ptr::borrow(rt) else {
            return FAIL;
        };
        if rt.check_running().is_err() || out.is_null() {
            return FAIL;
        }
        let Some(hp) = ptr::text(hostport) else {
            return FAIL;
        };
        match rt.transport.get_conid(hp) {
            Ok(id) => {
                ptr::put(out, id.0);
                OK
            }
            Err(_) => FAIL,
        }
    })
}

/// `tcp_set_otcpid(conid)`: the outbound connection the sends made during the current
/// `on_message` call use while the otcpid flag is set. 1 on success, -1 outside
/// `on_message` (there is no current message) or for `conid` 0.
///
/// Callable only from `on_message`.
#[no_mangle]
pub extern "C" fn sipwire_tcp_set_otcpid(rt: *const sipwire_runtime, conid: u64) -> c_int {
    ptr::guard_or(FAIL, || {
        let Some(rt) = ptr::borrow(rt) else {
            return FAIL;
        };
        if conid == 0 || rt.check_running().is_err() {
            return FAIL;
        }
        match context::with_message(rt.key(), |m| m.otcpid = Some(ConId(conid))) {
            Some(()) => OK,
            None => FAIL,
        }
    })
}

/// `tcp_set_otcpid_flag(mode)`: with `mode` non-zero, sends during the current `on_message`
/// call (`sipwire_send`, `sipwire_send_to`, `sipwire_send_sockaddr`) go to the otcpid
/// connection, whatever their destination says, while it is open; 0 resets it. 1 on
/// success, -1 outside `on_message`. As the reference warns: reset the flag after changing a
/// destination, or the message goes to the pinned connection anyway.
///
/// Callable only from `on_message`.
#[no_mangle]
pub extern "C" fn sipwire_tcp_set_otcpid_flag(rt: *const sipwire_runtime, mode: c_int) -> c_int {
    ptr::guard_or(FAIL, || {
        let Some(rt) = ptr::borrow(rt) else {
            return FAIL;
        };
        if rt.check_running().is_err() {
            return FAIL;
        }
        match context::with_message(rt.key(), |m| m.otcpid_flag = mode != 0) {
            Some(()) => OK,
            None => FAIL,
        }
    })
}

/// `force_tcp_alias([port])` (Kamailio's core function): the connection also answers to its
/// own source IP with `port`, so sends to that address reuse it. Only a port, never another
/// host. `port` 0 means "none given": inside `on_message` for the current connection (`conid`
/// 0 or its id), the sent-by port of the message's top Via; otherwise, or when the Via names
/// none, 5060. 1 on success; -1 when the connection is gone or is SCTP, the port is out of
/// range (`port` < 0 or > 65535), or the connection has its maximum of aliases.
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_force_tcp_alias(
    rt: *const sipwire_runtime,
    conid: u64,
    port: c_int,
) -> c_int {
    ptr::guard_or(FAIL, || {
        let Ok(port) = u16::try_from(port) else {
            return FAIL;
        };
        let Some((rt, id)) = resolve(rt, conid) else {
            return FAIL;
        };
        let given = Some(port).filter(|&p| p != 0);
        // In the current message's scope the Via gives the default port.
        let in_scope = context::with_ctx(rt.key(), |ctx| {
            (ctx.conid() == id).then(|| ctx.force_tcp_alias(given).is_ok())
        })
        .flatten();
        let ok = in_scope.unwrap_or_else(|| rt.transport.add_alias(id, port).is_ok());
        if ok {
            OK
        } else {
            FAIL
        }
    })
}

/// `tcp_close_connection([conid])`: closes the connection (its close event has reason
/// `SIPWIRE_CLOSE_APPLICATION`; inside `on_message` on the current one, after the callback
/// returns). 1 on success, -1 (or other negative values) on failure.
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_tcp_close_connection(rt: *const sipwire_runtime, conid: u64) -> c_int {
    ptr::guard_or(FAIL, || {
        ok_or_fail(resolve(rt, conid).map(|(rt, id)| rt.transport.close_connection(id)))
    })
}
