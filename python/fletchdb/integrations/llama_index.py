"""LlamaIndex's ``BasePydanticVectorStore`` over a FletchDB collection.

    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from fletchdb.integrations.llama_index import FletchVectorStore

    store = FletchVectorStore(path="li.db")
    store.add([TextNode(id_="a", text="a cat", embedding=[1.0, 0.0])])
    store.query(VectorStoreQuery(query_embedding=[1.0, 0.1], similarity_top_k=1))
    store.close()

Needs ``llama-index-core`` (``pip install "fletchdb[llama-index]"``).
"""

import asyncio
import os
from typing import Any, Dict, List, Optional, Sequence

try:
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.schema import BaseNode, MetadataMode, TextNode
    from llama_index.core.vector_stores.types import (
        BasePydanticVectorStore,
        FilterCondition,
        FilterOperator,
        MetadataFilter,
        MetadataFilters,
        VectorStoreQuery,
        VectorStoreQueryMode,
        VectorStoreQueryResult,
    )
    from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        'fletchdb.integrations.llama_index needs llama-index-core: pip install "fletchdb[llama-index]"'
    ) from e

import fletchdb

from ._scores import mmr, relevance_fn
from ._store import KeyedStore, Metric, Record, _PathLike, checked_k, no_more_options

__all__ = ["FletchVectorStore", "to_where"]

# LlamaIndex's operators as FletchDB's: the six comparisons, in and nin map one to one,
# contains (a list field holding the value) too; any and all (a list field holding any
# or all of the values) become an $or or $and of $contains.
_OPERATORS = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.IN: "$in",
    FilterOperator.NIN: "$nin",
    FilterOperator.CONTAINS: "$contains",
}
_LIST_OPERATORS = {FilterOperator.ANY: "$or", FilterOperator.ALL: "$and"}
_CONDITIONS = {None: "$and", FilterCondition.AND: "$and", FilterCondition.OR: "$or"}

# MMR queries choose among this many times similarity_top_k nearest nodes (LlamaIndex's
# Chroma store prefetches as many), unless mmr_prefetch_k says how many.
_MMR_PREFETCH_FACTOR = 4


def to_where(filters: Optional[MetadataFilters]) -> Optional[Dict[str, Any]]:
    """LlamaIndex ``MetadataFilters`` as a FletchDB ``where`` dict (None for no filter):
    operators ``==, !=, >, >=, <, <=, in, nin, contains`` and ``any``/``all`` (of a list
    field), combined by ``and``/``or`` and nested. Anything else raises
    ``fletchdb.InvalidArgumentError`` naming every unsupported operator and condition."""
    if filters is None:
        return None
    unsupported: List[str] = []
    where = _translate(filters, unsupported)
    if unsupported:
        raise fletchdb.InvalidArgumentError(
            "FletchVectorStore cannot filter by " + ", ".join(dict.fromkeys(unsupported))
            + "; it supports the operators ==, !=, >, >=, <, <=, in, nin, contains, any and all,"
            " combined by the conditions and and or"
        )
    return where


def _translate(filters: MetadataFilters, unsupported: List[str]) -> Optional[Dict[str, Any]]:
    """``filters`` as a where dict, adding what cannot be translated to ``unsupported``."""
    parts = []
    for item in filters.filters:
        part = _translate(item, unsupported) if isinstance(item, MetadataFilters) else _condition(item, unsupported)
        if part is not None:
            parts.append(part)
    if filters.condition not in _CONDITIONS:
        unsupported.append(f"condition {_name(filters.condition)!r}")
        return None
    if len(parts) <= 1:
        return parts[0] if parts else None
    return {_CONDITIONS[filters.condition]: parts}


def _condition(item: MetadataFilter, unsupported: List[str]) -> Optional[Dict[str, Any]]:
    if item.operator in _OPERATORS:
        return {item.key: {_OPERATORS[item.operator]: item.value}}
    if item.operator in _LIST_OPERATORS and isinstance(item.value, list) and item.value:
        return {_LIST_OPERATORS[item.operator]: [{item.key: {"$contains": v}} for v in item.value]}
    if item.operator in _LIST_OPERATORS:
        unsupported.append(f"operator {_name(item.operator)!r} (key {item.key!r}) without a non-empty list")
    else:
        unsupported.append(f"operator {_name(item.operator)!r} (key {item.key!r})")
    return None


def _name(enum: Any) -> str:
    return str(getattr(enum, "value", enum))


def _key(record: Record) -> str:
    """A record's node id: its key, or for a record written without one, its integer id."""
    return record.key if record.key is not None else str(record.id)


def _node(record: Record) -> BaseNode:
    """The node a record holds: as ``add`` stored it, else (a record written by other
    means) a TextNode of its document and metadata."""
    if "_node_content" in record.metadata:
        return metadata_dict_to_node(record.metadata, text=record.document)
    return TextNode(id_=_key(record), text=record.document or "", metadata=record.metadata)


class FletchVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store kept in a FletchDB collection; it stores the nodes' text.

    The database is opened (created if needed) on ``path`` and closed by ``close()``, or
    an open ``fletchdb.Database`` is passed as ``database`` and left open. The collection
    ``collection_name`` compares vectors by ``metric`` (``"cosine"``, ``"l2"`` or
    ``"ip"``) and is created by the first ``add``, with its embeddings' dimension.

    A node is stored under its ``node_id`` with its embedding, its text as the document,
    and as metadata its own metadata plus ``ref_doc_id`` (also ``doc_id`` and
    ``document_id``) and the rest of the node as JSON (``_node_content``), as
    LlamaIndex's other stores keep it. Metadata values are str, int, float, bool, None
    or lists of those (lists make ``contains``, ``any`` and ``all`` filters useful);
    anything else raises ``fletchdb.InvalidArgumentError`` naming the key. Adding an
    existing node id replaces it. ``similarities`` are cosine similarity under cosine,
    the dot product under ip and ``1 - d / sqrt(2)`` of the Euclidean distance under l2.
    """

    stores_text: bool = True
    flat_metadata: bool = False
    path: Optional[str] = None
    collection_name: str = "llama_index"
    metric: Metric = "cosine"

    _store: KeyedStore = PrivateAttr()

    def __init__(
        self,
        *,
        path: Optional[_PathLike] = None,
        database: Optional[fletchdb.Database] = None,
        collection_name: str = "llama_index",
        metric: Metric = "cosine",
    ) -> None:
        super().__init__(  # type: ignore[call-arg]  # pydantic fields, unseen by mypy's default checks
            path=None if path is None else os.fspath(path), collection_name=collection_name, metric=metric
        )
        self._store = KeyedStore(path=path, database=database, collection_name=collection_name, metric=metric)

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex serialises this class under."""
        return "FletchVectorStore"

    @property
    def client(self) -> fletchdb.Database:
        """The FletchDB database."""
        return self._store.database

    @property
    def collection(self) -> Optional[fletchdb.Collection]:
        """The FletchDB collection, or None before the first ``add`` creates it."""
        return self._store.collection()

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> List[str]:
        """Stores ``nodes``, which must carry embeddings (``VectorStoreIndex`` and
        ingestion pipelines embed them first), replacing nodes of the same ids; all or
        none of them. Returns their ids."""
        no_more_options(add_kwargs, "add")
        nodes = list(nodes)
        for node in nodes:
            if node.embedding is None:
                raise fletchdb.InvalidArgumentError(f"node {node.node_id!r} has no embedding")
        self._store.upsert(
            [node.node_id for node in nodes],
            [node.embedding for node in nodes],
            [node_to_metadata_dict(node, remove_text=True, flat_metadata=self.flat_metadata) for node in nodes],
            [node.get_content(metadata_mode=MetadataMode.NONE) for node in nodes],
        )
        return [node.node_id for node in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Deletes the nodes of the source document ``ref_doc_id``."""
        no_more_options(delete_kwargs, "delete")
        self._store.delete(where={"ref_doc_id": ref_doc_id})

    def delete_nodes(
        self,
        node_ids: Optional[List[str]] = None,
        filters: Optional[MetadataFilters] = None,
        **delete_kwargs: Any,
    ) -> None:
        """Deletes the nodes of ``node_ids``, those matching ``filters``, or the ids'
        nodes that match; with neither, every node (as LlamaIndex's SimpleVectorStore)."""
        no_more_options(delete_kwargs, "delete_nodes")
        self._store.delete(node_ids, where=to_where(filters))

    def get_nodes(
        self,
        node_ids: Optional[List[str]] = None,
        filters: Optional[MetadataFilters] = None,
    ) -> List[BaseNode]:
        """The nodes of ``node_ids`` (in their order; missing ids skipped), those matching
        ``filters``, or the ids' nodes that match; with neither, every node."""
        return [_node(r) for r in self._records(node_ids, to_where(filters))]

    def clear(self) -> None:
        """Deletes every node (the collection stays, with its settings)."""
        self._store.delete()

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The ``similarity_top_k`` nodes closest to ``query.query_embedding``, closest
        first, among those matching ``query.filters``, ``query.doc_ids`` (source
        documents) and ``query.node_ids`` (an empty list of either restricts nothing,
        as in LlamaIndex's other stores). Modes: ``default``, and ``mmr`` (maximal
        marginal relevance with ``query.mmr_threshold`` or ``mmr_threshold=`` as lambda,
        default 0.5, among ``mmr_prefetch_k=`` nearest nodes, default 4 × top k, using
        the stored vectors). Without an embedding, the first ``similarity_top_k`` nodes
        that match, with no similarities. ``ef=`` trades speed for recall."""
        ef = kwargs.pop("ef", None)
        threshold = kwargs.pop("mmr_threshold", None)
        prefetch_k = kwargs.pop("mmr_prefetch_k", None)
        no_more_options(kwargs, "query")
        if query.mode not in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
            raise fletchdb.InvalidArgumentError(
                f"FletchVectorStore supports the query modes default and mmr, not {_name(query.mode)!r}"
            )
        # Empty doc_ids or node_ids restrict nothing, as in LlamaIndex's other stores:
        # VectorStoreIndex.as_retriever passes node_ids=[] to a store that keeps text.
        where = to_where(query.filters)
        if query.doc_ids:
            by_doc = {"ref_doc_id": {"$in": list(query.doc_ids)}}
            where = by_doc if where is None else {"$and": [where, by_doc]}
        node_ids = query.node_ids or None
        top_k = checked_k(query.similarity_top_k)
        if query.query_embedding is None:
            records = self._records(node_ids, where, limit=top_k)
            return VectorStoreQueryResult(nodes=[_node(r) for r in records], ids=[_key(r) for r in records])
        if query.mode == VectorStoreQueryMode.MMR:
            lambda_mult = query.mmr_threshold if query.mmr_threshold is not None else threshold
            fetch_k = max(prefetch_k or _MMR_PREFETCH_FACTOR * top_k, top_k)
            candidates = self._store.search(
                query.query_embedding, fetch_k, where=where, keys=node_ids, ef=ef, vectors=True
            )
            lambda_mult = 0.5 if lambda_mult is None else lambda_mult
            hits = [candidates[i] for i in mmr(query.query_embedding, [r.vector for r, _ in candidates], top_k, lambda_mult)]
        else:
            hits = self._store.search(query.query_embedding, top_k, where=where, keys=node_ids, ef=ef)
        relevance = relevance_fn(self._store.metric)
        return VectorStoreQueryResult(
            nodes=[_node(r) for r, _ in hits],
            similarities=[relevance(d) for _, d in hits],
            ids=[_key(r) for r, _ in hits],
        )

    def _records(
        self, node_ids: Optional[List[str]], where: Optional[Dict[str, Any]], limit: Optional[int] = None
    ) -> List[Record]:
        """The records of ``node_ids`` (all when None) that match ``where``, at most ``limit``."""
        if node_ids is None:
            return self._store.query(where, limit)
        return self._store.get(node_ids, where)[:limit]

    def persist(self, persist_path: str, fs: Any = None) -> None:
        """Nothing to write: every ``add`` is durable when it returns. Flushes, so that
        writes under relaxed durability are on disk too."""
        self._store.flush()

    def close(self) -> None:
        """Closes the database if this store opened it (``path=``); a ``database=`` stays
        open. Closing twice does nothing."""
        self._store.close()

    # The base class's async methods call the blocking ones on the event loop's thread;
    # FletchDB releases the GIL, so these run them on a worker thread instead.

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> List[str]:
        """``add`` on a worker thread."""
        return await asyncio.to_thread(self.add, nodes, **kwargs)

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """``delete`` on a worker thread."""
        await asyncio.to_thread(self.delete, ref_doc_id, **delete_kwargs)

    async def adelete_nodes(
        self,
        node_ids: Optional[List[str]] = None,
        filters: Optional[MetadataFilters] = None,
        **delete_kwargs: Any,
    ) -> None:
        """``delete_nodes`` on a worker thread."""
        await asyncio.to_thread(self.delete_nodes, node_ids, filters, **delete_kwargs)

    async def aget_nodes(
        self,
        node_ids: Optional[List[str]] = None,
        filters: Optional[MetadataFilters] = None,
    ) -> List[BaseNode]:
        """``get_nodes`` on a worker thread."""
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)

    async def aclear(self) -> None:
        """``clear`` on a worker thread."""
        await asyncio.to_thread(self.clear)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """``query`` on a worker thread."""
        return await asyncio.to_thread(self.query, query, **kwargs)

