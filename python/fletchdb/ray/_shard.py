"""One shard: a Ray actor that owns a FletchDB database on its node's disk.

The database is opened in ``__init__``, so when Ray restarts the actor after its process
died (``max_restarts``) the new process reopens it from disk: FletchDB replays its log,
and every write the shard acknowledged is there. The directory lock is an ``flock``,
which the kernel drops when the dead process goes, so the new process can take it; the
open retries a ``LockedError`` for a few seconds in case the old process is still on
its way out.

A failure to open (a collection that is missing or already exists, a locked or damaged
directory) does not kill the actor: it is kept and raised by every call, so the caller
gets the FletchDB exception itself rather than a Ray error about a dead actor.

Every method releases the GIL inside FletchDB, so with ``max_concurrency`` above one a
shard serves several searches (and writes) at once.
"""

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt
import ray

import fletchdb

# How long a reopen waits for the dead process's lock to go.
_LOCK_WAIT_S = 10.0


def sidecar(path: str) -> Path:
    """The file beside a shard's database that records which shard of how many it is."""
    return Path(str(path).rstrip("/") + ".shard.json")


class Shard:
    """The actor class (made remote by ``ShardedCollection``); see the module docstring.

    ``create``: make the collection (``CollectionExistsError`` if it exists); a restarted
    actor never creates, it reopens, so a shard restarted on a node without its data
    raises ``CollectionNotFoundError`` instead of silently starting empty.
    """

    def __init__(
        self,
        path: str,
        name: str,
        shard: int,
        shards: int,
        create: Optional[Dict[str, Any]],
        open_options: Dict[str, Any],
    ) -> None:
        self._error: Optional[BaseException] = None
        self._db: Optional[fletchdb.Database] = None
        self._reconstructed = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        identity = {"shard": shard, "shards": shards, "hash": "splitmix64"}
        try:
            self._coll = self._open(path, name, identity, create, open_options)
        except fletchdb.Error as e:
            self._error = e
            if self._db is not None:
                self._db.close()

    def _open(self, path: str, name: str, identity: Dict[str, Any],
              create: Optional[Dict[str, Any]], open_options: Dict[str, Any]) -> fletchdb.Collection:
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                self._db = fletchdb.open(path, **open_options)
                break
            except fletchdb.LockedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        if create is not None and not self._reconstructed:
            coll = self._db.create_collection(name, **create)
            tmp = sidecar(path).with_suffix(".tmp")
            tmp.write_text(json.dumps(identity))
            os.replace(tmp, sidecar(path))
            return coll
        coll = self._db.collection(name)
        found = json.loads(sidecar(path).read_text()) if sidecar(path).exists() else None
        if found is not None and found != identity:
            raise fletchdb.InvalidArgumentError(
                f"{path} holds shard {found['shard']} of {found['shards']}, "
                f"opened as shard {identity['shard']} of {identity['shards']}"
            )
        return coll

    def _c(self) -> fletchdb.Collection:
        if self._error is not None:
            raise self._error
        return self._coll

    def ready(self) -> Dict[str, Any]:
        """Raises the open's error, if any; else where this shard runs."""
        self._c()
        ctx = ray.get_runtime_context()
        return {
            "pid": os.getpid(),
            "node_id": ctx.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "reconstructed": self._reconstructed,
        }

    def describe(self) -> Tuple[int, str]:
        """The collection's dimension and metric."""
        c = self._c()
        return c.dim, c.metric

    def pid(self) -> int:
        """The actor's process id (tests kill it)."""
        return os.getpid()

    def add(
        self,
        ids: npt.NDArray[np.uint64],
        vectors: npt.NDArray[np.float32],
        metadatas: Optional[List[Any]],
        documents: Optional[List[Any]],
        replay: bool,
    ) -> int:
        """``Collection.add``. With ``replay`` (a resend after this actor died, or a
        bulk load's batch that may run twice), ids already stored with the same vector
        count as added; one stored with another vector is still a ``DuplicateIdError``."""
        c = self._c()
        if replay:
            held = np.array([int(i) in c for i in ids], dtype=bool)
            if held.any():
                stored = c.get(ids[held])
                sent = vectors[held]
                if c.metric == "cosine":
                    sent = sent / np.linalg.norm(sent, axis=1, keepdims=True)
                same = np.isclose(stored, sent, rtol=1e-5, atol=1e-6).all(axis=1)
                if not same.all():
                    bad = int(ids[held][np.flatnonzero(~same)[0]])
                    err = fletchdb.DuplicateIdError(f"id {bad} already exists")
                    err.id = bad
                    raise err
                keep = ~held
                ids, vectors = ids[keep], vectors[keep]
                metadatas = _pick(metadatas, keep)
                documents = _pick(documents, keep)
                if len(ids) == 0:
                    return 0
        c.add(ids, vectors, metadatas, documents)
        return len(ids)

    def upsert(self, ids, vectors, metadatas, documents) -> int:  # type: ignore[no-untyped-def]
        """``Collection.upsert`` (idempotent: Ray may run it again)."""
        self._c().upsert(ids, vectors, metadatas, documents)
        return len(ids)

    def update(self, ids, metadatas, documents) -> int:  # type: ignore[no-untyped-def]
        """``Collection.update`` (idempotent)."""
        kwargs = {k: v for k, v in (("metadatas", metadatas), ("documents", documents)) if v is not None}
        self._c().update(ids, **kwargs)
        return len(ids)

    def delete(self, ids, where) -> int:  # type: ignore[no-untyped-def]
        """``Collection.delete``: how many were removed (a rerun removes none)."""
        return self._c().delete(ids=ids, where=where)

    def held(self, ids: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        """Which of ``ids`` this shard holds."""
        c = self._c()
        return np.array([int(i) in c for i in ids], dtype=bool)

    def search(self, queries, k, ef, where, filter_ids, threads) -> Tuple[Any, Any]:  # type: ignore[no-untyped-def]
        """``Collection.search`` of an (nq, dim) array: this shard's top ``k``."""
        return self._c().search(queries, k=k, ef=ef, where=where, filter_ids=filter_ids, threads=threads)

    def get(self, ids):  # type: ignore[no-untyped-def]
        """``Collection.get``."""
        return self._c().get(ids)

    def get_metadata(self, ids):  # type: ignore[no-untyped-def]
        """``Collection.get_metadata``."""
        return self._c().get_metadata(ids)

    def get_documents(self, ids):  # type: ignore[no-untyped-def]
        """``Collection.get_documents``."""
        return self._c().get_documents(ids)

    def count(self, where) -> int:  # type: ignore[no-untyped-def]
        """``Collection.count``."""
        return self._c().count(where)

    def ids(self, where):  # type: ignore[no-untyped-def]
        """``Collection.ids``."""
        return self._c().ids(where)

    def flush(self) -> None:
        """``Collection.flush``."""
        self._c().flush()

    def close(self) -> None:
        """Closes the database (checkpoint, lock released); the actor can then exit."""
        if self._db is not None:
            self._db.close()


def _pick(entries: Optional[List[Any]], keep: npt.NDArray[np.bool_]) -> Optional[List[Any]]:
    return None if entries is None else [e for e, k in zip(entries, keep) if k]
