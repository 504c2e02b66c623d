//! FletchDB's index on generated data: build, search, print recall and QPS.
//!
//! ```text
//! cargo run --release -p fletchdb-index --example demo [-- N DIM]
//! ```
//! Makes N (default 50,000) clustered DIM-d (default 128) vectors, builds an HNSW index
//! on all cores (M = 16, ef_construction = 200), computes exact ground truth for 500
//! queries, and sweeps ef on one thread.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use fletchdb_index::{Hnsw, HnswConfig, Metric, SearchRequest};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(50_000, |a| a.parse().expect("N"));
    let dim: usize = args.next().map_or(128, |a| a.parse().expect("DIM"));
    let (nq, k) = (500, 10);

    println!("generating {n} clustered vectors of {dim} dims and {nq} queries");
    let base = common::clustered(n, dim, n / 100 + 1, 1.0, 1);
    let queries = common::queries_near(&base, dim, nq, 2);

    let index = Hnsw::in_memory(dim, HnswConfig::new(Metric::L2)).expect("config");
    let t = Instant::now();
    index.add_batch(&base).expect("insert");
    let build = t.elapsed().as_secs_f64();
    println!(
        "built in {build:.2} s on {} threads ({:.0} inserts/s)",
        rayon::current_num_threads(),
        n as f64 / build
    );

    let t = Instant::now();
    let truth = common::brute_force(&base, &queries, dim, k, Metric::L2);
    println!("exact ground truth in {:.2} s", t.elapsed().as_secs_f64());

    println!(
        "{:>5} {:>10} {:>10} {:>12}",
        "ef", "recall@10", "QPS", "latency µs"
    );
    let mut scratch = index.scratch();
    let mut out = Vec::with_capacity(k);
    for ef in [10, 16, 32, 64, 128, 256] {
        let mut got = Vec::with_capacity(nq);
        let t = Instant::now();
        for q in queries.chunks(dim) {
            index
                .search_with(&mut scratch, q, SearchRequest::new(k, ef), &mut out)
                .expect("search");
            got.push(out.iter().map(|h| h.slot.0).collect::<Vec<_>>());
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{ef:>5} {:>10.4} {:>10.0} {:>12.1}",
            common::recall(&got, &truth, k),
            nq as f64 / secs,
            secs * 1e6 / nq as f64
        );
    }
}
