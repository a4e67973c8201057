"""The confirmation in front of every danger operation: it names what will be lost."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmModal(ModalScreen[bool]):
    """Dismisses with True only on an explicit yes; escape, n and Cancel say no."""

    BINDINGS = [
        Binding("escape,n", "dismiss(False)", "Cancel", id="confirm-cancel"),
    ]

    def __init__(self, title: str, loss: str, confirm_label: str = "Delete"):
        super().__init__()
        self.title_text = title
        self.loss = loss
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(self.title_text, id="confirm-title")
            yield Static(self.loss, id="confirm-loss", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="confirm-no", variant="primary")
                yield Button(self.confirm_label, id="confirm-yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()  # the safe choice has the focus

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")
