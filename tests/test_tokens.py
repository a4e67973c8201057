"""Bearer tokens (issue 19.5): the tokens file and its CLI, and the HTTP MCP server through the
real `mcp` client: a token sees, reads and ingests only its workspaces, a read-only token
cannot ingest, a wrong or missing token gets 401, a public address without tokens is refused.

The server is a child process on a free port (--port 0); the tests wait for the line it
prints once its socket accepts connections, never for a clock."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from core.errors import NotFoundError, TokenFileError
from core.tokens import TokenFile, add_token, revoke_token, token_hash
from lightfast_cli.main import cli

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "80"})


# -- the tokens file and `lightfast tokens` ---------------------------------------------------

def test_add_prints_the_token_once_and_stores_only_its_hash(tmp_path):
    path = tmp_path / "tokens.json"
    result = run_cli("tokens", "add", "--organization", "acme", "--workspace", "web", "--workspace", "api",
                     "--read-only", "--label", "ci", "--tokens", str(path))
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("lft_") and len(token) > 40
    text = path.read_text()
    assert token not in text and token_hash(token) in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    grant = TokenFile.load(path).verify(token)
    assert grant.organization == "acme" and grant.workspaces == ("web", "api") and grant.read_only
    assert TokenFile.load(path).verify(token + "x") is None
    listed = run_cli("tokens", "list", "--tokens", str(path), "--json")
    assert token not in listed.output and token_hash(token) not in listed.output
    [entry] = json.loads(listed.stdout)
    assert entry["id"] == grant.token_id and entry["label"] == "ci"
    assert run_cli("tokens", "revoke", grant.token_id, "--tokens", str(path)).exit_code == 0
    assert TokenFile.load(path).verify(token) is None
    missing = run_cli("tokens", "revoke", grant.token_id, "--tokens", str(path))
    assert missing.exit_code == NotFoundError.exit_code and "tokens list" in missing.output


def test_add_takes_the_organization_from_lightfast_yml(tmp_path, monkeypatch):
    (tmp_path / "lightfast.yml").write_text("organization: globex\nworkspace: web\nstores:\n  - slug: docs\n")
    monkeypatch.chdir(tmp_path)
    result = run_cli("tokens", "add", "--workspace", "web", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["organization"] == "globex" and data["read_only"] is False
    assert TokenFile.load(Path(data["tokens_file"])).verify(data["token"]).workspaces == ("web",)


@pytest.mark.parametrize("text, message", [
    ('{"version": 1, "tokens": [\n  {"id": "t1",,}\n]}', "tokens.json:2: not valid JSON"),
    ('{"version": 1, "tokens": [{"id": "t1", "sha256": "abc", "organization": "acme", "workspaces": ["w"]}]}',
     "tokens[0]: sha256 must be 64 lowercase hex digits"),
    ('{"version": 1, "tokens": [{"id": "t1", "sha256": "' + "a" * 64 + '", "organization": "acme", '
     '"workspaces": []}]}', "tokens[0]: workspaces must be a non-empty list"),
    ('{"version": 2, "tokens": []}', "version 2 is not one this lightfast reads"),
    ('[]', "expected {\"version\": 1"),
])
def test_a_damaged_tokens_file_says_where_and_how_to_recover(tmp_path, text, message):
    path = tmp_path / "tokens.json"
    path.write_text(text)
    with pytest.raises(TokenFileError) as error:
        TokenFile.load(path)
    assert message in str(error.value) and "lightfast tokens add" in str(error.value)
    with pytest.raises(TokenFileError):
        add_token(path, "acme", ["web"])  # nothing is rewritten over a file we cannot read
    assert path.read_text() == text


def test_revoking_an_unknown_id_changes_nothing(tmp_path):
    path = tmp_path / "tokens.json"
    add_token(path, "acme", ["web"])
    before = path.read_text()
    with pytest.raises(NotFoundError):
        revoke_token(path, "tok_nope")
    assert path.read_text() == before


def test_a_public_address_without_tokens_is_refused(tmp_path, monkeypatch):
    (tmp_path / "lightfast.yml").write_text("organization: acme\nworkspace: web\nstores:\n  - slug: docs\n")
    monkeypatch.chdir(tmp_path)
    result = run_cli("mcp", "--http", "--host", "0.0.0.0", "--port", "0")
    assert result.exit_code == 6
    assert "refusing to serve HTTP on 0.0.0.0 without bearer tokens" in result.output
    assert "lightfast tokens add" in result.output


# -- the HTTP server through the real client ----------------------------------------------------

def write_repo(repo: Path, workspace: str, text: str) -> Path:
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / f"{workspace}.md").write_text(text)
    config = repo / "lightfast.yml"
    config.write_text(textwrap.dedent(f"""
        organization: acme
        workspace: {workspace}
        environment: local
        stores:
          - slug: docs
            include: ["**/*.md"]
    """))
    return config


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Workspaces web and mobile of acme, ingested with the real model; a server for web's
    lightfast.yml on HTTP with four tokens."""
    from core.config import load_config
    from core.service import Lightfast

    root = tmp_path_factory.mktemp("tokens")
    home = root / "home"
    web = write_repo(root / "web", "web", "# Web\n\nPelicans nest on the web lagoon at dawn.\n")
    mobile = write_repo(root / "mobile", "mobile", "# Mobile\n\nPelicans nest on the mobile lagoon at dusk.\n")
    for config in (web, mobile):
        Lightfast(load_config(config), home).ingest()
    tokens = home / "tokens.json"
    made = {name: add_token(tokens, org, [ws], read_only)[0] for name, org, ws, read_only in (
        ("web", "acme", "web", False), ("mobile", "acme", "mobile", False),
        ("web-ro", "acme", "web", True), ("globex", "globex", "web", False))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_server", "--config", str(web), "--http", "--port", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=str(root),
        env={**os.environ, "LIGHTFAST_HOME": str(home), "PYTHONPATH": str(ROOT)},
    )
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)
    reader.start()
    seen = []
    try:
        while not any("listening on" in line for line in seen):
            seen.append(lines.get(timeout=120))  # a bound against a hang, not a timing assertion
        marker = next(line for line in seen if "listening on" in line)
        assert "bearer tokens required" in marker
        url = marker.split("listening on ")[1].split(";")[0].strip()
        yield {"url": url, "tokens": made, "tokens_file": tokens, "home": home}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(timeout=30)  # stderr is closed: the reader has seen everything
        while not lines.empty():
            seen.append(lines.get_nowait())
        # Secrets never in logs: no token appears in anything the server printed.
        assert not any(t in "".join(seen) for t in made.values())


def session(url: str, token: str | None, work):
    """Run work(session) in a fresh client session that sends this bearer token."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async def main():
        with anyio.fail_after(120):  # a hang fails the test instead of stalling the suite
            headers = {"Authorization": f"Bearer {token}"} if token else None
            async with create_mcp_http_client(headers=headers) as client:
                async with streamable_http_client(url, http_client=client) as (read, write):
                    async with ClientSession(read, write) as s:
                        await s.initialize()
                        return await work(s)

    return anyio.run(main)


def error_text(result) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text


def namespaces_of(hits) -> set[str]:
    return {h["namespace"] for h in hits}


def test_a_token_for_one_workspace_sees_reads_and_ingests_only_it(served):
    url, tokens = served["url"], served["tokens"]

    async def as_web(s):
        found = await s.call_tool("search", {"query": "pelicans lagoon", "scope": "organization", "top_k": 10})
        listed = await s.call_tool("list_namespaces", {})
        resource = await s.read_resource("lightfast://namespaces")
        ingest = await s.call_tool("ingest", {})
        return found, listed, json.loads(resource.contents[0].text), ingest

    found, listed, resource, ingest = session(url, tokens["web"], as_web)
    assert namespaces_of(found.structured_content["hits"]) == {"org_acme:ws_web:store_docs"}
    assert [n["namespace"] for n in listed.structured_content["namespaces"]] == ["org_acme:ws_web:store_docs"]
    assert [n["namespace"] for n in resource["namespaces"]] == ["org_acme:ws_web:store_docs"]
    assert not ingest.is_error and ingest.structured_content["state"] == "done"

    async def as_mobile(s):
        own = await s.call_tool("search", {"query": "pelicans lagoon", "scope": "organization"})
        hit = own.structured_content["hits"][0]
        store = await s.call_tool("search", {"query": "pelicans lagoon"})  # the server's stores: web's
        listed = await s.call_tool("list_namespaces", {})
        stats = await s.call_tool("namespace_stats", {"store": "docs"})
        ingest = await s.call_tool("ingest", {})
        try:
            await s.read_resource("lightfast://namespaces/docs")
            refused = ""
        except Exception as exc:  # the SDK raises the server's resource error
            refused = str(exc)
        return own, hit, store, listed, stats, ingest, refused

    own, mobile_hit, store, listed, stats, ingest, refused = session(url, tokens["mobile"], as_mobile)
    assert namespaces_of(own.structured_content["hits"]) == {"org_acme:ws_mobile:store_docs"}
    assert [n["namespace"] for n in listed.structured_content["namespaces"]] == ["org_acme:ws_mobile:store_docs"]
    for result in (store, stats, ingest):
        assert "may not" in error_text(result) and "workspace 'web'" in error_text(result)
    assert "may not read workspace 'web'" in refused

    async def read_other(s):  # web's token, mobile's hit
        return await s.call_tool("read_chunk", {"id": mobile_hit["id"], "namespace": mobile_hit["namespace"]})

    assert "no chunk" in error_text(session(url, tokens["web"], read_other))


def test_a_read_only_token_searches_but_cannot_ingest(served):
    async def work(s):
        names = {t.name for t in (await s.list_tools()).tools}
        found = await s.call_tool("search", {"query": "pelicans lagoon"})
        ingest = await s.call_tool("ingest", {})
        return names, found, ingest

    names, found, ingest = session(served["url"], served["tokens"]["web-ro"], work)
    assert "ingest" not in names and "search" in names
    assert found.structured_content["hits"][0]["path"] == "docs/web.md"
    assert "read-only" in error_text(ingest)


def test_a_token_of_another_organization_sees_nothing(served):
    async def work(s):
        return await s.call_tool("search", {"query": "pelicans lagoon", "scope": "organization"})

    assert "not for organization 'acme'" in error_text(session(served["url"], served["tokens"]["globex"], work))


def post_initialize(url: str, token: str | None) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, method="POST", data=body.encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            assert exc.headers["WWW-Authenticate"].startswith("Bearer")
        return exc.code


def test_a_wrong_missing_or_revoked_token_gets_401(served):
    url, tokens = served["url"], served["tokens"]
    assert post_initialize(url, tokens["web"]) == 200
    assert post_initialize(url, tokens["web"][:-1] + "x") == 401
    assert post_initialize(url, "") == 401
    assert post_initialize(url, None) == 401
    with pytest.raises(Exception):  # the real client cannot even initialize without a token
        session(url, None, lambda s: s.list_tools())
    extra, entry = add_token(served["tokens_file"], "acme", ["web"])
    assert post_initialize(url, extra) == 200  # the running server re-reads the file
    revoke_token(served["tokens_file"], entry.id)
    assert post_initialize(url, extra) == 401
