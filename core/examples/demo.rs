//! FletchDB on generated data: durable inserts, search (recall and QPS against exact
//! ground truth), a clean close and a timed reopen.
//!
//! ```text
//! cargo run --release -p fletchdb --example demo [-- N DIM]
//! ```
//! Makes N (default 50,000) clustered DIM-d (default 128) vectors and 500 queries,
//! inserts them into a new database in a temporary directory with `Sync` durability
//! (batches of 1,000, each acknowledged after `fdatasync`), sweeps ef on one thread,
//! closes, reopens and searches again.

use std::time::Instant;

use fletchdb::{CollectionConfig, Database, Metric, Options, SearchOptions};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

fn clustered(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let unit = Normal::new(0.0f32, 1.0).expect("normal");
    let centers = n / 100 + 1;
    let c: Vec<f32> = (0..centers * dim).map(|_| unit.sample(&mut rng)).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let k = rng.random_range(0..centers);
        out.extend((0..dim).map(|j| c[k * dim + j] + 0.5 * unit.sample(&mut rng)));
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(50_000), |a| a.parse())?;
    let dim: usize = args.next().map_or(Ok(128), |a| a.parse())?;
    let (nq, k) = (500, 10);
    let data = clustered(n, dim, 1);
    let queries: Vec<f32> = clustered(nq, dim, 2);
    let dir = tempfile::tempdir()?;
    println!(
        "{n} clustered {dim}-d vectors into a new database at {}",
        dir.path().display()
    );

    let db = Database::open(dir.path(), Options::default())?;
    let docs = db.create_collection("demo", CollectionConfig::new(dim, Metric::L2))?;
    let t = Instant::now();
    for (b, chunk) in data.chunks(1000 * dim).enumerate() {
        let ids: Vec<u64> = (0..chunk.len() / dim)
            .map(|i| (b * 1000 + i) as u64)
            .collect();
        docs.insert_batch(&ids, chunk)?;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "inserted in {secs:.1} s ({:.0} durable inserts/s, {} threads)",
        n as f64 / secs,
        rayon::current_num_threads()
    );

    // Exact ground truth by brute force over the generated vectors, on all cores.
    let t = Instant::now();
    let truth: Vec<Vec<u64>> = queries
        .par_chunks(dim)
        .map(|q| {
            let mut d: Vec<(f32, u64)> = data
                .chunks(dim)
                .enumerate()
                .map(|(i, v)| (Metric::L2.distance(q, v), i as u64))
                .collect();
            d.select_nth_unstable_by(k, |a, b| a.0.total_cmp(&b.0));
            d.truncate(k);
            d.into_iter().map(|(_, id)| id).collect()
        })
        .collect();
    println!(
        "exact ground truth by brute force in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let sweep = |docs: &fletchdb::Collection| -> Result<(), fletchdb::Error> {
        println!(
            "{:>5} {:>10} {:>10} {:>12}",
            "ef", "recall@10", "QPS", "latency µs"
        );
        for ef in [16, 32, 64, 128, 256] {
            let opts = SearchOptions {
                ef,
                filter: None,
                matching: None,
            };
            let t = Instant::now();
            let mut hits = 0;
            for (q, want) in queries.chunks(dim).zip(&truth) {
                let got = docs.search(q, k, &opts)?;
                hits += got.iter().filter(|h| want.contains(&h.id)).count();
            }
            let secs = t.elapsed().as_secs_f64();
            println!(
                "{ef:>5} {:>10.4} {:>10.0} {:>12.1}",
                hits as f64 / (nq * k) as f64,
                nq as f64 / secs,
                secs * 1e6 / nq as f64
            );
        }
        Ok(())
    };
    sweep(&docs)?;

    let t = Instant::now();
    drop(docs);
    db.close()?;
    println!(
        "closed (final checkpoint) in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let db = Database::open(dir.path(), Options::default())?;
    println!(
        "reopened in {:.0} ms, {} log records replayed",
        t.elapsed().as_secs_f64() * 1e3,
        db.replayed_at_open()
    );
    sweep(&db.collection("demo")?)?;
    Ok(())
}
