"""Retrieval quality and cost of dense, lexical and hybrid search, through the product path.

    python bench/retrieval.py [--data-dir DIR] [--limit-queries N] [--ingest-only]

Each corpus is ingested ONCE with the local profile into a bench data dir
(default $TMPDIR/lightfast-bench-retrieval, kept between runs: ingest is incremental, so a re-run
embeds nothing) and every query goes through service.search in each mode:

- BEIR SciFact, full corpus (one file per document), nDCG@10 and recall@10;
  published nDCG@10: all-MiniLM-L6-v2 0.645, BM25 0.665.
- CoSQA dev: 500 natural-language questions over 6,267 Python functions (one
  file per function), MRR@10 and nDCG@10 (one relevant function per query).
- Identifiers: bench/identifier_queries.json, queries built from this repo's
  own symbols and error strings, each with the file that defines it; hit@1
  and MRR@10 over a copy of the repo's Python sources.
- Cost: hybrid vs dense query p50 on the SciFact namespace (over 10k
  chunks), and ingest chunks/s with vs without the lexical writes (a fast
  deterministic embedder, so the index writes are what is compared).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import ROOT, SHARED, local_config, percentile, write_results

MODES = ("dense", "lexical", "hybrid")
PUBLISHED = {"scifact_ndcg10_minilm": 0.645, "scifact_ndcg10_bm25": 0.665}
REPO_SOURCES = ("core", "lightfast_cli", "lightfast_tui", "mcp_server")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ndcg_at_10(ranked: list[str], relevant: dict[str, int]) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def mrr_at_10(ranked: list[str], relevant: set[str]) -> float:
    for i, doc in enumerate(ranked[:10]):
        if doc in relevant:
            return 1.0 / (i + 1)
    return 0.0


def ranked_files(hits, key) -> list[str]:
    """Hits to files, best chunk first (a file ranks by its best chunk)."""
    out: list[str] = []
    for hit in hits:
        name = key(hit.path)
        if name not in out:
            out.append(name)
    return out


# -- corpora ------------------------------------------------------------------------------------------

def write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def scifact(root: Path, limit: int):
    data = SHARED / "data" / "scifact"
    repo = root / "scifact"
    if not (repo / ".written").exists():
        with open(data / "corpus.jsonl") as fh:
            for line in fh:
                doc = json.loads(line)
                write_if_changed(repo / "corpus" / f"{doc['_id']}.txt", f"{doc['title']}\n\n{doc['text']}\n")
        (repo / ".written").write_text("")
    qrels: dict[str, dict[str, int]] = {}
    for line in (data / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, did, score = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(score)
    queries = {}
    with open(data / "queries.jsonl") as fh:
        for line in fh:
            q = json.loads(line)
            if q["_id"] in qrels:
                queries[q["_id"]] = q["text"]
    if limit:
        queries = dict(list(queries.items())[:limit])
    local_config(repo, '  - slug: scifact\n    include: ["corpus/*.txt"]\n'
                       '    chunking: {max_tokens: 256, overlap: 32}\n', organization="scifact")
    return repo, queries, qrels


def cosqa(root: Path, limit: int):
    data = SHARED / "data" / "cosqa-dev"
    repo = root / "cosqa"
    if not (repo / ".written").exists():
        code_map = json.loads((data / "code_idx_map.txt").read_text())
        for code, idx in code_map.items():
            write_if_changed(repo / "functions" / f"f{idx:05d}.py", code + "\n")
        (repo / ".written").write_text("")
    items = json.loads((data / "cosqa-retrieval-dev-500.json").read_text())
    queries = {item["idx"]: (item["doc"], f"f{item['retrieval_idx']:05d}") for item in items}
    if limit:
        queries = dict(list(queries.items())[:limit])
    local_config(repo, '  - slug: functions\n    include: ["functions/*.py"]\n', organization="cosqa")
    return repo, queries


def repo_copy(root: Path):
    """This repo's Python sources as they are now (the identifier queries' corpus)."""
    repo = root / "lightfast-src"
    wanted = {}
    for top in REPO_SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            wanted[path.relative_to(ROOT).as_posix()] = path.read_text()
    if repo.exists():
        for path in repo.rglob("*.py"):
            if path.relative_to(repo).as_posix() not in wanted:
                path.unlink()
    for rel, text in wanted.items():
        write_if_changed(repo / rel, text)
    local_config(repo, '  - slug: code\n    include: ["**/*.py"]\n', organization="lightfast")
    return repo


def open_service(repo: Path):
    from core.config import load_config
    from core.service import Lightfast

    return Lightfast(load_config(repo / "lightfast.yml"))


def ingest(name: str, repo: Path) -> dict:
    service = open_service(repo)
    t0 = time.perf_counter()
    report = service.ingest(force=True)
    seconds = time.perf_counter() - t0
    totals = report.totals()
    log(f"{name}: {totals}")
    chunks = sum(service.index.namespace_stats(r.namespace_name).vector_count
                 for r in service.namespace_records("store"))  # this corpus's own namespace
    return {"service": service, "chunks": chunks, "embedded_now": totals["chunks_embedded"],
            "ingest_s": round(seconds, 1)}


# -- quality ------------------------------------------------------------------------------------------

def run_queries(service, queries: dict[str, str], mode: str, top_k: int = 30):
    out, notes = {}, set()
    for qid, text in queries.items():
        result = service.search(text, top_k=top_k, mode=mode)
        out[qid] = result.hits
        notes.update(result.notes)
    return out, sorted(notes)


def eval_scifact(service, queries, qrels) -> dict:
    figures = {}
    for mode in MODES:
        hits, notes = run_queries(service, queries, mode)
        ndcgs, recalls = [], []
        for qid, found in hits.items():
            ranked = ranked_files(found, lambda p: Path(p).stem)
            relevant = qrels[qid]
            ndcgs.append(ndcg_at_10(ranked, relevant))
            recalls.append(len(set(ranked[:10]) & set(relevant)) / len(relevant))
        figures[mode] = {"ndcg_at_10": round(statistics.fmean(ndcgs), 4),
                         "recall_at_10": round(statistics.fmean(recalls), 4), "notes": notes}
        log(f"scifact {mode}: {figures[mode]}")
    return figures


def eval_cosqa(service, queries) -> dict:
    figures = {}
    texts = {qid: text for qid, (text, _) in queries.items()}
    for mode in MODES:
        hits, notes = run_queries(service, texts, mode)
        mrrs, ndcgs = [], []
        for qid, found in hits.items():
            gold = queries[qid][1]
            ranked = ranked_files(found, lambda p: Path(p).stem)
            mrrs.append(mrr_at_10(ranked, {gold}))
            ndcgs.append(ndcg_at_10(ranked, {gold: 1}))
        figures[mode] = {"mrr_at_10": round(statistics.fmean(mrrs), 4),
                         "ndcg_at_10": round(statistics.fmean(ndcgs), 4), "notes": notes}
        log(f"cosqa {mode}: {figures[mode]}")
    return figures


def eval_identifiers(service, queries: list[dict]) -> dict:
    figures = {}
    texts = {str(i): q["query"] for i, q in enumerate(queries)}
    for mode in MODES:
        hits, notes = run_queries(service, texts, mode)
        at1, mrrs, misses = [], [], []
        for i, q in enumerate(queries):
            ranked = ranked_files(hits[str(i)], lambda p: p)
            at1.append(1.0 if ranked[:1] == [q["file"]] else 0.0)
            mrrs.append(mrr_at_10(ranked, {q["file"]}))
            if not at1[-1]:
                misses.append({"query": q["query"], "expected": q["file"], "got": ranked[:3]})
        figures[mode] = {"hit_at_1": round(statistics.fmean(at1), 4), "mrr_at_10": round(statistics.fmean(mrrs), 4),
                         "misses": misses if mode == "hybrid" else len(misses), "notes": notes}
        log(f"identifiers {mode}: hit@1 {figures[mode]['hit_at_1']}")
    return figures


# -- cost ---------------------------------------------------------------------------------------------

def query_latency(service, queries: list[str], rounds: int = 3) -> dict:
    """p50 of service.search per mode, the modes interleaved query by query (same load for each)."""
    times: dict[str, list[float]] = {m: [] for m in ("dense", "hybrid")}
    for mode in times:  # warm up: model loaded, views mapped, FTS pages cached
        service.search(queries[0], top_k=10, mode=mode)
    for _ in range(rounds):
        for text in queries:
            for mode in times:
                t0 = time.perf_counter()
                service.search(text, top_k=10, mode=mode)
                times[mode].append(time.perf_counter() - t0)
    dense, hybrid = (percentile(times[m], 50) * 1000 for m in ("dense", "hybrid"))
    return {"queries": len(queries) * rounds, "dense_p50_ms": round(dense, 2), "hybrid_p50_ms": round(hybrid, 2),
            "hybrid_over_dense": round(hybrid / dense, 3)}


class FastEmbedder:
    """Deterministic vectors from a hash of the text: ingest cost without the model."""

    model_name = "bench-hash"
    dimension = 384
    max_tokens = 256
    batch_size = 256

    def tokenizer_counts(self, texts):
        return [max(1, len(t) // 4) for t in texts]

    def embed_documents(self, texts, on_batch=None):
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            out[i] = np.random.default_rng(seed).standard_normal(self.dimension, dtype=np.float32)
        if on_batch:
            on_batch(len(texts))
        return out

    def embed_query(self, text):
        return self.embed_documents([text])[0]


def ingest_throughput(source: Path, work: Path, rounds: int = 2) -> dict:
    """Chunks/s of a full ingest of the SciFact files with and without the lexical writes,
    alternating, best of `rounds` each (the fastest run is the one least disturbed by other load)."""
    from core.config import load_config
    from core.service import Lightfast
    from core.vectors.local import LocalIndex

    write_lexical, remove_lexical = LocalIndex.__dict__["_write_lexical"], LocalIndex.__dict__["_remove_lexical"]
    rates: dict[str, list[float]] = {"with_lexical": [], "without_lexical": []}
    chunks = 0
    for _ in range(rounds):
        for variant in rates:
            home = work / f"ingest-{variant}"
            shutil.rmtree(home, ignore_errors=True)
            if variant == "without_lexical":
                LocalIndex._write_lexical = staticmethod(lambda conn, rows: None)
                LocalIndex._remove_lexical = staticmethod(lambda conn, ids: None)
            try:
                service = Lightfast(load_config(source / "lightfast.yml"), home, embedder=FastEmbedder())
                t0 = time.perf_counter()
                report = service.ingest(force=True)
                seconds = time.perf_counter() - t0
            finally:
                LocalIndex._write_lexical, LocalIndex._remove_lexical = write_lexical, remove_lexical
            chunks = report.totals()["chunks_embedded"]
            rates[variant].append(chunks / seconds)
            shutil.rmtree(home, ignore_errors=True)
    best = {k: max(v) for k, v in rates.items()}
    return {"chunks": chunks, "rounds": rounds,
            "with_lexical_chunks_per_s": round(best["with_lexical"], 1),
            "without_lexical_chunks_per_s": round(best["without_lexical"], 1),
            "ratio": round(best["with_lexical"] / best["without_lexical"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "lightfast-bench-retrieval")
    parser.add_argument("--limit-queries", type=int, default=0)
    parser.add_argument("--ingest-only", action="store_true", help="ingest the corpora and stop")
    args = parser.parse_args()
    root = args.data_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.environ["LIGHTFAST_HOME"] = str(root / "home")

    sci_repo, sci_queries, sci_qrels = scifact(root, args.limit_queries)
    cos_repo, cos_queries = cosqa(root, args.limit_queries)
    src_repo = repo_copy(root)
    corpora = {}
    for name, repo in (("identifiers", src_repo), ("cosqa", cos_repo), ("scifact", sci_repo)):
        corpora[name] = ingest(name, repo)
    if args.ingest_only:
        return
    id_queries = json.loads((ROOT / "bench" / "identifier_queries.json").read_text())
    if args.limit_queries:
        id_queries = id_queries[: args.limit_queries]

    sci, cos, ids = corpora["scifact"], corpora["cosqa"], corpora["identifiers"]
    results = {
        "scifact": {"dataset": "BEIR SciFact test, full corpus", "chunks": sci["chunks"],
                    "queries": len(sci_queries), **eval_scifact(sci["service"], sci_queries, sci_qrels),
                    "published": PUBLISHED},
        "cosqa": {"dataset": "CoSQA dev (500 queries, 6,267 functions)", "chunks": cos["chunks"],
                  "queries": len(cos_queries), **eval_cosqa(cos["service"], cos_queries)},
        "identifiers": {"dataset": "bench/identifier_queries.json over this repo's Python sources",
                        "chunks": ids["chunks"], "queries": len(id_queries),
                        **eval_identifiers(ids["service"], id_queries)},
    }
    log("latency")
    results["query_latency"] = {"namespace": "scifact", "chunks": sci["chunks"],
                                **query_latency(sci["service"], list(sci_queries.values())[:100])}
    log("ingest throughput")
    results["ingest_throughput"] = {"corpus": "scifact files, fast hash embedder",
                                    **ingest_throughput(sci_repo, root)}
    results["ingest_s"] = {k: v["ingest_s"] for k, v in corpora.items() if v["embedded_now"]}
    h = results
    results["goals"] = {
        "scifact_hybrid_ndcg10_ge_0.70": h["scifact"]["hybrid"]["ndcg_at_10"] >= 0.70,
        "cosqa_hybrid_ge_dense_mrr10": h["cosqa"]["hybrid"]["mrr_at_10"] >= h["cosqa"]["dense"]["mrr_at_10"],
        "cosqa_hybrid_above_lexical_mrr10": h["cosqa"]["hybrid"]["mrr_at_10"] > h["cosqa"]["lexical"]["mrr_at_10"],
        "identifiers_hybrid_hit1_ge_0.9": h["identifiers"]["hybrid"]["hit_at_1"] >= 0.9,
        "hybrid_p50_le_1.5x_dense": h["query_latency"]["hybrid_over_dense"] <= 1.5,
        "ingest_ge_0.9x_without_lexical": h["ingest_throughput"]["ratio"] >= 0.9,
    }
    write_results("retrieval", results)


if __name__ == "__main__":
    main()
