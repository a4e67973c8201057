"""The Ingest tab: one store or all, a progress bar and a live log.

The bar follows core's progress events, the same the CLI and MCP render:
files read and chunked, then chunks embedded out of the store's total (marked + in
the line under the bar while files are still being read and it grows), with rate and ETA. The ingest runs in a thread worker that only posts messages.
Cancelling sets the worker's flag, which core checks between files and
batches through `cancelled`. When another writer holds the data dir's lock
(this app's own watcher, or another process) the pane says so and waits.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, ProgressBar, RichLog, Select, Static
from textual.worker import get_current_worker

from core.errors import LightfastError, LockedError
from lightfast_tui import widgets

ALL = "__all__"
LOGGED_STAGES = ("recover", "delete", "done")
#: How long one try at the writer lock lasts before the pane checks for a cancel.
LOCK_TRY_S = 1.0


class IngestPane(widgets.ReportsCrashes, Widget):
    BINDINGS = [
        Binding("s", "start", "Start ingest", id="ingest-start"),
        Binding("c", "cancel", "Cancel ingest", id="ingest-cancel"),
    ]

    @dataclass
    class Progressed(Message):
        progress: object  # core.ingest.Progress

    @dataclass
    class Waiting(Message):
        why: str

    @dataclass
    class Finished(Message):
        """Bubbles up so the app refreshes what depends on the mirror."""

        report: object | None  # core.service.IngestReport, None when it failed
        cancelled: bool

    class Failed(widgets.Failed):
        pass

    def __init__(self, service, **kw):
        super().__init__(**kw)
        self.service = service
        self.busy = False

    def compose(self) -> ComposeResult:
        stores = [s.slug for s in self.service.config.stores]
        with Horizontal(id="ingest-bar"):
            yield Select([("all stores", ALL)] + [(s, s) for s in stores], value=ALL, allow_blank=False,
                         id="ingest-store")
            yield Button("Ingest", id="ingest-go", variant="primary")
            yield Button("Cancel", id="ingest-stop", disabled=True)
        yield ProgressBar(total=1, id="ingest-progress", show_eta=False, show_percentage=True)
        yield Static("idle", id="ingest-stage")
        yield RichLog(id="ingest-log", wrap=True, markup=True, max_lines=2000)

    # -- starting and stopping -------------------------------------------------------------
    def action_start(self) -> None:
        value = self.query_one("#ingest-store", Select).value
        self.start(None if value == ALL else [str(value)])

    def start(self, stores: list[str] | None) -> None:
        """Ingest the given stores (None: all); refused while an ingest runs."""
        if self.busy:
            self.notify("an ingest is already running", severity="warning")
            return
        self._set_busy(True)
        self.query_one("#ingest-progress", ProgressBar).update(total=None, progress=0)
        self.log_line(f"[b]ingest[/b] {escape(', '.join(stores)) if stores else 'all stores'}")
        self._ingest(stores)

    def action_cancel(self) -> None:
        if self.busy:
            self.workers.cancel_group(self, "ingest")
            self.query_one("#ingest-stage", Static).update("cancelling after the current batch…")

    @on(Button.Pressed, "#ingest-go")
    def _go(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#ingest-stop")
    def _stop(self) -> None:
        self.action_cancel()

    def _set_busy(self, on: bool) -> None:
        self.busy = on
        go, stop = self.query_one("#ingest-go", Button), self.query_one("#ingest-stop", Button)
        enable, disable = (stop, go) if on else (go, stop)
        enable.disabled = False
        if disable.has_focus:  # hand the focus over, or Textual moves it to another tab
            enable.focus()
        disable.disabled = True

    # -- the worker --------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="ingest")
    def _ingest(self, stores: list[str] | None) -> None:
        worker = get_current_worker()
        report = None
        try:
            while not worker.is_cancelled:
                try:
                    report = self.service.ingest(
                        stores, progress=lambda p: self.post_message(self.Progressed(p)),
                        cancelled=lambda: worker.is_cancelled, lock_wait=LOCK_TRY_S,
                    )
                    break
                except LockedError as exc:
                    self.post_message(self.Waiting(str(exc)))
        except LightfastError as exc:
            self.post_message(self.Failed("ingest", str(exc)))
        finally:  # also after our own bug, so the pane never stays "running"
            self.post_message(self.Finished(report, worker.is_cancelled))

    @on(Waiting)
    def _waiting(self, message: Waiting) -> None:
        """On the UI thread: say who holds the lock (this app's own watcher, or another process)."""
        watcher = getattr(self.app.query_one("#watch-status"), "watcher", None)
        why = ("waiting for this app's watcher to finish its batch…" if watcher is not None and watcher.running
               else f"waiting: {message.why}")
        stage = self.query_one("#ingest-stage", Static)
        if str(stage.content) != why:
            stage.update(why)
            self.log_line(f"[yellow]{escape(why)}[/]")

    def crashed(self, group: str) -> None:
        if group == "ingest":  # Finished (posted in the worker's finally) re-enables the controls
            self.log_line("[red]internal error[/]: see the status line")

    # -- progress ------------------------------------------------------------------------------
    @on(Progressed)
    def _progressed(self, message: Progressed) -> None:
        message.stop()
        p = message.progress
        self.query_one("#ingest-progress", ProgressBar).update(total=max(p.total, 1),
                                                              progress=p.done if p.total else 1)
        self.query_one("#ingest-stage", Static).update(stage_line(p))
        if p.stage in LOGGED_STAGES:
            self.log_line(f"[b]{escape(p.store)}[/b] {p.stage}: {escape(p.message)}")
        elif p.stage == "scan" and p.done == 0:
            self.log_line(f"[b]{escape(p.store)}[/b] {escape(p.message)}")
        elif p.stage == "embed" and p.done == 0:
            so_far = "" if p.total_final else f"+ so far, {p.files_read:,}/{p.files_total:,} files read"
            self.log_line(f"[b]{escape(p.store)}[/b] {p.total:,}{so_far} chunks to embed ({escape(p.message)})")

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        self._set_busy(False)
        stage = self.query_one("#ingest-stage", Static)
        if message.report is None:
            stage.update("cancelled" if message.cancelled else "failed")
            self.log_line("[yellow]cancelled[/] before it started" if message.cancelled else "[red]failed[/]")
            return
        word = "[yellow]cancelled[/]" if message.cancelled else "[green]done[/]"
        stage.update("cancelled" if message.cancelled else "done")
        self.log_line(f"{word} in {message.report.seconds:.1f} s: {message.report.summary()}")

    def log_line(self, text: str) -> None:
        self.query_one("#ingest-log", RichLog).write(text)


def stage_line(p) -> str:
    """One line under the bar: what the bar counts right now, with rate and ETA while embedding."""
    if p.stage == "scan":
        return f"{p.store}: reading and chunking {p.done:,}/{p.total:,} files"
    if p.stage == "embed":
        line = f"{p.store}: embedded {p.done:,}/{p.total:,}{'' if p.total_final else '+'} chunks"
        if not p.total_final:  # the total still grows while files are read
            line += f" · read {p.files_read:,}/{p.files_total:,} files"
        if p.rate:
            line += f" · {p.rate:,.1f} chunks/s"
        if p.eta_s is not None and p.done < p.total:
            minutes, seconds = divmod(int(p.eta_s + 0.5), 60)
            line += f" · ETA {minutes}:{seconds:02d}"
        return line
    if p.stage == "done":
        return f"{p.store}: done · {p.message}"
    return f"{p.store}: {p.stage} {p.message}"
