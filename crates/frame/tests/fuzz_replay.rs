#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Replays every committed fuzz seed and regression through its target
//! function, so `cargo test` guards against regressions without a fuzzer.

use std::path::Path;

use sipwire_frame::fuzzing;

fn target(name: &str) -> fn(&[u8]) {
    match name {
        "sip_framer" => fuzzing::sip_framer,
        "proxy" => fuzzing::proxy,
        "hep3" => fuzzing::hep3,
        "sip_headers" => fuzzing::sip_headers,
        other => panic!("fuzz directory {other} matches no fuzzing:: function"),
    }
}

/// Targets whose function lives in a crate above this one, which replays them itself:
/// `binrpc` is `sipwire_control::binrpc::fuzz_one` (crates/control/tests/binrpc_codec.rs).
const REPLAYED_ELSEWHERE: &[&str] = &["binrpc"];

fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(kind);
    let mut n = 0;
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        let name = dir.file_name().unwrap().to_str().unwrap();
        if REPLAYED_ELSEWHERE.contains(&name) {
            continue;
        }
        let f = target(name);
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            if file.file_name().unwrap().to_str().unwrap().starts_with('.') {
                continue;
            }
            let data = std::fs::read(&file).unwrap();
            eprintln!("replay {}", file.display());
            f(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn seeds() {
    let n = replay("seeds");
    assert!(n >= 15, "only {n} seeds");
}

#[test]
fn regressions() {
    replay("regressions");
}

#[test]
fn header_seeds_parse_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/sip_headers");
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let data = std::fs::read(&p).unwrap();
        let m = sipwire_frame::SipMessage::parse(&data)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        for v in m.vias() {
            v.unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
        assert!(m.vias().count() >= 1, "{}", p.display());
    }
}
