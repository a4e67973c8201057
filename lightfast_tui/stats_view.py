"""The Stats tab: dashboard tables, cost against number of stores, latency per namespace.

`StatsView(load)` takes a callable returning the figures (normally
`lambda: core.stats.dashboard(service)`); `reload()` runs it in a thread
worker, and the result comes back as a `StatsView.Loaded` message. A failure
posts `StatsView.Failed`, which bubbles up for the app to notify. `show()`
renders figures handed in directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from core.errors import LightfastError

TABLES = {
    "namespaces_per_environment": "Namespaces per environment",
    "stores_per_organization": "Stores per organization",
    "namespace_limit": "Namespace limit",
    "storage_per_namespace": "Storage per namespace",
    "query_latency": "Query latency (ms)",
    "ingest_history": "Ingest history",
    "migration_progress": "Migration progress",
}
COST_COLUMNS = ("stores", "per-store org", "per-store $/mo", "shared org", "shared $/mo", "saved $/mo")
MAX_LATENCY_BARS = 8


class StatsView(Widget):
    # One column that scrolls: every table gets the full width (side by side with the
    # plots, an 80-column terminal cut the tables off), the plots follow.
    DEFAULT_CSS = """
    StatsView { height: 1fr; }
    StatsView #stats-scroll { height: 1fr; }
    StatsView .stats-title { text-style: bold; margin: 1 0 0 0; }
    StatsView DataTable { height: auto; max-height: 12; }
    StatsView PlotextPlot { height: 16; }
    StatsView #stats-status { height: 1; color: $text-muted; }
    """

    @dataclass
    class Loaded(Message):
        figures: dict

    @dataclass
    class Failed(Message):
        error: str

    def __init__(self, load: Callable[[], dict[str, Any]] | None = None, *, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.load = load
        self.figures: dict | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="stats-status")
        with VerticalScroll(id="stats-scroll"):
            for name, title in TABLES.items():
                yield Static(title, classes="stats-title")
                yield DataTable(id=f"stats-{name}", show_cursor=False)
            yield Static("Cost: the design's scenarios (10 GB per store)", classes="stats-title")
            yield DataTable(id="stats-cost", show_cursor=False)
            yield PlotextPlot(id="cost-plot")
            yield PlotextPlot(id="latency-plot")

    def on_mount(self) -> None:
        if self.load is not None:
            self.reload()

    # -- loading ------------------------------------------------------------------------
    def reload(self) -> None:
        """Fetch the figures again in a thread (no-op without a loader)."""
        if self.load is not None:
            self.query_one("#stats-status", Static).update("loading…")
            self._fetch()

    @work(thread=True, exclusive=True, exit_on_error=False, group="stats-view")
    def _fetch(self) -> None:
        try:
            figures = self.load()
        except LightfastError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        except Exception as exc:
            self.post_message(self.Failed(f"internal error: {exc!r}"))
            raise
        self.post_message(self.Loaded(figures))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.show(message.figures)

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self.query_one("#stats-status", Static).update(f"stats failed: {message.error}")

    # -- rendering ----------------------------------------------------------------------
    def show(self, figures: dict, scenarios: list[dict] | None = None) -> None:
        """Render figures: {"named", "scenarios", "curve", "curve_label", "this_mirror"}.
        (Also accepts the older call show(named, scenarios).)"""
        if "named" not in figures:
            figures = {"named": figures, "scenarios": scenarios or [], "curve": scenarios or []}
        self.figures = figures
        named = figures["named"]
        for name in TABLES:
            table = self.query_one(f"#stats-{name}", DataTable)
            table.clear(columns=True)
            result = named.get(name)
            if result is None:
                continue
            table.add_columns(*result.columns)
            for row in result.rows:
                table.add_row(*("" if v is None else str(v) for v in row))
        cost = self.query_one("#stats-cost", DataTable)
        cost.clear(columns=True)
        cost.add_columns(*COST_COLUMNS)
        for r in figures.get("scenarios", []):
            a, b = r["per_store"], r["shared"]
            cost.add_row(f"{r['workload']['stores']:,}", f"{a['organizations']:,}", f"{a['monthly']:,.0f}",
                         f"{b['organizations']:,}", f"{b['monthly']:,.0f}", f"{r['savings']:,.0f}")
        self._plot_cost(figures.get("curve", []), figures.get("curve_label", "stores"))
        self._plot_latency(named.get("query_latency"))
        mirror = figures.get("this_mirror")
        problems = figures.get("index_problems")  # the doctor's counts-only check; None: not local
        check = "" if problems is None else " · index check: " + (
            "ok" if not problems else f"{problems} problems, run lightfast doctor")
        self.query_one("#stats-status", Static).update(
            (f"this mirror: {mirror['stores']:,} stores, {mirror['vectors']:,} vectors, {mirror['dimension']}-d"
             if mirror else "this mirror: no namespaces in this environment yet") + check)

    def _plot_cost(self, curve: list[dict], label: str) -> None:
        widget = self.query_one("#cost-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        if curve:
            # Both axes span orders of magnitude: plot log10 values with readable tick labels
            # (plotext's own log scale fails on some data).
            xs = [math.log10(r["workload"]["stores"]) for r in curve]
            # Shared first: where both layouts cost the same (few stores), the per-store line is
            # drawn over it and stays visible instead of vanishing under the other.
            for key, name in (("shared", "shared index"), ("per_store", "one index per store")):
                plt.plot(xs, [math.log10(max(r[key]["monthly"], 0.01)) for r in curve], label=name,
                         marker="braille")
            plt.xticks(xs, [_short(r["workload"]["stores"]) for r in curve])
            bills = [r[k]["monthly"] for r in curve for k in ("per_store", "shared")]
            decades = range(math.floor(math.log10(max(min(bills), 0.01))),
                            math.ceil(math.log10(max(bills))) + 1)
            plt.yticks(list(decades), [f"${_short(10 ** d)}" for d in decades])
        plt.title(f"$/month vs number of {label}")
        widget.refresh()

    def _plot_latency(self, result) -> None:
        widget = self.query_one("#latency-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        rows = result.to_dicts()[:MAX_LATENCY_BARS] if result is not None else []
        if rows:
            names = [r["namespace_name"].rsplit(":", 1)[-1] for r in rows]
            plt.multiple_bar(names, [[r["p50_ms"] for r in rows], [r["p95_ms"] for r in rows]],
                             labels=["p50", "p95"])
            plt.title("query latency per namespace (ms)")
        else:
            plt.title("query latency per namespace: no queries logged")
        widget.refresh()


def _short(n: float) -> str:
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:g}{suffix}"
    return f"{n:g}"
