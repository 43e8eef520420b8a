//! sipwire-ffi: the C ABI of the sipwire runtime — `libsipwire.so` / `libsipwire.a` and
//! `include/sipwire.h` (generated from this crate by cbindgen; `make header`).
//!
//! A C server configures a runtime (Kamailio-style text, a file, or single options), starts
//! it, and receives messages and close events either through callbacks on the runtime's
//! threads or from its own event loop (a notify fd plus `sipwire_next`). It sends by
//! connection id or destination, calls Kamailio's tcpops functions, reads connection details
//! and counters, and can serve the control socket. `docs/c-api.md` is the guide.
//!
//! Conventions (rustls-ffi's): opaque handles made by `_new` and freed once by `_free`; every
//! fallible call returns a [`sipwire_result`] and writes its outputs only on success; every
//! pointer is checked for NULL; every entry point catches panics (`SIPWIRE_RESULT_PANIC`);
//! no process-wide state; connection ids are generation-tagged `uint64_t`s, never pointers.
//!
//! This crate is the third, after sipwire-sys and sipwire-poll, that may hold `unsafe`: a C
//! ABI is made of raw pointers. Dereferences and handle ownership live in `ptr`; the other
//! modules are safe code over it.
#![allow(non_camel_case_types)]

mod addr;
mod config;
mod context;
mod introspect;
mod proxy;
mod ptr;
mod queue;
mod result;
mod runtime;
mod send;
mod tcpops;
mod types;

pub use addr::{sipwire_addr_format, sipwire_addr_to_sockaddr, sipwire_close_reason_text};
pub use config::{
    sipwire_config, sipwire_config_error, sipwire_config_error_line, sipwire_config_free,
    sipwire_config_load_file, sipwire_config_load_text, sipwire_config_new, sipwire_config_set,
    sipwire_config_set_queue_limit,
};
pub use introspect::{
    sipwire_conn_get_info, sipwire_conn_info, sipwire_connections, sipwire_control,
    sipwire_control_free, sipwire_control_serve, sipwire_stats, sipwire_stats_at,
    sipwire_stats_free, sipwire_stats_get, sipwire_stats_len, sipwire_stats_new,
};
pub use proxy::{
    sipwire_conn_proxy_ssl, sipwire_conn_proxy_ssl_tlv, sipwire_conn_proxy_tlv, sipwire_proxy_ssl,
    SIPWIRE_PP2_CLIENT_CERT_CONN, SIPWIRE_PP2_CLIENT_CERT_SESS, SIPWIRE_PP2_CLIENT_SSL,
    SIPWIRE_PP2_SUBTYPE_SSL_CIPHER, SIPWIRE_PP2_SUBTYPE_SSL_CN, SIPWIRE_PP2_SUBTYPE_SSL_KEY_ALG,
    SIPWIRE_PP2_SUBTYPE_SSL_SIG_ALG, SIPWIRE_PP2_SUBTYPE_SSL_VERSION, SIPWIRE_PP2_TYPE_ALPN,
    SIPWIRE_PP2_TYPE_AUTHORITY, SIPWIRE_PP2_TYPE_CRC32C, SIPWIRE_PP2_TYPE_NETNS,
    SIPWIRE_PP2_TYPE_NOOP, SIPWIRE_PP2_TYPE_SSL, SIPWIRE_PP2_TYPE_UNIQUE_ID,
};
pub use queue::{
    sipwire_item, sipwire_item_event, sipwire_item_free, sipwire_item_get_kind, sipwire_item_kind,
    sipwire_item_message, sipwire_item_unsent, sipwire_message_copy, sipwire_message_free,
    sipwire_next, SIPWIRE_DEFAULT_QUEUE_LIMIT,
};
pub use result::{sipwire_result, sipwire_result_message};
pub use runtime::{
    sipwire_callbacks, sipwire_event_cb, sipwire_message_cb, sipwire_runtime, sipwire_runtime_fd,
    sipwire_runtime_free, sipwire_runtime_get_int, sipwire_runtime_listen_addrs,
    sipwire_runtime_new, sipwire_runtime_set_now_int, sipwire_runtime_set_now_string,
    sipwire_runtime_shutdown, sipwire_unsent_cb,
};
pub use send::{
    sipwire_delivery, sipwire_reply, sipwire_send, sipwire_send_sockaddr, sipwire_send_to,
    sipwire_sent,
};
pub use tcpops::{
    sipwire_tcp_close_connection, sipwire_tcp_conid_alive, sipwire_tcp_conid_state,
    sipwire_tcp_enable_closed_event, sipwire_tcp_get_conid, sipwire_tcp_keepalive_disable,
    sipwire_tcp_keepalive_enable, sipwire_tcp_set_connection_lifetime, sipwire_tcp_set_otcpid,
    sipwire_tcp_set_otcpid_flag,
};
pub use types::{
    sipwire_addr, sipwire_close_reason, sipwire_event, sipwire_message, sipwire_message_kind,
    sipwire_proto, sipwire_unsent, SIPWIRE_ADDR_NONE, SIPWIRE_ADDR_V4, SIPWIRE_ADDR_V6,
};
