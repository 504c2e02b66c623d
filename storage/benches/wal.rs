//! Write-only benchmark of the write-ahead log on the real disk.
//!
//! criterion measures durable appends per second at 1, 8 and 32 writer threads, commit
//! windows of 0, 1 and 10 ms, and records the size of a 384-d and a 1536-d f32 vector;
//! beside them, two plain loops with no log at all: `fsync_per_record` (write one
//! record, `fdatasync`, repeat: what durability costs without grouping) and
//! `raw_batch/B` (write B records with one `pwrite`, `fdatasync`: the disk's ceiling for
//! groups of B). Both loops write into a preallocated file, as the log does.
//!
//! After criterion, unless run with `--test`, a table with p50/p99 append latency and
//! the achieved records per sync is printed (`FLETCHDB_WAL_TABLE=0` skips it).
//!
//! ```text
//! cargo bench -p fletchdb-storage --bench wal                 # criterion + table
//! cargo bench -p fletchdb-storage --bench wal -- --test       # each bench once (CI)
//! FLETCHDB_BENCH_DIR=/some/disk cargo bench ...               # where files go
//! ```

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use fletchdb_storage::io::OsDir;
use fletchdb_storage::wal::{Durability, Wal, WalOptions};

/// Record payloads: a 384-d and a 1536-d f32 vector plus a 16-byte header.
const SIZES: [(&str, usize); 2] = [("384d", 384 * 4 + 16), ("1536d", 1536 * 4 + 16)];
const THREADS: [usize; 3] = [1, 8, 32];
const WINDOWS_MS: [u64; 3] = [0, 1, 10];

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("FLETCHDB_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).expect("FLETCHDB_BENCH_DIR"),
        None => tempfile::tempdir().expect("temp dir"),
    }
}

/// A fresh log, warmed by one append so its first segment exists.
fn fresh_wal(window: Duration) -> (tempfile::TempDir, Wal) {
    let tmp = bench_dir();
    let opts = WalOptions {
        durability: Durability::Sync,
        commit_window: window,
        ..WalOptions::default()
    };
    let dir = Arc::new(OsDir::create(tmp.path()).expect("dir"));
    let wal = Wal::open(dir, opts)
        .expect("open")
        .finish()
        .expect("finish");
    wal.append(1, &[b"warm"]).expect("append");
    // The first append created the first segment (1 MiB). No spare is prepared until a
    // segment is half full, so the run measures the log as a database sees it: segments
    // doubling as they fill, each one's successor preallocated in the background.
    (tmp, wal)
}

/// `threads` writers append `per_thread` records of `size` bytes each. Returns the wall
/// time and every append's latency.
fn run(wal: &Wal, threads: usize, per_thread: u64, size: usize) -> (Duration, Vec<Duration>) {
    let payload = vec![0x5au8; size];
    let start = Instant::now();
    let lat: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let payload = &payload;
                s.spawn(move || {
                    let mut lat = Vec::with_capacity(per_thread as usize);
                    for _ in 0..per_thread {
                        let t = Instant::now();
                        wal.append(1, &[payload]).expect("append");
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
    (start.elapsed(), lat)
}

/// A plain loop on a preallocated file: write `batch` records with one `pwrite`, then
/// `fdatasync`, `rounds` times.
fn raw_loop(batch: usize, size: usize, rounds: u64) -> Duration {
    let tmp = bench_dir();
    let path: PathBuf = tmp.path().join("raw");
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .expect("raw file");
    let len = (batch * size) as u64 * rounds.min(10_000);
    let zeros = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(zeros.len() as u64) as usize;
        f.write_all_at(&zeros[..n], at).expect("preallocate");
        at += n as u64;
    }
    f.sync_all().expect("sync");
    let buf = vec![0x5au8; batch * size];
    let start = Instant::now();
    for r in 0..rounds {
        let off = (r % rounds.min(10_000)) * buf.len() as u64;
        f.write_all_at(&buf, off).expect("write");
        f.sync_data().expect("fdatasync");
    }
    start.elapsed()
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("wal_append");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    for (size_name, size) in SIZES {
        for window_ms in WINDOWS_MS {
            for threads in THREADS {
                let id = BenchmarkId::new(format!("{size_name}/window_{window_ms}ms"), threads);
                // One log per configuration: segments roll over and spares are prepared
                // in the background as they would be in steady state.
                let (_tmp, wal) = fresh_wal(Duration::from_millis(window_ms));
                g.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        let per = iters.div_ceil(threads as u64);
                        let (elapsed, _) = run(&wal, threads, per, size);
                        // criterion divides by `iters`; we appended `per * threads`.
                        elapsed.mul_f64(iters as f64 / (per * threads as u64) as f64)
                    })
                });
            }
        }
        g.bench_function(
            BenchmarkId::new(format!("{size_name}/fsync_per_record"), 1),
            |b| b.iter_custom(|iters| raw_loop(1, size, iters)),
        );
        for batch in [8, 32] {
            g.bench_function(
                BenchmarkId::new(format!("{size_name}/raw_batch"), batch),
                |b| {
                    b.iter_custom(|iters| {
                        let rounds = iters.div_ceil(batch as u64);
                        raw_loop(batch, size, rounds)
                            .mul_f64(iters as f64 / (rounds * batch as u64) as f64)
                    })
                },
            );
        }
    }
    g.finish();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Records per second of [`raw_loop`] with groups of `batch`.
fn raw_rate(batch: usize, size: usize) -> f64 {
    let rounds = (3000 / batch as u64).max(200);
    let t = raw_loop(batch, size, rounds);
    (rounds * batch as u64) as f64 / t.as_secs_f64()
}

/// One measured row per configuration, with latency percentiles and the two ratios
/// that judge group commit: against writing and syncing each record alone, and
/// against a plain loop writing groups of the same size (the disk's ceiling for them).
fn table() {
    println!(
        "\n| record | writers | window | appends/s | p50 µs | p99 µs | records/sync | × fsync per record | % of raw at that batch |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (size_name, size) in SIZES {
        let baseline = raw_rate(1, size);
        for window_ms in WINDOWS_MS {
            for threads in THREADS {
                let (_tmp, wal) = fresh_wal(Duration::from_millis(window_ms));
                let per = (8000 / threads as u64).max(100);
                let before = wal.stats();
                let (elapsed, mut lat) = run(&wal, threads, per, size);
                let after = wal.stats();
                lat.sort();
                let rate = lat.len() as f64 / elapsed.as_secs_f64();
                let batch = (after.records - before.records) as f64
                    / (after.syncs - before.syncs).max(1) as f64;
                let raw = raw_rate(batch.round().max(1.0) as usize, size);
                println!(
                    "| {size_name} | {threads} | {window_ms} ms | {rate:.0} | {:.0} | {:.0} | {batch:.1} | {:.1} | {:.0} % |",
                    percentile(&lat, 0.5).as_secs_f64() * 1e6,
                    percentile(&lat, 0.99).as_secs_f64() * 1e6,
                    rate / baseline,
                    100.0 * rate / raw,
                );
            }
        }
        println!(
            "| {size_name} | fsync per record (no log) | - | {baseline:.0} | - | - | 1 | 1.0 | - |"
        );
        for batch in [8, 32] {
            println!(
                "| {size_name} | raw pwrite+fdatasync (no log) | - | {:.0} | - | - | {batch} | - | - |",
                raw_rate(batch, size)
            );
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
    let test_mode = std::env::args().any(|a| a == "--test");
    if !test_mode && std::env::var("FLETCHDB_WAL_TABLE").as_deref() != Ok("0") {
        table();
    }
}
