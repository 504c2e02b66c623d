//! # fletchdb (not built yet)
//!
//! The embedded database users will link: collections of vectors with durable writes,
//! search, checkpoints and crash recovery, joining `fletchdb-index` (the HNSW graph)
//! and `fletchdb-storage` (WAL, mapped vectors, catalog). The database itself comes in a
//! later change; today this crate only re-exports the index, which already works on its
//! own, in memory.
#![deny(unsafe_code)]

pub use fletchdb_index as index;
