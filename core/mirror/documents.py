"""A namespace's documents, their vector entries, and the journal of pending vector ids.

`pending_vectors` is the write-ahead journal that lets an ingest killed at any
moment converge on the next run: ids that may exist in the index without a
vector_entries row are journalled before the index is written, and cleared
once the index agrees.
"""

from __future__ import annotations

import sqlite3
from typing import Iterable

from core.mirror.connection import MirrorConnection, utcnow
from core.records import NamespaceCounts, NamespaceRecord


def _journal(conn: sqlite3.Connection, namespace_id: str, vector_ids: Iterable[str]) -> None:
    """Journal vector ids as pending, inside the caller's write transaction."""
    conn.executemany(
        "INSERT OR IGNORE INTO pending_vectors (namespace_id, vector_id) VALUES (?, ?)",
        [(namespace_id, v) for v in vector_ids],
    )


class Documents(MirrorConnection):
    def counts(self, namespace_id: str) -> NamespaceCounts:
        docs = self.conn.execute(
            "SELECT COUNT(*) FROM documents WHERE namespace_id=?", (namespace_id,)
        ).fetchone()[0]
        vecs = self.conn.execute(
            "SELECT COUNT(*) FROM vector_entries WHERE namespace_id=?", (namespace_id,)
        ).fetchone()[0]
        return NamespaceCounts(documents=docs, vectors=vecs)

    def documents(self, namespace_id: str) -> dict[str, dict]:
        return {
            r["path"]: r
            for r in self.rows("SELECT * FROM documents WHERE namespace_id=?", (namespace_id,))
        }

    def clear_documents(self, namespace_id: str) -> None:
        """Forget a namespace's documents, entries and journal (its index namespace was emptied)."""
        with self.write() as conn:
            conn.execute("DELETE FROM documents WHERE namespace_id=?", (namespace_id,))
            conn.execute("DELETE FROM pending_vectors WHERE namespace_id=?", (namespace_id,))

    def vector_ids(self, namespace_id: str) -> set[str]:
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT vector_id FROM vector_entries WHERE namespace_id=?", (namespace_id,)
            )
        }

    def vector_paths(self, namespace_id: str) -> dict[str, str]:
        """vector id -> the path of the document that holds it."""
        return {
            r[0]: r[1]
            for r in self.conn.execute(
                "SELECT v.vector_id, d.path FROM vector_entries v JOIN documents d ON d.id = v.document_id "
                "WHERE v.namespace_id=?", (namespace_id,),
            )
        }

    def chunk_neighbours(self, namespace_id: str, vector_id: str, radius: int) -> list[dict]:
        """The entry for vector_id and up to radius entries either side in its document."""
        found = self.rows(
            "SELECT v.*, d.path FROM vector_entries v JOIN documents d ON d.id = v.document_id "
            "WHERE v.namespace_id=? AND v.vector_id=?",
            (namespace_id, vector_id),
        )
        if not found:
            return []
        entry = found[0]
        return self.rows(
            "SELECT v.*, d.path FROM vector_entries v JOIN documents d ON d.id = v.document_id "
            "WHERE v.document_id=? AND v.chunk_index BETWEEN ? AND ? ORDER BY v.chunk_index",
            (entry["document_id"], entry["chunk_index"] - radius, entry["chunk_index"] + radius),
        )

    # -- the journal ----------------------------------------------------------------------
    def set_pending(self, namespace_id: str, vector_ids: Iterable[str]) -> None:
        with self.write() as conn:
            _journal(conn, namespace_id, vector_ids)

    def unreferenced_pending(self, namespace_id: str) -> tuple[list[str], list[str]]:
        """(pending ids no entry references, pending ids an entry references)."""
        rows = self.conn.execute(
            "SELECT p.vector_id, v.vector_id IS NOT NULL FROM pending_vectors p "
            "LEFT JOIN vector_entries v ON v.namespace_id = p.namespace_id "
            "AND v.vector_id = p.vector_id WHERE p.namespace_id=?",
            (namespace_id,),
        ).fetchall()
        return [r[0] for r in rows if not r[1]], [r[0] for r in rows if r[1]]

    def clear_pending(self, namespace_id: str, vector_ids: Iterable[str]) -> None:
        with self.write() as conn:
            conn.executemany(
                "DELETE FROM pending_vectors WHERE namespace_id=? AND vector_id=?",
                [(namespace_id, v) for v in vector_ids],
            )

    # -- writing documents ----------------------------------------------------------------
    def replace_documents(
        self, namespace: NamespaceRecord, docs: list[dict], entries: dict[str, list[dict]]
    ) -> list[str]:
        """Point documents at their new vector entries in one transaction.

        docs: rows for the documents table (path, content_hash, size, mtime_ns,
        chunk_count); entries: path -> entry rows. Returns the vector ids that
        the replaced documents held and no longer hold: they are journalled as
        pending, for the caller to delete from the index.
        """
        ns_id = namespace.id
        stale: list[str] = []
        now = utcnow()
        with self.write() as conn:
            for doc in docs:
                old = conn.execute(
                    "SELECT id FROM documents WHERE namespace_id=? AND path=?", (ns_id, doc["path"])
                ).fetchone()
                new_ids = {e["vector_id"] for e in entries[doc["path"]]}
                if old is not None:
                    old_ids = [
                        r[0]
                        for r in conn.execute(
                            "SELECT vector_id FROM vector_entries WHERE document_id=?", (old[0],)
                        )
                    ]
                    stale.extend(v for v in old_ids if v not in new_ids)
                    conn.execute("DELETE FROM vector_entries WHERE document_id=?", (old[0],))
                    conn.execute(
                        "UPDATE documents SET content_hash=?, size=?, mtime_ns=?, chunk_count=?, "
                        "ingested_at=? WHERE id=?",
                        (doc["content_hash"], doc["size"], doc["mtime_ns"], doc["chunk_count"], now, old[0]),
                    )
                    doc_id = old[0]
                else:
                    doc_id = conn.execute(
                        "INSERT INTO documents (namespace_id, path, content_hash, size, mtime_ns, "
                        "chunk_count, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (ns_id, doc["path"], doc["content_hash"], doc["size"], doc["mtime_ns"],
                         doc["chunk_count"], now),
                    ).lastrowid
                conn.executemany(
                    "INSERT OR REPLACE INTO vector_entries (namespace_id, vector_id, document_id, "
                    "environment, chunk_index, start_line, end_line) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (ns_id, e["vector_id"], doc_id, namespace.environment, e["chunk_index"],
                         e["start_line"], e["end_line"])
                        for e in entries[doc["path"]]
                    ],
                )
            _journal(conn, ns_id, stale)
            conn.execute("UPDATE namespaces SET updated_at=? WHERE id=?", (now, ns_id))
        return stale

    def update_stat(self, namespace_id: str, path: str, size: int, mtime_ns: int) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE documents SET size=?, mtime_ns=? WHERE namespace_id=? AND path=?",
                (size, mtime_ns, namespace_id, path),
            )

    def remove_documents(self, namespace_id: str, paths: Iterable[str]) -> list[str]:
        """Delete documents and their entries; their vector ids become pending deletes."""
        ids: list[str] = []
        with self.write() as conn:
            for path in paths:
                row = conn.execute(
                    "SELECT id FROM documents WHERE namespace_id=? AND path=?", (namespace_id, path)
                ).fetchone()
                if row is None:
                    continue
                ids.extend(
                    r[0]
                    for r in conn.execute(
                        "SELECT vector_id FROM vector_entries WHERE document_id=?", (row[0],)
                    )
                )
                conn.execute("DELETE FROM documents WHERE id=?", (row[0],))
            _journal(conn, namespace_id, ids)
        return ids
