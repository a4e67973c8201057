"""Migration phase 5 (issue 19.4): `lightfast migrate cleanup` drops legacy rows after the safety
window and deletes legacy indexes only with --yes; `lightfast migrate reconcile` compares the
shared namespaces with the mirror, id by id, and exits 1 on drift."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from conftest import write_files
from core.errors import LightfastError
from core.migrate import Migration, reconcile
from legacy_layout import create_legacy_store
from core.vectors.base import VectorRecord
from lightfast_cli.main import cli
from test_migrate import legacy_records


def legacy_docs(seed: int, records: list[VectorRecord]) -> list[dict]:
    """Two legacy documents sharing the store's vectors."""
    half = len(records) // 2
    return [{"path": f"doc{seed}-{n}.md", "content_hash": f"{seed}{n}" * 8, "size": 10, "mtime_ns": 1,
             "vector_ids": [r.id for r in part]} for n, part in enumerate((records[:half], records[half:]))]


@pytest.fixture
def migrated(repo, service_factory):
    """Six legacy stores with documents, copied, verified and cut over."""
    service = service_factory(repo)
    stores = []
    for n in range(6):
        records = legacy_records(n, 12)
        stores.append(create_legacy_store(service, f"ws{n % 2}", f"store{n}", records, legacy_docs(n, records)))
    migration = Migration(service)
    migration.run()
    assert all(c.ok for c in migration.verify(sample=100))
    cut = datetime.now(timezone.utc)
    migration.cutover(now=cut)
    return service, stores, cut


def count(service, table: str) -> int:
    return service.mirror.rows(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]


def run_cli(config, *args):
    return CliRunner().invoke(cli, ["--config", str(config), "migrate", *args], env={"COLUMNS": "80"})


def test_cleanup_waits_for_the_window_then_drops_rows_and_deletes_indexes_only_when_asked(migrated):
    service, stores, cut = migrated
    migration = Migration(service)
    inside = migration.cleanup(delete_indexes=True, now=cut + timedelta(days=6))
    assert len(inside.waiting) == 6 and not inside.indexes_deleted and inside.vector_rows == 0
    assert count(service, "store_vector_entries") == 6 * 12

    after = migration.cleanup(now=cut + timedelta(days=8))  # no confirmation: rows only
    assert (after.document_rows, after.vector_rows, after.stores_removed) == (12, 72, 0)
    assert sorted(after.indexes_kept) == sorted(s.index_name for s in stores)
    assert all(service.backend.index_exists(s.index_name) for s in stores)
    assert count(service, "store_documents") == 0 and count(service, "stores") == 6  # each still names its index

    confirmed = migration.cleanup(delete_indexes=True, now=cut + timedelta(days=8))
    assert sorted(confirmed.indexes_deleted) == sorted(s.index_name for s in stores)
    assert not any(service.backend.index_exists(s.index_name) for s in stores)
    assert count(service, "stores") == 0 and count(service, "migration_stores") == 0
    # The shared side is whole, and a re-run converges on nothing to do.
    assert count(service, "vector_entries") == 72
    assert reconcile(service) == (6, [])
    again = migration.cleanup(delete_indexes=True, now=cut + timedelta(days=9))
    assert (again.document_rows, again.vector_rows, again.indexes_deleted) == (0, 0, [])


def test_cleanup_refuses_before_cutover(repo, service_factory):
    service = service_factory(repo)
    create_legacy_store(service, "ws0", "store0", legacy_records(0, 5))
    Migration(service).run()
    with pytest.raises(LightfastError, match="cleanup comes after cutover"):
        Migration(service).cleanup(delete_indexes=True)
    result = run_cli(repo / "lightfast.yml", "cleanup", "--yes")
    assert result.exit_code == 1 and "cleanup comes after cutover" in result.output
    assert service.backend.index_exists("ws0-store0") and count(service, "store_vector_entries") == 0


def test_the_cli_keeps_indexes_without_yes(migrated, repo):
    service, stores, _ = migrated
    config = repo / "lightfast.yml"
    waiting = run_cli(config, "cleanup")
    assert waiting.exit_code == 0 and waiting.output.count("waiting: ") == 6
    kept = run_cli(config, "cleanup", "--safety-days", "0")
    assert kept.exit_code == 0, kept.output
    assert "dropped 12 legacy document rows and 72 legacy vector rows" in kept.output
    assert kept.output.count("pass --yes to delete it") == 6
    assert all(service.backend.index_exists(s.index_name) for s in stores)
    deleted = run_cli(config, "cleanup", "--safety-days", "0", "--yes", "--json")
    assert deleted.exit_code == 0, deleted.output
    assert sorted(json.loads(deleted.stdout)["indexes_deleted"]) == sorted(s.index_name for s in stores)
    assert run_cli(config, "cleanup").output.startswith("nothing to clean up")


def test_reconcile_finds_drift_on_either_side_and_exits_1(repo, service_factory):
    write_files(repo, {"a.md": "# A\n\nThe pelican colony nests on the lagoon.\n",
                       "b.py": "def pelican():\n    return 'lagoon'\n"})
    service = service_factory(repo)
    service.ingest()
    config = repo / "lightfast.yml"
    clean = run_cli(config, "reconcile")
    assert clean.exit_code == 0 and "2 namespaces checked, 0 with drift" in clean.output

    docs, code = "org_acme:ws_platform:store_docs", "org_acme:ws_platform:store_code"
    index = service.index
    gone = sorted(service.mirror.vector_ids(service.ensure_namespace("docs").id))[0]
    index.delete(docs, [gone])  # the mirror says it is there
    stray = legacy_records(9, 2, dim=64)
    index.upsert(code, stray[:1])  # the mirror knows nothing of it
    index.upsert("org_acme:ws_platform:store_ghost", stray[1:])  # no record at all
    result = run_cli(config, "reconcile", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    drift = {d["namespace"]: d for d in report["drift"]}
    assert not report["ok"] and report["checked"] == 3
    assert drift[docs]["missing"] == [gone] and drift[docs]["extra"] == []
    assert drift[code]["extra"] == [stray[0].id] and drift[code]["missing"] == []
    assert drift["org_acme:ws_platform:store_ghost"]["unrecorded"] is True
    text = run_cli(config, "reconcile")
    assert text.exit_code == 1 and text.output.count("DRIFT") == 3
    service.ingest(full=True)  # restores what the index lost; what the mirror never knew stays
    _, left = reconcile(service)
    assert sorted(d.namespace for d in left) == [code, "org_acme:ws_platform:store_ghost"]
    service.delete_namespace("code")
    service.ingest()
    _, left = reconcile(service)
    assert [d.namespace for d in left] == ["org_acme:ws_platform:store_ghost"]


def test_the_cli_plan_lists_each_legacy_store(repo, service_factory):
    """`migrate plan` reads the typed plan rows: the table and --json name each store, its index and count."""
    service = service_factory(repo)
    create_legacy_store(service, "ws0", "store0", legacy_records(0, 5))
    create_legacy_store(service, "ws1", "store1", legacy_records(1, 7))
    table = run_cli(repo / "lightfast.yml", "plan")
    assert table.exit_code == 0, table.output
    assert "ws1-store1" in table.output and "2 stores, 12 vectors" in table.output
    data = json.loads(run_cli(repo / "lightfast.yml", "plan", "--json").stdout)
    assert data["vectors"] == 12 and [s["legacy_index"] for s in data["stores"]] == ["ws0-store0", "ws1-store1"]
    assert data["stores"][0] == {"store_id": "store_ws0_store0", "workspace": "ws0", "store": "store0",
                                 "legacy_index": "ws0-store0", "legacy_index_exists": True, "vectors": 5,
                                 "namespace": "org_acme:ws_ws0:store_store0", "error": None, "status": "not started"}
