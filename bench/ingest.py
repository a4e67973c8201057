"""Ingest throughput on real docs corpora, against the raw embedder on the same chunks, in one run.

    python bench/ingest.py [--corpus fastapi --corpus tldr-common] [--limit N]

For each corpus under ../shared/data/corpora (fastapi: its .md and .py files
as two stores; tldr-common: 4,613 small pages, CC BY 4.0, one store), in a
child process of its own (so peak RSS is that corpus's): copy it into a temp
repo, ingest it with the local profile (real model, the default engine), then
embed the very same chunk texts (read back from the index) with the bare
embedder in one call, then ingest again with --full (every file read, chunked,
embedded and written again): the raw time over the mean of the two ingests
says how much of the embedder's speed ingest keeps (wall time, and CPU time,
which the neighbours' load moves far less). Then a no-op re-ingest and a one-file-changed re-ingest. The load
average is recorded around each step: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SHARED, local_config, write_results

CORPORA = {
    "fastapi": ("fastapi docs + docs_src", (".md", ".py"),
                '  - slug: docs\n    include: ["**/*.md"]\n  - slug: code\n    include: ["**/*.py"]\n'),
    "tldr-common": ("tldr pages/common (CC BY 4.0)", (".md",), '  - slug: pages\n    include: ["**/*.md"]\n'),
}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def chunk_texts(service) -> list[str]:
    """Every chunk's embedding text, as ingest embedded it, read back from the index."""
    from core.chunking import Chunk

    texts = []
    for record in service.namespace_records("store"):
        ids, token = [], None
        while True:
            page, token = service.index.list_ids(record.namespace_name, limit=1000, pagination_token=token)
            ids.extend(page)
            if not token:
                break
        for start in range(0, len(ids), 1000):
            fetched = service.index.fetch(record.namespace_name, ids[start:start + 1000])
            texts.extend(
                Chunk(0, r.metadata["text"], 0, 0, tuple(filter(None, r.metadata["headings"].split(" > "))))
                .embedding_text()
                for r in fetched.values()
            )
    return texts


def measure(name: str, limit: int) -> dict:
    """One corpus, in this (child) process."""
    label, suffixes, stores = CORPORA[name]
    tmp = Path(tempfile.mkdtemp(prefix=f"lf-bench-ingest-{name}-"))
    os.environ["LIGHTFAST_HOME"] = str(tmp / "home")
    repo = tmp / "repo"
    corpus = SHARED / "data" / "corpora" / name
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix in suffixes)
    if limit:  # an even sample across the corpus, so it keeps the corpus's mix of files
        files = files[:: max(1, len(files) // limit)][:limit]
    for src in files:
        dst = repo / src.relative_to(corpus)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    config_path = local_config(repo, stores)

    from core.config import load_config
    from core.service import Lightfast

    service = Lightfast(load_config(config_path))
    t0 = time.perf_counter()
    service.embedder.warm()
    load_s = time.perf_counter() - t0

    out: dict = {"corpus": f"{label} ({len(files)} files)", "engine": service.embedder.engine,
                 "model_load_s": round(load_s, 3), "load_average_before_ingest": load()}
    t0, c0 = time.perf_counter(), time.process_time()
    report = service.ingest()
    ingest_s, ingest_cpu = time.perf_counter() - t0, time.process_time() - c0
    out["peak_rss_mb_ingest"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["load_average_after_ingest"] = load()
    totals = report.totals()
    chunks = totals["chunks_embedded"]

    texts = chunk_texts(service)
    assert len(texts) == chunks, (len(texts), chunks)
    t0, c0 = time.perf_counter(), time.process_time()
    service.embedder.embed_documents(texts)
    raw_s, raw_cpu = time.perf_counter() - t0, time.process_time() - c0

    # The raw pass sits between two ingests (the second a full re-ingest: every file read,
    # chunked, embedded and written again), so a drift in the neighbours' load weighs on both sides.
    out["load_average_after_raw"] = load()
    t0, c0 = time.perf_counter(), time.process_time()
    again = service.ingest(full=True)
    again_s, again_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert again.totals()["chunks_embedded"] == chunks

    t0 = time.perf_counter()
    noop = service.ingest()
    noop_s = time.perf_counter() - t0
    assert noop.totals()["chunks_embedded"] == 0

    candidates = sorted(repo.rglob(f"*{suffixes[0]}"))
    target = candidates[len(candidates) // 2]
    target.write_text(target.read_text() + "\n\nOne more paragraph about benchmarks.\n")
    t0 = time.perf_counter()
    one = service.ingest()
    one_s = time.perf_counter() - t0
    assert one.totals()["changed"] == 1

    out.update({
        "ingest_s": round(ingest_s, 2),
        "full_reingest_s": round(again_s, 2),
        "files": totals["added"],
        "chunks": chunks,
        "files_per_s": round(totals["added"] / ingest_s, 2),
        "chunks_per_s": round(chunks / ingest_s, 2),
        "raw_embedder_s": round(raw_s, 2),
        "raw_embedder_chunks_per_s": round(len(texts) / raw_s, 2),
        "ingest_over_raw_embedder": round(raw_s / ((ingest_s + again_s) / 2), 3),
        # CPU-seconds (every thread of the process): what ingest adds to the embedding itself,
        # a figure the neighbours' load moves far less than wall time.
        "ingest_cpu_s": round(ingest_cpu, 2),
        "raw_embedder_cpu_s": round(raw_cpu, 2),
        "full_reingest_cpu_s": round(again_cpu, 2),
        "ingest_over_raw_embedder_per_cpu_s": round(raw_cpu / ((ingest_cpu + again_cpu) / 2), 3),
        "noop_reingest_s": round(noop_s, 3),
        "one_file_changed_reingest_s": round(one_s, 3),
        "one_file_changed_chunks": one.totals()["chunks_embedded"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    })
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA),
                        help="a corpus to measure (repeatable; default: all)")
    parser.add_argument("--limit", type=int, default=0, help="an even sample of N files of each corpus (0: all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.limit)))
        return
    figures: dict = {"goal": "ingest chunks/s >= 0.95x the raw embedder's on the same chunks",
                     "load_average_at_start": load(), "corpora": {}}
    for name in args.corpus or list(CORPORA):
        done = subprocess.run([sys.executable, __file__, "--child", name, "--limit", str(args.limit)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"{name}: the measuring process failed (exit {done.returncode})")
        figures["corpora"][name] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["ingest_over_raw_embedder"] = {n: c["ingest_over_raw_embedder"] for n, c in figures["corpora"].items()}
    figures["load_average_at_end"] = load()
    write_results("ingest", figures)


if __name__ == "__main__":
    main()
