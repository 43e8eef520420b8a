#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Chunked bodies through the decoder (`tcp_accept_no_cl`): one read, byte by byte,
//! pipelined with SIP, across buffer compaction, at the capacity, and the errors.

mod common;

use common::*;
use sipwire_frame::sip::chunked_data;
use sipwire_frame::{DecoderConfig, FrameError, FrameKind};

const CAP: usize = 512;

fn no_cl() -> DecoderConfig {
    DecoderConfig {
        accept_no_cl: true,
        ..DecoderConfig::default()
    }
}

/// An XCAP PUT whose body `parts` is sent as chunks (with an extension on the first and a
/// trailer): the head, the whole message.
fn xcap(parts: &[&str]) -> (String, Vec<u8>) {
    let head = "PUT /xcap-root/pres-rules/users/sip:alice@example.com/index HTTP/1.1\r\n\
                Host: xcap.example.com\r\n\
                Content-Type: application/auth-policy+xml\r\n\
                Transfer-Encoding: chunked\r\n\r\n"
        .to_string();
    let mut m = head.clone();
    for (i, p) in parts.iter().enumerate() {
        let ext = if i == 0 { ";n=1" } else { "" };
        m.push_str(&format!("{:X}{ext}\r\n{p}\r\n", p.len()));
    }
    m.push_str("0\r\nX-Checksum: 7\r\n\r\n");
    (head, m.into_bytes())
}

/// Feeds `stream` in reads of at most `step` bytes (fewer when the buffer is fuller),
/// draining after each; returns the frames.
fn feed_all(d: &mut sipwire_frame::StreamDecoder, stream: &[u8], step: usize) -> Vec<Owned> {
    let mut frames = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = push(d, &rest[..step.min(rest.len())]);
        assert!(n > 0, "stalled with a full buffer");
        rest = &rest[n..];
        frames.extend(drain(d));
    }
    frames
}

fn joined(body: &[u8]) -> Vec<u8> {
    chunked_data(body).flatten().copied().collect()
}

#[test]
fn chunked_message_in_one_read() {
    let (head, m) = xcap(&["<cr:ruleset>", "</cr:ruleset>"]);
    let mut d = decoder(no_cl(), CAP);
    push(&mut d, &m);
    let f = d.next_frame().unwrap().unwrap();
    assert_eq!(f.bytes, &m[..], "delivered as it came");
    assert_eq!(
        f.kind,
        FrameKind::Sip {
            body_start: head.len()
        }
    );
    assert_eq!(f.body(), &m[head.len()..]);
    assert_eq!(joined(f.body()), b"<cr:ruleset></cr:ruleset>");
    let mut it = chunked_data(f.body());
    assert_eq!(it.by_ref().count(), 2);
    assert_eq!(it.rest(), b"X-Checksum: 7\r\n\r\n");
    assert!(d.next_frame().unwrap().is_none());
    assert_eq!(d.buffered(), 0);
}

#[test]
fn chunked_message_byte_at_a_time() {
    let (head, m) = xcap(&["abc", "defghijklmnop", "q"]);
    let mut d = decoder(no_cl(), CAP);
    let mut got = Vec::new();
    for (i, b) in m.iter().enumerate() {
        push(&mut d, std::slice::from_ref(b));
        let f = drain(&mut d);
        if i + 1 < m.len() {
            assert!(f.is_empty(), "complete early at byte {i}");
        }
        got.extend(f);
    }
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].bytes, m);
    assert_eq!(got[0].chunks as usize, m.len());
    assert_eq!(
        got[0].kind,
        FrameKind::Sip {
            body_start: head.len()
        }
    );
}

#[test]
fn pipelined_chunked_messages_then_sip() {
    let (_, a) = xcap(&["first"]);
    let (_, b) = xcap(&["second", "part"]);
    let sip = message_of_len(120);
    let mut stream = a.clone();
    stream.extend_from_slice(&b);
    stream.extend_from_slice(&sip);
    let expect = vec![a.clone(), b.clone(), sip.clone()];
    for step in [usize::MAX, 1, 2, 5, 17, 64, 100] {
        let mut d = decoder(no_cl(), CAP);
        let frames = feed_all(&mut d, &stream, step);
        let bytes: Vec<Vec<u8>> = frames.iter().map(|f| f.bytes.clone()).collect();
        assert_eq!(bytes, expect, "step {step}");
        let FrameKind::Sip { body_start } = frames[1].kind else {
            panic!("{:?}", frames[1].kind)
        };
        assert_eq!(joined(&frames[1].bytes[body_start..]), b"secondpart");
        assert!(matches!(frames[2].kind, FrameKind::Sip { body_start } if body_start < sip.len()));
        assert_eq!(d.buffered(), 0);
    }
}

#[test]
fn chunked_positions_survive_compaction() {
    // A SIP message fills most of the buffer; the chunked message that follows it
    // must be moved to the front while it is being framed.
    let sip = message_of_len(400);
    let (head, m) = xcap(&["0123456789", "abcdefghij", "ABCDEFGHIJ", "klmnopqrst"]);
    assert!(m.len() + 200 < CAP && sip.len() + m.len() > CAP);
    let mut stream = sip.clone();
    stream.extend_from_slice(&m);
    let mut d = decoder(no_cl(), CAP);
    let frames = feed_all(&mut d, &stream, 90);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].bytes, sip);
    assert_eq!(frames[1].bytes, m);
    assert_eq!(
        frames[1].kind,
        FrameKind::Sip {
            body_start: head.len()
        }
    );
}

#[test]
fn needed_bytes_inside_chunk_data() {
    let (head, m) = xcap(&[&"x".repeat(100)]);
    let mut d = decoder(no_cl(), CAP);
    let size_line = "64;n=1\r\n".len();
    push(&mut d, &m[..head.len() + size_line + 40]);
    assert!(d.next_frame().unwrap().is_none());
    // 60 data bytes and the CR after them, at least.
    assert_eq!(d.needed_bytes(), Some(61));
}

#[test]
fn capacity_edges() {
    // Grow the data until the message is exactly CAP bytes.
    let mut data = String::new();
    let m = loop {
        let (_, m) = xcap(&[&data]);
        if m.len() >= CAP {
            break m;
        }
        data.push('d');
    };
    assert_eq!(m.len(), CAP, "the size line width did not step over CAP");
    let mut d = decoder(no_cl(), CAP);
    push(&mut d, &m);
    assert_eq!(d.next_frame().unwrap().unwrap().bytes, &m[..]);
    // One over: the framing after the data no longer fits.
    let mut d = decoder(no_cl(), CAP - 1);
    assert_eq!(push(&mut d, &m), CAP - 1);
    assert_eq!(
        d.next_frame().unwrap_err(),
        FrameError::MessageTooLarge {
            size: CAP as u64,
            capacity: CAP - 1
        }
    );
    // A chunk whose data would end past the capacity: refused at its size line.
    let head = "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut d = decoder(no_cl(), CAP);
    push(&mut d, format!("{head}200\r\n").as_bytes());
    let end = head.len() + 5 + 0x200;
    assert_eq!(
        d.next_frame().unwrap_err(),
        FrameError::MessageTooLarge {
            size: end as u64,
            capacity: CAP
        }
    );
}

#[test]
fn errors_close_the_connection() {
    let cases: [(&str, DecoderConfig, FrameError); 6] = [
        (
            "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            DecoderConfig::default(),
            FrameError::TransferEncodingUnsupported,
        ),
        (
            "PUT /x HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            no_cl(),
            FrameError::ContentLengthWithTransferEncoding,
        ),
        (
            "PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            no_cl(),
            FrameError::UnsupportedTransferCoding,
        ),
        (
            "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            no_cl(),
            FrameError::InvalidChunkSize,
        ),
        (
            "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n",
            no_cl(),
            FrameError::ChunkSizeOverflow,
        ),
        (
            "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
            no_cl(),
            FrameError::ChunkDataNotTerminated,
        ),
    ];
    for (m, cfg, e) in cases {
        let mut d = decoder(cfg, CAP);
        push(&mut d, m.as_bytes());
        assert_eq!(d.next_frame().unwrap_err(), e, "{m:?}");
        assert_eq!(d.next_frame().unwrap_err(), e, "sticky");
        assert!(!e.to_string().is_empty());
    }
    // A size line over the limit, before its LF arrives.
    let mut d = decoder(no_cl(), 4096);
    push(
        &mut d,
        b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;",
    );
    assert!(d.next_frame().unwrap().is_none());
    push(&mut d, &[b'e'; 254]);
    assert!(d.next_frame().unwrap().is_none(), "256 bytes: at the limit");
    push(&mut d, b"e");
    assert_eq!(
        d.next_frame().unwrap_err(),
        FrameError::ChunkLineTooLong { limit: 256 }
    );
}

#[test]
fn without_transfer_encoding_the_body_is_empty() {
    let m = b"PUT /x HTTP/1.1\r\nHost: h\r\n\r\n5\r\nhello\r\n";
    let mut d = decoder(no_cl(), CAP);
    push(&mut d, m);
    let f = d.next_frame().unwrap().unwrap();
    assert_eq!(f.bytes.len(), m.len() - 10);
    assert!(f.body().is_empty());
}

#[test]
fn one_byte_at_a_time_is_linear() {
    let mut parts = Vec::new();
    for i in 0..300 {
        parts.push("p".repeat(1 + i % 9));
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let (_, m) = xcap(&refs);
    let mut d = decoder(no_cl(), 8192);
    let mut n = 0;
    for b in &m {
        push(&mut d, std::slice::from_ref(b));
        n += drain(&mut d).len();
    }
    assert_eq!(n, 1);
    assert!(
        d.scan_work() <= 2 * m.len() as u64,
        "work {} for {}",
        d.scan_work(),
        m.len()
    );
}

#[test]
fn chunked_data_stops_at_a_bad_line() {
    assert_eq!(joined(b"3\r\nabc\r\nzz\r\nmore"), b"abc");
    assert_eq!(joined(b"3\r\nab"), b"");
    assert_eq!(joined(b"3\nabc\n2;x\nde\n0\n\n"), b"abcde");
    let mut it = chunked_data(b"3\r\nabcX");
    assert_eq!(it.next(), None);
    assert_eq!(it.rest(), b"3\r\nabcX");
}
