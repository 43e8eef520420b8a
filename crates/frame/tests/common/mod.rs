//! Test helpers shared by the integration tests: a seeded PRNG and message builders.
#![allow(dead_code)]

use sipwire_frame::{DecoderConfig, Frame, FrameKind, ReadBuf, StreamDecoder};

/// xorshift64* — tiny, deterministic, good enough to pick test cases.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// A SIP message of exactly `total` bytes (`total` >= 64), CRLF line endings.
pub fn message_of_len(total: usize) -> Vec<u8> {
    let head = |cl: usize| {
        format!("MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9\r\nContent-Length: {cl}\r\n\r\n")
    };
    let mut cl = total.saturating_sub(head(0).len());
    while head(cl).len() + cl > total {
        cl -= 1;
    }
    let mut m = head(cl).into_bytes();
    m.resize(m.len() + cl, b'x');
    // Pad a header if the digit count left us short.
    while m.len() < total {
        m.insert(4, b'X'); // "MESSXAGE": still a token
    }
    assert_eq!(m.len(), total);
    m
}

/// A random but valid SIP message no longer than `max` bytes.
pub fn random_sip(rng: &mut Rng, max: usize) -> Vec<u8> {
    let methods = ["INVITE", "REGISTER", "OPTIONS", "BYE", "ACK", "MESSAGE"];
    let mut m = Vec::new();
    if rng.chance(30) {
        let codes = ["100 Trying", "180 Ringing", "200 OK", "486 Busy Here"];
        m.extend_from_slice(format!("SIP/2.0 {}\r\n", codes[rng.below(codes.len())]).as_bytes());
    } else {
        let meth = methods[rng.below(methods.len())];
        m.extend_from_slice(
            format!("{meth} sip:u{}@example.com SIP/2.0\r\n", rng.below(1000)).as_bytes(),
        );
    }
    let eol: &[u8] = if rng.chance(5) { b"\n" } else { b"\r\n" };
    for i in 0..rng.below(8) {
        if m.len() + 130 > max {
            break;
        }
        let name = ["Via", "v", "From", "To", "i", "CSeq", "X-Long", "Subject"][rng.below(8)];
        m.extend_from_slice(format!("{name}: value-{i}-{}", "a".repeat(rng.below(40))).as_bytes());
        if rng.chance(15) {
            m.extend_from_slice(b"\r\n\t folded-part");
        }
        m.extend_from_slice(eol);
    }
    let budget = max.saturating_sub(m.len() + 30).min(600);
    let body_len = rng.below(budget + 1);
    let cl_name = [
        "Content-Length",
        "content-length",
        "l",
        "CONTENT-LENGTH ",
        "L",
    ][rng.below(5)];
    let sep = if rng.chance(10) { ":\r\n " } else { ": " };
    m.extend_from_slice(format!("{cl_name}{sep}{body_len}").as_bytes());
    m.extend_from_slice(eol);
    m.extend_from_slice(eol);
    let pat = b"v=0\r\no=- 1 1 IN IP4 host\r\n";
    for i in 0..body_len {
        m.push(pat[i % pat.len()]);
    }
    m
}

/// A random valid chunked message (`Transfer-Encoding: chunked`, for `accept_no_cl`) no
/// longer than `max` (>= 200) bytes: chunk extensions, trailers and bare LF at times.
pub fn random_chunked(rng: &mut Rng, max: usize) -> Vec<u8> {
    let eol: &[u8] = if rng.chance(10) { b"\n" } else { b"\r\n" };
    let mut m = format!("PUT /xcap-root/u{}/index HTTP/1.1", rng.below(1000)).into_bytes();
    m.extend_from_slice(eol);
    let te = [
        "Transfer-Encoding: chunked",
        "transfer-encoding:CHUNKED",
        "Transfer-Encoding:  chunked ",
    ][rng.below(3)];
    m.extend_from_slice(te.as_bytes());
    m.extend_from_slice(eol);
    m.extend_from_slice(b"Host: xcap.example.com");
    m.extend_from_slice(eol);
    m.extend_from_slice(eol);
    let pat = b"<xml attr='1'>\r\n0\r\n</xml>";
    // Room for the last chunk, a trailer and the final line ending.
    while m.len() + 64 < max && rng.chance(75) {
        let room = max - m.len() - 64;
        let size = 1 + rng.below(room.min(300));
        let ext = if rng.chance(20) { ";n=v" } else { "" };
        let hex = if rng.chance(50) {
            format!("{size:x}")
        } else {
            format!("{size:X}")
        };
        m.extend_from_slice(format!("{hex}{ext}").as_bytes());
        m.extend_from_slice(eol);
        for i in 0..size {
            m.push(pat[i % pat.len()]);
        }
        m.extend_from_slice(eol);
    }
    m.push(b'0');
    m.extend_from_slice(eol);
    if rng.chance(30) {
        m.extend_from_slice(b"X-Sum: 1");
        m.extend_from_slice(eol);
    }
    m.extend_from_slice(eol);
    assert!(m.len() <= max);
    m
}

/// A decoder with a buffer of exactly `capacity` bytes (may be below the minimum).
pub fn decoder(cfg: DecoderConfig, capacity: usize) -> StreamDecoder {
    StreamDecoder::with_buffer(
        cfg,
        ReadBuf::from_boxed(vec![0u8; capacity].into_boxed_slice()),
    )
}

/// Copies `bytes` into the decoder as one read; returns how many fit.
pub fn push(dec: &mut StreamDecoder, bytes: &[u8]) -> usize {
    let spare = dec.spare_mut();
    let n = bytes.len().min(spare.len());
    spare[..n].copy_from_slice(&bytes[..n]);
    dec.advance(n);
    n
}

/// An owned copy of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub kind: FrameKind,
    pub bytes: Vec<u8>,
    pub chunks: u32,
}

impl From<Frame<'_>> for Owned {
    fn from(f: Frame<'_>) -> Self {
        Self {
            kind: f.kind,
            bytes: f.bytes.to_vec(),
            chunks: f.chunks,
        }
    }
}

/// Drains every available frame (panics on error).
pub fn drain(dec: &mut StreamDecoder) -> Vec<Owned> {
    let mut v = Vec::new();
    while let Some(f) = dec.next_frame().unwrap() {
        v.push(f.into());
    }
    v
}
