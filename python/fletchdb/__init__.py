"""FletchDB: an embedded, crash-safe vector database.

Durable collections of vectors with fast approximate nearest-neighbour search (HNSW),
inside your process: no server. Open a directory, create collections, add numpy vectors
under integer ids, search; a write that returned survives a crash.

    import numpy as np
    import fletchdb

    with fletchdb.open("my.db") as db:
        docs = db.create_collection("docs", dim=384, metric="cosine")
        docs.add(np.arange(1000), np.random.rand(1000, 384))
        ids, distances = docs.search(np.random.rand(384), k=10)

Every error is a ``fletchdb.Error``; bad input raises subclasses that are also
``ValueError`` (``DimensionMismatchError``, ``InvalidVectorError``, ``DuplicateIdError``,
...), missing things ``KeyError`` (``CollectionNotFoundError``, ``IdNotFoundError``).
"""

from ._fletchdb import (
    NO_ID,
    ClosedError,
    Collection,
    CollectionExistsError,
    CollectionNotFoundError,
    CorruptionError,
    Database,
    DimensionMismatchError,
    DuplicateIdError,
    Error,
    GraphError,
    IdNotFoundError,
    InvalidArgumentError,
    InvalidVectorError,
    IoError,
    LockedError,
    StorageError,
    UnsupportedVersionError,
    WalPoisonedError,
    __version__,
    open,
)

__all__ = [
    "NO_ID",
    "ClosedError",
    "Collection",
    "CollectionExistsError",
    "CollectionNotFoundError",
    "CorruptionError",
    "Database",
    "DimensionMismatchError",
    "DuplicateIdError",
    "Error",
    "GraphError",
    "IdNotFoundError",
    "InvalidArgumentError",
    "InvalidVectorError",
    "IoError",
    "LockedError",
    "StorageError",
    "UnsupportedVersionError",
    "WalPoisonedError",
    "__version__",
    "open",
]
