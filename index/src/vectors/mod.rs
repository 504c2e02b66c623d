//! How the index reads vectors: the [`VectorSource`] trait, and an in-memory implementation.

mod memory;

pub use memory::InMemoryVectors;

use crate::types::Slot;

/// Where the index reads vectors from, by slot, without copying them.
///
/// The index never writes vectors: whoever owns the source stores a vector in a slot
/// first, then tells the index to insert that slot. `fletchdb` implements this on its
/// memory-mapped vector store, so searches read straight from the mapped file;
/// [`InMemoryVectors`] serves tests, benchmarks and standalone use.
///
/// Implementations must be safe to read from many threads while slots are being added.
///
/// ```
/// use fletchdb_index::{InMemoryVectors, Slot, VectorSource};
/// let store = InMemoryVectors::new(2).unwrap();
/// let slot = store.push(&[1.0, 2.0]).unwrap();
/// assert_eq!(store.vector(slot), &[1.0, 2.0]);
/// assert_eq!(store.len(), 1);
/// ```
pub trait VectorSource: Send + Sync {
    /// The number of `f32` components of every vector.
    fn dim(&self) -> usize;

    /// How many slots are readable: slots `0..len()` return their vector.
    fn len(&self) -> usize;

    /// True when no slot is readable.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The vector stored in `slot`, `dim()` long; an empty slice for a slot at or past
    /// `len()` (which every distance treats as infinitely far away).
    fn vector(&self, slot: Slot) -> &[f32];

    /// Hints the CPU to start loading `slot`'s vector, which the search is about to read.
    #[inline(always)]
    fn prefetch(&self, slot: Slot) {
        crate::prefetch::prefetch_slice(self.vector(slot));
    }

    /// Hints that `slots`' vectors are about to be read, so that a source whose vectors
    /// may still be on disk starts reading them all now rather than one at a time as
    /// they are touched. A walk asks this of each batch it scores for its first
    /// searches after a load, and the encoder of compact codes of each block ahead
    /// of the one it encodes. Does nothing by default (vectors in memory).
    #[inline(always)]
    fn will_need(&self, slots: &[u32]) {
        let _ = slots;
    }

    /// True when the source knows its vectors are in memory, so that no read of one
    /// waits on a disk; false when they may not be, or it cannot tell (the default).
    /// A load asks once: on false, the loaded graph's first searches ask for their
    /// vectors ahead ([`will_need`](Self::will_need)) and the encoder of compact codes
    /// gives way to them; on true, neither (each hint would be a system call finding
    /// its pages in memory, and the encoder would only come in later).
    fn resident(&self) -> bool {
        false
    }
}
