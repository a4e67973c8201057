"""The Search tab: a query, a scope switch, hits, and a highlighted preview."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, OptionList, RadioButton, RadioSet, Static
from textual.widgets.option_list import Option

LEXERS = {".py": "python", ".md": "markdown", ".mdx": "markdown", ".js": "javascript", ".ts": "typescript",
          ".tsx": "tsx", ".go": "go", ".rs": "rust", ".yml": "yaml", ".yaml": "yaml", ".json": "json",
          ".sh": "bash", ".toml": "toml", ".sql": "sql", ".rb": "ruby", ".java": "java", ".c": "c", ".h": "c"}


class SearchPane(Widget):
    @dataclass
    class Submitted(Message):
        query: str
        scope: str

    @dataclass
    class HitChosen(Message):
        hit: object
        open_editor: bool

    def __init__(self, **kw):
        super().__init__(**kw)
        self.hits: list = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="search-bar"):
            yield Input(placeholder="search this repo's stores…", id="search-input")
            with RadioSet(id="scope"):
                yield RadioButton("store", value=True, id="scope-store")
                yield RadioButton("workspace", id="scope-workspace")
                yield RadioButton("org", id="scope-organization")
        with Horizontal(id="search-body"):
            yield OptionList(id="hits")
            with VerticalScroll(id="preview-scroll"):
                yield Static("", id="preview")
        yield Static("", id="search-status")

    @property
    def scope(self) -> str:
        pressed = self.query_one("#scope", RadioSet).pressed_button
        return (pressed.id or "scope-store").removeprefix("scope-") if pressed else "store"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.status("searching…")
            self.post_message(self.Submitted(event.value, self.scope))

    def status(self, text: str) -> None:
        self.query_one("#search-status", Static).update(text)

    def show(self, result) -> None:
        self.hits = result.hits
        options = self.query_one("#hits", OptionList)
        options.clear_options()
        for hit in result.hits:
            label = Text.assemble((f"{hit.score:.3f} ", "dim"), (f"{hit.store} ", "cyan"),
                                  f"{hit.path}:{hit.start_line}-{hit.end_line}")
            options.add_option(Option(label))
        failed = f"; failed: {', '.join(result.failed)}" if result.failed else ""
        self.status(f"{len(result.hits)} hits in {len(result.namespaces)} namespace(s){failed}")
        if result.hits:
            options.highlighted = 0
            self.preview(result.hits[0])
        else:
            self.query_one("#preview", Static).update("no hits")

    def preview(self, hit) -> None:
        lexer = LEXERS.get(PurePosixPath(hit.path).suffix.lower(), "text")
        self.query_one("#preview", Static).update(
            Syntax(hit.text, lexer, line_numbers=True, start_line=hit.start_line, word_wrap=True,
                   theme="ansi_dark"))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if 0 <= event.option_index < len(self.hits):
            self.preview(self.hits[event.option_index])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if 0 <= event.option_index < len(self.hits):
            self.post_message(self.HitChosen(self.hits[event.option_index], open_editor=False))

    def current_hit(self):
        index = self.query_one("#hits", OptionList).highlighted
        return self.hits[index] if index is not None and index < len(self.hits) else None
