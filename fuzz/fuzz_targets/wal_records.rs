//! cargo-fuzz target `wal_records`: the body is `fletchdb_fuzz::wal_records` (fuzz/harness), which
//! documents the input layout and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fletchdb_fuzz::wal_records(data));
