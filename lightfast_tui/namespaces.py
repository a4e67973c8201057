"""The Namespaces tab: a tree environment -> organization -> workspace -> store, and the record."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static, Tree


class NamespaceBrowser(Widget):
    @dataclass
    class Selected(Message):
        row: dict | None

    def __init__(self, **kw):
        super().__init__(**kw)
        self.rows: list[dict] = []
        self.profile = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Tree("namespaces", id="ns-tree")
            with VerticalScroll(id="ns-record-scroll"):
                yield Static("Select a store to see its namespace record.", id="ns-record")

    def show(self, rows: list[dict], profile) -> None:
        """Rebuild the tree from mirror rows (merged with what the index reports)."""
        self.rows, self.profile = rows, profile
        tree = self.query_one("#ns-tree", Tree)
        tree.clear()
        tree.root.expand()
        nodes: dict[tuple, object] = {}
        for row in rows:
            env = row.get("environment", "?")
            org = row.get("organization_id") or "(index only)"
            ws = row.get("workspace_id") or "-"
            parent = tree.root
            for key in ((env,), (env, org), (env, org, ws)):
                if key not in nodes:
                    nodes[key] = parent.add(key[-1], expand=True)
                parent = nodes[key]
            label = row.get("store_slug") or row["namespace_name"]
            if row.get("only_in") == "index":
                label += " (only in index)"
            parent.add_leaf(label, data=row)
        if not rows:
            tree.root.add_leaf("no namespaces yet: press i to ingest")

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        row = event.node.data
        self.query_one("#ns-record", Static).update(self._record(row) if row else "")
        self.post_message(self.Selected(row))

    def _record(self, row: dict):
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        p = self.profile
        fields = [
            ("namespace", row["namespace_name"]),
            ("environment", row.get("environment", "")),
            ("index", row.get("index_name", "")),
            ("store", row.get("store_slug", "")),
            ("chunking", f"{row.get('chunk_max_tokens', '?')} tokens, overlap {row.get('chunk_overlap', '?')}"),
            ("documents", _n(row.get("documents"))),
            ("vectors", f"{_n(row.get('vectors'))} (index reports {_n(row.get('index_vectors'))})"),
            ("last ingest", f"{(row.get('last_ingest') or 'never')[:19]} {row.get('last_ingest_status') or ''}".strip()),
            ("created", (row.get("created_at") or "")[:19]),
            ("updated", (row.get("updated_at") or "")[:19]),
            ("model", f"{row.get('embedding_model', '')} ({row.get('embedding_dim', '?')}-d)"),
        ]
        if p is not None:
            fields.append(("profile", f"{p.backend} backend, {p.metric}, reranker {p.reranker}"))
        for name, value in fields:
            table.add_row(name, str(value))
        return table


def _n(value) -> str:
    return "-" if value is None else f"{value:,}"
