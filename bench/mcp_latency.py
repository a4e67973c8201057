"""MCP search round-trip latency, warm, through the real client over stdio.

    python bench/mcp_latency.py [--queries N]

Ingests a small copy of the fastapi docs with the local profile, starts
`python -m mcp_server`, warms it with one search, then times N searches.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import anyio

from _common import SHARED, local_config, summary, write_results

QUERIES = ["how do I declare a path parameter", "dependency injection with yield", "background tasks",
           "OAuth2 password flow", "response model", "CORS middleware", "upload a file", "test client",
           "websockets", "settings from environment variables"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-mcp-"))
    home = tmp / "home"
    os.environ["LIGHTFAST_HOME"] = str(home)
    repo = tmp / "repo"
    docs = SHARED / "data" / "corpora" / "fastapi" / "docs" / "en" / "docs" / "tutorial"
    shutil.copytree(docs, repo / "docs")
    config = local_config(repo, '  - slug: docs\n    include: ["**/*.md"]\n')
    from core.config import load_config
    from core.service import Lightfast

    report = Lightfast(load_config(config)).ingest()

    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_server", "--config", str(config)],
                                   env={**os.environ}, cwd=str(repo))
    times: list[float] = []

    async def run():
        with open(os.devnull, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    await session.call_tool("search", {"query": "warm up"})
                    for i in range(args.queries):
                        t0 = time.perf_counter()
                        result = await session.call_tool("search", {"query": QUERIES[i % len(QUERIES)] + f" {i}"})
                        times.append(time.perf_counter() - t0)
                        assert not result.is_error

    anyio.run(run)
    write_results("mcp", {"documents": report.totals()["added"], "chunks": report.totals()["chunks_embedded"],
                          "search_round_trip_warm": summary(times)})
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
