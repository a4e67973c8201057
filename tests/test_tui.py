"""The TUI's flows through Textual's Pilot, on a real temp mirror and local index."""

from __future__ import annotations

import pytest
from textual.widgets import OptionList, ProgressBar, RichLog, Static, TabbedContent, Tree

from conftest import write_files
from lightfast_tui.app import LightfastApp
from lightfast_tui.modals import ConfirmModal, HelpScreen

pytestmark = pytest.mark.anyio

FILES = {
    "docs/birds.md": "# Birds\n\nThe pelican colony nests on the northern lagoon every spring.\n",
    "docs/bread.md": "# Bread\n\nKnead the dough for ten minutes then let it rise.\n",
    "src/app.py": "def compute_invoice_total(lines):\n    return sum(l.amount for l in lines)\n",
}


@pytest.fixture
def service(repo, service_factory):
    write_files(repo, FILES)
    return service_factory(repo)


async def settle(app, pilot):
    await app.workers.wait_for_complete()
    await pilot.pause()


def tree_labels(app) -> list[str]:
    tree = app.query_one("#ns-tree", Tree)
    out = []

    def walk(node, depth):
        out.append("  " * depth + str(node.label))
        for child in node.children:
            walk(child, depth + 1)

    walk(tree.root, 0)
    return out


async def test_browse_namespaces(service):
    service.ingest()
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        labels = tree_labels(app)
        assert "  test" in labels and "    acme" in labels and "      platform" in labels
        assert "        docs" in labels and "        code" in labels
        tree = app.query_one("#ns-tree", Tree)
        tree.focus()
        docs = next(n for n in tree.root.children[0].children[0].children[0].children if str(n.label) == "docs")
        tree.move_cursor(docs)
        await pilot.pause()
        assert app.selected["namespace_name"] == "org_acme:ws_platform:store_docs"
        assert app.selected["documents"] == 2 and app.selected["vectors"] == app.selected["index_vectors"]


async def test_search_shows_hits_and_preview(service):
    service.ingest()
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash")
        assert app.query_one(TabbedContent).active == "search"
        await pilot.press(*"pelican lagoon")
        await pilot.press("enter")
        await settle(app, pilot)
        hits = app.query_one("#hits", OptionList)
        assert hits.option_count >= 1
        assert "docs/birds.md" in str(hits.get_option_at_index(0).prompt)
        pane = app.query_one("#search-pane")
        assert pane.current_hit().path == "docs/birds.md"
        hits.focus()
        await pilot.press("enter")  # copies path:line
        assert app.clipboard == "docs/birds.md:1"


async def test_ingest_with_progress_and_log(service):
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("i")
        assert app.query_one(TabbedContent).active == "ingest"
        await settle(app, pilot)
        bar = app.query_one("#ingest-progress", ProgressBar)
        assert bar.total is not None and bar.progress == bar.total
        log = "\n".join(str(line.text) for line in app.query_one("#ingest-log", RichLog).lines)
        assert "done" in log and "3 added" in log
        assert not app.query_one("#ingest-go").disabled
    record = service.mirror.get_namespace("test", "acme", "platform", "docs")
    assert len(service.mirror.documents(record["id"])) == 2


async def select_store(app, pilot, slug):
    tree = app.query_one("#ns-tree", Tree)
    tree.focus()
    leaf = next(n for n in tree.root.children[0].children[0].children[0].children if str(n.label) == slug)
    tree.move_cursor(leaf)
    await pilot.pause()


async def test_delete_is_confirmed_or_cancelled(service):
    service.ingest()
    docs = "org_acme:ws_platform:store_docs"
    before = service.index.namespace_stats(docs).vector_count
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await select_store(app, pilot, "docs")
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert docs in app.screen.loss and f"All {before:,} vectors" in app.screen.loss
        await pilot.press("escape")  # cancel
        await settle(app, pilot)
        assert service.index.namespace_stats(docs).vector_count == before
        await pilot.press("d")
        await pilot.pause()
        await pilot.click("#confirm-yes")
        await settle(app, pilot)
        assert service.index.namespace_stats(docs).vector_count == 0


async def test_help_stats_and_palette(service):
    service.ingest()
    app = LightfastApp(service)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("4")
        await settle(app, pilot)
        table = app.query_one("#stats-namespaces_per_environment")
        assert table.row_count == 1
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Search", "Ingest all stores", "Toggle watch", "Delete namespace vectors", "Help"):
            assert title in titles


async def test_startup_does_not_load_the_model(repo, service_factory):
    from core.embeddings.local import LocalEmbedder

    write_files(repo, FILES)
    embedder = LocalEmbedder()
    service = service_factory(repo, embedder=embedder)
    app = LightfastApp(service)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert not embedder.loaded


async def test_watch_toggle_shows_its_state(service, repo):
    import asyncio

    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("w")
        status = app.query_one("#watch-status", Static)
        for _ in range(200):  # the catch-up batch reports through a message
            await asyncio.sleep(0.05)
            if "added" in str(status.render()):
                break
        assert "idle" in str(status.render()) and "3 added" in str(status.render())
        await pilot.press("w")
        await pilot.pause()
        assert str(status.render()) == "watch: off"
        assert app.watcher is None
