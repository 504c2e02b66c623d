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
//! place keeps its size. A compaction (`compact.rs`) moves vectors from the top of the
//! store into ready slots below, and then cuts the store where every slot above is
//! ready ([`FreeSlots::cut_tail`]): those segment files are deleted. Opening a database starts with every slot below the store's
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
    /// still be reading them (step 3); `forget` is called with them first (the id map
    /// forgets compaction moves out of them). If this thread is inside a search of the
    /// index (a filter callback checkpointing), they stay pending until the next
    /// checkpoint.
    pub(crate) fn release<V: VectorSource>(&self, index: &Hnsw<V>, forget: impl FnOnce(&[u32])) {
        let mut pending = self.pending.lock();
        if pending.is_empty() || !index.wait_unobserved() {
            return;
        }
        forget(&pending);
        let mut ready = self.ready.lock();
        ready.append(&mut pending);
        ready.sort_unstable_by(|a, b| b.cmp(a));
    }

    /// Takes up to `n` ready slots below `limit`, lowest first: where a compaction moves
    /// vectors to. They are the caller's until [`give_back`](Self::give_back) or a
    /// reservation of them.
    pub(crate) fn take_below(&self, limit: u32, n: usize) -> Vec<u32> {
        let mut ready = self.ready.lock();
        let mut taken = Vec::new();
        while taken.len() < n {
            match ready.last() {
                Some(&s) if s < limit => {
                    ready.pop();
                    taken.push(s);
                }
                _ => break,
            }
        }
        taken
    }

    /// Returns slots [`take_below`](Self::take_below) took and did not use.
    pub(crate) fn give_back(&self, slots: &[u32]) {
        if slots.is_empty() {
            return;
        }
        let mut ready = self.ready.lock();
        ready.extend_from_slice(slots);
        ready.sort_unstable_by(|a, b| b.cmp(a));
    }

    /// The lowest `cut` among `boundaries` (ascending) such that every slot in
    /// `cut..len` is ready; those slots are taken out of the free list (the store is
    /// about to shrink to `cut`). `None`, taking nothing, if no boundary below `len`
    /// qualifies.
    pub(crate) fn take_tail(&self, boundaries: &[u32], len: u32) -> Option<u32> {
        let mut ready = self.ready.lock();
        // `ready` is sorted descending: its first entries are the highest slots.
        let mut run = 0usize; // slots len-1, len-2, ... all ready
        for &s in ready.iter() {
            if s + 1 + run as u32 == len {
                run += 1;
            } else if s >= len {
                continue;
            } else {
                break;
            }
        }
        let lowest_free = len - run as u32;
        let cut = boundaries
            .iter()
            .copied()
            .find(|&b| b >= lowest_free && b < len)?;
        ready.retain(|&s| s < cut);
        Some(cut)
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
        reclaim(store, slot)
    }

    /// Shrinks `store` to the lowest segment boundary past which every slot is ready
    /// ([`take_tail`](Self::take_tail)), once `commit(cut)` has recorded the new end
    /// durably. Returns the cut and the files deleted; `None` if there is nothing to cut.
    /// Writers must be held off (no reservation may run) for the whole call.
    pub(crate) fn cut_tail(
        &self,
        store: &VectorStore,
        commit: impl FnOnce(u32) -> Result<()>,
    ) -> Result<Option<(u32, usize)>> {
        let len = store.len() as u32;
        let starts = store.segment_starts();
        let Some(cut) = self.take_tail(&starts, len) else {
            return Ok(None);
        };
        if let Err(e) = commit(cut) {
            self.give_back(&(cut..len).collect::<Vec<_>>());
            return Err(e);
        }
        #[allow(unsafe_code)]
        // SAFETY: every slot from `cut` on was ready (see the module notes: no id names
        // it, no graph list links to it, and every walk that might have reached it has
        // ended, hit mapping included) and has just left the free list, so nothing will
        // read or reclaim it; the caller holds writers off, so no reservation runs.
        let files = unsafe { store.truncate(cut) }?;
        Ok(Some((cut, files)))
    }
}

/// A reservation of a ready slot, which the caller has taken off the ready list
/// ([`FreeSlots::take_below`]).
pub(crate) fn reclaim(store: &VectorStore, slot: u32) -> Result<Reservation<'_>> {
    #[allow(unsafe_code)]
    // SAFETY: `slot` is ready (see the module notes): no id names it, so no `get`
    // copies it and no new hit maps to it; the graph lost every link to it and every
    // search or insert that could have reached it before that has finished, hit
    // mapping included; and it left the ready list just now, so this is its only
    // reservation.
    let reservation = unsafe { store.reclaim(slot) }?;
    Ok(reservation)
}
