//! # fletchdb
//!
//! An embedded vector database: durable collections of vectors with fast approximate
//! nearest-neighbour search, in your process. Open a directory, create collections,
//! insert and search from any number of threads; a write that returned survives a
//! crash (and, with the default [`Durability::Sync`], power loss).
//!
//! ```
//! use fletchdb::{CollectionConfig, Database, IdFilter, Metric, Options, SearchOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let db = Database::open(dir.path(), Options::default())?;
//! let docs = db.create_collection("docs", CollectionConfig::new(4, Metric::Cosine))?;
//! docs.insert_batch(
//!     &[1, 2, 3],
//!     &[
//!         1.0, 0.0, 0.0, 0.0, //
//!         0.9, 0.1, 0.0, 0.0, //
//!         0.0, 0.0, 1.0, 0.0,
//!     ],
//! )?;
//! let hits = docs.search(&[1.0, 0.0, 0.0, 0.0], 2, &SearchOptions::default())?;
//! assert_eq!((hits[0].id, hits[1].id), (1, 2));
//!
//! // Only ids 2 and 3 may come back:
//! let only = [2u64, 3];
//! let opts = SearchOptions { filter: Some(IdFilter::Ids(&only)), ..Default::default() };
//! assert_eq!(docs.search(&[1.0, 0.0, 0.0, 0.0], 1, &opts)?[0].id, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! How it works, in short: a write is validated, appended to a write-ahead log with
//! group commit (one `fdatasync` for every writer waiting), then its vector is written
//! into a memory-mapped slot and inserted into an HNSW graph that searches read straight
//! from the mapping. Checkpoints, in the background and on close, write the graphs and
//! id maps out and trim the log; opening replays what the log holds after the last one.
//! The crates `fletchdb-index` and `fletchdb-storage` hold the two halves.
#![deny(unsafe_code)]

mod background;
mod backup;
mod checkpoint;
mod collection;
mod compact;
mod database;
mod error;
mod filter_links;
mod free_slots;
mod graph_files;
mod health;
mod ids;
mod options;
mod payload;
mod record;
mod records;
mod recovery;
mod shared;
mod source;
mod stats;
mod unlinked;
mod write;

pub use backup::Backup;
pub use collection::Collection;
pub use compact::Compaction;
pub use database::Database;
pub use error::{Error, Result};
pub use health::{Health, OpenSteps};
pub use options::{
    CollectionConfig, Durability, Hit, IdFilter, Metric, Options, Quantization, SearchOptions,
};
pub use payload::{Metadata, Payload, Scalar, Where};
pub use stats::CollectionStats;

/// The index crate, for its lower-level API.
pub use fletchdb_index as index;
/// The storage crate, for its lower-level API.
pub use fletchdb_storage as storage;

/// The README's Rust examples, compiled and run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
