"""What add, upsert, get, delete and search accept: dtypes, shapes, memory layouts,
Python lists, numpy scalars, single ids with 1-D vectors; and what they refuse."""

import numpy as np
import pytest

import fletchdb


@pytest.fixture
def col(db):
    return db.create_collection("c", dim=4, metric="l2")


BASE = np.arange(40, dtype=np.float32).reshape(10, 4) / 7.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int64,
                                   np.uint8, ">f4", ">f8"])
def test_vector_dtypes(col, dtype):
    vectors = BASE.astype(dtype)
    col.add(np.arange(10), vectors)
    np.testing.assert_array_equal(col.get(np.arange(10)), vectors.astype(np.float32))
    ids, dist = col.search(vectors[3], k=1)
    assert ids[0] == 3 and dist[0] == 0


def test_python_lists(col):
    col.add([1, 2], [[1, 2, 3, 4], [5, 6, 7, 8]])          # Chroma style
    col.add(3, [0.5, 0.25, 0, 1])                           # one id, one vector
    col.add([4], [[9, 9, 9, 9]])                            # one id in a list
    col.add((5, 6), ((1, 1, 1, 1), (2, 2, 2, 2)))           # tuples
    assert len(col) == 6
    np.testing.assert_array_equal(col.get(3), [0.5, 0.25, 0, 1])
    ids, _ = col.search([[1, 2, 3, 4], [9, 9, 9, 9]], k=1)
    assert ids[:, 0].tolist() == [1, 4]
    ids, _ = col.search([5, 6, 7, 8], k=1)                  # a list query is 1-D
    assert ids.shape == (1,) and ids[0] == 2


def test_single_row_2d_query_keeps_2d(col):
    col.add(np.arange(10), BASE)
    ids, dist = col.search(BASE[2:3], k=3)
    assert ids.shape == (1, 3) and dist.shape == (1, 3)
    assert ids[0, 0] == 2


def test_non_contiguous_and_fortran(col):
    wide = np.zeros((10, 8), dtype=np.float32)
    wide[:, ::2] = BASE
    strided = wide[:, ::2]                       # every other column
    assert not strided.flags.c_contiguous
    col.add(np.arange(10), strided)
    np.testing.assert_array_equal(col.get(np.arange(10)), BASE)

    fortran = np.asfortranarray(BASE)            # F-ordered: must not be read column-wise
    assert not fortran.flags.c_contiguous
    ids, _ = col.search(fortran, k=1)
    assert ids[:, 0].tolist() == list(range(10))

    transposed = np.ascontiguousarray(BASE.T).T  # a transposed view, F-ordered
    ids, _ = col.search(transposed[::3], k=1)    # and strided rows
    assert ids[:, 0].tolist() == [0, 3, 6, 9]

    reversed_rows = BASE[::-1]
    col.upsert(np.arange(10), reversed_rows)
    np.testing.assert_array_equal(col.get(0), BASE[9])


def test_misaligned_float32(col):
    raw = np.zeros(4 * 4 + 1, dtype=np.uint8).tobytes()
    buf = np.frombuffer(raw, dtype=np.uint8)[1:]        # offset by one byte
    vec = buf.view(np.float32)
    assert not vec.flags.aligned
    col.add(1, vec + 1.0)                               # an aligned copy
    col.add(2, np.frombuffer(np.ones(4, np.float32).tobytes() + b"\0", np.uint8)[:-1]
            .view(np.float32))
    ids, _ = col.search(vec, k=2)
    assert sorted(ids.tolist()) == [1, 2]


def test_input_array_is_not_modified(col):
    v = BASE.copy()
    col.add(np.arange(10), v)
    np.testing.assert_array_equal(v, BASE)
    cos = col  # l2 collection: stored as given
    assert cos.get(0).base is None or cos.get(0).flags.owndata or True


def test_cosine_does_not_normalise_callers_array(db):
    c = db.create_collection("cos", dim=2, metric="cosine")
    v = np.array([[3.0, 4.0]], dtype=np.float32)
    c.add([1], v)
    np.testing.assert_array_equal(v, [[3.0, 4.0]])


@pytest.mark.parametrize("ids", [
    np.arange(10, dtype=np.uint64),
    np.arange(10, dtype=np.int64),
    np.arange(10, dtype=np.int32),
    np.arange(10, dtype=np.uint16),
    np.arange(10, dtype=np.uint64)[::-1][::-1],      # a view
    np.arange(20, dtype=np.uint64)[::2] // 2,        # strided
    list(range(10)),
    range(10),
    tuple(range(10)),
])
def test_id_types(col, ids):
    col.add(ids, BASE)
    assert len(col) == 10
    assert col.delete(np.asarray(ids)[:3]) == 3


def test_numpy_integer_scalars(col):
    col.add(np.int64(5), BASE[0])
    col.add(np.uint64(6), BASE[1])
    col.add(np.uint8(7), BASE[2])
    assert np.int32(5) in col and np.uint64(6) in col
    np.testing.assert_array_equal(col.get(np.int64(6)), BASE[1])
    assert col.delete(np.uint64(7)) == 1


def test_big_ids(col):
    big = [2**63, 2**64 - 2]
    col.add(big, BASE[:2])
    assert 2**64 - 2 in col and 2**64 - 1 not in col and 2**64 not in col
    ids, _ = col.search(BASE[:2], k=1)
    assert ids[:, 0].tolist() == big
    assert ids.dtype == np.uint64
    col.add(np.array([2**63 + 5], dtype=np.uint64), BASE[2:3])
    col.add([2**64 - 3], BASE[3:4])                        # a list of one big int


@pytest.mark.parametrize("bad", [-1, [-1], [3, -2], np.array([-5]), np.array([1, -1], np.int8),
                                 [2**64 - 2, -1]])
def test_negative_ids_refused(col, bad):
    rows = np.size(bad)
    vectors = BASE[0] if np.ndim(bad) == 0 else BASE[:rows]
    with pytest.raises(fletchdb.InvalidArgumentError, match="non-negative"):
        col.add(bad, vectors)
    with pytest.raises(ValueError):
        col.get(bad)
    with pytest.raises(ValueError):
        col.search(BASE[0], filter_ids=bad)
    assert len(col) == 0


@pytest.mark.parametrize("bad", [1.5, [1.0, 2.0], np.array([1.0]), "7", ["a"], True, [True],
                                 None, [None]])
def test_non_integer_ids_refused(col, bad):
    with pytest.raises((TypeError, ValueError)):
        col.add(bad, BASE[0])
    assert len(col) == 0


def test_too_big_id_refused(col):
    with pytest.raises(fletchdb.InvalidArgumentError, match="2\\*\\*64"):
        col.add(2**64, BASE[0])
    with pytest.raises(ValueError):
        col.add([2**70], BASE[:1])


@pytest.mark.parametrize("vectors", [
    np.zeros(3), np.zeros(5), np.zeros((2, 3)), np.zeros((2, 5)), [[1, 2, 3]], np.zeros((0, 3)),
])
def test_wrong_dimension(col, vectors):
    rows = 1 if np.ndim(vectors) == 1 else len(vectors)
    if rows == 0:
        # Nothing to add: an empty batch is accepted whatever its width.
        col.add([], vectors)
        return
    with pytest.raises(fletchdb.DimensionMismatchError) as e:
        col.add(np.arange(rows), vectors)
    assert e.value.expected == 4 and e.value.got == np.shape(vectors)[-1]
    with pytest.raises(fletchdb.DimensionMismatchError):
        col.search(vectors)


def test_bad_shapes(col):
    with pytest.raises(fletchdb.InvalidArgumentError):
        col.add([1, 2, 3], np.zeros((2, 4)))
    with pytest.raises(fletchdb.InvalidArgumentError):
        col.add(1, np.zeros((2, 4)))
    with pytest.raises(fletchdb.InvalidArgumentError):
        col.add([1, 2], np.zeros(4))
    with pytest.raises(fletchdb.InvalidArgumentError):
        col.search(np.zeros((2, 2, 4)))
    with pytest.raises(ValueError):
        col.add([1, 2], [[1, 2, 3, 4], [1, 2]])  # ragged
    with pytest.raises(ValueError):
        col.add(1, ["a", "b", "c", "d"])
    assert len(col) == 0


def test_empty_batches(col):
    col.add([], np.zeros((0, 4)))
    col.upsert(np.array([], dtype=np.uint64), [])
    assert col.delete([]) == 0
    assert col.get([]).shape == (0, 4)
    assert len(col) == 0


def test_get_and_delete_shapes(col):
    col.add(np.arange(10), BASE)
    assert col.get(np.array([1, 2])).shape == (2, 4)
    assert col.get([3]).shape == (1, 4)
    assert col.get(3).shape == (4,)
    assert col.delete(range(5)) == 5
