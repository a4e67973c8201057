"""The Stats tab's host: mounts `StatsView` on the first visit, if that module is installed.

The import is guarded so the app runs without `lightfast_tui/stats_view.py`
(a placeholder says so), and deferred so start-up never pays for DuckDB or
plotext. Later visits reload the figures.
"""

from __future__ import annotations

from textual.widget import Widget
from textual.widgets import Static

MISSING = "The stats view is not installed yet (lightfast_tui/stats_view.py)."


def mount_or_reload(pane: Widget, service) -> None:
    views = pane.query("#stats-view")
    if views:
        reload = getattr(views.first(), "reload", None)
        if reload is not None:
            reload()
        return
    placeholder = pane.query_one("#stats-placeholder", Static)
    try:
        from lightfast_tui.stats_view import StatsView
    except ImportError:
        placeholder.update(MISSING)
        return
    placeholder.remove()
    pane.mount(StatsView(service.dashboard, id="stats-view"))
