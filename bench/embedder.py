"""The offline embedder's engines side by side: numpy (the floor) and onnxruntime, idle and busy.

    python bench/embedder.py [--chunks 300] [--rounds 2] [--segment 60] [--cap-s 120] [--queries 100]

Cuts the FastAPI English docs (../shared/data/corpora/fastapi/docs/en/docs/*.md)
into chunks of 254 content tokens (256 with [CLS]/[SEP], the model's limit)
and embeds them through core.embeddings.local.LocalEmbedder with each engine:

- numpy: core/embeddings/minilm.py (OpenBLAS with its default threads for batches);
- onnx: core/embeddings/onnx_runtime.py (the graph built from the same
  weights, one thread per run, a batch cut into parts of 4 texts that one
  thread per core takes in turn).

Idle and busy side by side: the chunks are cut into segments of --segment
chunks, and each segment is embedded twice in a row, first "idle" (nothing of
ours beside it; the machine's other work shows in the load averages
recorded), then "busy" (one CPU-bound `python -c 'while True: pass'`
process, started for that segment and killed after it). Alternating every
few seconds, both phases see the same drift in the machine's other load, so
their ratio is the competitor's effect, not the neighbours'. Per engine and
phase: chunks/s (wall, all segments summed), chunks per CPU-second
(time.process_time, all threads of this process), and the busy/idle ratio
of the sums and per segment. An engine stops taking segments in a round past
--cap-s of its own time (numpy on a busy machine would take many minutes).
Also: the engines' cosine on every chunk, one short query's wall and CPU
time idle and busy, and a cold import + load per engine. sentence-transformers
is compared in bench/embed_parity.py. Writes bench/results/embedder.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from _common import ROOT, SHARED, summary, write_results

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


def timed_embed(embedder, chunks: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of embedding chunks in batches of 32 (the ingest path)."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for start in range(0, len(chunks), BATCH):
        embedder.embed_documents(chunks[start : start + BATCH])
    return time.perf_counter() - wall0, time.process_time() - cpu0


def competitor() -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", "print('spinning', flush=True)\nwhile True: pass"],
                            stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()  # it is running before the clock starts
    return proc


def phases(embedders: dict, chunks: list[str], rounds: int, segment: int, cap_s: float) -> dict:
    """Each round, each engine: every segment idle, then at once the same segment busy."""
    runs = {name: {"idle": [], "busy": []} for name in embedders}
    loads = []
    for _ in range(rounds):
        loads.append(load())
        for name, embedder in embedders.items():
            spent = 0.0
            for start in range(0, len(chunks), segment):
                if spent > cap_s:
                    break
                part = chunks[start : start + segment]
                wall, cpu = timed_embed(embedder, part)
                runs[name]["idle"].append((len(part), wall, cpu))
                proc = competitor()
                try:
                    busy_wall, busy_cpu = timed_embed(embedder, part)
                finally:
                    proc.kill()
                    proc.wait()
                runs[name]["busy"].append((len(part), busy_wall, busy_cpu))
                print(f"{name} chunks {start}+{len(part)}: idle {wall:.1f} s, busy {busy_wall:.1f} s",
                      file=sys.stderr, flush=True)
                spent += wall + busy_wall
    loads.append(load())
    out: dict = {"load_average_per_round": loads}
    for name, phase in runs.items():
        figures = {}
        for kind, segs in phase.items():
            n, wall, cpu = (sum(s[i] for s in segs) for i in range(3))
            figures[kind] = {"chunks": n, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                             "chunks_per_s": round(n / wall, 2), "chunks_per_cpu_s": round(n / cpu, 2)}
        pairs = [(b[0] / b[1]) / (i[0] / i[1]) for i, b in zip(phase["idle"], phase["busy"])]
        figures["busy_over_idle"] = round(figures["busy"]["chunks_per_s"] / figures["idle"]["chunks_per_s"], 2)
        figures["busy_over_idle_per_segment"] = {
            "median": round(statistics.median(pairs), 2), "min": round(min(pairs), 2), "max": round(max(pairs), 2),
            "segments": len(pairs)}
        out[name] = figures
    for kind in ("idle", "busy"):
        out[f"onnx_over_numpy_{kind}"] = round(
            out["onnx"][kind]["chunks_per_s"] / out["numpy"][kind]["chunks_per_s"], 2)
    return out


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=300, help="how many ~256-token chunks to embed")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the chunks per engine")
    parser.add_argument("--segment", type=int, default=60, help="chunks per idle/busy pair")
    parser.add_argument("--cap-s", type=float, default=120.0, help="an engine's time per round before it stops")
    parser.add_argument("--queries", type=int, default=100, help="how many single queries to time")
    args = parser.parse_args()

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
        "onnx_threads": embedders["onnx"]._model.workers,
        "competitor": "python -c 'while True: pass', one process, started for each busy segment",
        "note": "the machine is shared (2 cores, other engineers' work): idle means nothing of ours "
                "beside it; the load averages say what else ran",
        "load_average_at_start": load(),
        "cold_import_and_load_s": {name: cold_load(name) for name in ENGINES},
    }
    sample = chunks[: args.segment]
    vectors = {name: e.embed_documents(sample) for name, e in embedders.items()}
    cosines = np.sum(vectors["onnx"] * vectors["numpy"], axis=1)
    figures["onnx_vs_numpy_cosine"] = {"chunks": len(sample), "min": round(float(cosines.min()), 6),
                                       "mean": round(float(cosines.mean()), 6)}

    figures["documents"] = phases(embedders, chunks, args.rounds, args.segment, args.cap_s)
    # Queries: both engines as shipped (one thread each), and numpy's query on OpenBLAS's
    # default threads, as it ran before (the reference of issue 16's goal 4).
    threaded = BlasThreadedQueries(embedders["numpy"])
    engines = {**embedders, "numpy_blas_threads": threaded}
    figures["query"] = {name: queries(e, args.queries) for name, e in engines.items()}
    proc = competitor()
    try:
        figures["query_with_competitor"] = {name: queries(e, args.queries) for name, e in engines.items()}
    finally:
        proc.kill()
        proc.wait()
    figures["busy_over_idle"] = {name: figures["documents"][name]["busy_over_idle"] for name in ENGINES}
    figures["load_average_at_end"] = load()
    write_results("embedder", figures)


if __name__ == "__main__":
    sys.exit(main())
