"""The MCP server through the real `mcp` client over a stdio subprocess, with the real model.

One server process serves most of the module (a blocking portal keeps its
client session open across tests); read-only mode, the raw stdout check and
HTTP each start their own.
"""

from __future__ import annotations

import functools
import json
import os
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
def mcp_client(world, *extra_args):
    log = world["home"].parent / f"server-{time.monotonic_ns()}.log"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server", "--config", str(world["config"]), *extra_args],
        env={**os.environ, "LIGHTFAST_HOME": str(world["home"]), "PYTHONPATH": str(ROOT)},
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
    for _ in range(100):
        if "ready:" in client.log.read_text():
            break
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
    assert f"id={hit['id']}" in text_of(search)

    chunk = client.call("read_chunk", {"id": hit["id"], "radius": 1})
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

    assert client.call("read_chunk", {"id": globex.vector_id}).is_error
    assert not client.call("read_chunk", {"id": mobile.vector_id}).is_error


BAD_CALLS = {
    "wrong type": ("search", {"query": "x", "top_k": "many"}, "top_k"),
    "huge top_k": ("search", {"query": "x", "top_k": 10_000}, "less than or equal to 50"),
    "zero top_k": ("search", {"query": "x", "top_k": 0}, "top_k"),
    "missing query": ("search", {}, "query: is required"),
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
    "unknown chunk": ("read_chunk", {"id": "nope"}, "no chunk with id 'nope'"),
    "negative radius": ("read_chunk", {"id": "x", "radius": -1}, "radius"),
    "unknown stats store": ("namespace_stats", {"store": "nope"}, "unknown store 'nope'"),
    "unknown tool": ("drop_everything", {}, "drop_everything"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_arguments_are_tool_errors_that_say_what_to_do(client, ingested, case):
    tool, args, expected = BAD_CALLS[case]
    result = client.call(tool, args)
    assert result.is_error, text_of(result)
    assert expected in text_of(result)
    assert "Traceback" not in text_of(result) and len(text_of(result)) < 500


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
    from mcp.client.streamable_http import streamable_http_client

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_server", "--config", str(world["config"]), "--http", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(world["repo"]),
        env={**os.environ, "LIGHTFAST_HOME": str(world["home"]), "PYTHONPATH": str(ROOT)},
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)

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


# -- in process: ingest bookkeeping with a service that waits to be told to finish --------------
class GatedService:
    """Just enough of core.service.Lightfast for the ingest tools; ingest runs until released."""

    def __init__(self, root: Path, fail: bool = False):
        from types import SimpleNamespace

        self.root = root
        self.config = SimpleNamespace(stores=[SimpleNamespace(slug="docs")], workspace="web", store=lambda s: s)
        self.started, self.release = threading.Event(), threading.Event()
        self.fail, self.saw_cancel = fail, False

    def ingest(self, stores, *, full, paths, progress, cancelled, lock_wait):
        from core.ingest import Progress, StoreReport
        from core.service import IngestReport

        progress(Progress("docs", "scan", 0, 2, "2 new or changed, 0 removed"))
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

    from mcp_server.server import build_server

    async def main():
        async with Client(build_server(lambda: service)) as c:
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
    assert r["status"].structured_content["progress"].startswith("docs: scan 0/2")
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


def test_safe_paths(tmp_path):
    from mcp.server.mcpserver.exceptions import ToolError

    from mcp_server.server import safe_paths

    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (root / "out").symlink_to(tmp_path / "elsewhere")
    assert safe_paths(root, []) is None
    assert safe_paths(root, [".", "docs"]) is None  # the root itself: the whole repository
    assert safe_paths(root, ["docs", "docs/new.md"]) == [root.resolve() / "docs", root.resolve() / "docs/new.md"]
    for bad in (["out/file.md"], ["docs/../../elsewhere"], [".", "../x"], [""]):
        with pytest.raises(ToolError):
            safe_paths(root, bad)


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
