//! The Rust side of `python/bench/bench_search.py`: the same searches as the Python
//! benchmark, on the same database (opened from the directory the Python side built), so
//! that the difference is the binding's overhead.
//!
//! ```sh
//! cargo run --release -p fletchdb-python --example search_loop -- \
//!     DB_DIR COLLECTION QUERIES.fvecs K EF PASSES
//! ```
//!
//! Prints one `name value` line each, the best of PASSES timings: `single_qps` (queries
//! one at a time on this thread), `threads2_qps` (the queries split over two threads, one
//! at a time each), `batch_qps` (one `search_batch` call); and `checksum` (sum of the
//! returned ids, to compare with Python's).

#[path = "common/fvecs.rs"]
mod fvecs;
use fvecs::read_fvecs;

use std::time::Instant;

use fletchdb::{Database, Options, SearchOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        return Err("usage: search_loop DB_DIR COLLECTION QUERIES.fvecs K EF PASSES".into());
    }
    let db = Database::open(&args[1], Options::default())?;
    let c = db.collection(&args[2])?;
    let queries = read_fvecs(&args[3])?;
    let k: usize = args[4].parse()?;
    let opts = SearchOptions {
        ef: args[5].parse()?,
        filter: None,
        matching: None,
    };
    let passes: usize = args[6].parse()?;
    let dim = c.config().dim;
    let n = queries.len() / dim;
    let qps = |secs: f64| n as f64 / secs;

    // Warm up: page the vectors in, fill the per-thread buffers.
    for q in queries.chunks(dim) {
        c.search(q, k, &opts)?;
    }

    let mut checksum = 0u64;
    let single = best_of(passes, || {
        checksum = 0;
        for q in queries.chunks(dim) {
            checksum += c.search(q, k, &opts)?.iter().map(|h| h.id).sum::<u64>();
        }
        Ok(())
    })?;
    println!("single_qps {:.1}", qps(single));

    let half = n / 2 * dim;
    let threads2 = best_of(passes, || {
        std::thread::scope(|s| {
            let workers: Vec<_> = [&queries[..half], &queries[half..]]
                .into_iter()
                .map(|part| {
                    let (c, opts) = (&c, &opts);
                    s.spawn(move || -> Result<(), fletchdb::Error> {
                        for q in part.chunks(dim) {
                            c.search(q, k, opts)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            workers
                .into_iter()
                .try_for_each(|w| w.join().expect("search thread panicked"))
        })
    })?;
    println!("threads2_qps {:.1}", qps(threads2));

    let batch = best_of(passes, || {
        assert_eq!(c.search_batch(&queries, k, &opts)?.len(), n);
        Ok(())
    })?;
    println!("batch_qps {:.1}", qps(batch));
    println!("checksum {checksum}");
    drop(c);
    db.close()?;
    Ok(())
}

/// The fastest of `passes` runs of `f`, in seconds.
fn best_of(
    passes: usize,
    mut f: impl FnMut() -> Result<(), fletchdb::Error>,
) -> Result<f64, fletchdb::Error> {
    let mut best = f64::INFINITY;
    for _ in 0..passes.max(1) {
        let start = Instant::now();
        f()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}
