//! # fletchdb-index
//!
//! The approximate nearest-neighbour index at the heart of FletchDB: a hierarchical
//! navigable small world graph (HNSW, Malkov & Yashunin 2016) over SIMD distance kernels.
//!
//! - Distances: squared L2, inner product (`1 - dot`) and cosine (normalised on the
//!   way in) on `f32`, through simsimd with run-time CPU dispatch ([`Metric`]).
//! - Vectors are read through the [`VectorSource`] trait, never copied: FletchDB backs it
//!   with its memory-mapped store; [`InMemoryVectors`] serves standalone use.
//! - Insert and search through `&self` from many threads at once; node storage grows in
//!   chunks published with crossbeam-epoch, so there is no capacity to declare and no
//!   stop-the-world resize. [`Hnsw::insert_batch`], [`Hnsw::add_batch`] and
//!   [`Hnsw::search_batch`] run on rayon.
//! - A search allocates nothing but its result ([`Hnsw::search_with`] not even that):
//!   visited sets are generation-stamped, candidates live in one bounded sorted array.
//! - Deletes are tombstones; filtered search ([`Filter`]) switches to an exact scan when
//!   the filter admits too few slots for the graph to find them.
//! - Searching: [`Hnsw::search`] for the `k` nearest; [`Hnsw::search_into`] runs a
//!   [`SearchRequest`] (a filter, a forced [`FilterPlan`]) into a reused buffer;
//!   [`Hnsw::search_with`] does the same with caller-owned [`Scratch`];
//!   [`Hnsw::search_batch`] runs many queries on rayon; [`Hnsw::exact_search`] scans.
//! - [`Hnsw::save`] / [`Hnsw::load`] persist the graph in a versioned, checksummed format.
//!
//! The crate does no file I/O and knows nothing of storage; `fletchdb` joins it with
//! `fletchdb-storage`.
//!
//! ```
//! use fletchdb_index::{Hnsw, HnswConfig, Metric};
//!
//! let index = Hnsw::in_memory(3, HnswConfig::new(Metric::Cosine))?;
//! let slots = index.add_batch(&[
//!     1.0, 0.0, 0.0, //
//!     0.0, 1.0, 0.0, //
//!     0.7, 0.7, 0.0,
//! ])?;
//! let hits = index.search(&[1.0, 0.1, 0.0], 2, 32)?;
//! assert_eq!(hits[0].slot, slots[0]);
//! assert_eq!(hits[1].slot, slots[2]);
//! # Ok::<(), fletchdb_index::IndexError>(())
//! ```

mod buckets;
mod candidates;
mod checks;
mod codes;
mod distance;
mod error;
mod exact;
mod filter;
mod heal;
mod hnsw;
mod image;
mod insert;
mod integrity;
mod level;
mod links;
mod nodes;
mod observe;
mod persist;
mod plan;
mod prefetch;
mod relocate;
mod request;
mod scratch;
mod search;
mod select;
mod slot_set;
mod sound;
mod types;
mod vectors;
mod visited;

pub use codes::{Calibration, Quantization, CALIBRATE_AFTER};
pub use distance::{scalar, validate, Metric};
pub use error::IndexError;
pub use filter::Filter;
pub use heal::Heal;
pub use hnsw::{Hnsw, HnswConfig};
pub use image::GraphMemory;
pub use links::FilterLinks;
pub use plan::FilterPlan;
pub use request::{SearchRequest, DEFAULT_RESCORE};
pub use scratch::Scratch;
pub use slot_set::SlotSet;
pub use types::{Neighbor, Slot};
pub use vectors::{InMemoryVectors, VectorSource};
