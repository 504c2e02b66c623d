//! cargo-fuzz target `payload_bytes`: the body is `fletchdb_fuzz::payload_bytes` (fuzz/harness), which
//! documents the input layout and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fletchdb_fuzz::payload_bytes(data));
