"""Batch search QPS from Python against the Rust runner's loop, on one database and one
thread count, pass by pass in one run (issue 14: Python within 0.95x of Rust).

    FLETCHDB_VENV=.venv bash python/run_tests.sh -q    # builds and installs fletchdb
    .venv/bin/python python/bench/bench_batch.py [--data DIR] [--db DIR] \\
        [--efs 24,64] [--threads 1,2] [--pairs 30] [--swap] [--rust-bin PATH] \\
        [--quantization none|f16|i8] [--metric cosine|l2|ip] [--m 16]

The database (collection "ann", cosine and m 16 unless --metric and --m say otherwise,
ef_construction 200, the base added in batches of 10,000 as `fletchdb-ann` does) is
built from Python into --db unless it holds
one already (`fletchdb-ann --db DIR` builds the same collection name), then copied once to
DB-python-copy and DB-rust-copy, one for each side (a database is open in one process at
a time; both copies are made the same way, so how the files were written cannot favour
one side, and --swap exchanges them).

- Rust: `python/examples/batch_search.rs`, a process kept running on the copy that times
  exactly what the `fletchdb-ann` runner times (one thread: a plain loop of
  `Collection::search`; more: one `search_batch` inside a rayon pool of that many
  threads), one pass over the queries per request;
- Python: `collection.search(queries, k, ef, threads=T)`, one call for all the queries.

After one untimed pass each at the largest ef (the runner's warm-up), each point is
PAIRS pairs of passes, one Rust and one Python back to back (which goes first
alternates), so a shared machine's drift hits both halves of a pair alike. The table
shows each side's median QPS and the median of the pairs' Python/Rust QPS ratios, with
the middle half of the ratios; then the same by CPU time (queries per second the
process spent on a CPU: Python's `time.process_time`, the Rust process's
`/proc/self/task/*/schedstat`), which other work on a shared machine disturbs less than
wall time (Linux only). The ids both sides return are checked to be the same.

`bench_batch.py --pool RUN.json ...` prints one table of several runs' --json files, each
point's pairs pooled (the README's figures: two runs, and two with --swap).

An installed fletchdb without `threads=` (an older build) is timed with its default
(rayon's global pool: set RAYON_NUM_THREADS to the thread count).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import fletchdb

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
COLLECTION = "ann"


def load(data_dir):
    sys.path.insert(0, str(data_dir.parent))
    from texmex import read_vecs  # noqa: E402  (the data folder's reader)

    name = data_dir.name
    base = read_vecs(data_dir / f"{name}_base.fvecs")
    queries = np.ascontiguousarray(read_vecs(data_dir / f"{name}_query.fvecs"))
    gt = read_vecs(data_dir / f"{name}_groundtruth.ivecs", dtype=np.int32)
    return base, queries, gt


def build(path, base, quantization, metric="cosine", m=16, batch=10_000):
    start = time.perf_counter()
    with fletchdb.open(path, durability="none") as db:
        col = db.create_collection(COLLECTION, dim=base.shape[1], metric=metric, m=m,
                                   ef_construction=200, quantization=quantization)
        for first in range(0, len(base), batch):
            rows = base[first:first + batch]
            col.add(np.arange(first, first + len(rows)), rows)
    return time.perf_counter() - start


def has_threads_arg(path, queries):
    with fletchdb.open(path) as db:
        try:
            db.collection(COLLECTION).search(queries[:2], k=1, threads=1)
        except TypeError:
            return False
    return True


class RustSide:
    """The batch_search example on a copy of the database, answering one pass per ef."""

    def __init__(self, binary, path, queries_file, k, threads):
        cmd = [str(binary), str(path), COLLECTION, str(queries_file), str(k), str(threads)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def run(self, ef):
        self.proc.stdin.write(f"{ef}\n")
        self.proc.stdin.flush()
        f = self.proc.stdout.readline().split()
        if len(f) != 6:
            raise RuntimeError(f"batch_search answered {f!r}; exit code {self.proc.poll()}")
        return float(f[3]), float(f[5]), int(f[1])

    def close(self):
        self.proc.stdin.close()
        if self.proc.wait() != 0:
            raise RuntimeError(f"batch_search failed with exit code {self.proc.returncode}")


class PythonSide:
    """collection.search on all the queries in one call."""

    def __init__(self, col, queries, k, threads, legacy):
        self.col, self.queries, self.k = col, queries, k
        self.kw = {} if legacy else {"threads": threads}
        self.found = {}

    def run(self, ef):
        cpu, start = time.process_time(), time.perf_counter()
        ids, _ = self.col.search(self.queries, k=self.k, ef=ef, **self.kw)
        secs, cpu = time.perf_counter() - start, time.process_time() - cpu
        self.found[ef] = ids
        return secs, cpu, int(ids.sum(dtype=np.uint64))


def recall(ids, gt, k):
    hits = sum(len(set(a[:k].tolist()) & set(b[:k].tolist())) for a, b in zip(ids, gt))
    return hits / (k * len(ids))


def build_rust_example(target_dir):
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "fletchdb-python",
                    "--example", "batch_search"], check=True, cwd=REPO, env=env)
    return Path(target_dir) / "release" / "examples" / "batch_search"


def pooled(files):
    """The table of several runs' --json files, each point's pairs pooled."""
    points = {}
    for f in files:
        for row in json.loads(Path(f).read_text()):
            p = points.setdefault((row["threads"], row["ef"]),
                                  {"recall": row["recall"], "queries": row["queries"]})
            for key in ("rust_seconds", "python_seconds", "rust_cpu", "python_cpu"):
                p.setdefault(key, []).extend(row[key])
    print("| threads | ef | recall@10 | pairs | Rust QPS | Python QPS | Python / Rust, wall "
          "| Python / Rust, CPU time |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (t, ef), p in sorted(points.items()):
        wall = statistics.median(a / b for a, b in zip(p["rust_seconds"], p["python_seconds"]))
        cpu = statistics.median(a / b for a, b in zip(p["rust_cpu"], p["python_cpu"]))
        n = p["queries"]
        print(f"| {t} | {ef} | {p['recall']:.4f} | {len(p['rust_seconds'])} "
              f"| {n / statistics.median(p['rust_seconds']):,.0f} "
              f"| {n / statistics.median(p['python_seconds']):,.0f} | {wall:.3f} | {cpu:.3f} |")


def main():
    if sys.argv[1:2] == ["--pool"]:
        return pooled(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path,
                    default=REPO.parent / "shared" / "data" / "minilm-mix-dev")
    ap.add_argument("--db", type=Path, help="database directory (built here if missing; kept)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--efs", default="24,64")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--pairs", type=int, default=30,
                    help="Rust-then-Python (or the reverse) pairs of passes per point")
    ap.add_argument("--swap", action="store_true",
                    help="Python searches the Rust side's copy of the database and vice versa")
    ap.add_argument("--rust-bin", type=Path, help="a built batch_search example")
    ap.add_argument("--target-dir", type=Path,
                    default=Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")))
    ap.add_argument("--json", type=Path, help="also write every timing here")
    ap.add_argument("--quantization", default="none", choices=["none", "f16", "i8"],
                    help="the collection's compact copy, when --db is built here")
    ap.add_argument("--metric", default="cosine", choices=["cosine", "l2", "ip"],
                    help="the collection's metric, when --db is built here")
    ap.add_argument("--m", type=int, default=16,
                    help="the collection's links per node, when --db is built here")
    args = ap.parse_args()
    k = args.k
    efs = [int(x) for x in args.efs.split(",")]
    thread_counts = [int(x) for x in args.threads.split(",")]

    base, queries, gt = load(args.data)
    name = args.data.name
    queries_file = args.data / f"{name}_query.fvecs"
    path = args.db or Path(tempfile.mkdtemp(prefix="fletchdb-batch-")) / "db"
    if not path.exists():
        secs = build(path, base, args.quantization, args.metric, args.m)
        print(f"built {path} from Python in {secs:.1f} s", flush=True)
    del base
    legacy = not has_threads_arg(path, queries)
    if legacy:
        print(f"this fletchdb has no threads=: Python searches on rayon's global pool "
              f"(RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS', 'unset')})")
    binary = args.rust_bin or build_rust_example(args.target_dir)
    # Each side searches its own copy, both made the same way: a file the database wrote
    # through its mapping and one a copy wrote can sit in different page-cache folios,
    # which changes search speed by itself (--swap exchanges the copies to check).
    copies = []
    for suffix in ("python-copy", "rust-copy"):
        copy = path.parent / f"{path.name}-{suffix}"
        if not copy.exists():
            shutil.copytree(path, copy)
        copies.append(copy)
    py_path, rust_path = reversed(copies) if args.swap else copies
    print(f"{name}: {len(queries)} queries, k {k}, efs {efs}, threads {thread_counts}, "
          f"{args.pairs} pairs of passes per point; fletchdb {fletchdb.__file__}",
          flush=True)

    summary = []
    with fletchdb.open(py_path) as db:
        col = db.collection(COLLECTION)
        for t in thread_counts:
            rust = RustSide(binary, rust_path, queries_file, k, t)
            py = PythonSide(col, queries, k, t, legacy)
            for side in (rust, py):  # warm-up, as the runner's
                side.run(max(efs))
            secs = {(ef, side): [] for ef in efs for side in ("rust", "python")}
            cpus = {(ef, side): [] for ef in efs for side in ("rust", "python")}
            sums = {ef: set() for ef in efs}
            for p in range(args.pairs):
                for ef in efs:
                    order = [("rust", rust), ("python", py)]
                    if p % 2:
                        order.reverse()
                    for label, side in order:
                        s_, c_, checksum = side.run(ef)
                        secs[(ef, label)].append(s_)
                        cpus[(ef, label)].append(c_)
                        sums[ef].add(checksum)
            rust.close()
            for ef in efs:
                assert len(sums[ef]) == 1, f"threads {t} ef {ef}: Rust and Python differ"
                r_, p_ = secs[(ef, "rust")], secs[(ef, "python")]
                ratios = sorted(a / b for a, b in zip(r_, p_))  # Python QPS / Rust QPS
                rc, pc = cpus[(ef, "rust")], cpus[(ef, "python")]
                cpu_ratios = sorted(a / b for a, b in zip(rc, pc))
                row = {"threads": t, "ef": ef, "queries": len(queries),
                       "recall": recall(py.found[ef], gt, k),
                       "rust_qps": len(queries) / statistics.median(r_),
                       "python_qps": len(queries) / statistics.median(p_),
                       "ratio": statistics.median(ratios),
                       "ratio_iqr": [ratios[len(ratios) // 4], ratios[3 * len(ratios) // 4]],
                       "rust_cpu_qps": len(queries) / statistics.median(rc),
                       "python_cpu_qps": len(queries) / statistics.median(pc),
                       "cpu_ratio": statistics.median(cpu_ratios),
                       "cpu_ratio_iqr": [cpu_ratios[len(ratios) // 4],
                                         cpu_ratios[3 * len(ratios) // 4]],
                       "rust_seconds": r_, "python_seconds": p_,
                       "rust_cpu": rc, "python_cpu": pc}
                summary.append(row)
            print(f"threads {t} done", flush=True)

    print()
    print(f"| {name}, k {k} | threads | ef | recall@{k} | Rust QPS | Python QPS "
          f"| Python / Rust | middle half | Rust QPS per CPU s | Python QPS per CPU s "
          f"| Python / Rust, CPU | middle half |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |")
    for row in summary:
        lo, hi = row["ratio_iqr"]
        clo, chi = row["cpu_ratio_iqr"]
        print(f"| | {row['threads']} | {row['ef']} | {row['recall']:.4f} "
              f"| {row['rust_qps']:,.0f} | {row['python_qps']:,.0f} | {row['ratio']:.3f} "
              f"| {lo:.3f}-{hi:.3f} | {row['rust_cpu_qps']:,.0f} "
              f"| {row['python_cpu_qps']:,.0f} | {row['cpu_ratio']:.3f} | {clo:.3f}-{chi:.3f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
