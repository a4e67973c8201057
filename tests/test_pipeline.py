"""core/pipeline.py's ReadAhead and WriteBehind: order, bounded queue, errors, interrupts; and ingest
through them (more in tests/test_ingest.py), and how the CLI shows a total that still grows.

No timing: the worker is held on events, so each test sees the same interleaving.
"""

from __future__ import annotations

import threading

import pytest

from conftest import write_files
from core.pipeline import ReadAhead, WriteBehind


def test_jobs_run_in_order_on_one_other_thread():
    done, threads = [], set()

    def job(n: int) -> None:
        done.append(n)
        threads.add(threading.current_thread().name)

    with WriteBehind(depth=2) as writer:
        for n in range(20):
            writer.submit(job, n)
    assert done == list(range(20))
    assert threads == {"lightfast-writer"}


def test_submit_waits_while_depth_jobs_are_queued_or_running():
    release = threading.Event()
    started = threading.Event()
    submitted = []

    def held(n: int) -> None:
        started.set()
        release.wait()

    writer = WriteBehind(depth=2)
    writer.submit(held, 0)
    started.wait()
    writer.submit(held, 1)  # one running, one waiting: full

    def third() -> None:
        writer.submit(held, 2)
        submitted.append(2)

    caller = threading.Thread(target=third)
    caller.start()
    caller.join(0.05)
    assert submitted == [] and caller.is_alive()  # blocked, whatever the machine's speed
    release.set()
    caller.join()
    writer.close()
    assert submitted == [2]


def test_a_failed_job_drops_the_rest_and_raises_in_the_caller():
    ran = []
    failed = threading.Event()

    def job(n: int) -> None:
        if n == 1:
            failed.set()
            raise OSError(28, "No space left on device")
        ran.append(n)

    writer = WriteBehind(depth=1)
    writer.submit(job, 0)
    writer.submit(job, 1)
    failed.wait()
    with pytest.raises(OSError, match="No space left"):
        for n in range(2, 100):  # the error surfaces at a submit, not after queueing everything
            writer.submit(job, n)
    with pytest.raises(OSError, match="No space left"):
        writer.close()
    assert ran == [0]


def test_the_callers_error_wins_and_queued_jobs_still_run():
    """An ordinary error in the caller: what was embedded is still written, then it propagates."""
    ran = []
    with pytest.raises(ValueError, match="embedder broke"):
        with WriteBehind(depth=3) as writer:
            writer.submit(ran.append, 1)
            writer.submit(ran.append, 2)
            raise ValueError("embedder broke")
    assert ran == [1, 2]


def test_an_interrupt_stops_after_the_running_job():
    ran = []
    started, release = threading.Event(), threading.Event()

    def held(n: int) -> None:
        started.set()
        release.wait()
        ran.append(n)

    with pytest.raises(KeyboardInterrupt):
        with WriteBehind(depth=3) as writer:
            writer.submit(held, 1)
            writer.submit(ran.append, 2)
            started.wait()
            release.set()
            raise KeyboardInterrupt
    assert ran == [1]


def test_on_exit_runs_on_the_worker_thread():
    where = []
    WriteBehind(on_exit=lambda: where.append(threading.current_thread().name)).close()
    assert where == ["lightfast-writer"]


def test_ingest_writes_on_the_writer_thread_and_closes_its_connection(repo, service_factory, monkeypatch):
    """Every index write happens off the caller's thread, and the worker closes its SQLite
    connection; the result is the same mirror and index as a sequential run."""
    from test_ingest import assert_consistent

    write_files(repo, {f"docs/d{i:02}.md": f"# D{i}\n\n" + f"words of document {i} " * 400 for i in range(12)})
    svc = service_factory(repo)
    writers = []
    upsert = type(svc.index).upsert

    def spying_upsert(self, namespace, records):
        writers.append(threading.current_thread().name)
        return upsert(self, namespace, records)

    monkeypatch.setattr(type(svc.index), "upsert", spying_upsert)
    closed = []
    close = type(svc.mirror).close
    monkeypatch.setattr(type(svc.mirror), "close",
                        lambda self: (closed.append(threading.current_thread().name), close(self))[1])
    report = svc.ingest()
    assert report.totals()["added"] == 12
    assert writers and set(writers) == {"lightfast-writer"}
    assert "lightfast-writer" in closed
    assert_consistent(svc)


def test_jobs_see_the_callers_context_variables():
    """core/usage.py meters are context variables: a write must report to the caller's meter."""
    import contextvars

    meter = contextvars.ContextVar("meter", default=None)
    seen = []
    meter.set("the caller's")
    with WriteBehind() as writer:
        writer.submit(lambda: seen.append(meter.get()))
    assert seen == ["the caller's"]


# -- ReadAhead -------------------------------------------------------------------------------

def test_read_ahead_prepares_in_order_on_its_own_thread():
    threads = set()

    def prepare(n: int) -> int:
        threads.add(threading.current_thread().name)
        return n * n

    with ReadAhead(range(50), prepare) as reader:
        assert list(reader) == [n * n for n in range(50)]
    assert threads == {"lightfast-reader"}
    assert reader.finished and reader.prepared == reader.total == 50


def test_read_ahead_runs_ahead_of_the_caller():
    """The caller holds the first result while the reader prepares every other one."""
    all_prepared = threading.Event()

    def prepare(n: int) -> int:
        if n == 9:
            all_prepared.set()
        return n

    with ReadAhead(range(10), prepare) as reader:
        results = iter(reader)
        assert next(results) == 0
        assert all_prepared.wait(60)  # the caller has taken one item; the reader did all ten
        assert reader.finished and reader.prepared == 10
        assert list(results) == list(range(1, 10))


def test_a_failed_prepare_is_raised_where_its_result_would_come():
    def prepare(n: int) -> int:
        if n == 3:
            raise OSError(5, "Input/output error")
        return n

    got = []
    with ReadAhead(range(10), prepare) as reader:
        with pytest.raises(OSError, match="Input/output"):
            for n in reader:
                got.append(n)
    assert got == [0, 1, 2]
    assert not reader.finished and reader.prepared == 3


def test_leaving_early_stops_the_reader_after_its_item_and_runs_on_exit_there():
    started, release = threading.Event(), threading.Event()
    prepared, exits = [], []

    def prepare(n: int) -> int:
        if n == 1:
            started.set()
            release.wait()
        prepared.append(n)
        return n

    reader = ReadAhead(range(100), prepare, on_exit=lambda: exits.append(threading.current_thread().name))
    with reader:
        assert next(iter(reader)) == 0
        started.wait()
        closer = threading.Thread(target=reader.close)
        closer.start()  # close() waits for the item in hand...
        release.set()
        closer.join()
    assert prepared == [0, 1]  # ...and nothing after it
    assert exits == ["lightfast-reader"] and not reader.finished


def test_a_stop_request_ends_the_reading():
    stop = threading.Event()

    def prepare(n: int) -> int:
        if n == 4:
            stop.set()
        return n

    with ReadAhead(range(100), prepare, stop=stop.is_set) as reader:
        assert list(reader) == [0, 1, 2, 3, 4]
    assert not reader.finished


def test_cli_lines_and_bar_mark_a_total_that_still_grows():
    """While files are read, the CLI shows the total found so far with a '+' and how far reading
    is, with no ETA, and the bar has no end; once final, the plain count and ETA come back."""
    from io import StringIO

    from rich.console import Console

    from core.ingest import Progress
    from lightfast_cli.progress import BarProgress, describe

    growing = Progress("docs", "embed", 256, 700, "", rate=85.0, eta_s=None, vectors_written=0,
                       total_final=False, files_read=40, files_total=120)
    final = Progress("docs", "embed", 512, 1024, "", rate=85.0, eta_s=6.0, vectors_written=256,
                     total_final=True, files_read=120, files_total=120)
    assert describe(growing) == "docs: embed 256/700+ chunks, read 40/120 files, 85 chunks/s"
    assert describe(final) == "docs: embed 512/1,024 chunks, 85 chunks/s, ETA 6 s, 256 vectors written"
    assert all(len(describe(p)) <= 80 for p in (growing, final))
    bar = BarProgress(Console(file=StringIO(), force_terminal=True, width=80))
    with bar.bars:
        bar(growing)
        task = bar.bars.tasks[0]
        assert task.total is None and task.fields["count"] == "256/700+ chunks, read 40/120 files"
        assert "ETA" not in task.fields["speed"]
        bar(final)
        assert (task.completed, task.total) == (512, 1024) and "ETA" in task.fields["speed"]
