"""Billed usage as the services report it (issue #18, finding 11): Pinecone read units and Cohere
billed units are read from the responses, recorded in the query log and the ingest history, and
shown beside the estimate by `lightfast stats` and `lightfast cost`; the local backend says n/a."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner
from sqlite_utils import Migrations

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import make_config, write_files  # noqa: E402
from core.search import flush_query_log  # noqa: E402
from core.usage import metering, record  # noqa: E402
from lightfast_cli.main import cli  # noqa: E402
from tests.wire.cohere_server import CohereServer  # noqa: E402
from tests.wire.pinecone_server import PineconeServer  # noqa: E402

PC_KEY, CO_KEY = "pcsk_usage_secret_key_1234567890", "co_usage_secret_key_0987654321"
FILES = {
    "docs/birds.md": "# Birds\n\nThe pelican colony nests on the northern lagoon every spring.\n",
    "docs/kill.md": "# Recovery\n\nAn ingest killed at any moment converges on the next run.\n",
    "src/billing.py": "def compute_invoice_total(lines):\n    return sum(l.amount for l in lines)\n",
}


@pytest.fixture
def wire(repo, monkeypatch):
    with PineconeServer(api_key=PC_KEY) as pinecone, CohereServer(api_key=CO_KEY) as cohere:
        monkeypatch.setenv("PINECONE_API_KEY", PC_KEY)
        monkeypatch.setenv("COHERE_API_KEY", CO_KEY)
        monkeypatch.setenv("LIGHTFAST_PINECONE_HOST", pinecone.url)
        monkeypatch.setenv("LIGHTFAST_COHERE_BASE_URL", cohere.url)
        monkeypatch.setenv("LIGHTFAST_HTTP_TIMEOUT", "5")
        write_files(repo, FILES)
        make_config(repo, environment="production")
        pinecone.query_read_units = 7  # a figure no count of requests could produce by accident
        yield pinecone, cohere


def service_for(repo):
    from core.config import load_config
    from core.service import Lightfast

    return Lightfast(load_config(repo / "lightfast.yml"))


def test_ingest_records_the_embed_tokens_cohere_billed(wire, repo):
    pinecone, cohere = wire
    service = service_for(repo)
    service.ingest()
    runs = service.mirror.rows("SELECT store_slug, embed_tokens, read_units FROM ingest_runs ORDER BY id")
    assert [r["store_slug"] for r in runs] == ["docs", "code"]
    assert all(r["embed_tokens"] > 0 for r in runs)
    # Exactly what the Cohere server billed, summed over both runs (it counts words as tokens).
    assert sum(r["embed_tokens"] for r in runs) == cohere.billed_input_tokens
    assert all(r["read_units"] is None for r in runs)  # upserts report no usage: none made up


def test_search_logs_read_units_per_namespace_and_the_query_embed_and_rerank(wire, repo):
    pinecone, cohere = wire
    service = service_for(repo)
    service.ingest()
    tokens_before, units_before = cohere.billed_input_tokens, cohere.billed_search_units
    reads_before = pinecone.plane("lightfast-production-v1").read_units
    result = service.search("pelican lagoon", scope="workspace", top_k=3)
    assert result.hits and not [n for n in result.notes if "rerank" in n]  # reranked by Cohere, no fallback
    assert flush_query_log(timeout=30)
    rows = service.mirror.rows("SELECT namespace_name, read_units, embed_tokens, rerank_units "
                               "FROM query_log ORDER BY id")
    assert len(rows) == 2
    assert [r["read_units"] for r in rows] == [14, 14]  # each namespace: its dense and its sparse query
    assert pinecone.plane("lightfast-production-v1").read_units - reads_before == 14
    # The search's one query embedding and one rerank, on its first row only.
    assert rows[0]["embed_tokens"] == cohere.billed_input_tokens - tokens_before == 2
    assert rows[0]["rerank_units"] == cohere.billed_search_units - units_before == 1
    assert rows[1]["embed_tokens"] is None and rows[1]["rerank_units"] is None


def test_stats_and_cost_show_reported_usage_beside_the_estimate(wire, repo, monkeypatch):
    service = service_for(repo)
    service.ingest()
    service.search("pelican lagoon", scope="workspace")
    service.search("invoice total", stores=["code"])
    assert flush_query_log(timeout=30)
    monkeypatch.chdir(repo)
    runner = CliRunner()
    stats = runner.invoke(cli, ["stats", "--json"], env={"COLUMNS": "80"})
    assert stats.exit_code == 0, stats.output
    data = json.loads(stats.output)
    usage = data["billed_usage"]
    assert (usage["queries"], usage["queries_reporting"], usage["read_units"]) == (3, 3, 42)  # dense + sparse
    assert usage["estimated_read_units"] == 0.75  # three queries of tiny namespaces: 0.25 each
    assert usage["query_embed_tokens"] == 4 and usage["rerank_units"] == 2
    per_ns = {r["namespace_name"].rsplit(":", 1)[1]: r for r in data["read_units"]}
    assert per_ns["store_code"]["read_units"] == 28 and per_ns["store_code"]["queries"] == 2
    assert per_ns["store_code"]["estimated"] == 0.5
    text = runner.invoke(cli, ["stats"], env={"COLUMNS": "80"}).output
    assert "42 read units reported, 0.75 estimated" in " ".join(text.split())
    cost = runner.invoke(cli, ["cost", "--json"], env={"COLUMNS": "80"})
    assert cost.exit_code == 0, cost.output
    assert json.loads(cost.output)["this_mirror"]["billed_usage"]["read_units"] == 42
    shown = " ".join(runner.invoke(cli, ["cost"], env={"COLUMNS": "80"}).output.split())
    assert "42 read units reported, 0.75 estimated" in shown


def test_local_backend_reports_nothing_and_says_n_a(repo, service_factory, monkeypatch):
    write_files(repo, FILES)
    service = service_factory(repo)
    service.ingest()
    service.search("pelican", scope="workspace")
    assert flush_query_log(timeout=30)
    assert service.mirror.rows("SELECT COUNT(*) AS n FROM query_log WHERE read_units IS NOT NULL "
                               "OR embed_tokens IS NOT NULL OR rerank_units IS NOT NULL")[0]["n"] == 0
    assert service.mirror.rows("SELECT COUNT(*) AS n FROM ingest_runs WHERE embed_tokens IS NOT NULL")[0]["n"] == 0
    monkeypatch.chdir(repo)
    import core.factory

    monkeypatch.setattr(core.factory, "make_embedder", lambda profile: service.embedder)
    runner = CliRunner()
    data = json.loads(runner.invoke(cli, ["stats", "--json"], env={"COLUMNS": "80"}).output)
    assert data["billed_usage"]["read_units"] is None and data["billed_usage"]["queries"] == 2
    for command in (["stats"], ["cost"]):
        text = " ".join(runner.invoke(cli, command, env={"COLUMNS": "80"}).output.split())
        assert "n/a read units reported" in text and "local index and model bill nothing" in text


def test_meters_nest_and_keep_not_reported_apart_from_zero():
    with metering() as outer:
        record(read_units=2)
        with metering() as inner:
            record(read_units=3, embed_tokens=0)
        record(read_units=None)
    record(read_units=100)  # no meter open: goes nowhere
    assert (outer.read_units, outer.embed_tokens, outer.rerank_units) == (5, 0, None)
    assert (inner.read_units, inner.embed_tokens) == (3, 0)
    with pytest.raises(ValueError):
        record(write_units=1)


def test_m005_adds_the_columns_to_an_older_mirror(tmp_path):
    from core.mirror import Mirror, schema

    path = tmp_path / "old.sqlite"
    old = Migrations("lightfast.mirror")  # the mirror as it was before m005
    for fn in (schema.m001_create_namespaces, schema.m002_create_documents_and_vectors,
               schema.m003_create_monitoring, schema.m004_create_legacy_layout):
        old()(fn)
    db = sqlite_utils.Database(sqlite3.connect(path))
    old.apply(db)
    db.execute("INSERT INTO query_log (namespace_name, environment, latency_ms, top_k, hits, at) "
               "VALUES ('org_a:ws_b:store_c', 'local', 1.0, 10, 1, '2026-01-01')")
    db.conn.commit()
    db.conn.close()
    mirror = Mirror(path)
    rows = mirror.rows("SELECT read_units, embed_tokens, rerank_units FROM query_log")
    assert rows == [{"read_units": None, "embed_tokens": None, "rerank_units": None}]
    columns = {r["name"] for r in mirror.rows("PRAGMA table_info(ingest_runs)")}
    assert {"read_units", "embed_tokens"} <= columns
