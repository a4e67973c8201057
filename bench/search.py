"""Search latency through the product path, beside the memory-bandwidth floor.

    python bench/search.py [--quick]

1. Query latency p50/p95 and CPU ms per query (time.process_time, every
   thread of the process) for namespaces of 1k, 10k and 100k vectors (384-d,
   local index): the index query alone, with the query embedding, and the
   whole search path (core.search.search_namespaces: embed, query, merge,
   rerank, query log), the last with the query log written in the background
   (as shipped) and, interleaved, flushed before the clock stops (the write
   back on the hot path, for reference); beside the time a plain numpy scan
   of the same matrix takes (the memory-bandwidth floor). The load average is
   recorded: the machine is shared, so compare figures of one run.
2. Wall time of a cold `lightfast search` process, start to printed results.
3. The same 1k namespace's latency as the index grows from 10 to 10,000
   namespaces: a query touches only its namespace, so it must stay flat.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import local_config, ms, percentile, summary, write_results


def timed(fn) -> tuple[float, float]:
    """(wall s, CPU s of the whole process) of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def cpu_ms(values_s: list[float]) -> dict:
    ordered = sorted(values_s)
    return {"cpu_ms_mean": ms(sum(values_s) / len(values_s)), "cpu_ms_p50": ms(percentile(ordered, 50))}

QUERIES = ["how do I declare a path parameter", "dependency injection with yield", "background tasks",
           "OAuth2 password flow", "response model filtering", "CORS middleware", "upload a file",
           "testing with the test client", "websockets", "settings from environment variables"]


def random_unit(n: int, dim: int, seed: int) -> np.ndarray:
    m = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def fill(index, namespace: str, n: int, seed: int) -> None:
    from core.vectors.base import VectorRecord

    vectors = random_unit(n, index.dimension, seed)
    for start in range(0, n, 5000):
        index.upsert(namespace, [
            VectorRecord(f"v{i}", vectors[i], {"path": f"f{i}.md", "text": f"chunk {i}", "start_line": 1, "end_line": 2})
            for i in range(start, min(n, start + 5000))
        ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and at most 1,000 namespaces")
    args = parser.parse_args()
    reps = 30 if args.quick else 200
    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-search-"))
    os.environ["LIGHTFAST_HOME"] = str(tmp / "home")
    repo = tmp / "repo"
    repo.mkdir()
    (repo / "a.md").write_text("# FastAPI\n\nDeclare a path parameter with braces in the route.\n")
    config_path = local_config(repo, '  - slug: docs\n    include: ["**/*.md"]\n')

    from core.config import load_config
    from core.records import NamespaceRecord
    from core.search import flush_query_log, search_namespaces
    from core.service import Lightfast

    service = Lightfast(load_config(config_path))
    service.ingest()
    index, embedder = service.index, service.embedder
    figures: dict = {"embedding_engine": getattr(embedder, "engine", type(embedder).__name__), "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                     "sizes": {}}
    for n in (1_000, 10_000, 100_000):
        ns = f"org_bench:ws_main:store_n{n}"
        fill(index, ns, n, seed=n)
        qvecs = random_unit(reps, index.dimension, seed=7)
        index.query(ns, qvecs[0], 10)  # warm the namespace cache
        record = NamespaceRecord(  # not in the mirror (id None: the query log's namespace_id stays NULL)
            id=None, organization_id="bench", workspace_id="main", store_slug=f"n{n}", namespace_name=ns,
            environment="local", index_name=index.name, index_profile="local", chunk_max_tokens=256,
            chunk_overlap=32, embedding_provider="local", embedding_model="", embedding_dim=index.dimension,
            created_at="", updated_at="")
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in
                                                      ("query_only", "embed_and_query", "search", "search_log_flushed")}
        for i, q in enumerate(qvecs):
            text = QUERIES[i % len(QUERIES)] + f" {i}"

            def search(flush: bool, text=text) -> None:
                search_namespaces(mirror=service.mirror, index=index, embedder=embedder,
                                  reranker=service.reranker, namespaces=[record], query=text, top_k=10)
                if flush:
                    flush_query_log()

            runs["query_only"].append(timed(lambda q=q: index.query(ns, q, 10)))
            runs["embed_and_query"].append(timed(lambda text=text: index.query(ns, embedder.embed_query(text), 10)))
            runs["search"].append(timed(lambda: search(False)))
            runs["search_log_flushed"].append(timed(lambda: search(True)))
        flush_query_log()
        matrix = random_unit(n, index.dimension, seed=1)
        floor = []
        for q in qvecs:
            t0 = time.perf_counter()
            scores = matrix @ q
            np.argpartition(-scores, 10)[:10]
            floor.append(time.perf_counter() - t0)
        gbps = matrix.nbytes / percentile(floor, 50) / 1e9
        figures["sizes"][str(n)] = {
            **{name: {**summary([w for w, _ in r]), **cpu_ms([c for _, c in r])} for name, r in runs.items()},
            "numpy_scan_floor": summary(floor),
            "floor_bandwidth_GBps": round(gbps, 1),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }

    # Cold process: start python, load config, model, index; print hits. The engines interleaved:
    # onnxruntime (the default, its graph cached by the first run) and numpy.
    cold: dict[str, list[float]] = {"onnxruntime": [], "numpy": []}
    for i in range(5):
        for engine, env in (("onnxruntime", {**os.environ, "LIGHTFAST_EMBED_ENGINE": "onnx"}),
                            ("numpy", {**os.environ, "LIGHTFAST_EMBED_ENGINE": "numpy"})):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "lightfast_cli", "search", QUERIES[i]],
                                  cwd=repo, env=env, capture_output=True, text=True)
            cold[engine].append(time.perf_counter() - t0)
            assert proc.returncode == 0, proc.stderr
    figures["cold_cli_search"] = {
        engine: {"runs": len(t), "p50_s": round(percentile(t, 50), 3), "max_s": round(max(t), 3)}
        for engine, t in cold.items()
    }
    figures["cold_cli_search"]["load_average"] = [round(x, 2) for x in os.getloadavg()]

    # Flatness: one 1k namespace among ever more namespaces.
    probe = "org_bench:ws_main:store_n1000"
    qvecs = random_unit(reps, index.dimension, seed=11)
    growth = {}
    small = random_unit(20, index.dimension, seed=3)
    from core.vectors.base import VectorRecord

    count = 3  # the three sized namespaces above
    for target in ([10, 100, 1_000] if args.quick else [10, 100, 1_000, 10_000]):
        while count < target:
            index.upsert(f"org_filler:ws_w:store_s{count}",
                         [VectorRecord(f"x{j}", small[j], {"text": "filler"}) for j in range(20)])
            count += 1
        times = []
        for q in qvecs:
            t0 = time.perf_counter()
            index.query(probe, q, 10)
            times.append(time.perf_counter() - t0)
        growth[str(target)] = summary(times)
    figures["probe_1k_namespace_as_index_grows"] = growth
    write_results("search", figures)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
