//! # fletchdb-benches
//!
//! FletchDB's measuring tools, built on the public API of `fletchdb`:
//!
//! - criterion benches in `benches/`: `search_only` (a prebuilt collection, `ef`
//!   sweep, single and batch search), `write_only` (durable inserts at 1, 8 and 32
//!   writers, commit windows 0, 1 and 10 ms, each durability mode), `mixed` (8 threads,
//!   90 % searches and 10 % batch upserts, with a latency table per kind of operation)
//!   and `distance` (the SIMD kernels beside the scalar reference). Run them with
//!   `cargo bench -p fletchdb-benches [--bench NAME]`; `-- --test` runs each once.
//! - the `fletchdb-ann` runner (`src/bin/fletchdb-ann.rs`): recall@10 and QPS against
//!   `ef`, build time, peak RSS, size on disk and open time on texmex files or a
//!   generated clustered set, with hnswlib, USearch and FAISS measured in the same run
//!   (`--peers`); it writes a CSV, a markdown table and a recall/QPS plot.
//! - the `fletchdb-churn` runner (`src/bin/fletchdb-churn.rs`): recall@10, QPS and size
//!   on disk of a collection rewritten round after round (deletes, then an upsert of
//!   every live id), with hnswlib replaying the same sequence in the same run.
//!
//! This library holds the parts they share: texmex I/O ([`texmex`]), data sets and exact
//! ground truth ([`data`]), what is measured besides time ([`measure`]), the database
//! side of an ANN run ([`ann`]), the churn workload ([`churn`]), the peers ([`peers`]),
//! tables and CSV ([`report`]), the plot ([`plot`]) and bench helpers ([`harness`]).
#![deny(unsafe_code)]

pub mod ann;
pub mod churn;
pub mod data;
pub mod harness;
pub mod measure;
pub mod peers;
pub mod plot;
pub mod report;
pub mod texmex;
