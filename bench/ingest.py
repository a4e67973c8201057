"""Ingest throughput on a real docs corpus, against the raw embedder on the same chunks.

    python bench/ingest.py [--limit N]

Copies ../shared/data/corpora/fastapi into a temp repo, ingests it with the
local profile (real model), then re-embeds the very same chunk texts with the
bare embedder: the ratio says how much of the embedder's speed ingest keeps.
Then a no-op re-ingest and a one-file-changed re-ingest.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import SHARED, local_config, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=0, help="only the first N files of the corpus (0: all)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-ingest-"))
    os.environ["LIGHTFAST_HOME"] = str(tmp / "home")
    repo = tmp / "repo"
    corpus = SHARED / "data" / "corpora" / "fastapi"
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix in (".md", ".py"))
    if args.limit:
        files = files[: args.limit]
    for src in files:
        dst = repo / src.relative_to(corpus)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    config_path = local_config(repo, '  - slug: docs\n    include: ["**/*.md"]\n  - slug: code\n    include: ["**/*.py"]\n')

    from core.chunking import Chunk
    from core.config import load_config
    from core.service import Lightfast

    service = Lightfast(load_config(config_path))
    t0 = time.perf_counter()
    service.embedder.warm()
    load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    report = service.ingest()
    ingest_s = time.perf_counter() - t0
    totals = report.totals()
    chunks = totals["chunks_embedded"]

    # The same chunk texts, straight through the embedder.
    texts = []
    for record in service.namespace_records("store"):
        ids, token = [], None
        while True:
            page, token = service.index.list_ids(record["namespace_name"], limit=1000, pagination_token=token)
            ids.extend(page)
            if not token:
                break
        for start in range(0, len(ids), 1000):
            fetched = service.index.fetch(record["namespace_name"], ids[start:start + 1000])
            texts.extend(
                Chunk(0, r.metadata["text"], 0, 0, tuple(filter(None, r.metadata["headings"].split(" > "))))
                .embedding_text()
                for r in fetched.values()
            )

    t0 = time.perf_counter()
    service.embedder.embed_documents(texts)
    raw_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    noop = service.ingest()
    noop_s = time.perf_counter() - t0
    assert noop.totals()["chunks_embedded"] == 0

    target = repo / "docs" / "en" / "docs" / "index.md"
    if not target.exists():
        target = next(repo.rglob("*.md"))
    target.write_text(target.read_text() + "\n\nOne more paragraph about benchmarks.\n")
    t0 = time.perf_counter()
    one = service.ingest()
    one_s = time.perf_counter() - t0

    write_results("ingest", {
        "corpus": f"fastapi docs + docs_src ({len(files)} files)",
        "model_load_s": round(load_s, 3),
        "ingest_s": round(ingest_s, 2),
        "files": totals["added"],
        "chunks": chunks,
        "files_per_s": round(totals["added"] / ingest_s, 2),
        "chunks_per_s": round(chunks / ingest_s, 2),
        "raw_embedder_chunks_per_s": round(len(texts) / raw_s, 2),
        "ingest_to_embedder_ratio": round((chunks / ingest_s) / (len(texts) / raw_s), 3),
        "noop_reingest_s": round(noop_s, 3),
        "one_file_changed_reingest_s": round(one_s, 3),
        "one_file_changed_chunks": one.totals()["chunks_embedded"],
    })
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
