"""The mirror's schema, as numbered migrations (sqlite-utils Migrations, applied on open).

Never edit or renumber one: existing mirror.sqlite files record which they applied.
"""

import sqlite_utils
from sqlite_utils import Migrations

migrations = Migrations("lightfast.mirror")


@migrations()
def m001_create_namespaces(db: sqlite_utils.Database) -> None:
    # Unique keys carry the environment: one local mirror may hold the same store
    # for several environments (local, staging, production), each its own namespace.
    db.executescript(
        """
        CREATE TABLE namespaces (
            id TEXT PRIMARY KEY,
            organization_id TEXT NOT NULL,
            workspace_id TEXT NOT NULL,
            store_slug TEXT NOT NULL,
            namespace_name TEXT NOT NULL,
            environment TEXT NOT NULL DEFAULT 'production',
            index_name TEXT NOT NULL,
            chunk_max_tokens INTEGER NOT NULL,
            chunk_overlap INTEGER NOT NULL,
            embedding_provider TEXT NOT NULL,
            embedding_model TEXT NOT NULL,
            embedding_dim INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX idx_namespaces_org ON namespaces(organization_id);
        CREATE INDEX idx_namespaces_ws ON namespaces(workspace_id);
        CREATE INDEX idx_namespaces_env ON namespaces(environment);
        CREATE UNIQUE INDEX uq_namespaces_ws_slug
            ON namespaces(environment, organization_id, workspace_id, store_slug);
        CREATE UNIQUE INDEX uq_namespaces_env_name ON namespaces(environment, namespace_name);
        """
    )


@migrations()
def m002_create_documents_and_vectors(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            namespace_id TEXT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            chunk_count INTEGER NOT NULL,
            ingested_at TEXT NOT NULL,
            UNIQUE(namespace_id, path)
        );
        CREATE TABLE vector_entries (
            namespace_id TEXT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
            vector_id TEXT NOT NULL,
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            environment TEXT NOT NULL,
            chunk_index INTEGER NOT NULL,
            start_line INTEGER NOT NULL,
            end_line INTEGER NOT NULL,
            PRIMARY KEY (namespace_id, vector_id)
        );
        CREATE INDEX idx_vector_entries_doc ON vector_entries(document_id);
        -- Ids that may exist in the index without a vector_entries row: written
        -- before an upsert or after a document's ids were replaced. Ingest
        -- deletes the unreferenced ones from the index, then clears the rows.
        CREATE TABLE pending_vectors (
            namespace_id TEXT NOT NULL,
            vector_id TEXT NOT NULL,
            PRIMARY KEY (namespace_id, vector_id)
        );
        """
    )


@migrations()
def m003_create_monitoring(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE query_log (
            id INTEGER PRIMARY KEY,
            namespace_id TEXT,
            namespace_name TEXT NOT NULL,
            environment TEXT NOT NULL,
            latency_ms REAL NOT NULL,
            top_k INTEGER NOT NULL,
            hits INTEGER NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX idx_query_log_ns ON query_log(namespace_name);
        CREATE TABLE ingest_runs (
            id INTEGER PRIMARY KEY,
            namespace_id TEXT NOT NULL,
            store_slug TEXT NOT NULL,
            environment TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            added INTEGER NOT NULL DEFAULT 0,
            changed INTEGER NOT NULL DEFAULT 0,
            removed INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            chunks_embedded INTEGER NOT NULL DEFAULT 0,
            vectors_upserted INTEGER NOT NULL DEFAULT 0,
            vectors_deleted INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            error TEXT
        );
        """
    )


@migrations()
def m004_create_legacy_layout(db: sqlite_utils.Database) -> None:
    # The design's old schema (one index per store) and the migration's own state.
    db.executescript(
        """
        CREATE TABLE stores (
            id TEXT PRIMARY KEY,
            organization_id TEXT NOT NULL,
            workspace_id TEXT NOT NULL,
            slug TEXT NOT NULL,
            index_name TEXT NOT NULL,
            embedding_model TEXT NOT NULL,
            embedding_dim INTEGER NOT NULL,
            chunk_max_tokens INTEGER NOT NULL,
            chunk_overlap INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deprecated_at TEXT,
            UNIQUE(workspace_id, slug)
        );
        CREATE TABLE store_documents (
            id INTEGER PRIMARY KEY,
            store_id TEXT NOT NULL REFERENCES stores(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            chunk_count INTEGER NOT NULL,
            ingested_at TEXT NOT NULL,
            UNIQUE(store_id, path)
        );
        CREATE TABLE store_vector_entries (
            store_id TEXT NOT NULL REFERENCES stores(id) ON DELETE CASCADE,
            index_name TEXT NOT NULL,
            vector_id TEXT NOT NULL,
            document_id INTEGER NOT NULL REFERENCES store_documents(id) ON DELETE CASCADE,
            chunk_index INTEGER NOT NULL,
            start_line INTEGER NOT NULL,
            end_line INTEGER NOT NULL,
            PRIMARY KEY (store_id, vector_id)
        );
        CREATE TABLE migration_stores (
            store_id TEXT PRIMARY KEY REFERENCES stores(id),
            namespace_id TEXT NOT NULL,
            namespace_created INTEGER NOT NULL,
            status TEXT NOT NULL,            -- registered | copying | copied | verified | cutover
            copied INTEGER NOT NULL DEFAULT 0,
            last_id TEXT,                    -- checkpoint: ids are copied in sorted order
            updated_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m005_usage_units(db: sqlite_utils.Database) -> None:
    # What the services billed, as their responses report it (core/usage.py); NULL when
    # nothing was reported (the local backend and model, or a run from before this column).
    # A search's query embedding and rerank are recorded on its first namespace's row.
    db.executescript(
        """
        ALTER TABLE query_log ADD COLUMN read_units REAL;
        ALTER TABLE query_log ADD COLUMN embed_tokens REAL;
        ALTER TABLE query_log ADD COLUMN rerank_units REAL;
        ALTER TABLE ingest_runs ADD COLUMN read_units REAL;
        ALTER TABLE ingest_runs ADD COLUMN embed_tokens REAL;
        """
    )


@migrations()
def m006_connected_repositories(db: sqlite_utils.Database) -> None:
    # The design's connected_repositories: a GitHub repository whose pushes are ingested into
    # the stores of a lightfast.yml, from a local clone. webhook_deliveries remembers delivery
    # ids, so a redelivered (replayed) push is ignored.
    db.executescript(
        """
        CREATE TABLE connected_repositories (
            id INTEGER PRIMARY KEY,
            full_name TEXT NOT NULL UNIQUE,
            clone_url TEXT,
            clone_path TEXT NOT NULL,
            config_path TEXT NOT NULL,
            branch TEXT NOT NULL,
            last_sha TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE webhook_deliveries (
            delivery_id TEXT PRIMARY KEY,
            repository TEXT NOT NULL,
            received_at TEXT NOT NULL,
            status TEXT NOT NULL,
            detail TEXT
        );
        """
    )


@migrations()
def m007_namespace_index(db: sqlite_utils.Database) -> None:
    # Which profile's index holds each namespace: the environment's own, or an overflow index
    # (limits.overflow) once the environment's index nears its namespace limit. Existing rows
    # all live in their environment's index. Counting per index is what routing asks most.
    db.executescript(
        """
        ALTER TABLE namespaces ADD COLUMN index_profile TEXT;
        UPDATE namespaces SET index_profile = environment WHERE index_profile IS NULL;
        CREATE INDEX idx_namespaces_index ON namespaces(index_name);
        """
    )
