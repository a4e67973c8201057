"""DuckDB queries over a mirror with known contents, read-only SQL, cost arithmetic, isolation."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from core.cost import Prices, Workload, compare, design_scenarios
from core.errors import LightfastError
from core.isolation import MARKER, verify_isolation
from core.mirror import Mirror
from core.stats import run_named, run_sql
from core.vectors.base import VectorRecord


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
    add_namespace(m, "production", "acme", "web", "docs", 10)
    add_namespace(m, "production", "acme", "web", "code", 5)
    add_namespace(m, "production", "beta", "eng", "kb", 0)
    add_namespace(m, "staging", "acme", "web", "docs", 2)
    m.log_queries([{"namespace_id": "production/acme/web/docs", "namespace_name": "org_acme:ws_web:store_docs",
                    "environment": "production", "latency_ms": ms, "top_k": 10, "hits": 3}
                   for ms in (1.0, 2.0, 3.0, 4.0, 100.0)])
    return m


def test_the_designs_dashboard_queries(mirror):
    results = run_named(mirror, namespace_limit=4, alert_threshold=0.5)
    assert results["namespaces_per_environment"].rows == [("production", 3), ("staging", 1)]
    # Stores per organization with vector totals, across environments as in the design's SQL.
    assert results["stores_per_organization"].rows == [("acme", 3, 17), ("beta", 1, 0)]


def test_namespace_limit_alerts(mirror):
    rows = run_named(mirror, namespace_limit=4, alert_threshold=0.5)["namespace_limit"].to_dicts()
    production = next(r for r in rows if r["environment"] == "production")
    assert (production["namespaces"], production["used_share"], production["alert"]) == (3, 0.75, True)
    staging = next(r for r in rows if r["environment"] == "staging")
    assert (staging["namespaces"], staging["alert"]) == (1, False)


def test_storage_and_latency(mirror):
    results = run_named(mirror)
    storage = {r["namespace_name"]: r for r in results["storage_per_namespace"].to_dicts()
               if r["environment"] == "production"}
    # 10 vectors x (4 x 384 + 40 id + 200 metadata) + 1,000 bytes of document text
    assert storage["org_acme:ws_web:store_docs"]["estimated_bytes"] == 10 * (4 * 384 + 240) + 1000
    assert storage["org_beta:ws_eng:store_kb"]["estimated_bytes"] == 0
    latency = results["query_latency"].to_dicts()[0]
    assert latency["queries"] == 5 and latency["p50_ms"] == 3.0
    assert latency["p95_ms"] == pytest.approx(80.8)  # 4 + 0.8 x (100 - 4)
    assert latency["p99_ms"] == pytest.approx(96.16)


@pytest.mark.parametrize("statement", [
    "INSERT INTO namespaces (id) VALUES ('x')", "UPDATE namespaces SET id='x'", "DELETE FROM namespaces",
    "CREATE TABLE t (a INT)", "DROP TABLE namespaces", "ATTACH 'other.db'", "COPY namespaces TO 'out.csv'",
    "INSTALL sqlite", "SET threads = 1", "PRAGMA version", "SELECT 1; DROP TABLE namespaces",
])
def test_sql_refuses_writes(mirror, statement):
    with pytest.raises(LightfastError):
        run_sql(mirror, statement)
    assert run_sql(mirror, "SELECT COUNT(*) FROM namespaces").rows == [(4,)]


def test_sql_reads_and_cannot_touch_files(mirror):
    result = run_sql(mirror, "WITH x AS (SELECT environment FROM namespaces) SELECT COUNT(*) AS n FROM x")
    assert result.columns == ["n"] and result.rows == [(4,)]
    with pytest.raises(LightfastError, match="query failed"):
        run_sql(mirror, "SELECT * FROM read_csv('/etc/passwd')")


def test_cost_against_hand_computed_values():
    p = Prices()
    # 3,000 stores of 10 GB, no reads (the design's scenario).
    # Per store: 3,000 indexes -> 150 projects (20 each) -> 8 organizations (20 projects each).
    # Usage: 3,000 x 10 GB x $0.33 = $9,900; per organization $1,237.50 > $50 floor -> bill $9,900.
    # Shared: 1 index, 1 project, 1 organization; bill max($50, $9,900) = $9,900. Saving $0.
    r = compare(Workload(3000, gb_per_store=10, queries_per_store_month=0), p)
    assert (r["per_store"]["indexes"], r["per_store"]["projects"], r["per_store"]["organizations"]) == (3000, 150, 8)
    assert r["per_store"]["minimum"] == 400 and r["per_store"]["monthly"] == pytest.approx(9900)
    assert r["shared"]["organizations"] == 1 and r["shared"]["monthly"] == pytest.approx(9900)
    assert r["design_minimum_claim"]["minimum"] == 7500
    # 3,000 small stores: 100,000 vectors x 384-d x (4 x 384 + 1,500 + 40 bytes) = 0.3076 GB each.
    # Usage: 3,000 x 0.3076 x $0.33 = $304.52 storage; reads 3,000 x 100 queries x 0.3076 RU
    # = 92,280 RU = $1.476. Total $306.00; per store layout: 8 orgs, $38.25 each < $50 -> $400.
    # Shared: max($50, $306.00) = $306.00. Saving $94.00.
    r = compare(Workload(3000, vectors_per_store=100_000, dimension=384, metadata_bytes=1500,
                         queries_per_store_month=100), p)
    assert r["store_gb"] == pytest.approx(0.3076)
    assert r["per_store"]["monthly"] == pytest.approx(400)
    assert r["shared"]["monthly"] == pytest.approx(306.0, abs=0.01)
    assert r["savings"] == pytest.approx(94.0, abs=0.01)


def test_design_scenarios_fit_one_shared_index():
    rows = design_scenarios()
    assert [r["workload"]["stores"] for r in rows] == [1000, 3000, 10000, 25000, 50000]
    assert all(r["shared"]["indexes"] == 1 for r in rows)  # 100,000 namespaces per index today
    assert rows[-1]["per_store"]["projects"] == 2500


def test_isolation_check_finds_a_planted_record(repo, service_factory):
    from conftest import write_files

    write_files(repo, {"a.md": "# A\n\nalpha\n", "b.py": "def b():\n    return 1\n"})
    service = service_factory(repo)
    service.ingest()
    clean = verify_isolation(service, seed=1)
    assert clean.ok and len(clean.namespaces) == 2
    for ns in clean.namespaces:  # canaries are cleaned up
        hits = service.index.query(ns, np.ones(64, dtype=np.float32), 100, filter={MARKER: {"$exists": True}})
        assert hits == []
    docs, code = "org_acme:ws_platform:store_docs", "org_acme:ws_platform:store_code"
    service.index.upsert(docs, [VectorRecord("leaked", np.ones(64, dtype=np.float32), {MARKER: code})])
    report = verify_isolation(service, seed=1)
    assert not report.ok
    assert report.contaminations == [f"{docs}: record 'leaked' belongs to {code}"]


def test_cli_commands(repo, service_factory):
    from conftest import write_files
    from lightfast_cli.main import cli

    write_files(repo, {"a.md": "# A\n\nalpha\n"})
    service_factory(repo).ingest()
    config = str(repo / "lightfast.yml")
    result = CliRunner().invoke(cli, ["--config", config, "stats", "--json"])
    assert result.exit_code == 0 and '"namespaces_per_environment"' in result.output
    result = CliRunner().invoke(cli, ["--config", config, "sql", "SELECT store_slug FROM namespaces ORDER BY 1", "--json"])
    assert result.exit_code == 0 and '"code"' in result.output
    result = CliRunner().invoke(cli, ["--config", config, "sql", "DELETE FROM namespaces"])
    assert result.exit_code == 1 and "read-only" in result.output
    result = CliRunner().invoke(cli, ["--config", config, "cost"])
    assert result.exit_code == 0 and "50,000" in result.output and "per organization" in result.output
    result = CliRunner().invoke(cli, ["--config", config, "verify", "isolation"])
    assert result.exit_code == 0 and "0 cross-namespace hits" in result.output
