"""LightfastApp: tabs for namespaces, search, ingest and stats over one core service.

The app only wires panes together: each pane calls core from its own thread
worker and posts messages up. Nothing here loads the embedding model; the
Search pane warms it in the background the first time it gets the focus.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Callable

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SuspendNotSupported, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Header, Input, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from lightfast_tui import widgets
from lightfast_tui.screens.help import HelpScreen
from lightfast_tui.widgets.ingest import IngestPane
from lightfast_tui.widgets.namespaces import NamespaceBrowser, TimeFormat, format_time
from lightfast_tui.widgets.search import SCOPES, HitList, SearchPane
from lightfast_tui.widgets.watch import WatchStatus

TABS = ("namespaces", "search", "ingest", "stats")
#: Where the focus lands when a tab is shown: never a text input, so the tab keys keep working.
FOCUS = {"namespaces": "#ns-tree", "search": "#hits", "ingest": "#ingest-store"}
#: Where Escape takes the focus from a text input.
LEAVE = {"ns-filter": "#ns-tree", "search-input": "#hits"}


class LightfastApp(App):
    CSS_PATH = Path(__file__).with_name("lightfast.tcss")  # absolute: subclasses may live elsewhere
    TITLE = "Lightfast"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark,f1", "help", "Help", id="help", key_display="?"),
        Binding("slash", "focus_search", "Search", id="search"),
        Binding("i", "ingest_all", "Ingest all", id="ingest-all"),
        Binding("w", "toggle_watch", "Watch", id="watch", tooltip="Start or stop re-ingesting files as they change"),
        Binding("ctrl+r", "refresh", "Refresh", id="refresh", show=False),
        Binding("escape", "leave_input", "Leave input", id="leave-input", show=False),
        *(Binding(str(n), f"tab('{tab}')", tab.title(), id=f"tab-{tab}", show=False)
          for n, tab in enumerate(TABS, 1)),
    ]

    def __init__(self, service, *, time_format: TimeFormat = format_time, **kw):
        """service: a core `Lightfast`, or a callable that returns one."""
        super().__init__(**kw)
        self.service = service() if callable(service) else service
        self.time_format = time_format
        self._focus_next: str | None = None  # set by action_tab for the TabActivated handler

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="namespaces"):
            with TabPane("Namespaces", id="namespaces"):
                yield NamespaceBrowser(self.service, time_format=self.time_format, id="browser")
            with TabPane("Search", id="search"):
                yield SearchPane(self.service, id="search-pane")
            with TabPane("Ingest", id="ingest"):
                yield IngestPane(self.service, id="ingest-pane")
            with TabPane("Stats", id="stats"):
                yield Static("Stats load when this tab is opened.", id="stats-placeholder")
        with Horizontal(id="status-bar"):
            yield Static("", id="message", markup=False)
            yield WatchStatus(self.service, id="watch-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        c = self.service.config
        self.sub_title = f"{c.organization}/{c.workspace} · {self.service.environment}"
        self.query_one("#ns-tree").focus()

    # -- tabs ---------------------------------------------------------------------------------
    def action_tab(self, tab: str, focus: str | None = None) -> None:
        """Show a tab; focus: a selector to focus there instead of the tab's usual widget."""
        tabs = self.query_one(TabbedContent)
        if tabs.active == tab:
            target = focus or FOCUS.get(tab)
            if target:
                self.query_one(target).focus()
            return
        self._focus_next = focus
        tabs.active = tab

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        tab = event.pane.id
        target, self._focus_next = self._focus_next or FOCUS.get(tab), None
        if target:
            self.query_one(target).focus()
        else:
            self.set_focus(None)  # nothing focusable there; the tab keys still work
        if tab == "stats":
            self._show_stats()

    def _show_stats(self) -> None:
        """Mount the StatsView on first visit (kept out of start-up), reload it on later ones."""
        from lightfast_tui.widgets.stats_tab import mount_or_reload

        mount_or_reload(self.query_one("#stats", TabPane), self.service)

    # -- actions ------------------------------------------------------------------------------
    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_sections()))

    def action_focus_search(self) -> None:
        self.action_tab("search", focus="#search-input")

    def action_search_scope(self, scope: str) -> None:
        self.query_one(SearchPane).set_scope(scope)
        self.action_focus_search()

    def action_leave_input(self) -> None:
        """Escape: out of a text input (the filter clears first), else close nothing."""
        focused = self.focused
        if isinstance(focused, Input) and focused.id in LEAVE:
            if focused.id == "ns-filter":
                self.query_one(NamespaceBrowser).clear_filter()
            self.query_one(LEAVE[focused.id]).focus()

    def action_quit(self) -> None:
        """Stop the watcher first (its ingest records how it ended), then exit."""
        watch = self.query_one(WatchStatus)
        if not watch.watching:
            self.exit()
            return
        self.say("stopping the watcher before quitting…")
        self._stop_and_exit(watch)

    @work(thread=True, exit_on_error=False, group="quit")
    def _stop_and_exit(self, watch: WatchStatus) -> None:
        watch.stop_and_wait()
        self.call_from_thread(self.exit)

    def action_ingest_all(self) -> None:
        self.action_tab("ingest")
        self.query_one(IngestPane).start(None)

    def action_cancel_ingest(self) -> None:
        self.query_one(IngestPane).action_cancel()

    def action_delete_vectors(self) -> None:
        self.query_one(NamespaceBrowser).action_delete_vectors()

    def action_remove_record(self) -> None:
        self.query_one(NamespaceBrowser).action_remove_record()

    def action_toggle_watch(self) -> None:
        self.query_one(WatchStatus).toggle()

    def action_refresh(self) -> None:
        self.query_one(NamespaceBrowser).reload()

    # -- messages from the panes ----------------------------------------------------------------
    def say(self, text: str, error: bool = False) -> None:
        """The status line: the last thing that happened stays on screen until the next."""
        self.query_one("#message", Static).update(Text(text, style="bold red" if error else ""))

    @on(widgets.Failed)
    def _failed(self, message: widgets.Failed) -> None:
        self.say(f"{message.what}: {message.error}", error=True)
        self.notify(f"{message.what}: {message.error}", severity="error", timeout=8, markup=False)

    def on_stats_view_failed(self, message) -> None:  # StatsView.Failed, without importing it
        self.say(f"stats: {message.error}", error=True)

    @on(widgets.Crashed)
    def _crashed(self, message: widgets.Crashed) -> None:
        """Our own bug in any pane's worker: the pane has reset itself; say what happened."""
        error = message.error
        self.say(f"internal error in {message.group}: {error.__class__.__name__}: {error}", error=True)

    @on(Worker.StateChanged)
    def _own_worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:  # the app's own workers (quit)
            self.post_message(widgets.Crashed(event.worker.group, event.worker.error))

    @on(IngestPane.Finished)
    @on(WatchStatus.Changed)
    def _mirror_changed(self) -> None:
        self.query_one(NamespaceBrowser).reload()

    @on(HitList.Chosen)
    def _hit_chosen(self, message: HitList.Chosen) -> None:
        hit = message.hit
        if message.how == "copy":
            where = f"{hit.path}:{hit.start_line}"
            self.copy_to_clipboard(where)
            self.notify(f"copied {where}", markup=False)
        else:
            self.open_in_editor(hit.path, hit.start_line)

    def open_in_editor(self, path: str, line: int) -> None:
        """Suspend the TUI and open $VISUAL / $EDITOR (default vi) at the line."""
        file = self.service.root / path
        if not file.is_file():
            self.notify(f"{path} is not in this checkout", severity="warning", markup=False)
            return
        editor = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
        name = os.path.basename(editor[0])
        if name in ("code", "code-insiders", "cursor"):
            args = [*editor, "--wait", "-g", f"{file}:{line}"]
        elif name in ("subl", "zed"):
            args = [*editor, "--wait", f"{file}:{line}"]
        else:  # vi, vim, nvim, emacs, nano, micro, hx, kak all take +LINE
            args = [*editor, f"+{line}", str(file)]
        try:
            with self.suspend():
                subprocess.run(args, check=False)
        except SuspendNotSupported:
            self.notify(f"this terminal cannot hand over to an editor: open {path}:{line}", markup=False)
        except OSError as exc:
            self.notify(f"cannot run {editor[0]}: {exc}", severity="error", markup=False)

    # -- discoverability --------------------------------------------------------------------------
    def help_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        def rows(bindings) -> list[tuple[str, str]]:
            out = []
            for b in bindings:
                keys = " / ".join(self.get_key_display(Binding(k, b.action)) for k in b.key.split(","))
                out.append((keys, b.description))
            return out

        return [
            ("Everywhere", rows(b for b in self.BINDINGS if not b.id.startswith("tab-"))
             + [("1 2 3 4", "Namespaces, Search, Ingest, Stats tabs"), (self.get_key_display(Binding("ctrl+p", "")), "Command palette"),
                ("tab", "Next pane")]),
            ("Namespaces tab (tree focused)", rows(NamespaceBrowser.BINDINGS)),
            ("Search tab (hits focused)", rows(HitList.BINDINGS) + [("/", "Back to the query")]),
            ("Ingest tab", rows(IngestPane.BINDINGS)),
        ]

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        commands: list[tuple[str, str, Callable]] = [
            ("Search", "Search this repo's stores", self.action_focus_search),
            *((f"Search scope: {s}", f"Search the {s}", lambda s=s: self.action_search_scope(s)) for s in SCOPES),
            ("Ingest all stores", "Embed new and changed files of every store", self.action_ingest_all),
            ("Ingest one store", "Pick a store in the Ingest tab", lambda: self.action_tab("ingest")),
            ("Cancel ingest", "Stop the running ingest after its current batch", self.action_cancel_ingest),
            ("Toggle watch", "Re-ingest files as they change", self.action_toggle_watch),
            ("Delete namespace vectors", "Delete the selected store's vectors (asks first)",
             self.action_delete_vectors),
            ("Remove store record", "Remove the selected store's record and vectors (asks first)",
             self.action_remove_record),
            ("Refresh namespaces", "Reload the tree from the mirror and the index", self.action_refresh),
            *((f"Tab: {t.title()}", f"Show the {t.title()} tab", lambda t=t: self.action_tab(t)) for t in TABS),
            ("Help: Lightfast keys", "Every key binding and what it does", self.action_help),
        ]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)
