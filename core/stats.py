"""DuckDB over the mirror: the design's dashboard queries, and any read-only SQL.

The duckdb wheel does not bundle its sqlite extension (`sqlite_scanner` is
downloaded on first use, which fails offline), and a DuckDB file held open
read-write locks every other process out. So each call gets a fresh in-memory
DuckDB: the tables a query names are read with sqlite3 inside one read
transaction (a consistent snapshot of the mirror) and handed to DuckDB as
numpy columns; file access and configuration changes are then switched off.
Nothing DuckDB does can reach the mirror file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

import duckdb
import numpy as np

from core.errors import StatsQueryError

_TYPES = {"INTEGER": "BIGINT", "REAL": "DOUBLE", "TEXT": "VARCHAR"}
# Pinecone bills a record as id + metadata + 4 bytes per dimension. Ingest stores as metadata
# each chunk's text (the documents' bytes, counted once per namespace), its path and store,
# and fixed fields (key names, a 64-hex content hash, line numbers, headings) of about this size:
METADATA_FIELDS_BYTES = 150


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]

    def to_dicts(self) -> list[dict]:
        return [dict(zip(self.columns, row)) for row in self.rows]


def mirror_tables(mirror) -> list[str]:
    """The mirror's own tables (not SQLite's or the migrations bookkeeping)."""
    return [r[0] for r in mirror.conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name")]


def snapshot(mirror, tables: Iterable[str] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding a consistent copy of the mirror's tables (default: all)."""
    conn = mirror.conn
    wanted = set(tables) if tables is not None else None
    duck = duckdb.connect(":memory:")
    try:
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")  # every table is read from the same snapshot
        try:
            for table in mirror_tables(mirror):
                if wanted is not None and table not in wanted:
                    continue
                _copy_table(conn, duck, table)
        finally:
            if own:
                conn.execute("COMMIT")
        duck.execute("SET enable_external_access = false")  # no files, no extensions, from SQL
        duck.execute("SET lock_configuration = true")  # and no SET to switch it back on
    except BaseException:
        duck.close()
        raise
    return duck


def _copy_table(conn, duck, table: str) -> None:
    info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    cols = [(r[1], _TYPES.get(str(r[2]).upper(), "VARCHAR")) for r in info]
    columns_sql = ", ".join(f'"{c}" {t}' for c, t in cols)
    duck.execute(f'CREATE TABLE "{table}" ({columns_sql})')
    rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
    if not rows:
        return
    columns = {f"c{i}": np.array([row[i] for row in rows], dtype=object) for i in range(len(cols))}
    duck.register("_incoming", columns)
    duck.execute(f'INSERT INTO "{table}" SELECT * FROM _incoming')
    duck.unregister("_incoming")


def _run(duck, sql: str, params=None) -> QueryResult:
    cursor = duck.execute(sql, params or [])
    return QueryResult([d[0] for d in cursor.description], cursor.fetchall())


#: Vectors and estimated bytes per namespace (Pinecone bills id + metadata + 4 bytes x dimension).
STORAGE_SQL = f"""
    SELECT n.namespace_name, n.environment, COALESCE(v.vectors, 0) AS vectors, n.embedding_dim AS dimension,
           COALESCE(v.vectors * 4 * n.embedding_dim + v.id_bytes
                    + v.vectors * ({METADATA_FIELDS_BYTES} + LENGTH(n.store_slug)) + v.path_bytes
                    + d.text_bytes, 0) AS estimated_bytes
    FROM namespaces n
    LEFT JOIN (SELECT e.namespace_id, COUNT(*) AS vectors, SUM(LENGTH(e.vector_id)) AS id_bytes,
                      SUM(LENGTH(doc.path)) AS path_bytes
               FROM vector_entries e JOIN documents doc ON doc.id = e.document_id
               GROUP BY e.namespace_id) v ON v.namespace_id = n.id
    LEFT JOIN (SELECT namespace_id, SUM(size) AS text_bytes FROM documents GROUP BY namespace_id) d
      ON d.namespace_id = n.id
    """


def named_queries(namespace_limit: int = 100_000, alert_threshold: float = 0.8) -> dict[str, tuple[str, str]]:
    """name -> (what it answers, SQL). The first two are the design's dashboard queries, verbatim
    but for table names (`namespaces` is its lightfast_pinecone_namespaces)."""
    limit, threshold = int(namespace_limit), float(alert_threshold)
    return {
        "namespaces_per_environment": (
            "Namespace count per environment",
            "SELECT environment, COUNT(id) AS namespace_count FROM namespaces GROUP BY environment ORDER BY environment",
        ),
        "stores_per_organization": (
            "Stores per organization with vector totals (all environments, as in the design)",
            """
            SELECT pn.organization_id, COUNT(pn.id) AS store_count, COALESCE(SUM(ve.vector_count), 0) AS total_vectors
            FROM namespaces pn
            LEFT JOIN (SELECT namespace_id, COUNT(*) AS vector_count FROM vector_entries GROUP BY namespace_id) ve
              ON pn.id = ve.namespace_id
            GROUP BY pn.organization_id ORDER BY pn.organization_id
            """,
        ),
        "namespace_limit": (
            f"Namespaces per index against the plan's limit ({limit:,}; alert at {threshold:.0%})",
            f"""
            SELECT environment, index_name, COUNT(*) AS namespaces, {limit} AS namespace_limit,
                   ROUND(COUNT(*) / {limit}, 4) AS used_share,
                   COUNT(*) >= {threshold} * {limit} AS alert
            FROM namespaces GROUP BY environment, index_name ORDER BY used_share DESC, environment, index_name
            """,
        ),
        "storage_per_namespace": (
            "Vectors and estimated storage per namespace (id + metadata + 4 bytes x dimension)",
            f"{STORAGE_SQL} ORDER BY estimated_bytes DESC, n.environment, n.namespace_name",
        ),
        "read_units": (
            "Read units per namespace: billed, as Pinecone reported them, beside the estimate "
            "(1 per GB scanned, at least 0.25 a query); none reported locally",
            f"""
            SELECT q.namespace_name, q.environment, COUNT(*) AS queries,
                   COUNT(q.read_units) AS reported, SUM(q.read_units) AS read_units,
                   ROUND(COUNT(*) * GREATEST(0.25, COALESCE(MAX(s.estimated_bytes), 0) / 1e9), 2)
                     AS estimated
            FROM query_log q
            LEFT JOIN ({STORAGE_SQL}) s ON s.namespace_name = q.namespace_name AND s.environment = q.environment
            GROUP BY q.namespace_name, q.environment ORDER BY queries DESC, q.namespace_name, q.environment
            """,
        ),
        "query_latency": (
            "Query latency per namespace from the query log (ms)",
            """
            SELECT namespace_name, environment, COUNT(*) AS queries,
                   ROUND(quantile_cont(latency_ms, 0.5), 3) AS p50_ms,
                   ROUND(quantile_cont(latency_ms, 0.95), 3) AS p95_ms,
                   ROUND(quantile_cont(latency_ms, 0.99), 3) AS p99_ms
            FROM query_log GROUP BY namespace_name, environment ORDER BY p95_ms DESC, namespace_name, environment
            """,
        ),
        "ingest_history": (
            "The last 20 ingest runs",
            """
            SELECT id, REPLACE(SUBSTR(started_at, 1, 19), 'T', ' ') AS started_utc, store_slug, environment,
                   status, added, changed, removed, chunks_embedded, failed, error
            FROM ingest_runs ORDER BY id DESC LIMIT 20
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
    }


def _tables_named(queries: list[str]) -> set[str]:
    probe = duckdb.connect(":memory:")
    try:
        return set().union(*(probe.get_table_names(q) for q in queries))
    finally:
        probe.close()


def run_named(mirror, namespace_limit: int = 100_000, alert_threshold: float = 0.8) -> dict[str, QueryResult]:
    """Every named query, over one snapshot of the mirror."""
    queries = named_queries(namespace_limit, alert_threshold)
    duck = snapshot(mirror, _tables_named([sql for _, sql in queries.values()]))
    try:
        return {name: _run(duck, sql) for name, (_, sql) in queries.items()}
    finally:
        duck.close()


def mirror_figures(mirror, environment: str | None = None) -> dict[str, Any] | None:
    """This mirror's own stores, vectors per store, dimension and metadata, for the cost model.

    queries_per_store_month is observed from the query log when it spans at least a day,
    else None. None overall when the mirror holds no namespace.
    """
    where = "WHERE n.environment = ?" if environment else ""
    params = [environment] if environment else []
    duck = snapshot(mirror, ("namespaces", "vector_entries", "documents", "query_log"))
    try:
        row = _run(duck, f"""
            SELECT COUNT(*) AS stores, COALESCE(SUM(v.vectors), 0) AS vectors,
                   MAX(n.embedding_dim) AS dimension, MIN(n.embedding_dim) AS min_dimension,
                   COALESCE(SUM(d.text_bytes), 0) AS text_bytes
            FROM namespaces n
            LEFT JOIN (SELECT namespace_id, COUNT(*) AS vectors FROM vector_entries GROUP BY namespace_id) v
              ON v.namespace_id = n.id
            LEFT JOIN (SELECT namespace_id, SUM(size) AS text_bytes FROM documents GROUP BY namespace_id) d
              ON d.namespace_id = n.id
            {where}""", params).to_dicts()[0]
        log = _run(duck, f"""
            SELECT COUNT(*) AS queries,
                   epoch(MAX(CAST("at" AS TIMESTAMP))) - epoch(MIN(CAST("at" AS TIMESTAMP))) AS span_s
            FROM query_log {"WHERE environment = ?" if environment else ""}""", params).to_dicts()[0]
    finally:
        duck.close()
    if not row["stores"]:
        return None
    vectors = int(row["vectors"])
    per_record_text = row["text_bytes"] / vectors if vectors else 0
    span_days = (log["span_s"] or 0) / 86_400
    observed = (log["queries"] / span_days * 30 / row["stores"]) if span_days >= 1 else None
    return {
        "stores": int(row["stores"]),
        "vectors": vectors,
        "vectors_per_store": max(1, round(vectors / row["stores"])),
        "dimension": int(row["dimension"]),
        "mixed_dimensions": row["dimension"] != row["min_dimension"],
        "metadata_bytes": round(per_record_text) + METADATA_FIELDS_BYTES,
        "queries_logged": int(log["queries"]),
        "queries_per_store_month": round(observed) if observed is not None else None,
    }


def billed_usage(mirror, environment: str | None = None) -> dict[str, Any]:
    """What the services reported billing, from the query log and the ingest history, beside
    what the cost model estimates for the same queries. A figure is None when nothing reported
    it (the local backend and model bill nothing and report nothing): never a made-up 0."""
    where = "WHERE environment = ?" if environment else ""
    params = [environment] if environment else []
    duck = snapshot(mirror, ("namespaces", "vector_entries", "documents", "query_log", "ingest_runs"))
    try:
        q = _run(duck, f"""
            SELECT COUNT(*) AS queries, COUNT(read_units) AS queries_reporting, SUM(read_units) AS read_units,
                   SUM(embed_tokens) AS query_embed_tokens, SUM(rerank_units) AS rerank_units
            FROM query_log {where}""", params).to_dicts()[0]
        est = _run(duck, f"""
            SELECT COALESCE(SUM(GREATEST(0.25, COALESCE(s.estimated_bytes, 0) / 1e9)), 0) AS estimated
            FROM query_log q LEFT JOIN ({STORAGE_SQL}) s
              ON s.namespace_name = q.namespace_name AND s.environment = q.environment
            {"WHERE q.environment = ?" if environment else ""}""", params).to_dicts()[0]
        i = _run(duck, f"""
            SELECT COUNT(*) AS runs, COUNT(embed_tokens) AS runs_reporting,
                   SUM(embed_tokens) AS ingest_embed_tokens, SUM(read_units) AS ingest_read_units,
                   COALESCE(SUM(chunks_embedded), 0) AS chunks_embedded
            FROM ingest_runs {where}""", params).to_dicts()[0]
    finally:
        duck.close()
    return {
        "queries": int(q["queries"]), "queries_reporting": int(q["queries_reporting"]),
        "read_units": q["read_units"], "estimated_read_units": round(float(est["estimated"]), 2),
        "query_embed_tokens": q["query_embed_tokens"], "rerank_units": q["rerank_units"],
        "ingest_runs": int(i["runs"]), "ingest_runs_reporting": int(i["runs_reporting"]),
        "ingest_embed_tokens": i["ingest_embed_tokens"], "ingest_read_units": i["ingest_read_units"],
        "chunks_embedded": int(i["chunks_embedded"]),
    }


def usage_lines(usage: dict[str, Any]) -> list[str]:
    """billed_usage in words: reported figures beside the estimate, "n/a" where nothing reported."""
    def shown(value) -> str:
        return "n/a" if value is None else f"{value:,.2f}".rstrip("0").rstrip(".")

    reads = (f"{usage['queries']:,} namespace queries logged, {usage['queries_reporting']:,} with billed "
             f"usage: {shown(usage['read_units'])} read units reported, "
             f"{shown(usage['estimated_read_units'])} estimated")
    cohere = (f"Cohere: {shown(usage['query_embed_tokens'])} query embed tokens and "
              f"{shown(usage['rerank_units'])} rerank search units reported; ingest: "
              f"{shown(usage['ingest_embed_tokens'])} embed tokens reported over "
              f"{usage['ingest_runs_reporting']:,} of {usage['ingest_runs']:,} runs "
              f"({usage['chunks_embedded']:,} chunks embedded)")
    lines = [reads, cohere]
    if not usage["queries_reporting"] and not usage["ingest_runs_reporting"]:
        lines.append("n/a: nothing was reported billed (the local index and model bill nothing); "
                     "write units are never reported by Pinecone's upsert, so they stay an estimate")
    else:
        lines.append("write units: Pinecone's upsert responses do not report them; they stay an estimate")
    return lines


# -- read-only SQL ---------------------------------------------------------------------
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)


def _statement_kind(duck, sql: str) -> str:
    try:
        statements = duck.extract_statements(sql)
    except duckdb.Error as exc:
        raise StatsQueryError(f"SQL does not parse: {exc}") from None
    if len(statements) != 1:
        raise StatsQueryError(f"give exactly one statement, got {len(statements)}")
    kind = statements[0].type.name
    if kind == "EXPLAIN":  # EXPLAIN ANALYZE runs its statement: judge what it explains
        inner = _EXPLAIN.sub("", sql, count=1)
        return "EXPLAIN " + (_statement_kind(duck, inner) if inner != sql else "?")
    return kind


def check_read_only(sql: str) -> None:
    """Raise LightfastError unless sql is one read-only statement (SELECT, WITH, FROM, VALUES,
    DESCRIBE, SHOW, SUMMARIZE, or EXPLAIN of one of those)."""
    duck = duckdb.connect(":memory:")
    try:
        kind = _statement_kind(duck, sql)
    finally:
        duck.close()
    if kind not in ("SELECT", "EXPLAIN SELECT"):
        raise StatsQueryError(
            f"only read-only queries are allowed (SELECT, WITH ... SELECT, DESCRIBE, SHOW, EXPLAIN); "
            f"this is a {kind} statement"
        )


def run_sql(mirror, sql: str) -> QueryResult:
    """One read-only DuckDB statement over the mirror's tables; anything else is refused."""
    check_read_only(sql)
    probe = duckdb.connect(":memory:")
    try:
        named = set(probe.get_table_names(sql))
    except duckdb.Error:
        named = set()
    finally:
        probe.close()
    # Copy only the tables the query names; all of them when it names none of ours
    # (SHOW TABLES, or a typo, so DuckDB's "did you mean" can see every table).
    tables = (named & set(mirror_tables(mirror))) or None
    duck = snapshot(mirror, tables)
    try:
        try:
            return _run(duck, sql)
        except duckdb.Error as exc:
            raise StatsQueryError(f"query failed: {str(exc).splitlines()[0]}") from None
    finally:
        duck.close()


# -- everything the TUI's stats tab shows ------------------------------------------------
CURVE_STORES = (1, 10, 100, 400, 1_000, 3_000, 10_000, 25_000, 50_000)


def dashboard(service) -> dict[str, Any]:
    """The named queries, the design's cost scenarios, this mirror's figures and a cost curve
    (both layouts over 1 to 50,000 stores shaped like this mirror's, or the cost model's
    defaults when the mirror is empty). Blocking: call it from a worker thread."""
    from core.cost import Workload, compare, design_scenarios

    limits = service.config.limits
    named = run_named(service.mirror, limits.namespace_limit, limits.alert_threshold)
    figures = mirror_figures(service.mirror, service.environment)
    if figures:
        shape = dict(vectors_per_store=figures["vectors_per_store"], dimension=figures["dimension"],
                     metadata_bytes=figures["metadata_bytes"],
                     queries_per_store_month=figures["queries_per_store_month"] or 10_000)
        label = "stores like this mirror's"
    else:
        shape, label = {}, "stores of 100,000 1024-d vectors"
    return {
        "named": named,
        "scenarios": design_scenarios(),
        "this_mirror": figures,
        "curve": [compare(Workload(stores=n, **shape)) for n in CURVE_STORES],
        "curve_label": label,
    }
