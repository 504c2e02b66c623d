//! Data sets: texmex files on disk, clustered and plain Gaussian generators, and exact
//! ground truth.

use std::io;
use std::path::{Path, PathBuf};

use fletchdb::Metric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::texmex::{read_ivecs, read_vectors, write_fvecs, write_ivecs, Matrix};

/// A Gaussian mixture, as `../shared/data/make_clustered.py` makes: `centers` centres
/// drawn from N(0, I), each point a random centre plus N(0, std² I) noise; queries are
/// fresh draws from the same mixture. The same parameters give the same distribution
/// as the Python generator, not the same numbers (the random generators differ).
#[derive(Debug, Clone, PartialEq)]
pub struct Clustered {
    /// Base vectors.
    pub n: usize,
    /// Query vectors.
    pub queries: usize,
    /// Components per vector.
    pub dim: usize,
    /// Mixture components.
    pub centers: usize,
    /// Standard deviation of the noise around each centre.
    pub std: f32,
    /// Seed of the random generator.
    pub seed: u64,
}

impl Default for Clustered {
    /// `make_clustered.py`'s defaults: 200,000 × 128-d, 1,000 queries, 1,000 centres,
    /// std 1.5, seed 42 (a hard set: HNSW at m 16 needs a large ef for recall 0.95).
    fn default() -> Self {
        Clustered {
            n: 200_000,
            queries: 1_000,
            dim: 128,
            centers: 1_000,
            std: 1.5,
            seed: 42,
        }
    }
}

impl Clustered {
    /// The set's conventional name, `clustered-DIM`.
    pub fn name(&self) -> String {
        format!("clustered-{}", self.dim)
    }

    /// Draws the base and query vectors.
    ///
    /// # Panics
    /// If `dim` or `centers` is zero.
    pub fn generate(&self) -> (Matrix, Matrix) {
        assert!(
            self.dim > 0 && self.centers > 0,
            "dim and centers must be positive"
        );
        let mut rng = StdRng::seed_from_u64(self.seed);
        let centres: Vec<f32> = (0..self.centers * self.dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let mut draw = |m: usize| {
            let mut out = Vec::with_capacity(m * self.dim);
            for _ in 0..m {
                let c = rng.random_range(0..self.centers) * self.dim;
                for j in 0..self.dim {
                    let noise: f32 = StandardNormal.sample(&mut rng);
                    out.push(centres[c + j] + self.std * noise);
                }
            }
            Matrix::new(self.dim, out)
        };
        let base = draw(self.n);
        let queries = draw(self.queries);
        (base, queries)
    }
}

/// `rows` vectors of `dim` components, each drawn from N(0, 1) by `rng`.
///
/// # Panics
/// If `dim` is zero.
pub fn gaussian(rows: usize, dim: usize, rng: &mut impl Rng) -> Matrix {
    let data = (0..rows * dim)
        .map(|_| StandardNormal.sample(&mut *rng))
        .collect();
    Matrix::new(dim, data)
}

/// The exact `k` nearest base rows of every query under `metric`, nearest first, ties
/// by row. Candidates are ranked in f32 with the SIMD kernel, then the best `4k` again
/// in f64, as `../shared/data/texmex.py` does. Cosine inputs need not be normalised.
pub fn ground_truth(base: &Matrix, queries: &Matrix, k: usize, metric: Metric) -> Vec<Vec<u32>> {
    assert_eq!(
        base.dim(),
        queries.dim(),
        "base and query dimensions differ"
    );
    let (base, queries) = if metric == Metric::Cosine {
        let (mut b, mut q) = (base.clone(), queries.clone());
        b.normalize_rows();
        q.normalize_rows();
        (std::borrow::Cow::Owned(b), std::borrow::Cow::Owned(q))
    } else {
        (
            std::borrow::Cow::Borrowed(base),
            std::borrow::Cow::Borrowed(queries),
        )
    };
    let k = k.min(base.len());
    let exact = |q: &[f32], b: &[f32]| -> f64 {
        match metric {
            Metric::L2 => q
                .iter()
                .zip(b)
                .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
                .sum(),
            Metric::InnerProduct | Metric::Cosine => -q
                .iter()
                .zip(b)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum::<f64>(),
        }
    };
    queries
        .as_slice()
        .par_chunks(queries.dim())
        .map(|q| {
            let mut d: Vec<(f32, u32)> = base
                .rows()
                .enumerate()
                .map(|(i, b)| (metric.distance(q, b), i as u32))
                .collect();
            let keep = (4 * k).max(k + 16).min(d.len());
            if keep < d.len() {
                d.select_nth_unstable_by(keep, |a, b| a.0.total_cmp(&b.0));
                d.truncate(keep);
            }
            let mut exact: Vec<(f64, u32)> = d
                .into_iter()
                .map(|(_, i)| (exact(q, base.row(i as usize)), i))
                .collect();
            exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            exact.into_iter().take(k).map(|(_, i)| i).collect()
        })
        .collect()
}

/// A base set, its queries and their exact neighbours, as read from or written to
/// `PREFIX_base.fvecs`, `PREFIX_query.fvecs` and `PREFIX_groundtruth.ivecs`.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Short name, for tables and file names.
    pub name: String,
    /// The distance the ground truth was computed with.
    pub metric: Metric,
    /// The vectors to index; row `i` is inserted with id `i`.
    pub base: Matrix,
    /// The queries.
    pub queries: Matrix,
    /// Per query, base rows nearest first (at least the `k` searched for).
    pub truth: Vec<Vec<u32>>,
}

/// The file of `prefix` ending in `suffix` (`base.fvecs`, ...).
pub fn prefixed(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_os_string();
    s.push("_");
    s.push(suffix);
    PathBuf::from(s)
}

/// The value of `"key"` in the JSON sidecar `PREFIX.json` (as the shared data sets and
/// [`Dataset::save`] write it), as text without quotes; `None` if the file or key is
/// missing. Enough for flat files of strings and numbers, not a JSON parser.
pub fn json_field(prefix: &Path, key: &str) -> Option<String> {
    let mut p = prefix.as_os_str().to_os_string();
    p.push(".json");
    let text = std::fs::read_to_string(PathBuf::from(p)).ok()?;
    let pat = format!("\"{key}\"");
    let after = text[text.find(&pat)? + pat.len()..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    if let Some(quoted) = after.strip_prefix('"') {
        return Some(quoted[..quoted.find('"')?].to_string());
    }
    let end = after.find([',', '\n', '}']).unwrap_or(after.len());
    Some(after[..end].trim().to_string())
}

/// The metric named in `PREFIX.json` (`"metric": "cosine"`), if any.
pub fn metric_from_json(prefix: &Path) -> Option<Metric> {
    Metric::parse(&json_field(prefix, "metric")?)
}

impl Dataset {
    /// Reads `PREFIX_base.{fvecs,bvecs}`, `PREFIX_query.{fvecs,bvecs}` and
    /// `PREFIX_groundtruth.ivecs`; when the last is missing, computes the top 100
    /// exactly (and does not write it).
    ///
    /// # Errors
    /// Missing or malformed files, or base and queries of different dimensions.
    pub fn load(prefix: &Path, metric: Metric) -> io::Result<Dataset> {
        let pick = |what: &str| -> io::Result<PathBuf> {
            ["fvecs", "bvecs"]
                .iter()
                .map(|ext| prefixed(prefix, &format!("{what}.{ext}")))
                .find(|p| p.exists())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("no {}_{what}.fvecs or .bvecs", prefix.display()),
                    )
                })
        };
        let base = read_vectors(&pick("base")?)?;
        let queries = read_vectors(&pick("query")?)?;
        if base.dim() != queries.dim() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("base is {}-d, queries {}-d", base.dim(), queries.dim()),
            ));
        }
        let gt = prefixed(prefix, "groundtruth.ivecs");
        let truth = if gt.exists() {
            read_ivecs(&gt)?
        } else {
            ground_truth(&base, &queries, 100, metric)
        };
        if truth.len() != queries.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} ground-truth rows for {} queries",
                    truth.len(),
                    queries.len()
                ),
            ));
        }
        let name = prefix
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into());
        Ok(Dataset {
            name,
            metric,
            base,
            queries,
            truth,
        })
    }

    /// Writes the set as texmex files under `prefix` (`.fvecs` vectors, `.ivecs` truth)
    /// plus `PREFIX.json` naming its shape and metric, so other tools (the peers'
    /// runner) read exactly the same data.
    ///
    /// # Errors
    /// I/O errors.
    pub fn save(&self, prefix: &Path, note: &str) -> io::Result<()> {
        if let Some(dir) = prefix.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        write_fvecs(&prefixed(prefix, "base.fvecs"), &self.base)?;
        write_fvecs(&prefixed(prefix, "query.fvecs"), &self.queries)?;
        write_ivecs(&prefixed(prefix, "groundtruth.ivecs"), &self.truth)?;
        let mut json = prefix.as_os_str().to_os_string();
        json.push(".json");
        let gt_k = self.truth.first().map_or(0, Vec::len);
        std::fs::write(
            PathBuf::from(json),
            format!(
                "{{\n \"name\": {:?},\n \"metric\": \"{}\",\n \"dims\": {},\n \"n_base\": {},\n \"n_query\": {},\n \"gt_k\": {gt_k},\n \"generator\": {note:?}\n}}\n",
                self.name,
                self.metric.name(),
                self.base.dim(),
                self.base.len(),
                self.queries.len(),
            ),
        )
    }

    /// True when `prefix` already holds this kind of set (base, queries and truth).
    pub fn exists(prefix: &Path) -> bool {
        ["base.fvecs", "query.fvecs", "groundtruth.ivecs"]
            .iter()
            .all(|s| prefixed(prefix, s).exists())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ground_truth_matches_a_plain_sort() {
        let spec = Clustered {
            n: 500,
            queries: 20,
            dim: 8,
            centers: 5,
            std: 0.5,
            seed: 1,
        };
        let (base, queries) = spec.generate();
        assert_eq!((base.len(), queries.len(), base.dim()), (500, 20, 8));
        for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            let gt = ground_truth(&base, &queries, 10, metric);
            let (mut b, mut q) = (base.clone(), queries.clone());
            if metric == Metric::Cosine {
                b.normalize_rows();
                q.normalize_rows();
            }
            for (qi, row) in gt.iter().enumerate() {
                let mut all: Vec<(f32, u32)> = b
                    .rows()
                    .enumerate()
                    .map(|(i, v)| (metric.distance_scalar(q.row(qi), v), i as u32))
                    .collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let want: Vec<u32> = all.iter().take(10).map(|x| x.1).collect();
                assert_eq!(row, &want, "{metric:?} query {qi}");
            }
        }
    }

    #[test]
    fn save_then_load_gives_the_same_set_and_metric() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Clustered {
            n: 100,
            queries: 5,
            dim: 4,
            centers: 3,
            std: 1.0,
            seed: 7,
        };
        let (base, queries) = spec.generate();
        let truth = ground_truth(&base, &queries, 10, Metric::Cosine);
        let set = Dataset {
            name: "tiny".into(),
            metric: Metric::Cosine,
            base,
            queries,
            truth,
        };
        let prefix = dir.path().join("sub").join("tiny");
        assert!(!Dataset::exists(&prefix));
        set.save(&prefix, "test").unwrap();
        assert!(Dataset::exists(&prefix));
        assert_eq!(metric_from_json(&prefix), Some(Metric::Cosine));
        assert_eq!(json_field(&prefix, "n_base").as_deref(), Some("100"));
        assert_eq!(json_field(&prefix, "name").as_deref(), Some("tiny"));
        assert_eq!(json_field(&prefix, "nothing"), None);
        let back = Dataset::load(&prefix, Metric::Cosine).unwrap();
        assert_eq!(back.name, "tiny");
        assert_eq!(back.base, set.base);
        assert_eq!(back.queries, set.queries);
        assert_eq!(back.truth, set.truth);
        // Without its ground-truth file, the set computes it.
        std::fs::remove_file(prefixed(&prefix, "groundtruth.ivecs")).unwrap();
        let again = Dataset::load(&prefix, Metric::Cosine).unwrap();
        assert_eq!(again.truth[0][..10], set.truth[0][..10]);
    }

    #[test]
    fn metric_names_round_trip() {
        for m in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            assert_eq!(Metric::parse(m.name()), Some(m));
        }
        assert_eq!(Metric::parse("hamming"), None);
    }
}
