"""A FletchDB collection seen through string keys: what the LangChain and LlamaIndex
stores share.

The collection is made by the first write, with the dimension of its vectors, so a store
needs no dimension up front (and its embedding model is not called to find one). Until
then reads find nothing. Each record's metadata carries its key (see ``_keys``); metadata
handed back has it removed.
"""

import os
import threading
from typing import Any, Dict, List, Literal, NamedTuple, Optional, Sequence, Tuple, Union, cast

import numpy as np

import fletchdb

from . import _keys

Metric = Literal["cosine", "l2", "ip"]
METRICS = ("cosine", "l2", "ip")

_PathLike = Union[str, "os.PathLike[str]"]


class Record(NamedTuple):
    """One record as read back: its FletchDB id, its key (None for a record written
    without one, by FletchDB's own API), metadata (without the key field), document, and
    where asked for, its stored vector."""

    id: int
    key: Optional[str]
    metadata: Dict[str, Any]
    document: Optional[str]
    vector: Optional["np.ndarray"] = None


def _bad(message: str) -> fletchdb.InvalidArgumentError:
    return fletchdb.InvalidArgumentError(message)


def no_more_options(kwargs: Dict[str, Any], method: str) -> None:
    """Refuses keyword arguments a method does not know (TypeError): a misspelt filter
    silently ignored would return unfiltered results."""
    if kwargs:
        raise TypeError(f"FletchVectorStore.{method}() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")


def checked_k(k: object, name: str = "k") -> int:
    """``k`` (a count such as the number of results), refusing anything but a positive
    integer, with an error naming the argument ``name``."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise _bad(f"{name} must be a positive integer, not {k!r}")
    return int(k)


class KeyedStore:
    """The collection ``collection_name`` of a database opened on ``path`` (created if
    needed, closed by ``close``) or of an open ``database`` (used as is, left open), with
    records named by strings."""

    def __init__(
        self,
        *,
        path: Optional[_PathLike],
        database: Optional[fletchdb.Database],
        collection_name: str,
        metric: Metric,
    ) -> None:
        if (path is None) == (database is None):
            raise TypeError("give exactly one of path= (a directory) or database= (an open fletchdb.Database)")
        if database is not None and not isinstance(database, fletchdb.Database):
            raise TypeError(f"database must be a fletchdb.Database, got {type(database).__name__}")
        if metric not in METRICS:
            raise _bad(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
        if not isinstance(collection_name, str) or not collection_name:
            raise _bad(f"collection_name must be a non-empty str, not {collection_name!r}")
        self._owns_database = database is None
        self._db = fletchdb.open(os.fspath(path)) if database is None else database  # type: ignore[arg-type]
        self._name = collection_name
        self._metric = cast(Metric, metric)
        self._collection: Optional[fletchdb.Collection] = None
        self._write_lock = threading.Lock()
        existing = self.collection()
        if existing is not None and existing.metric != metric:
            self.close()
            raise _bad(
                f"collection {collection_name!r} in {self._db.path} compares vectors by "
                f"{existing.metric!r}, not {metric!r}"
            )

    @property
    def database(self) -> fletchdb.Database:
        """The database."""
        return self._db

    @property
    def metric(self) -> Metric:
        """``"cosine"``, ``"l2"`` or ``"ip"``."""
        return self._metric

    def collection(self) -> Optional[fletchdb.Collection]:
        """The collection, or None before the first write made it."""
        if self._collection is None and self._name in self._db:
            self._collection = self._db.collection(self._name)
        return self._collection

    def upsert(
        self,
        keys: Sequence[object],
        vectors: Any,
        metadatas: Optional[Sequence[Optional[Dict[str, Any]]]] = None,
        documents: Optional[Sequence[Optional[str]]] = None,
    ) -> None:
        """Writes one record per key, replacing any record of that key whole. The call is
        checked first: when it raises, nothing is written."""
        keys = _keys.checked_keys(keys, unique=True)
        n = len(keys)
        metadatas = [None] * n if metadatas is None else list(metadatas)
        documents = [None] * n if documents is None else list(documents)
        if len(metadatas) != n or len(documents) != n:
            raise _bad(f"{n} ids, {len(metadatas)} metadatas and {len(documents)} documents: the counts must agree")
        try:
            array = np.asarray(vectors, dtype=np.float32)
        except ValueError as e:
            raise _bad(f"embeddings must be numbers, all of one length: {e}") from None
        if array.ndim != 2 or array.shape[0] != n:
            raise _bad(f"expected {n} embeddings of one length, got an array of shape {array.shape}")
        if n == 0:
            return
        stored = []
        for key, meta in zip(keys, metadatas):
            if meta is not None and not isinstance(meta, dict):
                raise TypeError(f"metadata of {key!r} must be a dict, got {type(meta).__name__}")
            if meta and _keys.KEY_FIELD in meta:
                raise _bad(f"metadata of {key!r} uses the reserved key {_keys.KEY_FIELD!r}")
            stored.append({**(meta or {}), _keys.KEY_FIELD: key})
        with self._write_lock:
            collection = self.collection()
            created = collection is None
            if collection is None:
                collection = self._db.get_or_create_collection(self._name, dim=array.shape[1], metric=self._metric)
                self._collection = collection
            try:
                ids = self._find_ids(keys)
                ids.update(_keys.new_ids(collection, [k for k in keys if k not in ids]))
                collection.upsert([ids[k] for k in keys], array, stored, documents)
            except BaseException:
                # A refused first write leaves no collection behind, so it does not fix
                # the dimension for the next one.
                if created and len(collection) == 0:
                    self._db.drop_collection(self._name)
                    self._collection = None
                raise

    def delete(self, keys: Optional[Sequence[object]] = None, where: Optional[Dict[str, Any]] = None) -> int:
        """Removes the records of ``keys``, those matching ``where``, or both (the keys'
        records that match); every record when both are None. Absent keys are skipped.
        Returns how many were removed."""
        collection = self.collection()
        if collection is None:
            return 0
        if keys is not None:
            return collection.delete(list(self._find_ids(keys, where).values()))
        if where:
            return collection.delete(where=where)
        return collection.delete(collection.ids())

    def get(self, keys: Sequence[object], where: Optional[Dict[str, Any]] = None) -> List[Record]:
        """The records of ``keys`` (those matching ``where``, if given) in the keys' order,
        each once; absent keys are skipped."""
        keys = list(dict.fromkeys(_keys.checked_keys(keys, unique=False)))
        found = self._find_ids(keys, where)
        return self._read([found[k] for k in keys if k in found])

    def query(self, where: Optional[Dict[str, Any]] = None, limit: Optional[int] = None) -> List[Record]:
        """The records matching ``where`` (all when None), at most ``limit``, in the
        order of their integer ids (so in no meaningful order, but a stable one)."""
        collection = self.collection()
        if collection is None:
            return []
        ids = collection.ids(where=where or None).tolist()
        return self._read(ids if limit is None else ids[:limit])

    def search(
        self,
        vector: Any,
        k: int,
        *,
        where: Optional[Dict[str, Any]] = None,
        keys: Optional[Sequence[object]] = None,
        ef: Optional[int] = None,
        vectors: bool = False,
    ) -> List[Tuple[Record, float]]:
        """The ``k`` records closest to ``vector`` (with their stored vectors if
        ``vectors``) and their distances, closest first: among those matching ``where``
        and, if ``keys`` is given, among those keys'. Fewer when fewer qualify."""
        k = checked_k(k)
        collection = self.collection()
        if collection is None:
            return []
        filter_ids = None
        if keys is not None:
            filter_ids = list(self._find_ids(keys).values())
            if not filter_ids:
                return []
        options: Dict[str, Any] = {} if ef is None else {"ef": ef}
        ids, distances = collection.search(
            np.asarray(vector, dtype=np.float32), k=k, where=where or None, filter_ids=filter_ids, **options
        )
        hits = [(int(i), float(d)) for i, d in zip(ids.tolist(), distances.tolist()) if i != fletchdb.NO_ID]
        distance = dict(hits)
        return [(r, distance[r.id]) for r in self._read([i for i, _ in hits], vectors)]

    def flush(self) -> None:
        """Returns once every write so far is on stable storage."""
        self._db.flush()

    def close(self) -> None:
        """Closes the database if this store opened it (``path=``); one passed in as
        ``database=`` stays open. Closing twice does nothing."""
        if self._owns_database:
            self._db.close()

    def _find_ids(self, keys: Sequence[object], where: Optional[Dict[str, Any]] = None) -> Dict[str, int]:
        """The ids of those ``keys`` the collection holds (and, if given, whose records
        match ``where``): one indexed query on the key field, one metadata read."""
        keys = list(dict.fromkeys(_keys.checked_keys(keys, unique=False)))
        collection = self.collection()
        if collection is None or not keys:
            return {}
        query: Dict[str, Any] = {_keys.KEY_FIELD: {"$in": keys}}
        if where:
            query = {"$and": [where, query]}
        ids = collection.ids(where=query).tolist()
        return {r.key: r.id for r in self._read(ids, documents=False) if r.key is not None}

    def _read(self, ids: List[int], vectors: bool = False, documents: bool = True) -> List[Record]:
        """The records of ``ids``, in order. An id another thread deleted since it was
        found is dropped, not an error."""
        collection = self.collection()
        ids = list(ids)
        if collection is None or not ids:
            return []
        while True:
            try:
                metas = collection.get_metadata(ids)
                docs = collection.get_documents(ids) if documents else [None] * len(ids)
                vecs = collection.get(ids) if vectors else [None] * len(ids)
                break
            except fletchdb.IdNotFoundError as e:
                if e.id not in ids:
                    raise
                ids.remove(e.id)
        records = []
        for id_, meta, doc, vec in zip(ids, metas, docs, vecs):
            meta = dict(meta or {})
            key = meta.pop(_keys.KEY_FIELD, None)
            records.append(Record(id_, key if isinstance(key, str) else None, meta, doc, vec))
        return records
