//! `fletchdb-churn`: recall@10, single-thread QPS and size on disk of a FletchDB
//! collection rewritten round after round, beside hnswlib replaying the same sequence in
//! the same run (issue 12's measurement).
//!
//! ```text
//! cargo run --release -p fletchdb-benches --bin fletchdb-churn -- \
//!     [--mode gaussian] [--n 20000 --dim 128 --queries 1000] [--rounds 5] [--peers]
//! cargo run --release -p fletchdb-benches --bin fletchdb-churn -- \
//!     --mode data [--prefix ../shared/data/minilm-mix-dev/minilm-mix-dev] [--peers]
//! ```
//!
//! The sequence: build the collection fresh (`insert_batch`, id `i` for row `i`, the
//! database's default options) and close it, which checkpoints; reopen it. Then
//! `--rounds` rounds: in round 1 a seeded random `--delete-fraction` of the ids is
//! deleted (`delete_batch`); in every round every live id is upserted (`upsert_batch`,
//! `--batch` at a time) with a new vector, and a checkpoint follows, then `compact()`
//! (unless `--no-compact`; background compaction is off, so it runs only there). In `gaussian` mode
//! the vectors (base, rewrites and queries) are seeded N(0, 1) draws under L2; in `data`
//! mode the base and queries are PREFIX's texmex files under its metric (PREFIX.json or
//! `--metric`), and each round gives every live id the vector of another base row (a
//! seeded cyclic permutation), so the data stay real.
//!
//! After the build and after each round: recall@k at `--ef` against exact neighbours over
//! the live set (computed here, in parallel), single-thread QPS (one untimed pass, then
//! the median of `--reps` passes of a plain `Collection::search` loop), the apparent size
//! of every file under the database directory (the CSV adds the log's share and the
//! blocks allocated, which show slots filling a sparse vector segment), and the live
//! count. With `--peers`,
//! `benches/scripts/hnswlib_churn.py` replays the same sequence on hnswlib (update in
//! place for upserts, `mark_deleted` for deletes) from files written here, and its
//! recall and QPS join the table. It prints a markdown table and writes `OUT/NAME.csv`
//! and `OUT/NAME.md`: FletchDB's figures before the replay starts, then again with
//! hnswlib's (those it measured, if the replay fails or is interrupted).

use std::error::Error;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use fletchdb::{Collection, Metric, Options};
use fletchdb_benches::ann::{self, BuildConfig};
use fletchdb_benches::churn::{self, Churn, DbPoint, Measured, ReplayFiles, Rewrite};
use fletchdb_benches::data::{gaussian, metric_from_json, Dataset};
use fletchdb_benches::harness::{db_dir, progress_bar};
use fletchdb_benches::measure;
use fletchdb_benches::peers::PeerArgs;
use fletchdb_benches::report::thousands;
use fletchdb_benches::texmex::Matrix;
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Where the vectors come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Seeded N(0, 1) vectors under L2.
    Gaussian,
    /// A texmex data set (`--prefix`), rewritten with permutations of its own rows.
    Data,
}

#[derive(Parser, Debug)]
#[command(
    version,
    about = "FletchDB under churn (deletes, then upserts of every id, round after round), beside hnswlib"
)]
struct Args {
    /// gaussian (generated) or data (texmex files at --prefix).
    #[arg(long, value_enum, default_value_t = Mode::Gaussian)]
    mode: Mode,
    /// Data mode: PREFIX_base.fvecs and PREFIX_query.fvecs (default: minilm-mix-dev in
    /// the shared directory).
    #[arg(long)]
    prefix: Option<PathBuf>,
    /// Data mode: l2, ip or cosine (default: PREFIX.json's).
    #[arg(long)]
    metric: Option<String>,
    /// Vectors (gaussian: 20,000; data: the first N base rows, default all).
    #[arg(long)]
    n: Option<usize>,
    /// Gaussian mode: components per vector.
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Queries (gaussian: 1,000 drawn; data: the first N of the query file, default all).
    #[arg(long)]
    queries: Option<usize>,
    /// Rounds of rewrites after the fresh build.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Share of the ids deleted in round 1.
    #[arg(long, default_value_t = 0.2)]
    delete_fraction: f64,
    /// Candidates explored per search.
    #[arg(long, default_value_t = 64)]
    ef: usize,
    /// Neighbours per query (recall@k).
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// HNSW links per node.
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// Candidates considered while inserting.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// Seed of the vectors, the deletes and the permutations.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Vectors per insert_batch and upsert_batch call.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Timed passes over the queries per point (the median is kept).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Build threads, also for upserts, ground truth and hnswlib's inserts (default: all
    /// cores).
    #[arg(long)]
    build_threads: Option<usize>,
    /// Database directory (kept afterwards; must not hold the collection yet); default:
    /// a temporary one, removed.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Replay the same sequence on hnswlib (benches/scripts/hnswlib_churn.py).
    #[arg(long)]
    peers: bool,
    /// Skip the `compact()` after each round's checkpoint.
    #[arg(long)]
    no_compact: bool,
    #[command(flatten)]
    peer_args: PeerArgs,
    /// Where the CSV and markdown go.
    #[arg(long, default_value = "bench-out/churn")]
    out: PathBuf,
    /// Name of the output files and table (default: gaussian-NxDIM or the data set's).
    #[arg(long)]
    name: Option<String>,
}

/// The first `rows` rows of `m` (all of them when it has fewer).
fn first_rows(m: Matrix, rows: Option<usize>) -> Matrix {
    match rows {
        Some(r) if r < m.len() => Matrix::new(m.dim(), m.as_slice()[..r * m.dim()].to_vec()),
        _ => m,
    }
}

/// The workload the arguments name.
struct Workload {
    name: String,
    metric: Metric,
    base: Matrix,
    queries: Matrix,
    /// Where the rounds' vectors come from.
    rewrite: Rewrite,
}

/// The workload the arguments name (`shared` holds `data/`).
fn workload(args: &Args, shared: &Path) -> Result<Workload, Box<dyn Error>> {
    match args.mode {
        Mode::Gaussian => {
            let n = args.n.unwrap_or(20_000);
            let mut rng = StdRng::seed_from_u64(args.seed);
            let base = gaussian(n, args.dim, &mut rng);
            let queries = gaussian(args.queries.unwrap_or(1_000), args.dim, &mut rng);
            Ok(Workload {
                name: format!("gaussian-{n}x{}", args.dim),
                metric: Metric::L2,
                base,
                queries,
                rewrite: Rewrite::Gaussian,
            })
        }
        Mode::Data => {
            let prefix = args.prefix.clone().unwrap_or_else(|| {
                shared
                    .join("data")
                    .join("minilm-mix-dev")
                    .join("minilm-mix-dev")
            });
            let metric = match &args.metric {
                Some(m) => Metric::parse(m).ok_or("unknown --metric")?,
                None => {
                    metric_from_json(&prefix).ok_or("no --metric and no PREFIX.json naming one")?
                }
            };
            let data = Dataset::load(&prefix, metric)?;
            let base = first_rows(data.base, args.n);
            let queries = first_rows(data.queries, args.queries);
            Ok(Workload {
                name: data.name,
                metric,
                rewrite: Rewrite::Permute(base.clone()),
                base,
                queries,
            })
        }
    }
}

/// A spinner for a phase with no steps to count.
fn spinner(what: &str) -> ProgressBar {
    let s = ProgressBar::new_spinner().with_message(what.to_string());
    s.enable_steady_tick(Duration::from_millis(200));
    s
}

/// Copies the files of database directory `from` into `to` (recursively).
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Recall and QPS of `c` on `probe`'s queries and truth, the QPS of `fresh` timed in
/// passes interleaved with `c`'s, and the database's size.
fn measure_point(
    c: &Collection,
    fresh: &Collection,
    dir: &Path,
    probe: &Dataset,
    args: &Args,
    point: String,
    (write, checkpoint, compact): (Duration, Duration, Duration),
) -> Result<DbPoint, Box<dyn Error>> {
    let disk = measure::disk_usage(dir)?;
    // One untimed pass each, as after a build, then the medians of interleaved passes.
    ann::search_all(c, &probe.queries, args.k, args.ef, None)?;
    ann::search_all(fresh, &probe.queries, args.k, args.ef, None)?;
    let (mut times, mut fresh_times, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.reps.max(1) {
        let (got, t) = ann::search_all(c, &probe.queries, args.k, args.ef, None)?;
        times.push(t);
        ids = got;
        fresh_times.push(ann::search_all(fresh, &probe.queries, args.k, args.ef, None)?.1);
    }
    let qps = |mut t: Vec<Duration>| {
        t.sort_unstable();
        probe.queries.len() as f64 / t[t.len() / 2].as_secs_f64()
    };
    let p = DbPoint {
        m: Measured {
            point,
            recall: measure::recall(&ids, &probe.truth, args.k),
            qps: qps(times),
            write_s: write.as_secs_f64(),
        },
        checkpoint_s: checkpoint.as_secs_f64(),
        compact_s: compact.as_secs_f64(),
        fresh_qps: qps(fresh_times),
        disk,
        live: c.len(),
    };
    println!(
        "  fletchdb {:>6}: recall@{}={:.4} qps={:8.0} (fresh copy {:.0}: {:.2}x) {:6.1} MiB ({:.1} allocated, {:.0} log) \
         live={} (writes {:.1} s, checkpoint {:.2} s, compact {:.2} s)",
        p.m.point,
        args.k,
        p.m.recall,
        p.m.qps,
        p.fresh_qps,
        p.m.qps / p.fresh_qps,
        measure::mib(p.disk.total),
        measure::mib(p.disk.allocated),
        measure::mib(p.disk.wal),
        p.live,
        p.m.write_s,
        p.checkpoint_s,
        p.compact_s
    );
    Ok(p)
}

fn main() -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let args = Args::parse();
    if args.k == 0 || args.ef == 0 || args.batch == 0 {
        return Err("--k, --ef and --batch must be positive".into());
    }
    if !(0.0..1.0).contains(&args.delete_fraction) {
        return Err("--delete-fraction must be in [0, 1)".into());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let build_threads = args.build_threads.unwrap_or(cores);
    rayon::ThreadPoolBuilder::new()
        .num_threads(build_threads)
        .build_global()?;
    let peers = args.peer_args.peers();
    if args.peers {
        peers.ensure_installed()?;
    }

    let Workload {
        name,
        metric,
        base,
        queries,
        rewrite,
    } = workload(&args, &peers.shared)?;
    let name = args.name.clone().unwrap_or(name);
    let (n, dim) = (base.len(), base.dim());
    let deletes = (n as f64 * args.delete_fraction).round() as usize;
    println!(
        "# {name}: {} × {dim}-d, {} queries, {}; m {}, ef_construction {}, {} rounds, \
         {} deleted in round 1; ef {}, k {}, {build_threads} build threads",
        thousands(n as f64),
        thousands(queries.len() as f64),
        metric.name(),
        args.m,
        args.ef_construction,
        args.rounds,
        thousands(deletes as f64),
        args.ef,
        args.k,
    );
    let replay_dir = tempfile::tempdir()?;
    let replay = args.peers.then(|| ReplayFiles {
        dir: replay_dir.path().to_path_buf(),
    });
    if let Some(r) = &replay {
        r.write_start(&base, &queries)?;
    }

    // The fresh build; closing it takes the checkpoint.
    let (dir, _tmp) = db_dir(args.db.as_deref())?;
    // Compaction runs where the sequence says (after each round's checkpoint), not when
    // the background thread's timing happens to trigger it.
    let options = Options {
        compaction_threshold_percent: 0,
        ..Options::default()
    };
    let cfg = BuildConfig {
        m: args.m,
        ef_construction: args.ef_construction,
        options,
        batch: args.batch,
        quantization: fletchdb::Quantization::None,
    };
    let mut probe = Dataset {
        name: name.clone(),
        metric,
        base,
        queries,
        truth: Vec::new(),
    };
    let bar = progress_bar(n as u64, "building");
    let built = ann::build(&dir, &probe, &cfg, |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let base = std::mem::replace(&mut probe.base, Matrix::new(dim, Vec::new()));
    let mut workload = Churn::new(base, rewrite, args.seed.wrapping_add(1));
    // An untouched copy of the fresh database: each point's QPS is timed in passes
    // interleaved with this copy's, so the ratio survives a machine whose speed drifts.
    let fresh_copy = tempfile::tempdir()?;
    copy_dir(&dir, fresh_copy.path())?;
    let (fresh_db, fresh_c, _) = ann::open(fresh_copy.path(), options)?;
    let (db, c, _) = ann::open(&dir, options)?;

    let truth = |w: &Churn, probe: &mut Dataset, point: &str| -> Result<(), Box<dyn Error>> {
        let s = spinner(&format!("exact neighbours over the live set ({point})"));
        probe.truth = w.truth(&probe.queries, args.k, metric);
        s.finish_and_clear();
        if let Some(r) = &replay {
            r.write_truth(point, &probe.truth)?;
        }
        Ok(())
    };
    truth(&workload, &mut probe, "fresh")?;
    let mut points = vec![measure_point(
        &c,
        &fresh_c,
        &dir,
        &probe,
        &args,
        "fresh".into(),
        (built.insert, built.close, Duration::ZERO),
    )?];

    for r in 1..=args.rounds {
        let round = workload.round(r, if r == 1 { deletes } else { 0 });
        let bar = progress_bar(round.ids.len() as u64, &format!("round {r}"));
        let t = Instant::now();
        if !round.deleted.is_empty() {
            c.delete_batch(&round.deleted)?;
        }
        for (ids, vectors) in round
            .ids
            .chunks(args.batch)
            .zip(round.vectors.as_slice().chunks(args.batch * dim))
        {
            c.upsert_batch(ids, vectors)?;
            bar.inc(ids.len() as u64);
        }
        let write = t.elapsed();
        bar.finish_and_clear();
        let t = Instant::now();
        db.checkpoint()?;
        let checkpoint = t.elapsed();
        let t = Instant::now();
        if !args.no_compact {
            let done = c.compact()?;
            println!(
                "  compacted: {} moved, slots {} -> {}, longest writer pause {:.1} ms",
                done.moved,
                done.slots_before,
                done.slots_after,
                done.longest_pause.as_secs_f64() * 1e3
            );
        }
        let compact = t.elapsed();
        if let Some(files) = &replay {
            files.write_round(&round)?;
        }
        let point = r.to_string();
        truth(&workload, &mut probe, &point)?;
        points.push(measure_point(
            &c,
            &fresh_c,
            &dir,
            &probe,
            &args,
            point,
            (write, checkpoint, compact),
        )?);
    }
    drop(c);
    db.close()?;
    drop(fresh_c);
    fresh_db.close()?;

    // Report: FletchDB's figures first, so a failed or interrupted replay keeps them.
    std::fs::create_dir_all(&args.out)?;
    let csv = args.out.join(format!("{name}.csv"));
    let md_path = args.out.join(format!("{name}.md"));
    let rewrite = match args.mode {
        Mode::Gaussian => "a fresh N(0, 1) vector",
        Mode::Data => "the vector of another base row (a seeded cyclic permutation)",
    };
    let report = |peer: &[Measured]| -> std::io::Result<String> {
        churn::write_csv(&csv, &points, peer)?;
        let mut md = format!(
            "### Churn: {name} ({} × {dim}-d, {})\n\nm {}, ef_construction {}. Fresh build \
             (`insert_batch`), then {} rounds: {} ids deleted in round 1, and in every round \
             every live id upserted with {rewrite}; a checkpoint after each{}. Recall@{} at \
             ef {} against exact neighbours over the live set; single-thread QPS (median of \
             {} passes, each followed by one over an untouched copy of the fresh database, \
             whose median the ratio divides by); size = apparent size of every file in the \
             database directory.{}\n\n",
            thousands(n as f64),
            metric.name(),
            args.m,
            args.ef_construction,
            args.rounds,
            thousands(deletes as f64),
            if args.no_compact {
                ""
            } else {
                ", then `compact()`"
            },
            args.k,
            args.ef,
            args.reps,
            if args.peers {
                " hnswlib replays the same sequence (upserts update in place, deletes are \
                 `mark_deleted`)."
            } else {
                ""
            },
        );
        md.push_str(&churn::markdown_table(&points, peer));
        let command: Vec<String> = std::env::args().skip(1).collect();
        let _ = writeln!(
            md,
            "\nMeasured with `cargo run --release -p fletchdb-benches --bin fletchdb-churn -- \
             {}` in {:.0} s.",
            command.join(" "),
            started.elapsed().as_secs_f64()
        );
        std::fs::write(&md_path, &md)?;
        Ok(md)
    };
    let mut md = report(&[])?;

    let mut replayed = Ok(());
    if let Some(files) = &replay {
        println!(
            "wrote FletchDB's figures to {} and {}",
            csv.display(),
            md_path.display()
        );
        let peer_csv = args.out.join(format!("{name}-hnswlib.csv"));
        let _ = std::fs::remove_file(&peer_csv);
        let mut script_args: Vec<OsString> = vec![files.dir.clone().into()];
        for (flag, value) in [
            ("--rounds", args.rounds.to_string()),
            ("--metric", metric.name().to_string()),
            ("--m", args.m.to_string()),
            ("--ef-construction", args.ef_construction.to_string()),
            ("--ef", args.ef.to_string()),
            ("--k", args.k.to_string()),
            ("--reps", args.reps.to_string()),
            ("--build-threads", build_threads.to_string()),
        ] {
            script_args.extend([flag.into(), value.into()]);
        }
        script_args.extend(["--shared".into(), peers.shared.clone().into()]);
        script_args.extend(["--csv".into(), peer_csv.clone().into()]);
        println!("## hnswlib on the same sequence");
        replayed = peers.run_script(&churn::hnswlib_script(), &script_args);
        // The script writes its CSV after each point: keep what it measured.
        if peer_csv.exists() {
            md = report(&churn::read_peer_csv(&peer_csv)?)?;
        }
    }
    println!("\n{md}");
    println!("wrote {} and {}", csv.display(), md_path.display());
    replayed?;
    Ok(())
}
