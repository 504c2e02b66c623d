"""The `threads=` argument of `Collection.search`, `add` and `upsert`: the same results
whatever its value, one cached pool per thread count, bad values refused before anything
changes, and the GIL still released while the work runs."""

import os
from pathlib import Path

import numpy as np
import pytest

import fletchdb
from test_threads import ticks_during

TASKS = Path("/proc/self/task")


def pool_threads(n):
    """How many of this process's threads belong to the binding's pool of `n` threads."""
    prefix = f"fletchdb-{n}t-"
    count = 0
    for task in TASKS.iterdir():
        try:
            if (task / "comm").read_text().startswith(prefix):
                count += 1
        except OSError:  # the thread ended meanwhile
            pass
    return count


@pytest.fixture
def filled(db, rng):
    c = db.create_collection("t", dim=24, metric="cosine")
    base = rng.standard_normal((2000, 24), dtype=np.float32)
    c.add(np.arange(2000), base, metadatas=[{"even": i % 2 == 0} for i in range(2000)])
    return c


@pytest.mark.parametrize("options", [{}, {"where": {"even": True}},
                                     {"filter_ids": np.arange(0, 2000, 7)}])
def test_search_results_do_not_depend_on_threads(filled, rng, options):
    queries = rng.standard_normal((150, 24), dtype=np.float32)
    want_ids, want_dist = filled.search(queries, k=7, ef=40, **options)
    for threads in (1, 2, 3):
        ids, dist = filled.search(queries, k=7, ef=40, threads=threads, **options)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_array_equal(dist, want_dist)
    # One query (1-D) and a one-row array take the same path with any thread count.
    for threads in (None, 1, 2):
        ids, dist = filled.search(queries[3], k=7, ef=40, threads=threads, **options)
        assert ids.shape == (7,)
        np.testing.assert_array_equal(ids, want_ids[3])
        ids, _ = filled.search(queries[3:4], k=7, ef=40, threads=threads, **options)
        np.testing.assert_array_equal(ids, want_ids[3:4])


def test_short_rows_are_padded_with_any_threads(db, rng):
    c = db.create_collection("small", dim=4, metric="l2")
    c.add(np.arange(3), rng.standard_normal((3, 4), dtype=np.float32))
    queries = rng.standard_normal((5, 4), dtype=np.float32)
    for threads in (None, 1, 2):
        ids, dist = c.search(queries, k=5, threads=threads)
        assert ids.shape == (5, 5)
        assert (ids[:, 3:] == fletchdb.NO_ID).all()
        assert np.isinf(dist[:, 3:]).all()
        assert sorted(ids[0, :3].tolist()) == [0, 1, 2]
    ids, dist = c.search(np.empty((0, 4), dtype=np.float32), k=5, threads=2)
    assert ids.shape == (0, 5)


def test_add_and_upsert_with_threads_build_the_same_collection(db, rng):
    base = rng.standard_normal((1500, 16), dtype=np.float32)
    queries = rng.standard_normal((40, 16), dtype=np.float32)
    found = []
    for threads in (None, 1, 2):
        c = db.create_collection(f"c{threads}", dim=16, metric="l2")
        c.add(np.arange(1000), base[:1000], threads=threads)
        c.upsert(np.arange(500, 1500), base[500:], threads=threads)
        c.add(2000, base[0], threads=threads)  # one id: on the calling thread
        assert len(c) == 1501
        np.testing.assert_array_equal(c.get(np.arange(1500)), base)
        # Exact at this ef, so graphs built on different threads give the same answer.
        found.append(c.search(queries, k=5, ef=1600)[0])
    for ids in found[1:]:
        np.testing.assert_array_equal(ids, found[0])


@pytest.mark.parametrize("bad", [0, -1, -(2**40), 1025, 2**63])
def test_bad_threads_raise_and_change_nothing(filled, rng, bad):
    q = rng.standard_normal(24, dtype=np.float32)
    v = rng.standard_normal((2, 24), dtype=np.float32)
    calls = [lambda: filled.search(q, threads=bad),
             lambda: filled.search(v, threads=bad),
             lambda: filled.add([5000, 5001], v, threads=bad),
             lambda: filled.upsert([0, 1], v, threads=bad)]
    before = filled.get([0, 1])
    for call in calls:
        if bad >= 2**63:  # beyond int64: pyo3 refuses it as an OverflowError
            with pytest.raises(OverflowError):
                call()
            continue
        with pytest.raises(fletchdb.InvalidArgumentError, match="threads must be") as e:
            call()
        assert isinstance(e.value, ValueError)
    assert len(filled) == 2000 and 5000 not in filled
    np.testing.assert_array_equal(filled.get([0, 1]), before)


def test_threads_is_an_integer_keyword(filled, rng):
    q = rng.standard_normal(24, dtype=np.float32)
    with pytest.raises(TypeError):
        filled.search(q, threads="2")
    with pytest.raises(TypeError):
        filled.search(q, threads=1.5)
    with pytest.raises(TypeError):  # keyword-only
        filled.search(q, 10, 64, None, None, 2)
    with pytest.raises(TypeError):
        filled.add([7000], q[None, :], None, None, 2)


@pytest.mark.skipif(not TASKS.is_dir(), reason="needs /proc/self/task (Linux)")
def test_one_pool_per_thread_count_built_once(filled, rng):
    queries = rng.standard_normal((64, 24), dtype=np.float32)
    for _ in range(3):
        filled.search(queries, threads=3)
    assert pool_threads(3) == 3
    filled.upsert(np.arange(10), queries[:10], threads=3)
    assert pool_threads(3) == 3
    # A search on one thread runs on the caller's thread: no pool.
    before = pool_threads(1)
    filled.search(queries, threads=1)
    assert pool_threads(1) == before
    # A write on one thread uses a pool of one.
    filled.upsert(np.arange(10), queries[:10], threads=1)
    assert pool_threads(1) == 1


@pytest.mark.parametrize("threads", [1, 2])
def test_gil_released_with_threads(db, rng, threads):
    c = db.create_collection("g", dim=64, metric="l2")
    base = rng.standard_normal((4000, 64), dtype=np.float32)
    ticks, seconds = ticks_during(lambda: c.add(np.arange(4000), base, threads=threads))
    assert seconds > 0.05 and ticks > 100, (ticks, seconds)
    queries = rng.standard_normal((3000, 64), dtype=np.float32)
    ticks, seconds = ticks_during(lambda: c.search(queries, k=10, ef=200, threads=threads))
    assert seconds > 0.05 and ticks > 100, (ticks, seconds)


def test_threads_beyond_the_cores_still_work(filled, rng):
    queries = rng.standard_normal((20, 24), dtype=np.float32)
    many = (os.cpu_count() or 1) * 4
    want, _ = filled.search(queries, k=3)
    got, _ = filled.search(queries, k=3, threads=many)
    np.testing.assert_array_equal(got, want)
