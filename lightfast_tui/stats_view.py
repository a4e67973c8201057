"""The Stats tab: the dashboard queries, latency per namespace, and cost against number of stores."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

TABLES = ("namespaces_per_environment", "namespace_limit", "storage_per_namespace", "query_latency",
          "migration_progress")


class StatsView(Widget):
    def compose(self) -> ComposeResult:
        with Horizontal():
            with VerticalScroll(id="stats-tables"):
                for name in TABLES:
                    yield Static(name.replace("_", " "), classes="stats-title")
                    yield DataTable(id=f"stats-{name}", show_cursor=False)
            yield PlotextPlot(id="cost-plot")

    def show(self, named: dict, scenarios: list[dict]) -> None:
        for name in TABLES:
            table = self.query_one(f"#stats-{name}", DataTable)
            table.clear(columns=True)
            result = named[name]
            table.add_columns(*result.columns)
            for row in result.rows:
                table.add_row(*("" if v is None else str(v) for v in row))
        plot = self.query_one("#cost-plot", PlotextPlot).plt
        plot.clear_data()
        plot.clear_figure()
        stores = [r["workload"]["stores"] / 1000 for r in scenarios]
        plot.plot(stores, [r["per_store"]["minimum"] for r in scenarios], label="per-store floors", marker="braille")
        plot.plot(stores, [r["shared"]["minimum"] for r in scenarios], label="shared floor", marker="braille")
        plot.title("minimum spend $/month vs stores (thousands)")
        self.query_one("#cost-plot", PlotextPlot).refresh()
