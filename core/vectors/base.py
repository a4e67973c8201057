"""The vector index interface: one shared index, many namespaces.

These are the design's five namespace operations (upsert, query, delete ids,
delete all, stats) plus what the TUI and migration need (list namespaces, list
ids, fetch). A backend (local disk or Pinecone) implements both classes; nothing
above this interface knows which one it talks to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np


@dataclass(frozen=True)
class VectorRecord:
    id: str
    values: np.ndarray  # float32, shape (dimension,)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    id: str
    score: float
    metadata: dict[str, Any]


@dataclass(frozen=True)
class NamespaceStats:
    namespace: str
    vector_count: int


@dataclass(frozen=True)
class IndexSpec:
    """What a shared index is created with (from an index profile)."""

    name: str
    dimension: int
    metric: str = "cosine"
    cloud: str = "aws"
    region: str = "us-east-1"
    deletion_protection: bool = False
    tags: dict[str, str] = field(default_factory=dict)


class VectorIndex(ABC):
    """One shared index. Every operation names its namespace."""

    name: str
    dimension: int

    @abstractmethod
    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> int:
        """Insert or replace records; returns how many were written."""

    @abstractmethod
    def query(
        self,
        namespace: str,
        vector: np.ndarray,
        top_k: int,
        filter: dict[str, Any] | None = None,
    ) -> list[Match]:
        """Nearest records in this namespace only, best first, metadata included."""

    @abstractmethod
    def delete(self, namespace: str, ids: Iterable[str]) -> None:
        """Delete these ids; unknown ids are ignored."""

    @abstractmethod
    def delete_namespace(self, namespace: str) -> None:
        """Delete every record of the namespace (no-op when it does not exist)."""

    @abstractmethod
    def namespace_stats(self, namespace: str) -> NamespaceStats:
        """Vector count of one namespace (0 when it does not exist)."""

    @abstractmethod
    def list_namespaces(self, prefix: str | None = None) -> list[NamespaceStats]:
        """Namespaces that hold records, optionally only those starting with prefix."""

    @abstractmethod
    def list_ids(
        self,
        namespace: str,
        prefix: str | None = None,
        limit: int = 100,
        pagination_token: str | None = None,
    ) -> tuple[list[str], str | None]:
        """One page of ids (sorted) and the token for the next page, or None at the end."""

    @abstractmethod
    def fetch(self, namespace: str, ids: Sequence[str]) -> dict[str, VectorRecord]:
        """Records by id; missing ids are absent from the result."""

    def lexical_query(self, namespace: str, text: str, top_k: int) -> list[Match] | None:
        """Records matching the query's words (BM25), best first; None when this backend or
        namespace has no lexical index (search then uses the vectors alone and says so)."""
        return None

    def ensure_lexical(self, namespace: str, rebuild: bool = False) -> bool:
        """Build the namespace's lexical index if it lacks one; True if built (default: none to build)."""
        return False

    def check_dimension(self, vector_dim: int, where: str) -> None:
        from core.errors import DimensionMismatchError

        if vector_dim != self.dimension:
            raise DimensionMismatchError(
                f"{where}: vector has {vector_dim} dimensions but index "
                f"'{self.name}' holds {self.dimension}-dimensional vectors"
            )


class VectorBackend(ABC):
    """Creates and opens shared indexes (the design's ensure-index step)."""

    kind: str

    @abstractmethod
    def index_exists(self, name: str) -> bool: ...

    @abstractmethod
    def create_index(self, spec: IndexSpec) -> None:
        """Create the index if it does not exist, then apply its configuration."""

    @abstractmethod
    def list_indexes(self) -> list[str]: ...

    @abstractmethod
    def delete_index(self, name: str) -> None:
        """Delete a whole index (used for legacy per-store indexes only)."""

    @abstractmethod
    def index(self, name: str) -> VectorIndex:
        """Open an existing index."""

    def ensure_index(self, spec: IndexSpec) -> VectorIndex:
        if not self.index_exists(spec.name):
            self.create_index(spec)
        return self.index(spec.name)
