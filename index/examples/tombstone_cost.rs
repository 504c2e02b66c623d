//! What a few tombstones cost a search: single-thread QPS and recall@10 of the same
//! graph with none deleted, with `--deleted` (a share, default 0.01) deleted, searched
//! by the default plan (the plain walk, widened) and by the tombstone-aware walk (what
//! every search with a tombstone took before), and after a heal (timed). Interleaved,
//! `--rounds` times, so a noisy machine moves all of them alike.
//!
//! ```text
//! cargo run --release -p fletchdb-index --example tombstone_cost -- PREFIX --metric cosine \
//!     [--ef 64] [--deleted 0.01] [--rounds 3] [--build-threads 2]
//! ```
//! PREFIX names PREFIX_base.fvecs and PREFIX_query.fvecs; ground truth is computed
//! exactly over the live vectors.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Instant;

use fletchdb_index::{Filter, Hnsw, HnswConfig, InMemoryVectors, Metric, SearchRequest, Slot};
use rand::{rngs::StdRng, seq::index::sample, SeedableRng};

/// Admits every slot and says nothing of its size: the planner samples, then walks the
/// graph keeping live results apart (the tombstone-aware walk).
struct Anything;

impl Filter for Anything {
    fn admits(&self, _: Slot) -> bool {
        true
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let Some(prefix) = args.first().filter(|a| !a.starts_with("--")) else {
        eprintln!("usage: tombstone_cost PREFIX --metric l2|ip|cosine [--ef 64] [--deleted 0.01] [--rounds 3]");
        std::process::exit(2);
    };
    let metric = Metric::parse(&opt("--metric", "l2")).expect("--metric");
    let ef: usize = opt("--ef", "64").parse().expect("--ef");
    let share: f64 = opt("--deleted", "0.01").parse().expect("--deleted");
    let rounds: usize = opt("--rounds", "3").parse().expect("--rounds");
    let threads: usize = opt("--build-threads", "2")
        .parse()
        .expect("--build-threads");
    let k = 10;

    let path = |suffix: &str| PathBuf::from(format!("{prefix}_{suffix}"));
    let (mut base, dim) = common::read_fvecs(&path("base.fvecs")).expect("base");
    let (mut queries, _) = common::read_fvecs(&path("query.fvecs")).expect("queries");
    if metric == Metric::Cosine {
        common::normalise_rows(&mut base, dim);
        common::normalise_rows(&mut queries, dim);
    }
    let n = base.len() / dim;
    let config = HnswConfig {
        metric,
        ..HnswConfig::default()
    };
    let index = Hnsw::in_memory(dim, config).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| index.add_batch(&base)).unwrap();
    let truth_all = common::brute_force(&base, &queries, dim, k, metric);
    let measure = |index: &Hnsw<InMemoryVectors>, filtered: bool, truth: &[Vec<u32>]| {
        let mut scratch = index.scratch();
        let mut out = Vec::with_capacity(k);
        let mut got = Vec::new();
        let t = Instant::now();
        for q in queries.chunks(dim) {
            let request = SearchRequest::new(k, ef);
            if filtered {
                index.search_with(&mut scratch, q, request.filter(&Anything), &mut out)
            } else {
                index.search_with(&mut scratch, q, request, &mut out)
            }
            .unwrap();
            got.push(out.iter().map(|h| h.slot.0).collect::<Vec<_>>());
        }
        let qps = queries.len() as f64 / dim as f64 / t.elapsed().as_secs_f64();
        (qps, common::recall(&got, truth, k))
    };
    let mut rng = StdRng::seed_from_u64(7);
    let gone: Vec<usize> = sample(&mut rng, n, (n as f64 * share) as usize).into_vec();
    // Ground truth over the live set.
    let mut live_base = Vec::new();
    let mut live_slots = Vec::new();
    let mut dead = vec![false; n];
    gone.iter().for_each(|&s| dead[s] = true);
    for (s, v) in base.chunks(dim).enumerate() {
        if !dead[s] {
            live_base.extend_from_slice(v);
            live_slots.push(s as u32);
        }
    }
    let truth_live: Vec<Vec<u32>> = common::brute_force(&live_base, &queries, dim, k, metric)
        .into_iter()
        .map(|ids| ids.into_iter().map(|i| live_slots[i as usize]).collect())
        .collect();

    println!("n={n} d={dim} ef={ef} deleted={share}");
    println!("round | none: QPS (recall) | deleted, default: QPS (recall) | deleted, tombstone walk | healed");
    for round in 0..rounds {
        let none = measure(&index, false, &truth_all);
        for &s in &gone {
            index.delete(Slot(s as u32)).unwrap();
        }
        let plain = measure(&index, false, &truth_live);
        let aware = measure(&index, true, &truth_live);
        // Heal a copy's worth: heal, measure, then put the freed nodes back.
        let t = Instant::now();
        let heal = index.heal();
        let heal_s = t.elapsed().as_secs_f64();
        let healed = measure(&index, false, &truth_live);
        for &s in &heal.freed {
            index.insert(s).unwrap();
        }
        println!(
            "{round} | {:.0} ({:.3}) | {:.0} ({:.3}) {:.2}x | {:.0} ({:.3}) {:.2}x | {:.0} ({:.3}) {:.2}x",
            none.0, none.1, plain.0, plain.1, plain.0 / none.0, aware.0, aware.1,
            aware.0 / none.0, healed.0, healed.1, healed.0 / none.0
        );
        println!(
            "  heal: {:.2} s ({} threads) for {} freed, {} lists repaired, {} nodes reattached",
            heal_s,
            rayon::current_num_threads(),
            heal.freed.len(),
            heal.repaired,
            heal.reattached
        );
    }
}
