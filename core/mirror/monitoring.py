"""Monitoring: the query log, ingest runs, and every namespace with its counts at once."""

from __future__ import annotations

from core.mirror.connection import MirrorConnection, utcnow
from core.records import IngestRun, NamespaceCounts, NamespaceRecord, NamespaceStatus


class Monitoring(MirrorConnection):
    def log_queries(self, rows: list[dict]) -> None:
        """rows may carry read_units, embed_tokens and rerank_units (absent: not reported)."""
        now = utcnow()
        with self.write() as conn:
            conn.executemany(
                "INSERT INTO query_log (namespace_id, namespace_name, environment, latency_ms, "
                "top_k, hits, at, read_units, embed_tokens, rerank_units) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (r["namespace_id"], r["namespace_name"], r["environment"], r["latency_ms"],
                     r["top_k"], r["hits"], now, r.get("read_units"), r.get("embed_tokens"),
                     r.get("rerank_units"))
                    for r in rows
                ],
            )

    def start_ingest_run(self, namespace: NamespaceRecord) -> int:
        with self.write() as conn:
            return conn.execute(
                "INSERT INTO ingest_runs (namespace_id, store_slug, environment, started_at, status) "
                "VALUES (?, ?, ?, ?, 'running')",
                (namespace.id, namespace.store_slug, namespace.environment, utcnow()),
            ).lastrowid

    def finish_ingest_run(self, run_id: int, status: str, counts: dict[str, int], error: str | None,
                          usage: dict[str, float | None] | None = None) -> None:
        """usage: read_units and embed_tokens as the services reported them (None: not reported)."""
        fields = [
            "added", "changed", "removed", "unchanged", "chunks_embedded",
            "vectors_upserted", "vectors_deleted", "failed", "skipped",
        ]
        usage = usage or {}
        with self.write() as conn:
            conn.execute(
                f"UPDATE ingest_runs SET finished_at=?, status=?, error=?, read_units=?, embed_tokens=?, "
                f"{', '.join(f'{f}=?' for f in fields)} WHERE id=?",
                (utcnow(), status, error, usage.get("read_units"), usage.get("embed_tokens"),
                 *[counts.get(f, 0) for f in fields], run_id),
            )

    def mark_interrupted_runs(self) -> int:
        """Runs still 'running' become 'interrupted'; call only while holding the writer lock,
        when no other process can be running one (a killed run never finished its record)."""
        with self.write() as conn:
            return conn.execute(
                "UPDATE ingest_runs SET status='interrupted', finished_at=?, "
                "error='the process stopped before the run finished (killed or crashed)' "
                "WHERE status='running'", (utcnow(),)).rowcount

    def last_ingest(self, namespace_id: str) -> IngestRun | None:
        found = self.rows(
            "SELECT * FROM ingest_runs WHERE namespace_id=? ORDER BY id DESC LIMIT 1", (namespace_id,)
        )
        return IngestRun.from_row(found[0]) if found else None

    def namespace_summaries(self) -> list[NamespaceStatus]:
        """Every namespace record with its document and vector counts and its last ingest run.

        One query for the whole mirror, so a browser of 1,000 records opens at once.
        """
        rows = self.rows(
            """
            SELECT n.*,
                   (SELECT COUNT(*) FROM documents d WHERE d.namespace_id = n.id) AS documents,
                   (SELECT COUNT(*) FROM vector_entries v WHERE v.namespace_id = n.id) AS vectors,
                   r.finished_at AS last_ingest, r.status AS last_ingest_status
            FROM namespaces n
            LEFT JOIN ingest_runs r ON r.id = (
                SELECT MAX(id) FROM ingest_runs WHERE namespace_id = n.id)
            ORDER BY n.environment, n.organization_id, n.workspace_id, n.store_slug
            """
        )
        return [NamespaceStatus.of(NamespaceRecord.from_row(r), NamespaceCounts(r["documents"], r["vectors"]),
                                   r["last_ingest"], r["last_ingest_status"]) for r in rows]
