"""The SQLite mirror: the design's constraints and indexes, migrations, concurrency settings."""

from __future__ import annotations

import sqlite3
from dataclasses import FrozenInstanceError

import pytest

from conftest import BIRD_FILES, BIRDS_NS
from core.mirror import Mirror, migrations
from core.records import NamespaceCounts, NamespaceRecord


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
    assert mirror.counts(ns.id) == NamespaceCounts(documents=1, vectors=1)
    mirror.delete_namespace_record(ns.id)
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
    unreferenced, referenced = mirror.unreferenced_pending(ns.id)
    assert sorted(unreferenced) == ["v0", "v1"] and referenced == []


def test_the_migrations_keep_their_names_and_order(tmp_path):
    """Existing mirror.sqlite files record the migrations they applied by name: the package split
    must keep every name, in order, so an old file opens with nothing pending."""
    mirror = Mirror(tmp_path / "m.sqlite")
    assert [m.name for m in migrations.applied(mirror.db)] == [
        "m001_create_namespaces", "m002_create_documents_and_vectors", "m003_create_monitoring",
        "m004_create_legacy_layout", "m005_usage_units", "m006_connected_repositories", "m007_namespace_index"]


def test_records_read_back_typed_and_frozen(tmp_path):
    mirror = Mirror(tmp_path / "m.sqlite")
    ns, _ = mirror.insert_namespace(record(index_profile="local"))
    assert isinstance(ns, NamespaceRecord) and ns == mirror.namespace_by_id(ns.id) == mirror.namespaces()[0]
    assert (ns.store_slug, ns.embedding_dim, ns.index_profile) == ("docs", 384, "local")
    with pytest.raises(FrozenInstanceError):
        ns.store_slug = "other"  # a snapshot of the row, never a handle to change it by
    assert mirror.counts(ns.id) == NamespaceCounts(documents=0, vectors=0)


def test_listings_have_one_shape_with_or_without_a_record(built):
    """namespaces() and browse_namespaces() return NamespaceStatus rows; a namespace found only in
    the index has no record and None counts, and the same JSON keys as a row with a record."""
    for rows in (built.namespaces(), built.browse_namespaces()):
        (row,) = rows
        assert row.record is not None and row.record.store_slug == "docs" and row.only_in is None
        assert row.documents == row.vectors == row.index_vectors == len(BIRD_FILES)
        assert row.last_ingest_status == "ok" and row.last_ingest == built.mirror.last_ingest(row.record.id).finished_at
    keys = list(row.to_dict())
    built.mirror.delete_namespace_record(row.record.id)  # as a mirror rebuilt elsewhere leaves it
    for rows in (built.namespaces(), built.browse_namespaces()):
        (orphan,) = rows
        assert (orphan.record, orphan.only_in, orphan.namespace_name) == (None, "index", BIRDS_NS)
        assert (orphan.documents, orphan.vectors, orphan.index_vectors) == (None, None, len(BIRD_FILES))
        assert (orphan.mirror_documents, orphan.mirror_vectors) == (0, 0)
        assert list(orphan.to_dict()) == keys and orphan.to_dict()["store_slug"] is None
