"""Bulk loads from a Ray Dataset: ``map_batches`` tasks write each batch into the shards.

Each batch is one ``ShardedCollection`` write, run in a Ray task on whichever node holds
the batch, so the data goes from the blocks straight to the shards without passing
through the caller. Batches are written in "replay" mode: a batch that Ray Data runs
again (a task retried after its worker died) finds its ids stored with the same vectors
and counts them as written, so a retried load neither fails nor duplicates.

A batch FletchDB refuses comes back as data (its exception pickled in the batch's
"error" column): Ray Data 2.60 re-raises a failed batch as a ``UserCodeException`` that
no longer carries the original, and the caller should get the ``fletchdb`` exception.
"""

import pickle
from typing import Any, Dict, Optional

import numpy as np

import fletchdb


def _write_batch(
    batch: Dict[str, Any],
    target: Any,
    id_column: str,
    vector_column: str,
    metadata_column: Optional[str],
    document_column: Optional[str],
    upsert: bool,
) -> Dict[str, Any]:
    metas = list(batch[metadata_column]) if metadata_column else None
    docs = list(batch[document_column]) if document_column else None
    vectors = np.stack(batch[vector_column]) if batch[vector_column].dtype == object else batch[vector_column]
    ids = batch[id_column]
    try:
        if upsert:
            target.upsert(ids, vectors, metas, docs)
            written = len(ids)
        else:
            written = target._add(ids, vectors, metas, docs, replay=True)
    except fletchdb.Error as e:
        return {"written": np.array([0]), "error": np.array([pickle.dumps(e)], dtype=object)}
    return {"written": np.array([written]), "error": np.array([b""], dtype=object)}


def ingest(
    collection: Any,
    dataset: Any,
    *,
    id_column: str = "id",
    vector_column: str = "vector",
    metadata_column: Optional[str] = None,
    document_column: Optional[str] = None,
    batch_size: int = 4096,
    upsert: bool = False,
    **map_batches_options: Any,
) -> int:
    """Writes every row of the Ray Dataset ``dataset`` into ``collection`` (a
    ``ShardedCollection``) and returns how many rows were added (or upserted).

    Rows need an integer id column and a vector column (fixed-size arrays, as
    ``ray.data.from_numpy`` or a list column makes them); ``metadata_column`` (dicts) and
    ``document_column`` (strs) are optional. Each batch of ``batch_size`` rows is checked
    and written whole, in parallel with the others; with ``upsert=False`` an id already
    stored with another vector raises ``DuplicateIdError`` (earlier batches stay
    written). Further keywords go to ``Dataset.map_batches`` (``concurrency``,
    ``num_cpus``...)."""
    written = dataset.map_batches(
        _write_batch,
        batch_format="numpy",
        batch_size=batch_size,
        fn_kwargs={
            "target": collection,
            "id_column": id_column,
            "vector_column": vector_column,
            "metadata_column": metadata_column,
            "document_column": document_column,
            "upsert": upsert,
        },
        **map_batches_options,
    )
    total = 0
    for b in written.iter_batches(batch_format="numpy"):
        for err in b["error"]:
            if err:
                raise pickle.loads(err)
        total += int(b["written"].sum())
    return total
