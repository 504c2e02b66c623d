"""Ingest rate and search QPS of fletchdb.ray with 1, 2 and 4 shards beside a single
collection, on one machine (a local Ray cluster on 127.0.0.1).

    FLETCHDB_VENV=.venv bash python/run_tests.sh -q    # builds fletchdb, installs Ray
    .venv/bin/python python/bench/bench_ray.py [--data FILE] [--rows 50000] \\
        [--queries 1000] [--k 10] [--ef 64] [--shards 1,2,4] [--cpus 2] [--batch 5000]

The base vectors are the first --rows of an .fvecs file (default: shared/data's
minilm-mix-dev, 384-d, cosine); the queries are its query file's first --queries.
Each configuration gets a new directory under a temporary folder, durability "sync".

- ingest: --rows vectors added in batches of --batch, one call after another (single:
  `Collection.add`; sharded: `ShardedCollection.add`, which splits each batch by id
  hash and waits for every shard);
- search: the queries in one call (`search(queries, k, ef)`), best of 3 passes, and
  one query per call (latency-bound, as a server sees single requests), best of 3;
- recall@k of the sharded results against the single collection's exact search.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import fletchdb

HERE = Path(__file__).resolve()
DATA = HERE.parents[3] / "shared" / "data" / "minilm-mix-dev" / "minilm-mix-dev_base.fvecs"


def read_fvecs(path, rows):
    """The first ``rows`` vectors of an .fvecs file (each: int32 dim, then dim float32)."""
    raw = np.fromfile(path, dtype=np.int32, count=-1)
    dim = int(raw[0])
    return raw.reshape(-1, dim + 1)[:rows, 1:].view(np.float32).copy()


def timed(fn, reps=1):
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run(coll, base, queries, args):
    ids = np.arange(len(base))
    t = time.perf_counter()
    for lo in range(0, len(base), args.batch):
        coll.add(ids[lo:lo + args.batch], base[lo:lo + args.batch])
    ingest = len(base) / (time.perf_counter() - t)
    coll.search(queries[:10], k=args.k, ef=args.ef)  # warm
    batch_s, (got, _) = timed(lambda: coll.search(queries, k=args.k, ef=args.ef), 3)
    nq1 = min(len(queries), 300)
    one_s, _ = timed(lambda: [coll.search(q, k=args.k, ef=args.ef) for q in queries[:nq1]], 3)
    return ingest, len(queries) / batch_s, nq1 / one_s, got


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--rows", type=int, default=50_000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--ef", type=int, default=64)
    p.add_argument("--shards", default="1,2,4")
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--batch", type=int, default=5000)
    args = p.parse_args()

    base = read_fvecs(args.data, args.rows)
    queries = read_fvecs(args.data.replace("_base.fvecs", "_query.fvecs"), args.queries)
    dim = base.shape[1]
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    rows = []

    with fletchdb.open(tmp / "single") as db:
        coll = db.create_collection("bench", dim=dim, metric="cosine")
        ingest, qps, qps1, got = run(coll, base, queries, args)
        truth, _ = coll.search(queries, k=args.k, ef=len(base))
    rows.append(("single collection", ingest, qps, qps1, recall(got, truth)))

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    from fletchdb.ray import ShardedCollection

    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    try:
        for n in (int(s) for s in args.shards.split(",")):
            coll = ShardedCollection.create("bench", dim, "cosine", shards=n,
                                            path=str(tmp / f"s{n}-{{shard}}"))
            with coll:
                ingest, qps, qps1, got = run(coll, base, queries, args)
            rows.append((f"{n} shard{'s' if n > 1 else ''} (Ray)", ingest, qps, qps1, recall(got, truth)))
    finally:
        ray.shutdown()

    print(f"\n{len(base):,} x {dim}-d cosine, {len(queries)} queries, k {args.k}, ef {args.ef}, "
          f"Ray num_cpus {args.cpus}, {os.cpu_count()} cores\n")
    print("| configuration | ingest (vectors/s) | search QPS, one call of all queries "
          "| search QPS, one query per call | recall@10 vs exact |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, ingest, qps, qps1, rec in rows:
        print(f"| {name} | {ingest:,.0f} | {qps:,.0f} | {qps1:,.0f} | {rec:.3f} |")


def recall(got, truth):
    return float(np.mean([len(set(g) & set(t)) / len(t) for g, t in zip(got, truth)]))


if __name__ == "__main__":
    main()
