//! `fletchdb bench`: search speed and recall on queries sampled from the collection.
//!
//! The queries are stored vectors, evenly spaced in id order, so each is its own nearest
//! neighbour: recall here is an optimistic figure next to held-out queries, and the
//! report says so. Recall@k is measured against an exact scan of every stored vector;
//! queries per second on one thread (a warm-up pass, then a timed one) and on all of
//! rayon's threads (`search_batch`).

use std::path::PathBuf;
use std::time::Instant;

use fletchdb::{Collection, SearchOptions};
use rayon::prelude::*;

use crate::failure::{Failure, Result};
use crate::open;

/// Ids read per batch.
const BATCH: usize = 4_096;

/// `fletchdb bench` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The database directory.
    db: PathBuf,
    /// The collection.
    collection: String,
    /// How many queries to sample.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Results per query (recall@k).
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Candidates the search keeps.
    #[arg(long, default_value_t = 64)]
    ef: usize,
}

pub fn run(args: &Args) -> Result<()> {
    let db = open::existing(&args.db)?;
    let c = db.collection(&args.collection)?;
    let (ids, vectors) = everything(&c)?;
    if ids.is_empty() {
        return Err(Failure(format!(
            "collection {:?} is empty",
            args.collection
        )));
    }
    let config = *c.config();
    let dim = config.dim;
    let q = args.queries.clamp(1, ids.len());
    let picks: Vec<usize> = (0..q).map(|i| i * ids.len() / q).collect();
    let queries: Vec<f32> = picks
        .iter()
        .flat_map(|&i| vectors[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    let k = args.k.max(1);
    let options = SearchOptions {
        ef: args.ef.max(k),
        ..SearchOptions::default()
    };

    for query in queries.chunks(dim) {
        c.search(query, k, &options)?; // warm-up
    }
    let started = Instant::now();
    let mut found = Vec::with_capacity(q);
    for query in queries.chunks(dim) {
        found.push(c.search(query, k, &options)?);
    }
    let one = q as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let started = Instant::now();
    c.search_batch(&queries, k, &options)?;
    let all = q as f64 / started.elapsed().as_secs_f64().max(1e-9);

    let exact: Vec<Vec<u64>> = queries
        .par_chunks(dim)
        .map(|query| {
            let mut d: Vec<(f32, u64)> = ids
                .iter()
                .enumerate()
                .map(|(i, &id)| {
                    let v = &vectors[i * dim..(i + 1) * dim];
                    (config.metric.distance_scalar(query, v), id)
                })
                .collect();
            let k = k.min(d.len());
            d.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
            d[..k].iter().map(|&(_, id)| id).collect()
        })
        .collect();
    let hits: usize = found
        .iter()
        .zip(&exact)
        .map(|(got, want)| got.iter().filter(|h| want.contains(&h.id)).count())
        .sum();
    let recall = hits as f64 / exact.iter().map(Vec::len).sum::<usize>() as f64;
    println!(
        "{:?}: {} vectors, {}-d, {}, quantization {}",
        args.collection,
        ids.len(),
        dim,
        config.metric.name(),
        config.quantization.name()
    );
    println!(
        "{q} queries sampled from the collection (each its own nearest neighbour), k {k}, ef {}",
        options.ef
    );
    println!("  1 thread:  {one:.0} queries/s");
    println!(
        "  {} threads: {all:.0} queries/s",
        rayon::current_num_threads()
    );
    println!("  recall@{k}: {recall:.4} against an exact scan");
    Ok(())
}

/// Every id and its stored vector, back to back.
fn everything(c: &Collection) -> Result<(Vec<u64>, Vec<f32>)> {
    let ids = c.ids()?;
    let mut kept = Vec::with_capacity(ids.len());
    let mut vectors = Vec::with_capacity(ids.len() * c.config().dim);
    for chunk in ids.chunks(BATCH) {
        for (&id, v) in chunk.iter().zip(c.get_batch(chunk)?) {
            if let Some(v) = v {
                kept.push(id);
                vectors.extend_from_slice(&v);
            }
        }
    }
    Ok((kept, vectors))
}
