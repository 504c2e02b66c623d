//! Write-only benchmark through the whole database: durable single-vector inserts
//! (`Collection::insert`: validation and cosine normalisation, the log with group
//! commit, the mapped vector store, the HNSW insert) from 1, 8 and 32 writer threads,
//! with commit windows of 0, 1 and 10 ms, under each durability mode (`Sync`,
//! `Buffered` syncing every 100 ms, `None`). 384-d cosine vectors, into a collection
//! prefilled with 5,000 so the graph is not trivially small; it grows as the bench runs.
//! `storage/benches/wal.rs` measures the log's group commit alone; this adds the rest.
//!
//! After criterion, unless run with `--test`, a table gives inserts per second and
//! p50/p95/p99 latency of every insert criterion timed (its warm-up included) per
//! configuration (`FLETCHDB_WRITE_TABLE=0` skips it).
//!
//! ```text
//! cargo bench -p fletchdb-benches --bench write_only               # criterion + table
//! cargo bench -p fletchdb-benches --bench write_only -- sync/      # one mode
//! cargo bench -p fletchdb-benches --bench write_only -- --test     # each bench once
//! FLETCHDB_BENCH_DIR=/some/disk cargo bench ...                    # where files go
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use fletchdb::{CollectionConfig, Database, Durability, Metric, Options};
use fletchdb_benches::data::Clustered;
use fletchdb_benches::harness::{fill, pick, scratch_dir, test_mode};
use fletchdb_benches::measure::Latency;
use fletchdb_benches::texmex::Matrix;

const DIM: usize = 384;
const WRITERS: [usize; 3] = [1, 8, 32];
const WINDOWS_MS: [u64; 3] = [0, 1, 10];

fn modes() -> [(&'static str, Durability); 3] {
    [
        ("sync", Durability::Sync),
        (
            "buffered_100ms",
            Durability::Buffered {
                interval: Duration::from_millis(100),
            },
        ),
        ("none", Durability::None),
    ]
}

/// What one configuration's runs add up to, for the table.
#[derive(Default)]
struct Tally {
    wall: Duration,
    latencies: Vec<Duration>,
}

/// `writers` threads insert `per_writer` vectors each, cycling through `pool`, with
/// fresh ids from `next_id`. Returns the wall time and every insert's latency.
fn run(
    c: &fletchdb::Collection,
    pool: &Matrix,
    next_id: &AtomicU64,
    writers: usize,
    per_writer: u64,
) -> (Duration, Vec<Duration>) {
    let start = Instant::now();
    let lat = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                s.spawn(|| {
                    let mut lat = Vec::with_capacity(per_writer as usize);
                    for _ in 0..per_writer {
                        let id = next_id.fetch_add(1, Ordering::Relaxed);
                        let v = pool.row(id as usize % pool.len());
                        let t = Instant::now();
                        c.insert(id, v).expect("insert");
                        lat.push(t.elapsed());
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("writer"))
            .collect::<Vec<_>>()
    });
    (start.elapsed(), lat)
}

fn main() {
    let prefill = pick(100, 5_000);
    let (base, pool) = Clustered {
        n: prefill,
        queries: 4_096,
        dim: DIM,
        centers: 100,
        std: 1.0,
        seed: 11,
    }
    .generate();

    let mut crit = Criterion::default().configure_from_args();
    let mut tallies: Vec<(String, usize, u64, Tally)> = Vec::new();
    let mut g = crit.benchmark_group("write_only");
    g.throughput(Throughput::Elements(1))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (mode, durability) in modes() {
        for window_ms in WINDOWS_MS {
            for writers in WRITERS {
                // A fresh database per configuration, prefilled outside the timing.
                let tmp = scratch_dir();
                let options = Options {
                    durability,
                    commit_window: Duration::from_millis(window_ms),
                    // Test mode: small log segments, so each open preallocates little.
                    wal_segment_size: pick(1 << 20, Options::default().wal_segment_size),
                    ..Options::default()
                };
                let db = Database::open(tmp.path(), options).expect("open");
                let c = db
                    .create_collection("w", CollectionConfig::new(DIM, Metric::Cosine))
                    .expect("create");
                fill(&c, &base, 0, 1_000).expect("prefill");
                let next_id = AtomicU64::new(prefill as u64);
                let tally = Mutex::new(Tally::default());
                let id = BenchmarkId::new(format!("{mode}/window_{window_ms}ms"), writers);
                g.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        let per = iters.div_ceil(writers as u64);
                        let (wall, lat) = run(&c, &pool, &next_id, writers, per);
                        let mut t = tally.lock().expect("tally");
                        t.wall += wall;
                        t.latencies.extend(lat);
                        // criterion divides by `iters`; `per * writers` were inserted.
                        wall.mul_f64(iters as f64 / (per * writers as u64) as f64)
                    })
                });
                drop(c);
                db.close().expect("close");
                tallies.push((
                    mode.to_string(),
                    writers,
                    window_ms,
                    tally.into_inner().expect("tally"),
                ));
            }
        }
    }
    g.finish();
    crit.final_summary();

    if test_mode() || std::env::var("FLETCHDB_WRITE_TABLE").as_deref() == Ok("0") {
        return;
    }
    println!(
        "\nDurable inserts through the database ({DIM}-d cosine, prefilled with {prefill}); \
         every insert criterion timed:\n"
    );
    println!("| durability | writers | window | inserts | inserts/s | p50 µs | p95 µs | p99 µs |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    for (mode, writers, window_ms, mut t) in tallies {
        let l = Latency::of(&mut t.latencies);
        if l.count == 0 {
            continue; // filtered out on the command line
        }
        println!(
            "| {mode} | {writers} | {window_ms} ms | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
            l.count,
            l.count as f64 / t.wall.as_secs_f64(),
            us(l.p50),
            us(l.p95),
            us(l.p99),
        );
    }
}
