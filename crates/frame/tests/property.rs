#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Property: any sequence of valid frames, cut into random read sizes, yields
//! the same frames (kind and bytes) as feeding it in the largest reads, and
//! every frame's chunk count equals the number of reads that carried it.
//! With `accept_no_cl`, some SIP frames are chunked HTTP/1.1 messages.

mod common;

use common::*;
use sipwire_frame::proxy::encode_v2;
use sipwire_frame::{hep3, DecoderConfig, FrameKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Sip,
    Ping,
    Keepalive,
    Hep3,
    Proxy,
}

fn tag(k: FrameKind) -> Tag {
    match k {
        FrameKind::Sip { .. } => Tag::Sip,
        FrameKind::Ping => Tag::Ping,
        FrameKind::Keepalive => Tag::Keepalive,
        FrameKind::Hep3 => Tag::Hep3,
        FrameKind::Proxy(_) => Tag::Proxy,
    }
}

struct Case {
    cfg: DecoderConfig,
    capacity: usize,
    items: Vec<(Tag, Vec<u8>)>,
}

fn gen_case(rng: &mut Rng, hep_only: bool) -> Case {
    let capacity = [512, 1024, 4096, 65536][rng.below(4)];
    let cfg = DecoderConfig {
        accept_no_cl: rng.chance(30),
        haproxy: rng.chance(30),
        hep3: hep_only || rng.chance(30),
    };
    let mut items = Vec::new();
    if cfg.haproxy {
        let p = match rng.below(3) {
            0 => format!(
                "PROXY TCP4 10.0.{}.{} 192.0.2.7 {} 5060\r\n",
                rng.below(256),
                rng.below(256),
                rng.below(65536)
            )
            .into_bytes(),
            1 => b"PROXY UNKNOWN ignored stuff\r\n".to_vec(),
            _ => encode_v2(
                "[2001:db8::9]:4000".parse().unwrap(),
                "[2001:db8::1]:5060".parse().unwrap(),
                &vec![0xAA; rng.below(40)],
            ),
        };
        items.push((Tag::Proxy, p));
    }
    let n = 1 + rng.below(30);
    let mut after_keepalive = false;
    for _ in 0..n {
        let r = rng.below(100);
        let t = if hep_only {
            Tag::Hep3
        } else if r < 60 || (after_keepalive && !cfg.hep3) {
            Tag::Sip
        } else if r < 75 && !after_keepalive {
            Tag::Ping
        } else if r < 85 && !after_keepalive {
            Tag::Keepalive
        } else if cfg.hep3 {
            Tag::Hep3
        } else {
            Tag::Sip
        };
        after_keepalive = t == Tag::Keepalive;
        let bytes = match t {
            Tag::Sip if cfg.accept_no_cl && rng.chance(40) => random_chunked(rng, capacity),
            Tag::Sip => random_sip(rng, capacity),
            Tag::Ping => b"\r\n\r\n".to_vec(),
            Tag::Keepalive => b"\r\n".to_vec(),
            Tag::Hep3 => {
                let payload = random_sip(rng, capacity.min(2000) - 200);
                hep3::sample(&payload)
            }
            Tag::Proxy => unreachable!(),
        };
        assert!(bytes.len() <= capacity);
        items.push((t, bytes));
    }
    Case {
        cfg,
        capacity,
        items,
    }
}

/// Feeds the case with reads of the sizes `size()` picks; returns the frames
/// and the read intervals actually used.
fn run(
    case: &Case,
    stream: &[u8],
    forbidden: &[usize],
    mut size: impl FnMut() -> usize,
) -> (Vec<Owned>, Vec<(usize, usize)>) {
    let mut d = decoder(case.cfg, case.capacity);
    let mut fed = 0;
    let mut reads = Vec::new();
    let mut out = Vec::new();
    while fed < stream.len() {
        let room = d.spare_mut().len();
        assert!(room > 0, "stalled with a full buffer");
        let mut n = size().max(1).min(room).min(stream.len() - fed);
        if forbidden.contains(&(fed + n)) {
            if n > 1 {
                n -= 1;
            } else if room >= 2 {
                n = 2;
            }
        }
        push(&mut d, &stream[fed..fed + n]);
        reads.push((fed, fed + n));
        fed += n;
        out.extend(drain(&mut d));
        assert!(d.pending_chunks() as usize <= reads.len());
    }
    assert_eq!(d.buffered(), 0, "leftover bytes");
    (out, reads)
}

fn check(case: &Case, seed: u64, rng: &mut Rng) {
    let mut stream = Vec::new();
    let mut forbidden = Vec::new();
    for (t, b) in &case.items {
        if *t == Tag::Ping {
            forbidden.push(stream.len() + 2);
        }
        stream.extend_from_slice(b);
    }
    let expect: Vec<(Tag, &[u8])> = case.items.iter().map(|(t, b)| (*t, b.as_slice())).collect();
    let (whole, _) = run(case, &stream, &forbidden, || usize::MAX);
    let got: Vec<(Tag, &[u8])> = whole
        .iter()
        .map(|f| (tag(f.kind), f.bytes.as_slice()))
        .collect();
    assert_eq!(got, expect, "seed {seed}: whole feed");

    let max_chunk = [1, 7, 64, 1460, 5000][rng.below(5)];
    let mut r2 = Rng::new(seed ^ 0xABCD);
    let (chunked, reads) = run(case, &stream, &forbidden, || 1 + r2.below(max_chunk));
    assert_eq!(chunked.len(), whole.len(), "seed {seed}: frame count");
    let mut at = 0;
    for (c, w) in chunked.iter().zip(&whole) {
        assert_eq!((c.kind, &c.bytes), (w.kind, &w.bytes), "seed {seed}");
        let end = at + c.bytes.len();
        let carried = reads.iter().filter(|(s, e)| *s < end && *e > at).count();
        assert_eq!(
            c.chunks as usize, carried,
            "seed {seed}: chunks of frame at {at}"
        );
        at = end;
    }
}

#[test]
fn chunking_never_changes_frames() {
    for seed in 1..=400u64 {
        let mut rng = Rng::new(seed);
        let case = gen_case(&mut rng, false);
        check(&case, seed, &mut rng);
    }
}

#[test]
fn hep3_streams_chunked() {
    for seed in 1000..=1100u64 {
        let mut rng = Rng::new(seed);
        let case = gen_case(&mut rng, true);
        check(&case, seed, &mut rng);
    }
}
