//! Insertion (Malkov & Yashunin, algorithm 1), safe under concurrent inserts and searches.
//!
//! A node is claimed (its level fixed) before anything links to it, gets its own lists
//! first and only then is linked from its neighbours, layer by layer from the top, so a
//! concurrent search can reach it only once its lists exist. Each list is written under
//! its node's lock; an insert that raises the top level holds the entry-point lock for
//! its whole run, as hnswlib does, so the entry point never names a half-built node.

use std::sync::atomic::Ordering;

use crossbeam_epoch as epoch;

use crate::distance::Kernel;
use crate::error::IndexError;
use crate::hnsw::{Entry, Hnsw};
use crate::level::level_for;
use crate::nodes::{neighbours, push_neighbour, store_neighbours, View};
use crate::scratch::Scratch;
use crate::search::Everything;
use crate::types::Slot;
use crate::vectors::VectorSource;

impl<V: VectorSource> Hnsw<V> {
    /// Inserts `slot` scoring with `K`; the caller holds `links_gate` shared and, for a
    /// coded `K`, has written the slot's code.
    pub(crate) fn insert_with<K: Kernel>(&self, slot: Slot) -> Result<(), IndexError> {
        self.indegrees.get_or_init(|| self.count_indegrees());
        let _seen = self.observers.enter();
        let level = level_for(self.config.seed, slot.0, self.level_mult);
        self.nodes.ensure(slot.index());
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);
        if view.meta(slot.0).is_none() {
            return Err(IndexError::SlotOutOfRange {
                slot: slot.0,
                len: self.vectors.len(),
            });
        }
        let Some(meta) = view.claim(slot.0, level) else {
            return Err(IndexError::SlotOccupied(slot.0));
        };
        // A slot a heal freed keeps its old lists until now; nothing reaches it.
        for layer in 0..=level {
            if let Some(list) = view.links(slot.0, layer) {
                store_neighbours(list, &[]);
            }
        }
        // Its code was written before the claim (`Hnsw::insert`): scans may score it.
        view.publish(slot.0);
        self.slot_bound
            .fetch_max(slot.0 + 1, std::sync::atomic::Ordering::AcqRel);

        let mut raise = None;
        let mut entry = self.entry();
        if entry.is_none_or(|e| level > e.level) {
            raise = Some(self.entry_lock.lock());
            entry = self.entry();
            if entry.is_some_and(|e| level <= e.level) {
                raise = None;
            }
        }
        match entry {
            None => self.set_entry(Entry {
                slot: slot.0,
                level,
            }),
            Some(e) => {
                let mut scratch = self.pool.get();
                self.link::<K>(&mut view, &mut scratch, slot.0, level, e);
                if level > e.level {
                    self.set_entry(Entry {
                        slot: slot.0,
                        level,
                    });
                }
            }
        }
        drop(raise);
        meta.set_ready();
        self.inserted
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ok(())
    }

    /// Finds the new node's neighbours on each of its layers and links both ways.
    ///
    /// All of the node's own lists are written before any other node links to it: a
    /// node reachable on an upper layer before it had a layer-0 list would strand
    /// concurrent inserts that descend onto it (they would find only it, and each other).
    fn link<K: Kernel>(
        &self,
        view: &mut View<'_>,
        scratch: &mut Scratch,
        slot: u32,
        level: usize,
        entry: Entry,
    ) {
        let q = K::row(self, slot);
        let start = (entry.slot, self.dist::<K>(q, entry.slot));
        let closest = self.descend::<K>(view, q, start, entry.level, level);
        scratch.entries.clear();
        scratch.entries.push(closest);
        let m = self.config.m;
        let top = level.min(entry.level);
        for layer in (0..=top).rev() {
            let s = &mut *scratch;
            let w = &mut s.walk;
            w.visited.reset(view.capacity());
            w.list.reset(self.config.ef_construction);
            w.visited.insert(slot);
            for &(id, d) in s.entries.iter() {
                if w.visited.insert(id) {
                    w.list.insert(d, id);
                }
            }
            self.walk::<K, _>(view, q, w, &Everything, layer);
            s.pairs.clear();
            // Nodes a heal is unlinking are passed through but never linked to.
            s.pairs
                .extend(w.list.iter().filter(|&(id, _)| linkable(view, id)));
            self.select::<K>(&s.pairs, if layer == 0 { 2 * m } else { m }, &mut s.chosen);
            if let Some(own) = view.links(slot, layer) {
                // Nobody can reach this node yet, so nobody else writes this list.
                store_neighbours(own, &s.chosen);
                if layer == 0 {
                    adjust_indegrees(view, &[], &s.chosen);
                }
            }
            // The whole candidate set seeds the next layer down.
            std::mem::swap(&mut s.entries, &mut s.pairs);
        }
        for layer in (0..=top).rev() {
            let mut chosen = std::mem::take(&mut scratch.chosen);
            chosen.clear();
            if let Some(own) = view.links(slot, layer) {
                chosen.extend(neighbours(own));
            }
            for &n in &chosen {
                self.connect::<K>(view, scratch, n, slot, layer);
            }
            scratch.chosen = chosen;
        }
    }

    /// Adds `new` to `n`'s list on `layer`, re-selecting when the list is full.
    pub(crate) fn connect<K: Kernel>(
        &self,
        view: &mut View<'_>,
        scratch: &mut Scratch,
        n: u32,
        new: u32,
        layer: usize,
    ) {
        let (Some(meta), Some(list)) = (view.meta(n), view.links(n, layer)) else {
            return;
        };
        let _lock = meta.lock().lock();
        if neighbours(list).any(|x| x == new) {
            return;
        }
        if push_neighbour(list, new) {
            if layer == 0 {
                adjust_indegrees(view, &[], &[new]);
            }
            return;
        }
        let max = if layer == 0 {
            2 * self.config.m
        } else {
            self.config.m
        };
        let vn = K::row(self, n);
        let mut pairs = std::mem::take(&mut scratch.pairs);
        pairs.clear();
        pairs.push((new, K::distance(vn, K::row(self, new))));
        pairs.extend(neighbours(list).map(|x| (x, K::distance(vn, K::row(self, x)))));
        pairs.sort_unstable_by(|a, b| a.1.total_cmp(&b.1));
        let mut keep = std::mem::take(&mut scratch.selected);
        self.select::<K>(&pairs, max, &mut keep);
        if layer == 0 {
            let old = pairs.iter().map(|&(c, _)| c).filter(|&c| c != new);
            drop_links(view, old, &mut keep, max);
            let orphan = view
                .meta(new)
                .is_some_and(|m| m.indegree().load(Ordering::Acquire) == 0);
            if !keep.contains(&new) && orphan && keep.len() < max {
                keep.push(new);
            }
            if keep.contains(&new) {
                adjust_indegrees(view, &[], &[new]);
            }
        }
        store_neighbours(list, &keep);
        scratch.selected = keep;
        scratch.pairs = pairs;
    }
}

impl<V: VectorSource> Hnsw<V> {
    /// Counts every node's layer-0 in-degree from the lists (after a load). Runs once,
    /// before the first insert; other inserts wait for it, searches do not.
    pub(crate) fn count_indegrees(&self) {
        let bound = self.slot_bound();
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);
        let mut counts = vec![0u32; bound];
        for slot in 0..bound as u32 {
            // A freed slot's stale list names nobody.
            if !view.meta(slot).is_some_and(|m| m.state().claimed()) {
                continue;
            }
            if let Some(list) = view.links0(slot) {
                for n in neighbours(list) {
                    if let Some(c) = counts.get_mut(n as usize) {
                        *c += 1;
                    }
                }
            }
        }
        for (slot, &c) in counts.iter().enumerate() {
            if let Some(m) = view.meta(slot as u32) {
                m.indegree().store(c, Ordering::Release);
            }
        }
    }
}

/// Takes a layer-0 list from `old` to `keep`: every node of `old` that `keep` leaves out
/// loses an in-link. The heuristic usually keeps fewer than `max`; a node for which this
/// was the last in-link would become unreachable, so it is kept instead while there is
/// room. The decrement is a conditional atomic update, so two lists pruning the same
/// node at once cannot both take its last link. (Nodes `keep` adds are the caller's to
/// count.)
pub(crate) fn drop_links(
    view: &mut View<'_>,
    old: impl IntoIterator<Item = u32>,
    keep: &mut Vec<u32>,
    max: usize,
) {
    for c in old {
        if keep.contains(&c) {
            continue;
        }
        let Some(m) = view.meta(c) else { continue };
        let dropped = m
            .indegree()
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                (d > 1).then(|| d - 1)
            })
            .is_ok();
        if !dropped {
            if keep.len() < max {
                keep.push(c);
            } else {
                let _ = m
                    .indegree()
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1));
            }
        }
    }
}

/// True if a new link may name `slot`: a node that is not being unlinked by a heal.
pub(crate) fn linkable(view: &mut View<'_>, slot: u32) -> bool {
    view.meta(slot)
        .is_some_and(|m| m.state().claimed() && !m.state().retiring())
}

/// Updates layer-0 in-degrees after a list changed from `before` to `after`.
pub(crate) fn adjust_indegrees(view: &mut View<'_>, before: &[u32], after: &[u32]) {
    for &x in after.iter().filter(|x| !before.contains(x)) {
        if let Some(m) = view.meta(x) {
            m.indegree().fetch_add(1, Ordering::AcqRel);
        }
    }
    for &x in before.iter().filter(|x| !after.contains(x)) {
        if let Some(m) = view.meta(x) {
            let _ = m
                .indegree()
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1));
        }
    }
}
