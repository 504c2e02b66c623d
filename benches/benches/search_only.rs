//! Search-only benchmark through the database: a collection built once per process
//! (outside anything timed), then single-query search at several `ef` and batch search
//! (`search_batch`, all cores) over every query.
//!
//! The data is a generated clustered set (50,000 × 128-d, L2, the distribution of
//! `../shared/data/make_clustered.py`), or texmex files:
//!
//! ```text
//! cargo bench -p fletchdb-benches --bench search_only
//! FLETCHDB_BENCH_DATA=../shared/data/wordnet-minilm-dev/wordnet-minilm-dev \
//!     cargo bench -p fletchdb-benches --bench search_only      # metric from PREFIX.json
//! cargo bench -p fletchdb-benches --bench search_only -- --test  # tiny set, each bench once
//! ```
//!
//! Before criterion starts, the recall@10 of each `ef` is printed, so the times can be
//! read against it.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use fletchdb::{Durability, Metric, Options, SearchOptions};
use fletchdb_benches::ann::{self, BuildConfig};
use fletchdb_benches::data::{ground_truth, metric_from_json, Clustered, Dataset};
use fletchdb_benches::harness::{pick, scratch_dir};
use fletchdb_benches::measure::recall;

const K: usize = 10;
const EFS: [usize; 5] = [16, 32, 64, 128, 256];
const BATCH_EFS: [usize; 2] = [32, 128];

/// The data set: `$FLETCHDB_BENCH_DATA` (a texmex prefix; metric from
/// `$FLETCHDB_BENCH_METRIC`, else `PREFIX.json`, else L2) or a generated one.
fn dataset() -> Dataset {
    if let Some(prefix) = std::env::var_os("FLETCHDB_BENCH_DATA") {
        let prefix = PathBuf::from(prefix);
        let metric = std::env::var("FLETCHDB_BENCH_METRIC")
            .ok()
            .and_then(|m| Metric::parse(&m))
            .or_else(|| metric_from_json(&prefix))
            .unwrap_or(Metric::L2);
        return Dataset::load(&prefix, metric).expect("FLETCHDB_BENCH_DATA");
    }
    let spec = Clustered {
        n: pick(1_000, 50_000),
        queries: pick(16, 1_000),
        dim: pick(16, 128),
        ..Clustered::default()
    };
    let (base, queries) = spec.generate();
    let truth = ground_truth(&base, &queries, K, Metric::L2);
    Dataset {
        name: spec.name(),
        metric: Metric::L2,
        base,
        queries,
        truth,
    }
}

fn main() {
    let data = dataset();
    let tmp = scratch_dir();
    let cfg = BuildConfig {
        m: 16,
        ef_construction: pick(64, 200),
        options: Options::default().durability(Durability::None),
        batch: 10_000,
        quantization: fletchdb::Quantization::None,
    };
    let t = std::time::Instant::now();
    ann::build(tmp.path(), &data, &cfg, |_| {}).expect("build");
    let (_db, c, _) = ann::open(tmp.path(), Options::default()).expect("open");
    eprintln!(
        "search_only: {} ({} × {}-d, {} queries) built and reopened in {:.1} s",
        data.name,
        data.base.len(),
        data.base.dim(),
        data.queries.len(),
        t.elapsed().as_secs_f64()
    );
    for ef in EFS {
        let (ids, _) = ann::search_all(&c, &data.queries, K, ef, None).expect("search");
        eprintln!(
            "  ef {ef:3}: recall@{K} {:.4}",
            recall(&ids, &data.truth, K)
        );
    }

    let mut crit = Criterion::default().configure_from_args();
    let nq = data.queries.len();
    {
        let mut g = crit.benchmark_group("search_only/single");
        g.throughput(Throughput::Elements(1))
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        for ef in EFS {
            let opts = SearchOptions {
                ef,
                ..SearchOptions::default()
            };
            let mut i = 0;
            g.bench_function(BenchmarkId::new("ef", ef), |b| {
                b.iter(|| {
                    i = (i + 1) % nq;
                    c.search(black_box(data.queries.row(i)), K, &opts)
                        .expect("search")
                })
            });
        }
        g.finish();
    }
    {
        let mut g = crit.benchmark_group("search_only/batch");
        g.throughput(Throughput::Elements(nq as u64))
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        for ef in BATCH_EFS {
            let opts = SearchOptions {
                ef,
                ..SearchOptions::default()
            };
            g.bench_function(BenchmarkId::new("ef", ef), |b| {
                b.iter(|| {
                    c.search_batch(black_box(data.queries.as_slice()), K, &opts)
                        .expect("search")
                })
            });
        }
        g.finish();
    }
    crit.final_summary();
}
