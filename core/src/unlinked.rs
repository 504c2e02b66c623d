//! [`Unlinked`]: a collection's live vectors that are stored but not yet in its graph.
//!
//! Opening a database replays the log after the last checkpoint: each put writes its
//! vector back into the store and its id into the map at once, but inserting it into the
//! graph costs a graph walk (on 1,000,000 × 128-d, 100,000 replayed records took open
//! 43-45 s when it linked them before returning). So open returns as soon as the log is
//! read, with the replayed slots here: every search scans them exactly beside the graph
//! walk (`Hnsw::merge_exact`), and the background thread links them a chunk at a time
//! (`Shared::link_round`), each leaving this set only once its insert has returned.
//!
//! Why a search sees every slot: it takes its snapshot of the set before it walks, and a
//! slot leaves the set only after it is in the graph, so a slot missing from the
//! snapshot was already linked when the walk began.
//!
//! While anything is unlinked, no checkpoint is taken ([`Shared::checkpoint`] links the
//! rest first, close skips its checkpoint), so the checkpoint's graph always holds every
//! live slot, and a crash during linking replays the same records at the next open.
//!
//! [`Shared::checkpoint`]: crate::shared::Shared::checkpoint

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fletchdb_index::{IndexError, Slot};
use parking_lot::{Mutex, RwLock};
use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::collection::CollectionInner;
use crate::error::Result;
use crate::recovery::link;

/// Slots a linker takes at a time: at about 0.3 ms an insert on two threads, a chunk is
/// linked in well under 100 ms, which bounds how long a close waits for the round.
pub(crate) const CHUNK: usize = 256;

/// The stored-but-unlinked slots of one collection (see the module comment).
#[derive(Debug, Default)]
pub(crate) struct Unlinked {
    /// What searches scan: slots not yet known to be in the graph.
    set: RwLock<Arc<RoaringBitmap>>,
    /// Slots no linker has taken yet.
    queue: Mutex<Vec<u32>>,
    /// `set`'s length, read without the lock by every search.
    len: AtomicUsize,
    /// Every slot this set ever held: a delete that finds one of them absent from the
    /// graph is not an error (the linker tombstones it after inserting, see
    /// `Shared::link_round`).
    deferred: RoaringBitmap,
}

impl Unlinked {
    /// A set holding `slots`.
    pub(crate) fn new(slots: Vec<u32>) -> Unlinked {
        let set: RoaringBitmap = slots.iter().copied().collect();
        Unlinked {
            len: AtomicUsize::new(set.len() as usize),
            deferred: set.clone(),
            set: RwLock::new(Arc::new(set)),
            queue: Mutex::new(slots),
        }
    }

    /// How many slots are not yet in the graph.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// The slots to scan beside the graph, or `None` when there are none (one atomic
    /// load: the common case costs a search nothing more).
    pub(crate) fn snapshot(&self) -> Option<Arc<RoaringBitmap>> {
        if self.len() == 0 {
            return None;
        }
        Some(self.set.read().clone())
    }

    /// True if `slot` was stored unlinked at open.
    pub(crate) fn was_deferred(&self, slot: u32) -> bool {
        self.deferred.contains(slot)
    }

    /// Up to [`CHUNK`] slots no linker has taken, now taken by the caller, who must
    /// [`linked`](Self::linked) them once they are in the graph.
    pub(crate) fn take(&self) -> Vec<u32> {
        let mut queue = self.queue.lock();
        let at = queue.len().saturating_sub(CHUNK);
        queue.split_off(at)
    }

    /// Gives back slots a linker took but could not link, for the next one to retry.
    fn untake(&self, slots: &[u32]) {
        self.queue.lock().extend_from_slice(slots);
    }

    /// Removes `slots` (all in the graph now) from what searches scan.
    pub(crate) fn linked(&self, slots: &[u32]) {
        let mut set = self.set.write();
        let mut next = RoaringBitmap::clone(&set);
        for &s in slots {
            next.remove(s);
        }
        self.len.store(next.len() as usize, Ordering::Release);
        *set = Arc::new(next);
    }
}

impl CollectionInner {
    /// Links one chunk of unlinked slots into the graph (in parallel on rayon's
    /// threads). Returns true if it linked any.
    ///
    /// A slot whose id was deleted or replaced meanwhile is linked all the same and
    /// then tombstoned, so the graph's heal frees it like any other dead slot: the
    /// delete found it absent from the graph and left it to this (the id map changes
    /// before the graph is asked, so whichever of the two comes second sees the id gone).
    ///
    /// # Errors
    /// An insert's error; the chunk is given back for a later round to retry.
    pub(crate) fn link_chunk(&self) -> Result<bool> {
        let chunk = self.unlinked.take();
        if chunk.is_empty() {
            return Ok(false);
        }
        let linked = chunk.par_iter().try_for_each(|&s| {
            link(&self.index, Slot(s), self.graph_file.as_deref())?;
            if self.ids.read().id_of(s).is_none() {
                let _ = self.index.delete(Slot(s));
            }
            Ok(())
        });
        if let Err(e) = linked {
            self.unlinked.untake(&chunk);
            return Err(e);
        }
        self.unlinked.linked(&chunk);
        Ok(true)
    }

    /// Tombstones `slot` in the graph, its id deleted or pointed elsewhere. A replayed
    /// slot not linked yet is left to the linker (see [`link_chunk`](Self::link_chunk)).
    ///
    /// # Errors
    /// The index's error for a slot it never held that was not replayed either.
    pub(crate) fn retire(&self, slot: u32) -> Result<()> {
        match self.index.delete(Slot(slot)) {
            Ok(_) => Ok(()),
            Err(IndexError::SlotOutOfRange { .. }) if self.unlinked.was_deferred(slot) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Links every unlinked slot, on this thread (and rayon's) beside the background
    /// thread, and returns once none is left: before a checkpoint or a compaction.
    ///
    /// # Errors
    /// As [`link_chunk`](Self::link_chunk).
    pub(crate) fn link_all(&self) -> Result<()> {
        while self.unlinked.len() > 0 {
            if !self.link_chunk()? {
                // The last chunks are another thread's, in progress.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_leave_the_scan_only_when_linked() {
        let u = Unlinked::new((0..600).collect());
        assert_eq!(u.len(), 600);
        let first = u.take();
        assert_eq!(first.len(), CHUNK);
        // Taken, not linked: searches still scan them.
        assert_eq!(u.snapshot().unwrap().len(), 600);
        u.linked(&first);
        assert_eq!(u.len(), 600 - CHUNK);
        let held = u.snapshot().unwrap();
        assert!(first.iter().all(|&s| !held.contains(s)));
        let (second, third) = (u.take(), u.take());
        assert_eq!(second.len() + third.len(), 600 - CHUNK);
        assert!(u.take().is_empty());
        u.linked(&second);
        u.linked(&third);
        assert_eq!(u.len(), 0);
        assert!(u.snapshot().is_none());
        // An earlier snapshot is unchanged: a search in flight keeps what it took.
        assert_eq!(held.len() as usize, 600 - CHUNK);
        assert!(u.was_deferred(599) && !u.was_deferred(600));
    }

    #[test]
    fn an_empty_set_costs_nothing() {
        let u = Unlinked::default();
        assert_eq!(u.len(), 0);
        assert!(u.snapshot().is_none() && u.take().is_empty());
    }
}
