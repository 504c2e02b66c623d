//! Relocation: moving live nodes to other slots, links and all, so that a store whose
//! live vectors are scattered over many slots can be made dense (the database's
//! compaction) without re-inserting anything.
//!
//! A move `from → to` needs `to` empty (never inserted, or freed by a heal) and already
//! holding `from`'s vector in the vector source. Then, with inserts held off (the insert
//! gate, taken exclusively for the whole call) and searches going on:
//!
//! 1. `to` is claimed at its own level (levels are a function of the slot, so a freed
//!    slot claimed again keeps the list storage its level sized), given `from`'s lists on
//!    every layer both have, and marked ready. Nothing links to it yet.
//! 2. Every list of every node is rewritten, in parallel and under each node's lock,
//!    with `to` in place of `from`; on a layer `to` does not reach, `from` is dropped
//!    from the list instead. A search reading a list meanwhile sees `from` or `to`, each
//!    a node holding the same vector with valid lists.
//! 3. `from` is tombstoned, as an upsert leaves the slot it replaced (the entry point
//!    moves off it if it was the entry), so the next [`Hnsw::heal`] frees it, and it is
//!    not written again until the searches that might still read it are over
//!    ([`Hnsw::wait_unobserved`]).
//!
//! The graph after a move is the graph before it, renamed: the same distances, the same
//! paths, so search quality is unchanged. Measured cost: `relocate` is a pass over every
//! list, with no distance computed (see `tests/index/relocate.rs`).

use std::sync::atomic::Ordering;

use crossbeam_epoch as epoch;

use crate::error::IndexError;
use crate::hnsw::{Entry, Hnsw};
use crate::insert::adjust_indegrees;
use crate::level::level_for;
use crate::nodes::{neighbours, store_neighbours, View};
use crate::types::Slot;
use crate::vectors::VectorSource;

/// Marks a slot no move renames in the rename table.
const NONE: u32 = u32::MAX;

impl<V: VectorSource> Hnsw<V> {
    /// Moves each live node `from` to the empty slot `to` (see the module notes), whose
    /// vector in the source must already equal `from`'s. `to` takes `from`'s place in
    /// every list; `from` is left deleted for the next [`heal`](Self::heal) to free.
    /// Searches may run meanwhile and find either slot; inserts wait for the call.
    ///
    /// ```
    /// use fletchdb_index::{Hnsw, HnswConfig, Metric, Slot};
    /// let index = Hnsw::in_memory(1, HnswConfig::new(Metric::L2))?;
    /// let slots = index.add_batch(&[0.0, 1.0, 2.0, 3.0])?;
    /// // A copy of slot 3's vector in a slot with no node; then move the node there.
    /// let to = index.vectors().push(&[3.0])?;
    /// index.relocate(&[(slots[3], to)])?;
    /// assert_eq!(index.search(&[3.1], 1, 16)?[0].slot, to);
    /// assert_eq!(index.deleted_len(), 1); // slot 3, until the next heal
    /// index.check_integrity()?;
    /// # Ok::<(), fletchdb_index::IndexError>(())
    /// ```
    ///
    /// # Errors
    /// [`IndexError::InvalidMove`], and nothing changes, if a `from` is not a live,
    /// fully inserted node, a `to` is outside the source or holds a node, a slot appears
    /// twice, or a `to`'s vector differs from its `from`'s.
    pub fn relocate(&self, moves: &[(Slot, Slot)]) -> Result<(), IndexError> {
        let _one = self.heal_lock.lock();
        self.indegrees.get_or_init(|| self.count_indegrees());
        let _no_inserts = self.links_gate.write();
        let _seen = self.observers.enter();
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);
        let bound = moves
            .iter()
            .map(|&(f, t)| f.0.max(t.0) as usize + 1)
            .max()
            .unwrap_or(0)
            .max(self.slot_bound());
        let rename = self.check_moves(&mut view, moves, bound)?;
        if moves.is_empty() {
            return Ok(());
        }
        let max = moves.iter().map(|m| m.1.index()).max().unwrap_or(0);
        self.nodes.ensure(max);

        // 1. Claim each `to` and give it `from`'s lists.
        for &(Slot(from), Slot(to)) in moves {
            let level = level_for(self.config.seed, to, self.level_mult);
            let from_level = view.meta(from).map_or(0, |m| m.state().level());
            let Some(meta) = view.claim(to, level) else {
                continue; // checked empty above, under the gate and the heal lock
            };
            if let Some(codes) = self.codes.get() {
                // Nothing reaches `to` yet (its live bit is clear, so no scan scores
                // it), and every insert is held off.
                codes.write(Slot(to), self.vectors.vector(Slot(to)));
            }
            view.publish(to);
            for layer in 0..=level {
                let Some(own) = view.links(to, layer) else {
                    continue;
                };
                let theirs: Vec<u32> = if layer <= from_level {
                    view.links(from, layer)
                        .map(|l| neighbours(l).collect())
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                let _lock = meta.lock().lock();
                store_neighbours(own, &theirs);
                if layer == 0 {
                    // `from` still links to these too, until the heal frees it.
                    adjust_indegrees(&mut view, &[], &theirs);
                }
            }
            meta.set_ready();
            self.slot_bound.fetch_max(to + 1, Ordering::AcqRel);
        }

        // 2. Rename `from` to `to` in every list (dropping it where `to` has no layer).
        let mut levels: Vec<(u32, usize)> = moves
            .iter()
            .map(|&(_, Slot(to))| (to, level_for(self.config.seed, to, self.level_mult)))
            .collect();
        levels.sort_unstable();
        let to_level = |to: u32| {
            levels
                .binary_search_by_key(&to, |p| p.0)
                .map_or(0, |i| levels[i].1)
        };
        let bound = self.slot_bound() as u32;
        let rename_lists = |guard: &epoch::Guard, list_ids: &mut Vec<u32>, n: u32| {
            let mut view = self.nodes.view(guard);
            let Some(meta) = view.meta(n) else { return };
            let st = meta.state();
            if !st.claimed() {
                return;
            }
            for layer in 0..=st.level() {
                let Some(list) = view.links(n, layer) else {
                    continue;
                };
                if !neighbours(list).any(|x| rename.get(x as usize).is_some_and(|&r| r != NONE)) {
                    continue;
                }
                let _lock = meta.lock().lock();
                list_ids.clear();
                let mut dropped = false;
                for x in neighbours(list) {
                    match rename.get(x as usize).copied() {
                        Some(to) if to != NONE => {
                            if to_level(to) >= layer {
                                list_ids.push(to);
                            } else {
                                dropped = true;
                            }
                        }
                        _ => list_ids.push(x),
                    }
                }
                if dropped {
                    store_neighbours(list, list_ids);
                } else {
                    // Same length: rename in place, entry by entry, so a reader never
                    // sees a shorter list.
                    for (slot, &id) in list[1..].iter().zip(list_ids.iter()) {
                        if slot.load(Ordering::Relaxed) != id {
                            slot.store(id, Ordering::Release);
                        }
                    }
                }
            }
        };
        // On threads of its own, not rayon's pool, since it holds every insert off: with
        // rayon's workers inside inserts of this index waiting at the gate, work handed
        // to the pool from a thread outside it would never run (the deadlock fixed in
        // `activate_codes_when_due` and `Nodes::ensure`).
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let per = bound.div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            for start in (0..bound).step_by(per as usize) {
                let end = start.saturating_add(per).min(bound);
                let rename_lists = &rename_lists;
                let part = move || {
                    let guard = epoch::pin();
                    let mut list_ids = Vec::new();
                    for n in start..end {
                        rename_lists(&guard, &mut list_ids, n);
                    }
                };
                if std::thread::Builder::new()
                    .name("fletchdb-relocate".into())
                    .spawn_scoped(scope, part)
                    .is_err()
                {
                    // No thread to be had: this part here.
                    part();
                }
            }
        });
        // Layer-0 in-links moved from `from` to `to` with the renames.
        for &(Slot(from), Slot(to)) in moves {
            if let (Some(f), Some(t)) = (view.meta(from), view.meta(to)) {
                t.indegree()
                    .fetch_add(f.indegree().swap(0, Ordering::AcqRel), Ordering::AcqRel);
            }
        }

        // 3. Tombstone each `from`; it keeps its lists for walks that still reach it.
        for &(Slot(from), _) in moves {
            if view.delete(from) {
                self.deleted.fetch_add(1, Ordering::AcqRel);
            }
        }
        self.inserted.fetch_add(moves.len(), Ordering::AcqRel);
        self.move_entry_to(moves, &levels);
        Ok(())
    }

    /// Validates `moves` against the graph; returns the rename table (`from` → `to`,
    /// [`NONE`] elsewhere) of length `bound`.
    fn check_moves(
        &self,
        view: &mut View<'_>,
        moves: &[(Slot, Slot)],
        bound: usize,
    ) -> Result<Vec<u32>, IndexError> {
        let bad = |from: Slot, to: Slot, reason: &'static str| IndexError::InvalidMove {
            from: from.0,
            to: to.0,
            reason,
        };
        let len = self.vectors.len();
        let mut rename = vec![NONE; bound];
        let mut target = vec![false; bound];
        for &(from, to) in moves {
            let st = view.meta(from.0).map(|m| m.state());
            if !st.is_some_and(|s| s.live() && s.ready()) {
                return Err(bad(from, to, "the slot moved from holds no live node"));
            }
            if to.index() >= len {
                return Err(bad(from, to, "the slot moved to has no vector"));
            }
            if view.meta(to.0).is_some_and(|m| m.state().claimed()) {
                return Err(bad(from, to, "the slot moved to holds a node"));
            }
            if rename[from.index()] != NONE || target[to.index()] || from == to {
                return Err(bad(from, to, "a slot appears in two moves"));
            }
            if self.vectors.vector(from) != self.vectors.vector(to) {
                return Err(bad(from, to, "the two slots hold different vectors"));
            }
            rename[from.index()] = to.0;
            target[to.index()] = true;
        }
        if let Some(&(from, to)) = moves.iter().find(|m| target[m.0.index()]) {
            return Err(bad(from, to, "a slot is moved from and to"));
        }
        Ok(rename)
    }

    /// Keeps the entry point on the top layer: a moved node whose new slot's level is
    /// above the entry's becomes the entry, as an insert above the top does; an entry
    /// whose node moved to a slot of the same level follows it. Otherwise the entry stays
    /// on the tombstone, which walks pass through, until the next heal moves it.
    fn move_entry_to(&self, moves: &[(Slot, Slot)], levels: &[(u32, usize)]) {
        let _entry = self.entry_lock.lock();
        let Some(e) = self.entry() else { return };
        let highest = levels
            .iter()
            .copied()
            .max_by_key(|&(to, level)| (level, to));
        if let Some((slot, level)) = highest.filter(|&(_, level)| level > e.level) {
            self.set_entry(Entry { slot, level });
            return;
        }
        let Some(&(_, Slot(to))) = moves.iter().find(|m| m.0 .0 == e.slot) else {
            return;
        };
        let level = level_for(self.config.seed, to, self.level_mult);
        if level == e.level {
            self.set_entry(Entry { slot: to, level });
        }
    }
}
