//! FletchDB's side of an ANN run, through the real database: build a collection with
//! batch inserts, close, reopen (timed), and sweep `ef` for recall and QPS.

use std::path::Path;
use std::time::{Duration, Instant};

use fletchdb::{Collection, CollectionConfig, Database, Options, Quantization, SearchOptions};

use crate::data::Dataset;
use crate::measure::recall;
use crate::report::Row;
use crate::texmex::Matrix;

/// The collection an ANN run builds.
pub const COLLECTION: &str = "ann";

/// How the collection is built.
#[derive(Debug, Clone, Copy)]
pub struct BuildConfig {
    /// HNSW links per node.
    pub m: usize,
    /// Candidates considered while inserting.
    pub ef_construction: usize,
    /// The database's options while building (durability, commit window, ...).
    pub options: Options,
    /// Vectors per `insert_batch` call.
    pub batch: usize,
    /// The compact copy the walks score.
    pub quantization: Quantization,
}

/// What building took.
#[derive(Debug, Clone, Copy)]
pub struct Built {
    /// Opening the empty database and inserting every vector (each batch is durable
    /// per the build's options when its call returns).
    pub insert: Duration,
    /// Closing: the final checkpoint (graph, id map, vector pages) and the log.
    pub close: Duration,
}

/// Builds `data.base` into a fresh database at `dir` (row `i` gets id `i`), calling
/// `progress(vectors_so_far)` after each batch, then closes the database.
///
/// # Errors
/// The database's errors (a `dir` that already holds the collection, I/O, ...).
pub fn build(
    dir: &Path,
    data: &Dataset,
    cfg: &BuildConfig,
    mut progress: impl FnMut(usize),
) -> fletchdb::Result<Built> {
    let start = Instant::now();
    let db = Database::open(dir, cfg.options)?;
    let config = CollectionConfig {
        m: cfg.m,
        ef_construction: cfg.ef_construction,
        quantization: cfg.quantization,
        ..CollectionConfig::new(data.base.dim(), data.metric)
    };
    let c = db.create_collection(COLLECTION, config)?;
    let dim = data.base.dim();
    let batch = cfg.batch.max(1);
    let mut ids: Vec<u64> = Vec::with_capacity(batch);
    for (b, chunk) in data.base.as_slice().chunks(batch * dim).enumerate() {
        let first = (b * batch) as u64;
        ids.clear();
        ids.extend(first..first + (chunk.len() / dim) as u64);
        c.insert_batch(&ids, chunk)?;
        progress(b * batch + ids.len());
    }
    let insert = start.elapsed();
    drop(c);
    let t = Instant::now();
    db.close()?;
    Ok(Built {
        insert,
        close: t.elapsed(),
    })
}

/// Opens the database at `dir` and its [`COLLECTION`], timing both together.
///
/// # Errors
/// The database's errors.
pub fn open(dir: &Path, options: Options) -> fletchdb::Result<(Database, Collection, Duration)> {
    let t = Instant::now();
    let db = Database::open(dir, options)?;
    let c = db.collection(COLLECTION)?;
    Ok((db, c, t.elapsed()))
}

/// Runs every query once at `ef`, on this thread when `pool` is `None` (one search
/// thread), else in parallel on `pool` with `search_batch`. Returns each query's ids
/// and the wall time.
///
/// # Errors
/// The database's errors.
pub fn search_all(
    c: &Collection,
    queries: &Matrix,
    k: usize,
    ef: usize,
    pool: Option<&rayon::ThreadPool>,
) -> fletchdb::Result<(Vec<Vec<u64>>, Duration)> {
    let opts = SearchOptions {
        ef,
        ..SearchOptions::default()
    };
    let t = Instant::now();
    let hits = match pool {
        None => queries
            .rows()
            .map(|q| c.search(q, k, &opts))
            .collect::<fletchdb::Result<Vec<_>>>()?,
        Some(pool) => pool.install(|| c.search_batch(queries.as_slice(), k, &opts))?,
    };
    let elapsed = t.elapsed();
    let ids = hits
        .into_iter()
        .map(|h| h.into_iter().map(|h| h.id).collect())
        .collect();
    Ok((ids, elapsed))
}

/// The row name of a collection walking `q`: `fletchdb`, `fletchdb-f16`, `fletchdb-i8`.
pub fn lib_name(q: Quantization) -> String {
    match q {
        Quantization::None => "fletchdb".into(),
        q => format!("fletchdb-{}", q.name()),
    }
}

/// Recall@`k` and QPS at each of `efs` with `threads` search threads (1: a plain loop
/// on this thread; more: `search_batch` on a pool of that many), the median of `reps`
/// passes over all queries, as the peers' runner times them.
///
/// # Errors
/// The database's errors.
pub fn sweep(
    c: &Collection,
    data: &Dataset,
    k: usize,
    efs: &[usize],
    threads: usize,
    reps: usize,
    build_s: f64,
) -> fletchdb::Result<Vec<Row>> {
    let pool = (threads > 1).then(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a search thread pool")
    });
    let mut rows = Vec::with_capacity(efs.len());
    for &ef in efs {
        let mut times = Vec::with_capacity(reps.max(1));
        let mut ids = Vec::new();
        for _ in 0..reps.max(1) {
            let (got, t) = search_all(c, &data.queries, k, ef, pool.as_ref())?;
            times.push(t);
            ids = got;
        }
        times.sort_unstable();
        let median = times[times.len() / 2];
        rows.push(Row {
            lib: lib_name(c.config().quantization),
            threads,
            ef,
            recall: recall(&ids, &data.truth, k),
            qps: data.queries.len() as f64 / median.as_secs_f64(),
            build_s,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{ground_truth, Clustered};
    use fletchdb::{Durability, Metric};

    #[test]
    fn builds_reopens_and_finds_the_neighbours() {
        let spec = Clustered {
            n: 2_000,
            queries: 50,
            dim: 16,
            centers: 20,
            std: 0.5,
            seed: 3,
        };
        let (base, queries) = spec.generate();
        let truth = ground_truth(&base, &queries, 10, Metric::L2);
        let data = Dataset {
            name: "t".into(),
            metric: Metric::L2,
            base,
            queries,
            truth,
        };
        let dir = tempfile::tempdir().unwrap();
        let options = Options::default().durability(Durability::None);
        let cfg = BuildConfig {
            m: 8,
            ef_construction: 64,
            options,
            batch: 300,
            quantization: fletchdb::Quantization::None,
        };
        let mut seen = Vec::new();
        build(dir.path(), &data, &cfg, |n| seen.push(n)).unwrap();
        assert_eq!(seen.first(), Some(&300));
        assert_eq!(seen.last(), Some(&2_000));
        let (db, c, _) = open(dir.path(), options).unwrap();
        assert_eq!(db.replayed_at_open(), 0);
        assert_eq!(c.len(), 2_000);
        for threads in [1, 2] {
            let rows = sweep(&c, &data, 10, &[10, 64], threads, 1, 0.0).unwrap();
            assert_eq!(rows.len(), 2);
            assert!(rows[1].recall > 0.9, "{rows:?}");
            assert!(rows.iter().all(|r| r.qps > 0.0 && r.threads == threads));
        }
    }
}
