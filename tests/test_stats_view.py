"""The stats tab widget, mounted alone in a throwaway App and driven with Pilot."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from conftest import write_files
from core.errors import LightfastError
from core.search import flush_query_log
from core.stats import dashboard
from lightfast_tui.stats_view import StatsView

pytestmark = pytest.mark.anyio


class Host(App):
    def __init__(self, load):
        super().__init__()
        self.load = load
        self.failures: list[str] = []

    def compose(self) -> ComposeResult:
        yield StatsView(self.load, id="stats-view")

    def on_stats_view_failed(self, message: StatsView.Failed) -> None:
        self.failures.append(message.error)


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


@pytest.fixture
def service(repo, service_factory):
    write_files(repo, {"a.md": "# A\n\nalpha beta\n", "b.py": "def b():\n    return 1\n"})
    service = service_factory(repo)
    service.ingest()
    service.search("alpha")
    service.search("alpha", stores=["docs"])
    flush_query_log()  # the query log is written in the background
    return service


async def test_renders_tables_and_plots(service):
    app = Host(lambda: dashboard(service))
    async with app.run_test(size=(140, 50)) as pilot:
        await settle(app, pilot)
        view = app.query_one(StatsView)
        assert view.figures is not None
        assert app.query_one("#stats-namespaces_per_environment", DataTable).row_count == 1
        assert app.query_one("#stats-stores_per_organization", DataTable).row_count == 1
        assert app.query_one("#stats-storage_per_namespace", DataTable).row_count == 2
        latency = app.query_one("#stats-query_latency", DataTable)
        assert latency.row_count == 2  # both namespaces were queried
        assert app.query_one("#stats-ingest_history", DataTable).row_count == 2
        assert app.query_one("#stats-cost", DataTable).row_count == 5  # the design's scenarios
        curve = view.figures["curve"]
        assert [r["workload"]["stores"] for r in curve][-1] == 50_000
        cost_plot = str(app.query_one("#cost-plot", PlotextPlot).render())
        assert "one index per store" in cost_plot and "shared index" in cost_plot
        assert "stores like this mirror's" in cost_plot
        latency_plot = str(app.query_one("#latency-plot", PlotextPlot).render())
        assert "p95" in latency_plot and "store_docs" in latency_plot
        status = str(app.query_one("#stats-status", Static).render())
        assert "2 stores" in status and "64-d" in status
        assert app.failures == []


async def test_reload_picks_up_new_figures(service, repo):
    app = Host(lambda: dashboard(service))
    async with app.run_test(size=(140, 50)) as pilot:
        await settle(app, pilot)
        assert app.query_one("#stats-ingest_history", DataTable).row_count == 2
        write_files(repo, {"c.md": "# C\n\ngamma\n"})
        service.ingest(["docs"])
        app.query_one(StatsView).reload()
        await settle(app, pilot)
        assert app.query_one("#stats-ingest_history", DataTable).row_count == 3


async def test_a_failing_loader_is_reported_not_raised():
    def broken():
        raise LightfastError("mirror is locked")

    app = Host(broken)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        assert app.failures == ["mirror is locked"]
        assert "stats failed: mirror is locked" in str(app.query_one("#stats-status", Static).render())


async def test_show_accepts_figures_without_a_loader(service):
    from core.cost import design_scenarios
    from core.stats import run_named

    app = Host(None)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(StatsView)
        view.show(run_named(service.mirror), design_scenarios())  # the older call
        await pilot.pause()
        assert app.query_one("#stats-namespaces_per_environment", DataTable).row_count == 1
        assert app.query_one("#stats-cost", DataTable).row_count == 5
        assert "no namespaces in this environment yet" in str(app.query_one("#stats-status", Static).render())
