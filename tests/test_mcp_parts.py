"""The MCP server's parts alone: the text cap, the progress relay, argument errors, freshness.

The same behaviour is tested through the real client over stdio in test_mcp.py; these pin the
edges (any max_chars, any order of reports) that a handful of stdio calls cannot.
"""

from __future__ import annotations

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


def report(store, stage, done, total):
    return SimpleNamespace(store=store, stage=stage, done=done, total=total, message="", rate=None, eta_s=None)


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
