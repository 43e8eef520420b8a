//! Sending from C: by connection id, by destination text or `sockaddr`, and on the current
//! connection inside `on_message`. Every send copies the bytes before it returns.

use std::net::{SocketAddr, ToSocketAddrs};

use sipwire::{ConId, Delivery, Sent, Target};

use crate::context;
use crate::ptr;
use crate::result::{self, sipwire_result, sipwire_result::*};
use crate::runtime::sipwire_runtime;

/// How far a successful send got by the time it returned. Every case goes out in order; a
/// message that later cannot be written comes back as unsent, before its close event.
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sipwire_delivery {
    /// All of it is in the socket.
    SIPWIRE_DELIVERY_WRITTEN = 0,
    /// Batched: sent from `on_message` (with `tcp_async`), it is written together with the
    /// read pass's other messages to that connection when the pass ends.
    SIPWIRE_DELIVERY_BATCHED = 1,
    /// (Part of) it waits in the connection's write queue: the connect is in progress or the
    /// socket is full.
    SIPWIRE_DELIVERY_QUEUED = 2,
}

/// What a successful send did.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sipwire_sent {
    /// The connection the message went to or waits on.
    pub conid: u64,
    /// How far it got.
    pub delivery: sipwire_delivery,
}

fn finish(r: Result<Sent, sipwire::SendError>, out: *mut sipwire_sent) -> sipwire_result {
    match r {
        Ok(s) => {
            let delivery = match s.delivery {
                Delivery::Written => sipwire_delivery::SIPWIRE_DELIVERY_WRITTEN,
                Delivery::Batched => sipwire_delivery::SIPWIRE_DELIVERY_BATCHED,
                Delivery::Queued => sipwire_delivery::SIPWIRE_DELIVERY_QUEUED,
            };
            ptr::put(
                out,
                sipwire_sent {
                    conid: s.conid.0,
                    delivery,
                },
            );
            SIPWIRE_RESULT_OK
        }
        Err(e) => result::from_send_error(&e),
    }
}

/// Sends to `target`, honouring `sipwire_tcp_set_otcpid` when called inside this runtime's
/// `on_message`.
fn send_target(
    rt: &sipwire_runtime,
    target: Target,
    bytes: &[u8],
    out: *mut sipwire_sent,
) -> sipwire_result {
    let pinned = context::with_message(rt.key(), |m| m.otcpid.filter(|_| m.otcpid_flag)).flatten();
    let r = match pinned {
        Some(id) => rt.transport.send_via_report(id, target, bytes),
        None => rt.transport.send_report(target, bytes),
    };
    finish(r, out)
}

/// The checks every send starts with; the runtime and the message bytes.
fn start<'a>(
    rt: *const sipwire_runtime,
    data: *const u8,
    len: usize,
) -> Result<(&'a sipwire_runtime, &'a [u8]), sipwire_result> {
    let rt = ptr::borrow(rt).ok_or(SIPWIRE_RESULT_NULL_PARAMETER)?;
    rt.check_running()?;
    let bytes = ptr::bytes(data, len).ok_or(SIPWIRE_RESULT_NULL_PARAMETER)?;
    if bytes.is_empty() {
        return Err(SIPWIRE_RESULT_INVALID_ARGUMENT);
    }
    Ok((rt, bytes))
}

/// Sends `len` bytes at `data` (one whole SIP message) on the open connection `conid`; 0
/// means the current connection inside `on_message`. Writes what happened to `out` (may be
/// NULL). Fails with `SIPWIRE_RESULT_NO_SUCH_CONNECTION`, `SIPWIRE_RESULT_CLOSED`, or — the
/// peer too slow, the connection then closed — `SIPWIRE_RESULT_SEND_TIMEOUT` /
/// `SIPWIRE_RESULT_QUEUE_FULL`.
///
/// Thread-safe; callable from callbacks. Copies the bytes: the buffer is the caller's again
/// when it returns.
#[no_mangle]
pub extern "C" fn sipwire_send(
    rt: *const sipwire_runtime,
    conid: u64,
    data: *const u8,
    len: usize,
    out: *mut sipwire_sent,
) -> sipwire_result {
    ptr::guard(|| {
        let (rt, bytes) = match start(rt, data, len) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let id = match conid {
            0 => match context::with_message(rt.key(), |m| m.conid) {
                Some(id) => id,
                None => return SIPWIRE_RESULT_INVALID_ARGUMENT,
            },
            n => ConId(n),
        };
        send_target(rt, Target::Conn(id), bytes, out)
    })
}

/// Reads a destination: `[tcp:]host[:port]`, the host an IP address (IPv6 in brackets when a
/// port follows) or a name resolved with the system resolver; the port defaults to 5060.
fn parse_dest(s: &str) -> Option<SocketAddr> {
    let s = s.strip_prefix("tcp:").unwrap_or(s);
    if s.is_empty() {
        return None;
    }
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    if let Ok(ip) = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        return Some(SocketAddr::new(ip, 5060));
    }
    let with_port = if s
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        s.to_string()
    } else {
        format!("{s}:5060")
    };
    with_port.to_socket_addrs().ok()?.next()
}

/// Sends to a destination given as text — `"tcp:host:port"` (also `"host:port"`,
/// `"tcp:[::1]:5060"`, a port defaulting to 5060) — reusing an open connection to it or
/// opening one (unless `tcp_no_connect`). A host name is resolved with the system resolver,
/// which blocks: from a callback pass a numeric address. `SIPWIRE_RESULT_INVALID_ARGUMENT`
/// when `dest` does not parse or resolve.
///
/// Thread-safe; callable from callbacks. Copies the bytes.
#[no_mangle]
pub extern "C" fn sipwire_send_to(
    rt: *const sipwire_runtime,
    dest: *const std::ffi::c_char,
    data: *const u8,
    len: usize,
    out: *mut sipwire_sent,
) -> sipwire_result {
    ptr::guard(|| {
        let (rt, bytes) = match start(rt, data, len) {
            Ok(x) => x,
            Err(r) => return r,
        };
        if dest.is_null() {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        let Some(addr) = ptr::text(dest).and_then(parse_dest) else {
            return SIPWIRE_RESULT_INVALID_ARGUMENT;
        };
        send_target(rt, Target::Addr(addr), bytes, out)
    })
}

/// `sipwire_send_to` with the destination as a `struct sockaddr` (IPv4 or IPv6) of `salen`
/// bytes.
///
/// Thread-safe; callable from callbacks. Copies the bytes.
#[no_mangle]
pub extern "C" fn sipwire_send_sockaddr(
    rt: *const sipwire_runtime,
    sa: *const libc::sockaddr,
    salen: libc::socklen_t,
    data: *const u8,
    len: usize,
    out: *mut sipwire_sent,
) -> sipwire_result {
    ptr::guard(|| {
        let (rt, bytes) = match start(rt, data, len) {
            Ok(x) => x,
            Err(r) => return r,
        };
        if sa.is_null() {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        let Some(addr) = ptr::sockaddr(sa, salen) else {
            return SIPWIRE_RESULT_INVALID_ARGUMENT;
        };
        send_target(rt, Target::Addr(addr), bytes, out)
    })
}

/// Sends a reply on the connection `msg` came in on. Only inside the `on_message` call that
/// received `msg` (`SIPWIRE_RESULT_WRONG_STATE` elsewhere: use `sipwire_send` with
/// `msg->conid`). Results as `sipwire_send`.
///
/// Callable only from `on_message`. Copies the bytes.
#[no_mangle]
pub extern "C" fn sipwire_reply(
    msg: *const crate::types::sipwire_message,
    data: *const u8,
    len: usize,
    out: *mut sipwire_sent,
) -> sipwire_result {
    ptr::guard(|| {
        if msg.is_null() {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        let Some(bytes) = ptr::bytes(data, len) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        if bytes.is_empty() {
            return SIPWIRE_RESULT_INVALID_ARGUMENT;
        }
        match context::for_view(msg as usize, |t, conid| t.send_report(conid, bytes)) {
            Some(r) => finish(r, out),
            None => SIPWIRE_RESULT_WRONG_STATE,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::parse_dest;

    #[test]
    fn destinations() {
        assert_eq!(
            parse_dest("tcp:127.0.0.1:5070"),
            Some("127.0.0.1:5070".parse().unwrap())
        );
        assert_eq!(
            parse_dest("127.0.0.1"),
            Some("127.0.0.1:5060".parse().unwrap())
        );
        assert_eq!(
            parse_dest("tcp:[::1]:5071"),
            Some("[::1]:5071".parse().unwrap())
        );
        assert_eq!(parse_dest("[::1]"), Some("[::1]:5060".parse().unwrap()));
        assert_eq!(parse_dest("tcp:"), None);
        assert_eq!(parse_dest("tcp:127.0.0.1:99999"), None);
    }
}
