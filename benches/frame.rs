//! Framer throughput against the `memchr::memmem` baseline.
//!
//! The same byte stream (INVITE with SDP, small requests, responses) is
//! framed in each case. Baseline: `memmem` finding every `\r\n\r\n` in the
//! stream, i.e. the least any CRLFCRLF-based framer must do. Decoder cases
//! include copying the bytes into the read buffer (what `read(2)` does) and
//! the Content-Length handling.
#![forbid(unsafe_code)]
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sipwire_frame::{DecoderConfig, FrameKind, ReadBuf, StreamDecoder};
use std::time::Duration;

const SDP: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=call\r\n\
c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 97 101\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtpmap:97 iLBC/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n";

fn invite(i: usize) -> String {
    format!(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9{i};rport\r\n\
Via: SIP/2.0/TCP proxy1.example.net:5060;branch=z9hG4bKa3c{i};received=192.0.2.44\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=9fxced76sl{i}\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
Call-ID: 3848276298220188511-{i}@atlanta.example.com\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@client.atlanta.example.com;transport=tcp>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO\r\n\
Supported: replaces, timer, 100rel\r\n\
User-Agent: sipwire-bench/1.0\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
}

fn small_request(i: usize) -> String {
    format!(
        "OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass{i}\r\n\
Max-Forwards: 70\r\n\
To: <sip:carol@chicago.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710-{i}\r\n\
CSeq: 63104 OPTIONS\r\n\
Accept: application/sdp\r\n\
Content-Length: 0\r\n\r\n"
    )
}

fn response(code: &str, i: usize) -> String {
    format!(
        "SIP/2.0 {code}\r\n\
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9{i};received=192.0.2.101\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n\
Call-ID: 3848276298220188511-{i}@atlanta.example.com\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// About 256 KiB of mixed traffic; returns the stream and its message count.
fn stream() -> (Vec<u8>, usize) {
    let mut s = String::new();
    let mut n = 0;
    let mut i = 0;
    while s.len() < 256 * 1024 {
        s.push_str(&invite(i));
        s.push_str(&response("100 Trying", i));
        s.push_str(&response("180 Ringing", i));
        s.push_str(&small_request(i));
        s.push_str(&response("200 OK", i));
        n += 5;
        i += 1;
    }
    (s.into_bytes(), n)
}

/// Feeds `stream` in reads of `chunk` bytes; returns the number of SIP frames.
fn frame_stream(dec: &mut StreamDecoder, stream: &[u8], chunk: usize) -> usize {
    let mut fed = 0;
    let mut frames = 0;
    while fed < stream.len() {
        let spare = dec.spare_mut();
        let n = chunk.min(spare.len()).min(stream.len() - fed);
        spare[..n].copy_from_slice(&stream[fed..fed + n]);
        dec.advance(n);
        fed += n;
        while let Ok(Some(f)) = dec.next_frame() {
            if let FrameKind::Sip { .. } = f.kind {
                frames += 1;
            }
            black_box(f.bytes);
        }
    }
    frames
}

fn bench(c: &mut Criterion) {
    let (s, count) = stream();
    let mut g = c.benchmark_group("frame");
    g.throughput(Throughput::Bytes(s.len() as u64));
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));

    let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
    assert_eq!(finder.find_iter(&s).count(), count);
    g.bench_function("baseline_memmem_crlfcrlf", |b| {
        b.iter(|| finder.find_iter(black_box(&s)).count())
    });

    // Reference, not the target: stopping at every LF with memchr's iterator,
    // the floor of a framer that looks at every line start (the framer
    // before the candidate search; see docs/perf-frame.md).
    g.bench_function("reference_memchr_every_lf", |b| {
        b.iter(|| {
            let mut x = 0usize;
            for p in memchr::memchr_iter(b'\n', black_box(&s)) {
                x = x.wrapping_add(p);
            }
            x
        })
    });

    let cases: [(&str, usize, usize); 3] = [
        (
            "decoder_whole_stream",
            s.len().next_power_of_two(),
            usize::MAX,
        ),
        ("decoder_1460B_reads_64KiB_buf", 64 * 1024, 1460),
        ("decoder_1460B_reads_4KiB_buf", 4096, 1460),
    ];
    for (name, cap, chunk) in cases {
        let mut dec = StreamDecoder::with_buffer(
            DecoderConfig::default(),
            ReadBuf::new(cap).unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(frame_stream(&mut dec, &s, chunk), count, "{name}");
        g.bench_function(name, |b| {
            b.iter(|| frame_stream(&mut dec, black_box(&s), chunk))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
