"""PineconeBackend through the official SDK against the local wire-format server.

Retries use a recording no-op sleep, so fault tests are fast and can check
the waits that would have happened; no assert depends on wall-clock time.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import BackendError, DimensionMismatchError, LightfastError, NotFoundError
from core.retry import RetryPolicy, classify
from core.vectors.base import IndexSpec, VectorRecord
from core.vectors.pinecone import PineconeBackend
from tests.wire.pinecone_server import PineconeServer

KEY = "pcsk_unit_secret_key_5f2c9a7e1b"
NAME = "lightfast-test-v1"
NS = "org_acme:ws_web:store_docs"
DIM = 8


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server():
    with PineconeServer(api_key=KEY) as s:
        yield s


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def backend(server, sleeps):
    return PineconeBackend(KEY, host=server.url, retry=RetryPolicy(sleep=sleeps), timeout=5)


@pytest.fixture
def index(backend):
    return backend.ensure_index(IndexSpec(NAME, DIM, tags={"environment": "test"}))


def unit(n, seed=0):
    m = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def rec(vid, vector, **metadata):
    return VectorRecord(vid, vector, metadata)


# -- the control plane ----------------------------------------------------------------------

def test_create_waits_until_ready_then_configures(sleeps):
    with PineconeServer(api_key=KEY, ready_after=3) as server:
        backend = PineconeBackend(KEY, host=server.url, retry=RetryPolicy(sleep=sleeps))
        assert not backend.index_exists(NAME)
        spec = IndexSpec(NAME, DIM, metric="cosine", cloud="aws", region="us-east-1", deletion_protection=True,
                         tags={"environment": "production"})
        index = backend.ensure_index(spec)
        state = server.indexes[NAME]
        assert (state["dimension"], state["metric"], state["cloud"], state["region"]) == (DIM, "cosine", "aws",
                                                                                         "us-east-1")
        assert state["deletion_protection"] == "enabled"
        assert state["tags"] == {"environment": "production", "platform": "lightfast"}
        assert server.count("/indexes/" + NAME, "PATCH") == 1  # configured after creation
        assert state["describes"] >= 3 and len(sleeps) >= 2  # it polled until ready
        assert index.dimension == DIM and backend.index_exists(NAME)

        backend.create_index(spec)  # idempotent: no second create
        backend.ensure_index(spec)
        assert server.count("/indexes", "POST") == 1
        assert backend.list_indexes() == [NAME]


def test_create_on_an_index_of_another_dimension_is_refused(backend, index):
    with pytest.raises(DimensionMismatchError, match="8-dimensional"):
        backend.create_index(IndexSpec(NAME, 16))


def test_protected_index_is_not_deleted_and_unprotecting_allows_it(server, backend):
    backend.create_index(IndexSpec(NAME, DIM, deletion_protection=True))
    with pytest.raises(BackendError, match=f"deleting index '{NAME}' failed: HTTP 403.*Deletion protection"):
        backend.delete_index(NAME)
    backend.create_index(IndexSpec(NAME, DIM, deletion_protection=False))
    assert server.indexes[NAME]["deletion_protection"] == "disabled"
    backend.delete_index(NAME)
    assert backend.list_indexes() == [] and not backend.index_exists(NAME)
    backend.delete_index(NAME)  # already gone: a no-op
    with pytest.raises(NotFoundError, match=NAME):
        backend.index(NAME)


# -- the namespace operations ---------------------------------------------------------------

def test_namespace_operations(index):
    v = unit(4)
    assert index.upsert(NS, [rec("a", v[0], path="a.md", kind="doc", text="alpha"),
                             rec("b", v[1], path="b.md", kind="code", text="beta"),
                             rec("c", v[2], path="c.md", kind="doc", text="gamma")]) == 3
    assert index.namespace_stats(NS).vector_count == 3

    hits = index.query(NS, v[0], top_k=2)
    assert [h.id for h in hits][0] == "a" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].metadata == {"path": "a.md", "kind": "doc", "text": "alpha"}
    assert len(hits) == 2 and hits[0].score >= hits[1].score

    assert {h.id for h in index.query(NS, v[0], 10, filter={"kind": "doc"})} == {"a", "c"}
    assert {h.id for h in index.query(NS, v[0], 10, filter={"kind": {"$eq": "code"}})} == {"b"}
    assert {h.id for h in index.query(NS, v[0], 10, filter={"path": {"$in": ["b.md", "c.md"]}})} == {"b", "c"}

    got = index.fetch(NS, ["a", "zz"])
    assert set(got) == {"a"} and got["a"].metadata["path"] == "a.md"
    np.testing.assert_allclose(got["a"].values, v[0], atol=1e-6)
    assert got["a"].values.dtype == np.float32

    index.upsert(NS, [rec("a", v[3], path="a.md", text="alpha two")])  # replace
    assert index.fetch(NS, ["a"])["a"].metadata["text"] == "alpha two"
    assert index.namespace_stats(NS).vector_count == 3

    index.delete(NS, ["a", "never-there"])
    assert index.namespace_stats(NS).vector_count == 2
    index.delete_namespace(NS)
    assert index.namespace_stats(NS).vector_count == 0
    assert index.list_namespaces() == []
    index.delete_namespace("org_acme:ws_web:store_never")  # no such namespace: a no-op
    index.delete("org_acme:ws_web:store_never", ["x"])
    assert index.namespace_stats("org_acme:ws_web:store_never").vector_count == 0
    assert index.query("org_acme:ws_web:store_never", v[0], 5) == []
    assert index.list_ids("org_acme:ws_web:store_never") == ([], None)


def test_two_namespaces_are_isolated(index):
    a, b = "org_a:ws_w:store_s", "org_b:ws_w:store_s"
    same = unit(1)[0]
    index.upsert(a, [rec("shared-id", same, text="secret-a")])
    index.upsert(b, [rec("shared-id", same, text="secret-b"), rec("only-b", unit(1, seed=3)[0], text="b2")])
    assert [m.metadata["text"] for m in index.query(a, same, 10)] == ["secret-a"]
    assert {m.metadata["text"] for m in index.query(b, same, 10)} == {"secret-b", "b2"}
    assert index.fetch(a, ["shared-id", "only-b"]).keys() == {"shared-id"}
    assert [s.namespace for s in index.list_namespaces(prefix="org_a:")] == [a]
    assert [(s.namespace, s.vector_count) for s in index.list_namespaces()] == [(a, 1), (b, 2)]
    index.delete_namespace(a)
    assert index.namespace_stats(a).vector_count == 0 and index.namespace_stats(b).vector_count == 2
    index.delete(a, ["only-b"])  # deleting b's id through a touches nothing of b
    assert index.namespace_stats(b).vector_count == 2


# -- Pinecone's limits ------------------------------------------------------------------------

def test_a_2500_record_upsert_is_split_within_the_limits(server, index):
    vectors = unit(2500)
    assert index.upsert(NS, [rec(f"v{i:04}", vectors[i], text="t" * 600) for i in range(2500)]) == 2500
    plane = server.plane(NAME)
    assert len(plane.upsert_batches) >= 3 and sum(plane.upsert_batches) == 2500
    assert max(plane.upsert_batches) <= 1000 and max(plane.upsert_bytes) < 2 * 1024 * 1024
    assert index.namespace_stats(NS).vector_count == 2500


def test_large_records_are_split_by_size(server, index):
    vectors = unit(300)
    # ~39 KB of metadata each: 300 records are ~12 MB, so the 2 MB cap decides, not the count.
    index.upsert(NS, [rec(f"big{i:03}", vectors[i], text="x" * 39_000) for i in range(300)])
    plane = server.plane(NAME)
    assert sum(plane.upsert_batches) == 300 and len(plane.upsert_batches) >= 6
    assert max(plane.upsert_bytes) < 2 * 1024 * 1024


def test_metadata_is_trimmed_under_40kb_keeping_the_text(index):
    text = 'é"\n' * 30_000  # multi-byte and escaped characters
    index.upsert(NS, [rec("big", unit(1)[0], path="a.md", line=3, text=text), rec("small", unit(1)[0], text="hi")])
    got = index.fetch(NS, ["big", "small"])
    big = got["big"].metadata
    assert big["text_truncated"] is True and big["path"] == "a.md" and big["line"] == 3
    assert text.startswith(big["text"]) and len(big["text"]) > 10_000
    assert len(json.dumps(big, ensure_ascii=False, separators=(",", ":")).encode()) <= 40 * 1024
    assert got["small"].metadata == {"text": "hi"}  # under the limit: untouched, not marked
    with pytest.raises(LightfastError, match=f"record .huge. in namespace .{NS}. .* 40 KB limit even without its text"):
        index.upsert(NS, [rec("huge", unit(1)[0], other="y" * 50_000, text="z")])


def test_list_ids_pages_with_prefix(index):
    vectors = unit(250)
    index.upsert(NS, [rec(f"doc1#{i:03}", vectors[i]) for i in range(230)]
                 + [rec(f"doc2#{i:03}", vectors[i]) for i in range(20)])
    ids, token, pages = [], None, 0
    while True:
        page, token = index.list_ids(NS, prefix="doc1#", limit=100, pagination_token=token)
        assert page == sorted(page) and len(page) <= 100
        ids += page
        pages += 1
        if token is None:
            break
    assert pages == 3 and ids == [f"doc1#{i:03}" for i in range(230)]
    assert index.list_ids(NS, prefix="doc2#", limit=500)[0] == [f"doc2#{i:03}" for i in range(20)]


def test_fetch_and_delete_send_at_most_1000_ids(server, index):
    vectors = unit(2100)
    index.upsert(NS, [rec(f"id{i:05}", vectors[i]) for i in range(2100)])
    ids = [f"id{i:05}" for i in range(2100)]
    assert len(index.fetch(NS, ids)) == 2100
    index.delete(NS, ids[:2050])
    plane = server.plane(NAME)
    assert max(plane.fetch_batches) <= 1000 and sum(plane.fetch_batches) == 2100
    assert plane.delete_batches == [1000, 1000, 50]
    assert index.namespace_stats(NS).vector_count == 50


@pytest.mark.parametrize("namespace", ["", "n" * 513, "bad\0name", "naïve"])
def test_invalid_namespaces_are_refused_before_sending(server, index, namespace):
    before = len(server.requests)
    for call in (lambda: index.upsert(namespace, [rec("x", unit(1)[0])]),
                 lambda: index.query(namespace, unit(1)[0], 3),
                 lambda: index.delete(namespace, ["x"]),
                 lambda: index.delete_namespace(namespace),
                 lambda: index.fetch(namespace, ["x"]),
                 lambda: index.list_ids(namespace)):
        with pytest.raises(LightfastError, match="namespace .* breaks Pinecone's limit: 1 to 512 ASCII"):
            call()
    assert len(server.requests) == before
    index.upsert("n" * 512, [rec("x", unit(1)[0])])  # exactly 512, with ':' allowed
    index.upsert("a:b:c", [rec("x", unit(1)[0])])


@pytest.mark.parametrize("vid", ["", "i" * 513, "nul\0id", "ünïcode"])
def test_invalid_ids_are_refused_before_sending(server, index, vid):
    before = len(server.requests)
    with pytest.raises(LightfastError, match=f"vector id .* in namespace '{NS}' breaks Pinecone's limit"):
        index.upsert(NS, [rec("fine", unit(1)[0]), rec(vid, unit(1)[0])])
    with pytest.raises(LightfastError, match="vector id"):
        index.fetch(NS, [vid])
    with pytest.raises(LightfastError, match="vector id"):
        index.delete(NS, [vid])
    assert len(server.requests) == before


def test_wrong_dimension_and_top_k_are_refused(index):
    with pytest.raises(DimensionMismatchError, match="8-dimensional"):
        index.upsert(NS, [rec("x", np.ones(4, dtype=np.float32))])
    with pytest.raises(DimensionMismatchError):
        index.query(NS, np.ones(5, dtype=np.float32), 3)
    with pytest.raises(LightfastError, match="top_k"):
        index.query(NS, unit(1)[0], 0)
    with pytest.raises(LightfastError, match="NaN"):
        index.upsert(NS, [rec("x", np.full(DIM, np.nan, dtype=np.float32))])


# -- faults -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["429", "500", "slow", "drop"])
def test_each_fault_is_retried_to_success(server, sleeps, fault):
    server.faults.slow_seconds = 0.6
    backend = PineconeBackend(KEY, host=server.url, retry=RetryPolicy(sleep=sleeps), timeout=0.2)
    server.faults.fail_next(fault, fault)  # the first describe (create) and its retry
    index = backend.ensure_index(IndexSpec(NAME, DIM))
    for op, call in (("/vectors/upsert", lambda: index.upsert(NS, [rec("a", unit(1)[0], text="x")])),
                     ("/query", lambda: index.query(NS, unit(1)[0], 1)),
                     ("/vectors/fetch", lambda: index.fetch(NS, ["a"])),
                     ("/vectors/list", lambda: index.list_ids(NS)),
                     ("/describe_index_stats", lambda: index.namespace_stats(NS))):
        before = server.count(op)
        server.faults.fail_next(fault, fault)
        call()
        assert server.count(op) - before == 3, op  # two faults, then success: no SDK retries in between
    assert index.namespace_stats(NS).vector_count == 1
    assert index.query(NS, unit(1)[0], 1)[0].id == "a"
    assert server.faults.injected[fault] == 12
    assert len(sleeps) == 12


def test_retry_after_is_honoured_and_capped(server, index, sleeps):
    server.faults.retry_after = "7"
    server.faults.fail_next("429")
    index.namespace_stats(NS)
    assert sleeps[-1] >= 7
    server.faults.retry_after = "3600"
    server.faults.fail_next("429")
    index.namespace_stats(NS)
    assert sleeps[-1] == pytest.approx(index.retry.max_retry_after)


@pytest.mark.parametrize("fault,reason", [("500", "HTTP 500"), ("429", "HTTP 429"), ("drop", ""),
                                          ("slow", "timed out")])
def test_persistent_faults_end_in_a_clear_error_without_the_key(server, sleeps, fault, reason):
    server.faults.slow_seconds = 0.6
    backend = PineconeBackend(KEY, host=server.url, retry=RetryPolicy(attempts=3, sleep=sleeps), timeout=0.2)
    index = backend.ensure_index(IndexSpec(NAME, DIM))
    server.faults.always(fault)
    before = server.count("/vectors/upsert")
    with pytest.raises(BackendError) as info:
        index.upsert(NS, [rec("a", unit(1)[0])])
    message = str(info.value)
    assert message.startswith(f"upsert on namespace '{NS}' failed after 3 attempts: {reason}")
    assert KEY not in message and "Api-Key" not in message and KEY[-8:] not in message
    assert server.count("/vectors/upsert") - before == 3 and len(sleeps) == 2
    with pytest.raises(BackendError, match=f"checking index '{NAME}' failed after 3 attempts") as info:
        backend.index_exists(NAME)
    assert KEY not in str(info.value)


def test_a_wrong_key_fails_at_once_without_echoing_it(server):
    backend = PineconeBackend("pcsk_wrong_key_0000000000", host=server.url, retry=RetryPolicy(sleep=Sleeps()))
    with pytest.raises(BackendError) as info:
        backend.index_exists(NAME)
    assert str(info.value).startswith(f"checking index '{NAME}' failed: HTTP 401")
    assert "pcsk_wrong_key" not in str(info.value)
    assert server.count() == 1


def test_the_retry_deadline_bounds_total_time():
    now = [0.0]
    policy = RetryPolicy(attempts=100, deadline=10.0, sleep=lambda s: now.__setitem__(0, now[0] + s),
                         clock=lambda: now[0])
    calls = []

    def flaky():
        calls.append(1)
        raise TimeoutError("timed out")

    with pytest.raises(BackendError, match=r"query on namespace 'n' failed after \d+ attempts: timed out"):
        policy.call("query", "n", flaky)
    assert now[0] <= 10.0 and 1 < len(calls) < 100


def test_our_own_bugs_are_not_disguised_as_service_errors():
    policy = RetryPolicy(sleep=Sleeps())
    with pytest.raises(KeyError):
        policy.call("upsert", NS, lambda: {}["missing"])
    assert classify(KeyError("x")).service is False


def test_secrets_are_scrubbed_from_server_messages():
    class Rejected(Exception):
        status_code = 400
        body = {"message": f"bad key {KEY} in request"}

    Rejected.__module__ = "cohere.errors"
    policy = RetryPolicy(sleep=Sleeps()).with_secret(KEY)

    def fail():
        raise Rejected()

    with pytest.raises(BackendError) as info:
        policy.call("embed", None, fail)
    assert str(info.value) == "embed failed: HTTP 400: bad key *** in request"
