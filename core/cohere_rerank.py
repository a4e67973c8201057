"""Cohere rerank over the official SDK: reorders merged multi-namespace hits by relevance.

At most 100 documents a call: Cohere bills a search unit per query of up to
100 documents, and a hybrid search over a few stores gathers more candidates
than that (two sides per namespace); the best 100 by fused score are sent, so
a search costs one unit whatever the number of stores. Retries via core.retry; the SDK's own are off.

A search waits on this call, so its default policy is short (rerank_policy():
two attempts within 10 s) and never waits out a per-minute quota window
(trial keys allow 10 rerank calls a minute): when rerank fails, search falls
back to the score merge and says so in its answer (core.search).
"""

from __future__ import annotations

from core.errors import BackendError, CredentialsMissingError
from core.rerank import Reranker
from core.embeddings.cohere import client
from core.retry import RetryPolicy, default_timeout
from core.usage import record, reported

MAX_DOCUMENTS = 100  # one search unit (platform facts: a query of up to 100 documents); >= search's MAX_TOP_K


def rerank_policy() -> RetryPolicy:
    return RetryPolicy(attempts=2, deadline=10.0, max_retry_after=5.0)


class CohereReranker(Reranker):
    def __init__(self, api_key: str, model: str = "rerank-v3.5", base_url: str | None = None,
                 *, retry: RetryPolicy | None = None, timeout: float | None = None):
        if not api_key:
            raise CredentialsMissingError("a Cohere API key is needed (set COHERE_API_KEY)")
        self.name = f"cohere:{model}"
        self.model = model
        self.timeout = timeout if timeout is not None else default_timeout()
        self._client = client(api_key, base_url, self.timeout)
        self.retry = (retry or rerank_policy()).with_secret(api_key)

    def rerank(self, query, documents, scores, top_n):
        if not documents or top_n <= 0:
            return []
        if len(scores) != len(documents):
            raise ValueError(f"{len(documents)} documents but {len(scores)} scores")
        # Keep the best candidates by vector score when there are more than one request takes.
        order = sorted(range(len(documents)), key=lambda i: -scores[i])[:MAX_DOCUMENTS]
        docs = [documents[i] for i in order]
        response = self.retry.call_timed(f"Cohere rerank ({len(docs)} documents)", None, lambda t: self._client.rerank(
            model=self.model, query=query, documents=docs, top_n=min(top_n, len(docs)),
            request_options={"timeout_in_seconds": t}), self.timeout)
        record(rerank_units=reported(response, "meta", "billed_units", "search_units"))
        out = []
        for r in response.results:
            if not 0 <= r.index < len(docs):
                raise BackendError(f"Cohere rerank returned index {r.index} for {len(docs)} documents")
            out.append((order[r.index], float(r.relevance_score)))
        return out
