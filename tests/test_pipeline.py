"""core/pipeline.py's WriteBehind: order, bounded queue, errors, interrupts; and ingest through it.

No timing: the worker is held on events, so each test sees the same interleaving.
"""

from __future__ import annotations

import threading

import pytest

from conftest import write_files
from core.pipeline import WriteBehind


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
