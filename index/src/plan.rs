//! How a search runs: [`Hnsw::run`] sends a request with nothing to leave out to the
//! plain walk; for the rest, the planner estimates how many live slots the filter admits
//! and chooses between walking the graph and scanning the admitted slots exactly.
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
//!
//! That widened walk serves tombstones, which are not placed by the query. A caller's
//! filter often is: on minilm-mix-dev (WordNet glosses and Debian packages), a query
//! about software restricted to `source = wordnet` starts among Debian nodes, and the
//! widened list filled with them (recall 0.68 at 41 % selectivity). So a caller's filter
//! is scanned exactly up to [`EXACT_PER_EF`] matches per unit of ef, and otherwise walks
//! only the admitted subgraph ([`Hnsw::search_admitted`], ACORN-1).
//!
//! A request may carry links among its filter's members (`links.rs`, built by `core`
//! for wide filters): then a filter admitting more than [`LINKS_FROM_PER_EF`] per unit
//! of ef walks those instead ([`Plan::Linked`]).

use crossbeam_epoch as epoch;

use std::sync::atomic::Ordering;

use crate::codes::Codes;
use crate::distance::{Kernel, Metric};
use crate::filter::{All, Filter};
use crate::hnsw::Hnsw;
use crate::links::FilterLinks;
use crate::request::SearchRequest;
use crate::scratch::Scratch;
use crate::search::{Everything, Live};
use crate::types::{Neighbor, Slot};
use crate::vectors::VectorSource;

/// Distance computations one unit of ef costs a graph walk (measured: a layer-0 walk
/// at ef = 64 computes about 1,300 distances on 20,000 vectors with M = 16).
const GRAPH_COST_PER_EF: f64 = 20.0;
/// How many filter calls cost as much as one distance computation.
const PREDICATE_PER_DISTANCE: f64 = 20.0;
/// The longest candidate list a filtered walk keeps, as a multiple of ef.
const MAX_WIDENING: usize = 64;
/// A caller's filter admitting at most this many live slots per unit of ef is scanned
/// exactly; above, the admitted subgraph is walked. Measured on minilm-mix-dev
/// (100,000 × 384-d, `i8` codes, ef 64, one thread, `fletchdb-filter --reps 3`, queries
/// per CPU second against the unfiltered search, each pass beside an unfiltered one,
/// every filter run both ways): the scan of the codes ran at 0.65-0.70 of the unfiltered
/// speed for 2,981-3,160 matches, 0.42-0.47 for 4,108-4,677, 0.35 for 6,031, 0.17-0.25
/// for 8,256-9,012, 0.21 for 12,559 and 0.16 for 15,118, with recall 1; the walk at
/// 0.27-0.30, 0.23, 0.17-0.24, 0.22 and 0.20, with recall 0.96-0.99. So the scan was
/// kept to about 10,000 matches at ef 64, where the walk starts to be the faster.
/// (Scanning `f32` vectors, before the codes, the crossover was 4,600: 0.46 of the
/// unfiltered speed there.)
///
/// Measured again the same way (two rounds) once a live slot became a bit (`nodes.rs`)
/// and a range a listing of its column (`core`'s `payload/matches.rs`): the scan ran at
/// 0.69-0.99 for 2,396-2,430 matches, 0.27-0.33 for 8,257-8,486, 0.22-0.25 for 12,559,
/// 0.17-0.20 for 15,118 and 0.11-0.14 for 23,260, with recall 1; the walk at 0.26-0.36,
/// 0.19-0.29, 0.21-0.23, 0.23-0.24 and 0.26, with recall 0.950-0.991. The crossover
/// moved to between 12,559 and 15,118: 200 per unit of ef, 12,800 at ef 64.
const EXACT_PER_EF: usize = 200;
/// With sign bits beside the codes (`i8`, for `L2` and cosine), a caller's filter
/// admitting more than `SIGNS_FROM_PER_EF` and at most `SIGNS_TO_PER_EF` live slots per
/// unit of ef is ranked by sign bits ([`Hnsw::sign_scan`]): fewer are scanned exactly,
/// more walked. Measured on minilm-mix-dev (100,000 × 384-d, ef 64, one thread,
/// `fletchdb-filter --reps 3`, queries per second against the unfiltered search), first
/// with the sign scan's rows listed from the filter, then (two interleaved rounds of
/// every filter planned both ways) reading the filter's bit vector and with the margin:
/// the sign scan ran at 0.99-1.02, then 1.07-1.12, of the unfiltered speed for 2,430
/// matches (the exact scan 0.92-0.97); 0.38-0.40 for 8,257-8,486 (exact 0.27-0.29, the
/// walk 0.22-0.29); 0.37-0.38 for 12,559 (exact 0.21, walk 0.25-0.26); 0.29-0.32 for
/// 15,118 (walk 0.25); 0.25 for 23,260 (walk 0.30-0.31); 0.18-0.19 for 41,493 (walk
/// 0.41-0.42), with recall 0.998-1.000 where the walk had 0.968-0.991. So the exact
/// scan keeps the few (recall 1) up to 2,560 matches at ef 64, and the walk took over
/// at 19,200, between 15,118 and 23,260.
///
/// With the rows ranked against the query's components (`codes/signs.rs`) and picked
/// without a branch, the same runs (two interleaved rounds, the walk's figures as
/// before) gave the sign scan 0.50-0.57 for 8,257-8,486, 0.46-0.48 for 12,559,
/// 0.37-0.39 for 15,118, 0.31-0.33 for 23,260 (walk 0.29-0.30, recall 0.971), 0.22 for
/// 41,493 (walk 0.41) and 0.17-0.18 for 58,507 (walk 0.55-0.56), recall 1.000 at
/// every one. The walk now takes over at 25,600, between 23,260 and 41,493.
const SIGNS_FROM_PER_EF: usize = 40;
/// See [`SIGNS_FROM_PER_EF`].
const SIGNS_TO_PER_EF: usize = 400;
/// A caller's filter admitting more than this many live slots per unit of ef walks the
/// links among its members when the request has them ([`Plan::Linked`], `links.rs`),
/// on a CPU whose sign pre-scan ranks 64 bytes at a time (AVX-512 with `vpopcntq`):
/// that is where the pre-scan fell below half the unfiltered speed there (0.56 for
/// 12,559 matches, 0.39 for 15,118 at ef 64, see above), with recall 1.000 below.
const LINKS_FROM_PER_EF: usize = 200;
/// [`LINKS_FROM_PER_EF`] on a CPU without it, whose pre-scan ranks a word at a time.
/// Measured on minilm-mix-dev on such a machine (AMD EPYC, AVX2, ef 64, `fletchdb-filter
/// --reps 3`, two interleaved rounds): single values of 8,256, 9,754 and 12,119
/// records ran at 0.27-0.34 of the unfiltered speed by the pre-scan (recall 1.000) and
/// at 0.56-0.66 by their links (recall 0.956-0.964).
const LINKS_FROM_PER_EF_NARROW: usize = 128;
/// Where links start to pay, per unit of ef: see [`LINKS_FROM_PER_EF`].
fn links_from_per_ef() -> usize {
    if crate::codes::signs::ranks_wide() {
        LINKS_FROM_PER_EF
    } else {
        LINKS_FROM_PER_EF_NARROW
    }
}

/// Admitted nodes spread over the slots that seed a walk of the admitted subgraph.
const SEEDS: usize = 16;
/// Slots sampled to estimate a filter's selectivity when it does not say.
const SAMPLE: usize = 512;

/// How a search runs, chosen with [`SearchRequest::plan`]: by the index's cost estimate
/// (the default), by walking the graph, or by scanning every admitted live slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilterPlan {
    /// Let the index choose by estimated cost. A search with no filter on a graph with
    /// no tombstones always walks the graph.
    #[default]
    Auto,
    /// Always walk the whole graph, skipping what the filter does not admit, with a
    /// candidate list widened by the filter's share (with a filter, recall falls as
    /// selectivity does, and where the matches lie away from the query). `Auto` walks
    /// only the admitted subgraph instead.
    Graph,
    /// Always scan the admitted live slots exactly (ground truth; slow on large indexes
    /// unless the filter admits few slots).
    Exact,
}

/// How a filtered (or tombstone-aware) search will run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Plan {
    /// Scan admitted live slots exactly.
    Exact,
    /// Walk the graph with a candidate list this long.
    Graph { candidates: usize },
    /// Walk the subgraph of admitted nodes (`Hnsw::search_admitted`).
    Admitted,
    /// Rank admitted live slots by their sign bits and score the closest by their
    /// codes (`Hnsw::sign_scan`).
    Signs,
    /// Walk links among the filter's members (`links.rs`) with the filter.
    Linked,
}

impl<V: VectorSource> Hnsw<V> {
    /// Runs `request` into the empty `out`; the query is in `scratch.query`. With
    /// nothing to leave out (no filter, no tombstones) this is the plain walk, which
    /// admits every node it reaches; otherwise the plan decides.
    pub(crate) fn run<K: Kernel, F: Filter + ?Sized>(
        &self,
        scratch: &mut Scratch,
        request: &SearchRequest<'_, F>,
        out: &mut Vec<Neighbor>,
    ) {
        let SearchRequest {
            k,
            ef,
            filter,
            plan,
            rescore,
            links,
        } = *request;
        if K::CODED && ef >= self.len() {
            // Asked to consider everything: scan the f32 vectors, so that an exhaustive
            // search is exact, as it is without codes.
            self.walk_plan::<K::Exact, F>(scratch, k, ef, filter, FilterPlan::Exact, None, out);
        } else if K::CODED {
            // The walk's best `rescore × k` by their codes, then the best k of those by
            // their f32 vectors.
            let walk_k = k.saturating_mul(rescore).min(ef.max(k)).max(k);
            self.walk_plan::<K, F>(scratch, walk_k, ef, filter, plan, links, out);
            let q = scratch.query.as_slice();
            // All in flight at once: they are few (3 × k by default), and on a mapped
            // store each is a TLB miss as well as a cache miss.
            for n in out.iter() {
                self.vectors.prefetch(n.slot);
            }
            for n in out.iter_mut() {
                n.distance = self.dist::<K::Exact>(q, n.slot.0);
            }
            out.sort_unstable_by(|a, b| a.distance.total_cmp(&b.distance));
            out.truncate(k);
        } else {
            self.walk_plan::<K, F>(scratch, k, ef, filter, plan, links, out);
        }
    }

    /// [`run`](Self::run) with the scoring settled: the plain walk, or the plan's.
    #[allow(clippy::too_many_arguments)]
    fn walk_plan<K: Kernel, F: Filter + ?Sized>(
        &self,
        scratch: &mut Scratch,
        k: usize,
        ef: usize,
        filter: Option<&F>,
        plan: FilterPlan,
        links: Option<&FilterLinks>,
        out: &mut Vec<Neighbor>,
    ) {
        match filter {
            None if plan != FilterPlan::Exact => {
                // Few tombstones: the plain walk over a list widened by the dead share,
                // whose live entries are the result (`search_layer0` drops the rest):
                // a tombstone costs the walk one slot of its list, not a detour through
                // the planner's sampling and the two-list walk.
                let deleted = self.deleted.load(Ordering::Acquire);
                let inserted = self.inserted.load(Ordering::Acquire).max(1);
                if deleted * 2 > inserted {
                    return self.planned::<K, _>(scratch, k, ef, &All, plan, false, None, out);
                }
                let live = inserted.saturating_sub(deleted).max(1);
                let widened = (ef * inserted).div_ceil(live);
                self.search_layer0::<K, _>(scratch, k, ef, widened, &Everything, out);
                if deleted > 0 && out.len() < k.min(self.len()) {
                    out.clear();
                    self.planned::<K, _>(scratch, k, ef, &All, plan, false, None, out);
                }
            }
            None => self.planned::<K, _>(scratch, k, ef, &All, plan, false, None, out),
            Some(filter) => {
                let links = links.filter(|_| filter.words().is_some());
                self.planned::<K, F>(scratch, k, ef, filter, plan, true, links, out)
            }
        }
    }

    /// Runs a search that must leave slots out by the plan [`plan`](Self::plan) picks
    /// (`restricted`: a caller's filter, rather than tombstones alone).
    #[allow(clippy::too_many_arguments)]
    fn planned<K: Kernel, F: Filter + ?Sized>(
        &self,
        scratch: &mut Scratch,
        k: usize,
        ef: usize,
        filter: &F,
        choice: FilterPlan,
        restricted: bool,
        links: Option<&FilterLinks>,
        out: &mut Vec<Neighbor>,
    ) {
        let signs = K::CODED
            && self.config.metric != Metric::InnerProduct
            && self.codes.get().is_some_and(Codes::has_signs);
        match self.plan(filter, k, ef, choice, restricted, signs, links.is_some()) {
            // Asked for: the ground truth, from the f32 vectors.
            Plan::Exact if choice == FilterPlan::Exact => {
                self.exact::<K::Exact, F>(scratch, k, filter, out)
            }
            // Chosen: the codes when there are, re-scored by `run` like a walk's result.
            Plan::Exact => self.exact::<K, F>(scratch, k, filter, out),
            Plan::Graph { candidates } => {
                self.search_layer0::<K, _>(scratch, k, ef, candidates, &Live(filter), out)
            }
            Plan::Linked => self.search_admitted::<K, F>(scratch, k, ef, filter, SEEDS, links, out),
            Plan::Admitted => {
                self.search_admitted::<K, F>(scratch, k, ef, filter, SEEDS, None, out)
            }
            Plan::Signs => self.sign_scan::<K, F>(scratch, k, ef, filter, out),
        }
    }

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

    /// The cheaper of walking the graph and scanning exactly (see the module comment),
    /// unless `choice` forces one; `signs`: the walk scores codes that have sign bits;
    /// `linked`: the request has links among the filter's members.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn plan<F: Filter + ?Sized>(
        &self,
        filter: &F,
        k: usize,
        ef: usize,
        choice: FilterPlan,
        restricted: bool,
        signs: bool,
        linked: bool,
    ) -> Plan {
        if choice == FilterPlan::Exact {
            return Plan::Exact;
        }
        let ef = ef.max(k).max(1);
        let live = self.len();
        let sel = self.selectivity(filter, live);
        let admitted = sel * live as f64;
        if restricted && choice == FilterPlan::Auto {
            let exact_to = if signs {
                SIGNS_FROM_PER_EF
            } else {
                EXACT_PER_EF
            };
            return if admitted <= (exact_to * ef) as f64 {
                Plan::Exact
            } else if linked && admitted > (links_from_per_ef() * ef) as f64 {
                Plan::Linked
            } else if signs && admitted <= (SIGNS_TO_PER_EF * ef) as f64 {
                Plan::Signs
            } else {
                Plan::Admitted
            };
        }
        let mut exact_cost = admitted;
        if !filter.can_list() {
            exact_cost += live as f64 / PREDICATE_PER_DISTANCE;
        }
        let widening = (1.0 / sel.max(1e-9)).min(MAX_WIDENING as f64);
        let graph_cost = GRAPH_COST_PER_EF * ef as f64 * widening;
        let graph = Plan::Graph {
            candidates: (ef as f64 * widening).ceil() as usize,
        };
        let exact_cheaper = exact_cost <= graph_cost || sel * (MAX_WIDENING as f64) < 1.0;
        if choice == FilterPlan::Auto && exact_cheaper {
            Plan::Exact
        } else {
            graph
        }
    }
}
