//! Helpers shared by the database tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use fletchdb::{Collection, Metric};

/// A deterministic vector for `(id, version)`: every test can recompute what a write
/// stored.
pub fn vector(id: u64, version: u32, dim: usize) -> Vec<f32> {
    let mut x = id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (version as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (0..dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// The stored form of `v` under `metric` (the library's own normalisation).
pub fn stored(mut v: Vec<f32>, metric: Metric) -> Vec<f32> {
    metric.prepare(&mut v).expect("test vectors are non-zero");
    v
}

/// Exact top-`k` ids of `query` over `model` (id -> stored vector), by the scalar
/// reference distance, ties broken by id.
pub fn exact(model: &BTreeMap<u64, Vec<f32>>, query: &[f32], k: usize, metric: Metric) -> Vec<u64> {
    let q = stored(query.to_vec(), metric);
    let mut d: Vec<(f32, u64)> = model
        .iter()
        .map(|(&id, v)| (metric.distance_scalar(&q, v), id))
        .collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    d.into_iter().take(k).map(|(_, id)| id).collect()
}

/// Checks that the collection holds exactly `model`, vector for vector, and that an
/// exhaustive search (ef >= len) agrees with the oracle.
pub fn check_against(c: &Collection, model: &BTreeMap<u64, Vec<f32>>, metric: Metric, probes: u32) {
    assert_eq!(c.len(), model.len(), "collection size");
    for (&id, v) in model {
        let got = c
            .get(id)
            .unwrap()
            .unwrap_or_else(|| panic!("id {id} missing"));
        assert_eq!(&got, v, "id {id} has another vector");
    }
    let dim = c.config().dim;
    let opts = fletchdb::SearchOptions {
        ef: model.len().max(10),
        filter: None,
        matching: None,
    };
    for p in 0..probes {
        let q = vector(1_000_000 + p as u64, 0, dim);
        let hits = c.search(&q, 10, &opts).unwrap();
        let got: Vec<u64> = hits.iter().map(|h| h.id).collect();
        let want = exact(model, &q, 10, metric);
        // Ties in distance may order differently; compare distances of the results.
        if got != want {
            let dist = |id: u64| metric.distance_scalar(&stored(q.clone(), metric), &model[&id]);
            let a: Vec<f32> = got.iter().map(|&i| dist(i)).collect();
            let b: Vec<f32> = want.iter().map(|&i| dist(i)).collect();
            for (x, y) in a.iter().zip(&b) {
                assert!(
                    (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                    "search {got:?} vs exact {want:?}"
                );
            }
        }
    }
}
