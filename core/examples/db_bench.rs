//! Measures the database: build, open time (clean and after a crash), durable insert
//! throughput from many writers, resident memory.
//!
//! ```text
//! cargo run --release -p fletchdb --example db_bench -- build PATH N DIM
//! cargo run --release -p fletchdb --example db_bench -- open PATH [linked|first|stream|get]
//! cargo run --release -p fletchdb --example db_bench -- touch PATH        # one write, close
//! cargo run --release -p fletchdb --example db_bench -- crash PATH N      # N more, then abort
//! cargo run --release -p fletchdb --example db_bench -- writers PATH THREADS N DIM sync|buffered|none
//! ```
//! Vectors are uniform random in [-1, 1) from a fixed seed; `build` inserts in batches
//! of 10,000 with durability None and closes cleanly (a checkpoint).

use std::time::{Duration, Instant};

use fletchdb::{CollectionConfig, Database, Durability, Metric, Options, Quantization};
use rand::{rngs::StdRng, Rng, SeedableRng};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn vectors(seed: u64, n: usize, dim: usize) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n * dim)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_else(|| usage());
    match arg(0).as_str() {
        "build" => {
            let (path, n, dim): (String, usize, usize) =
                (arg(1), arg(2).parse().unwrap(), arg(3).parse().unwrap());
            let db =
                Database::open(&path, Options::default().durability(Durability::None)).unwrap();
            let c = db
                .create_collection("bench", CollectionConfig::new(dim, Metric::L2))
                .unwrap();
            let t = Instant::now();
            let chunk = 10_000;
            for start in (0..n).step_by(chunk) {
                let m = chunk.min(n - start);
                let ids: Vec<u64> = (start as u64..(start + m) as u64).collect();
                c.insert_batch(&ids, &vectors(start as u64, m, dim))
                    .unwrap();
                eprint!("\r{} / {n}", start + m);
            }
            let build = t.elapsed();
            let t = Instant::now();
            drop(c);
            db.close().unwrap();
            println!(
                "\nbuilt {n} x {dim} in {:.1} s ({:.0} inserts/s), close+checkpoint {:.2} s",
                build.as_secs_f64(),
                n as f64 / build.as_secs_f64(),
                t.elapsed().as_secs_f64()
            );
        }
        "open" => {
            // `open PATH linked`: with background linking off (open inserts every
            // replayed vector into the graph before it returns), for comparison.
            // `open PATH first`: stop after the first query.
            // `open PATH stream`: searches back to back until the codes are in.
            let path = arg(1);
            let only_first = args.get(2).map(String::as_str) == Some("first");
            let stream = args.get(2).map(String::as_str) == Some("stream");
            let options = Options {
                background_linking: args.get(2).map(String::as_str) != Some("linked"),
                ..Options::default()
            };
            let before = rss_mib();
            let t = Instant::now();
            let db = Database::open(&path, options).unwrap();
            let open = t.elapsed();
            let c = db.collection("bench").unwrap();
            if args.get(2).map(String::as_str) == Some("get") {
                // `open PATH get`: a `get` right after the open, and the next eight.
                let n = c.len() as u64;
                let mut took = Vec::new();
                for i in 1..=9u64 {
                    let g = Instant::now();
                    assert!(c.get(n * i / 11).unwrap().is_some());
                    took.push(format!("{:.2}", g.elapsed().as_secs_f64() * 1e3));
                }
                println!(
                    "open {:.1} ms, gets after it {} ms",
                    open.as_secs_f64() * 1e3,
                    took.join(", ")
                );
                return;
            }
            let dim = c.config().dim;
            let q = vectors(424_242, 200, dim);
            c.search(&q[..dim], 10, &Default::default()).unwrap();
            let first = t.elapsed();
            let n = c.len();
            let unlinked = c.stats().unwrap().unlinked;
            let rss_open = rss_mib();
            if only_first {
                println!(
                    "open {:.1} ms, first query at {:.1} ms, replayed {} records ({unlinked} left to link); {n} vectors; {}",
                    open.as_secs_f64() * 1e3,
                    first.as_secs_f64() * 1e3,
                    db.replayed_at_open(),
                    db.health().open,
                );
                return;
            }
            // Searches while the background thread links what was replayed: each scans
            // the unlinked vectors exactly beside the walk.
            let s = Instant::now();
            let mut during = 0usize;
            while c.stats().unwrap().unlinked > 0 {
                c.search(&q[(during % 200) * dim..][..dim], 10, &Default::default())
                    .unwrap();
                during += 1;
            }
            let linked = t.elapsed();
            let during_qps = during as f64 / s.elapsed().as_secs_f64().max(1e-9);
            // The compact codes, which the background thread encodes after an open
            // (searches walk the f32 vectors until then).
            // (An `i8` collection under 1,024 vectors has no calibration and no codes yet.)
            let coded = c.config().quantization != Quantization::None && n >= 1_024;
            let s = Instant::now();
            let mut encoding = 0usize;
            while coded && c.stats().unwrap().code_bytes == 0 {
                if stream {
                    c.search(&q[(encoding % 200) * dim..][..dim], 10, &Default::default())
                        .unwrap();
                    encoding += 1;
                } else {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let codes_at = t.elapsed();
            let encoding_qps = encoding as f64 / s.elapsed().as_secs_f64().max(1e-9);
            // Touch every vector and the graph with searches, as a working database would.
            let s = Instant::now();
            for q in q.chunks(dim) {
                c.search(q, 10, &Default::default()).unwrap();
            }
            let after_qps = 200.0 / s.elapsed().as_secs_f64();
            println!(
                "open {:.1} ms, first query at {:.1} ms, replayed {} records ({unlinked} left to link), every vector in the graph at {:.2} s, codes at {:.2} s; {during} searches meanwhile ({during_qps:.0} QPS), {encoding} while encoding ({encoding_qps:.0} QPS), {after_qps:.0} QPS after; {n} vectors; RSS {:.0} MiB after open, {:.0} MiB after the searches ({:.0} bytes/vector before vectors are paged in)",
                open.as_secs_f64() * 1e3,
                first.as_secs_f64() * 1e3,
                db.replayed_at_open(),
                linked.as_secs_f64(),
                codes_at.as_secs_f64(),
                rss_open,
                rss_mib(),
                (rss_open - before) * 1048576.0 / n.max(1) as f64,
            );
        }
        "touch" => {
            // One write and a clean close: the checkpoint leaves the log as it always is.
            let db = Database::open(arg(1), Options::default()).unwrap();
            let c = db.collection("bench").unwrap();
            let v = c.get(0).unwrap().expect("id 0");
            c.upsert(0, &v).unwrap();
            drop(c);
            db.close().unwrap();
        }
        "crash" => {
            let (path, n): (String, usize) = (arg(1), arg(2).parse().unwrap());
            let opts = Options {
                durability: Durability::None,
                checkpoint_bytes: 0,
                checkpoint_interval: None,
                checkpoint_on_close: false,
                ..Options::default()
            };
            let db = Database::open(&path, opts).unwrap();
            let c = db.collection("bench").unwrap();
            let dim = c.config().dim;
            // Past every id an earlier `crash` added.
            let base = 1_000_000_000 + c.len() as u64;
            for start in (0..n).step_by(10_000) {
                let m = 10_000.min(n - start);
                let ids: Vec<u64> = (base + start as u64..base + (start + m) as u64).collect();
                c.insert_batch(&ids, &vectors(base + start as u64, m, dim))
                    .unwrap();
            }
            c.flush().unwrap();
            println!("inserted {n} more, log flushed; aborting without a checkpoint");
            std::process::abort();
        }
        "writers" => {
            let (path, threads, n, dim): (String, usize, usize, usize) = (
                arg(1),
                arg(2).parse().unwrap(),
                arg(3).parse().unwrap(),
                arg(4).parse().unwrap(),
            );
            let durability = match arg(5).as_str() {
                "sync" => Durability::Sync,
                "buffered" => Durability::Buffered {
                    interval: Duration::from_millis(10),
                },
                "none" => Durability::None,
                d => panic!("durability {d}"),
            };
            let _ = std::fs::remove_dir_all(&path);
            let db = Database::open(&path, Options::default().durability(durability)).unwrap();
            let c = db
                .create_collection("w", CollectionConfig::new(dim, Metric::L2))
                .unwrap();
            let data = vectors(7, n, dim);
            // Warm up: a first part single-threaded, so all runs insert into a graph of
            // the same size.
            let warm = n / 10;
            for i in 0..warm {
                c.insert(i as u64, &data[i * dim..][..dim]).unwrap();
            }
            let t = Instant::now();
            std::thread::scope(|s| {
                for w in 0..threads {
                    let (c, data) = (&c, &data);
                    s.spawn(move || {
                        for i in (warm + w..n).step_by(threads) {
                            c.insert(i as u64, &data[i * dim..][..dim]).unwrap();
                        }
                    });
                }
            });
            let secs = t.elapsed().as_secs_f64();
            println!(
                "{threads} writers, {:?}: {:.0} inserts/s ({} inserts of {dim}-d into a graph of {warm}..{n})",
                durability,
                (n - warm) as f64 / secs,
                n - warm
            );
            drop(c);
            db.close().unwrap();
            let _ = std::fs::remove_dir_all(&path);
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: db_bench build PATH N DIM | open PATH [linked] | crash PATH N | writers PATH THREADS N DIM sync|buffered|none");
    std::process::exit(2)
}
