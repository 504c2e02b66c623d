"""fletchdb.ray: sharded collections on a local Ray cluster that these tests start once.

The cluster is kept on the loopback address (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before
ray.init, checked below), never joins an outside one (address="local") and has 2 CPUs.
Skipped only if Ray is not installed (run_tests.sh installs the "ray" extra).
"""

import os
import signal
import threading
import time

import numpy as np
import pytest

import fletchdb

# Ray reads this when it is imported: nodes and actors then bind 127.0.0.1, not the
# machine's external address (Ray 2.60).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray", reason="Ray is not installed (pip install './python[ray]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install './python[ray]')")

from fletchdb.ray import ShardedCollection, ingest, mix64, shard_of  # noqa: E402

DIM = 16


@pytest.fixture(scope="session", autouse=True)
def ray_cluster(tmp_path_factory):
    from ray._private import ray_constants

    assert not ray_constants.ENABLE_RAY_CLUSTER, "ray was imported before the loopback setting"
    # Ray puts the driver's working directory on its workers' sys.path; run_tests.sh runs
    # pytest in python/, whose fletchdb/ lacks the extension: start Ray from elsewhere.
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("ray-driver"))
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        configure_logging=False,
        log_to_driver=False,
    )
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        yield
    finally:
        ray.shutdown()
        os.chdir(cwd)


def create(tmp_path, shards, metric="l2", name="docs", **kwargs):
    kwargs.setdefault("durability", "none")
    kwargs.setdefault("wal_segment_size", 1 << 20)
    return ShardedCollection.create(
        name, DIM, metric, shards=shards, path=str(tmp_path / "{name}-{shard}"), **kwargs
    )


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    return rng.standard_normal((1500, DIM)).astype(np.float32)


def test_the_cluster_and_the_shards_stay_on_loopback(tmp_path):
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    with create(tmp_path, 2) as coll:
        where = ray.get([a.ready.remote() for a in coll.actors])
        assert {w["node_ip"] for w in where} == {"127.0.0.1"}


def test_the_hash_is_splitmix64_and_fixed():
    # SplitMix64 seeded with 0 gives 0xE220A8397B1DCDAF first: the mix of id 0.
    assert int(mix64(0)[0]) == 0xE220A8397B1DCDAF
    owners = shard_of(np.arange(40_000), 4)
    assert np.bincount(owners).min() > 9_500  # even
    assert shard_of([2**64 - 2], 3).tolist() == shard_of(np.array([2**64 - 2], np.uint64), 3).tolist()


def test_create_open_and_their_errors(tmp_path, data):
    coll = create(tmp_path, 3)
    assert (coll.name, coll.dim, coll.metric, coll.shards) == ("docs", DIM, "l2", 3)
    coll.add(np.arange(100), data[:100])
    coll.close()
    with pytest.raises(fletchdb.CollectionExistsError):
        create(tmp_path, 3)
    with pytest.raises(fletchdb.InvalidArgumentError, match=r"holds shard (\d) of 3, opened as shard \1 of 2"):
        ShardedCollection.open("docs", shards=2, path=str(tmp_path / "{name}-{shard}"))
    with pytest.raises(fletchdb.CollectionNotFoundError):
        ShardedCollection.open("other", shards=3, path=str(tmp_path / "{name}-{shard}"))
    with pytest.raises(fletchdb.InvalidArgumentError, match="must contain"):
        ShardedCollection.open("docs", shards=3, path=str(tmp_path / "fixed"))
    with ShardedCollection.open("docs", shards=3, path=str(tmp_path / "{name}-{shard}")) as again:
        assert (again.dim, again.metric, len(again)) == (DIM, "l2", 100)
        assert np.array_equal(again.get(np.arange(100)), data[:100])


def test_writes_route_each_id_to_the_shard_its_hash_names(tmp_path, data):
    with create(tmp_path, 3) as coll:
        coll.add(np.arange(300), data[:300])
        coll.upsert([5, 1000, 1001], data[300:303])
        assert coll.delete([7, 8, 9999]) == 2
        expected = set(range(300)) - {7, 8} | {1000, 1001}
        per_shard = ray.get([a.ids.remote(None) for a in coll.actors])
        for s, held in enumerate(per_shard):
            want = sorted(i for i in expected if shard_of([i], 3)[0] == s)
            assert held.tolist() == want
        assert all(len(h) > 50 for h in per_shard)
        assert np.array_equal(coll.get(5), data[300])
        assert coll.ids().tolist() == sorted(expected)


def test_get_count_ids_metadata_documents_and_update(tmp_path, data):
    with create(tmp_path, 2) as coll:
        ids = np.array([10, 3, 77, 42, 5], dtype=np.uint64)
        metas = [{"year": 2020 + i, "tags": ["a"] if i % 2 else ["b"]} for i in range(5)]
        docs = [f"doc {i}" for i in range(5)]
        coll.add(ids, data[:5], metadatas=metas, documents=docs)
        assert coll.get(ids).shape == (5, DIM) and coll.get(77).shape == (DIM,)
        assert np.array_equal(coll.get([42, 10]), data[[3, 0]])
        assert coll.get_metadata([5, 10]) == [metas[4], metas[0]]
        assert coll.get_documents(3) == ["doc 1"]
        assert (len(coll), coll.count()) == (5, 5)
        assert coll.ids().dtype == np.uint64 and coll.ids().tolist() == [3, 5, 10, 42, 77]
        assert 42 in coll and 43 not in coll
        coll.update([3, 77], metadatas=[{"year": 1999}, None], documents=["edited", None])
        assert coll.get_metadata([3, 77]) == [{"year": 1999}, None]
        assert coll.get_documents([3, 77, 10]) == ["edited", None, "doc 0"]
        with pytest.raises(fletchdb.IdNotFoundError) as e:
            coll.update([3, 1234], documents=["x", "y"])
        assert e.value.id == 1234 and coll.get_documents(3) == ["edited"]
        with pytest.raises(fletchdb.IdNotFoundError) as e:
            coll.get([10, 999])
        assert e.value.id == 999


def test_where_filters_across_shards(tmp_path, data):
    n = 400
    with create(tmp_path, 3) as coll:
        metas = [{"kind": "even" if i % 2 == 0 else "odd", "n": i} for i in range(n)]
        coll.add(np.arange(n), data[:n], metadatas=metas)
        assert coll.count(where={"kind": "even"}) == 200
        assert coll.ids(where={"n": {"$lt": 10}}).tolist() == list(range(10))
        ids, dist = coll.search(data[:4], k=5, ef=n, where={"kind": "odd"})
        assert ids.shape == (4, 5) and (ids % 2 == 1).all()
        assert (np.diff(dist, axis=1) >= 0).all()
        assert coll.delete(where={"n": {"$gte": 390}}) == 10
        assert coll.delete(ids=[1, 2, 3], where={"kind": "odd"}) == 2
        assert len(coll) == n - 12
        ids, _ = coll.search(data[0], k=3, where={"n": {"$in": [4, 6]}})
        assert ids.tolist() == [4, 6, fletchdb.NO_ID] or ids.tolist() == [6, 4, fletchdb.NO_ID]
        with pytest.raises(fletchdb.InvalidArgumentError, match=r"\$bogus"):
            coll.count(where={"n": {"$bogus": 1}})


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_sharded_exact_search_equals_a_single_collection(tmp_path, data, metric, open_db):
    n, k = len(data), 10
    queries = np.random.default_rng(3).standard_normal((40, DIM)).astype(np.float32)
    with open_db(tmp_path / "single", durability="none") as db:
        single = db.create_collection("docs", dim=DIM, metric=metric)
        single.add(np.arange(n), data)
        want_ids, want_dist = single.search(queries, k=k, ef=n)
        one_ids, one_dist = single.search(queries[0], k=k, ef=n)
        few_ids, few_dist = single.search(queries[:3], k=k, ef=n, filter_ids=[3, 700, 1200])
    with create(tmp_path, 3, metric=metric) as coll:
        coll.add(np.arange(n), data)
        ids, dist = coll.search(queries, k=k, ef=n)
        assert (ids.shape, ids.dtype, dist.shape, dist.dtype) == ((40, k), np.uint64, (40, k), np.float32)
        assert np.array_equal(ids, want_ids)
        np.testing.assert_allclose(dist, want_dist, rtol=1e-5, atol=1e-6)
        ids1, dist1 = coll.search(queries[0], k=k, ef=n)
        assert ids1.shape == (k,) and np.array_equal(ids1, one_ids)
        np.testing.assert_allclose(dist1, one_dist, rtol=1e-5, atol=1e-6)
        ids3, dist3 = coll.search(queries[:3], k=k, ef=n, filter_ids=[3, 700, 1200])
        assert np.array_equal(ids3, few_ids)  # three, then NO_ID padding with inf
        assert (ids3[:, 3:] == fletchdb.NO_ID).all() and np.isinf(dist3[:, 3:]).all()
        np.testing.assert_allclose(dist3, few_dist, rtol=1e-5, atol=1e-6)


def test_searches_run_concurrently_in_one_shard(tmp_path, data):
    with create(tmp_path, 1, max_concurrency=4) as coll:
        coll.add(np.arange(len(data)), data)
        actor = coll.actors[0]
        refs = [actor.search.remote(data[:50], 10, 64, None, None, 1) for _ in range(8)]
        results = ray.get(refs)
        assert all(np.array_equal(r[0], results[0][0]) for r in results)


def test_a_killed_shard_loses_no_acknowledged_write(tmp_path, data):
    coll = create(tmp_path, 2, durability="sync")
    try:
        acknowledged = []
        stop = threading.Event()
        errors = []

        def writer():
            batch = 0
            while not stop.is_set() and batch < 60:
                ids = np.arange(batch * 20, batch * 20 + 20)
                try:
                    if batch % 3 == 2:
                        coll.upsert(ids, data[ids % len(data)])
                    else:
                        coll.add(ids, data[ids % len(data)])
                except Exception as e:  # noqa: BLE001 - recorded and asserted on
                    errors.append(e)
                    return
                acknowledged.extend(ids.tolist())
                batch += 1

        pid = ray.get(coll.actors[0].pid.remote())
        t = threading.Thread(target=writer)
        t.start()
        while len(acknowledged) < 200:
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        t.join(timeout=120)
        stop.set()
        assert not errors, errors
        assert len(acknowledged) == 1200
        info = ray.get(coll.actors[0].ready.remote())
        assert info["reconstructed"] and info["pid"] != pid
        assert coll.ids().tolist() == sorted(acknowledged)
        assert np.array_equal(coll.get(acknowledged), data[np.array(acknowledged) % len(data)])
    finally:
        coll.close()


def test_bulk_ingest_from_a_ray_dataset(tmp_path, data):
    n = 1200
    ds = ray.data.from_items(
        [{"id": i, "vector": data[i], "meta": {"n": i}, "doc": f"d{i}"} for i in range(n)]
    )
    with create(tmp_path, 2) as coll:
        assert ingest(coll, ds, batch_size=256, metadata_column="meta", document_column="doc") == n
        assert len(coll) == n and coll.ids().tolist() == list(range(n))
        assert coll.get_metadata([17]) == [{"n": 17}] and coll.get_documents(5) == ["d5"]
        assert ingest(coll, ds, batch_size=256) == 0  # a rerun finds every row written
        extra = data[n:n + 100]
        computed = ray.data.range(100).map_batches(
            lambda b: {"id": b["id"] + n, "vector": extra[b["id"]]}, batch_format="numpy"
        )
        assert ingest(coll, computed, upsert=True) == 100
        assert np.array_equal(coll.get(n + 99), extra[99])
        moved = ray.data.from_items([{"id": i, "vector": data[i] + 1} for i in range(10)])
        with pytest.raises(fletchdb.DuplicateIdError):
            ingest(coll, moved)
        assert ingest(coll, moved, upsert=True) == 10
        assert np.allclose(coll.get(3), data[3] + 1)


def test_bad_input_raises_what_a_collection_raises_and_stores_nothing(tmp_path, data):
    with create(tmp_path, 3) as coll:
        coll.add([1, 2], data[:2])
        with pytest.raises(fletchdb.DimensionMismatchError) as e:
            coll.add(np.arange(10, 20), data[:10, :8])
        assert (e.value.expected, e.value.got) == (DIM, 8)
        bad = data[:10].copy()
        bad[7, 3] = np.nan
        with pytest.raises(fletchdb.InvalidVectorError):
            coll.add(np.arange(10, 20), bad)
        with pytest.raises(fletchdb.DuplicateIdError) as e:
            coll.add([30, 31, 30], data[:3])
        assert e.value.id == 30
        with pytest.raises(fletchdb.DuplicateIdError) as e:
            coll.add(np.arange(40, 60).tolist() + [2], data[:21])  # 2 is stored already
        assert e.value.id == 2
        with pytest.raises(fletchdb.InvalidArgumentError, match="non-negative"):
            coll.add([-1], data[:1])
        with pytest.raises(fletchdb.InvalidArgumentError, match="nested|dict values"):
            coll.add([50, 51], data[:2], metadatas=[{"a": 1}, {"a": {"b": 2}}])
        with pytest.raises(fletchdb.InvalidArgumentError, match="2 documents for 3 ids"):
            coll.upsert([50, 51, 52], data[:3], documents=["x", "y"])
        with pytest.raises(fletchdb.InvalidArgumentError):
            coll.delete()
        assert coll.ids().tolist() == [1, 2]
        cos = create(tmp_path, 2, metric="cosine", name="cos")
        try:
            with pytest.raises(fletchdb.InvalidVectorError, match="non-zero norm"):
                cos.add([1, 2], np.zeros((2, DIM)))
        finally:
            cos.close()
