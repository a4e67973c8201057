"""What bearer tokens cost an HTTP MCP search: two servers side by side, one requiring tokens.

    python bench/mcp_auth.py [--queries 60] [--tokens-in-file 100]

Copies the fastapi tutorial docs into a temp repo and ingests it (local profile).
Starts two `python -m mcp_server --http --port 0` on the same data dir: one with
a tokens file of N tokens (each request is verified against it, and the search
runs under the token's grant), one with an empty tokens file (no auth, loopback).
Searches alternate between them, one client session each, so the machine's load
falls on both alike; the figure is the ratio of the round trips. Written to
bench/results/mcp_auth.json.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import anyio

from _common import ROOT, SHARED, local_config, percentile, summary, write_results
from mcp_latency import QUERIES


def start(config: Path, tokens: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """A server on a free port; returns it and its URL once it says it is listening."""
    proc = subprocess.Popen([sys.executable, "-m", "mcp_server", "--config", str(config), "--http", "--port", "0",
                             "--tokens", str(tokens)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    while True:
        line = lines.get(timeout=300)
        if "listening on" in line:
            return proc, line.split("listening on ")[1].split(";")[0].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--tokens-in-file", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-auth-"))
    home = tmp / "home"
    os.environ["LIGHTFAST_HOME"] = str(home)
    repo = tmp / "repo"
    shutil.copytree(SHARED / "data" / "corpora" / "fastapi" / "docs" / "en" / "docs" / "tutorial", repo / "docs")
    config = local_config(repo, '  - slug: docs\n    include: ["**/*.md"]\n')
    from core.config import load_config
    from core.service import Lightfast
    from core.tokens import add_token

    Lightfast(load_config(config), home).ingest()
    with_tokens, without = tmp / "tokens.json", tmp / "none.json"
    token = None
    for n in range(args.tokens_in_file):
        made, _ = add_token(with_tokens, "bench", ["main"] if n == args.tokens_in_file - 1 else [f"ws{n}"])
        token = made
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    servers = [start(config, with_tokens, env), start(config, without, env)]
    times: dict[str, list[float]] = {"tokens": [], "none": []}

    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async def run():
        async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as a, \
                create_mcp_http_client() as b, \
                streamable_http_client(servers[0][1], http_client=a) as (ra, wa), \
                streamable_http_client(servers[1][1], http_client=b) as (rb, wb), \
                ClientSession(ra, wa) as sa, ClientSession(rb, wb) as sb:
            await sa.initialize()
            await sb.initialize()
            sessions = {"tokens": sa, "none": sb}
            for name, s in sessions.items():  # warm: model loaded, index mapped
                assert not (await s.call_tool("search", {"query": "warm up"})).is_error
            for i in range(args.queries):
                order = ("tokens", "none") if i % 2 == 0 else ("none", "tokens")
                for name in order:
                    t = time.perf_counter()
                    result = await sessions[name].call_tool("search", {"query": QUERIES[i % len(QUERIES)]})
                    times[name].append(time.perf_counter() - t)
                    assert not result.is_error, result.content

    try:
        anyio.run(run)
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=30)
    write_results("mcp_auth", {
        "repo": "fastapi docs/en/docs/tutorial, environment local (all-MiniLM-L6-v2)",
        "tokens_in_file": args.tokens_in_file,
        "search_round_trip_with_tokens": summary(times["tokens"]),
        "search_round_trip_without_tokens": summary(times["none"]),
        "p50_ratio_tokens_over_none": round(percentile(times["tokens"], 50) / percentile(times["none"], 50), 3),
        "load_average": os.getloadavg(),
    })
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
