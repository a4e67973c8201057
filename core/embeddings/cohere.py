"""Cohere embeddings over the official SDK (ClientV2).

search_document for ingest, search_query for queries; float embeddings;
truncation stated (END); at most 96 texts a call, which the SDK does not split
itself (the base class batches by batch_size). The SDK's own retries are off
(max_retries=0) so core.retry's policy is the one in force, and every attempt
has a bounded timeout.
"""

from __future__ import annotations

import numpy as np

from core.embeddings.base import Embedder, InputKind
from core.errors import BackendError, LightfastError
from core.retry import RetryPolicy, default_timeout

MAX_TEXTS_PER_CALL = 96
INPUT_TYPES = {"document": "search_document", "query": "search_query"}


class CohereEmbedder(Embedder):
    max_tokens = 512
    batch_size = MAX_TEXTS_PER_CALL

    def __init__(self, api_key: str, model: str = "embed-english-v3.0", dimension: int = 1024,
                 base_url: str | None = None, *, retry: RetryPolicy | None = None, timeout: float | None = None):
        import cohere

        if not api_key:
            raise LightfastError("a Cohere API key is needed (set COHERE_API_KEY)")
        self.model_name = model
        self.dimension = dimension
        self.timeout = timeout if timeout is not None else default_timeout()
        self._client = cohere.ClientV2(api_key=api_key, base_url=base_url or None, timeout=self.timeout,
                                       max_retries=0, log_warning_experimental_features=False)
        self.retry = (retry or RetryPolicy()).with_secret(api_key)

    def embed_batch(self, texts: list[str], kind: InputKind) -> np.ndarray:
        if len(texts) > MAX_TEXTS_PER_CALL:
            raise ValueError(f"Cohere embeds at most {MAX_TEXTS_PER_CALL} texts a call, got {len(texts)}")
        input_type = INPUT_TYPES[kind]
        response = self.retry.call(f"Cohere embed ({len(texts)} texts)", None, lambda: self._client.embed(
            model=self.model_name, texts=list(texts), input_type=input_type,
            embedding_types=["float"], truncate="END",
        ))
        floats = getattr(response.embeddings, "float_", None)
        if floats is None or len(floats) != len(texts):
            raise BackendError(f"Cohere embed returned {len(floats or [])} vectors for {len(texts)} texts")
        vectors = np.asarray(floats, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise BackendError(
                f"Cohere model {self.model_name} returned {vectors.shape[-1]}-dimensional vectors; "
                f"the profile says {self.dimension}"
            )
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
