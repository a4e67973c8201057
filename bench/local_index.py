"""The local vector index: cold open against np.load, query latency by namespace size against
the memory-bandwidth floor, a cold `lightfast search` over a 100k-vector store, and one 1k
namespace as the index grows to 10,000 namespaces.

    python bench/local_index.py            # writes bench/results/local_index.json

384-d float32, top-10 cosine, exact. "cold open" opens a fresh LocalIndex (what a new process
does: SQLite open, memory maps, checksum verification) and answers one query; beside it, in
the same rounds, `np.load` of the same matrix from an .npy file (the reference: the least a
reader of those bytes can do) and np.load plus the same query in numpy. Namespaces are written
by upserts of 256 vectors, as ingest writes them. "query" is LocalIndex.query with a warm
cache (the usual case in the TUI and the MCP server). The floor is a NumPy dot over an
in-memory array of the same shape: no index can scan faster on this machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import local_config, ms, percentile, write_results  # noqa: E402  (also puts the repo on sys.path)
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


INGEST_BATCH = 256  # vectors per upsert, as core/ingest.py writes them


def upsert_in_batches(index, ns: str, vectors: np.ndarray, batch: int = INGEST_BATCH, metadata=None) -> float:
    metadata = metadata or (lambda i: {"path": f"f{i % 50}.md"})
    start = time.perf_counter()
    for lo in range(0, len(vectors), batch):
        index.upsert(ns, [VectorRecord(f"v{i:07}", vectors[i], metadata(i))
                          for i in range(lo, min(lo + batch, len(vectors)))])
    return time.perf_counter() - start


def numpy_first_query(npy: Path, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = np.load(npy)
    return m, np.argpartition(-(m @ q), TOP_K)[:TOP_K]


def cold_open(root: Path, rng: np.random.Generator, sizes: list[int], rounds: int) -> dict:
    """A fresh LocalIndex's open and first query against np.load of the same matrix, interleaved."""
    index = LocalBackend(root).ensure_index(IndexSpec("bench-cold", DIM))
    out = {}
    for size in sizes:
        ns = f"org_bench:ws_main:store_cold{size}"
        vectors = unit(rng, size)
        upsert_in_batches(index, ns, vectors)
        npy = root / f"matrix-{size}.npy"
        np.save(npy, vectors)
        queries = unit(rng, rounds + 1)
        LocalIndex(index.folder).query(ns, queries[0], TOP_K)  # the files in the page cache, as np.load's
        np.load(npy)
        wall: dict[str, list[float]] = {"cold_open_and_first_query": [], "np_load": [], "np_load_and_query": []}
        cpu: dict[str, list[float]] = {k: [] for k in wall}

        def clock(name: str, fn):
            w, c = time.perf_counter(), time.process_time()
            out = fn()
            wall[name].append(time.perf_counter() - w)
            cpu[name].append(time.process_time() - c)
            return out

        for q in queries[1:]:
            hits = clock("cold_open_and_first_query", lambda q=q: LocalIndex(index.folder).query(ns, q, TOP_K))
            clock("np_load", lambda: np.load(npy))
            m, best = clock("np_load_and_query", lambda q=q: numpy_first_query(npy, q))
            assert int(hits[0].id[1:]) == int(best[np.argmax((m @ q)[best])])  # the same answer
        p50 = {k: statistics.median(v) for k, v in wall.items()}
        cpu50 = {k: statistics.median(v) for k, v in cpu.items()}
        out[str(size)] = {
            **{f"{k}_p50_ms": round(ms(v), 2) for k, v in p50.items()},
            **{f"{k}_cpu_p50_ms": round(ms(v), 2) for k, v in cpu50.items()},
            "cold_open_over_np_load": round(p50["cold_open_and_first_query"] / p50["np_load"], 2),
            "cold_open_over_np_load_cpu": round(cpu50["cold_open_and_first_query"] / cpu50["np_load"], 2),
            "rounds": rounds,
            "upserts": -(-size // INGEST_BATCH),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        print(f"{size:>7} vectors: cold open + first query {ms(p50['cold_open_and_first_query']):.1f} ms "
              f"({ms(cpu50['cold_open_and_first_query']):.1f} CPU), np.load {ms(p50['np_load']):.1f} ms "
              f"({ms(cpu50['np_load']):.1f} CPU): {out[str(size)]['cold_open_over_np_load']}x wall, "
              f"{out[str(size)]['cold_open_over_np_load_cpu']}x CPU", flush=True)
    return out


def cold_cli_search(tmp: Path, size: int, runs: int) -> dict:
    """Wall time of `lightfast search` in a new process, over a store of `size` vectors and, in the
    same rounds, over a one-document store (the same start-up, model load and embedding) and
    `lightfast search --help` (the interpreter's start and the CLI's imports alone), so the figure
    says which part is the 100k-vector store's."""
    repo = tmp / "repo"
    (repo / "big").mkdir(parents=True)
    (repo / "tiny").mkdir()
    (repo / "big" / "a.md").write_text("# Falcons\n\nThe falcon nests on cliffs.\n")
    (repo / "tiny" / "a.md").write_text("# Falcons\n\nThe falcon nests on cliffs.\n")
    config = local_config(repo, '  - slug: big\n    include: ["big/**/*.md"]\n'
                                '  - slug: tiny\n    include: ["tiny/**/*.md"]\n')
    env = {**os.environ, "LIGHTFAST_HOME": str(tmp / "home")}
    cli = [sys.executable, "-m", "lightfast_cli"]
    subprocess.run([*cli, "ingest", "-c", str(config)], cwd=repo, env=env, check=True, capture_output=True)
    os.environ["LIGHTFAST_HOME"] = env["LIGHTFAST_HOME"]
    from core.config import load_config
    from core.service import Lightfast

    service = Lightfast(load_config(config))
    big = next(s.namespace for s in service.index.list_namespaces() if s.namespace.endswith("store_big"))
    filler = unit(np.random.default_rng(size), size - 1)
    upsert_in_batches(service.index, big, filler, metadata=lambda i: {
        "path": f"big/f{i % 500}.md", "text": f"chunk {i}", "start_line": 1, "end_line": 2})
    times: dict[str, list[float]] = {"big": [], "tiny": [], "help": []}
    cpu: dict[str, list[float]] = {k: [] for k in times}  # the child's user+sys: the load moves it far less
    loads = [[round(x, 2) for x in os.getloadavg()]]
    for i in range(runs + 1):
        for store in ("big", "tiny", "help"):
            args = ["--help"] if store == "help" else ["where do falcons nest", "--store", store]
            start, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.run([*cli, "search", *args, "-c", str(config)],
                                  cwd=repo, env=env, capture_output=True, text=True)
            if i:  # the first round warms the page cache and the model's cached graph
                times[store].append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[store].append(after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime)
            assert proc.returncode == 0 and (store == "help" or "a.md" in proc.stdout), proc.stdout + proc.stderr
        loads.append([round(x, 2) for x in os.getloadavg()])
    p50 = {k: statistics.median(v) for k, v in times.items()}
    cpu50 = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"cold `lightfast search`: {size:,}-vector store {p50['big']:.2f} s ({cpu50['big']:.2f} CPU s), "
          f"one-document store {p50['tiny']:.2f} s ({cpu50['tiny']:.2f}), `search --help` {p50['help']:.2f} s "
          f"({cpu50['help']:.2f}) (load {loads[-1][0]})", flush=True)
    return {"vectors": service.index.namespace_stats(big).vector_count, "runs": runs,
            "goal": "under 1 s on an idle machine (#16 goal 3)",
            "store_of_that_size_p50_s": round(p50["big"], 3), "one_document_store_p50_s": round(p50["tiny"], 3),
            "search_help_p50_s": round(p50["help"], 3),
            "cpu_s_p50": {"store_of_that_size": round(cpu50["big"], 3), "one_document_store": round(cpu50["tiny"], 3),
                          "search_help": round(cpu50["help"], 3)},
            # what the big store adds to the same search of a one-document store
            "big_store_over_one_document_store": round(p50["big"] / p50["tiny"], 3),
            "max_s": round(max(times["big"]), 3), "load_average_per_round": loads}


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
    parser.add_argument("--rounds", type=int, default=9, help="cold opens per size, each beside an np.load")
    parser.add_argument("--cli-runs", type=int, default=5, help="cold `lightfast search` runs per store")
    parser.add_argument("--only-cold", action="store_true", help="only the cold-open and cold-search sections (printed, not written)")
    parser.add_argument("--only-cli-search", action="store_true",
                        help="only the cold `lightfast search` (written to bench/results/cold_search.json)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sizes = [int(s) for s in args.sizes.split(",")]
    figures: dict = {"dimension": DIM, "top_k": TOP_K, "metric": "cosine",
                     "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    if args.only_cli_search:
        with tempfile.TemporaryDirectory(prefix="lightfast-bench-") as tmp:
            figures["cold_cli_search"] = cold_cli_search(Path(tmp) / "cli", max(sizes), args.cli_runs)
        figures["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        write_results("cold_search", figures)
        return
    with tempfile.TemporaryDirectory(prefix="lightfast-bench-") as tmp:
        figures["cold_open_vs_np_load"] = cold_open(Path(tmp) / "cold", rng, sizes, args.rounds)
        figures["cold_cli_search"] = cold_cli_search(Path(tmp) / "cli", max(sizes), args.cli_runs)
        if not args.only_cold:
            figures["by_namespace_size"] = by_size(Path(tmp), rng, sizes, args.queries)
            figures["probe_1k_namespace_as_index_grows"] = as_index_grows(
                Path(tmp), rng, [int(s) for s in args.namespaces.split(",")], args.per_namespace, args.queries)
            figures["filler_vectors_per_namespace"] = args.per_namespace
    if args.only_cold:  # a partial run: printed, never written over the results of a whole one
        print(json.dumps(figures, indent=2))
        return
    write_results("local_index", figures)


if __name__ == "__main__":
    main()
