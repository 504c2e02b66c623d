"""Which shard holds an id: a fixed 64-bit mix of the id, modulo the shard count.

The mix is SplitMix64's finaliser (Steele, Lea and Flood, "Fast splittable pseudorandom
number generators", 2014) applied to the id as an unsigned 64-bit integer::

    z = id + 0x9E3779B97F4A7C15            (mod 2**64)
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    z =  z ^ (z >> 31)
    shard = z % shards

It is the same in every process and on every machine (Python's ``hash()`` is salted per
process), spreads consecutive ids evenly, and is fixed for good: stored shards hold the
ids it sent them, so changing it would strand them. The shard count is fixed when the
sharded collection is created.
"""

from typing import List, Tuple

import numpy as np
import numpy.typing as npt

HASH_NAME = "splitmix64"

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix64(ids: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    """SplitMix64's finaliser of each id (uint64 arithmetic, wrapping)."""
    z = np.array(ids, dtype=np.uint64, ndmin=1)
    with np.errstate(over="ignore"):
        z = z + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def shard_of(ids: npt.ArrayLike, shards: int) -> npt.NDArray[np.int64]:
    """The shard (0 to ``shards - 1``) that holds each id."""
    return (mix64(ids) % np.uint64(shards)).astype(np.int64)


def split(ids: npt.NDArray[np.uint64], shards: int) -> List[Tuple[int, npt.NDArray[np.intp]]]:
    """The positions in ``ids`` that each shard receives, in call order, for the shards
    that receive any: ``[(shard, positions), ...]``."""
    owner = shard_of(ids, shards)
    return [(s, np.flatnonzero(owner == s)) for s in range(shards) if (owner == s).any()]
