"""Built-in index profiles: the design's PRIVATE_CONFIG, plus the offline default.

One shared index per environment:

- `local`: this machine's index `lightfast-local-v1`, the offline all-MiniLM-L6-v2
  model (384 dimensions), local score fusion to merge stores. Needs no key.
- `staging` / `production`: Pinecone serverless `lightfast-{env}-v1` on aws
  us-east-1, Cohere embed-english-v3.0 (1024 dimensions), cosine, deletion
  protection on, Cohere rerank-v3.5.

lightfast.yml's `indexes` adds profiles (an overflow index, another model or
dimension, as in the design's Q&A) or replaces `staging` / `production` whole;
`limits.overflow` chains a profile to the overflow profiles that take new
namespaces once its index fills (core/namespaces.py `choose_index`).
It may not redefine `local` (see core/config.py); this module trusts a loaded
config on that point.
"""

from __future__ import annotations

from core.config import IndexProfile, LightfastConfig
from core.errors import ConfigError

_PINECONE = dict(
    backend="pinecone",
    embedding_provider="cohere",
    embedding_model="embed-english-v3.0",
    dimension=1024,
    metric="cosine",
    cloud="aws",
    region="us-east-1",
    deletion_protection=True,
    reranker="cohere",
    rerank_model="rerank-v3.5",
)

BUILTIN_PROFILES: dict[str, IndexProfile] = {
    "local": IndexProfile(
        backend="local",
        name="lightfast-local-v1",
        embedding_provider="local",
        embedding_model="all-MiniLM-L6-v2",
        dimension=384,
        metric="cosine",
        deletion_protection=False,
        reranker="score-fusion",
    ),
    "staging": IndexProfile(name="lightfast-staging-v1", **_PINECONE),
    "production": IndexProfile(name="lightfast-production-v1", **_PINECONE),
}

BUILTIN_NAMES = tuple(BUILTIN_PROFILES)


def available_profiles(config: LightfastConfig | None = None) -> list[str]:
    """Profile names an `environment` may use: the built-ins, then the config's own in file order."""
    names = list(BUILTIN_NAMES)
    if config is not None:
        names += [n for n in config.indexes if n not in names]
    return names


def get_index_config(environment: str, config: LightfastConfig | None = None) -> IndexProfile:
    """The profile an environment uses: lightfast.yml's own first, then the built-ins."""
    if config is not None and environment in config.indexes:
        return config.indexes[environment]
    if environment in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[environment]
    raise ConfigError(
        f"unknown environment '{environment}'; available: {', '.join(available_profiles(config))}"
    )


def index_chain(config: LightfastConfig) -> list[tuple[str, IndexProfile]]:
    """(profile name, profile) of the environment's index, then of its overflow indexes in order
    (`limits.overflow`; config.py checked that they hold the same vectors)."""
    names = [config.environment, *config.limits.overflow.get(config.environment, [])]
    return [(name, get_index_config(name, config)) for name in names]
