"""The TUI's flows through Textual's Pilot, on a real temp mirror and the real local index."""

from __future__ import annotations

import asyncio
import io
import contextlib
import sys
import threading
import time

import pytest
from textual.widgets import OptionList, ProgressBar, RichLog, Select, Static, TabbedContent, Tree

from conftest import HashEmbedder, make_config, write_files
from core.records import NamespaceStatus
from lightfast_tui.app import LightfastApp
from lightfast_tui.screens.confirm import ConfirmModal
from lightfast_tui.screens.help import HelpScreen
from lightfast_tui.widgets.stats_tab import MISSING

pytestmark = pytest.mark.anyio

FILES = {
    "docs/birds.md": "# Birds\n\nThe pelican colony nests on the northern lagoon every spring.\n",
    "docs/bread.md": "# Bread\n\nKnead the dough for ten minutes then let it rise.\n",
    "src/app.py": "def compute_invoice_total(lines):\n    return sum(l.amount for l in lines)\n",
}
DOCS = "org_acme:ws_platform:store_docs"


@pytest.fixture
def service(repo, service_factory):
    write_files(repo, FILES)
    return service_factory(repo)


async def settle(app, pilot) -> None:
    """Until the messages a key set off are handled and the workers they started are done.

    A key reaches a pane's handler through a few message hops (Input.Submitted
    bubbles up, the worker posts its result back), so one round is not enough.
    """
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


async def until(pilot, condition, seconds: float = 60.0) -> None:
    """Wait on a condition the UI reaches through messages from a thread."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await pilot.pause(0.02)


def node_name(node) -> str:
    """A tree node's name without its counts: a branch's name, a store's slug, or the label."""
    data = node.data
    if isinstance(data, NamespaceStatus):
        return data.record.store_slug if data.record else data.namespace_name
    return getattr(data, "name", None) or str(node.label)


def tree_labels(app) -> list[str]:
    out = []

    def walk(node, depth):
        out.append("  " * depth + node_name(node))
        for child in node.children:
            walk(child, depth + 1)

    walk(app.query_one("#ns-tree", Tree).root, 0)
    return out


def find_leaf(app, namespace: str):
    def walk(node):
        if isinstance(node.data, NamespaceStatus) and node.data.namespace_name == namespace:
            return node
        for child in node.children:
            found = walk(child)
            if found is not None:
                return found
        return None

    return walk(app.query_one("#ns-tree", Tree).root)


async def select_store(app, pilot, slug: str, workspace: str = "platform") -> None:
    """Open the workspace's branch (its stores become nodes then), as a person would, and highlight."""
    tree = app.query_one("#ns-tree", Tree)
    tree.focus()
    branch = next(n for n in _walk(tree.root) if getattr(n.data, "level", "") == "workspace"
                  and n.data.name == workspace and n.parent.data.name == "acme")
    leaf = app.query_one("#browser").open_branch(branch, f"org_acme:ws_{workspace}:store_{slug}")
    await pilot.pause()
    tree.move_cursor(leaf)
    await pilot.pause()


def rendered(app, selector: str) -> str:
    """A widget's content as plain text (tables included)."""
    from rich.console import Console

    console = Console(width=200, record=True, file=io.StringIO())
    console.print(app.query_one(selector, Static).content)
    return console.export_text()


def log_text(app) -> str:
    return "\n".join(str(line.text) for line in app.query_one("#ingest-log", RichLog).lines)


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]


# -- browse ----------------------------------------------------------------------------------
async def test_browse_tree_and_record(service):
    service.ingest()
    app = LightfastApp(service, time_format=lambda v: "T" if v else "never")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        labels = tree_labels(app)
        assert labels[:4] == ["namespaces", "  test", "    acme", "      platform"]
        assert set(labels[4:]) == {"        code", "        docs"}
        assert app.focused is app.query_one("#ns-tree")
        await select_store(app, pilot, "docs")
        browser = app.query_one("#browser")
        assert browser.selected.namespace_name == DOCS
        assert browser.selected.documents == 2
        assert browser.selected.vectors == browser.selected.index_vectors == 2
        record = rendered(app, "#ns-record")
        for text in (DOCS, "lightfast-test-v1", "64 tokens, overlap 8", "2 in mirror, 2 in index",
                     "T (ok)", "hash-test (64-d)", "workspace     platform", "organization  acme"):
            assert text in record
        tree = app.query_one("#ns-tree", Tree)
        tree.move_cursor(tree.root.children[0].children[0].children[0])  # the workspace: a summary
        await pilot.pause()
        summary = rendered(app, "#ns-record")
        assert "workspace  platform" in summary and "stores     2" in summary
        assert "platform · 2 stores · 3 vec" in str(tree.root.children[0].children[0].children[0].label)


async def test_app_takes_a_factory_and_shows_an_empty_mirror(service):
    app = LightfastApp(lambda: service)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert app.service is service
        assert "no namespaces yet" in tree_labels(app)[1]


# -- search ----------------------------------------------------------------------------------
async def test_search_hits_preview_and_copy(service):
    service.ingest()
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash")
        assert app.query_one(TabbedContent).active == "search"
        assert app.focused is app.query_one("#search-input")
        await pilot.press(*"pelican lagoon", "enter")
        await settle(app, pilot)
        hits = app.query_one("#hits", OptionList)
        assert hits.option_count == 6  # three files, each a header and one hit
        assert "docs/birds.md" in str(hits.get_option_at_index(0).prompt)
        assert hits.get_option_at_index(0).disabled and hits.highlighted == 1
        assert "1-3" in str(hits.get_option_at_index(1).prompt)
        assert app.focused is hits  # results take the focus, so enter acts on a hit
        assert "docs/birds.md:1-3" in rendered(app, "#preview-title")
        assert "pelican colony" in rendered(app, "#preview")
        await pilot.press("down")
        assert "src/app.py" in rendered(app, "#preview-title") or "docs/bread.md" in rendered(app, "#preview-title")
        await pilot.press("up", "enter")
        assert app.clipboard == "docs/birds.md:1"
        assert "copied docs/birds.md:1" in notifications(app)


async def test_search_scope_and_store_filter(service):
    service.ingest()
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash")
        pane = app.query_one("#search-pane")
        app.query_one("#search-scope", Select).value = "store:code"
        await pilot.pause()
        assert (pane.scope, pane.store) == ("store", "code")
        pane.search("pelican lagoon")
        await settle(app, pilot)
        assert {h.store for h in app.query_one("#hits").hits} == {"code"}
        pane.set_scope("workspace")
        await pilot.pause()
        assert (pane.scope, pane.store) == ("workspace", None)
        pane.search("pelican lagoon")
        await settle(app, pilot)
        assert {h.store for h in app.query_one("#hits").hits} == {"code", "docs"}
        app.query_one("#search-scope", Select).value = "organization"
        await pilot.pause()
        assert pane.scope == "organization"


async def test_search_before_ingest_is_a_notification(service):
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash", *"pelican", "enter")
        await settle(app, pilot)
        assert any("run `lightfast ingest` first" in n for n in notifications(app))
        assert "search failed" in rendered(app, "#search-status")


@pytest.mark.parametrize("editor", ["nvim -p", "vi -R"])
async def test_e_opens_the_editor_at_the_line(service, monkeypatch, editor):
    """$EDITOR with arguments: split as a shell would, then +LINE and the file."""
    import lightfast_tui.app as app_module

    service.ingest()
    calls = []
    monkeypatch.setenv("EDITOR", editor)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setattr(app_module.subprocess, "run", lambda args, check: calls.append(args))
    app = LightfastApp(service)
    monkeypatch.setattr(app, "suspend", contextlib.nullcontext)  # the headless driver cannot suspend
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash", *"invoice total", "enter")
        await settle(app, pilot)
        assert app.query_one("#hits").current.path == "src/app.py"
        await pilot.press("e")
        assert calls == [[*editor.split(), "+1", str(service.root / "src/app.py")]]


# -- ingest ----------------------------------------------------------------------------------
async def test_ingest_all_with_progress_and_log(service):
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("i")
        assert app.query_one(TabbedContent).active == "ingest"
        await until(pilot, lambda: "done in" in log_text(app))
        await settle(app, pilot)
        bar = app.query_one("#ingest-progress", ProgressBar)
        assert bar.total is not None and bar.progress == bar.total
        log = log_text(app)
        assert "docs 2 new or changed" in log and "3 added" in log
        assert "done" in rendered(app, "#ingest-stage")
        assert not app.query_one("#ingest-go").disabled and app.query_one("#ingest-stop").disabled
        assert app.query_one(TabbedContent).active == "ingest"
        assert {"docs", "code"} <= {node_name(n) for n in
                                    app.query_one("#ns-tree", Tree).root.children[0].children[0].children[0].children}
    record = service.mirror.get_namespace("test", "acme", "platform", "docs")
    assert len(service.mirror.documents(record.id)) == 2


async def test_ingest_one_store(service):
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        await settle(app, pilot)  # the tab is laid out before the click aims at its button
        app.query_one("#ingest-store", Select).value = "code"
        await pilot.pause()
        await pilot.click("#ingest-go")
        await until(pilot, lambda: "done in" in log_text(app))
        assert "code done" in log_text(app) and "docs" not in log_text(app)
    assert service.mirror.get_namespace("test", "acme", "platform", "docs") is None


class SlowEmbedder(HashEmbedder):
    """Holds its `hold_at`-th embed call until the test calls release(): the test sees the work
    in flight however busy the machine is (the sleep this replaces only made that likely)."""

    batch_size = 1

    def __init__(self, hold_at: int = 4):
        super().__init__()
        self.hold_at = hold_at
        self.released = threading.Event()

    def release(self) -> None:
        self.released.set()

    def embed_batch(self, texts, kind):
        if self.calls + 1 == self.hold_at:
            assert self.released.wait(120), "the test never released the embedder"
        return super().embed_batch(texts, kind)


async def test_ingest_stays_responsive_and_cancels_between_batches(repo, service_factory):
    write_files(repo, {f"docs/n{i:03}.md": f"# Note {i}\n\n" + "word " * 400 for i in range(60)})
    service = service_factory(repo, embedder=(embedder := SlowEmbedder()))
    planned = sum(s.chunks for s in service.plan().stores)  # the run's whole total
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("i")
        bar = app.query_one("#ingest-progress", ProgressBar)
        await until(pilot, lambda: "embedded" in rendered(app, "#ingest-stage") and bar.progress >= 3)
        pane = app.query_one("#ingest-pane")
        assert pane.busy and app.query_one("#ingest-go").disabled
        chunks = bar.total  # the chunks found so far: files may still be being read
        assert 60 <= chunks <= planned  # the bar counts chunks, not files
        await pilot.press("1")  # the UI answers keys while the thread works
        assert app.query_one(TabbedContent).active == "namespaces"
        await pilot.press("3")
        pane.action_cancel()
        embedder.release()  # cancelled while held: the run stops after its current batch
        await until(pilot, lambda: not pane.busy, seconds=30)
        assert "cancelled" in log_text(app)
        assert not app.query_one("#ingest-go").disabled and app.query_one("#ingest-stop").disabled
        assert bar.progress < planned
    record = service.mirror.get_namespace("test", "acme", "platform", "docs")
    assert len(service.mirror.documents(record.id)) < 60


# -- danger operations ---------------------------------------------------------------------
async def test_delete_vectors_is_confirmed_or_cancelled(service):
    service.ingest()
    before = service.index.namespace_stats(DOCS).vector_count
    app = LightfastApp(service)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await select_store(app, pilot, "docs")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmModal)
        assert DOCS in app.screen.loss and f"All {before:,} vectors" in app.screen.loss
        assert "lightfast-test-v1" in app.screen.loss
        await pilot.press("escape")  # cancel
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmModal)
        assert service.index.namespace_stats(DOCS).vector_count == before
        await pilot.press("d")
        await pilot.press("enter")  # the focus starts on Cancel: enter is safe
        await settle(app, pilot)
        assert service.index.namespace_stats(DOCS).vector_count == before
        await pilot.press("d")
        await pilot.click("#confirm-yes")
        await settle(app, pilot)
        assert service.index.namespace_stats(DOCS).vector_count == 0
        assert f"{DOCS}: deleted {before:,} vectors" in notifications(app)
        assert app.query_one("#browser").selected.vectors == 0  # the record was reloaded
    assert service.mirror.get_namespace("test", "acme", "platform", "docs") is not None


async def test_remove_record_is_confirmed(service):
    service.ingest()
    app = LightfastApp(service)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await select_store(app, pilot, "code")
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmModal)
        assert "record of namespace org_acme:ws_platform:store_code" in app.screen.loss
        await pilot.click("#confirm-yes")
        await settle(app, pilot)
        await pilot.pause()
        assert "        code" not in tree_labels(app)
    assert service.mirror.get_namespace("test", "acme", "platform", "code") is None


async def test_delete_without_a_selected_store_warns(service):
    service.ingest()
    app = LightfastApp(service)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("d")
        assert not isinstance(app.screen, ConfirmModal)
        assert "highlight a store in the tree first" in notifications(app)


# -- keys, palette, help, stats ----------------------------------------------------------------
async def test_help_footer_and_palette(service):
    app = LightfastApp(service)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ids = {b.id for b in app.BINDINGS}
        assert {"quit", "help", "search", "ingest-all", "watch", "refresh"} <= ids
        assert all(b.description for b in app.BINDINGS)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(f"{k} {w}" for _, rows in app.screen.sections for k, w in rows)
        for line in ("Delete vectors", "Copy path:line", "Open in $EDITOR", "Cancel ingest", "Command palette"):
            assert line in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Search", "Search scope: workspace", "Ingest all stores", "Cancel ingest", "Toggle watch",
                      "Delete namespace vectors", "Remove store record", "Tab: Stats", "Help: Lightfast keys"):
            assert title in titles


async def test_palette_runs_an_action(service):
    app = LightfastApp(service)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"scope: organization")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "search"
        assert app.query_one("#search-pane").scope == "organization"


async def test_stats_tab_mounts_the_stats_view_on_first_visit(service):
    service.ingest()
    app = LightfastApp(service)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert not app.query("#stats-view")  # not at start-up
        await pilot.press("4")
        await settle(app, pilot)
        await pilot.pause()
        assert app.query_one("#stats-namespaces_per_environment").row_count == 1


async def test_stats_tab_without_the_stats_view(service, monkeypatch):
    monkeypatch.setitem(sys.modules, "lightfast_tui.stats_view", None)  # import -> ImportError
    app = LightfastApp(service)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        assert MISSING in rendered(app, "#stats-placeholder")


# -- the model ---------------------------------------------------------------------------------
@pytest.fixture
def local_embedder():
    from core.embeddings.local import LocalEmbedder

    return LocalEmbedder()


async def test_startup_never_waits_for_the_model(repo, service_factory, local_embedder):
    write_files(repo, FILES)
    service = service_factory(repo, embedder=local_embedder)
    app = LightfastApp(service)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("3", "1")
        await settle(app, pilot)
        assert not local_embedder.loaded
        await pilot.press("slash")  # first need: warmed in the background
        await settle(app, pilot)
        assert local_embedder.loaded


async def test_ingest_and_search_with_the_real_model(repo, service_factory, local_embedder):
    write_files(repo, FILES)
    make_config(repo, environment="local")  # the built-in profile: all-MiniLM-L6-v2, 384-d
    service = service_factory(repo, embedder=local_embedder)
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("i")
        await until(pilot, lambda: not app.query_one("#ingest-pane").busy, seconds=120)
        assert "3 added" in log_text(app)
        await pilot.press("slash", *"where do pelicans nest", "enter")
        await settle(app, pilot)
        assert app.query_one("#hits").hits[0].path == "docs/birds.md"


# -- watch -------------------------------------------------------------------------------------
async def test_watch_toggle_shows_its_state(service):
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("w")
        status = app.query_one("#watch-status", Static)
        await until(pilot, lambda: "added" in str(status.render()))
        assert "watch: on" in str(status.render()) and "3 added" in str(status.render())
        await until(pilot, lambda: "docs" in tree_labels(app)[-1] or "docs" in tree_labels(app)[-2])
        watcher = app.query_one("#watch-status").watcher
        await pilot.press("w")
        assert "stopping" in str(status.render()) or not watcher.running
        await until(pilot, lambda: str(status.render()) == "watch: off")
        assert not watcher.running  # "off" only once the thread has ended
        assert not app.query_one("#watch-status").watching
    await asyncio.sleep(0)


async def test_e_without_a_suspendable_terminal_says_where(service):
    service.ingest()
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:  # the headless driver cannot suspend
        await pilot.press("slash", *"invoice total", "enter")
        await settle(app, pilot)
        await pilot.press("e")
        assert any("open src/app.py:1" in n for n in notifications(app))


# -- the defects a person found (issue 13) ------------------------------------------------------
def add_records(service, count: int, organizations=("acme", "beta", "gamma"), environments=("test", "staging")):
    """count namespace records spread over organizations, workspaces and environments."""
    from core.namespaces import namespace_id
    from core.naming import namespace_name

    for i in range(count):
        env, org = environments[i % len(environments)], organizations[i % len(organizations)]
        ws, store = f"ws{i % 17}", f"store{i:04}"
        service.mirror.insert_namespace({
            "id": namespace_id(env, org, ws, store), "organization_id": org, "workspace_id": ws,
            "store_slug": store, "namespace_name": namespace_name(org, ws, store), "environment": env,
            "index_name": "lightfast-test-v1", "chunk_max_tokens": 64, "chunk_overlap": 8,
            "embedding_provider": "local", "embedding_model": "hash-test", "embedding_dim": 64,
        })


async def test_delete_acts_on_the_highlighted_record_of_another_workspace(repo, tmp_path, service_factory):
    """Two workspaces each have a store 'security': d on the other team's deletes only theirs."""
    from core.config import load_config
    from core.service import Lightfast

    write_files(repo, {"sec/a.md": "# Security\n\nRotate the keys every quarter.\n"})
    stores = '- slug: security\n  include: ["sec/**"]\n  chunking: {max_tokens: 64, overlap: 8}'
    make_config(repo, stores=stores)
    ours = service_factory(repo)
    ours.ingest()
    other_repo = tmp_path / "other"
    other_repo.mkdir()
    make_config(other_repo, stores=stores, workspace="otherteam")
    theirs = Lightfast(load_config(other_repo / "lightfast.yml"), ours.home, embedder=ours.embedder)
    theirs.ingest()  # no files: a record with 0 vectors
    mine = "org_acme:ws_platform:store_security"
    other = "org_acme:ws_otherteam:store_security"
    before = ours.index.namespace_stats(mine).vector_count
    assert before > 0
    app = LightfastApp(ours)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await select_store(app, pilot, "security", workspace="otherteam")
        assert app.query_one("#browser").selected.namespace_name == other
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmModal)
        assert other in app.screen.loss and "All 0 vectors" in app.screen.loss and mine not in app.screen.loss
        await pilot.click("#confirm-yes")
        await settle(app, pilot)
        assert ours.index.namespace_stats(mine).vector_count == before  # ours untouched
        await select_store(app, pilot, "security", workspace="otherteam")
        await pilot.press("x")
        await pilot.click("#confirm-yes")
        await settle(app, pilot)
    assert ours.mirror.get_namespace("test", "acme", "otherteam", "security") is None
    assert ours.mirror.get_namespace("test", "acme", "platform", "security") is not None
    assert ours.index.namespace_stats(mine).vector_count == before


async def test_delete_in_another_environment_is_refused_with_the_reason(service):
    service.ingest()
    add_records(service, 2, organizations=("acme",), environments=("staging",))
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        staging = next(r for r in app.query_one("#browser").rows if r.environment == "staging")
        app.query_one("#browser")._show_record(staging)
        await pilot.press("d")
        assert not isinstance(app.screen, ConfirmModal)
        assert any("is in environment 'staging'" in n for n in notifications(app))


TAB_KEYS = {"1": "namespaces", "2": "search", "3": "ingest", "4": "stats"}
FOCUSABLE = {"namespaces": ["#ns-tree", "#ns-filter"], "search": ["#hits", "#search-input", "#search-scope"],
             "ingest": ["#ingest-store", "#ingest-go"], "stats": []}


@pytest.mark.parametrize("key", list(TAB_KEYS))
async def test_tab_keys_work_from_every_focus(service, key):
    """From any widget a tab key switches tabs; from a text input, Escape first leaves it."""
    service.ingest()
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        for tab, selectors in FOCUSABLE.items():
            for selector in selectors or [None]:
                await pilot.press(next(k for k, t in TAB_KEYS.items() if t == tab))
                if selector:
                    app.query_one(selector).focus()
                await pilot.pause()
                if selector in ("#ns-filter", "#search-input"):
                    await pilot.press(key)  # typed into the input, as text should be
                    assert app.query_one(TabbedContent).active == tab
                    await pilot.press("escape")
                    assert app.focused is not app.query_one(selector)
                await pilot.press(key)
                await pilot.pause()
                assert app.query_one(TabbedContent).active == TAB_KEYS[key], (tab, selector)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("2", "i")
        assert app.query_one(TabbedContent).active == "ingest"
        await settle(app, pilot)


async def test_escape_leaves_the_query_and_q_then_quits(service):
    app = LightfastApp(service)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"q12")
        field = app.query_one("#search-input")
        assert field.value == "q12" and app.focused is field
        await pilot.press("escape")
        assert app.focused is app.query_one("#hits")
        await pilot.press("1")
        assert app.query_one(TabbedContent).active == "namespaces"
        await pilot.press("q")
    assert app.return_code == 0


async def test_filter_a_thousand_records(service):
    """1,020 records over 3 organizations and 2 environments: all shown, collapsed, filtered as typed."""
    service.ingest()
    add_records(service, 1018)
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        browser = app.query_one("#browser")
        assert len(browser.rows) == 1020
        tree = app.query_one("#ns-tree", Tree)
        envs = [node_name(n) for n in tree.root.children]
        assert envs == ["staging", "test"]
        assert {node_name(n) for n in tree.root.children[1].children} == {"acme", "beta", "gamma"}
        assert tree.last_line < 40  # collapsed below the configured workspace, not ~1,000 lines
        assert sum(n.data.stores for n in tree.root.children) == 1020
        assert str(tree.root.children[0].label).startswith("staging · 509 stores")
        await pilot.press("f", *"store0042")
        await pilot.pause()
        leaves = [n for n in _walk(tree.root) if isinstance(n.data, NamespaceStatus)]
        assert [n.data.record.store_slug for n in leaves] == ["store0042"]
        assert tree.last_line < 10  # the match's branches opened, nothing else
        await pilot.press("escape")
        assert app.query_one("#ns-filter").value == "" and app.focused is tree
        assert sum(n.data.stores for n in tree.root.children) == 1020
        assert len([n for n in _walk(tree.root) if isinstance(n.data, NamespaceStatus)]) < 100  # only opened ones
        other = next(n for n in tree.root.children[0].children[0].children)  # a collapsed workspace
        other.expand()
        await pilot.pause()
        assert other.children and all(isinstance(n.data, NamespaceStatus) for n in other.children)
        await pilot.press("f", *"no-such-store")
        await pilot.pause()
        assert "No store matches" in rendered(app, "#ns-record")


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


async def test_ingest_waits_for_the_apps_own_watcher(service):
    """The watcher's catch-up holds the writer lock: i waits and says so, never 'another process'."""
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("w", "i")
        pane = app.query_one("#ingest-pane")
        await until(pilot, lambda: not pane.busy, seconds=60)
        assert "another Lightfast process" not in log_text(app)
        assert "done in" in log_text(app)
        await pilot.press("w")
        await until(pilot, lambda: not app.query_one("#watch-status").watching, seconds=60)


async def test_quit_stops_the_watcher_and_leaves_no_run_running(service):
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("w")
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, seconds=60)
    states = {r["status"] for r in service.mirror.rows("SELECT status FROM ingest_runs")}
    assert "running" not in states


async def test_a_bug_in_a_worker_is_shown_and_the_pane_recovers(service, monkeypatch):
    service.ingest()
    monkeypatch.setattr(service, "search", lambda *a, **k: 1 / 0)
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash", *"pelican", "enter")
        await settle(app, pilot)
        assert "internal error in search: ZeroDivisionError" in rendered(app, "#message")
        await pilot.press("escape", "1")
        assert app.query_one(TabbedContent).active == "namespaces"


async def test_help_scrolls_at_80x24(service):
    app = LightfastApp(service)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        keys = app.screen.query_one("#help-keys")
        assert keys.max_scroll_y > 0  # more than fits: it scrolls
        keys.scroll_end(animate=False)
        await pilot.pause()
        assert keys.scroll_y == keys.max_scroll_y


async def test_palette_shows_the_stats_tab(service):
    service.ingest()
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p", *"Tab: Stats")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "stats"
        assert app.query_one("#stats-namespaces_per_environment").row_count == 1


async def test_watch_shows_its_catch_up_progress(repo, service_factory):
    write_files(repo, {f"docs/n{i:03}.md": f"# Note {i}\n\n" + "word " * 400 for i in range(20)})
    service = service_factory(repo, embedder=(embedder := SlowEmbedder()))
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("w")
        status = app.query_one("#watch-status", Static)
        await until(pilot, lambda: "catching up · docs" in str(status.render())
                    and "chunks" in str(status.render()), seconds=60)
        embedder.release()
        await until(pilot, lambda: "watch: on" in str(status.render()), seconds=120)
        await pilot.press("w")
        await until(pilot, lambda: str(status.render()) == "watch: off", seconds=60)


async def test_two_tab_keys_in_one_turn_end_on_the_second(service):
    """A busy app handles several keys at once: 3 then / must end in the query, not on Ingest.

    (Textual shows the pane of whatever gets the focus; that focus event arrived
    after the second switch and snapped back to Ingest, and the query's letters
    ran as commands: the 'i' of 'pelican' started an ingest.)"""
    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        app.action_tab("ingest")
        app.action_focus_search()  # same turn, before any message is handled
        await settle(app, pilot)
        assert app.query_one(TabbedContent).active == "search"
        assert app.focused is app.query_one("#search-input")
        await pilot.press(*"pelican")
        assert app.query_one("#search-input").value == "pelican"
        assert not app.query_one("#ingest-pane").busy


async def test_keys_typed_in_one_burst_follow_the_focus(service):
    """A paste or a fast typist: '2/pelican' arrives before any of it is handled.

    The tab keys and / act the moment they arrive, so the letters behind them go to
    the query (the 'i' of 'pelican' once started an ingest instead)."""
    from textual import events

    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        for key in ["2", "slash", *"pelican"]:
            app.post_message(events.Key(key, "/" if key == "slash" else key))
        await settle(app, pilot)
        assert app.query_one(TabbedContent).active == "search"
        assert app.query_one("#search-input").value == "pelican"
        assert not app.query_one("#ingest-pane").busy
        for key in ["escape", "3"]:
            app.post_message(events.Key(key, None if key == "escape" else key))
        await settle(app, pilot)
        assert app.query_one(TabbedContent).active == "ingest"
        assert app.query_one("#search-input").value == "pelican"


def test_the_line_under_the_bar_marks_a_total_that_still_grows():
    from core.ingest import Progress
    from lightfast_tui.widgets.ingest import stage_line

    growing = Progress("docs", "embed", 256, 700, total_final=False, files_read=40, files_total=120)
    assert stage_line(growing) == "docs: embedded 256/700+ chunks · read 40/120 files"
    assert stage_line(Progress("docs", "embed", 700, 700)) == "docs: embedded 700/700 chunks"
