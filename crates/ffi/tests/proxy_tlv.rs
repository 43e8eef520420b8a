//! The PROXY v2 TLV accessors of the C ABI (`sipwire_conn_proxy_tlv`, `sipwire_conn_proxy_ssl`,
//! `sipwire_conn_proxy_ssl_tlv`), called from Rust as a C program calls them, against a
//! runtime started through the C ABI with `tcp_accept_haproxy=yes` on 127.0.0.1.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use sipwire_ffi as ffi;
use sipwire_ffi::sipwire_result::*;
use sipwire_testkit::{wait_for, WAIT};

const CONFIG: &str = "listen=tcp:127.0.0.1:0\ntcp_children=1\ntcp_accept_haproxy=yes\n";

/// A runtime started through the C ABI in queue mode, freed on drop.
struct CRuntime(*mut ffi::sipwire_runtime);

impl CRuntime {
    fn start() -> (CRuntime, SocketAddr) {
        let mut cfg: *mut ffi::sipwire_config = std::ptr::null_mut();
        assert_eq!(ffi::sipwire_config_new(&mut cfg), SIPWIRE_RESULT_OK);
        let r = ffi::sipwire_config_load_text(
            cfg,
            c"proxy.cfg".as_ptr(),
            CONFIG.as_ptr(),
            CONFIG.len(),
            1,
        );
        assert_eq!(r, SIPWIRE_RESULT_OK);
        let mut rt: *mut ffi::sipwire_runtime = std::ptr::null_mut();
        assert_eq!(
            ffi::sipwire_runtime_new(cfg, std::ptr::null(), &mut rt),
            SIPWIRE_RESULT_OK
        );
        ffi::sipwire_config_free(cfg);
        let mut addrs = [ffi::sipwire_addr {
            family: ffi::SIPWIRE_ADDR_NONE,
            port: 0,
            ip: [0; 16],
        }];
        let mut n = 0;
        assert_eq!(
            ffi::sipwire_runtime_listen_addrs(rt, addrs.as_mut_ptr(), 1, &mut n),
            SIPWIRE_RESULT_OK
        );
        (CRuntime(rt), addrs[0].to_socket_addr().unwrap())
    }

    /// Takes `n` items off the queue (waiting for them), freeing each.
    fn take(&self, n: usize) {
        let mut got = 0;
        wait_for(&format!("{n} queued items"), WAIT, || {
            let mut it: *mut ffi::sipwire_item = std::ptr::null_mut();
            if ffi::sipwire_next(self.0, &mut it) == SIPWIRE_RESULT_OK {
                ffi::sipwire_item_free(it);
                got += 1;
            }
            got >= n
        });
    }

    fn info(&self, conid: u64) -> ffi::sipwire_conn_info {
        let mut out = blank_info();
        assert_eq!(
            ffi::sipwire_conn_get_info(self.0, conid, &mut out),
            SIPWIRE_RESULT_OK
        );
        out
    }

    fn connections(&self) -> Vec<u64> {
        let mut ids = [0u64; 8];
        let mut n = 0;
        assert_eq!(
            ffi::sipwire_connections(self.0, ids.as_mut_ptr(), ids.len(), &mut n),
            SIPWIRE_RESULT_OK
        );
        ids[..n].to_vec()
    }

    /// `sipwire_conn_proxy_tlv` into a 256-byte buffer: the value, or the failed result.
    fn tlv(&self, conid: u64, kind: u8) -> Result<Vec<u8>, ffi::sipwire_result> {
        let mut buf = [0u8; 256];
        let mut n = usize::MAX;
        match ffi::sipwire_conn_proxy_tlv(self.0, conid, kind, buf.as_mut_ptr(), buf.len(), &mut n)
        {
            SIPWIRE_RESULT_OK => Ok(buf[..n].to_vec()),
            r => {
                assert_eq!(n, usize::MAX, "no output on {r:?}");
                Err(r)
            }
        }
    }

    /// `sipwire_conn_proxy_ssl_tlv` into a 256-byte buffer.
    fn ssl_tlv(&self, conid: u64, kind: u8) -> Result<Vec<u8>, ffi::sipwire_result> {
        let mut buf = [0u8; 256];
        let mut n = 0;
        match ffi::sipwire_conn_proxy_ssl_tlv(
            self.0,
            conid,
            kind,
            buf.as_mut_ptr(),
            buf.len(),
            &mut n,
        ) {
            SIPWIRE_RESULT_OK => Ok(buf[..n].to_vec()),
            r => Err(r),
        }
    }
}

impl Drop for CRuntime {
    fn drop(&mut self) {
        assert_eq!(ffi::sipwire_runtime_free(self.0), SIPWIRE_RESULT_OK);
    }
}

/// A `sipwire_conn_info` to be overwritten.
fn blank_info() -> ffi::sipwire_conn_info {
    let none = ffi::sipwire_addr {
        family: ffi::SIPWIRE_ADDR_NONE,
        port: 0,
        ip: [0; 16],
    };
    ffi::sipwire_conn_info {
        conid: 0,
        state: 0,
        outbound: 0,
        has_proxy: 0,
        keepalive: 0,
        peer: none,
        local: none,
        source: none,
        proxy_source: none,
        proxy_destination: none,
        keepalive_idle: 0,
        keepalive_count: 0,
        keepalive_interval: 0,
        idle_ms: 0,
        lifetime_ms: 0,
        queued_bytes: 0,
    }
}

fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    v.extend_from_slice(value);
    v
}

/// A PROXY v2 header, TCP over IPv4, with `tlvs` after the addresses.
fn v2(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, tlvs: &[u8]) -> Vec<u8> {
    let mut v = b"\r\n\r\n\0\r\nQUIT\n\x21\x11".to_vec();
    v.extend_from_slice(&u16::try_from(12 + tlvs.len()).unwrap().to_be_bytes());
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(tlvs);
    v
}

fn options(n: usize) -> Vec<u8> {
    format!(
        "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:40000;branch=z9hG4bK-{n}\r\n\
         From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: p-{n}@test\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn proxy_tlvs_through_the_c_abi() {
    let (rt, addr) = CRuntime::start();
    let mut ssl = vec![
        ffi::SIPWIRE_PP2_CLIENT_SSL | ffi::SIPWIRE_PP2_CLIENT_CERT_SESS,
        0,
        0,
        0,
        9,
    ];
    ssl.extend_from_slice(&tlv(ffi::SIPWIRE_PP2_SUBTYPE_SSL_VERSION, b"TLSv1.3"));
    let mut tlvs = tlv(ffi::SIPWIRE_PP2_TYPE_ALPN, b"h2");
    tlvs.extend_from_slice(&tlv(ffi::SIPWIRE_PP2_TYPE_AUTHORITY, b"sip.example.com"));
    tlvs.extend_from_slice(&tlv(ffi::SIPWIRE_PP2_TYPE_UNIQUE_ID, b"\x00uid\xff"));
    tlvs.extend_from_slice(&tlv(ffi::SIPWIRE_PP2_TYPE_SSL, &ssl));
    let mut a = TcpStream::connect(addr).unwrap();
    let mut first = v2([198, 51, 100, 7], 40000, [203, 0, 113, 5], 5061, &tlvs);
    first.extend_from_slice(&options(1));
    a.write_all(&first).unwrap();
    let mut b = TcpStream::connect(addr).unwrap();
    b.write_all(b"PROXY TCP4 192.0.2.7 192.0.2.1 40001 5060\r\n")
        .unwrap();
    b.write_all(&options(2)).unwrap();
    rt.take(2);
    let ids = rt.connections();
    assert_eq!(ids.len(), 2);
    let by_port = |p: u16| {
        *ids.iter()
            .find(|&&id| rt.info(id).proxy_source.port == p)
            .unwrap()
    };
    let (v2_id, v1_id) = (by_port(40000), by_port(40001));
    assert_eq!(rt.info(v2_id).proxy_destination.port, 5061);

    // The v2 connection's TLVs, by type.
    assert_eq!(
        rt.tlv(v2_id, ffi::SIPWIRE_PP2_TYPE_ALPN),
        Ok(b"h2".to_vec())
    );
    assert_eq!(
        rt.tlv(v2_id, ffi::SIPWIRE_PP2_TYPE_AUTHORITY),
        Ok(b"sip.example.com".to_vec())
    );
    assert_eq!(
        rt.tlv(v2_id, ffi::SIPWIRE_PP2_TYPE_UNIQUE_ID),
        Ok(b"\x00uid\xff".to_vec())
    );
    assert_eq!(rt.tlv(v2_id, ffi::SIPWIRE_PP2_TYPE_SSL), Ok(ssl.clone()));
    assert_eq!(
        rt.tlv(v2_id, ffi::SIPWIRE_PP2_TYPE_NETNS),
        Err(SIPWIRE_RESULT_EMPTY)
    );
    let mut s = ffi::sipwire_proxy_ssl {
        client: 0,
        client_tls: 0,
        verify: 0,
    };
    assert_eq!(
        ffi::sipwire_conn_proxy_ssl(rt.0, v2_id, &mut s),
        SIPWIRE_RESULT_OK
    );
    assert_eq!(
        s,
        ffi::sipwire_proxy_ssl {
            client: ffi::SIPWIRE_PP2_CLIENT_SSL | ffi::SIPWIRE_PP2_CLIENT_CERT_SESS,
            client_tls: 1,
            verify: 9,
        }
    );
    assert_eq!(
        rt.ssl_tlv(v2_id, ffi::SIPWIRE_PP2_SUBTYPE_SSL_VERSION),
        Ok(b"TLSv1.3".to_vec())
    );
    assert_eq!(
        rt.ssl_tlv(v2_id, ffi::SIPWIRE_PP2_SUBTYPE_SSL_CN),
        Err(SIPWIRE_RESULT_EMPTY)
    );

    // Asking the length, and a buffer too small: the first bytes and the full length.
    let mut n = 0;
    let r = ffi::sipwire_conn_proxy_tlv(
        rt.0,
        v2_id,
        ffi::SIPWIRE_PP2_TYPE_AUTHORITY,
        std::ptr::null_mut(),
        0,
        &mut n,
    );
    assert_eq!((r, n), (SIPWIRE_RESULT_INSUFFICIENT_SIZE, 15));
    let mut small = [0u8; 3];
    let r = ffi::sipwire_conn_proxy_tlv(
        rt.0,
        v2_id,
        ffi::SIPWIRE_PP2_TYPE_AUTHORITY,
        small.as_mut_ptr(),
        small.len(),
        &mut n,
    );
    assert_eq!(
        (r, n, &small),
        (SIPWIRE_RESULT_INSUFFICIENT_SIZE, 15, b"sip")
    );

    // A v1 header has addresses only.
    assert_eq!(
        rt.tlv(v1_id, ffi::SIPWIRE_PP2_TYPE_ALPN),
        Err(SIPWIRE_RESULT_EMPTY)
    );
    let mut untouched = ffi::sipwire_proxy_ssl {
        client: 0xAA,
        client_tls: 0xAA,
        verify: 0xAA,
    };
    assert_eq!(
        ffi::sipwire_conn_proxy_ssl(rt.0, v1_id, &mut untouched),
        SIPWIRE_RESULT_EMPTY
    );
    assert_eq!(untouched.verify, 0xAA, "no output unless OK");
    assert_eq!(
        rt.ssl_tlv(v1_id, ffi::SIPWIRE_PP2_SUBTYPE_SSL_VERSION),
        Err(SIPWIRE_RESULT_EMPTY)
    );

    // Argument checks.
    let mut buf = [0u8; 4];
    let null_rt = std::ptr::null::<ffi::sipwire_runtime>();
    assert_eq!(
        ffi::sipwire_conn_proxy_tlv(null_rt, v2_id, 1, buf.as_mut_ptr(), 4, &mut n),
        SIPWIRE_RESULT_NULL_PARAMETER
    );
    assert_eq!(
        ffi::sipwire_conn_proxy_tlv(rt.0, v2_id, 1, buf.as_mut_ptr(), 4, std::ptr::null_mut()),
        SIPWIRE_RESULT_NULL_PARAMETER
    );
    assert_eq!(
        ffi::sipwire_conn_proxy_tlv(rt.0, v2_id, 1, std::ptr::null_mut(), 4, &mut n),
        SIPWIRE_RESULT_NULL_PARAMETER
    );
    assert_eq!(
        ffi::sipwire_conn_proxy_ssl(rt.0, v2_id, std::ptr::null_mut()),
        SIPWIRE_RESULT_NULL_PARAMETER
    );
    assert_eq!(
        ffi::sipwire_conn_proxy_ssl(null_rt, v2_id, &mut s),
        SIPWIRE_RESULT_NULL_PARAMETER
    );
    assert_eq!(
        ffi::sipwire_conn_proxy_ssl_tlv(
            rt.0,
            v2_id,
            0x21,
            buf.as_mut_ptr(),
            4,
            std::ptr::null_mut()
        ),
        SIPWIRE_RESULT_NULL_PARAMETER
    );
    // 0 names the current message's connection: there is none outside on_message.
    assert_eq!(
        rt.tlv(0, ffi::SIPWIRE_PP2_TYPE_ALPN),
        Err(SIPWIRE_RESULT_INVALID_ARGUMENT)
    );
    assert_eq!(
        ffi::sipwire_conn_proxy_ssl(rt.0, 0, &mut s),
        SIPWIRE_RESULT_INVALID_ARGUMENT
    );
    // A connection that is not open.
    let gone = v2_id ^ (1 << 40);
    assert_eq!(
        rt.tlv(gone, ffi::SIPWIRE_PP2_TYPE_ALPN),
        Err(SIPWIRE_RESULT_NO_SUCH_CONNECTION)
    );
    drop(a);
    drop(b);
}
