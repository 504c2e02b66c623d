//! # fletchdb-benches
//!
//! Will hold FletchDB's criterion benches (search-only, write-only, mixed, distance) and
//! the `fletchdb-ann` runner that measures FletchDB beside hnswlib, USearch and FAISS.
//! Until then the index's own examples (`cargo run --release -p fletchdb-index
//! --example ann`) measure recall and QPS.
