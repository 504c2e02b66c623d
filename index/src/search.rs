//! The search loops: greedy descent on upper layers, then a best-first walk of one layer.
//!
//! There is one walk, [`Hnsw::walk`], generic over what it may return ([`Admit`]), as
//! hnswlib's `searchBaseLayerST<bare_bone_search>` is over its flag:
//!
//! - [`Everything`] (an unfiltered search on a graph with few tombstones, and inserts):
//!   one [`SortedList`](crate::candidates::SortedList) of capacity ef (widened by the
//!   dead share) is both the candidate queue and the result set; a search returns its
//!   live entries. The admit test is a constant, so this monomorphisation has no second
//!   list, no node-state lookup in the loop and no early stop.
//! - [`Live`] (a filter, many tombstones, or both): the candidate list is widened (see
//!   `plan.rs`), live admitted nodes go to a second list of capacity ef, and the walk
//!   stops once the closest unexpanded candidate is farther than the ef-th result.
//!
//! Expanding a node reads its list once, drops already-visited neighbours, then scores
//! the rest with the vector `Kernel::AHEAD` places ahead already on its way into the
//! cache.
//!
//! Search is memory-bound: at ef = 32 on wordnet-minilm-dev (20,000 × 384-d) a query
//! computes ~625 distances, ~1 MB of vectors, and a distance on a hot cache takes
//! 21 ns of the ~100 ns each one cost in all. Measured there (single thread, QPS at
//! ef = 32): prefetching 4 of each vector's 24 cache lines for all neighbours up front,
//! 12,500; whole vectors up front, 15,000; whole vectors 4 ahead, 17,000 (2 ahead and
//! 8 ahead were no better).

use std::sync::atomic::{AtomicU32, Ordering};

use crossbeam_epoch as epoch;

use crate::distance::Kernel;
use crate::filter::Filter;
use crate::hnsw::Hnsw;
use crate::links::FilterLinks;
use crate::nodes::{neighbours, View};
use crate::scratch::{Scratch, Walk};
use crate::types::{Neighbor, Slot};
use crate::vectors::VectorSource;
use crate::visited::VisitedSet;

/// The list of a restricted walk that starts away from the filter's matches, as a
/// multiple (numerator, denominator) of ef: see [`Hnsw::search_admitted`].
///
/// Measured against it on minilm-mix-dev (`fletchdb-filter --reps 3`, ef 64, the
/// 15-58 % filters walked, ratios to the unfiltered speed), and dropped:
/// - no longer list: 0.41-0.73 instead of 0.23-0.56, but recall 0.932-0.950 instead
///   of 0.968-0.979;
/// - that, seeded with the 16 best by sign bits of 512 (or 2,048) matches spread over
///   the slots: recall 0.939-0.951 (0.942-0.954) at 0.32-0.62 (0.23-0.45), so the
///   start is not what the short list lacks;
/// - in [`gather_admitted`](Hnsw::gather_admitted), prefetching the lists of only the
///   first 4 or 8 neighbours that are not admitted (0.01-0.03 slower), or skipping two
///   hops when 12 or 16 neighbours are admitted (recall 0.957-0.974, at most 0.04
///   faster);
/// - scoring only the better half (or 35 %) of each expansion's new neighbours by
///   their sign bits: at 41-58 %, recall unchanged and 0.26-0.39 instead of
///   0.40-0.54, the keys costing more than the codes they saved.
const FAR_EF: (usize, usize) = (2, 1);

/// [`FAR_EF`] for a walk with links among the members ([`FilterLinks`]), whose
/// projected links (`links.rs`, `PROJECTED`) join what the members' nearest links
/// leave apart: 1.2 times ef. On minilm-mix-dev (`fletchdb-filter --reps 3`, ef 64,
/// 8-41 % selectivity) recall 0.966-0.992 at 0.50-0.67 of the unfiltered speed, where
/// twice ef without projected links gave 0.953-0.991 at 0.48-0.61; ef itself, 0.961-0.989
/// at 0.59-0.79.
pub(crate) const LINKED_FAR_EF: (usize, usize) = (6, 5);

/// Where a walk of the admitted subgraph reads a node's layer-0 list: with links among
/// the filter's members ([`FilterLinks`]), a member's list among them; anything else
/// (not a member, or forgotten since) the graph's own.
pub(crate) struct ListsOf<'l>(Option<&'l FilterLinks>);

impl<'l> ListsOf<'l> {
    #[inline(always)]
    fn get<'g>(&self, view: &mut View<'g>, n: u32) -> Option<&'g [AtomicU32]>
    where
        'l: 'g,
    {
        match self.0.and_then(|l| l.list(n)) {
            Some(list) => Some(list),
            None => view.links(n, 0),
        }
    }
}

/// Which nodes a walk may return.
pub(crate) trait Admit {
    /// True when every node reached may be returned: the walk then keeps only its
    /// candidate list, which is also its result, and never calls
    /// [`admits`](Self::admits).
    const EVERYTHING: bool;

    /// True if the walk may return `slot`.
    fn admits(&self, view: &mut View<'_>, slot: u32) -> bool;
}

/// Admits every node: the plain walk (no filter, no tombstones) and inserts.
pub(crate) struct Everything;

impl Admit for Everything {
    const EVERYTHING: bool = true;

    #[inline(always)]
    fn admits(&self, _: &mut View<'_>, _: u32) -> bool {
        true
    }
}

/// Admits live nodes that the filter admits.
pub(crate) struct Live<'f, F: ?Sized>(pub(crate) &'f F);

impl<F: Filter + ?Sized> Admit for Live<'_, F> {
    const EVERYTHING: bool = false;

    #[inline(always)]
    fn admits(&self, view: &mut View<'_>, slot: u32) -> bool {
        // The filter first: see `search_admitted`.
        self.0.admits(Slot(slot)) && view.live(slot)
    }
}

impl<V: VectorSource> Hnsw<V> {
    /// Distance from `q` to the vector in `slot`.
    #[inline(always)]
    pub(crate) fn dist<K: Kernel>(&self, q: &[K::Elem], slot: u32) -> f32 {
        K::distance(q, K::row(self, slot))
    }

    /// Greedy descent: from `(cur, cur_d)` on layer `top`, move to the closest neighbour
    /// until none is closer, on every layer above `floor`. Returns the node reached.
    pub(crate) fn descend<K: Kernel>(
        &self,
        view: &mut View<'_>,
        q: &[K::Elem],
        start: (u32, f32),
        top: usize,
        floor: usize,
    ) -> (u32, f32) {
        self.descend_by::<K>(view, q, start, top, floor, |_, _| true, |_, _, _, _| {})
    }

    /// [`descend`](Self::descend) moving only to neighbours `keep` accepts; `note` sees
    /// every neighbour scored, with its distance and layer.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn descend_by<K: Kernel>(
        &self,
        view: &mut View<'_>,
        q: &[K::Elem],
        (mut cur, mut cur_d): (u32, f32),
        top: usize,
        floor: usize,
        keep: impl Fn(&mut View<'_>, u32) -> bool,
        mut note: impl FnMut(&mut View<'_>, u32, f32, usize),
    ) -> (u32, f32) {
        for layer in (floor + 1..=top).rev() {
            loop {
                let mut moved = false;
                if let Some(list) = view.links(cur, layer) {
                    if !K::CODED && self.cold.load(Ordering::Relaxed) > 0 {
                        self.will_need_list(list);
                    }
                    for n in neighbours(list) {
                        if !keep(view, n) {
                            continue;
                        }
                        let d = self.dist::<K>(q, n);
                        note(view, n, d, layer);
                        if d < cur_d {
                            cur = n;
                            cur_d = d;
                            moved = true;
                        }
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        (cur, cur_d)
    }

    /// Expands `w.list` best-first on `layer` until every entry in it is expanded or,
    /// when `A` does not admit everything, until the closest unexpanded candidate is
    /// farther than the worst of a full `w.results`. The caller seeds `w.list` (and
    /// `w.results`) with the entry points and marks them in `w.visited`.
    pub(crate) fn walk<K: Kernel, A: Admit>(
        &self,
        view: &mut View<'_>,
        q: &[K::Elem],
        w: &mut Walk,
        admit: &A,
        layer: usize,
    ) {
        let Walk {
            visited,
            list,
            results,
            fresh,
            ..
        } = w;
        while let Some((c, c_d)) = list.next_unexpanded() {
            if !A::EVERYTHING && results.is_full() && c_d > results.bound() {
                break;
            }
            let Some(links) = view.links(c, layer) else {
                continue;
            };
            gather(visited, links, fresh);
            self.score::<K>(q, fresh, |n, d| {
                list.insert(d, n);
                if !A::EVERYTHING && d < results.bound() && admit.admits(view, n) {
                    results.insert(d, n);
                }
            });
        }
    }

    /// The `k` nearest live nodes `filter` admits, into `out`, by a walk of the
    /// subgraph of admitted nodes (ACORN-1, Patel et al., SIGMOD 2024): its list holds
    /// admitted live nodes only, and expanding one scores its admitted neighbours and,
    /// through each neighbour that is not admitted, that neighbour's admitted
    /// neighbours (two hops), up to `2 * m` unvisited ones an expansion, so the walk crosses the gaps the
    /// filter leaves in the graph. It starts from the admitted nodes around the end of
    /// the upper-layer descent and from `seeds` admitted nodes spread over the slots,
    /// so a filter whose matches lie far from the query (a query about Debian packages
    /// restricted to WordNet glosses) is still reached.
    ///
    /// The walk that skips non-admitted nodes but keeps them as candidates (`Live`)
    /// lost exactly that case: on minilm-mix-dev at ef 64, `source = wordnet` (41 %)
    /// had recall 0.68 and `pos = noun` (23 %) 0.70, its candidate list filled with the
    /// closer nodes of the other source.
    ///
    /// With `links` ([`FilterLinks`], `Plan::Linked`), a member's list is its list
    /// among the members, so an expansion reads one list and scores what it lists
    /// (the two hops remain for nodes without links), and the admitted slots without
    /// links (added or changed since the build) are scored up front. On minilm-mix-dev
    /// (ef 64, AMD EPYC without AVX-512) that ran filters of 8,257-58,507 matches at
    /// 0.55-0.68 of the unfiltered speed with recall 0.954-0.991, where the sign scan
    /// and this walk without links ran at 0.13-0.58. The far queries' longer list
    /// stays, shorter ([`LINKED_FAR_EF`]) since the links hold the projected ones.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn search_admitted<K: Kernel, F: Filter + ?Sized>(
        &self,
        scratch: &mut Scratch,
        k: usize,
        ef: usize,
        filter: &F,
        seeds: usize,
        links: Option<&FilterLinks>,
        out: &mut Vec<Neighbor>,
    ) {
        let Some(entry) = self.entry() else { return };
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);
        let Scratch {
            walk, query, coded, ..
        } = scratch;
        let q = K::query(query, coded);
        let start = (entry.slot, self.dist::<K>(q, entry.slot));
        // The filter first: a caller's filter is usually a bit test, where the node's
        // state is a load from a 2 MB table (100,000 nodes), and most nodes a walk
        // asks about are not admitted. On minilm-mix-dev (ef 64, `fletchdb-filter`,
        // queries per CPU second against the unfiltered search) the order took the
        // walks at 8-58 % selectivity from 0.19-0.54 to 0.29-0.66.
        let admits = |view: &mut View<'_>, n: u32| filter.admits(Slot(n)) && view.live(n);
        // The descent, noting the closest admitted node it scores on the way down; from
        // there a greedy descent through admitted neighbours on each layer below.
        let mut best: Option<(u32, f32, usize)> = None;
        if admits(&mut view, start.0) {
            best = Some((start.0, start.1, entry.level));
        }
        let (ep, ep_d) = self.descend_by::<K>(
            &mut view,
            q,
            start,
            entry.level,
            0,
            |_, _| true,
            |view, n, d, layer| {
                if best.is_none_or(|b| d < b.1) && admits(view, n) {
                    best = Some((n, d, layer));
                }
            },
        );
        walk.visited.reset(view.capacity());
        // A query whose descent ends on a node the filter does not admit has its
        // matches away from it, where distances to the query are large and alike and
        // the walk settles early: on minilm-mix-dev at ef 64, such queries (most of
        // them at 8-58 % selectivity) had recall 0.88-0.97 where the others had
        // 0.97-1.00. They keep a list `FAR_EF` times as long: recall at 8-58 % went
        // from 0.924-0.979 to 0.956-0.987 at 1.5 times, and to 0.963-0.992 at twice
        // (0.32-0.60 of the unfiltered speed at 1.5, 0.27-0.57 at 2; 2,200-2,600
        // distances a query against 2,700-3,300, and the plain walk's 1,100). Twice:
        // a graph built by the Python package's adds (other batches, one thread) had
        // 0.944-0.949 on three walks at 1.5, and recall at or above 0.95 on any build
        // is the promise, speed the aim.
        let far = !admits(&mut view, ep);
        let (num, den) = if links.is_some() {
            LINKED_FAR_EF
        } else {
            FAR_EF
        };
        let len = if far { ef * num / den } else { ef };
        let lists = ListsOf(links);
        walk.list.reset(len.max(k));
        let budget = links.map_or(2 * self.config.m, FilterLinks::most);
        let Walk {
            visited,
            list,
            fresh,
            ..
        } = walk;
        if let Some((n, d, top)) = best {
            let (cur, cur_d) =
                self.descend_by::<K>(&mut view, q, (n, d), top, 0, admits, |_, _, _, _| {});
            if visited.insert(cur) {
                list.insert(cur_d, cur);
            }
        }
        visited.insert(ep);
        if admits(&mut view, ep) {
            list.insert(ep_d, ep);
        } else {
            // Around the descent's end: its admitted neighbours within two hops.
            if let Some(first) = lists.get(&mut view, ep) {
                self.gather_admitted(&mut view, visited, first, fresh, budget, &admits, &lists);
                self.score::<K>(q, fresh, |n, d| {
                    list.insert(d, n);
                });
            }
        }
        // Spread seeds: admitted slots at evenly spaced starting points.
        let bound = self.slot_bound() as u32;
        if seeds > 0 && bound > 0 {
            fresh.clear();
            let step = (bound / seeds as u32).max(1);
            let mut s = 0u32;
            // At most `bound` probes in all, so a filter admitting nothing ends.
            let mut probes = 0u32;
            while s < bound && probes < bound && fresh.len() < seeds {
                let mut t = s;
                while t < bound && probes < bound {
                    probes += 1;
                    if admits(&mut view, t) {
                        if visited.insert(t) {
                            fresh.push(t);
                        }
                        break;
                    }
                    t += 1;
                }
                s = s.saturating_add(step).max(t + 1);
            }
            self.score::<K>(q, fresh, |n, d| {
                list.insert(d, n);
            });
        }
        if let (Some(l), Some(words)) = (links, filter.words()) {
            // Admitted slots without links (added since the links were built, or
            // forgotten) are scored here: no member's list leads to them.
            fresh.clear();
            for (w, &bits) in words.iter().enumerate() {
                let mut b = bits & !l.valid_bits(w) & view.live_bits(w);
                while b != 0 {
                    let s = (w * 64) as u32 + b.trailing_zeros();
                    b &= b - 1;
                    if visited.insert(s) {
                        fresh.push(s);
                    }
                }
            }
            self.score::<K>(q, fresh, |n, d| {
                list.insert(d, n);
            });
        }
        while let Some((c, c_d)) = list.next_unexpanded() {
            if list.is_full() && c_d > list.bound() {
                break;
            }
            let Some(first) = lists.get(&mut view, c) else {
                continue;
            };
            self.gather_admitted(&mut view, visited, first, fresh, budget, &admits, &lists);
            self.score::<K>(q, fresh, |n, d| {
                list.insert(d, n);
            });
        }
        out.extend(list.iter().take(k).map(|(id, distance)| Neighbor {
            slot: Slot(id),
            distance,
        }));
    }

    /// Collects into `fresh` up to `budget` unvisited admitted nodes among `links` and,
    /// through each linked node that is not admitted, among its links; marks them
    /// visited. A node that is not admitted is marked visited when its own links are
    /// read (once), not when it is met two hops away, so a later expansion can still
    /// cross it.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn gather_admitted<'g>(
        &self,
        view: &mut View<'g>,
        visited: &mut VisitedSet,
        links: &[AtomicU32],
        fresh: &mut Vec<u32>,
        budget: usize,
        admits: &impl Fn(&mut View<'g>, u32) -> bool,
        lists: &ListsOf<'g>,
    ) {
        fresh.clear();
        for n in neighbours(links) {
            visited.prefetch(n);
        }
        // ACORN-1's compressed list: the admitted neighbours, then the admitted
        // neighbours of the others (two hops, in list order, closest first), up to
        // `budget` unvisited ones, which are scored. Counting visited nodes against the
        // budget too (ACORN-1 as published), and reading a non-admitted node's list
        // at every expansion that meets it, gave recall 0.889-0.953 at 8-58 %
        // selectivity on minilm-mix-dev (ef 64); this gives 0.924-0.979, at 0.29-0.55
        // of the unfiltered speed against 0.38-0.59 (a budget of m: 0.880-0.947;
        // of 4m: 0.933-0.984 at 0.26-0.55).
        for n in neighbours(links) {
            if admits(view, n) {
                if fresh.len() < budget && visited.insert(n) {
                    fresh.push(n);
                }
            } else if let Some(list) = lists.get(view, n) {
                // Read below unless the budget fills first: start the loads now. On
                // minilm-mix-dev (ef 64, two interleaved rounds) this took the walks at
                // 8-58 % selectivity from 0.29-0.63 to 0.36-0.80 of the unfiltered speed
                // (CPU time), about a tenth on average.
                crate::prefetch::prefetch_slice(list);
            }
        }
        for n in neighbours(links) {
            if fresh.len() >= budget {
                break;
            }
            // A node that is not admitted has its list read once per search.
            if admits(view, n) || !visited.insert(n) {
                continue;
            }
            let Some(second) = lists.get(view, n) else {
                continue;
            };
            for m in neighbours(second) {
                if fresh.len() >= budget {
                    break;
                }
                if admits(view, m) && visited.insert(m) {
                    fresh.push(m);
                }
            }
        }
    }

    /// Asks the vector source for the vectors of `list`'s neighbours (see `Hnsw::cold`):
    /// the descent scores them one by one, and on a cold disk would wait for each.
    #[cold]
    #[inline(never)]
    fn will_need_list(&self, list: &[AtomicU32]) {
        let ids: Vec<u32> = neighbours(list).collect();
        self.vectors.will_need(&ids);
    }

    /// Computes the distance from `q` to each of `ids`, in order, and hands it to `f`.
    ///
    /// The vector `Kernel::AHEAD` places ahead is prefetched while the current one is
    /// scored, so that a few cache misses are always in flight but the loads never crowd
    /// out the vector being read.
    #[inline(always)]
    pub(crate) fn score<K: Kernel>(&self, q: &[K::Elem], ids: &[u32], mut f: impl FnMut(u32, f32)) {
        if !K::CODED && self.cold.load(Ordering::Relaxed) > 0 {
            self.vectors.will_need(ids);
        }
        for &n in ids.iter().take(K::AHEAD) {
            crate::prefetch::prefetch_slice(K::row(self, n));
        }
        for (i, &n) in ids.iter().enumerate() {
            if let Some(&ahead) = ids.get(i + K::AHEAD) {
                crate::prefetch::prefetch_slice(K::row(self, ahead));
            }
            f(n, self.dist::<K>(q, n));
        }
    }

    /// The `k` nearest nodes `admit` admits, into `out`: descent to layer 0, then a walk
    /// keeping `candidates` candidates (at least `ef`) and `ef` results. The query is
    /// in `scratch.query`. The plain walk ([`Everything`]) returns the live nodes among
    /// its candidates.
    ///
    /// Not inlined: each monomorphisation is then compiled on its own, as the plain
    /// `knn` was before the walks were merged. Inlined into `search_with` beside the
    /// planner and the exact scan, the plain walk ran 1.1 % more instructions per query
    /// (546k to 552k at ef = 64 on minilm-mix-dev, 100,000 × 384-d); on its own it runs
    /// 0.4 % fewer (544k).
    #[inline(never)]
    pub(crate) fn search_layer0<K: Kernel, A: Admit>(
        &self,
        scratch: &mut Scratch,
        k: usize,
        ef: usize,
        candidates: usize,
        admit: &A,
        out: &mut Vec<Neighbor>,
    ) {
        let Some(entry) = self.entry() else { return };
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);
        let Scratch {
            walk, query, coded, ..
        } = scratch;
        let q = K::query(query, coded);
        let start = (entry.slot, self.dist::<K>(q, entry.slot));
        let (ep, ep_d) = self.descend::<K>(&mut view, q, start, entry.level, 0);
        walk.visited.reset(view.capacity());
        walk.list.reset(candidates.max(ef).max(k));
        walk.visited.insert(ep);
        walk.list.insert(ep_d, ep);
        if !A::EVERYTHING {
            walk.results.reset(ef.max(k));
            if admit.admits(&mut view, ep) {
                walk.results.insert(ep_d, ep);
            }
        }
        self.walk::<K, A>(&mut view, q, walk, admit, 0);
        let hit = |(id, distance)| Neighbor {
            slot: Slot(id),
            distance,
        };
        if A::EVERYTHING {
            // The plain walk keeps whatever it reaches: tombstones, and (for a walk that
            // read a list before a heal rewrote it) freed slots. Only live ones return.
            let live = walk.list.iter().filter(|&(id, _)| view.live(id));
            out.extend(live.take(k).map(hit));
        } else {
            out.extend(walk.results.iter().take(k).map(hit));
        }
    }
}

/// Collects the unvisited neighbours in `links` into `fresh`, marking them visited.
#[inline(always)]
pub(crate) fn gather(visited: &mut VisitedSet, links: &[AtomicU32], fresh: &mut Vec<u32>) {
    fresh.clear();
    for n in neighbours(links) {
        visited.prefetch(n);
    }
    for n in neighbours(links) {
        if visited.insert(n) {
            fresh.push(n);
        }
    }
}
