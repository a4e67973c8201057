"""The panes of the TUI, one job each. Each calls core from its own thread worker."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class Failed(Message):
    """A pane's call into core raised a LightfastError; the app shows it once.

    Each pane nests its own subclass (`SearchPane.Failed`, ...); the app
    handles them all through this base class.
    """

    what: str
    error: str
