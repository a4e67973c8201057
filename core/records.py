"""Typed records of the mirror, as every part of core and every face reads them.

`NamespaceRecord` is one row of the mirror's `namespaces` table (the design's
`lightfast_pinecone_namespaces`). `NamespaceStatus` is a namespace as a listing
shows it: its record (None when the namespace was found only in an index), the
mirror's counts, its last ingest and the index's own count. Frozen: a record
read from the mirror is a snapshot, never a handle to change it by.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, Mapping


@dataclass(frozen=True)
class NamespaceRecord:
    id: str
    organization_id: str
    workspace_id: str
    store_slug: str
    namespace_name: str
    environment: str
    index_name: str
    index_profile: str | None  # the profile whose index holds it (m007); None in rows copied before m007
    chunk_max_tokens: int
    chunk_overlap: int
    embedding_provider: str
    embedding_model: str
    embedding_dim: int
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "NamespaceRecord":
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NamespaceCounts:
    """What the mirror lists for one namespace."""

    documents: int
    vectors: int


RECORD_FIELDS = tuple(f.name for f in fields(NamespaceRecord))


@dataclass(frozen=True)
class NamespaceStatus:
    """One namespace of a listing. A namespace found only in an index has no record, and the
    mirror holds none of its documents or vectors: documents and vectors are then None."""

    namespace_name: str
    environment: str
    index_name: str
    record: NamespaceRecord | None = None
    documents: int | None = None  # None: no record in the mirror
    vectors: int | None = None  # None: no record in the mirror
    index_vectors: int | None = None  # the index's own count; None: not asked, or not there
    last_ingest: str | None = None  # when the last ingest run finished
    last_ingest_status: str | None = None
    only_in: Literal["index", "mirror"] | None = None  # the namespace exists on one side only

    @classmethod
    def of(cls, record: NamespaceRecord, counts: NamespaceCounts, last_ingest: str | None = None,
           last_ingest_status: str | None = None) -> "NamespaceStatus":
        return cls(record.namespace_name, record.environment, record.index_name, record,
                   counts.documents, counts.vectors, last_ingest=last_ingest,
                   last_ingest_status=last_ingest_status)

    @property
    def mirror_vectors(self) -> int:
        """The vectors the mirror lists (0 for a namespace found only in an index): for sums."""
        return self.vectors or 0

    @property
    def mirror_documents(self) -> int:
        """The documents the mirror lists (0 for a namespace found only in an index): for sums."""
        return self.documents or 0

    def to_dict(self) -> dict[str, Any]:
        """One flat shape for JSON: every record column (None without a record), then the counts."""
        out: dict[str, Any] = self.record.to_dict() if self.record else dict.fromkeys(RECORD_FIELDS)
        out.update(namespace_name=self.namespace_name, environment=self.environment,
                   index_name=self.index_name, documents=self.documents, vectors=self.vectors,
                   index_vectors=self.index_vectors, last_ingest=self.last_ingest,
                   last_ingest_status=self.last_ingest_status, only_in=self.only_in)
        return out


@dataclass(frozen=True)
class IngestRun:
    """One row of the mirror's `ingest_runs`: a store's ingest, as the process that ran it recorded it."""

    id: int
    namespace_id: str
    store_slug: str
    environment: str
    started_at: str
    finished_at: str | None  # None while running, or when the process died first
    status: str  # running | ok | failed | cancelled | interrupted
    added: int
    changed: int
    removed: int
    unchanged: int
    chunks_embedded: int
    vectors_upserted: int
    vectors_deleted: int
    failed: int
    skipped: int
    error: str | None
    read_units: float | None  # None: not reported (core/usage.py)
    embed_tokens: float | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "IngestRun":
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConnectedRepository:
    """One row of the mirror's `connected_repositories` (m006): a GitHub repository whose pushes the
    webhook ingests from a local clone into the stores of a lightfast.yml."""

    id: int
    full_name: str
    clone_url: str | None
    clone_path: str
    config_path: str
    branch: str
    last_sha: str | None  # the last commit ingested; None until the first
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "ConnectedRepository":
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LegacyStore:
    """One row of the mirror's `stores` (m004): a store of the old layout, its own index per store."""

    id: str
    organization_id: str
    workspace_id: str
    slug: str
    index_name: str
    embedding_model: str
    embedding_dim: int
    chunk_max_tokens: int
    chunk_overlap: int
    created_at: str
    updated_at: str
    deprecated_at: str | None  # set at cutover; the safety window counts from here

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "LegacyStore":
        return cls(**{f.name: row[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class MigrationStore:
    """One row of the mirror's `migration_stores` (m004): where a legacy store's migration stands."""

    store_id: str
    namespace_id: str
    namespace_created: bool  # the migration made the namespace record (rollback removes it)
    status: str  # registered | copying | copied | verified | cutover
    copied: int
    last_id: str | None  # checkpoint: ids are copied in sorted order
    updated_at: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "MigrationStore":
        return cls(**{f.name: row[f.name] for f in fields(cls)} | {"namespace_created": bool(row["namespace_created"])})
