"""LangChain's ``VectorStore`` over a FletchDB collection.

    from langchain_core.embeddings import DeterministicFakeEmbedding
    from fletchdb.integrations.langchain import FletchVectorStore

    store = FletchVectorStore(DeterministicFakeEmbedding(size=64), path="lc.db")
    store.add_texts(["a cat", "a dog"], [{"kind": "cat"}, {"kind": "dog"}], ids=["c", "d"])
    store.similarity_search("a cat", k=1, filter={"kind": "cat"})
    store.close()

Needs ``langchain-core`` (``pip install "fletchdb[langchain]"``).
"""

import uuid
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Type, TypeVar

try:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import VectorStore
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        'fletchdb.integrations.langchain needs langchain-core: pip install "fletchdb[langchain]"'
    ) from e

import numpy as np

import fletchdb

from ._keys import checked_keys
from ._scores import mmr, relevance_fn
from ._store import KeyedStore, Metric, Record, _PathLike, checked_k, no_more_options

__all__ = ["FletchVectorStore"]

_Store = TypeVar("_Store", bound="FletchVectorStore")

_Where = Dict[str, Any]


def _search_options(kwargs: Dict[str, Any], method: str) -> Optional[int]:
    """The ``ef`` keyword, refusing any other."""
    ef = kwargs.pop("ef", None)
    no_more_options(kwargs, method)
    return ef


def _document(record: Record) -> Document:
    return Document(page_content=record.document or "", metadata=record.metadata, id=record.key)


class FletchVectorStore(VectorStore):
    """A LangChain vector store kept in a FletchDB collection.

    ``embedding`` turns texts into vectors. The database is opened (created if needed) on
    ``path`` and closed by ``close()``, or an open ``fletchdb.Database`` is passed as
    ``database`` and left open. The collection ``collection_name`` compares vectors by
    ``metric`` (``"cosine"``, ``"l2"`` or ``"ip"``) and is created by the first write,
    with the embeddings' dimension; an existing one must have the same metric.

    Ids are strings (random UUIDs where none are given); a record's id is kept with it in
    the database, so they survive reopening. Adding an existing id replaces its record.
    ``filter`` takes FletchDB's ``where`` dicts, Chroma's grammar: ``{"year": {"$gte":
    2020}}``, ``{"$or": [...]}``. Scores from ``similarity_search_with_score`` are
    FletchDB's distances (lower is closer); relevance scores are described in
    ``_select_relevance_score_fn``. Metadata values are str, int, float, bool, None or
    lists of those; anything else raises ``fletchdb.InvalidArgumentError`` naming the key.
    """

    def __init__(
        self,
        embedding: Embeddings,
        *,
        path: Optional[_PathLike] = None,
        database: Optional[fletchdb.Database] = None,
        collection_name: str = "langchain",
        metric: Metric = "cosine",
        relevance_score_fn: Optional[Callable[[float], float]] = None,
    ) -> None:
        self._embedding = embedding
        self._store = KeyedStore(path=path, database=database, collection_name=collection_name, metric=metric)
        self._relevance_score_fn = relevance_score_fn

    @property
    def embeddings(self) -> Embeddings:
        """The embedding model."""
        return self._embedding

    @property
    def database(self) -> fletchdb.Database:
        """The FletchDB database."""
        return self._store.database

    @property
    def collection(self) -> Optional[fletchdb.Collection]:
        """The FletchDB collection, or None before the first write creates it."""
        return self._store.collection()

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: Optional[List[Dict[str, Any]]] = None,
        *,
        ids: Optional[Sequence[Optional[str]]] = None,
        **kwargs: Any,
    ) -> List[str]:
        """Embeds ``texts`` and stores them with ``metadatas`` under ``ids`` (a new UUID
        for each missing or None id), replacing records of existing ids. ``batch_size``
        (as LangChain's indexing API passes it) embeds and writes that many texts at a
        time. Returns the ids. Each batch is written whole or not at all."""
        batch_size = kwargs.pop("batch_size", None)
        no_more_options(kwargs, "add_texts")
        texts = list(texts)
        if metadatas is not None and len(metadatas) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(metadatas)} metadatas")
        if ids is not None and len(ids) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(ids)} ids")
        given = [None] * len(texts) if ids is None else list(ids)
        keys = checked_keys([str(uuid.uuid4()) if key is None else key for key in given], unique=True)
        step = (len(texts) or 1) if batch_size is None else checked_k(batch_size, "batch_size")
        for start in range(0, len(texts), step):
            chunk = texts[start : start + step]
            self._store.upsert(
                keys[start : start + step],
                self._embedding.embed_documents(chunk),
                None if metadatas is None else metadatas[start : start + step],
                chunk,
            )
        return keys

    def delete(self, ids: Optional[List[str]] = None, **kwargs: Any) -> Optional[bool]:
        """Deletes the records of ``ids`` (absent ids are skipped), those matching
        ``filter=`` (a ``where`` dict), or the ids' records that match; with neither,
        every record (LangChain's contract for ``ids=None``). Returns True."""
        where = kwargs.pop("filter", None)
        no_more_options(kwargs, "delete")
        self._store.delete(ids, where=where)
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> List[Document]:
        """The documents of ``ids``, in their order, each once; missing ids are skipped."""
        return [_document(r) for r in self._store.get(ids)]

    def similarity_search(
        self, query: str, k: int = 4, filter: Optional[_Where] = None, **kwargs: Any
    ) -> List[Document]:
        """The ``k`` documents closest to ``query`` (matching ``filter``), closest first.
        ``ef`` (default 64) trades speed for recall."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Optional[_Where] = None, **kwargs: Any
    ) -> List[Tuple[Document, float]]:
        """As ``similarity_search``, with each document's distance (lower is closer):
        ``1 - cos`` under cosine, ``1 - dot`` under ip, squared Euclidean under l2."""
        ef = _search_options(kwargs, "similarity_search_with_score")
        return self._search(self._embedding.embed_query(query), k, filter, ef)

    def similarity_search_by_vector(
        self, embedding: List[float], k: int = 4, filter: Optional[_Where] = None, **kwargs: Any
    ) -> List[Document]:
        """The ``k`` documents closest to ``embedding`` (matching ``filter``), closest first."""
        ef = _search_options(kwargs, "similarity_search_by_vector")
        return [doc for doc, _ in self._search(embedding, k, filter, ef)]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Optional[_Where] = None,
        **kwargs: Any,
    ) -> List[Document]:
        """``k`` documents chosen by maximal marginal relevance among the ``fetch_k``
        closest to ``query`` (at least ``k`` are fetched), in the order chosen:
        ``lambda_mult`` 1 is plain similarity, 0 the most diverse. Similarities between
        documents come from the vectors stored in FletchDB; nothing is embedded again."""
        ef = _search_options(kwargs, "max_marginal_relevance_search")
        return self._mmr(self._embedding.embed_query(query), k, fetch_k, lambda_mult, filter, ef)

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: List[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Optional[_Where] = None,
        **kwargs: Any,
    ) -> List[Document]:
        """As ``max_marginal_relevance_search``, from an embedding."""
        ef = _search_options(kwargs, "max_marginal_relevance_search_by_vector")
        return self._mmr(embedding, k, fetch_k, lambda_mult, filter, ef)

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """The ``relevance_score_fn`` given to the constructor, else by metric: cosine
        similarity (``1 - distance``) under cosine, the dot product (``1 - distance``)
        under ip, and LangChain's Euclidean relevance ``1 - d / sqrt(2)`` of the
        Euclidean distance ``d`` (FletchDB's l2 distance is its square) under l2. All are
        in [0, 1] for unit-length embeddings that are not opposed."""
        if self._relevance_score_fn is not None:
            return self._relevance_score_fn
        return relevance_fn(self._store.metric)

    @classmethod
    def from_texts(
        cls: Type[_Store],
        texts: List[str],
        embedding: Embeddings,
        metadatas: Optional[List[Dict[str, Any]]] = None,
        *,
        ids: Optional[Sequence[Optional[str]]] = None,
        path: Optional[_PathLike] = None,
        database: Optional[fletchdb.Database] = None,
        collection_name: str = "langchain",
        metric: Metric = "cosine",
        relevance_score_fn: Optional[Callable[[float], float]] = None,
        **kwargs: Any,
    ) -> _Store:
        """A store made as the constructor makes it, holding ``texts``: see ``add_texts``."""
        store = cls(
            embedding,
            path=path,
            database=database,
            collection_name=collection_name,
            metric=metric,
            relevance_score_fn=relevance_score_fn,
        )
        try:
            store.add_texts(texts, metadatas, ids=ids, **kwargs)
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Closes the database if this store opened it (``path=``); a ``database=`` stays
        open. Closing twice does nothing."""
        self._store.close()

    def __enter__(self: _Store) -> _Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _search(
        self, embedding: Any, k: int, where: Optional[_Where], ef: Optional[int]
    ) -> List[Tuple[Document, float]]:
        return [(_document(r), d) for r, d in self._store.search(embedding, k, where=where, ef=ef)]

    def _mmr(
        self, embedding: Any, k: int, fetch_k: int, lambda_mult: float, where: Optional[_Where], ef: Optional[int]
    ) -> List[Document]:
        candidates = self._store.search(embedding, max(fetch_k, checked_k(k)), where=where, ef=ef, vectors=True)
        chosen = mmr(np.asarray(embedding), [r.vector for r, _ in candidates], k, lambda_mult)
        return [_document(candidates[i][0]) for i in chosen]
