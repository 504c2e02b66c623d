//! Measures where a filtered search should stop walking the graph and scan the admitted
//! slots exactly: QPS and recall@10 of both plans, and what the planner picks, at
//! falling selectivity.
//!
//! ```text
//! cargo run --release -p fletchdb-index --example filter_crossover [-- N DIM]
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use fletchdb_index::{Filter, FilterPlan, Hnsw, HnswConfig, Metric, Slot};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(100_000, |a| a.parse().expect("N"));
    let dim: usize = args.next().map_or(64, |a| a.parse().expect("DIM"));
    let (nq, k, ef) = (200, 10, 64);
    let base = common::clustered(n, dim, n / 100 + 1, 1.0, 5);
    let queries = common::queries_near(&base, dim, nq, 6);
    let index = Hnsw::in_memory(dim, HnswConfig::new(Metric::L2)).unwrap();
    index.add_batch(&base).unwrap();
    println!("n={n} dim={dim} k={k} ef={ef}; closure filters (no size hint)");
    println!(
        "{:>8} {:>10} {:>9} {:>10} {:>9} {:>10} {:>9}",
        "select", "graph QPS", "recall", "exact QPS", "recall", "auto QPS", "recall"
    );
    for sel in [0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.001] {
        let modulus = (1.0 / sel) as u32;
        let filter = move |s: Slot| s.0.wrapping_mul(2_654_435_761).is_multiple_of(modulus);
        let truth: Vec<Vec<u32>> = queries
            .chunks(dim)
            .map(|q| {
                ids(&common::search_filtered(
                    &index,
                    q,
                    (k, ef),
                    &filter,
                    FilterPlan::Exact,
                ))
            })
            .collect();
        let mut row = format!("{sel:>8}");
        for plan in [FilterPlan::Graph, FilterPlan::Exact, FilterPlan::Auto] {
            let (qps, r) = run(&index, &queries, dim, k, ef, &filter, plan, &truth);
            row += &format!(" {qps:>10.0} {r:>9.3}");
        }
        println!("{row}");
    }
}

#[allow(clippy::too_many_arguments)]
fn run<F: Filter>(
    index: &Hnsw<fletchdb_index::InMemoryVectors>,
    queries: &[f32],
    dim: usize,
    k: usize,
    ef: usize,
    filter: &F,
    plan: FilterPlan,
    truth: &[Vec<u32>],
) -> (f64, f64) {
    let t = Instant::now();
    let got: Vec<Vec<u32>> = queries
        .chunks(dim)
        .map(|q| ids(&common::search_filtered(index, q, (k, ef), filter, plan)))
        .collect();
    let qps = truth.len() as f64 / t.elapsed().as_secs_f64();
    (qps, common::recall(&got, truth, k))
}

/// The slots of one filtered search's hits.
fn ids(hits: &[fletchdb_index::Neighbor]) -> Vec<u32> {
    hits.iter().map(|h| h.slot.0).collect()
}
