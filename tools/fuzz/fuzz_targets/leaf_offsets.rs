#![no_main]
//! cargo-fuzz entry point; the body and its properties are in `provledger_fuzz::targets::leaf_offsets`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| provledger_fuzz::targets::leaf_offsets::run(data));
