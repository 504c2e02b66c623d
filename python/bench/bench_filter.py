"""Filtered search in FletchDB beside Chroma: recall@10 and queries per second of `where`
searches on minilm-mix-dev's real metadata, at selectivities from ~0.02 % to ~58 %, in
one run.

    python -m venv /tmp/chroma-venv
    /tmp/chroma-venv/bin/pip install ./python numpy chromadb==1.5.9
    /tmp/chroma-venv/bin/python python/bench/bench_filter.py --rows 100000 [--csv out.csv]

(From the repository root; `pip install ./python` compiles the extension. Any virtualenv
works: the script only imports `fletchdb`, `numpy` and `chromadb`.)

Data: `--data DIR` (default ../shared/data/minilm-mix-dev beside the repository) holds
DIR_base.fvecs, DIR_query.fvecs and DIR_base.meta.jsonl (one JSON object per base row:
source; wordnet rows pos, lexname, word, kind; debian rows package, section, priority,
installed_size_kib). `--rows N` takes the first N base rows and their metadata,
`--queries Q` the first Q queries. Both systems get the same rows, metadata, ids
(FletchDB the row number, Chroma its decimal string) and cosine distance.

The filters are those of the Rust runner `benches/src/bin/fletchdb-filter.rs` (FILTERS),
with the two that use implicit conjunction (two keys in one object, two operators on
one key) written as an explicit `$and`, which Chroma requires; both systems get the
identical JSON.

Ground truth: each filter is evaluated on the metadata here in Python, with Chroma's
semantics (a condition on a key matches only rows having the key with a non-null value;
int and float compare as numbers, bool only with bool, str only with str), and the exact
top-k among the matching rows is found with numpy. The match counts are checked against
both systems' own (`col.count(where)`, Chroma's `get(where)`). recall@k is the true
neighbours found over sum of min(k, matches) per query.

Timing: after a warm-up, each filter is measured in `--reps` rounds (median kept) of
four interleaved batch calls over all the queries: FletchDB unfiltered, FletchDB
filtered, Chroma unfiltered, Chroma filtered. The ratio column is the filtered QPS over
that system's unfiltered QPS timed beside it, which is what to compare on a shared
machine. The process's CPU time over wall time during each system's calls is reported
too (about 1.0 means one core).

Threads: RAYON_NUM_THREADS=1 is set before either library is imported, so FletchDB
searches a batch on one thread. Chroma 1.5's local executor searches the queries of a
`query()` call one after another on one thread (its HNSW `num_threads` setting applies to
inserts, which run on rayon's pool), so both search on one core; as both libraries take
their rayon pool size from that variable, both builds' parallel inserts use one thread too.
Chroma evaluates a `where` once per `query()` call (in SQLite, then maps the matching ids
to its index's labels) and searches every query of the batch with that allowed set, so
its filter cost per query falls as the batch grows: compare at the same `--queries`.

Links: before timing a filter, FletchDB builds its links among the filter's records
(`prepare_filter`; filters of 8,192 matches or more and at most half the rows), as its
background thread does after
a filter's second search; the build time goes to stderr.

Parameters: FletchDB m 16, ef_construction 200, searched with `--ef` (64). Chroma keeps
its defaults (max_neighbors 16, ef_construction 100, ef_search 100, read back from the
collection and printed) with `configuration={"hnsw": {"space": "cosine"}}`, and is asked
for `include=["distances"]` only (FletchDB returns ids and distances). Adds go in batches
of `--batch` rows (at most Chroma's `get_max_batch_size()`).
"""

import os

# Before fletchdb (and chromadb, whose Rust core also uses rayon) is imported: rayon reads
# it when its global pool starts.
os.environ["RAYON_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import fletchdb  # noqa: E402

try:
    import chromadb  # noqa: E402
    from chromadb.config import Settings  # noqa: E402
except ImportError:
    sys.exit("chromadb is not installed: pip install chromadb==1.5.9 (see the top of this file)")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# (name, where): those of benches/src/bin/fletchdb-filter.rs, in its order (by selectivity
# on the 100,000 rows), implicit conjunctions spelled as $and.
FILTERS = [
    ("section education", {"section": "education"}),
    ("priority extra", {"priority": "extra"}),
    ("size >= 100000", {"installed_size_kib": {"$gte": 100000}}),
    ("lexname noun.food", {"lexname": "noun.food"}),
    ("pos adv", {"pos": "adv"}),
    ("doc and size >= 1000",
     {"$and": [{"section": "doc"}, {"installed_size_kib": {"$gte": 1000}}]}),
    ("size < 20", {"installed_size_kib": {"$lt": 20}}),
    ("size 100..200",
     {"$and": [{"installed_size_kib": {"$gte": 100}}, {"installed_size_kib": {"$lt": 200}}]}),
    ("section python or perl", {"section": {"$in": ["python", "perl"]}}),
    ("verb or libs", {"$or": [{"pos": "verb"}, {"section": "libs"}]}),
    ("size >= 1000", {"installed_size_kib": {"$gte": 1000}}),
    ("pos noun", {"pos": "noun"}),
    ("source wordnet", {"source": "wordnet"}),
    ("source debian", {"source": "debian"}),
]


# --- the where evaluator (Chroma's semantics) -------------------------------------------

def _is_num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _eq(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_num(a) and _is_num(b):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return False


def _cond(value, op, arg):
    """Whether a present, non-null metadata value satisfies one operator."""
    if isinstance(value, list):
        if op == "$contains":
            return any(_eq(v, arg) for v in value)
        if op == "$not_contains":
            return not any(_eq(v, arg) for v in value)
        return False
    if op == "$eq":
        return _eq(value, arg)
    if op == "$ne":
        return not _eq(value, arg)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if not (_is_num(value) and _is_num(arg)):
            return False
        return {"$gt": value > arg, "$gte": value >= arg,
                "$lt": value < arg, "$lte": value <= arg}[op]
    if op == "$in":
        return any(_eq(value, a) for a in arg)
    if op == "$nin":
        return not any(_eq(value, a) for a in arg)
    if op in ("$contains", "$not_contains"):
        return False
    raise ValueError(f"unknown operator {op}")


def matches(meta, where):
    """Whether one row's metadata (a dict or None) matches a where filter."""
    meta = meta or {}
    for key, cond in where.items():
        if key == "$and":
            if not all(matches(meta, w) for w in cond):
                return False
        elif key == "$or":
            if not any(matches(meta, w) for w in cond):
                return False
        else:
            value = meta.get(key)
            if value is None:
                return False
            ops = cond.items() if isinstance(cond, dict) else [("$eq", cond)]
            if not all(_cond(value, op, arg) for op, arg in ops):
                return False
    return True


# --- data ------------------------------------------------------------------------------

def read_fvecs(path, rows=None):
    """The first `rows` rows (all when None) of a texmex .fvecs file, as float32 (n, d)."""
    d = int(np.fromfile(path, dtype=np.int32, count=1)[0])
    count = -1 if rows is None else rows * (d + 1)
    raw = np.fromfile(path, dtype=np.int32, count=count)
    return np.ascontiguousarray(raw.reshape(-1, d + 1)[:, 1:]).view(np.float32)


def read_meta(path, rows):
    metas = []
    with open(path) as f:
        for line in f:
            if len(metas) == rows:
                break
            metas.append(json.loads(line))
    return metas


def normalised(x):
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


# --- measuring -------------------------------------------------------------------------

def timed(fn):
    """(wall seconds, process CPU seconds, fn's result)."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def recall(found, truth, k):
    """True neighbours found over the sum of min(k, matches) per query."""
    got = wanted = 0
    for f, t in zip(found, truth):
        t = set(t.tolist())
        wanted += len(t)
        got += len(t.intersection(f))
    return (1.0 if wanted == 0 else got / wanted)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path,
                    default=REPO.parent / "shared" / "data" / "minilm-mix-dev",
                    help="folder DIR holding DIR_base.fvecs, DIR_query.fvecs, "
                         "DIR_base.meta.jsonl")
    ap.add_argument("--rows", type=int, default=None, help="first base rows (default all)")
    ap.add_argument("--queries", type=int, default=200, help="first queries (default 200)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", type=int, default=64, help="FletchDB's search ef")
    ap.add_argument("--reps", type=int, default=3,
                    help="timed rounds per filter, the median kept (default 3)")
    ap.add_argument("--batch", type=int, default=5000, help="rows per add call")
    ap.add_argument("--dir", type=Path,
                    help="build both databases under here (default: a temporary folder, "
                         "removed at the end)")
    ap.add_argument("--csv", type=Path, help="also write one line per filter and system here")
    args = ap.parse_args()
    k = args.k

    name = args.data.name
    base = normalised(read_fvecs(args.data / f"{name}_base.fvecs", args.rows))
    queries = normalised(read_fvecs(args.data / f"{name}_query.fvecs", args.queries))
    metas = read_meta(args.data / f"{name}_base.meta.jsonl", len(base))
    if len(metas) != len(base):
        sys.exit(f"{len(metas)} metadata lines for {len(base)} rows")
    n, dim = base.shape
    nq = len(queries)

    tmp = None
    if args.dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="fletchdb-bench-filter-")
        workdir = Path(tmp.name)
    else:
        workdir = args.dir
        workdir.mkdir(parents=True, exist_ok=True)

    # FletchDB.
    db = fletchdb.open(workdir / "fletchdb")
    if "filter" in db.list_collections():
        db.drop_collection("filter")
    fcol = db.create_collection("filter", dim=dim, metric="cosine")

    # Chroma.
    client = chromadb.PersistentClient(path=str(workdir / "chroma"),
                                       settings=Settings(anonymized_telemetry=False))
    try:
        client.delete_collection("filter")
    except Exception:
        pass
    ccol = client.create_collection("filter", configuration={"hnsw": {"space": "cosine"}},
                                    embedding_function=None)
    hnsw = (ccol.configuration or {}).get("hnsw") or {}
    if hnsw.get("space") != "cosine":
        sys.exit(f"Chroma's collection is not cosine: {ccol.configuration}")
    batch = min(args.batch, client.get_max_batch_size())

    ids = np.arange(n, dtype=np.uint64)
    sids = [str(i) for i in range(n)]

    def fletch_build():
        for s in range(0, n, batch):
            fcol.add(ids[s:s + batch], base[s:s + batch], metadatas=metas[s:s + batch])
        fcol.checkpoint()

    def chroma_build():
        for s in range(0, n, batch):
            ccol.add(ids=sids[s:s + batch], embeddings=base[s:s + batch],
                     metadatas=metas[s:s + batch])

    fbuild, fbuild_cpu, _ = timed(fletch_build)
    cbuild, cbuild_cpu, _ = timed(chroma_build)
    if len(fcol) != n or ccol.count() != n:
        sys.exit(f"built {len(fcol)} (FletchDB) and {ccol.count()} (Chroma) of {n} rows")

    def fletch(where):
        labels, _ = fcol.search(queries, k=k, ef=args.ef, where=where)
        return [set(int(i) for i in row if i != fletchdb.NO_ID) for row in labels]

    def chroma(where):
        res = ccol.query(query_embeddings=queries, n_results=k, where=where,
                         include=["distances"])
        return [set(int(i) for i in row) for row in res["ids"]]

    # Warm-up (the first Chroma query also loads its index), timed for the record.
    ffirst, _, _ = timed(lambda: fletch(None))
    cfirst, _, _ = timed(lambda: chroma(None))

    # Exact similarities of every query to every row, once; each filter picks columns.
    sims = queries @ base.T

    print(f"\n{name}: {n} rows x {dim}, {nq} queries, k {k}; {os.cpu_count()} cores; "
          f"median of {args.reps} rounds")
    print(f"FletchDB {getattr(fletchdb, '__version__', '?')}: m 16, ef_construction 200, "
          f"ef {args.ef}; built in {fbuild:.1f} s ({fbuild_cpu:.1f} s CPU; adds of {batch} "
          f"rows and a checkpoint), first batch {ffirst * 1e3:.0f} ms")
    print(f"Chroma {chromadb.__version__}: its defaults, max_neighbors "
          f"{hnsw.get('max_neighbors')}, ef_construction {hnsw.get('ef_construction')}, "
          f"ef_search {hnsw.get('ef_search')} (default hnsw:search_ef); built in "
          f"{cbuild:.1f} s ({cbuild_cpu:.1f} s CPU; adds of {batch} rows), first batch "
          f"{cfirst * 1e3:.0f} ms")
    print("search threads: FletchDB 1 (RAYON_NUM_THREADS=1), Chroma 1 (its local executor "
          "searches a batch's queries one by one); both builds' rayon inserts 1 thread\n")

    rows = []
    cpu = {"FletchDB": [0.0, 0.0], "Chroma": [0.0, 0.0]}
    print(f"| filter | matches | selectivity | FletchDB recall@{k} | FletchDB QPS "
          f"| FletchDB ratio | Chroma recall@{k} | Chroma QPS | Chroma ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for fname, where in FILTERS:
        mask = np.fromiter((matches(m, where) for m in metas), dtype=bool, count=n)
        matching = np.flatnonzero(mask)
        nm = len(matching)
        fcount = fcol.count(where=where)
        ccount = len(ccol.get(where=where, include=[])["ids"])
        if not (fcount == ccount == nm):
            print(f"warning: {fname}: {nm} matches here, {fcount} in FletchDB, {ccount} in "
                  f"Chroma", file=sys.stderr)
        # FletchDB's links among a wide filter's records, built now as its background
        # thread would after the filter's second search (none for fewer than 8,192).
        built, _, linked = timed(lambda: fcol.prepare_filter(where))
        if linked:
            print(f"{fname}: FletchDB's links built in {built:.2f} s", file=sys.stderr)
        kk = min(k, nm)
        if kk:
            s = sims[:, matching]
            top = np.argpartition(-s, kk - 1, axis=1)[:, :kk] if kk < nm else \
                np.tile(np.arange(nm), (nq, 1))
            truth = matching[top]
        else:
            truth = np.zeros((nq, 0), dtype=np.int64)

        times = {key: [] for key in ("fu", "ff", "cu", "cf")}
        out = {}
        for _ in range(max(1, args.reps)):
            for key, system, fn, w in (("fu", "FletchDB", fletch, None),
                                       ("ff", "FletchDB", fletch, where),
                                       ("cu", "Chroma", chroma, None),
                                       ("cf", "Chroma", chroma, where)):
                wall, c, res = timed(lambda: fn(w))
                times[key].append(wall)
                cpu[system][0] += c
                cpu[system][1] += wall
                out[key] = res
        qps = {key: nq / statistics.median(t) for key, t in times.items()}
        for key, res in out.items():
            if key in ("ff", "cf"):
                stray = sum(1 for r in res for i in r if not mask[i])
                if stray:
                    print(f"warning: {fname}: {'FletchDB' if key == 'ff' else 'Chroma'} "
                          f"returned {stray} rows that do not match", file=sys.stderr)
        frec = recall(out["ff"], truth, k)
        crec = recall(out["cf"], truth, k)
        sel = 100.0 * nm / n
        print(f"| {fname} | {nm} | {sel:.2f} % | {frec:.3f} | {qps['ff']:.0f} "
              f"| {qps['ff'] / qps['fu']:.2f} | {crec:.3f} | {qps['cf']:.0f} "
              f"| {qps['cf'] / qps['cu']:.2f} |", flush=True)
        for system, r, fq, uq in (("fletchdb", frec, qps["ff"], qps["fu"]),
                                  ("chroma", crec, qps["cf"], qps["cu"])):
            rows.append({"filter": fname, "where": json.dumps(where), "rows": n,
                         "queries": nq, "k": k, "matches": nm,
                         "selectivity": round(nm / n, 6), "system": system,
                         "ef": args.ef if system == "fletchdb" else hnsw.get("ef_search"),
                         "recall": round(r, 4), "qps": round(fq, 1),
                         "unfiltered_qps": round(uq, 1), "ratio": round(fq / uq, 4)})

    share = {s: (c / w if w else math.nan) for s, (c, w) in cpu.items()}
    print(f"\nprocess CPU time / wall time during the searches: FletchDB "
          f"{share['FletchDB']:.2f}, Chroma {share['Chroma']:.2f} (1.00 = one core busy)")
    truth = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    print(f"unfiltered recall@{k}: FletchDB {recall(fletch(None), truth, k):.3f}, "
          f"Chroma {recall(chroma(None), truth, k):.3f}")

    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {args.csv}")

    db.close()
    del ccol, client
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
