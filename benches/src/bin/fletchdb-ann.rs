//! `fletchdb-ann`: recall@10 and QPS of FletchDB, through the real database, beside
//! hnswlib, USearch and FAISS HNSW measured in the same run.
//!
//! ```text
//! cargo run --release -p fletchdb-benches --bin fletchdb-ann -- PREFIX --metric cosine \
//!     [--efs 16,32,64,128] [--threads 1,2] [--peers] [--cold-open] [--out bench-out/ann]
//! cargo run --release -p fletchdb-benches --bin fletchdb-ann -- --generate \
//!     [--n 200000 --nq 1000 --dim 128 --centers 1000 --std 1.5 --seed 42] --peers
//! ```
//!
//! PREFIX names `PREFIX_base.{fvecs,bvecs}`, `PREFIX_query.{fvecs,bvecs}` and
//! `PREFIX_groundtruth.ivecs` (computed exactly if missing); the metric comes from
//! `--metric` or `PREFIX.json`. `--generate` writes a clustered set (the distribution
//! of `../shared/data/make_clustered.py`) as texmex files under `--data-dir` first, or
//! reuses one of the same shape found there, so the peers read exactly the same data.
//!
//! The run builds the vectors into a database (a temporary directory unless `--db`)
//! with `insert_batch` under a progress bar, closes it, reopens it (the open is timed;
//! with `--cold-open` also after dropping the page cache, which needs root), then
//! sweeps `ef` with one search thread (a plain loop of `Collection::search`) and with
//! all threads (`search_batch`), the median of three passes per point. With `--peers`
//! it then runs `../shared/peers/run_peers.py` on the same files for each thread count,
//! each library in a process of its own, whose peak resident memory it reports.
//! It prints markdown tables and writes `OUT/NAME.csv`, `OUT/NAME.md` and
//! `OUT/NAME.png` (QPS against recall).

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use fletchdb::{Durability, Metric, Options, Quantization, SearchOptions};
use fletchdb_benches::ann::{self, BuildConfig};
use fletchdb_benches::data::{
    ground_truth, json_field, metric_from_json, prefixed, Clustered, Dataset,
};
use fletchdb_benches::harness::{db_dir, progress_bar};
use fletchdb_benches::measure::{self, mib};
use fletchdb_benches::peers::{PeakRss, PeerArgs, PeerRun};
use fletchdb_benches::report::{self, Row};
use fletchdb_benches::texmex::Matrix;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "FletchDB recall/QPS runner, with the peers in the same run"
)]
struct Args {
    /// Data files: PREFIX_base.fvecs (or .bvecs), PREFIX_query.fvecs, PREFIX_groundtruth.ivecs.
    prefix: Option<PathBuf>,
    /// Generate a clustered set instead (see --n, --nq, --dim, --centers, --std, --seed).
    #[arg(long, conflicts_with = "prefix")]
    generate: bool,
    /// Generated base vectors.
    #[arg(long, default_value_t = 200_000)]
    n: usize,
    /// Generated queries.
    #[arg(long, default_value_t = 1_000)]
    nq: usize,
    /// Generated dimension.
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Generated mixture centres.
    #[arg(long, default_value_t = 1_000)]
    centers: usize,
    /// Generated noise around each centre.
    #[arg(long, default_value_t = 1.5)]
    std: f32,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where generated sets (and fvecs copies of bvecs sets, for the peers) are written.
    #[arg(long, default_value = "bench-out/data")]
    data_dir: PathBuf,
    /// l2, ip or cosine (default: PREFIX.json's, else l2 for generated sets).
    #[arg(long)]
    metric: Option<String>,
    /// HNSW links per node.
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// Candidates considered while inserting.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// ef values to sweep, comma-separated.
    #[arg(long, default_value = "16,32,64,128", value_delimiter = ',')]
    efs: Vec<usize>,
    /// Neighbours per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Search thread counts, comma-separated (default: 1 and all cores).
    #[arg(long, value_delimiter = ',')]
    threads: Vec<usize>,
    /// Build threads (default: all cores).
    #[arg(long)]
    build_threads: Option<usize>,
    /// Durability while building: none, buffered or sync.
    #[arg(long, default_value = "none")]
    durability: String,
    /// Vectors per insert_batch call while building.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Timed passes over the queries per point (the median is kept).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Database directory (kept afterwards); default: a temporary one, removed.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Also time an open after dropping the page cache (needs root).
    #[arg(long)]
    cold_open: bool,
    /// Run hnswlib, USearch and FAISS on the same files (../shared/peers).
    #[arg(long)]
    peers: bool,
    /// Which peers (and compact modes) --peers runs.
    #[arg(long, default_value = "hnswlib,usearch,faiss,faiss-sq8,usearch-i8")]
    peer_libs: String,
    /// The compact copies FletchDB's walks score, comma-separated (none, f16, i8): one
    /// database each, built and searched in turn in this run (default: the
    /// collection's default for the dimension).
    #[arg(long, value_delimiter = ',')]
    quantization: Vec<String>,
    #[command(flatten)]
    peer_args: PeerArgs,
    /// Where the CSV, markdown and PNG go.
    #[arg(long, default_value = "bench-out/ann")]
    out: PathBuf,
    /// Name of the output files and tables (default: the data set's).
    #[arg(long)]
    name: Option<String>,
}

/// The data set the arguments name, and the prefix the peers should read.
fn dataset(args: &Args) -> Result<(Dataset, PathBuf), Box<dyn Error>> {
    if args.generate {
        let spec = Clustered {
            n: args.n,
            queries: args.nq,
            dim: args.dim,
            centers: args.centers,
            std: args.std,
            seed: args.seed,
        };
        let metric = match &args.metric {
            Some(m) => Metric::parse(m).ok_or("unknown --metric")?,
            None => Metric::L2,
        };
        let mut name = spec.name();
        if (spec.n, spec.queries) != (200_000, 1_000) {
            let _ = write!(name, "-{}x{}", spec.n, spec.queries);
        }
        if metric != Metric::L2 {
            let _ = write!(name, "-{}", metric.name());
        }
        let prefix = args.data_dir.join(&name);
        let same_shape = Dataset::exists(&prefix)
            && json_field(&prefix, "n_base") == Some(spec.n.to_string())
            && json_field(&prefix, "n_query") == Some(spec.queries.to_string())
            && json_field(&prefix, "dims") == Some(spec.dim.to_string())
            && metric_from_json(&prefix) == Some(metric);
        if same_shape {
            eprintln!("reusing {} (same shape and metric)", prefix.display());
            return Ok((Dataset::load(&prefix, metric)?, prefix));
        }
        eprintln!(
            "generating {name}: {} x {}-d, {} queries",
            spec.n, spec.dim, spec.queries
        );
        let t = Instant::now();
        let (base, queries) = spec.generate();
        let truth = ground_truth(&base, &queries, 100, metric);
        let data = Dataset {
            name,
            metric,
            base,
            queries,
            truth,
        };
        data.save(&prefix, &format!("{spec:?}"))?;
        eprintln!(
            "wrote {}_* in {:.1} s (exact top-100 ground truth)",
            prefix.display(),
            t.elapsed().as_secs_f64()
        );
        return Ok((data, prefix));
    }
    let prefix = args.prefix.clone().ok_or("give a PREFIX or --generate")?;
    let metric = match &args.metric {
        Some(m) => Metric::parse(m).ok_or("unknown --metric")?,
        None => metric_from_json(&prefix).ok_or("no --metric and no PREFIX.json naming one")?,
    };
    let data = Dataset::load(&prefix, metric)?;
    // The peers read only PREFIX_{base,query}.fvecs and the ground truth: give them
    // fvecs copies of bvecs sets, or of sets whose ground truth was computed here.
    let complete = ["base.fvecs", "query.fvecs", "groundtruth.ivecs"]
        .iter()
        .all(|s| prefixed(&prefix, s).exists());
    if args.peers && !complete {
        let copy = args.data_dir.join(&data.name);
        eprintln!(
            "writing fvecs/ivecs copies for the peers: {}_*",
            copy.display()
        );
        data.save(&copy, &format!("copy of {}", prefix.display()))?;
        return Ok((data, copy));
    }
    Ok((data, prefix))
}

fn durability(s: &str) -> Result<Durability, Box<dyn Error>> {
    Ok(match s {
        "none" => Durability::None,
        "buffered" => Durability::Buffered {
            interval: Duration::from_millis(100),
        },
        "sync" => Durability::Sync,
        other => return Err(format!("unknown durability {other:?}").into()),
    })
}

/// What the run measured of FletchDB besides recall and QPS.
struct Facts {
    insert: Duration,
    close: Duration,
    disk: measure::DiskUsage,
    open_warm: Duration,
    first_query_warm: Duration,
    open_cold: Option<(Duration, Duration)>,
    data_rss: Option<u64>,
    peak_build: Option<u64>,
    peak_serve: Option<u64>,
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn mib_opt(b: Option<u64>) -> String {
    b.map_or("-".into(), |b| format!("{:.0}", mib(b)))
}

fn facts_table(data: &Dataset, n: usize, f: &Facts) -> String {
    let mut s = String::from(
        "| vectors | build s | close s | on disk MiB (WAL) | open ms | first search ms |",
    );
    if f.open_cold.is_some() {
        s.push_str(" cold open ms | cold first search ms |");
    }
    s.push_str(
        " peak RSS build MiB | peak RSS serving MiB |\n| ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    if f.open_cold.is_some() {
        s.push_str(" ---: | ---: |");
    }
    s.push_str(" ---: | ---: |\n");
    let _ = write!(
        s,
        "| {} × {}-d | {:.1} | {:.1} | {:.0} ({:.0}) | {} | {} |",
        report::thousands(n as f64),
        data.queries.dim(),
        f.insert.as_secs_f64(),
        f.close.as_secs_f64(),
        mib(f.disk.total),
        mib(f.disk.wal),
        ms(f.open_warm),
        ms(f.first_query_warm),
    );
    if let Some((open, first)) = f.open_cold {
        let _ = write!(s, " {} | {} |", ms(open), ms(first));
    }
    let _ = writeln!(
        s,
        " {} | {} |",
        mib_opt(f.peak_build),
        mib_opt(f.peak_serve)
    );
    if let Some(d) = f.data_rss {
        let _ = writeln!(
            s,
            "\nPeak RSS while building includes the {:.0} MiB the runner held before it \
             started (the data set); while serving, the base vectors are freed.",
            mib(d)
        );
    }
    s
}

fn first_search(c: &fletchdb::Collection, q: &[f32], k: usize) -> Result<Duration, Box<dyn Error>> {
    let t = Instant::now();
    c.search(q, k, &SearchOptions::default())?;
    Ok(t.elapsed())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let build_threads = args.build_threads.unwrap_or(cores);
    rayon::ThreadPoolBuilder::new()
        .num_threads(build_threads)
        .build_global()?;
    let mut threads = if args.threads.is_empty() {
        vec![1, cores]
    } else {
        args.threads.clone()
    };
    threads.sort_unstable();
    threads.dedup();
    let mut efs = args.efs.clone();
    efs.sort_unstable();
    efs.dedup();
    if efs.is_empty() || threads.contains(&0) {
        return Err("need at least one ef and positive thread counts".into());
    }

    let (mut data, peer_prefix) = dataset(&args)?;
    let name = args.name.clone().unwrap_or_else(|| data.name.clone());
    let n = data.base.len();
    let dim = data.base.dim();
    let metric = data.metric.name();
    println!(
        "# {name}: {} × {dim}-d, {} queries, {metric}; m {}, ef_construction {}, k {}, \
         {build_threads} build threads, search threads {threads:?}",
        report::thousands(n as f64),
        report::thousands(data.queries.len() as f64),
        args.m,
        args.ef_construction,
        args.k,
    );

    // Build and search, once per quantization.
    let quantizations: Vec<Quantization> = if args.quantization.is_empty() {
        vec![Quantization::default_for(dim)]
    } else {
        args.quantization
            .iter()
            .map(|q| Quantization::parse(q).ok_or("--quantization takes none, f16 or i8"))
            .collect::<Result<_, _>>()?
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut all_facts: Vec<(Quantization, Facts)> = Vec::new();
    for (i, &quantization) in quantizations.iter().enumerate() {
        if i > 0 {
            // The previous pass freed the base vectors while it served.
            data = dataset(&args)?.0;
        }
        let db_path = args.db.as_ref().map(|d| match quantizations.len() {
            1 => d.clone(),
            _ => d.join(quantization.name()),
        });
        let (dir, _tmp) = db_dir(db_path.as_deref())?;
        let options = Options::default().durability(durability(&args.durability)?);
        let cfg = BuildConfig {
            m: args.m,
            ef_construction: args.ef_construction,
            options,
            batch: args.batch,
            quantization,
        };
        let data_rss = measure::current_rss();
        let resettable = measure::reset_peak_rss();
        let bar = progress_bar(n as u64, "building");
        let built = ann::build(&dir, &data, &cfg, |done| bar.set_position(done as u64))?;
        bar.finish_and_clear();
        let peak_build = measure::peak_rss();
        let build_s = built.insert.as_secs_f64();
        println!(
            "built in {build_s:.1} s ({:.0} vectors/s, durability {}), closed in {:.2} s",
            n as f64 / build_s,
            args.durability,
            built.close.as_secs_f64()
        );
        let disk = measure::disk_usage(&dir)?;

        // Reopen and search.
        data.base = Matrix::new(dim, Vec::new());
        measure::reset_peak_rss();
        let (db, c, open_warm) = ann::open(&dir, Options::default())?;
        let first_query_warm = first_search(&c, data.queries.row(0), args.k)?;
        println!(
            "reopened in {} ms (first search {} ms); {:.0} MiB on disk, {:.0} MiB of it log",
            ms(open_warm),
            ms(first_query_warm),
            mib(disk.total),
            mib(disk.wal)
        );
        // One untimed pass at the largest ef brings the vectors and links into memory, as
        // the peers have theirs after building.
        ann::search_all(&c, &data.queries, args.k, efs[efs.len() - 1], None)?;
        for &t in &threads {
            for r in ann::sweep(&c, &data, args.k, &efs, t, args.reps, build_s)? {
                println!(
                    "  {} threads={t} ef={:4} recall@{}={:.4} qps={:10.1}",
                    r.lib, r.ef, args.k, r.recall, r.qps
                );
                rows.push(r);
            }
        }
        let peak_serve = measure::peak_rss();
        drop(c);
        db.close()?;
        let open_cold = if args.cold_open {
            if measure::drop_page_cache() {
                let (db, c, open) = ann::open(&dir, Options::default())?;
                let first = first_search(&c, data.queries.row(0), args.k)?;
                println!("cold open {} ms (first search {} ms)", ms(open), ms(first));
                drop(c);
                db.close()?;
                Some((open, first))
            } else {
                eprintln!("--cold-open: cannot drop the page cache (needs root); skipped");
                None
            }
        } else {
            None
        };
        all_facts.push((
            quantization,
            Facts {
                insert: built.insert,
                close: built.close,
                disk,
                open_warm,
                first_query_warm,
                open_cold,
                data_rss: if resettable { data_rss } else { None },
                peak_build,
                peak_serve: if resettable { peak_serve } else { None },
            },
        ));
    }

    // Peers, and each one's peak RSS in its first run.
    std::fs::create_dir_all(&args.out)?;
    let mut peer_memory: Vec<PeakRss> = Vec::new();
    if args.peers {
        let peers = args.peer_args.peers();
        peers.ensure_installed()?;
        for &t in &threads {
            let csv = args.out.join(format!("{name}-peers-{t}t.csv"));
            let run = PeerRun {
                metric: data.metric,
                m: args.m,
                ef_construction: args.ef_construction,
                efs: &efs,
                threads: t,
                build_threads,
                k: args.k,
                libs: &args.peer_libs,
            };
            println!("## peers, {t} search thread(s)");
            let (found, memory) = peers.run(&peer_prefix, &run, &csv)?;
            rows.extend(found);
            if peer_memory.is_empty() {
                peer_memory = memory;
            }
        }
    }

    // Report.
    let csv = args.out.join(format!("{name}.csv"));
    report::write_csv(&csv, &rows)?;
    let png = args.out.join(format!("{name}.png"));
    let title = format!(
        "{name} ({} × {dim}-d, {metric}): QPS against recall@{}, m {}, ef_construction {}",
        report::thousands(n as f64),
        args.k,
        args.m,
        args.ef_construction
    );
    fletchdb_benches::plot::recall_qps_png(&png, &title, &rows)?;
    let mut md = format!(
        "### {name} ({} × {dim}-d, {metric})\n\nm {}, ef_construction {}, {build_threads}-thread \
         build; cells are recall@{} / queries per second.\n",
        report::thousands(n as f64),
        args.m,
        args.ef_construction,
        args.k
    );
    for &t in &threads {
        let label = if t == 1 {
            "1 search thread".to_string()
        } else {
            format!("{t} search threads")
        };
        let _ = write!(md, "\n{label}:\n\n{}", report::markdown_table(&rows, t));
    }
    let _ = write!(
        md,
        "\nFletchDB through the database (build = open, `insert_batch` of {} vectors at a time \
         with durability `{}`; close = final checkpoint):\n\n{}",
        report::thousands(args.batch as f64),
        args.durability,
        all_facts
            .iter()
            .map(|(q, f)| format!("{}:\n\n{}", ann::lib_name(*q), facts_table(&data, n, f)))
            .collect::<Vec<_>>()
            .join("\n")
    );
    if !peer_memory.is_empty() {
        let _ = write!(
            md,
            "\nThe peers, each library in a process of its own (its first run; nothing on disk: \
             they keep the index in memory unless saved):\n\n\
             | library | peak RSS MiB | bytes a vector |\n| --- | ---: | ---: |\n"
        );
        for PeakRss { lib, bytes } in &peer_memory {
            let _ = writeln!(
                md,
                "| {lib} | {:.0} | {:.0} |",
                *bytes as f64 / (1 << 20) as f64,
                *bytes as f64 / n as f64
            );
        }
        let _ = writeln!(
            md,
            "\nA peer's peak includes its Python interpreter and libraries and the data set it loaded ({:.0} MiB of base vectors as \
             `float32`), as FletchDB's peak while building does.",
            (n * dim * 4) as f64 / (1 << 20) as f64
        );
    }
    let command: Vec<String> = std::env::args().skip(1).collect();
    let _ = writeln!(
        md,
        "\nMeasured with `cargo run --release -p fletchdb-benches --bin fletchdb-ann -- {}`.",
        command.join(" ")
    );
    std::fs::write(args.out.join(format!("{name}.md")), &md)?;
    println!("\n{md}");
    println!(
        "wrote {}, {} and {}",
        csv.display(),
        png.display(),
        args.out.join(format!("{name}.md")).display()
    );
    Ok(())
}
