//! cargo-fuzz target `vector_segments`: the body is `fletchdb_fuzz::vector_segments` (fuzz/harness),
//! which documents the input layout and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fletchdb_fuzz::vector_segments(data));
