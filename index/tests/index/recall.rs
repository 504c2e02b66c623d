//! Recall against a brute-force oracle on generated clustered data, for every metric.

use fletchdb_index::{Hnsw, HnswConfig, Metric};

use crate::common::{brute_force, clustered, normalise_rows, queries_near, recall};

fn recall_at_ef64(metric: Metric) -> f64 {
    let (n, dim) = (20_000, 32);
    let mut base = clustered(n, dim, 200, 0.6, 11);
    let mut queries = queries_near(&base, dim, 300, 12);
    if metric == Metric::Cosine {
        normalise_rows(&mut base, dim);
        normalise_rows(&mut queries, dim);
    }
    let config = HnswConfig {
        metric,
        ef_construction: 100,
        ..HnswConfig::default()
    };
    let index = Hnsw::in_memory(dim, config).unwrap();
    index.add_batch(&base).unwrap();
    index.check_integrity().unwrap();
    assert_eq!(index.len(), n);
    let truth = brute_force(&base, &queries, dim, 10, metric);
    let got: Vec<Vec<u32>> = queries
        .chunks(dim)
        .map(|q| {
            index
                .search(q, 10, 64)
                .unwrap()
                .iter()
                .map(|h| h.slot.0)
                .collect()
        })
        .collect();
    recall(&got, &truth, 10)
}

#[test]
fn l2_recall_at_ef64_is_at_least_095() {
    let r = recall_at_ef64(Metric::L2);
    assert!(r >= 0.95, "recall@10 {r}");
}

#[test]
fn inner_product_recall_at_ef64_is_at_least_095() {
    let r = recall_at_ef64(Metric::InnerProduct);
    assert!(r >= 0.95, "recall@10 {r}");
}

#[test]
fn cosine_recall_at_ef64_is_at_least_095() {
    let r = recall_at_ef64(Metric::Cosine);
    assert!(r >= 0.95, "recall@10 {r}");
}
