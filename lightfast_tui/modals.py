"""Modal screens: the confirmation that names what will be lost, and the help screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Markdown, Static


class ConfirmModal(ModalScreen[bool]):
    """Yes/no for a destructive operation; dismisses with True only on an explicit yes."""

    BINDINGS = [("escape", "dismiss(False)", "Cancel")]

    def __init__(self, title: str, loss: str, confirm_label: str = "Delete"):
        super().__init__()
        self.title_text = title
        self.loss = loss
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(self.title_text, id="confirm-title")
            yield Static(self.loss, id="confirm-loss")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(self.confirm_label, id="confirm-yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()  # the safe choice has the focus

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")


HELP = """\
# Lightfast

One shared vector index, one namespace per store: `org_{org}:ws_{workspace}:store_{store}`.

| key | action |
|---|---|
| `1` `2` `3` `4` | Namespaces, Search, Ingest, Stats tabs |
| `/` | search |
| `enter` (on a hit) | copy `path:line` |
| `e` (on a hit) | open `$EDITOR` at the line |
| `i` | ingest every store |
| `w` | start or stop watching the repo |
| `d` | delete the selected store's vectors (asks first) |
| `x` | remove the selected store's record (asks first) |
| `ctrl+r` | refresh |
| `ctrl+p` | command palette |
| `?` / `f1` | this help |
| `q` | quit |
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [("escape", "dismiss", "Close"), ("q", "dismiss", "Close"), ("question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Markdown(HELP)
            yield Static("escape to close", id="help-hint")
