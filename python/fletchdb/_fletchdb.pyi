"""Type stubs of FletchDB's native module (re-exported by ``fletchdb``)."""

import os
from types import TracebackType
from typing import (
    Any,
    Dict,
    List,
    Literal,
    Optional,
    Sequence,
    SupportsIndex,
    Tuple,
    Type,
    TypedDict,
    Union,
    final,
)

import numpy as np
import numpy.typing as npt

__version__: str
__all__ = [
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
    "NO_ID",
    "StorageError",
    "UnsupportedVersionError",
    "WalPoisonedError",
    "__version__",
    "open",
]

NO_ID: int
"""``2**64 - 1``: the id that pads search results where fewer than ``k`` vectors
qualify (their distance is ``inf``). ``add`` and ``upsert`` refuse it."""

_Metric = Literal["l2", "ip", "cosine"]
_Quantization = Literal["none", "f16", "i8"]
_Durability = Literal["sync", "buffered", "none"]

# One id: a non-negative integer below 2**64 - 1 (a Python or numpy integer).
_IdLike = Union[int, SupportsIndex]
# One id, or a 1-D sequence or integer array of them (any integer dtype; negative values
# are refused with InvalidArgumentError).
_IdsLike = Union[_IdLike, Sequence[int], npt.ArrayLike]
# One vector (1-D) or an (n, dim) array of vectors: anything numpy converts to float32
# (float16/32/64, integers, lists). C-contiguous float32 arrays are used without a copy;
# anything else is converted with one copy.
_VectorsLike = npt.ArrayLike

# A metadata value as it comes back from get_metadata. What goes in: str, int, float
# (finite), bool, None, or a list or tuple of str, int, float and bool; numpy scalars are
# read as their .item(). A nested dict, a list holding None or a list, a NaN, an integer
# outside int64 or any other type raises InvalidArgumentError naming the key.
_Scalar = Union[str, int, float, bool]
_MetadataValue = Union[_Scalar, None, List[_Scalar]]
# One record's metadata: a dict with str keys (not starting with "$").
_MetadataIn = Dict[str, Any]
# metadatas: one dict (or None) per id; with one integer id, a lone dict.
_MetadatasLike = Union[_MetadataIn, Sequence[Optional[_MetadataIn]]]
# documents: one str (or None) per id; with one integer id, a lone str.
_DocumentsLike = Union[str, Sequence[Optional[str]]]
# A where filter in Chroma's grammar: {"key": value}, {"key": {"$op": arg}} with $eq $ne
# $gt $gte $lt $lte $in $nin $contains, and {"$and": [...]} / {"$or": [...]}.
_Where = Dict[str, Any]

class _Health(TypedDict):
    """What ``Database.health()`` returns."""

    checkpoint_lsn: int
    replayed_at_open: int
    background_checkpoints: int
    background_errors: int
    last_background_error: Optional[str]
    opened_ms: float
    open_steps_ms: _OpenSteps

class _OpenSteps(TypedDict):
    """How long each step of the open took, in ms (``Database.health()["open_steps_ms"]``)."""

    catalog: float
    stores: float
    replay: float
    linking: float

class _Stats(TypedDict):
    """What ``Collection.stats()`` returns."""

    live: int
    unlinked: int
    tombstones: int
    free_slots: int
    slots: int
    code_bytes: int
    filter_links: int
    filter_links_bytes: int
    vector_bytes: int
    graph_bytes: int
    id_map_bytes: int
    other_bytes: int
    log_bytes: int
    last_checkpoint_lsn: int
    last_checkpoint_at: Optional[float]
    last_compaction_at: Optional[float]

class _Compaction(TypedDict):
    """What ``Collection.compact()`` returns."""

    moved: int
    slots_before: int
    slots_after: int
    files_removed: int
    bytes_before: int
    bytes_after: int
    longest_pause_s: float

def open(
    path: Union[str, "os.PathLike[str]"],
    *,
    durability: _Durability = "sync",
    sync_interval_ms: float = 10.0,
    commit_window_us: float = 0.0,
    checkpoint_bytes: int = 268435456,
    checkpoint_interval_s: Optional[float] = 30.0,
    wal_segment_size: int = 67108864,
    checkpoint_on_close: bool = True,
    compaction_threshold_percent: int = 20,
    background_linking: bool = True,
) -> Database:
    """Opens (creating it if needed) the database in directory ``path``, recovering what
    its write-ahead log holds after the last checkpoint.

    durability: ``"sync"`` (default; a write returns once on stable storage and survives
    power loss), ``"buffered"`` (once the OS has it: survives the process being killed;
    synced every ``sync_interval_ms``) or ``"none"`` (synced by ``flush()``,
    checkpoints and close only; for bulk loads and tests).
    commit_window_us: the longest a group commit waits for more writers to share one
    sync (0 never waits).
    checkpoint_bytes, checkpoint_interval_s: the background thread checkpoints after this
    much log or this long of writing (0 or None turns a trigger off); bounds replay after
    a crash.
    wal_segment_size: bytes of the largest write-ahead log file (they start at 1/64 of
    it, at most 1 MiB, and double as they fill).
    checkpoint_on_close: checkpoint on close, so that the next open replays nothing.
    compaction_threshold_percent: the background thread compacts a collection (see
    ``Collection.compact``) once tombstones and free slots are this share of its slots;
    0 turns it off.
    background_linking: after a crash, open returns once the log is read: the replayed
    vectors are searchable at once (scanned exactly beside the graph) while the
    background thread inserts them into the graph (``stats()["unlinked"]`` counts those
    left); False inserts them before open returns.

    Raises LockedError if the database is open elsewhere, CorruptionError for damaged
    files, IoError (an OSError), InvalidArgumentError for bad options.
    """

@final
class Database:
    """An open FletchDB database: a directory of named collections of vectors.

    A context manager: leaving the ``with`` block closes it. Closing takes a checkpoint,
    releases the directory's lock and makes every ``Collection`` of this database raise
    ``ClosedError``. One process opens a directory at a time (``LockedError``). Thread
    safe; methods that do work release the GIL.
    """

    @property
    def path(self) -> str:
        """The database's directory."""
    @property
    def closed(self) -> bool:
        """True once ``close`` has run."""
    @property
    def replayed_at_open(self) -> int:
        """Log records replayed by the open: zero after a clean close."""
    def health(self) -> _Health:
        """The background checkpointer's record, as a dict: ``checkpoint_lsn`` (log
        position of the last checkpoint, 0 before the first), ``replayed_at_open``,
        ``background_checkpoints`` and ``background_errors`` (since the open), and
        ``last_background_error`` (its message, or None). A failed background
        checkpoint loses nothing, but nobody waits on it: this is where it shows."""
    def create_collection(
        self,
        name: str,
        dim: int,
        metric: _Metric,
        m: int = 16,
        ef_construction: int = 200,
        *,
        seed: Optional[int] = None,
        quantization: Optional[_Quantization] = None,
    ) -> Collection:
        """Creates a collection of ``dim``-component vectors compared by ``metric``:
        ``"l2"`` (squared Euclidean), ``"ip"`` (``1 - dot``) or ``"cosine"``
        (``1 - cos``; vectors stored normalised). ``m`` and ``ef_construction`` are
        hnswlib's HNSW parameters with hnswlib's defaults. ``quantization``
        (``"none"``, ``"f16"`` or ``"i8"``) is the compact copy of the vectors that
        searches walk before re-scoring their best candidates exactly (default:
        ``"i8"`` from 32 components up, else ``"none"``).

        Raises CollectionExistsError, or InvalidArgumentError for an empty name or
        out-of-range parameters (dim 1..65536, m 2..128, ef_construction 1..65536).
        """
    def get_or_create_collection(
        self,
        name: str,
        dim: int,
        metric: _Metric,
        m: int = 16,
        ef_construction: int = 200,
        *,
        seed: Optional[int] = None,
        quantization: Optional[_Quantization] = None,
    ) -> Collection:
        """The collection ``name``, created if it does not exist. An existing one must
        have the same ``dim`` and ``metric`` (else InvalidArgumentError naming both) and
        keeps its own ``m``, ``ef_construction``, seed and quantization."""
    def collection(self, name: str) -> Collection:
        """The collection ``name``; raises CollectionNotFoundError (a KeyError)."""
    def drop_collection(self, name: str) -> None:
        """Deletes a collection and its files; raises CollectionNotFoundError."""
    def list_collections(self) -> list[str]:
        """The names of the collections, sorted."""
    def __contains__(self, name: str, /) -> bool:
        """True if a collection of this name exists."""
    def flush(self) -> None:
        """Returns once every acknowledged write is on stable storage."""
    def checkpoint(self) -> None:
        """Saves graphs and id maps now and trims the write-ahead log."""
    def backup(self, path: Union[str, "os.PathLike[str]"]) -> int:
        """Copies the database into ``path`` (which must not exist or be an empty
        directory) at one log position, while writes and searches go on; the copy opens
        as a normal database. Returns that position (the copy holds every write logged
        below it). InvalidArgumentError (with ``path``) if ``path`` is a file or a
        directory with entries; IoError naming the file a copy failed on (nothing is
        left at ``path`` then). The GIL is released meanwhile."""
    def close(self) -> None:
        """Waits for calls in flight, checkpoints (unless ``checkpoint_on_close=False``)
        and releases the directory. Closing twice does nothing."""
    def __enter__(self) -> Database: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]] = None,
        exc: Optional[BaseException] = None,
        traceback: Optional[TracebackType] = None,
    ) -> bool: ...

@final
class Collection:
    """A named collection of records in a ``Database``: a vector under each id, with
    optional metadata (a dict) and document (a str).

    Ids are non-negative integers below ``2**64 - 1``; vectors are stored as float32.
    Methods that do work release the GIL, so Python threads search and write in
    parallel. Raises ClosedError once the database is closed and
    CollectionNotFoundError once the collection is dropped.
    """

    @property
    def name(self) -> str:
        """The collection's name."""
    @property
    def dim(self) -> int:
        """Components per vector."""
    @property
    def metric(self) -> _Metric:
        """``"l2"``, ``"ip"`` or ``"cosine"``."""
    @property
    def m(self) -> int:
        """HNSW links per node."""
    @property
    def ef_construction(self) -> int:
        """Candidates considered per insert."""
    @property
    def quantization(self) -> _Quantization:
        """The compact copy searches walk: ``"none"``, ``"f16"`` or ``"i8"``."""
    def add(
        self,
        ids: _IdsLike,
        vectors: _VectorsLike,
        metadatas: Optional[_MetadatasLike] = None,
        documents: Optional[_DocumentsLike] = None,
        *,
        threads: Optional[int] = None,
    ) -> None:
        """Adds records under new ids: one id with one 1-D vector, or n ids with an
        (n, dim) array, with ``metadatas`` (a dict or None per id) and ``documents`` (a
        str or None per id) if given; with one integer id, a lone dict or str stands for
        the one-element list. The call is checked as a whole first: when it raises,
        nothing is added. Raises DuplicateIdError (a ValueError) for an existing or
        repeated id, DimensionMismatchError, InvalidVectorError (NaN, inf, zero vector
        under cosine), InvalidArgumentError (id count differs from vector, metadata or
        document count; negative ids; a metadata value that is not a str, int, float,
        bool, None or a list of str, int, float and bool, naming the key).

        ``threads`` is how many threads insert a batch into the graph: None (the
        default) every core, ``n`` a pool of ``n`` threads, built on first use and kept
        for later calls (hnswlib's ``num_threads``). 0, a negative number or more than
        1024 raises InvalidArgumentError. The GIL is released either way."""
    def upsert(
        self,
        ids: _IdsLike,
        vectors: _VectorsLike,
        metadatas: Optional[_MetadatasLike] = None,
        documents: Optional[_DocumentsLike] = None,
        *,
        threads: Optional[int] = None,
    ) -> None:
        """As ``add``, but an existing id has its whole record replaced: vector,
        metadata and document (what is not given is cleared; ``update`` changes metadata
        or documents alone). ``threads`` as in ``add``."""
    def update(
        self,
        ids: _IdsLike,
        metadatas: Optional[_MetadatasLike] = None,
        documents: Optional[_DocumentsLike] = None,
    ) -> None:
        """Replaces the metadata and/or documents of existing ids, keeping their
        vectors; a None entry clears that id's metadata (or document), an argument not
        given is kept. Raises IdNotFoundError for an id the collection does not hold,
        DuplicateIdError for an id given twice, InvalidArgumentError as ``add``; when it
        raises, nothing is changed."""
    def delete(
        self, ids: Optional[_IdsLike] = None, where: Optional[_Where] = None
    ) -> int:
        """Removes records by id, by ``where`` filter, or both (the given ids that
        match the filter); returns how many were removed. Neither raises
        InvalidArgumentError. Absent ids are skipped, an id given twice counts once, an
        empty sequence removes nothing. The records are removed together in one log
        group: only a log failure or a crash during the call can leave part of them
        removed."""
    def get(self, ids: _IdsLike) -> npt.NDArray[np.float32]:
        """Stored vectors (normalised under cosine): shape (dim,) for one int id,
        (n, dim) for a sequence. Raises IdNotFoundError (a KeyError) for the first
        missing id."""
    def get_metadata(
        self, ids: _IdsLike
    ) -> List[Optional[Dict[str, _MetadataValue]]]:
        """The metadata of ``ids``, in their order (a one-element list for one int id):
        a dict per id, None for an id without metadata. Values come back with their
        types (int, float, bool, str, None; lists and tuples as lists). Raises
        IdNotFoundError for the first missing id."""
    def get_documents(self, ids: _IdsLike) -> List[Optional[str]]:
        """The documents of ``ids``, in their order (a one-element list for one int
        id): a str per id, None for an id without a document. Raises IdNotFoundError for
        the first missing id."""
    def count(self, where: Optional[_Where] = None) -> int:
        """How many records match ``where``; all of them when it is None."""
    def prepare_filter(self, where: _Where) -> bool:
        """Builds now the links that make searches with ``where`` fast, if it can use any:
        a filter matching 8,192 records or more, and at most half of them.
        Otherwise the second such search asks the background thread to build them, and
        searches run by the usual plans until they are in. Returns True if it built
        links; False if the filter cannot use any or they are current."""
    def ids(self, where: Optional[_Where] = None) -> npt.NDArray[np.uint64]:
        """The ids of the records that match ``where`` (all ids when it is None),
        ascending."""
    def search(
        self,
        queries: _VectorsLike,
        k: int = 10,
        ef: int = 64,
        where: Optional[_Where] = None,
        filter_ids: Optional[_IdsLike] = None,
        *,
        threads: Optional[int] = None,
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
        """The ``k`` nearest neighbours of each query, closest first, as ``(ids,
        distances)``: shape (k,) for one 1-D query, (nq, k) for an (nq, dim) array.
        Rows with fewer than ``k`` results are padded with ``NO_ID`` and ``inf``.
        ``ef`` (at least ``k`` is used) trades speed for recall. ``where`` limits results
        to records whose metadata matches, ``filter_ids`` to those ids, both to the ids
        that also match (searched exactly when few qualify).

        ``threads`` is how many threads search an (nq, dim) array (hnswlib's
        ``num_threads``): None (the default) every core, 1 the queries one after another
        on the calling thread, ``n`` a pool of ``n`` threads, built on first use and kept
        for later calls. The results do not depend on it. 0, a negative number or more
        than 1024 raises InvalidArgumentError (a ValueError). The GIL is released while
        the queries run.

        A condition on a key matches only records that have the key with a non-null
        value (so ``$ne`` and ``$nin`` skip records without it); int and float compare
        as numbers, str only with str, bool only with bool (True is not 1); ``$gt``,
        ``$gte``, ``$lt`` and ``$lte`` take a number and match numbers only; ``$in`` and
        ``$nin`` take a list; ``$contains`` matches a list holding the value; the other
        operators never match a list. A malformed filter raises InvalidArgumentError
        saying what is wrong where."""
    def flush(self) -> None:
        """Returns once every acknowledged write is on stable storage."""
    def checkpoint(self) -> None:
        """Takes a checkpoint of the whole database now."""
    def stats(self) -> _Stats:
        """Counts and on-disk sizes: ``live``, ``unlinked`` (replayed at open, not yet in
        the graph: searched exactly until the background thread inserts them),
        ``tombstones`` (deleted or replaced
        vectors the next checkpoint heals the graph around), ``free_slots`` (taken by new
        vectors before the store grows), ``slots``, ``code_bytes``, ``filter_links`` and
        ``filter_links_bytes`` (values with links among their records, see
        ``prepare_filter``, and their memory), ``vector_bytes``, ``graph_bytes``,
        ``id_map_bytes``, ``other_bytes`` (apparent sizes), ``log_bytes`` (the database's log),
        ``last_checkpoint_lsn`` and ``last_checkpoint_at`` (Unix seconds, or None), and
        ``last_compaction_at`` (since the database was opened, or None)."""
    def compact(self) -> _Compaction:
        """Compacts the collection now: the graph is healed of deleted vectors, live
        vectors move into free slots at the front of the store, the files past the last
        live vector are deleted and free slots zeroed, so the files shrink to what the
        collection holds and deleted vectors' bytes leave the disk. Searches and writes
        go on meanwhile. Returns ``moved``, ``slots_before``, ``slots_after``,
        ``files_removed``, ``bytes_before``, ``bytes_after`` and ``longest_pause_s``."""
    def __len__(self) -> int:
        """The number of vectors."""
    def __contains__(self, id: object, /) -> bool:
        """True if the collection holds this id."""

class Error(Exception):
    """Base class of every FletchDB error; ``str(e)`` is the Rust error's message."""

class DimensionMismatchError(Error, ValueError):
    """A vector's length differs from the collection's dimension."""

    expected: int
    got: int

class InvalidVectorError(Error, ValueError):
    """NaN or infinite values, or a zero vector under cosine."""

    reason: str

class DuplicateIdError(Error, ValueError):
    """``add`` of an existing id, or an id repeated in one call."""

    id: int

class IdNotFoundError(Error, KeyError):
    """``get``, ``get_metadata``, ``get_documents`` or ``update`` of an id the
    collection does not hold."""

    id: int

class CollectionNotFoundError(Error, KeyError):
    """No collection has this name (or it was dropped)."""

    name: str

class CollectionExistsError(Error, ValueError):
    """A collection of this name exists already."""

    name: str

class InvalidArgumentError(Error, ValueError):
    """An argument is out of range or of the wrong shape."""

class LockedError(Error):
    """The database is open elsewhere, in this process or another."""

    path: str

class CorruptionError(Error):
    """A file holds bytes FletchDB cannot have written; the open is refused."""

    file: str
    offset: int
    detail: str

class IoError(Error, OSError):
    """The operating system refused an operation (``filename``, ``errno``)."""

class WalPoisonedError(Error):
    """An earlier log write or sync failed; reopen the database."""

    cause: str

class UnsupportedVersionError(Error):
    """A file was written by a newer FletchDB."""

    file: str
    found: int
    supported: int

class ClosedError(Error):
    """The database has been closed."""

class StorageError(Error):
    """Another failure of the storage engine."""

class GraphError(Error):
    """Another failure of the HNSW index."""
