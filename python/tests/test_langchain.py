"""The LangChain store: LangChain's own standard suite (VectorStoreIntegrationTests, with
its deterministic fake embeddings, offline), then what the suite does not cover: filters,
scores per metric, MMR over stored vectors, retrievers, persistence across close, reopen
and process exit, the string-id mapping with colliding hashes, and bad input."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip(
    "langchain_core", reason="langchain-core is not installed: pip install './python[test-integrations]'"
)
standard = pytest.importorskip(
    "langchain_tests.integration_tests",
    reason="langchain-tests is not installed: pip install './python[test-integrations]'",
)

from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings  # noqa: E402

import fletchdb  # noqa: E402
from fletchdb.integrations import _keys  # noqa: E402
from fletchdb.integrations.langchain import FletchVectorStore  # noqa: E402
from test_quickstart import run_readme_block  # noqa: E402


class TestStandard(standard.VectorStoreIntegrationTests):
    """LangChain's standard tests, sync and async, on a store opened by path."""

    @pytest.fixture
    def vectorstore(self, tmp_path):
        store = FletchVectorStore(self.get_embeddings(), path=tmp_path / "db")
        try:
            yield store
        finally:
            store.close()


class Table(Embeddings):
    """Embeddings looked up in a table (unknown texts are an error), counting the calls."""

    def __init__(self, table):
        self.table = {t: [float(x) for x in v] for t, v in table.items()}
        self.documents_embedded = 0
        self.queries_embedded = 0

    def embed_documents(self, texts):
        self.documents_embedded += len(texts)
        return [self.table[t] for t in texts]

    def embed_query(self, text):
        self.queries_embedded += 1
        return self.table[text]


@pytest.fixture
def fast_db(path, open_db):
    with open_db(path, durability="none") as database:
        yield database


def store_of(db, table, **kwargs):
    return FletchVectorStore(Table(table), database=db, **kwargs)


BOOKS = {
    "dune": [1.0, 0.0, 0.0],
    "emma": [0.0, 1.0, 0.0],
    "ulysses": [0.0, 0.0, 1.0],
    "q": [0.8, 0.36, 0.48],  # unit length, as the others: relevance stays in [0, 1]
}
BOOK_META = {
    "dune": {"year": 1965, "tags": ["sf", "desert"]},
    "emma": {"year": 1815, "tags": ["romance"]},
    "ulysses": {"year": 1922, "tags": ["modernist"], "pages": None},
}


def add_books(store):
    names = ["dune", "emma", "ulysses"]
    return store.add_texts(names, [BOOK_META[n] for n in names], ids=[f"id-{n}" for n in names])


def test_filters_use_the_where_grammar(fast_db):
    store = store_of(fast_db, BOOKS)
    add_books(store)
    hits = store.similarity_search("q", k=3, filter={"year": {"$lt": 1950}})
    assert [d.page_content for d in hits] == ["ulysses", "emma"]
    hits = store.similarity_search("q", k=3, filter={"$or": [{"tags": {"$contains": "sf"}}, {"year": 1815}]})
    assert [d.id for d in hits] == ["id-dune", "id-emma"]
    assert store.similarity_search("q", k=3, filter={"year": {"$gt": 3000}}) == []
    assert [d.id for d in store.similarity_search("q", k=3, filter={})] == ["id-dune", "id-ulysses", "id-emma"]
    with pytest.raises(fletchdb.InvalidArgumentError, match=r"\$regex"):
        store.similarity_search("q", k=1, filter={"year": {"$regex": "19"}})


def test_documents_come_back_whole(fast_db):
    store = store_of(fast_db, BOOKS)
    add_books(store)
    [doc] = store.get_by_ids(["id-ulysses"])
    assert doc == Document(id="id-ulysses", page_content="ulysses", metadata=BOOK_META["ulysses"])
    assert "fletchdb:key" not in doc.metadata
    # The key rides along in FletchDB's own metadata, under the reserved field.
    raw = store.collection.get_metadata(_keys.key_id("id-ulysses"))[0]
    assert raw == {**BOOK_META["ulysses"], _keys.KEY_FIELD: "id-ulysses"}
    # Order of the ids asked for, each once, missing ones skipped.
    got = store.get_by_ids(["id-emma", "nope", "id-dune", "id-emma"])
    assert [d.id for d in got] == ["id-emma", "id-dune"]


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_scores_are_distances_and_relevance_follows_the_metric(fast_db, metric):
    store = store_of(fast_db, BOOKS, metric=metric)
    add_books(store)
    q = np.array(BOOKS["q"])
    got = store.similarity_search_with_score("q", k=3)
    assert [d.page_content for d, _ in got] == ["dune", "ulysses", "emma"]
    for doc, distance in got:
        v = np.array(BOOKS[doc.page_content])
        want = {
            "cosine": 1 - q @ v / np.linalg.norm(q) / np.linalg.norm(v),
            "ip": 1 - q @ v,
            "l2": np.sum((q - v) ** 2),
        }[metric]
        assert distance == pytest.approx(want, abs=1e-5)
    relevance = store.similarity_search_with_relevance_scores("q", k=3)
    fn = store._select_relevance_score_fn()
    assert [r for _, r in relevance] == pytest.approx([fn(d) for _, d in got])
    assert 1 >= relevance[0][1] > relevance[1][1] > relevance[2][1] >= 0
    if metric == "l2":
        assert fn(2.0) == pytest.approx(0.0) and fn(0.0) == 1.0  # unit vectors at right angles, equal
    else:
        assert fn(0.25) == 0.75
    override = FletchVectorStore(Table(BOOKS), database=fast_db, metric=metric, relevance_score_fn=lambda d: 1 - d / 4)
    assert override.similarity_search_with_relevance_scores("q", k=1)[0][1] == pytest.approx(1 - got[0][1] / 4)


def test_mmr_uses_stored_vectors_and_trades_similarity_for_diversity(fast_db):
    table = {
        "a": [1.0, 0.0, 0.0],
        "a-again": [0.999, 0.04, 0.0],
        "b": [0.7, 0.0, 0.714],
        "c": [0.0, 1.0, 0.0],
        "q": [1.0, 0.0, 0.1],
    }
    store = store_of(fast_db, table)
    store.add_texts(["a", "a-again", "b", "c"], ids=["a", "a-again", "b", "c"])
    embedded = store.embeddings.documents_embedded
    plain = [d.id for d in store.similarity_search("q", k=2)]
    assert plain == ["a", "a-again"]
    diverse = [d.id for d in store.max_marginal_relevance_search("q", k=2, fetch_k=4, lambda_mult=0.5)]
    assert diverse == ["a", "b"]
    assert [d.id for d in store.max_marginal_relevance_search("q", k=2, lambda_mult=1.0)] == plain
    assert [d.id for d in store.max_marginal_relevance_search_by_vector(table["q"], k=1, filter={})] == ["a"]
    # Candidates are compared through their stored vectors: nothing is embedded again.
    assert store.embeddings.documents_embedded == embedded
    with pytest.raises(ValueError, match="lambda_mult"):
        store.max_marginal_relevance_search("q", k=2, lambda_mult=1.5)
    # k above fetch_k fetches k candidates.
    assert len(store.max_marginal_relevance_search("q", k=4, fetch_k=2)) == 4


def test_retrievers(fast_db):
    store = store_of(fast_db, BOOKS)
    add_books(store)
    retriever = store.as_retriever(search_kwargs={"k": 2, "filter": {"year": {"$gte": 1900}}})
    assert [d.id for d in retriever.invoke("q")] == ["id-dune", "id-ulysses"]
    mmr = store.as_retriever(search_type="mmr", search_kwargs={"k": 2, "fetch_k": 3})
    assert [d.id for d in mmr.invoke("q")][0] == "id-dune"
    threshold = store.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"k": 3, "score_threshold": 0.5}
    )
    assert [d.id for d in threshold.invoke("q")] == ["id-dune"]


def test_from_texts_and_from_documents(fast_db, tmp_path):
    emb = Table(BOOKS)
    store = FletchVectorStore.from_texts(
        ["dune", "emma"], emb, [{"n": 1}, {"n": 2}], ids=["d", "e"], database=fast_db, collection_name="t"
    )
    assert store.collection.name == "t" and len(store.collection) == 2
    docs = [Document(page_content="ulysses", metadata={"n": 3}, id="u"), Document(page_content="dune")]
    with FletchVectorStore.from_documents(docs, emb, path=tmp_path / "other", metric="l2") as other:
        assert other.database.path.endswith("other") and other.collection.metric == "l2"
        [u, d] = other.get_by_ids(["u"]) + other.similarity_search("dune", k=1)
        assert u == docs[0] and d.page_content == "dune" and d.id not in (None, "u")
    assert other.database.closed  # opened by path: closed with the store


def test_delete_by_filter_and_everything(fast_db):
    store = store_of(fast_db, BOOKS)
    add_books(store)
    assert store.delete(filter={"year": {"$lt": 1900}}) is True
    assert [d.id for d in store.similarity_search("q", k=3)] == ["id-dune", "id-ulysses"]
    store.delete(["id-dune", "id-ulysses"], filter={"year": 1965})
    assert [d.id for d in store.similarity_search("q", k=3)] == ["id-ulysses"]
    store.delete()
    assert store.similarity_search("q", k=3) == [] and len(store.collection) == 0
    store.add_texts(["emma"], ids=["again"])  # the emptied collection takes new records
    assert [d.id for d in store.similarity_search("q", k=3)] == ["again"]


def test_batches(fast_db):
    store = store_of(fast_db, BOOKS)
    ids = store.add_texts(["dune", "emma", "ulysses"], batch_size=2)
    assert len(set(ids)) == 3 and store.embeddings.documents_embedded == 3
    assert {d.id for d in store.get_by_ids(ids)} == set(ids)
    assert store.add_texts([]) == []
    with pytest.raises(fletchdb.InvalidArgumentError, match="batch_size must be a positive integer"):
        store.add_texts(["dune"], batch_size=0)
    with pytest.raises(fletchdb.InvalidArgumentError, match="given twice"):
        store.add_texts(["dune", "emma", "ulysses"], ids=["x", "y", "x"], batch_size=2)  # in two batches
    assert store.get_by_ids(["x", "y"]) == []  # refused before the first batch


def test_reopen_returns_the_same_records(path, tmp_path):
    emb = DeterministicFakeEmbedding(size=8)
    texts = [f"text {i}" for i in range(50)]
    metas = [{"i": i, "even": i % 2 == 0, "tags": ["x", str(i)]} for i in range(50)]
    with FletchVectorStore(emb, path=path, collection_name="books") as store:
        ids = store.add_texts(texts, metas)
        store.delete(ids[:5])
        before = store.get_by_ids(ids)
        hits = store.similarity_search("text 7", k=5, filter={"even": False})
    assert len(before) == 45
    with FletchVectorStore(emb, path=path, collection_name="books") as store:
        assert store.get_by_ids(ids) == before
        assert store.similarity_search("text 7", k=5, filter={"even": False}) == hits
        # The mapping survived: an old id is replaced in place, not added twice.
        store.add_texts(["new"], [{"i": -1}], ids=[ids[10]])
        assert store.get_by_ids([ids[10]]) == [Document(id=ids[10], page_content="new", metadata={"i": -1})]
        assert len(store.collection) == 45


def test_records_survive_the_process_ending_without_close(path):
    script = textwrap.dedent(
        f"""
        from langchain_core.embeddings import DeterministicFakeEmbedding
        from fletchdb.integrations.langchain import FletchVectorStore
        store = FletchVectorStore(DeterministicFakeEmbedding(size=8), path={str(path)!r})
        store.add_texts(["kept"], [{{"n": 1}}], ids=["k"])
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=str(path.parent))
    with FletchVectorStore(DeterministicFakeEmbedding(size=8), path=path) as store:
        assert store.get_by_ids(["k"]) == [Document(id="k", page_content="kept", metadata={"n": 1})]


def test_colliding_hashes_keep_both_records(fast_db, monkeypatch):
    # Every key hashes to its attempt number: "a" takes 0, "b" collides and takes 1, ...
    monkeypatch.setattr(_keys, "key_id", lambda key, attempt=0: attempt)
    store = store_of(fast_db, BOOKS)
    store.add_texts(["dune", "emma", "ulysses"], ids=["a", "b", "c"])
    assert sorted(store.collection.ids().tolist()) == [0, 1, 2]
    store.delete(["a"])  # frees id 0; "b" and "c" are still found through the key index
    assert [d.page_content for d in store.get_by_ids(["b", "c"])] == ["emma", "ulysses"]
    store.add_texts(["dune"], ids=["d"])  # takes the free id 0
    store.add_texts(["emma"], ids=["c"])  # replaces "c" where it is
    assert sorted(store.collection.ids().tolist()) == [0, 1, 2]
    assert [d.page_content for d in store.get_by_ids(["d", "b", "c"])] == ["dune", "emma", "emma"]


def test_bad_input_is_refused(fast_db, tmp_path):
    store = store_of(fast_db, BOOKS)
    with pytest.raises(fletchdb.InvalidArgumentError, match="reserved key"):
        store.add_texts(["dune"], [{_keys.KEY_FIELD: "x"}])
    with pytest.raises(fletchdb.InvalidArgumentError, match="given twice"):
        store.add_texts(["dune", "emma"], ids=["same", "same"])
    with pytest.raises(TypeError, match="must be str"):
        store.add_texts(["dune"], ids=[7])
    with pytest.raises(ValueError, match="2 texts but 1 metadatas"):
        store.add_texts(["dune", "emma"], [{}])
    with pytest.raises(fletchdb.InvalidArgumentError, match="deep.*not an object"):
        store.add_texts(["dune"], [{"deep": {"no": 1}}])
    with pytest.raises(TypeError, match="filters"):
        store.similarity_search("dune", k=1, filters={"year": 1})  # a typo is not ignored
    with pytest.raises(TypeError, match="unexpected"):
        store.add_texts(["dune"], upsert=True)
    with pytest.raises(fletchdb.InvalidArgumentError, match="k must be"):
        store.similarity_search("dune", k=0)
    assert store.collection is None  # nothing refused was written
    store.add_texts(["dune"])
    with pytest.raises(fletchdb.DimensionMismatchError):
        store.similarity_search_by_vector([1.0, 0.0], k=1)
    with pytest.raises(fletchdb.InvalidVectorError):
        FletchVectorStore(Table({"zero": [0.0, 0.0, 0.0]}), database=fast_db).add_texts(["zero"])
    with pytest.raises(TypeError, match="exactly one of path"):
        FletchVectorStore(Table(BOOKS))
    with pytest.raises(TypeError, match="exactly one of path"):
        FletchVectorStore(Table(BOOKS), path=tmp_path / "x", database=fast_db)
    with pytest.raises(fletchdb.InvalidArgumentError, match="metric"):
        FletchVectorStore(Table(BOOKS), database=fast_db, metric="dot")
    with pytest.raises(fletchdb.InvalidArgumentError, match="'cosine', not 'l2'"):
        FletchVectorStore(Table(BOOKS), database=fast_db, metric="l2")  # the collection exists


def test_readme_example_runs(tmp_path, monkeypatch):
    run_readme_block("LangChain", tmp_path, monkeypatch)
