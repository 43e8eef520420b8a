#![allow(clippy::unwrap_used, clippy::expect_used)]
//! PROXY v2 TLVs through the stream decoder: the `Proxy` frame's bytes are exactly the
//! header, so `ProxyHeader::tlvs(frame.bytes)` views its TLVs, whatever the reads were.

mod common;

use common::*;
use sipwire_frame::proxy::{encode_tlv, encode_v2, pp2};
use sipwire_frame::{DecoderConfig, FrameKind, ProxyAddresses, ProxyTlvArea};

fn haproxy() -> DecoderConfig {
    DecoderConfig {
        haproxy: true,
        ..DecoderConfig::default()
    }
}

fn tlvs() -> Vec<u8> {
    let mut ssl = vec![pp2::CLIENT_SSL, 0, 0, 0, 0];
    ssl.extend_from_slice(&encode_tlv(pp2::SUBTYPE_SSL_VERSION, b"TLSv1.2"));
    let mut t = encode_tlv(pp2::TYPE_ALPN, b"sip");
    t.extend_from_slice(&encode_tlv(pp2::TYPE_AUTHORITY, b"sip.example.com"));
    t.extend_from_slice(&encode_tlv(pp2::TYPE_UNIQUE_ID, b"\x00id\xff"));
    t.extend_from_slice(&encode_tlv(pp2::TYPE_SSL, &ssl));
    t
}

#[test]
fn decoded_proxy_frame_views_its_tlvs_in_any_split() {
    let header = encode_v2(
        "[2001:db8::7]:40000".parse().unwrap(),
        "[2001:db8::1]:5061".parse().unwrap(),
        &tlvs(),
    );
    let m = message_of_len(120);
    let mut stream = header.clone();
    stream.extend_from_slice(&m);
    for split in [
        1,
        16,
        17,
        52,
        header.len() - 1,
        header.len(),
        header.len() + 5,
    ] {
        let mut d = decoder(haproxy(), 512);
        push(&mut d, &stream[..split]);
        let mut frames = drain(&mut d);
        push(&mut d, &stream[split..]);
        frames.extend(drain(&mut d));
        assert_eq!(frames.len(), 2, "split {split}");
        let FrameKind::Proxy(h) = frames[0].kind else {
            panic!("split {split}: {:?}", frames[0].kind)
        };
        assert_eq!(frames[0].bytes, header);
        assert!(matches!(h.addresses, ProxyAddresses::Proxied { .. }));
        let t = h.tlvs(&frames[0].bytes);
        assert_eq!(t.as_bytes(), &tlvs()[..]);
        assert_eq!(t.alpn(), Some(&b"sip"[..]));
        assert_eq!(t.authority(), Some(&b"sip.example.com"[..]));
        assert_eq!(t.unique_id(), Some(&b"\x00id\xff"[..]));
        let ssl = t.ssl().unwrap();
        assert!(ssl.client_tls());
        assert_eq!((ssl.verify, ssl.version()), (0, Some(&b"TLSv1.2"[..])));
        assert_eq!(frames[1].bytes, m);
    }
}

#[test]
fn malformed_tlvs_do_not_stop_the_stream() {
    let mut bad = tlvs();
    bad.push(pp2::TYPE_NOOP); // 1 byte: no room for a TLV header
    let header = encode_v2(
        "192.0.2.9:1".parse().unwrap(),
        "192.0.2.1:5060".parse().unwrap(),
        &bad,
    );
    let m = message_of_len(100);
    let mut stream = header.clone();
    stream.extend_from_slice(&m);
    let mut d = decoder(haproxy(), 512);
    push(&mut d, &stream);
    let frames = drain(&mut d);
    let FrameKind::Proxy(h) = frames[0].kind else {
        panic!("{:?}", frames[0].kind)
    };
    assert_eq!(frames[0].bytes, header);
    assert_eq!(h.tlvs, ProxyTlvArea::Malformed);
    assert!(h.tlvs(&frames[0].bytes).is_empty());
    assert_eq!(frames[1].bytes, m);
}
