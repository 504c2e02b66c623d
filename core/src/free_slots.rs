//! [`FreeSlots`]: the slots a collection can write new vectors into again.
//!
//! A slot comes back in three steps, so that neither a search nor a crash ever sees a
//! vector that is not the one its id names:
//!
//! 1. Its id is deleted or moved to another slot (logged first), and the index
//!    tombstones the node.
//! 2. A checkpoint heals the graph ([`Hnsw::heal`]): no list names the node any more and
//!    its state is empty; the slot is *pending*. The checkpoint then saves that graph,
//!    so once it commits, the slot is free on disk too: a crash after that replays the
//!    log over a checkpoint in which no id and no node uses the slot.
//! 3. After the commit, the slot becomes *ready* once every search that might still be
//!    reading its old vector has finished ([`Hnsw::wait_unobserved`]). Searches map
//!    their hits to ids inside that window (see `Collection::search`), and `get` copies
//!    vectors under the id map's read lock, which step 1's removal waited out.
//!
//! A put takes a ready slot before growing the store, so a collection rewritten in
//! place keeps its size. Opening a database starts with every slot below the store's
//! high-water mark that no node and no id uses: free in the checkpoint it opened, or
//! never written.

use fletchdb_index::{Hnsw, VectorSource};
use fletchdb_storage::vectors::{Reservation, VectorStore};
use parking_lot::Mutex;

use crate::error::Result;

/// A collection's reusable slots: pending (freed by a heal, not yet checkpointed) and
/// ready.
#[derive(Debug, Default)]
pub(crate) struct FreeSlots {
    pending: Mutex<Vec<u32>>,
    ready: Mutex<Vec<u32>>,
}

impl FreeSlots {
    /// Starts with `ready`: slots nothing uses (at open).
    pub(crate) fn new(mut ready: Vec<u32>) -> FreeSlots {
        // Lowest first (popped from the end), so the store's front fills first.
        ready.sort_unstable_by(|a, b| b.cmp(a));
        FreeSlots {
            pending: Mutex::new(Vec::new()),
            ready: Mutex::new(ready),
        }
    }

    /// Notes slots a heal freed (step 2).
    pub(crate) fn freed(&self, slots: impl IntoIterator<Item = u32>) {
        self.pending.lock().extend(slots);
    }

    /// After a checkpoint committed: the pending slots become ready once no search can
    /// still be reading them (step 3). If this thread is inside a search of the index
    /// (a filter callback checkpointing), they stay pending until the next checkpoint.
    pub(crate) fn release<V: VectorSource>(&self, index: &Hnsw<V>) {
        let mut pending = self.pending.lock();
        if pending.is_empty() || !index.wait_unobserved() {
            return;
        }
        let mut ready = self.ready.lock();
        ready.append(&mut pending);
        ready.sort_unstable_by(|a, b| b.cmp(a));
    }

    /// Slots known free: ready and pending.
    pub(crate) fn len(&self) -> usize {
        self.ready.lock().len() + self.pending.lock().len()
    }

    /// A slot for a new vector: a ready one if there is one, else a new one at the end
    /// of the store.
    pub(crate) fn reserve<'s>(&self, store: &'s VectorStore) -> Result<Reservation<'s>> {
        let Some(slot) = self.ready.lock().pop() else {
            return Ok(store.reserve()?);
        };
        #[allow(unsafe_code)]
        // SAFETY: `slot` is ready (see the module notes): no id names it, so no `get`
        // copies it and no new hit maps to it; the graph lost every link to it and every
        // search or insert that could have reached it before that has finished, hit
        // mapping included; and it left the ready list just now, so this is its only
        // reservation.
        let reservation = unsafe { store.reclaim(slot) }?;
        Ok(reservation)
    }
}
