//! cargo-fuzz target `api_ops`: the body is `fletchdb_fuzz::api_ops` (fuzz/harness), which
//! documents the input layout and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fletchdb_fuzz::api_ops(data));
