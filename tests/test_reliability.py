"""Reliability and security under kills, concurrency, faults and hostile input.

Each test also records its totals; with LIGHTFAST_RELIABILITY_OUT set (as
bench/reliability.py does) they are written there as figures. The suite runs 10
kills and 30 s of concurrency (a busy CI machine stays under the 300 s per-test
timeout); bench/reliability.py runs 50 and 120 s (LIGHTFAST_KILL_RUNS,
LIGHTFAST_CONCURRENCY_SECONDS).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_config, write_files
from core.config import parse_config
from core.errors import ConfigError, LightfastError
from test_ingest import KILLED as KILLED_INGEST, assert_consistent, kill_at_batch

FIGURES: dict = {}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def write_figures():
    yield
    out = os.environ.get("LIGHTFAST_RELIABILITY_OUT")
    if out and FIGURES:
        Path(out).write_text(json.dumps(FIGURES, indent=2) + "\n")


# -- 1. kill anywhere -------------------------------------------------------------



def page(i: int, version: int) -> str:
    return f"# Page {i} v{version}\n\n" + "\n\n".join(
        f"Paragraph {j} of page {i}, version {version}, on topic{i}x{j}." for j in range(6))


@pytest.mark.slow
def test_kill_anywhere_then_rerun_converges(repo, service_factory, lightfast_home):
    runs = int(os.environ.get("LIGHTFAST_KILL_RUNS", "10"))  # bench/reliability.py runs 50
    write_files(repo, {f"docs/p{i:03}.md": page(i, 0) for i in range(300)})
    config = make_config(repo)
    env = {**os.environ, "LIGHTFAST_HOME": str(lightfast_home)}
    rng = random.Random(42)
    failures = []
    for run in range(runs):
        script = KILLED_INGEST.format(tests=str(Path(__file__).parent), config=str(config), full=rng.random() < 0.2)
        kill_at_batch(script, env, rng.randint(1, 160))  # anywhere in the ~150 batches, or after
        for _ in range(rng.randint(0, 6)):  # the repo moves on between runs
            i = rng.randrange(330)
            path = repo / f"docs/p{i:03}.md"
            if rng.random() < 0.25 and path.exists():
                path.unlink()
            else:
                path.write_text(page(i, run + 1))
        service = service_factory(repo)
        service.ingest()
        try:
            assert_consistent(service)
            record = service.mirror.get_namespace("test", "acme", "platform", "docs")
            on_disk = {p.relative_to(repo).as_posix() for p in (repo / "docs").glob("*.md")}
            assert set(service.mirror.documents(record.id)) == on_disk
        except AssertionError as exc:
            failures.append(f"run {run}: {exc}")
    FIGURES["kill_anywhere"] = {"runs": runs, "files": 300, "failures": len(failures)}
    assert failures == []


# -- 2. concurrency -------------------------------------------------------------------

@pytest.mark.slow
def test_watcher_mcp_and_cli_share_a_data_dir(repo, lightfast_home):
    import anyio
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    from core.config import load_config
    from core.service import Lightfast
    from core.watch import Watcher

    seconds = float(os.environ.get("LIGHTFAST_CONCURRENCY_SECONDS", "30"))  # bench/reliability.py: 120
    write_files(repo, {f"notes/n{i:02}.md": f"# Note {i}\n\nThe note about item {i}.\n" for i in range(30)})
    (repo / "lightfast.yml").write_text(
        "organization: acme\nworkspace: web\nenvironment: local\nstores:\n  - slug: notes\n    include: ['**/*.md']\n")
    env = {**os.environ, "LIGHTFAST_HOME": str(lightfast_home)}
    Lightfast(load_config(repo / "lightfast.yml"), lightfast_home).ingest()
    counts = {"edits": 0, "searches": 0, "cli_ingests": 0, "watch_batches": 0}
    errors: list[str] = []
    stop = threading.Event()

    def on_batch(state, _report):
        if state.status == "error":
            errors.append(f"watcher: {state.last_error}")
        else:
            counts["watch_batches"] += 1

    watcher = Watcher(Lightfast(load_config(repo / "lightfast.yml"), lightfast_home), on_batch=on_batch,
                      step_ms=100).start()

    def editor():
        rng = random.Random(7)
        while not stop.is_set():
            i = rng.randrange(40)
            path = repo / f"notes/n{i:02}.md"
            if rng.random() < 0.1 and path.exists():
                path.unlink()
            else:
                path.write_text(f"# Note {i}\n\nThe note about item {i}, edit {counts['edits']}.\n")
            counts["edits"] += 1
            time.sleep(0.15)

    def cli():
        while not stop.is_set():
            proc = subprocess.run([sys.executable, "-m", "lightfast_cli", "ingest"], cwd=repo, env=env,
                                  capture_output=True, text=True)
            counts["cli_ingests"] += 1
            if proc.returncode != 0:
                errors.append(f"cli: {proc.stderr.strip()[-300:]}")

    def searches():
        params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_server", "--config",
                                       str(repo / "lightfast.yml")], env=env, cwd=str(repo))

        async def run():
            with open(os.devnull, "w") as errlog:
                async with stdio_client(params, errlog=errlog) as (read, write):
                    async with ClientSession(read, write) as session:
                        await session.initialize()
                        while not stop.is_set():
                            result = await session.call_tool("search", {"query": "note about item", "top_k": 5})
                            counts["searches"] += 1
                            if result.is_error:
                                errors.append(f"mcp: {result.content[0].text}")
                            await anyio.sleep(0.05)

        anyio.run(run)

    threads = [threading.Thread(target=f) for f in (editor, cli, searches)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(120)
    watcher.stop()
    final = Lightfast(load_config(repo / "lightfast.yml"), lightfast_home)
    final.ingest()
    assert_consistent(final)
    record = final.mirror.get_namespace("local", "acme", "web", "notes")
    on_disk = {p.relative_to(repo).as_posix() for p in (repo / "notes").glob("*.md")}
    assert set(final.mirror.documents(record.id)) == on_disk
    FIGURES["concurrency"] = {"seconds": seconds, **counts, "errors": len(errors)}
    assert errors == []
    assert counts["searches"] > 10 and counts["cli_ingests"] > 1 and counts["edits"] > 10


# -- 3. faults against the wire-format servers --------------------------------------------

def test_faults_during_a_1000_chunk_ingest_lose_nothing(repo, monkeypatch, service_factory):
    sys.path.insert(0, str(ROOT))
    from tests.wire.cohere_server import CohereServer
    from tests.wire.pinecone_server import PineconeServer

    from core.config import load_config
    from core.service import Lightfast

    with PineconeServer(api_key="pc-key") as pc, CohereServer(api_key="co-key") as co:
        for var, value in (("PINECONE_API_KEY", "pc-key"), ("COHERE_API_KEY", "co-key"),
                           ("LIGHTFAST_PINECONE_HOST", pc.url), ("LIGHTFAST_COHERE_BASE_URL", co.url),
                           ("LIGHTFAST_HTTP_TIMEOUT", "1")):
            monkeypatch.setenv(var, value)
        write_files(repo, {f"docs/d{i:03}.md": "\n\n".join(
            f"## Section {j}\n\nDocument {i} section {j} covers subject{i}x{j} in words." for j in range(10))
            for i in range(100)})
        make_config(repo, environment="production", stores="""
          - slug: docs
            include: ["**/*.md"]
            chunking: {max_tokens: 16, overlap: 0}
        """)
        for server in (pc, co):
            server.faults.rate = 0.10
            server.faults.slow_seconds = 1.2
        attempts = 0
        while True:
            attempts += 1
            try:
                Lightfast(load_config(repo / "lightfast.yml")).ingest()
                break
            except LightfastError:
                assert attempts < 6
        pc.faults.rate = co.faults.rate = 0.0
        service = Lightfast(load_config(repo / "lightfast.yml"))
        assert_consistent(service)
        record = service.mirror.get_namespace("production", "acme", "platform", "docs")
        expected = sum(d["chunk_count"] for d in service.mirror.documents(record.id).values())
        present = service.index.namespace_stats(record.namespace_name).vector_count
        injected = sum(pc.faults.injected.values()) + sum(co.faults.injected.values())
        FIGURES["faults"] = {"chunks": expected, "injected_faults": injected, "ingest_runs": attempts,
                             "vectors_lost": expected - present}
        assert expected >= 1000 and present == expected and injected > 0


# -- 4. hostile input -------------------------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_any_text_as_lightfast_yml_is_a_config_or_a_clear_error(text):
    try:
        parse_config(text, Path("lightfast.yml"))
    except ConfigError as exc:
        assert str(exc).startswith("lightfast.yml:")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["organization", "workspace", "environment", "stores", "limits", "root",
                                        "indexes", "use_shared_index", "extra"]),
                       st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                                        st.text(max_size=8), inner, max_size=3), max_leaves=8)))
def test_any_yaml_structure_is_a_config_or_a_clear_error(data):
    import yaml

    try:
        parse_config(yaml.safe_dump(data), Path("lightfast.yml"))
    except ConfigError as exc:
        assert str(exc).startswith("lightfast.yml:")


def test_adversarial_files_are_skipped_with_reasons(repo, service_factory, tmp_path):
    outside = tmp_path / "outside-secret.md"
    outside.write_text("must never be read")
    write_files(repo, {
        "ok.md": "# OK\n\nfine\n",
        "crlf.md": "# CRLF\r\n\r\nwindows line endings\r\n",
        "name with spaces.md": "# Spaces\n\nspaced out\n",
        "ünïcödé 名前.md": "# Unicode\n\nnamed in many scripts\n",
        "bad-utf8.md": b"# Bad\n\n\xc3\x28 broken\n",
        "binary.md": bytes(range(256)) * 4,
    })
    with open(repo / "huge.md", "wb") as fh:  # 100 MB, sparse: skipped by size, never read
        fh.truncate(100 * 1024 * 1024)
    os.symlink(outside, repo / "escape.md")
    os.symlink(repo / "loop-b.md", repo / "loop-a.md")
    os.symlink(repo / "loop-a.md", repo / "loop-b.md")
    os.symlink(repo, repo / "dir-loop")
    service = service_factory(repo, stores="""
      - slug: docs
        include: ["**/*.md"]
    """)
    report = service.ingest()
    skipped = dict(report.stores[0].skipped)
    record = service.mirror.get_namespace("test", "acme", "platform", "docs")
    indexed = set(service.mirror.documents(record.id))
    texts = " ".join(h.text for h in service.search("must never be read outside secret", top_k=20).hits)
    expected = {  # each case: does what happened match what must happen?
        "huge.md": "larger than" in skipped.get("huge.md", ""),
        "escape.md": skipped.get("escape.md") == "symlink to outside the repo" and "must never be read" not in texts,
        "loop-a.md": "unreadable" in skipped.get("loop-a.md", ""),
        "bad-utf8.md": "UTF-8" in skipped.get("bad-utf8.md", ""),
        "binary.md": skipped.get("binary.md") == "binary file",
        **{name: name in indexed for name in ("ok.md", "crlf.md", "name with spaces.md", "ünïcödé 名前.md")},
        "nothing else indexed": indexed <= {"ok.md", "crlf.md", "name with spaces.md", "ünïcödé 名前.md"},
    }
    failures = sorted(case for case, ok in expected.items() if not ok)
    FIGURES["hostile_files"] = {"cases": len(expected), "failures": len(failures)}
    assert failures == []


def test_mcp_arguments_fuzzed_through_the_real_protocol(tmp_path):
    from anyio.from_thread import start_blocking_portal
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    repo = tmp_path / "repo"
    write_files(repo, {"a.md": "# A\n\nalpha pelican\n"})
    (repo / "lightfast.yml").write_text(
        "organization: acme\nworkspace: web\nenvironment: local\nstores:\n  - slug: docs\n    include: ['**/*.md']\n")
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_server", "--config", str(repo / "lightfast.yml")],
                                   env={**os.environ, "LIGHTFAST_HOME": str(tmp_path / "home")}, cwd=str(repo))
    value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=60),
                         lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                         max_leaves=6)
    names = ["search", "read_chunk", "ingest", "ingest_status", "list_namespaces", "namespace_stats"]
    keys = ["query", "stores", "scope", "top_k", "path_glob", "max_chars", "id", "radius", "paths", "store", "full"]
    outcomes = {"ok": 0, "tool_error": 0}

    @contextlib.asynccontextmanager
    async def connect():
        with open(os.devnull, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    yield session

    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(connect()) as session:

            @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
            @given(st.sampled_from(names), st.dictionaries(st.sampled_from(keys), value, max_size=4))
            def call(name, args):
                if name == "ingest":
                    args.pop("full", None)  # keep each call quick: no full re-embed
                result = portal.call(session.call_tool, name, args)
                outcomes["tool_error" if result.is_error else "ok"] += 1
                if result.is_error:
                    assert result.content and result.content[0].text.strip()
                    assert "Traceback" not in result.content[0].text

            call()
            alive = portal.call(session.call_tool, "search", {"query": "pelican"})
    FIGURES["mcp_fuzz"] = {"cases": sum(outcomes.values()), **outcomes, "server_crashes": int(alive.is_error)}
    assert not alive.is_error  # the server kept serving
    assert not (tmp_path / "outside").exists()


# -- 5. secrets never stored ---------------------------------------------------------------------

def test_api_keys_never_reach_the_mirror_or_the_index(repo, monkeypatch, lightfast_home):
    sys.path.insert(0, str(ROOT))
    from tests.wire.cohere_server import CohereServer
    from tests.wire.pinecone_server import PineconeServer

    from core.config import load_config
    from core.service import Lightfast

    pc_key, co_key = "pcsk_SECRETVALUE_abcdefghijklmnop", "co_SECRETVALUE_qrstuvwxyz012345"
    with PineconeServer(api_key=pc_key) as pc, CohereServer(api_key=co_key) as co:
        for var, value in (("PINECONE_API_KEY", pc_key), ("COHERE_API_KEY", co_key),
                           ("LIGHTFAST_PINECONE_HOST", pc.url), ("LIGHTFAST_COHERE_BASE_URL", co.url)):
            monkeypatch.setenv(var, value)
        write_files(repo, {"a.md": "# A\n\nalpha\n", ".env": f"PINECONE_API_KEY={pc_key}\n",
                           "notes.md": f"the key is {pc_key}\n"})
        make_config(repo, environment="production", stores="""
          - slug: all
            include: ["**/*"]
        """)
        service = Lightfast(load_config(repo / "lightfast.yml"))
        report = service.ingest()
        assert dict(report.stores[0].skipped)[".env"] == "secret by name"
        assert "Pinecone API key" in dict(report.stores[0].skipped)["notes.md"]
        stored = b"".join(p.read_bytes() for p in lightfast_home.rglob("*") if p.is_file())
        index_dump = json.dumps({ns: v for plane in pc.planes.values() for ns, v in plane.namespaces.items()})
    keys = (pc_key, co_key)
    leaks = [key for key in keys if key.encode() in stored or key in index_dump]
    FIGURES["secrets"] = {"keys_checked": len(keys), "leaks": len(leaks)}
    assert leaks == []


# -- 6. disk full and read-only data dir ---------------------------------------------------------------

@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("this machine cannot mount a tmpfs (needs root); disk-full is untested here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_disk_full_is_a_clear_error_and_corrupts_nothing(repo, tmp_path, service_factory):
    from core.config import load_config
    from core.service import Lightfast
    from conftest import HashEmbedder

    write_files(repo, {f"docs/d{i:03}.md": "# D\n\n" + f"words of document {i} " * 300 for i in range(200)})
    make_config(repo)
    with tmpfs(tmp_path / "small", "600k") as home:
        service = Lightfast(load_config(repo / "lightfast.yml"), home, embedder=HashEmbedder())
        with pytest.raises(LightfastError, match="cannot write to the data dir") as full:
            service.ingest()
        # What was committed is intact, and the mirror and index still agree.
        survivor = Lightfast(load_config(repo / "lightfast.yml"), home, embedder=HashEmbedder())
        integrity = survivor.mirror.conn.execute("PRAGMA integrity_check").fetchone()[0]
        assert integrity == "ok"
        for record in survivor.namespace_records("store"):
            ids, token = [], None
            while True:
                page_ids, token = survivor.index.list_ids(record.namespace_name, limit=1000, pagination_token=token)
                ids += page_ids
                if not token:
                    break
            assert survivor.mirror.vector_ids(record.id) <= set(ids)
    FIGURES["disk_full"] = {"clear_error": "cannot write to the data dir" in str(full.value),
                            "mirror_integrity": integrity}


def test_read_only_data_dir_is_a_clear_error(repo, tmp_path):
    from core.config import load_config
    from core.service import Lightfast
    from conftest import HashEmbedder

    write_files(repo, {"a.md": "# A\n\nalpha\n"})
    make_config(repo)
    with tmpfs(tmp_path / "ro", "4m") as home:
        script = KILLED_INGEST.format(tests=str(Path(__file__).parent), config=str(repo / "lightfast.yml"), full=False)
        subprocess.run([sys.executable, "-c", script], env={**os.environ, "LIGHTFAST_HOME": str(home)}, check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(home)], check=True)
        (repo / "b.md").write_text("# B\n\nbeta\n")
        reader = Lightfast(load_config(repo / "lightfast.yml"), home, embedder=HashEmbedder())
        read_hits = [h.path for h in reader.search("alpha", top_k=1).hits]
        assert read_hits == ["a.md"]  # reading still works
        with pytest.raises(LightfastError, match="cannot write to the data dir") as refused:
            reader.ingest()
        reader.mirror.close()
        subprocess.run(["mount", "-o", "remount,rw", str(home)], check=True)
        service = Lightfast(load_config(repo / "lightfast.yml"), home, embedder=HashEmbedder())
        service.ingest()  # writable again: the run converges
        assert service.mirror.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert_consistent(service)
        after_hits = [h.path for h in service.search("beta", top_k=1).hits]
        assert after_hits == ["b.md"]
    FIGURES["read_only"] = {"clear_error": "cannot write to the data dir" in str(refused.value),
                            "search_still_works": read_hits == ["a.md"], "converges_after": after_hits == ["b.md"]}
