"""Sharded FletchDB collections on Ray: ``pip install "fletchdb[ray]"``.

One Ray actor per shard, each owning a FletchDB database on its node's local disk; ids
are routed to shards by a fixed 64-bit hash (``_routing``), searches scatter to every
shard and merge the per-shard top k. ``import fletchdb`` does not import this module
(nor Ray)::

    import ray
    from fletchdb.ray import ShardedCollection, ingest

    ray.init()
    coll = ShardedCollection.create("docs", dim=384, metric="cosine", shards=4,
                                    path="/data/fletchdb/{name}-{shard}")
    coll.add(ids, vectors)                      # split by id hash, every shard acknowledges
    labels, distances = coll.search(queries, k=10)
    ingest(coll, ray.data.from_numpy(...))      # bulk load through map_batches

Guarantees: each shard's write is as durable as a FletchDB write (``durability``); a
call that spans shards is checked whole before any shard writes, but is not a
transaction: a crash of the caller mid-call can leave some shards' parts written. See
the README's "Sharded on Ray".
"""

from ._collection import ShardedCollection
from ._ingest import ingest
from ._routing import HASH_NAME, mix64, shard_of

__all__ = ["HASH_NAME", "ShardedCollection", "ingest", "mix64", "shard_of"]
