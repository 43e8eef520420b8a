#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Decoder rules at their exact boundaries.

mod common;

use common::*;
use sipwire_frame::proxy::encode_v2;
use sipwire_frame::{
    hep3, BufPool, DecoderConfig, FrameError, FrameKind, ProxyAddresses, ProxyError, ReadBuf,
    StreamDecoder,
};

const CAP: usize = 512;

fn cfg() -> DecoderConfig {
    DecoderConfig::default()
}

fn kinds(v: &[Owned]) -> Vec<FrameKind> {
    v.iter().map(|f| f.kind).collect()
}

#[test]
fn message_size_boundaries() {
    for (len, ok) in [(CAP - 1, true), (CAP, true), (CAP + 1, false)] {
        let m = message_of_len(len);
        let mut d = decoder(cfg(), CAP);
        let n = push(&mut d, &m);
        let r = d.next_frame();
        if ok {
            let f = r.unwrap().unwrap();
            assert_eq!((f.bytes.len(), f.chunks), (len, 1));
        } else {
            // The header end is in the first 512 bytes: the size is known at once.
            assert_eq!(n, CAP);
            assert_eq!(
                r.unwrap_err(),
                FrameError::MessageTooLarge {
                    size: 513,
                    capacity: 512
                }
            );
            assert_eq!(
                d.next_frame().unwrap_err().to_string(),
                "message of 513 bytes exceeds the read buffer capacity 512 (tcp_rd_buf_size)"
            );
        }
    }
}

#[test]
fn headers_without_end_at_capacity() {
    let mut h = b"OPTIONS sip:a SIP/2.0\r\n".to_vec();
    while h.len() < CAP {
        h.extend_from_slice(b"X-Pad: yyyyyyyyyyyyyyyyyyyyyyyy\r\n");
    }
    let mut d = decoder(cfg(), CAP);
    push(&mut d, &h[..CAP - 1]);
    assert!(d.next_frame().unwrap().is_none());
    push(&mut d, &h[CAP - 1..CAP]);
    assert_eq!(
        d.next_frame().unwrap_err(),
        FrameError::HeadersTooLarge { capacity: CAP }
    );
}

#[test]
fn full_size_message_after_compaction() {
    let small = message_of_len(100);
    let big = message_of_len(CAP);
    let mut stream = small.clone();
    stream.extend_from_slice(&big);
    let mut d = decoder(cfg(), CAP);
    let n = push(&mut d, &stream);
    assert_eq!(n, CAP);
    let f = drain(&mut d);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].bytes, small);
    assert_eq!(d.pending_chunks(), 1);
    assert_eq!(d.needed_bytes(), Some(100));
    // The tail is empty: spare_mut moves the 412 partial bytes to the front.
    assert_eq!(d.spare_mut().len(), 100);
    push(&mut d, &stream[n..]);
    let f = drain(&mut d);
    assert_eq!((f[0].bytes.clone(), f[0].chunks), (big, 2));
    assert!(!d.has_partial());
}

#[test]
fn no_compaction_while_tail_is_large() {
    let m = message_of_len(100);
    let mut d = decoder(cfg(), 4096);
    push(&mut d, &m);
    push(&mut d, &m[..50]); // partial second message
    assert_eq!(drain(&mut d).len(), 1);
    // 150 bytes used, 50 partial: tail of 3946 >= min read (1024), no move.
    assert_eq!(d.spare_mut().len(), 4096 - 150);
    push(&mut d, &m[50..]);
    assert_eq!(drain(&mut d).len(), 1);
    // Buffer empty again: positions reset to zero.
    assert_eq!(d.spare_mut().len(), 4096);
}

#[test]
fn crlf_keepalive_edges() {
    let case = |input: &[u8]| {
        let mut d = decoder(cfg(), CAP);
        push(&mut d, input);
        (kinds(&drain(&mut d)), d.buffered())
    };
    use FrameKind::*;
    assert_eq!(case(b"\r\n"), (vec![Keepalive], 0));
    assert_eq!(case(b"\r\n\r\n"), (vec![Ping], 0));
    assert_eq!(case(b"\r\n\r"), (vec![], 3));
    assert_eq!(case(b"\r"), (vec![], 1));
    assert_eq!(case(b"\r\n\r\n\r\n"), (vec![Ping, Keepalive], 0));
    assert_eq!(case(b"\r\n\r\n\r\n\r\n"), (vec![Ping, Ping], 0));
    assert_eq!(case(b"\n"), (vec![Keepalive], 0));
    assert_eq!(case(b"\r\n\n"), (vec![Keepalive, Keepalive], 0));
    let mut msg = b"\r\n".to_vec();
    msg.extend_from_slice(&message_of_len(80));
    let (k, rest) = case(&msg);
    assert_eq!((k.len(), k[0], rest), (2, Keepalive, 0));
    assert!(matches!(k[1], Sip { .. }));
    // "\r\n\r" then "\n": one ping.
    let mut d = decoder(cfg(), CAP);
    push(&mut d, b"\r\n\r");
    assert!(d.next_frame().unwrap().is_none());
    push(&mut d, b"\n");
    let f = drain(&mut d);
    assert_eq!((f[0].kind, f[0].chunks), (Ping, 2));
    // A ping split after its first CRLF is two keepalives (documented).
    let mut d = decoder(cfg(), CAP);
    push(&mut d, b"\r\n");
    let mut k = kinds(&drain(&mut d));
    push(&mut d, b"\r\n");
    k.extend(kinds(&drain(&mut d)));
    assert_eq!(k, vec![Keepalive, Keepalive]);
}

#[test]
fn held_lone_crlf_waits_for_what_follows() {
    use FrameKind::*;
    let held = || {
        let mut d = decoder(cfg(), CAP);
        d.set_hold_lone_crlf(true);
        d
    };
    // Alone, it waits: a read of a message in progress.
    let mut d = held();
    push(&mut d, b"\r\n");
    assert!(d.next_frame().unwrap().is_none());
    assert!(d.holds_lone_crlf());
    assert_eq!((d.buffered(), d.pending_chunks()), (2, 1));
    // A CRLF split off by TCP completes the ping.
    push(&mut d, b"\r\n");
    let f = drain(&mut d);
    assert_eq!((kinds(&f), f[0].chunks), (vec![Ping], 2));
    assert!(!d.holds_lone_crlf());
    assert_eq!(d.pending_chunks(), 0);
    // Anything else: the held CRLF is the empty line before it, in its chunks, not a frame.
    let m = message_of_len(80);
    let mut d = held();
    push(&mut d, b"\r\n");
    assert!(d.next_frame().unwrap().is_none());
    push(&mut d, &m);
    let f = drain(&mut d);
    assert_eq!(f.len(), 1);
    assert!(matches!(f[0].kind, Sip { .. }));
    assert_eq!((f[0].bytes.as_slice(), f[0].chunks), (&m[..], 2));
    // Within one read, CRLFs before a message and after a ping are as without holding.
    let mut d = held();
    let mut both = b"\r\n".to_vec();
    both.extend_from_slice(&m);
    push(&mut d, &both);
    assert_eq!(kinds(&drain(&mut d))[0], Keepalive);
    push(&mut d, b"\r\n\r\n\r\n");
    assert_eq!(kinds(&drain(&mut d)), vec![Ping]);
    assert!(d.holds_lone_crlf(), "the CRLF after the ping is held");
    // `\r\n\r` waits as ever (not a lone CRLF); `\n` then completes the ping.
    let mut d = held();
    push(&mut d, b"\r\n\r");
    assert!(d.next_frame().unwrap().is_none());
    assert!(!d.holds_lone_crlf());
    push(&mut d, b"\n");
    assert_eq!(kinds(&drain(&mut d)), vec![Ping]);
    // Off again (tcp_crlf_drop at runtime): the next lone CRLF is a keepalive at once.
    d.set_hold_lone_crlf(false);
    push(&mut d, b"\r\n");
    assert_eq!(kinds(&drain(&mut d)), vec![Keepalive]);
}

#[test]
fn chunk_counts() {
    let a = message_of_len(120);
    let b = message_of_len(130);
    let mut d = decoder(cfg(), 4096);
    // a in three reads.
    push(&mut d, &a[..10]);
    assert!(d.next_frame().unwrap().is_none());
    assert_eq!(d.pending_chunks(), 1);
    push(&mut d, &a[10..60]);
    assert!(d.next_frame().unwrap().is_none());
    assert_eq!(d.pending_chunks(), 2);
    let mut tail = a[60..].to_vec();
    tail.extend_from_slice(&b[..5]);
    push(&mut d, &tail);
    let f = drain(&mut d);
    assert_eq!(f[0].chunks, 3);
    // b started in that read.
    assert_eq!(d.pending_chunks(), 1);
    push(&mut d, &b[5..]);
    assert_eq!(drain(&mut d)[0].chunks, 2);
    assert_eq!(d.pending_chunks(), 0);
    // Two messages in one read: one chunk each.
    let mut both = a.clone();
    both.extend_from_slice(&b);
    push(&mut d, &both);
    let f = drain(&mut d);
    assert_eq!((f.len(), f[0].chunks, f[1].chunks), (2, 1, 1));
    // A read ending exactly at a message end.
    push(&mut d, &a);
    push(&mut d, &b);
    let f = drain(&mut d);
    assert_eq!((f[0].chunks, f[1].chunks), (1, 1));
    // Zero-byte advance is not a read.
    d.advance(0);
    assert_eq!(d.pending_chunks(), 0);
}

#[test]
fn buffer_handoff() {
    let pool = BufPool::new(CAP, 4).unwrap();
    let mut d = StreamDecoder::new(cfg());
    assert!(d.spare_mut().is_empty());
    assert!(d.next_frame().unwrap().is_none());
    d.put_buffer(pool.get()).unwrap();
    let second = d.put_buffer(pool.get()).unwrap_err();
    pool.put(second);
    let m = message_of_len(100);
    push(&mut d, &m[..40]);
    assert!(d.has_partial());
    assert!(
        d.take_buffer().is_none(),
        "partial message keeps the buffer"
    );
    push(&mut d, &m[40..]);
    assert_eq!(drain(&mut d).len(), 1);
    // The frame's bytes are released by the next call; take_buffer does that.
    let b = d.take_buffer().unwrap();
    assert!(b.is_empty());
    pool.put(b);
    assert_eq!(pool.stats().free, 2);
    assert!(!d.has_buffer());
    d.put_buffer(pool.get()).unwrap();
    push(&mut d, &m);
    assert_eq!(drain(&mut d).len(), 1);
    assert!(d.into_buffer().is_some());
}

#[test]
fn proxy_header_first() {
    let c = DecoderConfig {
        haproxy: true,
        ..cfg()
    };
    let mut s = b"PROXY TCP4 192.0.2.1 192.0.2.2 40000 5060\r\n".to_vec();
    let m = message_of_len(90);
    s.extend_from_slice(&m);
    let mut d = decoder(c, CAP);
    push(&mut d, &s);
    let f = drain(&mut d);
    assert!(matches!(
        f[0].kind,
        FrameKind::Proxy(h) if matches!(h.addresses, ProxyAddresses::Proxied { source, .. } if source.port() == 40000)
    ));
    assert_eq!(f[1].bytes, m);
    // Only once: a second PROXY line is a SIP message (without CL -> error).
    let mut d = decoder(c, CAP);
    let v2 = encode_v2("[::1]:1".parse().unwrap(), "[::1]:2".parse().unwrap(), b"");
    push(&mut d, &v2);
    assert!(matches!(drain(&mut d)[0].kind, FrameKind::Proxy(_)));
    push(&mut d, b"PROXY UNKNOWN\r\n\r\n");
    assert_eq!(
        d.next_frame().unwrap_err(),
        FrameError::MissingContentLength
    );
    // Anything else first is an error at once.
    for bad in [&b"OPTIONS"[..], b"\r\n\r\nX", b"P\r"] {
        let mut d = decoder(c, CAP);
        push(&mut d, bad);
        assert_eq!(
            d.next_frame().unwrap_err(),
            FrameError::Proxy(ProxyError::BadSignature),
            "{bad:?}"
        );
    }
    // A CRLF alone could still be a v2 signature: wait.
    let mut d = decoder(c, CAP);
    push(&mut d, b"\r\n");
    assert!(d.next_frame().unwrap().is_none());
    // v2 length past the end of the buffer.
    let mut d = decoder(c, CAP);
    let mut big = sipwire_frame::proxy::V2_SIGNATURE.to_vec();
    big.extend_from_slice(&[0x21, 0x11, 0x01, 0xf1]); // 16 + 497 = 513
    push(&mut d, &big);
    assert_eq!(
        d.next_frame().unwrap_err(),
        FrameError::Proxy(ProxyError::TooLarge {
            size: 513,
            capacity: 512
        })
    );
}

#[test]
fn hep3_and_sip_mix() {
    let c = DecoderConfig {
        hep3: true,
        ..cfg()
    };
    let pkt = hep3::sample(b"INVITE sip:x SIP/2.0\r\n\r\n");
    let m = message_of_len(100);
    let mut s = pkt.clone();
    s.extend_from_slice(&m);
    s.extend_from_slice(b"\r\n\r\n");
    s.extend_from_slice(&pkt);
    let mut d = decoder(c, 4096);
    push(&mut d, &s);
    let f = drain(&mut d);
    assert_eq!(kinds(&f)[0], FrameKind::Hep3);
    assert_eq!(f[0].bytes, pkt);
    assert!(matches!(f[1].kind, FrameKind::Sip { .. }));
    assert_eq!((f[2].kind, f[3].kind), (FrameKind::Ping, FrameKind::Hep3));
    let p = sipwire_frame::Hep3Packet::parse(&f[3].bytes).unwrap();
    assert_eq!(p.src_port, Some(5060));
    // A prefix of the magic waits for the 4th byte.
    let mut d = decoder(c, 4096);
    push(&mut d, b"HEP");
    assert!(d.next_frame().unwrap().is_none());
    push(&mut d, b"3\x00");
    assert!(d.next_frame().unwrap().is_none());
    push(&mut d, b"\x05");
    assert!(matches!(d.next_frame(), Err(FrameError::Hep3(_))));
    // Broken chunk: error once the packet is complete, never a stall.
    let mut bad = hep3::sample(b"x");
    bad[11] = 2;
    let mut d = decoder(c, 4096);
    push(&mut d, &bad);
    assert!(matches!(d.next_frame(), Err(FrameError::Hep3(_))));
    // With hep3 off, HEP3 bytes are just a (broken) SIP message.
    let mut d = decoder(cfg(), 4096);
    push(&mut d, &pkt);
    assert!(!matches!(d.next_frame(), Ok(Some(_))));
    // With hep3 on, "HELLO" is SIP.
    let mut d = decoder(c, 4096);
    push(&mut d, b"HELLO sip:a SIP/2.0\r\nl: 0\r\n\r\n");
    assert!(matches!(drain(&mut d)[0].kind, FrameKind::Sip { .. }));
}

#[test]
fn accept_no_cl() {
    let c = DecoderConfig {
        accept_no_cl: true,
        ..cfg()
    };
    let mut d = decoder(c, CAP);
    push(
        &mut d,
        b"GET /xcap HTTP/1.1\r\nHost: h\r\n\r\nOPTIONS sip:a SIP/2.0\r\n\r\n",
    );
    let f = drain(&mut d);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].kind, FrameKind::Sip { body_start: 31 });
    let mut d = decoder(cfg(), CAP);
    push(&mut d, b"OPTIONS sip:a SIP/2.0\r\n\r\n");
    let e = d.next_frame().unwrap_err();
    assert!(e.to_string().contains("tcp_accept_no_cl"), "{e}");
    // Sticky.
    assert_eq!(d.next_frame().unwrap_err(), e);
}

#[test]
fn one_byte_at_a_time_is_linear() {
    let m = message_of_len(8000);
    let mut d = decoder(cfg(), 16384);
    let mut frames = 0;
    for b in &m {
        push(&mut d, std::slice::from_ref(b));
        frames += drain(&mut d).len();
    }
    assert_eq!(frames, 1);
    assert!(
        d.scan_work() <= 2 * m.len() as u64,
        "scanned {}",
        d.scan_work()
    );
}

#[test]
fn read_buf_default_is_documented_value() {
    assert_eq!(sipwire_frame::DEFAULT_RD_BUF_SIZE, 4096);
    assert_eq!(ReadBuf::new(4096).unwrap().capacity(), 4096);
}

/// A source that returns its scripted results one per `read`.
struct Script(std::collections::VecDeque<std::io::Result<Vec<u8>>>);

impl std::io::Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.pop_front() {
            None => Ok(0),
            Some(Err(e)) => Err(e),
            Some(Ok(bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                Ok(n)
            }
        }
    }
}

#[test]
fn fill_from_reads_retries_eintr_and_reports_each_outcome() {
    use sipwire_frame::Fill;
    use std::io::{Error, ErrorKind};
    let m = message_of_len(200);
    let (a, b) = m.split_at(50);
    let mut src = Script(
        [
            Ok(a.to_vec()),
            Err(Error::from(ErrorKind::Interrupted)),
            Ok(b.to_vec()),
            Err(Error::from(ErrorKind::WouldBlock)),
            Err(Error::from(ErrorKind::ConnectionReset)),
        ]
        .into(),
    );
    let mut d = decoder(cfg(), CAP);
    assert_eq!(d.fill_from(&mut src).unwrap(), Fill::Data(50));
    assert!(d.next_frame().unwrap().is_none());
    // The EINTR is retried inside the call.
    assert_eq!(d.fill_from(&mut src).unwrap(), Fill::Data(150));
    assert_eq!(d.next_frame().unwrap().unwrap().bytes, &m[..]);
    assert_eq!(d.fill_from(&mut src).unwrap(), Fill::WouldBlock);
    assert_eq!(
        d.fill_from(&mut src).unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
    assert_eq!(d.fill_from(&mut src).unwrap(), Fill::Eof);
    // Without a buffer there is nowhere to read to.
    let mut bare = StreamDecoder::new(cfg());
    assert_eq!(bare.fill_from(&mut src).unwrap(), Fill::Full);
}
