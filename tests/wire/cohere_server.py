"""Cohere's /v2/embed and /v2/rerank, over plain HTTP on 127.0.0.1.

Embeddings are deterministic: the sum of one seeded random unit vector per
word, normalised, of the requested model's dimension, so texts that share
words get similar vectors. More than 96 texts is a 400, as on the real API.
Rerank scores the fraction of the query's words a document contains. Every
request must carry `Authorization: Bearer <key>` (401 otherwise). Calls are
recorded (`embed_calls`, `rerank_calls`) so tests can see what was sent.

    with CohereServer(api_key="k") as server:
        embedder = CohereEmbedder("k", base_url=server.url)
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import numpy as np

from tests.wire.base import JsonServer

DIMENSIONS = {"embed-english-v3.0": 1024, "embed-multilingual-v3.0": 1024,
              "embed-english-light-v3.0": 384, "embed-multilingual-light-v3.0": 384, "embed-v4.0": 1536}
INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")
MAX_TEXTS = 96
MAX_RERANK_DOCUMENTS = 10_000


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


@lru_cache(maxsize=50_000)
def _word_vector(word: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dim)
    return v / np.linalg.norm(v)


def embed_text(text: str, dim: int) -> list[float]:
    v = np.zeros(dim)
    for word in words(text) or ["<empty>"]:
        v += _word_vector(word, dim)
    return (v / (np.linalg.norm(v) or 1.0)).round(7).tolist()


class CohereServer(JsonServer):
    def __init__(self, api_key: str = "co-test-key"):
        super().__init__()
        self.api_key = api_key
        self.embed_calls: list[dict] = []  # model, input_type, texts, embedding_types, truncate
        self.rerank_calls: list[dict] = []  # model, query, documents, top_n
        self.input_types: list[str] = []
        self.batch_sizes: list[int] = []

    vector = staticmethod(embed_text)  # older tests call server.vector(text, dim)

    def handle(self, method, path, query, body, headers):
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"id": "err", "message": "invalid api token"}
        if method == "POST" and path == "/v2/embed":
            return self._embed(body)
        if method == "POST" and path == "/v2/rerank":
            return self._rerank(body)
        return 404, {"message": f"no route {method} {path}"}

    def _embed(self, body: dict):
        texts = body.get("texts") or []
        model = body.get("model")
        if model not in DIMENSIONS:
            return 404, {"message": f"model '{model}' not found"}
        if len(texts) > MAX_TEXTS:
            return 400, {"message": f"invalid request: total number of texts must be at most {MAX_TEXTS} "
                                    f"- received {len(texts)}"}
        if body.get("input_type") not in INPUT_TYPES:
            return 400, {"message": "invalid request: valid input_type must be provided with the provided model"}
        types = body.get("embedding_types") or ["float"]
        if "float" not in types:
            return 400, {"message": "this test server only returns float embeddings"}
        dim = int(body.get("output_dimension") or DIMENSIONS[model])
        self.embed_calls.append({"model": model, "input_type": body["input_type"], "texts": list(texts),
                                 "embedding_types": list(types), "truncate": body.get("truncate")})
        self.input_types.append(body["input_type"])
        self.batch_sizes.append(len(texts))
        return 200, {"id": f"emb-{len(self.embed_calls)}", "embeddings": {"float": [embed_text(t, dim) for t in texts]},
                     "texts": texts, "response_type": "embeddings_by_type",
                     "meta": {"api_version": {"version": "2"},
                              "billed_units": {"input_tokens": sum(len(words(t)) for t in texts)}}}

    def _rerank(self, body: dict):
        documents = body.get("documents") or []
        if len(documents) > MAX_RERANK_DOCUMENTS:
            return 400, {"message": f"invalid request: too many documents ({len(documents)})"}
        q = set(words(body.get("query", "")))
        scores = [len(q & set(words(d))) / (len(q) or 1) for d in documents]
        top_n = body.get("top_n") or len(documents)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:top_n]
        self.rerank_calls.append({"model": body.get("model"), "query": body.get("query"),
                                  "documents": list(documents), "top_n": body.get("top_n")})
        return 200, {"id": f"rr-{len(self.rerank_calls)}",
                     "results": [{"index": i, "relevance_score": scores[i]} for i in order],
                     "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}}
