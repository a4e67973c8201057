"""Fusing dense and lexical candidates into one ranking, with a weight that adapts per query.

Fixed reciprocal rank fusion helps prose (SciFact) but loses to dense alone on
natural-language questions over code (issue 17: MRR 0.552 vs 0.652), where
BM25 is weak. So the lexical side gets a weight per query, from evidence:

- how code-shaped the query is (core.lexical.identifier_likeness): a query
  naming `ensure_namespace` wants exact words;
- how peaked the BM25 scores are: one row far above the rest means the query's
  rare words pinpoint it; a flat top means common words matched everywhere;
- how many of the best lexical matches the vectors found too.

Scores are fused by a convex combination of each side's scores scaled to
[0, 1] within this search (a candidate one side did not return gets 0 there).
The merge runs over the union of every namespace's candidates, so searching
several stores ranks exactly as searching one store holding them all would.
bench/retrieval.py measures the choices (results in bench/results/retrieval.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import re

from core.lexical import identifier_likeness, identifiers

Key = Hashable


@dataclass(frozen=True)
class FusionWeights:
    """The lexical weight: base + code * identifier-likeness + peak * peakedness
    + agree * agreement, within [0, cap]. Chosen on SciFact and CoSQA (bench/retrieval.py)."""

    base: float = 0.1
    code: float = 0.5
    peak: float = 0.6
    agree: float = 0.3
    cap: float = 0.8


DEFAULT = FusionWeights()
AGREEMENT_DEPTH = 10  # the best lexical matches looked for among ...
SCALE_DEPTH = 20  # ... the best dense ones; and the rank scores are scaled against


def peakedness(scores: Sequence[float], depth: int = 10) -> float:
    """0 when the best BM25 score is no better than the rest of the top `depth`, towards 1 when
    it stands far above them: (best - mean of the others) / best."""
    top = sorted(scores, reverse=True)[:depth]
    if len(top) < 2 or top[0] <= 0:
        return 1.0 if len(top) == 1 and top[0] > 0 else 0.0
    rest = sum(top[1:]) / (len(top) - 1)
    return max(0.0, (top[0] - rest) / top[0])


def agreement(dense: dict[Key, float], lexical: dict[Key, float], depth: int = AGREEMENT_DEPTH) -> float:
    """Share of the best lexical matches that the dense side also found. A lexical best match
    the vectors did not find is rarely right (CoSQA: never, over 139 queries)."""
    best = sorted(lexical, key=lambda k: -lexical[k])[:depth]
    return sum(k in dense for k in best) / len(best) if best else 0.0


def lexical_weight(query: str, lexical_scores: Sequence[float], weights: FusionWeights = DEFAULT,
                   agreed: float = 0.0) -> float:
    if not lexical_scores:
        return 0.0
    w = (weights.base + weights.code * identifier_likeness(query) + weights.peak * peakedness(lexical_scores)
         + weights.agree * agreed)
    return min(weights.cap, max(0.0, w))


def _scaled(scores: dict[Key, float], depth: int = SCALE_DEPTH) -> dict[Key, float]:
    """Scores scaled to [0, 1] between the best and the one at rank `depth` (lower ones clip to
    0), so how many candidates a search fetched does not change how the two sides weigh."""
    if not scores:
        return {}
    ordered = sorted(scores.values(), reverse=True)
    hi, lo = ordered[0], ordered[min(depth, len(ordered)) - 1]
    span = hi - lo
    return {k: (max(0.0, (v - lo) / span) if span > 0 else 1.0) for k, v in scores.items()}


def fuse(query: str, dense: dict[Key, float], lexical: dict[Key, float],
         weights: FusionWeights = DEFAULT) -> tuple[dict[Key, float], float]:
    """Fused score of every candidate (higher is better) and the lexical weight used."""
    best_dense = dict(sorted(dense.items(), key=lambda kv: -kv[1])[:SCALE_DEPTH])
    w = lexical_weight(query, list(lexical.values()), weights, agreement(best_dense, lexical))
    d, l = _scaled(dense), _scaled(lexical)
    if not dense:
        w = 1.0
    fused = {k: (1 - w) * d.get(k, 0.0) + w * l.get(k, 0.0) for k in dense.keys() | lexical.keys()}
    return fused, w


def definition_rank(query_identifiers: Sequence[str], symbols: Sequence[str]) -> int:
    """2 when the chunk defines a query identifier by its full name (`LocalIndex._load`), 1 by its
    last part or a longer qualified name, 0 when it defines none of them."""
    best = 0
    names = [str(s).lower() for s in symbols or ()]
    for ident in (i.lower() for i in query_identifiers):
        for name in names:
            if name == ident:
                return 2
            if ("." not in ident and name.rsplit(".", 1)[-1] == ident) or ident.endswith("." + name):
                best = 1  # `_load` for `LocalIndex._load`; `local.LocalIndex` for `LocalIndex`
    return best


def query_identifiers(query: str) -> list[str]:
    """The names a query asks for: its code-shaped words, or the query itself when it is one word."""
    found = identifiers(query)
    word = query.strip().rstrip("()")
    if not found and re.fullmatch(r"[A-Za-z_]\w*", word):
        found = [word]
    return found


_WORDS = re.compile(r"\w+")
PHRASE_MIN_WORDS = 3


def contains_phrase(query: str, text: str) -> bool:
    """Whether text holds the query's words in order, punctuation aside (an error message, a
    line of code): exact words are the strongest evidence there is. Queries of 3+ words only."""
    words = _WORDS.findall(query.lower())
    if len(words) < PHRASE_MIN_WORDS:
        return False
    return f" {' '.join(words)} " in f" {' '.join(_WORDS.findall(text.lower()))} "
