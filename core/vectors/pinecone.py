"""The Pinecone backend, over the official SDK: the design's ConsolePineconeClient.

One retry layer, one deadline. Every request goes through core.retry
(backoff, Retry-After, bounded in attempts and in time). The SDK would retry
too: its REST transport (pinecone/_internal/http_client.py, _RetryTransport)
retries 408/429/5xx and dropped connections 3 times, sleeping Retry-After plus
up to 50% jitter, capped at 60 s, with real sleeps our deadline cannot see.
The control plane takes `retry_config=RetryConfig(max_retries=0)`; the
data-plane `Index` takes no retry config in 10.2, so its transport's config is
replaced after it is built (`_disable_sdk_retries`, which says so if the SDK
changed shape). The deadline is checked before every wait, and data-plane
calls get as their HTTP timeout only what is left of it (`call_timed`); the
control plane and the namespace listing take no per-call timeout, so theirs
is the client's (LIGHTFAST_HTTP_TIMEOUT).

Every request is kept within Pinecone's limits: upserts of at most 1,000
records and under 2 MB of JSON, metadata under 40 KB per record (the chunk
text is cut to fit, and says so), fetches and deletes of at most 1,000 ids.
Namespace names and ids are checked before anything is sent.

What the real service does, and how it is met here:
- Index stats and namespace counts lag writes: nothing here decides from a
  count. A namespace delete is always sent (the namespace API's delete, which
  also frees the namespace's place under the plan's namespace limit).
- An index can exist while "Initializing", with no host: opening it waits
  for readiness, saying so through `notify`, bounded by `ready_timeout`.
- Scores: only metrics whose scores are similarities (higher is closer) are
  opened; see SUPPORTED_METRICS.
- The lexical side (issue 17): a sparse index beside each dense one
  (`sparse_index_name`), created, protected and tagged with it, holding the
  same ids in the same namespaces with the same metadata and a sparse vector
  made from the chunk's words (core/sparse.py). Each upsert batch goes to the
  dense index, then the same records to the sparse one; deletes go to the
  sparse index first. A run killed in between leaves at worst dense records
  without their sparse twins (found by vectors alone until the re-run
  rewrites them), never a sparse hit without its vector.
- Billed usage: query, fetch and id-listing responses carry `usage.read_units`,
  handed to core.usage (the query log and ingest history record it); upsert
  responses carry none (the SDK's UpsertResponse has no usage), so write units
  are never reported, only estimated.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Callable, Iterable, Sequence, TypeVar
from urllib.parse import quote

import numpy as np

from core.errors import (
    BackendError, CredentialsMissingError, DimensionMismatchError, InvalidArgumentError, NotFoundError,
)
from core.retry import DEFAULT_TIMEOUT_S, RetryPolicy, default_timeout
from core.sparse import document_vector, query_vector
from core.usage import record, reported
from core.vectors.base import IndexSpec, Match, NamespaceStats, VectorBackend, VectorIndex, VectorRecord

T = TypeVar("T")

MAX_BATCH_RECORDS = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024 - 64 * 1024  # 2 MB, with room for the envelope
MAX_METADATA_BYTES = 40_000  # Pinecone allows 40 KB (40,960 bytes); keep a little slack
MAX_IDS_PER_REQUEST = 1000
MAX_FETCH_URL_CHARS = 6000  # fetch sends ids in the query string: keep the URL short
MAX_ID = 512
MAX_NAMESPACE = 512
MAX_TOP_K = 10_000
READY_TIMEOUT_S = 300.0
READY_POLL_S = 2.0
READY_NOTICE_EVERY = 15  # polls between "still initializing" notices (30 s)
NAMESPACE_PAGE = 100  # the namespace listing's largest page
#: The search merge sorts scores highest first, which is right for cosine and dotproduct
#: (similarities). Pinecone's euclidean scores are distances (lower is closer): merged with
#: them the farthest chunks would come first. Both embedders return unit vectors, for which
#: euclidean ranks exactly as cosine does, so refusing it loses nothing; the config refuses it
#: too (core/config.py), and an index created elsewhere with it is refused when opened.
SUPPORTED_METRICS = ("cosine", "dotproduct")
MAX_INDEX_NAME = 45
SPARSE_SUFFIX = "-sparse"
MAX_SPARSE_TOP_K = 1000  # a sparse index's largest top_k

log = logging.getLogger("lightfast.pinecone")


def check_namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or not 0 < len(namespace) <= MAX_NAMESPACE \
            or "\0" in namespace or not namespace.isascii():
        shown = repr(namespace[:80]) + ("..." if isinstance(namespace, str) and len(namespace) > 80 else "")
        raise InvalidArgumentError(
            f"namespace {shown} breaks Pinecone's limit: 1 to {MAX_NAMESPACE} ASCII characters, no NUL"
        )


def check_id(namespace: str, vid: str) -> None:
    if not isinstance(vid, str) or not 0 < len(vid) <= MAX_ID or "\0" in vid or not vid.isascii():
        shown = repr(vid[:80]) + ("..." if isinstance(vid, str) and len(vid) > 80 else "")
        raise InvalidArgumentError(
            f"vector id {shown} in namespace '{namespace}' breaks Pinecone's limit: "
            f"1 to {MAX_ID} ASCII characters, no NUL"
        )


def _json_size(value: Any) -> int:
    """Bytes of value as the SDK sends it (compact UTF-8 JSON)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def check_flat(metadata: dict[str, Any], where: str = "a record") -> None:
    """Pinecone takes flat metadata only: string, number, boolean or list of strings (no null)."""
    for key, value in metadata.items():
        if isinstance(value, (str, bool, int, float)) or (
                isinstance(value, list) and all(isinstance(v, str) for v in value)):
            continue
        kind = "null" if value is None else type(value).__name__
        raise InvalidArgumentError(f"metadata field '{key}' of {where} is {kind}: Pinecone takes only strings, "
                                   "numbers, booleans and lists of strings")


def fit_metadata(metadata: dict[str, Any], where: str = "a record") -> dict[str, Any]:
    """Metadata within 40 KB: the chunk text is cut (and marked) rather than the record refused."""
    check_flat(metadata, where)
    size = _json_size(metadata)
    if size <= MAX_METADATA_BYTES:
        return metadata
    text = str(metadata.get("text", ""))
    rest = {k: v for k, v in metadata.items() if k not in ("text", "text_truncated")}
    room = MAX_METADATA_BYTES - _json_size({**rest, "text": "", "text_truncated": True})
    if room <= 0 or not text:
        raise InvalidArgumentError(
            f"metadata of {where} is {size:,} bytes: over Pinecone's 40 KB limit even without its text"
        )
    cut = text.encode()[:room].decode(errors="ignore")
    while cut and _json_size(cut) - 2 > room:  # escapes (quotes, newlines) take room too
        cut = cut[: int(len(cut) * 0.9)]
    return {**rest, "text": cut, "text_truncated": True}


def sparse_index_name(name: str) -> str:
    """The sparse index beside dense index `name`: `{name}-sparse`, or, when that would pass
    Pinecone's 45 characters, the name cut short with a digest of the whole name (no collisions)."""
    if len(name) + len(SPARSE_SUFFIX) <= MAX_INDEX_NAME:
        return name + SPARSE_SUFFIX
    digest = hashlib.sha1(name.encode()).hexdigest()[:6]
    keep = MAX_INDEX_NAME - len(SPARSE_SUFFIX) - len(digest) - 1
    return f"{name[:keep].rstrip('-')}-{digest}{SPARSE_SUFFIX}"


def _is_not_found(exc: BaseException) -> bool:
    return getattr(exc, "status_code", None) == 404


def _unless_missing(fn: Callable[[], T]) -> Callable[[], T | None]:
    """Run fn; a 404 from the service means "nothing there" and returns None."""

    def run():
        try:
            return fn()
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise

    return run


def _unless_missing_timed(fn: Callable[[float], T]) -> Callable[[float], T | None]:
    """As _unless_missing, for a call that takes its attempt's timeout."""

    def run(timeout: float):
        return _unless_missing(lambda: fn(timeout))()

    return run


def _disable_sdk_retries(handle: Any) -> None:
    """The data-plane client takes no retry_config; switch its transport's retries off.

    Without this every one of our attempts hides up to four of the SDK's, each
    with its own real sleep of up to 60 s (plus jitter) that no deadline of ours sees.
    """
    from pinecone._internal.config import RetryConfig

    transport = getattr(getattr(getattr(handle, "_http", None), "_client", None), "_transport", None)
    if transport is not None and isinstance(getattr(transport, "_config", None), RetryConfig):
        transport._config = RetryConfig(max_retries=0)
    else:  # the SDK changed shape: say so rather than multiply requests silently
        log.warning("could not switch off the Pinecone SDK's own retries (SDK internals changed): "
                    "a failing request may be sent up to 4 times per attempt")


def _metric(model: Any) -> str:
    return str(getattr(model, "metric", None) or "cosine")


def _vector_type(model: Any) -> str:
    return str(getattr(model, "vector_type", None) or "dense")


class PineconeBackend(VectorBackend):
    kind = "pinecone"

    def __init__(self, api_key: str, host: str | None = None, *, retry: RetryPolicy | None = None,
                 timeout: float | None = None, ready_timeout: float = READY_TIMEOUT_S,
                 notify: Callable[[str], None] | None = None, sparse: bool = True):
        from pinecone import Pinecone
        from pinecone._internal.config import RetryConfig

        if not api_key:
            raise CredentialsMissingError("a Pinecone API key is needed (set PINECONE_API_KEY)")
        self.timeout = timeout if timeout is not None else default_timeout()
        self.ready_timeout = ready_timeout
        #: keep a sparse index beside each dense one for lexical and hybrid search
        self.sparse = sparse
        #: progress while waiting (an index initializing); default: a warning on stderr's logger
        self.notify = notify or log.warning
        # Control-plane retries are off in the SDK: core.retry's policy is the one in force.
        self._client = Pinecone(api_key=api_key, host=host or None, timeout=self.timeout,
                                retry_config=RetryConfig(max_retries=0))
        self.retry = (retry or RetryPolicy()).with_secret(api_key)
        self._indexes: dict[str, PineconeIndex] = {}
        self._ensured: dict[str, IndexSpec] = {}  # ensured (checked and reconciled) by this backend

    def _call(self, operation: str, fn: Callable[[], T]) -> T:
        return self.retry.call(operation, None, fn)

    def index_exists(self, name: str) -> bool:
        return bool(self._call(f"checking index '{name}'", lambda: self._client.has_index(name)))

    def _describe(self, name: str):
        """The index's model, or None when it does not exist."""
        return self._call(f"describing index '{name}'", _unless_missing(lambda: self._client.describe_index(name)))

    def ensure_index(self, spec: IndexSpec) -> "PineconeIndex":
        """Create if missing, wait until ready, check it fits the profile, reconcile, open:
        one describe when the index is there and in step, once per spec for this backend."""
        if self._ensured.get(spec.name) == spec and spec.name in self._indexes:
            return self._indexes[spec.name]
        index = self._open(spec.name, self._ensure(spec))
        if self.sparse:
            name = sparse_index_name(spec.name)
            index.sparse = self._open_sparse(name, self._ensure_sparse(spec, name))
        self._ensured[spec.name] = spec
        return index

    def create_index(self, spec: IndexSpec) -> None:
        """Create (serverless, with protection and tags) if missing, wait until ready, refuse an
        index of another dimension or metric, and reconcile protection and tags. Idempotent.
        The sparse index beside it is created too (when this backend keeps one)."""
        self._ensure(spec)
        if self.sparse:
            self._ensure_sparse(spec, sparse_index_name(spec.name))
        self._indexes.pop(spec.name, None)
        self._ensured.pop(spec.name, None)

    def _ensure(self, spec: IndexSpec):
        from pinecone import ServerlessSpec

        protection = "enabled" if spec.deletion_protection else "disabled"
        tags = {k: v for k, v in {"platform": "lightfast", **spec.tags}.items() if v}  # an empty value is refused
        model = self._describe(spec.name)
        if model is None:
            try:
                self._call(f"creating index '{spec.name}'", lambda: self._client.create_index(
                    name=spec.name, spec=ServerlessSpec(cloud=spec.cloud, region=spec.region),
                    dimension=spec.dimension, metric=spec.metric, deletion_protection=protection,
                    tags=tags, timeout=-1,  # we wait ourselves, within our bound
                ))
            except BackendError:
                if not self.index_exists(spec.name):  # a 409: another process (or our lost reply) won
                    raise
            model = None
        model = self._wait_ready(spec.name, model)
        if int(model.dimension) != spec.dimension:
            raise DimensionMismatchError(
                f"Pinecone index '{spec.name}' holds {model.dimension}-dimensional vectors "
                f"but the profile asks for {spec.dimension}"
            )
        if _metric(model) != spec.metric:
            raise DimensionMismatchError(
                f"Pinecone index '{spec.name}' uses metric {_metric(model)} but the profile asks for "
                f"{spec.metric}: scores would not compare (use another index name, or the index's metric)"
            )
        self._reconcile(spec.name, model, protection, tags)
        return model

    def _ensure_sparse(self, spec: IndexSpec, name: str):
        """The sparse index beside spec's dense one: created (dotproduct, the only metric sparse
        indexes take) with the same protection and tags if missing, waited for, checked, reconciled."""
        from pinecone import ServerlessSpec

        protection = "enabled" if spec.deletion_protection else "disabled"
        tags = {k: v for k, v in {"platform": "lightfast", **spec.tags, "dense_index": spec.name}.items() if v}
        model = self._describe(name)
        if model is None:
            try:
                self._call(f"creating sparse index '{name}'", lambda: self._client.create_index(
                    name=name, spec=ServerlessSpec(cloud=spec.cloud, region=spec.region), vector_type="sparse",
                    metric="dotproduct", deletion_protection=protection, tags=tags, timeout=-1,
                ))
            except BackendError:
                if not self.index_exists(name):
                    raise
        model = self._wait_ready(name, model)
        if _vector_type(model) != "sparse":
            raise DimensionMismatchError(
                f"Pinecone index '{name}' holds dense vectors, but Lightfast keeps the sparse (lexical) "
                f"vectors of index '{spec.name}' there: rename or delete it"
            )
        self._reconcile(name, model, protection, tags)
        return model

    def _reconcile(self, name: str, model: Any, protection: str, tags: dict[str, str]) -> None:
        have_tags = dict(getattr(model, "tags", None) or {})
        missing = {k: v for k, v in tags.items() if have_tags.get(k) != v}
        if str(getattr(model, "deletion_protection", "")) != protection or missing:
            self._call(f"configuring index '{name}'", lambda: self._client.configure_index(
                name, deletion_protection=protection, tags=missing or None,
            ))

    def _wait_ready(self, name: str, model: Any = None):
        """The index's model once it is ready (and has a host), polling within ready_timeout."""
        polls = max(1, int(self.ready_timeout / READY_POLL_S))
        for poll in range(polls + 1):
            if model is None or poll:
                model = self._describe(name)
            if model is None:
                raise NotFoundError(f"Pinecone index '{name}' does not exist (deleted while it was starting?)")
            if getattr(model.status, "ready", False) and getattr(model, "host", None):
                return model
            if poll == polls:
                break
            if poll % READY_NOTICE_EVERY == 0:
                state = getattr(model.status, "state", None) or "not ready"
                self.notify(f"Pinecone index '{name}' is {state}; waiting for it to be ready "
                            f"({poll * READY_POLL_S:.0f} s so far, giving up after {self.ready_timeout:.0f} s)")
            self.retry.sleep(READY_POLL_S)
        raise BackendError(
            f"Pinecone index '{name}' was not ready after {self.ready_timeout:.0f} s "
            f"(state: {getattr(model.status, 'state', None) or 'unknown'}); try again later"
        )

    def list_indexes(self) -> list[str]:
        found = self._call("listing indexes", lambda: self._client.list_indexes())
        return sorted(i.name for i in found)

    def delete_index(self, name: str) -> None:
        """Delete an index and the sparse index beside it, if any."""
        for each in (name, sparse_index_name(name)) if self.sparse else (name,):
            self._call(f"deleting index '{each}'",
                       _unless_missing(lambda n=each: self._client.delete_index(n, timeout=-1)))
            self._indexes.pop(each, None)
        self._ensured.pop(name, None)

    def index(self, name: str) -> "PineconeIndex":
        """Open an existing index, with the sparse index beside it when there is one (an index
        without one is searched by vectors alone; its next ensure_index creates it)."""
        if name not in self._indexes:
            index = self._open(name, self._wait_ready(name))
            companion = sparse_index_name(name)
            model = self._describe(companion) if self.sparse else None
            if model is not None and _vector_type(model) == "sparse":
                index.sparse = self._open_sparse(companion, self._wait_ready(companion, model))
        return self._indexes[name]

    def _open_sparse(self, name: str, model: Any) -> "PineconeSparseIndex":
        known = self._indexes.get(name)
        if not isinstance(known, PineconeSparseIndex) or known.host != model.host:
            handle = self._client.index(host=model.host)
            _disable_sdk_retries(handle)
            known = PineconeSparseIndex(name, handle, self.retry, self.timeout)
            known.host = model.host
            self._indexes[name] = known
        return known

    def _open(self, name: str, model: Any) -> "PineconeIndex":
        """A data-plane handle on a ready index (kept while its host stays the same)."""
        known = self._indexes.get(name)
        if known is None or known.host != model.host:
            if _metric(model) not in SUPPORTED_METRICS:
                raise DimensionMismatchError(
                    f"Pinecone index '{name}' uses metric {_metric(model)}, whose scores are distances "
                    f"(lower is closer); Lightfast merges similarities: use an index with metric cosine"
                )
            handle = self._client.index(host=model.host)
            _disable_sdk_retries(handle)
            self._indexes[name] = PineconeIndex(name, int(model.dimension), handle, self.retry, self.timeout)
            self._indexes[name].host = model.host
        return self._indexes[name]


class PineconeIndex(VectorIndex):
    def __init__(self, name: str, dimension: int, handle: Any, retry: RetryPolicy,
                 timeout: float = DEFAULT_TIMEOUT_S):
        self.name = name
        self.dimension = dimension
        self._index = handle
        self.retry = retry
        self.timeout = timeout
        self.host: str | None = None
        #: the sparse index beside this one (None: none, searched by vectors alone)
        self.sparse: PineconeSparseIndex | None = None
        self._lexical_checked: set[str] = set()  # namespaces whose sparse side this process has checked

    def _send(self, operation: str, namespace: str | None, fn: Callable[[float], T]) -> T:
        """fn(timeout) through the one retry layer, each attempt bounded by what is left of the deadline."""
        return self.retry.call_timed(operation, namespace, fn, self.timeout)

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> int:
        check_namespace(namespace)
        payload = []
        for r in records:
            check_id(namespace, r.id)
            values = np.asarray(r.values, dtype=np.float32).reshape(-1)
            self.check_dimension(values.shape[0], f"upsert into '{namespace}'")
            if not np.isfinite(values).all():
                raise InvalidArgumentError(f"vector '{r.id}' for namespace '{namespace}' has NaN or infinite values")
            item = {"id": r.id, "values": values.tolist()}
            metadata = fit_metadata(dict(r.metadata), f"record '{r.id}' in namespace '{namespace}'")
            if metadata:
                item["metadata"] = metadata
            payload.append(item)
        written = 0
        for batch in _batches(payload):
            self._send("upsert", namespace, lambda t, b=batch: self._index.upsert(
                vectors=b, namespace=namespace, timeout=t))
            if self.sparse is not None:  # the same records, after their vectors (see the module's doc)
                self.sparse.write(namespace, batch)
            written += len(batch)
        return written

    def query(self, namespace, vector, top_k, filter=None) -> list[Match]:
        check_namespace(namespace)
        if not 1 <= int(top_k) <= MAX_TOP_K:
            raise InvalidArgumentError(f"top_k must be between 1 and {MAX_TOP_K:,} (got {top_k})")
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        self.check_dimension(q.shape[0], f"query of '{namespace}'")
        kwargs: dict[str, Any] = {"vector": q.tolist(), "top_k": int(top_k), "namespace": namespace,
                                  "include_metadata": True}
        if filter:
            kwargs["filter"] = filter
        response = self._send("query", namespace, lambda t: self._index.query(**kwargs, timeout=t))
        record(read_units=reported(response, "usage", "read_units"))  # what the query was billed
        return [Match(m.id, float(m.score), dict(m.metadata or {})) for m in response.matches]

    def delete(self, namespace: str, ids: Iterable[str]) -> None:
        check_namespace(namespace)
        ids = list(dict.fromkeys(ids))
        for vid in ids:
            check_id(namespace, vid)
        for start in range(0, len(ids), MAX_IDS_PER_REQUEST):
            chunk = ids[start : start + MAX_IDS_PER_REQUEST]
            if self.sparse is not None:  # the sparse twins first: never a word hit without its vector
                self.sparse.delete(namespace, chunk)
            self._send("delete", namespace, _unless_missing_timed(
                lambda t, c=chunk: self._index.delete(ids=c, namespace=namespace, timeout=t)))

    def delete_namespace(self, namespace: str) -> None:
        """Delete the namespace itself, always sent (stats lag, so a count of 0 proves nothing).

        The namespace API's delete removes the records and the namespace, which then stops
        counting toward the plan's namespace limit (deleteAll would leave it, empty). A 404
        means the namespace is unknown to the namespace API, which may lag a first write
        too, so a deleteAll follows (itself a no-op when there is nothing).
        """
        check_namespace(namespace)
        if self.sparse is not None:
            self.sparse.delete_namespace(namespace)
        gone = self._send("delete namespace", namespace, _unless_missing_timed(
            lambda t: self._index.delete_namespace(name=namespace, timeout=t) or True))
        if gone is None:
            self._send("delete all", namespace, _unless_missing_timed(
                lambda t: self._index.delete(delete_all=True, namespace=namespace, timeout=t)))

    def namespace_stats(self, namespace: str) -> NamespaceStats:
        """The index's own count, from the namespace API (which lags writes: not a proof)."""
        check_namespace(namespace)
        found = self.retry.call("describe namespace", namespace, _unless_missing(
            lambda: self._index.describe_namespace(name=namespace)))
        return NamespaceStats(namespace, int(found.record_count) if found is not None else 0)

    def list_namespaces(self, prefix: str | None = None) -> list[NamespaceStats]:
        """Every namespace the index reports (paged, filtered by prefix at the server), with its
        lagging count; an empty one is listed too, as it still takes a place under the limit."""
        out: list[NamespaceStats] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": NAMESPACE_PAGE}
            if prefix:
                kwargs["prefix"] = prefix
            if token:
                kwargs["pagination_token"] = token
            page = self.retry.call("listing namespaces", None,
                                   lambda k=kwargs: self._index.list_namespaces_paginated(**k))
            out += [NamespaceStats(ns.name, int(ns.record_count)) for ns in page.namespaces]
            token = page.pagination.next if page.pagination else None
            if not token:
                break
        return sorted(out, key=lambda s: s.namespace)

    def list_ids(self, namespace, prefix=None, limit=100, pagination_token=None):
        check_namespace(namespace)
        if int(limit) < 1:
            raise InvalidArgumentError(f"list_ids limit must be at least 1 (got {limit})")
        kwargs: dict[str, Any] = {"namespace": namespace, "limit": min(int(limit), 100)}
        if prefix:
            kwargs["prefix"] = prefix
        if pagination_token:
            kwargs["pagination_token"] = pagination_token
        response = self._send("list ids", namespace, _unless_missing_timed(
            lambda t: self._index.list_paginated(**kwargs, timeout=t)))
        if response is None:  # no such namespace
            return [], None
        record(read_units=reported(response, "usage", "read_units"))
        ids = sorted(v.id for v in (response.vectors or []))
        token = response.pagination.next if response.pagination else None
        return ids, token or None

    def fetch(self, namespace: str, ids: Sequence[str]) -> dict[str, VectorRecord]:
        check_namespace(namespace)
        ids = list(dict.fromkeys(ids))
        for vid in ids:
            check_id(namespace, vid)
        out: dict[str, VectorRecord] = {}
        for chunk in _fetch_chunks(ids):
            response = self._send("fetch", namespace, _unless_missing_timed(
                lambda t, c=chunk: self._index.fetch(ids=c, namespace=namespace, timeout=t)))
            record(read_units=reported(response, "usage", "read_units"))
            for vid, v in ((response.vectors or {}) if response is not None else {}).items():
                out[vid] = VectorRecord(vid, np.asarray(v.values, dtype=np.float32), dict(v.metadata or {}))
        return out


    # -- the lexical side: the sparse index beside this one ---------------------------------------

    def lexical_query(self, namespace: str, text: str, top_k: int) -> list[Match] | None:
        """The sparse index's matches of the query's words, best first; None when this index
        has no sparse index beside it (search then uses the vectors alone and says so)."""
        if self.sparse is None:
            return None
        return self.sparse.lexical_query(namespace, text, top_k)

    def ensure_lexical(self, namespace: str, rebuild: bool = False) -> bool:
        """Fill the namespace's sparse side from its vectors when it has none yet (an index from
        before the sparse side, or a run killed between the two writes of its first batch), or,
        with rebuild, always: rewrite every record's sparse twin and drop those without a vector.
        True if it wrote. One describe per namespace and process on the common path (the sparse
        namespace exists); a backfill started from counts that lag only rewrites what is there."""
        if self.sparse is None or (namespace in self._lexical_checked and not rebuild):
            return False
        if not rebuild:
            if self.sparse.namespace_known(namespace) or not self.namespace_known(namespace):
                self._lexical_checked.add(namespace)
                return False
        dense_ids = self.all_ids(namespace)
        for start in range(0, len(dense_ids), MAX_IDS_PER_REQUEST):
            records = self.fetch(namespace, dense_ids[start : start + MAX_IDS_PER_REQUEST])
            self.sparse.write(namespace, [{"id": r.id, "metadata": r.metadata} for r in records.values()])
        if rebuild:
            extra = sorted(set(self.sparse.all_ids(namespace)) - set(dense_ids))
            self.sparse.delete(namespace, extra)
        self._lexical_checked.add(namespace)
        return bool(dense_ids)

    def lexical_out_of_step(self, namespace: str) -> str | None:
        """What disagrees between the namespace's vectors and its sparse twins, by id (the
        listings lag writes like every count: run it again before acting on a fresh write)."""
        if self.sparse is None:
            return None
        dense, sparse = set(self.all_ids(namespace)), set(self.sparse.all_ids(namespace))
        problems = [f"{n} {what}" for n, what in ((len(dense - sparse), "vectors without sparse rows"),
                                                  (len(sparse - dense), "sparse rows without vectors")) if n]
        return ", ".join(problems) or None

    def namespace_known(self, namespace: str) -> bool:
        """Whether the namespace API knows this namespace (it lags a first write)."""
        check_namespace(namespace)
        found = self.retry.call("describe namespace", namespace, _unless_missing(
            lambda: self._index.describe_namespace(name=namespace)))
        return found is not None and int(found.record_count) > 0

    def all_ids(self, namespace: str) -> list[str]:
        ids: list[str] = []
        token: str | None = None
        while True:
            page, token = self.list_ids(namespace, limit=100, pagination_token=token)
            ids += page
            if not token:
                return ids


class PineconeSparseIndex(PineconeIndex):
    """The sparse index beside a dense one: the same ids and metadata, a sparse vector each
    (core/sparse.py), queried by the words of a query. Deletes, listings and counts are the
    dense index's own; dense upserts and queries are refused."""

    def __init__(self, name: str, handle: Any, retry: RetryPolicy, timeout: float = DEFAULT_TIMEOUT_S):
        super().__init__(name, 0, handle, retry, timeout)

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> int:
        raise InvalidArgumentError(f"'{self.name}' is a sparse index: its records are written with their vectors")

    def query(self, namespace, vector, top_k, filter=None) -> list[Match]:
        raise InvalidArgumentError(f"'{self.name}' is a sparse index: query it by words (lexical_query)")

    def write(self, namespace: str, items: Sequence[dict]) -> int:
        """Sparse twins of dense payload items ({id, metadata}, metadata already within limits).
        A chunk without a single term has no sparse vector (Pinecone refuses an empty one) and
        could match no query: it is left out."""
        payload = []
        for item in items:
            vector = document_vector(item.get("metadata") or {})
            if vector:
                twin = {"id": item["id"], "sparse_values": vector.as_dict()}
                if item.get("metadata"):
                    twin["metadata"] = item["metadata"]
                payload.append(twin)
        for batch in _batches(payload):
            self._send("sparse upsert", namespace, lambda t, b=batch: self._index.upsert(
                vectors=b, namespace=namespace, timeout=t))
        return len(payload)

    def lexical_query(self, namespace: str, text: str, top_k: int) -> list[Match] | None:
        check_namespace(namespace)
        if int(top_k) < 1:
            raise InvalidArgumentError(f"lexical query of namespace '{namespace}': top_k must be at least 1, got {top_k!r}")
        vector = query_vector(text)
        if not vector:  # only stopwords: no word to match
            return []
        kwargs: dict[str, Any] = {"sparse_vector": vector.as_dict(), "top_k": min(int(top_k), MAX_SPARSE_TOP_K),
                                  "namespace": namespace, "include_metadata": True}
        response = self._send("sparse query", namespace, lambda t: self._index.query(**kwargs, timeout=t))
        record(read_units=reported(response, "usage", "read_units"))
        return [Match(m.id, float(m.score), dict(m.metadata or {})) for m in response.matches]


def _batches(payload: list[dict]) -> Iterable[list[dict]]:
    """Split records into requests of at most 1,000 records and under 2 MB of JSON."""
    batch: list[dict] = []
    size = 0
    for item in payload:
        item_size = _json_size(item) + 1  # and a comma
        if batch and (len(batch) >= MAX_BATCH_RECORDS or size + item_size > MAX_REQUEST_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


def _fetch_chunks(ids: list[str]) -> Iterable[list[str]]:
    """At most 1,000 ids a request, and a query string of at most MAX_FETCH_URL_CHARS."""
    chunk: list[str] = []
    chars = 0
    for vid in ids:
        cost = len("&ids=") + len(quote(vid, safe=""))
        if chunk and (len(chunk) >= MAX_IDS_PER_REQUEST or chars + cost > MAX_FETCH_URL_CHARS):
            yield chunk
            chunk, chars = [], 0
        chunk.append(vid)
        chars += cost
    if chunk:
        yield chunk
