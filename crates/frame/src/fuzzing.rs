//! Fuzz entry points, one per `fuzz/fuzz_targets/*.rs`, also replayed by
//! `tests/fuzz_replay.rs` over the seed corpus and regressions. Each exercises
//! the public API and asserts invariants; any panic is a bug.

use crate::framer::{Finder, Scan, SipFramer};
use crate::framer_ref::RefFramer;
use crate::hep3::{self, Hep3Packet};
use crate::proxy::{parse_proxy, ProxyParse};
use crate::sip::{
    header_param, params, parse_sip_uri, split_name_addr, split_values, SipMessage, StartLine,
};
use crate::{DecoderConfig, FrameKind, ReadBuf, StreamDecoder};

/// Feeds `stream` in chunks of the given sizes (cycled; 0 is read as 1)
/// through a decoder of `capacity` bytes, collecting `(kind, bytes)` of every
/// frame until the input ends or an error. Checks the invariants on the way.
pub fn feed(
    cfg: DecoderConfig,
    capacity: usize,
    stream: &[u8],
    chunk_sizes: &[usize],
) -> (Vec<(FrameKind, Vec<u8>)>, Option<crate::FrameError>) {
    let mut dec = StreamDecoder::with_buffer(
        cfg,
        ReadBuf::from_boxed(vec![0u8; capacity.max(1)].into_boxed_slice()),
    );
    let mut out = Vec::new();
    let mut fed = 0usize;
    let mut consumed = 0usize;
    let mut i = 0usize;
    loop {
        // Drain.
        loop {
            match dec.next_frame() {
                Ok(Some(f)) => {
                    assert!(!f.bytes.is_empty(), "empty frame");
                    assert!(f.chunks >= 1, "frame without a read");
                    assert!(f.bytes.len() <= capacity, "frame larger than the buffer");
                    let at = consumed;
                    consumed += f.bytes.len();
                    assert!(consumed <= fed, "consumed more than fed");
                    assert_eq!(
                        stream.get(at..consumed),
                        Some(f.bytes),
                        "frame is not the input"
                    );
                    if let FrameKind::Sip { body_start } = f.kind {
                        assert!(body_start <= f.bytes.len());
                    }
                    if f.kind == FrameKind::Hep3 {
                        assert!(hep3::validate(f.bytes).is_ok());
                        let _ = Hep3Packet::parse(f.bytes);
                    }
                    out.push((f.kind, f.bytes.to_vec()));
                }
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(dec.next_frame().err(), Some(e), "errors are sticky");
                    let _ = e.to_string();
                    return (out, Some(e));
                }
            }
        }
        assert_eq!(dec.buffered(), fed - consumed);
        if fed >= stream.len() {
            return (out, None);
        }
        let want = chunk_sizes
            .get(i % chunk_sizes.len().max(1))
            .copied()
            .unwrap_or(usize::MAX)
            .max(1);
        i += 1;
        let spare = dec.spare_mut();
        if spare.is_empty() {
            // Full buffer without a frame or an error would be a stall.
            panic!("decoder stalled with a full buffer");
        }
        let n = want.min(spare.len()).min(stream.len() - fed);
        spare[..n].copy_from_slice(&stream[fed..fed + n]);
        dec.advance(n);
        fed += n;
        assert!(dec.pending_chunks() <= u32::try_from(i).unwrap_or(u32::MAX));
    }
}

/// `sip_framer` target: byte 0 picks the options and buffer size, the next
/// 8 bytes the chunk sizes; the rest is the stream. Also checks that whole
/// and chunked feeding agree.
pub fn sip_framer(data: &[u8]) {
    let Some((&opts, rest)) = data.split_first() else {
        return;
    };
    let sizes_raw = rest.get(..8.min(rest.len())).unwrap_or(&[]);
    let stream = rest.get(sizes_raw.len()..).unwrap_or(&[]);
    let sizes: Vec<usize> = sizes_raw.iter().map(|&b| usize::from(b) + 1).collect();
    let cfg = DecoderConfig {
        accept_no_cl: opts & 1 != 0,
        haproxy: opts & 2 != 0,
        hep3: opts & 4 != 0,
    };
    let capacity = if opts & 8 != 0 { 512 } else { 4096 };
    let whole = feed(cfg, capacity, stream, &[usize::MAX]);
    let chunked = feed(cfg, capacity, stream, &sizes);
    // Frames may differ only in keepalives: a ping split after its first
    // CRLF is two keepalives, and a trailing `\r\n` is delivered by a chunked
    // feed before a final lone `\r` arrives, while the whole feed waits on
    // `\r\n\r`. So: SIP/HEP3 frames equal, bytes equal up to trailing CR/LF.
    let cat = |v: &[(FrameKind, Vec<u8>)]| v.iter().flat_map(|f| f.1.clone()).collect::<Vec<u8>>();
    let sips = |v: &[(FrameKind, Vec<u8>)]| {
        v.iter()
            .filter(|f| matches!(f.0, FrameKind::Sip { .. } | FrameKind::Hep3))
            .cloned()
            .collect::<Vec<_>>()
    };
    if whole.1.is_none() && chunked.1.is_none() {
        let (a, b) = (cat(&whole.0), cat(&chunked.0));
        let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
        assert_eq!(long.get(..short.len()), Some(&short[..]));
        assert!(long
            .iter()
            .skip(short.len())
            .all(|&c| c == b'\r' || c == b'\n'));
        assert_eq!(sips(&whole.0), sips(&chunked.0));
    }
    for (kind, bytes) in &whole.0 {
        if let FrameKind::Sip { .. } = kind {
            sip_headers(bytes);
        }
    }
    for no_cl in [false, true] {
        framer_differential(stream, capacity, no_cl, &sizes);
        framer_differential(stream, capacity, no_cl, &[usize::MAX]);
    }
}

/// Differential check of the SIP framer: the packed-search framer, the same
/// framer with every line as a candidate, and the original line-by-line
/// framer (`framer_ref.rs`) must return the same result after every
/// read, errors included. `stream` is framed as back-to-back messages fed in
/// reads of `chunk_sizes` (cycled; 0 is read as 1), each message's data
/// limited to `capacity` bytes as in the read buffer.
pub fn framer_differential(
    stream: &[u8],
    capacity: usize,
    accept_no_cl: bool,
    chunk_sizes: &[usize],
) {
    let capacity = capacity.max(1);
    let lines = Finder::Lines;
    let mut msg = 0usize;
    let mut fed = 0usize;
    let mut i = 0usize;
    let mut packed = SipFramer::default();
    let mut plain = SipFramer::default();
    let mut reference = RefFramer::default();
    while fed < stream.len() {
        let want = chunk_sizes
            .get(i % chunk_sizes.len().max(1))
            .copied()
            .unwrap_or(usize::MAX)
            .max(1);
        i += 1;
        fed = fed
            .saturating_add(want)
            .min(stream.len())
            .min(msg + capacity);
        loop {
            let data = stream.get(msg..fed).unwrap_or(&[]);
            let a = packed.scan(data, capacity, accept_no_cl);
            let b = plain.scan_with(&lines, data, capacity, accept_no_cl);
            let r = reference.scan(data, capacity, accept_no_cl);
            assert_eq!(a, r, "packed framer vs reference at {msg}..{fed}");
            assert_eq!(b, r, "line framer vs reference at {msg}..{fed}");
            match r {
                Ok(Scan::Complete { len, .. }) => {
                    assert!(len > 0 && len <= data.len());
                    msg += len;
                    packed = SipFramer::default();
                    plain = SipFramer::default();
                    reference = RefFramer::default();
                    if msg >= fed {
                        break;
                    }
                }
                Ok(Scan::Incomplete { .. }) => break,
                Err(_) => return,
            }
        }
    }
}

/// `proxy` target: parse the input as a connection start, at every length
/// up to the input (a prefix of a valid header must wait, never fail).
pub fn proxy(data: &[u8]) {
    let full = parse_proxy(data, 4096);
    if let Ok(ProxyParse::Complete { len, .. }) = full {
        assert!(len <= data.len());
        for n in 0..len {
            let p = parse_proxy(data.get(..n).unwrap_or(&[]), 4096);
            assert!(
                matches!(p, Ok(ProxyParse::Incomplete { .. })),
                "prefix {n} of a valid header: {p:?}"
            );
        }
    }
    if let Err(e) = full {
        let _ = e.to_string();
    }
    let _ = feed(
        DecoderConfig {
            haproxy: true,
            ..DecoderConfig::default()
        },
        1024,
        data,
        &[7, 1, 13],
    );
}

/// `hep3` target: validate, decode, iterate chunks, and frame as a stream.
pub fn hep3(data: &[u8]) {
    if let Ok(p) = Hep3Packet::parse(data) {
        assert!(hep3::validate(data).is_ok());
        let mut covered = hep3::HEP3_HEADER_LEN;
        for c in p.chunks() {
            let c = c.unwrap_or_else(|e| panic!("validated packet has a bad chunk: {e}"));
            covered += c.data.len() + hep3::HEP3_HEADER_LEN;
        }
        assert_eq!(covered, data.len());
        let _ = (p.source(), p.destination());
    }
    for c in hep3::chunks(data).take(100_000) {
        if c.is_err() {
            break;
        }
    }
    let _ = feed(
        DecoderConfig {
            hep3: true,
            ..DecoderConfig::default()
        },
        65535,
        data,
        &[5, 64, 1],
    );
}

/// `sip_headers` target: start line, headers, compact lookups, value
/// splitting, Via parsing and the URIs of the Request-URI and of every
/// value of the address headers, checking every range points into the message.
pub fn sip_headers(data: &[u8]) {
    let Ok(m) = SipMessage::parse(data) else {
        return;
    };
    if let StartLine::Request { uri, .. } = m.start_line() {
        sip_uri(uri);
    }
    assert_eq!(data.get(m.body_range()), Some(m.body()));
    assert!(data.get(m.headers_range()).is_some());
    for h in m.headers() {
        assert_eq!(data.get(h.value_range.clone()), Some(h.value));
        assert!(data.get(h.line.clone()).is_some());
        let address = [
            crate::HeaderName::From,
            crate::HeaderName::To,
            crate::HeaderName::Contact,
            crate::HeaderName::Route,
            crate::HeaderName::RecordRoute,
        ]
        .iter()
        .any(|n| n.matches(h.name));
        for v in split_values(&h) {
            assert_eq!(data.get(v.range.clone()), Some(v.bytes));
            assert!(!v.bytes.is_empty());
            if address {
                name_addr(v.bytes);
            }
        }
    }
    for name in [
        crate::HeaderName::Via,
        crate::HeaderName::CallId,
        crate::HeaderName::ContentLength,
        crate::HeaderName::CSeq,
        crate::HeaderName::Contact,
    ] {
        let _ = m.header(name);
    }
    let _ = m.call_id();
    for v in m.vias().take(1000).flatten() {
        assert_eq!(data.get(v.range.clone()), Some(v.value));
        assert!(data.get(v.removal.clone()).is_some());
        assert!(v.removal.start <= v.range.start || v.removal.end >= v.range.end);
        assert!(data.get(v.sent_by_range.clone()).is_some());
        assert!(data.get(v.params_range.clone()).is_some());
        let _ = (v.host_ip(), v.params().count());
        param_section(data.get(v.params_range.clone()).unwrap_or(&[]));
    }
}

/// A name-addr / addr-spec value: its URI is a part of it, its parameter
/// range lies inside it, and the URI parses or fails without a panic.
fn name_addr(value: &[u8]) {
    let (uri, prange) = split_name_addr(value);
    assert!(uri.len() <= value.len());
    let section = value
        .get(prange)
        .unwrap_or_else(|| panic!("param range outside the value"));
    param_section(section);
    let _ = header_param(value, b"tag");
    sip_uri(uri);
}

fn sip_uri(uri: &[u8]) {
    if let Ok(u) = parse_sip_uri(uri) {
        assert!(!u.host.is_empty());
        assert!(u.params.is_empty() || u.params.starts_with(b";"));
        let _ = (u.host_ip(), u.has_param(b"lr"));
        param_section(u.params);
    }
}

fn param_section(section: &[u8]) {
    for p in params(section).take(1000) {
        assert!(!p.whole.is_empty());
        assert!(section.get(p.whole.clone()).is_some());
        assert!(p.name.start >= p.whole.start && p.name.end <= p.whole.end);
        if let Some(v) = p.value.clone() {
            assert!(v.start >= p.name.end && v.end <= p.whole.end);
        }
    }
}
