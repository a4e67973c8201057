"""Migration from one index per store to the shared index (the design's phases 2-5).

The legacy layout: a `stores` table (the design's old schema) and one index
per store named `{workspace}-{store}`, its vectors in one namespace. The
migration:

- registry (the design's 0010): one transaction creates a namespace record
  per legacy store and re-points its documents and vector entries;
- copy: per store, list ids (sorted, paginated) -> fetch -> upsert into the
  store's namespace of the shared index, checkpointing after every batch, so
  a killed run resumes where it stopped (re-upserting a batch is harmless);
- verify: counts equal and a sample of ids equal in values and metadata;
- cutover: the read flag on, dual-write off, legacy stores marked deprecated
  (their indexes deleted only with delete_legacy, after the safety period);
- rollback: the namespaces the migration created are removed and the flag
  turned off; the legacy layout is never touched;
- cleanup (phase 5): once a cut-over store is past the safety window, its
  legacy document and vector rows are dropped; its legacy index is deleted
  only when asked (delete_indexes), and only then does its `stores` row go, so
  an index is never forgotten while it still exists;
- reconcile: every shared namespace of the organization, id by id, against
  the mirror's vector entries (the design's daily reconciliation).

While a migration is under way (registered, not cut over) ingest writes both
layouts (DualWriteIndex), and `use_shared_index` in lightfast.yml chooses
which one search reads.
"""

from __future__ import annotations

import random
import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from core.errors import MigrationStepError, NamingError
from core.mirror import utcnow
from core.namespaces import index_spec, namespace_id
from core.naming import check_collisions, namespace_name
from core.vectors.base import IndexSpec, Match, NamespaceStats, VectorIndex, VectorRecord

LEGACY_NAMESPACE = "__default__"  # the one namespace a legacy per-store index uses
SAFETY_DAYS = 7


def legacy_index_name(workspace: str, store: str) -> str:
    """The design's old `{workspace-slug}-{store-slug}`, within Pinecone's index-name rules."""
    def slug(s: str) -> str:
        s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()
        return re.sub(r"[^a-z0-9]+", "-", s).strip("-")

    return f"{slug(workspace)}-{slug(store)}"[:45].strip("-")


@dataclass
class StoreCheck:
    store_id: str
    legacy_vectors: int
    shared_vectors: int
    sampled: int
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.legacy_vectors == self.shared_vectors and not self.mismatches


class DualWriteIndex(VectorIndex):
    """Writes go to the shared index and to the store's legacy index; reads to the shared one."""

    def __init__(self, primary: VectorIndex, legacy: dict[str, VectorIndex]):
        self.primary = primary
        self.legacy = legacy  # shared namespace name -> that store's legacy index
        self.name, self.dimension = primary.name, primary.dimension

    def upsert(self, namespace, records):
        count = self.primary.upsert(namespace, records)
        if namespace in self.legacy:
            self.legacy[namespace].upsert(LEGACY_NAMESPACE, records)
        return count

    def delete(self, namespace, ids):
        ids = list(ids)
        self.primary.delete(namespace, ids)
        if namespace in self.legacy:
            self.legacy[namespace].delete(LEGACY_NAMESPACE, ids)

    def delete_namespace(self, namespace):
        self.primary.delete_namespace(namespace)
        if namespace in self.legacy:
            self.legacy[namespace].delete_namespace(LEGACY_NAMESPACE)

    def query(self, namespace, vector, top_k, filter=None) -> list[Match]:
        return self.primary.query(namespace, vector, top_k, filter)

    def namespace_stats(self, namespace) -> NamespaceStats:
        return self.primary.namespace_stats(namespace)

    def list_namespaces(self, prefix=None):
        return self.primary.list_namespaces(prefix)

    def list_ids(self, namespace, prefix=None, limit=100, pagination_token=None):
        return self.primary.list_ids(namespace, prefix, limit, pagination_token)

    def fetch(self, namespace, ids):
        return self.primary.fetch(namespace, ids)


def set_use_shared_index(config_path: Path, value: bool) -> None:
    """Flip the read flag in lightfast.yml, keeping the rest of the file as it is."""
    text = config_path.read_text(encoding="utf-8")
    line = f"use_shared_index: {'true' if value else 'false'}"
    new, count = re.subn(r"(?m)^use_shared_index:.*$", line, text)
    if count == 0:
        new = text.rstrip("\n") + f"\n{line}\n"
    tmp = config_path.with_suffix(".yml.tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(config_path)


class Migration:
    def __init__(self, service, batch_size: int = 500, max_batches_per_s: float | None = None,
                 progress: Callable[[str, int, int], None] | None = None):
        self.service = service
        self.mirror = service.mirror
        self.backend = service.backend
        self.batch_size = batch_size
        # Pinecone allows 100 upserts per second per namespace; stay well below.
        self.max_batches_per_s = max_batches_per_s or (10.0 if self.backend.kind == "pinecone" else None)
        self.progress = progress or (lambda store, done, total: None)

    # -- the legacy side ----------------------------------------------------------
    def legacy_stores(self) -> list[dict]:
        return self.mirror.rows(
            "SELECT * FROM stores WHERE organization_id=? ORDER BY workspace_id, slug",
            (self.service.config.organization,),
        )

    def legacy_index(self, store: dict) -> VectorIndex:
        return self.backend.index(store["index_name"])

    def state(self) -> dict[str, dict]:
        return {r["store_id"]: r for r in self.mirror.rows("SELECT * FROM migration_stores")}

    def active(self) -> bool:
        return any(r["status"] != "cutover" for r in self.state().values())

    # -- plan ----------------------------------------------------------------------------
    def plan(self) -> list[dict]:
        stores = self.legacy_stores()
        names: dict[str, list[dict]] = {}
        rows = []
        for s in stores:
            try:
                name = namespace_name(s["organization_id"], s["workspace_id"], s["slug"])
            except NamingError as exc:
                name, error = None, str(exc)
            else:
                error = None
                names.setdefault(name, []).append(s)
            exists = self.backend.index_exists(s["index_name"])
            count = self.legacy_index(s).namespace_stats(LEGACY_NAMESPACE).vector_count if exists else 0
            rows.append({"store_id": s["id"], "workspace": s["workspace_id"], "store": s["slug"],
                         "legacy_index": s["index_name"], "legacy_index_exists": exists,
                         "vectors": count, "namespace": name, "error": error,
                         "status": self.state().get(s["id"], {}).get("status", "not started")})
        for row in rows:
            if row["namespace"] and len(names[row["namespace"]]) > 1:
                others = [f"{o['workspace_id']}/{o['slug']}" for o in names[row["namespace"]]]
                row["error"] = f"namespace collision with {', '.join(others)}"
        return rows

    # -- registry (0010) -----------------------------------------------------------------
    def register(self) -> int:
        """Namespace records for every legacy store, documents re-pointed; one transaction."""
        stores = self.legacy_stores()
        check_collisions((s["organization_id"], s["workspace_id"], s["slug"]) for s in stores)
        profile, env = self.service.profile, self.service.environment
        self.backend.ensure_index(index_spec(profile, env))
        done = self.state()
        created = 0
        with self.mirror.write() as conn:
            for s in stores:
                if s["id"] in done:
                    continue
                if s["embedding_dim"] != profile.dimension or s["embedding_model"] != profile.embedding_model:
                    raise MigrationStepError(
                        f"legacy store {s['workspace_id']}/{s['slug']} holds {s['embedding_model']} "
                        f"({s['embedding_dim']}-d) vectors but profile '{env}' is {profile.embedding_model} "
                        f"({profile.dimension}-d): choose a matching profile to migrate into"
                    )
                ns_id = namespace_id(env, s["organization_id"], s["workspace_id"], s["slug"])
                cur = conn.execute(
                    "INSERT OR IGNORE INTO namespaces (id, organization_id, workspace_id, store_slug, "
                    "namespace_name, environment, index_name, index_profile, chunk_max_tokens, chunk_overlap, "
                    "embedding_provider, embedding_model, embedding_dim, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (ns_id, s["organization_id"], s["workspace_id"], s["slug"],
                     namespace_name(s["organization_id"], s["workspace_id"], s["slug"]), env, profile.name, env,
                     s["chunk_max_tokens"], s["chunk_overlap"], profile.embedding_provider,
                     profile.embedding_model, profile.dimension, s["created_at"], utcnow()),
                )
                fresh = cur.rowcount == 1
                if fresh:  # re-point the store's documents and vector entries
                    for doc in conn.execute("SELECT * FROM store_documents WHERE store_id=?", (s["id"],)).fetchall():
                        new_id = conn.execute(
                            "INSERT INTO documents (namespace_id, path, content_hash, size, mtime_ns, "
                            "chunk_count, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (ns_id, doc["path"], doc["content_hash"], doc["size"], doc["mtime_ns"],
                             doc["chunk_count"], doc["ingested_at"]),
                        ).lastrowid
                        conn.execute(
                            "INSERT INTO vector_entries (namespace_id, vector_id, document_id, environment, "
                            "chunk_index, start_line, end_line) SELECT ?, vector_id, ?, ?, chunk_index, "
                            "start_line, end_line FROM store_vector_entries WHERE document_id=?",
                            (ns_id, new_id, env, doc["id"]),
                        )
                conn.execute(
                    "INSERT INTO migration_stores (store_id, namespace_id, namespace_created, status, updated_at) "
                    "VALUES (?, ?, ?, 'registered', ?)",
                    (s["id"], ns_id, int(fresh), utcnow()),
                )
                created += 1
        return created

    # -- copy ----------------------------------------------------------------------------
    def run(self, cancelled: Callable[[], bool] | None = None) -> dict[str, int]:
        self.register()
        stores = {s["id"]: s for s in self.legacy_stores()}
        shared = self.service.index
        copied = 0
        for store_id, row in self.state().items():
            if row["status"] not in ("registered", "copying"):
                continue
            copied += self._copy(stores[store_id], row, shared, cancelled)
            if cancelled and cancelled():
                break
        return {"stores": len(stores), "vectors_copied": copied}

    def _copy(self, store: dict, row: dict, shared: VectorIndex, cancelled) -> int:
        legacy = self.legacy_index(store)
        target = self.mirror.namespace_by_id(row["namespace_id"])["namespace_name"]
        total = legacy.namespace_stats(LEGACY_NAMESPACE).vector_count
        token, done, copied = row["last_id"], row["copied"], 0
        self._checkpoint(store["id"], "copying", token, done)
        while not (cancelled and cancelled()):
            started = time.perf_counter()
            ids, next_token = legacy.list_ids(LEGACY_NAMESPACE, limit=self.batch_size, pagination_token=token)
            if ids:
                fetched = legacy.fetch(LEGACY_NAMESPACE, ids)
                shared.upsert(target, [fetched[i] for i in ids if i in fetched])
                done += len(ids)
                copied += len(ids)
                token = next_token or ids[-1]
                self._checkpoint(store["id"], "copying", token, done)
                self.progress(store["slug"], done, total)
            if not next_token:
                self._checkpoint(store["id"], "copied", token, done)
                break
            if self.max_batches_per_s:
                time.sleep(max(0.0, 1 / self.max_batches_per_s - (time.perf_counter() - started)))
        return copied

    def _checkpoint(self, store_id: str, status: str, last_id: str | None, copied: int) -> None:
        with self.mirror.write() as conn:
            conn.execute(
                "UPDATE migration_stores SET status=?, last_id=?, copied=?, updated_at=? WHERE store_id=?",
                (status, last_id, copied, utcnow(), store_id),
            )

    # -- verify --------------------------------------------------------------------------
    def verify(self, sample: int = 50, seed: int | None = None) -> list[StoreCheck]:
        rng = random.Random(seed)
        stores = {s["id"]: s for s in self.legacy_stores()}
        shared = self.service.index
        checks = []
        for store_id, row in sorted(self.state().items()):
            legacy = self.legacy_index(stores[store_id])
            target = self.mirror.namespace_by_id(row["namespace_id"])["namespace_name"]
            check = StoreCheck(store_id, legacy.namespace_stats(LEGACY_NAMESPACE).vector_count,
                               shared.namespace_stats(target).vector_count, 0)
            ids = _all_ids(legacy, LEGACY_NAMESPACE)
            picked = rng.sample(ids, min(sample, len(ids)))
            check.sampled = len(picked)
            theirs = shared.fetch(target, picked)
            ours = legacy.fetch(LEGACY_NAMESPACE, picked)
            for vid in picked:
                a, b = ours.get(vid), theirs.get(vid)
                if b is None:
                    check.mismatches.append(f"{vid}: missing from the shared namespace")
                elif not np.allclose(a.values, b.values, atol=1e-6):
                    check.mismatches.append(f"{vid}: values differ")
                elif a.metadata != b.metadata:
                    check.mismatches.append(f"{vid}: metadata differs")
            if check.ok and row["status"] == "copied":
                self._checkpoint(store_id, "verified", row["last_id"], row["copied"])
            checks.append(check)
        return checks

    # -- cutover and rollback --------------------------------------------------------
    def cutover(self, delete_legacy: bool = False, safety_days: int = SAFETY_DAYS, now: datetime | None = None) -> list[str]:
        """Flag on, dual-write off, legacy marked deprecated; returns legacy indexes deleted."""
        state = self.state()
        pending = [sid for sid, r in state.items() if r["status"] not in ("verified", "cutover")]
        if not state or pending:
            raise MigrationStepError(
                "cutover needs every store copied and verified first; run `lightfast migrate run` "
                f"and `lightfast migrate verify` ({len(pending)} store(s) not verified)"
            )
        now = now or datetime.now(timezone.utc)
        with self.mirror.write() as conn:
            conn.execute("UPDATE migration_stores SET status='cutover', updated_at=?", (utcnow(),))
            conn.execute("UPDATE stores SET deprecated_at=? WHERE deprecated_at IS NULL AND id IN "
                         "(SELECT store_id FROM migration_stores)", (now.isoformat(),))
        set_use_shared_index(self.service.config.source_path, True)
        deleted = []
        if delete_legacy:
            for s in self.legacy_stores():
                aged = s["deprecated_at"] and datetime.fromisoformat(s["deprecated_at"]) <= now - timedelta(days=safety_days)
                if aged and self.backend.index_exists(s["index_name"]):
                    self.backend.delete_index(s["index_name"])
                    deleted.append(s["index_name"])
        return deleted

    def rollback(self) -> int:
        """Remove what the migration created; the legacy layout stays exactly as it was."""
        removed = 0
        shared = self.service.index
        for row in self.state().values():
            record = self.mirror.namespace_by_id(row["namespace_id"])
            if row["namespace_created"] and record is not None:
                shared.delete_namespace(record["namespace_name"])
                self.mirror.delete_namespace_record(record["id"])
                removed += 1
        with self.mirror.write() as conn:
            conn.execute("DELETE FROM migration_stores")
        set_use_shared_index(self.service.config.source_path, False)
        return removed


    # -- cleanup (phase 5) ----------------------------------------------------------------
    def cleanup(self, delete_indexes: bool = False, safety_days: int = SAFETY_DAYS,
                now: datetime | None = None) -> "CleanupReport":
        """Drop the legacy rows of cut-over stores past the safety window; with delete_indexes,
        also delete their legacy indexes (and then their `stores` rows). A re-run converges."""
        state = self.state()
        if any(r["status"] != "cutover" for r in state.values()):
            raise MigrationStepError(
                "cleanup comes after cutover: run `lightfast migrate verify` and `lightfast migrate "
                "cutover` first (or `lightfast migrate rollback` to abandon the migration)"
            )
        now = now or datetime.now(timezone.utc)
        report = CleanupReport()
        for store in self.legacy_stores():
            if store["id"] not in state:
                continue
            until = datetime.fromisoformat(store["deprecated_at"]) + timedelta(days=safety_days)
            if until > now:
                report.waiting.append(f"{store['index_name']} (until {until:%Y-%m-%d %H:%M} UTC)")
                continue
            with self.mirror.write() as conn:
                report.vector_rows += conn.execute(
                    "DELETE FROM store_vector_entries WHERE store_id=?", (store["id"],)).rowcount
                report.document_rows += conn.execute(
                    "DELETE FROM store_documents WHERE store_id=?", (store["id"],)).rowcount
            exists = self.backend.index_exists(store["index_name"])
            if exists and not delete_indexes:
                report.indexes_kept.append(store["index_name"])
                continue
            if exists:
                self.backend.delete_index(store["index_name"])
                report.indexes_deleted.append(store["index_name"])
            with self.mirror.write() as conn:  # the index is gone: nothing left to remember it by
                conn.execute("DELETE FROM migration_stores WHERE store_id=?", (store["id"],))
                conn.execute("DELETE FROM stores WHERE id=?", (store["id"],))
            report.stores_removed += 1
        return report


@dataclass
class CleanupReport:
    document_rows: int = 0
    vector_rows: int = 0
    stores_removed: int = 0
    indexes_deleted: list[str] = field(default_factory=list)
    indexes_kept: list[str] = field(default_factory=list)  # past the window, waiting for --yes
    waiting: list[str] = field(default_factory=list)  # still inside the safety window


@dataclass
class Drift:
    """One shared namespace whose index and mirror disagree."""

    namespace: str
    index: str
    mirror_vectors: int
    index_vectors: int
    missing: list[str] = field(default_factory=list)  # in the mirror, not in the index
    extra: list[str] = field(default_factory=list)  # in the index, not in the mirror
    unrecorded: bool = False  # in an index, with no namespace record at all

    def describe(self) -> str:
        if self.unrecorded:
            return f"{self.index_vectors} vectors in the index and no namespace record in the mirror"
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} vectors the mirror records are missing from the index")
        if self.extra:
            parts.append(f"{len(self.extra)} vectors in the index the mirror does not record")
        return "; ".join(parts)


def reconcile(service) -> tuple[int, list[Drift]]:
    """Compare every shared namespace of this organization (each in the index its record names)
    with the mirror's vector entries, id by id, and look for namespaces found only in an index.
    Returns (namespaces checked, drifts). Ids journalled by an interrupted ingest count as
    drift: the next ingest removes them."""
    drifts: list[Drift] = []
    records = service.namespace_records("organization")
    for record in records:
        ours = service.mirror.vector_ids(record["id"])
        theirs = set(_all_ids(service.index_for(record), record["namespace_name"]))
        if ours != theirs:
            drifts.append(Drift(record["namespace_name"], record["index_name"], len(ours), len(theirs),
                                sorted(ours - theirs), sorted(theirs - ours)))
    orphans = [r for r in service.namespaces() if r.get("only_in") == "index"]
    for row in orphans:
        drifts.append(Drift(row["namespace_name"], row["index_name"], 0, row["index_vectors"] or 0,
                            unrecorded=True))
    return len(records) + len(orphans), drifts


def _all_ids(index: VectorIndex, namespace: str) -> list[str]:
    ids, token = [], None
    while True:
        page, token = index.list_ids(namespace, limit=1000, pagination_token=token)
        ids.extend(page)
        if not token:
            return ids


def create_legacy_store(service, workspace: str, slug: str, records: Sequence[VectorRecord],
                        documents: Iterable[dict] = ()) -> dict:
    """Write one store in the old layout (its own index + a `stores` row): for tests and benches
    that stand in for an existing one-index-per-store deployment."""
    profile = service.profile
    name = legacy_index_name(workspace, slug)
    index = service.backend.ensure_index(IndexSpec(name, profile.dimension, profile.metric,
                                                   tags={"platform": "lightfast", "layout": "legacy"}))
    now = utcnow()
    row = {"id": f"store_{workspace}_{slug}", "organization_id": service.config.organization,
           "workspace_id": workspace, "slug": slug, "index_name": name,
           "embedding_model": profile.embedding_model, "embedding_dim": profile.dimension,
           "chunk_max_tokens": 256, "chunk_overlap": 32, "created_at": now, "updated_at": now}
    with service.mirror.write() as conn:
        conn.execute(f"INSERT INTO stores ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                     tuple(row.values()))
        for doc in documents:
            doc_id = conn.execute(
                "INSERT INTO store_documents (store_id, path, content_hash, size, mtime_ns, chunk_count, "
                "ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row["id"], doc["path"], doc["content_hash"], doc["size"], doc["mtime_ns"],
                 len(doc["vector_ids"]), now),
            ).lastrowid
            conn.executemany(
                "INSERT INTO store_vector_entries (store_id, index_name, vector_id, document_id, "
                "chunk_index, start_line, end_line) VALUES (?, ?, ?, ?, ?, 1, 1)",
                [(row["id"], name, vid, doc_id, i) for i, vid in enumerate(doc["vector_ids"])],
            )
    for start in range(0, len(records), 1000):
        index.upsert(LEGACY_NAMESPACE, records[start:start + 1000])
    return row
