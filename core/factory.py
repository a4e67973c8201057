"""Build the backend, embedder and reranker an index profile names.

Imports are lazy: a command that never embeds never loads the model, and the
local profile never imports the Pinecone or Cohere SDKs.
Endpoints can be redirected (LIGHTFAST_PINECONE_HOST, LIGHTFAST_COHERE_BASE_URL),
which is how tests point the official SDKs at local wire-format servers.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from core.config import IndexProfile
from core.embeddings.base import Embedder
from core.errors import ConfigError
from core.rerank import Reranker, ScoreFusionReranker
from core.vectors.base import VectorBackend

_embedders: dict[tuple, Embedder] = {}
_embedders_lock = threading.Lock()


def _key(var: str, profile: IndexProfile, service: str) -> str:
    value = os.environ.get(var)
    if not value:
        raise ConfigError(
            f"index '{profile.name}' uses {service}: set {var} "
            "(or choose `environment: local` in lightfast.yml)"
        )
    return value


def make_backend(profile: IndexProfile, home: Path) -> VectorBackend:
    if profile.backend == "local":
        from core.paths import local_index_root
        from core.vectors.local import LocalBackend

        return LocalBackend(local_index_root(home))
    from core.vectors.pinecone import PineconeBackend

    return PineconeBackend(
        api_key=_key("PINECONE_API_KEY", profile, "Pinecone"),
        host=os.environ.get("LIGHTFAST_PINECONE_HOST"),
    )


def make_embedder(profile: IndexProfile) -> Embedder:
    """The local model is loaded once per process; a Cohere client is cheap and built each time
    (so a changed key or endpoint is always the one in force)."""
    if profile.embedding_provider != "local":
        return _new_embedder(profile)
    key = (profile.embedding_model, profile.dimension)
    with _embedders_lock:
        if key not in _embedders:
            _embedders[key] = _new_embedder(profile)
        return _embedders[key]


def _new_embedder(profile: IndexProfile) -> Embedder:
    if profile.embedding_provider == "local":
        from core.embeddings.local import LocalEmbedder

        if profile.embedding_model != LocalEmbedder.model_name:
            raise ConfigError(
                f"profile '{profile.name}': the local provider ships only "
                f"{LocalEmbedder.model_name}, not {profile.embedding_model}"
            )
        return LocalEmbedder()
    from core.embeddings.cohere import CohereEmbedder

    return CohereEmbedder(
        api_key=_key("COHERE_API_KEY", profile, "Cohere"),
        model=profile.embedding_model,
        dimension=profile.dimension,
        base_url=os.environ.get("LIGHTFAST_COHERE_BASE_URL"),
    )


def make_reranker(profile: IndexProfile) -> Reranker:
    if profile.reranker == "cohere":
        from core.cohere_rerank import CohereReranker

        return CohereReranker(
            api_key=_key("COHERE_API_KEY", profile, "Cohere"),
            model=profile.rerank_model,
            base_url=os.environ.get("LIGHTFAST_COHERE_BASE_URL"),
        )
    return ScoreFusionReranker()
