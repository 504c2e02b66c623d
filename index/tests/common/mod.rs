//! Data and oracles shared by the index's tests and examples.
#![allow(dead_code)]

use std::path::Path;

use fletchdb_index::{
    scalar, Filter, FilterPlan, Hnsw, Metric, Neighbor, SearchRequest, VectorSource,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

/// A Gaussian mixture: `centers` centres from N(0, I), each point a centre plus
/// N(0, std²) noise. Returns `n * dim` floats.
pub fn clustered(n: usize, dim: usize, centers: usize, std: f32, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let unit = Normal::new(0.0f32, 1.0).unwrap();
    let c: Vec<f32> = (0..centers * dim).map(|_| unit.sample(&mut rng)).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let ci = rng.random_range(0..centers);
        for j in 0..dim {
            out.push(c[ci * dim + j] + std * unit.sample(&mut rng));
        }
    }
    out
}

/// Normalises every `dim`-long row in place (for cosine ground truth).
pub fn normalise_rows(v: &mut [f32], dim: usize) {
    for row in v.chunks_mut(dim) {
        let n = scalar::dot(row, row).sqrt();
        row.iter_mut().for_each(|x| *x /= n);
    }
}

/// Exact top-`k` ids of every query by the scalar reference distance, ties by id.
/// Cosine inputs must be normalised.
pub fn brute_force(
    base: &[f32],
    queries: &[f32],
    dim: usize,
    k: usize,
    metric: Metric,
) -> Vec<Vec<u32>> {
    queries
        .par_chunks(dim)
        .map(|q| {
            let mut d: Vec<(f32, u32)> = base
                .chunks(dim)
                .enumerate()
                .map(|(i, b)| (metric.distance_scalar(q, b), i as u32))
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            d.truncate(k);
            d.into_iter().map(|(_, i)| i).collect()
        })
        .collect()
}

/// Mean recall@k of `got` against `truth`.
pub fn recall(got: &[Vec<u32>], truth: &[Vec<u32>], k: usize) -> f64 {
    let hits: usize = got
        .iter()
        .zip(truth)
        .map(|(g, t)| {
            g.iter()
                .take(k)
                .filter(|x| t[..k.min(t.len())].contains(x))
                .count()
        })
        .sum();
    hits as f64 / (k * truth.len()) as f64
}

/// Picks `n` random rows of `v` as queries, perturbed a little.
pub fn queries_near(v: &[f32], dim: usize, n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let rows = v.len() / dim;
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let r = rng.random_range(0..rows);
        for j in 0..dim {
            out.push(v[r * dim + j] + rng.random_range(-0.1f32..0.1));
        }
    }
    out
}

/// The `k` nearest slots `filter` admits, run by `plan`, as a fresh vector.
pub fn search_filtered<V: VectorSource, F: Filter>(
    index: &Hnsw<V>,
    q: &[f32],
    (k, ef): (usize, usize),
    filter: &F,
    plan: FilterPlan,
) -> Vec<Neighbor> {
    let mut hits = Vec::with_capacity(k);
    let request = SearchRequest::new(k, ef).filter(filter).plan(plan);
    index.search_into(q, request, &mut hits).unwrap();
    hits
}

/// Reads a texmex `.fvecs` file: (rows back to back, dim).
pub fn read_fvecs(path: &Path) -> std::io::Result<(Vec<f32>, usize)> {
    let (raw, dim) = read_vecs(path)?;
    Ok((raw.into_iter().map(f32::from_bits).collect(), dim))
}

/// Reads a texmex `.ivecs` file: one `Vec<u32>` per row.
pub fn read_ivecs(path: &Path) -> std::io::Result<Vec<Vec<u32>>> {
    let (raw, dim) = read_vecs(path)?;
    Ok(raw.chunks(dim.max(1)).map(|r| r.to_vec()).collect())
}

fn read_vecs(path: &Path) -> std::io::Result<(Vec<u32>, usize)> {
    let bytes = std::fs::read(path)?;
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: not a texmex file", path.display()),
        )
    };
    if bytes.len() < 4 {
        return Err(bad());
    }
    let dim = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    let row = 4 + 4 * dim;
    if dim == 0 || bytes.len() % row != 0 {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(bytes.len() / row * dim);
    for r in bytes.chunks(row) {
        out.extend(
            r[4..]
                .chunks(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap())),
        );
    }
    Ok((out, dim))
}

/// Sets its flag when dropped: a test whose threads loop until a flag is set makes one
/// first thing in its `thread::scope`, so a panic in the scope's body (which waits for
/// the threads) stops them and fails the test instead of hanging it.
pub struct StopOnDrop<'a>(pub &'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}
