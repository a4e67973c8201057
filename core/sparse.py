"""Sparse vectors for Pinecone's lexical side: the local lexical index's terms, BM25-weighted.

The terms are core/lexical.py's (whole identifiers, dotted pieces, snake_case
and camelCase parts; path and heading terms, defined symbols, body), so a
Pinecone store and a local one match the same words. Each term is hashed to a
stable 32-bit index (BLAKE2b, 4 bytes, little-endian: the same on every
machine and Python run; two terms that collide share one weight).

Document side (BM25's saturated term frequency with length normalisation):
    w(t) = tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / REFERENCE_TERMS))
where tf counts a term once per occurrence in the body, twice in the path and
four times in the symbols (core.lexical.WEIGHTS, as FTS5 weighs its columns),
and length is the chunk's weighted term count. REFERENCE_TERMS stands in for
the corpus's average length: a fixed figure, as chunks are of bounded size.

Query side: every distinct term (stopwords dropped) weighs 1. BM25's idf
needs document frequencies over the namespace, which Pinecone does not
expose and which a stats record would have to keep exact through every
delete; uniform query weights need nothing, and keep scores comparable across
namespaces (a per-namespace idf would weigh the same word differently in each
store a search merges). bench/retrieval_pinecone.py measures what
this costs against the local FTS5 BM25 (which has idf and Porter stemming)
on the same vectors: bench/results/retrieval_pinecone.json. Plural endings are folded
(`indexes` and `index`, `queries` and `query`) on both sides, a light stand-in
for FTS5's Porter stemmer.

Pinecone takes at most MAX_NONZERO values per sparse vector: a longer chunk
keeps its highest-weighted terms.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

from core.lexical import MAX_QUERY_TERMS, STOPWORDS, WEIGHTS, row_terms, terms

K1 = 1.2
B = 0.75
#: The length (weighted terms) a chunk is normalised against: about a chunk's typical length.
REFERENCE_TERMS = 300.0
#: Pinecone's limit on non-zero values in one sparse vector.
MAX_NONZERO = 1000


@dataclass(frozen=True)
class SparseVector:
    """Indices (distinct, ascending) and their weights, as Pinecone's sparse_values take them."""

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __bool__(self) -> bool:
        return bool(self.indices)

    def as_dict(self) -> dict:
        return {"indices": list(self.indices), "values": list(self.values)}


def term_index(term: str) -> int:
    """The term's 32-bit index: stable across machines and runs (Python's hash() is not)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "little")


def fold(term: str) -> str:
    """A plural folded to its singular (Harman's S-stemmer, with `-xes`, `-ches`, `-shes` and
    `-sses` losing their `es`), for plain lowercase words only: identifiers stay as they are."""
    if not term.isalpha() or len(term) < 4:
        return term
    if term.endswith("ies") and not term.endswith(("eies", "aies")):
        return term[:-3] + "y"
    if term.endswith(("xes", "ches", "shes", "sses")):
        return term[:-2]
    if term.endswith("es") and not term.endswith(("aes", "ees", "oes")):
        return term[:-1]
    if term.endswith("s") and not term.endswith(("us", "ss", "is")):
        return term[:-1]
    return term


def _vector(weights: dict[int, float], limit: int = MAX_NONZERO) -> SparseVector:
    kept = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    kept.sort()
    return SparseVector(tuple(i for i, _ in kept), tuple(float(w) for _, w in kept))


def document_vector(metadata: dict) -> SparseVector:
    """The sparse vector of one chunk, from its vector metadata (path, headings, symbols, text)."""
    tf: dict[str, float] = {}
    for column, weight in zip(row_terms(metadata), WEIGHTS):
        for term in column.split():
            term = fold(term)
            tf[term] = tf.get(term, 0.0) + weight
    length = sum(tf.values())
    norm = K1 * (1 - B + B * length / REFERENCE_TERMS)
    weights: dict[int, float] = {}
    for term, f in tf.items():
        index = term_index(term)
        weights[index] = weights.get(index, 0.0) + f * (K1 + 1) / (f + norm)
    return _vector(weights)


def query_vector(query: str) -> SparseVector:
    """The query's distinct terms (stopwords dropped, at most MAX_QUERY_TERMS), each weighing 1."""
    wanted = list(dict.fromkeys(fold(t) for t in terms(query) if t not in STOPWORDS))
    weights: dict[int, float] = {}
    for term in wanted[:MAX_QUERY_TERMS]:
        index = term_index(term)
        weights[index] = weights.get(index, 0.0) + 1.0
    return _vector(weights)


def documents(records: Iterable[tuple[str, dict]]) -> list[tuple[str, SparseVector]]:
    """(id, sparse vector) of (id, metadata) pairs."""
    return [(vid, document_vector(meta)) for vid, meta in records]
