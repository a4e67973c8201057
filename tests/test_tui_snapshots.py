"""Snapshots of the TUI's main screens at fixed sizes, with fixed data.

Deterministic by construction: the deterministic HashEmbedder, a fixed time
format (no clocks on screen), no paths or random ids in the picture, animation
off, cursor blink off, and waits on workers rather than sleeps. Layout lives
here; behaviour is asserted with Pilot in test_tui.py.

Regenerate after a deliberate change: pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from conftest import write_files
from lightfast_tui.app import LightfastApp

SIZES = [(80, 24), (120, 40)]
FILES = {
    "docs/birds.md": "# Birds\n\nThe pelican colony nests on the northern lagoon every spring.\n",
    "docs/bread.md": "# Bread\n\nKnead the dough for ten minutes then let it rise.\n",
    "src/app.py": "def compute_invoice_total(lines):\n    return sum(l.amount for l in lines)\n",
}


def fixed_time(value: str | None) -> str:
    return "2026-01-02 03:04 UTC" if value else "never"


@pytest.fixture
def app(repo, service_factory):
    write_files(repo, FILES)
    service = service_factory(repo)
    service.ingest()
    app = LightfastApp(service, time_format=fixed_time)
    app.animation_level = "none"
    return app


async def ready(pilot) -> None:
    """Namespaces loaded, nothing blinking."""
    app = pilot.app
    for field in app.query(Input):
        field.cursor_blink = False
    await app.workers.wait_for_complete()
    await pilot.pause()


async def select_docs(pilot) -> None:
    await ready(pilot)
    tree = pilot.app.query_one("#ns-tree")
    workspace = tree.root.children[0].children[0].children[0]
    tree.move_cursor(next(n for n in workspace.children if str(n.label) == "docs"))
    await pilot.pause()


async def search_pelican(pilot) -> None:
    await ready(pilot)
    await pilot.press("slash", *"pelican lagoon", "enter")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_namespaces_screen(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=select_docs)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_search_screen(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=search_pelican)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_ingest_screen(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=ready, press=["3"])


def test_confirm_delete_screen(snap_compare, app):
    async def before(pilot):
        await select_docs(pilot)
        await pilot.press("d")

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_help_screen(snap_compare, app):
    assert snap_compare(app, terminal_size=(80, 24), run_before=ready, press=["question_mark"])
