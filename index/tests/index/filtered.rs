//! Filtered search: only admitted slots, and recall that holds at low selectivity.

use fletchdb_index::{Filter, FilterPlan, Hnsw, HnswConfig, Metric, SearchRequest, Slot, SlotSet};
use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::common::{clustered, queries_near, recall, search_filtered};

fn index_and_queries() -> (Hnsw<fletchdb_index::InMemoryVectors>, Vec<f32>, usize) {
    let (n, dim) = (20_000, 24);
    let base = clustered(n, dim, 100, 0.6, 61);
    let index = Hnsw::in_memory(
        dim,
        HnswConfig {
            ef_construction: 100,
            ..HnswConfig::new(Metric::L2)
        },
    )
    .unwrap();
    index.add_batch(&base).unwrap();
    let queries = queries_near(&base, dim, 200, 62);
    (index, queries, dim)
}

fn check<F: Filter>(
    index: &Hnsw<fletchdb_index::InMemoryVectors>,
    queries: &[f32],
    dim: usize,
    filter: &F,
) -> f64 {
    let mut got = Vec::new();
    let mut truth = Vec::new();
    for q in queries.chunks(dim) {
        let hits = search_filtered(index, q, (10, 64), filter, FilterPlan::Auto);
        assert!(
            hits.iter().all(|h| filter.admits(h.slot)),
            "a non-admitted slot came back"
        );
        got.push(hits.iter().map(|h| h.slot.0).collect::<Vec<_>>());
        let exact = index.exact_search(q, 10, Some(filter)).unwrap();
        truth.push(exact.iter().map(|h| h.slot.0).collect::<Vec<_>>());
    }
    recall(&got, &truth, 10)
}

#[test]
fn one_percent_selectivity_keeps_recall() {
    let (index, queries, dim) = index_and_queries();
    let mut rng = StdRng::seed_from_u64(63);
    let set: SlotSet = (0..20_000u32)
        .filter(|_| rng.random_bool(0.01))
        .map(Slot)
        .collect();
    let r = check(&index, &queries, dim, &set);
    assert!(r >= 0.95, "SlotSet at 1%: recall {r}");
    // The same predicate as a closure (no hint: the index samples to estimate).
    let closure = |s: Slot| set.contains(s);
    let r = check(&index, &queries, dim, &closure);
    assert!(r >= 0.95, "closure at 1%: recall {r}");
}

#[test]
fn moderate_and_high_selectivity_walk_the_graph_with_good_recall() {
    let (index, queries, dim) = index_and_queries();
    for modulus in [2u32, 4, 10] {
        let f = move |s: Slot| s.0.is_multiple_of(modulus);
        let r = check(&index, &queries, dim, &f);
        assert!(r >= 0.9, "1/{modulus} admitted: recall {r}");
    }
}

#[test]
fn filter_admitting_nothing_returns_nothing() {
    let (index, queries, dim) = index_and_queries();
    let none = |_: Slot| false;
    assert!(search_filtered(&index, &queries[..dim], (10, 64), &none, FilterPlan::Auto).is_empty());
    let empty = SlotSet::new();
    assert!(
        search_filtered(&index, &queries[..dim], (10, 64), &empty, FilterPlan::Auto).is_empty()
    );
}

/// The filtered walk (a second result list, node-state checks, an early stop) and the
/// plain walk (one list) are one function: with a filter that admits everything and no
/// tombstones, they must expand the same nodes and return the same hits, bit for bit.
#[test]
fn filter_admitting_everything_walks_exactly_like_no_filter() {
    for metric in [Metric::L2, Metric::Cosine] {
        let (n, dim) = (4_000, 16);
        let base = clustered(n, dim, 40, 0.6, 64);
        let index = Hnsw::in_memory(dim, HnswConfig::new(metric)).unwrap();
        index.add_batch(&base).unwrap();
        let all = |_: Slot| true;
        let mut hits = Vec::new();
        for q in queries_near(&base, dim, 100, 65).chunks(dim) {
            for (k, ef) in [(1, 1), (10, 10), (10, 64), (50, 32)] {
                let plain = index.search(q, k, ef).unwrap();
                let walk = SearchRequest::new(k, ef)
                    .filter(&all)
                    .plan(FilterPlan::Graph);
                index.search_into(q, walk, &mut hits).unwrap();
                assert_eq!(hits, plain, "{metric:?} k {k} ef {ef}");
            }
        }
    }
}
