"""Metadata, documents and where filters: round trips of every value type, every bad
input refused with nothing stored, update and delete semantics, persistence across
reopen, and random filters checked against a Python evaluator of the where grammar."""

import math
import random
from pathlib import Path

import numpy as np
import pytest

import fletchdb
from fletchdb import IdNotFoundError, InvalidArgumentError
from test_quickstart import quickstart_block

DIM = 4


def vecs(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, DIM), dtype=np.float32)


def same(got, want):
    """Equal, with the same types all the way down (a tuple comes back as a list)."""
    if isinstance(want, tuple):
        want = list(want)
    assert type(got) is type(want), (got, want)
    if isinstance(want, dict):
        assert list(got) == list(want), (got, want)
        for k in want:
            same(got[k], want[k])
    elif isinstance(want, list):
        assert len(got) == len(want), (got, want)
        for g, w in zip(got, want):
            same(g, w)
    else:
        assert got == want, (got, want)


EVERY_TYPE = {
    "str": "jazz",
    "empty_str": "",
    "unicode": "café ☕ \U0001f600",
    "int": 1959,
    "negative": -3,
    "zero": 0,
    "int64_max": 2**63 - 1,
    "int64_min": -(2**63),
    "float": 2.5,
    "whole_float": 1.0,
    "tiny": 1e-300,
    "huge": 1.5e300,
    "true": True,
    "false": False,
    "none": None,
    "strs": ["modal", "live"],
    "ints": [1, 2, 3],
    "floats": [0.5, 1.0],
    "bools": [True, False],
    "mixed": ["a", 1, 2.5, True],
    "empty_list": [],
    "tuple": ("x", 2),
    "": "an empty key",
}


def test_every_value_type_round_trips(db):
    c = db.create_collection("c", dim=DIM, metric="l2")
    other = {"k": 1}
    c.add([1, 2, 3], vecs(3), metadatas=[EVERY_TYPE, None, other],
          documents=["first", None, ""])
    got = c.get_metadata([3, 1, 2])
    same(got[0], other)
    same(got[1], EVERY_TYPE)
    assert got[2] is None
    assert c.get_documents([1, 2, 3]) == ["first", None, ""]
    # True stays a bool and 1.0 a float: the type, not only the value.
    m = got[1]
    assert type(m["true"]) is bool and type(m["int"]) is int and type(m["whole_float"]) is float
    assert [type(x) for x in m["mixed"]] == [str, int, float, bool]
    # Vectors are untouched by payloads.
    np.testing.assert_array_equal(c.get([1, 2, 3]), vecs(3))


def test_numpy_scalars_are_read_as_python_values(db):
    c = db.create_collection("c", dim=DIM, metric="l2")
    c.add(1, vecs(1)[0], metadatas={
        "i": np.int64(3), "u": np.uint8(7), "f": np.float32(0.5), "d": np.float64(2.25),
        "b": np.bool_(True), "s": np.str_("x"), "l": [np.int32(1), np.bool_(False)],
    })
    same(c.get_metadata(1)[0],
         {"i": 3, "u": 7, "f": 0.5, "d": 2.25, "b": True, "s": "x", "l": [1, False]})
    assert c.count(where={"b": True}) == 1 and c.count(where={"i": 3.0}) == 1


def test_one_id_takes_a_lone_dict_or_str(db):
    c = db.create_collection("c", dim=DIM, metric="l2")
    v = vecs(4)
    c.add(1, v[0], metadatas={"a": 1}, documents="one")
    c.add(2, v[1], metadatas=[{"a": 2}], documents=["two"])
    c.add(3, v[2], metadatas=[None], documents=(None,))
    c.upsert(4, v[3], documents="four")
    assert c.get_metadata([1, 2, 3, 4]) == [{"a": 1}, {"a": 2}, None, None]
    assert c.get_documents(1) == ["one"]
    assert c.get_documents([1, 2, 3, 4]) == ["one", "two", None, "four"]
    # A lone entry goes with a single integer id only.
    with pytest.raises(InvalidArgumentError, match="single"):
        c.add([5], v[:1], metadatas={"a": 5})
    with pytest.raises(InvalidArgumentError, match="single"):
        c.add([5], v[:1], documents="five")
    with pytest.raises(InvalidArgumentError, match="2 metadatas for 1 ids"):
        c.add(5, v[0], metadatas=[{"a": 1}, {"a": 2}])
    assert len(c) == 4


# Bad metadata values: (value, a piece of the message).
BAD_VALUES = [
    ({"a": 1}, "object"),
    ([{"a": 1}], "not an object"),
    (["a", None], "not null"),
    ([["a"]], "not a list"),
    (float("nan"), "not finite"),
    (float("inf"), "not finite"),
    (float("-inf"), "not finite"),
    ([1.0, float("nan")], "not finite"),
    (2**63, "64-bit"),
    (-(2**63) - 1, "64-bit"),
    (2**70, "64-bit"),
    (b"bytes", "bytes"),
    ({1, 2}, "set"),
    (object(), "object"),
    (np.array([1, 2]), "numpy.ndarray"),
    (np.datetime64("2020-01-01"), "datetime"),
]


def populated(db):
    """A collection of three records with metadata and documents."""
    c = db.create_collection("c", dim=DIM, metric="l2")
    c.add([0, 1, 2], vecs(3), metadatas=[{"n": 0}, {"n": 1}, {"n": 2}],
          documents=["d0", "d1", "d2"])
    return c


def assert_unchanged(c):
    assert c.count() == 3 and len(c) == 3
    np.testing.assert_array_equal(c.ids(), [0, 1, 2])
    assert c.get_metadata([0, 1, 2]) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert c.get_documents([0, 1, 2]) == ["d0", "d1", "d2"]
    np.testing.assert_array_equal(c.get([0, 1, 2]), vecs(3))
    for new in (10, 11):
        assert new not in c
        with pytest.raises(IdNotFoundError):
            c.get_metadata([new])


def attempts(c, metadatas=None, documents=None):
    """Every call that writes payloads, each of which must refuse this input."""
    v = vecs(2, seed=9)
    yield lambda: c.add([10, 11], v, metadatas=metadatas, documents=documents)
    yield lambda: c.upsert([0, 11], v, metadatas=metadatas, documents=documents)
    yield lambda: c.upsert([0, 1], v, metadatas=metadatas, documents=documents)
    yield lambda: c.update([0, 1], metadatas=metadatas, documents=documents)


@pytest.mark.parametrize("value,message", BAD_VALUES,
                         ids=[repr(v)[:30] for v, _ in BAD_VALUES])
def test_bad_metadata_value_stores_nothing(db, value, message):
    c = populated(db)
    for call in attempts(c, metadatas=[{"ok": 1}, {"fine": "x", "bad": value}]):
        with pytest.raises(InvalidArgumentError) as e:
            call()
        assert isinstance(e.value, ValueError)
        assert '"bad"' in str(e.value) and message in str(e.value), str(e.value)
        assert_unchanged(c)


@pytest.mark.parametrize("entry,message", [
    ({1: "x"}, "metadatas[1]: keys must be str, not int: 1"),
    ({("a",): 1}, "keys must be str"),
    ({"$op": 1}, '"$op"'),
    ("a string", "metadatas[1] must be a dict or None, not str"),
    (5, "metadatas[1] must be a dict or None, not int"),
    ([("a", 1)], "metadatas[1] must be a dict or None, not list"),
])
def test_bad_metadata_entry_stores_nothing(db, entry, message):
    c = populated(db)
    for call in attempts(c, metadatas=[{"ok": 1}, entry]):
        with pytest.raises(InvalidArgumentError) as e:
            call()
        assert message in str(e.value), str(e.value)
        assert_unchanged(c)


@pytest.mark.parametrize("metadatas,documents,message", [
    ([{"a": 1}], None, "1 metadatas for 2 ids"),
    ([{"a": 1}] * 3, None, "3 metadatas for 2 ids"),
    (None, ["x"], "1 documents for 2 ids"),
    (None, ["x", "y", "z"], "3 documents for 2 ids"),
    ([{"a": 1}] * 2, ["x"], "1 documents for 2 ids"),
    ({"a": 1}, None, "metadatas must be a list of dicts"),
    (None, "xy", "documents must be a list of strs"),
    (None, b"xy", "documents must be a list of strs"),
    (None, ["x", 5], "documents[1] must be a str or None, not int"),
    (None, ["x", b"y"], "documents[1] must be a str or None, not bytes"),
    (5, None, "metadatas must be a list of dicts"),
    (None, {"x", "y"}, "documents must be a list of strs"),
])
def test_wrong_lengths_and_shapes_store_nothing(db, metadatas, documents, message):
    c = populated(db)
    for call in attempts(c, metadatas=metadatas, documents=documents):
        with pytest.raises(InvalidArgumentError) as e:
            call()
        assert message in str(e.value), str(e.value)
        assert_unchanged(c)


def test_empty_calls(db):
    c = populated(db)
    c.add([], np.empty((0, DIM)), metadatas=[], documents=[])
    c.update([], metadatas=[])
    assert c.delete([]) == 0 and c.delete([], where={"n": 1}) == 0
    assert_unchanged(c)


BAD_WHERES = [
    ({"n": {"$regex": "x"}}, "$regex"),
    ({"$nor": [{"n": 1}]}, "$nor"),
    ({"$and": []}, "non-empty list"),
    ({"$or": []}, "non-empty list"),
    ({"$and": {"n": 1}}, "non-empty list"),
    ({"$and": [5]}, "must be an object"),
    ({"n": {"$gt": "x"}}, "expected a number"),
    ({"n": {"$lte": True}}, "expected a number"),
    ({"n": {"$gt": float("nan")}}, "not finite"),
    ({"n": {"$in": []}}, "non-empty list"),
    ({"n": {"$in": 1}}, "non-empty list"),
    ({"n": {"$nin": [None]}}, "element 0"),
    ({"n": {"$eq": [1]}}, "expected a string, number or boolean"),
    ({"n": [1, 2]}, "$in"),
    ({"n": None}, "got null"),
    ({"n": {}}, "at least one"),
    ({"n": {"$eq": 2**64}}, "64-bit"),
    ({"$eq": 1}, "needs a key"),
    ({}, "empty object"),
    ({1: 2}, "keys must be str"),
    ({"n": {"$in": [b"x"]}}, "bytes"),
    ("n", "must be an object, not a string"),
    ([{"n": 1}], "must be an object, not a list"),
    (5, "must be an object, not a number"),
]


@pytest.mark.parametrize("where,message", BAD_WHERES,
                         ids=[repr(w)[:30] for w, _ in BAD_WHERES])
def test_bad_where_raises_and_deletes_nothing(db, where, message):
    c = populated(db)
    calls = [
        lambda: c.count(where=where),
        lambda: c.ids(where=where),
        lambda: c.search(vecs(1)[0], k=3, where=where),
        lambda: c.search(vecs(2), k=3, where=where, filter_ids=[0, 1]),
        lambda: c.delete(where=where),
        lambda: c.delete([0, 1, 2], where=where),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError) as e:
            call()
        assert isinstance(e.value, ValueError)
        assert message in str(e.value), str(e.value)
    assert_unchanged(c)


def test_empty_collection_and_closed_database(path, open_db):
    db = open_db(path, durability="none")
    c = db.create_collection("c", dim=DIM, metric="l2")
    assert c.count() == 0 and c.count(where={"a": 1}) == 0
    assert c.ids().dtype == np.uint64 and c.ids().shape == (0,)
    assert c.ids(where={"a": 1}).shape == (0,) and c.delete(where={"a": 1}) == 0
    assert c.get_metadata([]) == [] and c.get_documents([]) == []
    db.close()
    for call in [c.count, c.ids, lambda: c.count(where={"a": 1}),
                 lambda: c.get_metadata([1]), lambda: c.get_documents([1]),
                 lambda: c.update([1], documents=["x"]), lambda: c.delete(where={"a": 1}),
                 lambda: c.add(1, vecs(1)[0], metadatas={"a": 1})]:
        with pytest.raises(fletchdb.ClosedError):
            call()


def test_delete_needs_ids_or_where(db):
    c = populated(db)
    with pytest.raises(InvalidArgumentError, match="ids, a where filter, or both"):
        c.delete()
    with pytest.raises(InvalidArgumentError, match="ids, a where filter, or both"):
        c.delete(None, None)
    assert_unchanged(c)


def test_update_semantics(db):
    c = db.create_collection("c", dim=DIM, metric="l2")
    v = vecs(4)
    c.add([0, 1, 2, 3], v, metadatas=[{"a": i, "tag": "old"} for i in range(4)],
          documents=[f"doc{i}" for i in range(4)])
    c.update([0], metadatas=[{"x": 1}])  # metadata replaced whole, document kept
    c.update(1, documents="new")  # document replaced, metadata kept
    c.update([2], metadatas=[None])  # metadata cleared
    c.update([3], documents=[None])  # document cleared
    assert c.get_metadata([0, 1, 2, 3]) == [{"x": 1}, {"a": 1, "tag": "old"}, None,
                                            {"a": 3, "tag": "old"}]
    assert c.get_documents([0, 1, 2, 3]) == ["doc0", "new", "doc2", None]
    np.testing.assert_array_equal(c.get([0, 1, 2, 3]), v)
    # The indexes follow: the old values no longer match, the new ones do.
    assert c.count(where={"tag": "old"}) == 2
    np.testing.assert_array_equal(c.ids(where={"x": 1}), [0])
    assert c.count(where={"a": {"$gte": 0}}) == 2
    ids, _ = c.search(v[0], k=4, where={"x": {"$eq": 1}})
    assert list(ids) == [0, fletchdb.NO_ID, fletchdb.NO_ID, fletchdb.NO_ID]
    # Both at once, several ids.
    c.update([3, 2], metadatas=[{"a": 30}, {"a": 20}], documents=["d3", "d2"])
    assert c.get_metadata([2, 3]) == [{"a": 20}, {"a": 30}]
    assert c.get_documents([2, 3]) == ["d2", "d3"]

    before = (c.get_metadata([0, 1, 2, 3]), c.get_documents([0, 1, 2, 3]))
    # A missing id: IdNotFoundError (a KeyError) naming it, nothing changed.
    with pytest.raises(IdNotFoundError) as e:
        c.update([0, 99], metadatas=[{"changed": True}, {"changed": True}])
    assert e.value.id == 99 and isinstance(e.value, KeyError) and "99" in str(e.value)
    with pytest.raises(IdNotFoundError):
        c.update(99, documents="x")
    with pytest.raises(fletchdb.DuplicateIdError):
        c.update([1, 1], documents=["x", "y"])
    assert (c.get_metadata([0, 1, 2, 3]), c.get_documents([0, 1, 2, 3])) == before
    assert c.count(where={"changed": True}) == 0
    # get_metadata and get_documents raise for a missing id as get does.
    with pytest.raises(IdNotFoundError) as e:
        c.get_documents([1, 98])
    assert e.value.id == 98


def test_upsert_replaces_the_whole_record(db):
    c = db.create_collection("c", dim=DIM, metric="l2")
    v = vecs(2)
    c.add([0, 1], v, metadatas=[{"a": 1}, {"a": 2}], documents=["x", "y"])
    c.upsert(0, v[1])  # no payload given: metadata and document cleared
    c.upsert([1], v[:1], metadatas=[{"b": 2}])  # document cleared
    assert c.get_metadata([0, 1]) == [None, {"b": 2}]
    assert c.get_documents([0, 1]) == [None, None]
    assert c.count(where={"a": {"$gt": 0}}) == 0 and c.count(where={"b": 2}) == 1


def test_delete_where_removes_exactly_the_matches(db):
    c = db.create_collection("c", dim=DIM, metric="l2")
    n = 200
    metas = [{"i": i, "even": i % 2 == 0, "tens": i // 10} if i % 7 else None
             for i in range(n)]
    c.add(np.arange(n), vecs(n), metadatas=metas)
    w = {"$and": [{"even": True}, {"i": {"$lt": 100}}]}
    want = [i for i, m in enumerate(metas) if m and m["even"] and m["i"] < 100]
    np.testing.assert_array_equal(c.ids(where=w), want)
    assert c.delete(where=w) == len(want)
    left = [i for i in range(n) if i not in set(want)]
    np.testing.assert_array_equal(c.ids(), left)
    assert c.count() == len(c) == len(left) and c.count(where=w) == 0
    assert c.delete(where=w) == 0

    # ids and where together: the given ids that match, absent and repeated ids skipped.
    assert c.delete([150, 151, 152, 151, 10_000, 153], where={"even": False}) == 2
    assert 151 not in c and 153 not in c and 150 in c and 152 in c
    # Records without metadata never match.
    assert c.delete([7, 14, 21], where={"i": {"$ne": -1}}) == 0
    assert 7 in c
    assert c.delete(ids=[7, 14]) == 2


def check_records(c, model):
    """The collection holds exactly `model` (id -> (vector, metadata, document))."""
    ids = sorted(model)
    np.testing.assert_array_equal(c.ids(), ids)
    assert c.count() == len(model)
    if ids:
        same(c.get_metadata(ids), [model[i][1] for i in ids])
        assert c.get_documents(ids) == [model[i][2] for i in ids]
        np.testing.assert_array_equal(c.get(ids), np.array([model[i][0] for i in ids]))


def write_some(c, model, start, n, seed):
    v = vecs(n, seed)
    ids = list(range(start, start + n))
    metas = [{"k": i, "f": i / 2, "b": i % 3 == 0, "l": ["x", i]} if i % 4 else None
             for i in ids]
    docs = [f"doc {i}" if i % 5 else None for i in ids]
    c.add(ids, v, metadatas=metas, documents=docs)
    for i, vec, m, d in zip(ids, v, metas, docs):
        model[i] = (vec, m, d)
    c.update(ids[:3], metadatas=[{"updated": True}] * 3)
    for i in ids[:3]:
        model[i] = (model[i][0], {"updated": True}, model[i][2])
    where = {"b": True, "k": {"$lt": start + n // 2}}
    gone = [i for i in model if evaluate(where, model[i][1])]
    assert gone and c.delete(where=where) == len(gone)
    for i in gone:
        del model[i]


def count_model(model, where):
    return sum(1 for _, m, _ in model.values() if evaluate(where, m))


def test_payloads_survive_close_and_reopen(path, open_db):
    model = {}
    with open_db(path) as db:
        c = db.create_collection("c", dim=DIM, metric="l2")
        write_some(c, model, 0, 60, seed=1)
        check_records(c, model)
    with open_db(path) as db:
        assert db.replayed_at_open == 0
        c = db.collection("c")
        check_records(c, model)
        for where in [{"updated": True}, {"l": {"$contains": "x"}}, {"f": {"$gt": 10}}]:
            assert c.count(where=where) == count_model(model, where) > 0


def test_payloads_survive_a_reopen_without_checkpoint(path, open_db):
    model = {}
    opts = dict(checkpoint_on_close=False, checkpoint_interval_s=None)
    db = open_db(path, **opts)
    c = db.create_collection("c", dim=DIM, metric="l2")
    write_some(c, model, 0, 40, seed=1)
    db.checkpoint()  # part in the catalog, part only in the log
    write_some(c, model, 100, 40, seed=2)
    c.update([1, 101], documents=["after checkpoint", None])
    model[1] = (model[1][0], model[1][1], "after checkpoint")
    model[101] = (model[101][0], model[101][1], None)
    c.upsert(2, vecs(1, seed=3)[0], metadatas={"upserted": 1})
    model[2] = (vecs(1, seed=3)[0], {"upserted": 1}, None)
    db.close()
    with open_db(path, **opts) as db:
        assert db.replayed_at_open > 0
        c = db.collection("c")
        check_records(c, model)
        for where in [{"upserted": 1}, {"updated": True}, {"k": {"$gte": 100}}]:
            assert c.count(where=where) == count_model(model, where) > 0
    with open_db(path, **opts) as db:  # and again: replay changed nothing on disk
        check_records(db.collection("c"), model)


def test_replayed_update_survives_the_next_checkpoint(path, open_db):
    opts = dict(checkpoint_on_close=False, checkpoint_interval_s=None)
    db = open_db(path, **opts)
    c = db.create_collection("c", dim=DIM, metric="l2")
    c.add([1, 2], vecs(2), metadatas=[{"v": 1}, {"v": 1}], documents=["a", "b"])
    db.checkpoint()
    c.update(1, metadatas={"v": 2}, documents="changed")
    db.close()
    with open_db(path) as db:  # replays the update, then checkpoints on close
        assert db.replayed_at_open > 0
        assert db.collection("c").get_documents(1) == ["changed"]
    with open_db(path) as db:
        assert db.replayed_at_open == 0
        c = db.collection("c")
        assert c.get_metadata([1, 2]) == [{"v": 2}, {"v": 1}]
        assert c.get_documents([1, 2]) == ["changed", "b"]
        assert c.count(where={"v": 2}) == 1


# ----------------------------------------------------------------------------------------
# The oracle: random metadata, random filters, a Python evaluator of the grammar.

STRS = ["a", "b", "c", ""]
INTS = [-1, 0, 1, 2, 3]
FLOATS = [-1.5, 0.0, 0.5, 1.0, 2.0, 2.5]
BOOLS = [True, False]
KEYS = ["i", "f", "n", "s", "b", "l", "x"]
OPS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$contains"]


def is_num(v):
    return type(v) in (int, float)  # not bool: type(True) is bool


def scalar_eq(a, b):
    """Equality of two scalars by the grammar's rules: True is not 1, "1" is not 1."""
    if type(a) is bool or type(b) is bool:
        return type(a) is bool and type(b) is bool and a == b
    if type(a) is str or type(b) is str:
        return type(a) is str and type(b) is str and a == b
    return is_num(a) and is_num(b) and float(a) == float(b)


def cond_matches(meta, key, op, arg):
    v = None if meta is None else meta.get(key)
    if v is None:  # missing key or null: no condition matches
        return False
    if op == "$contains":
        return type(v) is list and any(scalar_eq(e, arg) for e in v)
    if type(v) is list:  # scalar operators never match a list
        return False
    if op == "$eq":
        return scalar_eq(v, arg)
    if op == "$ne":
        return not scalar_eq(v, arg)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if not is_num(v):
            return False
        x, y = float(v), float(arg)
        return {"$gt": x > y, "$gte": x >= y, "$lt": x < y, "$lte": x <= y}[op]
    if op == "$in":
        return any(scalar_eq(v, a) for a in arg)
    if op == "$nin":
        return not any(scalar_eq(v, a) for a in arg)
    raise AssertionError(op)


def evaluate(where, meta):
    """Whether a record with metadata `meta` (a dict or None) passes `where`."""
    for key, arg in where.items():
        if key == "$and":
            ok = all(evaluate(w, meta) for w in arg)
        elif key == "$or":
            ok = any(evaluate(w, meta) for w in arg)
        elif type(arg) is dict:
            ok = all(cond_matches(meta, key, op, a) for op, a in arg.items())
        else:
            ok = cond_matches(meta, key, "$eq", arg)
        if not ok:
            return False
    return True


def test_evaluator_follows_the_rules():
    m = {"i": 1, "f": 1.0, "b": True, "s": "1", "l": [1, "a"], "z": None}
    assert evaluate({"i": 1.0}, m) and evaluate({"f": 1}, m)
    assert not evaluate({"b": 1}, m) and not evaluate({"i": True}, m)
    assert not evaluate({"s": 1}, m) and not evaluate({"b": {"$gt": 0}}, m)
    assert not evaluate({"missing": {"$ne": 1}}, m) and not evaluate({"z": {"$nin": [1]}}, m)
    assert not evaluate({"l": {"$ne": 5}}, m) and evaluate({"l": {"$contains": 1.0}}, m)
    assert not evaluate({"l": {"$contains": True}}, m)
    assert not evaluate({"i": {"$contains": 1}}, m)
    assert evaluate({"$or": [{"missing": 1}, {"i": {"$in": [True, 1]}}]}, m)
    assert not evaluate({"$and": [{"i": 1}, {"b": False}]}, m)


def random_scalar(r):
    pool = r.choice([STRS, INTS, FLOATS, BOOLS])
    return r.choice(pool)


def random_value(r, key):
    """A metadata value for `key`: its usual type mostly, sometimes something else."""
    if key == "i":
        return r.choice(INTS)
    if key == "f":
        return r.choice(FLOATS)
    if key == "n":
        return r.choice(INTS + FLOATS)
    if key == "s":
        return r.choice(STRS)
    if key == "b":
        return r.choice(BOOLS)
    if key == "l":
        return [random_scalar(r) for _ in range(r.randrange(4))]
    return r.choice([random_scalar(r), [random_scalar(r)]])  # "x": anything


def random_metadata(r):
    if r.random() < 0.1:
        return None
    meta = {}
    for key in KEYS:
        p = r.random()
        if p < 0.2:
            continue  # missing
        meta[key] = None if p < 0.3 else random_value(r, key)
    keys = list(meta)
    r.shuffle(keys)
    return {k: meta[k] for k in keys}


def random_arg(r, op):
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return r.choice(INTS + FLOATS)
    if op in ("$in", "$nin"):
        return [random_scalar(r) for _ in range(r.randint(1, 3))]
    return random_scalar(r)


def random_conditions(r):
    """The value of a key in a filter: a bare scalar or an operator dict."""
    if r.random() < 0.2:
        return random_scalar(r)
    ops = r.sample(OPS, 2 if r.random() < 0.15 else 1)
    return {op: random_arg(r, op) for op in ops}


def random_where(r, depth=0):
    p = r.random()
    if depth < 3 and p < 0.3:
        return {r.choice(["$and", "$or"]): [random_where(r, depth + 1)
                                           for _ in range(r.randint(1, 3))]}
    keys = r.sample(KEYS + ["missing"], 2 if p < 0.4 else 1)
    where = {k: random_conditions(r) for k in keys}
    if p > 0.95 and depth < 3:
        where["$or"] = [random_where(r, depth + 1), random_where(r, depth + 1)]
    return where


def check_search(c, vectors, model, where, queries, k, filter_ids=None):
    alive = sorted(model)
    allowed = set(alive) if filter_ids is None else set(filter_ids)
    matches = [i for i in alive if i in allowed and evaluate(where, model[i])]
    got_ids, got_d = c.search(queries, k=k, ef=1024, where=where, filter_ids=filter_ids)
    for q, ids, dists in zip(queries, got_ids, got_d):
        full = {i: float(((vectors[i].astype(np.float64) - q) ** 2).sum()) for i in matches}
        want = sorted(matches, key=lambda i: full[i])[:k]
        m = len(want)
        assert (ids[m:] == fletchdb.NO_ID).all() and np.isinf(dists[m:]).all(), (where, ids)
        top = [int(i) for i in ids[:m]]
        assert len(set(top)) == m and set(top) <= set(matches), (where, top, matches)
        # Each hit at its true distance, and those distances the k smallest.
        for i, d in zip(top, dists[:m]):
            assert math.isclose(full[i], d, rel_tol=1e-4, abs_tol=1e-4), (where, i)
        np.testing.assert_allclose(dists[:m], [full[i] for i in want], rtol=1e-4, atol=1e-4)
        # The same ids as the brute force, unless a near tie at the cut makes either right.
        tie = m < len(matches) and math.isclose(
            full[want[-1]], sorted(full.values())[m], rel_tol=1e-4, abs_tol=1e-4)
        if not tie:
            assert sorted(top) == sorted(want), (where, top, want)


def test_random_filters_match_the_evaluator(db):
    r = random.Random(20240613)
    n, dim = 300, 8
    c = db.create_collection("oracle", dim=dim, metric="l2", m=8, seed=7)
    vectors = np.random.default_rng(5).standard_normal((n + 100, dim), dtype=np.float32)
    model = {i: random_metadata(r) for i in range(n)}
    c.add(list(model), vectors[:n], metadatas=list(model.values()))
    # Churn, so that the indexes see updates, deletes and replaced records too.
    changed = r.sample(range(n), 40)
    new = [random_metadata(r) for _ in changed]
    c.update(changed, metadatas=new)
    model.update(zip(changed, new))
    gone = r.sample(range(n), 30)
    assert c.delete(gone) == 30
    for i in gone:
        del model[i]
    replaced = r.sample(sorted(model), 20)
    for j, i in enumerate(replaced):
        vectors[i] = vectors[n + 50 + j]  # rows no other id holds: no exact ties
    metas = [random_metadata(r) for _ in replaced]
    c.upsert(replaced, vectors[replaced], metadatas=metas)
    model.update(zip(replaced, metas))
    for i in range(n, n + 30):  # some new ids after the churn
        model[i] = random_metadata(r)
        c.add(i, vectors[i], metadatas=[model[i]])
    assert len(c) == len(model)

    queries = np.random.default_rng(6).standard_normal((2, dim), dtype=np.float32)
    nonempty = 0
    for t in range(300):
        where = random_where(r)
        want = sorted(i for i, m in model.items() if evaluate(where, m))
        nonempty += bool(want)
        assert c.count(where=where) == len(want), where
        got = c.ids(where=where)
        assert got.dtype == np.uint64
        assert got.tolist() == want, where
        k = r.choice([1, 5, 10, 40])
        check_search(c, vectors, model, where, queries, k)
        if t % 3 == 0:
            subset = r.sample(sorted(model), 60)
            check_search(c, vectors, model, where, queries[:1], k, filter_ids=subset)
    # The filters are neither all empty nor all full.
    assert 50 < nonempty < 295, nonempty

    # delete(where=) takes exactly what the evaluator says, and what is left still agrees.
    for _ in range(5):
        where = random_where(r)
        want = [i for i, m in model.items() if evaluate(where, m)]
        assert c.delete(where=where) == len(want)
        for i in want:
            del model[i]
        assert c.ids().tolist() == sorted(model)
    where = random_where(r)
    assert c.ids(where=where).tolist() == sorted(
        i for i, m in model.items() if evaluate(where, m))


def test_readme_metadata_example_runs(tmp_path, monkeypatch):
    readme = Path(__file__).resolve().parents[1] / "README.md"
    snippet = quickstart_block(readme, "API in brief")
    assert snippet and "where=" in snippet
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "readme_metadata.py", "exec"), {"__name__": "readme_metadata"})


def test_prepare_filter_links_a_wide_value_and_searches_stay_exact_to_the_filter(db):
    # 24,000 records, "side" = "a" for three in seven (10,286 records, spread over the
    # 30 clusters): links for "a" and for any other filter matching 8,192 or more and
    # at most half, none for "b" (13,714: more than half).
    n, dim = 24_000, 16
    c = db.create_collection("wide", dim=dim, metric="cosine")
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((30, dim), dtype=np.float32)
    data = centres[np.arange(n) % 30] + 0.3 * rng.standard_normal((n, dim), dtype=np.float32)
    c.add(np.arange(n), data, metadatas=[{"side": "a" if i % 7 < 3 else "b"} for i in range(n)])
    assert c.prepare_filter({"side": "a"}) is True
    assert c.prepare_filter({"side": "a"}) is False  # current
    assert c.prepare_filter({"side": "b"}) is False  # more than half the records
    stats = c.stats()
    assert stats["filter_links"] == 1 and stats["filter_links_bytes"] > 9_600 * 4
    assert c.prepare_filter({"$or": [{"side": "a"}, {"side": "c"}]}) is True
    assert c.stats()["filter_links"] == 2
    with pytest.raises(InvalidArgumentError):
        c.prepare_filter({"side": {"$bad": 1}})

    queries = data[:40] + 0.05 * rng.standard_normal((40, dim), dtype=np.float32)
    members = np.array([i for i in range(n) if i % 7 < 3])
    unit = data / np.linalg.norm(data, axis=1, keepdims=True)
    ids, _ = c.search(queries, k=10, ef=40, where={"side": "a"})
    assert all(i % 7 < 3 for row in ids for i in row)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    truth = members[np.argsort(-(q @ unit[members].T), axis=1)[:, :10]]
    found = sum(len(set(g) & set(t)) for g, t in zip(ids.tolist(), truth.tolist()))
    assert found >= 0.95 * truth.size, found

    # A record moved out of the value never comes back; one added is found.
    c.update([1, 2, 7], metadatas=[{"side": "b"}] * 3)
    c.add([n], queries[:1], metadatas=[{"side": "a"}])
    ids, _ = c.search(queries[:5], k=10, ef=40, where={"side": "a"})
    assert ids[0][0] == n
    assert not {1, 2, 7} & set(ids.ravel().tolist())
