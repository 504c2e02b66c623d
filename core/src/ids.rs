//! External ids and the slots that hold their vectors, both ways, and per-id write
//! ordering.
//!
//! `by_id` answers `get`, `contains` and the insert-or-replace checks; `by_slot` turns
//! search results back into ids. A slot's entry is trusted only while `by_id` points
//! back at the slot, which `mapped` records (one bit per slot, kept with every change),
//! so a result whose id has moved on (an upsert or delete racing the search) is
//! dropped rather than returned under the wrong id. Every change is also noted in
//! `dirty`, whose payloads the next checkpoint writes to the catalog.
//!
//! A compaction moves vectors between slots (`compact.rs`): for a while a moved vector
//! is in both, and a search may find either. `moved` maps the old slot to the new one
//! until the old slot is free for reuse, so a hit on the old slot still maps to its id
//! (the vector there is the same), and [`Ids::id_of`] trusts it only while the id still
//! points at the new slot.
//!
//! Writers of one id are serialised by a striped lock held from the existence check
//! through the log append to the map update, so the map changes in log order and replay
//! rebuilds the same map.
//!
//! A checkpoint saves `by_slot` and `mapped` as the id map file (`graph_files.rs`), and
//! opening reads them back; `by_id` is built from them only when first needed (a
//! write, the ninth read by id (`Ids::find`), or the background thread once the codes
//! are in), since searches need only `by_slot` and `mapped`, and the first reads by id
//! scan `by_slot` instead (`SCANS_BEFORE_BUILD`). At 1,000,000 ids (`db_bench open`, warm),
//! reading the map from the catalog's one entry per id and building both halves took
//! 91-120 ms at open, beside the graph's 81-109 ms on the same two cores; an open that
//! skipped the map altogether took 72-81 ms against 106-131. `by_slot` is read in place
//! from the file's private mapping until the first change copies it (`SlotIds`): the
//! first write after an open pays that copy, 8 MB at 1,000,000 slots.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;

use fletchdb_storage::idmap::{self, IdMapFile, SlotIds};
use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use rustc_hash::FxHashMap;

/// Stripes of the per-id write lock.
const STRIPES: usize = 1024;

/// The id maps of one collection.
#[derive(Debug, Default)]
pub(crate) struct Ids {
    /// Built on first use (see the module comment).
    by_id: OnceLock<FxHashMap<u64, u32>>,
    /// Read in place from the id map file until the first change (`SlotIds`).
    by_slot: SlotIds,
    /// Bit `s % 64` of word `s / 64`: `by_id` points `by_slot[s]` at `s`.
    mapped: Vec<u64>,
    /// How many ids there are, until `by_id` is built.
    loaded: usize,
    dirty: Vec<u64>,
    /// Slots a compaction moved vectors out of, to the slots they moved to.
    moved: FxHashMap<u32, u32>,
    /// Reads so far while `by_id` was not built ([`Ids::find`]).
    scans: AtomicU32,
}

/// How many lookups before `by_id` is built are answered by reading `by_slot`
/// ([`Ids::scan`]) rather than by building it. At 1,000,000 ids, right after a warm
/// open (`db_bench open DIR get`, 2026-12-04), building took 29.7-34.4 ms and a scan
/// 0.1-3.6 ms (it reads from the last slot back to the id's): a `get` right after an
/// open answers in a scan's time, and a run of them pays at most about 1.8 times what
/// building at once would have cost (eight full scans, then the build).
const SCANS_BEFORE_BUILD: u32 = 8;

impl Ids {
    /// Maps from the pairs a checkpoint of the old layout stored in the catalog (the
    /// last pair of a slot names its id).
    pub(crate) fn from_pairs(pairs: &[(u64, u32)]) -> Ids {
        let mut by_id = FxHashMap::with_capacity_and_hasher(pairs.len(), Default::default());
        let mut ids = Ids::default();
        let by_slot = ids.by_slot.to_mut();
        if let Some(max) = pairs.iter().map(|p| p.1).max() {
            by_slot.resize(max as usize + 1, 0);
        }
        for &(id, slot) in pairs {
            by_id.insert(id, slot);
            by_slot[slot as usize] = id;
        }
        for (&id, &slot) in &by_id {
            if ids.by_slot[slot as usize] == id {
                ids.mark(slot, true);
            }
        }
        ids.loaded = by_id.len();
        let _ = ids.by_id.set(by_id);
        ids
    }

    /// Maps from an id map file; `by_id` is built when first needed.
    pub(crate) fn from_file(file: IdMapFile) -> Ids {
        Ids {
            by_slot: file.ids,
            mapped: file.mapped,
            loaded: usize::try_from(file.count).unwrap_or(usize::MAX),
            ..Ids::default()
        }
    }

    /// The id map file's bytes ([`idmap::encode`]) of `by_slot` and `mapped`: every
    /// slot below the highest mapped one, encoded straight from the maps with no copy
    /// of them first.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let words = self
            .mapped
            .iter()
            .rposition(|&w| w != 0)
            .map_or(0, |w| w + 1);
        let bound = match self.mapped[..words].last() {
            Some(&last) => (words - 1) * 64 + 64 - last.leading_zeros() as usize,
            None => 0,
        };
        idmap::encode(
            &self.by_slot[..bound.min(self.by_slot.len())],
            &self.mapped[..words],
        )
    }

    fn is_mapped(&self, slot: u32) -> bool {
        self.mapped
            .get(slot as usize / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    fn mark(&mut self, slot: u32, on: bool) {
        let w = slot as usize / 64;
        if self.mapped.len() <= w {
            if !on {
                return;
            }
            self.mapped.resize((w + 1).max(self.mapped.len() * 2), 0);
        }
        if on {
            self.mapped[w] |= 1 << (slot % 64);
        } else {
            self.mapped[w] &= !(1 << (slot % 64));
        }
    }

    /// `by_id`, built first if it is not yet: from `by_slot` where `mapped` (an id the
    /// file names in two slots, which a checkpoint never writes, keeps the last).
    fn by_id(&self) -> &FxHashMap<u64, u32> {
        self.by_id.get_or_init(|| {
            let mut map = FxHashMap::with_capacity_and_hasher(self.loaded, Default::default());
            let by_slot = &self.by_slot[..];
            for (w, &word) in self.mapped.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let s = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if let Some(&id) = by_slot.get(s) {
                        map.insert(id, s as u32);
                    }
                }
            }
            map
        })
    }

    fn by_id_mut(&mut self) -> &mut FxHashMap<u64, u32> {
        self.by_id();
        self.by_id
            .get_mut()
            .unwrap_or_else(|| unreachable!("`by_id` builds the map"))
    }

    /// Builds `by_id` if it is not yet built.
    pub(crate) fn build(&self) {
        self.by_id();
    }

    /// The slot `id`'s vector is in, building `by_id` first if it is not yet: for
    /// writes (which need it built) and for many lookups at once.
    pub(crate) fn slot_of(&self, id: u64) -> Option<u32> {
        self.by_id().get(&id).copied()
    }

    /// The slot `id`'s vector is in, for reads (`get`, `contains`, payloads, id
    /// filters): before `by_id` is built, the first [`SCANS_BEFORE_BUILD`] of these
    /// read `by_slot` instead ([`scan`](Self::scan)), and the next one builds it.
    pub(crate) fn find(&self, id: u64) -> Option<u32> {
        if let Some(map) = self.by_id.get() {
            return map.get(&id).copied();
        }
        if self.scans.fetch_add(1, Ordering::Relaxed) < SCANS_BEFORE_BUILD {
            return self.scan(id);
        }
        self.by_id().get(&id).copied()
    }

    /// [`find`](Self::find) for each of `ids`, in order; more than
    /// [`SCANS_BEFORE_BUILD`] of them build `by_id` first rather than scan.
    pub(crate) fn find_each<'a>(
        &'a self,
        ids: &'a [u64],
    ) -> impl Iterator<Item = Option<u32>> + 'a {
        if ids.len() > SCANS_BEFORE_BUILD as usize {
            self.build();
        }
        ids.iter().map(|&id| self.find(id))
    }

    /// `id`'s slot as `by_id` would map it, found by reading `by_slot`: the last
    /// mapped slot that names it. Compares a `mapped` word's 64 slots at a time.
    fn scan(&self, id: u64) -> Option<u32> {
        let by_slot = &self.by_slot[..];
        for (w, &word) in self.mapped.iter().enumerate().rev() {
            let start = w * 64;
            let Some(block) = by_slot.get(start..by_slot.len().min(start + 64)) else {
                continue;
            };
            let hits = (block.iter().enumerate())
                .fold(0, |bits, (i, &x)| bits | u64::from(x == id) << i)
                & word;
            if hits != 0 {
                return Some((start + 63 - hits.leading_zeros() as usize) as u32);
            }
        }
        None
    }

    /// The id whose vector is in `slot`, if one still is.
    #[inline]
    pub(crate) fn id_of(&self, slot: u32) -> Option<u64> {
        let id = *self.by_slot.get(slot as usize)?;
        if self.is_mapped(slot) {
            return Some(id);
        }
        // A slot whose vector a compaction moved: its id, while the id is still there.
        let &to = self.moved.get(&slot)?;
        (self.is_mapped(to) && self.by_slot.get(to as usize) == Some(&id)).then_some(id)
    }

    /// Points `id` at `to`, where a compaction copied its vector from `from`; a hit on
    /// `from` keeps mapping to `id` until [`forget_moves`](Self::forget_moves).
    fn move_to(&mut self, id: u64, from: u32, to: u32) {
        self.set(id, to);
        self.moved.insert(from, to);
    }

    /// Forgets the moves out of `slots`, which are about to take new vectors.
    fn forget_moves(&mut self, slots: &[u32]) {
        if !self.moved.is_empty() {
            for s in slots {
                self.moved.remove(s);
            }
        }
    }

    /// Points `id` at `slot`; returns the slot it had.
    pub(crate) fn set(&mut self, id: u64, slot: u32) -> Option<u32> {
        let by_slot = self.by_slot.to_mut();
        if by_slot.len() <= slot as usize {
            let len = (slot as usize + 1).max(by_slot.len() * 2);
            by_slot.resize(len, 0);
        }
        by_slot[slot as usize] = id;
        self.dirty.push(id);
        let old = self.by_id_mut().insert(id, slot);
        self.mark(slot, true);
        if let Some(o) = old.filter(|&o| o != slot) {
            if self.by_slot.get(o as usize) == Some(&id) {
                self.mark(o, false);
            }
        }
        old
    }

    /// Notes `id` as changed for the next checkpoint without moving it (its payload
    /// changed).
    pub(crate) fn touch(&mut self, id: u64) {
        self.dirty.push(id);
    }

    /// Forgets `id`; returns the slot it had.
    pub(crate) fn remove(&mut self, id: u64) -> Option<u32> {
        let old = self.by_id_mut().remove(&id);
        if let Some(o) = old {
            self.dirty.push(id);
            if self.by_slot.get(o as usize) == Some(&id) {
                self.mark(o, false);
            }
        }
        old
    }

    pub(crate) fn len(&self) -> usize {
        match self.by_id.get() {
            Some(map) => map.len(),
            None => self.loaded,
        }
    }

    /// Every id and its slot, in no order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.by_id().iter().map(|(&id, &slot)| (id, slot))
    }

    /// Takes the ids changed since the last call (each once).
    pub(crate) fn take_dirty(&mut self) -> Vec<u64> {
        let mut d = std::mem::take(&mut self.dirty);
        d.sort_unstable();
        d.dedup();
        d
    }

    /// Puts back ids a failed checkpoint took.
    pub(crate) fn restore_dirty(&mut self, ids: Vec<u64>) {
        self.dirty.extend(ids);
    }
}

/// [`Ids`] behind a read-write lock, with the per-id write stripes.
#[derive(Debug)]
pub(crate) struct IdMap {
    ids: RwLock<Ids>,
    /// Mirrors "`Ids::moved` is not empty", so a search can ask without the lock.
    moves: AtomicBool,
    stripes: Box<[Mutex<()>]>,
}

impl IdMap {
    pub(crate) fn new(ids: Ids) -> IdMap {
        IdMap {
            ids: RwLock::new(ids),
            moves: AtomicBool::new(false),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Ids> {
        self.ids.read()
    }

    /// A read lock that a queued writer does not hold up: for reads made while holding
    /// another lock taken after this one (see the search's lock order).
    pub(crate) fn read_recursive(&self) -> RwLockReadGuard<'_, Ids> {
        self.ids.read_recursive()
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Ids> {
        self.ids.write()
    }

    /// True while a compaction's move left some vector in two slots (the old one not yet
    /// free): a search may then find it twice. One atomic load, no lock.
    pub(crate) fn has_moves(&self) -> bool {
        self.moves.load(Ordering::Acquire)
    }

    /// Notes `ids` as changed for the next checkpoint, their slots unchanged (their
    /// payloads changed).
    pub(crate) fn touch_all(&self, ids: &[u64]) {
        let mut map = self.ids.write();
        for &id in ids {
            map.touch(id);
        }
    }

    /// [`Ids::move_to`] for each `(old slot, id, new slot)`, under one write lock.
    pub(crate) fn move_all(&self, moves: &[(u32, u64, u32)]) {
        let mut ids = self.ids.write();
        for &(from, id, to) in moves {
            ids.move_to(id, from, to);
        }
        self.moves.store(!ids.moved.is_empty(), Ordering::Release);
    }

    /// [`Ids::forget_moves`] for `slots`, which are about to take new vectors.
    pub(crate) fn forget_moves(&self, slots: &[u32]) {
        let mut ids = self.ids.write();
        ids.forget_moves(slots);
        self.moves.store(!ids.moved.is_empty(), Ordering::Release);
    }

    fn stripe_of(id: u64) -> usize {
        // Fibonacci hashing spreads sequential ids over the stripes.
        (id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54) as usize % STRIPES
    }

    /// The write locks of all of `ids`, taken in stripe order (so two batches never
    /// deadlock).
    pub(crate) fn lock_all(&self, ids: &[u64]) -> Vec<MutexGuard<'_, ()>> {
        let mut stripes: Vec<usize> = ids.iter().map(|&id| Self::stripe_of(id)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        stripes
            .into_iter()
            .map(|s| self.stripes[s].lock())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_slots_do_not_map_back() {
        let mut ids = Ids::from_pairs(&[(10, 0), (11, 1)]);
        assert_eq!(ids.id_of(1), Some(11));
        assert_eq!(ids.set(11, 5), Some(1));
        assert_eq!(ids.id_of(1), None, "slot 1 no longer holds id 11");
        assert_eq!(ids.id_of(5), Some(11));
        assert_eq!(ids.remove(10), Some(0));
        assert_eq!(ids.id_of(0), None);
        assert_eq!(ids.id_of(99), None);
        assert_eq!(ids.take_dirty(), vec![10, 11]);
        assert!(ids.take_dirty().is_empty());
        // Slot 2 was never mapped: by_slot holds 0 there, and id 0 is not at slot 2.
        ids.set(0, 7);
        assert_eq!(ids.id_of(2), None);
        assert_eq!(ids.id_of(7), Some(0));
    }

    /// A small deterministic generator for the tests below.
    fn next(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// `id_of` as it was defined before `mapped`: from `by_id` and `moved`.
    fn oracle_id_of(ids: &Ids, slot: u32) -> Option<u64> {
        let id = *ids.by_slot.get(slot as usize)?;
        let at = ids.by_id().get(&id);
        if at == Some(&slot) {
            return Some(id);
        }
        let to = ids.moved.get(&slot)?;
        (at == Some(to)).then_some(id)
    }

    /// A file naming an id in two slots (which no checkpoint writes) maps it to the
    /// last, scanned or built; an id in an unmapped slot, or past the last mapped
    /// word, is not found.
    #[test]
    fn a_scan_answers_as_the_built_map_on_a_file_with_an_id_twice() {
        let mut by_slot = vec![0u64; 200];
        by_slot[3] = 7;
        by_slot[100] = 7;
        by_slot[130] = 9;
        by_slot[199] = 11;
        let mapped = [1u64 << 3, 1 << (100 - 64), 1 << (130 - 128), 0];
        let file = idmap::decode(&idmap::encode(&by_slot, &mapped)).unwrap();
        let ids = Ids::from_file(file);
        assert_eq!(
            [7, 9, 11, 0].map(|id| ids.scan(id)),
            [Some(100), Some(130), None, None]
        );
        // A batch of up to eight reads scans; a longer one builds the map first.
        let eight = [7, 9, 11, 0, 7, 9, 11, 0];
        let found: Vec<_> = ids.find_each(&eight).collect();
        assert_eq!(found[..4], [Some(100), Some(130), None, None]);
        assert!(ids.by_id.get().is_none());
        let nine: Vec<_> = ids.find_each(&[7; 9]).collect();
        assert!(ids.by_id.get().is_some());
        assert_eq!(nine, [Some(100); 9]);
        ids.build();
        assert_eq!(
            [7, 9, 11].map(|id| ids.slot_of(id)),
            [Some(100), Some(130), None]
        );
    }

    /// Random sets, removes, compaction moves and forgotten moves, with a save and a
    /// reload through the file between rounds: `mapped` answers as `by_id` would, and
    /// the reloaded map answers alike before and after its `by_id` is built.
    #[test]
    fn mapped_agrees_with_by_id_through_changes_and_reloads() {
        let mut x = 0x5eed_1234_abcd_ef01u64;
        let mut ids = Ids::default();
        for round in 0..40 {
            for _ in 0..200 {
                let id = next(&mut x) % 300;
                let slot = (next(&mut x) % 500) as u32;
                let op = next(&mut x) % 10;
                if op == 9 {
                    // A checkpoint frees the old slots of some moves.
                    let from: Vec<u32> = ids.moved.keys().copied().filter(|s| s % 3 == 0).collect();
                    ids.forget_moves(&from);
                    continue;
                }
                // As the database hands out slots: never one an id or a move holds.
                let taken = ids.by_id().values().any(|&v| v == slot);
                if taken || ids.moved.contains_key(&slot) {
                    continue;
                }
                match op {
                    0..=4 => {
                        ids.set(id, slot);
                    }
                    5..=6 => {
                        ids.remove(id);
                    }
                    7..=8 => {
                        if let Some(from) = ids.slot_of(id) {
                            ids.move_to(id, from, slot);
                        }
                    }
                    _ => {}
                }
            }
            for s in 0..520 {
                assert_eq!(
                    ids.id_of(s),
                    oracle_id_of(&ids, s),
                    "round {round} slot {s}"
                );
            }
            // What a checkpoint saves, and an open reads back (no moves survive it).
            ids.moved.clear();
            let file = idmap::decode(&ids.encode()).unwrap();
            let loaded = Ids::from_file(file);
            assert_eq!(loaded.len(), ids.len(), "round {round}");
            for s in 0..520 {
                assert_eq!(
                    loaded.id_of(s),
                    ids.id_of(s),
                    "round {round} slot {s}, unbuilt"
                );
            }
            // Lookups before `by_id` is built read `by_slot`, and answer as it will.
            for id in 0..300 {
                assert_eq!(loaded.scan(id), ids.slot_of(id), "round {round} id {id}");
            }
            for id in 0..SCANS_BEFORE_BUILD as u64 + 1 {
                assert!(loaded.by_id.get().is_none(), "round {round}: built early");
                assert_eq!(loaded.find(id), ids.slot_of(id), "round {round} id {id}");
            }
            assert!(loaded.by_id.get().is_some(), "round {round}: never built");
            let mut pairs: Vec<(u64, u32)> = loaded.pairs().collect();
            let mut want: Vec<(u64, u32)> = ids.pairs().collect();
            pairs.sort_unstable();
            want.sort_unstable();
            assert_eq!(pairs, want, "round {round}");
            for s in 0..520 {
                assert_eq!(
                    loaded.id_of(s),
                    ids.id_of(s),
                    "round {round} slot {s}, built"
                );
            }
            ids = loaded;
        }
    }
}
