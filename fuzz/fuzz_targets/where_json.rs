//! cargo-fuzz target `where_json`: the body is `fletchdb_fuzz::where_json` (fuzz/harness), which
//! documents the input layout and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fletchdb_fuzz::where_json(data));
