//! The index reads vectors straight from the memory-mapped store: [`StoreVectors`].

use fletchdb_index::{Slot, VectorSource};
use fletchdb_storage::vectors::VectorStore;

/// A collection's vector store, seen by its index as a [`VectorSource`]: a search
/// computes distances on slices of the mapped segment files, with no copy.
#[derive(Debug)]
pub(crate) struct StoreVectors {
    pub(crate) store: VectorStore,
}

impl VectorSource for StoreVectors {
    #[inline]
    fn dim(&self) -> usize {
        self.store.dim()
    }

    #[inline]
    fn len(&self) -> usize {
        self.store.len()
    }

    #[inline]
    fn vector(&self, slot: Slot) -> &[f32] {
        self.store.vector(slot.0).unwrap_or(&[])
    }

    fn will_need(&self, slots: &[u32]) {
        self.store.will_need(slots);
    }

    fn resident(&self) -> bool {
        self.store.resident()
    }
}
