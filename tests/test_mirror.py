"""The SQLite mirror: the design's constraints and indexes, migrations, concurrency settings."""

from __future__ import annotations

import sqlite3

import pytest

from core.mirror import Mirror, migrations


def record(**over):
    base = {
        "id": "local/acme/web/docs", "organization_id": "acme", "workspace_id": "web",
        "store_slug": "docs", "namespace_name": "org_acme:ws_web:store_docs", "environment": "local",
        "index_name": "lightfast-local-v1", "chunk_max_tokens": 256, "chunk_overlap": 32,
        "embedding_provider": "local", "embedding_model": "all-MiniLM-L6-v2", "embedding_dim": 384,
    }
    return {**base, **over}


def test_schema_has_the_designs_indexes_and_wal(tmp_path):
    mirror = Mirror(tmp_path / "m.sqlite")
    indexes = {r["name"] for r in mirror.rows("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"idx_namespaces_org", "idx_namespaces_ws", "idx_namespaces_env",
            "uq_namespaces_ws_slug", "uq_namespaces_env_name"} <= indexes
    assert mirror.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = [m.name for m in migrations.applied(mirror.db)]
    assert applied[:3] == ["m001_create_namespaces", "m002_create_documents_and_vectors",
                           "m003_create_monitoring"]
    # Re-opening applies nothing twice.
    assert migrations.pending(Mirror(tmp_path / "m.sqlite").db) == []


def test_insert_is_idempotent_and_returns_the_winner(tmp_path):
    mirror = Mirror(tmp_path / "m.sqlite")
    first, created = mirror.insert_namespace(record())
    assert created
    again, created = mirror.insert_namespace(record(chunk_max_tokens=999))
    assert not created and again == first


# m001's columns, named: later migrations add columns (m007 index_profile) that these copies leave NULL.
M001_COLUMNS = ("id, organization_id, workspace_id, store_slug, namespace_name, environment, index_name, "
                "chunk_max_tokens, chunk_overlap, embedding_provider, embedding_model, embedding_dim, "
                "created_at, updated_at")


def test_unique_keys_hold_at_the_database_level(tmp_path):
    mirror = Mirror(tmp_path / "m.sqlite")
    mirror.insert_namespace(record())
    with pytest.raises(sqlite3.IntegrityError):  # same workspace + slug in one environment
        with mirror.write() as conn:
            conn.execute(f"INSERT INTO namespaces ({M001_COLUMNS}) SELECT "
                         "'other', organization_id, workspace_id, store_slug, "
                         "'other-name', environment, index_name, chunk_max_tokens, chunk_overlap, "
                         "embedding_provider, embedding_model, embedding_dim, created_at, updated_at FROM namespaces")
    with pytest.raises(sqlite3.IntegrityError):  # same namespace name in one environment
        with mirror.write() as conn:
            conn.execute(f"INSERT INTO namespaces ({M001_COLUMNS}) SELECT "
                         "'other', organization_id, workspace_id, 'other-slug', "
                         "namespace_name, environment, index_name, chunk_max_tokens, chunk_overlap, "
                         "embedding_provider, embedding_model, embedding_dim, created_at, updated_at FROM namespaces")
    # The same store in another environment is its own namespace.
    _, created = mirror.insert_namespace(record(id="production/acme/web/docs", environment="production"))
    assert created


def test_deleting_a_record_cascades(tmp_path):
    mirror = Mirror(tmp_path / "m.sqlite")
    ns, _ = mirror.insert_namespace(record())
    mirror.replace_documents(ns, [{"path": "a.md", "content_hash": "h", "size": 1, "mtime_ns": 1, "chunk_count": 1}],
                             {"a.md": [{"vector_id": "v1", "chunk_index": 0, "start_line": 1, "end_line": 1}]})
    assert mirror.counts(ns["id"]) == {"documents": 1, "vectors": 1}
    mirror.delete_namespace_record(ns["id"])
    assert mirror.rows("SELECT * FROM documents") == [] and mirror.rows("SELECT * FROM vector_entries") == []


def test_replacing_a_document_journals_its_stale_ids(tmp_path):
    mirror = Mirror(tmp_path / "m.sqlite")
    ns, _ = mirror.insert_namespace(record())
    doc = {"path": "a.md", "content_hash": "h1", "size": 1, "mtime_ns": 1, "chunk_count": 2}
    entries = [{"vector_id": f"v{i}", "chunk_index": i, "start_line": 1, "end_line": 1} for i in range(2)]
    assert mirror.replace_documents(ns, [doc], {"a.md": entries}) == []
    stale = mirror.replace_documents(ns, [{**doc, "content_hash": "h2", "chunk_count": 1}],
                                     {"a.md": [{"vector_id": "w0", "chunk_index": 0, "start_line": 1, "end_line": 1}]})
    assert sorted(stale) == ["v0", "v1"]
    unreferenced, referenced = mirror.unreferenced_pending(ns["id"])
    assert sorted(unreferenced) == ["v0", "v1"] and referenced == []
