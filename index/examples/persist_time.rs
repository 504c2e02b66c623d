//! Times saving and loading a graph: what a database open pays for its index.
//!
//! ```text
//! cargo run --release -p fletchdb-index --example persist_time [-- N DIM]
//! ```
//! Builds N (default 200,000) random DIM-d (default 32) vectors with M = 16 and
//! ef_construction = 40 (cheap to build; the graph's shape is what load time depends
//! on), then saves and loads the graph three times each.

use std::time::Instant;

use fletchdb_index::{Hnsw, HnswConfig, InMemoryVectors, Metric, Slot, VectorSource};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(200_000, |a| a.parse().expect("N"));
    let dim: usize = args.next().map_or(32, |a| a.parse().expect("DIM"));
    let mut x = 0x1234_5678u64;
    let data: Vec<f32> = (0..n * dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    let config = HnswConfig {
        ef_construction: 40,
        ..HnswConfig::new(Metric::L2)
    };
    let index = Hnsw::in_memory(dim, config).unwrap();
    let t = Instant::now();
    index.add_batch(&data).unwrap();
    println!("built {n} x {dim} in {:.1} s", t.elapsed().as_secs_f64());
    let copy = || {
        let v = InMemoryVectors::new(dim).unwrap();
        for s in 0..n as u32 {
            v.push(index.vectors().vector(Slot(s))).unwrap();
        }
        v
    };
    let mut bytes = Vec::new();
    for _ in 0..3 {
        bytes.clear();
        let t = Instant::now();
        index.save(&mut bytes).unwrap();
        println!(
            "save: {:.1} ms, {} bytes",
            t.elapsed().as_secs_f64() * 1e3,
            bytes.len()
        );
    }
    for _ in 0..3 {
        let vectors = copy();
        let t = Instant::now();
        let loaded = Hnsw::load(&bytes, vectors).unwrap();
        println!(
            "load: {:.1} ms ({} nodes)",
            t.elapsed().as_secs_f64() * 1e3,
            loaded.len()
        );
    }
}
