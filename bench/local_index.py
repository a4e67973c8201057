"""The local vector index: query latency by namespace size, against the memory-bandwidth floor,
and for one 1k namespace as the index grows to 10,000 namespaces.

    python bench/local_index.py            # writes bench/results/local_index.json

384-d float32, top-10 cosine, exact. "query" is LocalIndex.query with a warm cache (the usual
case in the TUI and the MCP server); "first query" opens a fresh LocalIndex, so it pays the
SQLite open and the memory-map set-up. The floor is a NumPy dot over an in-memory array of the
same shape: no index can scan faster on this machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import ms, percentile, write_results  # noqa: E402  (also puts the repo on sys.path)
from core.vectors.base import IndexSpec, VectorRecord
from core.vectors.local import LocalBackend, LocalIndex

DIM = 384
TOP_K = 10
WORKERS = 4  # processes creating filler namespaces


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    m = rng.standard_normal((n, DIM)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def timed(fn, queries: np.ndarray) -> dict:
    for q in queries[:5]:
        fn(q)  # warm caches and pages
    times = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - start)
    return {"n": len(times), "p50_ms": round(ms(percentile(times, 50)), 3),
            "p95_ms": round(ms(percentile(times, 95)), 3)}


def upsert_in_batches(index, ns: str, vectors: np.ndarray, batch: int = 5_000) -> float:
    start = time.perf_counter()
    for lo in range(0, len(vectors), batch):
        index.upsert(ns, [VectorRecord(f"v{i:07}", vectors[i], {"path": f"f{i % 50}.md"})
                          for i in range(lo, min(lo + batch, len(vectors)))])
    return time.perf_counter() - start


def by_size(root: Path, rng: np.random.Generator, sizes: list[int], queries: int) -> dict:
    index = LocalBackend(root).ensure_index(IndexSpec("bench-sizes", DIM))
    out = {}
    for size in sizes:
        ns = f"org_bench:ws_main:store_{size}"
        vectors = unit(rng, size)
        upsert_s = upsert_in_batches(index, ns, vectors)
        qs = unit(rng, queries)
        cold = LocalIndex(index.folder)
        start = time.perf_counter()
        cold.query(ns, qs[0], TOP_K)
        first_ms = ms(time.perf_counter() - start)
        query = timed(lambda q: index.query(ns, q, TOP_K), qs)
        filtered = timed(lambda q: index.query(ns, q, TOP_K, filter={"path": "f7.md"}), qs[: max(20, queries // 5)])
        floor = timed(lambda q, m=np.array(vectors): np.argpartition(-(m @ q), TOP_K)[:TOP_K], qs)
        scan_only = timed(lambda q, m=np.array(vectors): m @ q, qs)
        out[str(size)] = {
            "query": query,
            "query_with_filter": filtered,
            "first_query_fresh_process_ms": round(first_ms, 3),
            "numpy_floor_dot_and_top10": floor,
            "numpy_floor_dot_only": scan_only,
            "floor_bandwidth_GBps": round(size * DIM * 4 / (scan_only["p50_ms"] / 1e3) / 1e9, 1),
            "upsert_vectors_per_s": round(size / upsert_s),
        }
        print(f"{size:>7} vectors: query p50 {query['p50_ms']} ms, p95 {query['p95_ms']} ms; "
              f"floor p50 {scan_only['p50_ms']} ms", flush=True)
    return out


def _fill(job: tuple[str, int, int, int]) -> None:
    """Create small namespaces [lo, hi) (in a worker process: creation is bound by fsync latency)."""
    folder, lo, hi, per_ns = job
    index = LocalIndex(Path(folder))
    filler = unit(np.random.default_rng(lo), per_ns)
    for n in range(lo, hi):
        index.upsert(f"org_o{n % 97}:ws_w{n % 13}:store_s{n}", [VectorRecord(f"c{i}", filler[i]) for i in range(per_ns)])


def as_index_grows(root: Path, rng: np.random.Generator, steps: list[int], per_ns: int, queries: int) -> dict:
    index = LocalBackend(root).ensure_index(IndexSpec("bench-growth", DIM))
    probe = "org_probe:ws_main:store_docs"
    upsert_in_batches(index, probe, unit(rng, 1_000))
    made, out = 1, {}
    pool = multiprocessing.get_context("spawn").Pool(WORKERS)
    for target in steps:
        start, before = time.perf_counter(), made
        cuts = np.linspace(made, target, WORKERS * 4 + 1).astype(int)
        pool.map(_fill, [(str(index.folder), int(lo), int(hi), per_ns) for lo, hi in zip(cuts, cuts[1:]) if hi > lo])
        made = max(made, target)
        create_s = time.perf_counter() - start
        qs = unit(rng, queries)
        query = timed(lambda q: index.query(probe, q, TOP_K), qs)
        cold = LocalIndex(index.folder)
        start = time.perf_counter()
        cold.query(probe, qs[0], TOP_K)
        first_ms = ms(time.perf_counter() - start)
        start = time.perf_counter()
        listed = len(index.list_namespaces())
        list_s = time.perf_counter() - start
        assert listed == target, (listed, target)
        out[str(target)] = {
            "query": query,
            "first_query_fresh_process_ms": round(first_ms, 3),
            "list_namespaces_s": round(list_s, 3),
            "namespaces_created_per_s": round((made - before) / create_s, 1) if made > before else None,
        }
        print(f"{target:>6} namespaces: probe query p50 {query['p50_ms']} ms, p95 {query['p95_ms']} ms; "
              f"list_namespaces {list_s:.2f} s", flush=True)
    pool.close()
    pool.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="namespace sizes to query")
    parser.add_argument("--namespaces", default="10,100,1000,10000", help="index sizes for the probe")
    parser.add_argument("--per-namespace", type=int, default=20, help="vectors in each filler namespace")
    parser.add_argument("--queries", type=int, default=200, help="queries per measurement")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="lightfast-bench-") as tmp:
        sizes = by_size(Path(tmp), rng, [int(s) for s in args.sizes.split(",")], args.queries)
        growth = as_index_grows(Path(tmp), rng, [int(s) for s in args.namespaces.split(",")],
                                args.per_namespace, args.queries)
    write_results("local_index", {
        "dimension": DIM, "top_k": TOP_K, "metric": "cosine",
        "by_namespace_size": sizes,
        "probe_1k_namespace_as_index_grows": growth,
        "filler_vectors_per_namespace": args.per_namespace,
    })


if __name__ == "__main__":
    main()
