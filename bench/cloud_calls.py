"""API calls and read units of the production path, counted at the wire-format servers.

    python bench/cloud_calls.py [--chunks 1000] [--stores 5] [--searches 20]

Runs the real service (official Pinecone and Cohere SDKs) against
tests/wire's local servers and reads their counters: requests by endpoint,
Pinecone read units as the responses report them, Cohere billed units. Two
figures: one first ingest of N chunks (one file per chunk, spread over M
stores), the same ingest again with nothing changed (a new service, as a new
process would be), then searches over all M stores (organization scope, top 10).

The wire server reports 1 read unit per query, fetch and list call. The real
service charges a query 1 RU per GB of the namespace it scans, at least 0.25,
so for small namespaces this is an upper bound per call; the call counts are
exact. Output: bench/results/cloud_calls.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import ROOT, write_results

WORDS = ("pelican lagoon colony harbour tide estuary reed heron marsh dune shingle spit mudflat "
         "salt creek ebb flood channel beacon buoy jetty quay mooring keel hull").split()


def _repo(root: Path, chunks: int, stores: int) -> None:
    for i in range(chunks):
        words = " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(40))
        path = root / f"s{i % stores}" / f"note{i:05}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Note {i}\n\n{words} item{i}.\n", encoding="utf-8")
    lines = "".join(f"  - slug: s{k}\n    include: [\"s{k}/**/*.md\"]\n" for k in range(stores))
    (root / "lightfast.yml").write_text(
        "organization: bench\nworkspace: main\nenvironment: production\nstores:\n" + lines, encoding="utf-8")


def _snapshot(pc, co) -> dict:
    return {"pinecone": Counter(f"{m} {_path(p)}" for m, p in list(pc.requests)),
            "cohere": Counter(f"{m} {p}" for m, p in list(co.requests)),
            "read_units": sum(plane.read_units for plane in pc.planes.values()),
            "embed_tokens": co.billed_input_tokens, "search_units": co.billed_search_units}


def _path(path: str) -> str:
    """One name per endpoint: /namespaces/<name> and /indexes/<name> are counted together."""
    for head in ("/namespaces/", "/indexes/"):
        if path.startswith(head):
            return head + "{name}"
    return path


def _delta(before: dict, after: dict, per: int = 1) -> dict:
    def calls(side):
        d = after[side] - before[side]
        return {k: round(v / per, 2) for k, v in sorted(d.items())}

    pinecone, cohere = calls("pinecone"), calls("cohere")
    return {
        "pinecone_requests": pinecone, "pinecone_total": round(sum(pinecone.values()), 2),
        "cohere_requests": cohere, "cohere_total": round(sum(cohere.values()), 2),
        "read_units": round((after["read_units"] - before["read_units"]) / per, 2),
        "cohere_billed_input_tokens": round((after["embed_tokens"] - before["embed_tokens"]) / per, 2),
        "cohere_billed_search_units": round((after["search_units"] - before["search_units"]) / per, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--stores", type=int, default=5)
    parser.add_argument("--searches", type=int, default=20)
    args = parser.parse_args()

    from tests.wire.cohere_server import CohereServer
    from tests.wire.pinecone_server import PineconeServer

    with tempfile.TemporaryDirectory() as tmp, PineconeServer(api_key="pc-bench") as pc, \
            CohereServer(api_key="co-bench") as co:
        root = Path(tmp) / "repo"
        _repo(root, args.chunks, args.stores)
        os.environ.update({"LIGHTFAST_HOME": str(Path(tmp) / "home"), "PINECONE_API_KEY": "pc-bench",
                           "COHERE_API_KEY": "co-bench", "LIGHTFAST_PINECONE_HOST": pc.url,
                           "LIGHTFAST_COHERE_BASE_URL": co.url})
        from core.config import load_config
        from core.service import Lightfast

        service = Lightfast(load_config(root / "lightfast.yml"))
        before = _snapshot(pc, co)
        started = time.perf_counter()
        report = service.ingest()
        ingest_s = time.perf_counter() - started
        chunks = sum(r.chunks_embedded for r in report.stores)
        ingest = {"chunks": chunks, "stores": args.stores, "seconds": round(ingest_s, 2),
                  **_delta(before, _snapshot(pc, co))}

        before = _snapshot(pc, co)
        Lightfast(load_config(root / "lightfast.yml")).ingest()  # a new process's run, nothing changed
        unchanged = _delta(before, _snapshot(pc, co))

        before = _snapshot(pc, co)
        for i in range(args.searches):
            service.search(f"pelican lagoon item{i}", scope="organization", top_k=10)
        search = {"stores": args.stores, "searches": args.searches, "per_search": _delta(before, _snapshot(pc, co),
                                                                                        args.searches)}
    write_results("cloud_calls", {
        "note": "counted at tests/wire servers; read units are the wire server's (1 per query, fetch or list "
                "call), an upper bound of the real per-GB charge for small namespaces",
        "ingest": ingest, "ingest_again_unchanged": unchanged, "search": search,
    })


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
