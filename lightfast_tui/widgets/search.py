"""The Search tab: a query, a scope switch, the hits, and a highlighted preview of the chunk.

The search runs in a thread worker. The embedding model is warmed in the
background the first time this pane gets the focus, so start-up never waits
for it and the first query rarely does.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, RadioButton, RadioSet, Select, Static
from textual.widgets.option_list import Option

from core.errors import LightfastError
from lightfast_tui import widgets

SCOPES = ("store", "workspace", "organization")
ALL = "__all__"
HINT = "enter searches · on a hit: enter copies path:line, e opens $EDITOR"


class HitList(OptionList):
    """The hits; enter copies `path:line`, e opens $EDITOR at the line."""

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
        self.add_options(Option(_hit_label(hit)) for hit in hits)
        if hits:
            self.highlighted = 0

    @property
    def current(self):
        i = self.highlighted
        return self.hits[i] if i is not None and i < len(self.hits) else None

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_index < len(self.hits):
            self.post_message(self.Chosen(self.hits[event.option_index], "copy"))

    def action_open_editor(self) -> None:
        if self.current is not None:
            self.post_message(self.Chosen(self.current, "editor"))


class SearchPane(Widget):
    @dataclass
    class Results(Message):
        result: object

    class Failed(widgets.Failed):
        pass

    def __init__(self, service, *, top_k: int = 20, **kw):
        super().__init__(**kw)
        self.service = service
        self.top_k = top_k
        self._warming = False

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search this repo's stores (enter)", id="search-input")
        with Horizontal(id="search-options"):
            yield Label("scope", classes="option-label")
            with RadioSet(id="scope", compact=True):
                for i, scope in enumerate(SCOPES):
                    yield RadioButton(scope, value=i == 0, id=f"scope-{scope}", compact=True)
            yield Select([("all stores", ALL)] + [(s.slug, s.slug) for s in self.service.config.stores],
                         value=ALL, allow_blank=False, compact=True, id="search-store")
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
        pressed = self.query_one("#scope", RadioSet).pressed_button
        return (pressed.id or "scope-store").removeprefix("scope-") if pressed else "store"

    def set_scope(self, scope: str) -> None:
        self.query_one(f"#scope-{scope}", RadioButton).value = True

    @on(RadioSet.Changed, "#scope")
    def _scope_changed(self) -> None:
        self.query_one("#search-store", Select).disabled = self.scope != "store"

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
        scope = self.scope
        store = self.query_one("#search-store", Select).value
        stores = [str(store)] if scope == "store" and store != ALL else None
        self.status(f"searching {scope if stores is None else store}…")
        self._search(query, scope, stores)

    @work(thread=True, exclusive=True, exit_on_error=False, group="search")
    def _search(self, query: str, scope: str, stores: list[str] | None) -> None:
        try:
            result = self.service.search(query, scope=scope, stores=stores, top_k=self.top_k)
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
        failed = f"; failed: {', '.join(result.failed)}" if result.failed else ""
        self.status(f"{len(result.hits)} hits from {len(result.namespaces)} namespace(s){failed}")
        self._preview(result.hits[0] if result.hits else None)
        if result.hits:
            hits.focus()

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
        body.update(Syntax(hit.text, Syntax.guess_lexer(hit.path, hit.text), theme="ansi_dark",
                           line_numbers=True, start_line=hit.start_line, word_wrap=True))


def _hit_label(hit) -> Text:
    return Text.assemble((f"{hit.score:6.3f} ", "dim"), (f"{hit.store} ", "cyan"),
                         f"{hit.path}:{hit.start_line}-{hit.end_line}")
