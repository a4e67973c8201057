"""Hybrid retrieval on the Pinecone path beside the local one, on the same SciFact vectors.

    python bench/retrieval.py --ingest-only          # once: SciFact ingested locally (MiniLM)
    python bench/retrieval_pinecone.py [--data-dir DIR] [--limit-queries N]

The SciFact namespace that bench/retrieval.py ingested (DIR, default
$TMPDIR/lightfast-bench-retrieval, read from a copy if you pass one) is copied,
record by record (the same ids, vectors and metadata), into the local
Pinecone wire server (tests/wire/pinecone_server.py) through the product's
own PineconeIndex.upsert, which writes the sparse twins (core/sparse.py).
Then every query runs through core.search.search_namespaces in each mode
twice, side by side: once against the local index (FTS5 BM25 words), once
against the Pinecone index (sparse dotproduct words), with the same query
embedding and the same fusion and score merge (no rerank on either side, so
only the word side differs). Also, in-process, what a corpus idf on the query
side would give the sparse words alone (not shipped: it needs document
frequencies per namespace, which Pinecone does not keep; see core/sparse.py).
Output: bench/results/retrieval_pinecone.json.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import statistics
import tempfile
from pathlib import Path

from _common import ROOT, write_results
from retrieval import MODES, log, ndcg_at_10, open_service, ranked_files, scifact

KEY = "bench-key"


class SameQueryVectors:
    """The service's embedder, each query embedded once for both paths."""

    def __init__(self, embedder):
        self.inner = embedder
        self.model_name, self.dimension = embedder.model_name, embedder.dimension

    @functools.lru_cache(maxsize=None)
    def embed_query(self, text):
        return self.inner.embed_query(text)


def copy_namespace(local, pinecone_index, namespace: str) -> int:
    ids, token = [], None
    while True:
        page, token = local.list_ids(namespace, limit=100, pagination_token=token)
        ids += page
        if not token:
            break
    for start in range(0, len(ids), 500):
        records = local.fetch(namespace, ids[start : start + 500])
        pinecone_index.upsert(namespace, list(records.values()))
    return len(ids)


def lexical_with_idf(sparse_plane, namespace: str, queries: dict, qrels: dict, idf: bool) -> float:
    """nDCG@10 of the sparse words alone, scored here from the records the wire server holds,
    with uniform query weights (what Pinecone does: a check of the wire figure) or corpus idf."""
    from core.sparse import query_vector

    records = sparse_plane.sparse[namespace]
    files = {vid: Path(sparse_plane.namespaces[namespace][vid][1]["path"]).stem for vid in records}
    postings: dict[int, list[tuple[str, float]]] = {}
    for vid, weights in records.items():
        for index, weight in weights.items():
            postings.setdefault(index, []).append((vid, weight))
    n = len(records)
    out = []
    for qid, text in queries.items():
        scores: dict[str, float] = {}
        for index in query_vector(text).indices:
            found = postings.get(index, [])
            w = math.log(1 + (n - len(found) + 0.5) / (len(found) + 0.5)) if idf else 1.0
            for vid, weight in found:
                scores[vid] = scores.get(vid, 0.0) + w * weight
        ranked: list[str] = []
        for vid in sorted(scores, key=lambda k: (-scores[k], k)):
            if files[vid] not in ranked:
                ranked.append(files[vid])
        out.append(ndcg_at_10(ranked, qrels[qid]))
    return round(statistics.fmean(out), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "lightfast-bench-retrieval")
    parser.add_argument("--limit-queries", type=int, default=0)
    args = parser.parse_args()
    root = args.data_dir.resolve()
    os.environ["LIGHTFAST_HOME"] = str(root / "home")

    from core.rerank import ScoreFusionReranker
    from core.retry import RetryPolicy
    from core.search import flush_query_log, search_namespaces
    from core.vectors.base import IndexSpec
    from core.vectors.pinecone import PineconeBackend, sparse_index_name
    from tests.wire.pinecone_server import PineconeServer

    repo, queries, qrels = scifact(root, args.limit_queries)
    service = open_service(repo)
    records = service.namespace_records("store")
    if not records:
        raise SystemExit(f"no SciFact namespace under {root}: run `python bench/retrieval.py --ingest-only` first")
    namespace = records[0]["namespace_name"]
    embedder = SameQueryVectors(service.embedder)
    with PineconeServer(api_key=KEY) as server:
        backend = PineconeBackend(KEY, host=server.url, retry=RetryPolicy(), timeout=120)
        index = backend.ensure_index(IndexSpec("bench-scifact", service.profile.dimension))
        log("copying the namespace into the Pinecone wire server")
        chunks = copy_namespace(service.index, index, namespace)
        dense_plane, sparse_plane = server.plane("bench-scifact"), server.plane(sparse_index_name("bench-scifact"))
        nonzero = [len(v) for v in sparse_plane.sparse[namespace].values()]
        paths = {"local": service.index, "pinecone": index}
        figures: dict = {}
        for mode in MODES:
            ndcgs: dict[str, list[float]] = {p: [] for p in paths}
            agree = 0
            for qid, text in queries.items():
                tops = {}
                for path, target in paths.items():
                    result = search_namespaces(mirror=service.mirror, index=target, embedder=embedder,
                                               reranker=ScoreFusionReranker(), namespaces=records, query=text,
                                               top_k=30, mode=mode)
                    ranked = ranked_files(result.hits, lambda p: Path(p).stem)
                    ndcgs[path].append(ndcg_at_10(ranked, qrels[qid]))
                    tops[path] = ranked[:1]
                agree += tops["local"] == tops["pinecone"]
            figures[mode] = {path: round(statistics.fmean(v), 4) for path, v in ndcgs.items()}
            figures[mode]["same_top1_share"] = round(agree / len(queries), 4)
            log(f"{mode}: {figures[mode]}")
        figures["lexical"]["pinecone_rescored_here"] = lexical_with_idf(sparse_plane, namespace, queries, qrels, False)
        figures["lexical"]["pinecone_with_corpus_idf_not_shipped"] = lexical_with_idf(
            sparse_plane, namespace, queries, qrels, True)
        log(f"lexical, scored here: {figures['lexical']}")
        flush_query_log()
        results = {
            "dataset": "BEIR SciFact test, full corpus (bench/retrieval.py's ingest, all-MiniLM-L6-v2)",
            "chunks": chunks, "queries": len(queries), "ndcg_at_10": figures,
            "reranker": "none (score merge) on both paths: only the word side differs",
            "word_side": {"local": "SQLite FTS5 BM25 (idf, Porter stemming), core/lexical.py",
                          "pinecone": "sparse index, BM25 document weights, uniform query weights, "
                                      "plural folding (core/sparse.py)"},
            "sparse": {"nonzero_p50": statistics.median(nonzero), "nonzero_max": max(nonzero),
                       "upsert_requests_dense": len(dense_plane.upsert_batches),
                       "upsert_requests_sparse": len(sparse_plane.upsert_batches),
                       "upsert_mb_dense": round(sum(dense_plane.upsert_bytes) / 2**20, 1),
                       "upsert_mb_sparse": round(sum(sparse_plane.upsert_bytes) / 2**20, 1)},
        }
    write_results("retrieval_pinecone", results)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(ROOT))
    main()
