"""`verify isolation`: canaries per namespace, a planted cross-namespace record, cleanup."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_files
from core.isolation import CANARY_PREFIX, MARKER, verify_isolation
from core.vectors.base import VectorRecord

DOCS, CODE = "org_acme:ws_platform:store_docs", "org_acme:ws_platform:store_code"


@pytest.fixture
def service(repo, service_factory):
    write_files(repo, {"a.md": "# A\n\nalpha\n", "b.py": "def b():\n    return 1\n"})
    service = service_factory(repo)
    service.ingest()
    return service


def canaries_left(service) -> list[str]:
    return [m.id for ns in (DOCS, CODE)
            for m in service.index.query(ns, np.ones(64, dtype=np.float32), 100, filter={MARKER: {"$exists": True}})]


def counts(service) -> dict[str, int]:
    return {ns: service.index.namespace_stats(ns).vector_count for ns in (DOCS, CODE)}


def test_clean_namespaces_pass_and_canaries_are_removed(service):
    before = counts(service)
    report = verify_isolation(service, seed=1)
    assert report.ok and report.namespaces == sorted([DOCS, CODE])
    assert report.contaminations == [] and report.unverified == [] and report.leftovers == []
    assert report.queries == 2 * (2 + 1)  # each namespace: both canary vectors + one filter query
    assert canaries_left(service) == [] and counts(service) == before


def test_a_planted_record_is_contamination(service):
    # A record carrying the code namespace's canary marker, written straight into docs.
    service.index.upsert(DOCS, [VectorRecord("leaked", np.ones(64, dtype=np.float32), {MARKER: CODE})])
    report = verify_isolation(service, seed=1)
    assert not report.ok
    assert report.contaminations == [f"{DOCS}: record 'leaked' belongs to {CODE}"]
    assert service.index.fetch(DOCS, ["leaked"])  # evidence is left alone; only canaries are removed
    assert canaries_left(service) == ["leaked"]


def test_sample(service):
    report = verify_isolation(service, sample=1, seed=3)
    assert report.ok and len(report.namespaces) == 1 and report.queries == 2


def test_canaries_are_removed_on_interrupt(service, monkeypatch):
    before = counts(service)
    index = service.index

    def interrupted(*args, **kwargs):
        assert counts(service) == {ns: n + 1 for ns, n in before.items()}  # both canaries are in
        raise KeyboardInterrupt

    monkeypatch.setattr(index, "query", interrupted)
    with pytest.raises(KeyboardInterrupt):
        verify_isolation(service, seed=1)
    monkeypatch.undo()
    assert counts(service) == before


def test_canaries_of_a_killed_run_are_swept(service):
    stale = f"{CANARY_PREFIX}deadbeef0000-0"
    service.index.upsert(DOCS, [VectorRecord(stale, np.ones(64, dtype=np.float32), {MARKER: DOCS})])
    report = verify_isolation(service, seed=1)
    assert report.ok
    assert service.index.fetch(DOCS, [stale]) == {}


def test_an_invisible_canary_is_unverified(service, monkeypatch):
    index = service.index
    real_query = index.query

    def blind_in_docs(namespace, vector, top_k, filter=None):
        return [] if namespace == DOCS else real_query(namespace, vector, top_k, filter)

    monkeypatch.setattr(index, "query", blind_in_docs)
    report = verify_isolation(service, seed=1, wait=0)
    assert not report.ok and report.unverified == [DOCS] and report.contaminations == []


def test_cli_verify_isolation(service, repo):
    from lightfast_cli.main import cli

    config = str(repo / "lightfast.yml")
    result = CliRunner().invoke(cli, ["--config", config, "verify", "isolation"])
    assert result.exit_code == 0, result.output
    assert "2 namespaces" in result.output and "0 cross-namespace hits" in result.output
    service.index.upsert(CODE, [VectorRecord("leaked", np.ones(64, dtype=np.float32), {MARKER: DOCS})])
    result = CliRunner().invoke(cli, ["--config", config, "verify", "isolation", "--sample", "2"])
    assert result.exit_code == 1
    assert f"contamination {CODE}: record 'leaked' belongs to {DOCS}" in result.output
