//! The memory-mapped vector store: fixed-size `f32` slots in segment files, grown by adding files so readers keep their slices.

mod files;
mod format;
mod segment;
mod store;
#[cfg(test)]
mod tests;

pub use store::{Reservation, VectorStore, VectorStoreOptions};
