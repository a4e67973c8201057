"""ensure_namespace: the design's idempotent namespace provisioning, locally mirrored.

Existing record -> returned. Otherwise: choose the index (choose_index: the
environment's own, or an overflow index once it fills), ensure it exists,
resolve the hierarchical name, insert the record with the index it went to; if
another process inserted first, its row wins and is returned. A name another
store already holds is a NamingError, never a shared namespace.
"""

from __future__ import annotations

from typing import Sequence

from core.config import IndexProfile, LimitsConfig, StoreConfig
from core.errors import DimensionMismatchError, NamespaceLimitError, NamingError
from core.mirror import Mirror
from core.naming import namespace_name
from core.records import NamespaceRecord
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


def check_model(record: NamespaceRecord, profile: IndexProfile) -> None:
    """A namespace is searched and written only with the model it was built with."""
    if (record.embedding_model, record.embedding_dim) != (profile.embedding_model, profile.dimension):
        raise DimensionMismatchError(
            f"namespace '{record.namespace_name}' was built with {record.embedding_model} "
            f"({record.embedding_dim}-d) but profile '{record.environment}' embeds with "
            f"{profile.embedding_model} ({profile.dimension}-d); remove the store's namespace "
            f"(`lightfast namespaces delete {record.store_slug}`) and ingest again"
        )


def choose_index(
    mirror: Mirror, chain: Sequence[tuple[str, IndexProfile]], limits: LimitsConfig,
    environment: str, organization: str,
) -> tuple[str, IndexProfile]:
    """The (profile name, profile) whose index takes an organization's new namespace.

    chain is the environment's profile, then its overflow profiles. An organization stays
    in the last index that holds it while that index is under namespace_limit: it spans
    two indexes only when it must. A new organization (or one that must move on) takes the
    first index still under alert_threshold of the limit, else the first with any room.
    Counts are the mirror's records per index.
    """
    counts = mirror.namespaces_per_index()
    held = mirror.organization_indexes(environment, organization)
    homes = [i for i, (_, p) in enumerate(chain) if p.name in held]
    candidates = list(chain)
    if homes:
        last = max(homes)
        if counts.get(chain[last][1].name, 0) < limits.namespace_limit:
            return chain[last]
        candidates = candidates[last + 1:]
    soft = limits.alert_threshold * limits.namespace_limit
    for bound in (soft, limits.namespace_limit):
        for name, profile in candidates:
            if counts.get(profile.name, 0) < bound:
                return name, profile
    full = ", ".join(f"{p.name} ({counts.get(p.name, 0):,})" for _, p in chain)
    raise NamespaceLimitError(
        f"no index has room for a new namespace of organization '{organization}': {full} of "
        f"limits.namespace_limit {limits.namespace_limit:,}; add an overflow profile under "
        f"`limits.overflow.{environment}` in lightfast.yml"
    )


def ensure_namespace(
    mirror: Mirror,
    backend: VectorBackend,
    profile: IndexProfile,
    environment: str,
    organization: str,
    workspace: str,
    store: StoreConfig,
    *,
    chain: Sequence[tuple[str, IndexProfile]] | None = None,
    limits: LimitsConfig | None = None,
) -> NamespaceRecord:
    """The store's record, made on first use. chain and limits (both or neither) route a new
    namespace to an overflow index; without them it goes to profile's index."""
    existing = mirror.get_namespace(environment, organization, workspace, store.slug)
    if existing is not None:
        check_model(existing, profile)
        return existing

    profile_name = environment
    if chain and limits is not None:
        profile_name, profile = choose_index(mirror, chain, limits, environment, organization)
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
        "index_profile": profile_name,
        "chunk_max_tokens": store.chunking.max_tokens,
        "chunk_overlap": store.chunking.overlap,
        "embedding_provider": profile.embedding_provider,
        "embedding_model": profile.embedding_model,
        "embedding_dim": profile.dimension,
    }
    stored, _created = mirror.insert_namespace(record)
    ours = (organization, workspace, store.slug)
    theirs = (stored.organization_id, stored.workspace_id, stored.store_slug)
    if theirs != ours:
        raise NamingError(
            f"store {ours} sanitizes to namespace '{name}', which store {theirs} already uses in "
            f"environment '{environment}'; rename one of them"
        )
    check_model(stored, profile)
    return stored
