"""DuckDB over the mirror: the design's dashboard queries, and any read-only SQL.

DuckDB's sqlite extension is downloaded at run time, which fails offline, and
a DuckDB file held open read-write locks every other process out. So each
query gets a fresh in-memory DuckDB: the mirror's tables are read with
sqlite3 in one read transaction (a consistent snapshot) and handed to DuckDB
as numpy columns; external file access is then switched off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from core.errors import LightfastError

TABLES = ("namespaces", "documents", "vector_entries", "query_log", "ingest_runs", "stores", "migration_stores")
_TYPES = {"INTEGER": "BIGINT", "REAL": "DOUBLE", "TEXT": "VARCHAR"}
# Pinecone bills a record as id + metadata + 4 bytes per dimension. The mirror knows each
# document's size; a chunk's metadata is about its text plus ~200 bytes of fields.
METADATA_OVERHEAD_BYTES = 200
ID_BYTES = 40


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]

    def to_dicts(self) -> list[dict]:
        return [dict(zip(self.columns, row)) for row in self.rows]


def snapshot(mirror) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding a consistent copy of the mirror's tables."""
    duck = duckdb.connect(":memory:")
    conn = mirror.conn
    conn.execute("BEGIN")
    try:
        for table in TABLES:
            info = conn.execute(f"PRAGMA table_info({table})").fetchall()
            if not info:
                continue
            cols = [(r[1], _TYPES.get(str(r[2]).upper(), "VARCHAR")) for r in info]
            columns_sql = ", ".join(f'"{c}" {t}' for c, t in cols)
            duck.execute(f"CREATE TABLE {table} ({columns_sql})")
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            if rows:
                columns = {c: np.array([row[i] for row in rows], dtype=object) for i, (c, _) in enumerate(cols)}
                duck.register("_incoming", columns)
                duck.execute(f"INSERT INTO {table} SELECT * FROM _incoming")
                duck.unregister("_incoming")
    finally:
        conn.execute("COMMIT")
    duck.execute("SET enable_external_access = false")  # no reading or writing files from SQL
    return duck


def _run(duck, sql: str, params=None) -> QueryResult:
    cursor = duck.execute(sql, params or [])
    return QueryResult([d[0] for d in cursor.description], cursor.fetchall())


def named_queries(namespace_limit: int, alert_threshold: float) -> dict[str, tuple[str, str]]:
    """name -> (what it answers, SQL)."""
    return {
        "namespaces_per_environment": (
            "Namespace count per environment (the design's first dashboard query)",
            "SELECT environment, COUNT(id) AS namespace_count FROM namespaces GROUP BY environment ORDER BY environment",
        ),
        "stores_per_organization": (
            "Stores per organization with vector totals (the design's second dashboard query)",
            """
            SELECT pn.organization_id, COUNT(pn.id) AS store_count, COALESCE(SUM(ve.vector_count), 0) AS total_vectors
            FROM namespaces pn
            LEFT JOIN (SELECT namespace_id, COUNT(*) AS vector_count FROM vector_entries GROUP BY namespace_id) ve
              ON pn.id = ve.namespace_id
            GROUP BY pn.organization_id ORDER BY pn.organization_id
            """,
        ),
        "namespace_limit": (
            f"Namespaces per index against the plan's limit ({namespace_limit:,}; alert at {alert_threshold:.0%})",
            f"""
            SELECT environment, index_name, COUNT(*) AS namespaces, {namespace_limit} AS namespace_limit,
                   ROUND(COUNT(*) / {namespace_limit}, 4) AS used_share,
                   COUNT(*) >= {alert_threshold} * {namespace_limit} AS alert
            FROM namespaces GROUP BY environment, index_name ORDER BY used_share DESC, index_name
            """,
        ),
        "storage_per_namespace": (
            "Vectors and estimated storage per namespace (id + metadata + 4 bytes x dimension)",
            f"""
            SELECT n.namespace_name, n.environment, COALESCE(v.vectors, 0) AS vectors, n.embedding_dim AS dimension,
                   COALESCE(v.vectors, 0) * (4 * n.embedding_dim + {ID_BYTES} + {METADATA_OVERHEAD_BYTES})
                     + COALESCE(d.bytes, 0) AS estimated_bytes
            FROM namespaces n
            LEFT JOIN (SELECT namespace_id, COUNT(*) AS vectors FROM vector_entries GROUP BY namespace_id) v
              ON v.namespace_id = n.id
            LEFT JOIN (SELECT namespace_id, SUM(size) AS bytes FROM documents GROUP BY namespace_id) d
              ON d.namespace_id = n.id
            ORDER BY estimated_bytes DESC, n.namespace_name
            """,
        ),
        "query_latency": (
            "Query latency per namespace from the query log (ms)",
            """
            SELECT namespace_name, COUNT(*) AS queries,
                   ROUND(quantile_cont(latency_ms, 0.5), 3) AS p50_ms,
                   ROUND(quantile_cont(latency_ms, 0.95), 3) AS p95_ms,
                   ROUND(quantile_cont(latency_ms, 0.99), 3) AS p99_ms
            FROM query_log GROUP BY namespace_name ORDER BY p95_ms DESC, namespace_name
            """,
        ),
        "migration_progress": (
            "Migration from per-store indexes: stores and vectors copied, by status",
            """
            SELECT m.status, COUNT(*) AS stores, SUM(m.copied) AS vectors_copied,
                   (SELECT COUNT(*) FROM stores) AS legacy_stores
            FROM migration_stores m GROUP BY m.status ORDER BY m.status
            """,
        ),
        "ingest_history": (
            "The last 20 ingest runs",
            """
            SELECT started_at, store_slug, environment, status, added, changed, removed, unchanged,
                   chunks_embedded, failed, skipped
            FROM ingest_runs ORDER BY id DESC LIMIT 20
            """,
        ),
    }


def run_named(mirror, namespace_limit: int = 100_000, alert_threshold: float = 0.8) -> dict[str, QueryResult]:
    duck = snapshot(mirror)
    try:
        return {name: _run(duck, sql) for name, (_, sql) in named_queries(namespace_limit, alert_threshold).items()}
    finally:
        duck.close()


_READ_TYPES = {"SELECT", "EXPLAIN"}


def run_sql(mirror, sql: str) -> QueryResult:
    """One read-only statement over the mirror's tables; anything else is refused."""
    duck = snapshot(mirror)
    try:
        try:
            statements = duck.extract_statements(sql)
        except duckdb.Error as exc:
            raise LightfastError(f"SQL does not parse: {exc}") from None
        if len(statements) != 1:
            raise LightfastError(f"give exactly one statement, got {len(statements)}")
        kind = statements[0].type.name
        if kind not in _READ_TYPES:
            raise LightfastError(f"only read-only queries are allowed (SELECT, WITH ... SELECT); this is {kind}")
        try:
            return _run(duck, sql)
        except duckdb.Error as exc:
            raise LightfastError(f"query failed: {exc}") from None
    finally:
        duck.close()
