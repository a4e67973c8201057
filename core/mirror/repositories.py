"""Connected repositories and webhook deliveries (m006): what the webhook reads and records."""

from __future__ import annotations

from typing import Any, Iterable

from core.mirror.connection import MirrorConnection, utcnow
from core.records import ConnectedRepository


class Repositories(MirrorConnection):
    def connect_repository(self, record: dict[str, Any]) -> ConnectedRepository:
        """Insert or update the connected repository with this full_name; returns the stored record."""
        now = utcnow()
        with self.write() as conn:
            conn.execute(
                "INSERT INTO connected_repositories (full_name, clone_url, clone_path, config_path, branch, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(full_name) DO UPDATE SET "
                "clone_url=excluded.clone_url, clone_path=excluded.clone_path, "
                "config_path=excluded.config_path, branch=excluded.branch, updated_at=excluded.updated_at",
                (record["full_name"], record.get("clone_url"), record["clone_path"], record["config_path"],
                 record["branch"], now, now),
            )
        return ConnectedRepository.from_row(
            self.rows("SELECT * FROM connected_repositories WHERE full_name=?", (record["full_name"],))[0])

    def set_repository_sha_if_unset(self, repository_id: int, sha: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE connected_repositories SET last_sha=? WHERE id=? AND last_sha IS NULL",
                         (sha, repository_id))

    def connected_repositories(self) -> list[ConnectedRepository]:
        return [ConnectedRepository.from_row(r)
                for r in self.rows("SELECT * FROM connected_repositories ORDER BY full_name")]

    def connected_repository(self, full_name: str | None, urls: Iterable[str] = ()) -> ConnectedRepository | None:
        """The record for a repository, by full_name (case-insensitive, as GitHub's) or by one of
        its URLs (clone_url, ssh_url, html_url) equal to the record's clone_url."""
        for row in self.connected_repositories():
            if full_name and row.full_name.lower() == full_name.lower():
                return row
        wanted = {u.rstrip("/").removesuffix(".git").lower() for u in urls if u}
        for row in self.connected_repositories():
            url = (row.clone_url or "").rstrip("/").removesuffix(".git").lower()
            if url and url in wanted:
                return row
        return None

    def set_repository_sha(self, repository_id: int, sha: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE connected_repositories SET last_sha=?, updated_at=? WHERE id=?",
                         (sha, utcnow(), repository_id))

    def claim_delivery(self, delivery_id: str, repository: str) -> bool:
        """True when this delivery id is new (or its earlier attempt failed): it is now 'queued'.
        False for a replay of one already queued, running, done or ignored."""
        with self.write() as conn:
            row = conn.execute("SELECT status FROM webhook_deliveries WHERE delivery_id=?",
                               (delivery_id,)).fetchone()
            if row is not None and row[0] != "failed":
                return False
            conn.execute(
                "INSERT OR REPLACE INTO webhook_deliveries (delivery_id, repository, received_at, status, detail) "
                "VALUES (?, ?, ?, 'queued', NULL)", (delivery_id, repository, utcnow()))
            return True

    def fail_unfinished_deliveries(self) -> int:
        """Deliveries left 'queued' by a webhook that stopped before running them become 'failed',
        so GitHub's redelivery of them runs (a replay of a finished one stays ignored)."""
        with self.write() as conn:
            return conn.execute(
                "UPDATE webhook_deliveries SET status='failed', detail='the webhook stopped before running it' "
                "WHERE status='queued'").rowcount

    def finish_delivery(self, delivery_id: str, status: str, detail: str | None = None) -> None:
        with self.write() as conn:
            conn.execute("UPDATE webhook_deliveries SET status=?, detail=? WHERE delivery_id=?",
                         (status, detail, delivery_id))

    def delivery(self, delivery_id: str) -> dict | None:
        found = self.rows("SELECT * FROM webhook_deliveries WHERE delivery_id=?", (delivery_id,))
        return found[0] if found else None
