//! External ids and the slots that hold their vectors, both ways, and per-id write
//! ordering.
//!
//! `by_id` answers `get`, `contains` and the insert-or-replace checks; `by_slot` turns
//! search results back into ids. A slot's entry is trusted only while `by_id` points
//! back at the slot, so a result whose id has moved on (an upsert or delete racing the
//! search) is dropped rather than returned under the wrong id. Every change is also
//! noted in `dirty`, which the next checkpoint writes to the catalog.
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

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use rustc_hash::FxHashMap;

/// Stripes of the per-id write lock.
const STRIPES: usize = 1024;

/// The id maps of one collection.
#[derive(Debug, Default)]
pub(crate) struct Ids {
    by_id: FxHashMap<u64, u32>,
    by_slot: Vec<u64>,
    dirty: Vec<u64>,
    /// Slots a compaction moved vectors out of, to the slots they moved to.
    moved: FxHashMap<u32, u32>,
}

impl Ids {
    /// Maps built from the pairs a checkpoint stored.
    pub(crate) fn from_pairs(pairs: &[(u64, u32)]) -> Ids {
        let mut ids = Ids {
            by_id: FxHashMap::with_capacity_and_hasher(pairs.len(), Default::default()),
            by_slot: Vec::new(),
            dirty: Vec::new(),
            moved: FxHashMap::default(),
        };
        if let Some(max) = pairs.iter().map(|p| p.1).max() {
            ids.by_slot.resize(max as usize + 1, 0);
        }
        for &(id, slot) in pairs {
            ids.by_id.insert(id, slot);
            ids.by_slot[slot as usize] = id;
        }
        ids
    }

    pub(crate) fn slot_of(&self, id: u64) -> Option<u32> {
        self.by_id.get(&id).copied()
    }

    /// The id whose vector is in `slot`, if one still is.
    #[inline]
    pub(crate) fn id_of(&self, slot: u32) -> Option<u64> {
        let id = *self.by_slot.get(slot as usize)?;
        let at = self.by_id.get(&id);
        if at == Some(&slot) {
            return Some(id);
        }
        // A slot whose vector a compaction moved: its id, while the id is still there.
        let to = self.moved.get(&slot)?;
        (at == Some(to)).then_some(id)
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
        if self.by_slot.len() <= slot as usize {
            let len = (slot as usize + 1).max(self.by_slot.len() * 2);
            self.by_slot.resize(len, 0);
        }
        self.by_slot[slot as usize] = id;
        self.dirty.push(id);
        self.by_id.insert(id, slot)
    }

    /// Notes `id` as changed for the next checkpoint without moving it (its payload
    /// changed).
    pub(crate) fn touch(&mut self, id: u64) {
        self.dirty.push(id);
    }

    /// Forgets `id`; returns the slot it had.
    pub(crate) fn remove(&mut self, id: u64) -> Option<u32> {
        let old = self.by_id.remove(&id);
        if old.is_some() {
            self.dirty.push(id);
        }
        old
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Every id and its slot, in no order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.by_id.iter().map(|(&id, &slot)| (id, slot))
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
}
