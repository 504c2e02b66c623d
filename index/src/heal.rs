//! Healing: unlinking deleted nodes from the graph and freeing their slots for reuse.
//!
//! A tombstone left in the graph keeps its place in its neighbours' lists, so a live
//! node whose list fills with deleted neighbours loses its paths to live ones, and
//! recall falls with every rewrite (hnswlib#288, usearch#726, chroma#2594). A heal
//! repairs every list that names a deleted node, as Qdrant's graph healing and
//! hnswlib's `repairConnectionsForUpdate` do: the list is re-selected (algorithm 4)
//! from its live entries plus the live neighbours of its deleted ones, so the paths
//! that ran through a deleted node now go around it. Then the deleted nodes are freed:
//! their slots hold no node and can be inserted into again.
//!
//! The steps, each safe beside searches and inserts:
//!
//! 1. Mark the deleted nodes *retiring*: inserts pass through them but no longer link
//!    to them (`insert::linkable`). Move the entry point off them.
//! 2. Take the insert gate exclusively for an instant: every insert that began before
//!    the marks (and might still link to a retiring node) has finished.
//! 3. Repair, in parallel, every list (all layers) of a node that stays, under that
//!    node's lock. Nothing can add a link to a retiring node any more, so afterwards no
//!    list names one.
//! 4. Free the retiring nodes: their out-links stop counting towards in-degrees, their
//!    state becomes empty. A walk that read a list before step 3 may still reach one
//!    and read its old vector and lists, so a freed slot must not be written until
//!    such walks are over: [`Hnsw::wait_unobserved`].
//! 5. Reattach any node left with no layer-0 in-link (it could no longer be found) by
//!    searching for it and linking it in, as an insert does.

use std::sync::atomic::Ordering;

use crossbeam_epoch as epoch;
use rayon::prelude::*;

use crate::distance::{with_walk_kernel, Kernel};
use crate::hnsw::{Entry, Hnsw};
use crate::insert::{adjust_indegrees, drop_links, linkable};
use crate::nodes::{neighbours, store_neighbours, View, CHUNK};
use crate::scratch::{Scratch, Walk};
use crate::search::Everything;
use crate::types::Slot;
use crate::vectors::VectorSource;

/// A repaired list whose dead share is at least `.0 / .1` is also given the candidates a
/// search for its node finds. Measured on 20,000 × 128-d N(0, 1) vectors (m 16,
/// ef_construction 200, ef 64), all rewritten and 20 % deleted, then rewritten again,
/// with the threshold varied (a first form of `--example rewrite`, same sizes): recall@10
/// after the two heals 0.723 and 0.750 with no searches (heals 1.0 s and 0.8 s), 0.729
/// and 0.749 from three quarters dead, 0.750 and 0.758 from half, 0.759 and 0.779 from
/// three tenths (heals 11 s, writes 15-18 s), 0.757 and 0.777 for any dead entry; the
/// fresh graph 0.733. `--example rewrite` as committed, at three tenths: fresh 0.731,
/// then 0.758 and 0.782. hnswlib, updating in place, holds 0.745-0.758 on the same kind
/// of sequence (`fletchdb-churn --mode gaussian --peers`).
const RESEARCH_BELOW: (usize, usize) = (3, 10);

/// What a [`Hnsw::heal`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Heal {
    /// Slots whose deleted nodes were unlinked and freed, ascending. Write them again
    /// only after [`Hnsw::wait_unobserved`], called after the heal returned, said so.
    pub freed: Vec<Slot>,
    /// Neighbour lists rewritten because they named a freed node.
    pub repaired: usize,
    /// Nodes left with no layer-0 in-link and linked in again.
    pub reattached: usize,
}

impl<V: VectorSource> Hnsw<V> {
    /// Unlinks every deleted node from the graph, repairing the lists that named it,
    /// and frees its slot (see the module notes for the steps). Searches and inserts
    /// may run meanwhile; inserts wait only for an instant. Nodes deleted while the
    /// heal runs stay tombstones until the next one.
    ///
    /// ```
    /// use fletchdb_index::{Hnsw, HnswConfig, Metric, Slot};
    /// let index = Hnsw::in_memory(1, HnswConfig::new(Metric::L2))?;
    /// let slots = index.add_batch(&[0.0, 1.0, 2.0, 3.0])?;
    /// index.delete(slots[1])?;
    /// let heal = index.heal();
    /// assert_eq!(heal.freed, vec![slots[1]]);
    /// assert_eq!((index.len(), index.deleted_len()), (3, 0));
    /// index.check_integrity()?;
    /// assert_eq!(index.search(&[1.1], 1, 16)?[0].slot, Slot(2));
    /// # Ok::<(), fletchdb_index::IndexError>(())
    /// ```
    pub fn heal(&self) -> Heal {
        with_walk_kernel!(self.config.metric, self.codes.get(), K => self.heal_with::<K>())
    }

    /// Waits until every search, insert and heal of this index that began before the
    /// call has ended: from then on a slot [`heal`](Self::heal) freed may be written
    /// again (before, a walk that read a list before the heal may still be reading the
    /// old vector). Returns false at once, without waiting, when called from inside an
    /// observation of an index (a filter's callback, or [`observe`](Self::observe)):
    /// it would wait for itself; the caller should try again later.
    ///
    /// ```
    /// use fletchdb_index::{Hnsw, HnswConfig, Metric};
    /// let index = Hnsw::in_memory(1, HnswConfig::new(Metric::L2))?;
    /// index.add_batch(&[0.0, 1.0])?;
    /// assert!(index.wait_unobserved());
    /// assert!(!index.observe(|| index.wait_unobserved()));
    /// # Ok::<(), fletchdb_index::IndexError>(())
    /// ```
    pub fn wait_unobserved(&self) -> bool {
        self.observers.wait_for_earlier()
    }

    /// Runs `f` as one observation of the index: a
    /// [`wait_unobserved`](Self::wait_unobserved) begun while `f` runs waits for it.
    /// For work that must finish before a freed slot is written again, such as mapping
    /// a search's hits to what their slots hold.
    ///
    /// ```
    /// use fletchdb_index::{Hnsw, HnswConfig, Metric};
    /// let index = Hnsw::in_memory(1, HnswConfig::new(Metric::L2))?;
    /// index.add(&[1.0])?;
    /// let hits = index.observe(|| index.search(&[0.0], 1, 8))?;
    /// assert_eq!(hits.len(), 1);
    /// # Ok::<(), fletchdb_index::IndexError>(())
    /// ```
    pub fn observe<R>(&self, f: impl FnOnce() -> R) -> R {
        let _seen = self.observers.enter();
        f()
    }

    /// Slots below the vector source's length that hold no node: never inserted, or
    /// freed by a heal.
    ///
    /// A chunk of slots per task: a database's open asks for them, and one pass over
    /// the node records of 1,000,000 slots took 3.8 ms of a warm open. In parallel, ten
    /// interleaved warm opens of 1,000,000 × 128-d took 51.2-57.6 ms (first query at
    /// 57.8-65.9) against 52.9-64.1 ms (62.0-71.5).
    pub fn free_slots(&self) -> Vec<Slot> {
        let len = self.vectors.len().min(u32::MAX as usize);
        (0..len.div_ceil(CHUNK))
            .into_par_iter()
            .flat_map_iter(|c| {
                let guard = epoch::pin();
                let mut view = self.nodes.view(&guard);
                ((c * CHUNK) as u32..(len.min((c + 1) * CHUNK)) as u32)
                    .filter(|&s| !view.meta(s).is_some_and(|m| m.state().claimed()))
                    .map(Slot)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn heal_with<K: Kernel>(&self) -> Heal {
        let _one = self.heal_lock.lock();
        let _seen = self.observers.enter();
        self.indegrees.get_or_init(|| self.count_indegrees());
        let bound = self.slot_bound();
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);

        // 1. The nodes to free: deleted and fully inserted.
        let mut dead = vec![false; bound];
        let mut freed = Vec::new();
        let mut top = 0;
        for slot in 0..bound as u32 {
            let Some(meta) = view.meta(slot) else { break };
            let st = meta.state();
            if st.claimed() && st.ready() && st.deleted() {
                meta.set_retiring();
                dead[slot as usize] = true;
                freed.push(Slot(slot));
                top = top.max(st.level());
            }
        }
        if freed.is_empty() {
            return Heal::default();
        }
        self.move_entry(&mut view, &dead);
        // 2. Wait out inserts that may have chosen a retiring node before it was marked.
        drop(self.links_gate.write());

        // 3. Repair every list that names a retiring node.
        let repaired: usize = (0..=top)
            .map(|layer| {
                (0..bound as u32)
                    .into_par_iter()
                    .filter(|&s| !dead[s as usize])
                    .map_init(
                        || (epoch::pin(), Vec::new(), Vec::new()),
                        |(guard, pairs, keep), s| {
                            let mut view = self.nodes.view(guard);
                            self.repair::<K>(&mut view, s, layer, &dead, pairs, keep) as usize
                        },
                    )
                    .sum::<usize>()
            })
            .sum();

        // 4. Free the retiring nodes.
        for &Slot(x) in &freed {
            let Some(meta) = view.meta(x) else { continue };
            if let Some(list) = view.links0(x) {
                // Its list may name a node inserted after `bound` was read: one that
                // chose it before it was marked retiring and linked back to it (the
                // plain index here panicked, about once in 30 runs of the database's
                // `writers_and_searchers_go_on_during_compactions` on a loaded machine).
                let out: Vec<u32> = neighbours(list)
                    .filter(|&n| !dead.get(n as usize).copied().unwrap_or(false))
                    .collect();
                adjust_indegrees(&mut view, &out, &[]);
            }
            meta.indegree().store(0, Ordering::Release);
            view.free(x);
        }
        self.deleted.fetch_sub(freed.len(), Ordering::AcqRel);
        self.inserted.fetch_sub(freed.len(), Ordering::AcqRel);
        self.move_entry(&mut view, &[]);
        self.trim_slot_bound(&mut view);

        // 5. Link in nodes the repairs left unreachable.
        let reattached = self.reattach_orphans::<K>(&mut view);
        Heal {
            freed,
            repaired,
            reattached,
        }
    }

    /// Re-selects `n`'s list on `layer` if it names a node in `dead`: from its other
    /// entries and the dead entries' own neighbours. True if the list changed.
    fn repair<K: Kernel>(
        &self,
        view: &mut View<'_>,
        n: u32,
        layer: usize,
        dead_slots: &[bool],
        pairs: &mut Vec<(u32, f32)>,
        keep: &mut Vec<u32>,
    ) -> bool {
        let is_dead = |s: u32| dead_slots.get(s as usize).copied().unwrap_or(false);
        let Some(meta) = view.meta(n) else {
            return false;
        };
        if !meta.state().claimed() || meta.state().level() < layer {
            return false;
        }
        let Some(list) = view.links(n, layer) else {
            return false;
        };
        if !neighbours(list).any(is_dead) {
            return false;
        }
        let _lock = meta.lock().lock();
        let old: Vec<u32> = neighbours(list).collect();
        pairs.clear();
        for &x in &old {
            if !is_dead(x) {
                pairs.push((x, 0.0));
                continue;
            }
            if let Some(theirs) = view.links(x, layer) {
                for y in neighbours(theirs) {
                    if y != n && !is_dead(y) && linkable(view, y) {
                        pairs.push((y, 0.0));
                    }
                }
            }
        }
        // A list that lost much of itself is re-found by a search, as an insert finds
        // one: its dead entries' neighbours are mostly dead too after a rewrite.
        let dead = old.iter().filter(|&&x| is_dead(x)).count();
        if dead * RESEARCH_BELOW.1 >= old.len() * RESEARCH_BELOW.0 {
            self.search_candidates::<K>(view, n, layer, dead_slots, pairs);
        }
        pairs.sort_unstable_by_key(|p| p.0);
        pairs.dedup_by_key(|p| p.0);
        let vn = K::row(self, n);
        for p in pairs.iter_mut() {
            p.1 = K::distance(vn, K::row(self, p.0));
        }
        pairs.sort_unstable_by(|a, b| a.1.total_cmp(&b.1));
        pairs.truncate(self.config.ef_construction.max(2 * self.config.m));
        let max = if layer == 0 {
            2 * self.config.m
        } else {
            self.config.m
        };
        self.select::<K>(pairs, max, keep);
        // The heuristic keeps a few diverse neighbours; an insert's list then fills up
        // with back-links. Filling the rest with the nearest candidates, as those would:
        // on 6,000 × 32-d rewritten four times (m 8, ef 64; the `heal` test), recall@10
        // 0.985-0.988 after heals with heuristic lists only, 0.991-0.994 with filled ones
        // (fresh graph: 0.999; no heals: 0.997 falling to 0.942). Measured before
        // `RESEARCH_BELOW` was added; with it, 0.991-0.996.
        for &(x, _) in pairs.iter() {
            if keep.len() >= max {
                break;
            }
            if !keep.contains(&x) {
                keep.push(x);
            }
        }
        if layer == 0 {
            drop_links(
                view,
                old.iter().copied().filter(|&x| !is_dead(x)),
                keep,
                max,
            );
            let added: Vec<u32> = keep.iter().copied().filter(|x| !old.contains(x)).collect();
            adjust_indegrees(view, &[], &added);
        }
        store_neighbours(list, keep);
        true
    }

    /// Adds to `pairs` the nodes outside `dead` that a search for `n`'s vector on
    /// `layer` finds (ef_construction of them), as an insert would link it.
    fn search_candidates<K: Kernel>(
        &self,
        view: &mut View<'_>,
        n: u32,
        layer: usize,
        dead: &[bool],
        pairs: &mut Vec<(u32, f32)>,
    ) {
        let Some(entry) = self.entry().filter(|e| e.level >= layer) else {
            return;
        };
        let mut scratch = self.pool.get();
        let w = &mut scratch.walk;
        self.walk_near::<K>(view, w, n, layer, entry);
        for (id, _) in w.list.iter() {
            if !dead.get(id as usize).copied().unwrap_or(false) && linkable(view, id) {
                pairs.push((id, 0.0));
            }
        }
    }

    /// Fills `w.list` with the ef_construction nodes nearest `n`'s vector on `layer`
    /// (`n` left out) that a walk from `entry` finds, as an insert's search does.
    fn walk_near<K: Kernel>(
        &self,
        view: &mut View<'_>,
        w: &mut Walk,
        n: u32,
        layer: usize,
        entry: Entry,
    ) {
        let q = K::row(self, n);
        let start = (entry.slot, self.dist::<K>(q, entry.slot));
        let (ep, ep_d) = self.descend::<K>(view, q, start, entry.level, layer);
        w.visited.reset(view.capacity());
        w.list.reset(self.config.ef_construction);
        w.visited.insert(n);
        if w.visited.insert(ep) {
            w.list.insert(ep_d, ep);
        }
        self.walk::<K, _>(view, q, w, &Everything, layer);
    }

    /// Points the entry at the highest-level node outside `dead` if it is in `dead`,
    /// empty or no longer a node; clears it when no such node is left.
    fn move_entry(&self, view: &mut View<'_>, dead: &[bool]) {
        let _entry = self.entry_lock.lock();
        let current = self.entry();
        let keep = current.is_some_and(|e| {
            !dead.get(e.slot as usize).copied().unwrap_or(false)
                && view.meta(e.slot).is_some_and(|m| m.state().claimed())
        });
        if keep {
            return;
        }
        let mut best: Option<Entry> = None;
        for slot in 0..self.slot_bound() as u32 {
            if dead.get(slot as usize).copied().unwrap_or(false) {
                continue;
            }
            let Some(st) = view.meta(slot).map(|m| m.state()) else {
                break;
            };
            if st.claimed() && st.ready() && best.is_none_or(|b| st.level() > b.level) {
                best = Some(Entry {
                    slot,
                    level: st.level(),
                });
            }
        }
        match best {
            Some(e) => self.set_entry(e),
            None => self.clear_entry(),
        }
    }

    /// Lowers the slot bound to one past the highest node left, with inserts held off
    /// for the instant it takes (they raise it): a graph whose top nodes were freed
    /// (a compaction moved them down) then ends at its last node, in memory and in its
    /// saved file, so the store may be cut past it.
    fn trim_slot_bound(&self, view: &mut View<'_>) {
        let _no_inserts = self.links_gate.write();
        let mut top = self.slot_bound() as u32;
        while top > 0 && !view.meta(top - 1).is_some_and(|m| m.state().claimed()) {
            top -= 1;
        }
        self.slot_bound.store(top, Ordering::Release);
    }

    /// Finds live nodes that no layer-0 list names (other than the entry point) and
    /// links each in from its nearest nodes, as an insert links a new node.
    fn reattach_orphans<K: Kernel>(&self, view: &mut View<'_>) -> usize {
        let Some(entry) = self.entry() else { return 0 };
        let orphans: Vec<u32> = (0..self.slot_bound() as u32)
            .filter(|&s| {
                s != entry.slot
                    && view.meta(s).is_some_and(|m| {
                        m.state().claimed()
                            && m.state().ready()
                            && m.indegree().load(Ordering::Acquire) == 0
                    })
            })
            .collect();
        let mut scratch = self.pool.get();
        for &s in &orphans {
            self.reattach::<K>(view, &mut scratch, s, entry);
        }
        orphans.len()
    }

    /// Links `slot` in from the nodes a layer-0 search for its vector finds.
    fn reattach<K: Kernel>(
        &self,
        view: &mut View<'_>,
        scratch: &mut Scratch,
        slot: u32,
        entry: Entry,
    ) {
        let s = &mut *scratch;
        let w = &mut s.walk;
        self.walk_near::<K>(view, w, slot, 0, entry);
        s.pairs.clear();
        s.pairs.extend(
            w.list
                .iter()
                .filter(|&(id, _)| id != slot && linkable(view, id)),
        );
        let mut chosen = std::mem::take(&mut s.chosen);
        self.select::<K>(&s.pairs, 2 * self.config.m, &mut chosen);
        for &n in &chosen {
            self.connect::<K>(view, scratch, n, slot, 0);
        }
        scratch.chosen = chosen;
    }
}
