//! The Rust side of `python/bench/bench_batch.py`: the searches of the `fletchdb-ann`
//! runner (`benches/src/ann.rs`, `search_all`), on a database directory the Python side
//! built (a copy of it: one database is open in one process at a time), so that Python's
//! batch `search` is compared with Rust on the same graph and the same thread count.
//!
//! ```sh
//! cargo run --release -p fletchdb-python --example batch_search -- \
//!     DB_DIR COLLECTION QUERIES.fvecs K THREADS
//! ```
//!
//! It then reads one ef per line on stdin and answers each with one timed pass over all
//! the queries at that ef, printed as `checksum SUM seconds S cpu C`: the sum of the
//! returned ids (to compare with Python's), the pass's wall time and the CPU time the
//! process spent in it. So the caller can alternate
//! Rust and Python passes one by one, and a shared machine's drift hits both sides of each
//! pair alike. With `THREADS` 1 a pass is a plain loop of `Collection::search` on this
//! thread; with more, one `search_batch` call inside a rayon pool of that many threads:
//! exactly what the runner times.

#[path = "common/fvecs.rs"]
mod fvecs;
use fvecs::read_fvecs;

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use fletchdb::{Collection, Database, Options, SearchOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        return Err("usage: batch_search DB_DIR COLLECTION QUERIES.fvecs K THREADS".into());
    }
    let db = Database::open(&args[1], Options::default())?;
    let c = db.collection(&args[2])?;
    let queries = read_fvecs(&args[3])?;
    let k: usize = args[4].parse()?;
    let threads: usize = args[5].parse()?;
    if threads == 0 {
        return Err("THREADS must be at least 1".into());
    }
    if queries.len() % c.config().dim != 0 {
        return Err("the queries' dimension differs from the collection's".into());
    }
    let pool = (threads > 1)
        .then(|| rayon::ThreadPoolBuilder::new().num_threads(threads).build())
        .transpose()?;
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let ef: usize = line?.trim().parse()?;
        let cpu = process_cpu()?;
        let (sum, t) = search_all(&c, &queries, k, ef, pool.as_ref())?;
        let cpu = process_cpu()?.saturating_sub(cpu);
        writeln!(
            out,
            "checksum {sum} seconds {:.6} cpu {:.6}",
            t.as_secs_f64(),
            cpu.as_secs_f64()
        )?;
        out.flush()?;
    }
    drop(c);
    db.close()?;
    Ok(())
}

/// One pass over the queries at `ef`, as `fletchdb_benches::ann::search_all` runs it:
/// the sum of the returned ids and the wall time of the searches.
fn search_all(
    c: &Collection,
    queries: &[f32],
    k: usize,
    ef: usize,
    pool: Option<&rayon::ThreadPool>,
) -> fletchdb::Result<(u64, Duration)> {
    let opts = SearchOptions {
        ef,
        ..SearchOptions::default()
    };
    let dim = c.config().dim;
    let t = Instant::now();
    let hits = match pool {
        None => queries
            .chunks(dim)
            .map(|q| c.search(q, k, &opts))
            .collect::<fletchdb::Result<Vec<_>>>()?,
        Some(pool) => pool.install(|| c.search_batch(queries, k, &opts))?,
    };
    let elapsed = t.elapsed();
    let sum = hits.iter().flatten().map(|h| h.id).sum();
    Ok((sum, elapsed))
}

/// CPU time this process's threads have run so far: the sum of the first field of each
/// `/proc/self/task/*/schedstat` (nanoseconds on a CPU), which is what Python's
/// `time.process_time` reads too, at nanosecond resolution (Linux only).
fn process_cpu() -> std::io::Result<Duration> {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task")? {
        let stat = match std::fs::read_to_string(task?.path().join("schedstat")) {
            Ok(s) => s,
            Err(_) => continue, // the thread ended meanwhile
        };
        ns += stat
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(Duration::from_nanos(ns))
}
