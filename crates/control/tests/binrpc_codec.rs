#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The BINRPC codec through the public API: replays every committed fuzz seed and regression
//! of `fuzz/{seeds,regressions}/binrpc` through `binrpc::fuzz_one` (what
//! `fuzz/fuzz_targets/binrpc.rs` runs), and serves a request the way the control socket will.

use std::path::Path;

use serde_json::json;
use sipwire_control::binrpc::{self, PacketType, Value};

fn replay(kind: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(kind)
        .join("binrpc");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.'))
        .collect();
    files.sort();
    for file in &files {
        eprintln!("replay {}", file.display());
        binrpc::fuzz_one(&std::fs::read(file).unwrap());
    }
    files.len()
}

#[test]
fn binrpc_fuzz_seeds() {
    let n = replay("seeds");
    assert!(n >= 10, "only {n} binrpc seeds");
}

#[test]
fn binrpc_fuzz_regressions() {
    replay("regressions");
}

/// Seeds with bytes flipped, cut, duplicated and spliced (a deterministic xorshift), each
/// through `fuzz_one`: a cheap stand-in for the fuzzer in `cargo test`.
/// `BINRPC_MUTATIONS=n` runs n per seed instead of 300.
#[test]
fn binrpc_mutated_seeds() {
    let per_seed: usize = std::env::var("BINRPC_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/binrpc");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n.max(1) as u64) as usize
    };
    for seed in &seeds {
        for _ in 0..per_seed {
            let mut d = seed.clone();
            for _ in 0..=rnd(4) {
                let at = rnd(d.len() + 1);
                match rnd(5) {
                    0 if at < d.len() => d[at] ^= 1 << rnd(8),
                    1 if at < d.len() => d[at] = [0x00, 0x03, 0x83, 0x04, 0x84, 0x25, 0xff][rnd(7)],
                    2 => d.truncate(at),
                    3 => d.insert(at, rnd(256) as u8),
                    _ => {
                        let other = &seeds[rnd(seeds.len())];
                        let from = rnd(other.len() + 1);
                        d.splice(at..at, other[from..].iter().copied().take(rnd(32)));
                    }
                }
            }
            binrpc::fuzz_one(&d);
        }
    }
}

#[test]
fn binrpc_seeds_are_what_they_say() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/binrpc");
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        let data = std::fs::read(&p).unwrap();
        let framed = binrpc::parse_packet(&data, 65_535);
        let records = framed
            .as_ref()
            .ok()
            .and_then(|f| f.as_ref())
            .map(|(pkt, _)| (pkt.kind, pkt.records()));
        match name.split('_').next().unwrap() {
            "req" => {
                let (kind, r) = records.unwrap();
                assert_eq!(kind, PacketType::Request, "{name}");
                assert!(matches!(r.unwrap().first(), Some(Value::Str(_))), "{name}");
            }
            "reply" | "fault" => assert!(records.unwrap().1.is_ok(), "{name}"),
            "err" => assert!(!matches!(records, Some((_, Ok(_)))), "{name} decodes"),
            _ => {}
        }
    }
}

#[test]
fn binrpc_serve_one_call() {
    // kamcmd's `cfg.set_now_int tcp no_connect 1`, as a stream reader sees it.
    let words = ["tcp", "no_connect", "1"].map(binrpc::kamcmd_arg);
    let req = binrpc::request_packet(0x4cac_f027, "cfg.set_now_int", &words).unwrap();
    let (pkt, used) = binrpc::parse_packet(&req, 32 * 1024).unwrap().unwrap();
    assert_eq!(used, req.len());
    let call = binrpc::decode_request(&pkt.body).unwrap();
    assert_eq!(call.method, "cfg.set_now_int");
    assert_eq!(
        call.json_params(),
        vec![json!("tcp"), json!("no_connect"), json!(1)]
    );
    // The JSON method table answers {} (success): Kamailio's empty reply, cookie echoed.
    let reply = binrpc::reply_packet(pkt.cookie, &json!({})).unwrap();
    assert_eq!(reply, [0xa1, 0x13, 0x00, 0x4c, 0xac, 0xf0, 0x27]);
    // Or a fault, printed by the client as kamcmd prints it.
    let fault = binrpc::fault_packet(pkt.cookie, 400, "Failed to set the variable").unwrap();
    let (f, _) = binrpc::parse_packet(&fault, 1024).unwrap().unwrap();
    assert_eq!(f.kind, PacketType::Fault);
    assert_eq!(
        binrpc::print_kamcmd_fault(&f.records().unwrap()),
        "error: 400 - Failed to set the variable\n"
    );
    assert_eq!(binrpc::decode_fault(&f.body).unwrap().code, 400);
}
