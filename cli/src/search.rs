//! `fletchdb search`: the nearest ids of each query in a `.fvecs` or `.npy` file, with
//! their distances, as text or one JSON object per query.

use std::path::PathBuf;

use fletchdb::{SearchOptions, Where};
use serde_json::json;

use crate::failure::{Failure, Result};
use crate::{matrix, open};

/// `fletchdb search` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The database directory.
    db: PathBuf,
    /// The collection.
    collection: String,
    /// The queries: .fvecs or .npy (float32, 2-D).
    #[arg(long)]
    queries: PathBuf,
    /// Results per query.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Candidates the search keeps (at least k): larger is slower and finds more.
    #[arg(long, default_value_t = 64)]
    ef: usize,
    /// Only records whose metadata match this filter (Chroma's grammar), e.g.
    /// '{"year": {"$gte": 2020}}'.
    #[arg(long = "where")]
    filter: Option<String>,
    /// Print one JSON object per query instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let queries = matrix::read(&args.queries)?;
    let filter = match &args.filter {
        Some(text) => {
            let value: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| Failure(format!("--where is not JSON: {e}")))?;
            Some(Where::from_json(&value)?)
        }
        None => None,
    };
    let db = open::existing(&args.db)?;
    let c = db.collection(&args.collection)?;
    let options = SearchOptions {
        ef: args.ef,
        matching: filter.as_ref(),
        ..SearchOptions::default()
    };
    let results = c.search_batch(&queries.data, args.k, &options)?;
    for (n, hits) in results.iter().enumerate() {
        if args.json {
            let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
            let distances: Vec<f32> = hits.iter().map(|h| h.distance).collect();
            println!(
                "{}",
                json!({"query": n, "ids": ids, "distances": distances})
            );
        } else {
            let hits: Vec<String> = hits
                .iter()
                .map(|h| format!("{} ({:.6})", h.id, h.distance))
                .collect();
            println!("query {n}: {}", hits.join(", "));
        }
    }
    Ok(())
}
