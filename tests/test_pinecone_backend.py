"""PineconeBackend through the official SDK against the local wire-format server.

Retries use a recording no-op sleep, so fault tests are fast and can check
the waits that would have happened; no assert depends on wall-clock time.
"""

from __future__ import annotations

import json
import random
from urllib.parse import quote

import numpy as np
import pytest

from core.errors import BackendError, DimensionMismatchError, LightfastError, NotFoundError
from core.retry import RetryPolicy, classify
from core.vectors.base import IndexSpec, VectorRecord
from core.vectors.pinecone import PineconeBackend
from tests.wire.base import FakeClock
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

def test_create_sets_protection_and_tags_at_creation_and_waits_until_ready(sleeps):
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
        assert server.count("/indexes/" + NAME, "PATCH") == 0  # set at creation: nothing to reconcile
        assert state["describes"] >= 3 and len(sleeps) >= 2  # it polled until ready
        assert index.dimension == DIM and backend.index_exists(NAME)

        sparse = server.indexes[NAME + "-sparse"]  # the lexical side, beside it, alike
        assert (sparse["vector_type"], sparse["metric"], sparse["dimension"]) == ("sparse", "dotproduct", None)
        assert sparse["deletion_protection"] == "enabled"
        assert sparse["tags"] == {"environment": "production", "platform": "lightfast", "dense_index": NAME}

        backend.create_index(spec)  # idempotent: no second create
        backend.ensure_index(spec)
        assert server.count("/indexes", "POST") == 2  # the dense index and the sparse one, once each
        assert backend.list_indexes() == [NAME, NAME + "-sparse"]


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
    # The dense requests alone (the sparse index's go through the same _send; test_sparse covers them).
    backend = PineconeBackend(KEY, host=server.url, retry=RetryPolicy(sleep=sleeps), timeout=0.2, sparse=False)
    server.faults.fail_next(fault, fault)  # the first describe (create) and its retry
    index = backend.ensure_index(IndexSpec(NAME, DIM))
    for op, call in (("/vectors/upsert", lambda: index.upsert(NS, [rec("a", unit(1)[0], text="x")])),
                     ("/query", lambda: index.query(NS, unit(1)[0], 1)),
                     ("/vectors/fetch", lambda: index.fetch(NS, ["a"])),
                     ("/vectors/list", lambda: index.list_ids(NS)),
                     ("/namespaces/" + quote(NS, safe=""), lambda: index.namespace_stats(NS))):
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
                         clock=lambda: now[0], rng=random.Random(7))  # the jitter decides which check ends it
    calls = []

    def flaky():
        calls.append(1)
        raise TimeoutError("timed out")

    # Ended by the next wait overrunning the deadline ("timed out") or by too little time left
    # for another attempt ("out of time"): both are the deadline bounding the retries.
    with pytest.raises(BackendError, match=r"query on namespace 'n' failed after \d+ attempts: "
                                           r"(timed out|out of time \(10 s deadline\))"):
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


# -- Pinecone as it really behaves (issue 18), each against the wire server with it switched on --

INF = float("inf")


def test_delete_is_sent_although_lagging_stats_show_nothing_and_removes_the_namespace(sleeps):
    with PineconeServer(api_key=KEY, stats_lag=INF) as server:
        index = PineconeBackend(KEY, host=server.url, retry=RetryPolicy(sleep=sleeps)).ensure_index(
            IndexSpec(NAME, DIM))
        index.upsert(NS, [rec(f"v{i}", unit(3)[i], text="x") for i in range(3)])
        assert index.namespace_stats(NS).vector_count == 0  # the stats have not caught up
        assert index.list_namespaces() == []
        index.delete_namespace(NS)
        assert server.count("/namespaces/" + quote(NS, safe=""), "DELETE") == 2  # the dense and sparse index
        assert server.count("/vectors/delete") == 0  # not deleteAll, which would leave the namespace
        plane = server.plane(NAME)
        assert NS not in plane.namespaces  # the vectors are gone, and the namespace with them
        assert NS not in server.plane(NAME + "-sparse").namespaces
        server.settle()
        assert index.list_namespaces() == [] and index.namespace_stats(NS).vector_count == 0


def test_a_namespace_the_namespace_api_does_not_know_yet_is_emptied_with_delete_all(server, index):
    index.upsert(NS, [rec("a", unit(1)[0])])
    plane = server.plane(NAME)
    real = plane._namespace_api

    def lagging(method, path, query):  # the namespace API has not seen the first write yet
        return (404, {"error": {"code": "NOT_FOUND", "message": "Namespace not found"}, "status": 404}) \
            if method == "DELETE" else real(method, path, query)

    plane._namespace_api = lagging
    index.delete_namespace(NS)
    # Sent to the dense index, and to the sparse one (where "a", with no words, has no twin: a 404).
    assert server.count("/vectors/delete") == 2 and plane.namespaces[NS] == {}


def test_namespaces_are_listed_in_pages_by_prefix_without_index_stats(server, index):
    v = unit(1)[0]
    for i in range(230):
        index.upsert(f"org_a:ws_w:store_s{i:03}", [rec("x", v)])
    index.upsert("org_b:ws_w:store_s", [rec("x", v)])
    found = index.list_namespaces(prefix="org_a:")
    assert [s.namespace for s in found] == [f"org_a:ws_w:store_s{i:03}" for i in range(230)]
    assert {s.vector_count for s in found} == {1}
    assert server.count("/namespaces", "GET") == 3  # 100 + 100 + 30
    assert server.count("/describe_index_stats") == 0


def test_an_index_still_initializing_is_waited_for_with_progress(sleeps):
    notices = []
    with PineconeServer(api_key=KEY) as server:
        server.add_index(NAME, DIM, ready_after=4)  # created elsewhere, no host yet
        backend = PineconeBackend(KEY, host=server.url, retry=RetryPolicy(sleep=sleeps), notify=notices.append)
        index = backend.index(NAME)  # the path that crashed on host=None
        index.upsert(NS, [rec("a", unit(1)[0])])
        assert sleeps == [2.0] * 3 and len(notices) == 1  # describes 1-3 say Initializing, the 4th Ready
        assert "'lightfast-test-v1' is Initializing; waiting" in notices[0] and "300 s" in notices[0]


def test_an_index_that_never_gets_ready_ends_in_a_clear_error(sleeps):
    notices = []
    with PineconeServer(api_key=KEY) as server:
        server.add_index(NAME, DIM, ready_after=10_000)
        backend = PineconeBackend(KEY, host=server.url, retry=RetryPolicy(sleep=sleeps), ready_timeout=60,
                                  notify=notices.append)
        with pytest.raises(BackendError, match=r"'lightfast-test-v1' was not ready after 60 s "
                                               r"\(state: Initializing\); try again later"):
            backend.ensure_index(IndexSpec(NAME, DIM))
        assert sum(sleeps) == 60 and len(notices) == 2  # at 0 s and at 30 s
        assert server.count("/indexes", "POST") == 0  # it exists: never created twice


@pytest.mark.parametrize("metric", ["cosine", "dotproduct", "euclidean"])
def test_the_wire_server_scores_by_the_metric(metric):
    from pinecone import Pinecone

    with PineconeServer(api_key=KEY) as server:
        plane = server.add_index(NAME, 2, metric=metric)
        handle = Pinecone(api_key=KEY, host=server.url).index(host=plane.url)
        handle.upsert(vectors=[{"id": "near", "values": [1.0, 0.0]}, {"id": "far", "values": [-1.0, 0.0]}],
                      namespace=NS)
        matches = handle.query(vector=[1.0, 0.0], top_k=2, namespace=NS).matches
        assert [m.id for m in matches] == ["near", "far"]  # closest first, always
        near, far = matches[0].score, matches[1].score
        assert (near < far) if metric == "euclidean" else (near > far)  # a distance: lower is closer


def test_an_existing_euclidean_index_is_refused_before_anything_is_embedded(server, backend):
    server.add_index(NAME, DIM, metric="euclidean")
    with pytest.raises(DimensionMismatchError, match="uses metric euclidean but the profile asks for cosine"):
        backend.ensure_index(IndexSpec(NAME, DIM))
    with pytest.raises(DimensionMismatchError, match="metric euclidean, whose scores are distances"):
        backend.index(NAME)
    assert server.count("/query") == 0 and server.count("/vectors/upsert") == 0


def test_an_existing_index_of_another_dimension_is_refused_on_ensure(server, backend):
    server.add_index(NAME, 1536)
    with pytest.raises(DimensionMismatchError, match="holds 1536-dimensional vectors but the profile asks for 8"):
        backend.ensure_index(IndexSpec(NAME, DIM))


def test_an_existing_index_is_reconciled_once_and_a_failed_configure_is_retried(server, sleeps):
    server.add_index(NAME, DIM, deletion_protection="disabled", tags={"owner": "ops"})
    backend = PineconeBackend(KEY, host=server.url, retry=RetryPolicy(sleep=sleeps))
    spec = IndexSpec(NAME, DIM, deletion_protection=True, tags={"environment": "production", "empty": ""})
    server.faults.only_paths = ("/indexes/" + NAME,)
    server.faults.fail_next("pass", "500")  # the describe passes, the first configure fails
    backend.ensure_index(spec)
    state = server.indexes[NAME]
    assert state["deletion_protection"] == "enabled"
    assert state["tags"] == {"owner": "ops", "environment": "production", "platform": "lightfast"}
    assert server.count("/indexes/" + NAME, "PATCH") == 2  # a 500, then the retry
    PineconeBackend(KEY, host=server.url, retry=RetryPolicy(sleep=sleeps)).ensure_index(spec)  # another process
    assert server.count("/indexes/" + NAME, "PATCH") == 2  # in step: nothing more to send
    server.indexes[NAME]["deletion_protection"] = "disabled"  # someone turned it off in the console
    PineconeBackend(KEY, host=server.url, retry=RetryPolicy(sleep=sleeps)).ensure_index(spec)
    assert server.indexes[NAME]["deletion_protection"] == "enabled"  # reconciled on the next ensure


def test_empty_tags_do_not_break_creation(server, backend):
    backend.ensure_index(IndexSpec(NAME, DIM, tags={"environment": "test", "team": ""}))
    assert server.indexes[NAME]["tags"] == {"environment": "test", "platform": "lightfast"}


# -- one retry layer, one deadline -------------------------------------------------------------

OPERATIONS = {
    "upsert": ("/vectors/upsert", lambda ix: ix.upsert(NS, [rec("a", unit(1)[0])])),
    "query": ("/query", lambda ix: ix.query(NS, unit(1)[0], 3)),
    "fetch": ("/vectors/fetch", lambda ix: ix.fetch(NS, ["a"])),
    "list ids": ("/vectors/list", lambda ix: ix.list_ids(NS)),
    "delete": ("/vectors/delete", lambda ix: ix.delete(NS, ["a"])),
    "delete namespace": ("/namespaces/" + quote(NS, safe=""), lambda ix: ix.delete_namespace(NS)),
    "describe namespace": ("/namespaces/" + quote(NS, safe=""), lambda ix: ix.namespace_stats(NS)),
    "list namespaces": ("/namespaces", lambda ix: ix.list_namespaces("org_")),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_constant_429_makes_exactly_the_configured_number_of_requests(server, sleeps, operation):
    backend = PineconeBackend(KEY, host=server.url, retry=RetryPolicy(attempts=4, sleep=sleeps))
    index = backend.ensure_index(IndexSpec(NAME, DIM))
    path, call = OPERATIONS[operation]
    server.faults.retry_after = "5"  # the SDK would sleep 5-7.5 s per retry of its own, 3 times
    server.faults.always("429")
    before = server.count(path)
    with pytest.raises(BackendError, match="failed after 4 attempts: HTTP 429"):
        call(index)
    assert server.count(path) - before == 4
    assert len(sleeps) == 3 and all(s >= 5 for s in sleeps)  # Retry-After honoured, by us only


def test_a_constant_429_on_the_control_plane_makes_exactly_the_configured_requests(server, sleeps):
    backend = PineconeBackend(KEY, host=server.url, retry=RetryPolicy(attempts=3, sleep=sleeps))
    server.faults.always("429")
    with pytest.raises(BackendError, match="after 3 attempts"):
        backend.ensure_index(IndexSpec(NAME, DIM))
    assert server.count() == 3


def test_one_deadline_across_attempts_and_their_waits(server):
    clock = FakeClock()
    backend = PineconeBackend(KEY, host=server.url, retry=RetryPolicy(attempts=10, deadline=12, sleep=clock.sleep,
                                                                   clock=clock.now))
    index = backend.ensure_index(IndexSpec(NAME, DIM))
    server.faults.retry_after = "5"
    server.faults.always("429")
    with pytest.raises(BackendError, match="query on namespace .* failed after 3 attempts: HTTP 429"):
        index.query(NS, unit(1)[0], 3)
    assert server.count("/query") == 3 and clock.sleeps == [5, 5]  # a third wait would end at 15 s > 12 s


def test_each_attempt_gets_only_what_is_left_of_the_deadline():
    clock = FakeClock()
    policy = RetryPolicy(attempts=5, deadline=30, max_delay=0.001, sleep=clock.sleep, clock=clock.now)
    given = []

    def slow(timeout):
        given.append(timeout)
        clock.advance(timeout)  # the attempt times out after all it was given
        raise TimeoutError("timed out")

    with pytest.raises(BackendError, match="failed after 2 attempts: out of time|timed out"):
        policy.call_timed("query", NS, slow, 20.0)
    assert given[0] == 20.0 and given[1] == pytest.approx(10.0, abs=0.01)  # not another 20 s
    assert clock.now() - 1000.0 <= 30.0 + 0.01


def test_a_euclidean_profile_is_a_config_error_naming_file_line_and_field(tmp_path):
    from core.config import load_config
    from core.errors import ConfigError

    path = tmp_path / "lightfast.yml"
    path.write_text("organization: acme\nworkspace: web\nenvironment: mine\nstores:\n  - slug: docs\n"
                    "indexes:\n  mine:\n    backend: pinecone\n    name: lightfast-mine-v1\n"
                    "    embedding_provider: cohere\n    embedding_model: embed-english-v3.0\n"
                    "    dimension: 1024\n    metric: euclidean\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:13: indexes.mine.metric: euclidean is not supported: its scores "
                                      "are distances (lower is closer)")
    path.write_text(path.read_text().replace("euclidean", "dotproduct"))
    assert load_config(path).indexes["mine"].metric == "dotproduct"


@pytest.mark.parametrize("value,kind", [(None, "null"), ({"a": 1}, "dict"), ([1, 2], "list")])
def test_metadata_that_is_not_flat_is_refused_before_sending(server, index, value, kind):
    before = len(server.requests)
    with pytest.raises(LightfastError, match=f"metadata field 'bad' of record 'x' in namespace '{NS}' is {kind}: "
                                             "Pinecone takes only strings"):
        index.upsert(NS, [rec("x", unit(1)[0], bad=value, text="t")])
    assert len(server.requests) == before


def test_the_wire_server_refuses_metadata_that_is_not_flat_like_pinecone(server, index):
    import urllib.error
    import urllib.request

    def upsert(metadata):  # raw HTTP: the SDK checks some of this itself before sending
        body = json.dumps({"namespace": NS, "vectors": [{"id": "x", "values": unit(1)[0].tolist(),
                                                         "metadata": metadata}]}).encode()
        request = urllib.request.Request(server.plane(NAME).url + "/vectors/upsert", data=body, method="POST",
                                         headers={"Api-Key": KEY, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert [upsert({"bad": v}) for v in (None, {"nested": 1}, [1, 2])] == [400, 400, 400]
    assert upsert({"s": "a", "n": 1.5, "b": True, "l": ["x", "y"]}) == 200


def test_queries_lag_writes_when_switched_on_and_catch_up_on_the_clock(sleeps):
    clock = FakeClock()
    with PineconeServer(api_key=KEY, query_lag=5.0, stats_lag=5.0, clock=clock.now) as server:
        index = PineconeBackend(KEY, host=server.url, retry=RetryPolicy(sleep=sleeps)).ensure_index(
            IndexSpec(NAME, DIM))
        index.upsert(NS, [rec("a", unit(1)[0])])
        assert index.query(NS, unit(1)[0], 3) == [] and index.namespace_stats(NS).vector_count == 0
        clock.advance(5.0)
        assert [m.id for m in index.query(NS, unit(1)[0], 3)] == ["a"]
        assert index.namespace_stats(NS).vector_count == 1


def test_if_the_sdk_changes_shape_the_lost_retry_switch_is_said(caplog):
    from core.vectors.pinecone import _disable_sdk_retries

    class Handle:  # no _http._client._transport._config
        pass

    _disable_sdk_retries(Handle())
    assert "could not switch off the Pinecone SDK's own retries" in caplog.text
