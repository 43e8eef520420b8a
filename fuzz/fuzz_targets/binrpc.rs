#![no_main]
//! Fuzz target `binrpc`: the logic lives in `sipwire_control::binrpc::fuzz_one` so
//! `crates/control/tests/binrpc_codec.rs` can replay seeds and regressions.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sipwire_control::binrpc::fuzz_one(data);
});
