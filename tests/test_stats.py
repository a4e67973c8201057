"""DuckDB over the mirror: the named queries against known contents, read-only SQL, the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.errors import LightfastError
from core.mirror import Mirror
from core.stats import METADATA_FIELDS_BYTES, mirror_figures, run_named, run_sql, snapshot


def add_namespace(mirror, env, org, ws, store, vectors, doc_bytes=1000, dim=384):
    ns, _ = mirror.insert_namespace({
        "id": f"{env}/{org}/{ws}/{store}", "organization_id": org, "workspace_id": ws, "store_slug": store,
        "namespace_name": f"org_{org}:ws_{ws}:store_{store}", "environment": env, "index_name": f"idx-{env}",
        "chunk_max_tokens": 256, "chunk_overlap": 32, "embedding_provider": "local",
        "embedding_model": "m", "embedding_dim": dim})
    if vectors:
        mirror.replace_documents(ns, [{"path": "a.md", "content_hash": "h", "size": doc_bytes, "mtime_ns": 1,
                                       "chunk_count": vectors}],
                                 {"a.md": [{"vector_id": f"v{i}", "chunk_index": i, "start_line": 1, "end_line": 1}
                                           for i in range(vectors)]})
    return ns


@pytest.fixture
def mirror(tmp_path):
    m = Mirror(tmp_path / "mirror.sqlite")
    docs = add_namespace(m, "production", "acme", "web", "docs", 10)
    add_namespace(m, "production", "acme", "web", "code", 5)
    add_namespace(m, "production", "beta", "eng", "kb", 0)
    add_namespace(m, "staging", "acme", "web", "docs", 2)
    m.log_queries([{"namespace_id": docs.id, "namespace_name": docs.namespace_name,
                    "environment": "production", "latency_ms": ms, "top_k": 10, "hits": 3}
                   for ms in (1.0, 2.0, 3.0, 4.0, 100.0)])
    m.log_queries([{"namespace_id": None, "namespace_name": "org_acme:ws_web:store_code",
                    "environment": "production", "latency_ms": 7.0, "top_k": 10, "hits": 0}])
    run = m.start_ingest_run(docs)
    m.finish_ingest_run(run, "ok", {"added": 1, "chunks_embedded": 10, "vectors_upserted": 10}, None)
    run = m.start_ingest_run(docs)
    m.finish_ingest_run(run, "failed", {"failed": 1}, "boom")
    return m


def test_the_designs_dashboard_queries(mirror):
    results = run_named(mirror)
    # Namespace count per environment: 3 production, 1 staging.
    assert results["namespaces_per_environment"].rows == [("production", 3), ("staging", 1)]
    # Stores per organization with vector totals, across environments as in the design's SQL:
    # acme holds production docs (10) + code (5) + staging docs (2); beta one empty store.
    assert results["stores_per_organization"].rows == [("acme", 3, 17), ("beta", 1, 0)]


def test_namespaces_near_the_limit(mirror):
    rows = run_named(mirror, namespace_limit=4, alert_threshold=0.5)["namespace_limit"].to_dicts()
    assert rows == [
        # 3 of 4 = 0.75 >= 0.5: alert
        {"environment": "production", "index_name": "idx-production", "namespaces": 3,
         "namespace_limit": 4, "used_share": 0.75, "alert": True},
        {"environment": "staging", "index_name": "idx-staging", "namespaces": 1,
         "namespace_limit": 4, "used_share": 0.25, "alert": False},
    ]
    rows = run_named(mirror, namespace_limit=100_000, alert_threshold=0.8)["namespace_limit"].to_dicts()
    assert not any(r["alert"] for r in rows)


def test_storage_per_namespace(mirror):
    rows = {(r["environment"], r["namespace_name"]): r
            for r in run_named(mirror)["storage_per_namespace"].to_dicts()}
    docs = rows[("production", "org_acme:ws_web:store_docs")]
    # 10 vectors x 4 bytes x 384 dims = 15,360; ids "v0".."v9" = 20 bytes; metadata fields
    # 10 x (150 + len("docs")) = 1,540; paths 10 x len("a.md") = 40; chunk text = the document's 1,000.
    assert (docs["vectors"], docs["dimension"]) == (10, 384)
    assert docs["estimated_bytes"] == 15_360 + 20 + 10 * (METADATA_FIELDS_BYTES + 4) + 40 + 1_000 == 17_960
    code = rows[("production", "org_acme:ws_web:store_code")]
    assert code["estimated_bytes"] == 5 * 4 * 384 + 10 + 5 * (150 + 4) + 20 + 1_000  # 9,480
    assert rows[("production", "org_beta:ws_eng:store_kb")]["estimated_bytes"] == 0
    assert list(rows)[0] == ("production", "org_acme:ws_web:store_docs")  # largest first


def test_query_latency_percentiles(mirror):
    rows = run_named(mirror)["query_latency"].to_dicts()
    docs = next(r for r in rows if r["namespace_name"] == "org_acme:ws_web:store_docs")
    # quantile_cont over 1, 2, 3, 4, 100: p50 = 3; p95 at position 3.8 = 4 + 0.8 x 96 = 80.8;
    # p99 at position 3.96 = 4 + 0.96 x 96 = 96.16.
    assert (docs["queries"], docs["p50_ms"], docs["p95_ms"], docs["p99_ms"]) == (5, 3.0, 80.8, 96.16)
    code = next(r for r in rows if r["namespace_name"] == "org_acme:ws_web:store_code")
    assert (code["queries"], code["p50_ms"], code["p99_ms"]) == (1, 7.0, 7.0)
    assert rows[0]["namespace_name"] == "org_acme:ws_web:store_docs"  # slowest p95 first


def test_ingest_history(mirror):
    rows = run_named(mirror)["ingest_history"].to_dicts()
    assert [(r["status"], r["added"], r["chunks_embedded"], r["failed"], r["error"]) for r in rows] == [
        ("failed", 0, 0, 1, "boom"), ("ok", 1, 10, 0, None)]  # newest first
    assert rows[0]["store_slug"] == "docs"


def test_mirror_figures_for_the_cost_model(mirror):
    figures = mirror_figures(mirror, "production")
    # 3 stores, 15 vectors: 5 per store; 2,000 bytes of text over 15 records = 133 + 150 of fields.
    assert figures == {"stores": 3, "vectors": 15, "vectors_per_store": 5, "dimension": 384,
                       "mixed_dimensions": False, "metadata_bytes": 283, "queries_logged": 6,
                       "queries_per_store_month": None}  # the log spans less than a day
    assert mirror_figures(mirror)["stores"] == 4
    assert mirror_figures(mirror, "nowhere") is None


def test_snapshot_is_in_memory_and_cannot_reach_files(mirror, tmp_path):
    duck = snapshot(mirror, ["namespaces"])
    try:
        assert duck.execute("SELECT current_setting('enable_external_access')").fetchone() == (False,)
        assert [r[0] for r in duck.execute("SHOW TABLES").fetchall()] == ["namespaces"]
    finally:
        duck.close()
    assert not list(tmp_path.glob("*.duckdb"))


@pytest.mark.parametrize("statement, kind", [
    ("INSERT INTO namespaces (id) VALUES ('x')", "INSERT"),
    ("UPDATE namespaces SET id='x'", "UPDATE"),
    ("DELETE FROM namespaces", "DELETE"),
    ("CREATE TABLE t (a INT)", "CREATE"),
    ("CREATE TABLE t AS SELECT * FROM namespaces", "CREATE"),
    ("DROP TABLE namespaces", "DROP"),
    ("ALTER TABLE namespaces ADD COLUMN x INT", "ALTER"),
    ("ATTACH 'other.db'", "ATTACH"),
    ("COPY namespaces TO 'out.csv'", "COPY"),
    ("EXPORT DATABASE 'dump'", "EXPORT"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("PRAGMA version", "PRAGMA"),
    ("INSTALL sqlite", "LOAD"),
    ("LOAD sqlite", "LOAD"),
    ("SET enable_external_access = true", "SET"),
    ("CHECKPOINT", "CALL"),
    ("EXPLAIN ANALYZE DELETE FROM namespaces", "EXPLAIN DELETE"),  # ANALYZE would run the delete
])
def test_sql_refuses_writes(mirror, statement, kind):
    with pytest.raises(LightfastError, match=f"only read-only queries are allowed .*this is a {kind} statement"):
        run_sql(mirror, statement)
    assert run_sql(mirror, "SELECT COUNT(*) FROM namespaces").rows == [(4,)]


def test_sql_refuses_several_statements_and_nonsense(mirror):
    with pytest.raises(LightfastError, match="exactly one statement, got 2"):
        run_sql(mirror, "SELECT 1; DROP TABLE namespaces")
    with pytest.raises(LightfastError, match="does not parse"):
        run_sql(mirror, "SELEKT 1")


def test_sql_reads(mirror):
    result = run_sql(mirror, "WITH x AS (SELECT environment FROM namespaces) SELECT COUNT(*) AS n FROM x")
    assert result.columns == ["n"] and result.rows == [(4,)]
    result = run_sql(mirror, "SELECT n.store_slug, COUNT(*) FROM vector_entries v JOIN namespaces n "
                             "ON n.id = v.namespace_id WHERE n.environment = 'production' GROUP BY 1 ORDER BY 1")
    assert result.rows == [("code", 5), ("docs", 10)]
    assert ("query_log",) in run_sql(mirror, "SHOW TABLES").rows
    assert run_sql(mirror, "EXPLAIN SELECT * FROM namespaces").rows
    with pytest.raises(LightfastError, match="query failed: .*ghosts"):
        run_sql(mirror, "SELECT * FROM ghosts")


def test_sql_cannot_read_files(mirror):
    with pytest.raises(LightfastError, match="query failed"):
        run_sql(mirror, "SELECT * FROM read_csv('/etc/passwd')")


def test_cli_stats_and_sql(repo, service_factory):
    from conftest import write_files
    from lightfast_cli.main import cli

    write_files(repo, {"a.md": "# A\n\nalpha\n", "b.py": "def b():\n    return 1\n"})
    service_factory(repo).ingest()
    config = str(repo / "lightfast.yml")
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", config, "stats", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["namespaces_per_environment"] == [{"environment": "test", "namespace_count": 2}]
    assert {r["status"] for r in data["ingest_history"]} == {"ok"}
    result = runner.invoke(cli, ["--config", config, "stats"])
    assert result.exit_code == 0 and "Namespace count per environment" in result.output
    result = runner.invoke(cli, ["--config", config, "sql", "SELECT store_slug FROM namespaces ORDER BY 1", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == [{"store_slug": "code"}, {"store_slug": "docs"}]
    result = runner.invoke(cli, ["--config", config, "sql", "DELETE FROM namespaces"])
    assert result.exit_code == 1 and "read-only" in result.output and "DELETE" in result.output
    result = runner.invoke(cli, ["--config", config, "sql", "SELECT COUNT(*) AS n FROM namespaces", "--json"])
    assert json.loads(result.output) == [{"n": 2}]
