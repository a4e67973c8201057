"""Pinecone's control plane and data plane, over plain HTTP on 127.0.0.1.

The control server answers /indexes; each created index gets its own data
server (its `host`), answering /vectors/*, /query and /describe_index_stats.
"""

from __future__ import annotations

import threading

import numpy as np

from tests.wire.base import JsonServer


def _error(status: int, code: str, message: str):
    return status, {"error": {"code": code, "message": message}, "status": status}


def _matches(metadata: dict, flt: dict | None) -> bool:
    from core.vectors.filters import matches

    return matches(metadata, flt)


class DataPlane(JsonServer):
    def __init__(self, control: "PineconeServer", name: str, dimension: int, metric: str):
        super().__init__()
        self.control, self.name, self.dimension, self.metric = control, name, dimension, metric
        self.faults = control.faults  # one fault plan for the whole service
        self.namespaces: dict[str, dict[str, tuple[list[float], dict]]] = {}
        self.lock = threading.Lock()
        self.upsert_batches: list[int] = []

    def handle(self, method, path, query, body, headers):
        if headers.get("Api-Key") != self.control.api_key:
            return _error(401, "UNAUTHENTICATED", "Invalid API Key")
        ns_name = body.get("namespace", "") if method == "POST" else query.get("namespace", [""])[0]
        with self.lock:
            ns = self.namespaces.setdefault(ns_name, {})
            if path == "/vectors/upsert":
                vectors = body["vectors"]
                if len(vectors) > 1000:
                    return _error(400, "INVALID_ARGUMENT", "upsert of more than 1000 records")
                for v in vectors:
                    if len(v["values"]) != self.dimension:
                        return _error(400, "INVALID_ARGUMENT", f"Vector dimension {len(v['values'])} does not match "
                                                                f"the dimension of the index {self.dimension}")
                    ns[v["id"]] = (v["values"], v.get("metadata") or {})
                self.upsert_batches.append(len(vectors))
                return 200, {"upsertedCount": len(vectors)}
            if path == "/query":
                q = np.asarray(body["vector"], dtype=np.float32)
                scored = []
                for vid, (values, metadata) in ns.items():
                    if not _matches(metadata, body.get("filter")):
                        continue
                    v = np.asarray(values, dtype=np.float32)
                    score = float(v @ q / ((np.linalg.norm(v) * np.linalg.norm(q)) or 1.0))
                    scored.append((score, vid))
                scored.sort(key=lambda t: -t[0])
                matches = [{"id": vid, "score": score, "values": [],
                            **({"metadata": ns[vid][1]} if body.get("includeMetadata") else {})}
                           for score, vid in scored[: body["topK"]]]
                return 200, {"matches": matches, "namespace": ns_name, "usage": {"readUnits": 1}}
            if path == "/vectors/fetch":
                found = {vid: {"id": vid, "values": ns[vid][0], "metadata": ns[vid][1]}
                         for vid in query.get("ids", []) if vid in ns}
                return 200, {"vectors": found, "namespace": ns_name, "usage": {"readUnits": 1}}
            if path == "/vectors/delete":
                if body.get("deleteAll"):
                    ns.clear()
                for vid in body.get("ids") or []:
                    ns.pop(vid, None)
                return 200, {}
            if path == "/vectors/list":
                prefix = query.get("prefix", [""])[0]
                limit = int(query.get("limit", ["100"])[0])
                after = query.get("paginationToken", [""])[0]
                ids = sorted(i for i in ns if i.startswith(prefix) and i > after)
                page = ids[:limit]
                pagination = {"next": page[-1]} if len(ids) > limit else None
                out = {"vectors": [{"id": i} for i in page], "namespace": ns_name, "usage": {"readUnits": 1}}
                if pagination:
                    out["pagination"] = pagination
                return 200, out
            if path == "/describe_index_stats":
                counts = {n: {"vectorCount": len(v)} for n, v in self.namespaces.items() if v}
                return 200, {"namespaces": counts, "dimension": self.dimension, "indexFullness": 0.0,
                             "totalVectorCount": sum(c["vectorCount"] for c in counts.values())}
        return _error(404, "NOT_FOUND", f"no route {method} {path}")


class PineconeServer(JsonServer):
    def __init__(self, api_key: str = "pc-test-key"):
        super().__init__()
        self.api_key = api_key
        self.indexes: dict[str, dict] = {}
        self.planes: dict[str, DataPlane] = {}

    def stop(self):
        for plane in self.planes.values():
            plane.stop()
        super().stop()

    def _model(self, name: str) -> dict:
        i = self.indexes[name]
        return {
            "name": name, "host": self.planes[name].url,
            "status": {"ready": True, "state": "Ready"},
            "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": i["dimension"], "metric": i["metric"]}}},
            "deployment": {"deployment_type": "managed", "cloud": i["cloud"], "region": i["region"]},
            "deletion_protection": i["deletion_protection"], "tags": i["tags"],
        }

    def handle(self, method, path, query, body, headers):
        if headers.get("Api-Key") != self.api_key:
            return _error(401, "UNAUTHENTICATED", "Invalid API Key")
        parts = [p for p in path.split("/") if p]
        if parts == ["indexes"] and method == "GET":
            return 200, {"indexes": [self._model(n) for n in sorted(self.indexes)]}
        if parts == ["indexes"] and method == "POST":
            name = body["name"]
            if name in self.indexes:
                return _error(409, "ALREADY_EXISTS", f"Resource {name} already exists")
            field = next(iter(body["schema"]["fields"].values()))
            self.indexes[name] = {"dimension": field["dimension"], "metric": field.get("metric", "cosine"),
                                  "cloud": body["deployment"]["cloud"], "region": body["deployment"]["region"],
                                  "deletion_protection": body.get("deletion_protection", "disabled"),
                                  "tags": body.get("tags") or {}}
            self.planes[name] = DataPlane(self, name, field["dimension"], field.get("metric", "cosine")).start()
            return 201, self._model(name)
        if len(parts) == 2 and parts[0] == "indexes":
            name = parts[1]
            if name not in self.indexes:
                return _error(404, "NOT_FOUND", f"Resource {name} not found")
            if method == "GET":
                return 200, self._model(name)
            if method == "PATCH":
                if "deletion_protection" in body:
                    self.indexes[name]["deletion_protection"] = body["deletion_protection"]
                self.indexes[name]["tags"].update(body.get("tags") or {})
                return 200, self._model(name)
            if method == "DELETE":
                if self.indexes[name]["deletion_protection"] == "enabled":
                    return _error(403, "FORBIDDEN", "Deletion protection is enabled for this index")
                self.indexes.pop(name)
                self.planes.pop(name).stop()
                return 202, {}
        return _error(404, "NOT_FOUND", f"no route {method} {path}")
