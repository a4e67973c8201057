"""The MCP server through the real `mcp` client over a stdio subprocess, with the real model."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

FILES = {
    "docs/birds.md": "# Birds\n\nThe pelican colony nests on the northern lagoon every spring.\n",
    "docs/cooking.md": "# Cooking\n\nKnead the bread dough for ten minutes, then let it rise.\n",
    "src/billing.py": "def compute_invoice_total(lines):\n    return sum(l.amount for l in lines)\n",
}


@pytest.fixture(scope="module")
def mcp_repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("mcp")
    repo = root / "repo"
    for rel, text in FILES.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (repo / "lightfast.yml").write_text(textwrap.dedent("""
        organization: acme
        workspace: web
        environment: local
        stores:
          - slug: docs
            include: ["**/*.md"]
          - slug: code
            include: ["**/*.py"]
    """))
    outside = root / "secret.md"
    outside.write_text("outside the repo")
    (repo / "docs" / "link.md").symlink_to(outside)
    return repo, root / "home"


def run_session(repo: Path, home: Path, body, *extra_args):
    """Start `python -m mcp_server`, initialize a session, run body(session)."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server", "--config", str(repo / "lightfast.yml"), *extra_args],
        env={**os.environ, "LIGHTFAST_HOME": str(home)},
        cwd=str(repo),
    )

    async def main():
        with open(os.devnull, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await body(session)

    return anyio.run(main)


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


def test_tools_have_clean_schemas_and_annotations(mcp_repo):
    repo, home = mcp_repo

    async def body(session):
        return (await session.list_tools()).tools

    tools = {t.name: t for t in run_session(repo, home, body)}
    assert set(tools) == {"search", "read_chunk", "ingest", "ingest_status", "list_namespaces", "namespace_stats"}
    for tool in tools.values():
        assert tool.description and len(tool.description) > 40
        assert tool.output_schema and tool.output_schema.get("type") == "object"
        for node in walk_schema(tool.input_schema):
            assert not {"anyOf", "oneOf", "allOf"} & set(node), (tool.name, node)
    assert tools["search"].annotations.read_only_hint is True
    assert tools["ingest"].annotations.read_only_hint is False
    assert tools["ingest"].annotations.destructive_hint is True
    assert tools["search"].input_schema["properties"]["top_k"]["maximum"] == 50


def test_ingest_with_progress_then_search_and_read_chunk(mcp_repo):
    repo, home = mcp_repo
    progress = []

    async def on_progress(value, total, message):
        progress.append(message)

    async def body(session):
        ingest = await session.call_tool("ingest", {}, progress_callback=on_progress)
        resources = await session.list_resources()
        listed = await session.read_resource("lightfast://namespaces")
        one = await session.read_resource("lightfast://namespaces/docs")
        state["resources"] = ([str(r.uri) for r in resources.resources], listed.contents[0].text, one.contents[0].text)
        status = await session.call_tool("ingest_status", {})
        search = await session.call_tool("search", {"query": "where do pelicans nest?", "top_k": 3})
        hit_id = search.structured_content["hits"][0]["id"]
        chunk = await session.call_tool("read_chunk", {"id": hit_id, "radius": 1})
        namespaces = await session.call_tool("list_namespaces", {})
        stats = await session.call_tool("namespace_stats", {"store": "docs"})
        return ingest, status, search, chunk, namespaces, stats

    state = {}
    ingest, status, search, chunk, namespaces, stats = run_session(repo, home, body)
    uris, listed, one = state["resources"]
    assert "lightfast://namespaces" in uris
    assert {n["store"] for n in json.loads(listed)["namespaces"]} == {"docs", "code"}
    assert json.loads(one)["namespace"] == "org_acme:ws_web:store_docs"
    assert not ingest.is_error, text_of(ingest)
    assert ingest.structured_content["added"] == 3 and ingest.structured_content["state"] == "done"
    assert "docs/link.md: symlink to outside the repo" in ingest.structured_content["skipped"]
    assert progress and any("docs" in m for m in progress)
    assert status.structured_content["state"] == "done"
    hits = search.structured_content["hits"]
    assert hits[0]["path"] == "docs/birds.md" and hits[0]["file_state"] == "fresh"
    assert "docs/birds.md:" in text_of(search)
    assert chunk.structured_content["path"] == "docs/birds.md"
    assert "pelican" in chunk.structured_content["chunks"][0]["text"]
    names = {n["namespace"] for n in namespaces.structured_content["namespaces"]}
    assert names == {"org_acme:ws_web:store_docs", "org_acme:ws_web:store_code"}
    assert stats.structured_content["documents"] == 2


def test_bad_arguments_are_tool_errors_and_the_server_keeps_serving(mcp_repo):
    repo, home = mcp_repo

    async def body(session):
        results = {
            "wrong type": await session.call_tool("search", {"query": "x", "top_k": "many"}),
            "huge top_k": await session.call_tool("search", {"query": "x", "top_k": 10_000}),
            "empty query": await session.call_tool("search", {"query": "   "}),
            "100 KB query": await session.call_tool("search", {"query": "word " * 20_000}),
            "unknown store": await session.call_tool("search", {"query": "x", "stores": ["nope"]}),
            "bad scope": await session.call_tool("search", {"query": "x", "scope": "galaxy"}),
            "stores with workspace": await session.call_tool("search", {"query": "x", "scope": "workspace", "stores": ["docs"]}),
            "dotdot path": await session.call_tool("ingest", {"paths": ["../secret.md"]}),
            "absolute path": await session.call_tool("ingest", {"paths": ["/etc/passwd"]}),
            "unknown chunk": await session.call_tool("read_chunk", {"id": "nope"}),
            "unknown stats": await session.call_tool("namespace_stats", {"store": "nope"}),
        }
        after = await session.call_tool("search", {"query": "bread dough"})
        return results, after

    results, after = run_session(repo, home, body)
    for name, result in results.items():
        assert result.is_error, name
        assert text_of(result).strip(), name
        assert "Traceback" not in text_of(result), name
    assert "outside the repository root" in text_of(results["dotdot path"])
    assert "outside the repository root" in text_of(results["absolute path"])
    assert "nope" in text_of(results["unknown store"])
    assert not after.is_error


def test_read_only_mode_has_no_ingest(mcp_repo):
    repo, home = mcp_repo

    async def body(session):
        return {t.name for t in (await session.list_tools()).tools}

    assert "ingest" not in run_session(repo, home, body, "--read-only")


def test_output_is_capped_with_the_cut_said(mcp_repo):
    repo, home = mcp_repo
    long_doc = repo / "docs" / "long.md"
    long_doc.write_text("# Long\n\n" + "\n\n".join(f"Paragraph {i} about pelicans and lagoons." for i in range(200)))

    async def body(session):
        await session.call_tool("ingest", {"paths": ["docs/long.md"]})
        return await session.call_tool("search", {"query": "pelicans lagoons", "top_k": 50, "max_chars": 600})

    try:
        result = run_session(repo, home, body)
    finally:
        long_doc.unlink()
    assert len(text_of(result)) <= 700
    assert "cut:" in text_of(result)
    assert len(result.structured_content["hits"]) > 3
