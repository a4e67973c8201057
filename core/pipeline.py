"""Ingest's two helper threads: a read-ahead before the embedder and a write-behind after it.

ReadAhead prepares (reads, hashes, chunks) the files on its own thread, in
order and ahead of the caller, so the embedder never waits for the next
file; WriteBehind writes batch k while batch k+1 is embedded.

Embedding keeps both cores busy (onnxruntime releases the GIL). In WriteBehind the index
upsert and the mirror transaction of the batch before run beside it on one
background thread, in the order they were submitted, so the write protocol of
core/ingest.py (journal, upsert, swap, delete, clear) is unchanged: only who
runs it moved. At most `depth` batches wait, which bounds memory.

Errors: the first job that raises stops the worker and drops what waits;
the caller gets that very exception at its next submit() or when it leaves
the `with` block, so a disk-full or a network error still surfaces as it did.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from collections import deque
from typing import Callable, Generic, Iterable, Iterator, TypeVar

log = logging.getLogger("lightfast.ingest")

In = TypeVar("In")
Out = TypeVar("Out")
_END = object()  # the reader has prepared every item (or stopped)


class WriteBehind:
    """Runs submitted jobs in order on one thread while the caller goes on."""

    def __init__(self, depth: int = 2, on_exit: Callable[[], None] | None = None,
                 name: str = "lightfast-writer"):
        """depth: jobs queued or running before submit() waits. on_exit runs on the
        worker thread as it ends (to close what it opened there, e.g. its SQLite connection)."""
        self._depth = max(1, depth)
        self._on_exit = on_exit
        self._jobs: deque[tuple[Callable, tuple]] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._error: BaseException | None = None
        # Jobs run in the caller's context: what they report (core/usage.py's meters, context
        # variables) reaches the caller's open meters as if it had run the job itself.
        self._context = contextvars.copy_context()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable, *args) -> None:
        """Queue job(*args); waits while `depth` jobs are queued or running. Raises the
        worker's error, if a job failed, instead of queueing."""
        with self._cond:
            while len(self._jobs) >= self._depth and self._error is None:
                self._cond.wait()
            self._raise_error()
            if self._closing:
                raise RuntimeError("submit() after close()")
            self._jobs.append((job, args))
            self._cond.notify_all()

    def close(self, *, abandon: bool = False) -> None:
        """Wait for the queued jobs (abandon: only for the running one), then raise
        the worker's error if a job failed."""
        with self._cond:
            self._closing = True
            if abandon and self._jobs:
                running = self._jobs.popleft()  # the head is the one being run
                self._jobs.clear()
                self._jobs.append(running)
            self._cond.notify_all()
        self._thread.join()
        with self._cond:
            self._raise_error()

    def __enter__(self) -> "WriteBehind":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if exc is None:
            self.close()
            return
        # The caller failed. An ordinary error still lets the batches already embedded
        # be written (nothing is lost); an interrupt stops after the running one.
        try:
            self.close(abandon=not isinstance(exc, Exception))
        except BaseException as writer_exc:  # the caller's error is the one to raise
            log.warning("a write failed too, after %s: %s", kind.__name__, writer_exc)

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._jobs and not self._closing:
                        self._cond.wait()
                    if not self._jobs:
                        return
                    job, args = self._jobs[0]  # stays queued while it runs: counts toward depth
                try:
                    self._context.run(job, *args)
                except BaseException as exc:
                    with self._cond:
                        self._error = exc
                        self._jobs.clear()
                        self._cond.notify_all()
                    return
                with self._cond:
                    self._jobs.popleft()
                    self._cond.notify_all()
        finally:
            if self._on_exit is not None:
                try:
                    self._on_exit()
                except Exception as exc:
                    log.warning("writer cleanup failed: %s", exc)


class ReadAhead(Generic[In, Out]):
    """prepare(item) for every item on one thread, ahead of the caller; iterate for the results in order.

    The queue is not bounded: what waits is what ingest used to hold for every file
    before its first batch (the chunks' text, not their vectors), and reading runs out
    early, so the embedder has both cores to itself for most of the run.
    Errors: the first prepare() that raises ends the reading; the caller gets that very
    exception where its result would have come. Leaving the `with` block (or close())
    stops the reader after the item it is on and waits for it.
    """

    def __init__(self, items: Iterable[In], prepare: Callable[[In], Out], *,
                 stop: Callable[[], bool] | None = None, on_exit: Callable[[], None] | None = None,
                 name: str = "lightfast-reader"):
        """stop: polled before each item (a cancelled ingest); on_exit runs on the reader
        thread as it ends (to close what it opened there, e.g. its SQLite connection)."""
        self._items = list(items)
        self._prepare = prepare
        self._stop = stop or (lambda: False)
        self._on_exit = on_exit
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._closing = threading.Event()
        #: Items prepared so far (written by the reader thread only).
        self.prepared = 0
        #: True once every item is prepared: nothing more will come.
        self.finished = False
        self._context = contextvars.copy_context()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def total(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Out]:
        while True:
            got = self._results.get()
            if got is _END:
                return
            if isinstance(got, _Failed):
                raise got.error
            yield got

    def close(self) -> None:
        self._closing.set()
        self._thread.join()

    def __enter__(self) -> "ReadAhead[In, Out]":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        self.close()

    def _loop(self) -> None:
        try:
            for item in self._items:
                try:  # the stop check too runs in the caller's context (it may read a context variable)
                    if self._closing.is_set() or self._context.run(self._stop):
                        return
                    result = self._context.run(self._prepare, item)
                except BaseException as exc:
                    self._results.put(_Failed(exc))
                    return
                self.prepared += 1
                self._results.put(result)
            self.finished = True
        finally:
            self._results.put(_END)
            if self._on_exit is not None:
                try:
                    self._on_exit()
                except Exception as exc:
                    log.warning("reader cleanup failed: %s", exc)


class _Failed:
    """A prepare() that raised, carried to the caller in the results' order."""

    def __init__(self, error: BaseException):
        self.error = error
