"""ingest_status's answers: this server's current or last run, else the runs the mirror recorded."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Iterator

from mcp.server.mcpserver.exceptions import ToolError

from core.errors import LightfastError
from mcp_server.errors import failure_text
from mcp_server.models import COUNT_KEYS, LIST_CAP, IngestOutput, counts_out

if TYPE_CHECKING:
    from core.types import IngestRun

log = logging.getLogger("lightfast.mcp")


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))


class IngestTracker:
    """This server's current or last ingest. A run is tracked by the worker thread that does it,
    inside `with tracker.run(stores):`, so however the run ends (done, cancelled, a core error,
    a failing disk, our bug) its state is settled in `finally`: never left 'running', and the
    next ingest is accepted."""

    def __init__(self):
        self._lock = threading.Lock()
        self._state = IngestOutput(state="idle", stores=[])

    @contextmanager
    def run(self, stores: list[str]) -> Iterator["IngestTracker"]:
        """Track one run; a ToolError at once when one is already running."""
        with self._lock:
            if self._state.state == "running":
                raise ToolError("an ingest is already running in this server: follow it with ingest_status")
            self._state = IngestOutput(state="running", stores=stores, progress="starting")
        started = time.perf_counter()
        try:
            yield self
        except BaseException as exc:
            if not isinstance(exc, LightfastError):
                log.exception("ingest failed")
            self.update(state="failed", error=failure_text(exc))
            raise
        finally:
            with self._lock:
                if self._state.state == "running":  # the block ended without finish(): say so
                    self._state = self._state.model_copy(update={
                        "state": "failed", "error": "the run stopped without a result; see the server log"})
                self._state = self._state.model_copy(update={"seconds": round(time.perf_counter() - started, 3)})

    def update(self, **fields) -> None:
        with self._lock:
            self._state = self._state.model_copy(update=fields)

    def finish(self, report, cancelled: bool) -> None:
        """The run's result (core.service.IngestReport)."""
        failed = _unique(f"{p}: {why}" for r in report.stores for p, why in r.failed)
        skipped = _unique(f"{p}: {why}" for r in report.stores for p, why in r.skipped)
        self.update(state="cancelled" if cancelled else "done", **counts_out(report.totals()),
                    failed=failed[:LIST_CAP], skipped=skipped[:LIST_CAP], progress="")

    def snapshot(self) -> IngestOutput:
        with self._lock:
            return self._state.model_copy()


RUN_STATES = {"ok": "done", "failed": "failed", "cancelled": "cancelled", "running": "running",
              "interrupted": "failed"}


def _span_s(runs: list[IngestRun]) -> float:
    """Seconds from the first run's start to the last one's finish; 0 while any has not finished."""
    if not runs or any(not r.finished_at for r in runs):
        return 0.0
    try:
        start = min(datetime.fromisoformat(r.started_at) for r in runs)
        return round(max((datetime.fromisoformat(r.finished_at) - start).total_seconds() for r in runs), 3)
    except (TypeError, ValueError):  # a stamp this code did not write: no duration rather than a wrong one
        return 0.0


def last_recorded(runs: list[IngestRun], stores: list[str]) -> IngestOutput:
    """The stores' last recorded runs (mirror ingest_runs rows) as one ingest_status answer."""
    if not runs:
        return IngestOutput(state="idle", stores=stores, source="mirror",
                            progress="no ingest recorded for these stores yet: call the ingest tool")
    states = {RUN_STATES.get(r.status, r.status) for r in runs}
    state = next((s for s in ("running", "failed", "cancelled") if s in states), "done")
    total = {k: sum(getattr(r, k) for r in runs) for k in COUNT_KEYS.values()}
    errors = _unique(f"{r.store_slug}: {r.error}" for r in runs if r.error)
    return IngestOutput(
        seconds=_span_s(runs),
        state=state, stores=[r.store_slug for r in runs], **counts_out(total),
        error="; ".join(errors)[:1000], source="mirror",
        finished_at=max(r.finished_at or "" for r in runs),
        progress="running in another process (or stopped there without finishing)" if state == "running" else "",
    )
