"""The legacy layout (one index per store, m004) and the migration's own state.

core/migrate.py drives the migration; every read and write of these tables is
here, each logical change in one transaction.
"""

from __future__ import annotations

from typing import Any

from core.mirror.connection import MirrorConnection, utcnow
from core.records import LegacyStore, MigrationStore


class LegacyLayout(MirrorConnection):
    def legacy_stores(self, organization: str) -> list[LegacyStore]:
        """The organization's `stores` rows (the design's old schema)."""
        return [LegacyStore.from_row(r) for r in self.rows(
            "SELECT * FROM stores WHERE organization_id=? ORDER BY workspace_id, slug", (organization,))]

    def migration_state(self) -> dict[str, MigrationStore]:
        """store id -> where its migration stands."""
        return {r["store_id"]: MigrationStore.from_row(r) for r in self.rows("SELECT * FROM migration_stores")}

    def dual_write_targets(self) -> dict[str, str]:
        """Shared namespace name -> its store's legacy index, for stores not cut over yet
        (ingest writes both while a migration is under way)."""
        return {r["namespace_name"]: r["index_name"] for r in self.rows(
            "SELECT n.namespace_name, s.index_name FROM migration_stores m "
            "JOIN stores s ON s.id = m.store_id JOIN namespaces n ON n.id = m.namespace_id "
            "WHERE m.status != 'cutover'"
        )}

    def register_legacy_stores(self, namespaces: dict[str, dict[str, Any]]) -> int:
        """In one transaction, per legacy store id -> its new namespaces row: insert the record
        (unless one exists), re-point the store's documents and vector entries to it when it is
        new, and mark the store 'registered'. Returns the stores registered."""
        with self.write() as conn:
            for store_id, row in namespaces.items():
                fresh = conn.execute(
                    f"INSERT OR IGNORE INTO namespaces ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()),
                ).rowcount == 1
                if fresh:
                    for doc in self.rows("SELECT * FROM store_documents WHERE store_id=?", (store_id,)):
                        new_id = self.db["documents"].insert({
                            "namespace_id": row["id"], "path": doc["path"], "content_hash": doc["content_hash"],
                            "size": doc["size"], "mtime_ns": doc["mtime_ns"], "chunk_count": doc["chunk_count"],
                            "ingested_at": doc["ingested_at"],
                        }).last_pk
                        conn.execute(
                            "INSERT INTO vector_entries (namespace_id, vector_id, document_id, environment, "
                            "chunk_index, start_line, end_line) SELECT ?, vector_id, ?, ?, chunk_index, "
                            "start_line, end_line FROM store_vector_entries WHERE document_id=?",
                            (row["id"], new_id, row["environment"], doc["id"]),
                        )
                self.db["migration_stores"].insert({
                    "store_id": store_id, "namespace_id": row["id"], "namespace_created": int(fresh),
                    "status": "registered", "updated_at": utcnow(),
                })
        return len(namespaces)

    def checkpoint_migration(self, store_id: str, status: str, last_id: str | None, copied: int) -> None:
        with self.write():
            self.db["migration_stores"].update(
                store_id, {"status": status, "last_id": last_id, "copied": copied, "updated_at": utcnow()})

    def cut_over_migration(self, deprecated_at: str) -> None:
        """Every migrating store 'cutover', and its `stores` row deprecated (unless it already was)."""
        with self.write() as conn:
            conn.execute("UPDATE migration_stores SET status='cutover', updated_at=?", (utcnow(),))
            conn.execute("UPDATE stores SET deprecated_at=? WHERE deprecated_at IS NULL AND id IN "
                         "(SELECT store_id FROM migration_stores)", (deprecated_at,))

    def clear_migration_state(self) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM migration_stores")

    def drop_legacy_rows(self, store_id: str) -> tuple[int, int]:
        """Delete a legacy store's vector entry and document rows; returns (vector rows, document rows)."""
        with self.write() as conn:
            vectors = conn.execute("DELETE FROM store_vector_entries WHERE store_id=?", (store_id,)).rowcount
            documents = conn.execute("DELETE FROM store_documents WHERE store_id=?", (store_id,)).rowcount
        return vectors, documents

    def forget_legacy_store(self, store_id: str) -> None:
        """Remove a legacy store's migration state and `stores` row (its index is gone)."""
        with self.write() as conn:
            conn.execute("DELETE FROM migration_stores WHERE store_id=?", (store_id,))
            conn.execute("DELETE FROM stores WHERE id=?", (store_id,))
