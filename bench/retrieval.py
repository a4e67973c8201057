"""Retrieval quality through the product path: BEIR SciFact, nDCG@10 and recall@10.

    python bench/retrieval.py [--limit-queries N]

Each SciFact document (title + abstract) becomes one file in a temp repo, is
ingested with the local profile, and the test queries go through
service.search; hits map back to documents by their best chunk. The
published nDCG@10 for all-MiniLM-L6-v2 on SciFact is 0.645.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import SHARED, local_config, write_results

PUBLISHED_NDCG10 = 0.645


def ndcg_at_10(ranked: list[str], relevant: dict[str, int]) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit-queries", type=int, default=0)
    args = parser.parse_args()
    data = SHARED / "data" / "scifact"
    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-scifact-"))
    os.environ["LIGHTFAST_HOME"] = str(tmp / "home")
    repo = tmp / "repo"
    (repo / "corpus").mkdir(parents=True)
    with open(data / "corpus.jsonl") as fh:
        for line in fh:
            doc = json.loads(line)
            (repo / "corpus" / f"{doc['_id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}\n")
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
    if args.limit_queries:
        queries = dict(list(queries.items())[: args.limit_queries])

    config_path = local_config(
        repo, '  - slug: scifact\n    include: ["corpus/*.txt"]\n    chunking: {max_tokens: 256, overlap: 32}\n')
    from core.config import load_config
    from core.service import Lightfast

    service = Lightfast(load_config(config_path))
    t0 = time.perf_counter()
    report = service.ingest()
    ingest_s = time.perf_counter() - t0

    ndcgs, recalls = [], []
    t0 = time.perf_counter()
    for qid, text in queries.items():
        hits = service.search(text, top_k=50).hits
        ranked: list[str] = []
        for hit in hits:  # best chunk per document decides its rank
            doc_id = Path(hit.path).stem
            if doc_id not in ranked:
                ranked.append(doc_id)
        relevant = qrels[qid]
        ndcgs.append(ndcg_at_10(ranked, relevant))
        recalls.append(len(set(ranked[:10]) & set(relevant)) / len(relevant))
    search_s = time.perf_counter() - t0
    ndcg = sum(ndcgs) / len(ndcgs)
    write_results("retrieval", {
        "dataset": "BEIR SciFact test",
        "documents": report.totals()["added"],
        "chunks": report.totals()["chunks_embedded"],
        "queries": len(queries),
        "ingest_s": round(ingest_s, 1),
        "search_s": round(search_s, 2),
        "ndcg_at_10": round(ndcg, 4),
        "recall_at_10": round(sum(recalls) / len(recalls), 4),
        "published_ndcg_at_10": PUBLISHED_NDCG10,
        "meets_published": ndcg >= PUBLISHED_NDCG10,
    })
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
