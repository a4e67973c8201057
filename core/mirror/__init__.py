"""The local mirror of namespace records, documents and vector entries (SQLite).

Tables follow the design's schema: `namespaces` is its
`lightfast_pinecone_namespaces`; `documents` and `vector_entries` point at a
namespace; `pending_vectors` is the write-ahead journal that lets an ingest
killed at any moment converge on the next run; `query_log` and `ingest_runs`
feed monitoring. Several processes (CLI, TUI, MCP server, watcher) share the
file: WAL mode, a busy timeout, and writes in BEGIN IMMEDIATE transactions.

One module per job: schema (the numbered migrations), connection (opening,
transactions, damage), namespaces, documents (with the journal), monitoring,
repositories (the webhook's), legacy (the one-index-per-store layout).
"""

from core.mirror.connection import (BUSY_TIMEOUT_S, MirrorConnection, damage_as_error, mirror_damaged,
                                    move_aside, utcnow)
from core.mirror.documents import Documents
from core.mirror.legacy import LegacyLayout
from core.mirror.monitoring import Monitoring
from core.mirror.namespaces import NamespaceRecords
from core.mirror.repositories import Repositories
from core.mirror.schema import migrations


class Mirror(NamespaceRecords, Documents, Monitoring, Repositories, LegacyLayout, MirrorConnection):
    """One SQLite file; a connection per thread; schema migrated on open."""


__all__ = ["BUSY_TIMEOUT_S", "Mirror", "damage_as_error", "migrations", "mirror_damaged", "move_aside", "utcnow"]
