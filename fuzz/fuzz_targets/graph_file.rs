//! cargo-fuzz target `graph_file`: the body is `fletchdb_fuzz::graph_file` (fuzz/harness), which
//! documents the input layout and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fletchdb_fuzz::graph_file(data));
