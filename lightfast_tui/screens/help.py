"""The help screen: every key, read from the bindings themselves so it cannot drift."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

ABOUT = ("One shared vector index, one namespace per store: org_{org}:ws_{workspace}:store_{store}. "
         "Every action is also in the command palette.")


class HelpScreen(ModalScreen[None]):
    """sections: (title, [(keys, what)]) as the app collects them from its bindings."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close", id="help-close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]):
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        parts = []
        for title, rows in self.sections:
            table = Table.grid(padding=(0, 2))
            table.add_column(style="bold cyan", no_wrap=True, min_width=8)
            table.add_column()
            for keys, what in rows:
                table.add_row(keys, what)
            parts += [Text(title, style="bold underline"), table, Text("")]
        with Vertical(id="help"):
            yield Static("Lightfast keys", id="help-title")
            yield Static(ABOUT, id="help-about", markup=False)
            with VerticalScroll(id="help-keys"):
                yield Static(Group(*parts[:-1]))
            yield Static("escape closes", id="help-hint")
