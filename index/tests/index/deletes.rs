//! Tombstones: deleted slots never come back, and the rest stay findable.

use fletchdb_index::{FilterPlan, Hnsw, HnswConfig, Metric, SearchRequest, Slot, SlotSet};
use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::common::{clustered, queries_near, recall};

#[test]
fn tombstoned_slots_never_come_back() {
    let (n, dim) = (5_000, 16);
    let base = clustered(n, dim, 40, 0.6, 51);
    let index = Hnsw::in_memory(dim, HnswConfig::new(Metric::L2)).unwrap();
    index.add_batch(&base).unwrap();
    let mut rng = StdRng::seed_from_u64(52);
    let mut deleted = vec![false; n];
    for _ in 0..1_500 {
        let s = rng.random_range(0..n);
        let fresh = index.delete(Slot(s as u32)).unwrap();
        assert_eq!(fresh, !deleted[s]);
        deleted[s] = true;
    }
    let gone = deleted.iter().filter(|d| **d).count();
    assert_eq!(index.len(), n - gone);
    assert_eq!(index.deleted_len(), gone);
    index.check_integrity().unwrap();

    let queries = queries_near(&base, dim, 200, 53);
    let mut got = Vec::new();
    let mut truth = Vec::new();
    for q in queries.chunks(dim) {
        let hits = index.search(q, 10, 64).unwrap();
        assert_eq!(hits.len(), 10);
        for h in &hits {
            assert!(
                !deleted[h.slot.index()],
                "deleted slot {:?} returned",
                h.slot
            );
            assert!(!index.contains(h.slot) || !deleted[h.slot.index()]);
        }
        got.push(hits.iter().map(|h| h.slot.0).collect::<Vec<_>>());
        let exact = index.exact_search(q, 10, None).unwrap();
        assert!(exact.iter().all(|h| !deleted[h.slot.index()]));
        truth.push(exact.iter().map(|h| h.slot.0).collect::<Vec<_>>());
    }
    let r = recall(&got, &truth, 10);
    assert!(r >= 0.95, "recall@10 among live slots {r}");

    // A deleted vector searched for itself finds something else.
    let s = deleted.iter().position(|d| *d).unwrap();
    let hits = index.search(&base[s * dim..][..dim], 5, 64).unwrap();
    assert!(hits.iter().all(|h| h.slot.index() != s));
    assert!(!index.contains(Slot(s as u32)));
}

#[test]
fn fewer_live_than_k_returns_fewer_not_an_error() {
    let dim = 4;
    let index = Hnsw::in_memory(dim, HnswConfig::new(Metric::L2)).unwrap();
    assert!(index.search(&[0.0; 4], 10, 32).unwrap().is_empty());
    let slots: Vec<Slot> = (0..6)
        .map(|i| index.add(&[i as f32, 0.0, 0.0, 0.0]).unwrap())
        .collect();
    for s in &slots[..4] {
        index.delete(*s).unwrap();
    }
    let hits = index.search(&[0.0; 4], 10, 32).unwrap();
    let got: Vec<Slot> = hits.iter().map(|h| h.slot).collect();
    assert_eq!(got, vec![slots[4], slots[5]]);
    for s in &slots[4..] {
        index.delete(*s).unwrap();
    }
    assert!(index.search(&[0.0; 4], 10, 32).unwrap().is_empty());
    assert!(index.is_empty());
}

/// Every way into a search (plain, pooled, caller scratch, batch, exact, and each plan
/// with and without a filter) skips tombstones, also when most of the graph, and
/// possibly its entry point, is deleted.
#[test]
fn no_search_path_returns_a_deleted_slot() {
    let (n, dim) = (3_000, 8);
    let base = clustered(n, dim, 30, 0.6, 54);
    let index = Hnsw::in_memory(dim, HnswConfig::new(Metric::L2)).unwrap();
    index.add_batch(&base).unwrap();
    let mut rng = StdRng::seed_from_u64(55);
    let deleted: Vec<bool> = (0..n).map(|_| rng.random_bool(0.8)).collect();
    for (s, _) in deleted.iter().enumerate().filter(|(_, d)| **d) {
        index.delete(Slot(s as u32)).unwrap();
    }
    let queries = queries_near(&base, dim, 50, 56);
    let odd = |s: Slot| s.0 % 2 == 1;
    let listed: SlotSet = (0..n as u32).filter(|s| s % 3 == 0).map(Slot).collect();
    let (mut scratch, mut hits) = (index.scratch(), Vec::new());
    let check = |hits: &[fletchdb_index::Neighbor], what: &str| {
        assert!(!hits.is_empty(), "{what}: nothing found");
        for h in hits {
            assert!(!deleted[h.slot.index()], "{what}: deleted {:?}", h.slot);
        }
    };
    for q in queries.chunks(dim) {
        check(&index.search(q, 10, 32).unwrap(), "search");
        check(&index.exact_search(q, 10, None).unwrap(), "exact_search");
        for plan in [FilterPlan::Auto, FilterPlan::Graph, FilterPlan::Exact] {
            let plain = SearchRequest::new(10, 32).plan(plan);
            index
                .search_with(&mut scratch, q, plain, &mut hits)
                .unwrap();
            check(&hits, &format!("{plan:?}"));
            index.search_into(q, plain.filter(&odd), &mut hits).unwrap();
            check(&hits, &format!("{plan:?} closure"));
            index
                .search_into(q, plain.filter(&listed), &mut hits)
                .unwrap();
            check(&hits, &format!("{plan:?} SlotSet"));
        }
    }
    for hits in index.search_batch(&queries, 10, 32).unwrap() {
        check(&hits, "search_batch");
    }
}
