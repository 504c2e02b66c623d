//! Rewrites with heals on the index alone: N(0, 1) vectors built, then every vector
//! replaced by a fresh one (an insert, then a delete of the old node, as an upsert does)
//! with a fifth deleted in the first round, and a heal after each round. Prints recall@10
//! at ef 64 against brute force over the live vectors, and the time of writes and heals.
//!
//! ```text
//! cargo run --release -p fletchdb-index --example rewrite [-- N DIM ROUNDS]
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use fletchdb_index::{Hnsw, HnswConfig, InMemoryVectors, Metric, Slot, VectorSource};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut next = |default: usize| {
        args.next()
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let (n, dim, rounds) = (next(20_000), next(128), next(2));
    let mut rng = StdRng::seed_from_u64(5);
    let normal = Normal::new(0.0f32, 1.0).expect("a distribution");
    let mut gaussian =
        |rows: usize| -> Vec<f32> { (0..rows * dim).map(|_| normal.sample(&mut rng)).collect() };
    let base = gaussian(n);
    let queries = gaussian(500);
    let config = HnswConfig {
        ef_construction: 200,
        ..HnswConfig::new(Metric::L2)
    };
    let index = Hnsw::in_memory(dim, config).expect("config");
    let mut live: Vec<Slot> = index.add_batch(&base).expect("insert");
    let recall = |index: &Hnsw<InMemoryVectors>, live: &[Slot]| {
        let rows: Vec<f32> = live
            .iter()
            .flat_map(|&s| index.vectors().vector(s).to_vec())
            .collect();
        let truth = common::brute_force(&rows, &queries, dim, 10, Metric::L2);
        let got: Vec<Vec<u32>> = queries
            .chunks(dim)
            .map(|q| {
                let hits = index.search(q, 10, 64).expect("search");
                hits.iter()
                    .filter_map(|h| live.iter().position(|&s| s == h.slot))
                    .map(|i| i as u32)
                    .collect()
            })
            .collect();
        common::recall(&got, &truth, 10)
    };
    println!("fresh: recall@10 {:.4}", recall(&index, &live));
    let mut choose = StdRng::seed_from_u64(9);
    for round in 1..=rounds {
        let mut gone = Vec::new();
        if round == 1 {
            live.retain(|&s| {
                let keep = choose.random_range(0..5) != 0;
                if !keep {
                    gone.push(s);
                }
                keep
            });
        }
        let rows = gaussian(live.len());
        let t = Instant::now();
        for s in gone {
            index.delete(s).expect("delete");
        }
        for (slot, v) in live.iter_mut().zip(rows.chunks(dim)) {
            let new = index.add(v).expect("insert");
            index.delete(*slot).expect("delete");
            *slot = new;
        }
        let writes = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let heal = index.heal();
        println!(
            "round {round}: writes {writes:.1} s, heal {:.1} s ({} freed, {} lists repaired, {} reattached), recall@10 {:.4}",
            t.elapsed().as_secs_f64(),
            heal.freed.len(),
            heal.repaired,
            heal.reattached,
            recall(&index, &live)
        );
    }
}
