"""LightfastApp: tabs for namespaces, search, ingest and stats over one core service.

Every call into core runs in a thread worker; workers post messages and never
touch widgets. The embedding model is loaded on the first search or ingest,
never at start-up.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from core.errors import LightfastError
from lightfast_tui.ingest import IngestPane
from lightfast_tui.modals import ConfirmModal, HelpScreen
from lightfast_tui.namespaces import NamespaceBrowser
from lightfast_tui.search import SearchPane
from lightfast_tui.stats_view import StatsView


class LightfastApp(App):
    CSS_PATH = "lightfast.tcss"
    TITLE = "Lightfast"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark,f1", "help", "Help", id="help"),
        Binding("1", "tab('namespaces')", "Namespaces", id="tab-namespaces", show=False),
        Binding("2", "tab('search')", "Search", id="tab-search", show=False),
        Binding("3", "tab('ingest')", "Ingest", id="tab-ingest", show=False),
        Binding("4", "tab('stats')", "Stats", id="tab-stats", show=False),
        Binding("slash", "focus_search", "Search", id="focus-search"),
        Binding("i", "ingest_all", "Ingest all", id="ingest-all"),
        Binding("w", "toggle_watch", "Watch", id="toggle-watch"),
        Binding("d", "delete_vectors", "Delete vectors", id="delete-vectors"),
        Binding("x", "remove_record", "Remove record", id="remove-record", show=False),
        Binding("e", "open_editor", "Editor", id="open-editor", show=False),
        Binding("ctrl+r", "refresh", "Refresh", id="refresh"),
    ]

    @dataclass
    class Loaded(Message):
        rows: list

    @dataclass
    class Searched(Message):
        result: object

    @dataclass
    class Progressed(Message):
        progress: object

    @dataclass
    class IngestDone(Message):
        report: object

    @dataclass
    class StatsLoaded(Message):
        named: dict
        scenarios: list

    @dataclass
    class Failed(Message):
        what: str
        error: str

    @dataclass
    class WatchChanged(Message):
        text: str

    def __init__(self, service, **kw):
        super().__init__(**kw)
        self.service = service
        self.selected: dict | None = None
        self.watcher = None

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="namespaces"):
            with TabPane("Namespaces", id="namespaces"):
                yield NamespaceBrowser(id="browser")
            with TabPane("Search", id="search"):
                yield SearchPane(id="search-pane")
            with TabPane("Ingest", id="ingest"):
                yield IngestPane([s.slug for s in self.service.config.stores], id="ingest-pane")
            with TabPane("Stats", id="stats"):
                yield StatsView(id="stats-view")
        yield Static("watch: off", id="watch-status")
        yield Footer()

    def on_mount(self) -> None:
        c = self.service.config
        self.sub_title = f"{c.organization}/{c.workspace} · {self.service.environment}"
        self.load_namespaces()

    # -- namespaces -------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def load_namespaces(self) -> None:
        try:
            self.post_message(self.Loaded(self.service.namespaces()))
        except LightfastError as exc:
            self.post_message(self.Failed("loading namespaces", str(exc)))

    def on_lightfast_app_loaded(self, message: Loaded) -> None:
        self.query_one(NamespaceBrowser).show(message.rows, self.service.profile)

    @on(NamespaceBrowser.Selected)
    def remember_selection(self, message: NamespaceBrowser.Selected) -> None:
        self.selected = message.row

    def _selected_store(self) -> dict | None:
        row = self.selected
        if not row or not row.get("store_slug"):
            self.notify("select a store in the Namespaces tab first", severity="warning")
            return None
        return row

    def action_delete_vectors(self) -> None:
        row = self._selected_store()
        if row is None:
            return
        loss = (f"All {row.get('vectors') or 0:,} vectors of namespace {row['namespace_name']} in index "
                f"{row['index_name']} will be deleted. The files stay; an ingest restores them.")
        self.push_screen(ConfirmModal("Delete this namespace's vectors?", loss),
                         lambda yes: yes and self.delete_namespace(row["store_slug"], False))

    def action_remove_record(self) -> None:
        row = self._selected_store()
        if row is None:
            return
        loss = (f"The record of {row['namespace_name']} ({row.get('documents') or 0:,} documents) and all "
                f"{row.get('vectors') or 0:,} of its vectors will be removed.")
        self.push_screen(ConfirmModal("Remove this store's record?", loss, "Remove"),
                         lambda yes: yes and self.delete_namespace(row["store_slug"], True))

    @work(thread=True, exclusive=True, exit_on_error=False, group="write")
    def delete_namespace(self, store: str, remove_record: bool) -> None:
        try:
            count = self.service.delete_namespace(store, remove_record=remove_record)
        except LightfastError as exc:
            self.post_message(self.Failed("delete", str(exc)))
            return
        self.call_from_thread(self.notify, f"deleted {count:,} vectors of {store}")
        self.load_namespaces()

    # -- search -------------------------------------------------------------------
    def action_focus_search(self) -> None:
        self.action_tab("search")
        self.query_one("#search-input").focus()

    @on(SearchPane.Submitted)
    def start_search(self, message: SearchPane.Submitted) -> None:
        self.search(message.query, message.scope)

    @work(thread=True, exclusive=True, exit_on_error=False, group="search")
    def search(self, query: str, scope: str) -> None:
        try:
            self.post_message(self.Searched(self.service.search(query, scope=scope, top_k=20)))
        except LightfastError as exc:
            self.post_message(self.Failed("search", str(exc)))

    def on_lightfast_app_searched(self, message: Searched) -> None:
        self.query_one(SearchPane).show(message.result)

    @on(SearchPane.HitChosen)
    def copy_hit(self, message: SearchPane.HitChosen) -> None:
        where = f"{message.hit.path}:{message.hit.start_line}"
        self.copy_to_clipboard(where)
        self.notify(f"copied {where}")

    def action_open_editor(self) -> None:
        hit = self.query_one(SearchPane).current_hit()
        if hit is None:
            return
        editor = os.environ.get("EDITOR", "vi")
        with self.suspend():
            subprocess.run([editor, f"+{hit.start_line}", str(self.service.root / hit.path)], check=False)

    # -- ingest ---------------------------------------------------------------------
    def action_ingest_all(self) -> None:
        self.action_tab("ingest")
        self.ingest(None)

    @on(IngestPane.Requested)
    def start_ingest(self, message: IngestPane.Requested) -> None:
        self.ingest(message.stores)

    @work(thread=True, exclusive=True, exit_on_error=False, group="write")
    def ingest(self, stores: list[str] | None) -> None:
        worker = get_current_worker()
        self.call_from_thread(self.query_one(IngestPane).running, True)
        try:
            report = self.service.ingest(stores, progress=lambda p: self.post_message(self.Progressed(p)),
                                         cancelled=lambda: worker.is_cancelled, lock_wait=5)
        except LightfastError as exc:
            self.post_message(self.Failed("ingest", str(exc)))
            self.call_from_thread(self.query_one(IngestPane).running, False)
            return
        self.post_message(self.IngestDone(report))

    def action_cancel_ingest(self) -> None:
        self.workers.cancel_group(self, "write")

    def on_lightfast_app_progressed(self, message: Progressed) -> None:
        self.query_one(IngestPane).progress(message.progress)

    def on_lightfast_app_ingest_done(self, message: IngestDone) -> None:
        pane = self.query_one(IngestPane)
        pane.running(False)
        t = message.report.totals()
        pane.log_line(f"[green]done[/] in {message.report.seconds:.1f} s: {t['added']} added, {t['changed']} "
                      f"changed, {t['removed']} removed, {t['chunks_embedded']} chunks embedded, "
                      f"{t['skipped']} skipped, {t['failed']} failed")
        self.load_namespaces()

    # -- watch ----------------------------------------------------------------------
    def action_toggle_watch(self) -> None:
        from core.watch import Watcher

        if self.watcher is not None and self.watcher.running:
            self.watcher.stop_event.set()
            self.watcher = None
            self.query_one("#watch-status", Static).update("watch: off")
            return
        self.watcher = Watcher(self.service, on_batch=lambda state, _r: self.post_message(
            self.WatchChanged(f"watch: {state.status} · {state.last_error or state.last_summary}")))
        self.watcher.start()
        self.query_one("#watch-status", Static).update("watch: starting…")

    def on_lightfast_app_watch_changed(self, message: WatchChanged) -> None:
        self.query_one("#watch-status", Static).update(message.text)
        self.load_namespaces()

    # -- stats ----------------------------------------------------------------------
    @on(TabbedContent.TabActivated)
    def tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "stats":
            self.load_stats()

    @work(thread=True, exclusive=True, exit_on_error=False, group="stats")
    def load_stats(self) -> None:
        from core.cost import design_scenarios
        from core.stats import run_named

        limits = self.service.config.limits
        try:
            named = run_named(self.service.mirror, limits.namespace_limit, limits.alert_threshold)
        except LightfastError as exc:
            self.post_message(self.Failed("stats", str(exc)))
            return
        self.post_message(self.StatsLoaded(named, design_scenarios()))

    def on_lightfast_app_stats_loaded(self, message: StatsLoaded) -> None:
        self.query_one(StatsView).show(message.named, message.scenarios)

    # -- shared -----------------------------------------------------------------------
    def on_lightfast_app_failed(self, message: Failed) -> None:
        self.notify(f"{message.what}: {message.error}", severity="error", timeout=8)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_refresh(self) -> None:
        self.load_namespaces()

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        yield SystemCommand("Search", "Search this repo's stores", self.action_focus_search)
        yield SystemCommand("Ingest all stores", "Embed new and changed files", self.action_ingest_all)
        yield SystemCommand("Toggle watch", "Re-ingest files as they change", self.action_toggle_watch)
        yield SystemCommand("Delete namespace vectors", "Delete the selected store's vectors (asks first)",
                            self.action_delete_vectors)
        yield SystemCommand("Remove store record", "Remove the selected store's record (asks first)",
                            self.action_remove_record)
        yield SystemCommand("Refresh namespaces", "Reload the tree from the mirror and index", self.action_refresh)
        yield SystemCommand("Stats", "Dashboard figures and cost", lambda: self.action_tab("stats"))
        yield SystemCommand("Help", "Keys and what they do", self.action_help)

    def on_unmount(self) -> None:
        if self.watcher is not None:
            self.watcher.stop_event.set()
