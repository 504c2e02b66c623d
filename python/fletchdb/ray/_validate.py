"""Checks a write as a whole before any shard sees it.

A single collection refuses a bad call whole; a sharded one sends each shard its part,
so a part one shard refused would leave the others' parts stored. These checks run on
the caller first and raise what a single collection raises (the same ``fletchdb``
exception classes, attributes and messages): ids, vector shape and values, ids repeated
in the call, the counts and shapes of ``metadatas`` and ``documents`` and their values.
"""

import math
from typing import Any, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

import fletchdb

_I64 = (-(2**63), 2**63 - 1)


def error(cls: type, message: str, **attrs: Any) -> BaseException:
    """A ``fletchdb`` exception as the extension makes it: message, then attributes."""
    e = cls(message)
    for k, v in attrs.items():
        setattr(e, k, v)
    return e


def invalid(message: str) -> BaseException:
    """An ``InvalidArgumentError`` with the extension's message prefix."""
    return error(fletchdb.InvalidArgumentError, f"invalid argument: {message}")


def ids(value: Any, *, for_write: bool = False) -> Tuple[npt.NDArray[np.uint64], bool]:
    """The ids as a 1-D uint64 array, and whether one integer was given."""
    one = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    arr = np.asarray(value)
    if arr.ndim > 1:
        raise invalid(f"ids must be an integer or a 1-D sequence of them, got {arr.ndim} dimensions")
    arr = arr.reshape(-1)
    if arr.size and arr.dtype.kind not in "iu":
        if arr.dtype == object and all(isinstance(i, (int, np.integer)) for i in arr):
            arr = np.array([int(i) for i in arr], dtype=object)
        else:
            raise invalid(f"ids must be non-negative integers, got {arr.dtype}")
    if arr.size and arr.dtype.kind in "io" and min(arr) < 0:
        raise invalid(f"ids must be non-negative integers, got {min(arr)}")
    if arr.size and arr.dtype == object and max(arr) >= 2**64:
        raise invalid(f"ids must be below 2**64, got {max(arr)}")
    out = arr.astype(np.uint64)
    if for_write and (out == np.uint64(fletchdb.NO_ID)).any():
        raise invalid(f"id {fletchdb.NO_ID} (NO_ID) is reserved")
    return out, one


def unique(id_arr: npt.NDArray[np.uint64]) -> None:
    """Raises ``DuplicateIdError`` for the first id given twice."""
    values, first, counts = np.unique(id_arr, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = int(values[counts > 1][np.argmin(first[counts > 1])])
        raise error(fletchdb.DuplicateIdError, f"id {dup} already exists", id=dup)


def vectors(value: Any, n: int, dim: int, metric: str, one: bool) -> npt.NDArray[np.float32]:
    """The vectors as a C-contiguous (n, dim) float32 array, checked as the collection
    checks them: shape, finite values, a non-zero norm under cosine."""
    arr = np.ascontiguousarray(value, dtype=np.float32)
    if arr.ndim == 1 and (one or n == 1):
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise invalid(f"vectors must be a 1-D vector or an (n, dim) array, got {arr.ndim} dimensions")
    if arr.shape[0] != n:
        raise invalid(f"{n} ids but {arr.shape[0]} vectors")
    if arr.shape[1] != dim:
        raise error(
            fletchdb.DimensionMismatchError,
            f"dimension mismatch: expected {dim}, got {arr.shape[1]}",
            expected=dim, got=int(arr.shape[1]),
        )
    if not np.isfinite(arr).all():
        reason = "vector contains NaN or infinity"
        raise error(fletchdb.InvalidVectorError, f"invalid vector: {reason}", reason=reason)
    if metric == "cosine" and not (np.einsum("ij,ij->i", arr, arr) > 0).all():
        reason = "a cosine vector must have a non-zero norm"
        raise error(fletchdb.InvalidVectorError, f"invalid vector: {reason}", reason=reason)
    return arr


def entries(value: Any, name: str, n: int, one: bool) -> Optional[List[Any]]:
    """``metadatas`` or ``documents`` as one entry per id (None when not given)."""
    if value is None:
        return None
    lone = dict if name == "metadatas" else str
    if one and isinstance(value, lone):
        items = [value]
    elif isinstance(value, (str, bytes, dict)):
        raise invalid(f"{name} must be a list of {'dicts' if lone is dict else 'strs'} (or None), one per id")
    else:
        items = list(value)
    if len(items) != n:
        raise invalid(f"{len(items)} {name} for {n} ids: give one per id (None for none)")
    for i, item in enumerate(items):
        if item is None:
            continue
        if name == "documents":
            if not isinstance(item, str):
                raise invalid(f"documents[{i}] must be a str or None, not {type(item).__name__}")
        else:
            metadata(item, i)
    return items


def metadata(item: Any, i: int) -> None:
    """Raises ``InvalidArgumentError`` for metadata a collection would refuse."""
    if not isinstance(item, dict):
        raise invalid(f"metadatas[{i}] must be a dict or None, not {type(item).__name__}")
    for key, value in item.items():
        if not isinstance(key, str):
            raise invalid(f"metadatas[{i}]: keys must be str, not {type(key).__name__}: {key!r}")
        if key.startswith("$"):
            raise invalid(f"metadata key {key!r}: keys must not start with '$'")
        problem = _value_problem(value, top=True)
        if problem:
            raise invalid(f"metadata key {key!r}: {problem}")


def _value_problem(value: Any, top: bool) -> Optional[str]:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return None if top else "a list must not hold None"
    if isinstance(value, (bool, str)):
        return None
    if isinstance(value, int):
        return None if _I64[0] <= value <= _I64[1] else f"the integer {value} is outside int64"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a finite number"
    if isinstance(value, (list, tuple)) and top:
        for v in value:
            problem = _value_problem(v, top=False)
            if problem:
                return problem
        return None
    return f"{type(value).__name__} values are not stored"
