"""The Pinecone backend, over the official SDK: the design's ConsolePineconeClient.

Every request goes through core.retry (backoff, Retry-After, bounded), and
every request is kept within Pinecone's limits: upserts of at most 1,000
records and under 2 MB, metadata under 40 KB per record (the chunk text is
cut to fit, and says so), fetches and deletes of at most 1,000 ids.
"""

from __future__ import annotations

import os
import json
from typing import Any, Iterable, Sequence

import numpy as np

from core.errors import LightfastError, NotFoundError
from core.retry import RetryPolicy
from core.vectors.base import IndexSpec, Match, NamespaceStats, VectorBackend, VectorIndex, VectorRecord

MAX_BATCH_RECORDS = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024 - 64 * 1024  # 2 MB, with room for the envelope
MAX_METADATA_BYTES = 40 * 1024
MAX_IDS_PER_REQUEST = 1000
FETCH_IDS_PER_REQUEST = 200  # fetch sends ids in the URL: keep it short
MAX_ID = 512
MAX_NAMESPACE = 512
TIMEOUT_S = float(os.environ.get("LIGHTFAST_HTTP_TIMEOUT", "20"))  # per attempt


def check_namespace(namespace: str) -> None:
    if not 0 < len(namespace) <= MAX_NAMESPACE or "\0" in namespace or not namespace.isascii():
        raise LightfastError(
            f"namespace {namespace[:80]!r} breaks Pinecone's limit: 1 to {MAX_NAMESPACE} ASCII characters, no NUL"
        )


def check_id(namespace: str, vid: str) -> None:
    if not 0 < len(vid) <= MAX_ID or "\0" in vid or not vid.isascii():
        raise LightfastError(
            f"vector id {vid[:80]!r} in namespace '{namespace}' breaks Pinecone's limit: 1 to {MAX_ID} ASCII characters"
        )


def fit_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata within 40 KB: the chunk text is cut (and marked) rather than the record refused."""
    size = len(json.dumps(metadata, ensure_ascii=False).encode())
    if size <= MAX_METADATA_BYTES:
        return metadata
    text = str(metadata.get("text", ""))
    rest = {k: v for k, v in metadata.items() if k != "text"}
    room = MAX_METADATA_BYTES - len(json.dumps({**rest, "text": "", "text_truncated": True}).encode()) - 16
    if room <= 0:
        raise LightfastError(f"metadata of {size:,} bytes exceeds Pinecone's 40 KB even without its text")
    cut = text.encode()[:room].decode(errors="ignore")
    while len(json.dumps(cut, ensure_ascii=False).encode()) > room:  # escapes take room too
        cut = cut[: int(len(cut) * 0.9)]
    return {**rest, "text": cut, "text_truncated": True}


class PineconeBackend(VectorBackend):
    kind = "pinecone"

    def __init__(self, api_key: str, host: str | None = None, retry: RetryPolicy | None = None):
        from pinecone import Pinecone
        from pinecone._internal.config import RetryConfig

        self._api_key = api_key
        # Control-plane retries are ours alone. The SDK's data-plane REST client keeps its
        # own (4 attempts on 429/5xx) inside each of our attempts; the deadline bounds both.
        self._client = Pinecone(api_key=api_key, host=host, timeout=TIMEOUT_S,
                                retry_config=RetryConfig(max_retries=0))
        self.retry = retry or RetryPolicy()
        self._indexes: dict[str, PineconeIndex] = {}

    def _call(self, operation: str, fn):
        return self.retry.call(operation, None, fn)

    def index_exists(self, name: str) -> bool:
        return bool(self._call(f"checking index '{name}'", lambda: self._client.has_index(name)))

    def create_index(self, spec: IndexSpec) -> None:
        from pinecone import ServerlessSpec

        if not self.index_exists(spec.name):
            try:
                self._call(f"creating index '{spec.name}'", lambda: self._client.create_index(
                    spec.name, spec=ServerlessSpec(cloud=spec.cloud, region=spec.region),
                    dimension=spec.dimension, metric=spec.metric, timeout=120,
                ))
            except LightfastError:
                if not self.index_exists(spec.name):  # another process may have won the race
                    raise
        self._call(f"configuring index '{spec.name}'", lambda: self._client.configure_index(
            spec.name, deletion_protection="enabled" if spec.deletion_protection else "disabled",
            tags=dict(spec.tags),
        ))

    def list_indexes(self) -> list[str]:
        found = self._call("listing indexes", lambda: self._client.list_indexes())
        return sorted(i.name for i in found)

    def delete_index(self, name: str) -> None:
        self._call(f"deleting index '{name}'", lambda: self._client.delete_index(name, timeout=-1))
        self._indexes.pop(name, None)

    def index(self, name: str) -> "PineconeIndex":
        if name not in self._indexes:
            try:
                model = self._call(f"describing index '{name}'", lambda: self._client.describe_index(name))
            except LightfastError as exc:
                if "HTTP 404" in str(exc):
                    raise NotFoundError(f"Pinecone index '{name}' does not exist") from None
                raise
            from pinecone import Index

            dimension = next(iter(model.schema.fields.values())).dimension
            handle = Index(host=model.host, api_key=self._api_key, timeout=TIMEOUT_S)
            self._indexes[name] = PineconeIndex(name, dimension, handle, self.retry)
        return self._indexes[name]


class PineconeIndex(VectorIndex):
    def __init__(self, name: str, dimension: int, handle, retry: RetryPolicy):
        self.name = name
        self.dimension = dimension
        self._index = handle
        self.retry = retry

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> int:
        check_namespace(namespace)
        payload = []
        for r in records:
            check_id(namespace, r.id)
            values = np.asarray(r.values, dtype=np.float32)
            self.check_dimension(values.shape[0], f"upsert into '{namespace}'")
            payload.append({"id": r.id, "values": values.tolist(), "metadata": fit_metadata(r.metadata)})
        written = 0
        for batch in _batches(payload):
            self.retry.call("upsert", namespace, lambda b=batch: self._index.upsert(vectors=b, namespace=namespace))
            written += len(batch)
        return written

    def query(self, namespace, vector, top_k, filter=None) -> list[Match]:
        check_namespace(namespace)
        q = np.asarray(vector, dtype=np.float32)
        self.check_dimension(q.shape[0], f"query of '{namespace}'")
        kwargs = {"vector": q.tolist(), "top_k": int(top_k), "namespace": namespace, "include_metadata": True}
        if filter:
            kwargs["filter"] = filter
        response = self.retry.call("query", namespace, lambda: self._index.query(**kwargs))
        return [Match(m.id, float(m.score), dict(m.metadata or {})) for m in response.matches]

    def delete(self, namespace: str, ids: Iterable[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), MAX_IDS_PER_REQUEST):
            chunk = ids[start : start + MAX_IDS_PER_REQUEST]
            self.retry.call("delete", namespace, lambda c=chunk: self._index.delete(ids=c, namespace=namespace))

    def delete_namespace(self, namespace: str) -> None:
        check_namespace(namespace)
        if self.namespace_stats(namespace).vector_count == 0:
            return
        self.retry.call("delete all", namespace, lambda: self._index.delete(delete_all=True, namespace=namespace))

    def _stats(self):
        return self.retry.call("describe index stats", None, lambda: self._index.describe_index_stats())

    def namespace_stats(self, namespace: str) -> NamespaceStats:
        summary = (self._stats().namespaces or {}).get(namespace)
        return NamespaceStats(namespace, int(summary.vector_count) if summary else 0)

    def list_namespaces(self, prefix: str | None = None) -> list[NamespaceStats]:
        found = self._stats().namespaces or {}
        return sorted(
            (NamespaceStats(ns, int(s.vector_count)) for ns, s in found.items()
             if s.vector_count and (prefix is None or ns.startswith(prefix))),
            key=lambda s: s.namespace,
        )

    def list_ids(self, namespace, prefix=None, limit=100, pagination_token=None):
        kwargs = {"namespace": namespace, "limit": min(int(limit), 100)}
        if prefix:
            kwargs["prefix"] = prefix
        if pagination_token:
            kwargs["pagination_token"] = pagination_token
        response = self.retry.call("list ids", namespace, lambda: self._index.list_paginated(**kwargs))
        ids = [v.id for v in (response.vectors or [])]
        token = response.pagination.next if response.pagination else None
        return ids, token or None

    def fetch(self, namespace: str, ids: Sequence[str]) -> dict[str, VectorRecord]:
        out: dict[str, VectorRecord] = {}
        ids = list(ids)
        for start in range(0, len(ids), FETCH_IDS_PER_REQUEST):
            chunk = ids[start : start + FETCH_IDS_PER_REQUEST]
            response = self.retry.call("fetch", namespace, lambda c=chunk: self._index.fetch(ids=c, namespace=namespace))
            for vid, v in (response.vectors or {}).items():
                out[vid] = VectorRecord(vid, np.asarray(v.values, dtype=np.float32), dict(v.metadata or {}))
        return out


def _batches(payload: list[dict]) -> Iterable[list[dict]]:
    """Split records into requests of at most 1,000 records and under 2 MB of JSON."""
    batch: list[dict] = []
    size = 0
    for item in payload:
        item_size = len(json.dumps(item, ensure_ascii=False).encode()) + 1
        if batch and (len(batch) >= MAX_BATCH_RECORDS or size + item_size > MAX_REQUEST_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch
