//! `sipwire_config`: a configuration being built — from Kamailio-style text or a file, then
//! single options by name — with the last failure kept on the handle (`file:line: reason`),
//! so errors need no global state.

use std::ffi::c_char;

use sipwire::config::{Config, ConfigError, ParseOptions};

use crate::ptr;
use crate::queue::SIPWIRE_DEFAULT_QUEUE_LIMIT;
use crate::result::{self, sipwire_result, sipwire_result::*};

/// A configuration under construction. Create with `sipwire_config_new`, free with
/// `sipwire_config_free`. Not thread-safe: use one from one thread at a time.
pub struct sipwire_config {
    pub(crate) config: Config,
    /// Messages the receive queue may hold (`sipwire_config_set_queue_limit`).
    pub(crate) queue_limit: usize,
    /// Why the last failed call on this handle failed.
    error: Option<Failure>,
}

struct Failure {
    text: String,
    line: u32,
}

impl sipwire_config {
    /// Records why a call failed and returns `r`.
    pub(crate) fn fail(&mut self, r: sipwire_result, text: String, line: u32) -> sipwire_result {
        self.error = Some(Failure { text, line });
        r
    }

    fn fail_config(&mut self, e: &ConfigError, r: sipwire_result) -> sipwire_result {
        self.fail(r, e.to_string(), e.line.unwrap_or(0))
    }

    fn ok(&mut self) -> sipwire_result {
        self.error = None;
        SIPWIRE_RESULT_OK
    }
}

/// Creates a configuration holding Kamailio's defaults and writes it to `*out`. With no
/// `listen` set, the runtime listens on every interface on `tcp_port` (5060), as Kamailio.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sipwire_config_new(out: *mut *mut sipwire_config) -> sipwire_result {
    ptr::guard(|| {
        if out.is_null() {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        let cfg = sipwire_config {
            config: Config::default(),
            queue_limit: SIPWIRE_DEFAULT_QUEUE_LIMIT,
            error: None,
        };
        ptr::put(out, ptr::into_raw(cfg));
        SIPWIRE_RESULT_OK
    })
}

/// Replaces the whole configuration with the one read from `text` (`len` bytes of UTF-8
/// Kamailio-style config: `tcp_*` lines, `listen=`, `modparam("tcpops"|"proto_tcp", ...)`).
/// `name` (may be NULL) names the text in messages, like a file name. With `strict` non-zero,
/// statements sipwire would only warn about (other subsystems' lines) are refused.
/// On `SIPWIRE_RESULT_CONFIG` the configuration is unchanged and `sipwire_config_error` gives
/// `name:line: reason`.
///
/// Not thread-safe for the same `cfg`.
#[no_mangle]
pub extern "C" fn sipwire_config_load_text(
    cfg: *mut sipwire_config,
    name: *const c_char,
    text: *const u8,
    len: usize,
    strict: i32,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(cfg) = ptr::borrow_mut(cfg) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        let Some(bytes) = ptr::bytes(text, len) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        let name = if name.is_null() {
            "<text>"
        } else {
            match ptr::text(name) {
                Some(n) => n,
                None => return SIPWIRE_RESULT_INVALID_ARGUMENT,
            }
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            return cfg.fail(
                SIPWIRE_RESULT_CONFIG,
                format!("{name}: the config is not UTF-8 text"),
                0,
            );
        };
        let opts = ParseOptions {
            strict: strict != 0,
        };
        match Config::from_str_with(name, text, opts) {
            Ok((c, _warnings)) => {
                cfg.config = c;
                cfg.ok()
            }
            Err(e) => cfg.fail_config(&e, SIPWIRE_RESULT_CONFIG),
        }
    })
}

/// `sipwire_config_load_text` on the contents of the file at `path`.
///
/// Not thread-safe for the same `cfg`.
#[no_mangle]
pub extern "C" fn sipwire_config_load_file(
    cfg: *mut sipwire_config,
    path: *const c_char,
    strict: i32,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(cfg) = ptr::borrow_mut(cfg) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        if path.is_null() {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        let Some(path) = ptr::text(path) else {
            return SIPWIRE_RESULT_INVALID_ARGUMENT;
        };
        let opts = ParseOptions {
            strict: strict != 0,
        };
        match Config::from_file(path, opts) {
            Ok((c, _warnings)) => {
                cfg.config = c;
                cfg.ok()
            }
            Err(e) => cfg.fail_config(&e, SIPWIRE_RESULT_CONFIG),
        }
    })
}

/// Sets one option from text, as on the daemon's command line: `name` is a core name or
/// alias (`tcp_children`, `listen`) or `module.param` (`tcpops.closed_event`,
/// `proto_tcp.tcp_send_timeout`). Returns `SIPWIRE_RESULT_UNKNOWN_OPTION`,
/// `SIPWIRE_RESULT_OUT_OF_RANGE` or `SIPWIRE_RESULT_BAD_VALUE` with the reason in
/// `sipwire_config_error`. Checks between options run at `sipwire_runtime_new`.
///
/// Not thread-safe for the same `cfg`.
#[no_mangle]
pub extern "C" fn sipwire_config_set(
    cfg: *mut sipwire_config,
    name: *const c_char,
    value: *const c_char,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(cfg) = ptr::borrow_mut(cfg) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        if name.is_null() || value.is_null() {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        let (Some(name), Some(value)) = (ptr::text(name), ptr::text(value)) else {
            return SIPWIRE_RESULT_INVALID_ARGUMENT;
        };
        match cfg.config.set(name, value) {
            Ok(_) => cfg.ok(),
            Err(e) => {
                let r = result::from_config_error(&e);
                cfg.fail_config(&e, r)
            }
        }
    })
}

/// How many received messages the queue of `sipwire_next` may hold (default 65536); at the
/// limit a further message is refused like a failed `on_message` (its connection is closed
/// unless `tcp_script_mode = 1`) and counted as `ffi_queue_refused`. Events and unsent
/// messages are never refused. `SIPWIRE_RESULT_OUT_OF_RANGE` for 0.
///
/// Not thread-safe for the same `cfg`.
#[no_mangle]
pub extern "C" fn sipwire_config_set_queue_limit(
    cfg: *mut sipwire_config,
    limit: usize,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(cfg) = ptr::borrow_mut(cfg) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        if limit == 0 {
            return cfg.fail(
                SIPWIRE_RESULT_OUT_OF_RANGE,
                "queue limit: must be at least 1".into(),
                0,
            );
        }
        cfg.queue_limit = limit;
        cfg.ok()
    })
}

/// Writes why the last failed call on `cfg` (load, set, or `sipwire_runtime_new` with it)
/// failed — `file:line: reason` where there is a place — into `buf` (`len` bytes, NUL
/// terminated) and its length to `out_n` (may be NULL). Writes "" when the last call
/// succeeded.
///
/// Not thread-safe for the same `cfg`.
#[no_mangle]
pub extern "C" fn sipwire_config_error(
    cfg: *const sipwire_config,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> sipwire_result {
    ptr::guard(|| {
        let Some(cfg) = ptr::borrow(cfg) else {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        };
        let text = cfg.error.as_ref().map_or("", |f| f.text.as_str());
        ptr::copy_text(text, buf, len, out_n)
    })
}

/// The line of the last failure on `cfg` (1-based), or 0 when it has none.
///
/// Not thread-safe for the same `cfg`.
#[no_mangle]
pub extern "C" fn sipwire_config_error_line(cfg: *const sipwire_config) -> u32 {
    ptr::guard_or(0, || {
        ptr::borrow(cfg)
            .and_then(|c| c.error.as_ref())
            .map_or(0, |f| f.line)
    })
}

/// Frees a configuration; NULL does nothing. A runtime made from it keeps its own copy.
///
/// Not thread-safe for the same `cfg` (no other call on it may be in progress).
#[no_mangle]
pub extern "C" fn sipwire_config_free(cfg: *mut sipwire_config) {
    ptr::guard_or((), || ptr::free_box(cfg))
}
