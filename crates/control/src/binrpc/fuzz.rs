//! The fuzz entry point (`fuzz/fuzz_targets/binrpc.rs`), also replayed over the seeds and
//! regressions by `tests/binrpc_codec.rs`. It asserts the codec's invariants; any panic is a
//! bug.

use super::header::{parse_packet, PacketType};
use super::json::{decode_fault, decode_request, encode_reply};
use super::print::{print_kamcmd, print_kamcmd_fault};
use super::value::{decode_records_with, Limits, Member, Value};
use super::{encode_records, kamcmd_arg};

/// Body cap while fuzzing: Kamailio's stream buffer size.
const FUZZ_MAX_BODY: usize = 65_535;

/// `r`'s value, or a panic naming the broken invariant.
fn must<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e:?}"),
    }
}

/// Equal, allowing a DOUBLE the rounding of one pass through fixed point (a thousandth, plus
/// float error on large values); everything else must match exactly.
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => (x - y).abs() <= 0.001 + 1e-12 * x.abs(),
        (Value::Struct(x), Value::Struct(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(m, n): (&Member, &Member)| m.name == n.name && same(&m.value, &n.value))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(m, n)| same(m, n))
        }
        _ => a == b,
    }
}

/// Decoded records re-encode to a body that decodes to the same records, and print.
fn check_body(body: &[u8]) {
    let limits = Limits::DEFAULT;
    let Ok(records) = decode_records_with(body, &limits) else {
        return;
    };
    let again = must(encode_records(&records), "decoded records re-encode");
    let back = must(
        decode_records_with(&again, &limits),
        "re-encoded records decode",
    );
    assert_eq!(records.len(), back.len(), "record count changed");
    for (a, b) in records.iter().zip(&back) {
        assert!(same(a, b), "round trip changed {a:?} into {b:?}");
    }
    let _ = print_kamcmd(&records);
    let _ = print_kamcmd_fault(&records);
    // Through JSON and back as a reply: our own output must decode (or be refused whole).
    for r in &records {
        if let Ok(reply) = encode_reply(&r.to_json()) {
            must(
                decode_records_with(&reply, &limits),
                "a reply we encode decodes",
            );
        }
    }
}

/// Runs one fuzz input: frames packets out of `data` the way a stream reader does (skipping
/// a byte after a bad header, to find later packets), checks that no shorter prefix frames a
/// packet, re-encodes each packet and its records, and decodes it as a request, reply or
/// fault. `data` is also tried as a bare body and as kamcmd words.
pub fn fuzz_one(data: &[u8]) {
    let mut rest = data;
    while !rest.is_empty() {
        match parse_packet(rest, FUZZ_MAX_BODY) {
            Ok(Some((pkt, used))) => {
                assert!(
                    used > 0 && used <= rest.len(),
                    "consumed {used} of {}",
                    rest.len()
                );
                for cut in [0, 1, 2, 3, used / 2, used - 1] {
                    if let Some(prefix) = rest.get(..cut.min(used - 1)) {
                        assert!(
                            matches!(parse_packet(prefix, FUZZ_MAX_BODY), Ok(None)),
                            "a {cut}-byte prefix of a {used}-byte packet did not ask for more"
                        );
                    }
                }
                let bytes = must(pkt.to_bytes(), "a framed packet re-encodes");
                let whole = must(
                    parse_packet(&bytes, FUZZ_MAX_BODY),
                    "re-encoded packet parses",
                );
                let Some((again, n)) = whole else {
                    panic!("re-encoded packet is not whole");
                };
                assert_eq!((again, n), (pkt.clone(), bytes.len()));
                check_body(&pkt.body);
                match pkt.kind {
                    PacketType::Request => {
                        if let Ok(req) = decode_request(&pkt.body) {
                            let _ = req.json_params();
                        }
                    }
                    PacketType::Fault => {
                        let _ = decode_fault(&pkt.body);
                    }
                    PacketType::Reply => {}
                }
                rest = rest.get(used..).unwrap_or_default();
            }
            Ok(None) => break,
            Err(_) => rest = rest.get(1..).unwrap_or_default(),
        }
    }
    check_body(data);
    let words = String::from_utf8_lossy(data);
    for w in words.split(' ').take(64) {
        let _ = kamcmd_arg(w);
    }
}
