"""Search modes end to end: hybrid by default, exact identifiers first, namespaces merged on one
scale, older namespaces falling back with a note, and `mode` on the CLI, MCP and TUI.

Real mirror, real local index; the deterministic HashEmbedder for plumbing, the real model
for the CLI and MCP flows.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap

import pytest
from click.testing import CliRunner

from conftest import write_files
from core.errors import LightfastError
from core.fusion import (FusionWeights, agreement, contains_phrase, definition_rank, fuse, lexical_weight,
                         peakedness)

FILES = {
    "core/store.py": textwrap.dedent('''\
        """Where widgets live."""

        def open_widget_store(path):
            """Open the store of widgets at path."""
            return WidgetCache(path)


        class WidgetCache:
            def evict_stale(self, age):
                if age > 10:
                    raise ValueError("the widget cache is full: evict something first")
                return []
        '''),
    "core/uses.py": "\n\n".join(
        f"def use_{i}():\n    store = open_widget_store('w{i}')\n    return open_widget_store(store)"
        for i in range(8)) + "\n",
    "docs/guide.md": "# Widgets\n\nCall open_widget_store to open the widget store; open_widget_store is cheap.\n\n"
                     "# Birds\n\nThe pelican colony nests on the northern lagoon every spring.\n",
}


@pytest.fixture
def service(repo, service_factory):
    write_files(repo, FILES)
    svc = service_factory(repo)
    svc.ingest()
    return svc


def first(result):
    hit = result.hits[0]
    return hit.path, hit.start_line


# -- fusion, alone -----------------------------------------------------------------------------------

def test_peakedness_agreement_and_the_lexical_weight():
    assert peakedness([]) == 0.0 and peakedness([5.0]) == 1.0
    assert peakedness([5.0, 5.0, 5.0]) == 0.0
    assert peakedness([10.0, 1.0, 1.0]) == pytest.approx(0.9)
    assert agreement({"a": 1, "b": 1}, {"a": 3.0, "c": 2.0, "d": 1.0, "b": 0.5}) == pytest.approx(0.5)
    w = FusionWeights(base=0.1, code=0.5, peak=0.4, agree=0.2, cap=0.8)
    prose_flat = lexical_weight("how do birds nest", [3.0, 3.0, 3.0], w)
    prose_peaked = lexical_weight("how do birds nest", [9.0, 1.0, 1.0], w)
    prose_agreed = lexical_weight("how do birds nest", [9.0, 1.0, 1.0], w, agreed=1.0)
    code = lexical_weight("open_widget_store", [9.0, 1.0, 1.0], w)
    assert prose_flat == pytest.approx(0.1) and prose_flat < prose_peaked < prose_agreed < code == pytest.approx(0.8)
    assert lexical_weight("anything", [], w) == 0.0  # no lexical evidence, no lexical weight


def test_fuse_scores_every_candidate_of_either_side():
    fused, w = fuse("how do birds nest", {"a": 0.9, "b": 0.5, "c": 0.1}, {"c": 7.0, "d": 1.0})
    assert set(fused) == {"a", "b", "c", "d"} and 0 < w < 1
    assert all(0.0 <= s <= 1.0 for s in fused.values())
    only_words, w = fuse("birds", {}, {"x": 2.0, "y": 1.0})
    assert w == 1.0 and only_words["x"] > only_words["y"]


def test_definition_rank_and_phrases():
    assert definition_rank(["LocalIndex._load"], ["LocalIndex._load"]) == 2
    assert definition_rank(["_load"], ["LocalIndex._load"]) == 1
    assert definition_rank(["Other._load"], ["LocalIndex._load"]) == 0
    assert definition_rank(["open_widget_store"], []) == 0
    assert contains_phrase("the cache is full: evict", 'raise E("The cache is full: evict now")')
    assert not contains_phrase("cache full", "the cache is full")  # under 3 words: not a phrase


# -- the service ------------------------------------------------------------------------------------

def test_hybrid_is_the_default_and_every_mode_answers(service):
    result = service.search("open_widget_store")
    assert result.mode == "hybrid" and result.lexical_weight is not None
    dense = service.search("open_widget_store", mode="dense")
    lexical = service.search("open_widget_store", mode="lexical")
    assert dense.mode == "dense" and dense.lexical_weight is None and dense.hits
    assert lexical.hits and all("open_widget_store" in h.text for h in lexical.hits)
    assert not (result.notes or dense.notes or lexical.notes or result.failed)
    with pytest.raises(LightfastError, match="unknown search mode 'fuzzy': use one of hybrid, dense, lexical"):
        service.search("x", mode="fuzzy")


@pytest.mark.parametrize("query, line", [
    ("open_widget_store", 3),  # used 16 times in core/uses.py and twice in the guide: the definition wins
    ("open_widget_store()", 3),
    ("where is open_widget_store defined", 3),
    ("WidgetCache.evict_stale", 9),
    ("evict_stale", 9),
    ("WidgetCache", 8),
    ("the widget cache is full: evict something first", 11),  # an error string, in its chunk
])
@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_an_identifier_ranks_its_definition_first(service, query, line, mode):
    hit = service.search(query, mode=mode, scope="workspace").hits[0]
    assert hit.path == "core/store.py" and hit.start_line <= line <= hit.end_line, (query, hit)


def test_a_workspace_search_merges_namespaces_on_one_scale(service):
    result = service.search("pelican lagoon", scope="workspace")
    assert len(result.namespaces) == 2
    assert result.hits[0].path == "docs/guide.md" and "pelican" in result.hits[0].text
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert len({(h.namespace, h.vector_id) for h in result.hits}) == len(result.hits)  # each chunk once


def test_a_glob_applies_to_both_sides(service):
    result = service.search("open_widget_store", scope="workspace", path_glob="docs/**")
    assert result.hits and {h.path for h in result.hits} == {"docs/guide.md"}


def drop_lexical(service, store: str) -> None:
    """The namespace as a Lightfast from before the lexical index left it."""
    name = next(r.namespace_name for r in service.namespace_records("store") if r.store_slug == store)
    conn = sqlite3.connect(service.index.namespace_folder(name) / "meta.sqlite", isolation_level=None)
    conn.execute("DROP TABLE lexical")
    conn.execute("DROP TABLE lexical_ids")
    conn.execute("DELETE FROM meta WHERE key='lexical'")
    conn.close()


def test_a_store_indexed_before_the_lexical_index_falls_back_then_the_next_ingest_builds_it(service):
    drop_lexical(service, "code")
    hybrid = service.search("open_widget_store", scope="workspace")
    assert hybrid.hits and any("no lexical index in org_acme:ws_platform:store_code" in n for n in hybrid.notes)
    assert "searched by vectors alone" in hybrid.notes[0]
    lexical = service.search("open_widget_store", scope="workspace", mode="lexical")
    assert "org_acme:ws_platform:store_code" in lexical.failed
    assert "lightfast ingest" in lexical.failed["org_acme:ws_platform:store_code"]
    assert {h.store for h in lexical.hits} == {"docs"}  # the other store still answers
    report = service.ingest()  # nothing changed on disk: no embedding, but the lexical index is built
    assert report.totals()["chunks_embedded"] == 0
    again = service.search("open_widget_store", scope="workspace", mode="lexical")
    assert not again.failed and first(again) == ("core/store.py", 1)


def test_changed_and_removed_files_leave_the_lexical_index(service, repo):
    (repo / "core" / "store.py").write_text("def open_gadget_store(path):\n    return path\n")
    (repo / "core" / "uses.py").unlink()
    service.ingest()
    gone = service.search("widget WidgetCache evict_stale", scope="store", stores=["code"], mode="lexical")
    assert gone.hits == []
    assert first(service.search("open_gadget_store", mode="lexical")) == ("core/store.py", 1)


# -- the faces ---------------------------------------------------------------------------------------

@pytest.fixture
def cli_repo(repo, monkeypatch):
    from lightfast_cli.main import cli

    write_files(repo, FILES)
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(cli, ["init", "--organization", "acme", "--workspace", "web"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["ingest"])
    assert result.exit_code == 0, result.output
    return repo


def test_cli_search_mode_with_the_real_model(cli_repo):
    from lightfast_cli.main import cli

    for mode in ("hybrid", "lexical"):
        result = CliRunner().invoke(cli, ["search", "WidgetCache.evict_stale", "--mode", mode, "--json"])
        assert result.exit_code == 0, result.output
        out = json.loads(result.output)
        assert out["mode"] == mode and out["hits"][0]["path"] == "core/store.py"
    dense = json.loads(CliRunner().invoke(cli, ["search", "where do pelicans nest", "--mode", "dense",
                                                "--json"]).output)
    assert dense["mode"] == "dense" and dense["hits"][0]["path"] == "docs/guide.md"
    bad = CliRunner().invoke(cli, ["search", "x", "--mode", "fuzzy"])
    assert bad.exit_code == 2 and "'fuzzy' is not one of 'hybrid', 'dense', 'lexical'" in bad.output


def test_mcp_search_takes_a_mode(tmp_path):
    from test_mcp import mcp_client, write_repo

    repo = tmp_path / "repo"
    config = write_repo(repo, FILES, "acme", "web")
    world = {"repo": repo, "home": tmp_path / "home", "config": config}
    with mcp_client(world) as client:
        client.call("ingest", {})
        lexical = client.call("search", {"query": "open_widget_store", "mode": "lexical"})
        assert not lexical.is_error
        assert lexical.structured_content["hits"][0]["path"] == "core/store.py"
        bad = client.call("search", {"query": "x", "mode": "fuzzy"})
        assert bad.is_error
        assert "mode must be one of: hybrid, dense, lexical" in bad.content[0].text


@pytest.mark.anyio
async def test_tui_mode_switch_searches_again_in_that_mode(service):
    from textual.widgets import Select

    from lightfast_tui.app import LightfastApp

    app = LightfastApp(service)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash", *"open_widget_store", "enter")
        for _ in range(3):
            await pilot.pause()
            await app.workers.wait_for_complete()
        pane = app.query_one("#search-pane")
        assert pane.mode == "hybrid"
        modes_seen = []
        original = service.search

        def recording(*args, **kw):
            modes_seen.append(kw.get("mode"))
            return original(*args, **kw)

        service.search = recording
        app.query_one("#search-mode", Select).value = "lexical"
        for _ in range(3):
            await pilot.pause()
            await app.workers.wait_for_complete()
        assert modes_seen == ["lexical"]
        hits = app.query_one("#hits").hits
        assert hits and all("open_widget_store" in h.text for h in hits)
