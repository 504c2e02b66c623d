"""The LlamaIndex store, in the style of LlamaIndex's Chroma integration tests: TextNodes
with explicit embeddings, add and query (sync and async), metadata filters of every
operator, get, delete by node, by filter and by ref_doc_id, clear, reopen; and a whole
VectorStoreIndex run in a child process whose sockets are all refused, which shows that
nothing is downloaded: no model, no NLTK data, no tiktoken file."""

import asyncio
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip(
    "llama_index.core", reason="llama-index-core is not installed: pip install './python[test-integrations]'"
)

from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

import fletchdb  # noqa: E402
from fletchdb.integrations.llama_index import FletchVectorStore, to_where  # noqa: E402
from test_quickstart import run_readme_block  # noqa: E402


@pytest.fixture
def vector_store(db):
    yield FletchVectorStore(database=db)


def node(id_, text, doc, embedding, **metadata):
    return TextNode(
        text=text,
        id_=id_,
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)},
        metadata=metadata,
        embedding=embedding,
    )


@pytest.fixture
def node_embeddings():
    return [
        node("c330d77f", "lorem ipsum", "test-0", [1.0, 0.0, 0.0], author="Stephen King", theme="Friendship", year=1986),
        node("c3d1e1dd", "lorem ipsum", "test-1", [0.0, 1.0, 0.0], director="Francis Ford Coppola", theme="Mafia", year=1972),
        node("c3ew11cd", "lorem ipsum", "test-2", [0.0, 0.0, 1.0], director="Christopher Nolan", year=2010),
        node("0b31ae71", "I was taught that the way of progress was neither swift nor easy.", "text-3",
             [0.01, 0.0, 0.9], author="Marie Curie", year=1923, tags=["science", "physics"]),
        node("bd2e080b", "The important thing is not to stop questioning.", "text-4",
             [0.0, 0.1, 0.5], author="Albert Einstein", year=1955, tags=["science"]),
        node("f658de3b", "I am no bird; and no net ensnares me.", "text-4",
             [0.0, 0.2, 0.3], author="Charlotte Bronte", year=1847, tags=["novel"]),
    ]


def query(store, embedding=None, k=10, filters=None, **fields):
    return store.query(VectorStoreQuery(query_embedding=embedding, similarity_top_k=k, filters=filters, **fields))


def ids(result):
    return [n.node_id for n in result.nodes]


def where(*filters, condition=FilterCondition.AND):
    return MetadataFilters(filters=list(filters), condition=condition)


def f(key, operator, value):
    return MetadataFilter(key=key, operator=operator, value=value)


@pytest.mark.parametrize("use_async", [True, False])
def test_add_and_query(vector_store, node_embeddings, use_async):
    q = VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=1)
    if use_async:
        added = asyncio.run(vector_store.async_add(node_embeddings))
        res = asyncio.run(vector_store.aquery(q))
    else:
        added = vector_store.add(node_embeddings)
        res = vector_store.query(q)
    assert added == [n.node_id for n in node_embeddings]
    assert res.nodes[0].get_content() == "lorem ipsum"
    assert res.ids == ["c330d77f"] and res.similarities == pytest.approx([1.0])
    back = res.nodes[0]
    assert back.metadata == node_embeddings[0].metadata and back.ref_doc_id == "test-0"


@pytest.mark.parametrize("use_async", [True, False])
def test_query_by_metadata_filters_only(vector_store, node_embeddings, use_async):
    filters = where(f("author", FilterOperator.EQ, "Marie Curie"))
    q = VectorStoreQuery(filters=filters, similarity_top_k=1)
    if use_async:
        asyncio.run(vector_store.async_add(node_embeddings))
        res = asyncio.run(vector_store.aquery(q))
    else:
        vector_store.add(node_embeddings)
        res = vector_store.query(q)
    assert res.nodes[0].get_content() == "I was taught that the way of progress was neither swift nor easy."
    assert res.similarities is None


def test_similarity_order_and_scores(vector_store, node_embeddings):
    vector_store.add(node_embeddings)
    res = query(vector_store, [0.0, 0.0, 1.0], k=3)
    assert ids(res) == ["c3ew11cd", "0b31ae71", "bd2e080b"]
    assert res.similarities == pytest.approx([1.0, 0.99994, 0.98058], abs=1e-5)


@pytest.mark.parametrize(
    "filters, want",
    [
        (where(f("theme", FilterOperator.EQ, "Mafia")), {"c3d1e1dd"}),
        (where(f("theme", FilterOperator.NE, "Mafia")), {"c330d77f"}),  # only nodes with a theme
        (where(f("year", FilterOperator.GT, 1972)), {"c330d77f", "c3ew11cd"}),
        (where(f("year", FilterOperator.GTE, 1972)), {"c330d77f", "c3d1e1dd", "c3ew11cd"}),
        (where(f("year", FilterOperator.LT, 1923)), {"f658de3b"}),
        (where(f("year", FilterOperator.LTE, 1923)), {"0b31ae71", "f658de3b"}),
        (where(f("author", FilterOperator.IN, ["Marie Curie", "Stephen King"])), {"0b31ae71", "c330d77f"}),
        (where(f("year", FilterOperator.NIN, [1986, 1972, 2010])), {"0b31ae71", "bd2e080b", "f658de3b"}),
        (where(f("tags", FilterOperator.CONTAINS, "science")), {"0b31ae71", "bd2e080b"}),
        (where(f("tags", FilterOperator.ANY, ["physics", "novel"])), {"0b31ae71", "f658de3b"}),
        (where(f("tags", FilterOperator.ALL, ["physics", "science"])), {"0b31ae71"}),
        (where(f("year", FilterOperator.GT, 1900), f("tags", FilterOperator.CONTAINS, "science")), {"0b31ae71", "bd2e080b"}),
        (
            where(f("theme", FilterOperator.EQ, "Mafia"), f("year", FilterOperator.LT, 1900), condition=FilterCondition.OR),
            {"c3d1e1dd", "f658de3b"},
        ),
        (
            where(
                f("year", FilterOperator.GT, 1900),
                where(f("director", FilterOperator.EQ, "Christopher Nolan"), f("author", FilterOperator.EQ, "Marie Curie"),
                      condition=FilterCondition.OR),
            ),
            {"c3ew11cd", "0b31ae71"},
        ),
        (where(), None),  # no filter at all
    ],
)
def test_filters(vector_store, node_embeddings, filters, want):
    vector_store.add(node_embeddings)
    everything = {n.node_id for n in node_embeddings}
    want = everything if want is None else want
    assert set(ids(query(vector_store, [0.1, 0.2, 0.3], k=10, filters=filters))) == want
    assert set(ids(query(vector_store, None, k=10, filters=filters))) == want
    assert {n.node_id for n in vector_store.get_nodes(filters=filters)} == want


def test_unsupported_filters_are_named(vector_store):
    bad = where(
        f("author", FilterOperator.TEXT_MATCH, "Curie"),
        where(f("tags", FilterOperator.IS_EMPTY, None), condition=FilterCondition.NOT),
        f("year", FilterOperator.GT, 1900),
    )
    with pytest.raises(fletchdb.InvalidArgumentError) as e:
        query(vector_store, [1.0, 0.0, 0.0], filters=bad)
    message = str(e.value)
    assert "'text_match' (key 'author')" in message and "'is_empty' (key 'tags')" in message
    assert "condition 'not'" in message and "'year'" not in message
    assert isinstance(e.value, ValueError)
    assert to_where(None) is None
    assert to_where(where(f("k", FilterOperator.EQ, 1))) == {"k": {"$eq": 1}}


def test_doc_ids_and_node_ids_narrow_a_query(vector_store, node_embeddings):
    vector_store.add(node_embeddings)
    res = query(vector_store, [0.0, 0.0, 1.0], doc_ids=["text-4", "test-0"])
    assert ids(res) == ["bd2e080b", "f658de3b", "c330d77f"]
    res = query(vector_store, [0.0, 0.0, 1.0], node_ids=["c330d77f", "f658de3b", "missing"])
    assert ids(res) == ["f658de3b", "c330d77f"]
    res = query(vector_store, [0.0, 0.0, 1.0], node_ids=["c330d77f", "f658de3b"],
                filters=where(f("year", FilterOperator.LT, 1900)))
    assert ids(res) == ["f658de3b"]
    # Empty lists restrict nothing (VectorStoreIndex.as_retriever passes node_ids=[]).
    assert len(ids(query(vector_store, [0.0, 0.0, 1.0], doc_ids=[], node_ids=[]))) == len(node_embeddings)


def test_mmr_mode_prefers_diverse_nodes(vector_store, node_embeddings):
    vector_store.add(node_embeddings)
    plain = query(vector_store, [0.0, 0.05, 1.0], k=2)
    assert ids(plain) == ["c3ew11cd", "0b31ae71"]  # nearly the same direction twice
    mmr = query(vector_store, [0.0, 0.05, 1.0], k=2, mode=VectorStoreQueryMode.MMR, mmr_threshold=0.5)
    assert ids(mmr) == ["c3ew11cd", "c3d1e1dd"]
    assert mmr.similarities == pytest.approx([0.99875, 0.04994], abs=1e-5)  # to the query
    relevant = query(vector_store, [0.0, 0.05, 1.0], k=2, mode=VectorStoreQueryMode.MMR, mmr_threshold=1.0)
    assert ids(relevant) == ids(plain)
    with pytest.raises(fletchdb.InvalidArgumentError, match="'hybrid'"):
        query(vector_store, [0.0, 0.0, 1.0], mode=VectorStoreQueryMode.HYBRID)


def test_get_nodes(vector_store, node_embeddings):
    vector_store.add(node_embeddings)
    res = vector_store.get_nodes(node_ids=["c330d77f", "c3d1e1dd", "c3ew11cd"])
    assert len(res) == 3
    assert [n.get_content() for n in res] == ["lorem ipsum"] * 3
    assert [n.node_id for n in res] == ["c330d77f", "c3d1e1dd", "c3ew11cd"]
    assert len(vector_store.get_nodes()) == len(node_embeddings)
    assert vector_store.get_nodes(node_ids=["nope"]) == []
    assert asyncio.run(vector_store.aget_nodes(node_ids=["c3ew11cd"]))[0].metadata["director"] == "Christopher Nolan"


def test_delete_nodes(vector_store, node_embeddings):
    vector_store.add(node_embeddings)
    vector_store.delete_nodes(node_ids=["c330d77f", "c3d1e1dd"])
    res = vector_store.get_nodes(node_ids=["c330d77f", "c3d1e1dd", "c3ew11cd"])
    assert len(res) == 1
    assert res[0].get_content() == "lorem ipsum"
    assert res[0].id_ == "c3ew11cd"
    vector_store.delete_nodes(filters=where(f("year", FilterOperator.LT, 1950)))
    assert {n.node_id for n in vector_store.get_nodes()} == {"c3ew11cd", "bd2e080b"}
    asyncio.run(vector_store.adelete_nodes(node_ids=["c3ew11cd", "bd2e080b"], filters=where(f("year", FilterOperator.GT, 2000))))
    assert {n.node_id for n in vector_store.get_nodes()} == {"bd2e080b"}


def test_delete_by_ref_doc_id(vector_store, node_embeddings):
    vector_store.add(node_embeddings)
    vector_store.delete("text-4")
    assert {n.node_id for n in vector_store.get_nodes()} == {"c330d77f", "c3d1e1dd", "c3ew11cd", "0b31ae71"}
    asyncio.run(vector_store.adelete("test-0"))
    assert "c330d77f" not in ids(query(vector_store, [1.0, 0.0, 0.0], k=10))
    vector_store.delete("no-such-doc")
    assert len(vector_store.get_nodes()) == 3


def test_clear(vector_store, node_embeddings):
    vector_store.add(node_embeddings)
    vector_store.clear()
    res = vector_store.get_nodes(node_ids=["c330d77f", "c3d1e1dd", "c3ew11cd"])
    assert len(res) == 0
    assert ids(query(vector_store, [1.0, 0.0, 0.0])) == []
    asyncio.run(vector_store.aclear())
    vector_store.add(node_embeddings[:1])  # the cleared collection takes nodes again
    assert ids(query(vector_store, [1.0, 0.0, 0.0])) == ["c330d77f"]


def test_add_replaces_a_node_of_the_same_id(vector_store, node_embeddings):
    vector_store.add(node_embeddings)
    vector_store.add([node("c330d77f", "rewritten", "test-9", [0.0, 1.0, 0.1], year=2000)])
    [back] = vector_store.get_nodes(node_ids=["c330d77f"])
    assert back.get_content() == "rewritten" and back.ref_doc_id == "test-9" and back.metadata == {"year": 2000}
    assert len(vector_store.get_nodes()) == len(node_embeddings)


def test_reopen(path, node_embeddings):
    store = FletchVectorStore(path=path, collection_name="quotes", metric="l2")
    store.add(node_embeddings)
    store.delete("test-1")
    before = store.get_nodes()
    found = query(store, [0.0, 0.1, 0.8], k=3, filters=where(f("year", FilterOperator.GT, 1900)))
    store.close()
    assert store.client.closed

    store = FletchVectorStore(path=path, collection_name="quotes", metric="l2")
    after = store.get_nodes()
    assert [n.node_id for n in after] == [n.node_id for n in before]
    assert [(n.get_content(), n.metadata, n.ref_doc_id) for n in after] == [
        (n.get_content(), n.metadata, n.ref_doc_id) for n in before
    ]
    again = query(store, [0.0, 0.1, 0.8], k=3, filters=where(f("year", FilterOperator.GT, 1900)))
    assert again.ids == found.ids and again.similarities == pytest.approx(found.similarities)
    store.delete("text-4")  # ids and ref_doc_ids still map after the reopen
    assert len(store.get_nodes()) == len(before) - 2
    store.close()


def test_bad_input_is_refused(vector_store, node_embeddings):
    with pytest.raises(fletchdb.InvalidArgumentError, match="'bare' has no embedding"):
        vector_store.add([node_embeddings[0], TextNode(id_="bare", text="no vector")])
    assert vector_store.collection is None  # nothing was written
    with pytest.raises(fletchdb.InvalidArgumentError, match="not an object"):
        vector_store.add([node("n", "t", "d", [1.0, 0.0], nested={"a": 1})])
    with pytest.raises(TypeError, match="index_id"):
        vector_store.add(node_embeddings, index_id="42")  # not silently ignored
    vector_store.add(node_embeddings)
    with pytest.raises(fletchdb.DimensionMismatchError):
        query(vector_store, [1.0, 0.0])
    with pytest.raises(fletchdb.InvalidArgumentError, match="k must be"):
        query(vector_store, [1.0, 0.0, 0.0], k=0)
    with pytest.raises(TypeError, match="exactly one of path"):
        FletchVectorStore()


# The whole LlamaIndex path, in a child process: every socket refused and counted, no
# user caches (an empty HOME), NLTK_DATA unset, HF_HUB_OFFLINE set. llama-index-core
# ships its NLTK data and tiktoken files in its wheel (llama_index/core/_static), so
# splitting documents, embedding (MockEmbedding) and retrieving need no network.
OFFLINE_RUN = textwrap.dedent(
    """
    import socket, sys
    attempts = []
    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")
    socket.socket.connect = socket.socket.connect_ex = refuse
    socket.create_connection = socket.getaddrinfo = refuse

    from llama_index.core import Document, MockEmbedding, Settings, StorageContext, VectorStoreIndex
    from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters
    from fletchdb.integrations.llama_index import FletchVectorStore

    Settings.embed_model = MockEmbedding(embed_dim=8)
    Settings.llm = None
    store = FletchVectorStore(path=sys.argv[1])
    docs = [
        Document(text="FletchDB is an embedded vector database. " * 40, doc_id="a", metadata={"lang": "en"}),
        Document(text="Une base de données vectorielle embarquée. " * 40, doc_id="b", metadata={"lang": "fr"}),
    ]
    index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store))
    only_fr = MetadataFilters(filters=[MetadataFilter(key="lang", operator=FilterOperator.EQ, value="fr")])
    hits = index.as_retriever(similarity_top_k=3, filters=only_fr).retrieve("vector database")
    assert hits and all(h.node.ref_doc_id == "b" for h in hits), hits
    index.delete_ref_doc("b")
    assert all(n.ref_doc_id == "a" for n in store.get_nodes())
    store.close()
    print("attempts", len(attempts))
    """
)


def test_a_whole_index_runs_offline(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NLTK_DATA"}
    env.update(HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, "-c", OFFLINE_RUN, str(tmp_path / "db")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "attempts 0", out.stdout + out.stderr


def test_readme_example_runs(tmp_path, monkeypatch):
    run_readme_block("LlamaIndex", tmp_path, monkeypatch)
