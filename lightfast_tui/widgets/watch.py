"""The watch line under the tabs: starts and stops a core Watcher and shows its state."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.message import Message
from textual.widgets import Static


class WatchStatus(Static):
    @dataclass
    class Changed(Message):
        """Bubbles up after every applied batch so the app can refresh the namespaces."""

        text: str

    def __init__(self, service, **kw):
        super().__init__("watch: off", **kw)
        self.service = service
        self.watcher = None

    @property
    def watching(self) -> bool:
        return self.watcher is not None

    def toggle(self) -> None:
        if self.watcher is not None:
            self.stop()
            return
        from core.watch import Watcher

        self.watcher = Watcher(self.service, on_batch=lambda state, _report: self.post_message(
            self.Changed(f"watch: {state.status} · {state.last_error or state.last_summary}")))
        self.watcher.start()
        self.update("watch: starting…")

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop_event.set()
            self.watcher = None
        self.update("watch: off")

    @on(Changed)
    def _changed(self, message: Changed) -> None:
        if self.watcher is not None:
            self.update(message.text)

    def on_unmount(self) -> None:
        if self.watcher is not None:
            self.watcher.stop_event.set()
