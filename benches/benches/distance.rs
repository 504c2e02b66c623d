//! Distance kernels: simsimd (`Metric::distance`, what search uses) beside the scalar
//! reference (`Metric::distance_scalar`), for each metric at 128, 384, 768 and 1536
//! dimensions, one pair of vectors in cache per call.
//!
//! After criterion, unless run with `--test`, a table gives nanoseconds per distance
//! and the SIMD speed-up, measured in one loop per cell.
//!
//! ```text
//! cargo bench -p fletchdb-benches --bench distance
//! cargo bench -p fletchdb-benches --bench distance -- l2/     # one metric
//! cargo bench -p fletchdb-benches --bench distance -- --test  # each bench once
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use fletchdb::Metric;
use fletchdb_benches::harness::test_mode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DIMS: [usize; 4] = [128, 384, 768, 1536];
const METRICS: [Metric; 3] = [Metric::L2, Metric::InnerProduct, Metric::Cosine];

/// Two vectors of `dim` components in [-1, 1), normalised for cosine (as the index
/// stores them).
fn pair(metric: Metric, dim: usize) -> (Vec<f32>, Vec<f32>) {
    let mut rng = StdRng::seed_from_u64(dim as u64);
    let mut v = || -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        metric.prepare(&mut v).expect("non-zero vector");
        v
    };
    (v(), v())
}

/// Nanoseconds per call of `f` over `calls` calls.
fn ns_per_call(calls: u32, mut f: impl FnMut() -> f32) -> f64 {
    let t = Instant::now();
    for _ in 0..calls {
        black_box(f());
    }
    t.elapsed().as_secs_f64() * 1e9 / f64::from(calls)
}

fn main() {
    let mut crit = Criterion::default().configure_from_args();
    for metric in METRICS {
        let mut g = crit.benchmark_group(format!("distance/{}", metric.name()));
        g.throughput(Throughput::Elements(1))
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        for dim in DIMS {
            let (a, b) = pair(metric, dim);
            g.bench_function(BenchmarkId::new("simsimd", dim), |bench| {
                bench.iter(|| metric.distance(black_box(&a), black_box(&b)))
            });
            g.bench_function(BenchmarkId::new("scalar", dim), |bench| {
                bench.iter(|| metric.distance_scalar(black_box(&a), black_box(&b)))
            });
        }
        g.finish();
    }
    crit.final_summary();
    if test_mode() {
        return;
    }
    println!("\n| metric | dim | simsimd ns | scalar ns | speed-up |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for metric in METRICS {
        for dim in DIMS {
            let (a, b) = pair(metric, dim);
            let calls = (50_000_000 / dim) as u32;
            let simd = ns_per_call(calls, || metric.distance(black_box(&a), black_box(&b)));
            let scalar = ns_per_call(calls, || {
                metric.distance_scalar(black_box(&a), black_box(&b))
            });
            println!(
                "| {} | {dim} | {simd:.1} | {scalar:.1} | {:.1}× |",
                metric.name(),
                scalar / simd
            );
        }
    }
}
