//! Helpers on the plain structs: addresses as text or `sockaddr`, close reasons in words.

use std::ffi::c_char;

use crate::ptr;
use crate::result::{sipwire_result, sipwire_result::*};
use crate::types::sipwire_addr;

/// Writes `addr` as text (`"192.0.2.1:5060"`, `"[2001:db8::1]:5060"`) into `buf` (`len`
/// bytes, NUL terminated; 48 always suffice) and its length to `out_n` (may be NULL).
/// `SIPWIRE_RESULT_INVALID_ARGUMENT` for `SIPWIRE_ADDR_NONE` or an unknown family.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_addr_format(
    addr: *const sipwire_addr,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(a) = ptr::borrow(addr) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        match a.to_socket_addr() {
            Some(sa) => ptr::copy_text(&sa.to_string(), buf, len, out_n),
            None => SIPWIRE_RESULT_INVALID_ARGUMENT,
        }
    })
}

/// Converts `addr` to a `struct sockaddr_in` or `sockaddr_in6` in `*out`, its length to
/// `*out_len` (may be NULL). `SIPWIRE_RESULT_INVALID_ARGUMENT` for `SIPWIRE_ADDR_NONE`.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_addr_to_sockaddr(
    addr: *const sipwire_addr,
    out: *mut libc::sockaddr_storage,
    out_len: *mut libc::socklen_t,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(a) = ptr::borrow(addr) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        if out.is_null() {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        let Some(sa) = a.to_socket_addr() else {
            return SIPWIRE_RESULT_INVALID_ARGUMENT;
        };
        let (ss, n) = sipwire_sys::to_sockaddr(&sa);
        ptr::put(out, ss);
        ptr::put(out_len, n);
        SIPWIRE_RESULT_OK
    })
}

/// A close reason (`sipwire_close_reason` value) in words, as a static string ("closed by
/// peer", ...); "unknown close reason" for other values.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_close_reason_text(reason: u32) -> *const c_char {
    ptr::guard_or(c"unknown close reason".as_ptr(), || {
        match reason {
            1 => c"closed by peer",
            2 => c"reset by peer",
            3 => c"keepalive timeout",
            4 => c"closed by the application",
            5 => c"connection lifetime expired",
            6 => c"no PROXY header within tcp_wait_data",
            7 => c"protocol error",
            8 => c"socket error",
            9 => c"runtime shutdown",
            10 => c"connection refused",
            11 => c"connect timed out (tcp_connect_timeout)",
            12 => c"connect failed",
            13 => c"send timed out (tcp_send_timeout)",
            14 => c"write queue full: peer too slow",
            15 => c"message not complete within tcp_msg_read_timeout",
            16 => c"no message within tcp_msg_data_timeout",
            _ => c"unknown close reason",
        }
        .as_ptr()
    })
}
