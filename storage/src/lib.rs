//! # fletchdb-storage
//!
//! The durability half of FletchDB, laid out in `docs/design.md`. It knows
//! nothing of distances or graphs and depends on neither `fletchdb-index` nor `fletchdb`.
//!
//! - [`wal`]: the write-ahead log. Segment files that roll over at a set size, records
//!   with length, CRC32C, LSN and kind; group commit (one `write` and one `fdatasync`
//!   for every writer waiting), durability modes `Sync`, `Buffered` and `None`, an
//!   optional commit window; a failed write or sync poisons the log.
//! - [`vectors`]: per-collection fixed-size slots in memory-mapped segment files, grown
//!   by adding segments, so readers may hold `&[f32]` while the store grows.
//! - [`catalog`]: collections, external id to slot maps, per-id metadata and the
//!   checkpoint LSN, in redb.
//! - [`DirLock`]: one open handle per database directory.
//! - [`StopSignal`]: how owners stop background loops.
//! - [`le`]: checked little-endian reads for every decoder.
//! - [`idmap`]: the id map file a checkpoint writes beside each graph file.
//! - [`io`]: the file layer under the log and the graph files, with an in-memory implementation that
//!   simulates crashes and fails chosen writes and syncs.

pub mod catalog;
mod error;
pub mod idmap;
pub mod io;
pub mod le;
mod lock;
mod signal;
pub mod vectors;
pub mod wal;

pub use error::{Result, StorageError};
pub use lock::{DirLock, LOCK_FILE};
pub use signal::StopSignal;
