"""The production path: the official Pinecone and Cohere SDKs against local wire-format servers."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import make_config, write_files  # noqa: E402
from core.embeddings.cohere import CohereEmbedder  # noqa: E402
from core.errors import BackendError, LightfastError  # noqa: E402
from core.retry import RetryPolicy  # noqa: E402
from core.vectors.base import IndexSpec, VectorRecord  # noqa: E402
from core.vectors.pinecone import PineconeBackend  # noqa: E402
from tests.wire.cohere_server import CohereServer  # noqa: E402
from tests.wire.pinecone_server import PineconeServer  # noqa: E402

PC_KEY, CO_KEY = "pcsk_test_secret_key_1234567890", "co_test_secret_key_0987654321"
NO_SLEEP = RetryPolicy(sleep=lambda s: None)
NS = "org_acme:ws_web:store_docs"


@pytest.fixture
def pinecone():
    with PineconeServer(api_key=PC_KEY) as server:
        yield server


@pytest.fixture
def cohere():
    with CohereServer(api_key=CO_KEY) as server:
        yield server


@pytest.fixture
def index(pinecone):
    backend = PineconeBackend(PC_KEY, host=pinecone.url, retry=NO_SLEEP)
    return backend.ensure_index(IndexSpec("lightfast-test-v1", 8, deletion_protection=True,
                                          tags={"environment": "test", "platform": "lightfast"}))


def unit(n, dim=8, seed=0):
    m = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_index_is_created_once_and_configured(pinecone, index):
    backend = PineconeBackend(PC_KEY, host=pinecone.url, retry=NO_SLEEP)
    backend.ensure_index(IndexSpec("lightfast-test-v1", 8, deletion_protection=True, tags={"environment": "test"}))
    state = pinecone.indexes["lightfast-test-v1"]
    assert state["deletion_protection"] == "enabled"
    assert state["tags"] == {"environment": "test", "platform": "lightfast"}
    assert (state["dimension"], state["cloud"], state["region"]) == (8, "aws", "us-east-1")
    assert backend.list_indexes() == ["lightfast-test-v1", "lightfast-test-v1-sparse"]  # the lexical side
    with pytest.raises(BackendError, match="deleting index 'lightfast-test-v1' failed: HTTP 403"):
        backend.delete_index("lightfast-test-v1")


def test_namespace_operations_and_isolation(index):
    a, b = "org_a:ws_w:store_s", "org_b:ws_w:store_s"
    index.upsert(a, [VectorRecord("x", unit(1)[0], {"text": "secret-a"})])
    index.upsert(b, [VectorRecord("y", unit(1)[0], {"text": "secret-b"})])
    assert [m.metadata["text"] for m in index.query(a, unit(1)[0], 10)] == ["secret-a"]
    assert {s.namespace for s in index.list_namespaces(prefix="org_a:")} == {a}
    assert index.fetch(a, ["x", "y"]).keys() == {"x"}
    index.delete(a, ["x"])
    assert index.namespace_stats(a).vector_count == 0
    index.delete_namespace(b)
    assert index.namespace_stats(b).vector_count == 0


def test_upserts_are_batched_within_limits(pinecone, index):
    vectors = unit(2500)
    index.upsert(NS, [VectorRecord(f"v{i:04}", vectors[i], {"text": "t" * 1200}) for i in range(2500)])
    plane = pinecone.planes["lightfast-test-v1"]
    assert len(plane.upsert_batches) >= 3 and max(plane.upsert_batches) <= 1000
    assert index.namespace_stats(NS).vector_count == 2500
    ids, token, pages = [], None, 0
    while True:
        page, token = index.list_ids(NS, limit=100, pagination_token=token)
        ids += page
        pages += 1
        if not token:
            break
    assert len(ids) == 2500 and pages == 25


def test_metadata_is_trimmed_under_40kb(index):
    index.upsert(NS, [VectorRecord("big", unit(1)[0], {"path": "a.md", "text": "é" * 50_000})])
    got = index.fetch(NS, ["big"])["big"].metadata
    assert got["text_truncated"] is True and got["path"] == "a.md"
    import json

    assert len(json.dumps(got, ensure_ascii=False).encode()) <= 40 * 1024


def test_limits_are_said_clearly(index):
    with pytest.raises(LightfastError, match="512"):
        index.upsert("n" * 600, [VectorRecord("x", unit(1)[0])])
    with pytest.raises(LightfastError, match="vector id"):
        index.upsert(NS, [VectorRecord("x" * 600, unit(1)[0])])
    with pytest.raises(LightfastError, match="8-dimensional"):
        index.upsert(NS, [VectorRecord("x", np.ones(4, dtype=np.float32))])


@pytest.mark.parametrize("fault", ["429", "500", "slow", "drop"])
def test_each_fault_is_retried_to_success(pinecone, index, fault, monkeypatch):
    pinecone.faults.slow_seconds = 1.5
    monkeypatch.setenv("LIGHTFAST_HTTP_TIMEOUT", "0.5")
    backend = PineconeBackend(PC_KEY, host=pinecone.url, retry=NO_SLEEP)
    fast = backend.index("lightfast-test-v1")
    pinecone.faults.script.extend([fault, fault])
    fast.upsert(NS, [VectorRecord("a", unit(1)[0], {"text": "x"})])
    assert fast.namespace_stats(NS).vector_count == 1
    assert pinecone.faults.injected[fault] == 2


def test_persistent_faults_end_in_a_clear_error_without_the_key(pinecone, index):
    pinecone.faults.rate = 1.0
    pinecone.faults.kinds = ("500",)
    index.retry = RetryPolicy(attempts=3, sleep=lambda s: None)
    with pytest.raises(BackendError) as info:
        index.upsert(NS, [VectorRecord("a", unit(1)[0])])
    message = str(info.value)
    assert message.startswith(f"upsert on namespace '{NS}' failed after 3 attempts: HTTP 500")
    assert PC_KEY not in message


def test_cohere_embedder_batches_and_input_types(cohere):
    embedder = CohereEmbedder(CO_KEY, base_url=cohere.url, retry=NO_SLEEP)
    vectors = embedder.embed_documents([f"text number {i}" for i in range(200)])
    assert vectors.shape == (200, 1024)
    assert cohere.batch_sizes == [96, 96, 8] and set(cohere.input_types) == {"search_document"}
    q = embedder.embed_query("text number 5")
    assert cohere.input_types[-1] == "search_query"
    assert int(np.argmax(vectors @ q)) == 5
    cohere.faults.script.extend(["429", "drop"])
    assert embedder.embed_query("again").shape == (1024,)


def test_wrong_key_fails_fast_without_echoing_it(cohere):
    embedder = CohereEmbedder("wrong-key-abcdef", base_url=cohere.url, retry=NO_SLEEP)
    with pytest.raises(BackendError) as info:
        embedder.embed_query("x")
    assert "HTTP 401" in str(info.value) and "wrong-key-abcdef" not in str(info.value)


@pytest.fixture
def production(repo, pinecone, cohere, monkeypatch, service_factory):
    monkeypatch.setenv("PINECONE_API_KEY", PC_KEY)
    monkeypatch.setenv("COHERE_API_KEY", CO_KEY)
    monkeypatch.setenv("LIGHTFAST_PINECONE_HOST", pinecone.url)
    monkeypatch.setenv("LIGHTFAST_COHERE_BASE_URL", cohere.url)
    monkeypatch.setenv("LIGHTFAST_HTTP_TIMEOUT", "1")
    files = {f"docs/page{i:02}.md": f"# Page {i}\n\n" + "\n\n".join(
        f"Paragraph {j} of page {i} is about topic{i} and subject{j}." for j in range(30)) for i in range(25)}
    files["docs/birds.md"] = "# Birds\n\nThe pelican colony nests on the northern lagoon every spring.\n"
    write_files(repo, files)
    make_config(repo, environment="production")

    from core.config import load_config
    from core.service import Lightfast

    return lambda: Lightfast(load_config(repo / "lightfast.yml"))


def test_full_flow_ingest_search_delete(production, pinecone, cohere):
    from test_ingest import assert_consistent

    service = production()
    report = service.ingest()
    assert report.totals()["added"] == 26
    assert "lightfast-production-v1" in pinecone.indexes
    assert pinecone.indexes["lightfast-production-v1"]["deletion_protection"] == "enabled"
    hits = service.search("pelican colony lagoon", top_k=3).hits
    assert hits[0].path == "docs/birds.md"
    assert "search_query" in cohere.input_types
    rows = service.namespaces()
    docs = next(r for r in rows if r.record and r.record.store_slug == "docs")
    assert docs.vectors == docs.index_vectors > 0 and docs.only_in is None
    assert_consistent(service)
    service.delete_namespace("docs")
    assert service.index.namespace_stats("org_acme:ws_platform:store_docs").vector_count == 0


def test_ingest_under_faults_converges(production, pinecone, cohere):
    from test_ingest import assert_consistent

    pinecone.faults.rate = cohere.faults.rate = 0.25
    pinecone.faults.slow_seconds = cohere.faults.slow_seconds = 1.5
    for server in (pinecone, cohere):  # every kind at least once, then at random
        server.faults.script.extend(["429", "drop", "500", "slow"])
    service = production()
    try:
        service.ingest()
    except BackendError as exc:  # a run may stop with a clear error; the next converges
        assert PC_KEY not in str(exc) and CO_KEY not in str(exc)
    pinecone.faults.rate = cohere.faults.rate = 0.0
    production().ingest()
    assert_consistent(production())
    assert set(pinecone.faults.injected) == {"429", "drop", "500", "slow"}  # every kind happened


def test_secrets_stay_out_of_output_and_logs(production, pinecone, caplog, repo):
    from lightfast_cli.main import cli

    pinecone.faults.rate = 1.0
    pinecone.faults.kinds = ("400",)  # not retried: the failure is quick
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(cli, ["--config", str(repo / "lightfast.yml"), "ingest"])
    assert result.exit_code == 5
    assert "failed" in result.output
    for text in (result.output, caplog.text):
        assert PC_KEY not in text and CO_KEY not in text


def test_missing_keys_say_what_to_set(repo, monkeypatch):
    from lightfast_cli.main import cli

    make_config(repo, environment="production")
    result = CliRunner().invoke(cli, ["--config", str(repo / "lightfast.yml"), "ingest"])
    assert result.exit_code == 2 and "set PINECONE_API_KEY" in result.output


def test_a_delete_right_after_ingest_deletes_although_stats_lag(production, pinecone):
    service = production()
    service.ingest()
    namespace = "org_acme:ws_platform:store_docs"
    plane = pinecone.planes["lightfast-production-v1"]
    written = len(plane.namespaces[namespace])
    pinecone.stats_lag = float("inf")  # from now on the index's counts show nothing of what was written
    plane._views = {"stats": {}, "query": {}}
    assert service.index.namespace_stats(namespace).vector_count == 0
    assert service.delete_namespace("docs") == written  # the mirror's count: what was known to be there
    assert namespace not in plane.namespaces  # sent anyway, and the namespace itself is gone
    assert pinecone.count("/vectors/delete") == 0


def test_a_rerank_quota_falls_back_to_the_score_merge_and_says_so(production, cohere):
    from tests.wire.base import FakeClock

    cohere.clock = FakeClock().now  # one minute window for the whole test, whatever the wall clock does
    cohere.rerank_calls_per_minute = 1
    service = production()
    service.ingest()
    first = service.search("pelican colony lagoon", top_k=3)
    assert first.hits[0].path == "docs/birds.md"  # hybrid on Pinecone: vectors and the sparse index, fused
    assert first.notes == [] and first.mode == "hybrid" and first.lexical_weight is not None
    second = service.search("pelican colony lagoon", top_k=3)  # the quota is spent: a 429
    assert second.hits and second.hits[0].path == "docs/birds.md"
    rerank = [n for n in second.notes if "rerank" in n]
    assert len(rerank) == 1 and rerank[0].startswith("rerank unavailable (Cohere rerank") and "HTTP 429" in rerank[0]
    assert "by fused score instead" in rerank[0] and CO_KEY not in rerank[0]
    assert cohere.count("/v2/rerank") == 3  # one, then two attempts: the rerank policy's bound


def test_an_index_still_initializing_is_waited_for_with_a_notice_on_stderr(production, pinecone, repo, caplog):
    from lightfast_cli.main import cli

    pinecone.add_index("lightfast-production-v1", 1024, ready_after=2, deletion_protection="enabled",
                       tags={"environment": "production", "platform": "lightfast"})  # created elsewhere
    caplog.set_level(logging.WARNING)
    result = CliRunner().invoke(cli, ["--config", str(repo / "lightfast.yml"), "ingest"])
    assert result.exit_code == 0, result.output
    assert "host must be" not in result.output and "Traceback" not in result.output
    assert "Pinecone index 'lightfast-production-v1' is Initializing; waiting for it to be ready" in caplog.text
    assert pinecone.count("/indexes", "POST") == 1  # only the sparse index beside it
