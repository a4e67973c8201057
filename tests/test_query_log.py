"""The query log is written off the search's hot path, and still records every query."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest

from conftest import write_files
from core.mirror import Mirror
from core.search import QUERY_LOG, QueryLog, flush_query_log


@pytest.fixture
def service(repo, service_factory):
    write_files(repo, {"a.md": "# A\n\nalpha beta\n", "b.py": "def b():\n    return 1\n"})
    svc = service_factory(repo)
    svc.ingest()
    flush_query_log()
    return svc


def logged(mirror: Mirror) -> list[dict]:
    return mirror.rows("SELECT namespace_name, top_k, hits FROM query_log ORDER BY id")


def test_every_query_is_recorded(service):
    for i in range(40):
        if i % 2:
            service.search(f"alpha {i}", scope="workspace", top_k=3)
        else:
            service.search(f"alpha {i}", stores=["docs"], top_k=3)
    assert flush_query_log(timeout=30)
    rows = logged(service.mirror)
    # 20 searches of one store, 20 of the workspace's two stores: one row per namespace searched.
    assert len(rows) == 20 + 20 * 2
    assert {r["namespace_name"].rsplit(":", 1)[1] for r in rows} == {"store_docs", "store_code"}
    assert all(r["top_k"] == 3 for r in rows)


def test_search_does_not_wait_for_the_write(service, monkeypatch):
    release = threading.Event()
    original = Mirror.log_queries

    def slow(self, rows):
        assert release.wait(30)
        original(self, rows)

    monkeypatch.setattr(Mirror, "log_queries", slow)
    result = service.search("alpha", stores=["docs"])  # returns while the writer is blocked
    assert result.hits and not flush_query_log(timeout=0.05)
    assert logged(service.mirror) == []
    release.set()
    assert flush_query_log(timeout=30)
    assert len(logged(service.mirror)) == 1


def test_a_failed_write_is_logged_and_the_writer_goes_on(service, monkeypatch, caplog):
    original = Mirror.log_queries
    calls = []

    def flaky(self, rows):
        calls.append(len(rows))
        if len(calls) == 1:
            raise sqlite3.OperationalError("database or disk is full")
        original(self, rows)

    monkeypatch.setattr(Mirror, "log_queries", flaky)
    with caplog.at_level(logging.WARNING, logger="lightfast.search"):
        service.search("alpha", stores=["docs"])
        assert flush_query_log(timeout=30)
    assert "query latency not logged: database or disk is full" in caplog.text
    service.search("beta", stores=["docs"])
    assert flush_query_log(timeout=30)
    assert len(logged(service.mirror)) == 1


def test_rows_are_written_before_the_interpreter_exits(tmp_path):
    path = tmp_path / "mirror.sqlite"
    Mirror(path)  # migrated once here
    code = textwrap.dedent(f"""
        import time
        from core.mirror import Mirror
        from core.search import QUERY_LOG

        mirror = Mirror({str(path)!r})
        original = Mirror.log_queries
        def slow(self, rows):
            time.sleep(0.5)  # still writing when the main thread ends
            original(self, rows)
        Mirror.log_queries = slow
        for i in range(5):
            QUERY_LOG.submit(mirror, [{{"namespace_id": None, "namespace_name": f"ns{{i}}",
                                       "environment": "local", "latency_ms": 1.0, "top_k": 10, "hits": 1}}])
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert len(Mirror(path).rows("SELECT * FROM query_log")) == 5


def test_a_separate_writer_flushes_on_its_own():
    writer = QueryLog()
    assert writer.flush(timeout=0.01)  # nothing submitted: nothing to wait for
    assert QUERY_LOG is not writer
