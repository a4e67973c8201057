"""CohereEmbedder and CohereReranker through the official SDK against the local wire-format server."""

from __future__ import annotations

import re

import numpy as np
import pytest

from core.cohere_rerank import CohereReranker
from core.embeddings.cohere import CohereEmbedder
from core.errors import BackendError
from core.retry import RetryPolicy
from tests.wire.base import FakeClock
from tests.wire.cohere_server import CohereServer

KEY = "co_unit_secret_key_8d1e4b6a90"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server():
    with CohereServer(api_key=KEY) as s:
        yield s


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def embedder(server, sleeps):
    return CohereEmbedder(KEY, base_url=server.url, retry=RetryPolicy(sleep=sleeps), timeout=5)


@pytest.fixture
def reranker(server, sleeps):
    return CohereReranker(KEY, base_url=server.url, retry=RetryPolicy(sleep=sleeps), timeout=5)


def test_documents_are_split_into_calls_of_at_most_96(server, embedder):
    texts = [f"text number {i} about subject{i}" for i in range(200)]
    vectors = embedder.embed_documents(texts)
    assert vectors.shape == (200, 1024) and vectors.dtype == np.float32
    assert sorted(server.batch_sizes) == [8, 96, 96]
    for call in server.embed_calls:
        assert call["model"] == "embed-english-v3.0" and call["input_type"] == "search_document"
        assert call["embedding_types"] == ["float"] and call["truncate"] == "END"
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # the order of the input is kept across batches
    q = embedder.embed_query("text number 5 about subject5")
    assert int(np.argmax(vectors @ q)) == 5


def test_queries_are_sent_as_search_query(server, embedder):
    embedder.embed_query("where do pelicans nest")
    assert server.embed_calls[-1]["input_type"] == "search_query"
    assert server.embed_calls[-1]["texts"] == ["where do pelicans nest"]


def test_similar_texts_get_similar_vectors(embedder):
    a, b, c = embedder.embed_documents(["the pelican colony nests on the lagoon",
                                        "a pelican colony on the northern lagoon",
                                        "quarterly revenue grew in the cloud division"])
    assert a @ b > a @ c + 0.2


def test_the_server_refuses_more_than_96_texts_like_cohere(server, embedder):
    import cohere

    client = cohere.ClientV2(api_key=KEY, base_url=server.url, max_retries=0, timeout=5)
    with pytest.raises(cohere.errors.BadRequestError):
        client.embed(model="embed-english-v3.0", input_type="search_document", texts=["x"] * 97,
                     embedding_types=["float"])
    with pytest.raises(ValueError, match="at most 96"):
        embedder.embed_batch(["x"] * 97, "document")


def test_a_model_of_another_dimension(server, sleeps):
    light = CohereEmbedder(KEY, model="embed-english-light-v3.0", dimension=384, base_url=server.url,
                           retry=RetryPolicy(sleep=sleeps))
    assert light.embed_query("hello").shape == (384,)
    wrong = CohereEmbedder(KEY, model="embed-english-light-v3.0", dimension=1024, base_url=server.url,
                           retry=RetryPolicy(sleep=sleeps))
    with pytest.raises(BackendError, match="384-dimensional"):
        wrong.embed_query("hello")


@pytest.mark.parametrize("fault", ["429", "500", "slow", "drop"])
def test_each_fault_is_retried_to_success(server, sleeps, fault):
    server.faults.slow_seconds = 0.6
    embedder = CohereEmbedder(KEY, base_url=server.url, retry=RetryPolicy(sleep=sleeps), timeout=0.2)
    reranker = CohereReranker(KEY, base_url=server.url, retry=RetryPolicy(sleep=sleeps), timeout=0.2)
    server.faults.fail_next(fault, fault)
    assert embedder.embed_documents(["alpha beta", "gamma"]).shape == (2, 1024)
    assert server.count("/v2/embed") == 3  # two faults, then success: the SDK's own retries are off
    server.faults.fail_next(fault)
    assert reranker.rerank("alpha", ["alpha", "beta"], [0.1, 0.2], 1)[0][0] == 0
    assert server.count("/v2/rerank") == 2
    assert server.faults.injected[fault] == 3 and len(sleeps) == 3


def test_retry_after_is_honoured(server, embedder, sleeps):
    server.faults.retry_after = "4"
    server.faults.fail_next("429")
    embedder.embed_query("x")
    assert len(sleeps) == 1 and sleeps[0] >= 4


def test_persistent_faults_end_in_a_clear_error_without_the_key(server, sleeps):
    embedder = CohereEmbedder(KEY, base_url=server.url, retry=RetryPolicy(attempts=3, sleep=sleeps), timeout=5)
    server.faults.always("500")
    with pytest.raises(BackendError) as info:
        embedder.embed_documents(["a", "b"])
    message = str(info.value)
    assert message.startswith("Cohere embed (2 texts) failed after 3 attempts: HTTP 500")
    assert KEY not in message and "Bearer" not in message and "headers" not in message
    assert server.count("/v2/embed") == 3


def test_a_wrong_key_fails_at_once_without_echoing_it(server):
    embedder = CohereEmbedder("co_wrong_key_123456789", base_url=server.url, retry=RetryPolicy(sleep=Sleeps()))
    with pytest.raises(BackendError) as info:
        embedder.embed_query("x")
    assert str(info.value).startswith("Cohere embed (1 texts) failed: HTTP 401")
    assert "co_wrong_key" not in str(info.value)
    assert server.count() == 1


def test_rerank_orders_by_relevance(server, reranker):
    docs = ["quarterly revenue report", "pelican colony on the lagoon", "the pelican colony", "lagoon map"]
    scores = [0.9, 0.1, 0.2, 0.3]  # vector scores disagree with relevance
    ranked = reranker.rerank("pelican colony lagoon", docs, scores, top_n=3)
    assert [i for i, _ in ranked] == [1, 2, 3]
    assert ranked[0][1] >= ranked[1][1] >= ranked[2][1]
    call = server.rerank_calls[-1]
    assert call["model"] == "rerank-v3.5" and call["top_n"] == 3
    assert reranker.rerank("q", [], [], 5) == []


def test_rerank_sends_the_best_100_by_score_one_search_unit(server, reranker):
    docs = [f"filler document {i}" for i in range(1500)]
    docs[1200] = "the pelican colony"
    scores = [0.0] * 1500
    scores[1200] = 0.5  # among the best by fused score, so it is sent
    units_before = server.billed_search_units
    ranked = reranker.rerank("pelican colony", docs, scores, top_n=5)
    assert len(server.rerank_calls[-1]["documents"]) == 100
    assert server.billed_search_units - units_before == 1
    assert ranked[0][0] == 1200 and len(ranked) == 5


# -- Cohere's per-minute quotas (issue 18) ---------------------------------------------------------

def test_a_per_minute_quota_is_waited_out_with_a_message_not_burnt_in_backoffs():
    clock, notices = FakeClock(), []
    with CohereServer(api_key=KEY, clock=clock.now, embed_inputs_per_minute=200) as server:
        embedder = CohereEmbedder(KEY, base_url=server.url, timeout=5, retry=RetryPolicy(
            sleep=clock.sleep, clock=clock.now, deadline=200, notify=notices.append))
        vectors = embedder.embed_documents([f"text {i}" for i in range(500)])  # 96 x 5 + 20
        assert vectors.shape == (500, 1024)
        assert server.quota_refusals["embed inputs"] == 2  # at 192 and at 384 inputs
        assert len(clock.sleeps) == 2 and all(60 <= s <= 61 for s in clock.sleeps)
        assert len(notices) == 2
        assert re.fullmatch(r"Cohere embed \(96 texts\): HTTP 429 \(rate limited\); waiting 6[01] s for the "
                            r"service's per-minute rate window \(attempt 1 of 6\)", notices[0]), notices[0]
        assert KEY not in "".join(notices)


def test_a_quota_that_never_frees_ends_in_a_clear_error_within_the_deadline():
    clock, notices = FakeClock(), []
    with CohereServer(api_key=KEY, clock=clock.now, embed_inputs_per_minute=50) as server:  # < one call
        embedder = CohereEmbedder(KEY, base_url=server.url, timeout=5, retry=RetryPolicy(
            sleep=clock.sleep, clock=clock.now, deadline=200, notify=notices.append))
        with pytest.raises(BackendError, match=r"Cohere embed \(96 texts\) failed after 4 attempts: HTTP 429"):
            embedder.embed_documents([f"text {i}" for i in range(96)])
        assert server.count("/v2/embed") == 4 and len(clock.sleeps) == 3  # a fourth window would pass 200 s
        assert clock.now() - 1000 <= 200


def test_the_default_embed_policy_waits_windows_and_the_rerank_policy_does_not(server):
    embedder = CohereEmbedder(KEY, base_url=server.url)
    assert embedder.retry.rate_window == 60 and embedder.retry.deadline >= 180
    reranker = CohereReranker(KEY, base_url=server.url)
    assert reranker.retry.rate_window is None and reranker.retry.deadline <= 10 and reranker.retry.attempts == 2


def test_a_rerank_quota_fails_fast_for_the_search_to_fall_back(sleeps):
    with CohereServer(api_key=KEY, rerank_calls_per_minute=10) as server:
        reranker = CohereReranker(KEY, base_url=server.url, retry=RetryPolicy(attempts=2, sleep=sleeps))
        for _ in range(10):
            reranker.rerank("pelican", ["pelican", "gull"], [0.1, 0.2], 1)
        with pytest.raises(BackendError, match=r"Cohere rerank \(2 documents\) failed after 2 attempts: HTTP 429"):
            reranker.rerank("pelican", ["pelican", "gull"], [0.1, 0.2], 1)
        assert server.count("/v2/rerank") == 12 and len(sleeps) == 1 and sleeps[0] < 1


def test_unknown_models_are_refused_like_cohere(server, sleeps):
    embedder = CohereEmbedder(KEY, model="embed-english-v9", base_url=server.url, retry=RetryPolicy(sleep=sleeps))
    with pytest.raises(BackendError, match="HTTP 404: model 'embed-english-v9' not found"):
        embedder.embed_query("x")
    reranker = CohereReranker(KEY, model="rerank-v9", base_url=server.url, retry=RetryPolicy(sleep=sleeps))
    with pytest.raises(BackendError, match="HTTP 404: model 'rerank-v9' not found"):
        reranker.rerank("q", ["a"], [0.1], 1)
    assert not sleeps  # a 404 is not retried


def test_co_api_url_is_honoured_when_no_base_url_is_given(server):
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("from core.embeddings.cohere import CohereEmbedder; "
            f"print(CohereEmbedder({KEY!r}).embed_query('hello').shape)")
    env = {**os.environ, "CO_API_URL": server.url}  # the SDK reads it when it is imported
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=60)
    assert done.stdout.strip() == "(1024,)", done.stderr[-2000:]
    assert server.count("/v2/embed") == 1
