"""The watcher: every kind of change reaches the index; bursts coalesce; restarts catch up."""

from __future__ import annotations

import os
import time

import pytest

from conftest import write_files
from core.watch import Watcher
from test_ingest import assert_consistent


def wait_for(condition, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def docs_of(service) -> dict:
    record = service.mirror.get_namespace("test", "acme", "platform", "docs")
    return service.mirror.documents(record["id"]) if record else {}


@pytest.fixture
def watching(repo, service_factory):
    write_files(repo, {"a.md": "# A\n\nalpha pelican\n"})
    service = service_factory(repo)
    batches = []
    watcher = Watcher(service, on_batch=lambda state, report: batches.append(report), step_ms=150,
                      reload=lambda: service_factory(repo))
    watcher.start()
    wait_for(lambda: watcher.state.batches >= 1, what="catch-up")
    yield service, watcher, batches
    watcher.stop()


def test_create_modify_delete_rename_and_atomic_save(watching, repo):
    service, watcher, _ = watching
    assert "a.md" in docs_of(service)

    write_files(repo, {"b.md": "# B\n\nbeta albatross\n"})
    wait_for(lambda: "b.md" in docs_of(service), what="create")

    before = docs_of(service)["b.md"]["content_hash"]
    write_files(repo, {"b.md": "# B\n\nbeta albatross, edited\n"})
    wait_for(lambda: docs_of(service)["b.md"]["content_hash"] != before, what="modify")

    (repo / "b.md").rename(repo / "c.md")
    wait_for(lambda: "c.md" in docs_of(service) and "b.md" not in docs_of(service), what="rename")

    tmp = repo / ".a.md.tmp"  # an editor's atomic save: write a temp file, rename over
    tmp.write_text("# A\n\nalpha, saved atomically\n")
    os.replace(tmp, repo / "a.md")
    wait_for(lambda: "atomically" in " ".join(h.text for h in service.search("saved atomically", stores=["docs"]).hits),
             what="atomic save")

    (repo / "c.md").unlink()
    wait_for(lambda: "c.md" not in docs_of(service), what="delete")
    wait_for(lambda: watcher.state.status == "idle", what="idle")
    assert_consistent(service)


def test_a_burst_of_200_changes_is_one_ingest(watching, repo):
    service, watcher, batches = watching
    done = len(batches)
    write_files(repo, {f"burst/f{i:03}.md": f"# F{i}\n\nfile number {i}\n" for i in range(200)})
    wait_for(lambda: len(docs_of(service)) == 201, what="burst ingested")
    time.sleep(0.5)  # let any straggling batch arrive before counting
    burst = batches[done:]
    assert len(burst) == 1, [r.totals() for r in burst]
    assert burst[0].totals()["added"] == 200


def test_a_config_edit_adds_a_store(watching, repo):
    service, watcher, _ = watching
    write_files(repo, {"src/app.py": "def handler():\n    return 'ok'\n"})
    text = (repo / "lightfast.yml").read_text().replace(
        "stores:\n", "stores:\n  - slug: scripts\n    include: [\"**/*.py\"]\n", 1)
    (repo / "lightfast.yml").write_text(text)
    wait_for(lambda: watcher.service.mirror.get_namespace("test", "acme", "platform", "scripts") is not None,
             what="new store's namespace")
    record = watcher.service.mirror.get_namespace("test", "acme", "platform", "scripts")
    wait_for(lambda: "src/app.py" in watcher.service.mirror.documents(record["id"]), what="new store ingested")


def test_an_invalid_config_edit_keeps_the_old_one(watching, repo):
    service, watcher, _ = watching
    good = (repo / "lightfast.yml").read_text()
    (repo / "lightfast.yml").write_text(good + "\nstorse: []\n")
    wait_for(lambda: watcher.state.status == "error", what="error state")
    assert "keeping the previous one" in watcher.state.last_error and "storse" in watcher.state.last_error
    assert watcher.service is service
    write_files(repo, {"d.md": "# D\n\ndelta\n"})
    wait_for(lambda: "d.md" in docs_of(service), what="still watching")


def test_changes_while_stopped_are_caught_up_at_start(repo, service_factory):
    write_files(repo, {"a.md": "# A\n\nalpha\n", "b.md": "# B\n\nbeta\n"})
    service = service_factory(repo)
    watcher = Watcher(service, step_ms=100).start()
    wait_for(lambda: watcher.state.batches >= 1, what="first catch-up")
    watcher.stop()
    write_files(repo, {"c.md": "# C\n\ngamma\n"})
    (repo / "a.md").unlink()
    watcher = Watcher(service, step_ms=100).start()
    try:
        wait_for(lambda: set(docs_of(service)) == {"b.md", "c.md"}, what="catch-up after restart")
    finally:
        watcher.stop()
    assert_consistent(service)


def test_a_bad_file_is_skipped_and_watching_goes_on(watching, repo):
    service, watcher, batches = watching
    write_files(repo, {"bad.md": b"\xff\xfe\x00binary", "good.md": "# Good\n\nfine\n"})
    wait_for(lambda: "good.md" in docs_of(service), what="good file")
    assert "bad.md" not in docs_of(service)
    assert watcher.running
