"""Cohere's /v2/embed and /v2/rerank, over plain HTTP on 127.0.0.1.

Embeddings are deterministic bags of hashed words (texts sharing words are
similar), of the requested model's dimension; rerank scores word overlap.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from tests.wire.base import JsonServer

DIMENSIONS = {"embed-english-v3.0": 1024, "embed-multilingual-v3.0": 1024, "embed-english-light-v3.0": 384}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


class CohereServer(JsonServer):
    def __init__(self, api_key: str = "co-test-key"):
        super().__init__()
        self.api_key = api_key
        self.input_types: list[str] = []
        self.batch_sizes: list[int] = []

    def vector(self, text: str, dim: int) -> list[float]:
        v = np.zeros(dim, dtype=np.float32)
        for word in _words(text) or ["empty"]:
            seed = int.from_bytes(hashlib.sha1(word.encode()).digest()[:4], "little")
            v += np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
        return (v / np.linalg.norm(v)).round(6).tolist()

    def handle(self, method, path, query, body, headers):
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"message": "invalid api token"}
        if path == "/v2/embed":
            texts = body.get("texts") or []
            if len(texts) > 96:
                return 400, {"message": f"invalid request: total number of texts must be at most 96 - received {len(texts)}"}
            if body.get("input_type") not in ("search_document", "search_query", "classification", "clustering"):
                return 400, {"message": "invalid request: input_type is required for v3 models"}
            dim = DIMENSIONS.get(body.get("model"), 1024)
            self.input_types.append(body["input_type"])
            self.batch_sizes.append(len(texts))
            return 200, {"id": "emb", "embeddings": {"float": [self.vector(t, dim) for t in texts]}, "texts": texts,
                         "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": sum(len(_words(t)) for t in texts)}},
                         "response_type": "embeddings_by_type"}
        if path == "/v2/rerank":
            q = set(_words(body["query"]))
            scores = [len(q & set(_words(d))) / (len(q) or 1) for d in body["documents"]]
            order = sorted(range(len(scores)), key=lambda i: -scores[i])[: body.get("top_n") or len(scores)]
            return 200, {"id": "rr", "results": [{"index": i, "relevance_score": scores[i]} for i in order],
                         "meta": {"billed_units": {"search_units": 1}}}
        return 404, {"message": f"no route {path}"}
