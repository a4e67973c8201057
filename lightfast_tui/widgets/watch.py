"""The watch state in the status bar: starts and stops a core Watcher and tells what it does.

States shown as they are: off, starting, catching up (with the catch-up's
embedding progress), waiting (another writer holds the lock), on (idle,
with the last batch), syncing, error, stopping (the running ingest finishes
its current file), and off again only once the watcher's thread has ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.message import Message
from textual.widgets import Static

from lightfast_tui import widgets

WORDS = {"idle": "on", "stopped": "off"}


class WatchStatus(widgets.ReportsCrashes, Static):
    @dataclass
    class Changed(Message):
        """Bubbles up after every applied batch so the app can refresh the namespaces."""

        text: str

    @dataclass
    class Progressed(Message):
        text: str

    class Stopped(Message):
        pass

    def __init__(self, service, **kw):
        super().__init__("watch: off", markup=False, **kw)
        self.service = service
        self.watcher = None
        self.stopping = False

    @property
    def watching(self) -> bool:
        """True from start until the watcher's thread has ended (stopping included)."""
        return self.watcher is not None

    def toggle(self) -> None:
        if self.stopping:
            self.notify("the watcher is stopping: its current file finishes first", markup=False)
        elif self.watcher is not None:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        self.watcher = self.service.watcher(on_state=self._state, on_batch=self._batch,
                                            on_progress=self._progress)
        self.update("watch: starting…")
        self.watcher.start()

    # Called from the watcher's thread: post messages only.
    def _state(self, state) -> None:
        word = WORDS.get(state.status, state.status)
        detail = state.last_error if state.status == "error" else ""
        self.post_message(self.Progressed(f"watch: {word}{' · ' + detail if detail else ''}"))

    def _batch(self, state, _report) -> None:
        detail = state.last_error or state.last_summary
        self.post_message(self.Changed(f"watch: {WORDS.get(state.status, state.status)} · {detail}"))

    def _progress(self, p) -> None:
        if p.stage == "embed" and p.total:
            self.post_message(self.Progressed(f"watch: {self._doing()} · {p.store} {p.done}/{p.total} chunks"))

    def _doing(self) -> str:
        status = self.watcher.state.status if self.watcher else "stopped"
        return WORDS.get(status, status)

    def stop(self) -> None:
        """Ask the watcher to stop; the line says "stopping" until its thread has ended."""
        if self.watcher is None or self.stopping:
            return
        self.stopping = True
        self.update("watch: stopping… (the current file finishes first)")
        self._wait_stopped()

    @work(thread=True, exit_on_error=False, group="watch-stop")
    def _wait_stopped(self) -> None:
        self.stop_and_wait()
        self.post_message(self.Stopped())

    def stop_and_wait(self) -> None:
        """Blocking: stop the watcher and wait for its thread (call from a worker thread)."""
        watcher = self.watcher
        if watcher is not None:
            while not watcher.stop(timeout=5):
                pass

    @on(Progressed)
    def _progressed(self, message: Progressed) -> None:
        if self.watcher is not None and not self.stopping:
            self.update(message.text)

    @on(Changed)
    def _changed(self, message: Changed) -> None:
        if self.watcher is not None and not self.stopping:
            self.update(message.text)

    @on(Stopped)
    def _stopped(self) -> None:
        self.watcher = None
        self.stopping = False
        self.update("watch: off")

    def on_unmount(self) -> None:
        if self.watcher is not None:
            self.watcher.stop_event.set()
