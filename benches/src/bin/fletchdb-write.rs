//! Durable single-vector inserts into a fresh database, timed by wall clock and by the
//! CPU time the whole process spent (all threads, from `/proc/self/stat`): the way to
//! compare two builds' insert paths on a shared machine, where CPU time moves far less
//! than wall time when other work competes for the cores. The `write_only` criterion
//! bench covers every configuration; this runs one, long enough to be stable, and
//! repeats it.
//!
//! `cargo run --release -p fletchdb-benches --bin fletchdb-write -- --writers 8 --durability sync`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use fletchdb::{CollectionConfig, Database, Durability, Metric, Options};
use fletchdb_benches::data::Clustered;
use fletchdb_benches::harness::{fill, scratch_dir};
use fletchdb_benches::measure::Latency;

/// Times durable single-vector inserts (384-d cosine, clustered data) into a fresh
/// database prefilled outside the timing.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Vectors inserted (in batches of 1,000) before the timing starts.
    #[arg(long, default_value_t = 5_000)]
    prefill: usize,
    /// Vectors inserted one per call while timed.
    #[arg(long, default_value_t = 5_000)]
    inserts: usize,
    /// Writer threads sharing the timed inserts.
    #[arg(long, default_value_t = 1)]
    writers: usize,
    /// sync, buffered (100 ms) or none.
    #[arg(long, default_value = "sync")]
    durability: String,
    /// The group-commit window, in milliseconds.
    #[arg(long, default_value_t = 0)]
    window_ms: u64,
    /// Repetitions, each on a fresh database.
    #[arg(long, default_value_t = 3)]
    reps: usize,
}

/// CPU seconds (user + system) the process has used, all threads; `/proc/self/stat`
/// counts in clock ticks of 10 ms.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14, 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let durability = match args.durability.as_str() {
        "sync" => Durability::Sync,
        "buffered" => Durability::Buffered {
            interval: Duration::from_millis(100),
        },
        "none" => Durability::None,
        other => return Err(format!("unknown --durability {other}").into()),
    };
    let (base, pool) = Clustered {
        n: args.prefill,
        queries: args.inserts,
        dim: 384,
        centers: 100,
        std: 1.0,
        seed: 11,
    }
    .generate();
    println!("| rep | inserts/s | CPU µs per insert | p50 µs | p99 µs | max µs |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for rep in 0..args.reps {
        let tmp = scratch_dir();
        let options = Options {
            durability,
            commit_window: Duration::from_millis(args.window_ms),
            ..Options::default()
        };
        let db = Database::open(tmp.path(), options)?;
        let c = db.create_collection("w", CollectionConfig::new(384, Metric::Cosine))?;
        fill(&c, &base, 0, 1_000)?;
        let next = AtomicU64::new(0);
        let per = args.inserts.div_ceil(args.writers.max(1));
        let cpu0 = cpu_seconds();
        let start = Instant::now();
        let mut lat: Vec<Duration> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..args.writers.max(1))
                .map(|_| {
                    s.spawn(|| {
                        let mut lat = Vec::with_capacity(per);
                        for _ in 0..per {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let v = pool.row(i as usize % pool.len());
                            let t = Instant::now();
                            c.insert(args.prefill as u64 + i, v).expect("insert");
                            lat.push(t.elapsed());
                        }
                        lat
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("writer"))
                .collect()
        });
        let wall = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let n = lat.len() as f64;
        let l = Latency::of(&mut lat);
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "| {rep} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
            n / wall,
            cpu / n * 1e6,
            us(l.p50),
            us(l.p99),
            us(l.max),
        );
        drop(c);
        db.close()?;
    }
    Ok(())
}
