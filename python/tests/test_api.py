"""Round trips through the API: add, upsert, delete, get, search, filters, padding,
persistence across reopen, close semantics, collections."""

import time

import numpy as np
import pytest

import fletchdb


def brute_force(base, queries, k, metric):
    """Exact k nearest ids (row indices) and distances, as FletchDB defines them."""
    base = base.astype(np.float64)
    queries = np.atleast_2d(queries).astype(np.float64)
    if metric == "l2":
        d = ((queries[:, None, :] - base[None, :, :]) ** 2).sum(-1)
    elif metric == "ip":
        d = 1.0 - queries @ base.T
    else:
        b = base / np.linalg.norm(base, axis=1, keepdims=True)
        q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        d = 1.0 - q @ b.T
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


def test_round_trip(db, rng):
    c = db.create_collection("docs", dim=8, metric="l2")
    v = rng.standard_normal((100, 8), dtype=np.float32)
    c.add(np.arange(100), v)
    assert len(c) == 100
    assert 5 in c and 100 not in c and -1 not in c and "x" not in c
    np.testing.assert_array_equal(c.get([3, 7]), v[[3, 7]])
    np.testing.assert_array_equal(c.get(3), v[3])
    assert c.get(3).dtype == np.float32 and c.get(3).shape == (8,)
    assert c.get([]).shape == (0, 8)

    ids, dist = c.search(v[10], k=5)
    assert ids.shape == (5,) and dist.shape == (5,)
    assert ids.dtype == np.uint64 and dist.dtype == np.float32
    assert ids[0] == 10 and dist[0] == 0.0
    assert (np.diff(dist) >= 0).all()

    c.upsert(10, v[11])
    np.testing.assert_array_equal(c.get(10), v[11])
    assert len(c) == 100

    assert c.delete([10, 11, 12345]) == 2
    assert c.delete(10) == 0
    assert len(c) == 98 and 10 not in c
    ids, _ = c.search(v[11], k=98)
    assert 10 not in ids and 11 not in ids


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_search_matches_brute_force(db, rng, metric):
    c = db.create_collection("m", dim=16, metric=metric)
    base = rng.standard_normal((500, 16), dtype=np.float32)
    if metric == "ip":
        base /= np.linalg.norm(base, axis=1, keepdims=True)
    c.add(np.arange(500), base)
    queries = rng.standard_normal((20, 16), dtype=np.float32)
    # ef of the collection size: the HNSW search is exhaustive, so exact.
    ids, dist = c.search(queries, k=10, ef=500)
    want_ids, want_dist = brute_force(base, queries, 10, metric)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(dist, want_dist, rtol=1e-4, atol=1e-4)


def test_recall_at_default_ef(db, rng):
    c = db.create_collection("r", dim=32, metric="l2")
    base = rng.standard_normal((3000, 32), dtype=np.float32)
    c.add(np.arange(3000), base)
    queries = rng.standard_normal((100, 32), dtype=np.float32)
    ids, _ = c.search(queries, k=10)
    want, _ = brute_force(base, queries, 10, "l2")
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, want)])
    assert recall > 0.9


def test_padding_when_fewer_than_k(db):
    c = db.create_collection("small", dim=2, metric="l2")
    c.add([1, 2], [[0, 0], [1, 0]])
    ids, dist = c.search([0, 0], k=4)
    assert ids.tolist() == [1, 2, fletchdb.NO_ID, fletchdb.NO_ID]
    assert dist[0] == 0 and dist[1] == 1 and np.isinf(dist[2:]).all()
    assert fletchdb.NO_ID == 2**64 - 1

    ids, dist = c.search(np.zeros((3, 2)), k=3)
    assert ids.shape == (3, 3) and (ids[:, 2] == fletchdb.NO_ID).all()

    empty = c.search(np.zeros((0, 2)), k=3)
    assert empty[0].shape == (0, 3) and empty[1].shape == (0, 3)


def test_empty_collection_search(db):
    c = db.create_collection("e", dim=3, metric="cosine")
    ids, dist = c.search([1, 0, 0], k=2)
    assert ids.tolist() == [fletchdb.NO_ID] * 2 and np.isinf(dist).all()


def test_filter_ids(db, rng):
    c = db.create_collection("f", dim=4, metric="l2")
    v = rng.standard_normal((200, 4), dtype=np.float32)
    c.add(np.arange(200), v)
    allowed = np.array([3, 50, 199, 1000])  # unknown ids are ignored
    ids, dist = c.search(v[0], k=5, filter_ids=allowed)
    assert set(ids[:3].tolist()) == {3, 50, 199}
    assert ids[3] == fletchdb.NO_ID and np.isinf(dist[3])
    # Batch queries with a filter, a list filter, an empty filter.
    ids, _ = c.search(v[:4], k=2, filter_ids=[7, 8])
    assert set(ids.ravel().tolist()) == {7, 8}
    ids, _ = c.search(v[0], k=2, filter_ids=[])
    assert ids.tolist() == [fletchdb.NO_ID] * 2
    # A large filter goes through the graph search and still only returns allowed ids.
    even = np.arange(0, 200, 2, dtype=np.uint64)
    ids, _ = c.search(v[:10], k=10, filter_ids=even)
    assert (ids % 2 == 0).all()


def test_cosine_stores_normalised(db):
    c = db.create_collection("cos", dim=2, metric="cosine")
    c.add(1, [3.0, 4.0])
    np.testing.assert_allclose(c.get(1), [0.6, 0.8], rtol=1e-6)
    _, dist = c.search([6.0, 8.0], k=1)
    assert abs(dist[0]) < 1e-6


def test_persistence_across_reopen(path, rng, open_db):
    v = rng.standard_normal((300, 12), dtype=np.float32)
    with open_db(path) as db:
        a = db.create_collection("a", dim=12, metric="l2", m=8, ef_construction=50)
        a.add(np.arange(300), v)
        a.delete([0, 1])
        a.upsert(2, v[3])
        db.create_collection("b", dim=3, metric="ip").add(7, [1, 2, 3])
    with open_db(path) as db:
        assert db.replayed_at_open == 0
        assert db.list_collections() == ["a", "b"]
        a = db.collection("a")
        assert (a.dim, a.metric, a.m, a.ef_construction) == (12, "l2", 8, 50)
        assert len(a) == 298 and 0 not in a and 299 in a
        np.testing.assert_array_equal(a.get(2), v[3])
        np.testing.assert_array_equal(a.get(np.arange(4, 300)), v[4:])
        assert a.search(v[100], k=1)[0][0] == 100
        np.testing.assert_array_equal(db.collection("b").get(7), [1, 2, 3])


def test_reopen_without_clean_close_replays(path, rng, open_db):
    v = rng.standard_normal((50, 4), dtype=np.float32)
    db = open_db(path, checkpoint_on_close=False, checkpoint_interval_s=None)
    db.create_collection("c", dim=4, metric="l2").add(np.arange(50), v)
    db.close()
    with open_db(path) as db:
        assert db.replayed_at_open > 0
        np.testing.assert_array_equal(db.collection("c").get(np.arange(50)), v)


def test_replayed_vectors_are_searchable_at_once(path, rng, open_db):
    v = rng.standard_normal((3000, 8), dtype=np.float32)
    db = open_db(path, checkpoint_on_close=False, checkpoint_interval_s=None)
    db.create_collection("c", dim=8, metric="l2").add(np.arange(3000), v)
    db.close()
    q = rng.standard_normal((5, 8), dtype=np.float32)
    d = ((q[:, None, :] - v[None, :, :]) ** 2).sum(-1)
    want = np.argsort(d, axis=1, kind="stable")[:, :10]
    for linking in (True, False):
        # Open returns before the background thread has put the replayed vectors into
        # the graph (or, with background_linking=False, after it has); an exhaustive
        # search finds every one either way.
        with open_db(path, checkpoint_on_close=False, background_linking=linking) as db:
            c = db.collection("c")
            s = c.stats()
            assert s["live"] == 3000 and 0 <= s["unlinked"] <= 3000
            if not linking:
                assert s["unlinked"] == 0
            ids, _ = c.search(q, k=10, ef=4000)
            np.testing.assert_array_equal(ids, want)
    with open_db(path) as db:
        c = db.collection("c")
        db.checkpoint()  # inserts whatever is left first
        assert c.stats()["unlinked"] == 0
        ids, _ = c.search(q, k=10, ef=4000)
        np.testing.assert_array_equal(ids, want)


@pytest.mark.parametrize("durability", ["sync", "buffered", "none"])
def test_durability_modes(path, durability, open_db):
    with open_db(path, durability=durability, commit_window_us=50) as db:
        c = db.create_collection("c", dim=2, metric="l2")
        c.add([1, 2], [[1, 2], [3, 4]])
        c.flush()
        db.checkpoint()
        c.checkpoint()
    with open_db(path) as db:
        assert len(db.collection("c")) == 2


def test_close_revokes_collections_and_releases_lock(path, open_db):
    db = open_db(path)
    c = db.create_collection("c", dim=2, metric="l2")
    c.add(1, [0, 1])
    c2 = db.collection("c")
    assert "c" in db and "d" not in db
    db.close()
    db.close()  # twice is fine
    assert db.closed
    for call in (lambda: len(c), lambda: c.search([0, 1]), lambda: c2.add(2, [1, 1]),
                 lambda: db.collection("c"), db.flush, db.list_collections):
        with pytest.raises(fletchdb.ClosedError):
            call()
    # c and c2 still exist, but the directory is free again.
    with open_db(path) as again:
        assert len(again.collection("c")) == 1


def test_context_manager_closes_on_exception(path, open_db):
    with pytest.raises(RuntimeError):
        with open_db(path) as db:
            c = db.create_collection("c", dim=2, metric="l2")
            raise RuntimeError("boom")
    assert db.closed
    with pytest.raises(fletchdb.ClosedError):
        len(c)


def test_dropping_objects_releases_lock(path, open_db):
    db = open_db(path)
    c = db.create_collection("c", dim=2, metric="l2")
    del db  # the collection still holds the database open
    with pytest.raises(fletchdb.LockedError):
        open_db(path)
    del c
    open_db(path).close()


def test_collections(db):
    a = db.create_collection("a", dim=3, metric="cosine")
    assert a.name == "a" and a.dim == 3 and a.metric == "cosine"
    assert (a.m, a.ef_construction) == (16, 200)
    assert repr(a) == "<fletchdb.Collection 'a' dim=3 metric='cosine'>"
    assert repr(db).startswith("<fletchdb.Database ") and repr(db).endswith(" open>")
    db.create_collection("b", 5, "ip", 4, 10, seed=7)
    assert db.list_collections() == ["a", "b"]
    same = db.get_or_create_collection("a", dim=3, metric="cosine")
    assert same.name == "a"
    new = db.get_or_create_collection("c", dim=2, metric="l2")
    assert new.dim == 2 and db.list_collections() == ["a", "b", "c"]
    with pytest.raises(fletchdb.InvalidArgumentError):
        db.get_or_create_collection("a", dim=4, metric="cosine")
    a.add(1, [1, 0, 0])
    db.drop_collection("a")
    assert db.list_collections() == ["b", "c"]
    with pytest.raises(fletchdb.CollectionNotFoundError):
        a.search([1, 0, 0])
    # The name can be used again.
    assert len(db.create_collection("a", dim=3, metric="l2")) == 0


def test_metric_aliases(db):
    assert db.create_collection("x", dim=2, metric="L2").metric == "l2"
    assert db.create_collection("y", dim=2, metric="inner_product").metric == "ip"
    assert db.create_collection("z", dim=2, metric="COSINE").metric == "cosine"


def test_module_surface():
    assert isinstance(fletchdb.__version__, str)
    for name in fletchdb.__all__:
        assert hasattr(fletchdb, name), name
    assert fletchdb.Database.__module__ == "fletchdb"
    assert fletchdb.open.__doc__ and fletchdb.Collection.search.__doc__
    with pytest.raises(TypeError):
        fletchdb.Database()


def test_delete_many(path, open_db, rng):
    # One log group for the lot; absent ids are skipped and repeated ones count once.
    with open_db(path) as db:  # durability "sync"
        c = db.create_collection("d", dim=4, metric="l2")
        c.add(np.arange(1000), rng.standard_normal((1000, 4), dtype=np.float32))
        doomed = np.concatenate([np.arange(0, 1000, 2), np.arange(5000, 5100), [0, 2, 4]])
        assert c.delete(doomed) == 500
        assert len(c) == 500
        assert all(i in c for i in range(1, 1000, 2)) and not any(i in c for i in range(0, 1000, 2))
    with open_db(path) as db:
        assert len(db.collection("d")) == 500


def test_delete_absent_repeated_and_empty(db):
    c = db.create_collection("d", dim=2, metric="l2")
    c.add([1, 2, 3], np.ones((3, 2)))
    assert c.delete([]) == 0
    assert c.delete(np.array([], dtype=np.uint64)) == 0
    assert c.delete([7, 8, 7]) == 0
    assert c.delete([3, 3, 3]) == 1
    assert c.delete([2, 9, 1, 2]) == 2
    assert len(c) == 0


def test_get_many(db, rng):
    c = db.create_collection("g", dim=5, metric="l2")
    v = rng.standard_normal((300, 5), dtype=np.float32)
    c.add(np.arange(300), v)
    order = rng.permutation(300)
    np.testing.assert_array_equal(c.get(order), v[order])
    np.testing.assert_array_equal(c.get([4, 4, 0]), v[[4, 4, 0]])
    # The first missing id is named, whatever follows it.
    with pytest.raises(fletchdb.IdNotFoundError) as e:
        c.get([5, 1000, 6, 2000])
    assert e.value.id == 1000 and str(e.value) == 'id 1000 not found in collection "g"'


def test_get_or_create_collection(db):
    a = db.get_or_create_collection("a", dim=3, metric="l2", m=8, ef_construction=50, seed=1)
    a.add(1, [1, 2, 3])
    # An existing collection keeps its own graph parameters.
    again = db.get_or_create_collection("a", dim=3, metric="euclidean")
    assert (again.m, again.ef_construction, len(again)) == (8, 50, 1)
    with pytest.raises(fletchdb.InvalidArgumentError) as e:
        db.get_or_create_collection("a", dim=4, metric="l2")
    assert "dim 3" in str(e.value) and "dim 4" in str(e.value)
    with pytest.raises(fletchdb.InvalidArgumentError) as e:
        db.get_or_create_collection("a", dim=3, metric="cosine")
    assert "l2" in str(e.value) and "cosine" in str(e.value)
    with pytest.raises(fletchdb.InvalidArgumentError, match="unknown metric"):
        db.get_or_create_collection("a", dim=3, metric="manhattan")
    assert db.list_collections() == ["a"]


HEALTH_TYPES = {
    "checkpoint_lsn": int,
    "replayed_at_open": int,
    "background_checkpoints": int,
    "background_errors": int,
    "last_background_error": type(None),
    "opened_ms": float,
    "open_steps_ms": dict,
}


def test_health(path, open_db, rng):
    v = rng.standard_normal((50, 4), dtype=np.float32)
    with open_db(path, checkpoint_on_close=False, checkpoint_interval_s=None) as db:
        h = db.health()
        assert {k: type(x) for k, x in h.items()} == HEALTH_TYPES
        assert h["replayed_at_open"] == 0 and h["background_errors"] == 0
        db.create_collection("c", dim=4, metric="l2").add(np.arange(50), v)
    with open_db(path, checkpoint_interval_s=None) as db:
        h = db.health()
        assert h["replayed_at_open"] == db.replayed_at_open > 0
        steps = h["open_steps_ms"]
        assert set(steps) == {"catalog", "stores", "replay", "linking"}
        assert all(ms > 0 for ms in steps.values()), steps
        assert sum(steps.values()) <= h["opened_ms"], h
        before = h["checkpoint_lsn"]
        db.checkpoint()
        assert db.health()["checkpoint_lsn"] > before
    # A background checkpoint, due after every byte of log, is counted.
    with open_db(path, checkpoint_bytes=1, checkpoint_interval_s=None) as db:
        db.collection("c").upsert(0, v[1])
        deadline = time.monotonic() + 10
        while db.health()["background_checkpoints"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        h = db.health()
        assert h["background_checkpoints"] >= 1, h
        assert h["background_errors"] == 0 and h["last_background_error"] is None
    with pytest.raises(fletchdb.ClosedError):
        db.health()


def test_close_with_live_collection_handles(path, open_db):
    db = open_db(path)
    c = db.create_collection("c", dim=2, metric="l2")
    c.add([1, 2], [[0, 1], [1, 0]])
    db.close()
    for call in (lambda: c.get(1), lambda: c.delete([1, 2]), lambda: c.delete([]),
                 lambda: c.upsert(3, [1, 1]), lambda: 1 in c):
        with pytest.raises(fletchdb.ClosedError):
            call()
    # The handle is alive, yet the directory opens again at once.
    with open_db(path) as again:
        assert again.replayed_at_open == 0
        np.testing.assert_array_equal(again.collection("c").get([2, 1]), [[1, 0], [0, 1]])


def test_stats_and_slot_reuse(path, open_db, rng):
    """Rewritten in place, a collection heals at each checkpoint and stops growing."""
    n = 300
    ids = np.arange(n)
    with open_db(path, checkpoint_interval_s=None, compaction_threshold_percent=0) as db:
        col = db.create_collection("c", dim=8, metric="l2")
        s = col.stats()
        assert s["live"] == 0 and s["slots"] == 0 and s["last_checkpoint_at"] is None
        assert s["last_compaction_at"] is None
        col.add(ids, rng.standard_normal((n, 8), dtype=np.float32))
        db.checkpoint()
        slots = []
        for _ in range(3):
            col.upsert(ids, rng.standard_normal((n, 8), dtype=np.float32))
            assert col.stats()["tombstones"] == n
            col.checkpoint()
            s = col.stats()
            assert s["tombstones"] == 0 and s["live"] == n
            assert s["free_slots"] == s["slots"] - n
            slots.append(s["slots"])
        assert slots == [2 * n] * 3, slots
        assert s["vector_bytes"] > 0 and s["graph_bytes"] > 0 and s["log_bytes"] > 0
        assert s["id_map_bytes"] > 0
        assert s["last_checkpoint_lsn"] > 0
        assert abs(s["last_checkpoint_at"] - time.time()) < 600
        assert set(s) == {
            "live", "unlinked", "tombstones", "free_slots", "slots", "code_bytes", "filter_links",
            "filter_links_bytes", "vector_bytes", "graph_bytes", "id_map_bytes", "other_bytes", "log_bytes", "last_checkpoint_lsn", "last_checkpoint_at",
            "last_compaction_at",
        }


def test_compact_shrinks_and_keeps_every_vector(path, open_db, rng):
    """compact() moves vectors down and deletes the files past them; nothing changes."""
    n, dim = 6000, 32
    ids = np.arange(n)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    with open_db(path, checkpoint_interval_s=None, compaction_threshold_percent=0) as db:
        col = db.create_collection("c", dim=dim, metric="l2")
        col.add(ids, vectors)
        gone = rng.permutation(n)[: n * 3 // 4]
        col.delete(gone)
        keep = np.setdiff1d(ids, gone)
        before = col.search(vectors[:20], k=10, ef=n)
        done = col.compact()
        assert set(done) == {
            "moved", "slots_before", "slots_after", "files_removed", "bytes_before",
            "bytes_after", "longest_pause_s",
        }
        assert done["moved"] > 0 and done["files_removed"] > 0
        assert done["slots_after"] < done["slots_before"] == n
        assert done["bytes_after"] < done["bytes_before"]
        assert done["longest_pause_s"] >= 0
        s = col.stats()
        assert s["tombstones"] == 0 and s["live"] == len(keep)
        assert s["last_compaction_at"] is not None
        np.testing.assert_array_equal(col.get(keep), vectors[keep])
        after = col.search(vectors[:20], k=10, ef=n)
        np.testing.assert_array_equal(before[0], after[0])
    with open_db(path) as db:
        col = db.collection("c")
        np.testing.assert_array_equal(col.get(keep), vectors[keep])


def test_compaction_threshold_is_checked(path):
    with pytest.raises(fletchdb.InvalidArgumentError):
        fletchdb.open(path, compaction_threshold_percent=101)
    with pytest.raises(fletchdb.InvalidArgumentError):
        fletchdb.open(path, compaction_threshold_percent=-1)
