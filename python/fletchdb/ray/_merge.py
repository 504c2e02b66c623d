"""Merges each shard's top ``k`` into the global top ``k``.

Every shard returns its own ``k`` nearest per query (padded with ``NO_ID`` and ``inf``);
the global ``k`` nearest are among those ``shards x k`` candidates, so the merge is exact
whenever each shard's search is. Candidates are ordered by distance, ties by id (so the
result does not depend on which shard answered first), and padding sorts last because
``inf`` is the largest distance and ``NO_ID`` the largest id.

Cost: one ``lexsort`` of ``shards x k`` candidates per query on the caller, plus
receiving ``shards x k x 12`` bytes per query; for k = 10 and 8 shards, 960 bytes and
about a microsecond a query, small beside the shards' searches.
"""

from typing import List, Tuple

import numpy as np
import numpy.typing as npt


def top_k(
    parts: List[Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]], k: int
) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
    """The ``k`` best of each row over ``parts``, each an ``(ids, distances)`` pair of
    shape (nq, k_shard): returns (nq, k) uint64 ids and float32 distances."""
    ids = np.concatenate([np.asarray(p[0], dtype=np.uint64) for p in parts], axis=1)
    dist = np.concatenate([np.asarray(p[1], dtype=np.float32) for p in parts], axis=1)
    order = np.lexsort((ids, dist), axis=-1)[:, :k]
    return (
        np.ascontiguousarray(np.take_along_axis(ids, order, axis=1)),
        np.ascontiguousarray(np.take_along_axis(dist, order, axis=1)),
    )
