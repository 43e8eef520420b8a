//! `sipwire_result`: the one result code of every fallible call, its message, and how the
//! runtime's Rust errors map onto it.

use std::ffi::c_char;

use sipwire::config::{ConfigError, ErrorKind};
use sipwire::{SendError, StartError};

use crate::ptr;

/// The result of a fallible call. `SIPWIRE_RESULT_OK` (0) is success; every other value is a
/// failure (outputs are written only on success), described by `sipwire_result_message`.
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sipwire_result {
    /// Success.
    SIPWIRE_RESULT_OK = 0,
    /// A pointer argument that must not be NULL was NULL.
    SIPWIRE_RESULT_NULL_PARAMETER = 1,
    /// An argument is malformed: text that is not UTF-8, an address that does not parse, a
    /// zero connection id outside a callback, a length out of range.
    SIPWIRE_RESULT_INVALID_ARGUMENT = 2,
    /// The call panicked inside the library; nothing unwound into C. A bug: please report it.
    SIPWIRE_RESULT_PANIC = 3,
    /// The runtime was created in another process: it was used in a child after `fork()`.
    /// Create runtimes after forking (see the header's top comment).
    SIPWIRE_RESULT_FORKED = 4,
    /// The call is not allowed on this thread: stopping or freeing a runtime from inside one
    /// of its own callbacks (it would wait for itself).
    SIPWIRE_RESULT_WRONG_THREAD = 5,
    /// The call is not allowed now: the runtime is shut down, or a call that needs the
    /// current message was made outside `on_message`.
    SIPWIRE_RESULT_WRONG_STATE = 6,
    /// Nothing there: `sipwire_next` has nothing waiting; `sipwire_conn_proxy_tlv` and its
    /// kin find no such TLV in the connection's PROXY header.
    SIPWIRE_RESULT_EMPTY = 7,
    /// The caller's buffer is too small (as much as fits was written).
    SIPWIRE_RESULT_INSUFFICIENT_SIZE = 8,
    /// The config text or file was refused; `sipwire_config_error` says where and why.
    SIPWIRE_RESULT_CONFIG = 9,
    /// No option, cfg name or counter has this name.
    SIPWIRE_RESULT_UNKNOWN_OPTION = 10,
    /// The option exists but cannot be changed while running.
    SIPWIRE_RESULT_READ_ONLY = 11,
    /// The value is outside the option's range.
    SIPWIRE_RESULT_OUT_OF_RANGE = 12,
    /// The value does not fit the option (wrong type, not a number, bad address).
    SIPWIRE_RESULT_BAD_VALUE = 13,
    /// A listener could not be bound (address in use, permission); see `sipwire_config_error`.
    SIPWIRE_RESULT_BIND = 14,
    /// An operating-system call failed (threads, fds, sockets).
    SIPWIRE_RESULT_IO = 15,
    /// No open connection has this id (closed, or never existed).
    SIPWIRE_RESULT_NO_SUCH_CONNECTION = 16,
    /// No connection to the destination, and `tcp_no_connect` forbids opening one.
    SIPWIRE_RESULT_NO_CONNECT = 17,
    /// The destination refused the connection.
    SIPWIRE_RESULT_CONNECT_REFUSED = 18,
    /// The connect did not complete within `tcp_connect_timeout`.
    SIPWIRE_RESULT_CONNECT_TIMEOUT = 19,
    /// The connect failed otherwise.
    SIPWIRE_RESULT_CONNECT_FAILED = 20,
    /// A new connection would exceed `tcp_max_connections`.
    SIPWIRE_RESULT_TOO_MANY_CONNECTIONS = 21,
    /// Too slow: a blocking write made no progress within `tcp_send_timeout`; the connection
    /// was closed.
    SIPWIRE_RESULT_SEND_TIMEOUT = 22,
    /// Too slow: the message would exceed `tcp_conn_wq_max`, `tcp_wq_max` or
    /// `tcp_async_max_postponed_chunks`; the connection was closed.
    SIPWIRE_RESULT_QUEUE_FULL = 23,
    /// The connection is closing.
    SIPWIRE_RESULT_CLOSED = 24,
    /// A TCP send while `disable_tcp` is set: there is no TCP at all.
    SIPWIRE_RESULT_TCP_DISABLED = 25,
}

use sipwire_result::*;

impl sipwire_result {
    /// Every value, for `sipwire_result_message` on a raw number.
    const ALL: [sipwire_result; 26] = [
        SIPWIRE_RESULT_OK,
        SIPWIRE_RESULT_NULL_PARAMETER,
        SIPWIRE_RESULT_INVALID_ARGUMENT,
        SIPWIRE_RESULT_PANIC,
        SIPWIRE_RESULT_FORKED,
        SIPWIRE_RESULT_WRONG_THREAD,
        SIPWIRE_RESULT_WRONG_STATE,
        SIPWIRE_RESULT_EMPTY,
        SIPWIRE_RESULT_INSUFFICIENT_SIZE,
        SIPWIRE_RESULT_CONFIG,
        SIPWIRE_RESULT_UNKNOWN_OPTION,
        SIPWIRE_RESULT_READ_ONLY,
        SIPWIRE_RESULT_OUT_OF_RANGE,
        SIPWIRE_RESULT_BAD_VALUE,
        SIPWIRE_RESULT_BIND,
        SIPWIRE_RESULT_IO,
        SIPWIRE_RESULT_NO_SUCH_CONNECTION,
        SIPWIRE_RESULT_NO_CONNECT,
        SIPWIRE_RESULT_CONNECT_REFUSED,
        SIPWIRE_RESULT_CONNECT_TIMEOUT,
        SIPWIRE_RESULT_CONNECT_FAILED,
        SIPWIRE_RESULT_TOO_MANY_CONNECTIONS,
        SIPWIRE_RESULT_SEND_TIMEOUT,
        SIPWIRE_RESULT_QUEUE_FULL,
        SIPWIRE_RESULT_CLOSED,
        SIPWIRE_RESULT_TCP_DISABLED,
    ];

    fn message(self) -> &'static str {
        match self {
            SIPWIRE_RESULT_OK => "success",
            SIPWIRE_RESULT_NULL_PARAMETER => "a required pointer argument was NULL",
            SIPWIRE_RESULT_INVALID_ARGUMENT => "an argument is malformed",
            SIPWIRE_RESULT_PANIC => "internal error: the call panicked (please report it)",
            SIPWIRE_RESULT_FORKED => {
                "the runtime belongs to another process (used after fork); create it after forking"
            }
            SIPWIRE_RESULT_WRONG_THREAD => {
                "not allowed from the runtime's own callback threads (it would wait for itself)"
            }
            SIPWIRE_RESULT_WRONG_STATE => {
                "not allowed now: the runtime is shut down, or the call needs the current message"
            }
            SIPWIRE_RESULT_EMPTY => "nothing is waiting (or no such PROXY TLV)",
            SIPWIRE_RESULT_INSUFFICIENT_SIZE => "the buffer is too small",
            SIPWIRE_RESULT_CONFIG => "the configuration was refused (see sipwire_config_error)",
            SIPWIRE_RESULT_UNKNOWN_OPTION => "no option or counter has this name",
            SIPWIRE_RESULT_READ_ONLY => "the option cannot be changed while running",
            SIPWIRE_RESULT_OUT_OF_RANGE => "the value is outside the option's range",
            SIPWIRE_RESULT_BAD_VALUE => "the value does not fit the option",
            SIPWIRE_RESULT_BIND => "a listener could not be bound (see sipwire_config_error)",
            SIPWIRE_RESULT_IO => "an operating-system call failed",
            SIPWIRE_RESULT_NO_SUCH_CONNECTION => "no open connection has this id",
            SIPWIRE_RESULT_NO_CONNECT => {
                "no connection to the destination and tcp_no_connect is set"
            }
            SIPWIRE_RESULT_CONNECT_REFUSED => "the destination refused the connection",
            SIPWIRE_RESULT_CONNECT_TIMEOUT => "the connect timed out (tcp_connect_timeout)",
            SIPWIRE_RESULT_CONNECT_FAILED => "the connect failed",
            SIPWIRE_RESULT_TOO_MANY_CONNECTIONS => "tcp_max_connections reached",
            SIPWIRE_RESULT_SEND_TIMEOUT => {
                "too slow: the send timed out (tcp_send_timeout); the connection was closed"
            }
            SIPWIRE_RESULT_QUEUE_FULL => {
                "too slow: the write queue is full; the connection was closed"
            }
            SIPWIRE_RESULT_CLOSED => "the connection is closing",
            SIPWIRE_RESULT_TCP_DISABLED => "TCP is off (disable_tcp)",
        }
    }
}

/// Writes the message for `result` (a `sipwire_result` value) into `buf` (`len` bytes, NUL
/// terminated) and its length to `out_n` (may be NULL). An unknown value gets "unknown
/// result". Returns `SIPWIRE_RESULT_INSUFFICIENT_SIZE` when the message was cut short.
///
/// Thread-safe; needs no runtime.
#[no_mangle]
pub extern "C" fn sipwire_result_message(
    result: u32,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> sipwire_result {
    ptr::guard(|| {
        let text = sipwire_result::ALL
            .iter()
            .find(|r| **r as u32 == result)
            .map_or("unknown result", |r| r.message());
        ptr::copy_text(text, buf, len, out_n)
    })
}

/// The result a refused `set`/`set_now_*` maps to.
pub(crate) fn from_config_error(e: &ConfigError) -> sipwire_result {
    match &e.kind {
        ErrorKind::UnknownOption { .. }
        | ErrorKind::UnknownModparam { .. }
        | ErrorKind::UnknownCfg { .. } => SIPWIRE_RESULT_UNKNOWN_OPTION,
        ErrorKind::ReadOnly { .. } => SIPWIRE_RESULT_READ_ONLY,
        ErrorKind::OutOfRange { .. } => SIPWIRE_RESULT_OUT_OF_RANGE,
        ErrorKind::InvalidValue { .. }
        | ErrorKind::WrongType { .. }
        | ErrorKind::Invalid { .. } => SIPWIRE_RESULT_BAD_VALUE,
        _ => SIPWIRE_RESULT_CONFIG,
    }
}

/// The result a failed start maps to.
pub(crate) fn from_start_error(e: &StartError) -> sipwire_result {
    match e {
        StartError::PollMethod(_) => SIPWIRE_RESULT_CONFIG,
        StartError::Bind(..) => SIPWIRE_RESULT_BIND,
        _ => SIPWIRE_RESULT_IO,
    }
}

/// The result a failed send maps to.
pub(crate) fn from_send_error(e: &SendError) -> sipwire_result {
    match e {
        SendError::NoSuchConnection(_) => SIPWIRE_RESULT_NO_SUCH_CONNECTION,
        SendError::NoConnect(_) => SIPWIRE_RESULT_NO_CONNECT,
        SendError::ConnectRefused(_) => SIPWIRE_RESULT_CONNECT_REFUSED,
        SendError::ConnectTimeout(_) => SIPWIRE_RESULT_CONNECT_TIMEOUT,
        SendError::Connect(..) => SIPWIRE_RESULT_CONNECT_FAILED,
        SendError::TooManyConnections(_) => SIPWIRE_RESULT_TOO_MANY_CONNECTIONS,
        SendError::SendTimeout(_) => SIPWIRE_RESULT_SEND_TIMEOUT,
        SendError::QueueFull(..) => SIPWIRE_RESULT_QUEUE_FULL,
        SendError::Closed(_) => SIPWIRE_RESULT_CLOSED,
        SendError::TcpDisabled(_) => SIPWIRE_RESULT_TCP_DISABLED,
        _ => SIPWIRE_RESULT_IO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_listed_once_in_order() {
        for (i, r) in sipwire_result::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }
}
