"""Rerankers order the merged hits of a multi-namespace search.

A reranker sees the query and the candidates' texts and returns
(candidate index, relevance score) pairs, best first.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence


class Reranker(ABC):
    name: str

    @abstractmethod
    def rerank(
        self, query: str, documents: Sequence[str], scores: Sequence[float], top_n: int
    ) -> list[tuple[int, float]]:
        """Best top_n candidates as (index into documents, score), best first.

        scores are the candidates' vector similarities, which a reranker may use.
        """


class ScoreFusionReranker(Reranker):
    """Local default: merge by cosine similarity.

    Every namespace of one index is embedded by the same model, so cosine scores
    are on one scale across namespaces and sorting by them is the sound fusion.
    Rank fusion (RRF) would throw that away and lift the best hit of an
    irrelevant namespace to the top.
    """

    name = "score-fusion"

    def rerank(self, query, documents, scores, top_n):
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        return [(i, float(scores[i])) for i in order[:top_n]]
