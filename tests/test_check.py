"""`lightfast check`: each alert crosses its threshold on real parts and exits non-zero; a healthy
repo exits 0; thresholds come from lightfast.yml."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import make_config, write_files
from core.config import CheckConfig, load_config
from core.errors import ConfigError
from core.isolation import MARKER
from core.vectors.base import VectorRecord
from lightfast_cli.main import cli

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
FILES = {"docs/a.md": "# A\n\nalpha beta gamma\n", "src/b.py": "def b():\n    return 1\n"}


@pytest.fixture
def service(repo, service_factory):
    write_files(repo, FILES)
    svc = service_factory(repo)
    svc.ingest()
    return svc


def with_check(repo, text: str) -> None:
    path = repo / "lightfast.yml"
    path.write_text(path.read_text() + text)


def rebuilt(repo, service_factory):
    return service_factory(repo)  # the service reads lightfast.yml again


def log(service, store: str, latencies, hours_ago: float) -> None:
    record = service.namespace_records("store", [store])[0]
    at = (NOW - timedelta(hours=hours_ago)).isoformat(timespec="milliseconds")
    with service.mirror.write() as conn:
        conn.executemany(
            "INSERT INTO query_log (namespace_id, namespace_name, environment, latency_ms, top_k, hits, at) "
            "VALUES (?, ?, ?, ?, 10, 1, ?)",
            [(record.id, record.namespace_name, record.environment, ms, at) for ms in latencies])


def alerts(report) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in report.alerts:
        out.setdefault(f.check, []).append(f.subject)
    return out


def run_cli(repo, monkeypatch, service, *args):
    import core.factory

    monkeypatch.setattr(core.factory, "make_embedder", lambda profile: service.embedder)
    monkeypatch.chdir(repo)
    return CliRunner().invoke(cli, ["check", *args], env={"COLUMNS": "80"})


def test_a_healthy_repo_passes_every_check_with_the_canary(service, repo, monkeypatch):
    report = service.check(now=NOW)
    assert report.ok, [f.message for f in report.alerts]
    assert {f.check for f in report.findings} == {"namespaces", "ingest", "divergence", "isolation"}
    result = run_cli(repo, monkeypatch, service)
    assert result.exit_code == 0, result.output
    assert "0 alerts" in result.output and "isolation" in result.output


def test_vectors_the_index_lost_are_a_divergence_alert(service, repo, monkeypatch):
    """Issue 15's reproduction (an index whose files went) seen by the scheduler's check."""
    record = service.namespace_records("store", ["docs"])[0]
    service.index.delete_namespace(record.namespace_name)
    report = service.check(canary=False, now=NOW)
    assert alerts(report) == {"divergence": [record.namespace_name]}
    assert "index namespace missing" in report.alerts[0].message and "lightfast doctor" in report.alerts[0].message
    result = run_cli(repo, monkeypatch, service, "--no-canary")
    assert result.exit_code == 1 and "ALERT divergence" in result.output, result.output
    assert run_cli(repo, monkeypatch, service, "--no-canary", "--no-backend").exit_code == 0
    service.ingest()  # a plain ingest re-embeds what the index lost
    assert service.check(canary=False, now=NOW).ok


def test_namespace_usage_against_the_limit(service, repo, service_factory, monkeypatch):
    path = repo / "lightfast.yml"
    path.write_text(path.read_text() + "limits:\n  namespace_limit: 4\n  alert_threshold: 0.5\n")
    svc = rebuilt(repo, service_factory)
    report = svc.check(canary=False, now=NOW)
    assert alerts(report) == {"namespaces": ["lightfast-test-v1"]}
    finding = report.alerts[0]
    assert finding.figures["namespaces"] == 2 and finding.figures["used_share"] == 0.5
    result = run_cli(repo, monkeypatch, svc, "--json", "--no-canary")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["ok"] is False and data["alerts"] == 1


def test_p95_latency_over_the_budget(service, repo, service_factory):
    with_check(repo, "check:\n  latency_budget_ms: 100\n  min_queries: 5\n")
    svc = rebuilt(repo, service_factory)
    log(svc, "docs", [20.0] * 18 + [400.0, 500.0], hours_ago=1)  # p95 ~ 405 ms
    log(svc, "code", [20.0] * 20, hours_ago=1)
    report = svc.check(canary=False, now=NOW)
    assert alerts(report) == {"latency": ["org_acme:ws_platform:store_docs"]}
    assert "over the budget of 100 ms" in report.alerts[0].message


def test_p95_degraded_against_its_own_previous_window(service, repo, service_factory):
    with_check(repo, "check:\n  min_queries: 10\n  degradation_factor: 2\n  window_hours: 6\n")
    svc = rebuilt(repo, service_factory)
    log(svc, "docs", [10.0] * 12, hours_ago=8)   # the previous window
    log(svc, "docs", [31.0] * 12, hours_ago=2)   # now: 3.1x, well under the 500 ms budget
    log(svc, "code", [10.0] * 12, hours_ago=8)
    log(svc, "code", [15.0] * 12, hours_ago=2)   # 1.5x: fine
    log(svc, "code", [999.0] * 50, hours_ago=20)  # older than both windows: ignored
    report = svc.check(canary=False, now=NOW)
    assert alerts(report) == {"latency": ["org_acme:ws_platform:store_docs"]}
    assert "3.1x the previous window's 10.0 ms" in report.alerts[0].message
    # Judged against the window after: the degraded window is now the previous one.
    later = svc.check(canary=False, now=NOW + timedelta(hours=6))
    assert all(f.ok for f in later.findings if f.check == "latency")


def test_too_few_queries_are_not_judged(service, repo, service_factory):
    log(service, "docs", [9000.0] * 3, hours_ago=1)  # default min_queries: 20
    finding = next(f for f in service.check(canary=False, now=NOW).findings if f.check == "latency")
    assert finding.ok and "not judged" in finding.message


def test_failed_and_interrupted_ingests(service):
    docs = service.namespace_records("store", ["docs"])[0]
    run = service.mirror.start_ingest_run(docs)
    service.mirror.finish_ingest_run(run, "failed", {}, "Cohere embed failed after 6 attempts")
    code = service.namespace_records("store", ["code"])[0]
    service.mirror.start_ingest_run(code)  # left 'running': its process was killed
    report = service.check(canary=False, now=NOW)
    assert sorted(alerts(report)["ingest"]) == ["platform/code", "platform/docs"]
    messages = " ".join(f.message for f in report.alerts)
    assert "failed: Cohere embed failed after 6 attempts" in messages and "interrupted" in messages
    service.ingest()  # a later good run clears both
    assert service.check(canary=False, now=NOW).ok


def test_a_running_ingest_holding_the_lock_is_not_an_alert(service):
    code = service.namespace_records("store", ["code"])[0]
    service.mirror.start_ingest_run(code)
    with service._writer_lock(0):  # as a live ingest holds it
        report = service.check(canary=False, now=NOW)
    finding = next(f for f in report.findings if f.subject == "platform/code")
    assert finding.ok and "running" in finding.message


def test_the_isolation_canary_catches_a_record_outside_its_namespace(service, repo, monkeypatch):
    docs, code = (service.namespace_records("store", [s])[0].namespace_name for s in ("docs", "code"))
    stray = np.ones(service.index.dimension, dtype=np.float32) / np.sqrt(service.index.dimension)
    service.index.upsert(code, [VectorRecord("stray-1", stray, {MARKER: docs, "text": "misfiled"})])
    report = service.check(now=NOW)
    # The stray record is also a vector no document of that namespace lists.
    assert alerts(report) == {"divergence": [code], "isolation": ["lightfast-test-v1"]}
    assert "belongs to " + docs in next(f for f in report.alerts if f.check == "isolation").message
    result = run_cli(repo, monkeypatch, service)
    assert result.exit_code == 1 and "ALERT isolation" in result.output
    # The canary off: that alert is not looked for.
    assert alerts(service.check(canary=False, now=NOW)) == {"divergence": [code]}


def test_check_thresholds_are_strict_config(repo):
    write_files(repo, FILES)
    make_config(repo)
    with_check(repo, "check:\n  latency_budget: 100\n")
    with pytest.raises(ConfigError) as info:
        load_config(repo / "lightfast.yml")
    text = str(info.value)
    assert "check.latency_budget" in text and "latency_budget_ms" in text and ":" in text
    make_config(repo)
    with_check(repo, "check:\n  degradation_factor: 1\n")
    with pytest.raises(ConfigError, match="degradation_factor"):
        load_config(repo / "lightfast.yml")


def test_every_check_field_is_described_and_in_the_example():
    example = (Path(__file__).parents[1] / "lightfast.example.yml").read_text()
    assert CheckConfig.__doc__
    for name, field in CheckConfig.model_fields.items():
        assert field.description, name
        assert f"{name}:" in example, name
