//! Garbage in, no panic out; non-SIP is told apart from malformed SIP.

use super::*;

fn ctx_run(bytes: &[u8]) -> Action {
    let listen = [sa(OURS)];
    let ctx = Context {
        source: sa("203.0.113.5:40000"),
        local: sa(OURS),
        listen: &listen,
        sctp_listen: &[],
        conid: 7,
        peer: sa("203.0.113.5:40000"),
        conns: &Table(vec![(7, sa("203.0.113.5:40000"))]),
    };
    relay(None).process(bytes, &ctx)
}

fn samples() -> Vec<Vec<u8>> {
    let route = INVITE.replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 0\r\nRoute: <sip:192.0.2.1;lr>, \"x\" <sip:proxy.example.com;lr>\r\nv: SIP/2.0/TCP [2001:db8::1]:5;rport;received=1.2.3.4\r\n",
    );
    let response = format!(
        "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch={}0123456789abcdef, SIP/2.0/TCP 203.0.113.5:5070;rport=9;received=10.0.0.1\r\nt: <sip:b@h>;tag=1\r\nl: 0\r\n\r\n",
        hash::BRANCH_PREFIX
    );
    // A genuine response too (valid MACs), so mutations hit the verifying code paths.
    let (_, fwd) = forwarded(&ctx_run(INVITE.as_bytes()));
    let genuine = fwd.replacen(
        "INVITE sip:bob@198.51.100.20:5080;transport=tcp SIP/2.0",
        "SIP/2.0 200 OK",
        1,
    );
    vec![
        INVITE.as_bytes().to_vec(),
        route.into_bytes(),
        response.into_bytes(),
        genuine.into_bytes(),
    ]
}

#[test]
fn truncations_never_panic() {
    for s in samples() {
        for n in 0..=s.len() {
            let _ = ctx_run(&s[..n]);
        }
    }
}

#[test]
fn byte_mutations_never_panic() {
    let specials = [
        b';', b',', b':', b'<', b'>', b'[', b']', b'"', b'\\', b'\r', b'\n', b' ', b'\t', b'=',
        b'@', b'?', 0, 0xff, b'0', b'9',
    ];
    for s in samples() {
        for i in 0..s.len() {
            for &b in &specials {
                let mut m = s.clone();
                m[i] = b;
                let _ = ctx_run(&m);
            }
            // Deletion of one byte.
            let mut m = s.clone();
            m.remove(i);
            let _ = ctx_run(&m);
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    // xorshift64: deterministic, no dependency.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let alphabet =
        b"SIP/2.0 INVITE sip:@;,<>[]\":\r\n\tVia: v: Route: Max-Forwards: 0123456789 z9hG4bK";
    for _ in 0..3000 {
        let len = (next() % 300) as usize;
        let m: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let _ = ctx_run(&m);
        let mut with_head =
            b"INVITE sip:a@1.2.3.4 SIP/2.0\r\nVia: SIP/2.0/TCP 1.2.3.4;branch=z9hG4bK1\r\n"
                .to_vec();
        with_head.extend_from_slice(&m);
        with_head.extend_from_slice(b"\r\n\r\n");
        let _ = ctx_run(&with_head);
    }
}

#[test]
fn forwarded_requests_parse_back() {
    for s in samples() {
        if let Action::Forward { bytes, .. } = ctx_run(&s) {
            let m = sipwire_frame::SipMessage::parse(&bytes).unwrap();
            assert!(m.top_via().unwrap().is_ok());
        }
    }
}

#[test]
fn not_sip_is_told_apart_from_malformed_sip() {
    for not_sip in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"SIP/2.0 2000 OK\r\n\r\n",
        b"INVITE sip:a SIP/3.0\r\n\r\n",
        b"no end of headers",
        b"",
    ] {
        assert_eq!(
            dropped(&ctx_run(not_sip)),
            DropReason::NotSip,
            "{not_sip:?}"
        );
    }
    let bad_header = INVITE.replace("X-Unknown:", "X Unknown");
    assert_eq!(
        dropped(&ctx_run(bad_header.as_bytes())),
        DropReason::ParseError
    );
}
