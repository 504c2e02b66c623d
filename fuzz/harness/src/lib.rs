//! # fletchdb-fuzz
//!
//! The bodies of FletchDB's fuzz targets, one public function per target. Each takes the
//! fuzzer's bytes and panics only when FletchDB broke its contract (a decoder panicked,
//! returned something it should not have, or the database disagreed with a model).
//!
//! Two things call them:
//! - `fuzz/fuzz_targets/<target>.rs`, the cargo-fuzz binaries (libFuzzer, nightly
//!   features, so `RUSTC_BOOTSTRAP=1` on stable: see `fuzz/run.sh`);
//! - `tests/corpus.rs`, an ordinary test that replays every file of
//!   `fuzz/corpus/<target>/` through the same function, so `cargo test` on stable
//!   exercises every target and every past finding without the fuzzer.
//!
//! | target | what it feeds | contract |
//! | --- | --- | --- |
//! | [`wal_records`] | bytes as WAL segments, behind valid headers | records or a typed error; recovery, then append, then reread agree |
//! | [`graph_file`] | bytes as a graph snapshot (version 1, or 2 in a compact form), checksums recomputed | an index or a typed error; a loaded index passes `check_integrity`, searches, takes inserts |
//! | [`id_map`] | bytes as an id map file, its checksum recomputed or not | `Corruption`, `UnsupportedVersion`, or a map that re-encodes to the same bytes |
//! | [`catalog_values`] | bytes to each catalog value decoder | `Corruption`, or a value that re-encodes to the same bytes (a payload: to bytes that decode to it) |
//! | [`open_damaged`] | damage (flip, set, zero, truncate, remove) to a real database's files | open fails with a typed error, or returns only vectors that were written |
//! | [`vector_segments`] | damage (flip, set, truncate, remove, resealed header fields) to a vector store of growing segments | open fails with a typed error, or every slot reads as written, as `Corruption`, or as nothing past the end; the store takes a write and reopens |
//! | [`payload_bytes`] | bytes to `Payload::from_bytes` (or its flags, metadata JSON and document, framed by the harness) | `InvalidArgument`, or a payload a write would accept that re-encodes to bytes decoding to it |
//! | [`where_json`] | JSON text to `Where::from_json` | `InvalidArgument`, or a filter that prints and re-parses to itself and matches records as the grammar says |
//! | [`api_ops`] | a sequence of operations (`arbitrary`), with payloads and `where` filters | the database agrees with an in-memory model, across checkpoints, reopens and kills |
//!
//! ```
//! // Any bytes at all are a valid input; only a FletchDB bug panics.
//! fletchdb_fuzz::catalog_values(b"\x01\x00\x00\x00\x00\x00\x00\x00\x00");
//! fletchdb_fuzz::wal_records(&[]);
//! fletchdb_fuzz::vector_segments(&[]);
//! fletchdb_fuzz::payload_bytes(b"\x02a document");
//! fletchdb_fuzz::where_json(br#"{"year": {"$gte": 2020}}"#);
//! ```
#![deny(unsafe_code)]

mod api_ops;
mod catalog;
mod damage;
mod encode;
mod graph;
mod idmap;
mod meta;
mod payload;
mod scratch;
mod seeds;
mod vectors;
mod wal;
mod where_json;

pub use api_ops::api_ops;
pub use catalog::catalog_values;
pub use damage::open_damaged;
pub use graph::graph_file;
pub use idmap::id_map;
pub use payload::payload_bytes;
pub use seeds::{findings, seeds};
pub use vectors::vector_segments;
pub use wal::wal_records;
pub use where_json::where_json;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its cargo-fuzz binary and of its corpus folder).
pub const TARGETS: &[(&str, Target)] = &[
    ("wal_records", wal_records),
    ("graph_file", graph_file),
    ("catalog_values", catalog_values),
    ("open_damaged", open_damaged),
    ("vector_segments", vector_segments),
    ("payload_bytes", payload_bytes),
    ("where_json", where_json),
    ("api_ops", api_ops),
    ("id_map", id_map),
];
