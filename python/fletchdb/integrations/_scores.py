"""Scores the stores derive from FletchDB's distances: relevance in LangChain's sense, and
maximal marginal relevance over stored vectors.

FletchDB's distances: ``cosine`` is ``1 - cos``, ``ip`` is ``1 - dot``, ``l2`` the squared
Euclidean distance.
"""

import math
from typing import Any, Callable, List, Sequence

import numpy as np


def relevance_fn(metric: str) -> Callable[[float], float]:
    """Distance to relevance, higher is closer (LangChain's convention):

    - ``cosine``: ``1 - distance``, the cosine similarity (LangChain's
      ``_cosine_relevance_score_fn``); in [0, 1] for embeddings that are not opposed.
    - ``ip``: ``1 - distance``, the dot product; the cosine similarity for unit-length
      embeddings (OpenAI's and most sentence models'). LangChain's
      ``_max_inner_product_relevance_score_fn`` expects a distance of ``-dot``, not ours.
    - ``l2``: ``1 - sqrt(distance) / sqrt(2)``, LangChain's
      ``_euclidean_relevance_score_fn`` of the Euclidean distance (ours is squared): in
      [0, 1] for unit-length embeddings.
    """
    if metric == "l2":
        return lambda distance: 1.0 - math.sqrt(max(distance, 0.0)) / math.sqrt(2.0)
    if metric in ("cosine", "ip"):
        return lambda distance: 1.0 - distance
    raise ValueError(f"unknown metric {metric!r}")


def mmr(query: Any, candidates: Sequence[Any], k: int, lambda_mult: float) -> List[int]:
    """Maximal marginal relevance: indices of up to ``k`` rows of ``candidates``, in the
    order chosen. The first is the row most similar to ``query``; each next one maximises
    ``lambda_mult * sim(query, row) - (1 - lambda_mult) * max(sim(row, chosen))``, with
    cosine similarity (as LangChain's and LlamaIndex's own MMR), so ``lambda_mult`` 1 is
    plain similarity order and 0 the most diverse choice."""
    if not 0.0 <= lambda_mult <= 1.0:
        raise ValueError(f"lambda_mult must be between 0 and 1, not {lambda_mult!r}")
    if k < 1 or len(candidates) == 0:
        return []
    rows = np.asarray(candidates, dtype=np.float64)
    unit = _unit_rows(rows)
    to_query = unit @ _unit_rows(np.asarray(query, dtype=np.float64)[None, :])[0]
    chosen = [int(np.argmax(to_query))]
    redundancy = unit @ unit[chosen[0]]
    while len(chosen) < min(k, len(rows)):
        score = lambda_mult * to_query - (1.0 - lambda_mult) * redundancy
        score[chosen] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        redundancy = np.maximum(redundancy, unit @ unit[best])
    return chosen


def _unit_rows(rows: "np.ndarray") -> "np.ndarray":
    """Rows scaled to length 1; zero rows stay zero (similar to nothing)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
