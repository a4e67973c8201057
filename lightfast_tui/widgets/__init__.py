"""The panes of the TUI, one job each. Each calls core from its own thread worker."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.worker import Worker, WorkerState


@dataclass
class Failed(Message):
    """A pane's call into core raised a LightfastError; the app shows it once.

    Each pane nests its own subclass (`SearchPane.Failed`, ...); the app
    handles them all through this base class.
    """

    what: str
    error: str


@dataclass
class Crashed(Message):
    """A pane's worker died of our own bug; the app shows it where it stays visible."""

    group: str
    error: BaseException


class ReportsCrashes:
    """Mixin for panes: a worker that ends in error is reset by the pane (`crashed`) and reported up.

    Worker.StateChanged does not bubble, so each pane turns it into a Crashed
    message that does: one handler in the app for every worker failure.
    """

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.crashed(event.worker.group)
            self.post_message(Crashed(event.worker.group, event.worker.error))

    def crashed(self, group: str) -> None:
        """Put the pane back in a usable state after its worker of this group died."""
