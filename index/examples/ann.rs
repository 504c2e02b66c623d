//! Recall@10 and single-thread QPS of the index on texmex files, for side-by-side runs
//! with ../shared/peers/run_peers.py (same parameters, same files).
//!
//! ```text
//! cargo run --release -p fletchdb-index --example ann -- PREFIX --metric cosine \
//!     [--m 16] [--ef-construction 200] [--efs 16,32,64,128] [--build-threads 2] \
//!     [--quantization none|f16|i8] [--rescore 4[,8,...]] [--graph FILE]
//! ```
//! PREFIX names PREFIX_base.fvecs, PREFIX_query.fvecs and PREFIX_groundtruth.ivecs.
//! `--graph FILE` loads the graph from FILE when it exists (else builds it and saves it
//! there), so that builds of the search code can be compared on one graph.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Instant;

use fletchdb_index::{Hnsw, HnswConfig, Metric, Quantization, SearchRequest};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let Some(prefix) = args.first().filter(|a| !a.starts_with("--")) else {
        eprintln!("usage: ann PREFIX --metric l2|ip|cosine [--m 16] [--ef-construction 200] [--efs 16,32,64,128] [--build-threads 2]");
        std::process::exit(2);
    };
    let name = opt("--metric", "l2");
    let Some(metric) = Metric::parse(&name) else {
        eprintln!("unknown metric {name}");
        std::process::exit(2);
    };
    let m: usize = opt("--m", "16").parse().expect("--m");
    let efc: usize = opt("--ef-construction", "200")
        .parse()
        .expect("--ef-construction");
    let threads: usize = opt("--build-threads", "2")
        .parse()
        .expect("--build-threads");
    let efs: Vec<usize> = opt("--efs", "16,32,64,128")
        .split(',')
        .map(|x| x.parse().expect("--efs"))
        .collect();
    let quantization = opt("--quantization", "none");
    let Some(quantization) = Quantization::parse(&quantization) else {
        eprintln!("unknown quantization {quantization}");
        std::process::exit(2);
    };
    let rescores: Vec<usize> = opt("--rescore", &fletchdb_index::DEFAULT_RESCORE.to_string())
        .split(',')
        .map(|x| x.parse().expect("--rescore"))
        .collect();
    let k = 10;

    let path = |suffix: &str| PathBuf::from(format!("{prefix}_{suffix}"));
    let (base, dim) = common::read_fvecs(&path("base.fvecs")).expect("base");
    let (queries, qdim) = common::read_fvecs(&path("query.fvecs")).expect("queries");
    assert_eq!(dim, qdim, "query dimension");
    let truth = common::read_ivecs(&path("groundtruth.ivecs")).expect("ground truth");
    let n = base.len() / dim;
    let nq = queries.len() / dim;

    let config = HnswConfig {
        metric,
        m,
        ef_construction: efc,
        ..HnswConfig::default()
    };
    let graph = args
        .iter()
        .position(|a| a == "--graph")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let t = Instant::now();
    let index = match graph.as_ref().filter(|g| g.exists()) {
        Some(g) => {
            let vectors = fletchdb_index::InMemoryVectors::new(dim).unwrap();
            for v in base.chunks(dim) {
                let mut v = v.to_vec();
                metric.prepare(&mut v).unwrap();
                vectors.push(&v).unwrap();
            }
            let index = Hnsw::load(&std::fs::read(g).unwrap(), vectors).unwrap();
            pool.install(|| index.quantize(quantization, None)).unwrap();
            index
        }
        None => {
            let index = Hnsw::in_memory(dim, config).unwrap();
            index.quantize(quantization, None).unwrap();
            pool.install(|| index.add_batch(&base)).unwrap();
            if let Some(g) = &graph {
                let mut bytes = Vec::new();
                index.save(&mut bytes).unwrap();
                std::fs::write(g, bytes).unwrap();
            }
            index
        }
    };
    let build = t.elapsed().as_secs_f64();
    println!(
        "fletchdb: build {build:.2} s ({threads} threads), n={n}, d={dim}, M={m}, efC={efc}, \
         quantization {} (rescore {rescores:?})",
        quantization.name()
    );

    let mut scratch = index.scratch();
    let mut out = Vec::with_capacity(k);
    for (&ef, &rescore) in efs
        .iter()
        .flat_map(|ef| rescores.iter().map(move |r| (ef, r)))
    {
        let mut times = Vec::new();
        let mut got = Vec::new();
        for _rep in 0..3 {
            got.clear();
            let t = Instant::now();
            for q in queries.chunks(dim) {
                index
                    .search_with(
                        &mut scratch,
                        q,
                        SearchRequest::new(k, ef).rescore(rescore),
                        &mut out,
                    )
                    .unwrap();
                got.push(out.iter().map(|h| h.slot.0).collect::<Vec<u32>>());
            }
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let qps = nq as f64 / times[1];
        let r = common::recall(&got, &truth, k);
        println!("  fletchdb ef={ef:4} rescore={rescore} recall@{k}={r:.4} qps={qps:10.1}");
    }
}
