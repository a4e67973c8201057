"""Snapshots of the TUI's screens at 80x24 and 140x40, with fixed data.

Deterministic by construction: the deterministic HashEmbedder, a fixed time
format (no clocks on screen), no paths or random ids in the picture, animation
off, cursor blink off, and waits on workers rather than sleeps. Each test also
asserts through Pilot that the screen's main widgets have a size and that the
expected text is drawn, so a blank pane fails even if a baseline pinned it.

Regenerate after a deliberate change, then LOOK at each picture before
committing: pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from conftest import write_files
from core.ingest import Progress
from lightfast_tui.app import LightfastApp

SIZES = [(80, 24), (140, 40)]
IDS = ["80x24", "140x40"]
FILES = {
    "docs/birds.md": "# Birds\n\nThe pelican colony nests on the northern lagoon every spring.\n",
    "docs/bread.md": "# Bread\n\nKnead the dough for ten minutes then let it rise.\n",
    "src/app.py": "def compute_invoice_total(lines):\n    return sum(l.amount for l in lines)\n",
}


def fixed_time(value: str | None) -> str:
    return "2026-01-02 03:04 UTC" if value else "never"


def build(repo, service_factory, ingest: bool = True) -> LightfastApp:
    write_files(repo, FILES)
    service = service_factory(repo)
    if ingest:
        service.ingest()
    app = LightfastApp(service, time_format=fixed_time)
    app.animation_level = "none"
    return app


@pytest.fixture
def app(repo, service_factory):
    return build(repo, service_factory)


@pytest.fixture
def empty_app(repo, service_factory):
    return build(repo, service_factory, ingest=False)


def screen_text(app) -> str:
    """Everything drawn on the screen, as plain text, line by line."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def drawn(app, *selectors: str) -> None:
    for selector in selectors:
        widget = app.screen.query_one(selector)
        assert widget.size.width > 0 and widget.size.height > 0, f"{selector} has no size"


async def ready(pilot) -> None:
    """Namespaces loaded, nothing blinking."""
    app = pilot.app
    for field in app.query(Input):
        field.cursor_blink = False
    await settle(pilot)


async def settle(pilot) -> None:
    """Until the messages a key set off are handled and the workers they started are done."""
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def select_docs(pilot) -> None:
    await ready(pilot)
    tree = pilot.app.query_one("#ns-tree")
    workspace = tree.root.children[0].children[0].children[0]
    tree.move_cursor(next(n for n in workspace.children if n.data.record.store_slug == "docs"))
    await pilot.pause()


def check(*selectors: str, text: tuple[str, ...]):
    """A run_before step that waits, then asserts the widgets have size and the text is drawn."""
    async def step(pilot) -> None:
        await pilot.pause()
        drawn(pilot.app, *selectors)
        screen = screen_text(pilot.app)
        for expected in text:
            assert expected in screen, f"{expected!r} not on screen:\n{screen}"
    return step


def chain(*steps):
    async def run(pilot) -> None:
        for step in steps:
            await step(pilot)
    return run


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_namespaces_screen(snap_compare, app, size):
    before = chain(select_docs, check("#ns-tree", "#ns-record", text=(
        "platform", "docs", "org_acme:ws_platform:store_docs", "2 in mirror, 2 in index")))
    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_namespaces_empty_screen(snap_compare, empty_app, size):
    before = chain(ready, check("#ns-tree", "#ns-record", text=("No namespaces yet", "Press i to ingest")))
    assert snap_compare(empty_app, terminal_size=size, run_before=before)


async def search_pelican(pilot) -> None:
    await ready(pilot)
    await pilot.press("slash", *"pelican lagoon", "enter")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_search_screen(snap_compare, app, size):
    before = chain(search_pelican, check("#search-input", "#hits", "#preview", text=(
        "pelican lagoon", "docs/birds.md", "src/app.py", "The pelican colony", "3 hits in 3 files")))
    assert snap_compare(app, terminal_size=size, run_before=before)


async def ingest_mid_run(pilot) -> None:
    """The pane as it looks while embedding: fed core's own progress events, so nothing races."""
    await ready(pilot)
    await pilot.press("3")
    pane = pilot.app.query_one("#ingest-pane")
    pane._set_busy(True)
    pane.log_line("[b]ingest[/b] all stores")
    for p in (Progress("docs", "scan", 0, 120, "120 new or changed, 0 removed"),
              Progress("docs", "embed", 0, 1480, "120 files to embed"),
              Progress("docs", "embed", 608, 1480, "12 files", rate=16.9, eta_s=51.6, vectors_written=512)):
        pane.post_message(pane.Progressed(p))
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_ingest_screen(snap_compare, app, size):
    before = chain(ingest_mid_run, check("#ingest-progress", "#ingest-stage", "#ingest-log", text=(
        "docs: embedded 608/1,480 chunks", "16.9 chunks/s", "ETA 0:52", "1,480 chunks to embed", "41%")))
    assert snap_compare(app, terminal_size=size, run_before=before)


async def open_stats(pilot) -> None:
    await ready(pilot)
    await pilot.press("4")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_stats_screen(snap_compare, app, size):
    with app.service.mirror.write() as conn:  # no clocks on screen: the history shows its times
        conn.execute("UPDATE ingest_runs SET started_at='2026-01-02T03:04:05+00:00', "
                     "finished_at='2026-01-02T03:04:06+00:00'")
    before = chain(open_stats, check("#stats-view", "#stats-namespaces_per_environment", text=(
        "this mirror: 2 stores, 3 vectors, 64-d · index check: ok", "Namespaces per environment", "namespace_count")))
    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_confirm_delete_screen(snap_compare, app, size):
    async def press_d(pilot):
        await pilot.press("d")

    before = chain(select_docs, press_d, check("#confirm", text=(
        "Delete this namespace's vectors?", "All 2 vectors of namespace", "Cancel", "Delete")))
    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_help_screen(snap_compare, app, size):
    async def press_help(pilot):
        await pilot.press("question_mark")

    before = chain(ready, press_help, check("#help", "#help-keys", text=("Lightfast keys", "Everywhere", "Quit")))
    assert snap_compare(app, terminal_size=size, run_before=before)
