//! `fletchdb import`: vectors from a `.fvecs` or `.npy` file, with ids, metadata and
//! documents from a `.jsonl` beside it, inserted in batches behind a progress bar.
//!
//! Ids: a row of `--meta` with an `"id"` gives its vector that id; any other vector gets
//! `--first-id` plus its row number (counting from 0). Ids already in the collection
//! are refused (`DuplicateId`) unless `--upsert`.

use std::path::PathBuf;
use std::time::Instant;

use fletchdb::{CollectionConfig, Database, Error, Metric, Payload, Quantization};
use indicatif::{ProgressBar, ProgressStyle};

use crate::failure::{Failure, Result};
use crate::{matrix, open, records};

/// `fletchdb import` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The database directory (created if missing).
    db: PathBuf,
    /// The collection (created if missing).
    collection: String,
    /// The vectors: .fvecs, or .npy (float32, 2-D).
    file: PathBuf,
    /// Ids, metadata and documents: a .jsonl with one object per vector, in order.
    #[arg(long)]
    meta: Option<PathBuf>,
    /// The metric of a new collection: l2, ip or cosine.
    #[arg(long, default_value = "cosine")]
    metric: String,
    /// The quantization of a new collection: none, f16 or i8 (default: i8 from 32
    /// components up, else none).
    #[arg(long)]
    quantization: Option<String>,
    /// The id of row 0, for rows without an "id".
    #[arg(long, default_value_t = 0)]
    first_id: u64,
    /// Replace vectors whose ids exist instead of refusing them.
    #[arg(long)]
    upsert: bool,
    /// Vectors per insert call.
    #[arg(long, default_value_t = 1_024)]
    batch: usize,
}

pub fn run(args: &Args) -> Result<()> {
    let vectors = matrix::read(&args.file)?;
    let rows = match &args.meta {
        Some(path) => {
            let rows = records::read(path)?;
            if rows.len() != vectors.rows() {
                return Err(Failure(format!(
                    "{} has {} rows but {} has {} vectors",
                    path.display(),
                    rows.len(),
                    args.file.display(),
                    vectors.rows()
                )));
            }
            rows
        }
        None => Vec::new(),
    };
    let ids: Vec<u64> = (0..vectors.rows())
        .map(|i| {
            rows.get(i)
                .and_then(|r| r.id)
                .unwrap_or(args.first_id.saturating_add(i as u64))
        })
        .collect();
    let payloads: Vec<Payload> = rows.into_iter().map(|r| r.payload).collect();
    let db = open::for_loading(&args.db)?;
    let c = collection(&db, args, vectors.dim)?;
    let started = Instant::now();
    let bar = ProgressBar::new(ids.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} vectors, {per_sec}, {eta} left")
            .map_err(|e| Failure(e.to_string()))?,
    );
    let dim = vectors.dim;
    for (n, chunk) in ids.chunks(args.batch.max(1)).enumerate() {
        let from = n * args.batch.max(1);
        let data = &vectors.data[from * dim..(from + chunk.len()) * dim];
        let put = match (payloads.is_empty(), args.upsert) {
            (true, false) => c.insert_batch(chunk, data),
            (true, true) => c.upsert_batch(chunk, data),
            (false, false) => c.insert_with(chunk, data, &payloads[from..from + chunk.len()]),
            (false, true) => c.upsert_with(chunk, data, &payloads[from..from + chunk.len()]),
        };
        put.map_err(|e| Failure(format!("rows {from}..{}: {e}", from + chunk.len())))?;
        bar.inc(chunk.len() as u64);
    }
    db.flush()?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "imported {} vectors into {:?} in {secs:.2} s ({:.0} vectors/s)",
        ids.len(),
        args.collection,
        ids.len() as f64 / secs.max(1e-9)
    );
    drop(c);
    db.close()?;
    Ok(())
}

/// The collection to import into: the existing one (whose dimension must match), or a
/// new one with `--metric` and `--quantization`.
fn collection(db: &Database, args: &Args, dim: usize) -> Result<fletchdb::Collection> {
    match db.collection(&args.collection) {
        Ok(c) if c.config().dim != dim => Err(Failure(format!(
            "collection {:?} holds {}-d vectors; {} has {dim}-d ones",
            args.collection,
            c.config().dim,
            args.file.display()
        ))),
        Ok(c) => Ok(c),
        Err(Error::CollectionNotFound { .. }) => {
            let metric = Metric::parse(&args.metric).ok_or_else(|| {
                Failure(format!(
                    "unknown metric {:?} (l2, ip or cosine)",
                    args.metric
                ))
            })?;
            let mut config = CollectionConfig::new(dim, metric);
            if let Some(q) = &args.quantization {
                config.quantization = Quantization::parse(q).ok_or_else(|| {
                    Failure(format!("unknown quantization {q:?} (none, f16 or i8)"))
                })?;
            }
            Ok(db.create_collection(&args.collection, config)?)
        }
        Err(e) => Err(e.into()),
    }
}
