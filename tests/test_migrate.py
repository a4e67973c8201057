"""Migration from one index per store to the shared index: copy, resume, verify, cutover, rollback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import make_config, write_files
from core.config import load_config
from core.errors import LightfastError
from core.migrate import LEGACY_NAMESPACE, Migration, legacy_index_name
from legacy_layout import create_legacy_store
from core.vectors.base import VectorRecord


def legacy_records(seed: int, n: int, dim: int = 64) -> list[VectorRecord]:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, dim)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return [VectorRecord(f"s{seed}-v{i:04}", m[i], {"path": f"doc{i % 4}.md", "text": f"chunk {i} of {seed}",
                                                      "start_line": i, "end_line": i + 1}) for i in range(n)]


def snapshot(service, stores) -> dict:
    out = {}
    for s in stores:
        index = service.backend.index(s.index_name)
        ids, token = [], None
        while True:
            page, token = index.list_ids(LEGACY_NAMESPACE, limit=1000, pagination_token=token)
            ids += page
            if not token:
                break
        fetched = index.fetch(LEGACY_NAMESPACE, ids)
        out[s.index_name] = {i: (fetched[i].values.tobytes(), fetched[i].metadata) for i in ids}
    return out


@pytest.fixture
def legacy(repo, service_factory):
    service = service_factory(repo)
    stores = [create_legacy_store(service, f"ws{n % 5}", f"store{n}", legacy_records(n, 30 + n % 7))
              for n in range(50)]
    return service, stores


def test_legacy_index_names_follow_the_design():
    assert legacy_index_name("platform-engineering", "api-docs") == "platform-engineering-api-docs"
    assert legacy_index_name("Product", "Feedback!") == "product-feedback"


def test_plan_lists_stores_namespaces_and_counts(legacy):
    service, stores = legacy
    plan = Migration(service).plan()
    assert len(plan) == 50
    first = next(p for p in plan if p.store == "store0")
    assert first.namespace == "org_acme:ws_ws0:store_store0"
    assert first.vectors == 30 and first.legacy_index == "ws0-store0" and first.error is None


def test_migrate_50_stores_and_verify_equality(legacy):
    service, stores = legacy
    before = snapshot(service, stores)
    migration = Migration(service, batch_size=16)
    result = migration.run()
    total = sum(30 + n % 7 for n in range(50))
    assert result["vectors_copied"] == total
    from core.stats import run_named

    assert run_named(service.mirror)["migration_progress"].rows == [("copied", 50, total, 50)]
    checks = migration.verify(sample=1000)
    assert len(checks) == 50 and all(c.ok for c in checks)
    assert all(c.sampled == c.legacy_vectors for c in checks)
    assert snapshot(service, stores) == before  # copying never changes the legacy side


def test_a_planted_mismatch_fails_verify(legacy):
    service, stores = legacy
    migration = Migration(service)
    migration.run()
    target = "org_acme:ws_ws3:store_store3"
    bad = legacy_records(3, 1)[0]
    service.index.upsert(target, [VectorRecord(bad.id, -bad.values, bad.metadata)])
    checks = {c.store_id: c for c in migration.verify(sample=1000)}
    assert not checks["store_ws3_store3"].ok
    assert checks["store_ws3_store3"].mismatches == [f"{bad.id}: values differ"]
    assert sum(not c.ok for c in checks.values()) == 1
    with pytest.raises(LightfastError, match="not verified"):
        migration.cutover()


def test_rollback_leaves_the_legacy_layout_exactly_as_before(legacy, repo):
    service, stores = legacy
    before = snapshot(service, stores)
    migration = Migration(service)
    migration.run()
    assert len(service.mirror.namespaces()) == 50
    migration.rollback()
    assert snapshot(service, stores) == before
    assert service.mirror.namespaces() == []
    assert service.index.list_namespaces() == []
    assert load_config(repo / "lightfast.yml").use_shared_index is False
    assert service.mirror.rows("SELECT COUNT(*) AS n FROM stores")[0]["n"] == 50


def test_cutover_flips_the_flag_and_deletes_legacy_only_after_the_safety_period(legacy, repo):
    from datetime import datetime, timedelta, timezone

    service, stores = legacy
    migration = Migration(service)
    migration.run()
    migration.verify()
    now = datetime.now(timezone.utc)
    assert migration.cutover(delete_legacy=True, now=now) == []  # deprecated just now: kept
    assert load_config(repo / "lightfast.yml").use_shared_index is True
    assert all(service.backend.index_exists(s.index_name) for s in stores)
    deleted = migration.cutover(delete_legacy=True, now=now + timedelta(days=8))
    assert sorted(deleted) == sorted(s.index_name for s in stores)


KILLED = textwrap.dedent("""
    import sys
    from core.config import load_config
    from core.service import Lightfast
    from core.migrate import Migration

    copied = 0

    def progress(store, done, total):
        global copied
        copied += 1
        print(f"copied {{copied}}", flush=True)  # the parent kills on a count it reads here

    service = Lightfast(load_config({config!r}))
    Migration(service, batch_size=5, max_batches_per_s=40, progress=progress).run()
""")


@pytest.mark.parametrize("batches", [3, 40])
def test_a_killed_copy_resumes_to_an_exact_result(legacy, repo, lightfast_home, batches):
    """SIGKILL after a given number of copied batches (read from the child, never timed)."""
    service, stores = legacy
    before = snapshot(service, stores)
    env = {**os.environ, "LIGHTFAST_HOME": str(lightfast_home)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED.format(config=str(repo / "lightfast.yml"))],
                            env=env, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.strip() == f"copied {batches}":
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = Migration(service).state()
    assert state and any(r.status == "copying" or r.status == "registered" for r in state.values())
    Migration(service, batch_size=50).run()
    checks = Migration(service).verify(sample=1000)
    assert all(c.ok for c in checks) and len(checks) == 50
    for s in stores:
        ns = f"org_acme:ws_{s.workspace_id}:store_{s.slug}"
        assert service.index.namespace_stats(ns).vector_count == len(before[s.index_name])


def test_dual_write_and_the_read_flag(repo, service_factory):
    write_files(repo, {"a.md": "# A\n\nThe pelican colony nests on the lagoon.\n"})
    service = service_factory(repo)
    store = create_legacy_store(service, "platform", "docs", [])
    migration = Migration(service)
    migration.register()
    service.ingest(["docs"])  # a migration is under way: both layouts are written
    legacy = service.backend.index(store.index_name)
    shared_count = service.index.namespace_stats("org_acme:ws_platform:store_docs").vector_count
    assert shared_count > 0 and legacy.namespace_stats(LEGACY_NAMESPACE).vector_count == shared_count
    # Read from the legacy layout when the flag is off.
    text = (repo / "lightfast.yml").read_text() + "use_shared_index: false\n"
    (repo / "lightfast.yml").write_text(text)
    reader = service_factory(repo)
    service.index.delete_namespace("org_acme:ws_platform:store_docs")  # only the legacy copy is left
    hits = reader.search("pelican lagoon", stores=["docs"]).hits
    assert hits and hits[0].path == "a.md"


def test_the_cli_flow_and_verify_exit_code(legacy, repo):
    from click.testing import CliRunner

    from lightfast_cli.main import cli

    service, stores = legacy
    config = str(repo / "lightfast.yml")
    run = lambda *a: CliRunner().invoke(cli, ["--config", config, "migrate", *a])  # noqa: E731
    result = run("plan")
    assert result.exit_code == 0 and "50 stores" in result.output
    assert run("run", "--batch-size", "100").exit_code == 0
    assert run("verify").exit_code == 0
    bad = legacy_records(7, 1)[0]
    service.index.upsert("org_acme:ws_ws2:store_store7", [VectorRecord(bad.id, bad.values, {"text": "tampered"})])
    result = run("verify", "--sample", "1000")
    assert result.exit_code == 1 and "metadata differs" in result.output
    assert run("rollback", "--yes").exit_code == 0


def test_the_same_flow_against_the_pinecone_wire_server(repo, monkeypatch, service_factory):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.wire.pinecone_server import PineconeServer

    from core.config import load_config
    from core.service import Lightfast

    with PineconeServer(api_key="pc-key") as pc:
        monkeypatch.setenv("PINECONE_API_KEY", "pc-key")
        monkeypatch.setenv("LIGHTFAST_PINECONE_HOST", pc.url)
        make_config(repo)
        text = (repo / "lightfast.yml").read_text().replace("environment: test", "environment: pinetest")
        text += ("  pinetest:\n    backend: pinecone\n    name: lightfast-pinetest-v1\n    embedding_provider: local\n"
                 "    embedding_model: hash-test\n    dimension: 64\n")
        (repo / "lightfast.yml").write_text(text)
        service = Lightfast(load_config(repo / "lightfast.yml"))
        stores = [create_legacy_store(service, f"ws{n % 2}", f"store{n}", legacy_records(n, 120)) for n in range(4)]
        before = snapshot(service, stores)
        assert {f"ws{n % 2}-store{n}" for n in range(4)} <= set(pc.indexes)  # one Pinecone index per legacy store
        migration = Migration(service, batch_size=50, max_batches_per_s=1000)
        migration.run()
        checks = migration.verify(sample=1000)
        assert all(c.ok for c in checks) and {c.shared_vectors for c in checks} == {120}
        assert snapshot(service, stores) == before
        migration.rollback()
        assert service.index.list_namespaces() == [] and snapshot(service, stores) == before
