"""The Namespaces tab: a tree environment -> organization -> workspace -> store, and the record.

Rows come from `service.namespaces()` (the mirror merged with what the index
reports) in a thread worker. The danger operations live here too, each behind
a `ConfirmModal` that names what will be lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from core.errors import LightfastError
from lightfast_tui import widgets
from lightfast_tui.screens.confirm import ConfirmModal

TimeFormat = Callable[[str | None], str]


def format_time(value: str | None) -> str:
    """'2026-11-24T17:50:02.123+00:00' -> '2026-11-24 17:50 UTC' (the mirror stores UTC)."""
    if not value:
        return "never"
    return f"{value[:10]} {value[11:16]} UTC"


class NamespaceBrowser(Widget):
    BINDINGS = [
        Binding("d", "delete_vectors", "Delete vectors", id="delete-vectors"),
        Binding("x", "remove_record", "Remove record", id="remove-record"),
    ]

    @dataclass
    class Loaded(Message):
        rows: list[dict]

    @dataclass
    class Selected(Message):
        row: dict | None

    @dataclass
    class Deleted(Message):
        store: str
        vectors: int
        removed_record: bool

    class Failed(widgets.Failed):
        pass

    def __init__(self, service, *, time_format: TimeFormat = format_time, **kw):
        super().__init__(**kw)
        self.service = service
        self.time_format = time_format
        self.rows: list[dict] = []
        self.selected: dict | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Tree("namespaces", id="ns-tree")
            with VerticalScroll(id="ns-record-scroll"):
                yield Static("loading namespaces…", id="ns-record")

    def on_mount(self) -> None:
        self.reload()

    # -- loading -----------------------------------------------------------------------
    def reload(self) -> None:
        """Read the namespaces again (mirror and index) in a thread."""
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="namespaces")
    def _load(self) -> None:
        try:
            rows = self.service.namespaces(with_backend=True)
        except LightfastError as exc:
            self.post_message(self.Failed("loading namespaces", str(exc)))
            return
        self.post_message(self.Loaded(rows))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.show(message.rows)

    def show(self, rows: list[dict]) -> None:
        """Rebuild the tree from rows, keeping the selected store selected."""
        self.rows = rows
        keep = self.selected["namespace_name"] if self.selected else None
        tree = self.query_one("#ns-tree", Tree)
        tree.clear()
        tree.root.expand()
        branches: dict[tuple, TreeNode] = {}
        again = None
        for row in sorted(rows, key=_order):
            parent = tree.root
            path = (row.get("environment") or "?", row.get("organization_id") or "(only in index)",
                    row.get("workspace_id") or "-")
            for depth in range(1, 4):
                key = path[:depth]
                if key not in branches:
                    branches[key] = parent.add(key[-1], expand=True)
                parent = branches[key]
            leaf = parent.add_leaf(_leaf_label(row), data=row)
            if row["namespace_name"] == keep:
                again = leaf
        if not rows:
            tree.root.add_leaf("no namespaces yet: press i to ingest")
            self.query_one("#ns-record", Static).update("No namespaces in this environment yet.")
        elif again is not None:  # once the tree has laid out its new lines
            tree.call_after_refresh(tree.move_cursor, again)
            self._show_record(again.data)
        else:
            self.selected = None
            self.query_one("#ns-record", Static).update("Select a store to see its namespace record.")

    # -- selection -----------------------------------------------------------------------
    @on(Tree.NodeHighlighted, "#ns-tree")
    def _highlighted(self, event: Tree.NodeHighlighted) -> None:
        row = event.node.data
        if row is not None:
            self._show_record(row)
            return
        self.selected = None
        self.query_one("#ns-record", Static).update(_summary(event.node))
        self.post_message(self.Selected(None))

    def _show_record(self, row: dict) -> None:
        self.selected = row
        self.query_one("#ns-record", Static).update(self.record(row))
        self.post_message(self.Selected(row))

    def record(self, row: dict) -> Table:
        """The record pane for one namespace row."""
        t = self.time_format
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        p = self.service.profile
        status = row.get("last_ingest_status")
        mismatch = row.get("embedding_model") and row.get("embedding_model") != p.embedding_model
        fields = [
            ("namespace", row["namespace_name"]),
            ("store", row.get("store_slug") or "-"),
            ("environment", row.get("environment") or "-"),
            ("index", row.get("index_name") or "-"),
            ("chunking", f"{_n(row.get('chunk_max_tokens'))} tokens, overlap {_n(row.get('chunk_overlap'))}"
             if row.get("chunk_max_tokens") is not None else "-"),
            ("documents", _n(row.get("documents"))),
            ("vectors", f"{_n(row.get('vectors'))} in mirror, {_n(row.get('index_vectors'))} in index"),
            ("last ingest", t(row.get("last_ingest")) + (f" ({status})" if status else "")),
            ("created", t(row.get("created_at"))),
            ("updated", t(row.get("updated_at"))),
            ("", ""),
            ("model", Text(f"{row.get('embedding_model') or p.embedding_model}"
                           f" ({_n(row.get('embedding_dim') or p.dimension)}-d)",
                           style="bold red" if mismatch else "")),
            ("profile", p.name),
            ("backend", p.backend),
            ("embedder", f"{p.embedding_provider} {p.embedding_model}, {p.dimension}-d, {p.metric}"),
        ]
        if row.get("only_in"):
            fields.append(("warning", Text(f"found only in the {row['only_in']}", style="bold yellow")))
        for name, value in fields:
            table.add_row(name, value)
        return table

    # -- danger operations ---------------------------------------------------------------
    def _store_row(self) -> dict | None:
        row = self.selected
        if not row or not row.get("store_slug"):
            self.notify("select a store in the Namespaces tab first", severity="warning")
            return None
        if row.get("workspace_id") != self.service.config.workspace:
            self.notify(f"{row['namespace_name']} belongs to another workspace: delete it from there",
                        severity="warning")
            return None
        return row

    def action_delete_vectors(self) -> None:
        row = self._store_row()
        if row is None:
            return
        loss = (f"All {_n(row.get('vectors') or 0)} vectors of namespace {row['namespace_name']} in index "
                f"{row.get('index_name')} will be deleted, with its {_n(row.get('documents') or 0)} document "
                "entries. The files stay; an ingest embeds them again.")
        self.app.push_screen(ConfirmModal("Delete this namespace's vectors?", loss),
                             lambda yes: self._delete(row["store_slug"], False) if yes else None)

    def action_remove_record(self) -> None:
        row = self._store_row()
        if row is None:
            return
        loss = (f"The record of namespace {row['namespace_name']} ({_n(row.get('documents') or 0)} documents, "
                f"its ingest history) will be removed, and all {_n(row.get('vectors') or 0)} of its vectors "
                f"deleted from index {row.get('index_name')}.")
        self.app.push_screen(ConfirmModal("Remove this store's record?", loss, "Remove"),
                             lambda yes: self._delete(row["store_slug"], True) if yes else None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="delete")
    def _delete(self, store: str, remove_record: bool) -> None:
        try:
            count = self.service.delete_namespace(store, remove_record=remove_record)
        except LightfastError as exc:
            self.post_message(self.Failed("delete", str(exc)))
            return
        self.post_message(self.Deleted(store, count, remove_record))

    @on(Deleted)
    def _deleted(self, message: Deleted) -> None:
        what = "removed the record and" if message.removed_record else "deleted"
        self.notify(f"{message.store}: {what} {_n(message.vectors)} vectors")
        self.reload()


def _order(row: dict) -> tuple:
    return (row.get("environment") or "", row.get("organization_id") or "~", row.get("workspace_id") or "",
            row.get("store_slug") or row["namespace_name"])


def _leaf_label(row: dict) -> Text:
    label = Text(row.get("store_slug") or row["namespace_name"])
    if row.get("only_in"):
        label.append(f" (only in {row['only_in']})", style="yellow")
    return label


LEVELS = ("all", "environment", "organization", "workspace", "store")


def _summary(node: TreeNode) -> Table:
    leaves: list[dict] = []

    def walk(n: TreeNode) -> None:
        if n.data is not None:
            leaves.append(n.data)
        for child in n.children:
            walk(child)

    walk(node)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    depth, parent = 0, node.parent
    while parent is not None:
        depth, parent = depth + 1, parent.parent
    table.add_row(LEVELS[min(depth, len(LEVELS) - 1)], Text(str(node.label), style="bold"))
    table.add_row("stores", _n(len(leaves)))
    table.add_row("documents", _n(sum(r.get("documents") or 0 for r in leaves)))
    table.add_row("vectors", _n(sum(r.get("vectors") or 0 for r in leaves)))
    table.add_row("", "")
    table.add_row("", Text("Select a store to see its namespace record.", style="dim"))
    return table


def _n(value) -> str:
    return "-" if value is None else f"{value:,}"
