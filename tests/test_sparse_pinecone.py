"""The sparse index beside each Pinecone index: the official SDK against the local wire servers.

The wire server validates sparse values as the real service does (tests/wire/pinecone_server.py),
so these tests fail if what the backend sends would be refused by Pinecone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import write_files  # noqa: E402
from core.errors import BackendError, DimensionMismatchError  # noqa: E402
from core.sparse import query_vector  # noqa: E402
from core.vectors.base import IndexSpec, VectorRecord  # noqa: E402
from core.vectors.pinecone import PineconeBackend, sparse_index_name  # noqa: E402
import test_pinecone as base  # noqa: E402
from test_pinecone import NO_SLEEP, PC_KEY, unit  # noqa: E402

# The production path's fixtures (servers on 127.0.0.1, keys, a repo set to production).
pinecone, cohere, production = base.pinecone, base.cohere, base.production

NAME = "lightfast-test-v1"
SPARSE = NAME + "-sparse"
NS = "org_acme:ws_web:store_docs"
TEXTS = {
    "a": ("core/vectors/local.py", "def ensure_namespace(name): return LocalIndex._load(name)", ["ensure_namespace"]),
    "b": ("docs/birds.md", "The pelican colony nests on the northern lagoon every spring.", []),
    "c": ("docs/fish.md", "Salmon swim upstream to spawn in cold rivers.", []),
}


def records(ids=TEXTS):
    vectors = unit(len(ids))
    return [VectorRecord(vid, vectors[i], {"path": TEXTS[vid][0], "text": TEXTS[vid][1], "symbols": TEXTS[vid][2]})
            for i, vid in enumerate(ids)]


@pytest.fixture
def backend(pinecone):
    return PineconeBackend(PC_KEY, host=pinecone.url, retry=NO_SLEEP)


@pytest.fixture
def index(backend):
    return backend.ensure_index(IndexSpec(NAME, 8))


def sparse_ids(pinecone, namespace=NS, index=SPARSE) -> set[str]:
    return set(pinecone.plane(index).sparse.get(namespace, {}))


PRODUCTION_SPARSE = "lightfast-production-v1-sparse"


def raw_upsert(plane, vectors: list) -> tuple[int, str]:
    """An upsert sent as plain JSON (the SDK checks some rules itself before sending)."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(plane.url + "/vectors/upsert", method="POST",
                                     data=json.dumps({"vectors": vectors, "namespace": NS}).encode(),
                                     headers={"Api-Key": PC_KEY, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def dense_ids(pinecone, namespace=NS) -> set[str]:
    return set(pinecone.plane(NAME).namespaces.get(namespace, {}))


def test_the_sparse_index_name_fits_pinecones_45_characters_and_stays_distinct():
    assert sparse_index_name("lightfast-production-v1") == "lightfast-production-v1-sparse"
    long_a, long_b = "a" * 40 + "-v1", "a" * 40 + "-v2"
    assert len(sparse_index_name(long_a)) == 45 and sparse_index_name(long_a) != sparse_index_name(long_b)


def test_upserts_write_sparse_twins_with_the_same_ids_and_metadata(pinecone, index):
    assert index.upsert(NS, records()) == 3
    plane = pinecone.plane(SPARSE)
    assert sparse_ids(pinecone) == dense_ids(pinecone) == {"a", "b", "c"}
    assert plane.namespaces[NS]["b"][0] == []  # no dense values on the sparse index
    assert plane.namespaces[NS]["b"][1]["path"] == "docs/birds.md"
    assert pinecone.count("/vectors/upsert") == 2  # one batch to each index


def test_lexical_query_ranks_by_the_words_and_carries_the_metadata(index):
    index.upsert(NS, records())
    found = index.lexical_query(NS, "ensure_namespace", 5)
    assert [m.id for m in found] == ["a"] and found[0].metadata["symbols"] == ["ensure_namespace"]
    assert [m.id for m in index.lexical_query(NS, "pelicans lagoon", 5)] == ["b"]  # plural folded
    assert index.lexical_query(NS, "what is the", 5) == []  # stopwords only: nothing is sent
    assert index.lexical_query("org_other:ws_w:store_s", "pelican", 5) == []  # one namespace only


def test_deletes_reach_both_indexes_sparse_first(pinecone, index):
    index.upsert(NS, records())
    index.delete(NS, ["a", "b"])
    assert sparse_ids(pinecone) == dense_ids(pinecone) == {"c"}
    deletes = [i for i, (method, path) in enumerate(pinecone.requests) if path == "/vectors/delete"]
    hosts = [pinecone.plane(SPARSE).delete_batches, pinecone.plane(NAME).delete_batches]
    assert len(deletes) == 2 and hosts == [[2], [2]]
    index.delete_namespace(NS)
    assert NS not in pinecone.plane(SPARSE).namespaces and NS not in pinecone.plane(NAME).namespaces


def test_a_failed_sparse_write_is_rewritten_by_the_rerun_and_never_leaves_a_word_hit_without_its_vector(
        pinecone, index):
    plane = pinecone.plane(SPARSE)
    real = plane._upsert
    plane._upsert = lambda *a: (400, {"error": {"code": "INVALID_ARGUMENT", "message": "refused"}})
    with pytest.raises(BackendError):
        index.upsert(NS, records())  # the vectors are written, their twins refused (a run killed here)
    assert dense_ids(pinecone) == {"a", "b", "c"} and sparse_ids(pinecone) == set()
    assert "3 vectors without sparse rows" in index.lexical_out_of_step(NS)
    plane._upsert = real
    index.upsert(NS, records())  # the re-run writes the same records again
    assert sparse_ids(pinecone) == dense_ids(pinecone) and index.lexical_out_of_step(NS) is None


def test_an_index_from_before_the_sparse_side_is_backfilled_once(pinecone):
    old = PineconeBackend(PC_KEY, host=pinecone.url, retry=NO_SLEEP, sparse=False).ensure_index(IndexSpec(NAME, 8))
    old.upsert(NS, records())
    assert SPARSE not in pinecone.indexes and old.lexical_query(NS, "pelican", 5) is None
    index = PineconeBackend(PC_KEY, host=pinecone.url, retry=NO_SLEEP).ensure_index(IndexSpec(NAME, 8))
    assert index.lexical_query(NS, "pelican", 5) == []  # the sparse index exists, still empty
    assert index.ensure_lexical(NS) is True  # what ingest's recovery step calls
    assert sparse_ids(pinecone) == {"a", "b", "c"}
    assert [m.id for m in index.lexical_query(NS, "pelican", 5)] == ["b"]
    upserts = pinecone.count("/vectors/upsert")
    assert index.ensure_lexical(NS) is False and pinecone.count("/vectors/upsert") == upserts  # in step: nothing


def test_a_rebuild_rewrites_every_twin_and_drops_those_without_a_vector(pinecone, index):
    index.upsert(NS, records())
    index.sparse.write(NS, [{"id": "orphan", "metadata": {"path": "x.md", "text": "pelican"}}])
    assert "1 sparse rows without vectors" in index.lexical_out_of_step(NS)
    assert index.ensure_lexical(NS, rebuild=True) is True
    assert sparse_ids(pinecone) == dense_ids(pinecone) and index.lexical_out_of_step(NS) is None


def test_a_dense_index_where_the_sparse_one_belongs_is_refused(pinecone, backend):
    pinecone.add_index(SPARSE, 8)
    with pytest.raises(DimensionMismatchError, match="holds dense vectors"):
        backend.ensure_index(IndexSpec(NAME, 8))


# -- the wire server refuses what Pinecone refuses -------------------------------------------------

@pytest.mark.parametrize("sparse_values, message", [
    ({"indices": [1, 1], "values": [0.5, 0.5]}, "must be unique"),
    ({"indices": [1, 2], "values": [0.5]}, "same length"),
    ({"indices": list(range(1001)), "values": [1.0] * 1001}, "maximum is 1000"),
    ({"indices": [2**32], "values": [1.0]}, "unsigned 32-bit"),
])
def test_the_wire_server_refuses_bad_sparse_values_like_pinecone(pinecone, index, sparse_values, message):
    status, body = raw_upsert(pinecone.plane(SPARSE), [{"id": "x", "values": [], "sparseValues": sparse_values}])
    assert status == 400 and message in body
    assert raw_upsert(pinecone.plane(SPARSE), [{"id": "x", "values": [],
                                                "sparseValues": {"indices": [1], "values": [1.0]}}])[0] == 200


def test_the_wire_server_refuses_dense_values_on_a_sparse_index_and_sparse_on_a_cosine_one(pinecone, index):
    with pytest.raises(Exception, match="not supported for sparse indexes"):
        index.sparse._index.upsert(vectors=[{"id": "x", "values": [0.1] * 8,
                                             "sparse_values": {"indices": [1], "values": [1.0]}}], namespace=NS)
    with pytest.raises(Exception, match="only for indexes using the dotproduct metric"):
        index._index.upsert(vectors=[{"id": "x", "values": [0.1] * 8,
                                      "sparse_values": {"indices": [1], "values": [1.0]}}], namespace=NS)


def test_sparse_queries_score_by_dotproduct_and_drop_zero_scores(pinecone, index):
    handle = index.sparse._index
    handle.upsert(vectors=[{"id": "one", "sparse_values": {"indices": [1, 2], "values": [1.0, 2.0]}},
                           {"id": "two", "sparse_values": {"indices": [2, 3], "values": [0.5, 4.0]}},
                           {"id": "none", "sparse_values": {"indices": [9], "values": [1.0]}}], namespace=NS)
    found = handle.query(sparse_vector={"indices": [2, 3], "values": [1.0, 1.0]}, top_k=10, namespace=NS)
    assert [(m.id, m.score) for m in found.matches] == [("two", 4.5), ("one", 2.0)]
    stats = handle.describe_index_stats()
    assert stats.namespaces[NS].vector_count == 3
    with pytest.raises(Exception, match="between 1 and 1000"):
        handle.query(sparse_vector={"indices": [2], "values": [1.0]}, top_k=1001, namespace=NS)


# -- search on Pinecone: the same modes and fusion as locally -------------------------------------

@pytest.fixture
def code_repo(repo):
    write_files(repo, {"src/tool.py": "def ensure_namespace(name):\n    return name.strip()\n\n\n"
                                      "def unrelated_helper():\n    return 42\n"})
    return repo


def test_lexical_and_hybrid_search_on_pinecone_use_the_sparse_index(production, pinecone, cohere, code_repo):
    service = production()
    service.ingest()
    for name in ("org_acme:ws_platform:store_docs", "org_acme:ws_platform:store_code"):
        assert sparse_ids(pinecone, name, PRODUCTION_SPARSE) == set(
            pinecone.plane("lightfast-production-v1").namespaces[name])
    reranks = cohere.count("/v2/rerank")
    lexical = service.search("ensure_namespace", top_k=3, mode="lexical")
    assert lexical.failed == {} and lexical.notes == []
    assert lexical.hits[0].path == "src/tool.py" and lexical.hits[0].namespace.endswith("store_code")
    hybrid = service.search("ensure_namespace", top_k=3)
    assert hybrid.mode == "hybrid" and hybrid.notes == [] and hybrid.hits[0].path == "src/tool.py"
    assert hybrid.lexical_weight is not None and hybrid.lexical_weight > 0
    words = service.search("pelican colony lagoon", top_k=3)  # docs and code merged, then reranked
    assert words.hits[0].path == "docs/birds.md"
    assert cohere.count("/v2/rerank") == reranks + 3  # Cohere rerank on top, in every mode


def test_merging_two_stores_ranks_as_searching_each_alone(production, code_repo):
    service = production()
    service.ingest()
    both = service.search("ensure_namespace pelican", top_k=5, mode="lexical")
    alone = {store: service.search("ensure_namespace pelican", top_k=5, mode="lexical", stores=[store])
             for store in ("docs", "code")}
    assert {h.store for h in both.hits} == {"docs", "code"}
    for store, result in alone.items():  # each store's hits keep their order inside the merged list
        mine = [h.vector_id for h in both.hits if h.store == store]
        assert mine == [h.vector_id for h in result.hits][: len(mine)]


def test_query_terms_reach_the_sparse_index_as_sent(production, pinecone, code_repo):
    service = production()
    service.ingest()
    plane = pinecone.plane("lightfast-production-v1-sparse")
    seen = []
    real = plane._sparse_query
    plane._sparse_query = lambda ns, body, top_k, q: (seen.append(q), real(ns, body, top_k, q))[1]
    service.search("ensure_namespace", top_k=3, mode="lexical")
    assert seen and all(q == query_vector("ensure_namespace").as_dict() for q in seen)


def test_rebuilding_the_sparse_side_through_the_service_keeps_search_whole(production, pinecone, code_repo):
    service = production()
    service.ingest()
    name = "org_acme:ws_platform:store_code"
    pinecone.plane("lightfast-production-v1-sparse").namespaces.pop(name)  # lost, as by a kill before the first
    pinecone.plane("lightfast-production-v1-sparse").sparse.pop(name)      # sparse write of the namespace
    lost = service.search("ensure_namespace", top_k=3, mode="lexical")
    assert "src/tool.py" not in [h.path for h in lost.hits]
    production().ingest()  # the next run's recovery step backfills it
    assert sparse_ids(pinecone, name, PRODUCTION_SPARSE) == set(
        pinecone.plane("lightfast-production-v1").namespaces[name])
    assert production().search("ensure_namespace", top_k=3, mode="lexical").hits[0].path == "src/tool.py"


def test_dense_scores_are_unchanged_by_the_sparse_side(pinecone, index):
    index.upsert(NS, records())
    q = unit(3)[1]
    assert index.query(NS, q, 1)[0].id == "b"
    assert np.isclose(index.query(NS, q, 1)[0].score, 1.0, atol=1e-5)


@pytest.mark.parametrize("fault", ["429", "500", "drop"])
def test_a_fault_on_the_sparse_write_or_query_is_retried_like_the_dense_ones(pinecone, index, fault):
    pinecone.faults.fail_next("pass", fault, fault)  # the vectors pass, their twins fail twice
    index.upsert(NS, records())
    assert pinecone.count("/vectors/upsert") == 4 and sparse_ids(pinecone) == {"a", "b", "c"}
    pinecone.faults.fail_next(fault)
    assert [m.id for m in index.lexical_query(NS, "salmon", 5)] == ["c"]
    assert pinecone.count("/query") == 2


def test_doctor_finds_sparse_twins_out_of_step_and_repair_rewrites_them(production, pinecone, code_repo):
    service = production()
    service.ingest()
    name = "org_acme:ws_platform:store_code"
    plane = pinecone.plane(PRODUCTION_SPARSE)
    lost = sorted(plane.sparse[name])[0]
    plane.sparse[name].pop(lost)  # a twin gone (a write lost on Pinecone's side)
    plane.namespaces[name].pop(lost)
    found = {ns.namespace: ns for ns in production().doctor().namespaces}[name]
    assert found.state == "word index out of step"
    assert found.error == "1 vectors without sparse rows"
    repaired = production().doctor(repair=True)
    assert any("rebuilt its word index" in note for note in repaired.repairs)
    assert {ns.namespace: ns for ns in repaired.namespaces}[name].ok
    assert sparse_ids(pinecone, name, PRODUCTION_SPARSE) == set(pinecone.plane("lightfast-production-v1").namespaces[name])
