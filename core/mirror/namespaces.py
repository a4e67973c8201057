"""Namespace records: one row per store and environment, read as `NamespaceRecord`."""

from __future__ import annotations

from typing import Any, Iterable

from core.mirror.connection import MirrorConnection, utcnow
from core.records import NamespaceRecord


class NamespaceRecords(MirrorConnection):
    def _records(self, where: str = "", params: Iterable[Any] = ()) -> list[NamespaceRecord]:
        return [NamespaceRecord.from_row(r) for r in self.rows(
            f"SELECT * FROM namespaces{where} ORDER BY environment, organization_id, workspace_id, store_slug",
            params)]

    def get_namespace(self, environment: str, org: str, workspace: str, store: str) -> NamespaceRecord | None:
        found = self._records(" WHERE environment=? AND organization_id=? AND workspace_id=? AND store_slug=?",
                              (environment, org, workspace, store))
        return found[0] if found else None

    def namespace_by_id(self, namespace_id: str) -> NamespaceRecord | None:
        found = self._records(" WHERE id=?", (namespace_id,))
        return found[0] if found else None

    def namespace_by_name(self, environment: str, name: str) -> NamespaceRecord | None:
        found = self._records(" WHERE environment=? AND namespace_name=?", (environment, name))
        return found[0] if found else None

    def insert_namespace(self, record: dict[str, Any]) -> tuple[NamespaceRecord, bool]:
        """Insert unless a row with the same keys exists; returns (the stored record, created)."""
        now = utcnow()
        row = {"created_at": now, "updated_at": now, **record}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.write() as conn:
            cur = conn.execute(
                f"INSERT OR IGNORE INTO namespaces ({cols}) VALUES ({marks})", tuple(row.values())
            )
            created = cur.rowcount == 1
        stored = self.namespace_by_id(row["id"]) or self.get_namespace(
            row["environment"], row["organization_id"], row["workspace_id"], row["store_slug"]
        ) or self.namespace_by_name(row["environment"], row["namespace_name"])
        assert stored is not None
        return stored, created

    def namespaces(
        self,
        environment: str | None = None,
        organization: str | None = None,
        workspace: str | None = None,
        stores: Iterable[str] | None = None,
    ) -> list[NamespaceRecord]:
        where, params = [], []
        for column, value in (
            ("environment", environment),
            ("organization_id", organization),
            ("workspace_id", workspace),
        ):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        if stores is not None:
            stores = list(stores)
            where.append(f"store_slug IN ({', '.join('?' for _ in stores)})")
            params.extend(stores)
        return self._records(f" WHERE {' AND '.join(where)}" if where else "", params)

    def namespaces_per_index(self) -> dict[str, int]:
        """Namespace records per physical index (every environment: the plan's limit is per index)."""
        return {r[0]: r[1] for r in self.conn.execute(
            "SELECT index_name, COUNT(*) FROM namespaces GROUP BY index_name")}

    def organization_indexes(self, environment: str, organization: str) -> set[str]:
        """The indexes that hold this organization's namespaces in this environment."""
        return {r[0] for r in self.conn.execute(
            "SELECT DISTINCT index_name FROM namespaces WHERE environment=? AND organization_id=?",
            (environment, organization))}

    def delete_namespace_record(self, namespace_id: str) -> None:
        """Remove a namespace record with its documents, entries and journal rows."""
        with self.write() as conn:
            conn.execute("DELETE FROM pending_vectors WHERE namespace_id=?", (namespace_id,))
            conn.execute("DELETE FROM namespaces WHERE id=?", (namespace_id,))
