"""Python threads searching and writing at once: results stay right, and the GIL is
released while the Rust side works."""

import threading
import time

import numpy as np
import pytest

import fletchdb


@pytest.fixture
def filled(db, rng):
    c = db.create_collection("t", dim=32, metric="l2")
    base = rng.standard_normal((3000, 32), dtype=np.float32)
    c.add(np.arange(3000), base)
    return c, base


def run_threads(n, target):
    errors = []

    def wrapped(i):
        try:
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_parallel_searches_match_serial(filled, rng):
    c, _ = filled
    queries = rng.standard_normal((200, 32), dtype=np.float32)
    want = [c.search(q, k=10) for q in queries]
    got = [[None] * len(queries) for _ in range(4)]

    def search_all(t):
        for i, q in enumerate(queries):
            got[t][i] = c.search(q, k=10)

    run_threads(4, search_all)
    for t in range(4):
        for (ids, dist), (wids, wdist) in zip(got[t], want):
            np.testing.assert_array_equal(ids, wids)
            np.testing.assert_array_equal(dist, wdist)
    # Batch searches from several threads at once, too.
    batch = c.search(queries, k=10)
    results = [None] * 3

    def search_batch(t):
        results[t] = c.search(queries, k=10)

    run_threads(3, search_batch)
    for ids, dist in results:
        np.testing.assert_array_equal(ids, batch[0])


def ticks_during(call):
    """How many times this (main) thread ran a Python loop while `call` ran in another."""
    window = []
    done = threading.Event()

    def worker():
        start = time.perf_counter()
        call()
        window.extend([start, time.perf_counter()])
        done.set()

    stamps = []
    t = threading.Thread(target=worker)
    t.start()
    while not done.is_set():
        stamps.append(time.perf_counter())
    t.join()
    start, end = window
    margin = (end - start) * 0.1
    return sum(start + margin < s < end - margin for s in stamps), end - start


def test_gil_released_during_add_and_search(db, rng):
    c = db.create_collection("g", dim=64, metric="l2")
    base = rng.standard_normal((4000, 64), dtype=np.float32)
    ticks, seconds = ticks_during(lambda: c.add(np.arange(4000), base))
    assert seconds > 0.05 and ticks > 100, (ticks, seconds)
    queries = rng.standard_normal((3000, 64), dtype=np.float32)
    ticks, seconds = ticks_during(lambda: c.search(queries, k=10, ef=200))
    assert seconds > 0.05 and ticks > 100, (ticks, seconds)


def test_concurrent_writers_and_searchers(db, rng):
    c = db.create_collection("w", dim=16, metric="cosine")
    n_per_writer = 600
    vectors = rng.standard_normal((4 * n_per_writer, 16), dtype=np.float32) + 0.1
    stop = threading.Event()
    searches = [0, 0]

    def work(i):
        if i < 2:  # writers: single adds and batches, disjoint ids
            lo = i * 2 * n_per_writer
            ids = np.arange(lo, lo + 2 * n_per_writer)
            for j in range(0, n_per_writer, 1):
                c.add(int(ids[j]), vectors[ids[j]])
            for j in range(n_per_writer, 2 * n_per_writer, 50):
                c.upsert(ids[j:j + 50], vectors[ids[j:j + 50]])
        else:  # searchers until the writers are done
            while not stop.is_set():
                q = vectors[rng.integers(len(vectors))]
                ids, dist = c.search(q, k=5)
                real = ids[ids != fletchdb.NO_ID]
                assert (real < len(vectors)).all()
                assert (np.diff(dist[: len(real)]) >= -1e-6).all()
                searches[i - 2] += 1

    writers = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    errors = []

    def searcher(i):
        try:
            work(i)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    readers = [threading.Thread(target=searcher, args=(i,)) for i in (2, 3)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors, errors
    assert all(s > 0 for s in searches)
    assert len(c) == len(vectors)
    stored = c.get(np.arange(len(vectors)))
    want = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    np.testing.assert_allclose(stored, want, rtol=1e-5, atol=1e-6)
    ids, _ = c.search(vectors[:50], k=1, ef=200)
    assert (ids[:, 0] == np.arange(50)).mean() > 0.95


def test_close_while_threads_search(path, open_db, rng):
    db = open_db(path, durability="none")
    c = db.create_collection("c", dim=8, metric="l2")
    c.add(np.arange(500), rng.standard_normal((500, 8), dtype=np.float32))
    outcomes = []

    def search(_):
        q = np.ones(8, dtype=np.float32)
        while True:
            try:
                c.search(q, k=3)
            except fletchdb.ClosedError:
                outcomes.append("closed")
                return

    threads = [threading.Thread(target=search, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    db.close()
    for t in threads:
        t.join()
    assert outcomes == ["closed"] * 3
    with open_db(path) as again:
        assert len(again.collection("c")) == 500
