//! Searches a database that `fletchdb-ann --db DIR` built and kept, without building:
//! the way to compare two builds of FletchDB on one graph, alternating runs of each
//! binary over the same files (a fresh build per run adds the variance of a new graph).
//!
//! `cargo run --release -p fletchdb-benches --bin fletchdb-search -- DIR PREFIX --metric cosine --efs 16,32,64`

use std::path::PathBuf;

use clap::Parser;
use fletchdb::{Metric, Options};
use fletchdb_benches::ann;
use fletchdb_benches::data::Dataset;

/// Searches an existing FletchDB database at several ef, one thread.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The database directory (`fletchdb-ann --db DIR`).
    db: PathBuf,
    /// Data files: PREFIX_query.fvecs and PREFIX_groundtruth.ivecs.
    prefix: PathBuf,
    /// l2, ip or cosine.
    #[arg(long, default_value = "l2")]
    metric: String,
    /// ef values, comma-separated.
    #[arg(long, default_value = "16,32,64,128", value_delimiter = ',')]
    efs: Vec<usize>,
    /// Neighbours per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Timed passes over the queries per ef (the median is kept).
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let metric = Metric::parse(&args.metric).ok_or("unknown --metric")?;
    let data = Dataset::load(&args.prefix, metric)?;
    let (db, c, open) = ann::open(&args.db, Options::default())?;
    // One untimed pass at the largest ef brings the vectors and links into memory.
    let largest = args.efs.iter().copied().max().unwrap_or(64);
    ann::search_all(&c, &data.queries, args.k, largest, None)?;
    print!("open {:.1} ms;", open.as_secs_f64() * 1e3);
    for r in ann::sweep(&c, &data, args.k, &args.efs, 1, args.reps, 0.0)? {
        print!(" ef {} {:.4}/{:.0}", r.ef, r.recall, r.qps);
    }
    println!();
    drop(c);
    db.close()?;
    Ok(())
}
