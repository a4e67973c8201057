"""The Search tab: a query, a scope switch, a mode switch, the hits, and a highlighted preview.

The search runs in a thread worker. The embedding model is warmed in the
background the first time this pane gets the focus, so start-up never waits
for it and the first query rarely does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, OptionList, Select, Static
from textual.widgets.option_list import Option

from core.errors import LightfastError
from lightfast_tui import widgets

SCOPES = ("store", "workspace", "organization")
MODES = (("hybrid", "hybrid"), ("dense", "dense"), ("lexical", "lexical"))  # core.search.MODES
ALL = "__all__"
HINT = "/ types a query · enter searches · on a hit: enter copies path:line, e opens $EDITOR"


class HitList(OptionList):
    """The hits grouped by file, one line each; enter copies `path:line`, e opens $EDITOR.

    A file's header line (greyed, not selectable) comes before its hits; files
    are ordered by their best hit, hits within a file by score.
    """

    BINDINGS = [
        Binding("enter", "select", "Copy path:line", id="hit-copy"),
        Binding("e", "open_editor", "Open in $EDITOR", id="hit-editor"),
    ]

    @dataclass
    class Chosen(Message):
        hit: object
        how: str  # "copy" | "editor"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.hits: list = []

    def set_hits(self, hits: list) -> None:
        self.hits = hits
        self.clear_options()
        self.add_options(_grouped_options(hits))
        if hits:
            self.action_first()

    @property
    def current(self):
        i = self.highlighted
        if i is None:
            return None
        option = self.get_option_at_index(i)
        return self.hits[int(option.id)] if option.id is not None else None

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Chosen(self.hits[int(event.option.id)], "copy"))

    def action_open_editor(self) -> None:
        if self.current is not None:
            self.post_message(self.Chosen(self.current, "editor"))


def _grouped_options(hits: list) -> list[Option]:
    groups: dict[tuple[str, str], list[int]] = {}
    for i, hit in enumerate(hits):  # hits arrive best first, so groups keep that order
        groups.setdefault((hit.namespace, hit.path), []).append(i)
    options = []
    for (_, path), members in groups.items():
        first = hits[members[0]]
        count = f" {len(members)} hits" if len(members) > 1 else ""
        options.append(Option(Text.assemble((path, "bold"), (f"  {first.store}", "cyan"), (count, "dim")),
                              disabled=True))
        for i in members:
            hit = hits[i]
            label = Text.assemble((f"  {hit.score:5.3f} ", "dim"), f"{hit.start_line}-{hit.end_line}",
                                  (f"  {hit.headings}" if hit.headings else "", "dim"))
            label.no_wrap, label.overflow = True, "ellipsis"
            options.append(Option(label, id=str(i)))
    return options


class SearchPane(widgets.ReportsCrashes, Widget):
    @dataclass
    class Results(Message):
        result: object

    class Failed(widgets.Failed):
        pass

    def __init__(self, service, *, top_k: int = 20, **kw):
        super().__init__(**kw)
        self.service = service
        self.top_k = top_k
        self.query = ""
        self._warming = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="search-bar"):
            yield Input(placeholder="query (enter searches, esc leaves)", id="search-input", compact=True)
            yield Select(scope_options(self.service.config.stores), value="store:" + ALL, allow_blank=False,
                         compact=True, id="search-scope")
            yield Select(MODES, value="hybrid", allow_blank=False, compact=True, id="search-mode",
                         tooltip="hybrid: meaning and exact words; dense: meaning only; lexical: words only")
        with Horizontal(id="search-body"):
            yield HitList(id="hits")
            with Vertical(id="preview-box"):
                yield Static("", id="preview-title")
                with VerticalScroll(id="preview-scroll"):
                    yield Static("", id="preview")
        yield Static(HINT, id="search-status")

    # -- scope -----------------------------------------------------------------------------
    @property
    def scope(self) -> str:
        return str(self.query_one("#search-scope", Select).value).split(":")[0]

    @property
    def store(self) -> str | None:
        """The one store searched, or None for all of the scope."""
        value = str(self.query_one("#search-scope", Select).value)
        store = value.partition(":")[2]
        return store if store and store != ALL else None

    def set_scope(self, scope: str) -> None:
        self.query_one("#search-scope", Select).value = "store:" + ALL if scope == "store" else scope

    @property
    def mode(self) -> str:
        return str(self.query_one("#search-mode", Select).value)

    @on(Select.Changed, "#search-mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        event.stop()
        if self.query:  # compare the modes on the same query
            self.search(self.query)

    # -- warming the model -----------------------------------------------------------------
    def on_descendant_focus(self) -> None:
        if not self._warming:
            self._warming = True
            self._warm()

    @work(thread=True, exclusive=True, exit_on_error=False, group="warm")
    def _warm(self) -> None:
        try:
            warm = getattr(self.service.embedder, "warm", None)
            if warm is not None:
                warm()
        except LightfastError as exc:
            self.post_message(self.Failed("loading the embedding model", str(exc)))

    # -- searching -------------------------------------------------------------------------
    @on(Input.Submitted, "#search-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.search(event.value)

    def search(self, query: str) -> None:
        scope, store = self.scope, self.store
        stores = [store] if store else None
        self.query = query
        self.status(f"searching {store or ('all stores' if scope == 'store' else 'the ' + scope)}…")
        self._search(query, scope, stores, self.mode)

    @work(thread=True, exclusive=True, exit_on_error=False, group="search")
    def _search(self, query: str, scope: str, stores: list[str] | None, mode: str) -> None:
        try:
            result = self.service.search(query, scope=scope, stores=stores, top_k=self.top_k, mode=mode)
        except LightfastError as exc:
            self.post_message(self.Failed("search", str(exc)))
            self.post_message(self.Results(None))
            return
        self.post_message(self.Results(result))

    @on(Results)
    def _results(self, message: Results) -> None:
        result = message.result
        hits = self.query_one(HitList)
        if result is None:
            hits.set_hits([])
            self.status("search failed")
            self._preview(None)
            return
        hits.set_hits(result.hits)
        files = len({(h.namespace, h.path) for h in result.hits})
        failed = f"; failed: {', '.join(result.failed)}" if result.failed else ""
        failed += "".join(f"; {note}" for note in result.notes)
        n = len(result.hits)
        self.status(f"{n} hit{'' if n == 1 else 's'} in {files} file{'' if files == 1 else 's'} from "
                    f"{len(result.namespaces)} namespace(s) for {result.query!r}{failed}")
        self._preview(result.hits[0] if result.hits else None)
        if result.hits:
            hits.focus()

    def crashed(self, group: str) -> None:
        if group == "search":
            self.query_one(HitList).set_hits([])
            self._preview(None)
            self.status("search failed: internal error (see the status line)")

    def status(self, text: str) -> None:
        self.query_one("#search-status", Static).update(text)

    # -- preview ---------------------------------------------------------------------------
    @on(OptionList.OptionHighlighted, "#hits")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._preview(self.query_one(HitList).current)

    def _preview(self, hit) -> None:
        title = self.query_one("#preview-title", Static)
        body = self.query_one("#preview", Static)
        if hit is None:
            title.update("")
            body.update(Text("no hits", style="dim"))
            return
        heading = f"  {hit.headings}" if hit.headings else ""
        title.update(Text.assemble((f"{hit.path}:{hit.start_line}-{hit.end_line}", "bold"),
                                   (f"  {hit.store}", "cyan"), (heading, "dim")))
        syntax = Syntax(hit.text, Syntax.guess_lexer(hit.path, hit.text), theme="ansi_dark",
                        line_numbers=True, start_line=hit.start_line, word_wrap=True)
        for start, end in term_spans(hit.text, self.query):
            syntax.stylize_range("bold black on yellow", start, end)
        body.update(syntax)
        self.query_one("#preview-scroll", VerticalScroll).scroll_home(animate=False)


def scope_options(stores) -> list[tuple[str, str]]:
    """One compact switch for scope and store: all stores, one store, workspace, organization."""
    return ([("all stores", "store:" + ALL)] + [(f"store {s.slug}", f"store:{s.slug}") for s in stores]
            + [("workspace", "workspace"), ("organization", "organization")])


def term_spans(text: str, query: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(line, column) ranges, 1-based lines as rich's Syntax wants, of the query's words in text."""
    words = {w for w in re.findall(r"\w+", query.lower()) if len(w) >= 3}
    if not words:
        return []
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    spans = []
    for number, line in enumerate(text.split("\n"), 1):
        for m in pattern.finditer(line):
            spans.append(((number, m.start()), (number, m.end())))
    return spans
