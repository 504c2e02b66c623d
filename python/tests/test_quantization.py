"""The `quantization=` setting of a collection: the default per dimension, each value's
searches against an exact oracle, kept across reopen, and bad values refused."""

import numpy as np
import pytest

import fletchdb


def unit_rows(n, dim, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_top(base, queries, k):
    return np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, :k]


def test_default_is_i8_from_32_components(tmp_path):
    with fletchdb.open(tmp_path / "db") as db:
        assert db.create_collection("wide", dim=32, metric="cosine").quantization == "i8"
        assert db.create_collection("narrow", dim=31, metric="l2").quantization == "none"


@pytest.mark.parametrize("quantization", ["none", "f16", "i8"])
def test_each_quantization_searches_like_the_oracle_and_survives_reopen(tmp_path, quantization):
    base, queries = unit_rows(3000, 48, 1), unit_rows(50, 48, 2)
    path = tmp_path / "db"
    with fletchdb.open(path) as db:
        c = db.create_collection("c", dim=48, metric="cosine", quantization=quantization)
        c.add(np.arange(len(base)), base)
        ids, dist = c.search(queries, k=10, ef=128)
        first = ids.copy()
    truth = exact_top(base, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth)])
    assert recall >= 0.95, recall
    # Distances are exact (re-scored from the f32 vectors), closest first.
    want = 1.0 - np.einsum("qd,qkd->qk", queries, base[ids.astype(np.int64)])
    assert np.allclose(dist, want, atol=1e-5)
    assert np.all(np.diff(dist, axis=1) >= -1e-7)
    with fletchdb.open(path) as db:
        c = db.collection("c")
        assert c.quantization == quantization
        ids, _ = c.search(queries, k=10, ef=128)
        assert (ids == first).all()


def test_a_bad_quantization_is_refused_and_creates_nothing(tmp_path):
    with fletchdb.open(tmp_path / "db") as db:
        with pytest.raises(fletchdb.InvalidArgumentError, match="quantization"):
            db.create_collection("c", dim=8, metric="l2", quantization="int4")
        with pytest.raises(fletchdb.InvalidArgumentError):
            db.get_or_create_collection("c", dim=8, metric="l2", quantization="I8")
        assert db.list_collections() == []
