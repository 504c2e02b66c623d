//! cargo-fuzz target `catalog_values`: the body is `fletchdb_fuzz::catalog_values` (fuzz/harness), which
//! documents the input layout and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fletchdb_fuzz::catalog_values(data));
