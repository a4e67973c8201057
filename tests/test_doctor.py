"""`lightfast doctor` and the repairs: a damaged or lost file is reported and recovered, never silent.

Each case damages a real data dir built by a real ingest (the reproductions of issue 15), then
checks that the doctor names the problem and the file, that the documented command recovers,
and that search finds the expected document again.
"""

from __future__ import annotations

import json
import shutil
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import BIRD_FILES as FILES
from conftest import BIRDS_NS as NS
from conftest import make_config, write_files
from core.doctor import DAMAGED, HEALTHY, LEXICAL, NAMESPACE_MISSING, NOT_IN_MIRROR, STALE, VECTORS_MISSING
from core.errors import IndexDamagedError, MirrorDamagedError
from core.vectors.base import VectorRecord
from lightfast_cli.main import cli




def _fresh(service_factory, repo):
    """A new service: a new process sees the files as they are on disk now."""
    return service_factory(repo)


def _docs(report):
    return next(ns for ns in report.namespaces if ns.namespace == NS)


def _finds_falcon(service) -> bool:
    hits = service.search("about the falcon", stores=["docs"], top_k=1).hits
    return bool(hits) and hits[0].path == "falcon.md"


def _checkpointed(service, mirror):
    """Close the service's mirror and fold its WAL into the file, as a process leaving does."""
    service.reopen()
    conn = sqlite3.connect(mirror)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size, pages = (conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_size", "page_count"))
    conn.close()
    return page_size, pages


def _garbage(path, offset=100, length=512):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write((b"garbage!" * (length // 8 + 1))[:length])


def test_a_healthy_data_dir_is_healthy(built):
    report = built.doctor()
    assert report.healthy and report.problems == 0 and report.by_id
    assert _docs(report).state == HEALTHY and _docs(report).mirror_vectors == len(FILES)
    assert built.index_problems() == 0


def test_deleted_indexes_folder_is_reported_and_a_plain_ingest_repairs_it(built, repo, service_factory,
                                                                          lightfast_home, hash_embedder):
    shutil.rmtree(lightfast_home / "indexes")  # the reproduction
    service = _fresh(service_factory, repo)
    result = service.search("about the falcon", stores=["docs"])  # was: "no hits", exit 0
    assert result.hits == [] and "recover with `lightfast ingest --store docs`" in result.failed[NS]
    report = service.doctor()
    assert _docs(report).state == NAMESPACE_MISSING and _docs(report).missing == len(FILES)
    assert service.index_problems() == 1  # what status shows

    before = hash_embedder.texts_embedded
    store = service.ingest(stores=["docs"]).stores[0]  # plain, not --full
    assert store.repaired == len(FILES) and store.unchanged == 0
    assert hash_embedder.texts_embedded - before == len(FILES)
    assert _finds_falcon(service) and service.doctor().healthy
    again = service.ingest(stores=["docs"]).stores[0]
    assert again.repaired == 0 and again.unchanged == len(FILES)  # converged


def test_some_vectors_missing_are_re_embedded_and_counted(built, repo, service_factory):
    record = built.mirror.get_namespace("test", "acme", "platform", "docs")
    falcon = [vid for vid, path in built.mirror.vector_paths(record.id).items() if path == "falcon.md"]
    built.index.delete(NS, falcon)
    service = _fresh(service_factory, repo)
    found = _docs(service.doctor())
    assert found.state == VECTORS_MISSING and (found.missing, found.mirror_vectors) == (1, len(FILES))
    assert "vectors missing: 1 of 10" in found.describe()
    said = []
    store = service.ingest(stores=["docs"], progress=lambda p: said.append(p.message) if p.stage == "done" else None)
    store = store.stores[0]
    assert store.repaired == 1 and store.changed == 1 and store.unchanged == len(FILES) - 1
    assert "1 re-embedded (vectors missing from the index)" in said[-1]
    assert _finds_falcon(service)


def test_deleted_meta_sqlite_is_damage_not_silence_and_repair_moves_it_aside(built, repo, service_factory):
    folder = built.index.namespace_folder(NS)
    (folder / "meta.sqlite").unlink()  # the reproduction
    service = _fresh(service_factory, repo)
    found = _docs(service.doctor())
    assert found.state == DAMAGED and found.file == str(folder / "meta.sqlite")
    with pytest.raises(IndexDamagedError):  # a plain ingest no longer says "unchanged"
        service.ingest(stores=["docs"])

    report = service.doctor(repair=True)
    assert report.healthy, report.to_dict()
    kept = [p for p in (service.index.folder / ".damaged").iterdir()]
    assert len(kept) == 1 and (kept[0] / folder.name / "slab-000001.f32").exists()  # moved aside, not deleted
    assert any("moved the damaged files to" in note for note in report.repairs)
    assert _finds_falcon(service)


def test_garbage_in_meta_sqlite_is_repaired(built, repo, service_factory):
    db = built.index.namespace_folder(NS) / "meta.sqlite"
    _garbage(db)
    service = _fresh(service_factory, repo)
    found = _docs(service.doctor())
    assert found.state == DAMAGED and found.file == str(db) and "lightfast" in found.error
    assert service.doctor(repair=True).healthy
    assert _finds_falcon(service)


def test_a_nan_row_in_a_slab_is_found_by_the_doctor_and_repaired(built, repo, service_factory):
    folder = built.index.namespace_folder(NS)
    with open(folder / "slab-000001.f32", "r+b") as f:
        f.write(b"\xff" * 4 * built.index.dimension)  # row 0: NaN
    service = _fresh(service_factory, repo)
    found = _docs(service.doctor())
    assert found.state == DAMAGED and found.file == str(folder / "slab-000001.f32")
    assert service.doctor(repair=True).healthy
    assert _finds_falcon(service)


def test_garbage_in_index_json_is_rewritten_from_the_profile_without_re_embedding(
        built, repo, service_factory, hash_embedder):
    index_json = built.index.folder / "index.json"
    index_json.write_text("{garbage")
    service = _fresh(service_factory, repo)
    report = service.doctor()
    assert report.index_error and str(index_json) in report.index_error and report.problems == 1
    before = hash_embedder.texts_embedded
    repaired = service.doctor(repair=True)
    assert repaired.healthy and hash_embedder.texts_embedded == before
    assert (index_json.parent / next(n for n in [p.name for p in index_json.parent.iterdir()]
                                     if n.startswith("index.json.damaged-"))).read_text() == "{garbage"
    assert _finds_falcon(service)


def test_garbage_in_the_mirror_is_a_clear_error_and_repair_rebuilds_it_from_the_index(
        built, repo, service_factory, lightfast_home, hash_embedder):
    mirror = lightfast_home / "mirror.sqlite"
    _checkpointed(built, mirror)
    _garbage(mirror)
    service = _fresh(service_factory, repo)
    with pytest.raises(MirrorDamagedError) as info:
        service.namespace_records()
    assert str(info.value).startswith(f"{mirror}: ") and "`lightfast doctor --repair`" in str(info.value)
    assert service.doctor().mirror_error

    report = service.doctor(repair=True)
    assert report.healthy, report.to_dict()
    assert (lightfast_home / next(p.name for p in lightfast_home.iterdir()
                                  if p.name.startswith("mirror.sqlite.damaged-"))).exists()
    assert any("rebuilt 10 documents (10 vectors)" in note for note in report.repairs)
    before = hash_embedder.texts_embedded
    store = service.ingest(stores=["docs"]).stores[0]  # the restored documents are unchanged files
    assert store.unchanged == len(FILES) and hash_embedder.texts_embedded == before
    assert _finds_falcon(service)


def test_a_namespace_the_index_holds_without_mirror_documents_is_restored(built, repo, service_factory):
    record = built.mirror.get_namespace("test", "acme", "platform", "docs")
    built.mirror.delete_namespace_record(record.id)  # as a mirror rebuilt in another repo leaves it
    service = _fresh(service_factory, repo)
    found = _docs(service.doctor())
    assert found.state == NOT_IN_MIRROR and found.index_vectors == len(FILES)
    assert service.doctor(repair=True).healthy and _finds_falcon(service)


def test_restore_keeps_the_version_with_most_chunks_and_journals_the_rest(built, repo, service_factory):
    from core.doctor import restore_documents

    older = VectorRecord("old:1:0", np.ones(built.index.dimension, dtype=np.float32),
                         {"path": "falcon.md", "content_hash": "0" * 64, "chunk_index": 0,
                          "start_line": 1, "end_line": 1})
    built.index.upsert(NS, [older])
    record = built.mirror.get_namespace("test", "acme", "platform", "docs")
    built.mirror.clear_documents(record.id)
    docs, vectors, leftovers = restore_documents(built.mirror, built.index, record)
    assert (docs, vectors, leftovers) == (len(FILES), len(FILES), 1)
    assert built.mirror.unreferenced_pending(record.id)[0] == ["old:1:0"]
    built.ingest(stores=["docs"])  # its recovery deletes the journalled older version
    assert built.index.fetch(NS, ["old:1:0"]) == {} and built.doctor().healthy


def test_stale_vectors_are_reported_and_deleted(built):
    stray = VectorRecord("stray:0:0", np.ones(built.index.dimension, dtype=np.float32), {"path": "gone.md"})
    built.index.upsert(NS, [stray])
    found = _docs(built.doctor())
    assert found.state == STALE and found.stale == 1
    assert built.doctor(repair=True).healthy and built.index.fetch(NS, ["stray:0:0"]) == {}


def test_word_rows_out_of_step_are_reported_and_rebuilt(built):
    """The hybrid search's lexical rows are checked beside the vectors (issue 17, point 4)."""
    meta = built.index.namespace_folder(NS) / "meta.sqlite"
    conn = sqlite3.connect(meta)
    with conn:  # as a stray write outside Lightfast: falcon's word rows gone
        conn.execute("DELETE FROM lexical_ids WHERE id IN (SELECT id FROM vectors "
                     "WHERE json_extract(metadata, '$.path') = 'falcon.md')")
    conn.close()
    found = _docs(built.doctor())
    assert found.state == LEXICAL and "1 vectors without lexical rows" in found.error
    repaired = built.doctor(repair=True)
    assert repaired.healthy and any("rebuilt its word index" in note for note in repaired.repairs)
    hits = built.search("falcon", stores=["docs"], top_k=1, mode="lexical").hits
    assert hits and hits[0].path == "falcon.md"


def test_garbage_mid_file_in_the_mirror_is_found_by_the_doctor(built, lightfast_home, repo, service_factory):
    mirror = lightfast_home / "mirror.sqlite"
    page_size, pages = _checkpointed(built, mirror)
    _garbage(mirror, offset=page_size, length=(pages - 1) * page_size)  # every page but the schema's
    with pytest.raises(MirrorDamagedError):  # met by a statement, not at open: still a clear error
        _fresh(service_factory, repo).namespaces()
    service = _fresh(service_factory, repo)
    report = service.doctor()
    assert report.mirror_error and str(mirror) in report.mirror_error
    assert service.doctor(repair=True).healthy and _finds_falcon(service)


# -- the command line ------------------------------------------------------------------------------

@pytest.fixture
def cli_repo(repo, monkeypatch, hash_embedder):
    import core.factory

    write_files(repo, FILES)
    make_config(repo)
    monkeypatch.setattr(core.factory, "make_embedder", lambda profile: hash_embedder)
    monkeypatch.chdir(repo)
    assert _run("ingest", "-q").exit_code == 0
    return repo


def _run(*args):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "80"})


def test_cli_doctor_exit_codes_json_and_status_line(cli_repo, lightfast_home):
    healthy = _run("doctor")
    assert healthy.exit_code == 0 and "all healthy" in healthy.output
    assert "index check  ok" in _run("status").output

    shutil.rmtree(lightfast_home / "indexes")
    assert "index check  1 problem: run `lightfast doctor`" in _run("status").output
    assert json.loads(_run("status", "--json").output)["index_problems"] == 1
    sick = _run("doctor")
    assert sick.exit_code == 1 and "index namespace missing: 10 vectors expected" in sick.output
    data = json.loads(_run("doctor", "--json").output)
    assert data["problems"] == 1 and not data["healthy"]
    assert {ns["namespace"]: ns["state"] for ns in data["namespaces"]}[NS] == NAMESPACE_MISSING
    fixed = _run("doctor", "--repair")
    assert fixed.exit_code == 0 and "ingested again" in fixed.output
    hit = json.loads(_run("search", "about the falcon", "--json", "-k", "1").output)["hits"][0]
    assert hit["path"] == "falcon.md"
    for result in (healthy, sick, fixed):
        assert all(len(line) <= 80 or len(line.split()) == 1 for line in result.output.splitlines())


def test_cli_ingest_says_what_it_repaired(cli_repo, lightfast_home):
    shutil.rmtree(lightfast_home / "indexes")
    result = _run("ingest", "-q", "--store", "docs")
    assert result.exit_code == 0
    assert "repaired: 10 of them re-embedded because their vectors were missing from the index" in \
        " ".join(result.output.split())
    assert json.loads(_run("ingest", "-q", "--json").output)["totals"]["repaired"] == 0


def test_cli_every_command_on_a_damaged_mirror_is_a_clear_error(cli_repo, lightfast_home):
    mirror = lightfast_home / "mirror.sqlite"
    conn = sqlite3.connect(mirror)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as the ingest's process leaving would
    conn.close()
    _garbage(mirror)
    for args in (["status"], ["search", "falcon"], ["ingest", "-q"], ["namespaces", "--json"], ["stats"]):
        result = _run(*args)
        assert result.exit_code == 5, (args, result.output)
        assert "mirror.sqlite" in result.output and "lightfast doctor --repair" in result.output
        assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert _run("doctor", "--repair").exit_code == 0
    assert _run("search", "about the falcon").exit_code == 0


def test_doctor_help_has_examples_and_fits_80_columns():
    result = _run("doctor", "--help")
    assert result.exit_code == 0 and "Example usage:" in result.output and "lightfast doctor --repair" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_corruption_bench_counts_what_it_ran(tmp_path, lightfast_home):
    """bench/corruption.py with the real model on two cases: its figures are counts of its cases."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "corruption.py"
    spec = importlib.util.spec_from_file_location("bench_corruption", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    figures = bench.run(tmp_path / "work", cases=["delete indexes/", "garbage in mirror.sqlite header"])
    assert figures["cases"] == len(figures["details"]) == 2
    assert figures["silent_wrong_answers"] == 0 and figures["tracebacks"] == 0
    assert figures["recovered"] == figures["recovered_by_doctor_repair"] == figures["doctor_detected"] == 2
    assert [d["search"]["outcome"] for d in figures["details"]] == ["clear error", "clear error"]


def test_mirror_and_index_json_damaged_together_are_both_repaired(built, repo, service_factory, lightfast_home):
    mirror = lightfast_home / "mirror.sqlite"
    (built.index.folder / "index.json").write_text("[]")
    _checkpointed(built, mirror)
    _garbage(mirror)
    service = _fresh(service_factory, repo)
    assert service.doctor().mirror_error
    report = service.doctor(repair=True)
    assert report.healthy, report.to_dict()
    assert [n.split(" ")[0] for n in report.repairs][:2] == ["moved", "moved"]  # the mirror, then index.json
    assert _finds_falcon(service)


def test_another_repos_namespace_is_reported_not_repaired(built, repo, tmp_path, service_factory):
    other = tmp_path / "other"
    other.mkdir()
    write_files(other, {"notes.md": "# notes\nabout the harbour\n"})
    make_config(other, workspace="mobile")
    theirs = service_factory(other)
    theirs.ingest(stores=["docs"])
    shutil.rmtree(theirs.index.namespace_folder("org_acme:ws_mobile:store_docs").parent)
    report = _fresh(service_factory, repo).doctor(repair=True)
    lost = next(ns for ns in report.namespaces if ns.namespace == "org_acme:ws_mobile:store_docs")
    assert lost.store is None and lost.state == NAMESPACE_MISSING and "in the repo of this store" in lost.remedy()
    assert _docs(report).ok and report.problems == 1
    assert service_factory(other).doctor(repair=True).healthy  # in its own repo, it is repaired
