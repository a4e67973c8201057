"""Cohere's /v2/embed and /v2/rerank, over plain HTTP on 127.0.0.1.

Embeddings are deterministic: the sum of one seeded random unit vector per
word, normalised, of the requested model's dimension, so texts that share
words get similar vectors. More than 96 texts is a 400, as on the real API.
Rerank scores the fraction of the query's words a document contains. Every
request must carry `Authorization: Bearer <key>` (401 otherwise). An unknown
model is a 404, as on the real API. Calls are recorded (`embed_calls`,
`rerank_calls`) so tests can see what was sent, and billed units are summed
(`billed_input_tokens`, `billed_search_units`).

Per-minute quotas, as Cohere enforces them (trial keys: embed 2,000 inputs a
minute, rerank 10 calls a minute): `embed_inputs_per_minute`,
`rerank_calls_per_minute`, counted in fixed minute windows of `clock` (pass a
FakeClock's `now` so a client's fake sleep moves the window). Over a quota the
answer is a 429 with no Retry-After, like Cohere's.

    with CohereServer(api_key="k") as server:
        embedder = CohereEmbedder("k", base_url=server.url)
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import Counter
from functools import lru_cache
from typing import Callable

import numpy as np

from tests.wire.base import JsonServer

DIMENSIONS = {"embed-english-v3.0": 1024, "embed-multilingual-v3.0": 1024,
              "embed-english-light-v3.0": 384, "embed-multilingual-light-v3.0": 384, "embed-v4.0": 1536}
INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")
MAX_TEXTS = 96
MAX_RERANK_DOCUMENTS = 10_000
RERANK_MODELS = ("rerank-v3.5", "rerank-english-v3.0", "rerank-multilingual-v3.0")
WINDOW_S = 60.0


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
    def __init__(self, api_key: str = "co-test-key", *, clock: Callable[[], float] = time.monotonic,
                 embed_inputs_per_minute: int | None = None, rerank_calls_per_minute: int | None = None):
        super().__init__()
        self.api_key = api_key
        self.clock = clock
        self.embed_inputs_per_minute = embed_inputs_per_minute
        self.rerank_calls_per_minute = rerank_calls_per_minute
        self._used: Counter[tuple[str, int]] = Counter()  # (quota, minute window) -> used
        self._quota_lock = threading.Lock()
        self.quota_refusals: Counter[str] = Counter()
        self.billed_input_tokens = 0
        self.billed_search_units = 0
        self.embed_calls: list[dict] = []  # model, input_type, texts, embedding_types, truncate
        self.rerank_calls: list[dict] = []  # model, query, documents, top_n
        self.input_types: list[str] = []
        self.batch_sizes: list[int] = []

    vector = staticmethod(embed_text)  # older tests call server.vector(text, dim)

    def _over_quota(self, quota: str, limit: int | None, amount: int):
        """None when within this minute's quota (and counted), else Cohere's 429 (no Retry-After)."""
        if limit is None:
            return None
        window = int(self.clock() // WINDOW_S)
        with self._quota_lock:
            if self._used[(quota, window)] + amount > limit:
                self.quota_refusals[quota] += 1
                return 429, {"id": "err", "message": f"You are using a Trial key, which is limited to {limit} "
                                                     f"{quota} / minute. Upgrade to a Production key."}
            self._used[(quota, window)] += amount
        return None

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
        refused = self._over_quota("embed inputs", self.embed_inputs_per_minute, len(texts))
        if refused:
            return refused
        types = body.get("embedding_types") or ["float"]
        if "float" not in types:
            return 400, {"message": "this test server only returns float embeddings"}
        dim = int(body.get("output_dimension") or DIMENSIONS[model])
        self.embed_calls.append({"model": model, "input_type": body["input_type"], "texts": list(texts),
                                 "embedding_types": list(types), "truncate": body.get("truncate")})
        self.input_types.append(body["input_type"])
        self.batch_sizes.append(len(texts))
        tokens = sum(len(words(t)) for t in texts)
        self.billed_input_tokens += tokens
        return 200, {"id": f"emb-{len(self.embed_calls)}", "embeddings": {"float": [embed_text(t, dim) for t in texts]},
                     "texts": texts, "response_type": "embeddings_by_type",
                     "meta": {"api_version": {"version": "2"},
                              "billed_units": {"input_tokens": tokens}}}

    def _rerank(self, body: dict):
        documents = body.get("documents") or []
        if body.get("model") not in RERANK_MODELS:
            return 404, {"message": f"model '{body.get('model')}' not found"}
        if len(documents) > MAX_RERANK_DOCUMENTS:
            return 400, {"message": f"invalid request: too many documents ({len(documents)})"}
        refused = self._over_quota("rerank calls", self.rerank_calls_per_minute, 1)
        if refused:
            return refused
        q = set(words(body.get("query", "")))
        scores = [len(q & set(words(d))) / (len(q) or 1) for d in documents]
        top_n = body.get("top_n") or len(documents)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:top_n]
        self.rerank_calls.append({"model": body.get("model"), "query": body.get("query"),
                                  "documents": list(documents), "top_n": body.get("top_n")})
        units = max(1, -(-len(documents) // 100))  # one search unit per query of up to 100 documents
        self.billed_search_units += units
        return 200, {"id": f"rr-{len(self.rerank_calls)}",
                     "results": [{"index": i, "relevance_score": scores[i]} for i in order],
                     "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": units}}}
