//! A connection's PROXY header (`tcp_accept_haproxy`) beyond its addresses: the TLVs of a v2
//! header (ALPN, authority, unique id, SSL and any other type), by connection id. The
//! addresses themselves are in `sipwire_message` (`source`, `local`) and
//! `sipwire_conn_info` (`proxy_source`, `proxy_destination`).

use sipwire::{ConId, ProxyInfo};

use crate::context;
use crate::ptr;
use crate::result::{sipwire_result, sipwire_result::*};
use crate::runtime::sipwire_runtime;

/// `PP2_TYPE_ALPN`: the application protocol the client negotiated (TLS ALPN).
pub const SIPWIRE_PP2_TYPE_ALPN: u8 = 0x01;
/// `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI), UTF-8.
pub const SIPWIRE_PP2_TYPE_AUTHORITY: u8 = 0x02;
/// `PP2_TYPE_CRC32C`: the header's checksum (kept, not verified).
pub const SIPWIRE_PP2_TYPE_CRC32C: u8 = 0x03;
/// `PP2_TYPE_NOOP`: padding.
pub const SIPWIRE_PP2_TYPE_NOOP: u8 = 0x04;
/// `PP2_TYPE_UNIQUE_ID`: the proxy's opaque id of the connection.
pub const SIPWIRE_PP2_TYPE_UNIQUE_ID: u8 = 0x05;
/// `PP2_TYPE_SSL`: the client's TLS (`sipwire_conn_proxy_ssl` reads it).
pub const SIPWIRE_PP2_TYPE_SSL: u8 = 0x20;
/// `PP2_TYPE_NETNS`: network namespace name.
pub const SIPWIRE_PP2_TYPE_NETNS: u8 = 0x30;
/// `PP2_SUBTYPE_SSL_VERSION`, inside the SSL TLV: the TLS version ("TLSv1.3").
pub const SIPWIRE_PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
/// `PP2_SUBTYPE_SSL_CN`, inside the SSL TLV: the client certificate's Common Name.
pub const SIPWIRE_PP2_SUBTYPE_SSL_CN: u8 = 0x22;
/// `PP2_SUBTYPE_SSL_CIPHER`, inside the SSL TLV: the cipher name.
pub const SIPWIRE_PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;
/// `PP2_SUBTYPE_SSL_SIG_ALG`, inside the SSL TLV: the certificate's signature algorithm.
pub const SIPWIRE_PP2_SUBTYPE_SSL_SIG_ALG: u8 = 0x24;
/// `PP2_SUBTYPE_SSL_KEY_ALG`, inside the SSL TLV: the certificate's key algorithm.
pub const SIPWIRE_PP2_SUBTYPE_SSL_KEY_ALG: u8 = 0x25;
/// `PP2_CLIENT_SSL`, in `sipwire_proxy_ssl.client`: the client connected over TLS.
pub const SIPWIRE_PP2_CLIENT_SSL: u8 = 0x01;
/// `PP2_CLIENT_CERT_CONN`: the client presented a certificate on this connection.
pub const SIPWIRE_PP2_CLIENT_CERT_CONN: u8 = 0x02;
/// `PP2_CLIENT_CERT_SESS`: the client presented a certificate in this TLS session.
pub const SIPWIRE_PP2_CLIENT_CERT_SESS: u8 = 0x04;

/// The fixed part of a PROXY v2 `PP2_TYPE_SSL` TLV.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct sipwire_proxy_ssl {
    /// The `client` bit field: `SIPWIRE_PP2_CLIENT_SSL`, `SIPWIRE_PP2_CLIENT_CERT_CONN`,
    /// `SIPWIRE_PP2_CLIENT_CERT_SESS`.
    pub client: u8,
    /// 1 when `client` has `SIPWIRE_PP2_CLIENT_SSL`: the client connected over TLS.
    pub client_tls: u8,
    /// The `verify` field: 0 when the client presented a certificate and it was verified,
    /// non-zero otherwise.
    pub verify: u32,
}

/// The runtime and the PROXY information of connection `conid` (0: the current message's,
/// inside `on_message`); `Ok(None)` when the connection had no PROXY header with addresses.
fn proxy_of(rt: *const sipwire_runtime, conid: u64) -> Result<Option<ProxyInfo>, sipwire_result> {
    let rt = ptr::borrow(rt).ok_or(SIPWIRE_RESULT_NULL_PARAMETER)?;
    rt.check_pid()?;
    let id = match conid {
        0 => context::with_message(rt.key(), |m| m.conid).ok_or(SIPWIRE_RESULT_INVALID_ARGUMENT)?,
        n => ConId(n),
    };
    let info = rt
        .transport
        .conn_info(id)
        .ok_or(SIPWIRE_RESULT_NO_SUCH_CONNECTION)?;
    Ok(info.proxy)
}

/// The value of the first TLV of type `tlv_type` (`SIPWIRE_PP2_TYPE_*`, or any other type
/// byte) in the PROXY v2 header connection `conid` started with (0: the current message's
/// connection, inside `on_message`): copied to `buf` (room for `cap` bytes, not
/// NUL-terminated; NULL when `cap` is 0), its length to `*out_n`.
///
/// `SIPWIRE_RESULT_EMPTY` when the header carried no such TLV (no PROXY header, a v1 header,
/// no TLVs, or TLVs that were malformed and ignored); `SIPWIRE_RESULT_INSUFFICIENT_SIZE`
/// when the value is longer than `cap` (the first `cap` bytes are written and `*out_n` is
/// the full length: call with `cap` 0 to ask the length); `SIPWIRE_RESULT_NO_SUCH_CONNECTION`
/// when `conid` is not open; `SIPWIRE_RESULT_INVALID_ARGUMENT` for 0 outside `on_message`.
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_conn_proxy_tlv(
    rt: *const sipwire_runtime,
    conid: u64,
    tlv_type: u8,
    buf: *mut u8,
    cap: usize,
    out_n: *mut usize,
) -> sipwire_result {
    ptr::guard(|| {
        if out_n.is_null() || (buf.is_null() && cap > 0) {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        let info = match proxy_of(rt, conid) {
            Ok(Some(info)) => info,
            Ok(None) => return SIPWIRE_RESULT_EMPTY,
            Err(r) => return r,
        };
        match info.tlvs().get(tlv_type) {
            Some(v) => ptr::copy_array(v, buf, cap, out_n),
            None => SIPWIRE_RESULT_EMPTY,
        }
    })
}

/// The `PP2_TYPE_SSL` TLV of connection `conid`'s PROXY v2 header (0: the current message's
/// connection, inside `on_message`), its fixed part to `*out`; its sub-TLVs (TLS version,
/// CN, cipher) with `sipwire_conn_proxy_ssl_tlv`.
///
/// `SIPWIRE_RESULT_EMPTY` when there is none, or it is malformed (shorter than its 5 fixed
/// bytes, or sub-TLVs that do not fit) and was ignored; `SIPWIRE_RESULT_NO_SUCH_CONNECTION`
/// when `conid` is not open; `SIPWIRE_RESULT_INVALID_ARGUMENT` for 0 outside `on_message`.
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_conn_proxy_ssl(
    rt: *const sipwire_runtime,
    conid: u64,
    out: *mut sipwire_proxy_ssl,
) -> sipwire_result {
    ptr::guard(|| {
        if out.is_null() {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        let info = match proxy_of(rt, conid) {
            Ok(Some(info)) => info,
            Ok(None) => return SIPWIRE_RESULT_EMPTY,
            Err(r) => return r,
        };
        let Some(ssl) = info.ssl() else {
            return SIPWIRE_RESULT_EMPTY;
        };
        ptr::put(
            out,
            sipwire_proxy_ssl {
                client: ssl.client,
                client_tls: u8::from(ssl.client_tls()),
                verify: ssl.verify,
            },
        );
        SIPWIRE_RESULT_OK
    })
}

/// The value of the first sub-TLV of type `subtype` (`SIPWIRE_PP2_SUBTYPE_SSL_*`: the TLS
/// version, CN, cipher, ...) inside the `PP2_TYPE_SSL` TLV of connection `conid`'s PROXY v2
/// header (0: the current message's connection, inside `on_message`), copied to `buf` as
/// `sipwire_conn_proxy_tlv` copies (not NUL-terminated; `*out_n` is its length).
///
/// `SIPWIRE_RESULT_EMPTY` when there is no SSL TLV (or it was malformed) or it has no such
/// sub-TLV; otherwise the results of `sipwire_conn_proxy_tlv`.
///
/// Thread-safe; callable from callbacks.
#[no_mangle]
pub extern "C" fn sipwire_conn_proxy_ssl_tlv(
    rt: *const sipwire_runtime,
    conid: u64,
    subtype: u8,
    buf: *mut u8,
    cap: usize,
    out_n: *mut usize,
) -> sipwire_result {
    ptr::guard(|| {
        if out_n.is_null() || (buf.is_null() && cap > 0) {
            return SIPWIRE_RESULT_NULL_PARAMETER;
        }
        let info = match proxy_of(rt, conid) {
            Ok(Some(info)) => info,
            Ok(None) => return SIPWIRE_RESULT_EMPTY,
            Err(r) => return r,
        };
        match info.ssl().and_then(|s| s.sub_tlvs().get(subtype)) {
            Some(v) => ptr::copy_array(v, buf, cap, out_n),
            None => SIPWIRE_RESULT_EMPTY,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipwire::pp2;

    #[test]
    fn constants_are_the_spec_values() {
        let pairs = [
            (SIPWIRE_PP2_TYPE_ALPN, pp2::TYPE_ALPN),
            (SIPWIRE_PP2_TYPE_AUTHORITY, pp2::TYPE_AUTHORITY),
            (SIPWIRE_PP2_TYPE_CRC32C, pp2::TYPE_CRC32C),
            (SIPWIRE_PP2_TYPE_NOOP, pp2::TYPE_NOOP),
            (SIPWIRE_PP2_TYPE_UNIQUE_ID, pp2::TYPE_UNIQUE_ID),
            (SIPWIRE_PP2_TYPE_SSL, pp2::TYPE_SSL),
            (SIPWIRE_PP2_TYPE_NETNS, pp2::TYPE_NETNS),
            (SIPWIRE_PP2_SUBTYPE_SSL_VERSION, pp2::SUBTYPE_SSL_VERSION),
            (SIPWIRE_PP2_SUBTYPE_SSL_CN, pp2::SUBTYPE_SSL_CN),
            (SIPWIRE_PP2_SUBTYPE_SSL_CIPHER, pp2::SUBTYPE_SSL_CIPHER),
            (SIPWIRE_PP2_SUBTYPE_SSL_SIG_ALG, pp2::SUBTYPE_SSL_SIG_ALG),
            (SIPWIRE_PP2_SUBTYPE_SSL_KEY_ALG, pp2::SUBTYPE_SSL_KEY_ALG),
            (SIPWIRE_PP2_CLIENT_SSL, pp2::CLIENT_SSL),
            (SIPWIRE_PP2_CLIENT_CERT_CONN, pp2::CLIENT_CERT_CONN),
            (SIPWIRE_PP2_CLIENT_CERT_SESS, pp2::CLIENT_CERT_SESS),
        ];
        for (c, rust) in pairs {
            assert_eq!(c, rust);
        }
    }
}
