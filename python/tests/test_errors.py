"""Each error class: raised where it should be, with its message, attributes and
builtin bases."""

import pickle

import numpy as np
import pytest

import fletchdb


def test_hierarchy():
    E = fletchdb
    for cls, builtin in [
        (E.DimensionMismatchError, ValueError),
        (E.InvalidVectorError, ValueError),
        (E.DuplicateIdError, ValueError),
        (E.InvalidArgumentError, ValueError),
        (E.CollectionExistsError, ValueError),
        (E.CollectionNotFoundError, KeyError),
        (E.IdNotFoundError, KeyError),
        (E.IoError, OSError),
        (E.LockedError, Exception),
        (E.CorruptionError, Exception),
        (E.WalPoisonedError, Exception),
        (E.UnsupportedVersionError, Exception),
        (E.ClosedError, Exception),
        (E.StorageError, Exception),
        (E.GraphError, Exception),
    ]:
        assert issubclass(cls, E.Error) and issubclass(cls, builtin), cls
        assert cls.__module__ == "fletchdb" and cls.__doc__
    assert issubclass(E.Error, Exception)


def test_dimension_mismatch(db):
    c = db.create_collection("c", dim=3, metric="l2")
    with pytest.raises(fletchdb.DimensionMismatchError) as e:
        c.add(1, [1.0, 2.0])
    assert (e.value.expected, e.value.got) == (3, 2)
    assert str(e.value) == "dimension mismatch: expected 3, got 2"
    with pytest.raises(fletchdb.DimensionMismatchError):
        c.add([1, 2], np.zeros((2, 4)))
    with pytest.raises(fletchdb.DimensionMismatchError):
        c.search(np.zeros(4))
    # A (2, 6) array has as many floats as (4, 3) but is still refused.
    with pytest.raises(fletchdb.DimensionMismatchError):
        c.search(np.zeros((2, 6)))
    with pytest.raises(ValueError):
        c.upsert(1, [1.0])
    assert len(c) == 0


def test_invalid_vector(db):
    c = db.create_collection("c", dim=2, metric="cosine")
    for bad in ([np.nan, 1.0], [np.inf, 0.0], [0.0, 0.0]):
        with pytest.raises(fletchdb.InvalidVectorError) as e:
            c.add(1, bad)
        assert "invalid vector" in str(e.value) and e.value.reason
    with pytest.raises(fletchdb.InvalidVectorError):
        c.search([np.nan, 0.0])
    # One bad row refuses the whole batch.
    with pytest.raises(ValueError):
        c.add([1, 2, 3], [[1, 0], [0, 1], [np.nan, 1]])
    assert len(c) == 0


def test_duplicate_id(db):
    c = db.create_collection("c", dim=2, metric="l2")
    c.add(1, [0, 0])
    with pytest.raises(fletchdb.DuplicateIdError) as e:
        c.add(1, [1, 1])
    assert e.value.id == 1 and str(e.value) == "id 1 already exists"
    with pytest.raises(fletchdb.DuplicateIdError) as e:
        c.add([5, 6, 5], np.ones((3, 2)))
    assert e.value.id == 5
    with pytest.raises(fletchdb.DuplicateIdError):
        c.add([7, 1], np.ones((2, 2)))  # 1 exists: nothing is added
    assert len(c) == 1 and 7 not in c
    with pytest.raises(fletchdb.DuplicateIdError):
        c.upsert([8, 8], np.ones((2, 2)))


def test_id_not_found(db):
    c = db.create_collection("c", dim=2, metric="l2")
    c.add([1, 2], np.ones((2, 2)))
    with pytest.raises(fletchdb.IdNotFoundError) as e:
        c.get([1, 3])
    assert e.value.id == 3
    assert str(e.value) == "id 3 not found in collection 'c'" or "id 3" in str(e.value)
    with pytest.raises(KeyError):
        c.get(4)


def test_collection_not_found_and_exists(db):
    with pytest.raises(fletchdb.CollectionNotFoundError) as e:
        db.collection("nope")
    assert e.value.name == "nope"
    assert str(e.value) == 'no collection named "nope"'  # no KeyError-style quoting
    with pytest.raises(KeyError):
        db.drop_collection("nope")
    db.create_collection("c", dim=2, metric="l2")
    with pytest.raises(fletchdb.CollectionExistsError) as e:
        db.create_collection("c", dim=2, metric="l2")
    assert e.value.name == "c"


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(dim=0, metric="l2"),
        dict(dim=-1, metric="l2"),
        dict(dim=70000, metric="l2"),
        dict(dim=2, metric="hamming"),
        dict(dim=2, metric="l2", m=1),
        dict(dim=2, metric="l2", m=500),
        dict(dim=2, metric="l2", ef_construction=0),
    ],
)
def test_invalid_collection_arguments(db, kwargs):
    with pytest.raises(fletchdb.InvalidArgumentError):
        db.create_collection("c", **kwargs)
    assert db.list_collections() == []


def test_invalid_arguments(db, path, open_db):
    with pytest.raises(fletchdb.InvalidArgumentError):
        db.create_collection("", dim=2, metric="l2")
    c = db.create_collection("c", dim=2, metric="l2")
    c.add(1, [0, 0])
    for kwargs in (dict(k=0), dict(k=-3), dict(ef=0)):
        with pytest.raises(fletchdb.InvalidArgumentError):
            c.search([0, 0], **kwargs)
    with pytest.raises(fletchdb.InvalidArgumentError, match="2 ids but 3 vectors"):
        c.add([2, 3], np.ones((3, 2)))
    with pytest.raises(fletchdb.InvalidArgumentError, match="reserved"):
        c.add(fletchdb.NO_ID, [1, 1])
    with pytest.raises(fletchdb.InvalidArgumentError):
        c.add([[1, 2]], np.ones((2, 2)))  # 2-D ids
    with pytest.raises(fletchdb.InvalidArgumentError):
        c.search(np.zeros((1, 1, 2)))  # 3-D queries
    for bad in (dict(durability="fast"), dict(sync_interval_ms=0), dict(commit_window_us=-1),
                dict(checkpoint_interval_s=-1.0), dict(checkpoint_bytes=-5)):
        with pytest.raises(fletchdb.InvalidArgumentError):
            open_db(path.parent / "other", **bad)


def test_locked(path, open_db):
    with open_db(path):
        with pytest.raises(fletchdb.LockedError) as e:
            open_db(path)
        assert e.value.path.endswith("LOCK")
        assert "locked" in str(e.value)


def test_closed(path, open_db):
    db = open_db(path)
    c = db.create_collection("c", dim=2, metric="l2")
    db.close()
    with pytest.raises(fletchdb.ClosedError, match="closed"):
        c.add(1, [0, 0])
    with pytest.raises(fletchdb.ClosedError):
        db.create_collection("d", dim=2, metric="l2")


def test_io_error(tmp_path, open_db):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(fletchdb.IoError) as e:
        open_db(blocker / "db")
    assert isinstance(e.value, OSError)
    assert e.value.errno is not None and e.value.filename
    assert str(e.value).startswith("i/o error on ")


def test_corruption(path, rng, open_db):
    with open_db(path, checkpoint_on_close=False, checkpoint_interval_s=None) as db:
        c = db.create_collection("c", dim=4, metric="l2")
        for i in range(20):
            c.add(i, rng.standard_normal(4))
    wal = sorted((path / "wal").iterdir())
    data = bytearray(wal[0].read_bytes())
    # Damage an early record that intact later records show was acknowledged.
    used = len(data.rstrip(b"\0"))
    data[used // 4] ^= 0xFF
    wal[0].write_bytes(bytes(data))
    with pytest.raises(fletchdb.CorruptionError) as e:
        open_db(path)
    assert e.value.file and isinstance(e.value.offset, int) and e.value.detail
    assert str(e.value).startswith("corruption in ")


def test_unsupported_version(path, open_db):
    with open_db(path) as db:
        db.create_collection("c", dim=2, metric="l2").add(1, [1, 2])
    segments = list(path.glob("c/*/vec-*.seg"))
    assert segments
    data = bytearray(segments[0].read_bytes())
    # Vector segment header: magic (8 bytes), then the little-endian format version.
    data[8:12] = (999).to_bytes(4, "little")
    segments[0].write_bytes(bytes(data))
    with pytest.raises(fletchdb.UnsupportedVersionError) as e:
        open_db(path)
    assert e.value.found == 999 and 1 <= e.value.supported < 999
    assert e.value.file.endswith(".seg")


def test_errors_pickle():
    e = fletchdb.DimensionMismatchError("dimension mismatch: expected 3, got 2")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is fletchdb.DimensionMismatchError and str(back) == str(e)


def test_wal_poisoned_class_exists():
    # A failed fsync cannot be provoked portably from Python; the class is checked here
    # and its mapping in test_hierarchy.
    assert issubclass(fletchdb.WalPoisonedError, fletchdb.Error)
