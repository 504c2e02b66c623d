//! Mixed benchmark: 8 threads share one collection of 256-d vectors (prefilled with
//! 20,000), each operation a top-10 search at ef 64 (90 %) or an `upsert_batch` of 50
//! vectors (10 %; ids drawn from twice the prefilled range, so about half replace a
//! vector and half add one). Durability `Sync` (the default) and `None`.
//!
//! criterion reports the mean time per operation of the mix. Then, unless run with
//! `--test`, each collection runs the mix for `FLETCHDB_MIXED_SECS` seconds (default 5)
//! and a table gives, per kind of operation, its rate and p50/p95/p99 latency
//! (criterion cannot report percentiles).
//!
//! ```text
//! cargo bench -p fletchdb-benches --bench mixed               # criterion + table
//! cargo bench -p fletchdb-benches --bench mixed -- --test     # each bench once
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use fletchdb::{
    Collection, CollectionConfig, Database, Durability, Metric, Options, SearchOptions,
};
use fletchdb_benches::data::Clustered;
use fletchdb_benches::harness::{fill, pick, scratch_dir, test_mode};
use fletchdb_benches::measure::Latency;
use fletchdb_benches::texmex::Matrix;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DIM: usize = 256;
const THREADS: usize = 8;
const WRITE_SHARE: f64 = 0.10;
const BATCH: usize = 50;
const K: usize = 10;
const EF: usize = 64;

/// A database with one prefilled collection, and the vectors the mix draws from.
struct Setup {
    _tmp: tempfile::TempDir,
    db: Database,
    c: Collection,
    queries: Matrix,
    writes: Matrix,
    id_space: u64,
}

fn setup(durability: Durability) -> Setup {
    let prefill = pick(500, 20_000);
    let (base, rest) = Clustered {
        n: prefill,
        queries: pick(200, 8_000),
        dim: DIM,
        centers: 200,
        std: 1.0,
        seed: 5,
    }
    .generate();
    let half = rest.len() / 2 * DIM;
    let queries = Matrix::new(DIM, rest.as_slice()[..half].to_vec());
    let writes = Matrix::new(DIM, rest.as_slice()[half..].to_vec());
    let tmp = scratch_dir();
    let options = Options {
        durability,
        wal_segment_size: pick(1 << 20, Options::default().wal_segment_size),
        ..Options::default()
    };
    let db = Database::open(tmp.path(), options).expect("open");
    let c = db
        .create_collection("mixed", CollectionConfig::new(DIM, Metric::L2))
        .expect("create");
    fill(&c, &base, 0, 5_000).expect("prefill");
    Setup {
        _tmp: tmp,
        db,
        c,
        queries,
        writes,
        id_space: 2 * prefill as u64,
    }
}

/// Latencies of one thread's (or all threads') operations, per kind.
#[derive(Default)]
struct Ops {
    search: Vec<Duration>,
    write: Vec<Duration>,
}

static SEEDS: AtomicU64 = AtomicU64::new(1);

/// One thread's share of the mix: `ops` operations, stopping early at `deadline`.
fn worker(s: &Setup, ops: u64, deadline: Option<Instant>) -> Ops {
    let mut rng = StdRng::seed_from_u64(SEEDS.fetch_add(1, Ordering::Relaxed));
    let opts = SearchOptions {
        ef: EF,
        ..SearchOptions::default()
    };
    let mut out = Ops::default();
    let mut ids: Vec<u64> = Vec::with_capacity(BATCH);
    let mut buf: Vec<f32> = Vec::with_capacity(BATCH * DIM);
    for _ in 0..ops {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if rng.random_bool(WRITE_SHARE) {
            ids.clear();
            buf.clear();
            while ids.len() < BATCH {
                let id = rng.random_range(0..s.id_space);
                if !ids.contains(&id) {
                    ids.push(id);
                    buf.extend_from_slice(s.writes.row(rng.random_range(0..s.writes.len())));
                }
            }
            let t = Instant::now();
            s.c.upsert_batch(&ids, &buf).expect("upsert_batch");
            out.write.push(t.elapsed());
        } else {
            let q = s.queries.row(rng.random_range(0..s.queries.len()));
            let t = Instant::now();
            let hits = s.c.search(q, K, &opts).expect("search");
            out.search.push(t.elapsed());
            std::hint::black_box(hits);
        }
    }
    out
}

/// [`THREADS`] workers of `per_thread` operations each (or until `deadline`).
fn run(s: &Setup, per_thread: u64, deadline: Option<Instant>) -> (Duration, Ops) {
    let start = Instant::now();
    let parts: Vec<Ops> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| scope.spawn(|| worker(s, per_thread, deadline)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    let elapsed = start.elapsed();
    let mut all = Ops::default();
    for p in parts {
        all.search.extend(p.search);
        all.write.extend(p.write);
    }
    (elapsed, all)
}

fn main() {
    let setups: Vec<(&str, Setup)> = vec![
        ("sync", setup(Durability::Sync)),
        ("none", setup(Durability::None)),
    ];

    let mut crit = Criterion::default().configure_from_args();
    let mut g = crit.benchmark_group("mixed");
    g.throughput(Throughput::Elements(1))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (mode, s) in &setups {
        g.bench_function(BenchmarkId::new(*mode, format!("{THREADS}_threads")), |b| {
            b.iter_custom(|iters| {
                let per = iters.div_ceil(THREADS as u64);
                let (elapsed, _) = run(s, per, None);
                elapsed.mul_f64(iters as f64 / (per * THREADS as u64) as f64)
            })
        });
    }
    g.finish();
    crit.final_summary();

    if test_mode() {
        return;
    }
    let secs: f64 = std::env::var("FLETCHDB_MIXED_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    println!(
        "\nMixed load, {THREADS} threads, {secs} s per row: {:.0} % top-{K} searches at ef {EF}, \
         {:.0} % upsert_batch of {BATCH} ({DIM}-d, L2):\n",
        100.0 * (1.0 - WRITE_SHARE),
        100.0 * WRITE_SHARE
    );
    println!("| durability | operation | count | ops/s | vectors/s | p50 ms | p95 ms | p99 ms | max ms |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (mode, s) in &setups {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let (elapsed, mut ops) = run(s, u64::MAX, Some(deadline));
        let wall = elapsed.as_secs_f64();
        for (kind, lat, per_op) in [
            ("search", &mut ops.search, 1),
            ("upsert_batch", &mut ops.write, BATCH),
        ] {
            let l = Latency::of(lat);
            let rate = l.count as f64 / wall;
            let vectors = if per_op > 1 {
                format!("{:.0}", rate * per_op as f64)
            } else {
                "-".into()
            };
            println!(
                "| {mode} | {kind} | {} | {rate:.0} | {vectors} | {:.2} | {:.2} | {:.2} | {:.2} |",
                l.count,
                ms(l.p50),
                ms(l.p95),
                ms(l.p99),
                ms(l.max),
            );
        }
    }
    for (_, s) in setups {
        drop(s.c);
        s.db.close().expect("close");
    }
}
