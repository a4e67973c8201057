"""Cohere rerank over the official SDK: reorders merged multi-namespace hits by relevance."""

from __future__ import annotations

import os
from core.rerank import Reranker
from core.retry import RetryPolicy

MAX_DOCUMENTS = 1000  # Cohere advises at most 1,000 documents a request


class CohereReranker(Reranker):
    def __init__(self, api_key: str, model: str = "rerank-v3.5", base_url: str | None = None,
                 retry: RetryPolicy | None = None):
        import cohere

        self.name = f"cohere:{model}"
        self.model = model
        self._client = cohere.ClientV2(api_key=api_key, base_url=base_url, timeout=float(os.environ.get("LIGHTFAST_HTTP_TIMEOUT", "30")), max_retries=0)
        self.retry = retry or RetryPolicy()

    def rerank(self, query, documents, scores, top_n):
        # Keep the best candidates by vector score when there are more than one request takes.
        order = sorted(range(len(documents)), key=lambda i: -scores[i])[:MAX_DOCUMENTS]
        docs = [documents[i] for i in order]
        response = self.retry.call("Cohere rerank", None, lambda: self._client.rerank(
            model=self.model, query=query, documents=docs, top_n=min(top_n, len(docs))))
        return [(order[r.index], float(r.relevance_score)) for r in response.results]
