"""The MCP server's parts alone: the text cap, the progress relay, argument errors, freshness.

The same behaviour is tested through the real client over stdio in test_mcp.py; these pin the
edges (any max_chars, any order of reports) that a handful of stdio calls cannot.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mcp_server.arguments import accepted_arguments, argument_error, strict_model
from mcp_server.format import cap, file_state
from mcp_server.progress import ProgressRelay


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=300), max_size=40), st.integers(min_value=0, max_value=2000),
       st.text(max_size=80))
def test_cap_never_exceeds_max_chars(lines, max_chars, hint):
    text = cap(lines, max_chars, "lines", hint)
    assert len(text) <= max_chars
    if len("\n".join(lines)) <= max_chars:
        assert text == "\n".join(lines)


def test_cap_says_what_it_cut():
    text = cap([f"line {i} " + "x" * 80 for i in range(50)], 500, "lines")
    assert len(text) <= 500 and text.splitlines()[-1].startswith("… cut: ")


def report(store, stage, done, total, total_final=True):
    from core.ingest import Progress

    return Progress(store, stage, done, total, total_final=total_final)


def test_progress_is_cumulative_over_stores_and_strictly_increasing():
    relay = ProgressRelay()
    reports = [
        report("docs", "scan", 0, 3), report("docs", "scan", 3, 3),
        report("docs", "embed", 0, 64), report("docs", "embed", 32, 64), report("docs", "embed", 64, 64),
        report("docs", "done", 64, 64),
        report("code", "scan", 0, 1), report("code", "embed", 0, 10), report("code", "embed", 10, 10),
        report("code", "done", 10, 10),
    ]
    sent = [n for n in map(relay.feed, reports) if n]
    assert [(n.progress, n.total) for n in sent] == [(0, 64), (32, 64), (64, 64), (74, 74)]
    assert sent[-1].message.startswith("code: embedding, 10/10 chunks of this store; 74/74 chunks of the run")


def test_progress_stays_silent_when_nothing_moves():
    relay = ProgressRelay()
    assert relay.feed(report("docs", "embed", 0, 0)) is None  # nothing to embed in this store
    assert relay.feed(report("docs", "delete", 0, 2)) is None
    assert relay.feed(report("code", "embed", 0, 5)).progress == 0  # the first: the client learns the total
    assert relay.feed(report("code", "embed", 0, 5)) is None
    assert (relay.feed(report("code", "embed", 5, 5)).progress, relay.total) == (5, 5)


def test_strict_model_refuses_coercion_and_unknown_names():
    from pydantic import BaseModel

    class Args(BaseModel):
        top_k: int = 8
        full: bool = False

    strict = strict_model(Args)
    assert strict(top_k=5).top_k == 5
    for bad in ({"top_k": "5"}, {"top_k": True}, {"full": "yes"}, {"full": 1}, {"nope": 1}):
        with pytest.raises(ValidationError):
            strict.model_validate(bad)


SCHEMA = {"properties": {"query": {"type": "string"}, "top_k": {"type": "integer", "minimum": 1, "maximum": 50},
                         "scope": {"type": "string", "enum": ["store", "workspace"]},
                         "stores": {"type": "array", "items": {"type": "string"}}},
          "required": ["query"]}


def test_argument_errors_in_plain_words():
    errors = [
        {"type": "int_type", "loc": ("top_k",), "msg": "Input should be a valid integer", "input": "5"},
        {"type": "extra_forbidden", "loc": ("colour",), "msg": "Extra inputs are not permitted", "input": "crimson"},
        {"type": "string_type", "loc": ("stores", 1), "msg": "Input should be a valid string", "input": 3},
        {"type": "literal_error", "loc": ("scope",), "msg": "Input should be ...", "input": "x",
         "ctx": {"expected": "'store' or 'workspace'"}},
        {"type": "missing", "loc": ("query",), "msg": "Field required", "input": {}},
    ]
    text = argument_error("search", errors, SCHEMA)
    assert text.startswith("invalid arguments for search: top_k must be a whole number from 1 to 50, not text; "
                           "colour is not an argument of this tool; stores[1] must be text, not a number; "
                           "scope must be one of: store, workspace (and 1 more).")
    assert text.endswith("Accepted arguments: query (text, required), top_k (whole number 1-50), "
                         "scope (one of: store, workspace), stores (list of text).")
    assert "crimson" not in text and "Input should" not in text
    assert accepted_arguments({"properties": {}}) == "none (call it with {})"


def test_file_state_is_unknown_outside_this_servers_stores(tmp_path):
    (tmp_path / "a.md").write_text("hello")
    import hashlib

    digest = hashlib.sha256(b"hello").hexdigest()
    hit = SimpleNamespace(namespace="org_a:ws_b:store_docs", path="a.md", content_hash=digest)
    own = {"org_a:ws_b:store_docs": "docs"}
    assert file_state(tmp_path, hit, own, {}) == "fresh"
    other = SimpleNamespace(namespace="org_a:ws_other:store_docs", path="a.md", content_hash="0" * 64)
    assert file_state(tmp_path, other, own, {}) == "unknown"  # would be 'changed' against our root
    missing = SimpleNamespace(namespace="org_a:ws_other:store_docs", path="gone.md", content_hash=digest)
    assert file_state(tmp_path, missing, own, {}) == "unknown"  # would be 'deleted'


def test_search_text_carries_the_notes():
    from mcp_server.format import SearchOutput, search_text

    out = SearchOutput(query="q", namespaces=["ns"], hits=[], failed_stores={},
                       notes=["rerank unavailable; merged by vector score"])
    assert "note: rerank unavailable; merged by vector score" in search_text(out, 2000)


# -- the server's parts since issue 20: output models, limits, errors, the run tracker, imports ----
def test_every_count_core_reports_is_shown_under_one_name():
    """IngestOutput's counts come from core's (StoreReport.counts(), the mirror's ingest_runs) through
    one map: a count core adds fails here until it is shown or deliberately left out."""
    from core.ingest import StoreReport
    from mcp_server.models import COUNT_KEYS, IngestOutput, counts_out

    left_out = {"repaired"}  # unchanged files re-embedded: in the CLI's summary, not in the tool's
    assert set(StoreReport("docs", "ns").counts()) == set(COUNT_KEYS.values()) | left_out
    report = StoreReport("docs", "ns", added=1, chunks_embedded=5, vectors_upserted=5, vectors_deleted=2,
                         failed=[("a.md", "unreadable")], skipped=[("b.bin", "binary"), ("c.bin", "binary")])
    out = IngestOutput(state="done", stores=["docs"], **counts_out(report.counts()))
    assert (out.added, out.embedded, out.upserted, out.deleted, out.failed_count, out.skipped_count) == (
        1, 5, 5, 2, 1, 2)


def test_a_search_hit_shows_cores_hit_under_the_names_clients_use():
    import typing

    from core.search import Hit
    from mcp_server.models import HIT, SearchHit, search_hit

    hints = typing.get_type_hints(Hit)
    for name, (attr, _) in HIT.fields.items():  # core's type, whatever the output calls it
        assert SearchHit.model_fields[name].annotation == hints[attr], name
    out = search_hit(Hit(namespace="ns", store="docs", path="a.md", start_line=1, end_line=2, score=0.123456,
                         text="some\ntext", vector_id="a.md#0"), "fresh")
    assert (out.id, out.score, out.snippet, out.headings) == ("a.md#0", 0.1235, "some text", "")


def test_the_schema_limits_stay_within_cores():
    """The schema tells clients the limits; the service enforces its own, which must not be tighter."""
    import core.search
    from mcp_server.settings import MAX_QUERY_CHARS, MAX_TOP_K

    assert MAX_QUERY_CHARS == core.search.MAX_QUERY_CHARS and MAX_TOP_K <= core.search.MAX_TOP_K


def test_core_errors_become_the_clients_words_in_one_place():
    from mcp.server.mcpserver.exceptions import (
        ResourceNotFoundError, ToolError, UnexpectedResourceError, UnexpectedToolError,
    )

    from core.errors import ConfigError, NotFoundError
    from mcp_server.errors import failure_text, resource_error, tool_error

    def wrapped(cls, message, cause):
        try:
            raise cls(message) from cause
        except cls as exc:
            return exc

    schema = {"properties": {"store": {"type": "string"}}}
    core = wrapped(UnexpectedToolError, "Error executing tool ingest", ConfigError("unknown store 'x'"))
    assert str(tool_error(core, "ingest", schema, [])) == "unknown store 'x'"
    bug = wrapped(UnexpectedToolError, "Error executing tool ingest", KeyError("secret detail"))
    assert tool_error(bug, "ingest", schema, []) is bug  # our bug: the SDK's words, the detail in the log
    ours = wrapped(ToolError, "Error executing tool ingest: no such file", None)
    assert str(tool_error(ours, "ingest", schema, [])) == "no such file"
    unknown = tool_error(ToolError("Unknown tool: drop"), "drop", None, ["search", "ingest"])
    assert str(unknown) == "unknown tool 'drop': this server has search, ingest"

    missing = resource_error(wrapped(UnexpectedResourceError, "Error reading resource", NotFoundError("no ns")))
    assert isinstance(missing, ResourceNotFoundError) and str(missing) == "no ns"
    crash = wrapped(UnexpectedResourceError, "Error reading resource", KeyError("x"))
    assert resource_error(crash) is crash

    assert failure_text(OSError(28, "No space left on device", "/data/x")) == (
        "No space left on device (OSError, /data/x)")
    assert failure_text(KeyError("secret")) == "internal error (KeyError); see the server log"


def test_a_tracked_run_is_never_left_running():
    from mcp.server.mcpserver.exceptions import ToolError

    from core.errors import LightfastError
    from core.ingest import StoreReport
    from core.service import IngestReport
    from mcp_server.tracking import IngestTracker

    tracker = IngestTracker()
    with pytest.raises(OSError):
        with tracker.run(["docs"]):
            with pytest.raises(ToolError, match="already running"):
                with tracker.run(["docs"]):
                    pass  # never reached: one run at a time
            raise OSError(5, "Input/output error", "/dev/x")
    failed = tracker.snapshot()
    assert (failed.state, failed.error) == ("failed", "Input/output error (OSError, /dev/x)")

    with pytest.raises(LightfastError):
        with tracker.run(["docs"]):
            raise LightfastError("the index is locked; retry")
    assert tracker.snapshot().error == "the index is locked; retry"

    with tracker.run(["docs"]):
        pass  # ended without a result
    assert tracker.snapshot().state == "failed" and "without a result" in tracker.snapshot().error

    with tracker.run(["docs"]) as run:
        run.finish(IngestReport([StoreReport("docs", "ns", added=2, skipped=[("b", "binary")] * 2)]), False)
    done = tracker.snapshot()
    assert (done.state, done.added, done.skipped, done.skipped_count, done.error) == ("done", 2, ["b: binary"], 2, "")


def test_the_last_recorded_runs_add_up_under_the_clients_names():
    from mcp_server.format import ingest_text
    from mcp_server.tracking import last_recorded

    from core.records import IngestRun

    def run(**given) -> IngestRun:  # the mirror's row: counts it did not give are 0
        counts = dict.fromkeys(("added", "changed", "removed", "unchanged", "chunks_embedded", "vectors_upserted",
                                "vectors_deleted", "failed", "skipped"), 0)
        return IngestRun(id=1, namespace_id="ns", environment="dev", started_at="2026-01-01T00:00:00",
                         read_units=None, embed_tokens=None, **{**counts, **given})

    runs = [run(store_slug="docs", status="ok", added=2, chunks_embedded=4, vectors_upserted=4, failed=1,
                finished_at="2026-01-01T00:00:00", error=None),
            run(store_slug="code", status="interrupted", added=1, chunks_embedded=3, vectors_deleted=2,
                finished_at="2026-01-02T00:00:00", error="the process stopped")]
    out = last_recorded(runs, ["docs", "code"])
    counts = (out.added, out.embedded, out.upserted, out.deleted, out.failed_count)
    assert (out.state, counts) == ("failed", (3, 7, 4, 2, 1))
    assert (out.error, out.finished_at, out.source) == ("code: the process stopped", "2026-01-02T00:00:00", "mirror")
    assert out.seconds == 86_400  # from the first start to the last finish, not 0
    assert "(86400.0 s)" in ingest_text(out)
    still_running = last_recorded([runs[0], run(store_slug="code", status="running", finished_at=None, error=None)],
                                  ["docs", "code"])
    assert still_running.seconds == 0 and " s)" not in ingest_text(still_running)  # no made-up duration


LISTING = Path(__file__).parent / "data" / "mcp_listing.json"


def listing(read_only: bool) -> dict:
    import anyio
    from mcp import Client

    from mcp_server.server import LightfastMCP
    from mcp_server.settings import ServerSettings

    async def main():  # listing asks nothing of the service
        async with Client(LightfastMCP(object(), ServerSettings(read_only=read_only))) as c:
            templates = (await c.list_resource_templates()).resource_templates
            return {"tools": [t.model_dump(mode="json") for t in (await c.list_tools()).tools],
                    "resources": [r.model_dump(mode="json") for r in (await c.list_resources()).resources],
                    "templates": [r.model_dump(mode="json") for r in templates]}

    return anyio.run(main)


def test_the_listing_clients_see_is_the_published_one():
    """Tool names, descriptions, annotations, input and output schemas, and resources, as clients
    cache them: a change here is a change for every client. After a deliberate one, rewrite the
    file with LF_UPDATE_MCP_LISTING=1 and review its diff."""
    found = {f"read_only={ro}": listing(ro) for ro in (False, True)}
    if os.environ.get("LF_UPDATE_MCP_LISTING"):
        LISTING.write_text(json.dumps(found, indent=1, ensure_ascii=False) + "\n")
    assert found == json.loads(LISTING.read_text())


def test_a_total_that_still_grows_is_marked_in_the_message():
    relay = ProgressRelay()
    growing = relay.feed(report("docs", "embed", 256, 700, total_final=False))
    assert (growing.progress, growing.total) == (256, 700)
    assert "256/700+ chunks of this store" in growing.message and "256/700+ chunks of the run" in growing.message
    final = relay.feed(report("docs", "embed", 512, 900))
    assert "512/900 chunks of this store" in final.message and "+" not in final.message
