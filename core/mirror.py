"""The local mirror of namespace records, documents and vector entries (SQLite).

Tables follow the design's schema: `namespaces` is its
`lightfast_pinecone_namespaces`; `documents` and `vector_entries` point at a
namespace; `pending_vectors` is the write-ahead journal that lets an ingest
killed at any moment converge on the next run; `query_log` and `ingest_runs`
feed monitoring. Several processes (CLI, TUI, MCP server, watcher) share the
file: WAL mode, a busy timeout, and writes in BEGIN IMMEDIATE transactions.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import sqlite_utils
from sqlite_utils import Migrations

from core.errors import MirrorDamagedError
from core.locks import file_lock
from core.storage import read_only_connection

BUSY_TIMEOUT_S = 30.0

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


def _read_only_fs(folder: Path) -> bool:
    """True when folder lives on a file system mounted read-only."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def mirror_damaged(path: Path, problem: str) -> MirrorDamagedError:
    return MirrorDamagedError(
        f"{path}: {problem}: the mirror was damaged outside Lightfast; recover with "
        "`lightfast doctor --repair` (it moves the file aside and rebuilds the records from the index)"
    )


@contextmanager
def damage_as_error(path: Path) -> Iterator[None]:
    """A page SQLite cannot read ("malformed", "not a database") as MirrorDamagedError.

    Only the exact DatabaseError type: locked, busy, full or read-only files are
    OperationalErrors, which core.storage and the lock code handle.
    """
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if type(exc) is not sqlite3.DatabaseError:
            raise
        raise mirror_damaged(path, str(exc)) from None


class _CheckedConnection(sqlite3.Connection):
    """Every statement of the mirror reports damage as MirrorDamagedError, never a traceback."""

    mirror_path: Path

    def execute(self, *args):
        with damage_as_error(self.mirror_path):
            return super().execute(*args)

    def executemany(self, *args):
        with damage_as_error(self.mirror_path):
            return super().executemany(*args)

    def executescript(self, *args):
        with damage_as_error(self.mirror_path):
            return super().executescript(*args)


def move_aside(path: Path, stamp: str) -> Path:
    """Rename a damaged SQLite file (and its -wal/-shm) to `<name>.damaged-<stamp>`; returns the new path."""
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = path.with_name(path.name + suffix)
        if src.exists():
            os.replace(src, target.with_name(target.name + suffix))
    return target


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Mirror:
    """One SQLite file; a connection per thread; schema migrated on open."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.read_only = False
        with damage_as_error(self.path):
            self._open()

    def _open(self) -> None:
        if self.path.exists() and not os.access(self.path.parent, os.W_OK) or _read_only_fs(self.path.parent):
            # A read-only data dir can still be searched: open the file as immutable.
            self.read_only = True
            if migrations.pending(self.db):
                raise sqlite3.OperationalError("attempt to write a readonly database (schema needs migrating)")
            return
        # Two processes opening a new mirror must not both run the migrations.
        with file_lock(self.path.with_suffix(".migrate.lock"), what=str(self.path)):
            migrations.apply(self.db)

    # -- connections and transactions -------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.read_only:
                conn = read_only_connection(self.path)
                conn.row_factory = sqlite3.Row
            else:
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False,
                    factory=_CheckedConnection,
                )
                conn.mirror_path = self.path
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_utils.Database(self.conn)
            self._local.db = db
        return db

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so it never fails halfway on a busy lock."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with damage_as_error(self.path):  # a damaged page may be met while iterating
            return [dict(r) for r in self.conn.execute(sql, tuple(params))]

    def integrity_problem(self) -> str | None:
        """SQLite's quick_check: None when the file is sound, else its first complaint. Reads the whole file."""
        with damage_as_error(self.path):
            found = [r[0] for r in self.conn.execute("PRAGMA quick_check(5)")]
        return None if found == ["ok"] else "; ".join(found)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            self._local.db = None

    # -- namespace records -------------------------------------------------
    def get_namespace(self, environment: str, org: str, workspace: str, store: str) -> dict | None:
        found = self.rows(
            "SELECT * FROM namespaces WHERE environment=? AND organization_id=? "
            "AND workspace_id=? AND store_slug=?",
            (environment, org, workspace, store),
        )
        return found[0] if found else None

    def namespace_by_id(self, namespace_id: str) -> dict | None:
        found = self.rows("SELECT * FROM namespaces WHERE id=?", (namespace_id,))
        return found[0] if found else None

    def namespace_by_name(self, environment: str, name: str) -> dict | None:
        found = self.rows(
            "SELECT * FROM namespaces WHERE environment=? AND namespace_name=?", (environment, name)
        )
        return found[0] if found else None

    def insert_namespace(self, record: dict[str, Any]) -> tuple[dict, bool]:
        """Insert unless a row with the same keys exists; returns (the stored row, created)."""
        now = utcnow()
        row = {"created_at": now, "updated_at": now, **record}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.write() as conn:
            cur = conn.execute(
                f"INSERT OR IGNORE INTO namespaces ({cols}) VALUES ({marks})", tuple(row.values())
            )
            created = cur.rowcount == 1
        stored = self.namespace_by_id(row["id"]) or self.get_namespace(
            row["environment"], row["organization_id"], row["workspace_id"], row["store_slug"]
        ) or self.namespace_by_name(row["environment"], row["namespace_name"])
        assert stored is not None
        return stored, created

    def namespaces(
        self,
        environment: str | None = None,
        organization: str | None = None,
        workspace: str | None = None,
        stores: Iterable[str] | None = None,
    ) -> list[dict]:
        where, params = [], []
        for column, value in (
            ("environment", environment),
            ("organization_id", organization),
            ("workspace_id", workspace),
        ):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        if stores is not None:
            stores = list(stores)
            where.append(f"store_slug IN ({', '.join('?' for _ in stores)})")
            params.extend(stores)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return self.rows(
            f"SELECT * FROM namespaces{clause} ORDER BY environment, organization_id, "
            "workspace_id, store_slug",
            params,
        )

    def namespaces_per_index(self) -> dict[str, int]:
        """Namespace records per physical index (every environment: the plan's limit is per index)."""
        return {r[0]: r[1] for r in self.conn.execute(
            "SELECT index_name, COUNT(*) FROM namespaces GROUP BY index_name")}

    def organization_indexes(self, environment: str, organization: str) -> set[str]:
        """The indexes that hold this organization's namespaces in this environment."""
        return {r[0] for r in self.conn.execute(
            "SELECT DISTINCT index_name FROM namespaces WHERE environment=? AND organization_id=?",
            (environment, organization))}

    def delete_namespace_record(self, namespace_id: str) -> None:
        """Remove a namespace record with its documents, entries and journal rows."""
        with self.write() as conn:
            conn.execute("DELETE FROM pending_vectors WHERE namespace_id=?", (namespace_id,))
            conn.execute("DELETE FROM namespaces WHERE id=?", (namespace_id,))

    def clear_documents(self, namespace_id: str) -> None:
        """Forget a namespace's documents, entries and journal (its index namespace was emptied)."""
        with self.write() as conn:
            conn.execute("DELETE FROM documents WHERE namespace_id=?", (namespace_id,))
            conn.execute("DELETE FROM pending_vectors WHERE namespace_id=?", (namespace_id,))

    # -- documents and vector entries ---------------------------------------
    def documents(self, namespace_id: str) -> dict[str, dict]:
        return {
            r["path"]: r
            for r in self.rows("SELECT * FROM documents WHERE namespace_id=?", (namespace_id,))
        }

    def vector_ids(self, namespace_id: str) -> set[str]:
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT vector_id FROM vector_entries WHERE namespace_id=?", (namespace_id,)
            )
        }

    def vector_paths(self, namespace_id: str) -> dict[str, str]:
        """vector id -> the path of the document that holds it."""
        return {
            r[0]: r[1]
            for r in self.conn.execute(
                "SELECT v.vector_id, d.path FROM vector_entries v JOIN documents d ON d.id = v.document_id "
                "WHERE v.namespace_id=?", (namespace_id,),
            )
        }

    def document_vector_ids(self, document_id: int) -> list[str]:
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT vector_id FROM vector_entries WHERE document_id=? ORDER BY chunk_index",
                (document_id,),
            )
        ]

    def chunk_neighbours(self, namespace_id: str, vector_id: str, radius: int) -> list[dict]:
        """The entry for vector_id and up to radius entries either side in its document."""
        found = self.rows(
            "SELECT v.*, d.path FROM vector_entries v JOIN documents d ON d.id = v.document_id "
            "WHERE v.namespace_id=? AND v.vector_id=?",
            (namespace_id, vector_id),
        )
        if not found:
            return []
        entry = found[0]
        return self.rows(
            "SELECT v.*, d.path FROM vector_entries v JOIN documents d ON d.id = v.document_id "
            "WHERE v.document_id=? AND v.chunk_index BETWEEN ? AND ? ORDER BY v.chunk_index",
            (entry["document_id"], entry["chunk_index"] - radius, entry["chunk_index"] + radius),
        )

    def set_pending(self, namespace_id: str, vector_ids: Iterable[str]) -> None:
        with self.write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO pending_vectors (namespace_id, vector_id) VALUES (?, ?)",
                [(namespace_id, v) for v in vector_ids],
            )

    def unreferenced_pending(self, namespace_id: str) -> tuple[list[str], list[str]]:
        """(pending ids no entry references, pending ids an entry references)."""
        rows = self.conn.execute(
            "SELECT p.vector_id, v.vector_id IS NOT NULL FROM pending_vectors p "
            "LEFT JOIN vector_entries v ON v.namespace_id = p.namespace_id "
            "AND v.vector_id = p.vector_id WHERE p.namespace_id=?",
            (namespace_id,),
        ).fetchall()
        return [r[0] for r in rows if not r[1]], [r[0] for r in rows if r[1]]

    def clear_pending(self, namespace_id: str, vector_ids: Iterable[str]) -> None:
        with self.write() as conn:
            conn.executemany(
                "DELETE FROM pending_vectors WHERE namespace_id=? AND vector_id=?",
                [(namespace_id, v) for v in vector_ids],
            )

    def replace_documents(
        self, namespace: dict, docs: list[dict], entries: dict[str, list[dict]]
    ) -> list[str]:
        """Point documents at their new vector entries in one transaction.

        docs: rows for the documents table (path, content_hash, size, mtime_ns,
        chunk_count); entries: path -> entry rows. Returns the vector ids that
        the replaced documents held and no longer hold: they are journalled as
        pending, for the caller to delete from the index.
        """
        ns_id = namespace["id"]
        stale: list[str] = []
        now = utcnow()
        with self.write() as conn:
            for doc in docs:
                old = conn.execute(
                    "SELECT id FROM documents WHERE namespace_id=? AND path=?", (ns_id, doc["path"])
                ).fetchone()
                new_ids = {e["vector_id"] for e in entries[doc["path"]]}
                if old is not None:
                    old_ids = [
                        r[0]
                        for r in conn.execute(
                            "SELECT vector_id FROM vector_entries WHERE document_id=?", (old[0],)
                        )
                    ]
                    stale.extend(v for v in old_ids if v not in new_ids)
                    conn.execute("DELETE FROM vector_entries WHERE document_id=?", (old[0],))
                    conn.execute(
                        "UPDATE documents SET content_hash=?, size=?, mtime_ns=?, chunk_count=?, "
                        "ingested_at=? WHERE id=?",
                        (doc["content_hash"], doc["size"], doc["mtime_ns"], doc["chunk_count"], now, old[0]),
                    )
                    doc_id = old[0]
                else:
                    doc_id = conn.execute(
                        "INSERT INTO documents (namespace_id, path, content_hash, size, mtime_ns, "
                        "chunk_count, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (ns_id, doc["path"], doc["content_hash"], doc["size"], doc["mtime_ns"],
                         doc["chunk_count"], now),
                    ).lastrowid
                conn.executemany(
                    "INSERT OR REPLACE INTO vector_entries (namespace_id, vector_id, document_id, "
                    "environment, chunk_index, start_line, end_line) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (ns_id, e["vector_id"], doc_id, namespace["environment"], e["chunk_index"],
                         e["start_line"], e["end_line"])
                        for e in entries[doc["path"]]
                    ],
                )
            conn.executemany(
                "INSERT OR IGNORE INTO pending_vectors (namespace_id, vector_id) VALUES (?, ?)",
                [(ns_id, v) for v in stale],
            )
            conn.execute("UPDATE namespaces SET updated_at=? WHERE id=?", (now, ns_id))
        return stale

    def update_stat(self, namespace_id: str, path: str, size: int, mtime_ns: int) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE documents SET size=?, mtime_ns=? WHERE namespace_id=? AND path=?",
                (size, mtime_ns, namespace_id, path),
            )

    def remove_documents(self, namespace_id: str, paths: Iterable[str]) -> list[str]:
        """Delete documents and their entries; their vector ids become pending deletes."""
        ids: list[str] = []
        with self.write() as conn:
            for path in paths:
                row = conn.execute(
                    "SELECT id FROM documents WHERE namespace_id=? AND path=?", (namespace_id, path)
                ).fetchone()
                if row is None:
                    continue
                ids.extend(
                    r[0]
                    for r in conn.execute(
                        "SELECT vector_id FROM vector_entries WHERE document_id=?", (row[0],)
                    )
                )
                conn.execute("DELETE FROM documents WHERE id=?", (row[0],))
            conn.executemany(
                "INSERT OR IGNORE INTO pending_vectors (namespace_id, vector_id) VALUES (?, ?)",
                [(namespace_id, v) for v in ids],
            )
        return ids

    # -- monitoring ---------------------------------------------------------
    def log_queries(self, rows: list[dict]) -> None:
        """rows may carry read_units, embed_tokens and rerank_units (absent: not reported)."""
        now = utcnow()
        with self.write() as conn:
            conn.executemany(
                "INSERT INTO query_log (namespace_id, namespace_name, environment, latency_ms, "
                "top_k, hits, at, read_units, embed_tokens, rerank_units) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (r["namespace_id"], r["namespace_name"], r["environment"], r["latency_ms"],
                     r["top_k"], r["hits"], now, r.get("read_units"), r.get("embed_tokens"),
                     r.get("rerank_units"))
                    for r in rows
                ],
            )

    def start_ingest_run(self, namespace: dict) -> int:
        with self.write() as conn:
            return conn.execute(
                "INSERT INTO ingest_runs (namespace_id, store_slug, environment, started_at, status) "
                "VALUES (?, ?, ?, ?, 'running')",
                (namespace["id"], namespace["store_slug"], namespace["environment"], utcnow()),
            ).lastrowid

    def finish_ingest_run(self, run_id: int, status: str, counts: dict[str, int], error: str | None,
                          usage: dict[str, float | None] | None = None) -> None:
        """usage: read_units and embed_tokens as the services reported them (None: not reported)."""
        fields = [
            "added", "changed", "removed", "unchanged", "chunks_embedded",
            "vectors_upserted", "vectors_deleted", "failed", "skipped",
        ]
        usage = usage or {}
        with self.write() as conn:
            conn.execute(
                f"UPDATE ingest_runs SET finished_at=?, status=?, error=?, read_units=?, embed_tokens=?, "
                f"{', '.join(f'{f}=?' for f in fields)} WHERE id=?",
                (utcnow(), status, error, usage.get("read_units"), usage.get("embed_tokens"),
                 *[counts.get(f, 0) for f in fields], run_id),
            )

    def mark_interrupted_runs(self) -> int:
        """Runs still 'running' become 'interrupted'; call only while holding the writer lock,
        when no other process can be running one (a killed run never finished its record)."""
        with self.write() as conn:
            return conn.execute(
                "UPDATE ingest_runs SET status='interrupted', finished_at=?, "
                "error='the process stopped before the run finished (killed or crashed)' "
                "WHERE status='running'", (utcnow(),)).rowcount

    def last_ingest(self, namespace_id: str) -> dict | None:
        found = self.rows(
            "SELECT * FROM ingest_runs WHERE namespace_id=? ORDER BY id DESC LIMIT 1", (namespace_id,)
        )
        return found[0] if found else None

    def counts(self, namespace_id: str) -> dict[str, int]:
        docs = self.conn.execute(
            "SELECT COUNT(*) FROM documents WHERE namespace_id=?", (namespace_id,)
        ).fetchone()[0]
        vecs = self.conn.execute(
            "SELECT COUNT(*) FROM vector_entries WHERE namespace_id=?", (namespace_id,)
        ).fetchone()[0]
        return {"documents": docs, "vectors": vecs}

    def namespace_summaries(self) -> list[dict]:
        """Every namespace record with its document and vector counts and its last ingest run.

        One query for the whole mirror, so a browser of 1,000 records opens at once.
        """
        return self.rows(
            """
            SELECT n.*,
                   (SELECT COUNT(*) FROM documents d WHERE d.namespace_id = n.id) AS documents,
                   (SELECT COUNT(*) FROM vector_entries v WHERE v.namespace_id = n.id) AS vectors,
                   r.finished_at AS last_ingest, r.status AS last_ingest_status
            FROM namespaces n
            LEFT JOIN ingest_runs r ON r.id = (
                SELECT MAX(id) FROM ingest_runs WHERE namespace_id = n.id)
            ORDER BY n.environment, n.organization_id, n.workspace_id, n.store_slug
            """
        )

    # -- connected repositories and webhook deliveries (m006) ---------------------------
    def connect_repository(self, record: dict[str, Any]) -> dict:
        """Insert or update the connected repository with this full_name; returns the stored row."""
        now = utcnow()
        with self.write() as conn:
            conn.execute(
                "INSERT INTO connected_repositories (full_name, clone_url, clone_path, config_path, branch, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(full_name) DO UPDATE SET "
                "clone_url=excluded.clone_url, clone_path=excluded.clone_path, "
                "config_path=excluded.config_path, branch=excluded.branch, updated_at=excluded.updated_at",
                (record["full_name"], record.get("clone_url"), record["clone_path"], record["config_path"],
                 record["branch"], now, now),
            )
        return self.rows("SELECT * FROM connected_repositories WHERE full_name=?", (record["full_name"],))[0]

    def set_repository_sha_if_unset(self, repository_id: int, sha: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE connected_repositories SET last_sha=? WHERE id=? AND last_sha IS NULL",
                         (sha, repository_id))

    def connected_repositories(self) -> list[dict]:
        return self.rows("SELECT * FROM connected_repositories ORDER BY full_name")

    def connected_repository(self, full_name: str | None, urls: Iterable[str] = ()) -> dict | None:
        """The record for a repository, by full_name (case-insensitive, as GitHub's) or by one of
        its URLs (clone_url, ssh_url, html_url) equal to the record's clone_url."""
        for row in self.connected_repositories():
            if full_name and row["full_name"].lower() == full_name.lower():
                return row
        wanted = {u.rstrip("/").removesuffix(".git").lower() for u in urls if u}
        for row in self.connected_repositories():
            url = (row["clone_url"] or "").rstrip("/").removesuffix(".git").lower()
            if url and url in wanted:
                return row
        return None

    def set_repository_sha(self, repository_id: int, sha: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE connected_repositories SET last_sha=?, updated_at=? WHERE id=?",
                         (sha, utcnow(), repository_id))

    def claim_delivery(self, delivery_id: str, repository: str) -> bool:
        """True when this delivery id is new (or its earlier attempt failed): it is now 'queued'.
        False for a replay of one already queued, running, done or ignored."""
        with self.write() as conn:
            row = conn.execute("SELECT status FROM webhook_deliveries WHERE delivery_id=?",
                               (delivery_id,)).fetchone()
            if row is not None and row[0] != "failed":
                return False
            conn.execute(
                "INSERT OR REPLACE INTO webhook_deliveries (delivery_id, repository, received_at, status, detail) "
                "VALUES (?, ?, ?, 'queued', NULL)", (delivery_id, repository, utcnow()))
            return True

    def fail_unfinished_deliveries(self) -> int:
        """Deliveries left 'queued' by a webhook that stopped before running them become 'failed',
        so GitHub's redelivery of them runs (a replay of a finished one stays ignored)."""
        with self.write() as conn:
            return conn.execute(
                "UPDATE webhook_deliveries SET status='failed', detail='the webhook stopped before running it' "
                "WHERE status='queued'").rowcount

    def finish_delivery(self, delivery_id: str, status: str, detail: str | None = None) -> None:
        with self.write() as conn:
            conn.execute("UPDATE webhook_deliveries SET status=?, detail=? WHERE delivery_id=?",
                         (status, detail, delivery_id))

    def delivery(self, delivery_id: str) -> dict | None:
        found = self.rows("SELECT * FROM webhook_deliveries WHERE delivery_id=?", (delivery_id,))
        return found[0] if found else None
