//! cargo-fuzz target `id_map`: the body is `fletchdb_fuzz::id_map` (fuzz/harness), which
//! documents the input layout and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fletchdb_fuzz::id_map(data));
