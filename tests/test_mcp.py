"""The MCP server through the real `mcp` client over a stdio subprocess, with the real model.

One server process serves most of the module (a blocking portal keeps its
client session open across tests); read-only mode, the raw stdout check and
HTTP each start their own.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest
from anyio.from_thread import start_blocking_portal
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

ROOT = Path(__file__).resolve().parents[1]

FILES = {
    "docs/birds.md": "# Birds\n\nThe pelican colony nests on the northern lagoon every spring.\n",
    "docs/cooking.md": "# Cooking\n\nKnead the bread dough for ten minutes, then let it rise.\n",
    "docs/changing.md": "# Weather\n\nThunderstorms roll in over the hills in late summer.\n",
    "docs/going.md": "# Trains\n\nThe night train to the coast leaves at eleven.\n",
    "src/billing.py": "def compute_invoice_total(lines):\n    return sum(l.amount for l in lines)\n",
}
OWN = {"org_acme:ws_web:store_docs", "org_acme:ws_web:store_code"}


def write_repo(repo: Path, files: dict[str, str], organization: str, workspace: str) -> Path:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    config = repo / "lightfast.yml"
    config.write_text(textwrap.dedent(f"""
        organization: {organization}
        workspace: {workspace}
        environment: local
        stores:
          - slug: docs
            include: ["**/*.md"]
          - slug: code
            include: ["**/*.py"]
    """))
    return config


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The repo under test, plus two neighbours in the same data dir: another workspace of
    the same organization, and another organization, both about pelicans too."""
    from core.config import load_config
    from core.service import Lightfast

    root = tmp_path_factory.mktemp("mcp")
    home = root / "home"
    repo = root / "repo"
    config = write_repo(repo, FILES, "acme", "web")
    (root / "secret.md").write_text("outside the repo")
    (repo / "docs" / "link.md").symlink_to(root / "secret.md")
    neighbours = {}
    for org, ws in (("acme", "mobile"), ("globex", "web")):
        other = write_repo(root / f"{org}-{ws}", {"docs/pelicans.md": f"# {org} {ws}\n\nPelicans nest on the lagoon.\n"},
                           org, ws)
        service = Lightfast(load_config(other), home)
        service.ingest()
        neighbours[(org, ws)] = service.search("pelicans nest", top_k=1).hits[0]
    return {"repo": repo, "home": home, "config": config, "neighbours": neighbours}


class Client:
    """A synchronous face over an MCP ClientSession running in a blocking portal."""

    def __init__(self, portal, session, log: Path):
        self.portal, self.session, self.log = portal, session, log

    def call(self, name: str, args: dict | None = None, progress=None):
        return self.portal.call(functools.partial(self.session.call_tool, name, args or {},
                                                  progress_callback=progress))

    def run(self, fn, *args):
        return self.portal.call(fn, *args)


@contextmanager
def mcp_client(world, *extra_args, instruments: dict[str, str] | None = None):
    """A client session with `python -m mcp_server --config ...` over stdio; with instruments (see
    tests/mcp_launch.py), the same server started through the instrumented launcher."""
    log = world["home"].parent / f"server-{time.monotonic_ns()}.log"
    start = [str(ROOT / "tests" / "mcp_launch.py")] if instruments else ["-m", "mcp_server"]
    params = StdioServerParameters(
        command=sys.executable,
        args=[*start, "--config", str(world["config"]), *extra_args],
        env={**os.environ, "LIGHTFAST_HOME": str(world["home"]), "PYTHONPATH": str(ROOT), **(instruments or {})},
        cwd=str(world["repo"]),
    )
    with open(log, "w") as errlog, start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(stdio_client(params, errlog=errlog)) as (read, write):
            session_cm = portal.call(ClientSession, read, write)
            with portal.wrap_async_context_manager(session_cm) as session:
                portal.call(session.initialize)
                yield Client(portal, session, log)


@pytest.fixture(scope="module")
def client(world):
    with mcp_client(world) as c:
        yield c


@pytest.fixture(scope="module")
def ingested(client):
    progress = []

    async def on_progress(value, total, message):
        progress.append((value, message))

    result = client.call("ingest", {}, progress=on_progress)
    return result, progress


def text_of(result) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def walk_schema(schema):
    if isinstance(schema, dict):
        yield schema
        for value in schema.values():
            yield from walk_schema(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from walk_schema(value)


# -- tools and schemas -------------------------------------------------------------------
def test_tools_have_clean_schemas_and_annotations(client):
    tools = {t.name: t for t in client.run(client.session.list_tools).tools}
    assert set(tools) == {"search", "read_chunk", "ingest", "ingest_status", "list_namespaces", "namespace_stats"}
    for tool in tools.values():
        assert tool.description and len(tool.description) > 80, tool.name
        assert tool.input_schema.get("type") == "object"
        assert tool.output_schema and tool.output_schema.get("type") == "object", tool.name
        for node in walk_schema(tool.input_schema):
            assert not {"anyOf", "oneOf", "allOf"} & set(node), (tool.name, node)
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert prop.get("description"), (tool.name, name)
        assert tool.annotations.read_only_hint is (tool.name != "ingest"), tool.name
    assert tools["ingest"].annotations.destructive_hint is True
    search = tools["search"].input_schema
    assert search["required"] == ["query"]
    assert search["properties"]["top_k"]["maximum"] == 50
    assert search["properties"]["scope"]["enum"] == ["store", "workspace", "organization"]


def test_server_logs_ready_on_stderr(client, ingested):
    while "ready:" not in client.log.read_text():  # bounded by pytest-timeout, never a timed assertion
        time.sleep(0.05)
    assert "ready: all-MiniLM-L6-v2" in client.log.read_text()


# -- the user flow -----------------------------------------------------------------------
def test_ingest_reports_counts_and_progress(client, ingested):
    result, progress = ingested
    assert not result.is_error, text_of(result)
    out = result.structured_content
    assert out["state"] == "done" and out["stores"] == ["docs", "code"]
    assert out["added"] == len(FILES) and out["embedded"] >= len(FILES) and out["upserted"] == out["embedded"]
    assert out["skipped"] == ["docs/link.md: symlink to outside the repo"] and out["skipped_count"] == 1
    assert text_of(result).startswith(f"ingest done (docs, code): {len(FILES)} added")
    assert progress and any(m.startswith("docs: embed") for _, m in progress)
    values = [v for v, _ in progress]
    assert values == sorted(set(values))  # strictly increasing, as the spec asks
    status = client.call("ingest_status")
    assert status.structured_content["state"] == "done"
    assert status.structured_content["added"] == len(FILES)


def test_search_then_read_chunk(client, ingested):
    search = client.call("search", {"query": "where do pelicans nest?", "top_k": 3})
    assert not search.is_error, text_of(search)
    out = search.structured_content
    assert set(out["namespaces"]) == OWN and out["failed_stores"] == {}
    hit = out["hits"][0]
    assert (hit["path"], hit["store"], hit["file_state"]) == ("docs/birds.md", "docs", "fresh")
    assert hit["start_line"] == 1 and hit["end_line"] >= 3 and "pelican" in hit["snippet"]
    assert f"1. docs/birds.md:1-{hit['end_line']} (docs" in text_of(search)
    assert f"id={hit['id']} namespace={hit['namespace']}" in text_of(search)

    chunk = client.call("read_chunk", {"id": hit["id"], "namespace": hit["namespace"], "radius": 1})
    assert not chunk.is_error, text_of(chunk)
    assert chunk.structured_content["path"] == "docs/birds.md"
    assert "pelican" in chunk.structured_content["chunks"][0]["text"]
    assert "<- the hit" in text_of(chunk)

    code = client.call("search", {"query": "invoice total", "stores": ["code"], "top_k": 1})
    assert code.structured_content["hits"][0]["path"] == "src/billing.py"
    globbed = client.call("search", {"query": "pelicans", "path_glob": "src/**"})
    assert {h["path"] for h in globbed.structured_content["hits"]} <= {"src/billing.py"}


def test_search_says_when_a_file_changed_or_went_since_it_was_indexed(client, ingested, world):
    repo = world["repo"]
    changing, going = repo / "docs" / "changing.md", repo / "docs" / "going.md"
    before = changing.read_text(), going.read_text()
    changing.write_text(before[0] + "\nHail, too.\n")
    going.unlink()
    try:
        storms = client.call("search", {"query": "thunderstorms over the hills", "top_k": 1})
        trains = client.call("search", {"query": "night train to the coast", "top_k": 1})
    finally:
        changing.write_text(before[0])
        going.write_text(before[1])
    assert storms.structured_content["hits"][0]["file_state"] == "changed"
    assert "[file changed since indexed]" in text_of(storms)
    assert trains.structured_content["hits"][0]["file_state"] == "deleted"


def test_namespaces_stats_and_resources(client, ingested):
    listed = client.call("list_namespaces")
    rows = {n["namespace"]: n for n in listed.structured_content["namespaces"]}
    # the organization's namespaces: this workspace and acme/mobile, never globex
    assert set(rows) == OWN | {"org_acme:ws_mobile:store_docs", "org_acme:ws_mobile:store_code"}
    assert rows["org_acme:ws_web:store_docs"]["documents"] == 4
    assert rows["org_acme:ws_web:store_docs"]["index_vectors"] == rows["org_acme:ws_web:store_docs"]["vectors"]
    assert "globex" not in text_of(listed)

    stats = client.call("namespace_stats", {"store": "docs"})
    assert not stats.is_error, text_of(stats)
    assert stats.structured_content["namespace"] == "org_acme:ws_web:store_docs"
    assert stats.structured_content["documents"] == 4 and stats.structured_content["last_ingest"]
    assert "index check: ok" in text_of(stats)  # the doctor's counts-only check

    resources = client.run(client.session.list_resources)
    assert "lightfast://namespaces" in [str(r.uri) for r in resources.resources]
    everything = client.run(client.session.read_resource, "lightfast://namespaces")
    assert "globex" not in everything.contents[0].text
    one = client.run(client.session.read_resource, "lightfast://namespaces/docs")
    assert json.loads(one.contents[0].text)["namespace"] == "org_acme:ws_web:store_docs"


# -- scope and safety ----------------------------------------------------------------------
def test_scopes_stay_inside_the_configured_organization_and_workspace(client, ingested, world):
    mobile, globex = world["neighbours"][("acme", "mobile")], world["neighbours"][("globex", "web")]
    org = client.call("search", {"query": "pelicans nest on the lagoon", "scope": "organization", "top_k": 50})
    namespaces = {h["namespace"] for h in org.structured_content["hits"]}
    assert mobile.namespace in namespaces and globex.namespace not in namespaces
    assert not any(ns.startswith("org_globex") for ns in org.structured_content["namespaces"])
    mobile_hit = next(h for h in org.structured_content["hits"] if h["namespace"] == mobile.namespace)
    assert mobile_hit["file_state"] == "unknown"  # another repository's file: not ours to compare

    ws = client.call("search", {"query": "pelicans nest on the lagoon", "scope": "workspace", "top_k": 50})
    assert set(ws.structured_content["namespaces"]) == OWN

    refused = client.call("read_chunk", {"id": globex.vector_id, "namespace": globex.namespace})
    assert refused.is_error and "no chunk with id" in text_of(refused)
    assert not client.call("read_chunk", {"id": mobile.vector_id, "namespace": mobile.namespace}).is_error


TOP_K_MUST = "top_k must be a whole number from 1 to 50,"
BAD_CALLS = {
    "wrong type": ("search", {"query": "x", "top_k": "many"}, "top_k"),
    "huge top_k": ("search", {"query": "x", "top_k": 10_000}, "top_k must be at most 50"),
    "zero top_k": ("search", {"query": "x", "top_k": 0}, "top_k"),
    "missing query": ("search", {}, "query is required"),
    "empty query": ("search", {"query": "   "}, "query is empty"),
    "100 KB query": ("search", {"query": "word " * 20_000}, "at most 4000 characters"),
    "query not a string": ("search", {"query": ["a", "b"]}, "query"),
    "unknown store": ("search", {"query": "x", "stores": ["nope"]}, "unknown store 'nope'"),
    "bad scope": ("search", {"query": "x", "scope": "galaxy"}, "scope"),
    "stores with workspace scope": ("search", {"query": "x", "scope": "workspace", "stores": ["docs"]},
                                    "scope 'store'"),
    "huge max_chars": ("search", {"query": "x", "max_chars": 10**9}, "max_chars"),
    "dotdot path": ("ingest", {"paths": ["../secret.md"]}, "outside the repository root"),
    "sneaky dotdot": ("ingest", {"paths": ["docs/../../secret.md"]}, "outside the repository root"),
    "absolute path": ("ingest", {"paths": ["/etc/passwd"]}, "outside the repository root"),
    "symlink out": ("ingest", {"paths": ["docs/link.md"]}, "through a symlink"),
    "NUL in path": ("ingest", {"paths": ["docs/a\x00.md"]}, "NUL"),
    "paths not a list": ("ingest", {"paths": "docs"}, "paths"),
    "unknown ingest store": ("ingest", {"store": "nope"}, "unknown store 'nope'"),
    "unknown chunk": ("read_chunk", {"id": "nope", "namespace": "org_acme:ws_web:store_docs"},
                      "no chunk with id 'nope' in namespace 'org_acme:ws_web:store_docs'"),
    "another organization's namespace": ("read_chunk", {"id": "x", "namespace": "org_globex:ws_web:store_docs"},
                                         "is not one of this organization's namespaces"),
    "negative radius": ("read_chunk", {"id": "x", "namespace": "n", "radius": -1}, "radius must be at least 0"),
    "read_chunk without namespace": ("read_chunk", {"id": "x"}, "namespace is required"),
    # taken strictly: no coercion of strings or booleans, no unknown names
    "full as text": ("ingest", {"full": "yes"}, "full must be true or false, not text"),
    "full as number": ("ingest", {"full": 1}, "full must be true or false, not a number"),
    "top_k as text": ("search", {"query": "x", "top_k": "5"}, f"{TOP_K_MUST} not text"),
    "top_k as boolean": ("search", {"query": "x", "top_k": True}, f"{TOP_K_MUST} not true"),
    "top_k as float": ("search", {"query": "x", "top_k": 5.0}, f"{TOP_K_MUST} not a number"),
    "unknown argument": ("search", {"query": "x", "limit": 5}, "limit is not an argument of this tool"),
    "misspelt argument": ("ingest", {"path": ["docs"]}, "path is not an argument of this tool"),
    "argument to a tool without any": ("ingest_status", {"verbose": True}, "verbose is not an argument"),
    "stores as text": ("search", {"query": "x", "stores": "docs"}, "stores must be a list of text, not text"),
    "a store slug not text": ("search", {"query": "x", "stores": [3]}, "stores[0] must be text, not a number"),
    "nonexistent path": ("ingest", {"paths": ["nonexistent.md"]}, "no such file or folder in the repository, "
                         "and none indexed: nonexistent.md"),
    "nonexistent folder": ("ingest", {"paths": ["docs", "nowhere/"]}, "none indexed: nowhere"),
    "unknown stats store": ("namespace_stats", {"store": "nope"}, "unknown store 'nope'"),
    "unknown tool": ("drop_everything", {}, "drop_everything"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_arguments_are_tool_errors_that_say_what_to_do(client, ingested, case):
    tool, args, expected = BAD_CALLS[case]
    result = client.call(tool, args)
    text = text_of(result)
    assert result.is_error, text
    assert expected in text
    assert "Traceback" not in text and len(text) < 600
    for raw in ("pydantic", "https://", "[type=", "validation error for", "Input should"):
        assert raw not in text, (raw, text)
    if text.startswith("invalid arguments"):  # every argument error ends with what the tool accepts
        assert "Accepted arguments:" in text


def test_argument_errors_list_the_accepted_arguments(client, ingested):
    text = text_of(client.call("search", {"query": "x", "top_k": "5", "colour": "red"}))
    assert text.startswith("invalid arguments for search: ")
    assert "top_k must be a whole number from 1 to 50, not text" in text and "colour is not an argument" in text
    assert text.endswith("Accepted arguments: query (text, required), stores (list of text), scope (one of: "
                         "store, workspace, organization), top_k (whole number 1-50), path_glob (text), "
                         "max_chars (whole number 500-60000), mode (one of: hybrid, dense, lexical).")
    ingest = text_of(client.call("ingest", {"full": "yes"}))
    assert "Accepted arguments: paths (list of text), store (text), full (true or false)." in ingest
    assert "none (call it with {})" in text_of(client.call("ingest_status", {"x": 1}))


def test_coercible_arguments_start_nothing(client, ingested):
    """{"full": "yes"} used to start a full re-embed; now nothing runs and the last run stands."""
    before = client.call("ingest_status").structured_content
    assert client.call("ingest", {"full": "yes"}).is_error
    after = client.call("ingest_status").structured_content
    assert after == before and after["state"] != "running"


def test_input_schemas_forbid_unknown_arguments(client):
    for tool in client.run(client.session.list_tools).tools:
        assert tool.input_schema.get("additionalProperties") is False, tool.name


def test_server_keeps_serving_after_bad_calls(client, ingested):
    for tool, args, _ in BAD_CALLS.values():
        client.call(tool, args)
    after = client.call("search", {"query": "bread dough"})
    assert not after.is_error and after.structured_content["hits"][0]["path"] == "docs/cooking.md"
    assert client.call("ingest_status").structured_content["state"] == "done"


def test_ingest_of_given_paths_and_one_store(client, ingested, world):
    note = world["repo"] / "docs" / "note.md"
    note.write_text("# Note\n\nHerons wade in the shallow marsh.\n")
    try:
        one = client.call("ingest", {"paths": ["docs/note.md"], "store": "docs"})
        out = one.structured_content
        assert not one.is_error and out["stores"] == ["docs"] and out["added"] == 1 and out["unchanged"] == 0
        hit = client.call("search", {"query": "herons in the marsh", "top_k": 1}).structured_content["hits"][0]
        assert hit["path"] == "docs/note.md"
    finally:
        note.unlink()
    gone = client.call("ingest", {"paths": [str(note)]})  # absolute, inside the root: fine
    assert gone.structured_content["removed"] == 1


# -- output size -----------------------------------------------------------------------------
def test_output_is_capped_with_the_cut_said(client, ingested, world):
    long_doc = world["repo"] / "docs" / "long.md"
    long_doc.write_text("# Long\n\n" + "\n\n".join(
        f"Paragraph {i}: pelicans and lagoons, {'and more words about the birds ' * 8}" for i in range(200)))
    try:
        client.call("ingest", {"paths": ["docs/long.md"]})
        small = client.call("search", {"query": "pelicans lagoons", "top_k": 50, "max_chars": 600})
        default = client.call("search", {"query": "pelicans lagoons", "top_k": 50})
    finally:
        long_doc.unlink()
        client.call("ingest", {"paths": ["docs/long.md"]})
    assert len(text_of(small)) <= 600 and "cut:" in text_of(small) and "raise max_chars" in text_of(small)
    assert len(small.structured_content["hits"]) == 50
    assert len(text_of(default)) <= 8000
    assert all(len(h["snippet"]) <= 400 for h in default.structured_content["hits"])
    assert len(json.dumps(default.structured_content)) < 40_000  # far below a ~25k-token tool cap


# -- other modes -----------------------------------------------------------------------------
def test_read_only_mode_has_no_ingest(world, ingested):
    with mcp_client(world, "--read-only") as c:
        names = {t.name for t in c.run(c.session.list_tools).tools}
        assert "ingest" not in names and "ingest_status" not in names and "search" in names
        assert c.call("ingest", {}).is_error
        assert not c.call("search", {"query": "bread dough"}).is_error


def test_stdout_carries_only_protocol_messages(world, ingested):
    """A raw session: every line the server writes to stdout is a JSON-RPC message."""
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "search", "arguments": {"query": "pelicans"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "search", "arguments": {"query": 42}}},
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_server", "--config", str(world["config"])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(world["repo"]),
        env={**os.environ, "LIGHTFAST_HOME": str(world["home"]), "PYTHONPATH": str(ROOT)},
    )
    answers = {}
    try:
        for message in messages:
            proc.stdin.write(json.dumps(message) + "\n")
            proc.stdin.flush()
            if "id" in message:
                while True:
                    line = proc.stdout.readline()
                    assert line, proc.stderr.read()
                    reply = json.loads(line)  # anything else on stdout fails here
                    assert reply["jsonrpc"] == "2.0"
                    if reply.get("id") == message["id"]:
                        answers[message["id"]] = reply
                        break
        proc.stdin.close()
        rest = proc.stdout.read()
        proc.wait(timeout=10)
    finally:
        proc.kill()
    assert all(json.loads(line) for line in rest.splitlines())
    assert answers[2]["result"]["isError"] is False
    assert answers[3]["result"]["isError"] is True
    assert "serving" in proc.stderr.read()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_streamable_http_on_localhost_checks_origin(world, ingested):
    """Started as a user would; the client connects to the URL the start log prints, once uvicorn
    says it is listening (markers on stderr, no polling)."""
    from mcp.client.streamable_http import streamable_http_client

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_server", "--config", str(world["config"]), "--http", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=str(world["repo"]),
        env={**os.environ, "LIGHTFAST_HOME": str(world["home"]), "PYTHONPATH": str(ROOT)},
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    try:
        seen = []
        while not any("Uvicorn running on" in line for line in seen):
            seen.append(lines.get(timeout=120))  # a bound against a hang, not a timing assertion
        serving = next(line for line in seen if "serving" in line)
        url = serving.split(" at ")[-1].strip()
        assert url == f"http://127.0.0.1:{port}/mcp", serving

        async def session():
            async with streamable_http_client(url) as (read, write):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    return await s.call_tool("search", {"query": "bread dough", "top_k": 1})

        result = anyio.run(session)
        assert result.structured_content["hits"][0]["path"] == "docs/cooking.md"

        request = urllib.request.Request(
            url, method="POST", data=b"{}",
            headers={"Origin": "http://evil.example", "Content-Type": "application/json",
                     "Accept": "application/json, text/event-stream"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- issue 14: progress per batch, stores told apart, runs that fail, status from the mirror ---
def make_world(root: Path, files: dict[str, str], stores: str) -> dict:
    repo, home = root / "repo", root / "home"
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    config = repo / "lightfast.yml"
    config.write_text("organization: acme\nworkspace: web\nenvironment: local\nstores:\n"
                      + textwrap.indent(textwrap.dedent(stores).strip(), "  ") + "\n")
    return {"repo": repo, "home": home, "config": config}


BIRDS = "pelican heron lagoon marsh tide reed dune gull tern egret".split()


def notes_file(i: int, paragraphs: int = 15) -> str:
    """One heading and `paragraphs` short paragraphs: about paragraphs + 1 chunks of <= 32 tokens."""
    return f"# File {i}\n\n" + "\n\n".join(
        f"Note {i}.{j}: the {BIRDS[(i + j) % 10]} waits by the {BIRDS[(i + 2 * j) % 10]} at dawn, "
        f"then the {BIRDS[j % 10]} follows." for j in range(paragraphs)) + "\n"


def test_progress_follows_the_embedding_batch_by_batch(tmp_path):
    """~300 chunks in two stores through the real server and model: a notification with a total for
    every batch the embedder embeds (counted by the instrumented launcher, not timed), progress
    cumulative over the stores and strictly increasing, the last equal to the total."""
    files = {f"docs/d{i}.md": notes_file(i) for i in range(10)}
    files |= {f"notes/n{i}.txt": notes_file(i + 10) for i in range(9)}
    world = make_world(tmp_path, files, """
        - slug: docs
          include: ["**/*.md"]
          chunking: {max_tokens: 32, overlap: 0}
        - slug: notes
          include: ["**/*.txt"]
          chunking: {max_tokens: 32, overlap: 0}
    """)
    progress = []

    async def on_progress(value, total, message):
        progress.append((value, total, message))

    with mcp_client(world, instruments={"LF_TEST_COUNT_BATCHES": "1"}) as c:
        never = c.call("ingest_status")
        result = c.call("ingest", {}, progress=on_progress)
        status = c.call("ingest_status").structured_content
    batches = c.log.read_text().count("test: embedder batch ")
    out = result.structured_content
    assert not result.is_error, text_of(result)
    assert 250 <= out["embedded"] <= 400 and out["added"] == len(files)
    assert batches >= out["embedded"] // 32
    assert len(progress) >= batches, (len(progress), batches)
    assert all(total is not None for _, total, _ in progress)
    values, totals = [v for v, _, _ in progress], [t for _, t, _ in progress]
    assert values == sorted(set(values))  # strictly increasing over the whole run
    assert totals == sorted(totals) and len(set(totals)) == 2  # the second store's total joins the first's
    assert values[-1] == totals[-1] == out["embedded"]
    assert any(m.startswith("docs: embedding") for _, _, m in progress)
    assert any(m.startswith("notes: embedding") for _, _, m in progress)
    assert (status["state"], status["embedded"], status["to_embed"]) == ("done", out["embedded"], out["embedded"])
    assert (never.structured_content["state"], never.structured_content["source"]) == ("idle", "mirror")
    assert text_of(never) == "no ingest recorded yet for docs, notes: call the ingest tool"


@pytest.fixture(scope="module")
def stores_world(tmp_path_factory):
    """Stores `docs` and `secret` both hold private/payroll.md; `notes` is configured, never ingested."""
    world = make_world(tmp_path_factory.mktemp("stores"), {
        "private/payroll.md": "# Payroll\n\nSalaries are paid on the 25th of each month.\n",
        "docs/readme.md": "# Readme\n\nThe hangar doors open at dawn.\n",
        "notes/todo.txt": "water the plants\n",
    }, """
        - slug: docs
          include: ["**/*.md"]
        - slug: secret
          include: ["private/**"]
        - slug: notes
          include: ["**/*.txt"]
    """)
    with mcp_client(world) as c:
        for store in ("docs", "secret"):
            ingested = c.call("ingest", {"store": store})
            assert not ingested.is_error, text_of(ingested)
        yield c


def test_read_chunk_reads_the_hit_of_the_namespace_given(stores_world):
    c = stores_world
    secret = c.call("search", {"query": "when are salaries paid", "stores": ["secret"], "top_k": 1})
    docs = c.call("search", {"query": "when are salaries paid", "stores": ["docs"], "top_k": 1})
    s_hit, d_hit = secret.structured_content["hits"][0], docs.structured_content["hits"][0]
    assert s_hit["path"] == d_hit["path"] == "private/payroll.md"
    assert s_hit["id"] == d_hit["id"]  # the same file gives the same id in both stores
    assert s_hit["namespace"] == "org_acme:ws_web:store_secret"
    for hit, store in ((s_hit, "secret"), (d_hit, "docs")):
        chunk = c.call("read_chunk", {"id": hit["id"], "namespace": hit["namespace"]})
        assert not chunk.is_error, text_of(chunk)
        assert (chunk.structured_content["store"], chunk.structured_content["namespace"]) == (store, hit["namespace"])
        assert text_of(chunk).startswith(f"private/payroll.md ({store}, {hit['namespace']})")


def test_a_store_never_ingested_is_listed_as_skipped(stores_world):
    c = stores_world
    result = c.call("search", {"query": "hangar doors"})
    out = result.structured_content
    assert set(out["namespaces"]) == {"org_acme:ws_web:store_docs", "org_acme:ws_web:store_secret"}
    assert out["skipped_stores"] == {"notes": "never ingested in this environment: run the ingest tool"}
    assert "skipped store notes: never ingested" in text_of(result)
    named = c.call("search", {"query": "plants", "stores": ["notes", "docs"]}).structured_content
    assert list(named["skipped_stores"]) == ["notes"]


def test_resources_say_not_found_plainly(client, ingested, stores_world):
    from mcp.shared.exceptions import MCPError

    with pytest.raises(MCPError) as unknown:
        client.run(client.session.read_resource, "lightfast://namespaces/nope")
    assert "unknown store 'nope'" in str(unknown.value)
    with pytest.raises(MCPError) as never:
        stores_world.run(stores_world.session.read_resource, "lightfast://namespaces/notes")
    assert "store 'notes' has no namespace yet; ingest it first" in str(never.value)


def test_a_fresh_server_reports_the_last_recorded_ingest(world, ingested):
    with mcp_client(world) as fresh:
        status = fresh.call("ingest_status")
    out = status.structured_content
    assert (out["state"], out["source"]) == ("done", "mirror")
    assert set(out["stores"]) == {"docs", "code"} and out["finished_at"]
    assert text_of(status).startswith("last recorded ingest done (")


def test_an_ingest_that_raises_oserror_does_not_jam_the_tracker(world, ingested):
    with mcp_client(world, instruments={"LF_TEST_INGEST_OSERROR": "1"}) as c:
        failed = c.call("ingest", {})
        status = c.call("ingest_status").structured_content
        again = c.call("ingest", {})
    assert failed.is_error
    assert text_of(failed).startswith("ingest failed: Input/output error (OSError, /dev/injected)")
    assert "run ingest again" in text_of(failed)
    assert status["state"] == "failed" and "Input/output error" in status["error"]
    assert not again.is_error and again.structured_content["state"] == "done", text_of(again)


def test_text_cap_is_exact(client, ingested):
    for max_chars in (500, 501, 777):
        result = client.call("search", {"query": "pelicans", "top_k": 50, "max_chars": max_chars,
                                        "scope": "organization"})
        assert len(text_of(result)) <= max_chars
    hit = client.call("search", {"query": "pelicans", "top_k": 1}).structured_content["hits"][0]
    chunk = client.call("read_chunk", {"id": hit["id"], "namespace": hit["namespace"], "radius": 5,
                                       "max_chars": 500})
    assert len(text_of(chunk)) <= 500


# -- in process: ingest bookkeeping with a service that waits to be told to finish --------------
class GatedService:
    """Just enough of core.service.Lightfast for the ingest tools; ingest runs until released."""

    def __init__(self, root: Path, fail: bool = False):
        from types import SimpleNamespace

        self.root = root
        self.config = SimpleNamespace(stores=[SimpleNamespace(slug="docs")], workspace="web", store=lambda s: s)
        self.started, self.release = threading.Event(), threading.Event()
        self.fail, self.saw_cancel = fail, False

    def check_access(self, write: bool = False) -> None:
        """No grant is in force in process: nothing to check (as core.service.Lightfast)."""

    def resolve_paths(self, paths):
        from core.repo_paths import resolve_in_root

        return resolve_in_root(self.root, paths)

    def ingest(self, stores, *, full, paths, progress, cancelled, lock_wait):
        from core.ingest import Progress, StoreReport
        from core.service import IngestReport

        progress(Progress("docs", "scan", 0, 2, "2 new or changed, 0 removed"))
        progress(Progress("docs", "embed", 0, 4, "2 files to embed"))
        progress(Progress("docs", "embed", 2, 4, "docs/a.md", rate=10.0, eta_s=0.2, vectors_written=0))
        self.started.set()
        while not self.release.wait(0.01):
            if cancelled():
                self.saw_cancel = True
                return IngestReport([StoreReport("docs", "ns", added=1)])
        if self.fail:
            raise RuntimeError("internal detail that must stay in the server log")
        progress(Progress("docs", "done", 2, 2, "2 added"))
        return IngestReport([StoreReport("docs", "ns", added=2, skipped=[("big.bin", "binary")])])


def in_process(service, body):
    from mcp import Client

    from mcp_server.server import LightfastMCP

    async def main():
        async with Client(LightfastMCP(service)) as c:
            return await body(c)

    return anyio.run(main)


async def wait_for(event):
    while not event.is_set():
        await anyio.sleep(0.01)


def test_ingest_status_follows_a_running_ingest_and_a_second_one_is_refused(tmp_path):
    service = GatedService(tmp_path)

    async def body(c):
        results = {}
        async with anyio.create_task_group() as tg:
            async def run():
                results["ingest"] = await c.call_tool("ingest", {})

            tg.start_soon(run)
            await wait_for(service.started)
            results["status"] = await c.call_tool("ingest_status", {})
            results["second"] = await c.call_tool("ingest", {})
            service.release.set()
        results["after"] = await c.call_tool("ingest_status", {})
        return results

    r = in_process(service, body)
    assert r["status"].structured_content["state"] == "running"
    running = r["status"].structured_content
    assert (running["embedded"], running["to_embed"]) == (2, 4)
    assert running["progress"].startswith("docs: embedding, 2/4 chunks of this store")
    assert text_of(r["status"]).startswith("ingest running (docs): embedded 2 of 4 chunks so far")
    assert r["second"].is_error and "already running" in text_of(r["second"])
    assert r["ingest"].structured_content["state"] == "done" and r["ingest"].structured_content["added"] == 2
    assert r["after"].structured_content["skipped"] == ["big.bin: binary"]


def test_a_crashing_ingest_is_a_tool_error_and_status_says_failed(tmp_path):
    service = GatedService(tmp_path, fail=True)
    service.release.set()

    async def body(c):
        return await c.call_tool("ingest", {}), await c.call_tool("ingest_status", {})

    result, status = in_process(service, body)
    assert result.is_error and "internal detail" not in text_of(result)
    assert status.structured_content["state"] == "failed"
    assert "see the server log" in status.structured_content["error"]


def test_a_cancelled_ingest_stops_between_files(tmp_path):
    service = GatedService(tmp_path)

    async def body(c):
        with anyio.move_on_after(5) as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(c.call_tool, "ingest", {})
                await wait_for(service.started)
                tg.cancel_scope.cancel()
        for _ in range(200):
            status = await c.call_tool("ingest_status", {})
            if status.structured_content["state"] != "running":
                return status, scope.cancelled_caught
            await anyio.sleep(0.01)
        return status, scope.cancelled_caught

    status, timed_out = in_process(service, body)
    assert not timed_out
    assert service.saw_cancel and status.structured_content["state"] == "cancelled"
