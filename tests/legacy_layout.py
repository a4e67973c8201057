"""Test scaffolding: a store written in the old layout (its own index and a `stores` row), standing
in for an existing one-index-per-store deployment (tests/test_migrate*.py, bench/migrate.py)."""

from __future__ import annotations

from typing import Iterable, Sequence

from core.migrate import LEGACY_NAMESPACE, legacy_index_name
from core.mirror import utcnow
from core.records import LegacyStore
from core.vectors.base import IndexSpec, VectorRecord


def create_legacy_store(service, workspace: str, slug: str, records: Sequence[VectorRecord],
                        documents: Iterable[dict] = ()) -> LegacyStore:
    """documents: {path, content_hash, size, mtime_ns, vector_ids}; returns the store as the mirror reads it."""
    profile = service.profile
    name = legacy_index_name(workspace, slug)
    index = service.backend.ensure_index(IndexSpec(name, profile.dimension, profile.metric,
                                                   tags={"platform": "lightfast", "layout": "legacy"}))
    now = utcnow()
    row = {"id": f"store_{workspace}_{slug}", "organization_id": service.config.organization,
           "workspace_id": workspace, "slug": slug, "index_name": name,
           "embedding_model": profile.embedding_model, "embedding_dim": profile.dimension,
           "chunk_max_tokens": 256, "chunk_overlap": 32, "created_at": now, "updated_at": now}
    db = service.mirror.db
    with service.mirror.write():
        db["stores"].insert(row)
        for doc in documents:
            doc_id = db["store_documents"].insert({
                "store_id": row["id"], "path": doc["path"], "content_hash": doc["content_hash"],
                "size": doc["size"], "mtime_ns": doc["mtime_ns"], "chunk_count": len(doc["vector_ids"]),
                "ingested_at": now,
            }).last_pk
            db["store_vector_entries"].insert_all(
                {"store_id": row["id"], "index_name": name, "vector_id": vid, "document_id": doc_id,
                 "chunk_index": i, "start_line": 1, "end_line": 1}
                for i, vid in enumerate(doc["vector_ids"]))
    for start in range(0, len(records), 1000):
        index.upsert(LEGACY_NAMESPACE, records[start:start + 1000])
    return next(s for s in service.mirror.legacy_stores(row["organization_id"]) if s.id == row["id"])
