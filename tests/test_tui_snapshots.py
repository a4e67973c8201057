"""Snapshots of the TUI's main screens at fixed sizes, with fixed data (no clocks, paths or random ids)."""

from __future__ import annotations

import pytest

from conftest import write_files
from lightfast_tui.app import LightfastApp

FILES = {
    "docs/birds.md": "# Birds\n\nThe pelican colony nests on the northern lagoon every spring.\n",
    "docs/bread.md": "# Bread\n\nKnead the dough for ten minutes then let it rise.\n",
    "src/app.py": "def compute_invoice_total(lines):\n    return sum(l.amount for l in lines)\n",
}


@pytest.fixture
def app(repo, service_factory):
    write_files(repo, FILES)
    service = service_factory(repo)
    service.ingest()
    with service.mirror.write() as conn:  # fixed times: the picture must not change between runs
        conn.execute("UPDATE namespaces SET created_at='2026-01-01T00:00:00', updated_at='2026-01-02T00:00:00'")
        conn.execute("UPDATE ingest_runs SET started_at='2026-01-02T00:00:00', finished_at='2026-01-02T00:00:01'")
    app = LightfastApp(service)
    app.animation_level = "none"
    return app


async def select_docs(pilot):
    app = pilot.app
    await app.workers.wait_for_complete()
    await pilot.pause()
    tree = app.query_one("#ns-tree")
    tree.focus()
    leaf = next(n for n in tree.root.children[0].children[0].children[0].children if str(n.label) == "docs")
    tree.move_cursor(leaf)
    await pilot.pause()


async def search_pelican(pilot):
    app = pilot.app
    await pilot.press("slash", *"pelican lagoon", "enter")
    await app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_namespaces_screen(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=select_docs)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_search_screen(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=search_pelican)


def test_confirm_delete_screen(snap_compare, app):
    async def before(pilot):
        await select_docs(pilot)
        await pilot.press("d")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_help_screen(snap_compare, app):
    assert snap_compare(app, terminal_size=(80, 24), press=["question_mark"])
