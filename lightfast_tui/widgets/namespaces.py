"""The Namespaces tab: every record of the mirror as a tree, a filter, and the record beside it.

Tree levels: environment -> organization -> workspace -> store, each branch
labelled with its stores and vectors. The configured environment,
organization and workspace start expanded, everything else collapsed, so
1,000 records open as a dozen lines; a workspace's stores become tree nodes
only when it is opened, so each filter keystroke rebuilds only what shows.
Typing in the filter keeps the stores whose namespace, store, workspace or
organization contains the text.

Rows come from `service.browse_namespaces()` in a thread worker. The danger
operations act on exactly the highlighted record, by its id, behind a
`ConfirmModal` that names what will be lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Static, Tree
from textual.widgets.tree import TreeNode

from core.errors import LightfastError
from lightfast_tui import widgets
from lightfast_tui.screens.confirm import ConfirmModal

TimeFormat = Callable[[str | None], str]
LEVELS = ("environment", "organization", "workspace", "store")
#: Matches shown expanded after filtering; past this the branches stay collapsed.
EXPAND_MATCHES = 200


def format_time(value: str | None) -> str:
    """'2026-11-24T17:50:02.123+00:00' -> '2026-11-24 17:50 UTC' (the mirror stores UTC)."""
    if not value:
        return "never"
    return f"{value[:10]} {value[11:16]} UTC"


@dataclass
class Branch:
    """What a tree branch holds, for its label and its summary pane."""

    level: str
    name: str
    stores: int = 0
    vectors: int = 0
    documents: int = 0
    rows: list[dict] = field(default_factory=list)  # a workspace's stores, added as leaves when opened
    populated: bool = False


class NamespaceBrowser(widgets.ReportsCrashes, Widget):
    BINDINGS = [
        Binding("d", "delete_vectors", "Delete vectors", id="delete-vectors"),
        Binding("x", "remove_record", "Remove record", id="remove-record"),
        Binding("f", "filter", "Filter", id="filter"),
    ]

    @dataclass
    class Loaded(Message):
        rows: list[dict]

    @dataclass
    class Deleted(Message):
        namespace_name: str
        vectors: int
        removed_record: bool

    class Failed(widgets.Failed):
        pass

    def __init__(self, service, *, time_format: TimeFormat = format_time, **kw):
        super().__init__(**kw)
        self.service = service
        self.time_format = time_format
        self.rows: list[dict] = []  # sorted as the tree shows them
        self._haystacks: list[str] = []  # what the filter searches, one per row
        self.selected: dict | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="ns-left"):
                yield Input(placeholder="f: filter stores", id="ns-filter", compact=True)
                yield Tree("namespaces", id="ns-tree")
            with VerticalScroll(id="ns-record-scroll"):
                yield Static("loading namespaces…", id="ns-record")

    def on_mount(self) -> None:
        self.query_one("#ns-tree", Tree).show_root = False
        self.reload()

    # -- loading -----------------------------------------------------------------------
    def reload(self) -> None:
        """Read the namespaces again (mirror and index) in a thread."""
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="namespaces")
    def _load(self) -> None:
        try:
            rows = self.service.browse_namespaces(with_backend=True)
        except LightfastError as exc:
            self.post_message(self.Failed("loading namespaces", str(exc)))
            return
        self.post_message(self.Loaded(rows))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.rows = sorted(message.rows, key=_order)  # once per load, not per keystroke
        self._haystacks = [_haystack(r) for r in self.rows]
        self.show()

    def crashed(self, group: str) -> None:
        if group == "namespaces":
            self.query_one("#ns-record", Static).update(
                Text("Loading the namespaces failed (see the status line); ctrl+r tries again.", style="red"))

    # -- the tree ----------------------------------------------------------------------
    @on(Input.Changed, "#ns-filter")
    def _filter_changed(self) -> None:
        self.show()

    @on(Input.Submitted, "#ns-filter")
    def _filter_done(self) -> None:
        self.query_one("#ns-tree", Tree).focus()

    def action_filter(self) -> None:
        self.query_one("#ns-filter", Input).focus()

    def show(self) -> None:
        """Rebuild the tree from self.rows and the filter, keeping the selected record selected."""
        text = self.query_one("#ns-filter", Input).value.strip().lower()
        rows = [r for r, hay in zip(self.rows, self._haystacks) if not text or text in hay]
        keep = self.selected.get("namespace_name") if self.selected else None
        c = self.service.config
        home = (self.service.environment, c.organization, c.workspace)
        expand_all = bool(text) and len(rows) <= EXPAND_MATCHES
        tree = self.query_one("#ns-tree", Tree)
        tree.clear()
        branches: dict[tuple, TreeNode] = {}
        again = None
        for row in rows:
            path = (row.get("environment") or "?", row.get("organization_id") or "(only in index)",
                    row.get("workspace_id") or "-")
            parent = tree.root
            for depth in range(1, 4):
                key = path[:depth]
                node = branches.get(key)
                if node is None:
                    expand = expand_all or key == home[:depth]
                    node = parent.add("", data=Branch(LEVELS[depth - 1], key[-1]), expand=expand)
                    branches[key] = node
                branch = node.data
                branch.stores += 1
                branch.vectors += row.get("vectors") or 0
                branch.documents += row.get("documents") or 0
                parent = node
            parent.data.rows.append(row)
            if row["namespace_name"] == keep:
                again = parent
        for node in branches.values():
            node.set_label(_branch_label(node.data))
            if node.data.level == "workspace" and node.is_expanded:
                self._populate(node)
        if again is not None:  # the kept record's workspace opens, whatever the filter
            again = self.open_branch(again, keep)
        record = self.query_one("#ns-record", Static)
        if not self.rows:
            tree.root.add_leaf(Text("no namespaces yet", style="dim"))
            record.update(Text.assemble(("No namespaces yet.\n\n", "bold"),
                                        "Press ", ("i", "bold"), " to ingest this repo's stores: each "
                                        "store becomes one namespace of the shared index."))
            self.selected = None
        elif not rows:
            tree.root.add_leaf(Text(f"no store matches {text!r}", style="dim"))
            record.update(Text(f"No store matches {text!r}. Escape clears the filter.", style="dim"))
            self.selected = None
        elif again is not None:  # once the tree has laid out its new lines
            tree.call_after_refresh(tree.move_cursor, again)
            self._show_record(again.data)
        else:
            self.selected = None
            record.update(self.overview(rows))

    def _populate(self, node: TreeNode) -> None:
        branch = node.data
        if not branch.populated:
            branch.populated = True
            for row in branch.rows:
                node.add_leaf(_leaf_label(row), data=row)

    def open_branch(self, node: TreeNode, namespace: str | None = None) -> TreeNode | None:
        """Expand a workspace and its parents, adding its stores; returns the leaf of namespace."""
        self._populate(node)
        parent = node
        while parent is not None:
            parent.expand()
            parent = parent.parent
        return next((leaf for leaf in node.children if leaf.data["namespace_name"] == namespace), None)

    @on(Tree.NodeExpanded, "#ns-tree")
    def _expanded(self, event: Tree.NodeExpanded) -> None:
        data = event.node.data
        if isinstance(data, Branch) and data.level == "workspace":
            self._populate(event.node)

    def clear_filter(self) -> bool:
        """Escape in the filter: clear it (True), or nothing to clear (False)."""
        field = self.query_one("#ns-filter", Input)
        if not field.value:
            return False
        field.value = ""
        return True

    # -- selection -----------------------------------------------------------------------
    @on(Tree.NodeHighlighted, "#ns-tree")
    def _highlighted(self, event: Tree.NodeHighlighted) -> None:
        data = event.node.data
        if isinstance(data, Branch):
            self.selected = None
            self.query_one("#ns-record", Static).update(_branch_summary(data))
        elif isinstance(data, dict):
            self._show_record(data)

    def _show_record(self, row: dict) -> None:
        self.selected = row
        self.query_one("#ns-record", Static).update(self.record(row))

    def overview(self, rows: list[dict]) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        envs = {r.get("environment") for r in rows}
        orgs = {r.get("organization_id") for r in rows}
        table.add_row("stores", _n(len(rows)))
        table.add_row("vectors", _n(sum(r.get("vectors") or 0 for r in rows)))
        table.add_row("organizations", _n(len(orgs)))
        table.add_row("environments", ", ".join(sorted(e for e in envs if e)))
        table.add_row("", "")
        table.add_row("", Text("Highlight a store to see its namespace record; f filters.", style="dim"))
        return table

    def record(self, row: dict) -> Table:
        """The record pane for one namespace row."""
        t = self.time_format
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        p = self.service.profile
        here = row.get("environment") == self.service.environment
        status = row.get("last_ingest_status")
        mismatch = here and row.get("embedding_model") and row.get("embedding_model") != p.embedding_model
        index_count = (f"{_n(row.get('index_vectors'))} in index" if here
                       else "index of another environment: not asked")
        fields = [
            ("namespace", Text(row["namespace_name"], style="bold")),
            ("store", row.get("store_slug") or "-"),
            ("workspace", row.get("workspace_id") or "-"),
            ("organization", row.get("organization_id") or "-"),
            ("environment", row.get("environment") or "-"),
            ("index", row.get("index_name") or "-"),
            ("chunking", f"{_n(row.get('chunk_max_tokens'))} tokens, overlap {_n(row.get('chunk_overlap'))}"
             if row.get("chunk_max_tokens") is not None else "-"),
            ("documents", _n(row.get("documents"))),
            ("vectors", f"{_n(row.get('vectors'))} in mirror, {index_count}"),
            ("last ingest", t(row.get("last_ingest")) + (f" ({status})" if status else "")),
            ("created", t(row.get("created_at"))),
            ("model", Text(f"{row.get('embedding_model') or '-'} ({_n(row.get('embedding_dim'))}-d)",
                           style="bold red" if mismatch else "")),
        ]
        if mismatch:
            fields.append(("", Text(f"this configuration embeds with {p.embedding_model}: "
                                    "search skips this namespace", style="red")))
        if row.get("only_in"):
            fields.append(("warning", Text(f"found only in the {row['only_in']}", style="bold yellow")))
        for name, value in fields:
            table.add_row(name, value)
        return table

    # -- danger operations ---------------------------------------------------------------
    def _deletable(self) -> dict | None:
        """The highlighted record, or None after saying why it cannot be deleted here."""
        row = self.selected
        if not row:
            self.notify("highlight a store in the tree first", severity="warning")
            return None
        if not row.get("id"):
            self.notify(f"{row['namespace_name']} has no record in the mirror (found only in the index): "
                        "nothing here can name what it holds", severity="warning", markup=False)
            return None
        if row.get("environment") != self.service.environment:
            self.notify(f"{row['namespace_name']} is in environment '{row.get('environment')}'; this "
                        f"configuration uses '{self.service.environment}'", severity="warning", markup=False)
            return None
        return row

    def action_delete_vectors(self) -> None:
        self._confirm_delete(remove_record=False)

    def action_remove_record(self) -> None:
        self._confirm_delete(remove_record=True)

    def _confirm_delete(self, remove_record: bool) -> None:
        """Ask, saying what goes, then delete the highlighted store's vectors (and its record)."""
        row = self._deletable()
        if row is None:
            return
        name, docs, vectors = row["namespace_name"], _n(row.get("documents") or 0), _n(row.get("vectors") or 0)
        if remove_record:
            modal = ConfirmModal("Remove this store's record?",
                                 f"The record of namespace {name} ({docs} documents, its ingest history) will be "
                                 f"removed, and all {vectors} of its vectors deleted from index "
                                 f"{row.get('index_name')}.", "Remove")
        else:
            modal = ConfirmModal("Delete this namespace's vectors?",
                                 f"All {vectors} vectors of namespace {name} in index {row.get('index_name')} will "
                                 f"be deleted, with its {docs} document entries. The files stay; an ingest embeds "
                                 "them again.")
        self.app.push_screen(modal, lambda yes: self._delete(row, remove_record) if yes else None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="delete")
    def _delete(self, row: dict, remove_record: bool) -> None:
        try:
            count = self.service.delete_namespace_by_id(row["id"], remove_record=remove_record)
        except LightfastError as exc:
            self.post_message(self.Failed("delete", str(exc)))
            return
        self.post_message(self.Deleted(row["namespace_name"], count, remove_record))

    @on(Deleted)
    def _deleted(self, message: Deleted) -> None:
        what = "removed the record and" if message.removed_record else "deleted"
        self.notify(f"{message.namespace_name}: {what} {_n(message.vectors)} vectors", markup=False)
        self.reload()


def _haystack(row: dict) -> str:
    return " ".join(str(row.get(k) or "") for k in
                    ("namespace_name", "store_slug", "workspace_id", "organization_id")).lower()


def _order(row: dict) -> tuple:
    return (row.get("environment") or "", row.get("organization_id") or "~", row.get("workspace_id") or "",
            row.get("store_slug") or row["namespace_name"])


def _leaf_label(row: dict) -> Text:
    label = Text(row.get("store_slug") or row["namespace_name"])
    label.append(f" · {_short(row.get('vectors'))} vec", style="dim")
    if row.get("only_in"):
        label.append(f" only in {row['only_in']}", style="yellow")
    return label


def _branch_label(b: Branch) -> Text:
    stores = f"{b.stores} store{'s' * (b.stores != 1)}"
    return Text.assemble(b.name, (f" · {stores} · {_short(b.vectors)} vec", "dim"))


def _branch_summary(b: Branch) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row(b.level, Text(b.name, style="bold"))
    table.add_row("stores", _n(b.stores))
    table.add_row("documents", _n(b.documents))
    table.add_row("vectors", _n(b.vectors))
    table.add_row("", "")
    table.add_row("", Text("Highlight a store for its namespace record; f filters.", style="dim"))
    return table


def _short(value) -> str:
    """Compact counts for tree labels: 58, 1.2k, 3.4M."""
    if value is None:
        return "-"
    for size, unit in ((1_000_000, "M"), (1_000, "k")):
        if value >= size:
            return f"{value / size:.1f}{unit}".replace(".0", "")
    return str(value)


def _n(value) -> str:
    return "-" if value is None else f"{value:,}"
