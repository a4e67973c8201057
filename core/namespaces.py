"""ensure_namespace: the design's idempotent namespace provisioning, locally mirrored.

Existing record -> returned. Otherwise: ensure the shared index exists,
resolve the hierarchical name, insert the record; if another process inserted
first, its row wins and is returned. A name another store already holds is a
NamingError, never a shared namespace.
"""

from __future__ import annotations

from core.config import IndexProfile, StoreConfig
from core.errors import DimensionMismatchError, NamingError
from core.mirror import Mirror
from core.naming import namespace_name
from core.vectors.base import IndexSpec, VectorBackend


def namespace_id(environment: str, org: str, workspace: str, store: str) -> str:
    return f"{environment}/{org}/{workspace}/{store}"


def index_spec(profile: IndexProfile, environment: str) -> IndexSpec:
    return IndexSpec(
        name=profile.name,
        dimension=profile.dimension,
        metric=profile.metric,
        cloud=profile.cloud,
        region=profile.region,
        deletion_protection=profile.deletion_protection,
        tags={"environment": environment, "platform": "lightfast"},
    )


def check_model(record: dict, profile: IndexProfile) -> None:
    """A namespace is searched and written only with the model it was built with."""
    if (record["embedding_model"], record["embedding_dim"]) != (profile.embedding_model, profile.dimension):
        raise DimensionMismatchError(
            f"namespace '{record['namespace_name']}' was built with {record['embedding_model']} "
            f"({record['embedding_dim']}-d) but profile '{record['environment']}' embeds with "
            f"{profile.embedding_model} ({profile.dimension}-d); remove the store's namespace "
            f"(`lightfast namespaces delete {record['store_slug']}`) and ingest again"
        )


def ensure_namespace(
    mirror: Mirror,
    backend: VectorBackend,
    profile: IndexProfile,
    environment: str,
    organization: str,
    workspace: str,
    store: StoreConfig,
) -> dict:
    existing = mirror.get_namespace(environment, organization, workspace, store.slug)
    if existing is not None:
        check_model(existing, profile)
        return existing

    backend.ensure_index(index_spec(profile, environment))
    name = namespace_name(organization, workspace, store.slug)
    record = {
        "id": namespace_id(environment, organization, workspace, store.slug),
        "organization_id": organization,
        "workspace_id": workspace,
        "store_slug": store.slug,
        "namespace_name": name,
        "environment": environment,
        "index_name": profile.name,
        "chunk_max_tokens": store.chunking.max_tokens,
        "chunk_overlap": store.chunking.overlap,
        "embedding_provider": profile.embedding_provider,
        "embedding_model": profile.embedding_model,
        "embedding_dim": profile.dimension,
    }
    stored, _created = mirror.insert_namespace(record)
    ours = (organization, workspace, store.slug)
    theirs = (stored["organization_id"], stored["workspace_id"], stored["store_slug"])
    if theirs != ours:
        raise NamingError(
            f"store {ours} sanitizes to namespace '{name}', which store {theirs} already uses in "
            f"environment '{environment}'; rename one of them"
        )
    check_model(stored, profile)
    return stored
