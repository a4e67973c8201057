"""Cohere embeddings over the official SDK (ClientV2).

search_document for ingest, search_query for queries; float embeddings;
truncation stated (END); at most 96 texts a call, which the SDK does not split
itself (the base class batches by batch_size). The SDK's own retries are off
(max_retries=0) so core.retry's policy is the one in force, and every attempt
has a timeout bounded by what is left of the policy's deadline.

Cohere's quotas are per minute (trial keys: 2,000 embed inputs a minute) and
its 429s carry no Retry-After, so a short backoff only spends the attempts
inside the same minute. A 429 without Retry-After waits out the minute window
instead (`rate_window`), saying so through the policy's notify (by default a
warning on stderr), within the deadline (EMBED_DEADLINE_S: three windows).
Without `base_url` the SDK's own default applies, CO_API_URL included.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.embeddings.base import Embedder, InputKind
from core.errors import BackendError, CredentialsMissingError
from core.retry import RetryPolicy, default_timeout
from core.usage import record, reported

MAX_TEXTS_PER_CALL = 96
INPUT_TYPES = {"document": "search_document", "query": "search_query"}
RATE_WINDOW_S = 60.0  # Cohere's quotas are per minute
EMBED_DEADLINE_S = 200.0  # room for three minute windows, then a clear error


def client(api_key: str, base_url: str | None, timeout: float):
    """A ClientV2 with the SDK's retries off; base_url only when given (so CO_API_URL still works)."""
    import cohere

    kwargs = {"base_url": base_url} if base_url else {}
    return cohere.ClientV2(api_key=api_key, timeout=timeout, max_retries=0,
                           log_warning_experimental_features=False, **kwargs)


class CohereEmbedder(Embedder):
    max_tokens = 512
    batch_size = MAX_TEXTS_PER_CALL

    def __init__(self, api_key: str, model: str = "embed-english-v3.0", dimension: int = 1024,
                 base_url: str | None = None, *, retry: RetryPolicy | None = None, timeout: float | None = None,
                 rate_window: float | None = RATE_WINDOW_S):
        if not api_key:
            raise CredentialsMissingError("a Cohere API key is needed (set COHERE_API_KEY)")
        self.model_name = model
        self.dimension = dimension
        self.timeout = timeout if timeout is not None else default_timeout()
        self._client = client(api_key, base_url, self.timeout)
        policy = retry or RetryPolicy(deadline=EMBED_DEADLINE_S)
        if policy.rate_window is None and rate_window:
            policy = replace(policy, rate_window=rate_window)
        self.retry = policy.with_secret(api_key)

    def embed_batch(self, texts: list[str], kind: InputKind) -> np.ndarray:
        if len(texts) > MAX_TEXTS_PER_CALL:
            raise ValueError(f"Cohere embeds at most {MAX_TEXTS_PER_CALL} texts a call, got {len(texts)}")
        input_type = INPUT_TYPES[kind]
        response = self.retry.call_timed(f"Cohere embed ({len(texts)} texts)", None, lambda t: self._client.embed(
            model=self.model_name, texts=list(texts), input_type=input_type,
            embedding_types=["float"], truncate="END", request_options={"timeout_in_seconds": t},
        ), self.timeout)
        record(embed_tokens=reported(response, "meta", "billed_units", "input_tokens"))
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
