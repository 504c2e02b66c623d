//! Filtered search: a predicate over slots, and the choice between walking the graph and
//! scanning the admitted slots exactly.
//!
//! Walking the graph while skipping non-admitted nodes works while the filter admits a
//! good share of the graph; as the share falls, the admitted nodes become sparse in the
//! graph and recall collapses (hnswlib and FAISS both show this). The search therefore
//! estimates how many live slots the filter admits and compares two costs in distance
//! computations:
//!
//! - graph: about `GRAPH_COST_PER_EF * ef / selectivity` (the walk keeps a candidate list
//!   `ef / selectivity` long so that about ef admitted nodes stay in it);
//! - exact: `admitted`, plus `live / PREDICATE_PER_DISTANCE` for asking the filter about
//!   every live slot when it cannot list its admitted slots itself.
//!
//! It scans exactly whenever that is cheaper, which also gives exact results exactly
//! when the graph would be least reliable. The constants were measured on this
//! project's machines (see `examples/filter_crossover.rs`).

use crossbeam_epoch as epoch;

use crate::distance::{with_kernel, Kernel};
use crate::error::IndexError;
use crate::hnsw::Hnsw;
use crate::scratch::Scratch;
use crate::search::Live;
use crate::types::{Neighbor, Slot};
use crate::vectors::VectorSource;

/// Distance computations one unit of ef costs a graph walk (measured: a layer-0 walk
/// at ef = 64 computes about 1,300 distances on 20,000 vectors with M = 16).
const GRAPH_COST_PER_EF: f64 = 20.0;
/// How many filter calls cost as much as one distance computation.
const PREDICATE_PER_DISTANCE: f64 = 20.0;
/// The longest candidate list a filtered walk keeps, as a multiple of ef.
const MAX_WIDENING: usize = 64;
/// Slots sampled to estimate a filter's selectivity when it does not say.
const SAMPLE: usize = 512;

/// A predicate over slots for [`Hnsw::search_filtered`](crate::Hnsw::search_filtered).
///
/// Any `Fn(Slot) -> bool + Sync` closure is a filter. A filter that knows how many slots
/// it admits, or can list them (like [`SlotSet`]), lets the search plan better.
///
/// ```
/// use fletchdb_index::{Hnsw, HnswConfig, Metric, Slot};
/// let index = Hnsw::in_memory(1, HnswConfig::new(Metric::L2)).unwrap();
/// for i in 0..100 {
///     index.add(&[i as f32]).unwrap();
/// }
/// let even = |s: Slot| s.0 % 2 == 0;
/// let hits = index.search_filtered(&[51.0], 2, 32, &even).unwrap();
/// let slots: Vec<u32> = hits.iter().map(|n| n.slot.0).collect();
/// assert_eq!(slots.len(), 2);
/// assert!(slots.contains(&50) && slots.contains(&52));
/// ```
pub trait Filter: Sync {
    /// True if `slot` may be returned.
    fn admits(&self, slot: Slot) -> bool;

    /// How many slots the filter admits, if it knows; otherwise the search estimates
    /// it by sampling.
    fn admitted_hint(&self) -> Option<usize> {
        None
    }

    /// True if [`for_each_admitted`](Self::for_each_admitted) lists the admitted slots,
    /// so an exact scan need not ask about every slot.
    fn can_list(&self) -> bool {
        false
    }

    /// Calls `f` with every admitted slot, if [`can_list`](Self::can_list) says so;
    /// by default it calls nothing.
    fn for_each_admitted(&self, f: &mut dyn FnMut(Slot)) {
        let _ = f;
    }
}

impl<F: Fn(Slot) -> bool + Sync> Filter for F {
    #[inline]
    fn admits(&self, slot: Slot) -> bool {
        self(slot)
    }
}

/// Admits every slot (live-ness is checked separately).
pub(crate) struct All;

impl Filter for All {
    #[inline]
    fn admits(&self, _: Slot) -> bool {
        true
    }
}

/// A set of slots as a bitmap: a [`Filter`] that knows its size and lists its members.
///
/// ```
/// use fletchdb_index::{Filter, Slot, SlotSet};
/// let set: SlotSet = [Slot(3), Slot(70), Slot(3)].into_iter().collect();
/// assert_eq!(set.len(), 2);
/// assert!(set.admits(Slot(70)) && !set.admits(Slot(4)));
/// ```
#[derive(Debug, Clone, Default)]
pub struct SlotSet {
    words: Vec<u64>,
    len: usize,
}

impl SlotSet {
    /// An empty set.
    pub fn new() -> Self {
        SlotSet::default()
    }

    /// Adds `slot`; true if it was not there.
    pub fn insert(&mut self, slot: Slot) -> bool {
        let (w, b) = (slot.index() / 64, slot.index() % 64);
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        let fresh = self.words[w] & (1 << b) == 0;
        self.words[w] |= 1 << b;
        self.len += fresh as usize;
        fresh
    }

    /// True if `slot` is in the set.
    pub fn contains(&self, slot: Slot) -> bool {
        let (w, b) = (slot.index() / 64, slot.index() % 64);
        self.words.get(w).is_some_and(|x| x & (1 << b) != 0)
    }

    /// Members.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl FromIterator<Slot> for SlotSet {
    fn from_iter<I: IntoIterator<Item = Slot>>(iter: I) -> Self {
        let mut s = SlotSet::new();
        for slot in iter {
            s.insert(slot);
        }
        s
    }
}

impl Filter for SlotSet {
    #[inline]
    fn admits(&self, slot: Slot) -> bool {
        self.contains(slot)
    }

    fn admitted_hint(&self) -> Option<usize> {
        Some(self.len)
    }

    fn can_list(&self) -> bool {
        true
    }

    fn for_each_admitted(&self, f: &mut dyn FnMut(Slot)) {
        for (w, &word) in self.words.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                f(Slot((w * 64 + b) as u32));
                bits &= bits - 1;
            }
        }
    }
}

/// How [`Hnsw::search_filtered_using`](crate::Hnsw::search_filtered_using) runs a
/// filtered search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilterPlan {
    /// Let the index choose by estimated cost (what `search_filtered` does).
    #[default]
    Auto,
    /// Always walk the graph (recall falls as selectivity does).
    Graph,
    /// Always scan the admitted slots exactly.
    Exact,
}

/// How a filtered search will run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Plan {
    /// Scan admitted live slots exactly.
    Exact,
    /// Walk the graph with a candidate list this long.
    Graph { candidates: usize },
}

impl<V: VectorSource> Hnsw<V> {
    /// Estimated share of live slots that `filter` admits, in [0, 1].
    fn selectivity<F: Filter + ?Sized>(&self, filter: &F, live: usize) -> f64 {
        if let Some(n) = filter.admitted_hint() {
            return (n as f64 / live.max(1) as f64).min(1.0);
        }
        let bound = self.slot_bound();
        if bound == 0 {
            return 0.0;
        }
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);
        let step = bound.div_ceil(SAMPLE).max(1);
        let (mut seen, mut admitted) = (0usize, 0usize);
        for s in (0..bound).step_by(step) {
            if view.live(s as u32) {
                seen += 1;
                admitted += filter.admits(Slot(s as u32)) as usize;
            }
        }
        if seen == 0 {
            return 0.0;
        }
        admitted as f64 / seen as f64
    }

    pub(crate) fn plan<F: Filter + ?Sized>(
        &self,
        filter: &F,
        k: usize,
        ef: usize,
        choice: FilterPlan,
    ) -> Plan {
        let ef = ef.max(k).max(1);
        let live = self.len();
        let sel = self.selectivity(filter, live);
        let admitted = sel * live as f64;
        let mut exact_cost = admitted;
        if !filter.can_list() {
            exact_cost += live as f64 / PREDICATE_PER_DISTANCE;
        }
        let widening = (1.0 / sel.max(1e-9)).min(MAX_WIDENING as f64);
        let graph_cost = GRAPH_COST_PER_EF * ef as f64 * widening;
        let graph = Plan::Graph {
            candidates: (ef as f64 * widening).ceil() as usize,
        };
        match choice {
            FilterPlan::Exact => Plan::Exact,
            FilterPlan::Graph => graph,
            FilterPlan::Auto if exact_cost <= graph_cost || sel * (MAX_WIDENING as f64) < 1.0 => {
                Plan::Exact
            }
            FilterPlan::Auto => graph,
        }
    }

    /// Filtered (or tombstone-aware) search; the query is in `scratch.query`.
    pub(crate) fn filtered_with<F: Filter + ?Sized>(
        &self,
        scratch: &mut Scratch,
        k: usize,
        ef: usize,
        filter: &F,
        choice: FilterPlan,
        out: &mut Vec<Neighbor>,
    ) -> Result<(), IndexError> {
        out.clear();
        match self.plan(filter, k, ef, choice) {
            Plan::Exact => self.exact_with(scratch, k, filter, out),
            Plan::Graph { candidates } => with_kernel!(self.config.metric, K => {
                self.search_layer0::<K, _>(scratch, k, ef, candidates, &Live(filter), out)
            }),
        }
        Ok(())
    }

    /// Exact scan of live admitted slots; the query is in `scratch.query`.
    pub(crate) fn exact_with<F: Filter + ?Sized>(
        &self,
        scratch: &mut Scratch,
        k: usize,
        filter: &F,
        out: &mut Vec<Neighbor>,
    ) {
        with_kernel!(self.config.metric, K => self.exact_kernel::<K, F>(scratch, k, filter, out))
    }

    fn exact_kernel<K: Kernel, F: Filter + ?Sized>(
        &self,
        scratch: &mut Scratch,
        k: usize,
        filter: &F,
        out: &mut Vec<Neighbor>,
    ) {
        out.clear();
        if k == 0 {
            return;
        }
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);
        let Scratch { walk, query, .. } = scratch;
        let results = &mut walk.results;
        let q = query.as_slice();
        results.reset(k);
        let bound = self.slot_bound();
        let mut visit = |s: Slot| {
            if s.index() >= bound {
                return;
            }
            if view.live(s.0) {
                let d = self.dist::<K>(q, s.0);
                results.insert(d, s.0);
            }
        };
        if filter.can_list() {
            filter.for_each_admitted(&mut visit);
        } else {
            for s in 0..bound {
                if filter.admits(Slot(s as u32)) {
                    visit(Slot(s as u32));
                }
            }
        }
        out.extend(results.iter().map(|(id, distance)| Neighbor {
            slot: Slot(id),
            distance,
        }));
    }
}
