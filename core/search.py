"""Search one store, a workspace or an organization: the design's searchAcrossWorkspaces.

Embed the query once, query each namespace in parallel (each query touches
only its own namespace), merge, rerank, and log each namespace's latency to
the mirror for monitoring. A namespace that fails is reported beside the hits
instead of failing the whole search.

The query log is written off the hot path: a search hands its rows to one
background writer per process (QueryLog), which writes them in order, a
transaction per mirror per batch. flush_query_log() waits until every row
handed over so far is written; it runs at interpreter exit too, so a
`lightfast search` process never exits with its rows unwritten.
"""

from __future__ import annotations

import atexit
import logging
import queue
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable, Literal

import pathspec

from core.embeddings.base import Embedder
from core.errors import BackendError, InvalidQueryError, LightfastError
from core.fusion import contains_phrase, definition_rank, fuse, query_identifiers
from core.mirror import Mirror
from core.records import NamespaceRecord
from core.rerank import Reranker, ScoreFusionReranker
from core.usage import metering
from core.vectors.base import VectorIndex

log = logging.getLogger("lightfast.search")

MAX_QUERY_CHARS = 4000
MAX_TOP_K = 100
MODES = ("hybrid", "dense", "lexical")
SearchMode = Literal["hybrid", "dense", "lexical"]
EXIT_FLUSH_S = 10.0  # the longest interpreter exit waits for unwritten query-log rows
#: Why a namespace may have no lexical index, and what gives it one.
NO_LEXICAL = ("a local store gets one at its next `lightfast ingest`; a Pinecone index gets its sparse "
              "index beside it at its next ingest")


class QueryLog:
    """A background writer of query-log rows: submit() never waits on SQLite."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, mirror: Mirror, rows: list[dict]) -> None:
        if not rows:
            return
        self._queue.put((mirror, rows))
        with self._lock:
            if self._thread is None or not self._thread.is_alive():  # first use, or after a fork
                self._thread = threading.Thread(target=self._run, name="lightfast-query-log", daemon=True)
                self._thread.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row submitted so far is written (or failed and was logged).
        False if timeout seconds passed first."""
        if timeout is None:
            self._queue.join()
            return True
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:  # drain what queued up meanwhile: one transaction per mirror
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            by_mirror: dict[int, tuple[Mirror, list[dict]]] = {}
            for mirror, rows in batch:
                by_mirror.setdefault(id(mirror), (mirror, []))[1].extend(rows)
            for mirror, rows in by_mirror.values():
                try:
                    mirror.log_queries(rows)
                except sqlite3.Error as exc:  # monitoring must never fail a search (full or read-only disk)
                    log.warning("query latency not logged: %s", exc)
                except Exception:  # our bug: say so, keep the writer alive
                    log.exception("query latency not logged")
            for _ in batch:
                self._queue.task_done()


QUERY_LOG = QueryLog()


def flush_query_log(timeout: float | None = None) -> bool:
    """Wait until this process's query-log rows are in the mirror (tests, stats, exit)."""
    return QUERY_LOG.flush(timeout)


atexit.register(flush_query_log, EXIT_FLUSH_S)


@dataclass(frozen=True)
class Hit:
    namespace: str
    store: str
    path: str
    start_line: int
    end_line: int
    score: float
    text: str
    vector_id: str
    headings: str = ""
    content_hash: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    namespaces: list[str]
    failed: dict[str, str] = field(default_factory=dict)  # namespace -> error
    latency_ms: dict[str, float] = field(default_factory=dict)
    #: What a face should tell the user about how the answer was made (e.g. a rerank fallback).
    notes: list[str] = field(default_factory=list)
    #: How the hits were found: "hybrid", "dense" or "lexical" (core.search.MODES).
    mode: str = "hybrid"
    #: In hybrid mode, the weight the lexical side got for this query (core/fusion.py).
    lexical_weight: float | None = None


def validate_query(query: str, top_k: int, mode: str = "hybrid") -> str:
    query = (query or "").strip()
    if not query:
        raise InvalidQueryError("the query is empty: give some words to search for")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidQueryError(
            f"the query has {len(query):,} characters; the limit is {MAX_QUERY_CHARS:,}: shorten it"
        )
    if not 1 <= top_k <= MAX_TOP_K:
        raise InvalidQueryError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}")
    if mode not in MODES:
        raise InvalidQueryError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
    return query


def _hit(ns: NamespaceRecord, match, score: float) -> Hit:
    md = match.metadata
    return Hit(
        namespace=ns.namespace_name, store=ns.store_slug, path=str(md.get("path", "")),
        start_line=int(md.get("start_line", 0)), end_line=int(md.get("end_line", 0)), score=float(score),
        text=str(md.get("text", "")), vector_id=match.id, headings=str(md.get("headings", "")),
        content_hash=str(md.get("content_hash", "")),
    )


def search_namespaces(
    *,
    mirror: Mirror,
    index: VectorIndex,
    embedder: Embedder,
    reranker: Reranker,
    namespaces: list[NamespaceRecord],
    query: str,
    top_k: int = 10,
    path_glob: str | None = None,
    route: Callable[[dict], tuple[VectorIndex, str]] | None = None,
    mode: str = "hybrid",
) -> SearchResult:
    """route maps a namespace record to the (index, namespace) to read; by default the
    shared index and the record's namespace (the legacy layout routes elsewhere).

    query, top_k and mode come checked and the query stripped (validate_query, called once, by
    Lightfast.search).
    mode: "dense" (vectors), "lexical" (BM25 over identifier-aware terms, core/lexical.py) or
    "hybrid" (both, fused by core/fusion.py; chunks defining a name the query asks for first).
    """
    names = [ns.namespace_name for ns in namespaces]
    result = SearchResult(query, [], names, mode=mode)
    if not namespaces:
        return result
    glob = pathspec.PathSpec.from_lines("gitignore", [path_glob]) if path_glob else None
    # Over-fetch when a glob will drop hits, or when a reranker re-orders candidates.
    fetch_k = min(max(top_k * (5 if glob else 2), 20), 1000)
    route = route or (lambda ns: (index, ns.namespace_name))

    def timed(fn, ns: NamespaceRecord, arg):
        target, name = route(ns)
        with metering() as usage:  # this namespace's read units (in this worker thread)
            t0 = time.perf_counter()
            matches = getattr(target, fn)(name, arg, fetch_k)
            ms = (time.perf_counter() - t0) * 1000
        return matches, ms, usage.read_units

    hits: dict[tuple[str, str], Hit] = {}
    symbols: dict[tuple[str, str], list] = {}
    dense_scores: dict[tuple[str, str], float] = {}
    lexical_scores: dict[tuple[str, str], float] = {}
    no_lexical: list[str] = []
    logs = []
    sides = {"dense": {}, "lexical": {}}
    with ThreadPoolExecutor(max_workers=min(8, 2 * len(namespaces))) as pool:
        if mode != "dense":  # the word queries run while the query is embedded
            sides["lexical"] = {ns.namespace_name: pool.submit(timed, "lexical_query", ns, query)
                                for ns in namespaces}
        with metering() as search_usage:  # the query's embedding and the rerank, as billed
            if mode != "lexical":
                qvec = embedder.embed_query(query)
        if mode != "lexical":
            sides["dense"] = {ns.namespace_name: pool.submit(timed, "query", ns, qvec) for ns in namespaces}
        for ns in namespaces:
            name = ns.namespace_name
            try:  # a namespace that fails is reported, never fails the whole search
                dense, dense_ms, dense_units = sides["dense"][name].result() if sides["dense"] else ([], 0.0, None)
                lexical, lexical_ms, lexical_units = (sides["lexical"][name].result() if sides["lexical"]
                                                      else ([], 0.0, None))
            except (LightfastError, sqlite3.Error, OSError) as exc:  # a bug of ours is not a namespace failure
                result.failed[name] = str(exc) or exc.__class__.__name__
                continue
            if lexical is None:
                if mode == "lexical":
                    result.failed[name] = (f"namespace '{name}' has no lexical index ({NO_LEXICAL})")
                    continue
                no_lexical.append(name)
                lexical = []
            ms = max(dense_ms, lexical_ms)  # the two ran side by side
            result.latency_ms[name] = ms
            for scores, matches in ((dense_scores, dense), (lexical_scores, lexical)):
                for m in matches:
                    if glob is not None and not glob.match_file(str(m.metadata.get("path", ""))):
                        continue
                    key = (name, m.id)
                    scores[key] = float(m.score)
                    hits.setdefault(key, _hit(ns, m, m.score))
                    symbols.setdefault(key, m.metadata.get("symbols") or [])
            logs.append({
                "namespace_id": ns.id, "namespace_name": name,
                "environment": ns.environment, "latency_ms": ms, "top_k": top_k,
                "hits": len(dense) + len(lexical), "read_units": _sum_units(dense_units, lexical_units),
            })
    if no_lexical:
        result.notes.append(
            f"no lexical index in {', '.join(no_lexical)} ({NO_LEXICAL}): those namespaces were searched "
            "by vectors alone")
    scores = _fused(result, query, mode, dense_scores, lexical_scores, symbols,
                    {k: h.text for k, h in hits.items()})
    if scores:
        keys = list(scores)
        texts, values = [hits[k].text for k in keys], [scores[k] for k in keys]
        try:
            with metering() as rerank_usage:
                order = reranker.rerank(query, texts, values, top_k)
            search_usage.add("rerank_units", rerank_usage.rerank_units)
        except BackendError as exc:  # e.g. a rerank quota (trial keys: 10 calls a minute): the hits are here
            order = ScoreFusionReranker().rerank(query, texts, values, top_k)
            how = "vector score" if mode == "dense" or not lexical_scores else "fused score"
            note = f"rerank unavailable ({exc}); hits are merged by {how} instead"
            result.notes.append(note)
            log.warning(note)
        result.hits = [Hit(**{**hits[keys[i]].to_dict(), "score": float(score)}) for i, score in order]
    if logs:  # one search's embedding and rerank go on its first row (sums stay right)
        logs[0].update(embed_tokens=search_usage.embed_tokens, rerank_units=search_usage.rerank_units)
    QUERY_LOG.submit(mirror, logs)  # written in the background, never on the hot path
    return result


def _sum_units(*units: float | None) -> float | None:
    """Read units of the two sides (Pinecone's dense and sparse queries); None when neither reports."""
    known = [u for u in units if u is not None]
    return sum(known) if known else None


def _fused(result: SearchResult, query: str, mode: str, dense: dict, lexical: dict, symbols: dict,
           texts: dict) -> dict:
    """Each candidate's score in this mode. In hybrid and lexical modes exact evidence comes
    first: chunks that define a name the query asks for, or hold its words verbatim."""
    if mode == "dense":
        return dense
    if mode == "lexical":
        scores = dict(lexical)
    else:
        scores, result.lexical_weight = fuse(query, dense, lexical)
    if not scores:
        return scores
    wanted = query_identifiers(query)
    span = max(scores.values()) - min(scores.values()) + 1.0
    for key in scores:
        rank = definition_rank(wanted, symbols.get(key, ())) if wanted else 0
        rank += contains_phrase(query, texts[key])
        if rank:
            scores[key] += rank * span  # above every other candidate; the full name above a part
    return scores
