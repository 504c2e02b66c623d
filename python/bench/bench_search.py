"""Search QPS of FletchDB's Python binding beside the same searches in Rust and hnswlib's
Python API, on one texmex data set, in one run.

    bash python/run_tests.sh -q                  # builds and installs fletchdb into .venv
    .venv/bin/pip install hnswlib==0.8.0         # the peer
    .venv/bin/python python/bench/bench_search.py [--data DIR] [--ef 64] [--rounds 3]

What is measured, at k = 10 and the given ef, after one warm-up pass each:

- single: the queries one at a time from one Python thread (`col.search(q)`,
  `index.knn_query(q, num_threads=1)`);
- batch: one call with all the queries (FletchDB searches them in parallel on rayon's
  threads, hnswlib with `num_threads=-1`; both use every core);
- 2 threads: two Python threads each searching half the queries one at a time.

The Rust figures come from `python/examples/search_loop.rs` run on the same database
directory (the same graph, loaded from its checkpoint) between the Python rounds, so the
Python-minus-Rust time per query is the binding's overhead. Each round times every
figure PASSES times and keeps the fastest. FletchDB and hnswlib are
built with the same parameters (m 16, ef_construction 200, cosine). Rounds alternate
between the systems and the table shows each figure's best round (other work on a shared
machine only ever slows a round down): compare ratios within one run.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import fletchdb

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def load(data_dir):
    if not (data_dir.parent / "texmex.py").exists():
        sys.exit(f"no texmex data set at {data_dir} (with texmex.py beside it): use --data")
    sys.path.insert(0, str(data_dir.parent))
    from texmex import read_vecs  # noqa: E402  (the data folder's reader)

    name = data_dir.name
    base = read_vecs(data_dir / f"{name}_base.fvecs")
    queries = read_vecs(data_dir / f"{name}_query.fvecs")
    gt = read_vecs(data_dir / f"{name}_groundtruth.ivecs", dtype=np.int32)
    return base, queries, gt


def recall(found, gt, k):
    return float(np.mean([len(set(f[:k].tolist()) & set(g[:k].tolist())) / k
                          for f, g in zip(found, gt)]))


def qps(n, seconds):
    return n / seconds


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


PASSES = 3


def best_of(fn):
    """The fastest of PASSES runs of fn (seconds; two_threads returns its own timing),
    and fn's result."""
    best, out = None, None
    for _ in range(PASSES):
        secs, out = timed(fn)
        if isinstance(out, float):
            secs = out
        best = secs if best is None else min(best, secs)
    return best, out


def two_threads(queries, search_one):
    """Seconds for two Python threads to search half the queries each, one at a time."""
    halves = np.array_split(np.arange(len(queries)), 2)
    barrier = threading.Barrier(3)

    def work(rows):
        barrier.wait()
        for i in rows:
            search_one(queries[i])

    threads = [threading.Thread(target=work, args=(h,)) for h in halves]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def fletch_round(path, queries, k, ef):
    with fletchdb.open(path) as db:
        col = db.collection("bench")
        for q in queries:  # warm-up
            col.search(q, k=k, ef=ef)
        secs, found = best_of(lambda: [col.search(q, k=k, ef=ef)[0] for q in queries])
        bsecs, _ = best_of(lambda: col.search(queries, k=k, ef=ef))
        tsecs, _ = best_of(lambda: two_threads(queries, lambda q: col.search(q, k=k, ef=ef)))
    n = len(queries)
    return {
        "single_qps": qps(n, secs),
        "batch_qps": qps(n, bsecs),
        "threads2_qps": qps(n, tsecs),
        "found": np.array(found),
        "checksum": int(np.array(found).sum()),
    }


def hnswlib_round(index, queries, k):
    for q in queries:
        index.knn_query(q, k=k, num_threads=1)
    secs, found = best_of(lambda: [index.knn_query(q, k=k, num_threads=1)[0][0] for q in queries])
    bsecs, _ = best_of(lambda: index.knn_query(queries, k=k, num_threads=-1))
    tsecs, _ = best_of(lambda: two_threads(queries, lambda q: index.knn_query(q, k=k, num_threads=1)))
    n = len(queries)
    return {
        "single_qps": qps(n, secs),
        "batch_qps": qps(n, bsecs),
        "threads2_qps": qps(n, tsecs),
        "found": np.array(found),
    }


def rust_round(binary, path, queries_file, k, ef):
    out = subprocess.run([str(binary), str(path), "bench", str(queries_file), str(k), str(ef),
                          str(PASSES)],
                         check=True, capture_output=True, text=True).stdout
    return {name: float(value) for name, value in (line.split() for line in out.splitlines())}


def call_floor(dim, hnswlib):
    """Best time per call, in µs, of searching a one-vector collection (index)."""
    qs = np.random.default_rng(0).random((1000, dim), dtype=np.float32)

    def best(fn):
        fn()
        return min(timed(fn)[0] for _ in range(7)) / len(qs) * 1e6

    out = {}
    with tempfile.TemporaryDirectory() as d, \
            fletchdb.open(Path(d) / "floor", durability="none", wal_segment_size=1 << 20) as db:
        col = db.create_collection("one", dim=dim, metric="cosine")
        col.add(0, qs[0])
        out["fletchdb-python"] = best(lambda: [col.search(q, k=1) for q in qs])
    if hnswlib is not None:
        index = hnswlib.Index(space="cosine", dim=dim)
        index.init_index(max_elements=1)
        index.add_items(qs[:1], [0])
        out["hnswlib-python"] = best(lambda: [index.knn_query(q, k=1, num_threads=1) for q in qs])
    return out


def build_rust_example(target_dir):
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "fletchdb-python",
                    "--example", "search_loop"], check=True, cwd=REPO, env=env)
    return Path(target_dir) / "release" / "examples" / "search_loop"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path,
                    default=REPO.parent / "shared" / "data" / "wordnet-minilm-dev")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rust-bin", type=Path, help="a built search_loop example")
    ap.add_argument("--target-dir", type=Path,
                    default=Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    k, ef = args.k, args.ef

    base, queries, gt = load(args.data)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    n, dim = base.shape
    print(f"data: {args.data.name}: {n} x {dim} base, {len(queries)} queries; k={k} ef={ef}; "
          f"{os.cpu_count()} cores", flush=True)

    binary = args.rust_bin or build_rust_example(args.target_dir)
    workdir = Path(tempfile.mkdtemp(prefix="fletchdb-bench-"))
    path = workdir / "db"
    with fletchdb.open(path, durability="none") as db:
        col = db.create_collection("bench", dim=dim, metric="cosine", m=16, ef_construction=200)
        build_fletch, _ = timed(lambda: col.add(np.arange(n), base))

    try:
        import hnswlib
    except ImportError:
        hnswlib = None
        print("hnswlib is not installed: its rows are skipped (pip install hnswlib==0.8.0)")
    if hnswlib is not None:
        index = hnswlib.Index(space="cosine", dim=dim)
        index.init_index(max_elements=n, M=16, ef_construction=200, random_seed=100)
        build_hnsw, _ = timed(lambda: index.add_items(base, np.arange(n), num_threads=-1))
        index.set_ef(ef)

    rows = {"fletchdb-python": [], "fletchdb-rust": [], "hnswlib-python": []}
    for r in range(args.rounds):
        rows["fletchdb-rust"].append(rust_round(binary, path, args.data / f"{args.data.name}_query.fvecs", k, ef))
        rows["fletchdb-python"].append(fletch_round(path, queries, k, ef))
        if hnswlib is not None:
            rows["hnswlib-python"].append(hnswlib_round(index, queries, k))
        print(f"round {r + 1}/{args.rounds} done", flush=True)

    fp = rows["fletchdb-python"]
    assert all(int(x["checksum"]) == fp[0]["checksum"] for x in rows["fletchdb-rust"]), \
        "Rust and Python found different ids"
    top = {name: {m: max(x[m] for x in rs)
                  for m in ("single_qps", "batch_qps", "threads2_qps")}
           for name, rs in rows.items() if rs}
    rec = {"fletchdb-python": recall(fp[0]["found"], gt, k),
           "fletchdb-rust": recall(fp[0]["found"], gt, k)}
    if rows["hnswlib-python"]:
        rec["hnswlib-python"] = recall(rows["hnswlib-python"][0]["found"], gt, k)

    print()
    print(f"| {args.data.name}, k={k}, ef={ef} | recall@{k} | single QPS | µs/query "
          f"| 2 threads QPS | 2-thread speed-up | batch QPS |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, m in top.items():
        print(f"| {name} | {rec[name]:.4f} | {m['single_qps']:,.0f} | {1e6 / m['single_qps']:.1f} "
              f"| {m['threads2_qps']:,.0f} | {m['threads2_qps'] / m['single_qps']:.2f}x "
              f"| {m['batch_qps']:,.0f} |")
    py, rs = top["fletchdb-python"], top["fletchdb-rust"]
    overhead = 1e6 / py["single_qps"] - 1e6 / rs["single_qps"]
    print()
    print(f"binding overhead per single query: {overhead:.1f} µs "
          f"(Python reaches {py['single_qps'] / rs['single_qps']:.1%} of Rust's single-query QPS)")
    floor = call_floor(dim, hnswlib)
    print("call floor (one query, one-vector collection): "
          + ", ".join(f"{name} {us:.2f} µs" for name, us in floor.items()))
    if "hnswlib-python" in top:
        h = top["hnswlib-python"]
        print(f"fletchdb-python / hnswlib-python: single {py['single_qps'] / h['single_qps']:.2f}x, "
              f"2 threads {py['threads2_qps'] / h['threads2_qps']:.2f}x, "
              f"batch {py['batch_qps'] / h['batch_qps']:.2f}x")
        print(f"build (add all {n}): fletchdb {build_fletch:.1f} s, hnswlib {build_hnsw:.1f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"best": top, "call_floor_us": floor, "recall": rec, "overhead_us": overhead,
                                         "rounds": {n: [{m: v for m, v in x.items() if m != "found"}
                                                        for x in rs_]
                                                    for n, rs_ in rows.items()}}, indent=1))


if __name__ == "__main__":
    main()
