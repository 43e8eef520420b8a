#![no_main]
//! Fuzz target `proxy`: the logic lives in `sipwire_frame::fuzzing::proxy`
//! so `crates/frame/tests/fuzz_replay.rs` can replay seeds and regressions.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sipwire_frame::fuzzing::proxy(data);
});
