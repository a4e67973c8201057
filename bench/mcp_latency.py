"""MCP search round-trip latency through the real client over stdio, warm, plus startup.

    python bench/mcp_latency.py [--queries 50] [--top-k 8] [--vectors 10000]

Copies the fastapi tutorial docs into a temp repo and ingests them with the
local profile (all-MiniLM-L6-v2, the default engine, local index); then fills
the store's namespace up to --vectors vectors with random unit vectors
(realistic metadata, ~700 characters of text each), so every query scans a
store of that size while the real chunks still answer. Starts
`python -m mcp_server`, times the handshake and the first (cold) search,
then N warm searches, each followed by the same search through
`Lightfast.search` in this process (the reference: no protocol, no second
process). Reports the client-side round trip, the server's own search time
(structured `latency_ms`) and the in-process time, and the ratio of the round
trip to the in-process search; the load average is recorded (shared machine).
Written to bench/results/mcp.json.
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

from _common import ROOT, SHARED, local_config, ms, percentile, summary, write_results

QUERIES = [
    "how do I declare a path parameter", "dependency injection with yield", "run work after returning a response",
    "OAuth2 password flow with bearer tokens", "filter the response with a response model", "enable CORS",
    "upload a file", "test the app with TestClient", "settings from environment variables", "query parameter validation",
    "request body with a pydantic model", "return a custom status code", "raise an HTTPException", "handle errors globally",
    "middleware that adds a header", "mount static files", "split the app into several files with routers",
    "cookie parameters", "header parameters with underscores", "form data fields", "extra data types like UUID",
    "nested models in the body", "declare examples for the docs", "path operation configuration tags",
    "JSON compatible encoder", "partial update with PATCH", "dependencies in path operation decorators",
    "global dependencies for the whole app", "hash the password", "get the current user from the token",
    "SQL database session per request", "debugging with a debugger", "first steps hello world",
    "optional query parameters with defaults", "list of values in a query parameter", "numeric validations ge le",
    "body with multiple parameters", "field validation with Field", "response with union of models",
    "status code constants", "form and files together", "request files of several kinds",
    "metadata and docs urls", "background task with dependency", "security scopes", "JWT token expiry",
    "async def or def", "schema extra for OpenAPI", "predefined values with Enum", "order of path operations",
]


def fill(service, namespace: str, target: int) -> int:
    """Random unit vectors with chunk-like metadata until the namespace holds target vectors."""
    import numpy as np

    from core.vectors.base import VectorRecord

    have = service.index.namespace_stats(namespace).vector_count
    rng = np.random.default_rng(16)
    text = "Filler paragraph about an unrelated topic, long enough to look like a chunk. " * 9
    for start in range(have, target, 2000):
        n = min(2000, target - start)
        m = rng.standard_normal((n, service.index.dimension)).astype(np.float32)
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        service.index.upsert(namespace, [
            VectorRecord(f"filler:{start + i}", m[i], {
                "path": f"filler/f{(start + i) // 10}.md", "store": "docs", "chunk_index": (start + i) % 10,
                "start_line": 1, "end_line": 12, "headings": "Filler", "content_hash": "0" * 64, "text": text})
            for i in range(n)])
    return service.index.namespace_stats(namespace).vector_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--top-k", type=int, default=8)
    parser.add_argument("--vectors", type=int, default=10_000, help="the store's size (0: only the real chunks)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-mcp-"))
    home = tmp / "home"
    os.environ["LIGHTFAST_HOME"] = str(home)
    repo = tmp / "repo"
    shutil.copytree(SHARED / "data" / "corpora" / "fastapi" / "docs" / "en" / "docs" / "tutorial", repo / "docs")
    config = local_config(repo, '  - slug: docs\n    include: ["**/*.md"]\n')
    from core.config import load_config
    from core.service import Lightfast

    service = Lightfast(load_config(config), home)
    report = service.ingest()
    engine = service.embedder.engine
    record = service.namespace_records("store")[0]
    vectors = fill(service, record.namespace_name, args.vectors)
    # The in-process reference opens the store afresh, as the server process does.
    reference = Lightfast(load_config(config), home)
    reference.search("warm-up", top_k=args.top_k)

    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server", "--config", str(config)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=str(repo),
    )
    round_trips: list[float] = []
    server_side: list[float] = []
    in_process: list[float] = []
    text_chars: list[int] = []
    startup: dict = {}

    async def run():
        t0 = time.perf_counter()
        with open(os.devnull, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    startup["handshake_ms"] = ms(time.perf_counter() - t0)
                    t1 = time.perf_counter()
                    first = await session.call_tool("search", {"query": "path parameters", "top_k": args.top_k})
                    startup["first_search_ms"] = ms(time.perf_counter() - t1)
                    startup["spawn_to_first_answer_ms"] = ms(time.perf_counter() - t0)
                    assert not first.is_error, first.content
                    for i in range(args.queries):
                        query = QUERIES[i % len(QUERIES)]
                        t = time.perf_counter()
                        result = await session.call_tool("search", {"query": query, "top_k": args.top_k})
                        round_trips.append(time.perf_counter() - t)
                        assert not result.is_error, result.content
                        server_side.append(result.structured_content["latency_ms"] / 1000)
                        text_chars.append(len(result.content[0].text))
                        # The reference, interleaved: the same search in this process (no protocol).
                        t = time.perf_counter()
                        reference.search(query, top_k=args.top_k)
                        in_process.append(time.perf_counter() - t)

    load_start = [round(x, 2) for x in os.getloadavg()]
    anyio.run(run)
    write_results("mcp", {
        "repo": f"fastapi docs/en/docs/tutorial ({report.totals()['added']} files, "
                f"{report.totals()['chunks_embedded']} chunks), environment local (all-MiniLM-L6-v2 on {engine})",
        "store_vectors": vectors,
        "store_vectors_note": "the real chunks plus random unit vectors up to --vectors",
        "load_average_at_start": load_start,
        "top_k": args.top_k,
        **startup,
        "search_round_trip_warm": summary(round_trips),
        "search_in_server_warm": summary(server_side),
        "search_in_process_warm": summary(in_process),
        "round_trip_over_in_process_p50": round(percentile(round_trips, 50) / percentile(in_process, 50), 2),
        "text_answer_chars_mean": round(sum(text_chars) / len(text_chars)) if text_chars else None,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    })
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
