"""Pinecone's control plane and data plane, over plain HTTP on 127.0.0.1.

The control server answers /indexes (create, list, describe, configure by
PATCH, delete). Each created index gets its own data-plane server, and
describe returns its `http://127.0.0.1:PORT` as the index's `host`, so the SDK
comes back here: /vectors/upsert, /query (exact, scored by the index's metric:
cosine and dotproduct higher is closer, euclidean a squared distance, lower is
closer; with metadata filters), /vectors/fetch, /vectors/delete,
/vectors/list, /describe_index_stats and the namespace API (GET /namespaces
paged with a prefix, GET and DELETE /namespaces/{name}, 404 for an unknown
one). Every request must carry the right `Api-Key` (401 otherwise).
Pinecone's request limits are enforced (400): 1,000 records and 2 MB per
upsert, 40,960 bytes of flat metadata per record (string, number, boolean or
list of strings; no nested objects, no nulls). All planes share one fault plan
and one request log. Vectors live in memory. A test tool, not Pinecone.

Sparse indexes (`vector_type="sparse"`: the schema field `_sparse_values`, always
dotproduct) as the real service takes them: records carry `sparseValues` and no
dense values; indices are distinct uint32, values finite, at most 1,000
non-zero values, indices and values of the same length; a query sends a
`sparseVector` (no dense vector), is scored by dotproduct, drops records that
score 0 and takes top_k up to 1,000. A dense index takes sparse values only
with metric dotproduct (a hybrid index), and a sparse query only then.

What the real service does that a naive fake would not, each switchable:
- `ready_after`: a new index answers "Initializing" with no host for that many
  describes (`add_index(..., ready_after=N)` makes one "created elsewhere").
- `stats_lag` / `query_lag` (seconds on `clock`): stats, the namespace listing
  and queries see writes only once the last write is that old; the counts they
  show before are those of the last time they caught up. `float("inf")`: never
  (until `settle()`).
- Counters for the bench: `read_units` (what responses report as
  usage.readUnits; a query reports `query_read_units`, fetch and list 1) and
  `requests` by path. Upserts report no usage, as Pinecone's do.

    with PineconeServer(api_key="k") as server:
        backend = PineconeBackend("k", host=server.url)
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any, Callable
from urllib.parse import unquote

import numpy as np

from tests.wire.base import JsonServer

MAX_UPSERT_RECORDS = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40 * 1024
MAX_IDS = 1000
MAX_TOP_K = 10_000
MAX_SPARSE_TOP_K = 1000
MAX_SPARSE_NONZERO = 1000
_MISSING = object()


def _error(status: int, code: str, message: str):
    return status, {"error": {"code": code, "message": message}, "status": status}


def matches(metadata: dict, flt: dict | None) -> bool:
    """Pinecone's filter language, independently of core.vectors.filters (a second opinion)."""
    if not flt:
        return True
    for key, cond in flt.items():
        if key == "$and":
            if not all(matches(metadata, c) for c in cond):
                return False
        elif key == "$or":
            if not any(matches(metadata, c) for c in cond):
                return False
        else:
            value = metadata.get(key, _MISSING)
            ops = cond if isinstance(cond, dict) else {"$eq": cond}
            for op, arg in ops.items():
                if not _op(op, value, arg):
                    return False
    return True


def _op(op: str, value: Any, arg: Any) -> bool:
    if op == "$exists":
        return (value is not _MISSING) == bool(arg)
    if value is _MISSING:
        return op in ("$ne", "$nin")
    values = value if isinstance(value, list) else [value]  # a list field matches if any element does
    if op == "$eq":
        return arg in values
    if op == "$ne":
        return arg not in values
    if op == "$in":
        return any(v in arg for v in values)
    if op == "$nin":
        return not any(v in arg for v in values)
    compare = {"$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
               "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b}.get(op)
    if compare is None:
        raise ValueError(f"unsupported filter operator {op}")
    return isinstance(value, (int, float)) and compare(value, arg)


def _flat_metadata_error(metadata: Any) -> str | None:
    """Pinecone accepts flat metadata only: string, number, boolean or a list of strings."""
    if not isinstance(metadata, dict):
        return "Metadata must be an object"
    for key, value in metadata.items():
        if isinstance(value, (str, bool, int, float)):
            continue
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            continue
        kind = "null" if value is None else type(value).__name__
        return (f"Metadata value for field '{key}' must be a string, number, boolean or list of strings, "
                f"got {kind}")
    return None


def _sparse_error(sv: Any) -> str | None:
    """Pinecone's rules for sparse values: same lengths, distinct uint32 indices, finite values,
    at least one and at most MAX_SPARSE_NONZERO non-zero values."""
    if not isinstance(sv, dict) or not isinstance(sv.get("indices"), list) or not isinstance(sv.get("values"), list):
        return "Sparse vector must have indices and values lists"
    indices, values = sv["indices"], sv["values"]
    if len(indices) != len(values):
        return f"Sparse vector indices ({len(indices)}) and values ({len(values)}) must have the same length"
    if not indices:
        return "Sparse vector must have at least one non-zero value"
    if len(indices) > MAX_SPARSE_NONZERO:
        return f"Sparse vector has {len(indices)} non-zero values; the maximum is {MAX_SPARSE_NONZERO}"
    if any(not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < 2**32 for i in indices):
        return "Sparse vector indices must be unsigned 32-bit integers"
    if len(set(indices)) != len(indices):
        return "Sparse vector indices must be unique"
    if any(not isinstance(x, (int, float)) or isinstance(x, bool) or not np.isfinite(x) for x in values):
        return "Sparse vector values must be finite numbers"
    return None


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _token(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode()


def _untoken(token: str) -> str:
    return base64.urlsafe_b64decode(token.encode()).decode() if token else ""


class DataPlane(JsonServer):
    def __init__(self, control: "PineconeServer", name: str, dimension: int | None, metric: str,
                 vector_type: str = "dense"):
        super().__init__(faults=control.faults, requests=control.requests)
        self.control, self.name, self.dimension, self.metric = control, name, dimension, metric
        self.vector_type = vector_type
        #: namespace -> id -> (dense values, metadata); sparse values, where a record has them, in `sparse`
        self.namespaces: dict[str, dict[str, tuple[list[float], dict]]] = {}
        #: namespace -> id -> {index: value}
        self.sparse: dict[str, dict[str, dict[int, float]]] = {}
        self.lock = threading.Lock()
        self.upsert_batches: list[int] = []  # records per upsert request
        self.upsert_bytes: list[int] = []  # body bytes per upsert request
        self.fetch_batches: list[int] = []
        self.delete_batches: list[int] = []
        self.read_units = 0  # as reported in responses' usage.readUnits
        self._last_write = float("-inf")
        #: what lagging readers see: (namespace -> id -> record) as of the last catch-up
        self._views: dict[str, dict[str, dict[str, tuple[list[float], dict]]]] = {"stats": {}, "query": {}}

    def _wrote(self) -> None:
        self._last_write = self.control.clock()

    def view(self, kind: str) -> dict[str, dict[str, tuple[list[float], dict]]]:
        """The namespaces as a lagging reader (stats or query) sees them now."""
        lag = self.control.stats_lag if kind == "stats" else self.control.query_lag
        if not lag:
            return self.namespaces
        if self.control.clock() - self._last_write >= lag:
            self._views[kind] = {n: dict(v) for n, v in self.namespaces.items()}
        return self._views[kind]

    def settle(self) -> None:
        """Let every lagging reader catch up now."""
        for kind in self._views:
            self._views[kind] = {n: dict(v) for n, v in self.namespaces.items()}

    def handle(self, method, path, query, body, headers):
        if headers.get("Api-Key") != self.control.api_key:
            return _error(401, "UNAUTHENTICATED", "Invalid API Key")
        if method == "POST":
            ns_name = body.get("namespace", "")
        else:
            ns_name = query.get("namespace", [""])[0]
        if len(ns_name) > 512 or "\0" in ns_name:
            return _error(400, "INVALID_ARGUMENT", "Namespace name is invalid")
        with self.lock:
            if path == "/vectors/upsert":
                return self._upsert(ns_name, body, int(headers.get("Content-Length") or 0))
            if path == "/query":
                return self._query(ns_name, body)
            if path == "/namespaces" or path.startswith("/namespaces/"):
                return self._namespace_api(method, path, query)
            if path == "/describe_index_stats":
                counts = {n: {"vectorCount": len(v)} for n, v in sorted(self.view("stats").items())}
                stats = {"namespaces": counts, "indexFullness": 0.0, "metric": self.metric,
                         "totalVectorCount": sum(c["vectorCount"] for c in counts.values()),
                         "vectorType": self.vector_type}
                if self.dimension is not None:
                    stats["dimension"] = self.dimension
                return 200, stats
            ns = self.namespaces.get(ns_name)
            if path == "/vectors/fetch":
                ids = query.get("ids", [])
                if not ids or len(ids) > MAX_IDS:
                    return _error(400, "INVALID_ARGUMENT", f"fetch takes 1 to {MAX_IDS} ids, got {len(ids)}")
                self.fetch_batches.append(len(ids))
                found = {vid: self._record(ns_name, vid, ns[vid]) for vid in ids if ns and vid in ns}
                self.read_units += 1
                return 200, {"vectors": found, "namespace": ns_name, "usage": {"readUnits": 1}}
            if path == "/vectors/delete":
                if ns is None:
                    return _error(404, "NOT_FOUND", "Namespace not found")
                ids = body.get("ids") or []
                if len(ids) > MAX_IDS:
                    return _error(400, "INVALID_ARGUMENT", f"delete takes at most {MAX_IDS} ids")
                if body.get("deleteAll"):
                    ns.clear()  # like Pinecone: the records go, the namespace stays
                    self.sparse.pop(ns_name, None)
                self.delete_batches.append(len(ids))
                for vid in ids:
                    ns.pop(vid, None)
                    self.sparse.get(ns_name, {}).pop(vid, None)
                self._wrote()
                return 200, {}
            if path == "/vectors/list":
                prefix = query.get("prefix", [""])[0]
                limit = int(query.get("limit", ["100"])[0])
                if not 1 <= limit <= 100:
                    return _error(400, "INVALID_ARGUMENT", "limit must be between 1 and 100")
                after = _untoken(query.get("paginationToken", [""])[0])
                ids = sorted(i for i in (ns or {}) if i.startswith(prefix) and i > after)
                page = ids[:limit]
                out: dict[str, Any] = {"vectors": [{"id": i} for i in page], "namespace": ns_name,
                                       "usage": {"readUnits": 1}}
                if len(ids) > limit:
                    out["pagination"] = {"next": _token(page[-1])}
                self.read_units += 1
                return 200, out
        return _error(404, "NOT_FOUND", f"no route {method} {path}")

    def _namespace_api(self, method: str, path: str, query: dict):
        """GET /namespaces (paged, prefix), GET and DELETE /namespaces/{name}; counts lag like stats."""
        seen = self.view("stats")
        if path == "/namespaces" and method == "GET":
            prefix = query.get("prefix", [""])[0]
            limit = int(query.get("limit", ["100"])[0])
            if not 1 <= limit <= 100:
                return _error(400, "INVALID_ARGUMENT", "limit must be between 1 and 100")
            after = _untoken(query.get("paginationToken", [""])[0])
            names = sorted(n for n in seen if n.startswith(prefix))
            page = [n for n in names if n > after][:limit]
            out: dict[str, Any] = {"namespaces": [{"name": n, "record_count": str(len(seen[n]))} for n in page],
                                   "total_count": len(names)}
            if page and page[-1] != names[-1]:
                out["pagination"] = {"next": _token(page[-1])}
            return 200, out
        name = unquote(path[len("/namespaces/"):])
        if method == "GET":
            if name not in seen:
                return _error(404, "NOT_FOUND", f"Namespace {name} not found")
            return 200, {"name": name, "record_count": str(len(seen[name]))}
        if method == "DELETE":
            if name not in self.namespaces:  # acts on the data itself, not on a lagging view
                return _error(404, "NOT_FOUND", f"Namespace {name} not found")
            del self.namespaces[name]
            self.sparse.pop(name, None)
            self._wrote()
            return 202, {}
        return _error(404, "NOT_FOUND", f"no route {method} {path}")

    def _upsert(self, ns_name: str, body: dict, size: int):
        vectors = body.get("vectors") or []
        if not ns_name:
            return _error(400, "INVALID_ARGUMENT", "this test server expects a namespace on every upsert")
        if len(vectors) > MAX_UPSERT_RECORDS:
            return _error(400, "INVALID_ARGUMENT", f"Upsert of {len(vectors)} vectors exceeds the {MAX_UPSERT_RECORDS}")
        if size > MAX_REQUEST_BYTES:
            return _error(400, "INVALID_ARGUMENT", f"Request size {size} exceeds the maximum supported size of 2MB")
        for v in vectors:
            vid = v.get("id", "")
            if not 1 <= len(vid) <= 512 or not vid.isascii() or "\0" in vid:
                return _error(400, "INVALID_ARGUMENT", "Vector ID must be 1-512 ASCII characters")
            problem = self._values_error(v)
            if problem:
                return _error(400, "INVALID_ARGUMENT", problem)
            if "metadata" in v:
                problem = _flat_metadata_error(v["metadata"])
                if problem:
                    return _error(400, "INVALID_ARGUMENT", problem)
            if _size(v.get("metadata") or {}) > MAX_METADATA_BYTES:
                return _error(400, "INVALID_ARGUMENT", f"Metadata size exceeds the limit of {MAX_METADATA_BYTES} bytes")
        ns = self.namespaces.setdefault(ns_name, {})
        sparse = self.sparse.setdefault(ns_name, {})
        for v in vectors:
            ns[v["id"]] = (v.get("values") or [], v.get("metadata") or {})
            if v.get("sparseValues"):
                sv = v["sparseValues"]
                sparse[v["id"]] = dict(zip(sv["indices"], map(float, sv["values"])))
            else:
                sparse.pop(v["id"], None)
        self.upsert_batches.append(len(vectors))
        self.upsert_bytes.append(size)
        self._wrote()
        return 200, {"upsertedCount": len(vectors)}

    def _record(self, ns_name: str, vid: str, rec: tuple[list[float], dict]) -> dict:
        out: dict[str, Any] = {"id": vid, "values": rec[0], "metadata": rec[1]}
        sv = self.sparse.get(ns_name, {}).get(vid)
        if sv:
            out["sparseValues"] = {"indices": list(sv), "values": list(sv.values())}
        return out

    def _values_error(self, v: dict) -> str | None:
        """What is wrong with a record's dense and sparse values for this index, or None."""
        values, sv = v.get("values") or [], v.get("sparseValues")
        if self.vector_type == "sparse":
            if values:
                return "Dense vectors are not supported for sparse indexes: send sparse_values only"
            if not sv:
                return f"Vector {v.get('id')} is missing sparse values, required for a sparse index"
        elif len(values) != self.dimension:
            return f"Vector dimension {len(values)} does not match the dimension of the index {self.dimension}"
        if sv is None:
            return None
        if self.vector_type == "dense" and self.metric != "dotproduct":
            return "Sparse values are supported only for indexes using the dotproduct metric"
        return _sparse_error(sv)

    def _query(self, ns_name: str, body: dict):
        top_k = body.get("topK", 0)
        sparse_query = body.get("sparseVector")
        if self.vector_type == "sparse":
            return self._sparse_query(ns_name, body, top_k, sparse_query)
        if sparse_query is not None:
            return _error(400, "INVALID_ARGUMENT", "this test server scores sparse queries on sparse indexes only")
        if not 1 <= top_k <= MAX_TOP_K:
            return _error(400, "INVALID_ARGUMENT", f"topK must be between 1 and {MAX_TOP_K}")
        q = np.asarray(body.get("vector") or [], dtype=np.float32)
        if q.shape != (self.dimension,):
            return _error(400, "INVALID_ARGUMENT", f"Query vector dimension {q.shape[0]} does not match "
                                                    f"the dimension of the index {self.dimension}")
        ns = self.view("query").get(ns_name, {})
        try:
            picked = [(vid, rec) for vid, rec in ns.items() if matches(rec[1], body.get("filter"))]
        except ValueError as exc:
            return _error(400, "INVALID_ARGUMENT", str(exc))
        scored = []
        qn = float(np.linalg.norm(q)) or 1.0
        for vid, (values, _) in picked:
            v = np.asarray(values, dtype=np.float32)
            if self.metric == "euclidean":
                score = float(np.sum((v - q) ** 2))  # a distance: lower is closer
            elif self.metric == "dotproduct":
                score = float(v @ q)
            else:
                score = float(v @ q / ((float(np.linalg.norm(v)) or 1.0) * qn))
            scored.append((score, vid))
        closer_first = 1 if self.metric == "euclidean" else -1
        scored.sort(key=lambda t: (closer_first * t[0], t[1]))
        return self._answer(ns_name, ns, scored[:top_k], body)

    def _sparse_query(self, ns_name: str, body: dict, top_k: int, sparse_query: dict | None):
        if not 1 <= top_k <= MAX_SPARSE_TOP_K:
            return _error(400, "INVALID_ARGUMENT", f"topK must be between 1 and {MAX_SPARSE_TOP_K} "
                                                    "for a sparse index")
        if body.get("vector"):
            return _error(400, "INVALID_ARGUMENT", "Dense vectors are not supported for sparse indexes")
        if not sparse_query:
            return _error(400, "INVALID_ARGUMENT", "A query of a sparse index needs a sparse vector")
        problem = _sparse_error(sparse_query)
        if problem:
            return _error(400, "INVALID_ARGUMENT", problem)
        q = dict(zip(sparse_query["indices"], map(float, sparse_query["values"])))
        ns = self.view("query").get(ns_name, {})
        sparse = self.sparse.get(ns_name, {})
        scored = []
        for vid, rec in ns.items():
            try:
                if not matches(rec[1], body.get("filter")):
                    continue
            except ValueError as exc:
                return _error(400, "INVALID_ARGUMENT", str(exc))
            doc = sparse.get(vid, {})
            score = sum(w * doc[i] for i, w in q.items() if i in doc)
            if score > 0:  # Pinecone discards records whose dotproduct is 0
                scored.append((score, vid))
        scored.sort(key=lambda t: (-t[0], t[1]))
        return self._answer(ns_name, ns, scored[:top_k], body)

    def _answer(self, ns_name: str, ns: dict, scored: list[tuple[float, str]], body: dict):
        units = self.control.query_read_units
        self.read_units += units
        out = []
        for score, vid in scored:
            m: dict[str, Any] = {"id": vid, "score": score, "values": ns[vid][0] if body.get("includeValues") else []}
            if body.get("includeMetadata"):
                m["metadata"] = ns[vid][1]
            out.append(m)
        return 200, {"matches": out, "namespace": ns_name, "usage": {"readUnits": units}}


class PineconeServer(JsonServer):
    """The control plane; `planes[index name]` is each index's data plane."""

    def __init__(self, api_key: str = "pc-test-key", ready_after: int = 0, *, stats_lag: float = 0.0,
                 query_lag: float = 0.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.api_key = api_key
        #: describes of a new index answering "Initializing" (no host) before it is ready
        self.ready_after = ready_after
        self.stats_lag = stats_lag
        self.query_lag = query_lag
        self.clock = clock
        #: what each query reports as usage.readUnits (Pinecone: by the namespace's size)
        self.query_read_units = 1
        self.indexes: dict[str, dict] = {}
        self.planes: dict[str, DataPlane] = {}
        self.lock = threading.Lock()

    def stop(self):
        for plane in list(self.planes.values()):
            plane.stop()
        super().stop()

    def plane(self, name: str) -> DataPlane:
        return self.planes[name]

    def settle(self) -> None:
        for plane in self.planes.values():
            plane.settle()

    def add_index(self, name: str, dimension: int | None, metric: str = "cosine", *, ready_after: int = 0,
                  deletion_protection: str = "disabled", tags: dict | None = None,
                  vector_type: str = "dense") -> DataPlane:
        """An index created elsewhere (the console, another process): it may still be Initializing."""
        with self.lock:
            self._add(name, dimension, metric, "aws", "us-east-1", deletion_protection, tags or {}, ready_after,
                      vector_type)
        return self.planes[name]

    def _add(self, name, dimension, metric, cloud, region, deletion_protection, tags, ready_after,
             vector_type="dense"):
        if vector_type == "sparse":
            dimension, metric = None, "dotproduct"  # sparse indexes are always dotproduct
        self.indexes[name] = {"dimension": dimension, "metric": metric, "cloud": cloud, "region": region,
                              "deletion_protection": deletion_protection, "tags": dict(tags), "describes": 0,
                              "ready_after": ready_after, "vector_type": vector_type}
        self.planes[name] = DataPlane(self, name, dimension, metric, vector_type).start()

    def _model(self, name: str) -> dict:
        i = self.indexes[name]
        ready = i["describes"] >= i["ready_after"]
        if i["vector_type"] == "sparse":
            fields = {"_sparse_values": {"type": "sparse_vector"}}
        else:
            fields = {"_values": {"type": "dense_vector", "dimension": i["dimension"], "metric": i["metric"]}}
        return {
            "name": name, "host": self.planes[name].url if ready else None,
            "status": {"ready": ready, "state": "Ready" if ready else "Initializing"},
            "schema": {"fields": fields},
            "deployment": {"deployment_type": "managed", "cloud": i["cloud"], "region": i["region"]},
            "deletion_protection": i["deletion_protection"], "tags": dict(i["tags"]),
        }

    def handle(self, method, path, query, body, headers):
        if headers.get("Api-Key") != self.api_key:
            return _error(401, "UNAUTHENTICATED", "Invalid API Key")
        parts = [p for p in path.split("/") if p]
        with self.lock:
            if parts == ["indexes"] and method == "GET":
                return 200, {"indexes": [self._model(n) for n in sorted(self.indexes)]}
            if parts == ["indexes"] and method == "POST":
                return self._create(body)
            if len(parts) == 2 and parts[0] == "indexes":
                name = parts[1]
                if name not in self.indexes:
                    return _error(404, "NOT_FOUND", f"Resource {name} not found")
                if method == "GET":
                    self.indexes[name]["describes"] += 1
                    return 200, self._model(name)
                if method == "PATCH":
                    if "deletion_protection" in body:
                        self.indexes[name]["deletion_protection"] = body["deletion_protection"]
                    for k, v in (body.get("tags") or {}).items():
                        if v == "":
                            self.indexes[name]["tags"].pop(k, None)  # Pinecone: an empty value removes a tag
                        else:
                            self.indexes[name]["tags"][k] = v
                    return 202, self._model(name)
                if method == "DELETE":
                    if self.indexes[name]["deletion_protection"] == "enabled":
                        return _error(403, "FORBIDDEN", f"Deletion protection is enabled for index '{name}'")
                    self.indexes.pop(name)
                    self.planes.pop(name).stop()
                    return 202, {}
        return _error(404, "NOT_FOUND", f"no route {method} {path}")

    def _create(self, body: dict):
        name = body.get("name", "")
        if name in self.indexes:
            return _error(409, "ALREADY_EXISTS", f"Resource {name} already exists")
        # Two wire shapes: the classic {dimension, metric, spec: {serverless}} and the schema form.
        vector_type = "dense"
        if "schema" in body:
            fields = body["schema"]["fields"]
            if list(fields) == ["_sparse_values"]:
                if fields["_sparse_values"].get("type") != "sparse_vector":
                    return _error(400, "INVALID_ARGUMENT", "_sparse_values must be a sparse_vector field")
                vector_type, dimension, metric = "sparse", None, "dotproduct"
            elif list(fields) == ["_values"]:
                field = fields["_values"]
                dimension, metric = field.get("dimension"), field.get("metric", "cosine")
            else:
                return _error(400, "INVALID_ARGUMENT", "this test server takes one _values or _sparse_values field")
            deployment = body.get("deployment") or {}
            cloud, region = deployment.get("cloud"), deployment.get("region")
        else:
            dimension, metric = body.get("dimension"), body.get("metric", "cosine")
            vector_type = body.get("vector_type") or "dense"
            if vector_type == "sparse" and (dimension is not None or metric != "dotproduct"):
                return _error(400, "INVALID_ARGUMENT", "a sparse index takes no dimension and metric dotproduct")
            serverless = (body.get("spec") or {}).get("serverless") or {}
            cloud, region = serverless.get("cloud"), serverless.get("region")
        if (vector_type == "dense" and not isinstance(dimension, int)) or not cloud or not region:
            return _error(400, "INVALID_ARGUMENT", "a serverless index needs dimension, cloud and region")
        tags = body.get("tags") or {}
        if any(not isinstance(v, str) or not v for v in tags.values()):
            return _error(400, "INVALID_ARGUMENT", "Tag values must be non-empty strings")
        self._add(name, dimension, metric, cloud, region, body.get("deletion_protection") or "disabled",
                  tags, self.ready_after, vector_type)
        return 201, self._model(name)
