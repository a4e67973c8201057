"""Built-in index profiles: the design's PRIVATE_CONFIG, plus the offline default.

One shared index per environment. lightfast.yml's `indexes` adds profiles (an
overflow index, another model or dimension) or overrides these by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import ConfigError

if TYPE_CHECKING:
    from core.config import IndexProfile, LightfastConfig


def _builtin() -> dict[str, "IndexProfile"]:
    from core.config import IndexProfile

    pinecone = dict(
        backend="pinecone", embedding_provider="cohere", embedding_model="embed-english-v3.0",
        dimension=1024, metric="cosine", cloud="aws", region="us-east-1",
        deletion_protection=True, reranker="cohere", rerank_model="rerank-v3.5",
    )
    return {
        "local": IndexProfile(
            backend="local", name="lightfast-local-v1", embedding_provider="local",
            embedding_model="all-MiniLM-L6-v2", dimension=384, metric="cosine",
            deletion_protection=False, reranker="score-fusion",
        ),
        "staging": IndexProfile(name="lightfast-staging-v1", **pinecone),
        "production": IndexProfile(name="lightfast-production-v1", **pinecone),
    }


BUILTIN_NAMES = ("local", "staging", "production")


def available_profiles(config: "LightfastConfig | None" = None) -> list[str]:
    names = list(BUILTIN_NAMES)
    if config is not None:
        names += [n for n in config.indexes if n not in names]
    return names


def get_index_config(environment: str, config: "LightfastConfig | None" = None) -> "IndexProfile":
    """The profile an environment uses: lightfast.yml's own first, then the built-ins."""
    if config is not None and environment in config.indexes:
        return config.indexes[environment]
    builtin = _builtin()
    if environment in builtin:
        return builtin[environment]
    raise ConfigError(
        f"unknown environment '{environment}'; available: {', '.join(available_profiles(config))}"
    )
