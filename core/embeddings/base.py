"""The embedder interface: subclasses implement one method, embed_batch.

Batching, the document/query distinction, and shape checks live here once, so
the local model and Cohere behave alike for every caller.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Literal, Sequence

import numpy as np

InputKind = Literal["document", "query"]


class Embedder(ABC):
    model_name: str
    dimension: int
    #: Most tokens one text may have; longer texts are truncated by the model.
    max_tokens: int
    #: Most texts sent to embed_batch in one call.
    batch_size: int = 32

    @abstractmethod
    def embed_batch(self, texts: list[str], kind: InputKind) -> np.ndarray:
        """Embed at most batch_size texts; returns float32 (len(texts), dimension), L2-normalised."""

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for text (used by the chunker and cost estimates)."""
        return self.tokenizer_counts([text])[0]

    def tokenizer_counts(self, texts: Sequence[str]) -> list[int]:
        # Subclasses with a real tokenizer override this; ~4 characters a token otherwise.
        return [max(1, len(t) // 4) for t in texts]

    def embed_documents(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        return self._embed(list(texts), "document", on_batch)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([text], "query", None)[0]

    def _embed(
        self, texts: list[str], kind: InputKind, on_batch: Callable[[int], None] | None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Batch texts of similar length together (less padding), then restore the order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            picked = order[start : start + self.batch_size]
            batch = [texts[i] for i in picked]
            vectors = np.asarray(self.embed_batch(batch, kind), dtype=np.float32)
            if vectors.shape != (len(batch), self.dimension):
                raise ValueError(
                    f"{self.model_name} returned shape {vectors.shape}, "
                    f"expected ({len(batch)}, {self.dimension})"
                )
            out[picked] = vectors
            if on_batch:
                on_batch(len(batch))
        return out
