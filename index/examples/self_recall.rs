//! Builds the same Gaussian-mixture data with several inserting threads, several times,
//! and counts the vectors a search does not find by themselves: at ef 64, and at ef N
//! (an exhaustive walk, so a miss there is a node no layer-0 path reaches).
//!
//! ```text
//! cargo run --release -p fletchdb-index --example self_recall [-- N DIM THREADS M EF_CONSTRUCTION ROUNDS]
//! ```
//!
//! Measured 2026-11-24 (12,000 × 24-d, 60 centres, σ 0.8): m 16, ef_construction 100,
//! 8 threads, 20 rounds: 0 missed; m 8, ef_construction 40: 8-14 missed at ef 64 and
//! 4-10 unreachable per build, with 1 thread as with 8.

#[path = "../tests/common/mod.rs"]
mod common;

use fletchdb_index::{Hnsw, HnswConfig, Metric, Slot, VectorSource};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut next = |default: usize| {
        args.next()
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let (n, dim, threads) = (next(12_000), next(24), next(8));
    let (m, ef_construction, rounds) = (next(16), next(100), next(5));
    for round in 0..rounds {
        let base = common::clustered(n, dim, 60, 0.8, 31 + round as u64);
        let config = HnswConfig {
            m,
            ef_construction,
            ..HnswConfig::new(Metric::L2)
        };
        let index = Hnsw::in_memory(dim, config).expect("config");
        std::thread::scope(|s| {
            for t in 0..threads {
                let (index, base) = (&index, &base);
                s.spawn(move || {
                    for row in (t..n).step_by(threads) {
                        index.add(&base[row * dim..][..dim]).expect("insert");
                    }
                });
            }
        });
        index.check_integrity().expect("integrity");
        let (mut missed, mut unreachable) = (0, 0);
        for slot in 0..n as u32 {
            let v = index.vectors().vector(Slot(slot)).to_vec();
            if index.search(&v, 1, 64).expect("search")[0].distance != 0.0 {
                missed += 1;
                if index.search(&v, 1, n).expect("search")[0].distance != 0.0 {
                    unreachable += 1;
                }
            }
        }
        println!("round {round}: missed at ef 64: {missed}, unreachable: {unreachable}");
    }
}
