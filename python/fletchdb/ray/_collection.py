"""``ShardedCollection``: one FletchDB collection split over Ray actors by id.

Writes are checked whole on the caller (``_validate``), split by the id hash
(``_routing``) and sent to the shards at once; a call returns when every shard has
acknowledged its part with its database's durability. Reads scatter to every shard and
merge (``_merge``).

Retries. Reads, ``upsert``, ``update`` and ``delete`` are idempotent: their calls carry
``max_task_retries`` (``task_retries``, default -1), so a call in flight when a shard's
process dies is run again once Ray has restarted the actor. ``add`` is not idempotent
(an id it stored is a ``DuplicateIdError`` the second time), so Ray does not retry it;
when the shard died under it, the caller resends it once the actor is back in "replay"
mode, where an id already stored with the same vector counts as added (the first
attempt's work) and one stored with another vector is still a ``DuplicateIdError``.
"""

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt
import ray
from ray.exceptions import RayActorError

import fletchdb

from . import _merge, _routing, _validate
from ._calls import gather
from ._shard import Shard

ActorOptions = Union[Dict[str, Any], Callable[[int], Dict[str, Any]], None]


class ShardedCollection:
    """A FletchDB collection split over ``shards`` Ray actors, each owning a database
    on its node's local disk. Made by ``create`` or ``open``; the API follows
    ``fletchdb.Collection``. Picklable: Ray tasks (``ingest``) use the same handles."""

    def __init__(
        self, name: str, dim: int, metric: str, actors: List[Any], task_retries: int
    ) -> None:
        """Use ``create`` or ``open``."""
        self._name, self._dim, self._metric = name, dim, metric
        self._actors = actors
        self._retries = task_retries

    # ---- making and closing --------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str,
        dim: int,
        metric: str,
        *,
        shards: int,
        path: str,
        m: int = 16,
        ef_construction: int = 200,
        seed: Optional[int] = None,
        quantization: Optional[str] = None,
        **options: Any,
    ) -> "ShardedCollection":
        """Starts ``shards`` actors and creates the collection in each one's database.

        ``path`` is a template naming each shard's database directory on its node:
        ``"{shard}"`` is replaced by the shard number and ``"{name}"`` by the
        collection's, e.g. ``"/data/fletchdb/{name}-{shard}"``. ``m``,
        ``ef_construction``, ``seed`` and ``quantization`` are
        ``Database.create_collection``'s. Further keywords are ``open``'s (Ray and
        database options). Raises ``CollectionExistsError`` if a shard already holds the
        collection (the actors started are then stopped).
        """
        config = {"dim": dim, "metric": metric, "m": m, "ef_construction": ef_construction,
                  "seed": seed, "quantization": quantization}
        return cls._start(name, dim, metric, shards, path, config, **options)

    @classmethod
    def open(
        cls, name: str, *, shards: int, path: str, **options: Any
    ) -> "ShardedCollection":
        """Starts ``shards`` actors that open the existing collection ``name`` in the
        databases ``path`` names (see ``create``; the same shard count: a shard's
        database records its number and the count, and a mismatch raises
        ``InvalidArgumentError``).

        Options (also ``create``'s):

        - ``actor_options``: Ray options for each actor (``num_cpus``, ``memory``,
          ``resources``, ``scheduling_strategy``, ``label_selector``...), as a dict or a
          function of the shard number returning one (to pin shard ``i`` to the node
          that holds its disk, e.g. ``{"resources": {f"fletchdb-shard-{i}": 0.01}}``).
        - ``max_restarts`` (default -1: always): how often Ray restarts a dead shard.
        - ``max_concurrency`` (default 4): calls a shard runs at once, on threads.
        - ``task_retries`` (default -1): ``max_task_retries`` of idempotent calls.
        - ``durability`` and the other keywords of ``fletchdb.open`` go to each
          shard's database (``durability="sync"`` by default, as ``fletchdb.open``).

        Raises ``CollectionNotFoundError`` if a shard lacks the collection.
        """
        return cls._start(name, None, None, shards, path, None, **options)

    @classmethod
    def _start(
        cls,
        name: str,
        dim: Optional[int],
        metric: Optional[str],
        shards: int,
        path: str,
        create: Optional[Dict[str, Any]],
        *,
        actor_options: ActorOptions = None,
        max_restarts: int = -1,
        max_concurrency: int = 4,
        task_retries: int = -1,
        **open_options: Any,
    ) -> "ShardedCollection":
        if not isinstance(shards, int) or shards < 1:
            raise _validate.invalid(f"shards must be a positive integer, got {shards!r}")
        if "{shard}" not in path:
            raise _validate.invalid(f"the path template {path!r} must contain {{shard}}")
        remote = ray.remote(Shard)
        actors = []
        for i in range(shards):
            extra = actor_options(i) if callable(actor_options) else dict(actor_options or {})
            opts = {"max_restarts": max_restarts, "max_task_retries": 0,
                    "max_concurrency": max_concurrency, **extra}
            shard_path = path.format(shard=i, name=name)
            actors.append(remote.options(**opts).remote(shard_path, name, i, shards, create, open_options))
        try:
            gather([a.ready.remote() for a in actors])
            if dim is None:
                dim, metric = gather([actors[0].describe.remote()])[0]
        except BaseException:
            for a in actors:
                ray.kill(a, no_restart=True)
            raise
        assert dim is not None and metric is not None
        return cls(name, dim, metric, actors, task_retries)

    def close(self) -> None:
        """Closes every shard's database (a checkpoint each) and stops the actors.
        The handle is unusable afterwards; ``open`` starts new actors."""
        try:
            gather([a.close.remote() for a in self._actors])
        finally:
            for a in self._actors:
                ray.kill(a, no_restart=True)
            self._actors = []

    def __enter__(self) -> "ShardedCollection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __reduce__(self) -> Any:
        return (ShardedCollection, (self._name, self._dim, self._metric, self._actors, self._retries))

    # ---- what it is ----------------------------------------------------------------

    @property
    def name(self) -> str:
        """The collection's name (the same in every shard)."""
        return self._name

    @property
    def dim(self) -> int:
        """Components per vector."""
        return self._dim

    @property
    def metric(self) -> str:
        """``"l2"``, ``"ip"`` or ``"cosine"``."""
        return self._metric

    @property
    def shards(self) -> int:
        """How many shards."""
        return len(self._actors)

    @property
    def actors(self) -> List[Any]:
        """The shards' Ray actor handles, in shard order."""
        return list(self._actors)

    def shard_of(self, ids: Any) -> npt.NDArray[np.int64]:
        """The shard each id belongs to (see ``fletchdb.ray._routing``)."""
        return _routing.shard_of(_validate.ids(ids)[0], self.shards)

    # ---- writes --------------------------------------------------------------------

    def add(self, ids: Any, vectors: Any, metadatas: Any = None, documents: Any = None) -> None:
        """``Collection.add`` over the shards: the whole call is checked first (ids,
        vectors, ids repeated or already stored, metadata), so when it raises nothing is
        added. Returns when every shard has acknowledged its part."""
        self._add(ids, vectors, metadatas, documents, replay=False)

    def _add(self, ids: Any, vectors: Any, metadatas: Any, documents: Any, replay: bool) -> int:
        idx, vecs, metas, docs = self._write_args(ids, vectors, metadatas, documents)
        parts = _routing.split(idx, self.shards)
        if not replay:
            held = gather([self._read(s, "held", idx[p]) for s, p in parts])
            for (s, p), h in zip(parts, held):
                if h.any():
                    dup = int(idx[p][np.flatnonzero(h)[0]])
                    raise _validate.error(fletchdb.DuplicateIdError, f"id {dup} already exists", id=dup)
        refs = [self._actors[s].add.remote(idx[p], vecs[p], _at(metas, p), _at(docs, p), replay)
                for s, p in parts]
        written = 0
        for ref, (s, p) in zip(refs, parts):
            try:
                written += gather([ref])[0]
            except RayActorError:
                # The shard died during the call; Ray restarts it. Resend in replay mode,
                # retried by Ray through the restart: ids it stored count as added.
                args = (idx[p], vecs[p], _at(metas, p), _at(docs, p), True)
                written += gather([self._actors[s].add.options(max_task_retries=self._retries).remote(*args)])[0]
        return written

    def upsert(self, ids: Any, vectors: Any, metadatas: Any = None, documents: Any = None) -> None:
        """``Collection.upsert`` over the shards (checked whole first)."""
        idx, vecs, metas, docs = self._write_args(ids, vectors, metadatas, documents)
        gather([self._write(s, "upsert", idx[p], vecs[p], _at(metas, p), _at(docs, p))
                for s, p in _routing.split(idx, self.shards)])

    def update(self, ids: Any, metadatas: Any = None, documents: Any = None) -> None:
        """``Collection.update`` over the shards: raises ``IdNotFoundError`` (nothing
        changed) if any id is not stored."""
        idx, one = _validate.ids(ids)
        _validate.unique(idx)
        metas = _validate.entries(metadatas, "metadatas", len(idx), one)
        docs = _validate.entries(documents, "documents", len(idx), one)
        parts = _routing.split(idx, self.shards)
        for (s, p), h in zip(parts, gather([self._read(s, "held", idx[p]) for s, p in parts])):
            if not h.all():
                miss = int(idx[p][np.flatnonzero(~h)[0]])
                raise _validate.error(fletchdb.IdNotFoundError, f"id {miss} not found", id=miss)
        gather([self._write(s, "update", idx[p], _at(metas, p), _at(docs, p)) for s, p in parts])

    def delete(self, ids: Any = None, where: Optional[Dict[str, Any]] = None) -> int:
        """``Collection.delete`` over the shards: by id (each to its shard), by
        ``where`` (every shard), or both; returns how many were removed."""
        if ids is None and where is None:
            raise _validate.invalid("delete needs ids, where or both")
        if ids is None:
            return sum(gather([self._write(s, "delete", None, where) for s in range(self.shards)]))
        idx, _ = _validate.ids(ids)
        return sum(gather([self._write(s, "delete", idx[p], where)
                           for s, p in _routing.split(idx, self.shards)]))

    def _write_args(self, ids: Any, vectors: Any, metadatas: Any, documents: Any) -> Tuple[Any, ...]:
        idx, one = _validate.ids(ids, for_write=True)
        if len(idx) == 0:
            raise _validate.invalid("an empty batch")
        vecs = _validate.vectors(vectors, len(idx), self._dim, self._metric, one)
        _validate.unique(idx)
        metas = _validate.entries(metadatas, "metadatas", len(idx), one)
        docs = _validate.entries(documents, "documents", len(idx), one)
        return idx, vecs, metas, docs

    # ---- reads ---------------------------------------------------------------------

    def search(
        self,
        queries: Any,
        k: int = 10,
        ef: int = 64,
        where: Optional[Dict[str, Any]] = None,
        filter_ids: Any = None,
        *,
        threads: Optional[int] = None,
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
        """``Collection.search`` over the shards: each returns its ``k`` nearest (with
        ``ef`` its own), merged by distance, ties by id. Shapes as a single collection:
        (k,) for one 1-D query, (nq, k) for an (nq, dim) array, padded with ``NO_ID``
        and ``inf``. ``threads`` is each shard's."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        one = q.ndim == 1
        q2 = q.reshape(1, -1) if one else q
        if filter_ids is not None:
            fid, _ = _validate.ids(filter_ids)
            owner = _routing.shard_of(fid, self.shards)
            refs = [self._read(s, "search", q2, k, ef, where, fid[owner == s], threads)
                    for s in range(self.shards) if (owner == s).any()]
            if not refs:  # no id to search among: what a single collection returns
                refs = [self._read(0, "search", q2, k, ef, where, fid, threads)]
        else:
            refs = [self._read(s, "search", q2, k, ef, where, None, threads)
                    for s in range(self.shards)]
        parts = [(np.asarray(i).reshape(len(q2), -1), np.asarray(d).reshape(len(q2), -1))
                 for i, d in gather(refs)]
        ids, dist = _merge.top_k(parts, k)
        return (ids[0], dist[0]) if one else (ids, dist)

    def get(self, ids: Any) -> npt.NDArray[np.float32]:
        """``Collection.get``: (dim,) for one int id, (n, dim) in the given order.
        Raises ``IdNotFoundError`` for a missing id."""
        idx, one = _validate.ids(ids)
        out = np.empty((len(idx), self._dim), dtype=np.float32)
        for (s, p), rows in self._routed("get", idx):
            out[p] = np.asarray(rows).reshape(len(p), self._dim)
        return out[0] if one else out

    def get_metadata(self, ids: Any) -> List[Optional[Dict[str, Any]]]:
        """``Collection.get_metadata``, in the given order."""
        return self._routed_list("get_metadata", ids)

    def get_documents(self, ids: Any) -> List[Optional[str]]:
        """``Collection.get_documents``, in the given order."""
        return self._routed_list("get_documents", ids)

    def count(self, where: Optional[Dict[str, Any]] = None) -> int:
        """How many records match ``where`` (all when None), over every shard."""
        return sum(gather([self._read(s, "count", where) for s in range(self.shards)]))

    def ids(self, where: Optional[Dict[str, Any]] = None) -> npt.NDArray[np.uint64]:
        """The ids that match ``where`` (all when None), ascending, over every shard."""
        parts = gather([self._read(s, "ids", where) for s in range(self.shards)])
        return np.sort(np.concatenate([np.asarray(p, dtype=np.uint64) for p in parts]))

    def flush(self) -> None:
        """Returns once every shard's acknowledged writes are on stable storage."""
        gather([self._read(s, "flush") for s in range(self.shards)])

    def __len__(self) -> int:
        """The number of records over every shard."""
        return self.count()

    def __contains__(self, id: object) -> bool:
        """True if the shard the id belongs to holds it."""
        idx, _ = _validate.ids(id)
        return bool(gather([self._read(int(self.shard_of(idx)[0]), "held", idx)])[0][0])

    # ---- calls -------------------------------------------------------------------

    def _read(self, shard: int, method: str, *args: Any) -> Any:
        return getattr(self._actors[shard], method).options(max_task_retries=self._retries).remote(*args)

    _write = _read  # idempotent writes are retried as reads are

    def _routed(self, method: str, idx: npt.NDArray[np.uint64]) -> List[Tuple[Tuple[int, Any], Any]]:
        parts = _routing.split(idx, self.shards)
        return list(zip(parts, gather([self._read(s, method, idx[p]) for s, p in parts])))

    def _routed_list(self, method: str, ids: Any) -> List[Any]:
        idx, _ = _validate.ids(ids)
        out: List[Any] = [None] * len(idx)
        for (s, p), values in self._routed(method, idx):
            for pos, v in zip(p, values):
                out[pos] = v
        return out


def _at(entries: Optional[List[Any]], positions: npt.NDArray[np.intp]) -> Optional[List[Any]]:
    return None if entries is None else [entries[i] for i in positions]
