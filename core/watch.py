"""Auto-ingest: the index follows the repo as files change (the design's push webhook, locally).

Start-up catches up with whatever changed while nobody watched (one
incremental ingest); then watchfiles reports changes, grouped until the repo
is quiet for `step_ms` (so an editor's save-via-rename or a `git checkout` of
500 files is one batch), and only the changed paths are re-ingested: changed
files re-embedded, deleted ones removed, a rename being both. An edit to
lightfast.yml reloads the configuration (an invalid edit is logged and the old
one kept) and runs a full incremental ingest, which ensures new stores'
namespaces. The ingest holds the data dir's writer lock, so several watchers,
MCP servers and CLIs take turns, and each finds the others' work done by
content hash instead of embedding it again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from core.errors import LightfastError
from core.scan import DEFAULT_IGNORED_DIRS

log = logging.getLogger("lightfast.watch")


@dataclass
class WatchState:
    status: str = "stopped"  # stopped | catching up | idle | syncing | error
    batches: int = 0
    last_summary: str = ""
    last_error: str = ""
    last_batch_at: float = 0.0
    changed_paths: list[str] = field(default_factory=list)


class Watcher:
    def __init__(
        self,
        service,
        *,
        reload: Callable[[], object] | None = None,
        on_batch: Callable[[WatchState, object], None] | None = None,
        step_ms: int = 200,
        debounce_ms: int = 3000,
        force_polling: bool | None = None,
    ):
        """service: a core Lightfast; reload() builds a fresh one after lightfast.yml changes
        (default: Lightfast.open on the same file)."""
        self.service = service
        self.reload = reload or self._default_reload
        self.on_batch = on_batch or (lambda state, report: None)
        self.step_ms = step_ms
        self.debounce_ms = debounce_ms
        self.force_polling = force_polling
        self.state = WatchState()
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def _default_reload(self):
        from core.service import Lightfast

        old = self.service
        return Lightfast.open(old.config.source_path, old.home)

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> "Watcher":
        self.stop_event.clear()
        self._thread = threading.Thread(target=self.run, name="lightfast-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        """Catch up, then apply changes until stop_event is set. Blocks."""
        from watchfiles import watch

        self._apply(None, "catching up")
        root = self.service.root
        for changes in watch(
            root, watch_filter=self._wanted, step=self.step_ms, debounce=self.debounce_ms,
            stop_event=self.stop_event, force_polling=self.force_polling, raise_interrupt=False,
            yield_on_timeout=False, rust_timeout=500,
        ):
            if self.stop_event.is_set():
                break
            paths = sorted({Path(p) for _, p in changes})
            config_path = self.service.config.source_path
            if config_path is not None and config_path in {p.resolve() for p in paths}:
                self._reload_config()
            else:
                self._apply(paths, "syncing")
        self.state.status = "stopped"

    # -- work -------------------------------------------------------------------------
    def _wanted(self, change, path: str) -> bool:
        p = Path(path)
        if p.is_relative_to(Path(self.service.home).resolve()) or p.name.endswith(("~", ".swp", ".swx")):
            return False
        root = self.service.root
        rel = p.relative_to(root).parts if p.is_relative_to(root) else p.parts
        return not any(part in DEFAULT_IGNORED_DIRS for part in rel)

    def _apply(self, paths: list[Path] | None, status: str) -> None:
        self.state.status = status
        self.state.changed_paths = [str(p) for p in paths or []]
        try:
            report = self.service.ingest(paths=paths, cancelled=self.stop_event.is_set)
        except LightfastError as exc:
            self._failed(str(exc))
            return
        except Exception as exc:  # keep watching: the next change may well succeed
            log.exception("watch batch failed")
            self._failed(f"{exc.__class__.__name__}: {exc}")
            return
        totals = report.totals()
        self.state.batches += 1
        self.state.last_batch_at = time.time()
        self.state.last_error = ""
        self.state.last_summary = (
            f"{totals['added']} added, {totals['changed']} changed, {totals['removed']} removed, "
            f"{totals['chunks_embedded']} chunks embedded, {totals['skipped']} skipped, {totals['failed']} failed"
        )
        for store in report.stores:
            for path, why in store.failed + store.skipped:
                log.info("%s: %s: %s", store.store, path, why)
        self.state.status = "idle"
        self.on_batch(self.state, report)

    def _failed(self, message: str) -> None:
        self.state.status = "error"
        self.state.last_error = message
        log.warning("watch: %s", message)
        self.on_batch(self.state, None)

    def _reload_config(self) -> None:
        try:
            fresh = self.reload()
        except LightfastError as exc:
            self._failed(f"lightfast.yml not reloaded, keeping the previous one: {exc}")
            return
        self.service = fresh
        self._apply(None, "syncing")
