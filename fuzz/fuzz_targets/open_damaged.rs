//! cargo-fuzz target `open_damaged`: the body is `fletchdb_fuzz::open_damaged` (fuzz/harness), which
//! documents the input layout and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fletchdb_fuzz::open_damaged(data));
