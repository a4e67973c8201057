"""The Ingest tab: one store or all, a progress bar and a live log."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, ProgressBar, RichLog, Select, Static

ALL = "__all__"


class IngestPane(Widget):
    @dataclass
    class Requested(Message):
        stores: list[str] | None

    def __init__(self, stores: list[str], **kw):
        super().__init__(**kw)
        self.stores = stores

    def compose(self) -> ComposeResult:
        with Horizontal(id="ingest-bar"):
            yield Select([("all stores", ALL)] + [(s, s) for s in self.stores], value=ALL, allow_blank=False,
                         id="ingest-store")
            yield Button("Ingest", id="ingest-go", variant="primary")
            yield Button("Cancel", id="ingest-cancel", disabled=True)
        yield ProgressBar(id="ingest-progress", show_eta=False)
        yield Static("", id="ingest-stage")
        yield RichLog(id="ingest-log", wrap=True, markup=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ingest-go":
            value = self.query_one("#ingest-store", Select).value
            self.post_message(self.Requested(None if value == ALL else [str(value)]))
        elif event.button.id == "ingest-cancel":
            self.app.action_cancel_ingest()

    def running(self, on: bool) -> None:
        self.query_one("#ingest-go", Button).disabled = on
        self.query_one("#ingest-cancel", Button).disabled = not on

    def progress(self, p) -> None:
        bar = self.query_one("#ingest-progress", ProgressBar)
        bar.update(total=max(p.total, 1), progress=p.done if p.total else 1)
        self.query_one("#ingest-stage", Static).update(f"{p.store}: {p.stage} {p.done}/{p.total}")
        if p.stage in ("scan", "done", "delete", "recover"):
            self.log_line(f"[b]{p.store}[/b] {p.stage}: {p.message}")

    def log_line(self, text: str) -> None:
        self.query_one("#ingest-log", RichLog).write(text)
