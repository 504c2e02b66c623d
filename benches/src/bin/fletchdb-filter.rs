//! Filtered search on real metadata: recall@10 and queries per second of `where`
//! searches at selectivities from 0.02 % to 58 %, each beside the unfiltered search
//! timed right before it, pass by pass (the median ratio is what to read on a shared
//! machine).
//!
//! Reads `PREFIX_base.fvecs`, `PREFIX_query.fvecs` and `PREFIX_base.meta.jsonl` (one
//! JSON object per base row, stored as that row's metadata), builds a database (kept in
//! `--db DIR` and reused when it holds the same rows), and computes the exact top-k among
//! each filter's matches by brute force. The filters default to ones chosen on
//! `minilm-mix-dev`'s metadata; `--filters FILE` takes lines of `name<TAB>where-JSON`.
//!
//! `cargo run --release -p fletchdb-benches --bin fletchdb-filter -- ../shared/data/minilm-mix-dev/minilm-mix-dev --db /tmp/filter-db`

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use fletchdb::{
    CollectionConfig, Database, Metadata, Metric, Options, Payload, SearchOptions, Where,
};
use fletchdb_benches::data::prefixed;
use fletchdb_benches::harness::db_dir;
use fletchdb_benches::texmex::read_fvecs;
use rayon::prelude::*;

/// The default filters, by selectivity on `minilm-mix-dev` (100,000 rows).
const FILTERS: &[(&str, &str)] = &[
    ("section education", r#"{"section": "education"}"#),
    ("priority extra", r#"{"priority": "extra"}"#),
    (
        "size >= 100000",
        r#"{"installed_size_kib": {"$gte": 100000}}"#,
    ),
    ("lexname noun.food", r#"{"lexname": "noun.food"}"#),
    ("pos adv", r#"{"pos": "adv"}"#),
    (
        "doc and size >= 1000",
        r#"{"section": "doc", "installed_size_kib": {"$gte": 1000}}"#,
    ),
    ("size < 20", r#"{"installed_size_kib": {"$lt": 20}}"#),
    (
        "size 100..200",
        r#"{"installed_size_kib": {"$gte": 100, "$lt": 200}}"#,
    ),
    (
        "section python or perl",
        r#"{"section": {"$in": ["python", "perl"]}}"#,
    ),
    (
        "verb or libs",
        r#"{"$or": [{"pos": "verb"}, {"section": "libs"}]}"#,
    ),
    ("size >= 1000", r#"{"installed_size_kib": {"$gte": 1000}}"#),
    ("pos noun", r#"{"pos": "noun"}"#),
    ("source wordnet", r#"{"source": "wordnet"}"#),
    ("source debian", r#"{"source": "debian"}"#),
];

/// Filtered-search recall and speed on a data set with metadata.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Data files: PREFIX_base.fvecs, PREFIX_query.fvecs, PREFIX_base.meta.jsonl.
    prefix: PathBuf,
    /// Keep the database here (and reuse it when it holds the same number of rows).
    #[arg(long)]
    db: Option<PathBuf>,
    /// l2, ip or cosine.
    #[arg(long, default_value = "cosine")]
    metric: String,
    /// Queries used (the first ones of the query file).
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Neighbours per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// ef of every search.
    #[arg(long, default_value_t = 64)]
    ef: usize,
    /// Timed pairs of passes (unfiltered, then filtered) per filter; medians are kept.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Lines of `name<TAB>where-JSON` instead of the default filters.
    #[arg(long)]
    filters: Option<PathBuf>,
}

/// Seconds this thread has run on a CPU (`/proc/thread-self/schedstat`, in ns): a
/// search's cost that other work on the machine barely moves, unlike wall time.
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let metric = Metric::parse(&args.metric).ok_or("unknown --metric")?;
    let mut base = read_fvecs(&prefixed(&args.prefix, "base.fvecs"))?;
    let mut queries = read_fvecs(&prefixed(&args.prefix, "query.fvecs"))?;
    if metric == Metric::Cosine {
        base.normalize_rows();
        queries.normalize_rows();
    }
    let nq = args.queries.min(queries.len());
    let metas: Vec<Metadata> = std::io::BufReader::new(std::fs::File::open(prefixed(
        &args.prefix,
        "base.meta.jsonl",
    ))?)
    .lines()
    .map(|l| Ok(serde_json::from_str(&l?)?))
    .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    if metas.len() != base.len() {
        return Err(format!("{} metadata lines for {} rows", metas.len(), base.len()).into());
    }
    let filters: Vec<(String, String)> = match &args.filters {
        Some(f) => std::fs::read_to_string(f)?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let (n, w) = l
                    .split_once('\t')
                    .ok_or("a filter line needs name<TAB>json")?;
                Ok((n.to_string(), w.to_string()))
            })
            .collect::<Result<_, &str>>()?,
        None => FILTERS
            .iter()
            .map(|(n, w)| (n.to_string(), w.to_string()))
            .collect(),
    };

    let (dir, _tmp) = db_dir(args.db.as_deref())?;
    let db = Database::open(&dir, Options::default())?;
    let c = match db.collection("filter") {
        Ok(c) if c.len() == base.len() => c,
        existing => {
            if existing.is_ok() {
                db.drop_collection("filter")?;
            }
            let c = db.create_collection("filter", CollectionConfig::new(base.dim(), metric))?;
            let start = Instant::now();
            let ids: Vec<u64> = (0..base.len() as u64).collect();
            for (b, (chunk, m)) in base
                .as_slice()
                .chunks(1000 * base.dim())
                .zip(metas.chunks(1000))
                .enumerate()
            {
                let payloads: Vec<Payload> = m
                    .iter()
                    .map(|m| Payload {
                        metadata: Some(m.clone()),
                        document: None,
                    })
                    .collect();
                c.insert_with(&ids[b * 1000..b * 1000 + m.len()], chunk, &payloads)?;
            }
            c.checkpoint()?;
            eprintln!(
                "built {} rows in {:.1} s",
                c.len(),
                start.elapsed().as_secs_f64()
            );
            c
        }
    };

    // One timed pass: the results, queries per second and queries per CPU second.
    let pass = |w: Option<&Where>| -> fletchdb::Result<(Vec<Vec<u64>>, f64, f64)> {
        let opts = SearchOptions {
            ef: args.ef,
            matching: w,
            ..SearchOptions::default()
        };
        let start = Instant::now();
        let cpu0 = thread_cpu();
        let results = (0..nq)
            .map(|q| {
                let hits = c.search(queries.row(q), args.k, &opts)?;
                Ok(hits.iter().map(|h| h.id).collect())
            })
            .collect::<fletchdb::Result<Vec<Vec<u64>>>>()?;
        let wall = start.elapsed().as_secs_f64();
        let cpu = thread_cpu() - cpu0;
        // The thread's CPU clock moves in scheduler ticks: a pass of under 5 ms has no
        // meaningful CPU rate (NaN, printed as such).
        let per_cpu = if cpu < 0.005 {
            f64::NAN
        } else {
            nq as f64 / cpu
        };
        Ok((results, nq as f64 / wall, per_cpu))
    };
    // Timed passes of the unfiltered and the filtered search back to back, `reps`
    // times: the filtered results, the median QPS of each, and the median of the
    // passes' ratios (wall, then CPU). Each ratio compares two passes a second apart,
    // so a machine whose speed drifts over minutes moves both alike.
    let compare = |w: &Where| -> fletchdb::Result<(Vec<Vec<u64>>, [f64; 4])> {
        let (mut unf, mut fil, mut ratio, mut ratio_cpu) = (vec![], vec![], vec![], vec![]);
        let mut results = Vec::new();
        for _ in 0..args.reps.max(1) {
            let (_, u, u_cpu) = pass(None)?;
            let (got, f, f_cpu) = pass(Some(w))?;
            results = got;
            unf.push(u);
            fil.push(f);
            ratio.push(f / u);
            ratio_cpu.push(f_cpu / u_cpu);
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        Ok((
            results,
            [median(fil), median(unf), median(ratio), median(ratio_cpu)],
        ))
    };
    // Warm the mapping and the graph.
    pass(None)?;

    println!(
        "\n{} rows, {} queries, k {}, ef {}, one search thread\n",
        base.len(),
        nq,
        args.k,
        args.ef
    );
    println!(
        "| filter | matches | selectivity | recall@{} | QPS | unfiltered QPS | ratio | ratio, CPU time |",
        args.k
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, json) in &filters {
        let w = Where::from_json(&serde_json::from_str(json)?)?;
        let matching: Vec<u32> = (0..base.len() as u32)
            .filter(|&i| w.matches(&metas[i as usize]))
            .collect();
        let truth: Vec<Vec<u64>> = (0..nq)
            .into_par_iter()
            .map(|q| {
                let query = queries.row(q);
                let mut d: Vec<(f32, u32)> = matching
                    .iter()
                    .map(|&i| (metric.distance(query, base.row(i as usize)), i))
                    .collect();
                d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                d.iter().take(args.k).map(|&(_, i)| i as u64).collect()
            })
            .collect();
        // Links among a wide value's records now, as the background thread would
        // after the first search with the filter.
        let start = Instant::now();
        if c.prepare_filter(&w)? {
            eprintln!(
                "{name}: links built in {:.2} s",
                start.elapsed().as_secs_f64()
            );
        }
        let (got, [qps, unfiltered, ratio, ratio_cpu]) = compare(&w)?;
        let (mut found, mut wanted) = (0usize, 0usize);
        for (g, t) in got.iter().zip(&truth) {
            wanted += t.len();
            found += g.iter().filter(|id| t.contains(id)).count();
        }
        let recall = if wanted == 0 {
            1.0
        } else {
            found as f64 / wanted as f64
        };
        println!(
            "| {name} | {} | {:.2} % | {recall:.3} | {qps:.0} | {unfiltered:.0} | {:.2} | {:.2} |",
            matching.len(),
            100.0 * matching.len() as f64 / base.len() as f64,
            ratio,
            ratio_cpu
        );
    }
    drop(c);
    db.close()?;
    Ok(())
}
