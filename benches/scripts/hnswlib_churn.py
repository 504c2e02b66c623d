"""Replay a churn sequence written by `fletchdb-churn --peers` on hnswlib, and print
recall@k and single-thread QPS at each measurement point, as CSV (point,recall,qps,write_s)
rewritten after each point.

    python hnswlib_churn.py SEQ_DIR --rounds 5 --metric l2 [--m 16] [--ef-construction 200]
                            [--ef 64] [--k 10] [--reps 3] [--build-threads 2]
                            --shared ../shared --csv OUT.csv

SEQ_DIR holds base.fvecs (row i is label i), query.fvecs, per round R round-R_deleted.ivecs
(absent when the round deletes nothing), round-R_ids.ivecs and round-R_vectors.fvecs, and per
point P (fresh, 1, 2, ...) truth-P.ivecs: each query's exact nearest live labels. The index is
built with init_index(max_elements=n, M, ef_construction, random_seed=1) and add_items; each
round marks its deletes with mark_deleted, then add_items with existing labels, which hnswlib
updates in place. Search: set_ef(ef), one thread, one untimed pass, then the median of --reps
passes of knn_query over all queries. Cosine data are normalised and searched with inner
product, as run_peers.py does.
"""
import argparse, csv, os, sys, time
import numpy as np
import hnswlib

ap = argparse.ArgumentParser()
ap.add_argument("seq")
ap.add_argument("--rounds", type=int, required=True)
ap.add_argument("--metric", required=True, choices=["l2", "cosine", "ip"])
ap.add_argument("--m", type=int, default=16)
ap.add_argument("--ef-construction", type=int, default=200)
ap.add_argument("--ef", type=int, default=64)
ap.add_argument("--k", type=int, default=10)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--build-threads", type=int, default=os.cpu_count())
ap.add_argument("--shared", required=True, help="the shared directory holding data/texmex.py")
ap.add_argument("--csv", required=True)
a = ap.parse_args()
sys.path.insert(0, os.path.join(a.shared, "data"))
from texmex import read_vecs  # noqa: E402


def load(name, dtype=np.float32):
    return read_vecs(os.path.join(a.seq, name), dtype)


def vectors(name):
    x = load(name)
    if a.metric == "cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


base = vectors("base.fvecs")
query = vectors("query.fvecs")
n, d = base.shape
idx = hnswlib.Index(space="l2" if a.metric == "l2" else "ip", dim=d)
idx.init_index(max_elements=n, M=a.m, ef_construction=a.ef_construction, random_seed=1)
rows = []


def measure(point, write_s):
    gt = load(f"truth-{point}.ivecs", np.int32)[:, : a.k]
    idx.set_ef(max(a.ef, a.k))
    idx.set_num_threads(1)
    idx.knn_query(query, k=a.k)
    times = []
    for _ in range(max(a.reps, 1)):
        t = time.perf_counter()
        labels, _ = idx.knn_query(query, k=a.k)
        times.append(time.perf_counter() - t)
    recall = float(np.mean([len(np.intersect1d(labels[i], gt[i])) for i in range(len(gt))]) / a.k)
    qps = len(query) / sorted(times)[len(times) // 2]
    rows.append({"point": point, "recall": round(recall, 4), "qps": round(qps, 1),
                 "write_s": round(write_s, 2)})
    print(f"  hnswlib  {point:>6}: recall@{a.k}={recall:.4f} qps={qps:8.0f} (writes {write_s:.1f} s)",
          flush=True)
    # After every point, so an interrupted replay keeps what it measured.
    with open(a.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    idx.set_num_threads(a.build_threads)


idx.set_num_threads(a.build_threads)
t = time.perf_counter()
idx.add_items(base, np.arange(n))
measure("fresh", time.perf_counter() - t)
for r in range(1, a.rounds + 1):
    deleted = os.path.join(a.seq, f"round-{r}_deleted.ivecs")
    ids = load(f"round-{r}_ids.ivecs", np.int32).ravel()
    new = vectors(f"round-{r}_vectors.fvecs")
    t = time.perf_counter()
    if os.path.exists(deleted):
        for label in read_vecs(deleted, np.int32).ravel():
            idx.mark_deleted(int(label))
    idx.add_items(new, ids)
    measure(str(r), time.perf_counter() - t)
