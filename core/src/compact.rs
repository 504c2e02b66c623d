//! Compaction: a collection's files shrink back to what its live vectors need, and the
//! bytes of deleted vectors leave the disk, while searches and writes go on.
//!
//! Healing and slot reuse (`free_slots.rs`) keep a rewritten collection from growing
//! for ever, but a store that once held more (a bulk delete, or a round of rewrites
//! that took new slots before the old ones were freed) keeps its size, with live
//! vectors scattered over it. A compaction:
//!
//! 1. **Checkpoints**, so every tombstone is healed and its slot freed. The checkpoint
//!    *scrubs* the log: spares go before its roll-over and the segments it makes
//!    unnecessary are deleted rather than recycled, so no old record survives in them.
//! 2. **Moves** live vectors from past the first segment boundary that leaves room for
//!    every live vector into free slots before it (each to a slot of its own level, so
//!    the graph's hierarchy is kept; see `move_down`), in batches: under the ids' write locks, each vector is copied, logged as an
//!    ordinary put of the same id to the new slot (so replay after a crash makes the same
//!    move, as it replays any upsert), written, and its graph node is renamed to the new
//!    slot ([`Hnsw::relocate`](fletchdb_index::Hnsw::relocate): the same graph, no
//!    re-insertion); the id then points at the new slot. Until the old slot is free
//!    again a search may find the vector in either, and both map to the id (`ids.rs`).
//! 3. **Checkpoints again** (scrubbing): the moved-from nodes are healed away and their
//!    slots become free once no search can still read them.
//! 4. **Cuts the store** after the last segment that holds anything but free slots: the
//!    catalog records the new end, then those segment files are unmapped and deleted
//!    (`Shared::cut_store`). Writers wait for this step (a catalog commit and a few
//!    unlinks).
//! 5. **Zeroes** the free slots left below the cut, which may hold deleted vectors.
//!
//! A crash at any point leaves a consistent database: before step 2's first put it is
//! the old generation; during the moves, each move is a logged put, replayed or not as a
//! whole; after a checkpoint, the new one is in force. A crash between step 4's commit
//! and its unlinks leaves segment files past the recorded end, which open maps as spare
//! capacity. There is no second copy of the collection at any point, so compaction
//! needs no free space beyond the moved vectors' log records.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fletchdb_index::Slot;

use crate::collection::{Collection, CollectionInner};
use crate::error::{Error, Result};
use crate::free_slots;
use crate::record::{put_parts, put_records, PutHead};
use crate::shared::Shared;

/// Vectors moved per batch: per batch one log wait and one pass of
/// [`Hnsw::relocate`](fletchdb_index::Hnsw::relocate) over every list, during which
/// inserts into the collection wait.
const MOVE_BATCH: usize = 8192;

/// A planned move: the old slot, the id, the new slot.
type Move = (u32, u64, u32);

/// What a [`Collection::compact`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Compaction {
    /// Vectors moved to lower slots.
    pub moved: usize,
    /// Slots the store held before and after (its high-water mark).
    pub slots_before: usize,
    /// See `slots_before`.
    pub slots_after: usize,
    /// Segment files deleted.
    pub files_removed: usize,
    /// Bytes of the collection's files (vectors and graph) before and after.
    pub bytes_before: u64,
    /// See `bytes_before`.
    pub bytes_after: u64,
    /// The longest any writer of the collection had to wait on the compaction: a
    /// batch's graph relocation (inserts wait) or the cut (every write waits).
    pub longest_pause: Duration,
}

impl Collection {
    /// Compacts the collection now (see the module notes of `compact.rs` in the
    /// repository): tombstones are healed, live vectors move into free slots at the
    /// front of the store, the segment files past the last live vector are deleted, and
    /// free slots are zeroed. Old log segments are deleted, not recycled, so deleted
    /// vectors' bytes do not outlive it. Searches and writes go on meanwhile. The
    /// background thread does the same when tombstones and free slots pass
    /// [`Options::compaction_threshold_percent`](crate::Options::compaction_threshold_percent).
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Metric, Options};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path(), Options::default())?;
    /// let c = db.create_collection("pts", CollectionConfig::new(64, Metric::L2))?;
    /// let ids: Vec<u64> = (0..5_000).collect();
    /// let vectors: Vec<f32> = (0..5_000 * 64).map(|i| (i % 97) as f32).collect();
    /// c.insert_batch(&ids, &vectors)?;
    /// c.delete_batch(&ids[..4_000])?;
    /// let done = c.compact()?;
    /// assert!(done.slots_after < done.slots_before);
    /// assert_eq!(c.stats()?.tombstones, 0);
    /// assert_eq!(c.get(4_999)?.unwrap()[0], ((4_999 * 64) % 97) as f32);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`], [`Error::Closed`]; [`Error::Corruption`] if a
    /// vector to move fails its checksum (nothing more moves; what moved stays moved);
    /// a log, catalog or file error. A failed compaction leaves a consistent
    /// collection, with whatever it finished.
    pub fn compact(&self) -> Result<Compaction> {
        self.check_live()?;
        compact(&self.db, &self.c)
    }
}

/// True when `c` is worth compacting in the background at `percent`: tombstones and
/// free slots make up that share of its slots, and moving its vectors down would let
/// the store shed at least one segment file.
pub(crate) fn worth_compacting(c: &CollectionInner, percent: u8) -> bool {
    if percent == 0 {
        return false;
    }
    let slots = c.store().len();
    let live = c.index.len();
    let dead = c.index.deleted_len() + c.free.len();
    if slots == 0 || dead * 100 < slots * usize::from(percent) {
        return false;
    }
    c.store()
        .segment_starts()
        .iter()
        .any(|&b| b as usize >= live && (b as usize) < slots)
}

/// The compaction of `c` (see the module notes).
pub(crate) fn compact(db: &Shared, c: &Arc<CollectionInner>) -> Result<Compaction> {
    let _one = c.compacting.lock();
    let bytes_before = c.file_bytes()?;
    let slots_before = c.store().len();
    db.checkpoint_scrubbing()?;
    let mut pause = Duration::ZERO;
    // Searches see `moving` from now on; those that began before it end first.
    c.moving.store(true, Ordering::Release);
    c.index.wait_unobserved();
    let moved = move_down(db, c, &mut pause);
    // The moved-from nodes are healed away and the ids forget them here (if this
    // fails, the ids keep them, and searches keep walking for twice `k`).
    let healed = match moved {
        Ok(_) => db.checkpoint_scrubbing().map(|_| ()),
        Err(_) => Ok(()),
    };
    c.moving.store(false, Ordering::Release);
    let moved = moved?;
    healed?;
    let files_removed = match db.cut_store(c)? {
        Some((_, files, held)) => {
            pause = pause.max(held);
            files
        }
        None => 0,
    };
    zero_free(c)?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    c.last_compaction_ms.store(now_ms, Ordering::Release);
    Ok(Compaction {
        moved,
        slots_before,
        slots_after: c.store().len(),
        files_removed,
        bytes_before,
        bytes_after: c.file_bytes()?,
        longest_pause: pause,
    })
}

/// Step 2: moves live vectors from past the segment boundary that could end the store
/// into ready slots before it; returns how many moved.
///
/// Each node moves to a free slot of its own level, or failing that of the lowest
/// higher level, and only when there is none of the highest lower one: a node moved to
/// a slot of a lower level leaves the upper layers it held
/// ([`Hnsw::relocate`](fletchdb_index::Hnsw::relocate) drops it there), and every full
/// rewrite moves most nodes, so pairing slots at random thins the hierarchy with each
/// compaction. (With random pairing, `fletchdb-churn --mode data` measured single-thread
/// QPS at ef 64 falling from 3,736 fresh to 3,465, 3,028 and 2,902 over three rounds
/// while recall held at 0.984-0.990; but this machine's speed drifts by a third between
/// minutes, so those figures alone do not show the cause. With level-matched pairing,
/// timed against a fresh copy in interleaved passes, see the README's churn table.)
/// The last resort keeps one node from holding the store's end in place.
fn move_down(db: &Shared, c: &CollectionInner, pause: &mut Duration) -> Result<usize> {
    // Where the store could end: the first segment boundary that leaves room for every
    // live vector. Vectors past it move to free slots before it.
    let live = c.ids.read().len() as u32;
    let Some(cut) = c.store().segment_starts().into_iter().find(|&b| b >= live) else {
        return Ok(0);
    };
    // Highest first, so the top of the store empties first.
    let mut high: Vec<(u32, u64)> = {
        let ids = c.ids.read();
        ids.pairs()
            .filter(|&(_, slot)| slot >= cut)
            .map(|(id, slot)| (slot, id))
            .collect()
    };
    high.sort_unstable_by(|a, b| b.cmp(a));
    // The free slots below the cut, by level, each list popping its lowest.
    let taken = c.free.take_below(cut, usize::MAX);
    let mut by_level: Vec<Vec<u32>> = Vec::new();
    for &slot in taken.iter().rev() {
        let level = c.index.level_of(Slot(slot));
        if by_level.len() <= level {
            by_level.resize_with(level + 1, Vec::new);
        }
        by_level[level].push(slot);
    }
    let mut moves: Vec<Move> = Vec::with_capacity(high.len().min(taken.len()));
    for (from, id) in high {
        let level = c.index.level_of(Slot(from));
        let same_or_higher = by_level.iter_mut().skip(level).find_map(Vec::pop);
        let lower = || by_level.iter_mut().take(level).rev().find_map(Vec::pop);
        if let Some(to) = same_or_higher.or_else(lower) {
            moves.push((from, id, to));
        }
    }
    let unused: Vec<u32> = by_level.into_iter().flatten().collect();
    c.free.give_back(&unused);
    let mut moved = 0;
    for (n, batch) in moves.chunks(MOVE_BATCH).enumerate() {
        let stop = db.check_open().and_then(|()| {
            if c.dropped.load(Ordering::Acquire) {
                Err(Error::CollectionNotFound {
                    name: c.name.clone(),
                })
            } else {
                Ok(())
            }
        });
        let result = stop.and_then(|()| move_batch(db, c, batch, pause));
        match result {
            Ok(k) => moved += k,
            Err(e) => {
                // The targets of this batch (given back inside) and of the later ones.
                let later: Vec<u32> = moves[(n + 1) * MOVE_BATCH..].iter().map(|m| m.2).collect();
                c.free.give_back(&later);
                return Err(e);
            }
        }
    }
    Ok(moved)
}

/// Moves the vectors of `batch` (old slot, id, new slot), each only if its id still
/// holds the old slot; gives back the new slots not used (all of them on an error
/// before the log append).
fn move_batch(
    db: &Shared,
    c: &CollectionInner,
    batch: &[Move],
    pause: &mut Duration,
) -> Result<usize> {
    let ids: Vec<u64> = batch.iter().map(|&(_, id, _)| id).collect();
    let _id_locks = c.ids.lock_all(&ids);
    let (still, gone): (Vec<Move>, Vec<Move>) = {
        let map = c.ids.read();
        batch
            .iter()
            .partition(|&&(slot, id, _)| map.slot_of(id) == Some(slot))
    };
    c.free
        .give_back(&gone.iter().map(|m| m.2).collect::<Vec<_>>());
    if still.is_empty() {
        return Ok(0);
    }
    let used: Vec<u32> = still.iter().map(|m| m.2).collect();
    let gate = match db.write_gate() {
        Ok(g) => g,
        Err(e) => {
            c.free.give_back(&used);
            return Err(e);
        }
    };
    let store = c.store();
    let mut vectors = Vec::with_capacity(still.len() * c.config.dim);
    for &(slot, _, _) in &still {
        match store.vector_verified(slot) {
            Ok(Some(v)) => vectors.extend_from_slice(v),
            Ok(None) => {
                c.free.give_back(&used);
                return unreachable_slot(c, slot);
            }
            Err(e) => {
                c.free.give_back(&used);
                return Err(e.into());
            }
        }
    }
    // A move is a put of the same record at the new slot: its payload goes with it.
    let payloads: Vec<Vec<u8>> = {
        let p = c.payloads.read();
        still
            .iter()
            .map(|&(_, id, _)| p.bytes(id).to_vec())
            .collect()
    };
    let heads: Vec<PutHead> = still
        .iter()
        .zip(&payloads)
        .map(|(&(_, id, to), p)| PutHead::new(c.cid, id, to, p))
        .collect();
    let parts = put_parts(&heads, &payloads, vectors.chunks(c.config.dim));
    let records = put_records(&heads, &parts);
    if let Err(e) = gate.append_many(&records) {
        c.free.give_back(&used);
        return Err(e);
    }
    // Logged: from here on the moves happen (replay would make them).
    for (&to, v) in used.iter().zip(vectors.chunks(c.config.dim)) {
        free_slots::reclaim(store, to)?.write(v)?;
    }
    let moves: Vec<(Slot, Slot)> = still
        .iter()
        .map(|&(from, _, to)| (Slot(from), Slot(to)))
        .collect();
    // The ids first: from now until the old slots are free, a hit on either slot maps
    // to its id (and `get` reads the new slot, written above).
    c.ids.move_all(&still);
    {
        let mut p = c.payloads.write();
        for &(from, id, to) in &still {
            p.moved(id, from, to);
        }
    }
    let started = Instant::now();
    let relocated = c.index.relocate(&moves);
    *pause = (*pause).max(started.elapsed());
    if let Err(e) = relocated {
        // Nothing moved in the graph (a refused move changes nothing): make the moves
        // as replay would, inserting the new slots and tombstoning the old, so the graph
        // holds what the ids and the log say.
        log::warn!(
            "compaction of {:?}: relocating failed ({e}); inserting instead",
            c.name
        );
        let tos: Vec<Slot> = moves.iter().map(|m| m.1).collect();
        c.index.insert_batch(&tos).map_err(|e| c.graph_error(e))?;
        for &(from, _) in &moves {
            c.index.delete(from)?;
        }
    }
    Ok(still.len())
}

/// An id names a slot whose vector is not published: the store and the id map
/// disagree, which only damage can cause.
fn unreachable_slot<T>(c: &CollectionInner, slot: u32) -> Result<T> {
    Err(Error::corruption(
        c.store().dir(),
        0,
        format!("slot {slot} is named by an id but holds no vector"),
    ))
}

/// Step 5: overwrites every ready slot with zeros, so no deleted vector's bytes stay in
/// the store, and syncs the store.
fn zero_free(c: &CollectionInner) -> Result<()> {
    let store = c.store();
    let free = c.free.take_below(u32::MAX, usize::MAX);
    let zeros = vec![0.0f32; c.config.dim];
    let mut result = Ok(());
    for &slot in &free {
        if let Err(e) = free_slots::reclaim(store, slot).and_then(|r| Ok(r.write(&zeros)?)) {
            result = Err(e);
            break;
        }
    }
    c.free.give_back(&free);
    result?;
    store.flush()?;
    Ok(())
}
