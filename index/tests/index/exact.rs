//! With ef at least the collection size the graph search is exhaustive: it must agree
//! with exact search, and exact search with the brute-force oracle.

use fletchdb_index::{Hnsw, HnswConfig, Metric};

use crate::common::{brute_force, clustered, normalise_rows, queries_near};

#[test]
fn search_with_ef_at_least_n_equals_exact_search() {
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let (n, dim) = (1_500, 16);
        let mut base = clustered(n, dim, 20, 0.5, 21);
        let mut queries = queries_near(&base, dim, 40, 22);
        if metric == Metric::Cosine {
            normalise_rows(&mut base, dim);
            normalise_rows(&mut queries, dim);
        }
        let index = Hnsw::in_memory(dim, HnswConfig::new(metric)).unwrap();
        index.add_batch(&base).unwrap();
        let truth = brute_force(&base, &queries, dim, 10, metric);
        for (q, t) in queries.chunks(dim).zip(&truth) {
            let graph: Vec<u32> = index
                .search(q, 10, n)
                .unwrap()
                .iter()
                .map(|h| h.slot.0)
                .collect();
            let exact: Vec<u32> = index
                .exact_search(q, 10, None)
                .unwrap()
                .iter()
                .map(|h| h.slot.0)
                .collect();
            assert_eq!(graph, exact, "{metric:?}");
            assert_eq!(
                &exact, t,
                "{metric:?}: exact search against the scalar oracle"
            );
        }
    }
}

#[test]
fn distances_are_reported_correctly_and_sorted() {
    let dim = 8;
    let base = clustered(500, dim, 5, 1.0, 3);
    let index = Hnsw::in_memory(dim, HnswConfig::new(Metric::L2)).unwrap();
    index.add_batch(&base).unwrap();
    let q = &base[..dim];
    let hits = index.search(q, 20, 100).unwrap();
    assert_eq!(hits[0].distance, 0.0);
    for w in hits.windows(2) {
        assert!(w[0].distance <= w[1].distance);
    }
    for h in &hits {
        let v = &base[h.slot.index() * dim..][..dim];
        let d = Metric::L2.distance_scalar(q, v);
        assert!(
            (d - h.distance).abs() <= 1e-4 * (1.0 + d),
            "{d} vs {}",
            h.distance
        );
    }
}
