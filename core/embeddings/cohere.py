"""Cohere embeddings over the official SDK (ClientV2).

search_document for ingest, search_query for queries; float embeddings;
truncation stated (END); at most 96 texts a call, which the SDK does not split
itself. The SDK's own retries are off so core.retry's policy is the one in force.
"""

from __future__ import annotations

import os
import numpy as np

from core.embeddings.base import Embedder, InputKind
from core.retry import RetryPolicy

MAX_TEXTS_PER_CALL = 96
TIMEOUT_S = float(os.environ.get("LIGHTFAST_HTTP_TIMEOUT", "20"))  # per attempt


class CohereEmbedder(Embedder):
    max_tokens = 512
    batch_size = MAX_TEXTS_PER_CALL

    def __init__(self, api_key: str, model: str = "embed-english-v3.0", dimension: int = 1024,
                 base_url: str | None = None, retry: RetryPolicy | None = None):
        import cohere

        self.model_name = model
        self.dimension = dimension
        self._client = cohere.ClientV2(api_key=api_key, base_url=base_url, timeout=TIMEOUT_S, max_retries=0)
        self.retry = retry or RetryPolicy()

    def embed_batch(self, texts: list[str], kind: InputKind) -> np.ndarray:
        input_type = "search_query" if kind == "query" else "search_document"
        response = self.retry.call(f"Cohere embed ({len(texts)} texts)", None, lambda: self._client.embed(
            model=self.model_name, texts=texts, input_type=input_type, embedding_types=["float"], truncate="END",
        ))
        vectors = np.asarray(response.embeddings.float_, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)

    def tokenizer_counts(self, texts):
        # Cohere's tokenizer is not local; the offline model's WordPiece count is a close
        # estimate for English, so chunks stay under the 512-token context.
        counter = _counter()
        return counter.tokenizer_counts(texts) if counter else super().tokenizer_counts(texts)


_COUNTER = []


def _counter():
    """The local tokenizer, if the model package is installed (tokenizer only, no weights)."""
    if not _COUNTER:
        try:
            from core.embeddings.local import LocalEmbedder, default_model_path

            default_model_path()
            _COUNTER.append(LocalEmbedder())
        except Exception:
            _COUNTER.append(None)
    return _COUNTER[0]
