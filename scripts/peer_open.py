"""Open times of the peers, for the README's "Open, recovery, memory" table: USearch's
`view` (maps a saved index in place) and `load`, and hnswlib's `load_index`, each in a
fresh process (imports before the clock starts), with the first query after it, on N x DIM random vectors.

    python scripts/peer_open.py build DIR N DIM      # once: builds and saves the indexes
    python scripts/peer_open.py open DIR LIB         # LIB: usearch-view, usearch-load, hnswlib

`open` prints one line: open ms, first query answered ms (from before the open). Drop the
page cache before it (`sync; echo 3 > /proc/sys/vm/drop_caches`) for the cold rows.
Needs the peers' virtualenv (`bash ../shared/peers/setup.sh`).
"""
import os
import sys
import time

import numpy as np


def vectors(n, dim, seed):
    # Uniform in [-1, 1), as `db_bench build` makes them.
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (n, dim)).astype(np.float32)


def build(path, n, dim):
    import hnswlib
    from usearch.index import Index

    os.makedirs(path, exist_ok=True)
    data = vectors(n, dim, 1)
    keys = np.arange(n, dtype=np.uint64)
    t = time.perf_counter()
    index = Index(ndim=dim, metric="l2sq", connectivity=16, expansion_add=200)
    index.add(keys, data, threads=os.cpu_count())
    index.save(os.path.join(path, "usearch.index"))
    print(f"usearch built in {time.perf_counter() - t:.0f} s", flush=True)
    t = time.perf_counter()
    h = hnswlib.Index(space="l2", dim=dim)
    h.init_index(max_elements=n, M=16, ef_construction=200)
    h.set_num_threads(os.cpu_count())
    h.add_items(data, keys)
    h.save_index(os.path.join(path, "hnswlib.bin"))
    print(f"hnswlib built in {time.perf_counter() - t:.0f} s", flush=True)
    np.save(os.path.join(path, "dim.npy"), np.array([dim]))


def open_and_query(path, lib):
    dim = int(np.load(os.path.join(path, "dim.npy"))[0])
    query = vectors(1, dim, 2)
    import hnswlib
    from usearch.index import Index

    t = time.perf_counter()
    if lib.startswith("usearch"):
        index = Index.restore(os.path.join(path, "usearch.index"), view=lib == "usearch-view")
        opened = time.perf_counter()
        index.search(query[0], 10)
    else:
        index = hnswlib.Index(space="l2", dim=dim)
        index.load_index(os.path.join(path, "hnswlib.bin"))
        index.set_ef(64)
        opened = time.perf_counter()
        index.knn_query(query, k=10)
    first = time.perf_counter()
    print(f"{lib}: open {(opened - t) * 1e3:.1f} ms, first query at {(first - t) * 1e3:.1f} ms")


if __name__ == "__main__":
    if sys.argv[1] == "build":
        build(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        open_and_query(sys.argv[2], sys.argv[3])
